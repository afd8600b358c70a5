"""Stylizing video files: streaming decode, batched inference, encode, audio kept.

:func:`stylize_video` reads a video, runs every frame through a trained
style-transfer network in batches (:func:`keras_perceptual.inference.stylize`, so
tiling, ``preserve_color`` and every other ``stylize`` option apply unchanged) and
writes a new video with the same frame rate, frame timestamps, size and audio track.
A phone video's rotation (its display matrix, the ``rotate`` tag) is applied to the
frames: the network sees them, and the output stores them, upright as players show the
input (a portrait 1920x1080 clip comes out 1080x1920, with no matrix to apply again).
Colours: frames are decoded to RGB with the input's tagged YUV matrix and range and encoded
back with the matrix, and the output carries the input's colour tags (matrix, primaries,
transfer), so players show the colours the input has. An untagged input gives an output
untagged but for its range (BT.601 both ways, as FFmpeg assumes). The output is always in
limited ("tv") range, and tagged so: full-range input ("pc", ``yuvj420p``: MJPEG, many
phones) keeps its levels (grey, black and white exact; saturated 4:2:0 colours within 3
levels, 1 for lossless 4:4:4), in the range every player and browser reads. 10-bit input is written in 8 bits
(``yuv420p``), 4:4:4 input in 4:2:0 (except odd sizes, below), grayscale as colour video,
and an alpha channel is dropped (the colour under it is kept); HDR (BT.2020 PQ/HLG)
frames are stylized as their coded values, without tone mapping.

Timestamps: every decoded frame is written once, in order, at its own time. A frame
without a timestamp (a raw ``.h264``/``.hevc`` stream) comes one frame period after the
previous one (at the input's frame rate; 25 fps where it declares none). A frame whose
time the output cannot place after the previous frame's (two frames of a variable-rate
input within one frame period in AVI, which counts frames; a repeated timestamp; times
that go back in files joined together) comes one frame period after it. AVI, which has
no start time (its audio plays from 0 s), counts time from the first frame; the other
containers keep the input's times, a start past 0 s (MPEG-TS recordings) included. A
stream that changes its frame size midway (joined recordings, adaptive streams) has the
frames of another size scaled to the first frame's size, with a ``UserWarning``, as FFmpeg
does.
A re-encoded audio track keeps its channel layout, or where the container's encoder
refuses it gets the usual layout of as many channels (AC-3's 5.1(side) is 5.1 in WebM's
Opus). The first video stream and the first audio track are read; further audio tracks,
subtitles and data streams are not written. Interlaced video is stylized as FFmpeg
decodes it (both fields woven into each frame), not deinterlaced: deinterlace it first
(e.g. ``ffmpeg -vf bwdif``) for clean edges in motion.

Why PyAV (the ``video`` extra: ``pip install "keras-perceptual[video]"``): its wheels
ship FFmpeg's libraries (H.264 through libx264, VP9, AAC, Opus, MP3, ...), so no system
FFmpeg is needed, and it works on FFmpeg's packets and frames in-process: the audio
track is copied packet by packet without re-encoding (re-encoded only when the output
container cannot hold its codec, e.g. AAC into WebM or FLAC into MOV), timestamps are
carried frame by frame, and decoding errors arrive as Python exceptions naming the problem.
imageio-ffmpeg, the alternative, pipes raw frames through an ``ffmpeg`` subprocess,
which cannot carry the audio track or the timestamps of the same pass.

Memory is constant whatever the video's length: frames are decoded one at a time, at
most ``batch_size`` of them wait for the network, and each stylized batch is encoded
and written at once (``benchmarks/bench_video.py`` measures peak memory for a 10 s and
a 60 s clip). The output is written to a temporary file beside ``output_path`` and
renamed when complete, so an interrupted or failed run never leaves a truncated video
under the output name (an interrupted run deletes its temporary file; one killed
outright leaves a hidden ``.NAME.PID.partial.EXT`` that the next run on the same
output removes).

Containers: the output's extension picks it, and the video codec is FFmpeg's default
for it: ``.mp4``, ``.m4v``, ``.mov`` and ``.mkv`` are written with H.264 (libx264, CRF
18), ``.webm`` with VP9 (CRF 31), ``.avi`` with MPEG-4 Part 2 (quantizer 2; AVI keeps no
timestamps, so H.264's frame reordering does not survive it); any container FFmpeg can
read is accepted as input, animated GIF and APNG included (a still image, a GIF of one
frame too, is a ``VideoError``; so is an animated WebP, which FFmpeg cannot decode: the
error says so, and how to convert it). H.264 in 4:2:0 needs even sizes, so a frame of odd width
or height is written in 4:4:4 (``yuv444p``) at its exact size: FFmpeg-based players (VLC,
mpv) play it, browsers and QuickTime do not; write ``.webm`` (VP9 handles odd 4:2:0 sizes)
for those, or crop the input to even sizes.
"""

from __future__ import annotations

import dataclasses
import fractions
import glob
import inspect
import io
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_perceptual._checks import (
    check_flag,
    check_keywords,
    check_output_file,
    check_path,
    check_value_range,
    unexpanded_home_hint,
)
from keras_perceptual.errors import InputError, MissingDependencyError, VideoError, install_hint
from keras_perceptual.ops import from_unit_range, to_unit_range

#: Output extensions and the FFmpeg container (muxer) each one writes.
VIDEO_CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}
#: Encoder options per video codec: visually lossless-ish quality at a sane speed.
VIDEO_CODEC_OPTIONS = {
    "h264": {"crf": "18", "preset": "medium"},
    "vp9": {"crf": "31", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
    # MPEG-4 Part 2 at a fixed quantizer of 2 (FFmpeg's -q:v 2; 118 = FF_QP2LAMBDA).
    "mpeg4": {"flags": "+qscale", "global_quality": str(2 * 118)},
}


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found, or :func:`stylize_video` wrote.

    Attributes:
        path: the file.
        frames: number of video frames (for a probe, the container's count, or an
            estimate from the duration, or for a raw ``.h264``/``.hevc`` stream, which
            stores neither, its packets counted; exact for a written video).
        fps: average frame rate (frames per second).
        width, height: frame size in pixels.
        duration: seconds.
        video_codec: e.g. ``"h264"``.
        audio_codec: the audio track's codec, or ``None`` without audio.
        audio: for a written video, how the audio was handled: ``"copied"``,
            ``"re-encoded"`` or ``None`` (none written: ``audio=False``, no audio track,
            or a track without a single packet).
        seconds: wall-clock time of the run (written videos).
    """

    path: str
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    video_codec: str
    audio_codec: str | None
    audio: str | None = None
    seconds: float | None = None

    @property
    def frames_per_second(self) -> float | None:
        """Stylized frames per second of wall-clock time (written videos)."""
        return None if not self.seconds else self.frames / self.seconds


def _import_av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError(
            f"stylize_video needs PyAV, which is not installed; install the video extra: "
            f"{install_hint('video')}, or pip install av"
        ) from None
    av.logging.set_level(av.logging.PANIC)  # errors arrive as exceptions; keep stderr clean
    return av


def _open_input(av, path: str):
    if not os.path.exists(path):  # a FileNotFoundError, as open() raises, in a sentence
        state = (f" (a broken symbolic link to {os.readlink(path)!r})"
                 if os.path.islink(path) else "")
        raise FileNotFoundError(
            f"no such video file: {path!r}{state}; check the path.{unexpanded_home_hint(path)} "
            f"Received: input_path={path!r}"
        )
    if os.path.isdir(path):
        raise InputError(f"{path!r} is a folder; pass a video file. Received: input_path={path!r}")
    try:
        container = av.open(path, "r")
    except av.error.FFmpegError as error:
        raise VideoError(
            f"cannot read {path!r} as a video ({_reason(error)}); pass a video file FFmpeg can "
            f"decode (mp4, mov, mkv, webm, avi, ...). Received: input_path={path!r}"
        ) from None
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()
        raise _animated_webp(path) if _is_animated_webp(path) else _still_image(path)
    if _main_video_stream(container) is None:
        container.close()
        raise VideoError(
            f"{path!r} has no video stream (audio only, audio with cover art, or an image?); "
            f"pass a video file. Received: input_path={path!r}"
        )
    return container


def _main_video_stream(container):
    """The container's first video stream that is not an attached picture (the cover art of
    an MP3 or M4A, which FFmpeg lists as a one-frame video stream: an MP3 was stylized as a
    "video" of 1 frame at 90000 fps), or None."""
    import av.stream

    cover = av.stream.Disposition.attached_pic
    return next((s for s in container.streams.video if not s.disposition & cover), None)


#: Image formats FFmpeg reads as video (animated images): one frame is a still image.
_ANIMATED_IMAGE_FORMATS = ("gif", "apng")


def _still_image(path: str) -> VideoError:
    return VideoError(
        f"{path!r} is a still image, not a video; stylize images with "
        f"keras_perceptual.stylize (or 'keras-perceptual stylize'). Received: input_path={path!r}"
    )


def _is_animated_webp(path: str) -> bool:
    """Whether ``path`` is an animated WebP: a RIFF WEBP file whose extended header (VP8X)
    has the animation flag. FFmpeg reads only its still form (it called one a still image)."""
    with open(path, "rb") as file:
        header = file.read(21)
    return (len(header) == 21 and header[:4] == b"RIFF" and header[8:16] == b"WEBPVP8X"
            and bool(header[20] & 0x02))  # fmt: skip


def _animated_webp(path: str) -> VideoError:
    return VideoError(
        f"{path!r} is an animated WebP, which FFmpeg cannot decode; convert it to a video "
        "or an animated GIF first, e.g. with Pillow: PIL.Image.open(path).save('clip.gif', "
        f"save_all=True) keeps its frames and their durations. Received: input_path={path!r}"
    )


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split()) or type(error).__name__


def _rate(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def _frame_rate(stream) -> fractions.Fraction:
    """The rate the output is written at: the input's average (or guessed) frame rate, or
    25 fps (FFmpeg's default) for a stream that declares none (a raw elementary stream)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return fractions.Fraction(rate) if rate and rate > 0 else fractions.Fraction(25)


def _info(container, path: str) -> VideoInfo:
    stream = _main_video_stream(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    fps = _rate(stream)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    else:
        duration = 0.0
    frames = stream.frames or int(round(duration * fps))
    if not frames and not duration:  # a raw .h264/.hevc stream: neither count nor duration
        frames = _count_packets(container.name, stream.index)
        duration = frames / float(_frame_rate(stream))
    ctx = stream.codec_context
    return VideoInfo(
        path=path,
        frames=int(frames),
        fps=fps,
        width=int(ctx.width),
        height=int(ctx.height),
        duration=duration,
        video_codec=ctx.name,
        audio_codec=None if audio is None else audio.codec_context.name,
    )


def _count_packets(path: str, index: int) -> int:
    """The packets (one a frame) of stream ``index`` of ``path``: the frame count of a raw
    elementary stream, which stores no count and no duration (it was reported as 0 frames
    of 0 s). Demuxing reads the file without decoding it; the count stops at a damaged
    packet."""
    av = _import_av()
    count = 0
    with av.open(path, "r") as source:
        try:
            for packet in source.demux(source.streams[index]):
                count += packet.size > 0  # the demuxer ends with an empty packet
        except av.error.FFmpegError:
            pass
    return count


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Reads a video file's header: frame count, frame rate, size, duration and codecs.

    Args:
        path: a video file.

    Returns:
        A :class:`VideoInfo` (``frames`` is the container's count, or an estimate from
        the duration when the container does not store it; a raw ``.h264``/``.hevc``
        stream stores neither: its packets, one a frame, are counted, and ``duration`` is
        that count at ``fps``, 25 where the stream declares no rate, as FFmpeg assumes and
        :func:`stylize_video` writes). ``width`` and ``height`` are
        the frames as stored: a phone video filmed in portrait stores landscape frames and
        a rotation that only decoding reveals, which :func:`stylize_video` applies (its
        output, and the :class:`VideoInfo` it returns, have them swapped).

    Raises:
        FileNotFoundError: no such file.
        VideoError: not a video FFmpeg can read, or no video stream.
        MissingDependencyError: PyAV is not installed (the ``video`` extra).

    Example:
        >>> probe_video("clip.mp4").fps  # eight frames at 8 fps
        8.0
    """
    path = check_path(path, "path", "clip.mp4")
    av = _import_av()
    with _open_input(av, path) as container:
        return _info(container, path)


def _temporary_path(output_path: str) -> str:
    folder, name = os.path.split(os.path.abspath(output_path))
    stem, ext = os.path.splitext(name)
    for stale in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}.*.partial{ext}")):
        pid = stale[len(os.path.join(folder, f".{stem}.")) : -len(f".partial{ext}")]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.remove(stale)
            except OSError:
                pass
    return os.path.join(folder, f".{stem}.{os.getpid()}.partial{ext}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_output_path(output_path: str | os.PathLike, input_path: str | os.PathLike) -> str:
    """Checks that ``output_path`` can receive the stylized ``input_path``; returns its container.

    Args:
        output_path: the video to write: a known extension (:data:`VIDEO_CONTAINERS`), in an
            existing folder, not the input itself (it may exist: it is replaced).
        input_path: the video to read.

    Returns:
        The FFmpeg container name (e.g. ``"mp4"``).

    Raises:
        InputError: what is wrong with ``output_path``.

    Example:
        >>> check_output_path("clip_styled.webm", "clip.mp4")
        'webm'
    """
    output_path = check_path(output_path, "output_path", "clip_stylized.mp4")
    input_path = check_path(input_path, "input_path", "clip.mp4")
    ext = os.path.splitext(output_path)[1].lower()
    if ext not in VIDEO_CONTAINERS:
        valid = ", ".join(VIDEO_CONTAINERS)
        raise InputError(
            f"output_path must end in a video extension ({valid}) that picks the container. "
            f"Received: output_path={output_path!r}"
        )
    output_path = check_output_file(output_path, "output_path", "stylized.mp4")
    if (os.path.exists(output_path) and os.path.exists(input_path)
            and os.path.samefile(output_path, input_path)):
        raise InputError(
            "output_path is the input video; write to another file. "
            f"Received: output_path={output_path!r}"
        )
    return VIDEO_CONTAINERS[ext]


#: FFmpeg's YUV matrices (``AVColorSpace``) and swscale's name for each one: an input tagged
#: with one of them is converted back to YUV with it, and the output carries its tags.
_YUV_MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "SMPTE170M", 7: "SMPTE240M", 9: "BT2020"}


def _colour_matrix(in_stream) -> str | None:
    """The input's YUV matrix (swscale's name), or None when untagged (or RGB)."""
    return _YUV_MATRICES.get(int(in_stream.codec_context.colorspace or 0))


#: swscale's flags for the RGB to YUV conversion of stylized frames: bilinear with accurate
#: rounding (``SWS_ACCURATE_RND``). Plain bilinear rounds the subsampled chroma down, so
#: 4:2:0 colours lost up to 3 levels. Numbers, as PyAV 17.1's ``Interpolation`` lacks the name.
_ENCODE_FLAGS = 0x2 | 0x40000  # SWS_BILINEAR | SWS_ACCURATE_RND


def _yuv_frame(av, image: np.ndarray, pix_fmt: str, matrix: str | None):
    """A stylized RGB frame in the output's ``pix_fmt``: limited range, with the input's
    matrix (BT.601 when untagged, as FFmpeg assumes), whatever the input's range was."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    return frame.reformat(
        format=pix_fmt,
        dst_colorspace=matrix or "ITU601",
        dst_color_range=1,
        interpolation=_ENCODE_FLAGS,
    )


def _video_stream(output, in_stream, width: int, height: int, codec_options):
    codec = output.default_video_codec
    rate = _frame_rate(in_stream)
    options = dict(VIDEO_CODEC_OPTIONS.get(codec, {}))
    options.update({key: str(value) for key, value in (codec_options or {}).items()})
    stream = output.add_stream(codec, rate=rate, options=options)
    stream.width, stream.height = width, height
    odd = width % 2 or height % 2
    stream.pix_fmt = "yuv444p" if odd and codec == "h264" else "yuv420p"
    if _colour_matrix(in_stream) is not None:
        # The frames were decoded to RGB with the input's tagged matrix (BT.709 for HD and
        # phone video); they are encoded with it and tagged with it, as players then decode
        # them. Untagged, the encoder used BT.601 and wrote no tags, so players assuming
        # BT.709 for HD showed shifted colours (greens and reds) that the input did not have.
        source = in_stream.codec_context
        context = stream.codec_context
        context.colorspace = source.colorspace
        context.color_primaries = source.color_primaries
        context.color_trc = source.color_trc
    # Limited ("tv") range, as every frame is written (_yuv_frame), full-range input too:
    # an untagged full-range input (MJPEG, some phones) gave an output of unstated range.
    stream.codec_context.color_range = 1
    if output.format.name == "avi" or in_stream.time_base is None:
        # AVI counts frames (its time base is the frame rate); others keep the input's
        # time base, so every frame keeps its exact timestamp (variable frame rate too).
        stream.codec_context.time_base = 1 / rate
    else:
        stream.codec_context.time_base = in_stream.time_base
    return stream


def _can_copy(av, output, in_audio) -> bool:
    """Whether ``output`` takes ``in_audio``'s packets as they are. FFmpeg lists codecs a
    muxer refuses only when it writes its header (FLAC into MOV) or a packet or trailer
    (PCM of unnamed channel order into MP4), so the input's first packets are written, in
    memory, with the header and the trailer."""
    if in_audio.codec_context.name not in output.supported_codecs:
        return False
    try:
        with av.open(in_audio.container.name, "r") as source:
            stream = source.streams[in_audio.index]
            with av.open(io.BytesIO(), "w", format=output.format.name) as trial:
                copy = trial.add_stream_from_template(stream)
                trial.start_encoding()
                written = 0
                for packet in source.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.stream = copy
                    trial.mux(packet)
                    written += 1
                    if written == 3:
                        break
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def _has_packets(av, in_audio) -> bool:
    """Whether the audio track holds any packet (demuxing stops at the first one)."""
    with av.open(in_audio.container.name, "r") as source:
        try:
            stream = source.streams[in_audio.index]
            return any(packet.dts is not None for packet in source.demux(stream))
        except av.error.FFmpegError:
            return True  # damaged: left to the run, which names the problem


def _audio_stream(av, output, in_audio):
    """``(stream, "copied")`` when the container can hold the codec, else a new encoder;
    ``(None, None)`` for a track without a packet (a recording whose sound failed), which
    is not written: it was reported as "copied" (an empty track, or none in MP4)."""
    if not _has_packets(av, in_audio):
        return None, None
    if _can_copy(av, output, in_audio):
        try:
            return output.add_stream_from_template(in_audio), "copied"
        except ValueError:
            pass
    codec = output.default_audio_codec
    rate = in_audio.codec_context.sample_rate or 48000
    if codec == "opus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate = 48000
    stream = output.add_stream(codec, rate=rate)
    layout = _encodable_layout(av, stream.codec_context, in_audio.codec_context.layout)
    if layout is not None:
        stream.layout = layout
    return stream, "re-encoded"


#: The usual channel layout of each channel count: what an encoder refusing the input's
#: own layout (Opus and AC-3's 5.1(side)) is given instead.
_CHANNEL_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1",
                    8: "7.1"}  # fmt: skip


def _encodable_layout(av, context, layout) -> str | None:
    """The input's channel layout if the encoder takes it, else the usual layout of as many
    channels, else stereo (PyAV remixes the frames). Before: 5.1(side) audio (AC-3, DTS)
    into WebM failed as 'cannot write ... check the free disk space'."""
    if layout is None:
        return None
    channels = len(layout.channels)
    for name in (layout.name, _CHANNEL_LAYOUTS.get(channels), "stereo"):
        if name is None:
            continue
        trial = av.CodecContext.create(context.name, "w")
        trial.sample_rate, trial.layout = context.sample_rate, name
        trial.format = context.codec.audio_formats[0] if context.codec.audio_formats else "fltp"
        try:
            trial.open()
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    return layout.name


def _upright(frame, size: tuple[int, int]) -> np.ndarray:
    """The frame as players show it: RGB at the stored ``size`` (width, height) of the
    video's first frame, turned by its display matrix (phone videos).

    A phone filming in portrait stores landscape frames and a display matrix (the old
    ``rotate`` tag) that players apply; FFmpeg attaches it to every decoded frame and PyAV
    reads its angle as ``frame.rotation`` (degrees counter-clockwise, as FFmpeg's own
    autorotation applies it). The network sees, and the output stores, upright frames.
    A frame of another size (a stream that changes resolution midway) is scaled to ``size``.
    """
    if (frame.width, frame.height) == size:
        image = frame.to_ndarray(format="rgb24")
    else:
        image = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _to_model_range(frames: list[np.ndarray], value_range) -> np.ndarray:
    unit = np.stack(frames).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.asarray(from_unit_range(unit, value_range), np.float32)


def _to_uint8(batch: np.ndarray, value_range) -> np.ndarray:
    unit = to_unit_range(np.asarray(batch, np.float32), value_range)
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _warn_resized(input_path: str, index: int, size: tuple[int, int], frame) -> None:
    """Warns that frames of a new size are scaled to the video's first size."""
    warnings.warn(
        f"{input_path!r} changes its frame size from {size[0]}x{size[1]} to "
        f"{frame.width}x{frame.height} at frame {index}; such frames are scaled to the first "
        "frame's size (as FFmpeg does), since a video stream has one size. Cut the input "
        "where its size changes to stylize each part at its own size.",
        UserWarning,
        stacklevel=3,
    )


def _tqdm():
    """tqdm's bar class, or raises naming the extra that installs it."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise MissingDependencyError(
            f"the progress bar needs tqdm, which is not installed; install the video "
            f"extra: {install_hint('video')}, or pass progress=False"
        ) from None
    return tqdm


#: The style options of :func:`~keras_perceptual.inference.stylize` (checked by binding them).
_STYLE_OPTIONS = (
    "style", "style_weights", "style_image", "style_images", "alpha", "style_size",
)


def _check_frame_size(header: VideoInfo, min_size: int, input_path: str) -> None:
    """Refuses a video whose frames are smaller than the model accepts, before any frame is
    decoded, in a video's terms (stylize's own message speaks of ``images[0]``)."""
    if min(header.width, header.height) < min_size:
        side = min_size + min_size % 2  # H.264 4:2:0 wants even sizes
        # The shorter side as shown: FFmpeg turns a phone clip upright before the filter,
        # and the header has the stored size, which the rotation may swap.
        scale = f"'if(lt(iw,ih),{side},-2)':'if(lt(iw,ih),-2,{side})'"
        raise InputError(
            f"The video's frames are {header.width}x{header.height} pixels; this model needs "
            f"at least {min_size}x{min_size}. Scale the video up first, e.g. `ffmpeg -i "
            f"{os.path.basename(input_path)} -vf \"scale={scale}\" larger.mp4`. "
            f"Received: input_path={input_path!r}"
        )


def _stylize_only_options() -> list[str]:
    """The keyword arguments of ``stylize`` that ``stylize_video`` passes on as they are."""
    from keras_perceptual.inference import stylize

    own = inspect.signature(stylize_video).parameters
    return [name for name in inspect.signature(stylize).parameters
            if name not in own and name != "images"]


def check_codec_options(codec_options: Any, container_format: str) -> None:
    """Refuses ``codec_options`` that are not a dict of names to values, and those the
    container's video encoder does not take: a tiny encoder is opened with them, and FFmpeg
    hands back the options it did not use (it ignores them otherwise) or refuses a value.

    :func:`stylize_video` calls it before opening the input; the command line calls it
    before loading the model.

    Args:
        codec_options: ``None`` or a dict of FFmpeg encoder options, e.g. ``{"crf": "23"}``.
        container_format: the output's FFmpeg container, as :func:`check_output_path`
            returns it (e.g. ``"mp4"``).

    Raises:
        InputError: not a dict of string names to string/number values; an option the
            encoder does not take, or a value it refuses.
        MissingDependencyError: PyAV is not installed (the ``video`` extra).

    Example:
        >>> check_codec_options({"crf": "23"}, "mp4")
        >>> check_codec_options({"cfr": "23"}, "mp4")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: codec_options has 'cfr', which the h264 encoder (libx264) does not take (FFmpeg would ignore it); see `ffmpeg -h encoder=libx264` for its options. Received: codec_options={'cfr': '23'}
    """
    if codec_options is None:
        return
    av = _import_av()
    if not isinstance(codec_options, Mapping) or not all(
        isinstance(key, str) and isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        for key, value in codec_options.items()
    ):
        raise InputError(
            "codec_options must be a dict of FFmpeg encoder options with string names and "
            "string or number values, e.g. {'crf': '23', 'preset': 'fast'}. "
            f"Received: codec_options={codec_options!r}"
        )
    with av.open(io.BytesIO(), "w", format=container_format) as container:
        codec = container.default_video_codec
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = 64, 64, "yuv420p"
    context.time_base = fractions.Fraction(1, 25)
    context.options = {**VIDEO_CODEC_OPTIONS.get(codec, {}),
                       **{key: str(value) for key, value in codec_options.items()}}  # fmt: skip
    try:
        context.open()
    except av.error.FFmpegError as error:
        raise InputError(
            f"codec_options has a value the {codec} encoder ({context.codec.name}) refuses "
            f"({_reason(error)}); see `ffmpeg -h encoder={context.codec.name}` for its options "
            f"and values. Received: codec_options={codec_options!r}"
        ) from None
    unused = sorted(context.options)
    if unused:
        raise InputError(
            f"codec_options has {', '.join(map(repr, unused))}, which the {codec} encoder "
            f"({context.codec.name}) does not take (FFmpeg would ignore it); see `ffmpeg -h "
            f"encoder={context.codec.name}` for its options. Received: "
            f"codec_options={codec_options!r}"
        )


class _Progress:
    """A tqdm bar over frames (frames/s and ETA) on a terminal or in a notebook; elsewhere
    (a log file, CI: tqdm's own rule, ``disable=None``) one line when it closes instead of a
    bar redrawn with carriage returns at every batch; or nothing."""

    def __init__(self, total: int, enabled: bool, description: str):
        self.bar = None
        self.total, self.description = total, description
        self.count, self.started = 0, time.perf_counter()
        if enabled:
            self.bar = _tqdm()(
                total=total or None, unit="frame", desc=description, dynamic_ncols=True,
                disable=None,
            )

    def update(self, count: int) -> None:
        self.count += count
        if self.bar is not None:
            self.bar.update(count)

    def close(self, completed: bool) -> None:
        if self.bar is None:
            return
        logged = self.bar.disable  # not a terminal (tqdm's close() sets disable too)
        self.bar.close()
        if logged and completed:  # the run's one line (a failed run has its error instead)
            seconds = time.perf_counter() - self.started
            done = f"{self.count}/{self.total}" if self.total else f"{self.count}"
            rate = self.count / seconds if seconds > 0 else 0.0
            print(f"{self.description}: {done} frames in {seconds:.1f} s ({rate:.2f} frames/s)",
                  file=sys.stderr, flush=True)


def stylize_video(
    model: Any,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int = 128,
    preserve_color: bool = False,
    norm_statistics: str = "image",
    value_range: Sequence[float] | None = None,
    audio: bool = True,
    codec_options: Mapping[str, str] | None = None,
    progress: bool = True,
    **stylize_options: Any,
) -> VideoInfo:
    """Stylizes every frame of a video file with a trained style-transfer network.

    Streams the input: frames are decoded one at a time, stylized ``batch_size`` at a
    time with :func:`keras_perceptual.inference.stylize` (so ``tile_size``,
    ``preserve_color`` and any other ``stylize`` option behave exactly as for images)
    and encoded at once; memory does not grow with the video's length. The output keeps
    the frame rate, each frame's timestamp, the frame size and the audio track (copied
    without re-encoding when the output container supports its codec, else re-encoded
    to the container's default). Every decoded frame is written once: a frame without a
    timestamp, or one the output cannot place after the previous frame (variable-rate
    input into AVI, times that go back), comes one frame period after the previous one;
    frames of another size than the first (a stream that changes resolution) are scaled
    to it, with a ``UserWarning`` (module docstring). Frames are turned upright by the
    input's display matrix (phone videos filmed in portrait): the output's width and
    height are the ones players show for the input, and it carries no rotation. It is written to a
    temporary file in the output's folder and renamed when complete: a failed or
    interrupted run never leaves a truncated file under ``output_path``; an existing
    ``output_path`` is replaced only by a complete video. See the module docstring for
    containers and codecs.

    Args:
        model: a trained image-to-image ``keras.Model`` (e.g. ``style_transfer_net()``).
        input_path: a video file FFmpeg can read.
        output_path: the video to write; its extension picks the container (``.mp4``,
            ``.m4v``, ``.mov``, ``.mkv``, ``.webm``, ``.avi``).
        batch_size: frames (or tiles) per network call.
        tile_size: frames whose height or width exceed it are processed in overlapping
            tiles (see :func:`~keras_perceptual.inference.stylize`); ``None`` never tiles.
        overlap: pixels shared by neighbouring tiles.
        preserve_color: keep each frame's colours and transfer only luminance (Gatys et
            al. 2016).
        norm_statistics: instance-norm statistics of tiled frames (see ``stylize``).
        value_range: ``(low, high)`` of the model's images; default: the model's own.
        audio: keep the audio track (``False`` drops it).
        codec_options: FFmpeg encoder options overriding :data:`VIDEO_CODEC_OPTIONS`,
            e.g. ``{"crf": "23", "preset": "fast"}`` for H.264. An option the container's
            encoder does not take (FFmpeg would ignore it), or a value it refuses, is an
            ``InputError`` before the input is opened.
        progress: show the progress on stderr: a bar (tqdm: frames, frames/s and ETA) on a
            terminal or in a notebook; elsewhere (a log file, CI) one line at the end
            (frames, seconds, frames/s) instead of a bar redrawn at every batch.
        **stylize_options: any further keyword argument of
            :func:`~keras_perceptual.inference.stylize` (e.g. the style selection of a
            multi-style network, or an arbitrary-style network's ``style_image``, ``alpha``
            and ``style_size``: the style image is resized and encoded once, for every
            frame).

    Returns:
        A :class:`VideoInfo` of the written video (``frames`` decoded and written,
        ``seconds`` of wall-clock time, ``frames_per_second``, ``audio``: ``"copied"``,
        ``"re-encoded"`` or ``None``: with ``audio=False``, without an audio track, or
        for a track without a single packet, which is not written; ``audio_codec`` is then
        ``None``).

    Raises:
        FileNotFoundError: ``input_path`` does not exist.
        VideoError: the input cannot be decoded (not a video, corrupt, unsupported
            codec, an animated WebP), is a still image (an image file, or a GIF of one
            frame), or the output cannot be encoded.
        InputError: a bad argument (output extension, codec options, batch size, tile size,
            overlap, style options, ...: all checked before the input is opened), or frames smaller
            than the model accepts (checked from the header, before the first frame is
            decoded).
        TypeError: a keyword argument neither ``stylize_video`` nor ``stylize`` takes.
        MissingDependencyError: PyAV (or tqdm, with ``progress=True``) is not installed:
            install the ``video`` extra.

    Example:
        >>> model = keras.models.load_model("model.keras")  # written by training
        >>> info = stylize_video(model, "clip.mp4", "clip_styled.mp4", progress=False)
        >>> info.frames, info.fps, info.audio
        (8, 8.0, None)
    """
    from keras_perceptual.inference import (
        bind_style,
        check_run_options,
        min_input_size,
        resolve_model,
        stylize,
        with_precision,
    )
    from keras_perceptual.runtimes import model_info

    av = _import_av()
    # Every argument is checked here, before the input is opened or the output created.
    input_path = check_path(input_path, "input_path", "clip.mp4")
    output_path = check_path(output_path, "output_path", "clip_stylized.mp4")
    check_keywords(stylize_options, _stylize_only_options(), "stylize_video")
    audio = check_flag(audio, "audio")
    progress = check_flag(progress, "progress")
    preserve_color = check_flag(preserve_color, "preserve_color")
    container_format = check_output_path(output_path, input_path)
    check_codec_options(codec_options, container_format)
    if progress:
        _tqdm()
    model = resolve_model(model)  # a path is loaded once, not once per batch
    value_range = (
        model_info(model).value_range if value_range is None else check_value_range(value_range)
    )
    batch_size, tile_size, overlap = check_run_options(
        model, batch_size=batch_size, tile_size=tile_size, overlap=overlap,
        norm_statistics=norm_statistics,
    )
    # The precision and style options, applied once: every batch of frames then runs the
    # same bound network (an arbitrary-style network encodes its style image once).
    network = bind_style(
        with_precision(model, stylize_options.pop("precision", None), "stylize_video"),
        value_range,
        **{name: stylize_options.pop(name, None) for name in _STYLE_OPTIONS},
    )
    options = {
        "batch_size": batch_size,
        "tile_size": tile_size,
        "overlap": overlap,
        "preserve_color": preserve_color,
        "norm_statistics": norm_statistics,
        "value_range": value_range,
        **stylize_options,
    }
    source = _open_input(av, input_path)
    started = time.perf_counter()
    temporary = None
    output = None
    bar = None
    try:
        header = _info(source, input_path)
        _check_frame_size(header, min_input_size(model), input_path)
        in_video = _main_video_stream(source)
        in_video.thread_type = "AUTO"
        matrix = _colour_matrix(in_video)
        in_audio = source.streams.audio[0] if (audio and source.streams.audio) else None
        temporary = _temporary_path(output_path)
        # AVI stores no timestamps: shifting them to be non-negative (FFmpeg's default,
        # for an AAC track's priming samples) would shift the video by one frame.
        container_options = {"avoid_negative_ts": "disabled"} if container_format == "avi" else {}
        output = av.open(temporary, "w", format=container_format, options=container_options)
        out_video = None
        out_audio, audio_mode = (None, None)
        if in_audio is not None:
            out_audio, audio_mode = _audio_stream(av, output, in_audio)
            in_audio = in_audio if out_audio is not None else None
        pending: list[tuple[np.ndarray, Any]] = []
        written = 0

        def write(stream, item, encode=True):
            """Encodes ``item`` (a frame, or None to drain) into ``stream``, or muxes a packet."""
            try:
                for packet in stream.encode(item) if encode else [item]:
                    output.mux(packet)
            except av.error.FFmpegError as error:
                raise VideoError(
                    f"cannot write {output_path!r} ({_reason(error)}); check the free disk space, "
                    f"the folder's permissions and codec_options. Received: output_path="
                    f"{output_path!r}"
                ) from None

        backlog: list[Any] = []  # audio packets demuxed before the video stream existed

        def write_audio(packet):
            if audio_mode == "copied":
                packet.stream = out_audio
                write(out_audio, packet, encode=False)
            else:
                for frame in packet.decode():
                    write(out_audio, frame)

        def flush():
            nonlocal out_video, written, bar, last_pts, origin
            if not pending:
                return
            batch = _to_model_range([frame for frame, _ in pending], value_range)
            stylized = _to_uint8(stylize(network, batch, **options), value_range)
            if bar is None:  # with the first stylized batch: the bar starts at its speed
                bar = _Progress(header.frames, progress, os.path.basename(output_path))
            for image, (_, timing) in zip(stylized, pending, strict=True):
                if out_video is None:
                    out_video = _video_stream(
                        output, in_video, image.shape[1], image.shape[0], codec_options
                    )
                    for packet in backlog:
                        write_audio(packet)
                    backlog.clear()
                frame = _yuv_frame(av, image, out_video.pix_fmt, matrix)
                # Each frame keeps its time, in the output's time base; one that would not
                # come after the previous one there (two frames of a variable-rate input
                # within one frame period in AVI, repeated timestamps, a timestamp reset in
                # joined files) comes one frame period after it, so no frame is dropped
                # and the encoder gets increasing times (FFmpeg refused them: "cannot write").
                time_base = out_video.codec_context.time_base
                if origin is None:
                    # AVI has no start time: its first frame plays at 0 s and its audio from
                    # 0 s, so times count from the first frame there (an MPEG-TS recording
                    # starting at 1.4 s kept that offset as a first frame lasting 1.5 s, and
                    # the picture lagged the sound by 1.4 s). Others keep the input's times.
                    origin = timing if container_format == "avi" else 0
                pts = round((timing - origin) / time_base)
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + max(1, round(frame_period / time_base))
                frame.pts, frame.time_base, last_pts = pts, time_base, pts
                write(out_video, frame)
            written += len(pending)
            bar.update(len(pending))
            pending.clear()

        streams = [in_video] + ([in_audio] if in_audio is not None else [])
        index = 0
        size = None  # the stored (width, height) of the first frame: the output's
        resized: set[tuple[int, int]] = set()  # the other sizes met (warned about once)
        when = None  # the time of the last frame decoded, in seconds (a Fraction)
        last_pts = None  # the last timestamp written, in the output's time base
        origin = None  # the time written as 0: the first frame's in AVI, else 0 s
        frame_period = 1 / _frame_rate(in_video)
        try:
            for packet in source.demux(streams):
                if packet.stream.type == "audio":
                    if packet.dts is None:
                        continue
                    if out_video is None:  # the header is written with the video stream
                        backlog.append(packet)
                    else:
                        write_audio(packet)
                    continue
                for frame in packet.decode():
                    if size is None:
                        size = (frame.width, frame.height)
                    elif (frame.width, frame.height) not in (size, *resized):
                        resized.add((frame.width, frame.height))
                        _warn_resized(input_path, index, size, frame)
                    # A frame without a timestamp (a raw .h264/.hevc stream) comes one frame
                    # period after the previous one; before, such frames were given their
                    # index in the stream's time base (1/1200000 s) and all played at 0 s.
                    time_base = frame.time_base or in_video.time_base
                    if frame.pts is not None and time_base is not None:
                        when = frame.pts * fractions.Fraction(time_base)
                    else:
                        when = fractions.Fraction(0) if when is None else when + frame_period
                    pending.append((_upright(frame, size), when))
                    index += 1
                    if len(pending) == batch_size:
                        flush()
        except av.error.FFmpegError as error:
            raise VideoError(
                f"cannot decode {input_path!r} after {index} frame(s) ({_reason(error)}); the "
                f"file is corrupt or truncated, nothing was written to {output_path!r}. "
                f"Re-encode or repair the input. Received: input_path={input_path!r}"
            ) from None
        flush()
        if header.frames and written < header.frames and in_video.frames:
            warnings.warn(
                f"{input_path!r} declares {header.frames} frames but only {written} could be "
                f"decoded; the file is probably damaged, and {output_path!r} has the {written} "
                "frames that could be read.",
                UserWarning,
                stacklevel=2,
            )
        if written == 1 and source.format.name in _ANIMATED_IMAGE_FORMATS:
            # Before: a GIF of one frame became a one-frame video (at 100 fps), while the same
            # picture as a PNG was refused as a still image.
            raise _still_image(input_path)
        if written == 0:
            raise VideoError(
                f"{input_path!r} has a video stream but no decodable frame; pass a playable video. "
                f"Received: input_path={input_path!r}"
            )
        write(out_video, None)
        if audio_mode == "re-encoded":
            write(out_audio, None)
        try:
            output.close()
        except av.error.FFmpegError as error:
            raise VideoError(
                f"cannot write {output_path!r} ({_reason(error)}); check the free disk space. "
                f"Received: output_path={output_path!r}"
            ) from None
        output = None
        os.replace(temporary, output_path)
        temporary = None
    finally:
        try:
            if bar is not None:
                bar.close(completed=temporary is None)  # renamed into place: the run is done
            source.close()
            if output is not None:
                try:
                    output.close()
                except Exception:  # noqa: BLE001 - the original error matters, not this one
                    pass
        finally:  # whatever failed above, no partial file is left behind
            if temporary is not None and os.path.exists(temporary):
                os.remove(temporary)
    return dataclasses.replace(
        header,
        path=output_path,
        frames=written,
        width=int(out_video.width),
        height=int(out_video.height),
        video_codec=out_video.codec_context.name,
        audio_codec=None if out_audio is None else out_audio.codec_context.name,
        audio=audio_mode,
        seconds=time.perf_counter() - started,
    )


__all__ = [
    "VIDEO_CODEC_OPTIONS",
    "VIDEO_CONTAINERS",
    "VideoInfo",
    "check_codec_options",
    "check_output_path",
    "probe_video",
    "stylize_video",
]
