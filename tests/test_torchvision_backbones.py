"""torchvision's VGG16 / AlexNet in Keras (torchvision_backbones.py): architecture, L2
pooling, weights from .pth files (both formats) and converted Keras files, and the
ImageNet download-and-convert path against a local HTTP server (checksum mismatch and a
truncated download included).

Numerical agreement of the features with PyTorch is covered end to end by the LPIPS and
DISTS fixture tests (the same seeded weights, read from a legacy .pth).
"""

from __future__ import annotations

import hashlib
import http.server
import threading

import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy
from torch_files import random_torchvision_state_dict, write_torch_file

from keras_perceptual import torchvision_backbones as tvb
from keras_perceptual.errors import InputError
from keras_perceptual.torchvision_backbones import (
    L2Pooling2D,
    convert_torchvision_weights,
    torchvision_backbone,
    torchvision_min_image_size,
)
from keras_perceptual.weights import WeightsUnavailableError

ALEX_TAPS = ["relu1", "relu2", "relu5", "pool5"]


@pytest.fixture(scope="module")
def alexnet_state():
    return random_torchvision_state_dict("alexnet", 7)


@pytest.fixture(scope="module")
def alexnet_pth(alexnet_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("alexnet") / "alexnet-owt-test.pth"
    write_torch_file(path, alexnet_state, legacy=True)  # the published files' format
    return path


@pytest.fixture
def probe(rng):
    return rng.standard_normal((1, 67, 65, 3)).astype("float32")


def torch_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


# --- Architecture. ---


def test_alexnet_shapes_follow_pytorch_arithmetic(probe):
    out = torchvision_backbone("alexnet", ALEX_TAPS, weights=None)(probe)
    h, w = torch_size(67, 11, 4, 2), torch_size(65, 11, 4, 2)
    assert out["relu1"].shape == (1, h, w, 64)
    h, w = torch_size(h, 3, 2, 0), torch_size(w, 3, 2, 0)
    assert out["relu2"].shape == (1, h, w, 192)
    h, w = torch_size(h, 3, 2, 0), torch_size(w, 3, 2, 0)
    assert out["relu5"].shape == (1, h, w, 256)
    assert out["pool5"].shape == (1, torch_size(h, 3, 2, 0), torch_size(w, 3, 2, 0), 256)


def test_vgg16_names_truncation_and_l2_pooling():
    net = torchvision_backbone("vgg16", ["relu2_2", "block1_conv1"], weights=None)
    assert [layer.name for layer in net.layers][-1] == "block2_conv2"  # truncated
    out = net(np.zeros((1, 33, 31, 3), "float32"))
    assert out["relu2_2"].shape == (1, 16, 15, 128) and out["block1_conv1"].shape[-1] == 64
    l2 = torchvision_backbone("vgg16", "relu3_3", weights=None, pooling="l2")
    assert l2(np.zeros((1, 33, 31, 3), "float32"))["relu3_3"].shape == (1, 9, 8, 256)  # ceil
    assert not net.trainable and not net.trainable_weights


def test_minimum_sizes():
    assert [torchvision_min_image_size(t, "alexnet") for t in ("relu1", "relu2", "relu5")] == [7, 15, 31]
    assert torchvision_min_image_size("relu5_3", "vgg16") == 16
    assert torchvision_min_image_size("relu5_3", "vgg16", pooling="l2") == 1


def numpy_l2_pooling(x):
    window = np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5])
    window /= window.sum()
    padded = np.pad(x.astype("float64") ** 2, ((0, 0), (1, 1), (1, 1), (0, 0)))
    b, h, w, c = x.shape
    out = np.zeros((b, (h + 1) // 2, (w + 1) // 2, c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            patch = padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            out[:, i, j] = (patch * window[None, :, :, None]).sum((1, 2))
    return np.sqrt(out + 1e-12)


def test_l2_pooling_matches_numpy_and_has_finite_gradients(rng):
    x = rng.standard_normal((2, 7, 6, 5)).astype("float32")
    np.testing.assert_allclose(to_numpy(L2Pooling2D()(x)), numpy_l2_pooling(x), rtol=1e-5)
    assert L2Pooling2D().compute_output_shape((None, 7, 6, 5)) == (None, 4, 3, 5)
    grad = gradient(lambda v: keras.ops.sum(L2Pooling2D()(v)), np.zeros_like(x))
    assert np.isfinite(grad).all()
    layer = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(L2Pooling2D()))
    assert isinstance(layer, L2Pooling2D)


@pytest.mark.parametrize("kwargs, match", [
    ({"backbone": "resnet50"}, "backbone must be one of 'vgg16', 'alexnet'"),
    ({"backbone": "alexnet", "layers": "relu2_2"}, "Unknown torchvision alexnet layer 'relu2_2'"),
    ({"backbone": "alexnet", "pooling": "l2"}, "pooling='l2' .DISTS. is defined for VGG16 only"),
    ({"layers": []}, "non-empty list"),
    ({"weights": "resnet"}, "does not exist"),
    ({"weights": "."}, r"weights file '\.' is a folder, not a file; pass a torchvision"),
    ({"weights": 1.5}, "weights must be 'imagenet', None or a path"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        torchvision_backbone(**{"weights": None, **kwargs})


# --- Weights from files. ---


@pytest.mark.slow
def test_pth_in_both_formats_and_converted_weights_give_the_same_network(
        tmp_path, alexnet_state, alexnet_pth, probe):
    legacy = torchvision_backbone("alexnet", ALEX_TAPS, weights=alexnet_pth)(probe)
    zip_path = tmp_path / "zip.pth"
    features_only = {k[len("features."):]: v for k, v in alexnet_state.items()}
    write_torch_file(zip_path, features_only)  # model.features.state_dict(), zip format
    converted = convert_torchvision_weights(alexnet_pth, tmp_path / "alex.weights.h5", "alexnet")
    random = torchvision_backbone("alexnet", ALEX_TAPS, weights=None)(probe)
    for weights in (zip_path, converted):
        other = torchvision_backbone("alexnet", ALEX_TAPS, weights=weights)(probe)
        for tap in ALEX_TAPS:
            np.testing.assert_array_equal(to_numpy(other[tap]), to_numpy(legacy[tap]))
    assert not np.allclose(to_numpy(random["relu1"]), to_numpy(legacy["relu1"]))
    # Keras' own loader reads the converted file too.
    model = torchvision_backbone("alexnet", "pool5", weights=None)
    model.load_weights(converted)
    np.testing.assert_array_equal(to_numpy(model(probe)["pool5"]), to_numpy(legacy["pool5"]))


def test_first_convolution_is_pytorch_cross_correlation(alexnet_state, alexnet_pth, rng):
    """conv1 (11x11, stride 4, padding 2) + ReLU against a direct numpy evaluation."""
    x = rng.standard_normal((1, 31, 35, 3)).astype("float32")
    ours = to_numpy(torchvision_backbone("alexnet", "relu1", weights=alexnet_pth)(x)["relu1"])
    kernel, bias = alexnet_state["features.0.weight"], alexnet_state["features.0.bias"]
    padded = np.pad(x[0].astype("float64"), ((2, 2), (2, 2), (0, 0)))
    expected = np.zeros(ours.shape[1:])
    for i in range(expected.shape[0]):
        for j in range(expected.shape[1]):
            patch = padded[4 * i:4 * i + 11, 4 * j:4 * j + 11]  # (11, 11, 3)
            expected[i, j] = np.einsum("hwc,ochw->o", patch, kernel) + bias
    np.testing.assert_allclose(ours[0], np.maximum(expected, 0), atol=2e-5)


@pytest.mark.slow
def test_files_that_do_not_fit_are_refused(tmp_path, alexnet_pth):
    with pytest.raises(InputError, match=r"torchvision vgg16 has \(64, 3, 3, 3\).*pass a vgg16"):
        torchvision_backbone("vgg16", weights=alexnet_pth)
    with pytest.raises(InputError, match="not a torchvision alexnet state dict"):
        torchvision_backbone("alexnet", weights=_write(tmp_path / "lin.pth",
                                                       {"lin0.weight": np.ones(3, "f4")}))
    state = random_torchvision_state_dict("alexnet", 1)
    state["features.3.weight"] = state["features.3.weight"][:, :32]
    bad = tmp_path / "bad.pth"
    write_torch_file(bad, state)
    with pytest.raises(InputError, match=r"features.3.weight of shape \(192, 32, 5, 5\)"):
        torchvision_backbone("alexnet", weights=bad)
    converted = convert_torchvision_weights(alexnet_pth, tmp_path / "a.weights.h5", "alexnet")
    with pytest.raises(InputError, match="does not hold converted torchvision vgg16 weights"):
        torchvision_backbone("vgg16", weights=converted)
    with pytest.raises(InputError, match=r"target must end in \.weights\.h5"):
        convert_torchvision_weights(alexnet_pth, tmp_path / "a.h5", "alexnet")


def _write(path, state):
    write_torch_file(path, state)
    return path


# --- weights="imagenet": download once, check, convert, cache. ---


class Server:
    """Serves files from a dict on 127.0.0.1; ``truncate`` sends half of a file."""

    def __init__(self):
        self.files, self.requests, self.truncate = {}, [], False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                server.requests.append(self.path)
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if server.truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def imagenet(tmp_path, monkeypatch, alexnet_pth):
    """weights="imagenet" for AlexNet served by a local server, with empty caches."""
    server = Server()
    data = alexnet_pth.read_bytes()
    server.files["alexnet-owt-test.pth"] = data
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(tvb.IMAGENET_FILES, "alexnet", (server.url + "alexnet-owt-test.pth",
                                                       hashlib.sha256(data).hexdigest()))
    yield server
    server.close()


def cached_files(tmp_path):
    return sorted(p.name for p in (tmp_path / "keras").rglob("*") if p.is_file())


@pytest.mark.slow
def test_download_checks_converts_once_and_caches(imagenet, tmp_path, alexnet_pth, probe):
    net = torchvision_backbone("alexnet", "relu2", weights="imagenet")
    expected = torchvision_backbone("alexnet", "relu2", weights=alexnet_pth)
    np.testing.assert_array_equal(to_numpy(net(probe)["relu2"]), to_numpy(expected(probe)["relu2"]))
    assert imagenet.requests == ["/alexnet-owt-test.pth"]
    assert cached_files(tmp_path) == ["alexnet-owt-test.pth", "torchvision_alexnet.json",
                                      "torchvision_alexnet.weights.h5"]
    torchvision_backbone("alexnet", "relu1", weights="imagenet")
    assert len(imagenet.requests) == 1  # cached
    # A damaged conversion is detected and redone from the verified download, offline.
    converted = tmp_path / "keras" / "models" / "keras_perceptual" / "torchvision_alexnet.weights.h5"
    converted.write_bytes(converted.read_bytes()[:1000])
    again = torchvision_backbone("alexnet", "relu2", weights="imagenet")
    np.testing.assert_array_equal(to_numpy(again(probe)["relu2"]),
                                  to_numpy(expected(probe)["relu2"]))
    assert len(imagenet.requests) == 1


@pytest.mark.slow
def test_pytorch_cache_is_used_without_download(imagenet, tmp_path, alexnet_pth):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "alexnet-owt-test.pth").write_bytes(alexnet_pth.read_bytes())
    torchvision_backbone("alexnet", "relu1", weights="imagenet")
    assert imagenet.requests == []


def test_checksum_mismatch_is_refused_and_nothing_is_kept(imagenet, tmp_path):
    name = "alexnet-owt-test.pth"
    imagenet.files[name] = imagenet.files[name][:-1] + b"\x00"
    with pytest.raises(WeightsUnavailableError, match=r"Could not download torchvision's ImageNet "
                       r"alexnet weights from http://127\.0\.0\.1.*weights=None"):
        torchvision_backbone("alexnet", weights="imagenet")
    assert cached_files(tmp_path) == []


@pytest.mark.slow
def test_truncated_download_is_refused_and_nothing_is_kept(imagenet, tmp_path):
    imagenet.truncate = True
    with pytest.raises(WeightsUnavailableError, match=r"weights='/path/to/alexnet-owt-test\.pth'"):
        torchvision_backbone("alexnet", weights="imagenet")
    assert cached_files(tmp_path) == []
    imagenet.truncate = False  # the next attempt succeeds
    torchvision_backbone("alexnet", "relu1", weights="imagenet")
    assert len(imagenet.requests) == 2


def test_unreachable_server_fails_fast_with_the_ways_out(imagenet, monkeypatch):
    monkeypatch.setitem(tvb.IMAGENET_FILES, "alexnet",
                        ("http://127.0.0.1:9/alexnet-owt-test.pth", "0" * 64))
    with pytest.raises(WeightsUnavailableError, match="weights=None"):
        torchvision_backbone("alexnet", weights="imagenet")
