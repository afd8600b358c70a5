"""keras_perceptual.app.catalog: model discovery, kinds, the model cache."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib

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
from keras_perceptual.app.handlers import Options, process_uploads
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.images import load_image
from keras_perceptual.inference import stylize
from keras_perceptual.models import style_transfer_net, super_resolution_net
from keras_perceptual.runtimes import ModelInfo, Runtime, model_info

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


def test_cache_reloads_a_file_replaced_with_the_same_mtime(nets, tmp_path):
    # cp -p, rsync -t or an unzipped archive keep the modification time of the new file:
    # the model served must still be the one on disk now (here, a style net replaced by SR).
    path = touch(tmp_path / "model.keras", "style")
    cache = ModelCache(loader=lambda p: nets[pathlib.Path(p).read_text()])
    assert cache.get(path).kind.name == "style"
    mtime = os.stat(path).st_mtime_ns
    new = touch(tmp_path / "new.keras", "sr")
    os.utime(new, ns=(mtime, mtime))
    os.replace(new, path)
    assert os.stat(path).st_mtime_ns == mtime
    assert cache.get(path).kind.name == "super_resolution" and cache.loads == 2


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
    mask = keras.Input((2,), name="mask")
    two = keras.Model([image, mask], image, name="two_inputs")
    with pytest.raises(InputError, match="has inputs .*mask"):
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


# --------------------------------------------------------------------------------------
# Exported models (ONNX, OpenVINO, TFLite): keras_perceptual.runtimes
# --------------------------------------------------------------------------------------


class StandIn(Runtime):
    """An "exported" network in memory: a Keras model behind the Runtime interface, with
    the metadata an export carries (what the app sees of an ONNX file, without exporting)."""

    name = "onnxruntime"

    def __init__(self, net, path="net.onnx"):
        super().__init__("onnx", path, model_info(net))
        self.net = net

    def _run(self, arrays):
        return self.net.predict_on_batch(arrays[0] if len(arrays) == 1 else arrays)


def test_export_files_are_discovered(tmp_path):
    touch(tmp_path / "exports" / "starry.onnx")
    touch(tmp_path / "exports" / "starry.tflite")
    touch(tmp_path / "exports" / "openvino" / "model.xml")
    touch(tmp_path / "exports" / "openvino" / "model.bin")
    touch(tmp_path / "exports" / "notes" / "other.xml")  # XML without a .bin: not a model
    labels = [e.label for e in discover_models([tmp_path / "exports"], demo_dir=None)]
    assert labels == ["starry.onnx", "starry.tflite", os.path.join("openvino", "model.xml")]
    (entry,) = discover_models([tmp_path / "exports" / "openvino"], demo_dir=None)
    assert entry.path.endswith("model.xml")
    with pytest.raises(InputError, match="is not a model file.*with its .bin"):
        discover_models([tmp_path / "exports" / "notes" / "other.xml"], demo_dir=None)


def test_exported_models_are_loaded_by_their_suffix(nets, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("keras_perceptual.runtimes.load_runtime",
                        lambda path: opened.append(path) or StandIn(nets["style"], path))
    loaded = ModelCache().get(touch(tmp_path / "a.tflite"))
    assert opened == [os.path.realpath(tmp_path / "a.tflite")]
    assert (loaded.kind.name, loaded.runtime, loaded.parameters) == ("style", "onnxruntime", None)


def test_runtime_kinds_are_detected_like_keras_models(nets):
    style, sr = inspect_model(StandIn(nets["style"])), inspect_model(StandIn(nets["sr"]))
    assert (style.kind.name, style.scale, style.min_side) == ("style", 1, 5)
    assert (sr.kind.name, sr.scale, sr.runtime) == ("super_resolution", 4, "onnxruntime")
    assert style.value_range == inspect_model(nets["style"]).value_range
    multi = StandIn(nets["style"])  # an export of an earlier version: no number of styles
    multi.info = ModelInfo(input_names=("style_weights",))
    with pytest.raises(InputError, match="does not record its number of styles.*export it "
                                         "again"):
        inspect_model(multi)
    other = StandIn(nets["style"])  # the export's metadata is what the app goes by
    other.info = ModelInfo(value_range=(-1.0, 1.0), min_size=8, multiple=4)
    loaded = inspect_model(other)
    assert (loaded.value_range, loaded.min_side, loaded.kind.name) == ((-1.0, 1.0), 8, "style")


def test_runtime_models_run_with_tiles_normalized_on_their_own(nets, tmp_path):
    from PIL import Image

    loaded = inspect_model(StandIn(nets["style"]))
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 256, (40, 300, 3), dtype=np.uint8)).save(path)
    (item,) = process_uploads(loaded, [str(path)], Options(tile_size=256),
                              output_dir=str(tmp_path)).images
    assert item.tiles and item.output_size == (300, 40)
    assert not item.first_of_size  # exported runtimes do not trace per size
    from keras_perceptual.images import load_image

    expected = stylize(nets["style"], load_image(str(path)), tile_size=256,
                       norm_statistics="tile")
    got = np.asarray(Image.open(item.output_path).convert("RGB"), np.float32) / 255
    assert np.abs(got - expected).max() <= 1 / 255 + 1e-6


def _need_export(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        reason = f"needs the [export] extra ({', '.join(missing)} not installed)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs the export extra, yet {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, nets):
    """The tiny style network exported once to every format, and the SR one to ONNX."""
    _need_export("onnx", "tf2onnx", "onnxruntime", "openvino")
    from keras_perceptual import export

    folder = tmp_path_factory.mktemp("exports")
    export.export_onnx(nets["style"], folder / "style.onnx")
    export.export_openvino(nets["style"], folder / "style_openvino")
    export.export_tflite(nets["style"], folder / "style.tflite")
    export.export_onnx(nets["sr"], folder / "sr.onnx")
    return folder


@pytest.mark.slow
def test_real_exports_are_listed_detected_and_run(exported, nets, tmp_path):
    from PIL import Image

    from keras_perceptual.images import load_image

    entries = discover_models([exported], demo_dir=None)
    assert sorted(os.path.relpath(e.path, exported) for e in entries) == sorted([
        "sr.onnx", os.path.join("style_openvino", "model.xml"), "style.onnx", "style.tflite"])
    cache = ModelCache()
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    photo = load_image(str(path))
    for entry in entries:
        loaded = cache.get(entry.path)
        name = os.path.basename(entry.path)
        expected_kind = "super_resolution" if name.startswith("sr") else "style"
        assert loaded.kind.name == expected_kind, name
        assert loaded.runtime == {".onnx": "onnxruntime", ".xml": "openvino",
                                  ".tflite": "tflite"}[os.path.splitext(name)[1]]
        result = process_uploads(loaded, [str(path)], output_dir=str(tmp_path))
        (item,) = result.images
        # the page said "(TensorFlow)" for every model, ONNX Runtime's and OpenVINO's too
        assert result.device.endswith({"onnxruntime": "(ONNX Runtime)", "openvino": "(OpenVINO)",
                                       "tflite": "(TensorFlow Lite)"}[loaded.runtime]), name
        net = nets["sr" if expected_kind == "super_resolution" else "style"]
        reference = stylize(net, photo) if expected_kind == "style" else None
        if reference is None:
            from keras_perceptual.inference import upscale

            reference = upscale(net, photo)
        got = np.asarray(Image.open(item.output_path).convert("RGB"), np.float32) / 255
        assert got.shape == reference.shape, name
        assert np.abs(got - reference).max() <= 2 / 255, name


def test_exported_multi_style_and_arbitrary_style_networks_run(tmp_path):
    from PIL import Image

    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    rng = np.random.default_rng(0)
    photo, style_path = tmp_path / "photo.png", tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(style_path)
    content = load_image(photo)

    multi = multi_style_transfer_net(3, filters=4, num_residual_blocks=1)
    loaded = inspect_model(StandIn(multi))
    assert (loaded.kind.name, loaded.num_styles, loaded.runtime) == ("multi_style", 3, "onnxruntime")
    (item,) = process_uploads(loaded, [str(photo)], Options(style_weights=(0, 1, 3)),
                              output_dir=str(tmp_path / "multi")).images
    want = stylize(multi, content, style_weights=[0, 0.25, 0.75], norm_statistics="tile")
    assert np.abs(load_image(item.output_path) - want).max() <= 1.5 / 255

    adain = arbitrary_style_net(weights=None, filters=4, alpha=0.5)
    loaded = inspect_model(StandIn(adain))
    assert loaded.kind.name == "arbitrary_style"
    options = Options(style_image=str(style_path), alpha=0.5)
    (item,) = process_uploads(loaded, [str(photo)], options,
                              output_dir=str(tmp_path / "adain")).images
    want = stylize(adain, content, style_image=load_image(style_path))
    assert np.abs(load_image(item.output_path) - want).max() <= 1.5 / 255
    # The alpha was fixed at export: the page's slider (hidden for it) does not apply.
    (again,) = process_uploads(loaded, [str(photo)], Options(style_image=str(style_path)),
                               output_dir=str(tmp_path / "adain1")).images
    np.testing.assert_array_equal(load_image(again.output_path), load_image(item.output_path))


def test_a_demo_dir_or_models_entry_of_the_wrong_kind_is_refused(tmp_path):
    # Before: a demo_dir that is a file was ignored (the app served nothing without a word
    # on the cause); a models entry None was os.fspath's bare TypeError.
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(InputError, match=r"demo_dir .* is a file.*Received: demo_dir="):
        discover_models([], demo_dir=notes)
    with pytest.raises(InputError, match="Received: models=None"):
        discover_models([None], demo_dir=None)
