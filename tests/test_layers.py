"""Building blocks of the transformation networks: numpy references, shapes, configs."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from keras_perceptual import layers as kl
from tests.conftest import BACKEND, requires_tf, to_numpy


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype("float32")


# --- ReflectionPadding2D ---------------------------------------------------------------


@pytest.mark.parametrize("padding", [1, 4, (2, 3), ((1, 2), (3, 0))])
def test_reflection_padding_matches_numpy(rng, padding):
    x = _rand(rng, 2, 9, 7, 3)
    layer = kl.ReflectionPadding2D(padding)
    (top, bottom), (left, right) = layer.padding
    expected = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(to_numpy(layer(x)), expected)
    assert layer.compute_output_shape((None, 9, None, 3)) == (None, 9 + top + bottom, None, 3)


def test_reflection_padding_symbolic_shape():
    out = kl.ReflectionPadding2D(4)(keras.Input((None, None, 5)))
    assert tuple(out.shape) == (None, None, None, 5)


def test_reflection_padding_too_small_input_raises(rng):
    with pytest.raises(ValueError, match="at least 5x5"):
        kl.ReflectionPadding2D(4)(_rand(rng, 1, 4, 8, 3))


@pytest.mark.parametrize("padding", [-1, 1.5, (1, 2, 3), "same", ((1, 2), (3,))])
def test_reflection_padding_bad_argument(padding):
    with pytest.raises(ValueError, match="Received: padding="):
        kl.ReflectionPadding2D(padding)


# --- InstanceNormalization ----------------------------------------------------------------


def test_instance_norm_matches_numpy_and_group_norm(rng):
    x = _rand(rng, 2, 6, 5, 4) * 3 + 1
    layer = kl.InstanceNormalization()
    layer.build(x.shape)
    gamma = rng.random(4).astype("float32") + 0.5
    beta = _rand(rng, 4)
    layer.set_weights([gamma, beta])
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)

    group = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)
    group.build(x.shape)
    group.set_weights([gamma, beta])
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(group(x)), rtol=1e-4, atol=1e-5)


def test_instance_norm_statistics_override(rng):
    x = _rand(rng, 2, 4, 4, 3)
    layer = kl.InstanceNormalization(center=False, scale=False)
    seen = []

    def provider(lyr, inputs):
        seen.append((lyr, tuple(inputs.shape)))
        return np.zeros(3, "float32"), np.ones(3, "float32")

    with kl.instance_norm_statistics(provider):
        y = to_numpy(layer(x))
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert seen == [(layer, (2, 4, 4, 3))]
    with kl.instance_norm_statistics(lambda lyr, inputs: None):
        np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(layer(x)))
    # Outside the context the usual per-image statistics are back.
    assert abs(to_numpy(layer(x)).mean()) < 1e-5


def test_instance_norm_mixed_precision(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = kl.InstanceNormalization()
    y = layer(_rand(rng, 1, 4, 4, 2))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert layer.gamma.dtype == "float32"


def test_instance_norm_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon"):
        kl.InstanceNormalization(epsilon=0)


# --- ConvBlock / ResidualBlock / UpsamplingBlock ---------------------------------------


@pytest.mark.parametrize("padding", ["reflect", "zero"])
@pytest.mark.parametrize("strides,size,expected", [(1, 9, 9), (2, 8, 4), (2, 9, 5)])
def test_conv_block_shapes(rng, padding, strides, size, expected):
    layer = kl.ConvBlock(5, 3, strides=strides, padding=padding)
    assert tuple(layer(_rand(rng, 1, size, size + 2, 3)).shape)[1:3] == (
        expected,
        layer.compute_output_shape((1, size, size + 2, 3))[2],
    )
    assert layer.compute_output_shape((1, size, size, 3)) == (1, expected, expected, 5)


def test_conv_block_zero_padding_is_conv_same(rng):
    x = _rand(rng, 1, 8, 6, 3)
    block = kl.ConvBlock(4, 3, normalization="none", activation=None, padding="zero")
    y = to_numpy(block(x))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    conv.build(x.shape)
    conv.set_weights(block.conv.get_weights())
    np.testing.assert_allclose(y, to_numpy(conv(x)), rtol=1e-5, atol=1e-5)


def test_conv_block_reflect_padding_is_pad_then_valid_conv(rng):
    x = _rand(rng, 1, 8, 6, 3)
    block = kl.ConvBlock(4, 5, normalization="none", activation=None)
    y = to_numpy(block(x))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    np.testing.assert_allclose(y, to_numpy(block.conv(padded)), rtol=1e-6)


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (5, 6), (64, 61)])
@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_output_conv_blocked_inference_equals_the_plain_convolution(rng, size, padding):
    """The RGB output layer (9x9, 3 filters, 16+ input channels) computes 4x4 output pixels
    at a time at inference (kl.blocked_conv) and plainly in training: the same numbers."""
    x = _rand(rng, 2, *size, 16)
    block = kl.ConvBlock(3, 9, normalization="none", activation=None, padding=padding)
    block.build(x.shape)
    block.conv.bias.assign(rng.standard_normal(3).astype("float32"))
    assert block.blocked_inference
    inference = to_numpy(block(x))
    plain = to_numpy(block(x, training=True))  # training: the plain convolution
    pads = ((0, 0), (4, 4), (4, 4), (0, 0))
    reference = to_numpy(block.conv(np.pad(x, pads, mode="reflect" if padding == "reflect"
                                              else "constant")))  # fmt: skip
    np.testing.assert_allclose(plain, reference, rtol=1e-6, atol=1e-6)
    assert inference.shape == plain.shape == (2, *size, 3)
    np.testing.assert_allclose(inference, plain, rtol=1e-4, atol=1e-4)
    with kl.constant_blocked_kernels([block]):  # the kernel as a constant (exports)
        np.testing.assert_allclose(to_numpy(block(x)), inference, rtol=1e-6, atol=1e-6)


def test_blocked_inference_only_for_rgb_output_layers():
    def block(filters, kernel, channels, strides=1):
        layer = kl.ConvBlock(filters, kernel, strides=strides, normalization="none")
        layer.build((None, 16, 16, channels))
        return layer.blocked_inference

    assert block(3, 9, 16) and block(4, 9, 32) and block(1, 11, 64)
    assert not block(3, 9, 3)  # the RGB input layer of a tiny net
    assert not block(8, 9, 32)  # enough output channels to fill the vector lanes
    assert not block(3, 3, 32)  # a 3x3 kernel would cost 4x the multiply-adds
    assert not block(3, 9, 32, strides=2)
    assert not kl.ConvBlock(3, 9).blocked_inference  # not built


@pytest.mark.parametrize("kernel_size,block", [((9, 9), 4), ((11, 10), 4), ((9, 9), 2), ((5, 7), 2)])
def test_blocked_conv_is_a_valid_convolution(rng, kernel_size, block):
    kh, kw = kernel_size
    x = _rand(rng, 1, 13 + kh - 1, 10 + kw - 1, 5)
    kernel = rng.standard_normal((kh, kw, 5, 3)).astype("float32")
    bias = rng.standard_normal(3).astype("float32")
    window = (block * (-(-(kh - 1) // block) + 1), block * (-(-(kw - 1) // block) + 1))
    assert tuple(kl.blocked_kernel(kernel, block).shape) == (*window, 5, block * block * 3)
    got = to_numpy(kl.blocked_conv(x, kernel, bias, 13, 10, block))
    want = to_numpy(keras.ops.conv(x, kernel, padding="valid")) + bias
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_blocks_with_normalization_have_no_bias():
    block = kl.ConvBlock(4, 3)
    block.build((None, 8, 8, 3))
    assert [w.name for w in block.trainable_weights] == ["kernel", "gamma", "beta"]
    plain = kl.ConvBlock(4, 3, normalization="none")
    plain.build((None, 8, 8, 3))
    assert [w.name for w in plain.trainable_weights] == ["kernel", "bias"]


def test_residual_block_identity_shortcut(rng):
    x = _rand(rng, 2, 6, 6, 4)
    block = kl.ResidualBlock(4, normalization="none")
    block.build(x.shape)
    block.conv2.set_weights([np.zeros_like(w) for w in block.conv2.get_weights()])
    np.testing.assert_allclose(to_numpy(block(x)), x, atol=1e-6)


def test_residual_block_matches_reference(rng):
    """x + norm(conv2(pad(relu(norm(conv1(pad(x))))))), ReLU after the first conv only."""
    x = _rand(rng, 1, 6, 5, 4)
    block = kl.ResidualBlock(4)
    y = to_numpy(block(x))
    k1, k2 = block.conv1.get_weights()[0], block.conv2.get_weights()[0]

    def conv(v, k):
        p = np.pad(v, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        out = np.zeros(v.shape[:3] + (k.shape[-1],), "float64")
        for i in range(3):
            for j in range(3):
                out += p[:, i : i + v.shape[1], j : j + v.shape[2]] @ k[i, j]
        return out

    def norm(v):
        return (v - v.mean((1, 2), keepdims=True)) / np.sqrt(v.var((1, 2), keepdims=True) + 1e-5)

    expected = x + norm(conv(np.maximum(norm(conv(x, k1)), 0), k2))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_residual_block_channel_mismatch_raises(rng):
    with pytest.raises(ValueError, match="set filters=3"):
        kl.ResidualBlock(8)(_rand(rng, 1, 4, 4, 3))


# Every mode with every normalization under TensorFlow; under JAX (which compiles each new
# operation and shape, slowly on CPU) every mode once and every normalization once.
_UPSAMPLING_CASES = [
    (mode, norm)
    if BACKEND == "tensorflow" or kl.UPSAMPLING_MODES.index(mode) == kl.NORMALIZATIONS.index(norm)
    else pytest.param(mode, norm, marks=pytest.mark.skip(reason="covered under TensorFlow"))
    for mode in kl.UPSAMPLING_MODES
    for norm in kl.NORMALIZATIONS
]


@pytest.mark.parametrize("mode,normalization", _UPSAMPLING_CASES)
def test_upsampling_block_modes(rng, mode, normalization):
    layer = kl.UpsamplingBlock(6, mode=mode, normalization=normalization)
    y = layer(_rand(rng, 2, 5, 7, 4))
    assert tuple(y.shape) == (2, 10, 14, 6)
    assert layer.compute_output_shape((None, None, 7, 4)) == (None, None, 14, 6)
    assert tuple(layer(keras.Input((None, None, 4))).shape) == (None, None, None, 6)
    assert np.all(to_numpy(y) >= 0)  # ReLU


def test_upsampling_block_resize_is_nearest_then_conv(rng):
    x = _rand(rng, 1, 3, 4, 2)
    layer = kl.UpsamplingBlock(3, mode="resize", normalization="none", activation=None)
    y = to_numpy(layer(x))
    up = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    up = np.pad(up, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    np.testing.assert_allclose(y, to_numpy(layer.conv(up)), rtol=1e-6)


def test_upsampling_factor_four(rng):
    layer = kl.UpsamplingBlock(3, mode="subpixel", factor=4)
    assert tuple(layer(_rand(rng, 1, 3, 2, 2)).shape) == (1, 12, 8, 3)


# --- depth_to_space ---------------------------------------------------------------------


def _depth_to_space_reference(x, r):
    b, h, w, c = x.shape
    out = np.zeros((b, h * r, w * r, c // (r * r)), x.dtype)
    oc = c // (r * r)
    for i in range(r):
        for j in range(r):
            out[:, i::r, j::r, :] = x[..., (i * r + j) * oc : (i * r + j + 1) * oc]
    return out


@pytest.mark.parametrize("r", [2, 3])
def test_depth_to_space_matches_reference(rng, r):
    x = _rand(rng, 2, 3, 4, 2 * r * r)
    np.testing.assert_array_equal(
        to_numpy(keras.ops.depth_to_space(x, r)), _depth_to_space_reference(x, r)
    )
    np.testing.assert_array_equal(to_numpy(kl.DepthToSpace(r)(x)), _depth_to_space_reference(x, r))


@requires_tf
def test_depth_to_space_matches_tf(rng):
    import tensorflow as tf

    x = _rand(rng, 2, 3, 4, 12)
    np.testing.assert_array_equal(to_numpy(kl.DepthToSpace(2)(x)), tf.nn.depth_to_space(x, 2))


def test_depth_to_space_bad_channels(rng):
    with pytest.raises(ValueError, match="divisible by block_size"):
        kl.DepthToSpace(2)(_rand(rng, 1, 2, 2, 6))


# --- PadToMultiple / CropToReference / BoundedOutput -------------------------------------


def test_pad_to_multiple_and_crop_round_trip(rng):
    x = _rand(rng, 1, 63, 65, 3)
    padded = to_numpy(kl.PadToMultiple(4)(x))
    assert padded.shape == (1, 64, 68, 3)
    np.testing.assert_array_equal(
        padded, np.pad(x, ((0, 0), (0, 1), (0, 3), (0, 0)), mode="reflect")
    )
    np.testing.assert_array_equal(to_numpy(kl.CropToReference()([padded, x])), x)
    assert kl.PadToMultiple(4).compute_output_shape((None, 5, None, 3)) == (None, 8, None, 3)
    assert kl.CropToReference().compute_output_shape([(2, 8, 8, 6), (2, 5, None, 3)]) == (
        2,
        5,
        None,
        6,
    )


def test_pad_to_multiple_min_size(rng):
    layer = kl.PadToMultiple(4, min_size=5)
    with pytest.raises(ValueError, match="needs at least 5x5"):
        layer(_rand(rng, 1, 4, 9, 3))
    # Reflecting up to 3 pixels needs 4: the minimum is raised to what the mode can do.
    assert kl.PadToMultiple(4, mode="reflect", min_size=1).min_size == 4
    assert kl.PadToMultiple(4, mode="constant", min_size=1).min_size == 1


@pytest.mark.parametrize("activation", kl.OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), (0, 255)])
def test_bounded_output_range(activation, value_range):
    x = np.array([[-1e4, -3.0, 0.0, 3.0, 1e4]], "float32")
    y = to_numpy(kl.BoundedOutput(activation, value_range)(x))
    low, high = value_range
    assert np.all(y >= low) and np.all(y <= high)
    np.testing.assert_allclose(y[0, [0, 2, 4]], [low, (low + high) / 2, high], rtol=1e-6, atol=1e-6)


def test_bounded_output_is_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    y = kl.BoundedOutput(dtype="float32")(np.ones((1, 2), "float16"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bicubic_upsample_matches_tf_image_resize_inside(rng, factor):
    tf = pytest.importorskip("tensorflow")
    x = rng.random((2, 10, 12, 3), dtype=np.float32)
    ours = to_numpy(kl.bicubic_upsample(x, factor))
    ref = tf.image.resize(tf.constant(x), (10 * factor, 12 * factor), "bicubic").numpy()
    m = 2 * factor  # the border, where TensorFlow renormalizes instead of replicating
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours[:, m:-m, m:-m], ref[:, m:-m, m:-m], atol=1e-5)
    np.testing.assert_allclose(ours, ref, atol=0.15)  # and close everywhere
    const = to_numpy(kl.bicubic_upsample(np.full((1, 3, 3, 1), 0.25, "float32"), factor))
    np.testing.assert_allclose(const, 0.25, atol=1e-6)


def test_bicubic_upsample_checks_its_arguments(rng):
    """Was: factor=2.5 was truncated to a x2 result, uint8 images had the kernel's taps cast
    to uint8 (a wrong image), 0 and 1 gave backend errors."""
    from keras_perceptual.errors import InputError

    x = rng.random((1, 4, 5, 3), dtype=np.float32)
    for factor in (2.5, 0, "4", None, True):
        with pytest.raises(InputError, match=r"factor must be an integer >= 1\. Received"):
            kl.bicubic_upsample(x, factor)
    np.testing.assert_array_equal(to_numpy(kl.bicubic_upsample(x, 1)), x)
    assert to_numpy(kl.bicubic_upsample(x, np.int64(2))).shape == (1, 8, 10, 3)
    with pytest.raises(InputError, match=r"x has dtype uint8; expected floating-point"):
        kl.bicubic_upsample((x * 255).astype("uint8"), 2)
    with pytest.raises(InputError, match=r"x must be a rank-4 batch"):
        kl.bicubic_upsample(x[0], 2)
    for function in (kl.blocked_kernel, lambda k, b: kl.blocked_conv(x, k, None, 1, 1, b)):
        with pytest.raises(InputError, match=r"block must be an integer >= 2\. Received"):
            function(np.zeros((3, 3, 3, 3), "float32"), 1)


@pytest.mark.parametrize("activation", kl.OUTPUT_ACTIVATIONS)
def test_logit_skip_inverts_the_output_activation(rng, activation):
    image = rng.random((1, 4, 4, 3), dtype=np.float32) * 2 - 1
    logits = kl.LogitSkip(activation, (-1, 1))([np.zeros_like(image), image])
    back = to_numpy(kl.BoundedOutput(activation, (-1, 1))(logits))
    np.testing.assert_allclose(back, np.clip(image, -0.998, 0.998), atol=1e-5)



@pytest.mark.parametrize("activation", kl.OUTPUT_ACTIVATIONS)
def test_logit_skip_matches_numpy_logit(rng, activation):
    # Written as log(u) - log(1 - u) so int8 TFLite can represent it; same numbers as the logit.
    image = rng.random((2, 5, 6, 3), dtype=np.float32)
    logits = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    got = to_numpy(kl.LogitSkip(activation, (0, 1), epsilon=1e-3)([logits, image]))
    unit = np.clip(image.astype("float64"), 1e-3, 1 - 1e-3)
    base = np.log(unit / (1 - unit)) * (0.5 if activation == "tanh" else 1.0)
    np.testing.assert_allclose(got, logits + base, atol=2e-6)
    if activation == "tanh":
        np.testing.assert_allclose(base, np.arctanh(2 * unit - 1), atol=1e-9)


@pytest.mark.parametrize("height", [8, 9, 10, 11])
def test_pad_to_multiple_every_remainder(rng, height):
    # (m - h % m) % m: the padding ONNX converters reproduce (they mistranslate (-h) % m).
    x = _rand(rng, 1, height, 5, 2)
    padded = to_numpy(kl.PadToMultiple(4)(x))
    pad_h = (4 - height % 4) % 4
    np.testing.assert_array_equal(
        padded, np.pad(x, ((0, 0), (0, pad_h), (0, 3), (0, 0)), mode="reflect")
    )

# --- Configs and bad arguments ------------------------------------------------------------


LAYERS = [
    kl.ReflectionPadding2D(((1, 2), (3, 4))),
    kl.InstanceNormalization(epsilon=1e-3, center=False),
    kl.ConvBlock(8, (5, 3), strides=2, normalization="batch", activation="elu", padding="zero"),
    kl.ResidualBlock(8, kernel_size=5, normalization="none", padding="zero"),
    kl.UpsamplingBlock(4, mode="subpixel", factor=4, normalization="batch", activation=None),
    kl.DepthToSpace(3),
    kl.PadToMultiple(8, mode="symmetric", min_size=9),
    kl.CropToReference(),
    kl.BoundedOutput("sigmoid", (-1, 1)),
    kl.LogitSkip("sigmoid", (-1, 1), epsilon=1e-2, factor=4),
    kl.ConditionalInstanceNormalization(5, epsilon=1e-3, center=False),
    kl.AdaptiveInstanceNormalization(alpha=0.25, epsilon=1e-4),
    kl.ConvBlock(8, normalization="conditional", num_styles=3),
    kl.ResidualBlock(8, normalization="conditional", num_styles=2),
    kl.UpsamplingBlock(4, mode="resize", normalization="conditional", num_styles=4),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: kl.ConvBlock(4, normalization="layer"), "'instance', 'batch', 'none'"),
        (lambda: kl.ConvBlock(4, padding="same"), "'reflect', 'zero'"),
        (lambda: kl.ConvBlock(0), "filters must be an integer >= 1"),
        (lambda: kl.ConvBlock(4, activation="nope"), "activation"),
        (lambda: kl.ResidualBlock(4, normalization="group"), "'instance', 'batch', 'none'"),
        (lambda: kl.UpsamplingBlock(4, mode="bilinear"), "'transpose', 'resize', 'subpixel'"),
        (lambda: kl.UpsamplingBlock(4, factor=1), "factor"),
        (lambda: kl.PadToMultiple(4, mode="edge"), "'reflect', 'symmetric', 'constant'"),
        (lambda: kl.BoundedOutput("relu"), "'tanh', 'sigmoid'"),
        (lambda: kl.BoundedOutput(value_range=(1, 0)), "value_range"),
        (lambda: kl.LogitSkip(epsilon=0.7), "epsilon must be in"),
        (lambda: kl.ConditionalInstanceNormalization(0), "num_styles must be an integer >= 1"),
        (lambda: kl.ConvBlock(4, normalization="conditional"), "num_styles must be an integer"),
        (lambda: kl.ConvBlock(4, num_styles=3), "only used with normalization='conditional'"),
        (lambda: kl.AdaptiveInstanceNormalization(alpha=1.5), "alpha must be a number in"),
        (lambda: kl.AdaptiveInstanceNormalization(alpha="x"), "Received: alpha='x'"),
        (lambda: kl.AdaptiveInstanceNormalization(epsilon=-1.0), "epsilon"),
    ],
)
def test_bad_arguments_raise(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


# --- ConditionalInstanceNormalization ----------------------------------------------------


def _instance_norm_reference(x, gamma, beta, epsilon=1e-5):
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def _cin(rng, num_styles=3, channels=4):
    layer = kl.ConditionalInstanceNormalization(num_styles)
    layer.build([(None, None, None, channels), (None, num_styles)])
    gamma = rng.random((num_styles, channels)).astype("float32") + 0.5
    beta = _rand(rng, num_styles, channels)
    layer.set_weights([gamma, beta])
    return layer, gamma, beta


def test_conditional_instance_norm_one_hot_selects_a_style(rng):
    layer, gamma, beta = _cin(rng)
    x = _rand(rng, 3, 5, 6, 4) * 2 + 1
    weights = np.eye(3, dtype="float32")[[2, 0, 1]]  # a different style per image
    y = to_numpy(layer([x, weights]))
    for i, style in enumerate([2, 0, 1]):
        expected = _instance_norm_reference(x[i : i + 1], gamma[style], beta[style])
        np.testing.assert_allclose(y[i : i + 1], expected, rtol=1e-5, atol=1e-5)


def test_conditional_instance_norm_blends_parameters_convexly(rng):
    layer, gamma, beta = _cin(rng)
    x = _rand(rng, 1, 5, 5, 4)
    pure = [to_numpy(layer([x, np.eye(3, dtype="float32")[[k]]])) for k in range(3)]
    for t in (0.0, 0.3, 1.0):
        w = np.array([[t, 1 - t, 0.0]], "float32")
        expected = _instance_norm_reference(x, w @ gamma, w @ beta)
        y = to_numpy(layer([x, w]))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
        if t in (0.0, 1.0):  # the blend's endpoints are the pure styles
            np.testing.assert_allclose(y, pure[0] if t == 1.0 else pure[1], atol=1e-6)
    # Normalization is linear in (gamma, beta): the blend of outputs is the output of the blend.
    mid = to_numpy(layer([x, np.array([[0.5, 0.5, 0.0]], "float32")]))
    np.testing.assert_allclose(mid, 0.5 * pure[0] + 0.5 * pure[1], atol=1e-5)


def test_conditional_instance_norm_statistics_override_and_subclass(rng):
    layer, gamma, beta = _cin(rng, num_styles=2, channels=3)
    assert isinstance(layer, kl.InstanceNormalization)  # tiled inference treats it as one
    x = _rand(rng, 1, 4, 4, 3)
    w = np.array([[0.0, 1.0]], "float32")
    with kl.instance_norm_statistics(lambda lyr, inputs: (np.zeros(3), np.ones(3))):
        y = to_numpy(layer([x, w]))
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5) * gamma[1] + beta[1], rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 4), (2, 3, 1), (2,)])
def test_conditional_instance_norm_wrong_style_weights_shape(rng, shape):
    layer = kl.ConditionalInstanceNormalization(3)
    with pytest.raises(ValueError, match=r"style_weights of shape \(batch, 3\).*Received"):
        layer([_rand(rng, 2, 4, 4, 2), np.ones(shape, "float32")])


def test_conditional_instance_norm_mixed_precision(rng):
    keras.config.set_dtype_policy("mixed_float16")
    layer = kl.ConditionalInstanceNormalization(2)
    x = _rand(rng, 1, 4, 4, 2)
    y = layer([x, np.array([[1.0, 0.0]], "float32")])
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert layer.gamma.dtype == "float32" and tuple(layer.gamma.shape) == (2, 2)
    np.testing.assert_allclose(
        to_numpy(y).astype("float32"), _instance_norm_reference(x, 1.0, 0.0), atol=5e-3
    )


def test_conditional_blocks_take_style_weights(rng):
    x = _rand(rng, 2, 8, 8, 4)
    w = np.eye(2, dtype="float32")
    for block in (
        kl.ConvBlock(4, normalization="conditional", num_styles=2),
        kl.ResidualBlock(4, normalization="conditional", num_styles=2),
        kl.UpsamplingBlock(4, normalization="conditional", num_styles=2),
    ):
        y = block([x, w])
        assert tuple(y.shape) == block.compute_output_shape([x.shape, w.shape])
        assert any("gamma" in v.path and tuple(v.shape) == (2, 4) for v in block.weights)
        with pytest.raises(ValueError, match=r"called on \[x, style_weights\]"):
            block(x)


# --- AdaptiveInstanceNormalization -------------------------------------------------------


def _adain_reference(content, style, alpha=1.0, epsilon=1e-5):
    c_mean = content.mean(axis=(1, 2), keepdims=True)
    c_std = np.sqrt(content.var(axis=(1, 2), keepdims=True) + epsilon)
    s_mean = style.mean(axis=(1, 2), keepdims=True)
    s_std = np.sqrt(style.var(axis=(1, 2), keepdims=True) + epsilon)
    target = s_std * (content - c_mean) / c_std + s_mean
    return alpha * target + (1 - alpha) * content


def test_adain_output_has_the_style_statistics(rng):
    content = _rand(rng, 2, 7, 9, 5) * 3 + 2  # statistics far from the style's
    style = rng.random((2, 11, 6, 5)).astype("float32") * 4 - 1
    y = to_numpy(kl.AdaptiveInstanceNormalization(epsilon=1e-12)([content, style]))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), style.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(1, 2)), style.std(axis=(1, 2)), atol=1e-5)
    # The reference (default epsilon), with a style batch of one broadcast over the content.
    layer = kl.AdaptiveInstanceNormalization()
    np.testing.assert_allclose(
        to_numpy(layer([content, style[:1]])), _adain_reference(content, style[:1]),
        rtol=1e-5, atol=1e-5,
    )


def test_adain_alpha_trades_content_for_style(rng):
    content, style = _rand(rng, 2, 6, 6, 3), _rand(rng, 2, 5, 5, 3)
    np.testing.assert_array_equal(
        to_numpy(kl.AdaptiveInstanceNormalization(alpha=0.0)([content, style])), content
    )
    np.testing.assert_allclose(
        to_numpy(kl.AdaptiveInstanceNormalization(alpha=0.3)([content, style])),
        _adain_reference(content, style, 0.3), rtol=1e-5, atol=1e-5,
    )
    # A per-image alpha as a third input overrides the constructor's.
    alpha = np.array([0.0, 0.6], "float32")
    y = to_numpy(kl.AdaptiveInstanceNormalization()([content, style, alpha]))
    np.testing.assert_allclose(y[0], content[0], atol=1e-6)
    np.testing.assert_allclose(
        y[1:], _adain_reference(content[1:], style[1:], 0.6), rtol=1e-5, atol=1e-5
    )


def test_adain_interpolating_statistics_interpolates_outputs(rng):
    layer = kl.AdaptiveInstanceNormalization()
    content = _rand(rng, 1, 6, 6, 3)
    styles = [_rand(rng, 1, 5, 5, 3) * 2, rng.random((1, 4, 7, 3)).astype("float32")]
    stats = [layer.style_statistics(s) for s in styles]
    mean = 0.25 * to_numpy(stats[0][0]) + 0.75 * to_numpy(stats[1][0])
    std = 0.25 * to_numpy(stats[0][1]) + 0.75 * to_numpy(stats[1][1])
    mixed = to_numpy(layer.transfer(content, mean, std))
    expected = 0.25 * to_numpy(layer([content, styles[0]])) + 0.75 * to_numpy(
        layer([content, styles[1]])
    )
    np.testing.assert_allclose(mixed, expected, rtol=1e-5, atol=1e-5)


def test_adain_gradient_matches_finite_differences(rng):
    from tests.conftest import gradient

    content = rng.standard_normal((1, 3, 3, 2)) * 2
    style = _rand(rng, 1, 4, 4, 2)
    probe = rng.standard_normal((1, 3, 3, 2))
    layer = kl.AdaptiveInstanceNormalization(alpha=0.7, epsilon=1e-3)

    def f(x):
        return keras.ops.sum(layer([x, style]) * probe)

    grad = gradient(f, content.astype("float32"))
    reference = np.zeros_like(content)
    h = 1e-3
    for index in np.ndindex(content.shape):
        up, down = content.copy(), content.copy()
        up[index] += h
        down[index] -= h
        reference[index] = (
            (_adain_reference(up, style, 0.7, 1e-3) * probe).sum()
            - (_adain_reference(down, style, 0.7, 1e-3) * probe).sum()
        ) / (2 * h)
    np.testing.assert_allclose(grad, reference, rtol=2e-3, atol=2e-3)


def test_adain_mixed_precision_and_symbolic_shapes(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    layer = kl.AdaptiveInstanceNormalization()
    y = layer([_rand(rng, 1, 4, 4, 2), _rand(rng, 1, 3, 3, 2)])
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    keras.config.set_dtype_policy("float32")
    out = kl.AdaptiveInstanceNormalization()(
        [keras.Input((None, None, 8)), keras.Input((None, None, 8))]
    )
    assert tuple(out.shape) == (None, None, None, 8)


@pytest.mark.parametrize(
    "content_shape,style_shape,match",
    [
        ((2, 4, 4, 3), (2, 4, 4, 5), "same channel count"),
        ((2, 4, 4, 3), (3, 4, 4, 3), "batch of 1"),
        ((2, 4, 4, 3), (4, 4, 3), "rank-4"),
    ],
)
def test_adain_bad_inputs(rng, content_shape, style_shape, match):
    with pytest.raises(ValueError, match=match):
        kl.AdaptiveInstanceNormalization()([_rand(rng, *content_shape), _rand(rng, *style_shape)])


# --- Batch sizes, alpha and epsilon of the style layers: clear errors. ---


@pytest.mark.parametrize("features_batch,weights_batch", [(2, 3), (2, 1), (1, 2)])
def test_conditional_instance_norm_batch_mismatch(rng, features_batch, weights_batch):
    """style_weights (1, N) for 2 images silently gave every image the first row's style;
    (2, N) for 1 image silently returned a batch of 2."""
    from keras_perceptual.errors import InputError

    layer = kl.ConditionalInstanceNormalization(3)
    with pytest.raises(InputError, match=(
            r"features and style_weights must have the same batch size.*np.repeat.*"
            rf"Received: features.shape=\({features_batch}, 4, 4, 2\), "
            rf"style_weights.shape=\({weights_batch}, 3\)")):
        layer([_rand(rng, features_batch, 4, 4, 2), np.eye(3, dtype="float32")[:weights_batch]])
    # At build, from symbolic shapes, too.
    with pytest.raises(InputError, match="same batch size"):
        kl.ConditionalInstanceNormalization(3)(
            [keras.Input((4, 4, 2), batch_size=features_batch),
             keras.Input((3,), batch_size=weights_batch)])
    # Unknown batches build; matching ones compute.
    out = kl.ConditionalInstanceNormalization(3)([keras.Input((None, None, 2)), keras.Input((3,))])
    assert tuple(out.shape) == (None, None, None, 2)
    assert tuple(layer([_rand(rng, 2, 4, 4, 2), np.eye(3, dtype="float32")[:2]]).shape) == (
        2, 4, 4, 2)


@requires_tf
def test_conditional_instance_norm_batch_mismatch_in_a_graph(rng):
    """Batches unknown when a tf.function is traced are checked when it runs."""
    import tensorflow as tf

    layer = kl.ConditionalInstanceNormalization(3)
    fn = tf.function(lambda f, w: layer([f, w]), input_signature=[
        tf.TensorSpec((None, 4, 4, 2)), tf.TensorSpec((None, 3))])
    assert tuple(fn(_rand(rng, 2, 4, 4, 2), np.eye(3, dtype="float32")[:2]).shape) == (2, 4, 4, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        fn(_rand(rng, 2, 4, 4, 2), np.eye(3, dtype="float32")[:1])


def test_adain_alpha_and_epsilon_errors(rng):
    from keras_perceptual.errors import InputError
    from keras_perceptual.losses import AdaINLoss

    content, style = _rand(rng, 2, 6, 6, 3), _rand(rng, 1, 5, 5, 3)
    for epsilon in (0, 0.0, -1e-5, float("nan"), "x"):
        with pytest.raises(InputError, match=rf"epsilon must be a finite number > 0.*"
                                             rf"Received: epsilon={epsilon!r}"):
            kl.AdaptiveInstanceNormalization(epsilon=epsilon)
    with pytest.raises(InputError, match="epsilon must be a finite number > 0"):
        AdaINLoss(epsilon=0.0, weights=None, backbone="vgg16", style_layers="relu1_1")
    with pytest.raises(InputError, match="epsilon must be a finite number > 0"):
        kl.InstanceNormalization(epsilon=float("inf"))
    layer = kl.AdaptiveInstanceNormalization()
    mean, std = layer.style_statistics(style)
    # A call's alpha given as a number, list or array: outside [0, 1] was extrapolated.
    for alpha, shown in ((np.float32(1.5), "1.5"), (np.array(-0.25, "float32"), "-0.25"),
                         (np.array([0.5, 2.0], "float32"), "2.0"),
                         (keras.ops.convert_to_tensor(np.array([0.2, np.nan], "float32")), "nan")):
        with pytest.raises(InputError, match=rf"alpha must be a number in \[0, 1\].*"
                                             rf"Received: alpha={shown}"):
            layer([content, style, alpha])
    for alpha in (1.2, [0.5, -1.0]):
        with pytest.raises(InputError, match=r"alpha must be a number in \[0, 1\]"):
            layer.transfer(content, mean, std, alpha=alpha)
    # A per-image alpha of another batch (3 alphas, 2 images) or shape.
    for alpha in (np.full(3, 0.5, "float32"), np.full((2, 2), 0.5, "float32"),
                  np.full((2, 1, 1), 0.5, "float32")):
        with pytest.raises(InputError, match=r"alpha must be a number, or one per image.*"
                                             "Received: alpha.shape=" + re.escape(str(alpha.shape))):
            layer([content, style, alpha])
    # The valid forms agree with the layer's own alpha.
    expected = to_numpy(kl.AdaptiveInstanceNormalization(alpha=0.5)([content, style]))
    for alpha in (np.full((2, 1), 0.5, "float32"), np.float32(0.5),
                  keras.ops.convert_to_tensor(np.full(2, 0.5, "float32"))):
        np.testing.assert_allclose(to_numpy(layer([content, style, alpha])), expected,
                                   rtol=1e-6, atol=1e-6)
    for alpha in (0.5, [0.5, 0.5]):
        np.testing.assert_allclose(to_numpy(layer.transfer(content, mean, std, alpha=alpha)),
                                   expected, rtol=1e-6, atol=1e-6)


def test_adain_alpha_held_in_a_variable_is_checked_eagerly_and_runs_compiled(rng):
    # stylize() keeps alpha in a layer's variable; inside predict's compiled step (a JAX
    # tracer under the JAX backend) its value cannot be read, and must not be.
    from keras_perceptual.errors import InputError

    class HeldAlpha(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.adain = kl.AdaptiveInstanceNormalization()
            self.alpha = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, content, style):
            mean, std = self.adain.style_statistics(style)
            return self.adain.transfer(content, mean, std, alpha=self.alpha)

    content, style = _rand(rng, 2, 6, 6, 3), _rand(rng, 2, 5, 5, 3)
    layer = HeldAlpha()
    c, s = keras.Input((6, 6, 3)), keras.Input((5, 5, 3))
    model = keras.Model([c, s], layer(c, s))
    layer.alpha.assign(0.5)
    expected = to_numpy(kl.AdaptiveInstanceNormalization(alpha=0.5)([content, style]))
    np.testing.assert_allclose(model.predict([content, style], verbose=0), expected,
                               rtol=1e-5, atol=1e-5)
    layer.alpha.assign(1.5)
    with pytest.raises(InputError, match=r"alpha must be a number in \[0, 1\]"):
        layer(content, style)  # eager: the variable's value is known


def test_flags_and_numpy_integers_in_constructors():
    """Before: InstanceNormalization(center="no") kept the offset (a truthy string) and
    ReflectionPadding2D(np.int64(2)) was refused although every int argument takes numpy's."""
    for layer in (kl.InstanceNormalization, lambda **kw: kl.ConditionalInstanceNormalization(2, **kw)):
        for name in ("center", "scale"):
            with pytest.raises(ValueError, match=rf"{name} must be True or False.*{name}='no'"):
                layer(**{name: "no"})
    assert kl.InstanceNormalization(center=np.bool_(False)).get_config()["center"] is False
    assert kl.ReflectionPadding2D(np.int64(2)).get_config()["padding"] == [[2, 2], [2, 2]]
    x = np.zeros((1, 4, 4, 1), "float32")
    assert tuple(kl.ReflectionPadding2D((np.int32(1), 2))(x).shape) == (1, 6, 8, 1)
