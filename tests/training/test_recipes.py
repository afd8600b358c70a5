"""Training recipes: a few steps of each, resuming, fault handling, outputs (tiny sizes)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import warnings

import keras
import numpy as np
import pytest
from conftest import make_photos, make_style_image, requires_tf, tiny_style_kwargs
from PIL import Image

pytestmark = requires_tf

from keras_perceptual import training  # noqa: E402
from keras_perceptual.data import SkippedImagesWarning  # noqa: E402
from keras_perceptual.errors import InputError  # noqa: E402
from keras_perceptual.training import (  # noqa: E402
    NonFiniteLossError,
    ResumeMismatchError,
    StepBackupAndRestore,
    read_csv_log,
    replicas,
    train_style_transfer,
    train_super_resolution,
)
from keras_perceptual.training import files as training_files  # noqa: E402

TINY_SR_NET = {"filters": 4, "num_residual_blocks": 1}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    return make_style_image(tmp_path_factory.mktemp("style"))


def style_kwargs(weights, **overrides):
    return tiny_style_kwargs(**{"steps": 3, "batch_size": 2, "weights": weights, "save_every": 2,
                                "sample_every": 2, **overrides})


class Interrupt(Exception):
    """Stands in for a crash (or Ctrl-C) in the middle of a run."""


class InterruptAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.at = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.at:
            raise Interrupt(f"interrupted at step {self.at}")


class PoisonAtStep(keras.callbacks.Callback):
    """Sets the last convolution's kernel to NaN after step ``step``: the next loss is NaN."""

    def __init__(self, step):
        super().__init__()
        self.at = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.at:
            kernel = self.model.get_layer("conv_out").weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def png_ok(path):
    with Image.open(path) as image:
        image.load()
        return image.size


@pytest.fixture(scope="module")
def style_run(tmp_path_factory, photos, style_file, standin_weights):
    out = tmp_path_factory.mktemp("style_run")
    result = train_style_transfer(photos, style_file, output_dir=out, **style_kwargs(standin_weights))
    return result, out


# --------------------------------------------------------------------------
# Three steps of each recipe.
# --------------------------------------------------------------------------


def test_style_recipe_three_steps_writes_every_output(style_run, photos, standin_weights):
    result, out = style_run
    assert result.step == 3 and result.resumed_from == 0
    assert result.history["step"] == [2.0, 3.0]  # intervals of save_every=2, the last cut short
    assert all(np.isfinite(result.history["loss"]))
    steps = read_csv_log(result.steps_path)
    assert steps["step"] == [1.0, 2.0, 3.0] and all(np.isfinite(steps["loss"]))

    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["recipe"] == "style_transfer"
    assert config["arguments"]["seed"] == 3 and config["arguments"]["steps"] == 3
    assert config["weights"]["requested"] == standin_weights
    assert os.path.isfile(config["weights"]["file"])
    assert config["versions"]["keras"] == keras.__version__
    assert config["resolved"]["loss"]["class"] == "PerceptualLoss"
    assert config["resolved"]["data"]["images"] == 5
    assert len(config["runs"]) == 1

    # model.keras: the bare network, loadable with safe_mode, same outputs as the result.
    loaded = keras.models.load_model(result.model_path, safe_mode=True)
    assert not loaded.compiled
    x = np.random.default_rng(0).random((1, 36, 44, 3), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(result.model(x)), atol=1e-6
    )

    samples = sorted(os.listdir(result.samples_dir))
    assert samples == ["step-0000000.png", "step-0000002.png", "step-0000003.png"]
    width, height = png_ok(os.path.join(result.samples_dir, samples[-1]))
    assert (width, height) == (2 * 32, 4 * 32)  # input | output, 4 sample rows
    for sub in ("train", "samples"):
        assert any(f.startswith("events.out.tfevents") for f in os.listdir(out / "logs" / sub))
    state = json.loads(pathlib.Path(out / "backup" / "state.json").read_text())
    assert state["step"] == 3 and state["previous"]["step"] == 2
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # no temporary files left


def test_tensorboard_events_hold_losses_terms_and_images(style_run):
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    _, out = style_run
    tags = {}
    for sub in ("train", "samples"):
        for name in os.listdir(out / "logs" / sub):
            for record in tf.data.TFRecordDataset(str(out / "logs" / sub / name)):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    tags.setdefault(value.tag, set()).add(event.step)
    assert tags["batch/loss"] == {1, 2, 3}
    assert tags["epoch/loss"] == {2, 3} and "epoch/learning_rate" in tags
    assert tags["samples"] == {0, 2, 3}
    assert {"terms/content", "terms/style", "terms/tv"} <= set(tags)


def test_rerunning_a_finished_run_does_no_more_work(style_run, photos, style_file, standin_weights):
    result, out = style_run
    again = train_style_transfer(photos, style_file, output_dir=out, **style_kwargs(standin_weights))
    assert again.step == 3 and again.resumed_from == 3
    assert again.history["step"] == [2.0, 3.0]
    assert "trained to step 3 (resumed from step 3): no training step ran; outputs in" in (
        again.summary()
    )
    x = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again.model(x)), keras.ops.convert_to_numpy(result.model(x))
    )


@pytest.mark.parametrize(
    "step, resumed_from, chief, replicas, first_line",
    [
        (170, 170, True, 1, "trained to step 170 (resumed from step 170): no training step ran; "
                            "outputs in out:"),
        (170, 170, False, 2, "trained to step 170 (resumed from step 170): no training step ran; "
                             "this worker writes nothing (the chief writes the outputs)"),
        (40, 20, True, 2, "trained to step 40 (resumed from step 20) on 2 replicas; outputs in out:"),
        (40, 0, True, 1, "trained to step 40; outputs in out:"),
    ],
)
def test_summary_says_when_a_resumed_run_trained_no_step(step, resumed_from, chief, replicas,
                                                         first_line):
    # Before: a finished run resumed with steps below its step printed "trained to step 170
    # (resumed from step 170)", as if it had trained.
    paths = dict.fromkeys(("model_path", "config_path", "backup_dir", "log_dir", "csv_path",
                           "steps_path", "samples_dir"), "x")
    result = training.TrainingResult(model=None, history={}, step=step, resumed_from=resumed_from,
                                     output_dir="out", weights=None, chief=chief,
                                     replicas=replicas, **paths)
    assert result.summary().splitlines()[0] == first_line


def test_resuming_with_other_settings_is_refused(style_run, photos, style_file, standin_weights):
    _, out = style_run
    with pytest.raises(ResumeMismatchError, match=r"batch_size 2 -> 4.*new output folder"):
        train_style_transfer(
            photos, style_file, output_dir=out, **style_kwargs(standin_weights, batch_size=4)
        )
    # weights may move (it is listed as one that may change), not become other weights: the
    # message says so instead of contradicting itself
    with pytest.raises(ResumeMismatchError, match=r"weights_source 'hed_bsds500' -> None.*only .*"
                       r"weights may change; a weights file or style image may move to another "
                       r"path but must hold the same data\)"):
        train_style_transfer(photos, style_file, output_dir=out, **style_kwargs(None))


@pytest.mark.parametrize("content, message", [
    ('{"format_version": 2, "arguments": {', r"config\.json \(not valid JSON: "),
    ('{"arguments": [1]}', r"config\.json \(its 'arguments' are not a JSON object\)"),
    ("[1, 2]", r"config\.json \(it is not a JSON object\)"),
])
def test_a_damaged_config_json_is_not_resumed_unchecked(style_run, photos, style_file,
                                                       standin_weights, tmp_path, content, message):
    # Before: invalid JSON skipped the settings check (another --filters then failed on the
    # backup's shapes with a line of tens of KB); a non-object 'arguments' was a traceback.
    import shutil

    _, out = style_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "config.json").write_text(content)
    with pytest.raises(ResumeMismatchError, match=message + r".*edited or damaged.*delete it to "
                       r"resume from backup/.*choose a new output folder"):
        train_style_transfer(photos, style_file, output_dir=copy, **style_kwargs(standin_weights))
    assert (copy / "config.json").read_text() == content


def test_an_edited_backup_record_and_a_mismatched_backup_are_one_short_error(tmp_path):
    # Before: a state.json without 'weights' was a KeyError traceback, and a backup of another
    # network quoted every variable's values (tens of KB on one line).
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 64), "float32")
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=[StepBackupAndRestore(tmp_path)])
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(65)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(training.BackupError, match="can be loaded into this model") as caught:
        StepBackupAndRestore(tmp_path).restore(other)
    assert len(str(caught.value)) < 1000, len(str(caught.value))
    (tmp_path / "state.json").write_text(json.dumps({"step": 2, "epoch": 1}))
    with pytest.raises(training.BackupError, match=r"is not one this library wrote .* delete"):
        StepBackupAndRestore(tmp_path).restore(model)


@pytest.mark.parametrize("recipe,arguments,message", [
    # the SR network sees patch_size / scale pixels, and needs 5 (its 9x9 reflection padding)
    ("sr", {"patch_size": 16}, r"patch_size=16 gives the network 4x4 pixel images \(patch_size "
     r"/ scale = 16 / 4\), but it needs at least 5x5; use patch_size >= 20\. Received"),
    ("style", {"image_size": 4}, r"image_size=4 gives the network 4x4 .*use image_size >= 5\."),
    # the loss and the metrics see the crops: SSIM's 11x11 window, LPIPS's AlexNet (31 px),
    # VGG16's relu4_3 (8 px); the smallest valid size is a multiple of the scale
    ("sr", {"scale": 2, "patch_size": 10}, r"patch_size=10 gives the ssim metric 10x10 pixel "
     r"images, but it needs at least 11x11; use patch_size >= 12\. Received: patch_size=10"),
    ("sr", {"scale": 2, "patch_size": 12, "lpips": True}, r"gives the lpips metric 12x12 .* "
     r"at least 31x31; use patch_size >= 32\."),
    ("style", {"image_size": 6}, r"image_size=6 gives the loss 6x6 pixel images, but it needs "
     r"at least 8x8; use image_size >= 8\."),
])
def test_crops_smaller_than_the_network_loss_or_metrics_accept_are_refused_before_training(
        tmp_path, photos, style_file, recipe, arguments, message):
    # it used to fail inside fit (the first sample or step), after config.json was written,
    # in words about the network's padding, SSIM's filter_size or the loss's layers
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        if recipe == "sr":
            train_super_resolution(photos, arguments.pop("scale", 4), output_dir=out, steps=1,
                                   batch_size=2, model_options=TINY_SR_NET, weights=None,
                                   **arguments)  # fmt: skip
        else:
            train_style_transfer(photos, style_file, output_dir=out,
                                 **style_kwargs(None, **arguments))
    assert not (out / "config.json").exists()


def test_super_resolution_recipe_logs_psnr_and_ssim(tmp_path, standin_weights):
    folder = make_photos(tmp_path / "hr", count=4, seed=5)
    (tmp_path / "hr" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.warns(SkippedImagesWarning, match="broken.jpg"):
        result = train_super_resolution(
            folder,
            4,
            output_dir=tmp_path / "out",
            steps=3,
            patch_size=32,
            batch_size=2,
            model_options=TINY_SR_NET,
            weights=standin_weights,
            save_every=3,
            sample_every=3,
            seed=0,
            verbose=0,
        )
    assert result.step == 3
    for name in ("loss", "psnr", "ssim"):
        assert len(result.history[name]) == 1 and np.isfinite(result.history[name][0])
    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["resolved"]["data"]["skipped"] == 1
    assert config["resolved"]["loss"]["content_layers"] == {"relu2_2": 1.0}
    assert config["resolved"]["loss"]["style_weight"] == 0.0
    loaded = keras.models.load_model(result.model_path)
    assert tuple(loaded(np.zeros((1, 10, 12, 3), "float32")).shape) == (1, 40, 48, 3)
    # Sample grid: bicubic | network | original, 4 rows of 32 px.
    assert png_ok(os.path.join(result.samples_dir, "step-0000003.png")) == (3 * 32, 4 * 32)


@pytest.mark.slow  # a second metric network in the training step
def test_super_resolution_recipe_reports_lpips(tmp_path, photos):
    result = train_super_resolution(
        photos, 4, output_dir=tmp_path, steps=2, patch_size=32, batch_size=2, loss="pixel",
        lpips=True, weights=None, model_options=TINY_SR_NET, save_every=2, seed=0, verbose=0,
    )
    assert len(result.history["lpips"]) == 1 and np.isfinite(result.history["lpips"][0])
    assert json.loads(pathlib.Path(result.config_path).read_text())["arguments"]["lpips"] is True


def test_super_resolution_gan_with_pixel_loss_needs_no_loss_network(tmp_path, photos):
    # weights stays "imagenet" (the default): with loss="pixel" it is never resolved, so
    # nothing is downloaded on this offline machine.
    result = train_super_resolution(
        photos,
        4,
        output_dir=tmp_path,
        steps=3,
        patch_size=32,
        batch_size=2,
        loss="pixel",
        gan=True,
        gan_options={"discriminator_filters": 4},
        model_options=TINY_SR_NET,
        save_every=2,
        seed=0,
        verbose=0,
    )
    assert result.step == 3
    assert {"discriminator_loss", "adversarial_loss", "psnr", "ssim"} <= set(result.history)
    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["weights"]["file"] is None and "not used" in config["weights"]["description"]
    assert config["resolved"]["adversarial"]["adversarial_weight"] == 1e-3
    generator = keras.models.load_model(result.model_path)  # the generator alone
    assert generator.name == "super_resolution_net_x4"


# --------------------------------------------------------------------------
# Resuming and faults.
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_after_interruption_gives_the_uninterrupted_step_count(
    tmp_path, photos, style_file, standin_weights
):
    kwargs = style_kwargs(standin_weights, steps=5, sample_every=100)
    straight = train_style_transfer(photos, style_file, output_dir=tmp_path / "straight", **kwargs)

    out = tmp_path / "interrupted"
    with pytest.raises(Interrupt):
        train_style_transfer(
            photos, style_file, output_dir=out, callbacks=[InterruptAtStep(3)], **kwargs
        )
    # Killed in the middle of the second interval: the backup of step 2 is in force.
    assert json.loads(pathlib.Path(out / "backup" / "state.json").read_text())["step"] == 2
    assert read_csv_log(out / "steps.csv")["step"] == [1.0, 2.0]  # step 3 was never flushed

    resumed = train_style_transfer(photos, style_file, output_dir=out, **kwargs)
    assert resumed.resumed_from == 2
    assert resumed.step == straight.step == 5
    assert read_csv_log(resumed.steps_path)["step"] == read_csv_log(straight.steps_path)["step"]
    assert resumed.history["step"] == straight.history["step"] == [2.0, 4.0, 5.0]
    config = json.loads(pathlib.Path(resumed.config_path).read_text())
    assert [run["resumed_from_step"] for run in config["runs"]] == [0, 2]


@pytest.mark.slow
def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, photos, style_file, standin_weights
):
    kwargs = style_kwargs(standin_weights, steps=6, sample_every=100)
    with pytest.raises(NonFiniteLossError, match=r"at step 4: the loss became nan.*step 2"):
        train_style_transfer(
            photos, style_file, output_dir=tmp_path, callbacks=[PoisonAtStep(3)], **kwargs
        )
    assert json.loads(pathlib.Path(tmp_path / "backup" / "state.json").read_text())["step"] == 2
    model = keras.models.load_model(tmp_path / "model.keras")
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    backed_up = sorted(os.listdir(tmp_path / "backup"))
    assert backed_up == ["state.json", "step-000000002.weights.h5"]


def test_backup_falls_back_to_the_previous_one_when_the_latest_is_damaged(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    backup = StepBackupAndRestore(tmp_path)
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[backup])
    state = json.loads(pathlib.Path(tmp_path / "state.json").read_text())
    assert (state["step"], state["epoch"], state["previous"]["step"]) == (4, 2, 2)
    with open(tmp_path / state["weights"], "wb") as f:
        f.write(b"half a file")
    fresh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fresh.compile(optimizer="adam", loss="mse")
    assert StepBackupAndRestore(tmp_path).restore(fresh) == {"step": 2, "epoch": 1}
    assert int(fresh.optimizer.iterations) == 2


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    training.atomic_save_model(net, path)
    before = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        training.atomic_save_model(net, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]


# --------------------------------------------------------------------------
# Arguments.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"learning_rate": -1.0}, "learning_rate must be a positive number"),
        ({"model_options": 16}, "model_options must be a dict"),
        ({"loss_options": {"weights": None}}, "loss_options cannot set 'weights'"),
        ({"strategy": "mirrored"}, "strategy must be a tf.distribute.Strategy"),
        ({"callbacks": [print]}, "callbacks must be a list of keras.callbacks.Callback"),
        ({"content_weight": -1}, "content_weight must be a finite number >= 0"),
    ],
)
def test_style_argument_errors(tmp_path, photos, style_file, overrides, message):
    kwargs = style_kwargs(None, **overrides)
    with pytest.raises(ValueError, match=message):
        train_style_transfer(photos, style_file, output_dir=tmp_path, **kwargs)


def test_an_integer_style_array_is_refused_not_clipped_to_white(tmp_path, photos):
    """Before: a uint8 style array was read as floats in [0, 255] and clipped to [0, 1] (a
    nearly white style image) and trained without a word."""
    from keras_perceptual.training import train_multi_style

    painting = np.full((32, 32, 3), 128, np.uint8)
    common = dict(output_dir=tmp_path, steps=1, image_size=32, weights=None, verbose=0)
    with pytest.raises(InputError, match=r"style_image has dtype uint8.*/ 255"):
        train_style_transfer(photos, painting, **common)
    with pytest.raises(InputError, match=r"style_images\[1\] has dtype uint8"):
        train_multi_style(photos, style_images=[painting / 255.0, painting], **common)
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_an_output_folder_inside_the_photos_folder_is_not_scanned(tmp_path, style_file):
    """Before: `train-style photos/ s.jpg --out photos/run` took its own sample grids under
    photos/run/samples for training photos when it was resumed."""
    from keras_perceptual.training.config import StyleTransferConfig
    from keras_perceptual.training.recipes import StyleTransferRecipe

    photos = tmp_path / "photos"
    make_photos(photos, count=2)
    out = photos / "run"
    (out / "samples").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(out / "samples" / "step_000001.png")
    config = StyleTransferConfig(content_dir=str(photos), style_image=style_file,
                                 output_dir=str(out), steps=1, image_size=32, weights=None)
    scan = StyleTransferRecipe(config).scan()
    assert [os.path.basename(p) for p in scan.paths] == ["photo0.png", "photo1.png"]


def test_other_runs_inside_the_photos_folder_are_not_scanned(tmp_path, style_file):
    """Before: after `--out photos/runA`, a run with `--out photos/runB` excluded only its
    own folder and trained on runA's sample grids (and its copies of the style image)."""
    from keras_perceptual.training.config import StyleTransferConfig
    from keras_perceptual.training.recipes import StyleTransferRecipe

    photos = tmp_path / "photos"
    make_photos(photos, count=2)
    run_a = photos / "runA"
    (run_a / "samples").mkdir(parents=True)
    (run_a / "backup").mkdir()
    (run_a / "config.json").write_text("{}")
    Image.new("RGB", (64, 64)).save(run_a / "samples" / "step_000001.png")
    # A folder that merely holds a config.json (no run) is still scanned.
    (photos / "album").mkdir()
    (photos / "album" / "config.json").write_text("{}")
    Image.new("RGB", (64, 64)).save(photos / "album" / "beach.png")
    config = StyleTransferConfig(content_dir=str(photos), style_image=style_file,
                                 output_dir=str(photos / "runB"), steps=1, image_size=32,
                                 weights=None)
    with pytest.warns(UserWarning, match=r"Left out 1 folder\(s\) under .* that hold other "
                                         r"training runs .*runA"):
        scan = StyleTransferRecipe(config).scan()
    assert [os.path.basename(p) for p in scan.paths] == ["beach.png", "photo0.png", "photo1.png"]


def test_path_errors(tmp_path, photos, style_file):
    kwargs = style_kwargs(None)
    with pytest.raises(ValueError, match="does not exist"):
        train_style_transfer(photos, tmp_path / "missing.jpg", output_dir=tmp_path, **kwargs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; pass a folder"):
        train_style_transfer(photos, style_file, output_dir=tmp_path / "file", **kwargs)
    with pytest.raises(ValueError, match="does not exist"):
        train_style_transfer(tmp_path / "nowhere", style_file, output_dir=tmp_path / "o", **kwargs)


def test_super_resolution_argument_errors(tmp_path, photos):
    common = dict(output_dir=tmp_path, steps=1, verbose=0)
    with pytest.raises(ValueError, match="scale must be one of 2, 4, 8"):
        train_super_resolution(photos, 3, **common)
    with pytest.raises(ValueError, match="not divisible by scale=4; use a multiple of 4 such as 32"):
        train_super_resolution(photos, 4, patch_size=34, **common)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_super_resolution(photos, 4, loss="vgg", **common)
    with pytest.raises(ValueError, match="gan_options is only used with gan=True"):
        train_super_resolution(photos, 4, gan_options={"adversarial_weight": 1.0}, **common)


def test_default_strategy_and_chief():
    import tensorflow as tf

    strategy = training.default_strategy()
    gpus = len(tf.config.list_logical_devices("GPU"))
    assert isinstance(strategy, tf.distribute.MirroredStrategy) == (gpus > 1)
    assert training.is_chief(strategy)


def test_stale_temporary_files_are_removed_and_final_names_kept(tmp_path):
    temporary = [
        ".model.keras.ab12cd_x.tmp.keras",
        ".state.json.zzzzzzzz.tmp",
        ".step-000000004.weights.h5.a1b2c3d4.tmp.weights.h5",
    ]
    kept = ["model.keras", "state.json", "step-000000004.weights.h5", ".hidden", "notes.tmp"]
    for name in temporary + kept:
        (tmp_path / name).write_text("x")
    assert sorted(training_files.remove_stale_temp_files(str(tmp_path))) == sorted(temporary)
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
    assert training_files.remove_stale_temp_files(str(tmp_path / "missing")) == []


def test_synchronized_batch_norm_is_a_training_setting_that_saves_leave_out(tmp_path):
    from keras_perceptual.models import super_resolution_net

    net = super_resolution_net(4, **TINY_SR_NET)  # batch normalization, the paper's SR net

    def flags(model):
        layers = replicas._all_layers(model)
        return [x.synchronized for x in layers if isinstance(x, keras.layers.BatchNormalization)]

    assert flags(net) == [False] * 5
    assert replicas.synchronize_batch_norm(net) == 5 and flags(net) == [True] * 5
    training.atomic_save_model(net, tmp_path / "net.keras")
    assert flags(net) == [True] * 5  # still on for the training that goes on
    assert flags(keras.models.load_model(tmp_path / "net.keras")) == [False] * 5
    replicas.unsynchronize_batch_norm(net)
    assert flags(net) == [False] * 5


def test_config_records_the_loss_networks_own_backbone(tmp_path, photos, style_file):
    # The weights are resolved, and recorded, for the backbone the loss really uses (issue:
    # config.json named the VGG16 file although the loss ran VGG19).
    result = train_style_transfer(
        photos, style_file, output_dir=tmp_path,
        **style_kwargs(None, steps=1, save_every=1, sample_every=1,
                       loss_options={"backbone": "vgg19", "style_layers": "relu1_2"}),
    )  # fmt: skip
    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["weights"]["backbone"] == "vgg19"
    assert config["resolved"]["loss"]["backbone"] == "vgg19"


# --------------------------------------------------------------------------
# Temporal stability (video): the same network, trained with one more term.
# --------------------------------------------------------------------------


def test_temporal_weight_trains_the_same_weights_with_one_more_loss(tmp_path, style_file):
    from keras_perceptual.losses import TemporalConsistency
    from keras_perceptual.training.config import StyleTransferConfig
    from keras_perceptual.training.recipes import StyleTransferRecipe

    def compiled(**overrides):
        config = StyleTransferConfig(content_dir=str(tmp_path), style_image=style_file,
                                     output_dir=str(tmp_path / "run"), seed=3, **overrides)  # fmt: skip
        network = keras.Sequential(
            [keras.Input((None, None, 3)), keras.layers.Conv2D(3, 3, padding="same")], name="net"
        )
        return network, StyleTransferRecipe(config).compile(network, keras.losses.MeanSquaredError())

    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    network, trainer = compiled(temporal_weight=10.0, temporal_motion="camera")
    (layer,) = [v for v in trainer.layers if isinstance(v, TemporalConsistency)]
    assert (layer.weight, layer.network) == (10.0, network)
    assert {id(v) for v in trainer.trainable_variables} == {
        id(v) for v in network.trainable_variables
    }
    # Inference is the bare network; training adds weight * temporal loss (> 0 here).
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trainer(x, training=False)),
        keras.ops.convert_to_numpy(network(x)), atol=1e-6,
    )  # fmt: skip
    trainer(x, training=True)
    (term,) = trainer.losses
    assert float(keras.ops.convert_to_numpy(term)) > 0
    _, plain = compiled()
    plain(x, training=True)
    assert plain.losses == [] and not any(
        isinstance(v, TemporalConsistency) for v in plain.layers
    )


@pytest.mark.slow
def test_temporal_weight_adds_the_term_and_saves_the_plain_network(
    style_run, tmp_path, photos, style_file, standin_weights
):
    plain, _ = style_run
    kwargs = style_kwargs(standin_weights, steps=2, sample_every=100, temporal_weight=1e3,
                          temporal_motion="camera")  # fmt: skip
    result = train_style_transfer(photos, style_file, output_dir=tmp_path, **kwargs)
    # Same seed, data and initial weights as style_run: step 1's loss differs by exactly
    # the temporal term, which is positive (the untrained network is not equivariant).
    first_plain = read_csv_log(plain.steps_path)["loss"][0]
    first = read_csv_log(result.steps_path)["loss"][0]
    assert np.isfinite(first) and first > first_plain * (1 + 1e-4)

    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["arguments"]["temporal_weight"] == 1e3
    assert config["arguments"]["temporal_motion"] == "camera"
    assert config["resolved"]["temporal"]["perturbation"]["max_shift"] > 0
    assert config["resolved"]["network"]["parameters"] == plain.model.count_params()

    # Resuming (steps may grow) restores the wrapped training state, and model.keras is
    # the bare network: no TemporalConsistency, the trained weights, safe_mode loads it.
    resumed = train_style_transfer(photos, style_file, output_dir=tmp_path,
                                   **{**kwargs, "steps": 3})  # fmt: skip
    assert (resumed.resumed_from, resumed.step) == (2, 3)
    loaded = keras.models.load_model(resumed.model_path, safe_mode=True)
    assert loaded.name == plain.model.name
    assert not any("temporal" in layer.name for layer in loaded.layers)
    x = np.random.default_rng(2).random((1, 32, 40, 3), dtype=np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(resumed.model(x)),
        atol=1e-6,
    )
    with pytest.raises(ResumeMismatchError, match="temporal_weight 1000.0 -> 0.0"):
        train_style_transfer(photos, style_file, output_dir=tmp_path,
                             **{**kwargs, "temporal_weight": 0.0, "temporal_motion": "stability"})


# --------------------------------------------------------------------------
# Several styles in one network (Dumoulin et al. 2017) and any style (AdaIN).
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def style_files(tmp_path_factory):
    """Three small 'paintings' in a folder of their own."""
    folder = tmp_path_factory.mktemp("paintings")
    rng = np.random.default_rng(9)
    for i in range(3):
        coarse = rng.integers(0, 256, (4 + i, 5, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((56 + 8 * i, 48), Image.Resampling.BICUBIC).save(
            folder / f"painting{i}.png"
        )
    return sorted(str(p) for p in folder.iterdir())


def test_balanced_schedule_samples_every_style_evenly():
    from keras_perceptual.training.recipes import balanced_schedule, schedule_rows

    table = balanced_schedule(3, seed=4)
    again = balanced_schedule(3, seed=4)
    np.testing.assert_array_equal(table, again)  # seeded
    assert not np.array_equal(table, balanced_schedule(3, seed=5))
    for start in range(0, 30, 3):
        assert sorted(table[start:start + 3]) == [0, 1, 2]
    # Batches of 2 walk along the table: 6 consecutive images hold each style twice.
    images = np.zeros((2, 4, 4, 3), "float32")
    drawn = np.concatenate([keras.ops.convert_to_numpy(schedule_rows(table, images, i))
                            for i in range(3)])  # fmt: skip
    np.testing.assert_array_equal(np.bincount(drawn, minlength=3), [2, 2, 2])


@pytest.mark.slow  # three short trainings through the trainer (~1 min on 2 cores)
def test_multi_style_recipe_trains_resumes_and_samples_every_style(tmp_path, photos, style_files):
    from keras_perceptual.training import MultiStyleRecipe, train_multi_style

    kwargs = {**style_kwargs(None, steps=2, batch_size=3), "style_learning_rate_multiplier": 5}
    result = train_multi_style(photos, style_files, output_dir=tmp_path, **kwargs)
    assert result.step == 2
    model = keras.models.load_model(result.model_path, safe_mode=True)
    assert [t.name for t in model.inputs] == ["image", "style_weights"]
    record = json.loads(pathlib.Path(result.config_path).read_text())
    assert record["recipe"] == "multi_style"
    assert len(record["arguments"]["style_images_sha256"]) == 3
    assert record["arguments"]["style_learning_rate_multiplier"] == 5.0
    assert record["resolved"]["optimizer"] == "ScaledAdam"
    assert record["resolved"]["loss"]["style_images"][0] == "<pixels of style image 0>"
    with Image.open(os.path.join(result.samples_dir, "step-0000002.png")) as grid:
        assert grid.size == (2 * 32, 2 * 3 * 32)  # two photos, each in the three styles
    resumed = train_multi_style(photos, style_files, output_dir=tmp_path,
                                **{**kwargs, "steps": 3})  # fmt: skip
    assert resumed.resumed_from == 2 and resumed.step == 3
    with pytest.raises(ResumeMismatchError, match="style_images"):
        train_multi_style(photos, style_files[::-1], output_dir=tmp_path,
                          **{**kwargs, "steps": 4})  # fmt: skip
    # Each image gets a one-hot style and its packed target.
    recipe = MultiStyleRecipe(training.MultiStyleConfig(
        content_dir=photos, style_images=style_files, output_dir=tmp_path / "x", steps=1,
        seed=0, style_image_size=48))  # fmt: skip
    recipe.resolve()
    crops = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    x, y = recipe.pairs(crops, 1)
    weights = keras.ops.convert_to_numpy(x["style_weights"])
    np.testing.assert_array_equal(weights.sum(1), 1.0)
    np.testing.assert_array_equal(weights.argmax(1), recipe.schedule[4:8])
    assert tuple(y.shape) == (4, 16, 16, 6)


def test_multi_style_recipe_uses_the_configured_multiplier(tmp_path, photos, style_files):
    from keras_perceptual import multi_style_transfer_net
    from keras_perceptual.training import (
        MultiStyleConfig,
        MultiStyleRecipe,
        ScaledAdam,
        style_parameter_paths,
    )

    config = MultiStyleConfig(content_dir=photos, style_images=style_files, output_dir=tmp_path,
                              steps=1, style_image_size=48, style_learning_rate_multiplier=8)  # fmt: skip
    assert config.style_learning_rate_multiplier == 8.0
    recipe = MultiStyleRecipe(config)
    recipe.resolve()
    network = multi_style_transfer_net(len(style_files), filters=4, num_residual_blocks=0)
    optimizer = recipe.build_optimizer(network)
    assert isinstance(optimizer, ScaledAdam) and optimizer.multiplier == 8.0
    assert list(optimizer.scaled_variables) == style_parameter_paths(network)
    assert recipe.describe()["optimizer"] == "ScaledAdam"
    with pytest.raises(InputError, match="style_learning_rate_multiplier must be a finite"):
        MultiStyleConfig(content_dir=photos, style_images=style_files, output_dir=tmp_path,
                         style_learning_rate_multiplier=0)  # fmt: skip


def test_loss_network_weights_are_float32_where_bfloat16_variables_cannot_be_held(
    tmp_path, photos, style_files
):
    from keras_perceptual.training import StyleTransferConfig, StyleTransferRecipe

    def recipe(**loss_options):
        config = StyleTransferConfig(content_dir=photos, style_image=style_files[0],
                                     output_dir=tmp_path, loss_options=loss_options)  # fmt: skip
        made = StyleTransferRecipe(config)
        made.precision = "mixed_bfloat16"
        return made

    held = recipe()
    arguments = {**held.loss_network_dtype(), "style_weight": 1.0}
    assert held.loss_arguments(arguments)["backbone_dtype"] == "bfloat16"
    held.bfloat16_variables = False  # TensorFlow's multi-worker strategy
    assert held.loss_arguments(arguments) == {"backbone_dtype": "mixed_bfloat16",
                                              "style_weight": 1.0}  # fmt: skip
    assert held.loss_arguments({"backbone_dtype": "float32"}) == {"backbone_dtype": "float32"}
    assert held.loss_arguments({}) == {}
    chosen = recipe(backbone_dtype="bfloat16")
    chosen.bfloat16_variables = False
    with pytest.raises(InputError, match="pass 'mixed_bfloat16'"):
        chosen.loss_arguments({"backbone_dtype": "bfloat16"})


def test_arbitrary_style_crops_are_slices_of_the_paintings(tmp_path, photos, style_files):
    from keras_perceptual.training import ArbitraryStyleConfig, ArbitraryStyleRecipe

    folder = os.path.dirname(style_files[0])
    config = ArbitraryStyleConfig(content_dir=photos, style_dir=folder, output_dir=tmp_path,
                                  steps=1, image_size=16, style_image_size=40, seed=2,
                                  backbone="vgg16", weights=None)  # fmt: skip
    recipe = ArbitraryStyleRecipe(config)
    recipe.resolve()
    assert recipe.style_bank.shape == (3, 40, 40, 3) and recipe.style_bank.dtype == np.uint8
    rows = recipe.schedule[:5]
    crops = keras.ops.convert_to_numpy(recipe.style_crops(keras.ops.convert_to_tensor(rows)))
    for crop, (style, top, left) in zip(crops, rows, strict=True):
        expected = recipe.style_bank[style, top:top + 16, left:left + 16] / np.float32(255)
        np.testing.assert_allclose(crop, expected, atol=1e-6)
    x, y = recipe.pairs(np.zeros((2, 16, 16, 3), "float32"), 0)
    assert tuple(x["style"].shape) == (2, 16, 16, 3) and tuple(y.shape) == (2, 16, 16, 6)


def test_unusable_paintings_are_named_once_as_unusable_photos_are(tmp_path, photos, style_files):
    # Before: the paintings' scan ran with warn=False: a half-corrupt painting folder trained
    # on the rest without a word (the photos' scan names its unusable files). A worker that
    # resolves again (the chief's seed replacing its own) neither rescans nor warns twice.
    import shutil

    from keras_perceptual.training import ArbitraryStyleConfig, ArbitraryStyleRecipe, Trainer

    folder = tmp_path / "paintings"
    folder.mkdir()
    for path in style_files[:2]:
        shutil.copy(path, folder)
    (folder / "broken.jpg").write_bytes(b"not a painting")
    config = ArbitraryStyleConfig(content_dir=photos, style_dir=str(folder),
                                  output_dir=tmp_path / "out", steps=1, image_size=16,
                                  style_image_size=40, seed=3, backbone="vgg16", weights=None)  # fmt: skip
    trainer = Trainer(ArbitraryStyleRecipe(config), verbose=0)
    with pytest.warns(SkippedImagesWarning, match="broken.jpg") as caught:
        trainer.resolve()
    trainer.lock.release(remove=True)
    assert [str(w.message).count("broken.jpg") for w in caught] == [1]
    recipe = trainer.recipe
    assert recipe.describe()["style_dir"]["skipped_files"][0][0] == str(folder / "broken.jpg")
    assert sum(len(scan.skipped) for scan in trainer.scans()) == 1
    recipe.config = dataclasses.replace(recipe.config, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recipe.resolve()
    assert recipe.style_bank.shape[0] == 2


def test_scan_and_style_image_errors_name_the_recipe_settings(tmp_path, photos, style_file):
    # Before: the scan's and load_image's own argument names (directory=, min_size, path=)
    # reached a caller who had passed content_dir, image_size and style_image.
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.png").write_text("not an image")
    common = style_kwargs(None, output_dir=str(tmp_path / "out"), steps=1)
    with pytest.raises(InputError, match=r"at least image_size=32 px \(or lower image_size\)\. "
                       r"Received: content_dir='.*empty'$"):  # fmt: skip
        train_style_transfer(str(tmp_path / "empty"), style_file, **common)
    with pytest.raises(InputError, match=r"Received: style_image='.*notes.png'$"):
        train_style_transfer(photos, str(tmp_path / "notes.png"), **common)
    assert not (tmp_path / "out").exists()


def test_style_schedules_are_seeded_with_the_drawn_seed_when_none_is_given(tmp_path, photos,
                                                                         style_files):
    # Before: with no seed (the command line's default) the arbitrary-style recipe stopped
    # with "TypeError: object of type 'NoneType' has no len()", and the multi-style schedule
    # was drawn unseeded (another style order on every resume), not from the recorded seed.
    from keras_perceptual.training import (
        ArbitraryStyleConfig,
        ArbitraryStyleRecipe,
        MultiStyleConfig,
        MultiStyleRecipe,
        Trainer,
    )
    from keras_perceptual.training.recipes import balanced_schedule

    config = ArbitraryStyleConfig(content_dir=photos, style_dir=os.path.dirname(style_files[0]),
                                  output_dir=tmp_path / "any", steps=1, image_size=16,
                                  style_image_size=40, backbone="vgg16", weights=None)  # fmt: skip
    trainer = Trainer(ArbitraryStyleRecipe(config), verbose=0)
    trainer.resolve()
    trainer.lock.release(remove=True)
    seeded = ArbitraryStyleRecipe(dataclasses.replace(config, seed=trainer.config.seed))
    seeded.resolve()
    np.testing.assert_array_equal(trainer.recipe.schedule, seeded.schedule)
    config = MultiStyleConfig(content_dir=photos, style_images=style_files[:2],
                              output_dir=tmp_path / "multi", steps=1, image_size=16,
                              style_image_size=40, weights=None)  # fmt: skip
    trainer = Trainer(MultiStyleRecipe(config), verbose=0)
    trainer.resolve()
    trainer.lock.release(remove=True)
    np.testing.assert_array_equal(trainer.recipe.schedule,
                                  balanced_schedule(2, trainer.config.seed))


@pytest.mark.slow  # two short trainings through the trainer (~1 min on 2 cores)
def test_arbitrary_style_recipe_trains_and_resumes(tmp_path, photos, style_files):
    from keras_perceptual.training import train_arbitrary_style

    kwargs = dict(steps=2, image_size=32, batch_size=2, style_image_size=40, backbone="vgg16",
                  model_options={"filters": 4}, weights=None, save_every=1, sample_every=1,
                  seed=1, verbose=0)  # fmt: skip
    folder = os.path.dirname(style_files[0])
    result = train_arbitrary_style(photos, folder, output_dir=tmp_path, **kwargs)
    assert result.step == 2
    model = keras.models.load_model(result.model_path, safe_mode=True)
    assert [t.name for t in model.inputs] == ["content", "style"]
    with Image.open(os.path.join(result.samples_dir, "step-0000002.png")) as grid:
        assert grid.size[0] == 3 * 32  # photo | stylized | the style crop
    resumed = train_arbitrary_style(photos, folder, output_dir=tmp_path, **{**kwargs, "steps": 3})
    assert resumed.resumed_from == 2 and resumed.step == 3


@pytest.mark.parametrize(
    "function, overrides, message",
    [
        ("multi", {"style_images": "one.png"}, "must be a list of two or more style images"),
        ("multi", {"style_images": ["FIRST"]}, "needs at least two"),
        ("multi", {"loss_options": {"style_images": []}}, "loss_options cannot set"),
        ("multi config", {"temporal_weight": 1e5}, "temporal_weight is not available"),
        ("arbitrary", {"style_image_size": 16}, "style_image_size must be at least image_size"),
        ("arbitrary", {"backbone": "vgg11"}, "backbone must be one of"),
        ("arbitrary", {"model_options": {"backbone": "vgg16"}}, "cannot set 'backbone'"),
        ("arbitrary", {"style_dir": "FIRST"}, "is not a folder"),
    ],
)
def test_style_recipe_argument_errors(tmp_path, photos, style_files, function, overrides,
                                      message):  # fmt: skip
    from keras_perceptual.training import train_arbitrary_style, train_multi_style

    for key, value in overrides.items():
        if value == "FIRST" or value == ["FIRST"]:
            overrides[key] = style_files[0] if value == "FIRST" else [style_files[0]]
    common = dict(output_dir=tmp_path, steps=1, image_size=32, weights=None, verbose=0)
    with pytest.raises(ValueError, match=message):
        if function == "multi config":  # also from the command line: train-style with several
            common.pop("verbose")
            training.MultiStyleConfig(content_dir=photos, style_images=style_files,
                                      **common, **overrides)  # fmt: skip
        elif function == "multi":
            train_multi_style(photos, **{"style_images": style_files, **common, **overrides})
        else:
            train_arbitrary_style(photos, **{"style_dir": os.path.dirname(style_files[0]),
                                             **common, **overrides})  # fmt: skip


# Precision (keras_perceptual.precision; the device probe is faked).
# --------------------------------------------------------------------------


def _fake_device(monkeypatch, bfloat16):
    from keras_perceptual import precision

    answer = precision.DeviceCapabilities("cpu", "Test CPU", keras.backend.backend(), bfloat16,
                                          False, "AVX2", reason="faked by the test")  # fmt: skip
    monkeypatch.setattr(precision, "device_capabilities", lambda: answer)
    monkeypatch.setattr(precision, "_warned", set())


@pytest.mark.parametrize("requested,native,network,loss_network", [
    ("auto", False, "float32", "float32"),
    ("auto", True, "bfloat16", "bfloat16"),
    ("mixed_float16", True, "float16", "float16"),
])  # fmt: skip
def test_precision_sets_the_network_and_loss_network(tmp_path, photos, style_file, monkeypatch,
                                                     requested, native, network, loss_network):
    from keras_perceptual.precision import PrecisionWarning
    from keras_perceptual.training import StyleTransferConfig, StyleTransferRecipe, Trainer

    _fake_device(monkeypatch, native)
    kwargs = {k: v for k, v in style_kwargs(None).items() if k != "verbose"}
    kwargs["loss_options"] = {"content_layers": "relu1_2", "style_layers": "relu1_2"}  # shallow
    config = StyleTransferConfig(content_dir=photos, style_image=style_file, output_dir=tmp_path,
                                 precision=requested, **kwargs)  # fmt: skip
    trainer = Trainer(StyleTransferRecipe(config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.resolve()
        trainer.build()
    expected = 1 if requested == "mixed_float16" else 0  # float16 not native on the fake CPU
    assert len([w for w in caught if w.category is PrecisionWarning]) == expected
    assert trainer.precision == ("mixed_" + network if network != "float32" else "float32")
    assert trainer.network.get_layer("conv_in").compute_dtype == network
    assert trainer.network.get_layer("output").compute_dtype == "float32"
    extractor = trainer.loss.networks.extractor
    assert extractor.get_layer("block1_conv1").compute_dtype == loss_network
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    trainer.restore()
    trainer.record()
    assert trainer.record_data["resolved"]["precision"]["used"] == trainer.precision


def test_emulated_precision_warns_and_mixed_float16_cannot_be_resumed_across(monkeypatch,
                                                                             tmp_path):
    from keras_perceptual.precision import PrecisionWarning
    from keras_perceptual.training.trainer import run_precision

    _fake_device(monkeypatch, False)
    config = type("Config", (), {"precision": "mixed_bfloat16", "output_dir": str(tmp_path)})()
    with pytest.warns(PrecisionWarning, match="Training .* emulated.*precision='auto'"):
        assert run_precision(config, None) == "mixed_bfloat16"
    previous = {"resolved": {"precision": {"used": "mixed_float16"}}}
    with pytest.raises(ResumeMismatchError, match="pass precision='mixed_float16' to resume"):
        run_precision(config, previous)
    config.precision = "float32"
    assert run_precision(config, {"resolved": {"precision": {"used": "mixed_bfloat16"}}}) == (
        "float32")  # fmt: skip


@pytest.mark.parametrize("recipe_name", ["style", "multi_style", "arbitrary", "super_resolution"])
def test_precision_sets_the_loss_network_of_every_recipe(tmp_path, photos, style_files,
                                                         recipe_name):  # fmt: skip
    """Every recipe's loss network computes in the run's 16-bit format (the multi-style one
    used to stay float32 whatever ``precision`` was)."""
    from keras_perceptual.training import config as configs
    from keras_perceptual.training import recipes

    common = dict(content_dir=photos, output_dir=tmp_path, steps=1, weights=None, seed=1)
    made = {
        "style": lambda: configs.StyleTransferConfig(style_image=style_files[0], **common),
        "multi_style": lambda: configs.MultiStyleConfig(style_images=style_files, **common),
        "arbitrary": lambda: configs.ArbitraryStyleConfig(
            style_dir=os.path.dirname(style_files[0]), image_size=16, style_image_size=40,
            backbone="vgg16", **common),
        "super_resolution": lambda: configs.SuperResolutionConfig(
            image_dir=photos, scale=4, output_dir=tmp_path, steps=1, patch_size=32,
            weights=None),
    }[recipe_name]()
    recipe = recipes.RECIPES[type(made)](made)
    recipe.precision = "mixed_bfloat16"
    recipe.resolve()
    loss = recipe.build_loss()
    assert loss.get_config()["backbone_dtype"] == "bfloat16"
    recipe.precision = "float32"
    assert recipe.build_loss().get_config()["backbone_dtype"] == "float32"
