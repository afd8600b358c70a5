"""Warping and synthetic camera motion (keras_perceptual.motion), TensorFlow and JAX.

References: scipy.ndimage.map_coordinates (bilinear, border clamped) for the warp; the
closed-form flow of an affine motion; the exact pixels of a photo crop for the pairs.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import gradient, numpy_warp, to_numpy

from keras_perceptual.errors import InputError
from keras_perceptual.motion import (
    MOTION_PRESETS,
    RandomCameraMotion,
    affine_flow,
    camera_clip,
    camera_motion_matrix,
    camera_motion_pair,
    camera_path,
    resample,
    visibility_mask,
    warp,
)


@pytest.fixture
def photo():
    """A 96x112 photo (the shipped astronaut, reduced): real texture, no constant areas."""
    from conftest import REPO

    from keras_perceptual.images import load_image

    image = load_image(str(REPO / "keras_perceptual" / "assets" / "photo_astronaut.jpg"))
    return np.ascontiguousarray(image[40:136, 30:142]).astype(np.float32)


def test_warp_matches_scipy_bilinear(rng):
    images = rng.random((2, 12, 15, 3), dtype=np.float32)
    flow = (rng.standard_normal((2, 12, 15, 2)) * 4).astype(np.float32)  # some points outside
    np.testing.assert_allclose(to_numpy(warp(images, flow)), numpy_warp(images, flow), atol=2e-6)


def test_warp_unbatched_and_shared_flow(rng):
    images = rng.random((3, 8, 9, 3), dtype=np.float32)
    flow = rng.uniform(-2, 2, (8, 9, 2)).astype(np.float32)
    batched = to_numpy(warp(images, flow))
    np.testing.assert_allclose(batched[1], to_numpy(warp(images[1], flow)), atol=1e-6)
    np.testing.assert_allclose(batched, numpy_warp(images, flow), atol=2e-6)


def test_warp_integer_shift_moves_pixels_exactly(rng):
    image = rng.random((1, 10, 10, 3), dtype=np.float32)
    flow = np.zeros((1, 10, 10, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, -1.0  # current(x, y) = previous(x + 2, y - 1)
    out = to_numpy(warp(image, flow))
    np.testing.assert_array_equal(out[0, 1:, :-2], image[0, :-1, 2:])


def test_resample_known_value():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)
    out = to_numpy(resample(image, np.array([[[[1.5, 1.0], [0.25, 2.0]]]], np.float32)))
    np.testing.assert_allclose(out[0, 0, :, 0], [5.5, 8.25])


def test_warp_gradients_match_finite_differences(rng):
    image = rng.random((1, 6, 7, 2)).astype(np.float32)
    flow = rng.uniform(-1.4, 1.4, (1, 6, 7, 2)).astype(np.float32)
    weights = rng.standard_normal((1, 6, 7, 2)).astype(np.float32)

    def objective(f):
        return keras.ops.sum(warp(image, f) * weights)

    analytic = gradient(objective, flow)
    eps = 1e-3
    numeric = np.zeros_like(flow)
    for index in np.ndindex(flow.shape):
        up, down = flow.copy(), flow.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (np.sum(numpy_warp(image, up) * weights) - np.sum(
            numpy_warp(image, down) * weights)) / (2 * eps)
    # Points within eps of a pixel boundary have a kink; compare away from them.
    smooth = np.all(np.abs(flow - np.round(flow)) > 2 * eps, axis=-1, keepdims=True)
    np.testing.assert_allclose(analytic * smooth, numeric * smooth, atol=2e-3)
    image_grad = gradient(lambda x: keras.ops.sum(warp(x, flow) * weights), image)
    assert image_grad is not None and np.isfinite(image_grad).all()


def test_affine_flow_closed_form():
    matrix = camera_motion_matrix(9, 11, shift=(1.5, -2.0), zoom=1.1, rotation=5.0)
    flow = to_numpy(affine_flow(matrix, 9, 11))
    m = to_numpy(matrix).astype(np.float64)
    ys, xs = np.mgrid[0:9, 0:11].astype(np.float64)
    # flow(p) = M^-1 p - p, so M (p + flow) = p.
    source = np.stack([xs + flow[..., 0], ys + flow[..., 1], np.ones_like(xs)], -1)
    mapped = source @ m.T
    np.testing.assert_allclose(mapped[..., 0], xs, atol=1e-4)
    np.testing.assert_allclose(mapped[..., 1], ys, atol=1e-4)
    centre = to_numpy(affine_flow(camera_motion_matrix(9, 11, zoom=1.3, rotation=20.0), 9, 11))
    np.testing.assert_allclose(centre[4, 5], [0.0, 0.0], atol=1e-5)  # zoom/rotation about the centre


def test_batched_motion_matrix_and_flow():
    matrices = camera_motion_matrix(8, 8, (np.array([1.0, 0.0]), np.array([0.0, 2.0])), 1.0, 0.0)
    flows = to_numpy(affine_flow(matrices, 8, 8))
    assert flows.shape == (2, 8, 8, 2)
    np.testing.assert_allclose(flows[0, ..., 0], -1.0, atol=1e-6)
    np.testing.assert_allclose(flows[1, ..., 1], -2.0, atol=1e-6)


def test_visibility_mask_marks_the_border_that_came_into_view():
    flow = np.zeros((6, 8, 2), np.float32)
    flow[..., 0] = 2.0  # the content moved two pixels left: the right two columns are new
    mask = to_numpy(visibility_mask(flow))
    np.testing.assert_array_equal(mask[:, :6], 1.0)
    np.testing.assert_array_equal(mask[:, 6:], 0.0)
    np.testing.assert_array_equal(to_numpy(visibility_mask(flow, margin=1.0))[:, 5:], 0.0)


@pytest.mark.parametrize(
    ("motion", "new_border"),
    [
        ({"shift": (2.3, -1.7)}, True),
        ({"shift": (0.4, 0.3), "zoom": 1.02}, False),  # zooming in: nothing new comes into view
        ({"shift": (3.0, 1.0), "zoom": 0.97, "rotation": 2.5}, True),
    ],
)
def test_pair_first_frame_warped_by_the_flow_is_the_second(photo, motion, new_border):
    first, second, flow, mask = (to_numpy(v) for v in camera_motion_pair(photo, (64, 80), **motion))
    assert first.shape == second.shape == (64, 80, 3) and flow.shape == (64, 80, 2)
    np.testing.assert_array_equal(first, photo[16:80, 16:96])  # the exact central crop
    assert 0.8 < mask.mean() and (mask.min() == 0) == new_border
    error = (to_numpy(warp(first, flow)) - second) ** 2
    assert error[mask > 0].max() < 1e-8  # exact up to float rounding inside the mask
    if new_border:
        assert error[mask == 0].mean() > 1e-4  # outside it, real new content


def test_clip_flows_carry_each_frame_to_the_next(photo):
    frames, flows, masks = (to_numpy(v) for v in camera_clip(photo, (64, 80), camera_path(6)))
    assert frames.shape == (6, 64, 80, 3) and flows.shape == (5, 64, 80, 2)
    assert masks.shape == (5, 64, 80)
    for t in range(1, 6):
        warped = numpy_warp(frames[t - 1], flows[t - 1])
        moved = np.mean((frames[t] - frames[t - 1]) ** 2)
        error = np.sum(masks[t - 1][..., None] * (warped - frames[t]) ** 2) / (
            3 * masks[t - 1].sum())
        assert error < moved / 10  # only the re-interpolation of frame t - 1 remains


def test_camera_path():
    path = camera_path(5, shift=(4.0, 2.0), zoom=0.1, rotation=1.0)
    np.testing.assert_allclose(path[0], [0, 0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(path[2], [0, 2, 1.1, 0], atol=1e-12)  # the middle of the path


def test_random_camera_motion_flow_is_what_it_did(rng):
    images = rng.random((3, 32, 40, 3), dtype=np.float32)
    layer = RandomCameraMotion(max_shift=3.0, max_zoom=0.05, max_rotation=3.0, noise_stddev=0.0,
                               seed=4)
    moved, flow, mask = (to_numpy(v) for v in layer(images))
    assert moved.shape == images.shape and flow.shape == (3, 32, 40, 2) and mask.shape == (3, 32, 40)
    np.testing.assert_allclose(moved, numpy_warp(images, flow), atol=2e-6)
    assert np.abs(flow).max() > 0.1 and np.abs(flow).max() < 3.0 + 0.05 * 40 + 40 * 0.06
    again = RandomCameraMotion(max_shift=3.0, max_zoom=0.05, max_rotation=3.0, noise_stddev=0.0,
                               seed=4)
    np.testing.assert_allclose(to_numpy(again(images)[1]), flow)  # seeded: reproducible


def test_random_camera_motion_noise_and_range(rng):
    images = rng.random((2, 16, 16, 3), dtype=np.float32) * 2 - 1
    layer = RandomCameraMotion(preset="stability", value_range=(-1, 1), seed=0)
    moved, flow, _ = (to_numpy(v) for v in layer(images))
    assert moved.min() >= -1 and moved.max() <= 1
    noise = moved - numpy_warp(images, flow)
    assert 0.02 < noise.std() < 0.06  # 0.02 of the range (2) = 0.04, a little clipped
    assert np.abs(flow).max() < 1.0 + 0.01 * 16 + 0.5 * np.pi / 180 * 16


def test_random_camera_motion_config_round_trip_and_presets():
    layer = RandomCameraMotion(preset="camera", max_shift=2.0, seed=3, value_range=(-1, 1))
    config = layer.get_config()
    clone = RandomCameraMotion.from_config(config)
    assert clone.get_config() == config
    assert clone.max_shift == 2.0 and clone.max_zoom == MOTION_PRESETS["camera"]["max_zoom"]
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomCameraMotion) and restored.seed == 3


def test_errors(rng, photo):
    with pytest.raises(InputError, match="flow must be a channels-last"):
        warp(np.zeros((1, 4, 4, 3), "float32"), np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(InputError, match="height and width"):
        warp(np.zeros((1, 4, 4, 3), "float32"), np.zeros((1, 5, 4, 2), "float32"))
    # A batched flow of another batch size: before, TensorFlow's "Input to reshape is a
    # tensor with 96 values" (and a batch of 4 images sampled by 2 grids came out as 2).
    with pytest.raises(InputError, match="their batch size.*flow.shape=\\(1, 4, 4, 2\\)"):
        warp(np.zeros((2, 4, 4, 3), "float32"), np.zeros((1, 4, 4, 2), "float32"))
    with pytest.raises(InputError, match="an \\(H, W, C\\) image takes one"):
        warp(np.zeros((4, 4, 3), "float32"), np.zeros((2, 4, 4, 2), "float32"))
    with pytest.raises(InputError, match="coordinates must have the images' batch size"):
        resample(np.zeros((4, 4, 4, 3), "float32"), np.zeros((2, 4, 4, 2), "float32"))
    assert tuple(resample(np.zeros((1, 4, 4, 3), "float32"),
                          np.zeros((2, 3, 3, 2), "float32")).shape) == (2, 3, 3, 3)
    with pytest.raises(InputError, match="smaller than the frames"):
        camera_motion_pair(photo, 200)
    with pytest.raises(InputError, match="Received: shift="):
        camera_motion_pair(photo, 32, shift=1.0)
    with pytest.raises(InputError, match="zoom"):
        camera_motion_pair(photo, 32, zoom=0.0)
    with pytest.raises(InputError, match="photo has dtype uint8"):
        camera_motion_pair((photo * 255).astype(np.uint8), 32)
    with pytest.raises(InputError, match="path must be"):
        camera_clip(photo, 32, np.zeros((3, 3)))
    with pytest.raises(InputError, match="num_frames"):
        camera_path(1)
    with pytest.raises(InputError, match="preset must be one of 'stability', 'camera'"):
        RandomCameraMotion(preset="shaky")
    with pytest.raises(InputError, match="max_shift"):
        RandomCameraMotion(max_shift=-1)


def _nan_flow(rng, shape=(2, 6, 7, 2)):
    """A random flow with NaN in one or both components at three pixels, and their mask."""
    flow = rng.uniform(-2, 2, shape).astype(np.float32)
    flow[0, 1, 2, 0] = np.nan
    flow[0, 4, 0, 1] = np.nan
    flow[1, 5, 6] = np.nan
    return flow, np.isnan(flow).any(axis=-1)


def test_nan_flow_gives_nan_at_exactly_its_pixels(rng):
    """A NaN flow (an unknown motion) is not an error: NaN out at its pixels, the warp of
    the same flow with 0 there elsewhere (TensorFlow used to fail in its gather)."""
    images = rng.random((2, 6, 7, 3), dtype=np.float32)
    flow, bad = _nan_flow(rng)
    reference = numpy_warp(images, np.where(bad[..., None], 0.0, flow))
    for out in (to_numpy(warp(images, flow)), to_numpy(resample(images, flow + _grid(6, 7)))):
        np.testing.assert_array_equal(np.isnan(out), np.repeat(bad[..., None], 3, axis=-1))
        np.testing.assert_allclose(out[~bad], reference[~bad], atol=2e-6)
    single = to_numpy(warp(images[0], flow[0]))  # unbatched
    np.testing.assert_array_equal(np.isnan(single).any(axis=-1), bad[0])
    mask = to_numpy(visibility_mask(flow))
    np.testing.assert_array_equal(np.isnan(mask), bad)
    np.testing.assert_array_equal(mask[~bad], to_numpy(visibility_mask(np.nan_to_num(flow)))[~bad])


def test_nan_flow_gradients_are_finite(rng):
    images = rng.random((2, 6, 7, 3), dtype=np.float32)
    flow, bad = _nan_flow(rng)

    def finite_sum(out):
        return keras.ops.sum(keras.ops.where(keras.ops.isnan(out), 0.0, out))

    image_grad = gradient(lambda x: finite_sum(warp(x, flow)), images)
    flow_grad = gradient(lambda f: finite_sum(warp(images, f)), flow)
    assert np.isfinite(image_grad).all() and np.isfinite(flow_grad).all()
    np.testing.assert_array_equal(flow_grad[bad], 0.0)


def _grid(height, width):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def test_infinite_flow_is_outside_the_frame(rng):
    """+-inf points infinitely far outside: the border value (like any outside point),
    not visible (mask 0), finite gradients."""
    images = rng.random((1, 5, 6, 3), dtype=np.float32)
    flow = np.zeros((1, 5, 6, 2), np.float32)
    flow[0, 1, 2, 0] = np.inf  # right border, row 1
    flow[0, 3, 4, 1] = -np.inf  # top border, column 4
    flow[0, 2, 1] = (-np.inf, np.inf)  # bottom-left corner
    out = to_numpy(warp(images, flow))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0, 1, 2], images[0, 1, 5])
    np.testing.assert_array_equal(out[0, 3, 4], images[0, 0, 4])
    np.testing.assert_array_equal(out[0, 2, 1], images[0, 4, 0])
    mask = to_numpy(visibility_mask(flow))
    assert mask[0, 1, 2] == mask[0, 3, 4] == mask[0, 2, 1] == 0.0 and mask.sum() == 27
    grad = gradient(lambda f: keras.ops.sum(warp(images, f)), flow)
    assert np.isfinite(grad).all()


# --- Bad arguments of the wrong kind: one InputError naming the argument -----------------


@pytest.mark.parametrize("call, name", [
    (lambda: camera_path(4, zoom=None), "zoom"),
    (lambda: camera_path(4, rotation=float("nan")), "rotation"),
    (lambda: camera_motion_pair(np.zeros((8, 8, 3), "float32"), rotation="abc"), "rotation"),
    (lambda: camera_motion_matrix(8, 8, shift=3), "shift"),
    (lambda: camera_motion_matrix(8, None), "width"),
    (lambda: camera_motion_matrix(8, 8, zoom="x"), "zoom"),
    (lambda: affine_flow(None, 8, 8), "matrix"),
    (lambda: warp(None, np.zeros((8, 8, 2), "float32")), "images"),
    (lambda: warp(np.zeros((8, 8, 3), "float32"), {"dx": 1}), "flow"),
    (lambda: resample(np.zeros((1, 0, 0, 3), "float32"), np.zeros((1, 2, 2, 2), "float32")),
     "images.shape"),
    (lambda: camera_clip(np.zeros((8, 8, 3), "float32"), path="abc"), "path.shape"),
    (lambda: RandomCameraMotion(seed="1"), "seed"),
    (lambda: RandomCameraMotion(seed=True), "seed"),
    (lambda: RandomCameraMotion(preset=["camera"]), "preset"),
    (lambda: RandomCameraMotion(seed=0)(np.zeros((8, 8), "float32")), "images.shape"),
])  # fmt: skip
def test_bad_arguments_are_one_input_error_naming_them(call, name):
    # Before: TypeError, KeyError, IndexError, unhashable list, the backend's conversion or
    # gather errors, or Keras' seed message; NaN rotation and None-free zoom went through.
    with pytest.raises(InputError, match=rf"Received: {name}"):
        call()


@pytest.mark.parametrize("call, pattern", [
    # Before: the backend's range error, a flow of 3 rows, and a dtype error.
    (lambda: affine_flow(np.eye(3), -1, 8), r"height must be an integer >= 1\. Received: height=-1"),
    (lambda: affine_flow(np.eye(3), 8, 2.5), r"width must be an integer >= 1\. Received: width=2.5"),
    (lambda: affine_flow(np.eye(3), None, 8), r"height must be an integer >= 1"),
    # Before: accepted; the path's zoom reached 0 (refused later, by camera_clip, as 'path
    # zooms must be > 0').
    (lambda: camera_path(4, zoom=-1.0), r"zoom must be > -1.*Received: zoom=-1\.0"),
    # Before: 'zoom must be a finite number >= 0 (use 0 to switch the term off)': 0 is refused.
    (lambda: camera_motion_pair(np.zeros((8, 8, 3), "float32"), zoom=float("nan")),
     r"zoom must be a finite number \(a scale factor, 1 is none\)"),
])  # fmt: skip
def test_frame_sizes_and_zooms_are_checked(call, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        call()
    assert "switch the term off" not in str(info.value)


def test_affine_flow_takes_numpy_sizes_and_traced_shapes():
    flow = affine_flow(camera_motion_matrix(4, 6, shift=(1.0, 0.0)), np.int64(4), np.int32(6))
    assert tuple(flow.shape) == (4, 6, 2)
    moved, flow, mask = RandomCameraMotion(seed=0)(np.zeros((2, 5, 7, 3), "float32"))
    assert tuple(flow.shape) == (2, 5, 7, 2)
