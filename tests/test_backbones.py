import time

import keras
import numpy as np
import pytest
from conftest import SHARED_WEIGHTS, to_numpy

from keras_perceptual import FeatureExtractor, VGGPreprocessing, WeightsUnavailableError
from keras_perceptual import weights as weights_module
from keras_perceptual.backbones import backbone_layer_names, min_image_size, resolve_layer


def test_paper_aliases_resolve_to_keras_names():
    assert resolve_layer("relu2_2") == "block2_conv2"
    assert resolve_layer("pool3") == "block3_pool"
    assert resolve_layer("block4_conv3") == "block4_conv3"
    assert resolve_layer("relu3_4", "vgg19") == "block3_conv4"
    with pytest.raises(ValueError, match=r"Unknown vgg16 layer 'relu3_4'.*block3_conv3"):
        resolve_layer("relu3_4")
    with pytest.raises(ValueError, match="relu2_2"):
        resolve_layer("conv2_2")


def test_min_image_size():
    assert min_image_size("relu1_1") == 1
    assert min_image_size("relu2_2") == 2
    assert min_image_size("pool2") == 4
    assert min_image_size("relu4_3") == 8


def test_outputs_keyed_as_given_and_truncated(images):
    fx = FeatureExtractor(["relu2_2", "block1_conv2", "pool1"], weights=None)
    out = fx(images)
    assert list(out) == ["relu2_2", "block1_conv2", "pool1"]
    assert out["relu2_2"].shape == (2, 16, 16, 128)
    assert out["block1_conv2"].shape == (2, 32, 32, 64)
    assert out["pool1"].shape == (2, 16, 16, 64)
    names = [layer.name for layer in fx.layers]
    assert names[-1] == "block2_conv2"
    assert not any(n.startswith(("block2_pool", "block3", "block4", "block5")) for n in names)


def test_same_tensor_under_both_names(images):
    fx = FeatureExtractor(["relu2_2", "block2_conv2"], weights=None)
    out = fx(images)
    np.testing.assert_array_equal(to_numpy(out["relu2_2"]), to_numpy(out["block2_conv2"]))


def test_frozen():
    fx = FeatureExtractor("relu3_3", weights=None)
    assert fx.trainable is False
    assert fx.trainable_weights == []
    assert len(fx.non_trainable_weights) == 2 * 7


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_preprocessing_is_exactly_keras_preprocess_input(rng, value_range):
    low, high = value_range
    unit = rng.random((2, 8, 8, 3), dtype=np.float32)
    x = unit * (high - low) + low
    ours = to_numpy(VGGPreprocessing(value_range=value_range)(x))
    ref = keras.applications.vgg16.preprocess_input(unit * 255.0)
    np.testing.assert_allclose(ours, to_numpy(ref), atol=1e-3)


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="stand-in weights file not beside the repo")
def test_features_match_keras_applications_vgg16(rng):
    path = str(SHARED_WEIGHTS)
    layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "pool3"]
    fx = FeatureExtractor(layers, weights=path)
    ref = keras.applications.VGG16(include_top=False, weights=path, input_shape=(None, None, 3))
    x = rng.random((2, 48, 40, 3), dtype=np.float32)
    ours = fx(x)
    pre = keras.applications.vgg16.preprocess_input(x * 255.0)
    for layer in layers:
        tap = keras.Model(ref.input, ref.get_layer(resolve_layer(layer)).output)
        expected = to_numpy(tap(pre))
        np.testing.assert_allclose(to_numpy(ours[layer]), expected, rtol=1e-4, atol=1e-3)
        assert np.abs(expected).max() > 1.0  # pretrained-like features, not all zeros


def test_vgg19(images):
    fx = FeatureExtractor(["relu3_4", "relu1_1"], backbone="vgg19", weights=None)
    assert fx(images)["relu3_4"].shape == (2, 8, 8, 256)
    assert "block3_conv4" in [layer.name for layer in fx.layers]
    assert len(backbone_layer_names("vgg19")) == 16 + 5


def test_config_round_trip(images):
    fx = FeatureExtractor({"relu2_2": 1.0, "pool1": 2.0}, weights=None, value_range=(-1, 1))
    config = fx.get_config()
    assert config["layers"] == ["relu2_2", "pool1"]
    assert config["weights"] is None and config["value_range"] == [-1.0, 1.0]
    clone = FeatureExtractor.from_config(config)
    assert list(clone(images)) == ["relu2_2", "pool1"]


def test_submodel_shares_layers(images):
    fx = FeatureExtractor(["relu1_2", "relu3_3"], weights=None)
    sub = fx.submodel(["relu1_2"])
    assert sub.get_layer("block1_conv1") is fx.get_layer("block1_conv1")
    assert "block2_conv1" not in [layer.name for layer in sub.layers]
    np.testing.assert_allclose(
        to_numpy(sub(images)["relu1_2"]), to_numpy(fx(images)["relu1_2"]), rtol=1e-6
    )
    with pytest.raises(ValueError, match="deepest"):
        fx.submodel("relu4_3")


def test_computes_float32_under_mixed_precision(images):
    keras.config.set_dtype_policy("mixed_float16")
    fx = FeatureExtractor("relu2_2", weights=None)
    out = fx(images.astype("float16"))
    assert keras.backend.standardize_dtype(out["relu2_2"].dtype) == "float32"


# --- Bad input. ---


def test_bad_arguments():
    with pytest.raises(ValueError, match="backbone must be one of 'vgg16', 'vgg19'"):
        FeatureExtractor("relu2_2", backbone="resnet50", weights=None)
    with pytest.raises(ValueError, match="low < high"):
        FeatureExtractor("relu2_2", weights=None, value_range=(1, 0))
    with pytest.raises(ValueError, match="pair"):
        FeatureExtractor("relu2_2", weights=None, value_range=1.0)
    with pytest.raises(ValueError, match="empty"):
        FeatureExtractor([], weights=None)
    with pytest.raises(ValueError, match="Unknown vgg16 layer 'fc1'"):
        FeatureExtractor(["fc1"], weights=None)


def test_image_too_small_and_bad_channels():
    fx = FeatureExtractor("relu4_3", weights=None)
    with pytest.raises(ValueError, match="at least 8 px"):
        fx(np.zeros((1, 4, 16, 3), "float32"))
    with pytest.raises(ValueError, match="4 channels; expected 3.*alpha"):
        fx(np.zeros((1, 16, 16, 4), "float32"))
    with pytest.raises(ValueError, match="rank-4"):
        fx(np.zeros((16, 16, 3), "float32"))


def test_missing_weights_file_names_path(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(ValueError, match=str(missing)):
        FeatureExtractor("relu2_2", weights=str(missing))


def test_weights_file_of_another_architecture(tmp_path):
    path = tmp_path / "vgg19.weights.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(str(path))
    with pytest.raises(ValueError, match=r"does not fit keras.applications.VGG16.*13 convolution"):
        FeatureExtractor("relu2_2", weights=str(path))
    not_h5 = tmp_path / "garbage.h5"
    not_h5.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="does not fit"):
        FeatureExtractor("relu2_2", weights=str(not_h5))


def test_imagenet_without_network_fails_fast_with_the_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # Port 9 (discard) on localhost refuses at once; an unroutable host would hit the timeout.
    url, file_hash = weights_module._IMAGENET["vgg16"]
    monkeypatch.setitem(
        weights_module._IMAGENET, "vgg16", ("http://127.0.0.1:9/" + url.rsplit("/", 1)[1], file_hash)
    )
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        FeatureExtractor("relu2_2", weights="imagenet")
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "weights=None" in message and "hed_bsds500" in message and "notop.h5" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)


def test_imagenet_download_respects_timeout(tmp_path, monkeypatch):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection, never answers: a blackholed server
    port = server.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights_module, "DOWNLOAD_TIMEOUT", 1.0)
    monkeypatch.setitem(
        weights_module._IMAGENET, "vgg16", (f"http://127.0.0.1:{port}/w.h5", "0" * 32)
    )
    start = time.monotonic()
    try:
        with pytest.raises(WeightsUnavailableError, match="weights=None"):
            FeatureExtractor("relu2_2", weights="imagenet")
    finally:
        server.close()
    assert time.monotonic() - start < 10


@pytest.mark.slow  # builds, fits, saves and reloads a model with a VGG loss
def test_model_with_extractor_loads_after_the_weights_file_is_gone(tmp_path, images,
                                                                   vgg16_weights_file):
    import shutil

    weights = tmp_path / "vgg.weights.h5"
    shutil.copy(vgg16_weights_file, weights)
    inputs = keras.Input((None, None, 3))
    features = FeatureExtractor("relu1_2", weights=str(weights))(inputs)["relu1_2"]
    model = keras.Model(inputs, features)
    model.save(tmp_path / "m.keras")
    weights.unlink()
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(to_numpy(reloaded(images)), to_numpy(model(images)))
    # Rebuilt alone (no saved weights to load), it refuses to compute with random weights.
    alone = FeatureExtractor.from_config(model.layers[1].get_config())
    with pytest.raises(WeightsUnavailableError, match="vgg.weights.h5"):
        alone(images)


def test_keras_dtype_argument_is_the_compute_dtype(images):
    # Keras' own way to set a layer's precision: FeatureExtractor(dtype="mixed_bfloat16")
    # was accepted and ignored (float32 activations, dtype dropped from the config).
    import json
    import warnings

    from keras_perceptual.errors import InputError
    from keras_perceptual.precision import PrecisionWarning

    with warnings.catch_warnings():  # emulated on CPUs without 16-bit units: test_precision.py
        warnings.simplefilter("ignore", PrecisionWarning)
        for dtype in ("mixed_bfloat16", keras.DTypePolicy("float16")):
            fx = FeatureExtractor("relu1_1", weights=None, dtype=dtype)
            policy = dtype if isinstance(dtype, keras.DTypePolicy) else keras.DTypePolicy(dtype)
            expected = policy.compute_dtype
            out = fx(images)["relu1_1"]
            assert keras.backend.standardize_dtype(out.dtype) == expected
            config = json.loads(json.dumps(fx.get_config()))
            assert config["compute_dtype"] == policy.name
            restored = FeatureExtractor.from_config(config)(images)["relu1_1"]
            assert keras.backend.standardize_dtype(restored.dtype) == expected
    with pytest.raises(InputError, match=r"dtype of a FeatureExtractor must be one of .*"
                                         r"pass compute_dtype= instead. Received: dtype='float64'"):
        FeatureExtractor("relu1_1", weights=None, dtype="float64")
    with pytest.raises(InputError, match=r"disagree; pass only compute_dtype. Received: "
                                         r"dtype='float16', compute_dtype='mixed_bfloat16'"):
        FeatureExtractor("relu1_1", weights=None, dtype="float16", compute_dtype="mixed_bfloat16")
