"""``keras-perceptual stylize-video``: a trained style-transfer network applied to a video."""

from __future__ import annotations

import os
import sys

from keras_perceptual.cli.common import (
    INFERENCE_OPTIONS,
    PROG,
    STYLE_OPTIONS,
    HelpFormatter,
    add_style_options,
    check_style_image_given,
    interactive,
    load_model,
    non_negative_int,
    option_names,
    positive_int,
    say,
    style_options_from,
)
from keras_perceptual.errors import install_hint


def _codec_option(text: str) -> tuple[str, str]:
    import argparse

    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(
            f"expected an FFmpeg encoder option as KEY=VALUE, e.g. crf=23, got {text!r}"
        )
    return key.strip(), value.strip()


def _cmd_stylize_video(args) -> int:
    from keras_perceptual.video import (
        check_codec_options,
        check_output_path,
        probe_video,
        stylize_video,
    )

    # Both files, the codec options and the style options are checked before the model
    # loads (a misspelt --codec-option was refused only after it).
    codec_options = dict(args.codec_option or [])
    files = {"output_path": "--out", "input_path": "INPUT"}
    with option_names({**files, "codec_options": "--codec-option"}):
        source = probe_video(args.input)
        container_format = check_output_path(args.out, args.input)
        check_codec_options(codec_options, container_format)
    style_options = style_options_from(args)
    with option_names(INFERENCE_OPTIONS):
        model = load_model(args.model)
        check_style_image_given(model, style_options)
    if not args.quiet:
        audio = f", audio {source.audio_codec}" if source.audio_codec else ", no audio"
        say(
            f"stylize-video: {args.input} ({source.width}x{source.height}, {source.fps:g} fps, "
            f"{source.frames} frames{audio}) -> {args.out}"
        )
    options = {**INFERENCE_OPTIONS, **STYLE_OPTIONS, **files, "codec_options": "--codec-option"}
    try:
        with option_names(options):
            info = stylize_video(
                model,
                args.input,
                args.out,
                batch_size=args.batch_size,
                tile_size=args.tile,
                overlap=args.overlap,
                preserve_color=args.preserve_color,
                audio=not args.no_audio,
                codec_options=codec_options,
                # Away from a terminal the line below is the run's one line (the
                # library would print its own there, instead of a redrawn bar).
                progress=not args.quiet and interactive(),
                **style_options,
            )
    except KeyboardInterrupt:
        kept = " (the existing file is unchanged)" if os.path.exists(args.out) else ""
        print(f"{PROG}: interrupted; {args.out} was not written{kept}", file=sys.stderr)
        return 130
    audio = {"copied": ", audio copied", "re-encoded": ", audio re-encoded"}.get(info.audio, "")
    say(
        f"wrote {info.path}: {info.frames} frames, {info.width}x{info.height}, {info.fps:g} fps"
        f"{audio} ({info.frames_per_second:.1f} frames/s)"
    )
    return 0


_EPILOG = f"""examples:
  {PROG} stylize-video runs/starry/model.keras holiday.mp4 --out holiday_starry.mp4
  {PROG} stylize-video runs/starry clip.mov --out clip.webm --tile 720 --preserve-color
  {PROG} stylize-video runs/starry clip.mp4 --out small.mp4 --codec-option crf=26
  {PROG} stylize-video runs/four_styles clip.mp4 --out mixed.mp4 --mix 0.5,0.5,0,0
  {PROG} stylize-video runs/adain clip.mp4 --out wave.mp4 --style-image wave.jpg --alpha 0.8
  {PROG} stylize-video runs/adain clip.mp4 --out wave.mp4 --style-image wave.jpg --style-size 256

Keeps the frame rate, timestamps, size and audio track; a phone video's rotation is
applied (the output is stored upright). The output's extension picks the
container (.mp4 .m4v .mov .mkv: H.264; .webm: VP9; .avi: MPEG-4). Written to a temporary
file and renamed when complete: an interrupted run leaves no partial output. Needs the
video extra: {install_hint("video")}."""


def register(sub) -> None:
    """Adds ``stylize-video`` to ``sub`` (argparse subparsers)."""
    help_text = "apply a style-transfer network to a video"
    p = sub.add_parser(
        "stylize-video",
        help=help_text,
        description="Apply a style-transfer network to every frame of a video file; the "
        "frame rate, size and audio are kept.",
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.keras (or a training --out folder)")
    p.add_argument("input", metavar="INPUT", help="video file (anything FFmpeg reads)")
    p.add_argument("--out", required=True, metavar="OUTPUT",
                   help="video file to write (.mp4, .m4v, .mov, .mkv, .webm, .avi); an existing "
                   "file is replaced once the new video is complete")
    p.add_argument("--tile", type=positive_int, default=None, metavar="PX",
                   help="process frames larger than PX in overlapping tiles (bounded memory)")
    p.add_argument("--overlap", type=non_negative_int, default=128, metavar="PX",
                   help="overlap of neighbouring tiles (input pixels)")
    p.add_argument("--batch-size", type=positive_int, default=4, metavar="B",
                   help="frames (or tiles) per model call")
    p.add_argument("--preserve-color", action="store_true",
                   help="keep the video's colours, transfer luminance only (Gatys et al. 2016)")
    p.add_argument("--no-audio", action="store_true", help="drop the audio track")
    p.add_argument("--codec-option", type=_codec_option, action="append", metavar="KEY=VALUE",
                   help="FFmpeg encoder option, repeatable (e.g. crf=23, preset=fast)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_style_options(p)
    p.set_defaults(handler=_cmd_stylize_video)
