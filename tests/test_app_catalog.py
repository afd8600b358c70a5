"""keras_perceptual.app.catalog: model discovery, kinds, the model cache."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from keras_perceptual.app import catalog
from keras_perceptual.app.catalog import (
    ModelCache,
    discover_models,
    inspect_model,
    kind_by_name,
    no_models_message,
    read_run_record,
)
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.models import style_transfer_net, super_resolution_net

STYLE = os.path.join(os.path.dirname(catalog.__file__), "..", "assets", "style_starry_night.jpg")


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def training_run(folder, style_image=STYLE, recipe="style_transfer"):
    touch(folder / "model.keras")
    config = {"recipe": recipe, "arguments": {"style_image": os.path.abspath(style_image),
                                              "steps": 40000, "image_size": 256},
              "weights": {"requested": "imagenet"}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def nets():
    return {"style": style_transfer_net(filters=4, num_residual_blocks=1),
            "sr": super_resolution_net(4, filters=4, num_residual_blocks=1)}


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, nets):
    folder = tmp_path_factory.mktemp("models")
    nets["style"].save(folder / "style.keras")
    nets["sr"].save(folder / "sr.keras")
    return folder


def fake_loader(nets, calls):
    """Returns the in-memory nets by file name (loading from disk is tested once)."""

    def load(path):
        calls.append(path)
        return nets[os.path.basename(path).split(".")[0]]

    return load


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------


def test_discovers_keras_files_and_training_runs(tmp_path):
    training_run(tmp_path / "runs" / "starry")
    touch(tmp_path / "runs" / "loose" / "net.keras")
    touch(tmp_path / "runs" / "starry" / ".model.keras.abcdefgh.tmp.keras")  # a run's temp file
    touch(tmp_path / "runs" / ".hidden" / "x.keras")
    touch(tmp_path / "runs" / "venv" / "pyvenv.cfg")
    touch(tmp_path / "runs" / "venv" / "lib" / "test.keras")
    touch(tmp_path / "runs" / "notes.txt")
    entries = discover_models([tmp_path / "runs"], demo_dir=None)
    labels = [e.label for e in entries]
    assert labels == [os.path.join("loose", "net.keras"),
                      f"starry ({os.path.join('starry', 'model.keras')})"]
    run = entries[1]
    assert run.recipe == "style_transfer"
    assert run.run_dir == str((tmp_path / "runs" / "starry").resolve())
    assert os.path.samefile(run.style_image, STYLE)
    assert "trained 40,000 steps" in run.notes and "at 256 px" in run.notes
    assert "loss network weights: imagenet" in run.notes
    assert entries[0].style_image is None and entries[0].recipe is None and entries[0].notes == ()


def test_demo_models_come_first_and_duplicates_are_listed_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    training_run(tmp_path / "demo_out" / "style")
    training_run(tmp_path / "demo_out" / "sr", recipe="super_resolution")
    extra = touch(tmp_path / "other.keras")
    os.symlink(extra, tmp_path / "link.keras")
    entries = discover_models(["demo_out", "other.keras", "link.keras", "."])
    assert [e.label for e in entries] == [
        f"demo: style ({os.path.join('demo_out', 'style', 'model.keras')})",
        f"demo: sr ({os.path.join('demo_out', 'sr', 'model.keras')})",
        "other.keras",
    ]
    assert len({e.key for e in entries}) == 3


def test_missing_style_image_is_noted_without_thumbnail(tmp_path):
    run = training_run(tmp_path / "run", style_image=tmp_path / "gone.jpg")
    record = read_run_record(str(run / "model.keras"))
    assert record["style_image"] is None
    assert any("no longer there" in note for note in record["notes"])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"arguments": 3}'])
def test_damaged_config_gives_what_it_can(tmp_path, content):
    touch(tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(content)
    record = read_run_record(str(tmp_path / "model.keras"))
    assert record["style_image"] is None


def test_bad_model_paths_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist.*Received: models="):
        discover_models([tmp_path / "nowhere"], demo_dir=None)
    with pytest.raises(InputError, match="not a model file.*Received: models="):
        discover_models([touch(tmp_path / "photo.jpg")], demo_dir=None)


def test_no_models_message_names_the_demo_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert discover_models([], demo_dir="demo_out") == []
    message = no_models_message(["runs"], "demo_out")
    assert "`keras-perceptual demo`" in message and "runs" in message and "--models" in message


# --------------------------------------------------------------------------------------
# Kinds and the cache
# --------------------------------------------------------------------------------------


def test_kinds_are_detected_from_the_loaded_model(saved_models):
    cache = ModelCache()
    style = cache.get(saved_models / "style.keras")
    sr = cache.get(saved_models / "sr.keras")
    assert (style.kind.name, style.scale, style.min_side) == ("style", 1, 5)
    assert (sr.kind.name, sr.scale) == ("super_resolution", 4)
    assert style.value_range == (0.0, 1.0)
    assert style.parameters == style.model.count_params()
    assert sr.kind.output_suffix.format(scale=sr.scale) == "_x4"
    assert kind_by_name("style") is style.kind
    with pytest.raises(InputError, match="Unknown model kind"):
        kind_by_name("video")


def test_cache_loads_once_and_reloads_a_changed_file(nets, tmp_path):
    calls = []
    path = touch(tmp_path / "style.keras")
    cache = ModelCache(loader=fake_loader(nets, calls))
    first = cache.get(path)
    assert cache.get(str(path)) is first and len(calls) == 1
    os.utime(path, (os.path.getmtime(path) + 10,) * 2)  # a training run wrote a new checkpoint
    assert cache.get(path) is not first and len(calls) == 2


def test_cache_keeps_the_most_recently_used(nets, tmp_path):
    calls = []
    cache = ModelCache(capacity=1, loader=fake_loader(nets, calls))
    style = cache.get(touch(tmp_path / "style.keras"))
    cache.get(touch(tmp_path / "sr.keras"))
    assert cache.get(tmp_path / "style.keras") is not style
    assert cache.loads == 3 and len(calls) == 3


def test_unusable_model_files_give_clear_errors(tmp_path):
    cache = ModelCache()
    broken = touch(tmp_path / "broken.keras", "not a zip")
    with pytest.raises(KerasPerceptualError, match="(?i)could not load"):
        cache.get(broken)
    with pytest.raises(InputError, match="is gone; press Refresh"):
        cache.get(tmp_path / "deleted.keras")


def test_models_of_no_known_kind_are_refused():
    image = keras.Input((None, None, 3))
    gray = keras.Model(image, keras.layers.Conv2D(1, 3, padding="same")(image), name="gray")
    with pytest.raises(InputError, match="maps a 1x32x32x3 image to .*Received: model='gray'"):
        inspect_model(gray)
    weights = keras.Input((2,), name="style_weights")
    two = keras.Model([image, weights], image, name="two_inputs")
    with pytest.raises(InputError, match="has inputs .*style_weights"):
        inspect_model(two)
    fixed = keras.Input((7, 7, 3))
    small = keras.Model(fixed, keras.layers.Conv2D(3, 3, padding="same")(fixed), name="fixed")
    with pytest.raises(InputError, match="does not run on a 32x32 RGB image"):
        inspect_model(small)


def test_inspection_runs_value_range_models():
    net = style_transfer_net(filters=4, num_residual_blocks=1, value_range=(-1, 1))
    loaded = inspect_model(net)
    assert loaded.value_range == (-1.0, 1.0) and loaded.kind.name == "style"
    assert np.isfinite(loaded.parameters)
