"""Temporal losses (keras_perceptual.losses.temporal), TensorFlow and JAX backends.

Reference: a float64 numpy masked MSE after a scipy bilinear warp (``numpy_warp``).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import gradient, numpy_warp, to_numpy

from keras_perceptual.errors import InputError
from keras_perceptual.losses import TemporalConsistency, TemporalLoss, temporal_loss
from keras_perceptual.motion import RandomCameraMotion


def numpy_temporal(current, previous, flow, mask):
    squared = np.mean((np.asarray(current, np.float64) - numpy_warp(previous, flow)) ** 2, -1)
    return (mask * squared).sum((1, 2)) / mask.sum((1, 2))


@pytest.fixture
def clip(rng):
    """Two outputs, a flow with sub-pixel motion and a mask with holes."""
    previous = rng.random((2, 12, 14, 3), dtype=np.float32)
    current = rng.random((2, 12, 14, 3), dtype=np.float32)
    flow = rng.uniform(-1.5, 1.5, (2, 12, 14, 2)).astype(np.float32)
    mask = (rng.random((2, 12, 14)) > 0.3).astype(np.float32)
    return current, previous, flow, mask


def test_matches_numpy(clip):
    current, previous, flow, mask = clip
    expected = numpy_temporal(current, previous, flow, mask)
    np.testing.assert_allclose(to_numpy(temporal_loss(current, previous, flow, mask)), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(  # (batch, H, W, 1) masks too
        to_numpy(temporal_loss(current, previous, flow, mask[..., None])), expected, rtol=1e-5)
    no_mask = numpy_temporal(current, previous, flow, np.ones_like(mask))
    np.testing.assert_allclose(to_numpy(temporal_loss(current, previous, flow)), no_mask, rtol=1e-5)


def test_zero_for_outputs_that_move_with_the_input(rng):
    previous = rng.random((1, 10, 10, 3), dtype=np.float32)
    flow = np.zeros((1, 10, 10, 2), np.float32)
    flow[..., 0] = 3.0
    current = np.zeros_like(previous)
    current[:, :, :7] = previous[:, :, 3:]  # moved three pixels left; the rest is new
    mask = np.zeros((1, 10, 10), np.float32)
    mask[:, :, :7] = 1.0
    assert float(to_numpy(temporal_loss(current, previous, flow, mask))[0]) == 0.0
    assert float(to_numpy(temporal_loss(current, previous, flow))[0]) > 0.01  # new pixels count


def test_range_invariant_and_empty_mask(clip):
    current, previous, flow, mask = clip
    base = to_numpy(temporal_loss(current, previous, flow, mask))
    ranged = to_numpy(temporal_loss(current * 255, previous * 255, flow, mask, (0, 255)))
    np.testing.assert_allclose(ranged, base, rtol=1e-5)
    empty = to_numpy(temporal_loss(current, previous, flow, np.zeros_like(mask)))
    np.testing.assert_array_equal(empty, [0.0, 0.0])


def test_gradient_matches_the_formula(clip):
    current, previous, flow, mask = clip
    # d/d current of sum_p m mean_k (c - w)^2 / sum m = 2 m (c - w) / (3 sum m)
    expected = 2 * mask[..., None] * (current - numpy_warp(previous, flow)) / (
        3 * mask.sum((1, 2))[:, None, None, None])
    grad = gradient(lambda c: keras.ops.sum(temporal_loss(c, previous, flow, mask)), current)
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_loss_class_reductions_and_sample_weight(clip):
    current, previous, flow, mask = clip
    per_image = to_numpy(TemporalLoss(reduction=None)((previous, flow, mask), current))
    np.testing.assert_allclose(per_image, numpy_temporal(current, previous, flow, mask), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(TemporalLoss()((previous, flow, mask), current)),
                               per_image.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        to_numpy(TemporalLoss(reduction="sum")((previous, flow, None), current)),
        numpy_temporal(current, previous, flow, np.ones_like(mask)).sum(), rtol=1e-5)
    sw = np.array([0.5, 2.0], np.float32)
    np.testing.assert_allclose(
        to_numpy(TemporalLoss()((previous, flow, mask), current, sample_weight=sw)),
        (per_image * sw).mean(), rtol=1e-5)


def test_loss_class_config_round_trip(clip):
    current, previous, flow, mask = clip
    loss = TemporalLoss(value_range=(-1, 1), reduction="sum", name="flicker")
    config = loss.get_config()
    assert TemporalLoss.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    a, b = 2 * current - 1, 2 * previous - 1
    np.testing.assert_allclose(to_numpy(revived((b, flow, mask), a)),
                               to_numpy(loss((b, flow, mask), a)), rtol=1e-6)


def test_loss_errors(clip):
    current, previous, flow, mask = clip
    with pytest.raises(InputError, match=r"y_true=\(previous, flow, mask\)"):
        TemporalLoss()(previous, current)
    with pytest.raises(InputError, match="dtype uint8"):
        TemporalLoss()(((previous * 255).astype(np.uint8), flow, mask), current)
    with pytest.raises(InputError, match="same shape"):
        temporal_loss(current[:, :8], previous, flow, mask)
    with pytest.raises(InputError, match="mask must be"):
        temporal_loss(current, previous, flow, mask[..., None].repeat(2, -1))


# --- Training inside fit. ---


def tiny_net():
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(
        hidden))


def test_consistency_adds_the_temporal_term_in_training_only(rng):
    images = rng.random((2, 16, 16, 3), dtype=np.float32)
    net = tiny_net()
    layer = TemporalConsistency(net, weight=50.0, motion=RandomCameraMotion(seed=7))
    np.testing.assert_allclose(to_numpy(layer(images)), to_numpy(net(images)), atol=1e-6)
    assert not layer.losses
    out = layer(images, training=True)
    np.testing.assert_allclose(to_numpy(out), to_numpy(net(images)), atol=1e-6)
    assert len(layer.losses) == 1
    moved, flow, mask = (to_numpy(v) for v in RandomCameraMotion(seed=7)(images))  # same draws
    expected = 50.0 * numpy_temporal(to_numpy(net(moved)), to_numpy(net(images)), flow, mask).mean()
    np.testing.assert_allclose(float(to_numpy(layer.losses[0])), expected, rtol=1e-4)


def test_consistency_trains_inside_fit_and_saves(rng, tmp_path):
    images = rng.random((4, 16, 16, 3), dtype=np.float32)
    net = tiny_net()
    inputs = keras.Input((None, None, 3))
    layer = TemporalConsistency(net, weight=1e4, motion="camera", seed=2)
    trainer = keras.Model(inputs, layer(inputs))
    trainer.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # weights stay put
    trained = trainer.fit(images, images, batch_size=2, epochs=1, verbose=0).history["loss"][0]
    mse = float(np.mean((to_numpy(net(images)) - images) ** 2))  # the compiled loss alone
    assert trained > mse + 0.5  # fit's loss holds the added term
    path = tmp_path / "trainer.keras"
    trainer.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(reloaded(images)), to_numpy(net(images)), atol=1e-6)
    config = layer.get_config()
    clone = TemporalConsistency.from_config(config)
    assert clone.weight == 1e4 and clone.motion.get_config() == layer.motion.get_config()


def test_consistency_errors():
    with pytest.raises(InputError, match="network must be a keras.Model"):
        TemporalConsistency("net")
    with pytest.raises(InputError, match="motion must be one of 'stability', 'camera'"):
        TemporalConsistency(tiny_net(), motion="wobble")
    with pytest.raises(InputError, match="weight must be a finite number >= 0"):
        TemporalConsistency(tiny_net(), weight=-1.0)


@pytest.mark.parametrize(
    "call,pattern",
    [
        # Was: "cannot compute Sub as input #1 was expected to be a uint8 tensor"
        # (InvalidArgumentError).
        (lambda c, p, f, m: temporal_loss((c * 255).astype("uint8"), p, f),
         r"current has dtype uint8; expected floating-point images.*Received: current.dtype"),
        (lambda c, p, f, m: temporal_loss(c, (p * 255).astype("uint8"), f),
         r"previous has dtype uint8"),
        # Was: a backend error on the (H, W) shape of the per-image NaN marks (SelectV2).
        (lambda c, p, f, m: temporal_loss(c, p, f[0]),
         r"flow must be \(batch, H, W, 2\).*np.repeat\(flow\[None\].*Received: "
         r"flow.shape=\(12, 14, 2\)"),
        # Was: "Attempt to convert a value (None)" (ValueError).
        (lambda c, p, f, m: temporal_loss(c, p, None),
         r"flow must be the backward flow of current.*zeros.*Received: flow=None"),
        # Was: a negative visibility weight gave a silent value.
        (lambda c, p, f, m: temporal_loss(c, p, f, -m),
         r"mask must hold visibility weights >= 0.*Received: mask.min\(\)=-1.0"),
        # Were: "Cast string to float is not supported" (UnimplementedError) and "Attempt to
        # convert a value ({...}) with an unsupported type" (ValueError).
        (lambda c, p, f, m: temporal_loss(c, p, f.astype(str)),
         r"flow must hold numbers.*Received: flow of dtype str"),
        (lambda c, p, f, m: temporal_loss(c, p, f, {"mask": m}),
         r"mask must hold numbers.*Received: mask of dtype object \(dict\)"),
    ],
)
def test_temporal_loss_checks_its_inputs(clip, call, pattern):
    """Was: temporal_loss left the frames' dtype, the flow's rank and the mask's values
    unchecked (the comments give each case's old result)."""
    with pytest.raises(InputError, match=pattern):
        call(*clip)


def test_temporal_loss_of_frames_in_two_float_dtypes(clip):
    """Was: "cannot compute Sub as input #1 was expected to be a double tensor" for float64
    frames against float32 ones; previous now takes current's dtype, as the flow does."""
    current, previous, flow, mask = clip
    np.testing.assert_allclose(
        to_numpy(temporal_loss(current.astype("float64"), previous, flow, mask)),
        numpy_temporal(current, previous, flow, mask), rtol=1e-5)
    np.testing.assert_allclose(  # boolean masks are still 0/1 weights
        to_numpy(temporal_loss(current, previous, flow, mask > 0.5)),
        numpy_temporal(current, previous, flow, mask), rtol=1e-5)
