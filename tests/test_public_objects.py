"""Every public serializable object of the multi-backend core, swept by kind.

The catalog below builds each registered class of ``layers``, ``losses``, ``metrics`` and
``backbones`` with non-default arguments (numpy scalars and arrays where a user may pass
them) and says how to call it. For every object, on the active backend:

1. ``get_config()`` is exactly the constructor arguments, JSON-safe (no tuples, numpy
   scalars or arrays), and ``from_config`` of its JSON rebuilds an object with the same
   config and the same outputs;
2. a tiny model using it (a layer in a functional model; a loss compiled as the loss; a
   metric compiled as a metric), saved to ``.keras`` and reloaded with
   ``keras.models.load_model(path, safe_mode=True)`` and no ``custom_objects``, gives
   identical outputs or values;
3. under ``mixed_float16`` and ``mixed_bfloat16`` losses and metrics return finite float32
   values and layers return their compute dtype;
4. a loss's (and metric's) ``dtype=`` is honoured for floating-point dtypes and refused
   with an ``InputError`` otherwise.

The networks' factories (``models.py``) have their own save/reload and mixed-precision
tests in ``test_models.py``; ``ops.py`` registers no object. A class registered later
must join the catalog: the first test finds them and fails for one that is missing.
"""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_perceptual import backbones, metrics
from keras_perceptual import layers as kl
from keras_perceptual import losses as kp_losses
from keras_perceptual.errors import InputError

# A compiled model saved before any step has an unbuilt optimizer: Keras says so on load.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer"),
    # JAX without x64 computes dtype="float64" in float32 (and says so).
    pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64"),
]

CORE_MODULES = (kl, metrics, backbones, kp_losses)
_RNG = np.random.default_rng(11)
_STYLE = _RNG.random((20, 18, 3), dtype=np.float32)
_VR = np.array([-1.0, 1.0], np.float32)  # a numpy value_range: configs must hold floats
_F = np.float32
_I = np.int64


def _tiny_network():
    image = keras.Input((None, None, 3))
    return keras.Model(image, keras.layers.Conv2D(3, 1, activation="tanh")(image))


def _images(seed=0, shape=(1, 16, 16, 3), value_range=(0.0, 1.0)):
    low, high = value_range
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


# --------------------------------------------------------------------------
# The catalog. Layers: (id, factory, input kind); losses and metrics: (id, factory,
# input kind, value_range of the inputs).
# --------------------------------------------------------------------------

LAYERS = [
    ("ReflectionPadding2D", lambda: kl.ReflectionPadding2D((_I(1), _I(2))), "image"),
    ("ReflectionPadding2D[array]", lambda: kl.ReflectionPadding2D(np.array([[1, 2], [0, 1]])),
     "image"),
    ("InstanceNormalization",
     lambda: kl.InstanceNormalization(_F(1e-3), np.bool_(False), np.bool_(True)), "image"),
    ("ConditionalInstanceNormalization",
     lambda: kl.ConditionalInstanceNormalization(_I(3), _F(1e-3), False, True), "styles"),
    ("AdaptiveInstanceNormalization",
     lambda: kl.AdaptiveInstanceNormalization(_F(0.5), _F(1e-3)), "pair"),
    ("ConvBlock", lambda: kl.ConvBlock(_I(4), np.array([3, 5]), _I(2), "batch", "tanh", "zero"),
     "image"),
    ("ConvBlock[conditional]", lambda: kl.ConvBlock(
        4, 3, 1, "conditional", None, "reflect", num_styles=_I(3)), "styles"),
    ("ResidualBlock", lambda: kl.ResidualBlock(_I(3), (_I(3), _I(3)), "none", "zero"), "image"),
    ("DepthToSpace", lambda: kl.DepthToSpace(_I(3)), "depth"),
    ("UpsamplingBlock", lambda: kl.UpsamplingBlock(
        _I(4), "resize", _I(3), 3, "none", None, "zero"), "image"),
    ("UpsamplingBlock[subpixel]", lambda: kl.UpsamplingBlock(4, "subpixel", 2), "image"),
    ("PadToMultiple", lambda: kl.PadToMultiple(_I(8), "constant", _I(9)), "odd"),
    ("CropToReference", lambda: kl.CropToReference(), "crop"),
    ("BoundedOutput", lambda: kl.BoundedOutput("sigmoid", _VR), "image"),
    ("LogitSkip", lambda: kl.LogitSkip("sigmoid", _VR, _F(0.01), _I(2)), "skip"),
    ("VGGPreprocessing", lambda: backbones.VGGPreprocessing(_VR), "image"),
    ("TemporalConsistency", lambda: kp_losses.TemporalConsistency(
        _tiny_network(), _F(2.0), "stability", _VR, _I(5)), "image"),
    ("FeatureExtractor", lambda: backbones.FeatureExtractor(
        np.array(["relu1_2", "block1_conv1"]), "vgg19", None, _VR), "image"),
]

LOSSES = [
    ("FeatureReconstructionLoss", lambda **k: kp_losses.FeatureReconstructionLoss(
        {"relu1_2": _F(0.5)}, "charbonnier", _F(0.01), "vgg19", None, value_range=_VR,
        reduction="sum", name="feature", **k), "image", _VR),
    ("StyleReconstructionLoss", lambda **k: kp_losses.StyleReconstructionLoss(
        ("relu1_2",), _STYLE * 2 - 1, "hw", "mse", weights=None, value_range=_VR,
        reduction="sum", name="style", **k), "image", _VR),
    ("StyleReconstructionLoss[sliced_wasserstein]",
     lambda **k: kp_losses.StyleReconstructionLoss(
         "relu1_2", style_distance="sliced_wasserstein", weights=None, num_projections=_I(5),
         seed=_I(3), **k), "image", (0.0, 1.0)),
    ("PerceptualLoss", lambda **k: kp_losses.PerceptualLoss(
        "relu1_2", ("relu1_2",), _STYLE * 2 - 1, _F(2.0), _F(3.0), _F(0.1), _F(0.2), "l1",
        gram_normalization="none", tv_power=_F(2.0), weights=None, value_range=_VR,
        name="perceptual", **k), "image", _VR),
    ("PerceptualLoss[style_images]", lambda **k: kp_losses.PerceptualLoss(
        "relu1_2", "relu1_2", style_images=(_STYLE, _STYLE[:10]), weights=None, **k),
     "styles", (0.0, 1.0)),
    ("AdaINLoss", lambda **k: kp_losses.AdaINLoss(
        _F(5.0), _F(2.0), ("relu1_1",), "relu1_1", "l2", _F(1e-4), "vgg16", None,
        value_range=_VR, **k), "adain", _VR),
    ("LPIPSLoss", lambda **k: kp_losses.LPIPSLoss(
        "vgg", weights=None, value_range=_VR, spatial=np.bool_(True), reduction=None, **k),
     "image", _VR),
    ("DISTSLoss", lambda **k: kp_losses.DISTSLoss(None, _VR, reduction="sum", **k), "image", _VR),
    ("TotalVariationLoss", lambda **k: kp_losses.TotalVariationLoss(
        _F(2.0), _VR, "sum", "tv", **k), "image", _VR),
    ("CharbonnierLoss", lambda **k: kp_losses.CharbonnierLoss(_F(0.01), _VR, None, "c", **k),
     "image", _VR),
    ("EdgeLoss", lambda **k: kp_losses.EdgeLoss(
        "mask", _F(0.2), "soft", "charbonnier", _F(0.01), _VR, **k), "image", _VR),
    ("ColorLoss", lambda **k: kp_losses.ColorLoss("blur", _I(5), _F(1.0), _VR, **k),
     "image", _VR),
    ("TemporalLoss", lambda **k: kp_losses.TemporalLoss(_VR, "sum", "temporal", **k),
     "temporal", _VR),
    ("GeneratorLoss", lambda **k: kp_losses.GeneratorLoss("hinge", "sum", "g", **k),
     "score", None),
    ("DiscriminatorLoss", lambda **k: kp_losses.DiscriminatorLoss("lsgan", None, "d", **k),
     "score", None),
    ("WassersteinLoss", lambda **k: kp_losses.WassersteinLoss("generator", "sum", "w", **k),
     "score", None),
    ("JensenShannonDivergence", lambda **k: kp_losses.JensenShannonDivergence(
        np.bool_(True), "sum", "js", **k), "logits", None),
    ("Entropy", lambda **k: kp_losses.Entropy(np.bool_(True), None, "entropy", **k),
     "logits", None),
]

METRICS = [
    ("PSNR", lambda **k: metrics.PSNR(_VR, _F(50.0), np.bool_(True), _I(2), name="p", **k),
     _VR),
    ("PSNR[max_db=None]", lambda **k: metrics.PSNR(max_db=None, **k), (0.0, 1.0)),
    ("SSIM", lambda **k: metrics.SSIM(
        _VR, _I(5), _F(1.0), _F(0.02), _F(0.04), np.bool_(True), _I(1), name="s", **k), _VR),
    ("LPIPS", lambda **k: metrics.LPIPS("vgg", weights=None, value_range=_VR, **k), _VR),
    ("DISTS", lambda **k: metrics.DISTS(None, _VR, name="d", **k), _VR),
]

#: Built on a torchvision backbone (1-2 s a save and reload): those round trips are slow.
NETWORK_OBJECTS = {"LPIPSLoss", "DISTSLoss", "LPIPS", "DISTS"}
#: Registered classes not swept here, and why.
NOT_SWEPT: set[str] = set()


def _base(case_id: str) -> str:
    return case_id.split("[")[0]


def _param(case, slow_if_network=False):
    marks = [pytest.mark.slow] if slow_if_network and _base(case[0]) in NETWORK_OBJECTS else []
    return pytest.param(*case, id=case[0], marks=marks)


# --------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------


def _layer_inputs(kind):
    """``(keras.Input structure, arrays)`` for a layer's input kind."""
    x, y = _images(0, value_range=(-1, 1)), _images(1, value_range=(-1, 1))
    image = keras.Input((None, None, 3))
    if kind == "image":
        return image, x
    if kind == "styles":
        return [image, keras.Input((3,))], [x, np.array([[0.2, 0.3, 0.5]], "float32")]
    if kind in ("pair", "crop"):
        other = keras.Input((None, None, 3))
        return [image, other], [x, y[:, :11, :13] if kind == "crop" else y]
    if kind == "depth":
        return keras.Input((None, None, 9)), np.tile(x, (1, 1, 1, 3))
    if kind == "odd":
        return image, x[:, :13, :11]
    if kind == "skip":  # (logits, image at half size)
        return [image, keras.Input((None, None, 3))], [x, y[:, :8, :8] * 0.5]
    raise AssertionError(kind)


def _loss_inputs(kind, value_range, seed=0):
    """``(y_true, y_pred)`` arrays for a loss's input kind."""
    vr = (0.0, 1.0) if value_range is None else tuple(float(v) for v in value_range)
    x, y = _images(seed, value_range=vr), _images(seed + 1, value_range=vr)
    if kind == "image":
        return y, x
    if kind == "styles":
        return kp_losses.pack_style_targets(y, np.eye(2, dtype="float32")[[1]]), x
    if kind == "adain":
        return np.concatenate([y, _images(seed + 2, value_range=vr)], axis=-1), x
    if kind == "temporal":
        return (y, np.zeros((1, 16, 16, 2), "float32"), np.ones((1, 16, 16), "float32")), x
    if kind == "score":
        return x[:, 0, :2, 0], y[:, 0, :2, 0]
    if kind == "logits":
        return x[:, 0, :4, 0] * 4 - 2, y[:, 0, :4, 0] * 4 - 2
    raise AssertionError(kind)


def _outputs(value):
    return [to_numpy(keras.ops.cast(v, "float32")) for v in keras.tree.flatten(value)]


def _call_layer(layer, arrays):
    return _outputs(layer(arrays))


def _call_loss(loss, kind, value_range):
    return _outputs(loss(*_loss_inputs(kind, value_range)))


def _call_metric(metric, value_range):
    metric.update_state(_images(0, value_range=tuple(value_range)),
                        _images(1, value_range=tuple(value_range)))
    return _outputs(metric.result())


# --------------------------------------------------------------------------
# Completeness.
# --------------------------------------------------------------------------


def _registered_classes():
    found = {}
    for module in CORE_MODULES:
        for name, value in vars(module).items():
            if (inspect.isclass(value) and value.__module__.startswith("keras_perceptual")
                    and keras.saving.get_registered_name(value).startswith("keras_perceptual>")):
                found[name] = value
    return found


def test_every_registered_object_is_in_the_catalog():
    swept = {_base(case[0]) for case in LAYERS + LOSSES + METRICS}
    missing = sorted(set(_registered_classes()) - swept - NOT_SWEPT)
    assert not missing, f"Add these to the catalog of tests/test_public_objects.py: {missing}"
    assert swept <= set(_registered_classes())


# --------------------------------------------------------------------------
# 1. get_config: exactly the constructor arguments, JSON-safe, round-tripping.
# --------------------------------------------------------------------------


def _json_unsafe(value, path="config"):
    """Paths in ``value`` holding what a JSON config cannot keep as it is (nested Keras
    objects, serialized by Keras with tuples it restores itself, are Keras' business)."""
    if isinstance(value, dict) and {"class_name", "config"} <= set(value):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _json_unsafe(v, f"{path}[{k!r}]")]
    if isinstance(value, tuple):
        return [f"{path}: tuple"]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _json_unsafe(v, f"{path}[{i}]")]
    if isinstance(value, (np.generic, np.ndarray)):
        return [f"{path}: {type(value).__name__}"]
    return []


def _constructor_arguments(cls):
    parameters = inspect.signature(cls.__init__).parameters
    return {name for name, p in parameters.items()
            if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD}


def _check_config_round_trip(obj, call):
    config = obj.get_config()
    assert not _json_unsafe(config), _json_unsafe(config)
    text = json.dumps(config)  # no default=: a numpy value would raise here
    restored = type(obj).from_config(json.loads(text))
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    expected = call(obj)
    if isinstance(obj, keras.layers.Layer) and obj.weights:
        call(restored)  # builds it; a config holds no weights: they are copied
        restored.set_weights(obj.get_weights())
    for a, b in zip(expected, call(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    return config


@pytest.mark.parametrize("case_id,factory,kind", [_param(c) for c in LAYERS])
def test_layer_config_is_its_arguments(case_id, factory, kind):
    layer = factory()
    _, arrays = _layer_inputs(kind)
    config = _check_config_round_trip(layer, lambda lay: _call_layer(lay, arrays))
    arguments = _constructor_arguments(type(layer))
    assert arguments <= set(config), arguments - set(config)
    base = set(keras.layers.Layer(name="x").get_config()) | {"name", "trainable", "dtype"}
    if isinstance(layer, keras.Model):
        base |= {"build_input_shape"}
    assert set(config) - arguments <= base, set(config) - arguments - base


@pytest.mark.parametrize("case_id,factory,kind,value_range", [_param(c) for c in LOSSES])
def test_loss_config_is_exactly_its_arguments(case_id, factory, kind, value_range):
    loss = factory()
    config = _check_config_round_trip(loss, lambda obj: _call_loss(obj, kind, value_range))
    deprecated = set(getattr(type(loss), "RENAMED_ARGUMENTS", {}))
    assert set(config) == _constructor_arguments(type(loss)) - deprecated


@pytest.mark.parametrize("case_id,factory,value_range", [_param(c) for c in METRICS])
def test_metric_config_is_exactly_its_arguments(case_id, factory, value_range):
    metric = factory()
    config = _check_config_round_trip(metric, lambda obj: _call_metric(obj, value_range))
    assert set(config) == _constructor_arguments(type(metric))


# --------------------------------------------------------------------------
# 2. Saved in a .keras model and reloaded with safe_mode=True, no custom_objects.
# --------------------------------------------------------------------------


def _save_and_reload(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    return keras.models.load_model(path, safe_mode=True)


@pytest.mark.parametrize("case_id,factory,kind",
                         [_param(c, slow_if_network=True) for c in LAYERS])
def test_layer_in_a_saved_model(case_id, factory, kind, tmp_path):
    inputs, arrays = _layer_inputs(kind)
    model = keras.Model(inputs, factory()(inputs))
    restored = _save_and_reload(model, tmp_path)
    for a, b in zip(_outputs(model(arrays)), _outputs(restored(arrays)), strict=True):
        np.testing.assert_array_equal(a, b)


def _model_for(kind):
    """A tiny trainable model whose output suits the loss's ``y_pred``."""
    image = keras.Input((16, 16, 3))
    if kind in ("score", "logits"):
        pooled = keras.layers.GlobalAveragePooling2D()(image)
        return keras.Model(image, keras.layers.Dense(2 if kind == "score" else 4)(pooled))
    return keras.Model(image, keras.layers.Conv2D(3, 1, activation="tanh")(image))


@pytest.mark.parametrize("case_id,factory,kind,value_range",
                         [_param(c, slow_if_network=True) for c in LOSSES])
def test_loss_of_a_saved_model(case_id, factory, kind, value_range, tmp_path):
    keras.utils.set_random_seed(0)
    if kind == "temporal":
        # y_true is (previous output, flow, mask), which compile cannot feed: the loss is
        # added by the TemporalConsistency layer; here its own serialization is checked.
        loss = factory()
        restored = keras.saving.deserialize_keras_object(
            json.loads(json.dumps(keras.saving.serialize_keras_object(loss))), safe_mode=True)
        np.testing.assert_array_equal(_call_loss(restored, kind, value_range),
                                      _call_loss(loss, kind, value_range))
        return
    model = _model_for(kind)
    model.compile(loss=factory())
    y_true, _ = _loss_inputs(kind, value_range)
    x = _images(3)
    before = model.evaluate(x, y_true, verbose=0, return_dict=True)
    restored = _save_and_reload(model, tmp_path)
    assert type(restored.loss) is type(model.loss)
    assert restored.loss.get_config() == model.loss.get_config()
    assert restored.evaluate(x, y_true, verbose=0, return_dict=True) == before


@pytest.mark.parametrize("case_id,factory,value_range",
                         [_param(c, slow_if_network=True) for c in METRICS])
def test_metric_of_a_saved_model(case_id, factory, value_range, tmp_path):
    keras.utils.set_random_seed(0)
    image = keras.Input((16, 16, 3))
    model = keras.Model(image, keras.layers.Conv2D(3, 1, activation="tanh")(image))
    model.compile(loss="mse", metrics=[factory()])
    x, y = _images(0, value_range=(-1, 1)), _images(1, value_range=(-1, 1))
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    restored = _save_and_reload(model, tmp_path)
    assert restored.evaluate(x, y, verbose=0, return_dict=True) == before


# --------------------------------------------------------------------------
# 3. Mixed precision.
# --------------------------------------------------------------------------

POLICIES = ("mixed_float16", "mixed_bfloat16")


@pytest.fixture
def policy(request):
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("case_id,factory,kind,value_range", [_param(c) for c in LOSSES])
def test_loss_under_mixed_precision(case_id, factory, kind, value_range, policy):
    loss = factory()
    value = loss(*_loss_inputs(kind, value_range))
    assert keras.backend.standardize_dtype(value.dtype) == "float32", policy
    assert np.all(np.isfinite(to_numpy(value)))


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("case_id,factory,value_range", [_param(c) for c in METRICS])
def test_metric_under_mixed_precision(case_id, factory, value_range, policy):
    metric = factory()
    metric.update_state(_images(0, value_range=tuple(value_range)),
                        _images(1, value_range=tuple(value_range)))
    value = metric.result()
    assert keras.backend.standardize_dtype(value.dtype) == "float32", policy
    assert np.isfinite(float(value))


#: Layers that return float32 under a mixed policy by design (documented): the loss
#: network's preprocessing and features, which losses then compare in float32.
FLOAT32_OUTPUTS = {"VGGPreprocessing", "FeatureExtractor"}


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("case_id,factory,kind", [_param(c) for c in LAYERS])
def test_layer_under_mixed_precision(case_id, factory, kind, policy):
    layer = factory()
    _, arrays = _layer_inputs(kind)
    outputs = keras.tree.flatten(layer(arrays))
    expected = "float32" if case_id in FLOAT32_OUTPUTS else layer.compute_dtype
    assert expected == "float32" or expected == policy.split("_")[1]
    for output in outputs:
        assert keras.backend.standardize_dtype(output.dtype) == expected
        assert np.all(np.isfinite(to_numpy(keras.ops.cast(output, "float32"))))


# --------------------------------------------------------------------------
# 4. dtype=: honoured for floats, refused otherwise.
# --------------------------------------------------------------------------


def _backend_dtype(dtype):
    """What the backend makes of ``dtype`` (JAX without x64 computes float64 in float32)."""
    return keras.backend.standardize_dtype(keras.ops.zeros((), dtype).dtype)


@pytest.mark.parametrize("dtype", ["float64", "float16", "mixed_bfloat16"])
@pytest.mark.parametrize("case_id,factory,kind,value_range", [_param(c) for c in LOSSES])
def test_loss_dtype_is_honoured(case_id, factory, kind, value_range, dtype):
    loss = factory(dtype=dtype)
    value = loss(*_loss_inputs(kind, value_range))
    expected = _backend_dtype(keras.DTypePolicy(dtype).compute_dtype)
    assert keras.backend.standardize_dtype(value.dtype) == expected
    reference = _call_loss(factory(), kind, value_range)[0]
    if expected == "float16" and np.abs(reference).max() > np.finfo("float16").max:
        return  # beyond float16: inf is the honoured answer (PerceptualLoss, Grams unscaled)
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(value, "float32"))))
    tolerance = 1e-5 if expected in ("float32", "float64") else 3e-2
    np.testing.assert_allclose(to_numpy(keras.ops.cast(value, "float32")), reference,
                               rtol=tolerance, atol=tolerance)


#: ``(id, factory)`` of every loss and metric class (one case each).
_DTYPE_OWNERS = [pytest.param(c[1], id=c[0]) for c in LOSSES + METRICS if "[" not in c[0]]


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool", "not_a_dtype"])
@pytest.mark.parametrize("factory", _DTYPE_OWNERS)
def test_dtype_that_is_not_a_float_is_refused(factory, dtype):
    # Before: accepted, then PSNR(dtype="int32") reported 7.0 for 7.75 dB, SSIM and LPIPS
    # 0.0, and most losses failed inside an op (or, e.g. LPIPSLoss, ignored it).
    with pytest.raises(InputError, match=rf"floating-point.*Received: dtype='{dtype}'$"):
        factory(dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float16"])
@pytest.mark.parametrize("case_id,factory,value_range",
                         [_param(c) for c in METRICS if "[" not in c[0]])
def test_metric_dtype_is_honoured(case_id, factory, value_range, dtype):
    metric = factory(dtype=dtype)
    value = _call_metric(metric, value_range)[0]
    assert keras.backend.standardize_dtype(metric.result().dtype) == _backend_dtype(dtype)
    np.testing.assert_allclose(value, _call_metric(factory(), value_range)[0], rtol=3e-3)


# --------------------------------------------------------------------------
# Layer errors found by the sweep.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [kl.BoundedOutput, kl.LogitSkip])
def test_output_layers_name_their_own_activation_argument(layer):
    # Before: "Received: output_activation='relu'", an argument these layers do not have.
    with pytest.raises(InputError, match=r"Received: activation='relu'$"):
        layer("relu")


def test_logit_skip_epsilon_that_is_not_a_number_is_an_input_error():
    # Before: float("small") raised a bare ValueError.
    with pytest.raises(InputError, match=r"\(0, 0.5\).*Received: epsilon='small'$"):
        kl.LogitSkip(epsilon="small")


def test_logit_skip_refuses_an_image_of_another_size():
    # Before: a backend broadcast error (TensorFlow: "Dimensions must be equal").
    logits, image = np.zeros((1, 8, 8, 3), "float32"), np.full((1, 8, 8, 3), 0.5, "float32")
    with pytest.raises(InputError, match=r"2 times image's height and width.*"
                                         r"image.shape=\(1, 8, 8, 3\)"):
        kl.LogitSkip(factor=2)([logits, image])


def test_crop_to_reference_refuses_an_x_smaller_than_the_reference():
    # Before: x came back uncropped, smaller than the shape compute_output_shape promised.
    x, reference = np.zeros((1, 8, 12, 3), "float32"), np.zeros((1, 10, 10, 3), "float32")
    with pytest.raises(InputError, match=r"at least as large.*"
                                         r"x.shape=\(1, 8, 12, 3\), reference.shape"):
        kl.CropToReference()([x, reference])
    with pytest.raises(InputError, match="at least as large"):
        kl.CropToReference()([keras.Input((8, None, 3)), keras.Input((10, None, 3))])


@pytest.mark.parametrize("images,pattern", [
    (np.zeros((1, 4, 4, 4), "float32"), r"4 channels.*Received: images.shape=\(1, 4, 4, 4\)"),
    (np.zeros((1, 4, 4, 3), "uint8"), r"dtype uint8; expected floating-point"),
])
def test_vgg_preprocessing_checks_its_images(images, pattern):
    # Before: backend errors (incompatible shapes; 255.0 not convertible to uint8).
    with pytest.raises(InputError, match=pattern):
        backbones.VGGPreprocessing()(images)


@pytest.mark.parametrize("factory", [pytest.param(c[1], id=c[0]) for c in LOSSES
                                     if "[" not in c[0]])
def test_unknown_reduction_is_an_input_error(factory):
    # Before: Keras' bare ValueError, which the command line does not report as a user error.
    loss = factory()
    with pytest.raises(InputError, match=r"'sum_over_batch_size'.*Received: reduction='avg'$"):
        type(loss).from_config({**loss.get_config(), "reduction": "avg"})


@pytest.mark.parametrize("make,pattern", [
    (lambda: kl.ConvBlock(4, kernel_size=(3, 3, 3)),
     r"kernel_size must be an integer >= 1 or a pair \(height, width\).*"
     r"Received: kernel_size=\(3, 3, 3\)$"),
    (lambda: kl.ConvBlock(4, strides=np.array([0, 1])), r"strides must be .* or a pair"),
    (lambda: kl.ResidualBlock(4, kernel_size="3"), r"Received: kernel_size='3'$"),
], ids=["three kernel sizes", "array of strides with 0", "kernel size string"])
def test_kernel_size_and_strides_errors_name_the_pair_form(make, pattern):
    # Before: "kernel_size must be an integer >= 1", though a pair is accepted too.
    with pytest.raises(InputError, match=pattern):
        make()


@pytest.mark.parametrize("seed", ["7", -1, 2.5])
def test_temporal_consistency_seed_is_checked(seed):
    # Before: stored as given, then Keras' bare ValueError from the motion layer ("7", 2.5)
    # or a negative seed kept; np.int64(5) failed the same way (the catalog's case).
    with pytest.raises(InputError, match=rf"seed must be an integer.*Received: seed={seed!r}$"):
        kp_losses.TemporalConsistency(_tiny_network(), seed=seed)
