"""DISTS (losses/dists.py): agreement with the reference package, formula, properties,
Keras conventions.

Reference numbers: ``DISTS_pytorch.DISTS`` 0.1 with a seeded random torchvision VGG16
(tests/fixtures/lpips_dists_reference.npz, scripts/make_lpips_dists_fixture.py).
Tolerance 1e-5 absolute per image (float32); measured at most 5.4e-7.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy
from torch_files import fixture_pair, reference_fixture

from keras_perceptual import DISTS, DISTSLoss, dists
from keras_perceptual.errors import InputError
from keras_perceptual.losses.dists import (
    DISTS_CHANNELS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    dists_network,
    dists_weights,
)

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def fixture():
    return reference_fixture()


def check_against_reference(fixture, indices):
    worst = 0.0
    for i in indices:
        y_true, y_pred = fixture_pair(fixture, i)
        ours = float(to_numpy(dists(y_true, y_pred, weights=fixture["weights_vgg16"]))[0])
        error = abs(ours - float(fixture[f"pair{i}_dists"]))
        assert error <= TOLERANCE, f"pair {i}: |ours - DISTS_pytorch| = {error:.2e}"
        worst = max(worst, error)
    return worst


@pytest.mark.slow
def test_matches_the_reference_package(fixture):
    check_against_reference(fixture, [1, 6, 11])  # 31x47, 50x35 (odd sizes), identical pair


@pytest.mark.slow
def test_matches_the_reference_package_on_every_pair(fixture):
    indices = sorted({int(k[4:].split("_")[0]) for k in fixture if k.startswith("pair")})
    worst = check_against_reference(fixture, indices)
    print(f"DISTS: max abs difference {worst:.1e} over {len(indices)} pairs")


# --- The formula, against numpy on the network's own features. ---


def numpy_dists(features_x, features_y, alpha, beta):
    total = alpha.astype("float64").sum() + beta.astype("float64").sum()
    splits = np.cumsum(DISTS_CHANNELS)[:-1]
    score = 0.0
    for x, y, a, b in zip(features_x, features_y, np.split(alpha / total, splits),
                          np.split(beta / total, splits), strict=True):
        x, y = x.astype("float64"), y.astype("float64")
        mx, my = x.mean((1, 2)), y.mean((1, 2))
        texture = (2 * mx * my + 1e-6) / (mx**2 + my**2 + 1e-6)
        vx, vy = x.var((1, 2)), y.var((1, 2))
        cov = ((x - mx[:, None, None]) * (y - my[:, None, None])).mean((1, 2))
        structure = (2 * cov + 1e-6) / (vx + vy + 1e-6)
        score = score + (a * texture + b * structure).sum(-1)
    return 1 - score


@pytest.mark.slow
def test_per_image_value_is_equation_9(images, other_images):
    network = dists_network(weights=None)
    feats = []
    for x in (images, other_images):
        out = network.backbone((x - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD))
        feats.append([x] + [to_numpy(out[t]) for t in network.taps])
    expected = numpy_dists(*feats, *dists_weights())
    ours = to_numpy(DISTSLoss(weights=None, reduction=None)(images, other_images))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_released_weights_are_shipped():
    alpha, beta = dists_weights()
    assert alpha.shape == beta.shape == (sum(DISTS_CHANNELS),)
    assert (alpha >= 0).all() and (beta >= 0).all() and alpha.sum() + beta.sum() > 0


# --- Properties. ---


@pytest.mark.slow
def test_zero_for_identical_images_symmetric_and_range_invariant(images, other_images):
    images, other_images = images[:, :16, :15], other_images[:, :16, :15]  # DISTS takes any size
    loss = DISTSLoss(weights=None, reduction=None)
    np.testing.assert_allclose(to_numpy(loss(images, images)), [0.0, 0.0], atol=1e-6)
    ab, ba = to_numpy(loss(images, other_images)), to_numpy(loss(other_images, images))
    np.testing.assert_allclose(ab, ba, rtol=1e-6)
    assert (ab > 0.01).all()
    for low, high in ((-1.0, 1.0), (0.0, 255.0)):
        scaled = DISTSLoss(weights=None, value_range=(low, high), reduction=None)
        values = scaled(images * (high - low) + low, other_images * (high - low) + low)
        np.testing.assert_allclose(to_numpy(values), ab, rtol=1e-5)


@pytest.mark.slow
def test_gradients_are_finite_also_for_identical_images(images, other_images):
    images, other_images = images[:, :16, :16], other_images[:, :16, :16]
    loss = DISTSLoss(weights=None)
    grad = gradient(lambda x: loss(other_images, x), images)
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    assert np.isfinite(gradient(lambda x: loss(images, x), images)).all()


@pytest.mark.slow
def test_resampled_texture_is_closer_than_a_blurred_copy(rng):
    """Two independent draws of the same noise texture are closer under DISTS (global
    statistics) than an image and a blurred copy of it: the property DISTS was built for."""
    a = rng.random((1, 48, 48, 3), dtype=np.float32)
    b = rng.random((1, 48, 48, 3), dtype=np.float32)
    smooth = (a + np.roll(a, 1, 1) + np.roll(a, 1, 2) + np.roll(a, (1, 1), (1, 2))) / 4
    assert float(to_numpy(dists(a, b, weights=None))[0]) < float(to_numpy(dists(a, smooth, weights=None))[0])


# --- Keras conventions. ---


@pytest.mark.slow
def test_config_round_trip_and_reductions(images, other_images):
    loss = DISTSLoss(weights=None, value_range=(-1, 1), reduction="sum", name="d")
    config = loss.get_config()
    assert config["weights"] is None and config["value_range"] == [-1.0, 1.0]
    assert DISTSLoss.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    a, b = images * 2 - 1, other_images * 2 - 1
    per_image = to_numpy(DISTSLoss(weights=None, value_range=(-1, 1), reduction=None)(a, b))
    np.testing.assert_allclose(to_numpy(revived(a, b)), per_image.sum(), rtol=1e-6)


@pytest.mark.slow
def test_float32_under_mixed_precision(images, other_images):
    expected = to_numpy(DISTSLoss(weights=None, reduction=None)(images, other_images))
    keras.config.set_dtype_policy("mixed_bfloat16")
    value = DISTSLoss(weights=None, reduction=None)(images, other_images)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5)


@pytest.mark.slow
def test_metric_in_compile_save_and_reload(tmp_path, images, other_images):
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(3, 1)])
    model.compile(optimizer="adam", loss="mse", metrics=[DISTS(weights=None)])
    logs = model.evaluate(images, other_images, batch_size=1, verbose=0, return_dict=True)
    predicted = to_numpy(model.predict(images, verbose=0))
    np.testing.assert_allclose(logs["dists"], to_numpy(dists(other_images, predicted,
                                                             weights=None)).mean(), rtol=1e-4)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    again = reloaded.evaluate(images, other_images, batch_size=1, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["dists"], logs["dists"], rtol=1e-6)
    assert DISTS(weights=None).get_config() == {
        "name": "dists", "dtype": "float32", "weights": None, "value_range": [0.0, 1.0]}


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(InputError, match="weights file .* does not exist"):
        DISTSLoss(weights="missing.pth")
    with pytest.raises(InputError, match="value_range must satisfy low < high"):
        DISTSLoss(weights=None, value_range=(1, 0))


@pytest.mark.slow  # builds VGG16
def test_bad_images_are_refused(images, other_images):
    loss = DISTSLoss(weights=None)
    with pytest.raises(InputError, match="same shape"):
        loss(images, other_images[:, :16])
    with pytest.raises(InputError, match="dtype int64"):
        dists(np.zeros((1, 8, 8, 3), "int64"), images[:1, :8, :8], weights=None)
