"""The transformation networks: shapes, ranges, parameter counts, persistence, precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_perceptual import layers as kl
from keras_perceptual.models import (
    arbitrary_style_net,
    model_value_range,
    multi_style_transfer_net,
    style_transfer_net,
    super_resolution_net,
)
from tests.conftest import BACKEND, to_numpy

TINY = {"filters": 4, "num_residual_blocks": 1}

# JAX compiles every new (operation, shape) pair, which dominates its run time on CPU: the
# full matrices run under TensorFlow, JAX runs a representative subset (the layers' own
# tests cover every mode and normalization under JAX).
tf_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="matrix covered under TensorFlow; JAX runs a subset"
)


def _matrix(values, jax_subset):
    return [v if v in jax_subset else pytest.param(v, marks=tf_only) for v in values]


# Three tiny configurations shared by the tests (one per normalization/up-sampling family),
# on one input shape, so that JAX compiles each operation once.
CONFIGS = {
    "style-instance": lambda **kw: style_transfer_net(**TINY, **kw),
    "style-batch": lambda **kw: style_transfer_net(
        normalization="batch", upsampling="subpixel", **TINY, **kw
    ),
    "sr4": lambda **kw: super_resolution_net(4, upsampling="resize", **TINY, **kw),
}
NORM_CLASS = {
    "style-instance": "InstanceNormalization",
    "style-batch": "BatchNormalization",
    "sr4": "BatchNormalization",
}
X_SHAPE = (2, 16, 16, 3)


def _images(rng, *shape):
    return rng.random(shape, dtype=np.float32)


def _randomize(model, rng, scale=1.0):
    """Large random weights: the output bound must not depend on sensible weights."""
    for w in model.weights:
        value = rng.standard_normal(tuple(w.shape)) * scale
        if "variance" in w.path:
            value = np.abs(value) + 1e-3
        w.assign(value.astype(w.dtype))


# --- Architecture -------------------------------------------------------------------------


def test_style_net_parameter_count_and_names():
    model = style_transfer_net()
    # 1,679,235 in the official code, less the 1,600 conv biases its normalizations cancel.
    assert model.count_params() == 1_677_635
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_677_635
    assert [layer.name for layer in model.layers] == [
        "image",
        "align_pad",
        "conv_in",
        "down1",
        "down2",
        "res1",
        "res2",
        "res3",
        "res4",
        "res5",
        "up1",
        "up2",
        "conv_out",
        "align_crop",
        "output",
    ]
    shapes = {}
    x = keras.Input((256, 256, 3))
    for layer in model.layers[2:13]:
        x = layer(x)
        shapes[layer.name] = tuple(x.shape[1:])
    assert shapes["conv_in"] == (256, 256, 32)
    assert shapes["down1"] == (128, 128, 64)
    assert shapes["down2"] == (64, 64, 128)
    assert shapes["res5"] == (64, 64, 128)
    assert shapes["up1"] == (128, 128, 64)
    assert shapes["up2"] == (256, 256, 32)
    assert shapes["conv_out"] == (256, 256, 3)


@pytest.mark.parametrize("scale,params,ups", [(4, 402_563, 2), (8, 439_683, 3)])
def test_sr_net_parameter_count_and_names(scale, params, ups):
    model = super_resolution_net(scale)
    assert model.count_params() == params  # includes BatchNorm moving statistics
    names = [layer.name for layer in model.layers]
    assert names == (
        ["image", "input_check", "conv_in", "res1", "res2", "res3", "res4"]
        + [f"up{i}" for i in range(1, ups + 1)]
        + ["conv_out", "output"]
    )
    assert model.name == f"super_resolution_net_x{scale}"


@tf_only
def test_normalization_none_has_biases_and_no_norms():
    model = style_transfer_net(normalization="none", **TINY)
    assert model.get_layer("res1").norm1 is None
    assert model.get_layer("conv_in").conv.use_bias


# --- Shapes and ranges --------------------------------------------------------------------


@pytest.mark.parametrize("upsampling", _matrix(kl.UPSAMPLING_MODES, ["transpose"]))
def test_style_net_keeps_any_size(rng, upsampling):
    model = style_transfer_net(upsampling=upsampling, **TINY)
    for size in [(63, 65), (5, 6)]:
        y = to_numpy(model(_images(rng, 2, *size, 3)))
        assert y.shape == (2, *size, 3)
        assert y.dtype == np.float32


@pytest.mark.parametrize("upsampling", _matrix(kl.UPSAMPLING_MODES, ["transpose"]))
@pytest.mark.parametrize("scale", [4, 8])
def test_sr_net_scales_exactly(rng, upsampling, scale):
    model = super_resolution_net(scale, upsampling=upsampling, **TINY)
    y = to_numpy(model(_images(rng, 1, 15, 9, 3)))
    assert y.shape == (1, 15 * scale, 9 * scale, 3)


def test_symbolic_shapes():
    style = style_transfer_net(**TINY)
    assert tuple(style(keras.Input((63, 65, 3))).shape) == (None, 63, 65, 3)
    assert style.compute_output_shape((2, 63, 65, 3)) == (2, 63, 65, 3)
    sr = super_resolution_net(8, **TINY)
    assert tuple(sr(keras.Input((None, 7, 3))).shape) == (None, None, 56, 3)


@pytest.mark.parametrize("activation", kl.OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), (0, 255)])
def test_outputs_bounded_whatever_the_weights(rng, activation, value_range):
    low, high = value_range
    for config in ("style-instance", "sr4"):
        model = CONFIGS[config](value_range=value_range, output_activation=activation)
        _randomize(model, rng, scale=30.0)
        x = _images(rng, *X_SHAPE) * (high - low) + low
        y = to_numpy(model(x))
        assert np.all(np.isfinite(y))
        assert y.min() >= low and y.max() <= high
        assert model_value_range(model) == (float(low), float(high))


def test_model_value_range_of_foreign_model():
    inputs = keras.Input((None, None, 3))
    assert model_value_range(keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))) == (0.0, 1.0)


def test_model_value_range_and_precision_refuse_what_is_not_a_model():
    """Was: a path (or None) gave (0.0, 1.0) silently from model_value_range, and an
    AttributeError from model_precision."""
    from keras_perceptual.errors import InputError
    from keras_perceptual.models import model_precision

    for function in (model_value_range, model_precision):
        for bad in ("runs/starry/model.keras", None):
            with pytest.raises(InputError, match=r"load a model file first .* Received: model="):
                function(bad)
    assert model_precision(keras.layers.Dense(2, dtype="mixed_float16")) == "mixed_float16"


@pytest.mark.parametrize(
    "build",
    [lambda: style_transfer_net(**TINY), lambda: super_resolution_net(4, **TINY)],
    ids=["style", "sr"],
)
def test_too_small_input_raises(rng, build):
    model = build()
    with pytest.raises(ValueError, match="needs at least 5x5"):
        model(_images(rng, 1, 1, 1, 3))
    with pytest.raises(ValueError, match="needs at least 5x5"):
        build().predict(_images(rng, 1, 1, 1, 3), verbose=0)
    with pytest.raises(ValueError, match="needs at least"):
        build()(keras.Input((4, 32, 3)))


@tf_only
def test_zero_padding_accepts_smaller_inputs(rng):
    assert to_numpy(style_transfer_net(padding="zero", **TINY)(_images(rng, 1, 4, 4, 3))).shape == (
        1,
        4,
        4,
        3,
    )
    assert to_numpy(
        super_resolution_net(4, padding="zero", **TINY)(_images(rng, 1, 1, 1, 3))
    ).shape == (
        1,
        4,
        4,
        3,
    )


# --- Persistence, gradients, compilation, precision ---------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
def test_save_load_identical_outputs(tmp_path, rng, config):
    model = CONFIGS[config](value_range=(-1, 1))
    _randomize(model, rng, scale=0.3)
    x = _images(rng, *X_SHAPE)
    expected = to_numpy(model(x))
    path = tmp_path / "net.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(restored(x)), expected)
    assert model_value_range(restored) == model_value_range(model)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]


def _trainable_gradients(model, x):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - 0.3))
        return [
            None if g is None else np.asarray(g)
            for g in tape.gradient(loss, model.trainable_weights)
        ]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_fn(values):
            y, _ = model.stateless_call(values, non_trainable, x, training=True)
            return keras.ops.mean(keras.ops.square(y - 0.3))

        return [np.asarray(g) for g in jax.jit(jax.grad(loss_fn))(trainable)]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


@pytest.mark.parametrize("config", _matrix(CONFIGS, ["style-instance", "sr4"]))
def test_gradient_reaches_every_trainable_weight(rng, config):
    model = CONFIGS[config]()
    assert type(model.get_layer("res1").norm1).__name__ == NORM_CLASS[config]
    assert type(model.get_layer("up1").norm).__name__ == NORM_CLASS[config]
    grads = _trainable_gradients(model, _images(rng, *X_SHAPE))
    assert len(grads) == len(model.trainable_weights) > 0
    for weight, grad in zip(model.trainable_weights, grads, strict=True):
        assert grad is not None, weight.path
        assert np.all(np.isfinite(grad)), weight.path
        assert np.abs(grad).max() > 0, weight.path


@pytest.mark.parametrize("config", _matrix(CONFIGS, ["style-batch"]))
def test_jit_compile(rng, config):
    model = CONFIGS[config]()
    x = _images(rng, *X_SHAPE)
    expected = to_numpy(model(x))
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "policy,config", [("mixed_float16", "style-instance"), ("mixed_bfloat16", "sr4")]
)
def test_mixed_precision(rng, policy, config):
    keras.config.set_dtype_policy(policy)
    low = policy.split("_")[1]
    model = CONFIGS[config]()
    assert model.get_layer("conv_in").compute_dtype == low
    assert model.get_layer("conv_in").conv.compute_dtype == low
    assert model.get_layer("res1").conv1.compute_dtype == low
    assert model.get_layer("conv_in").conv.kernel.dtype == "float32"
    assert model.get_layer("output").compute_dtype == "float32"
    y = model(_images(rng, *X_SHAPE))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    y = to_numpy(y)
    assert np.all(np.isfinite(y)) and y.min() >= 0 and y.max() <= 1


# --- Bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: super_resolution_net(3), "scale must be one of 2, 4, 8"),
        (lambda: super_resolution_net(True), "scale must be one of"),
        (lambda: super_resolution_net(4.0), "scale must be one of"),  # before: accepted
        # The right factor in the wrong type is told so (was only "must be one of 2, 4, 8").
        (lambda: super_resolution_net(np.float32(8)), r"as an integer, e\.g\. scale=8"),
        (lambda: style_transfer_net(value_range="01"), r"value_range must be a pair"),  # (0, 1)
        (lambda: style_transfer_net(filters=0), "filters must be an integer >= 1"),
        (lambda: super_resolution_net(4, filters=0), "filters must be an integer >= 1"),
        (lambda: style_transfer_net(num_residual_blocks=-1), "num_residual_blocks"),
        (lambda: style_transfer_net(normalization="layer"), "'instance', 'batch', 'none'"),
        (lambda: super_resolution_net(4, normalization="group"), "'instance', 'batch', 'none'"),
        (lambda: style_transfer_net(upsampling="bilinear"), "'transpose', 'resize', 'subpixel'"),
        (lambda: super_resolution_net(8, upsampling="pixel"), "'transpose', 'resize', 'subpixel'"),
        (lambda: style_transfer_net(padding="same"), "'reflect', 'zero'"),
        (lambda: style_transfer_net(value_range=(1, 0)), "value_range"),
        (lambda: style_transfer_net(output_activation="relu"), "'tanh', 'sigmoid'"),
        (lambda: super_resolution_net(4, skip="bilinear"), "skip must be None"),
        (lambda: multi_style_transfer_net(0), "num_styles must be an integer >= 1"),
        (lambda: multi_style_transfer_net(2, upsampling="x"), "'transpose', 'resize'"),
        (lambda: arbitrary_style_net(weights=None, alpha=-0.1), "alpha must be a number in"),
        (lambda: arbitrary_style_net(weights=None, backbone="resnet"), "'vgg16', 'vgg19'"),
        (lambda: arbitrary_style_net(weights=None, filters=0), "filters must be an integer"),
        (lambda: arbitrary_style_net(weights="nope"), "weights file .nope. does not exist"),
    ],
)
def test_bad_arguments_raise(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_sr_bicubic_skip_starts_from_bicubic(rng, tmp_path):
    model = super_resolution_net(4, skip="bicubic", value_range=(-1, 1), **TINY)
    for weight in model.get_layer("conv_out").weights:
        weight.assign(np.zeros(weight.shape, "float32"))
    x = _images(rng, 2, 9, 11, 3) * 2 - 1
    bicubic = to_numpy(kl.bicubic_upsample(x, 4))
    out = to_numpy(model(x))
    assert out.shape == (2, 36, 44, 3)
    np.testing.assert_allclose(out, np.clip(bicubic, -1, 1), atol=2.5e-3)  # epsilon clipping
    # Unknown sizes at trace time (predict_on_batch, tf.function): still exact.
    np.testing.assert_allclose(to_numpy(model.predict_on_batch(x)), out, atol=1e-6)
    model.save(tmp_path / "skip.keras")
    reloaded = keras.models.load_model(tmp_path / "skip.keras", safe_mode=True)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), out)


# --- Many styles (conditional instance normalization) -------------------------------------


def test_multi_style_net_parameters_and_inputs():
    single, multi = style_transfer_net(), multi_style_transfer_net(4)
    norms = sum(  # every normalization's gamma and beta in the single-style net
        int(np.prod(w.shape)) for w in single.weights if w.path.split("/")[-1] in ("gamma", "beta")
    )
    assert norms == 3_200
    assert multi.count_params() == single.count_params() + 3 * norms
    assert [t.name for t in multi.inputs] == ["image", "style_weights"]
    assert [layer.name for layer in multi.layers if layer.name not in ("style_weights",)] == [
        layer.name for layer in single.layers
    ]


def _copy_style(multi, single, style):
    """single := multi with style ``style``'s normalization parameters."""
    by_path = {w.path: w for w in multi.weights}
    for w in single.weights:
        value = to_numpy(by_path[w.path])
        if w.path.split("/")[-1] in ("gamma", "beta"):
            value = value[style]
        w.assign(value)


def test_one_hot_style_weights_equal_the_single_style_net(rng):
    multi = multi_style_transfer_net(3, **TINY)
    single = style_transfer_net(**TINY)
    _randomize(multi, rng, scale=0.3)
    x = _images(rng, 3, 20, 24, 3)
    styles = [2, 0, 1]
    y = to_numpy(multi({"image": x, "style_weights": np.eye(3, dtype="float32")[styles]}))
    for i, style in enumerate(styles):
        _copy_style(multi, single, style)
        np.testing.assert_allclose(y[i], to_numpy(single(x[i : i + 1]))[0], atol=1e-5)
    # Blends: the endpoints are the pure styles; the middle is neither.
    for t, style in ((1.0, 0), (0.0, 1)):
        w = np.array([[t, 1.0 - t, 0.0]], "float32")
        _copy_style(multi, single, style)
        np.testing.assert_allclose(
            to_numpy(multi([x[:1], w])), to_numpy(single(x[:1])), atol=1e-5
        )
    mid = to_numpy(multi([x[:1], np.array([[0.5, 0.5, 0.0]], "float32")]))
    assert np.abs(mid - to_numpy(single(x[:1]))).max() > 1e-3


@pytest.mark.parametrize("kind", ["multi", "arbitrary"])
def test_style_nets_save_load_identical_outputs(tmp_path, rng, kind):
    if kind == "multi":
        model = multi_style_transfer_net(3, upsampling="resize", value_range=(-1, 1), **TINY)
        _randomize(model, rng, scale=0.3)
        x = [_images(rng, 2, 16, 20, 3) * 2 - 1, np.array([[1, 0, 0], [0.2, 0.3, 0.5]], "float32")]
    else:
        model = arbitrary_style_net(weights=None, backbone="vgg16", filters=4, alpha=0.8)
        x = [_images(rng, 2, 21, 19, 3), _images(rng, 1, 16, 24, 3)]
    expected = to_numpy(model(x))
    model.save(tmp_path / "net.keras")
    restored = keras.models.load_model(tmp_path / "net.keras", safe_mode=True)
    np.testing.assert_array_equal(to_numpy(restored(x)), expected)


def test_multi_style_net_mixed_precision(rng):
    keras.config.set_dtype_policy("mixed_float16")
    model = multi_style_transfer_net(2, **TINY)
    assert model.get_layer("res1").norm1.gamma.dtype == "float32"
    y = model([_images(rng, *X_SHAPE), np.array([[1, 0], [0.5, 0.5]], "float32")])
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(to_numpy(y)))


# --- Any style (AdaIN) ---------------------------------------------------------------------


def test_arbitrary_style_net_architecture():
    model = arbitrary_style_net(weights=None)  # VGG-19 to relu4_1, the paper's decoder
    decoder = model.get_layer("decoder")
    assert decoder.count_params() == 3_505_219  # pytorch-AdaIN's decoder: 3,505,219
    assert model.get_layer("encoder").backbone == "vgg19"
    assert not model.get_layer("encoder").trainable
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 3_505_219
    assert [t.name for t in model.inputs] == ["content", "style"]
    assert [layer.name for layer in decoder.layers[1:]] == [
        "dec4_1", "up3", "dec3_3", "dec3_2", "dec3_1", "up2", "dec2_1", "up1", "dec1_1"
    ]


def test_arbitrary_style_net_sizes_and_alpha(rng):
    model = arbitrary_style_net(weights=None, backbone="vgg16", filters=4)
    content = _images(rng, 2, 27, 35, 3)
    styles = [_images(rng, 1, 16, 16, 3), _images(rng, 2, 40, 24, 3) * 0.5]
    outputs = [to_numpy(model({"content": content, "style": s})) for s in styles]
    assert outputs[0].shape == (2, 27, 35, 3)
    assert np.all((outputs[0] >= 0) & (outputs[0] <= 1))
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4  # the style matters...
    keep = arbitrary_style_net(weights=None, backbone="vgg16", filters=4, alpha=0.0)
    keep.set_weights(model.get_weights())
    same = [to_numpy(keep([content, s])) for s in styles]  # ... unless alpha=0
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)
    with pytest.raises(ValueError, match="at least 16x16"):
        model([_images(rng, 1, 12, 40, 3), styles[0]])


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_with_dtype_policy_copies_in_low_precision_and_back(rng, policy):
    from keras_perceptual.models import model_precision, with_dtype_policy

    keras.utils.set_random_seed(0)  # the 16-bit rounding error depends on the weights
    model = super_resolution_net(4, skip="bicubic", **TINY)
    x = _images(rng, 1, 12, 12, 3)
    low = with_dtype_policy(model, policy)
    assert model_precision(model) == "float32" and model_precision(low) == policy
    assert low.get_layer("conv_in").conv.compute_dtype == policy.split("_")[1]
    for name in ("output", "skip"):  # float32 by construction, kept
        assert low.get_layer(name).compute_dtype == "float32"
    for a, b in zip(model.weights, low.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    y, y_low = to_numpy(model(x)), to_numpy(low(x))
    assert y_low.dtype == np.float32 and np.abs(y_low - y).max() < 0.05
    back = with_dtype_policy(low, "float32")
    assert model_precision(back) == "float32"
    np.testing.assert_allclose(to_numpy(back(x)), y, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="policy must be one of"):
        with_dtype_policy(model, "int8")
