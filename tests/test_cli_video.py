"""``keras-perceptual stylize-video`` (keras_perceptual.cli.video), run in-process."""

from __future__ import annotations

import keras
import pytest
from conftest import make_clip, read_clip, requires_tf

from keras_perceptual.cli import main
from keras_perceptual.models import style_transfer_net

pytest.importorskip("av")
pytestmark = requires_tf


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_video")
    keras.utils.set_random_seed(0)
    model = folder / "model.keras"
    style_transfer_net(filters=8, num_residual_blocks=1).save(model)
    return folder, str(model), make_clip(folder / "clip.mp4", frames=8)


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("keras-perceptual: error: "), lines
    return lines[0]


def test_stylize_video_writes_the_video(files, capsys):
    folder, model, clip = files
    out = folder / "out.mp4"
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet", "--preserve-color",
                 "--codec-option", "crf=30", "--batch-size", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 8 frames, 64x48, 12 fps, audio copied" in printed
    frames, _, samples, codec = read_clip(out)
    assert frames.shape == (8, 48, 64, 3) and codec == "aac" and samples == read_clip(clip)[2]


def test_progress_away_from_a_terminal_is_the_summary_line(files, capsys):
    """Was: tqdm's bar redrawn with carriage returns into a redirected output
    (``clip_starry.mp4: 50%|█████ ...``); the run's one line there is 'wrote ...'."""
    folder, model, clip = files
    out = folder / "logged.mp4"
    assert main(["stylize-video", model, clip, "--out", str(out), "--batch-size", "4"]) == 0
    printed = capsys.readouterr()
    assert printed.err == "", repr(printed.err)
    lines = printed.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("stylize-video: ") and lines[1].startswith(
        f"wrote {out}: 8 frames"), lines


@pytest.mark.parametrize(
    "name,content,fragment",
    [
        ("notes.mp4", b"plain text", "as a video"),
        ("photo.jpg", None, "is a still image"),
        ("missing.mp4", False, "no such video file"),
        ("gone.mp4", False, "Received: INPUT "),  # the library's input_path= is the CLI's INPUT
    ],
)
def test_unreadable_input_is_one_line_exit_2(files, capsys, name, content, fragment):
    folder, model, _ = files
    path = folder / name
    if content:
        path.write_bytes(content)
    elif content is None:
        from PIL import Image

        Image.new("RGB", (32, 32)).save(path)
    out = folder / "never.mp4"
    assert main(["stylize-video", model, str(path), "--out", str(out)]) == 2
    assert fragment in one_error_line(capsys)
    assert not out.exists()


def test_bad_arguments_exit_2(files, capsys):
    folder, model, clip = files
    assert main(["stylize-video", model, clip, "--out", str(folder / "out.gif")]) == 2
    assert "video extension" in one_error_line(capsys)
    assert main(["stylize-video", model, clip, "--out", "x.mp4", "--codec-option", "crf"]) == 2
    assert "KEY=VALUE" in one_error_line(capsys)
    assert main(["stylize-video", str(folder / "none.keras"), clip, "--out", "x.mp4"]) == 2
    assert "does not exist" in one_error_line(capsys)


def test_option_errors_name_the_options(files, capsys):
    folder, model, clip = files
    out = folder / "tiled.mp4"
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet", "--tile", "64"]) == 2
    line = one_error_line(capsys)
    assert "--overlap must be at most half of --tile" in line, line
    assert "Received: --tile 64, --overlap 128" in line and "tile_size" not in line, line
    assert not out.exists()
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet", "--style", "1"]) == 2
    line = one_error_line(capsys)
    assert "--style" in line and "style=" not in line, line
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet",
                 "--style-size", "64"]) == 2  # a single-style network takes no style image
    line = one_error_line(capsys)
    assert "--style-image, --style-size and --alpha apply to" in line, line
    assert "style_size" not in line and not out.exists(), line


def test_style_size_reaches_stylize_video(files, monkeypatch):
    import numpy as np
    from PIL import Image

    from keras_perceptual import video

    folder, model, clip = files
    painting = folder / "painting.png"
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(painting)
    seen = {}

    def spy(model, input_path, output_path, **kwargs):
        seen.update(kwargs)
        return video.VideoInfo(str(output_path), 8, 12.0, 64, 48, 0.7, "h264", None, seconds=1.0)

    monkeypatch.setattr(video, "stylize_video", spy)
    assert main(["stylize-video", model, clip, "--out", str(folder / "s.mp4"), "--quiet",
                 "--style-image", str(painting), "--style-size", "256"]) == 0
    assert (seen["style_image"], seen["style_size"]) == (str(painting), 256)


def test_help_lists_examples(capsys):
    with pytest.raises(SystemExit):
        main(["stylize-video", "--help"])
    text = capsys.readouterr().out
    assert "stylize-video runs/starry/model.keras holiday.mp4 --out" in text
    assert "--preserve-color" in text and "--tile" in text


def test_multi_style_network_takes_style_and_mix(files, capsys):
    from keras_perceptual.models import multi_style_transfer_net

    folder, _, clip = files
    model = folder / "two_styles.keras"
    multi_style_transfer_net(2, filters=4, num_residual_blocks=1).save(model)
    out = folder / "styled.mp4"
    assert main(["stylize-video", str(model), clip, "--out", str(out), "--quiet", "--no-audio",
                 "--mix", "0.25,0.75"]) == 0
    assert read_clip(out)[0].shape == (8, 48, 64, 3)
    assert main(["stylize-video", str(model), clip, "--out", str(out), "--style", "0",
                 "--mix", "1,0"]) == 2
    assert "give one of them" in one_error_line(capsys)
    assert main(["stylize-video", str(model), clip, "--out", str(folder / "none.mp4")]) == 2
    assert "style" in one_error_line(capsys)


def test_output_errors_name_the_out_option(files, capsys):
    """Before: the checks of --out spoke of the library's output_path."""
    folder, model, clip = files
    assert main(["stylize-video", model, clip, "--out", str(folder / "out.gif")]) == 2
    line = one_error_line(capsys)
    assert "--out must end in a video extension" in line and "output_path" not in line, line
    assert f"Received: --out {folder / 'out.gif'}" in line, line
    assert main(["stylize-video", model, clip, "--out", clip]) == 2
    assert "--out is the input video" in one_error_line(capsys)


def test_codec_options_are_checked_before_the_model_loads(files, capsys, monkeypatch):
    """Before: a misspelt --codec-option was refused only after the model had loaded."""
    from keras_perceptual.cli import video as cli_video

    def never(path):
        raise AssertionError("the model was loaded before --codec-option was checked")

    monkeypatch.setattr(cli_video, "load_model", never)
    folder, model, clip = files
    assert main(["stylize-video", model, clip, "--out", str(folder / "o.mp4"),
                 "--codec-option", "cfr=23"]) == 2
    line = one_error_line(capsys)
    assert "--codec-option has 'cfr', which the h264 encoder" in line, line
    assert "Received: --codec-option {'cfr': '23'}" in line, line


def test_an_interrupted_run_says_the_existing_output_is_unchanged(files, capsys, monkeypatch):
    from keras_perceptual import video

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(video, "stylize_video", interrupted)
    folder, model, clip = files
    out = folder / "kept.mp4"
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err.strip().endswith(f"interrupted; {out} was not written")
    out.write_bytes(b"an earlier result")
    assert main(["stylize-video", model, clip, "--out", str(out), "--quiet"]) == 130
    assert "was not written (the existing file is unchanged)" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier result"
