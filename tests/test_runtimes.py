"""keras_perceptual.runtimes: one call interface over Keras, ONNX Runtime, OpenVINO and TFLite.

The exports themselves are verified in a clean process in ``tests/test_export.py`` (slow);
here: format detection, metadata, input checks, errors, the ONNX round trip through
``load_runtime`` and the inference helpers, and ``hf://`` models from a local hub cache.
"""

from __future__ import annotations

import importlib
import importlib.util
import json

import keras
import numpy as np
import pytest
from conftest import requires_tf

from keras_perceptual import runtimes
from keras_perceptual.errors import InputError, MissingDependencyError, ModelLoadError
from keras_perceptual.inference import stylize, upscale
from keras_perceptual.models import style_transfer_net, super_resolution_net
from keras_perceptual.runtimes import (
    KerasRuntime,
    ModelInfo,
    detect_format,
    load_keras_model,
    load_runtime,
    model_info,
)

pytestmark = requires_tf

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "tf2onnx", "onnxruntime"))
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
HAS_HUB = importlib.util.find_spec("huggingface_hub") is not None
TINY_STYLE = {"filters": 4, "num_residual_blocks": 1}


@pytest.fixture(scope="module")
def style():
    keras.utils.set_random_seed(2)
    return style_transfer_net(**TINY_STYLE)


def test_model_info_of_the_networks_and_json_round_trip(style):
    info = model_info(style)
    assert info == ModelInfo((0.0, 1.0), 5, 4, "reflect", True, ())
    sr = model_info(super_resolution_net(4, filters=4, num_residual_blocks=0, value_range=(-1, 1)))
    assert sr.value_range == (-1.0, 1.0) and sr.multiple == 1 and not sr.instance_normalization
    assert ModelInfo.from_json(info.to_json()) == info
    assert ModelInfo.from_json(None) == ModelInfo() == ModelInfo.from_json("not json")
    assert ModelInfo.from_json(json.dumps({"min_size": 7, "future_key": 1})).min_size == 7
    assert model_info(KerasRuntime(style)) == info


def test_detect_format(tmp_path, style):
    (tmp_path / "m.onnx").write_bytes(b"x")
    (tmp_path / "m.tflite").write_bytes(b"x")
    (tmp_path / "ov").mkdir()
    (tmp_path / "ov" / "model.xml").write_text("<net/>")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"x")
    assert detect_format(style) == "keras"
    assert detect_format("hf://owner/name") == "keras"
    assert detect_format(tmp_path / "run") == "keras"
    assert detect_format(tmp_path / "run" / "model.keras") == "keras"
    assert detect_format(tmp_path / "m.onnx") == "onnx"
    assert detect_format(tmp_path / "m.tflite") == "tflite"
    assert detect_format(tmp_path / "ov") == "openvino"
    assert detect_format(tmp_path / "ov" / "model.xml") == "openvino"
    with pytest.raises(ModelLoadError, match="does not exist"):
        detect_format(tmp_path / "missing.onnx")
    (tmp_path / "photo.png").write_bytes(b"x")
    with pytest.raises(InputError, match="not a model file"):
        detect_format(tmp_path / "photo.png")
    with pytest.raises(InputError, match="Received: model=3"):
        detect_format(3)


def test_load_runtime_argument_errors(tmp_path, style):
    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(InputError, match="runtime must be one of"):
        load_runtime(style, "tensorrt")
    with pytest.raises(InputError, match="runs in tflite, not openvino"):
        load_runtime(tmp_path / "m.tflite", "openvino")
    with pytest.raises(ModelLoadError, match="TFLite could not load"):
        load_runtime(tmp_path / "m.tflite")
    keras_file = tmp_path / "broken.keras"
    keras_file.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="Could not load .*broken.keras"):
        load_runtime(keras_file)
    with pytest.raises(InputError, match="'hf://owner/name'"):
        load_keras_model("hf://just-a-name")


def test_keras_runtime_call_interface_and_input_checks(style, rng):
    runtime = load_runtime(style)
    assert isinstance(runtime, KerasRuntime) and runtime.model is style
    assert load_runtime(runtime) is runtime
    x = rng.random((2, 9, 11, 3), dtype=np.float32)
    np.testing.assert_allclose(runtime(x), np.asarray(style(x, training=False)), atol=1e-6)
    assert runtime.predict_on_batch(x).dtype == np.float32
    for bad, message in (
        (x.astype("float64") * 255, None),  # float64 is accepted (cast), values as given
        ((x * 255).astype("uint8"), "takes float32 images"),
        (x[0], r"batch of RGB images .* images\[None\]"),
        (np.concatenate([x, x[..., :1]], -1), r"images\[\.\.\., :3\]"),
        (x[:, :4, :4], "at least 5x5"),
    ):
        if message is None:
            runtime(bad)
            continue
        with pytest.raises(InputError, match=message):
            runtime(bad)
    with pytest.raises(InputError, match="takes 1 input"):
        runtime([x, x])


def test_missing_runtime_package_names_the_extra(monkeypatch, tmp_path):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match=r'keras-perceptual\[export\]'):
        load_runtime(tmp_path / "m.onnx")


@pytest.fixture(scope="module")
def onnx_style(style, tmp_path_factory):
    if not HAS_ONNX:
        pytest.skip("needs the [export] extra")
    from keras_perceptual.export import export_onnx

    return export_onnx(style, tmp_path_factory.mktemp("onnx") / "style.onnx")


def test_onnx_runtime_matches_keras_through_stylize(onnx_style, style, rng):
    runtime = load_runtime(onnx_style)
    assert runtime.name == "onnxruntime" and runtime.info == model_info(style)
    images = [rng.random((37, 53, 3), dtype=np.float32), rng.random((20, 24, 3), dtype=np.float32)]
    want = stylize(style, images)
    for model in (runtime, str(onnx_style)):  # a Runtime, or a path the helper opens itself
        for got, ref in zip(stylize(model, images), want, strict=True):
            np.testing.assert_allclose(got, ref, atol=1e-4)
    big = rng.random((40, 40, 3), dtype=np.float32)
    with pytest.raises(InputError, match="norm_statistics='tile'"):
        stylize(runtime, big, tile_size=24, overlap=4)
    tiled = stylize(runtime, big, tile_size=24, overlap=4, norm_statistics="tile")
    np.testing.assert_allclose(
        tiled, stylize(style, big, tile_size=24, overlap=4, norm_statistics="tile"), atol=1e-4
    )


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs the [export] extra")
def test_openvino_runs_the_onnx_file(onnx_style, style, rng):
    runtime = load_runtime(onnx_style, "openvino")
    assert runtime.name == "openvino" and runtime.info.multiple == 4
    x = rng.random((3, 37, 53, 3), dtype=np.float32)
    np.testing.assert_allclose(runtime(x), np.asarray(style(x, training=False)), atol=1e-4)


@pytest.mark.skipif(not HAS_HUB, reason="needs huggingface_hub (the [export] extra)")
def test_hf_models_load_from_the_hub_cache_and_an_unreachable_hub_is_one_clear_error(
    tmp_path, monkeypatch, rng, capsys
):
    """``hf://owner/name`` goes through Keras' own loader (huggingface_hub's snapshot_download):
    a repository in the local hub cache loads offline; one that is not fails clearly."""
    from huggingface_hub import constants

    keras.utils.set_random_seed(4)
    model = super_resolution_net(4, filters=4, num_residual_blocks=0)
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--owner--tiny-sr"
    keras.saving.save_model(model, repo / "snapshots" / revision, zipped=False)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = load_runtime("hf://owner/tiny-sr")
    x = rng.random((1, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(upscale(loaded, x), np.asarray(model(x)), atol=1e-6)
    with pytest.raises(ModelLoadError, match="Could not download 'hf://owner/missing'"):
        load_runtime("hf://owner/missing")

    from PIL import Image

    from keras_perceptual.cli import main

    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    assert main(["upscale", "hf://owner/missing", str(photo), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "from the Hugging Face Hub" in err[0], err


def test_runtime_names_are_consistent():
    assert set(runtimes.FORMAT_RUNTIMES) == set(runtimes.FORMATS)
    for fmt, names in runtimes.FORMAT_RUNTIMES.items():
        assert set(names) <= set(runtimes.RUNTIMES), fmt
