import numpy as np
import pytest
from conftest import gradient, numpy_gram, to_numpy

from keras_perceptual.ops import (
    charbonnier,
    from_unit_range,
    gram_matrix,
    luminance,
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
