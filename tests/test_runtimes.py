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
from keras_perceptual._checks import shortened
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


def _uninstall(monkeypatch, module):
    """Makes ``importlib.import_module(module)`` fail as for a package not installed."""
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {module!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)


def test_missing_runtime_package_names_the_extra(monkeypatch, tmp_path):
    _uninstall(monkeypatch, "onnxruntime")
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


# huggingface_hub's text when the hub cannot be reached (offline, DNS failure).
HUB_ERROR_TEXT = (
    "Got: ConnectError: [Errno -2] Name or service not known\nAn error happened while trying to "
    "locate the files on the Hub, and we cannot find the appropriate snapshot folder for the "
    "specified revision on the local disk. Please check your internet connection and try again."
)


@pytest.mark.skipif(not HAS_HUB, reason="needs huggingface_hub (the [export] extra)")
@pytest.mark.parametrize(
    "error, quoted_after",
    [
        (ConnectionError(HUB_ERROR_TEXT), "from the Hugging Face Hub (ConnectionError: "),
        (ValueError(HUB_ERROR_TEXT), "is not a Keras model Keras can load (ValueError: "),
    ],
)
def test_a_long_loader_error_is_quoted_in_whole_words(monkeypatch, tmp_path, capsys, error,
                                                     quoted_after):
    # Before: cut at 200 characters, mid-word: "... snapshot folder for t); check the network".
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(keras.saving, "load_model", fail)
    with pytest.raises(ModelLoadError) as caught:
        load_keras_model("hf://your-name/starry-night")
    message = str(caught.value)
    quoted = message.split(quoted_after, 1)[1].split("); ", 1)[0]
    original = " ".join(HUB_ERROR_TEXT.split())
    kept = quoted.removesuffix(" ...")
    assert kept != quoted and original.startswith(kept) and original[len(kept)] == " ", quoted
    assert len(quoted) <= 205

    from PIL import Image

    from keras_perceptual.cli import main

    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    assert main(["stylize", "hf://your-name/starry-night", str(photo), "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{kept} ...); " in err[0], err


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("Short enough.", 200, "Short enough."),
        ("First  sentence\nhere. Second sentence is longer than the rest.", 30,
         "First sentence here."),
        ("A sentence that runs on well past the limit without a stop", 20, "A sentence that runs ..."),
        ("x" * 50 + " tail", 20, "x" * 50 + " ..."),
        ("x" * 50, 20, "x" * 50),
        ("x" * 10000, 20, "x" * 80 + " ..."),  # a blob without spaces: not 10 kB in a message
    ],
)
def test_shortened_cuts_at_sentences_or_words_never_inside_a_word(text, limit, expected):
    assert shortened(text, limit) == expected


def test_runtime_names_are_consistent():
    assert set(runtimes.FORMAT_RUNTIMES) == set(runtimes.FORMATS)
    for fmt, names in runtimes.FORMAT_RUNTIMES.items():
        assert set(names) <= set(runtimes.RUNTIMES), fmt


# --- Exported multi-style and arbitrary-style networks through stylize --------------------


@pytest.fixture(scope="module")
def style_exports(tmp_path_factory):
    """A 3-style multi-style network and an arbitrary-style one, with their ONNX exports."""
    if not HAS_ONNX:
        pytest.skip("needs the [export] extra")
    from keras_perceptual.export import export_onnx
    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    folder = tmp_path_factory.mktemp("style_exports")
    multi = multi_style_transfer_net(3, filters=4, num_residual_blocks=1)
    rng = np.random.default_rng(3)
    for w in multi.weights:  # distinct styles (the initial scales and offsets are all equal)
        w.assign((rng.standard_normal(tuple(w.shape)) * 0.3
                  + (1.0 if w.path.endswith("gamma") else 0.0)).astype("float32"))
    adain = arbitrary_style_net(weights=None, backbone="vgg16", filters=4, alpha=0.75)
    return {
        "multi": (multi, export_onnx(multi, folder / "multi.onnx")),
        "adain": (adain, export_onnx(adain, folder / "adain.onnx")),
    }


def test_exported_multi_style_networks_take_style_and_style_weights(style_exports, rng):
    multi, path = style_exports["multi"]
    runtime = load_runtime(path)
    assert runtime.info.input_names == ("style_weights",) and runtime.info.num_styles == 3
    image = rng.random((21, 26, 3), dtype=np.float32)
    for options in ({"style": 1}, {"style_weights": [0.2, 0.0, 0.8]}):
        np.testing.assert_allclose(stylize(runtime, image, **options),
                                   stylize(multi, image, **options), atol=1e-4)
    tiled = stylize(runtime, [image, image[:20]], style=2, tile_size=16, overlap=4,
                    norm_statistics="tile")
    want = stylize(multi, [image, image[:20]], style=2, tile_size=16, overlap=4,
                   norm_statistics="tile")
    for got, ref in zip(tiled, want, strict=True):
        np.testing.assert_allclose(got, ref, atol=1e-4)
    if HAS_OPENVINO:  # the ONNX file in OpenVINO: the same metadata, the same inputs
        np.testing.assert_allclose(stylize(load_runtime(path, "openvino"), image, style=1),
                                   stylize(multi, image, style=1), atol=1e-4)
    with pytest.raises(InputError, match="index from 0 to 2"):
        stylize(runtime, image, style=3)
    with pytest.raises(InputError, match="holds 3 styles: pass style=k"):
        stylize(runtime, image)
    with pytest.raises(InputError, match="does not record its number of styles"):
        old = load_runtime(path)
        old.info = ModelInfo(input_names=("style_weights",))  # an export of an earlier version
        stylize(old, image, style=0)


def test_exported_arbitrary_style_networks_take_one_style_image(style_exports, rng):
    adain, path = style_exports["adain"]
    runtime = load_runtime(path)
    assert runtime.info.input_names == ("style",)
    assert (runtime.info.alpha, runtime.info.style_min_size) == (0.75, 8)
    content = rng.random((34, 41, 3), dtype=np.float32)
    style_image = rng.random((40, 36, 3), dtype=np.float32)
    want = stylize(adain, content, style_image=style_image)
    for options in ({"style_image": style_image}, {"style_images": [style_image]},
                    {"style_image": style_image, "alpha": 0.75}):
        np.testing.assert_allclose(stylize(runtime, content, **options), want, atol=1e-4)
    if HAS_OPENVINO:
        np.testing.assert_allclose(stylize(load_runtime(path, "openvino"), content,
                                           style_image=style_image), want, atol=1e-4)
    np.testing.assert_allclose(  # style_size: the same resize before the export's style input
        stylize(runtime, content, style_images=[style_image], style_size=16),
        stylize(adain, content, style_image=style_image, style_size=16), atol=1e-4)
    with pytest.raises(InputError, match="style_size=4 would make style_image smaller"):
        stylize(runtime, content, style_image=style_image, style_size=4)
    with pytest.raises(InputError, match="takes one style image.*blending several"):
        stylize(runtime, content, style_images=[style_image, style_image])
    with pytest.raises(InputError, match="one weight per style image"):  # as the Keras model
        stylize(runtime, content, style_images=[style_image], style_weights=[0.5, 0.5])
    with pytest.raises(InputError, match="alpha must be a number in \\[0, 1\\]"):
        stylize(runtime, content, style_image=style_image, alpha=2)
    with pytest.raises(InputError, match=r"exported with \(0.75\); another alpha needs"):
        stylize(runtime, content, style_image=style_image, alpha=0.5)
    with pytest.raises(InputError, match="needs a style"):
        stylize(runtime, content)
    with pytest.raises(InputError, match="style encoder needs at least 8x8"):
        stylize(runtime, content, style_image=style_image[:6])


def test_unknown_extra_inputs_of_an_export_are_one_clear_error(onnx_style, rng):
    runtime = load_runtime(onnx_style)
    runtime.info = ModelInfo(input_names=("mask",))
    with pytest.raises(InputError, match=r"inputs besides the image that stylize does not know "
                                         r"\(mask\); it runs exported single-style"):
        stylize(runtime, rng.random((20, 20, 3), dtype=np.float32))


def test_load_runtime_refuses_threads_and_precision_it_would_ignore(onnx_style):
    for threads in (0, True, 2.5):
        with pytest.raises(InputError, match="threads must be an integer >= 1"):
            load_runtime(onnx_style, threads=threads)
    with pytest.raises(InputError, match="precision must be one of 'float32', 'bfloat16'"):
        load_runtime(onnx_style, precision="x")
    with pytest.raises(InputError, match="precision applies only with runtime='openvino'"):
        load_runtime(onnx_style, precision="bfloat16")  # ONNX Runtime would ignore it
    assert load_runtime(onnx_style, threads=np.int64(1)).name == "onnxruntime"


def test_extra_inputs_of_the_wrong_shape_batch_or_dtype_are_one_clear_error(style_exports, rng):
    """Before: a (2, 3) style_weights row with one image silently gave 2 outputs; a (1, 2) row
    or int weights raised ONNX Runtime's own error."""
    multi, path = style_exports["multi"]
    image = rng.random((1, 12, 12, 3), dtype=np.float32)
    runtimes_to_check = [load_runtime(path)] + ([load_runtime(path, "openvino")] if HAS_OPENVINO
                                                else [])
    for runtime in runtimes_to_check:
        weights = np.array([[0.0, 1.0, 0.0]], np.float32)
        np.testing.assert_allclose(runtime([image, weights]),
                                   np.asarray(multi([image, weights])), atol=1e-4)
        for bad in (np.ones((2, 3), np.float32) / 3, np.ones((1, 2), np.float32), weights[0]):
            with pytest.raises(InputError, match=r"input style_weights must have shape "
                                                 r"\(batch, 3\), with batch the images' 1"):
                runtime([image, bad])
        with pytest.raises(InputError, match="style_weights takes floating-point values"):
            runtime([image, np.array([[0, 1, 0]])])


# --- Bad arguments of the wrong kind: one InputError naming the argument -----------------


@pytest.mark.parametrize("call, name", [
    (lambda: runtimes.extension_format(None), "path"),
    (lambda: runtimes.folder_format(3), "path"),
    (lambda: runtimes.load_keras_model(None), "model"),
    (lambda: runtimes.model_info(None), "model"),
])  # fmt: skip
def test_a_path_or_model_that_is_neither_is_named(call, name):
    # Before: os.fspath's bare TypeError, or vars(None)'s.
    with pytest.raises(InputError, match=rf"Received: {name}=None|Received: {name}=3"):
        call()


@pytest.mark.parametrize("cls", ["OnnxRuntime", "OpenVINORuntime", "TFLiteRuntime"])
def test_runtime_threads_are_checked_before_the_file_is_read(cls):
    # Before: int("2.5")'s ValueError, or "TFLite could not load 'x.tflite' (invalid
    # literal ...)" blaming the file.
    with pytest.raises(InputError, match="Received: threads='2.5'"):
        getattr(runtimes, cls)("x.tflite", threads="2.5")


@requires_tf
def test_read_tflite_metadata_of_a_file_that_is_not_tflite_names_it(tmp_path):
    # Was struct.error ("unpack_from requires a buffer of at least ... bytes").
    for i, content in enumerate([b"", b"not a model at all" * 4]):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(content)
        with pytest.raises(ModelLoadError, match=r"is not a TFLite model .*pass a \.tflite file "
                                                 r"written by export_tflite\. Received: path="):
            runtimes.read_tflite_metadata(str(path))


def test_a_saved_model_folder_is_named_as_tf_servings_format(tmp_path):
    """Was: "... is not a model file" for export_for_serving's own output."""
    version = tmp_path / "serving" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    for path in (version, version.parent):
        with pytest.raises(InputError, match=(
                r"is a TensorFlow SavedModel \(export_for_serving's TF Serving format\).*"
                r"tf.saved_model.load.*export_onnx")):
            load_runtime(path)


def test_an_empty_batch_gives_an_empty_output_in_the_keras_runtime(style):
    """Was: TensorFlow's "paddings must be less than the dimension size" from the mirror
    padding (TFLite: an XNNPACK error; OpenVINO: a Pad node error)."""
    out = load_runtime(style)(np.zeros((0, 9, 11, 3), "float32"))
    assert out.shape == (0, 9, 11, 3) and out.dtype == np.float32


@pytest.mark.slow  # three conversions
def test_an_empty_batch_gives_an_empty_output_in_every_runtime(tmp_path, rng):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    from keras_perceptual.export import export_onnx, export_openvino, export_tflite

    sr = super_resolution_net(4, filters=4, num_residual_blocks=1)
    paths = [export_onnx(sr, tmp_path / "sr.onnx"), export_tflite(sr, tmp_path / "sr.tflite"),
             export_openvino(sr, tmp_path / "sr_openvino")]
    for path in paths:
        runtime = load_runtime(path)
        assert runtime(np.zeros((0, 7, 9, 3), "float32")).shape == (0, 28, 36, 3), path
        x = rng.random((2, 7, 9, 3)).astype("float32")
        np.testing.assert_allclose(runtime(x), np.asarray(sr(x)), atol=1e-4)


def test_an_exported_arbitrary_style_network_takes_one_style_for_the_batch_and_checks_its_size(
        style_exports, rng):
    """Was: a style batch of 1 (which the Keras model and the ONNX graph take) refused by the
    runtime, and a 4x4 style image run by ONNX Runtime without the encoder's check (the Keras
    model refuses it); BoundRuntime took a keras.Model (AttributeError at the first call),
    uint8 style pixels (cast to 0..255 floats silently) and a style batch of 2 (a
    "(4, H, W, 3)" error at the call)."""
    adain, path = style_exports["adain"]
    content = rng.random((2, 20, 20, 3), dtype=np.float32)
    style_image = rng.random((1, 16, 16, 3), dtype=np.float32)
    want = np.asarray(adain([content, style_image]))
    for runtime in (load_runtime(path), load_runtime(adain)):
        np.testing.assert_allclose(runtime([content, style_image]), want, atol=1e-4)
        with pytest.raises(InputError, match=r"style images must be at least 8x8 pixels.*"
                                             r"Received: style.shape=\(2, 7, 9, 3\)"):
            runtime([content, rng.random((2, 7, 9, 3), dtype=np.float32)])
        with pytest.raises(InputError, match=r"style must have shape \(batch, any, any, 3\), "
                                             r"with batch the images' 2 or 1"):
            runtime([content, np.repeat(style_image, 3, axis=0)])
    runtime = load_runtime(path)
    with pytest.raises(InputError, match=r"binds the extra inputs of a Runtime.*load_runtime"):
        runtimes.BoundRuntime(adain, [style_image])
    with pytest.raises(InputError, match=r"one array per extra input of the model \(style\)"):
        runtimes.BoundRuntime(runtime, [])
    for bad in ((style_image * 255).astype(np.uint8), np.repeat(style_image, 2, axis=0)):
        with pytest.raises(InputError, match=r"style must be a float array with a leading "
                                             r"batch axis of 1"):
            runtimes.BoundRuntime(runtime, [bad])


def test_runtime_classes_refuse_non_paths_and_a_bound_runtime_is_not_reopened(
        onnx_style, tmp_path):
    """Was: OpenVINORuntime(ir_folder) read the folder as a TF SavedModel ("Could not open
    saved_model.pb"); OnnxRuntime(None) "could not load None"; load_runtime(onnx_runtime,
    "openvino") a bare TypeError from os.fspath."""
    for cls in (runtimes.OnnxRuntime, runtimes.TFLiteRuntime, runtimes.OpenVINORuntime):
        with pytest.raises(InputError, match=r"path must be a file or folder path.*"
                                             r"Received: path=None"):
            cls(None)
    onnx = load_runtime(onnx_style)
    with pytest.raises(ModelLoadError, match=r"holds no single OpenVINO IR.*\.xml path"):
        runtimes.OpenVINORuntime(tmp_path)
    bound = runtimes.BoundRuntime(onnx, [])
    with pytest.raises(InputError, match=r"BoundRuntime fixes the inputs.*load_runtime\(path, "
                                         r"'openvino'\)"):
        load_runtime(bound, "openvino")


@pytest.mark.slow  # an OpenVINO conversion and two compilations
def test_an_openvino_folder_opens_in_its_class_and_an_onnx_runtime_reopens_in_openvino(
        style, onnx_style, tmp_path, rng):
    pytest.importorskip("openvino")
    from keras_perceptual.export import export_openvino

    x = rng.random((1, 9, 9, 3), dtype=np.float32)
    onnx = load_runtime(onnx_style)
    folder = export_openvino(style, tmp_path / "ir")
    assert runtimes.OpenVINORuntime(folder)(x).shape == (1, 9, 9, 3)
    reopened = load_runtime(onnx, "openvino")
    assert (reopened.name, reopened.path) == ("openvino", onnx.path)
    np.testing.assert_allclose(reopened(x), onnx(x), atol=1e-4)


@pytest.mark.parametrize("field, value", [
    ("min_size", "x"), ("multiple", None), ("input_names", 5), ("input_names", [1]),
    ("alpha", "a"), ("alpha", 2), ("num_styles", -1), ("instance_normalization", "yes"),
])  # fmt: skip
def test_damaged_metadata_is_one_clear_error(field, value):
    """Was: ModelInfo.from_json took min_size='x' or alpha='a' as they were (failing later,
    e.g. "'<' not supported between 'int' and 'str'" at the first call) and input_names=5
    with a bare TypeError."""
    with pytest.raises(InputError, match=rf"metadata has {field}=.*export the model again"):
        ModelInfo.from_json(json.dumps({field: value}))


def test_a_missing_package_outside_the_extra_is_named_by_its_own_pip_name(monkeypatch, tmp_path):
    """Was: without TensorFlow (a JAX install), the TFLite runtime said to install
    keras-perceptual[export], which does not install TensorFlow."""
    _uninstall(monkeypatch, "tensorflow")
    (tmp_path / "m.tflite").write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match=r"'tensorflow' package; install it with "
                                                     r"pip install tensorflow\. Received"):
        load_runtime(tmp_path / "m.tflite")


def test_inputs_as_a_dict_keyed_by_name(style_exports, style, rng):
    """Was: a dict (as Keras models take) read as the images: "takes float32 images ...
    Received: images.dtype=object"."""
    multi, path = style_exports["multi"]
    image = rng.random((2, 12, 12, 3), dtype=np.float32)
    weights = np.full((2, 3), 1 / 3, np.float32)
    runtime = load_runtime(path)
    np.testing.assert_allclose(runtime({"style_weights": weights, "images": image}),
                               runtime([image, weights]))
    with pytest.raises(InputError, match=r"as a dict, are keyed by 'images', 'style_weights' "
                                         r"\(or pass a list in that order\)\. Received: keys "
                                         r"\['image', 'style_weights'\]"):
        runtime({"image": image, "style_weights": weights})
    np.testing.assert_allclose(load_runtime(style)({"images": image}), np.asarray(style(image)),
                               atol=1e-6)


def test_a_tflite_runtime_runs_without_the_delegate_s_info_line(tmp_path):
    # Before: the first run printed "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    # on the process's stderr (C++), in the middle of the command line's output. TFLite
    # prints it once a process, so each side runs in a fresh one; the control shows that
    # the line does appear where nothing hides it.
    import os
    import subprocess
    import sys

    script = """
import sys, numpy as np, tensorflow as tf
from keras_perceptual.export import export_tflite
from keras_perceptual.models import style_transfer_net
from keras_perceptual.runtimes import load_runtime
path = export_tflite(style_transfer_net(filters=4, num_residual_blocks=1), sys.argv[2])
images = np.zeros((1, 16, 16, 3), np.float32)
if sys.argv[1] == "runtime":
    load_runtime(path)(images)
else:  # the control: the interpreter itself
    runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
    runner(images=images)
"""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user's shell
    printed = {}
    for side in ("control", "runtime"):
        done = subprocess.run([sys.executable, "-c", script, side, str(tmp_path / f"{side}.tflite")],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        printed[side] = done.stdout + done.stderr
        if "XNNPACK" not in printed["control"]:  # TensorFlow 2.17's TFLite prints none
            pytest.skip("this TFLite prints no XNNPACK delegate line")
    assert "XNNPACK" not in printed["runtime"], printed["runtime"][-2000:]
