import numpy as np
import pytest
from conftest import gradient, numpy_gram, to_numpy

from keras_perceptual.errors import InputError
from keras_perceptual.ops import (
    as_float_tensor,
    channel_mean_std,
    charbonnier,
    from_unit_range,
    gram_matrix,
    luminance,
    sliced_wasserstein,
    sliced_wasserstein_directions,
    sorted_projections,
    sr_degrade,
    to_unit_range,
    total_variation,
)


@pytest.mark.parametrize("normalization", ["chw", "hw", "none"])
def test_gram_matrix_matches_numpy(rng, normalization):
    f = rng.standard_normal((3, 5, 7, 4)).astype("float32")
    ours = to_numpy(gram_matrix(f, normalization))
    assert ours.shape == (3, 4, 4)
    np.testing.assert_allclose(ours, numpy_gram(f, normalization), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours, ours.transpose(0, 2, 1), rtol=1e-6)


def test_gram_matrix_known_answer():
    f = np.ones((1, 2, 2, 3), "float32")
    np.testing.assert_allclose(to_numpy(gram_matrix(f)), np.full((1, 3, 3), 4 / 12), rtol=1e-6)


def test_gram_matrix_errors():
    with pytest.raises(ValueError, match="rank-4"):
        gram_matrix(np.ones((2, 2, 3), "float32"))
    with pytest.raises(ValueError, match="gram_normalization must be one of"):
        gram_matrix(np.ones((1, 2, 2, 3), "float32"), "c")


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_total_variation_matches_tf_image(rng, channels):
    tf = pytest.importorskip("tensorflow")
    x = rng.random((2, 9, 7, channels), dtype=np.float32)
    expected = tf.image.total_variation(tf.constant(x)).numpy()
    np.testing.assert_allclose(to_numpy(total_variation(x)), expected, rtol=1e-5)


def test_total_variation_numpy_reference_and_power(rng):
    x = rng.random((2, 6, 5, 3), dtype=np.float32)
    dy = np.abs(np.diff(x, axis=1))
    dx = np.abs(np.diff(x, axis=2))
    np.testing.assert_allclose(
        to_numpy(total_variation(x)), dy.sum((1, 2, 3)) + dx.sum((1, 2, 3)), rtol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(total_variation(x, power=2.0)),
        (dy**2).sum((1, 2, 3)) + (dx**2).sum((1, 2, 3)),
        rtol=1e-5,
    )
    assert to_numpy(total_variation(np.full((1, 4, 4, 3), 0.3, "float32")))[0] == 0.0
    with pytest.raises(ValueError, match="rank-4"):
        total_variation(x[0])


def test_total_variation_gradient_matches_sign_formula(rng):
    x = rng.random((1, 4, 4, 1), dtype=np.float32)
    g = gradient(lambda v: total_variation(v)[0], x)
    # Analytic gradient of sum |x_{i+1} - x_i|: sign differences.
    expected = np.zeros_like(x)
    sy = np.sign(np.diff(x, axis=1))
    sx = np.sign(np.diff(x, axis=2))
    expected[:, 1:] += sy
    expected[:, :-1] -= sy
    expected[:, :, 1:] += sx
    expected[:, :, :-1] -= sx
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_range_maps_are_inverse(rng):
    x = rng.random((1, 3, 3, 3), dtype=np.float32)
    y = to_numpy(from_unit_range(x, (-1, 1)))
    assert y.min() >= -1 and y.max() <= 1
    np.testing.assert_allclose(to_numpy(to_unit_range(y, (-1, 1))), x, atol=1e-6)
    assert to_unit_range(x, (0, 1)) is x


def test_charbonnier_and_luminance():
    np.testing.assert_allclose(to_numpy(charbonnier(np.array([0.0, 3.0]), 4.0)), [4.0, 5.0])
    white = np.ones((1, 1, 1, 3), "float32")
    np.testing.assert_allclose(to_numpy(luminance(white)), [[[[1.0]]]], rtol=1e-6)


def test_ops_refuse_arguments_they_used_to_misread(rng):
    """Were: a negative epsilon was squared away (charbonnier) or gave sqrt(var - 1)
    (channel_mean_std); 4-channel images gave a backend broadcast error (luminance);
    sr_degrade's scale=2.5 was reported as "not divisible" and scale=0 as ZeroDivisionError."""
    x = rng.random((1, 8, 8, 3), dtype=np.float32)
    for bad in (-1, float("nan"), None, "1e-3", True):
        with pytest.raises(InputError, match=r"epsilon must be a .*number.* Received: epsilon="):
            charbonnier(x, bad)
        with pytest.raises(InputError, match=r"epsilon must be a .*number.* Received: epsilon="):
            channel_mean_std(x, bad)
    np.testing.assert_allclose(to_numpy(charbonnier(np.array([-2.0, 0.0]), 0)), [2.0, 0.0])
    with pytest.raises(InputError, match=r"images has 4 channels; expected 3 .* images\[\.\.\., :3\]"):
        luminance(np.zeros((1, 4, 4, 4), "float32"))
    for bad in (2.5, 0, "2", None):
        with pytest.raises(InputError, match=r"scale must be an integer >= 1\. Received: scale="):
            sr_degrade(x, bad)
    assert tuple(sr_degrade(x, 1, sigma=0).shape) == (1, 8, 8, 3)


# --- Sliced Wasserstein (Heitz et al. 2021). ---


def numpy_w2_squared(a, b):
    """Exact squared 2-Wasserstein distance of two 1-D empirical distributions (uniform
    weights, any sizes): the integral over q of (F_a^-1(q) - F_b^-1(q))^2."""
    a, b = np.sort(a.astype("float64")), np.sort(b.astype("float64"))
    cuts = np.union1d(np.arange(len(a) + 1) / len(a), np.arange(len(b) + 1) / len(b))
    mids, widths = (cuts[1:] + cuts[:-1]) / 2, np.diff(cuts)
    qa = a[np.minimum((mids * len(a)).astype(int), len(a) - 1)]
    qb = b[np.minimum((mids * len(b)).astype(int), len(b) - 1)]
    return float(((qa - qb) ** 2 * widths).sum())


def test_sliced_wasserstein_is_zero_for_the_same_set_in_any_order(rng):
    features = rng.standard_normal((2, 5, 7, 16)).astype("float32")
    directions = sliced_wasserstein_directions(16, 8, seed=3)
    target = sorted_projections(features, directions)
    permuted = features.reshape(2, 35, 16)[:, rng.permutation(35)].reshape(2, 7, 5, 16)
    for pred in (features, permuted):  # positions permuted (and the map reshaped)
        np.testing.assert_allclose(to_numpy(sliced_wasserstein(pred, target, directions)),
                                   [0.0, 0.0], atol=1e-12)
    other = rng.standard_normal((2, 5, 7, 16)).astype("float32")
    assert (to_numpy(sliced_wasserstein(other, target, directions)) > 0.01).all()


@pytest.mark.parametrize("target_size, rtol", [
    ((6, 6), 1e-5),   # as many positions: exact
    ((12, 6), 0.15),  # other sizes: the nearest-rank approximation
    ((5, 4), 0.15),
])
def test_one_projection_is_the_exact_1d_wasserstein_distance(rng, target_size, rtol):
    pred = rng.standard_normal((1, 6, 6, 4)).astype("float32")
    style = (rng.standard_normal((1, *target_size, 4)) * 2 + 1).astype("float32")
    directions = sliced_wasserstein_directions(4, 1, seed=0)
    ours = float(to_numpy(sliced_wasserstein(pred, sorted_projections(style, directions),
                                             directions))[0])
    exact = numpy_w2_squared(pred.reshape(-1, 4) @ directions[:, 0],
                             style.reshape(-1, 4) @ directions[:, 0])
    np.testing.assert_allclose(ours, exact, rtol=rtol)


def test_several_projections_average_the_1d_distances(rng):
    pred = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    style = rng.standard_normal((1, 4, 4, 6)).astype("float32")
    directions = sliced_wasserstein_directions(6, 5, seed=1)
    ours = to_numpy(sliced_wasserstein(pred, sorted_projections(style, directions), directions))
    for b in range(2):
        expected = np.mean([numpy_w2_squared(pred[b].reshape(-1, 6) @ d, style.reshape(-1, 6) @ d)
                            for d in directions.T])
        np.testing.assert_allclose(ours[b], expected, rtol=1e-5)


def test_directions_are_seeded_unit_vectors_and_gradients_finite(rng):
    a = sliced_wasserstein_directions(32, 7, seed=5)
    np.testing.assert_array_equal(a, sliced_wasserstein_directions(32, 7, seed=5))
    assert not np.allclose(a, sliced_wasserstein_directions(32, 7, seed=6))
    np.testing.assert_allclose(np.linalg.norm(a, axis=0), np.ones(7), rtol=1e-6)
    assert sliced_wasserstein_directions(12).shape == (12, 12)  # K = C by default
    with pytest.raises(ValueError, match="num_projections must be an integer >= 1"):
        sliced_wasserstein_directions(12, 0)
    features = rng.standard_normal((1, 4, 4, 32)).astype("float32")
    target = sorted_projections(features[:, ::-1] * 2, a)
    grad = gradient(lambda f: sliced_wasserstein(f, target, a)[0], features)
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


@pytest.mark.parametrize("value", [np.array([["a", "b"]]), ["x.jpg"], {"a": 1}, object(), None])
def test_as_float_tensor_refuses_what_is_not_numbers(value):
    """Was: with floats_only=False (labels, masks, flows, scores) strings reached the backend
    ("Cast string to float is not supported"), dicts and objects its conversion error."""
    with pytest.raises(InputError, match=r"mask must hold numbers \(a float, integer or "
                                         r"boolean array or tensor\).*Received: mask of dtype"):
        as_float_tensor(value, "mask", floats_only=False)
    # Numbers of every kind are still cast.
    for ok in ([[0, 1]], np.array([[True, False]]), np.ones((1, 2), "float16")):
        assert as_float_tensor(ok, "mask", floats_only=False).shape == (1, 2)
