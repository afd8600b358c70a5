"""SavedModel export for TF Serving and TFLite, checked the way a server loads them.

The exports are loaded and run in a separate Python process started with ``-I -S`` (no
site-packages processing, so the editable install's import hook never runs) whose
``sys.path`` holds only the folders of TensorFlow, NumPy and tensorflow-serving-api; the
child proves that ``keras_perceptual`` cannot be imported there. It runs every signature
and "serves" real ``tensorflow_serving.apis.predict_pb2.PredictRequest`` protos the way TF
Serving does (signature by name, inputs by alias). Tolerances: float32 1e-5, uint8 and
PNG outputs +-1, TFLite float32 1e-4, TFLite dynamic-range quantized 0.05 (in
``value_range`` units, for a range of width 1 or 2).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import pickle
import re
import struct
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import requires_tf

pytestmark = requires_tf

tf = pytest.importorskip("tensorflow")

from keras_perceptual import export  # noqa: E402
from keras_perceptual.errors import InputError, MissingDependencyError  # noqa: E402
from keras_perceptual.export import export_for_serving, export_tflite  # noqa: E402
from keras_perceptual.models import (  # noqa: E402
    model_value_range,
    style_transfer_net,
    super_resolution_net,
)

# 16 channels into the RGB output convolution: the exports hold its blocked form
# (ConvBlock.blocked_inference), which is what the paper-width networks export.
TINY_STYLE = {"filters": 16, "num_residual_blocks": 1}
TINY_SR = {"filters": 16, "num_residual_blocks": 1}
SIGNATURES = ("serving_default", "serve_uint8", "serve_encoded")


# --------------------------------------------------------------------------------------
# Models, inputs and Keras references
# --------------------------------------------------------------------------------------


def _to_range(u8, value_range):
    low, high = value_range
    x = u8.astype("float32") / 255.0
    return x if (low, high) == (0.0, 1.0) else (x * (high - low) + low).astype("float32")


def _to_uint8(y, value_range):
    low, high = value_range
    unit = (np.asarray(y, "float32") - low) / (high - low)
    return np.clip(np.round(unit * 255.0), 0, 255).astype("uint8")


def _keras(model, x):
    return np.asarray(model(x, training=False), dtype="float32")


def _keras_uint8(model, u8):
    vr = model_value_range(model)
    return _to_uint8(_keras(model, _to_range(u8, vr)), vr)


def _png(array):
    return tf.io.encode_png(array).numpy()


def _jpeg(array):
    return tf.io.encode_jpeg(array, quality=95).numpy()


@pytest.fixture(scope="module")
def nets():
    """Tiny style (range (0, 1)) and x4 SR (range (-1, 1)) nets, and a mixed_float16 SR net."""
    keras.utils.set_random_seed(3)
    style = style_transfer_net(**TINY_STYLE)
    sr = super_resolution_net(4, value_range=(-1.0, 1.0), **TINY_SR)
    try:
        keras.config.set_dtype_policy("mixed_float16")
        mixed = super_resolution_net(4, **TINY_SR)
    finally:
        keras.config.set_dtype_policy("float32")
    return {"style": style, "sr": sr, "mixed": mixed}


@pytest.fixture(scope="module")
def data():
    """Odd sizes, a batch of 1 and of several; encoded batches mix formats, channels, sizes."""
    import io

    from PIL import Image

    rng = np.random.default_rng(7)
    u8 = {
        "one": rng.integers(0, 256, (1, 13, 17, 3), dtype=np.uint8),
        "many": rng.integers(0, 256, (3, 9, 11, 3), dtype=np.uint8),
    }
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    smooth = (np.linspace(0, 255, 9 * 11 * 3).reshape(9, 11, 3)).astype(np.uint8)
    gray = rng.integers(0, 256, (10, 7, 1), dtype=np.uint8)
    rgba = rng.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    jpeg = _jpeg(smooth)
    encoded = {
        "one": ([_png(rgb)], [rgb]),
        "many": (
            [_png(rgb), jpeg, _png(gray), _png(rgba)],
            # What the server must see: RGB as is, the JPEG as the library decodes it
            # (Pillow: the one decoding contract), gray replicated to RGB, RGBA without its
            # alpha channel.
            [
                rgb,
                np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")),
                np.repeat(gray, 3, -1),
                rgba[..., :3],
            ],
        ),
    }
    return {"uint8": u8, "encoded": encoded}


def _float_inputs(model, data):
    return {k: _to_range(v, model_value_range(model)) for k, v in data["uint8"].items()}


@pytest.fixture(scope="module")
def exports(nets, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    return {name: export_for_serving(model, base / name) for name, model in nets.items()}


# --------------------------------------------------------------------------------------
# The isolated server-like process
# --------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import importlib.util, pickle, sys

    workdir, paths = sys.argv[1], sys.argv[2:]
    sys.path[:0] = paths
    result = {"importable_before": importlib.util.find_spec("keras_perceptual") is not None}
    # A server without Keras: any attempt to import it raises ImportError.
    sys.modules["keras"] = sys.modules["tf_keras"] = None
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    with open(workdir + "/job.pkl", "rb") as f:
        job = pickle.load(f)
    loaded = {key: tf.saved_model.load(path, tags=["serve"]) for key, path in job["exports"].items()}

    def spec(s):
        return (s.dtype.name, tuple(s.shape.as_list()))

    result["signatures"] = {
        key: {
            name: {
                "inputs": {n: spec(s) for n, s in fn.structured_input_signature[1].items()},
                "outputs": {n: spec(s) for n, s in fn.structured_outputs.items()},
            }
            for name, fn in obj.signatures.items()
        }
        for key, obj in loaded.items()
    }
    result["calls"] = {}
    for cid, key, signature, feeds in job["calls"]:
        fn = loaded[key].signatures[signature]
        out = fn(**{n: tf.constant(v) for n, v in feeds.items()})
        result["calls"][cid] = {n: t.numpy() for n, t in out.items()}
    # Serve PredictRequests as TF Serving does: the signature by name, inputs by alias.
    result["responses"] = {}
    for rid, key, blob in job["requests"]:
        request = predict_pb2.PredictRequest.FromString(blob)
        fn = loaded[key].signatures[request.model_spec.signature_name or "serving_default"]
        out = fn(**{n: tf.constant(tf.make_ndarray(p)) for n, p in request.inputs.items()})
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for n, t in out.items():
            response.outputs[n].CopyFrom(tf.make_tensor_proto(t.numpy()))
        result["responses"][rid] = response.SerializeToString()
    result["importable_after"] = importlib.util.find_spec("keras_perceptual") is not None
    try:
        import keras_perceptual  # noqa: F401
    except ImportError:
        result["import_fails"] = True
    result["modules"] = {
        m: sys.modules[m] is None
        for m in sys.modules
        if m.split(".")[0] in ("keras_perceptual", "keras", "tf_keras")
    }
    result["sys_path"] = list(sys.path)
    with open(workdir + "/result.pkl", "wb") as f:
        pickle.dump(result, f)
    """
)


def _filtered_site_dirs(root: pathlib.Path) -> list[str]:
    """Mirrors of the folders holding TensorFlow, NumPy and tensorflow-serving-api, without
    keras_perceptual (installed or editable) and without ``.pth`` files."""
    sources = []
    for name in ("tensorflow", "numpy", "tensorflow_serving", "google.protobuf"):
        folder = pathlib.Path(importlib.util.find_spec(name).origin).parent
        for _ in name.split("."):
            folder = folder.parent
        if folder not in sources:
            sources.append(folder)
    mirrors = []
    for i, source in enumerate(sources):
        mirror = root / f"site{i}"
        mirror.mkdir()
        for entry in source.iterdir():
            if (
                entry.name.startswith(("keras_perceptual", "__editable__"))
                or entry.suffix == ".pth"
            ):
                continue
            (mirror / entry.name).symlink_to(entry)
        mirrors.append(str(mirror))
    return mirrors


def _encoded_request(data, which):
    return np.array(data["encoded"][which][0], dtype=object)


def _predict_request(key, signature, feeds):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = key
    request.model_spec.signature_name = signature
    for name, value in feeds.items():
        if value.dtype == object:
            proto = tf.make_tensor_proto(list(value), dtype=tf.string, shape=[len(value)])
        else:
            proto = tf.make_tensor_proto(value)
        request.inputs[name].CopyFrom(proto)
    return request


def _feeds(model, data, signature, which):
    if signature == "serving_default":
        return {"images": _float_inputs(model, data)[which]}
    if signature == "serve_uint8":
        return {"images": data["uint8"][which]}
    return {"image_bytes": _encoded_request(data, which)}


def _saved_model_cli():
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    return str(cli) if cli.exists() else None


class _Background:
    """A command started now and awaited later (the CLI runs overlap the server process)."""

    def __init__(self, args, cwd):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.out = open(pathlib.Path(cwd) / "stdout.txt", "w+")  # noqa: SIM115
        self.err = open(pathlib.Path(cwd) / "stderr.txt", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self.out, stderr=self.err, text=True
        )

    def result(self) -> str:
        try:
            code = self.proc.wait(timeout=300)
        finally:
            self.stop()
        self.out.seek(0)
        self.err.seek(0)
        stdout, stderr = self.out.read(), self.err.read()
        assert code == 0, stderr[-4000:]
        return stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def cli_runs(nets, exports, data, tmp_path_factory):
    """``saved_model_cli show --all`` on the SR export and ``run`` on a .npy for the style one,
    started in the background (None when saved_model_cli is not installed)."""
    cli = _saved_model_cli()
    if cli is None:
        yield None
        return
    show_dir = tmp_path_factory.mktemp("cli_show")
    run_dir = tmp_path_factory.mktemp("cli_run")
    x = _float_inputs(nets["style"], data)["many"]
    np.save(run_dir / "x.npy", x)
    show = _Background([cli, "show", "--dir", str(exports["sr"]), "--all"], show_dir)
    run = _Background(
        [
            cli, "run", "--dir", str(exports["style"]), "--tag_set", "serve",
            "--signature_def", "serving_default", "--inputs", f"images={run_dir / 'x.npy'}",
            "--outdir", str(run_dir / "out"),
        ],
        run_dir,
    )  # fmt: skip
    yield {"show": show, "run": run, "run_dir": run_dir, "x": x}
    for job in (show, run):
        job.stop()
        job.out.close()
        job.err.close()


@pytest.fixture(scope="module")
def served(nets, exports, data, cli_runs, tmp_path_factory):
    """Runs every signature of every export (and one PredictRequest per signature and net)
    in a Python process that cannot import keras_perceptual."""
    pytest.importorskip("tensorflow_serving", reason='pip install ".[dev]"')
    workdir = tmp_path_factory.mktemp("server")
    calls, requests = [], []
    for key, model in nets.items():
        for signature in SIGNATURES:
            for which in ("one", "many"):
                calls.append(
                    ((key, signature, which), key, signature, _feeds(model, data, signature, which))
                )
            request = _predict_request(key, signature, _feeds(model, data, signature, "many"))
            requests.append(((key, signature), key, request.SerializeToString()))
    job = {"exports": {k: str(p) for k, p in exports.items()}, "calls": calls, "requests": requests}
    result = _run_server_child(workdir, job)
    result["requests"] = {rid: blob for rid, _, blob in requests}
    return result


def _run_server_child(workdir, job) -> dict:
    """Runs CHILD on ``job`` in a process that can import neither Keras nor keras_perceptual."""
    with open(workdir / "job.pkl", "wb") as f:
        pickle.dump(job, f)
    (workdir / "child.py").write_text(CHILD)
    paths = _filtered_site_dirs(workdir)
    env = {"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(workdir)}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(workdir / "child.py"), str(workdir), *paths],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(workdir / "result.pkl", "rb") as f:
        return pickle.load(f)


# --------------------------------------------------------------------------------------
# The server-side view
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_server_process_cannot_import_keras_perceptual(served):
    assert served["importable_before"] is False
    assert served["importable_after"] is False
    assert served["import_fails"] is True
    assert not [m for m in served["modules"] if m.startswith("keras_perceptual")]
    repo = str(pathlib.Path(export.__file__).resolve().parents[1])
    assert repo not in served["sys_path"] and "" not in served["sys_path"]


@pytest.mark.slow
def test_loading_needs_no_keras_either(served):
    """The child blocked Keras before importing TensorFlow: nothing real was imported."""
    assert served["modules"] == {"keras": True, "tf_keras": True}


@pytest.mark.slow
@pytest.mark.parametrize("key", ["style", "sr", "mixed"])
def test_signature_names_dtypes_and_shapes(served, key):
    signatures = served["signatures"][key]
    assert sorted(signatures) == sorted(SIGNATURES)
    image = (None, None, None, 3)
    assert signatures["serving_default"] == {
        "inputs": {"images": ("float32", image)},
        "outputs": {"images": ("float32", image)},
    }
    assert signatures["serve_uint8"] == {
        "inputs": {"images": ("uint8", image)},
        "outputs": {"images": ("uint8", image)},
    }
    assert signatures["serve_encoded"] == {
        "inputs": {"image_bytes": ("string", (None,))},
        "outputs": {"image_bytes": ("string", (None,))},
    }
    assert export.SIGNATURE_TENSORS == {
        name: (next(iter(s["inputs"])), next(iter(s["outputs"]))) for name, s in signatures.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["one", "many"])
@pytest.mark.parametrize("key", ["style", "sr", "mixed"])
def test_serving_default_matches_keras(served, nets, data, key, which):
    model = nets[key]
    x = _float_inputs(model, data)[which]
    y = served["calls"][(key, "serving_default", which)]["images"]
    expected = _keras(model, x)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5)
    scale = 4 if key != "style" else 1
    assert y.shape == (x.shape[0], x.shape[1] * scale, x.shape[2] * scale, 3)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["one", "many"])
@pytest.mark.parametrize("key", ["style", "sr", "mixed"])
def test_serve_uint8_matches_keras(served, nets, data, key, which):
    model = nets[key]
    y = served["calls"][(key, "serve_uint8", which)]["images"]
    expected = _keras_uint8(model, data["uint8"][which])
    assert y.dtype == np.uint8 and y.shape == expected.shape
    assert np.abs(y.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("which", ["one", "many"])
@pytest.mark.parametrize("key", ["style", "sr", "mixed"])
def test_serve_encoded_matches_keras(served, nets, data, key, which):
    model = nets[key]
    outputs = served["calls"][(key, "serve_encoded", which)]["image_bytes"]
    _, pixels = data["encoded"][which]
    assert outputs.shape == (len(pixels),)
    for blob, image in zip(outputs, pixels, strict=True):
        assert blob.startswith(b"\x89PNG\r\n\x1a\n")
        decoded = tf.io.decode_png(blob).numpy()
        expected = _keras_uint8(model, image[None])[0]
        assert decoded.shape == expected.shape
        assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 1


def _signature_defs(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    (meta,) = saved.meta_graphs
    assert list(meta.meta_info_def.tags) == ["serve"]
    return meta.signature_def


@pytest.mark.slow
@pytest.mark.parametrize("signature", SIGNATURES)
@pytest.mark.parametrize("key", ["style", "sr"])
def test_predict_request_fits_signature_and_is_served(served, nets, exports, data, key, signature):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest.FromString(served["requests"][(key, signature)])
    signature_def = _signature_defs(exports[key])[request.model_spec.signature_name]
    # What TF Serving checks before running: aliases, dtypes and shapes of the inputs.
    assert set(request.inputs) == set(signature_def.inputs)
    for alias, info in signature_def.inputs.items():
        tensor = request.inputs[alias]
        assert tensor.dtype == info.dtype
        dims = [d.size for d in tensor.tensor_shape.dim]
        expected = [d.size for d in info.tensor_shape.dim]
        assert len(dims) == len(expected)
        assert all(e == -1 or e == d for d, e in zip(dims, expected, strict=True))
    response = predict_pb2.PredictResponse.FromString(served["responses"][(key, signature)])
    assert set(response.outputs) == set(signature_def.outputs)
    (alias,) = response.outputs
    value = tf.make_ndarray(response.outputs[alias])
    model = nets[key]
    if signature == "serving_default":
        expected = _keras(model, _float_inputs(model, data)["many"])
        np.testing.assert_allclose(value, expected, rtol=0, atol=1e-5)
    elif signature == "serve_uint8":
        expected = _keras_uint8(model, data["uint8"]["many"])
        assert np.abs(value.astype(int) - expected.astype(int)).max() <= 1
    else:
        assert alias.endswith("_bytes")  # TF Serving's REST API returns these as {"b64": ...}
        for blob, image in zip(value, data["encoded"]["many"][1], strict=True):
            expected = _keras_uint8(model, image[None])[0]
            decoded = tf.io.decode_png(blob).numpy()
            assert np.abs(decoded.astype(int) - expected.astype(int)).max() <= 1


# --------------------------------------------------------------------------------------
# saved_model_cli
# --------------------------------------------------------------------------------------


def _cli(cli_runs):
    if cli_runs is None:
        pytest.skip("saved_model_cli (installed with tensorflow) not found")
    return cli_runs


@pytest.mark.slow
def test_saved_model_cli_show_lists_the_three_signatures(cli_runs, served):
    out = _cli(cli_runs)["show"].result()
    for name in SIGNATURES:
        assert f"signature_def['{name}']:" in out
    blocks = {
        name: out.split(f"signature_def['{name}']:")[1].split("signature_def[")[0]
        for name in SIGNATURES
    }
    assert "inputs['images'] tensor_info:" in blocks["serving_default"]
    assert "dtype: DT_FLOAT" in blocks["serving_default"]
    assert "shape: (-1, -1, -1, 3)" in blocks["serving_default"]
    assert "outputs['images'] tensor_info:" in blocks["serving_default"]
    assert "dtype: DT_UINT8" in blocks["serve_uint8"]
    assert "inputs['image_bytes'] tensor_info:" in blocks["serve_encoded"]
    assert "outputs['image_bytes'] tensor_info:" in blocks["serve_encoded"]
    assert (
        "dtype: DT_STRING" in blocks["serve_encoded"] and "shape: (-1)" in blocks["serve_encoded"]
    )
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs" in out
    assert "tensorflow/serving/predict" in out


def test_saved_model_cli_run_on_npy(cli_runs, served, nets):
    _cli(cli_runs)["run"].result()
    y = np.load(cli_runs["run_dir"] / "out" / "images.npy")
    np.testing.assert_allclose(y, _keras(nets["style"], cli_runs["x"]), rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------------
# Guards and errors (loaded here: the errors are TensorFlow's InvalidArgument)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded_style(exports):
    return tf.saved_model.load(str(exports["style"]))


@pytest.fixture(scope="module")
def small_limit(nets, tmp_path_factory):
    path = export_for_serving(nets["style"], tmp_path_factory.mktemp("limit"), max_pixels=100)
    return tf.saved_model.load(path)


def _invalid(fn, match, **feeds):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        fn(**feeds)


def test_oversized_images_are_rejected(small_limit):
    sig = small_limit.signatures
    limit = r"max_pixels=100 pixels.*export_for_serving\(model, base_dir, max_pixels=N\)"
    _invalid(sig["serving_default"], limit, images=tf.zeros((1, 11, 10, 3)))
    _invalid(sig["serve_uint8"], limit, images=tf.zeros((2, 10, 11, 3), tf.uint8))
    big = _png(np.zeros((11, 10, 3), np.uint8))
    _invalid(sig["serve_encoded"], limit, image_bytes=tf.constant([big]))
    # 10 x 10 = 100 is allowed.
    out = sig["serving_default"](images=tf.zeros((1, 10, 10, 3)))["images"]
    assert out.shape == (1, 10, 10, 3)


def test_encoded_size_is_checked_from_the_header_before_decoding(loaded_style):
    """A 100000 x 100000 PNG header (or 60000 x 60000 JPEG) over a tiny body: the default
    16-megapixel guard fires before any decoding (a decoder would fail differently)."""
    fn = loaded_style.signatures["serve_encoded"]
    png = bytearray(_png(np.zeros((8, 8, 3), np.uint8)))
    png[16:24] = struct.pack(">II", 100_000, 100_000)
    _invalid(fn, "max_pixels=16000000", image_bytes=tf.constant([bytes(png)]))
    jpeg = bytearray(_jpeg(np.zeros((8, 8, 3), np.uint8)))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    _invalid(fn, "max_pixels=16000000", image_bytes=tf.constant([bytes(jpeg)]))
    gif = b"GIF89a" + struct.pack("<HH", 65_535, 65_535) + bytes(24)
    _invalid(fn, "max_pixels=16000000", image_bytes=tf.constant([gif]))
    bmp = b"BM" + bytes(16) + struct.pack("<ii", 50_000, -50_000) + bytes(32)  # top-down
    _invalid(fn, "max_pixels=16000000", image_bytes=tf.constant([bmp]))


def test_gif_and_bmp_inputs_decode(loaded_style):
    import io

    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (9, 12, 3), dtype=np.uint8)
    blobs = []
    for fmt in ("GIF", "BMP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt)
        blobs.append(buffer.getvalue())
    out = loaded_style.signatures["serve_encoded"](image_bytes=tf.constant(blobs))["image_bytes"]
    assert [tf.io.decode_png(b).shape for b in out.numpy()] == [(9, 12, 3)] * 2


def test_bad_inputs_get_clear_messages(loaded_style):
    sig = loaded_style.signatures
    small = "at least 5x5 pixels"
    _invalid(sig["serving_default"], small, images=tf.zeros((1, 4, 9, 3)))
    _invalid(sig["serve_uint8"], small, images=tf.zeros((1, 9, 3, 3), tf.uint8))
    _invalid(
        sig["serve_encoded"], small, image_bytes=tf.constant([_png(np.zeros((3, 9, 3), np.uint8))])
    )
    base64_text = b"iVBORw0KGgoAAAANSUhEUgAAAAgAAAAI"
    for blob in (base64_text, b"", b"not an image at all"):
        _invalid(
            sig["serve_encoded"],
            r"PNG or JPEG file.*b64.*Received: first bytes",
            image_bytes=tf.constant([blob]),
        )
    # Different sizes in one batch and an empty batch are fine.
    out = sig["serve_encoded"](image_bytes=tf.constant([b""])[:0])["image_bytes"]
    assert out.shape == (0,)


# --------------------------------------------------------------------------------------
# Versions, overwrite, crashes
# --------------------------------------------------------------------------------------


def _listing(base):
    return sorted(os.listdir(base))


def _fake_writer(model, path, serving, signatures):
    """Stands in for the SavedModel writer where only the folder logic is under test (the
    real writer runs for every export in the fixtures above)."""
    os.makedirs(path)
    pathlib.Path(path, "saved_model.pb").write_bytes(b"fake")


def test_versions_overwrite_and_version_folder_paths(nets, tmp_path, monkeypatch):
    model = nets["style"]
    base = tmp_path / "models" / "style"
    assert export.existing_versions(base) == []
    first = export_for_serving(model, base)  # the real writer
    assert first == str(base / "1") and (base / "1" / "saved_model.pb").is_file()
    assert tf.saved_model.load(first).signatures["serve_uint8"] is not None
    monkeypatch.setattr(export, "_write_archive", _fake_writer)
    # A path that is itself a (new) version folder names that version, as in export/sr4/5.
    assert export_for_serving(model, base / "5") == str(base / "5")
    assert export_for_serving(model, str(base)) == str(base / "6")  # highest + 1
    assert export.existing_versions(base) == [1, 5, 6]
    with pytest.raises(FileExistsError, match=r"Version 5 already exists.*overwrite=True.*\(7\)"):
        export_for_serving(model, base, version=5)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_for_serving(model, base / "5")
    (base / "5" / "marker").write_text("old")
    assert export_for_serving(model, base, version=5, overwrite=True) == str(base / "5")
    assert not (base / "5" / "marker").exists() and (base / "5" / "saved_model.pb").is_file()
    assert _listing(base) == ["1", "5", "6"]  # no temporary folders left behind
    # A base folder whose own name is a number but which holds versions stays a base folder.
    numbered = tmp_path / "2024"
    _fake_writer(model, numbered / "1", None, None)
    assert export_for_serving(model, numbered) == str(numbered / "2")


def test_a_crash_leaves_no_half_written_version(nets, tmp_path, monkeypatch):
    base = tmp_path / "style"
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"old")

    def crash(model, path, serving, signatures):
        os.makedirs(path)
        pathlib.Path(path, "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_write_archive", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_for_serving(nets["style"], base)
    with pytest.raises(RuntimeError, match="disk full"):
        export_for_serving(nets["style"], base, version=1, overwrite=True)
    assert _listing(base) == ["1"]
    assert (base / "1" / "saved_model.pb").read_bytes() == b"old"


def test_argument_errors(nets, tmp_path):
    model = nets["style"]
    with pytest.raises(ValueError, match=r"keras.Model.*Received: model=str"):
        export_for_serving("model.keras", tmp_path)
    with pytest.raises(ValueError, match="max_pixels must be an integer >= 1"):
        export_for_serving(model, tmp_path, max_pixels=0)
    with pytest.raises(ValueError, match=r"version must be an integer >= 0.*Received: version=-1"):
        export_for_serving(model, tmp_path, version=-1)
    with pytest.raises(ValueError, match="png_compression"):
        export_for_serving(model, tmp_path, png_compression=10)
    with pytest.raises(ValueError, match="compute_dtype"):
        export_for_serving(model, tmp_path, compute_dtype="float16")
    # Before: overwrite="no" was truthy and replaced the version; numpy integers were refused.
    with pytest.raises(InputError, match=r"overwrite must be True or False.*overwrite='no'"):
        export_for_serving(model, tmp_path, overwrite="no")
    assert export._resolve_target(tmp_path, np.int64(3)) == (str(tmp_path), 3)
    assert export._check_compression(np.int64(6)) == 6
    rgba = keras.Sequential([keras.Input((None, None, 4)), keras.layers.Conv2D(3, 1)])
    with pytest.raises(ValueError, match=r"RGB images.*Received: model.inputs\[0\].shape"):
        export_for_serving(rgba, tmp_path)
    (tmp_path / "7").write_text("not a folder")
    with pytest.raises(FileExistsError, match="not a folder"):
        export_for_serving(model, tmp_path, version=7)
    with pytest.raises(ValueError, match="quantize must be one of"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int4")
    with pytest.raises(ValueError, match="representative_images= a folder"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int8")
    with pytest.raises(ValueError, match='calibrates quantize="int8" only'):
        export_tflite(model, tmp_path / "m.tflite", representative_images=tmp_path)
    with pytest.raises(ValueError, match="at least 2 images"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int8",
                      representative_images=np.zeros((1, 16, 16, 3), "float32"))
    with pytest.raises(ValueError, match=r"float array \(N, H, W, 3\)"):
        export_tflite(model, tmp_path / "m.tflite", quantize="int8",
                      representative_images=np.zeros((4, 16, 16, 3), "uint8"))
    from keras_perceptual.export import export_onnx, export_openvino

    for exporter in (export_onnx, export_openvino):
        with pytest.raises(ValueError, match=r"RGB images.*Received: model.inputs\[0\].shape"):
            exporter(rgba, tmp_path / "x")
        with pytest.raises(ValueError, match=r"keras.Model.*Received: model=str"):
            exporter("model.keras", tmp_path / "x")
    with pytest.raises(ValueError, match="quantize must be one of 'float16'"):
        export_openvino(model, tmp_path / "x", quantize="int8")
    with pytest.raises(ValueError, match=r"input_size must be an integer >= 5"):
        export_tflite(model, tmp_path / "m.tflite", input_size=(3, 8))
    with pytest.raises(ValueError, match=r"input_size must be \(height, width\)"):
        export_tflite(model, tmp_path / "m.tflite", input_size=64)
    with pytest.raises(ValueError, match="path is a folder"):
        export_tflite(model, tmp_path)
    assert _listing(tmp_path) == ["7"]


def test_a_path_load_runtime_would_not_read_as_the_format_is_refused_before_converting(
        nets, tmp_path, monkeypatch):
    """Was: export_onnx(net, "m.tflite") wrote ONNX there, and load_runtime("m.tflite") failed
    with "TFLite could not load 'm.tflite' (... model identifier 'kera', should be 'TFL3')";
    a path without extension was written and then "is not a model file"."""
    from keras_perceptual.export import export_onnx, export_openvino
    from keras_perceptual.runtimes import detect_format

    def never(*args, **kwargs):
        raise AssertionError("conversion started before the path was checked")

    for name in ("_portable", "_float32_copy", "_write_archive"):
        monkeypatch.setattr(export, name, never)
    model = nets["style"]
    for exporter, label, ext in ((export_onnx, "ONNX", ".onnx"),
                                 (export_tflite, "TFLite", ".tflite")):
        for wrong, known in (("m.tflite", True), ("m.onnx", True), ("m.keras", True),
                             ("m.xml", True), ("m_noext", False), ("m.onnx.bak", False)):
            if wrong.endswith(ext):
                continue
            stem = str(tmp_path / (wrong.rsplit(".", 1)[0] if known else wrong))
            with pytest.raises(InputError, match=(
                    f"{exporter.__name__} writes {label} files, which load_runtime recognizes "
                    f"only by the extension {re.escape(ext)}; end the path with it, e.g. "
                    f"{re.escape(repr(stem + ext))}.*Received: path=")):
                exporter(model, str(tmp_path / wrong))
    with pytest.raises(InputError, match=r"e.g. '.*m.onnx' \(.tflite is TFLite's: use "
                                         r"export_tflite\)\. Received: path="):
        export_onnx(model, str(tmp_path / "m.tflite"))
    for base_dir in ("s.onnx", "s.tflite", "s.keras"):
        with pytest.raises(InputError, match=r"export_for_serving writes a folder, but "
                           r"load_runtime reads a path ending in \.\w+ as an? \w+ model file; use "
                           r"\S+ for that format, or a folder name without the extension, "
                           r"e.g. '.*s'\. Received: base_dir="):
            export_for_serving(model, tmp_path / base_dir)
    with pytest.raises(InputError, match=r"export_openvino writes a folder, but load_runtime "
                       r"reads a path ending in \.onnx as an ONNX model file; use export_onnx"):
        export_openvino(model, tmp_path / "ir.onnx")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"")
    assert detect_format(tmp_path / "run") == "keras"
    with pytest.raises(InputError, match=r"path holds a Keras model .* read the folder as Keras"):
        export_openvino(model, tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["run"]  # nothing written, no folder made
    # The accepted extensions are detect_format's, in any case.
    monkeypatch.undo()
    written = export_tflite(model, tmp_path / "Upper.TFLITE")
    assert detect_format(written) == "tflite"


def test_a_wrong_path_is_said_before_a_missing_optional_package(nets, tmp_path, monkeypatch):
    """Was: without the export extra, export_onnx(net, "m.tflite") and
    load_keras_model("hf://just-a-name") said "install keras-perceptual[export]", and only
    after installing it that the path was wrong."""
    from keras_perceptual.export import export_onnx, export_openvino
    from keras_perceptual.runtimes import load_keras_model

    for module in ("onnx", "tf2onnx", "openvino", "huggingface_hub"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails: not installed
    with pytest.raises(InputError, match=r"export_onnx writes ONNX files.*m\.onnx"):
        export_onnx(nets["style"], tmp_path / "m.tflite")
    with pytest.raises(InputError, match="export_openvino writes a folder"):
        export_openvino(nets["style"], tmp_path / "ir.onnx")
    with pytest.raises(InputError, match="'hf://owner/name'"):
        load_keras_model("hf://just-a-name")
    with pytest.raises(MissingDependencyError, match=r"keras-perceptual\[export\]"):
        export_onnx(nets["style"], tmp_path / "m.onnx")  # a right path: the package is named
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------


def test_mixed_precision_compute_dtype_float32(tmp_path, data):
    """compute_dtype="float32" rebuilds a mixed_bfloat16 net in float32 (same weights)."""
    keras.utils.set_random_seed(5)
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        mixed = super_resolution_net(4, **TINY_SR)
    finally:
        keras.config.set_dtype_policy("float32")
    reference = super_resolution_net(4, **TINY_SR)
    reference.set_weights(mixed.get_weights())
    path = export_for_serving(mixed, tmp_path, compute_dtype="float32")
    fn = tf.saved_model.load(path).signatures["serving_default"]
    x = _float_inputs(reference, data)["many"]
    y = fn(images=tf.constant(x))["images"].numpy()
    np.testing.assert_allclose(y, _keras(reference, x), rtol=0, atol=1e-5)
    # The bfloat16 model itself differs from its float32 rebuild by more than that.
    assert np.abs(_keras(mixed, x) - y).max() > 1e-5


# --------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------


def _interpreter(path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "tf.lite.Interpreter is deprecated" (LiteRT)
        return tf.lite.Interpreter(model_path=str(path))


def _float32_twin(model):
    """The same network and weights built under the float32 policy."""
    twin = super_resolution_net(4, **TINY_SR)
    twin.set_weights(model.get_weights())
    return twin


@pytest.mark.parametrize("key", ["style", "sr", "mixed"])
def test_tflite_dynamic_shapes_match_keras(nets, data, tmp_path, key):
    """The .tflite computes in float32: a mixed_float16 model is compared with its float32
    twin (the float16 model itself differs from both by ~1e-4)."""
    model = nets[key]
    path = export_tflite(model, tmp_path / f"{key}.tflite")
    if key == "mixed":
        model = _float32_twin(model)
    assert path == str(tmp_path / f"{key}.tflite")
    interpreter = _interpreter(path)
    (detail,) = interpreter.get_input_details()
    assert detail["dtype"] == np.float32 and list(detail["shape_signature"]) == [-1, -1, -1, 3]
    runner = interpreter.get_signature_runner("serving_default")
    for which in ("one", "many"):  # different sizes and batch sizes on one interpreter
        x = _float_inputs(model, data)[which]
        y = runner(images=x)["images"]
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, _keras(model, x), rtol=0, atol=1e-4)


def test_tflite_of_the_resize_upsampling_uses_builtin_ops(data, tmp_path):
    """style_transfer_net(upsampling="resize") (the demo's network) failed to convert: Keras'
    UpSampling2D left the channel count unknown, so TFLite wanted TF Select for Conv2D."""
    keras.utils.set_random_seed(4)
    model = style_transfer_net(upsampling="resize", **TINY_STYLE)
    runner = _interpreter(export_tflite(model, tmp_path / "resize.tflite"))
    runner = runner.get_signature_runner("serving_default")
    x = _float_inputs(model, data)["many"]
    np.testing.assert_allclose(runner(images=x)["images"], _keras(model, x), rtol=0, atol=1e-4)


def test_tflite_fixed_size_and_dynamic_range_quantization(nets, data, tmp_path):
    model = nets["sr"]
    x = _float_inputs(model, data)["one"]
    path = export_tflite(model, tmp_path / "sr_fixed.tflite", input_size=x.shape[1:3])
    interpreter = _interpreter(path)
    (detail,) = interpreter.get_input_details()
    assert list(detail["shape_signature"]) == [1, *x.shape[1:3], 3]
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(y, _keras(model, x), rtol=0, atol=1e-4)
    # Through load_runtime: the fixed size is the only one it runs. Before, a smaller image
    # went through and came out at a wrong size (9x11 -> 12x12 for a 12x16 export).
    from keras_perceptual.runtimes import load_runtime

    runtime = load_runtime(path)
    np.testing.assert_allclose(runtime(x), _keras(model, x), rtol=0, atol=1e-4)
    with pytest.raises(InputError, match=r"input images must have shape \(batch, "
                                         rf"{x.shape[1]}, {x.shape[2]}, 3\).*input_size=None"):
        runtime(x[:, :-1])

    quantized = _interpreter(export_tflite(model, tmp_path / "q.tflite", quantize="dynamic"))
    assert np.int8 in {d["dtype"] for d in quantized.get_tensor_details()}  # int8 weights
    y = quantized.get_signature_runner()(images=x)["images"]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, _keras(model, x), rtol=0, atol=0.05)


# --------------------------------------------------------------------------------------
# ONNX, OpenVINO and full-integer TFLite, run where keras_perceptual cannot be imported
# --------------------------------------------------------------------------------------

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "tf2onnx", "onnxruntime"))
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
requires_onnx = pytest.mark.skipif(not HAS_ONNX, reason="needs the [export] extra (onnx)")
requires_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="needs the [export] extra")

RUNTIME_CHILD = textwrap.dedent(
    """
    import importlib.util, pickle, sys, warnings

    workdir, paths = sys.argv[1], sys.argv[2:]
    sys.path[:0] = paths
    sys.modules["keras"] = sys.modules["tf_keras"] = sys.modules["keras_perceptual"] = None
    warnings.simplefilter("ignore")
    import numpy as np

    with open(workdir + "/job.pkl", "rb") as f:
        job = pickle.load(f)

    def session(kind, path):
        if kind == "onnx":
            import onnxruntime as ort

            s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            meta = s.get_modelmeta().custom_metadata_map.get("keras_perceptual")
            io = ([(i.name, i.shape, i.type) for i in s.get_inputs()],
                  [(o.name, o.shape, o.type) for o in s.get_outputs()])
            return (lambda x: s.run(None, {"images": x})[0]), meta, io
        if kind == "openvino":
            import openvino as ov

            core = ov.Core()
            model = core.read_model(path + "/model.xml")
            meta = model.get_rt_info(["keras_perceptual"]).astype(str)
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            io = ([(sorted(p.get_names()), str(p.get_partial_shape()), p.get_element_type().get_type_name())
                   for p in compiled.inputs],
                  [(sorted(p.get_names()), str(p.get_partial_shape()), p.get_element_type().get_type_name())
                   for p in compiled.outputs])
            return (lambda x: compiled(x)[0]), None if meta is None else meta, io
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=path)
        runner = interpreter.get_signature_runner()
        io = (list(runner.get_input_details()), list(runner.get_output_details()))
        return (lambda x: runner(images=x)["images"]), None, io

    result = {"outputs": {}, "errors": {}, "meta": {}, "io": {}}
    for key, (kind, path) in job["artifacts"].items():
        run, meta, io = session(kind, path)
        result["meta"][key], result["io"][key] = meta, io
        for name, x in job["inputs"][key].items():
            result["outputs"][key, name] = np.asarray(run(x))
        for name, x in job["bad"].items():
            try:
                run(x)
                result["errors"][key, name] = None
            except Exception as error:
                result["errors"][key, name] = (type(error).__module__, type(error).__name__,
                                               str(error)[:300])
    result["keras_perceptual_imported"] = any(
        m.split(".")[0] == "keras_perceptual" and sys.modules[m] is not None for m in sys.modules
    )
    with open(workdir + "/result.pkl", "wb") as f:
        pickle.dump(result, f)
    """
)


def _runtime_site_dirs(root: pathlib.Path) -> list[str]:
    names = ["numpy", "onnxruntime", "openvino", "tensorflow"]
    mirrors, sources = [], []
    for name in names:
        folder = pathlib.Path(importlib.util.find_spec(name).origin).parent.parent
        if folder not in sources:
            sources.append(folder)
    for i, source in enumerate(sources):
        mirror = root / f"rt_site{i}"
        mirror.mkdir()
        for entry in source.iterdir():
            if entry.name.startswith(("keras_perceptual", "__editable__")) or entry.suffix == ".pth":
                continue
            (mirror / entry.name).symlink_to(entry)
        mirrors.append(str(mirror))
    return mirrors


def _run_clean_process(workdir: pathlib.Path, job: dict) -> dict:
    with open(workdir / "job.pkl", "wb") as f:
        pickle.dump(job, f)
    command = [sys.executable, "-I", "-S", "-c", RUNTIME_CHILD, str(workdir),
               *_runtime_site_dirs(workdir)]
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(workdir / "result.pkl", "rb") as f:
        return pickle.load(f)


#: Every custom layer of the networks, in two tiny models: reflection padding, pad-to-multiple
#: and crop, instance normalization, transposed up-sampling and the bounded output (style);
#: batch normalization, sub-pixel (depth-to-space) up-sampling, the bicubic skip and a
#: (-1, 1) range (SR).
FORMAT_NETS = {
    "style": lambda: style_transfer_net(**TINY_STYLE),
    "sr": lambda: super_resolution_net(
        4, upsampling="subpixel", skip="bicubic", value_range=(-1.0, 1.0), **TINY_SR
    ),
}


@pytest.fixture(scope="module")
def formats(tmp_path_factory):
    """Every format of both nets, exported once and run in one clean process."""
    from keras_perceptual.export import export_onnx, export_openvino

    keras.utils.set_random_seed(11)
    base = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(5)
    nets, artifacts, inputs, metrics = {}, {}, {}, {}
    for key, build in FORMAT_NETS.items():
        model = nets[key] = build()
        # Train-like weights: batch-norm statistics away from their initial values.
        if key == "sr":
            for layer in model.layers:
                for weight in layer.weights:
                    if "moving" in weight.path:
                        weight.assign(np.abs(rng.normal(0.5, 0.2, weight.shape)).astype("float32"))
        low, high = model_value_range(model)
        batch = {n: (rng.random((b, 37, 53, 3), dtype=np.float32) * (high - low) + low)
                 for n, b in (("one", 1), ("three", 3))}
        calibration = rng.random((10, 40, 40, 3), dtype=np.float32) * (high - low) + low
        artifacts[f"{key}_onnx"] = ("onnx", export_onnx(model, base / f"{key}.onnx"))
        artifacts[f"{key}_openvino"] = ("openvino", export_openvino(model, base / f"{key}_ov"))
        artifacts[f"{key}_tflite"] = ("tflite", export_tflite(model, base / f"{key}.tflite"))
        int8 = export_tflite(model, base / f"{key}_int8.tflite", quantize="int8",
                             representative_images=calibration)
        artifacts[f"{key}_int8"] = ("tflite", int8)
        metrics[key] = int8.metrics
        for name in ("onnx", "openvino", "tflite", "int8"):
            inputs[f"{key}_{name}"] = batch
    bad = {
        "rank3": np.zeros((37, 53, 3), np.float32),
        "channels4": np.zeros((1, 37, 53, 4), np.float32),
        "float64": np.zeros((1, 37, 53, 3), np.float64),
        "uint8": np.zeros((1, 37, 53, 3), np.uint8),
    }
    plain = {key: (kind, str(path)) for key, (kind, path) in artifacts.items()}  # no ExportResult
    result = _run_clean_process(base, {"artifacts": plain, "inputs": inputs, "bad": bad})
    return {"nets": nets, "artifacts": artifacts, "inputs": inputs, "result": result,
            "metrics": metrics}


@pytest.mark.slow
@requires_onnx
@requires_openvino
def test_clean_process_never_imported_keras_perceptual(formats):
    assert formats["result"]["keras_perceptual_imported"] is False


@pytest.mark.slow
@requires_onnx
@requires_openvino
@pytest.mark.parametrize("key", list(FORMAT_NETS))
@pytest.mark.parametrize("fmt", ["onnx", "openvino", "tflite"])
def test_float32_formats_match_keras_in_a_clean_process(formats, key, fmt):
    model = formats["nets"][key]
    for name, x in formats["inputs"][f"{key}_{fmt}"].items():
        got = formats["result"]["outputs"][f"{key}_{fmt}", name]
        want = _keras(model, x)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.slow
@requires_onnx
@requires_openvino
@pytest.mark.parametrize("key", list(FORMAT_NETS))
def test_int8_tflite_psnr_reported_and_measured_again(formats, key):
    model = formats["nets"][key]
    low, high = model_value_range(model)
    metrics = formats["metrics"][key]
    assert metrics["held_out_images"] == 2 and metrics["calibration_images"] == 8
    assert 20.0 < metrics["psnr_db_min"] <= metrics["psnr_db"]
    for name, x in formats["inputs"][f"{key}_int8"].items():
        got = formats["result"]["outputs"][f"{key}_int8", name]
        want = _keras(model, x)
        assert got.dtype == np.float32 and got.shape == want.shape
        # Dequantized int8: within the value range up to one output quantization step
        # (the README says so; seen: -1.003 for (-1, 1)).
        step = (high - low) / 255
        assert np.all(got >= low - step) and np.all(got <= high + step)
        psnr = 10 * np.log10((high - low) ** 2 / np.mean((got - want) ** 2))
        assert psnr > 20.0, psnr


@pytest.mark.slow
@requires_onnx
@requires_openvino
def test_names_dynamic_shapes_and_metadata(formats):
    result = formats["result"]
    inputs, outputs = result["io"]["style_onnx"]
    assert inputs == [("images", ["batch", "height", "width", 3], "tensor(float)")]
    assert outputs == [("output_images", ["batch", "out_height", "out_width", 3], "tensor(float)")]
    for key in ("style_openvino", "sr_openvino"):  # no stray int32 scalar outputs
        inputs, outputs = result["io"][key]
        assert inputs == [(["images"], "[?,?,?,3]", "f32")]
        assert len(outputs) == 1 and outputs[0][0] == ["output_images"] and outputs[0][2] == "f32"
    for key in ("style_onnx", "style_openvino"):
        meta = json.loads(result["meta"][key])
        assert meta["value_range"] == [0.0, 1.0] and meta["multiple"] == 4
        assert meta["min_size"] == 5 and meta["instance_normalization"] is True
    assert json.loads(result["meta"]["sr_onnx"])["value_range"] == [-1.0, 1.0]


@pytest.mark.slow
@requires_onnx
@requires_openvino
def test_wrong_inputs_fail_with_the_runtimes_own_errors(formats):
    """What the README documents. ONNX Runtime: InvalidArgument for a wrong rank, channel
    count or dtype. OpenVINO: RuntimeError for a wrong rank or channel count; float64 and
    uint8 arrays are converted to float32 by its Python API (uint8 0-255 then is out of range:
    ``keras_perceptual.runtimes`` refuses it). TFLite: RuntimeError for a wrong rank or channel
    count (a kernel fails to prepare), ValueError for another dtype."""
    errors = formats["result"]["errors"]
    for bad in ("rank3", "channels4", "float64", "uint8"):
        module, name, message = errors["style_onnx", bad]
        assert module.startswith("onnxruntime") and "INVALID_ARGUMENT" in message, message
    for bad in ("rank3", "channels4"):
        assert errors["style_openvino", bad][1] == "RuntimeError", errors["style_openvino", bad]
        assert errors["style_tflite", bad][1] == "RuntimeError", errors["style_tflite", bad]
    for bad in ("float64", "uint8"):
        assert errors["style_openvino", bad] is None
        module, name, message = errors["style_tflite", bad]
        assert name == "ValueError" and "expected type FLOAT32" in message, message


# --------------------------------------------------------------------------------------
# Networks with more inputs: multi-style (style_weights) and arbitrary-style (style image)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def style_exports(tmp_path_factory, data):
    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    multi = multi_style_transfer_net(3, **TINY_STYLE)
    rng = np.random.default_rng(5)
    for w in multi.weights:  # distinct styles
        w.assign((rng.standard_normal(tuple(w.shape)) * 0.3
                  + (1.0 if w.path.endswith("gamma") else 0.0)).astype("float32"))
    adain = arbitrary_style_net(weights=None, backbone="vgg16", filters=4)
    nets = {"multi": multi, "adain": adain}
    base = tmp_path_factory.mktemp("style_exports")
    paths = {key: export_for_serving(model, base / key) for key, model in nets.items()}
    u8 = rng.integers(0, 256, (2, 20, 27, 3), dtype=np.uint8)
    style_u8 = rng.integers(0, 256, (2, 24, 16, 3), dtype=np.uint8)
    weights = np.array([[1, 0, 0], [0.2, 0.3, 0.5]], "float32")
    extras = {
        "multi": {"float": {"style_weights": weights}, "uint8": {"style_weights": weights},
                  "encoded": {"style_weights": weights}},
        "adain": {"float": {"style": style_u8.astype("float32") / 255.0},
                  "uint8": {"style": style_u8},
                  "encoded": {"style_bytes": np.array([_png(s) for s in style_u8], object)}},
    }  # fmt: skip
    calls = []
    for key in nets:
        calls += [
            ((key, "serving_default"), key, "serving_default",
             {"images": u8.astype("float32") / 255.0, **extras[key]["float"]}),
            ((key, "serve_uint8"), key, "serve_uint8", {"images": u8, **extras[key]["uint8"]}),
            ((key, "serve_encoded"), key, "serve_encoded",
             {"image_bytes": np.array([_png(i) for i in u8], object), **extras[key]["encoded"]}),
        ]  # fmt: skip
    job = {"exports": {k: str(p) for k, p in paths.items()}, "calls": calls, "requests": []}
    result = _run_server_child(tmp_path_factory.mktemp("style_server"), job)
    keras_inputs = {
        "multi": [u8.astype("float32") / 255.0, weights],
        "adain": [u8.astype("float32") / 255.0, style_u8.astype("float32") / 255.0],
    }
    return {"nets": nets, "paths": paths, "result": result, "inputs": keras_inputs}


@pytest.mark.slow
def test_style_exports_take_the_extra_inputs(style_exports):
    signatures = style_exports["result"]["signatures"]
    image = (None, None, None, 3)
    assert signatures["multi"]["serving_default"]["inputs"] == {
        "images": ("float32", image), "style_weights": ("float32", (None, 3))
    }
    assert signatures["multi"]["serve_encoded"]["inputs"] == {
        "image_bytes": ("string", (None,)), "style_weights": ("float32", (None, 3))
    }
    assert signatures["adain"]["serve_uint8"]["inputs"] == {
        "images": ("uint8", image), "style": ("uint8", image)
    }
    assert signatures["adain"]["serve_encoded"]["inputs"] == {
        "image_bytes": ("string", (None,)), "style_bytes": ("string", (None,))
    }
    assert style_exports["result"]["modules"] == {"keras": True, "tf_keras": True}
    calls = style_exports["result"]["calls"]
    for key, model in style_exports["nets"].items():
        expected = _keras(model, style_exports["inputs"][key])
        np.testing.assert_allclose(calls[(key, "serving_default")]["images"], expected, atol=1e-5)
        u8 = _to_uint8(expected, (0.0, 1.0))
        assert np.abs(calls[(key, "serve_uint8")]["images"].astype(int) - u8).max() <= 1
        for blob, row in zip(calls[(key, "serve_encoded")]["image_bytes"], u8, strict=True):
            assert np.abs(tf.io.decode_png(blob).numpy().astype(int) - row).max() <= 1


@pytest.mark.slow
def test_saved_model_cli_shows_the_style_inputs(style_exports):
    cli = _saved_model_cli()
    if cli is None:
        pytest.skip("saved_model_cli (installed with tensorflow) not found")
    out = subprocess.run([cli, "show", "--dir", str(style_exports["paths"]["multi"]), "--all"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    block = out.split("signature_def['serving_default']:")[1].split("signature_def[")[0]
    assert "inputs['style_weights'] tensor_info:" in block and "shape: (-1, 3)" in block


# --- Decoding in the serving graph: the contract of images.read_rgb. ---


def _check_decode_upright(paths):
    import tensorflow as tf

    from keras_perceptual.images import read_rgb

    for path in paths:
        data = tf.constant(path.read_bytes())
        decoded = export.decode_upright(data).numpy()
        np.testing.assert_array_equal(decoded, read_rgb(str(path), dtype=np.uint16),
                                      err_msg=path.name)
        if path.name.startswith("orientation"):
            assert int(export.exif_orientation(data)) == int(path.stem[-1])


@requires_tf
def test_decode_upright_turns_the_phone_portrait_upright(tricky_image_files):
    """A 40x24 JPEG with EXIF Orientation=6 is 24x40 in the serving graph too (it was
    40x24); 16-bit PNGs keep 16 bits."""
    import tensorflow as tf

    paths = {p.name: p for p in tricky_image_files[0]}
    _check_decode_upright([paths["orientation6.jpg"], paths["rgb16.png"]])
    upright = export.decode_upright(tf.constant(paths["orientation6.jpg"].read_bytes()))
    assert upright.shape == (40, 24, 3)


@requires_tf
@pytest.mark.slow  # thirteen files through the EXIF parser's eager TensorFlow ops
def test_decode_upright_matches_the_library_reader(tricky_image_files):
    """Every orientation 1-8; palette, alpha, CMYK and grayscale as Pillow."""
    _check_decode_upright(tricky_image_files[0])


def test_tflite_refuses_networks_with_extra_inputs_and_names_the_exports_that_take_them(
    tmp_path,
):
    from keras_perceptual.errors import InputError
    from keras_perceptual.models import multi_style_transfer_net

    multi = multi_style_transfer_net(2, filters=4, num_residual_blocks=1)
    with pytest.raises(InputError) as info:
        export_tflite(multi, tmp_path / "multi.tflite")
    message = str(info.value)
    assert "2 inputs" in message and "style_weights" in message
    assert "export_onnx" in message and "subclassed" not in message
    assert not (tmp_path / "multi.tflite").exists()


# --- Bad arguments of the wrong kind: one InputError naming the argument -----------------


def test_base_dir_that_is_a_file_or_not_a_path_is_named(tmp_path):
    # Before: FileExistsError from os.makedirs (an "internal error" in the CLI), and
    # existing_versions(None) a bare TypeError.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    net = style_transfer_net(filters=4, num_residual_blocks=1)
    with pytest.raises(InputError, match=r"base_dir is an existing file.*Received: base_dir="):
        export_for_serving(net, notes)
    with pytest.raises(InputError, match="Received: base_dir=None"):
        export.existing_versions(None)


# --- Output locations: unwritable, occupied, or holding another export -------------------


def _no_conversion(monkeypatch):
    """Makes any conversion fail loudly, so a test sees whether the path checks passed."""

    def never(*args, **kwargs):
        raise AssertionError("conversion started")

    for name in ("_portable", "_float32_copy", "_write_archive"):
        monkeypatch.setattr(export, name, never)


def _folder_with(folder, *names):
    """``folder`` (created) holding an empty file of each name."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def test_an_output_location_that_cannot_be_written_is_said_before_converting(
        nets, tmp_path, monkeypatch):
    """Was: under a file, FileExistsError '[Errno 17] File exists' (as if the output existed)
    or NotADirectoryError; in a folder the process cannot write, FileNotFoundError about a
    temporary name, after the conversion had run."""
    from keras_perceptual.export import export_onnx, export_openvino

    _no_conversion(monkeypatch)
    notes = tmp_path / "notes.txt"
    notes.write_text("a file")
    calls = {
        "path": [(export_onnx, "m.onnx"), (export_tflite, "m.tflite"),
                 (export_openvino, "m_openvino")],
        "base_dir": [(export_for_serving, "serving")],
    }
    for name, exporters in calls.items():
        for exporter, leaf in exporters:
            with pytest.raises(InputError, match=(
                    rf"{name} cannot be written: '.*notes.txt' is a file, not a folder.*"
                    rf"Received: {name}=")):
                exporter(nets["style"], notes / "sub" / leaf)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", read_only)
    for name, exporters in calls.items():
        for exporter, leaf in exporters:
            with pytest.raises(InputError, match=(
                    rf"{name} cannot be written: .*\(Permission denied\); choose a writable")):
                exporter(nets["style"], tmp_path / "ro" / leaf)


@requires_onnx
@requires_openvino
def test_overwrite_is_explicit_for_the_file_and_folder_exporters(nets, tmp_path, monkeypatch):
    """overwrite=True (the default, as keras.Model.save) replaces an earlier export;
    overwrite=False refuses (was: no way to refuse, and a non-bool was not checked)."""
    from keras_perceptual.export import export_onnx, export_openvino

    _no_conversion(monkeypatch)
    (tmp_path / "m.onnx").write_bytes(b"old")
    (tmp_path / "m.tflite").write_bytes(b"old")
    _folder_with(tmp_path / "ir", "model.xml", "model.bin")
    for exporter, path in ((export_onnx, tmp_path / "m.onnx"),
                           (export_tflite, tmp_path / "m.tflite"),
                           (export_openvino, tmp_path / "ir"),
                           (export_openvino, tmp_path / "ir" / "model.xml")):
        with pytest.raises(FileExistsError, match=r"already exists.*overwrite=True"):
            exporter(nets["style"], path, overwrite=False)
        with pytest.raises(AssertionError, match="conversion started"):
            exporter(nets["style"], path)  # the default replaces it
        with pytest.raises(InputError, match="overwrite must be True or False"):
            exporter(nets["style"], path, overwrite="no")
    assert (tmp_path / "m.onnx").read_bytes() == b"old"


@requires_openvino
def test_openvino_is_not_mixed_into_a_folder_holding_other_files(nets, tmp_path, monkeypatch):
    """Was: model.xml + model.bin written beside a SavedModel, photos or another IR."""
    from keras_perceptual.export import export_openvino

    _no_conversion(monkeypatch)
    saved = _folder_with(tmp_path / "serving" / "1", "saved_model.pb")
    photos = _folder_with(tmp_path / "photos", "a.jpg")
    other = _folder_with(tmp_path / "other_ir", "net.xml", "net.bin")
    for folder, shown in ((saved, "saved_model.pb"), (photos, "a.jpg"),
                          (other, "net.bin, net.xml")):
        with pytest.raises(InputError, match=(
                rf"path is a folder that already holds other files \({shown}\).*new or empty "
                r"folder.*Received: path=")):
            export_openvino(nets["style"], folder)
        assert "model.xml" not in os.listdir(folder)
    # A .xml path names its own files: other files beside it are left alone.
    with pytest.raises(AssertionError, match="conversion started"):
        export_openvino(nets["style"], photos / "starry.xml")


def test_serving_base_dir_holding_another_export_is_refused(nets, tmp_path, monkeypatch):
    """Was: versions written inside a SavedModel, a Keras run folder or an OpenVINO IR."""
    _no_conversion(monkeypatch)
    saved = _folder_with(tmp_path / "saved", "saved_model.pb")
    keras_run = _folder_with(tmp_path / "run", "model.keras")
    ir = _folder_with(tmp_path / "ir", "model.xml")
    for folder, found in ((saved, "is itself a SavedModel"), (keras_run, "holds a Keras model"),
                          (ir, "holds an OpenVINO IR")):
        for version in (None, 3):
            with pytest.raises(InputError, match=rf"base_dir {found}.*Received: base_dir="):
                export_for_serving(nets["style"], folder, version)
    assert sorted(os.listdir(saved)) == ["saved_model.pb"]
    # A numbered SavedModel folder is still that version (overwrite says whether to replace).
    numbered = _folder_with(tmp_path / "base" / "4", "saved_model.pb")
    with pytest.raises(FileExistsError, match="Version 4 already exists"):
        export_for_serving(nets["style"], numbered)


def test_int8_calibration_arrays_outside_the_value_range_are_refused(nets, tmp_path, monkeypatch):
    """Was: 0..255 floats for a (0, 1) model and NaN images calibrated silently (NaN PSNR);
    uint8 pixels were refused without saying how to convert them."""
    _no_conversion(monkeypatch)
    good = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    cases = {
        r"must be in the model's value_range=\(0.0, 1.0\).*images / 255.*in \[0.*, 25": good * 255,
        r"NaN or infinite.*Received: .* [1-9][0-9]* non-finite": np.where(good > 0.995, np.nan, good).astype("float32"),
        r"float array \(N, H, W, 3\).*not uint8 pixels.*astype\('float32'\) / 255":
            (good * 255).astype("uint8"),
    }
    for match, images in cases.items():
        with pytest.raises(InputError, match=match):
            export_tflite(nets["style"], tmp_path / "q.tflite", quantize="int8",
                          representative_images=images)
    with pytest.raises(InputError, match=r"value_range=\(-1.0, 1.0\).*in \[0.*, 1.4"):
        export_tflite(nets["sr"], tmp_path / "q.tflite", quantize="int8",
                      representative_images=np.concatenate([good, good + 0.5]))
    with pytest.raises(AssertionError, match="conversion started"):  # in range: accepted
        export_tflite(nets["sr"], tmp_path / "q.tflite", quantize="int8",
                      representative_images=(good * 2 - 1).astype("float64"))


def test_an_onnx_opset_the_converter_does_not_know_is_refused(nets, tmp_path, monkeypatch):
    """Was: tf2onnx's "ValueError: make_sure failure: Opset 99 is not supported yet"."""
    pytest.importorskip("tf2onnx")
    from keras_perceptual.export import export_onnx

    _no_conversion(monkeypatch)
    newest = export._newest_onnx_opset()
    with pytest.raises(InputError, match=rf"opset must be from 13 to {newest}.*opset={newest + 1}"):
        export_onnx(nets["style"], tmp_path / "m.onnx", opset=newest + 1)
    with pytest.raises(AssertionError, match="conversion started"):
        export_onnx(nets["style"], tmp_path / "m.onnx", opset=newest)


def test_serving_signatures_refuse_non_rgb_and_empty_batches_clearly(loaded_style):
    """Was: TensorFlow's "input depth must be evenly divisible by filter depth: 1 vs 3" and
    "paddings must be less than the dimension size: 0, 0 not less than 0"."""
    sig = loaded_style.signatures
    rgb = r"must be RGB, \(batch, height, width, 3\).*np.repeat"
    _invalid(sig["serving_default"], rgb, images=tf.zeros((1, 9, 9, 1)))
    _invalid(sig["serve_uint8"], rgb, images=tf.zeros((1, 9, 9, 4), tf.uint8))
    empty = r"holds no images \(batch 0\)"
    _invalid(sig["serving_default"], empty, images=tf.zeros((0, 9, 9, 3)))
    _invalid(sig["serve_uint8"], empty, images=tf.zeros((0, 9, 9, 3), tf.uint8))


def test_serving_checks_the_inputs_after_the_image_against_the_images():
    """Was: style_weights of another width, or fewer rows than images in serve_encoded,
    failed with "Matrix size-incompatible: In[0]: [2,2], In[1]: [3,4]" and "Trying to access
    element 1 in a list with 1 elements" (the signature's shapes are not enforced). Run
    eagerly on the signature functions: the same ops the SavedModel holds."""
    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    multi = export._Serving(multi_style_transfer_net(3, filters=4, num_residual_blocks=1),
                            100_000, -1, 5)
    images = tf.zeros((2, 9, 9, 3))
    weights = tf.fill((2, 3), 1 / 3)
    assert multi.serving_default(images, weights)["images"].shape == (2, 9, 9, 3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"serving_default: style_weights must have shape \(batch, 3\)"):
        multi.serving_default(images, tf.fill((2, 2), 0.5))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"serve_encoded: style_weights must hold one row per image"):
        multi.serve_encoded(tf.constant([_png(np.zeros((9, 9, 3), np.uint8))] * 2), weights[:1])
    adain = export._Serving(arbitrary_style_net(weights=None, backbone="vgg16", filters=4),
                            100_000, -1, 16)
    images = tf.zeros((2, 16, 16, 3), tf.uint8)
    style = tf.zeros((1, 8, 8, 3), tf.uint8)
    assert adain.serve_uint8(images, style)["images"].shape == (2, 16, 16, 3)  # one for all
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"serve_uint8: style must hold one image per image, or one for"):
        adain.serve_uint8(images, tf.zeros((3, 8, 8, 3), tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"serve_uint8: the style images must be RGB"):
        adain.serve_uint8(images, tf.zeros((1, 8, 8, 1), tf.uint8))


# --------------------------------------------------------------------------------------
# The converter's and interpreter's C++ lines (keras_perceptual._console.quiet_native_output)
# --------------------------------------------------------------------------------------

NOISE_LINE = b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n"
XNNPACK_LINE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"


def test_int8_export_prints_none_of_the_converters_lines(nets, tmp_path, capfd, monkeypatch):
    """Was: ``fully_quantize: 0, inference_type: 6, ...`` (and the XNNPACK delegate's INFO
    line) on the terminal at every int8 export, written by C++ to file descriptor 2."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    result = export_tflite(nets["style"], tmp_path / "q.tflite", quantize="int8",
                           representative_images=images)
    assert result.metrics["held_out_images"] == 1
    out, err = capfd.readouterr()
    assert "fully_quantize" not in out + err and "XNNPACK" not in out + err, out + err


def test_quiet_native_output_hides_only_the_converters_lines(capfd, monkeypatch):
    from keras_perceptual._console import quiet_native_output

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with quiet_native_output() as hiding:
        os.write(2, NOISE_LINE + b"W0000 a warning of the user's model\n" + XNNPACK_LINE)
        os.write(1, b"kept on stdout\n" + NOISE_LINE)
    assert hiding
    os.write(2, b"written after\n")  # the descriptors are restored
    out, err = capfd.readouterr()
    assert out == "kept on stdout\n"
    assert err == "W0000 a warning of the user's model\nwritten after\n"


def test_a_failed_conversion_shows_everything_the_converter_printed(capfd, monkeypatch):
    from keras_perceptual._console import quiet_native_output

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with pytest.raises(RuntimeError, match="conversion failed"):
        with quiet_native_output():
            os.write(2, NOISE_LINE + b"error: 'tf.Foo' op is neither a custom op nor a flex op\n")
            raise RuntimeError("conversion failed")
    err = capfd.readouterr().err
    assert err == NOISE_LINE.decode() + "error: 'tf.Foo' op is neither a custom op nor a flex op\n"


def test_quiet_native_output_under_python_level_capture_nesting_and_log_level(
    capsys, monkeypatch
):
    """sys.stdout/sys.stderr without a file descriptor (pytest's capsys, a notebook): the
    lines written to the descriptors come back through them. A nested (or another
    thread's) capture leaves it to the one in place. TF_CPP_MIN_LOG_LEVEL=0 shows all."""
    from keras_perceptual._console import quiet_native_output

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with quiet_native_output() as outer:
        with quiet_native_output() as inner:
            os.write(2, NOISE_LINE + b"kept\n")
    assert (outer, inner) == (True, False)
    assert capsys.readouterr().err == "kept\n"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with quiet_native_output() as hiding:
        pass
    assert not hiding
