"""Every public loss and op: finite values and finite gradients on the edge inputs.

The catalog below lists, for every public loss class of ``keras_perceptual.losses`` and
every tensor function of ``keras_perceptual.ops``, how to build it (small settings,
``weights=None``). The sweep feeds each one a batch of edge inputs (identical,
constant, black, white, black against white, two flat halves, the ends of
``value_range``), in float16, bfloat16, float32 and float64, and a batch of one, and
asserts that every value and every gradient is finite.

A loss or op added to the package later must join the catalog: the first two tests
discover them (every ``keras.losses.Loss`` subclass defined under
``keras_perceptual.losses``, every function in ``keras_perceptual.ops.__all__``) and
fail for one that is missing.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re

import keras
import numpy as np
import pytest
from conftest import BACKEND, to_numpy

import keras_perceptual.losses as losses_package
from keras_perceptual import layers as kp_layers
from keras_perceptual import losses, metrics, motion
from keras_perceptual import ops as kp_ops
from keras_perceptual.errors import InputError

SIZE = 16  # the smallest size every tap (relu4_3: 8 px) and the blur see whole
DTYPES = ("float16", "bfloat16", "float32", "float64")
#: Base classes, not losses a user builds.
BASES = {"BaseLoss", "ImageLoss", "BackboneLoss", "LearnedMetricLoss"}

# --------------------------------------------------------------------------
# The catalog: {class name: [(case name, input kind, factory)]}.
# --------------------------------------------------------------------------

_STYLE = np.random.default_rng(7).random((40, 36, 3), dtype=np.float32)
_SMALL = {"weights": None, "reduction": None}

LOSS_CATALOG = {
    "FeatureReconstructionLoss": [
        ("l2", "image", lambda vr: losses.FeatureReconstructionLoss(
            ["relu1_2", "relu2_2"], value_range=vr, **_SMALL)),
        ("charbonnier", "image", lambda vr: losses.FeatureReconstructionLoss(
            "relu2_2", distance="charbonnier", value_range=vr, **_SMALL)),
        ("l1", "image", lambda vr: losses.FeatureReconstructionLoss(
            "relu1_2", distance="l1", value_range=vr, **_SMALL)),
    ],
    "StyleReconstructionLoss": [
        ("y_true target", "image", lambda vr: losses.StyleReconstructionLoss(
            ["relu1_2", "relu2_2"], value_range=vr, **_SMALL)),
        ("style image, mse, none", "image", lambda vr: losses.StyleReconstructionLoss(
            "relu2_2", style_image=_STYLE * (vr[1] - vr[0]) + vr[0], style_distance="mse",
            gram_normalization="none", value_range=vr, **_SMALL)),
    ],
    "PerceptualLoss": [
        ("paper", "image", lambda vr: losses.PerceptualLoss(
            style_image=_STYLE * (vr[1] - vr[0]) + vr[0], pixel_weight=1.0, value_range=vr,
            **_SMALL)),
        ("squared tv, y_true style", "image", lambda vr: losses.PerceptualLoss(
            content_layers="relu1_2", style_layers="relu1_2", tv_power=2.0,
            content_distance="charbonnier", value_range=vr, **_SMALL)),
    ],
    "AdaINLoss": [
        # y_true packs (content, style): here (y_true, y_pred) of the edge pair.
        ("vgg16", "adain", lambda vr: losses.AdaINLoss(
            style_layers=("relu1_1", "relu2_1"), backbone="vgg16", value_range=vr, **_SMALL)),
    ],
    "LPIPSLoss": [
        ("vgg", "image", lambda vr: losses.LPIPSLoss(net="vgg", value_range=vr, **_SMALL)),
    ],
    "DISTSLoss": [
        ("", "image", lambda vr: losses.DISTSLoss(value_range=vr, **_SMALL)),
    ],
    "TemporalLoss": [
        # y_true = (previous output, flow, mask): a still camera, every pixel visible.
        ("still", "temporal", lambda vr: losses.TemporalLoss(value_range=vr, reduction=None)),
    ],
    "TotalVariationLoss": [
        ("power 1", "image", lambda vr: losses.TotalVariationLoss(value_range=vr, reduction=None)),
        ("power 1.5", "image", lambda vr: losses.TotalVariationLoss(1.5, value_range=vr, reduction=None)),
    ],
    "CharbonnierLoss": [
        ("default", "image", lambda vr: losses.CharbonnierLoss(value_range=vr, reduction=None)),
    ],
    "EdgeLoss": [
        ("mask", "image", lambda vr: losses.EdgeLoss(value_range=vr, reduction=None)),
        ("soft, threshold 0", "image", lambda vr: losses.EdgeLoss(
            threshold=0.0, weighting="soft", distance="charbonnier", value_range=vr,
            reduction=None)),
        ("gradient", "image", lambda vr: losses.EdgeLoss("gradient", value_range=vr, reduction=None)),
    ],
    "ColorLoss": [
        ("angular", "image", lambda vr: losses.ColorLoss(value_range=vr, reduction=None)),
        ("blur", "image", lambda vr: losses.ColorLoss("blur", kernel_size=5, value_range=vr,
                                               reduction=None)),
    ],
    "GeneratorLoss": [
        (kind, "score", lambda vr, kind=kind: losses.GeneratorLoss(kind, reduction=None))
        for kind in ("vanilla", "lsgan", "hinge")
    ],
    "DiscriminatorLoss": [
        (kind, "score", lambda vr, kind=kind: losses.DiscriminatorLoss(kind, reduction=None))
        for kind in ("vanilla", "lsgan", "hinge")
    ],
    "WassersteinLoss": [
        (role, "score", lambda vr, role=role: losses.WassersteinLoss(role, reduction=None))
        for role in ("critic", "generator")
    ],
    "JensenShannonDivergence": [
        ("probabilities", "probability", lambda vr: losses.JensenShannonDivergence(reduction=None)),
        ("logits", "score", lambda vr: losses.JensenShannonDivergence(from_logits=True,
                                                              reduction=None)),
    ],
    "Entropy": [
        ("probabilities", "probability", lambda vr: losses.Entropy(reduction=None)),
        ("logits", "score", lambda vr: losses.Entropy(from_logits=True, reduction=None)),
    ],
}

_DIRECTIONS = kp_ops.sliced_wasserstein_directions(3, 4, seed=0)
_SW_STYLE = np.random.default_rng(3).random((1, 12, 10, 3), dtype=np.float32)

#: ``{op name: [(case name, function of one image batch -> tensor(s))]}``.
OP_CATALOG = {
    "as_float_tensor": [("", kp_ops.as_float_tensor)],
    "to_unit_range": [("(-1, 1)", lambda x: kp_ops.to_unit_range(x, (-1, 1)))],
    "from_unit_range": [("(-1, 1)", lambda x: kp_ops.from_unit_range(x, (-1, 1)))],
    "gram_matrix": [(n, lambda x, n=n: kp_ops.gram_matrix(x, n)) for n in ("chw", "hw", "none")],
    "total_variation": [(f"power {p}", lambda x, p=p: kp_ops.total_variation(x, p))
                        for p in (1.0, 1.25, 2.0)],
    "charbonnier": [(f"epsilon {e}", lambda x, e=e: kp_ops.charbonnier(x - 0.5, e))
                    for e in (1e-3, 0.0)],
    "luminance": [("", kp_ops.luminance)],
    "sobel_edges": [("", kp_ops.sobel_edges)],
    "edge_magnitude": [("", kp_ops.edge_magnitude)],
    "safe_sqrt": [("", kp_ops.safe_sqrt)],
    "keep_nan": [("of safe_sqrt", lambda x: kp_ops.keep_nan(kp_ops.safe_sqrt(x - 0.5), x))],
    "channel_mean_std": [(f"epsilon {e}", lambda x, e=e: kp_ops.channel_mean_std(x, e))
                         for e in (1e-5, 0.0)],
    "sr_degrade": [(f"scale {k}, sigma {s}", lambda x, k=k, s=s: kp_ops.sr_degrade(x, k, s))
                   for k, s in ((4, 1.0), (2, 0.0))],
    "sorted_projections": [("4 directions", lambda x: kp_ops.sorted_projections(x, _DIRECTIONS))],
    "sliced_wasserstein": [("4 directions", lambda x: kp_ops.sliced_wasserstein(
        x, kp_ops.sorted_projections(_SW_STYLE, _DIRECTIONS), _DIRECTIONS))],
}
#: Names in ``ops.__all__`` that are not tensor functions of images (a check, the Gaussian
#: taps as numpy, and the decoders' mappings of float32 pixel counts).
NOT_TENSOR_OPS = {"check_tv_power", "gaussian_kernel", "from_uint8", "from_uint16",
                  "sliced_wasserstein_directions"}


# --------------------------------------------------------------------------
# The edge inputs.
# --------------------------------------------------------------------------


def _edge_images():
    """``(y_true, y_pred)`` batches in [0, 1], one edge case per image, and their names."""
    rng = np.random.default_rng(0)
    a, b = rng.random((2, SIZE, SIZE, 3), dtype=np.float32)
    zero, one, half = (np.full((SIZE, SIZE, 3), v, np.float32) for v in (0.0, 1.0, 0.5))
    halves = np.zeros((SIZE, SIZE, 3), np.float32)
    halves[:, SIZE // 2:] = 1.0
    cases = {
        "different": (a, b),
        "identical": (a, a),
        "constant": (half, half),
        "black (low end)": (zero, zero),
        "white (high end)": (one, one),
        "black vs white": (zero, one),
        "two flat halves vs constant": (half, halves),
        "two flat halves, identical": (halves, halves),
    }
    y_true = np.stack([t for t, _ in cases.values()])
    y_pred = np.stack([p for _, p in cases.values()])
    return y_true, y_pred, list(cases)


def _edge_scores(kind):
    """Logits (``score``) or probability vectors, one edge case per row."""
    if kind == "score":
        rows = {
            "zeros": ([0.0] * 4, [0.0] * 4),
            "identical": ([1.5, -2.0, 0.5, 3.0], [1.5, -2.0, 0.5, 3.0]),
            "large": ([30.0, -30.0, 30.0, -30.0], [-30.0, 30.0, -30.0, 30.0]),
            "tiny": ([1e-7, -1e-7, 0.0, 1e-7], [0.0, 1e-7, -1e-7, 0.0]),
        }
    else:
        rows = {
            "one-hot, equal": ([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]),
            "disjoint": ([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]),
            "uniform": ([0.25] * 4, [0.25] * 4),
            "zeros in one": ([0.5, 0.5, 0.0, 0.0], [0.25] * 4),
        }
    y_true = np.array([t for t, _ in rows.values()], np.float32)
    y_pred = np.array([p for _, p in rows.values()], np.float32)
    return y_true, y_pred, list(rows)


def _to_range(x, value_range):
    low, high = value_range
    return x * np.float32(high - low) + np.float32(low)


def _cast(x, dtype):
    return keras.ops.cast(keras.ops.convert_to_tensor(x), dtype)


def _values_and_gradients(fn, y_true, y_pred):
    """``fn(y_true, y_pred)`` as float32 numpy and its gradients with respect to both."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            tape.watch([y_true, y_pred])
            value = fn(y_true, y_pred)
            total = tf.reduce_sum(tf.cast(value, "float32"))
        grads = tape.gradient(total, [y_true, y_pred])
        del tape
    elif BACKEND == "jax":
        import jax

        def total(t, p):
            return keras.ops.sum(keras.ops.cast(fn(t, p), "float32"))

        value = fn(y_true, y_pred)
        grads = jax.grad(total, argnums=(0, 1))(y_true, y_pred)
    else:
        pytest.skip(f"no gradient helper for backend {BACKEND}")
    grads = [None if g is None else to_numpy(keras.ops.cast(g, "float32")) for g in grads]
    return to_numpy(keras.ops.cast(value, "float32")), grads


def _assert_finite(name, array, labels):
    array = np.asarray(array)
    if array.ndim == 0:
        assert np.isfinite(array), f"{name}: {array}"
        return
    bad = [labels[i] for i in range(array.shape[0]) if not np.all(np.isfinite(array[i]))]
    assert not bad, f"{name} not finite for: {bad}"


# --------------------------------------------------------------------------
# Completeness: a new loss or op must join the catalog.
# --------------------------------------------------------------------------


def _public_loss_classes():
    found = {}
    for info in pkgutil.walk_packages(losses_package.__path__, losses_package.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, keras.losses.Loss)
                and value.__module__.startswith("keras_perceptual")
                and not name.startswith("_")
                and name not in BASES
            ):
                found[name] = value
    return found


def test_every_public_loss_is_in_the_catalog():
    missing = sorted(set(_public_loss_classes()) - set(LOSS_CATALOG))
    assert not missing, (
        f"Add these losses to LOSS_CATALOG in tests/test_edge_inputs.py: {missing}")
    assert set(LOSS_CATALOG) <= set(_public_loss_classes())


def test_every_public_op_is_in_the_catalog():
    tensor_ops = {
        name for name in kp_ops.__all__
        if callable(getattr(kp_ops, name)) and name not in NOT_TENSOR_OPS
    }
    missing = sorted(tensor_ops - set(OP_CATALOG))
    assert not missing, f"Add these ops to OP_CATALOG in tests/test_edge_inputs.py: {missing}"


# --------------------------------------------------------------------------
# The sweep.
# --------------------------------------------------------------------------


LOSS_CASES = [
    pytest.param(cls, case, kind, factory, id=f"{cls}[{case}]")
    for cls, cases in LOSS_CATALOG.items()
    for case, kind, factory in cases
]


BACKBONE_LOSSES = ("FeatureReconstructionLoss", "StyleReconstructionLoss", "PerceptualLoss",
                   "AdaINLoss", "LPIPSLoss", "DISTSLoss")


def _adapted(kind, loss):
    """``fn(y_true, y_pred)`` feeding the loss its own ``y_true`` structure."""
    if kind == "adain":
        return lambda t, p, **kw: loss(keras.ops.concatenate([t, p], axis=-1), p, **kw)
    if kind == "temporal":
        def temporal(t, p, **kw):
            flow = keras.ops.zeros(tuple(t.shape[:3]) + (2,), t.dtype)
            return loss((t, flow, keras.ops.ones(tuple(t.shape[:3]), t.dtype)), p, **kw)

        return temporal
    return loss


@pytest.mark.parametrize("cls,case,kind,factory",
                         [c for c in LOSS_CASES if c.values[0] not in BACKBONE_LOSSES])
def test_losses_are_finite_on_edge_inputs(cls, case, kind, factory):
    _sweep(cls, case, kind, factory, DTYPES)


@pytest.mark.slow  # a VGG forward and backward pass per dtype and range (~5 s each)
@pytest.mark.parametrize("cls,case,kind,factory",
                         [c for c in LOSS_CASES if c.values[0] in BACKBONE_LOSSES])
def test_backbone_losses_are_finite_on_edge_inputs(cls, case, kind, factory):
    _sweep(cls, case, kind, factory, DTYPES)


def _sweep(cls, case, kind, factory, dtypes):
    keras.utils.set_random_seed(0)
    runs = [(dtype, (0.0, 1.0)) for dtype in ("float32", *[d for d in dtypes if d != "float32"])]
    if cls not in BACKBONE_LOSSES:
        # Another range (a second backbone for the backbone losses, whose preprocessing
        # maps any range the same way: their ends are covered by black and white).
        runs.append(("float32", (-1.0, 1.0)))
    built = {vr: factory(vr) for vr in {vr for _, vr in runs}}  # one backbone per range
    if kind in ("score", "probability"):
        y_true, y_pred, labels = _edge_scores(kind)
    else:
        y_true, y_pred, labels = _edge_images()
    reference = {}  # float32 gradients: where they exceed float16's range, inf is right
    for dtype, value_range in runs:
        loss = _adapted(kind, built[value_range])
        if kind not in ("score", "probability"):
            t, p = _to_range(y_true, value_range), _to_range(y_pred, value_range)
        else:
            t, p = y_true, y_pred
        t, p = _cast(t, dtype), _cast(p, dtype)
        value, grads = _values_and_gradients(loss, t, p)
        where = f"{cls}[{case}] {dtype} {value_range}"
        assert value.dtype == np.float32 and value.shape == (len(labels),), where
        _assert_finite(f"{where} value", value, labels)
        for name, grad in zip(("d/dy_true", "d/dy_pred"), grads, strict=True):
            if grad is None:
                continue
            if dtype == "float32" and value_range == (0.0, 1.0):
                reference[name] = grad
            overflow = None
            if dtype == "float16":
                # Gradients reach a float16 input in float16: only magnitudes beyond its
                # range may (correctly) round to inf; never NaN.
                assert not np.any(np.isnan(grad)), f"{where} {name} has NaN"
                overflow = np.abs(reference[name]) > 0.5 * np.finfo(np.float16).max
                grad = np.where(overflow, 0.0, grad)
            _assert_finite(f"{where} {name}", grad, labels)
    # A batch of one.
    loss = _adapted(kind, built[(0.0, 1.0)])
    value, grads = _values_and_gradients(loss, _cast(y_true[:1], "float32"),
                                         _cast(y_pred[:1], "float32"))
    _assert_finite(f"{cls}[{case}] batch of one", value, labels[:1])
    assert all(g is None or np.all(np.isfinite(g)) for g in grads)


OP_CASES = [
    pytest.param(op, case, fn, id=f"{op}[{case}]")
    for op, cases in OP_CATALOG.items()
    for case, fn in cases
]


@pytest.mark.parametrize("op,case,fn", OP_CASES)
def test_ops_are_finite_on_edge_inputs(op, case, fn):
    _, images, labels = _edge_images()

    def total(_, x):
        outputs = fn(x)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        per_image = [keras.ops.reshape(keras.ops.cast(o, "float32"), (x.shape[0], -1))
                     for o in outputs]
        return keras.ops.sum(keras.ops.concatenate(per_image, axis=1), axis=1)

    for dtype in DTYPES:
        x = _cast(images, dtype)
        value, (_, grad) = _values_and_gradients(total, x, x)
        _assert_finite(f"{op}[{case}] {dtype} value", value, labels)
        _assert_finite(f"{op}[{case}] {dtype} gradient", grad, labels)
        outputs = fn(x)
        for output in outputs if isinstance(outputs, tuple) else (outputs,):
            expected = "float32" if op not in ("to_unit_range", "from_unit_range") else (
                keras.backend.standardize_dtype(x.dtype))
            assert keras.backend.standardize_dtype(output.dtype) == expected, (op, dtype)


# --------------------------------------------------------------------------
# Handed cases (issue 15).
# --------------------------------------------------------------------------


def test_tv_power_below_one_is_refused_in_one_place():
    """power=0.5 gave NaN gradients on two flat halves (2880 of 3072 entries); 0 was
    refused by TotalVariationLoss but accepted by PerceptualLoss: one rule now."""
    for power in (0.5, 0.0, -1.0, float("nan"), "two"):
        with pytest.raises(ValueError, match=r"power must be a number >= 1.*NaN"):
            losses.TotalVariationLoss(power=power)
        with pytest.raises(ValueError, match=r"tv_power must be a number >= 1.*NaN"):
            losses.PerceptualLoss(tv_power=power, weights=None)
        with pytest.raises(ValueError, match=r"power must be a number >= 1"):
            kp_ops.total_variation(np.zeros((1, 4, 4, 3), "float32"), power)
    halves = np.zeros((1, SIZE, SIZE, 3), np.float32)
    halves[:, :, SIZE // 2:] = 1.0
    loss = losses.PerceptualLoss(tv_power=1.0, weights=None, style_layers=None, content_layers=None,
                          tv_weight=1.0)
    value, (_, grad) = _values_and_gradients(loss, _cast(halves, "float32"),
                                             _cast(halves, "float32"))
    assert np.all(np.isfinite(grad)) and float(value) == SIZE * 3  # one edge per row, 3 channels


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.Variable is TensorFlow's")
def test_color_loss_of_a_tf_variable():
    """``losses.ColorLoss(mode="angular")(y, tf.Variable(y * 0.9))`` raised AttributeError."""
    import tensorflow as tf

    y = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32) * 0.9 + 0.05
    value = losses.ColorLoss(mode="angular")(y, tf.Variable(y * 0.9))
    # Scaling a pixel does not change its direction: the angle is 0 (float32 rounding).
    assert abs(float(value)) < 1e-3
    other = np.roll(y, 1, axis=-1)
    np.testing.assert_allclose(float(losses.ColorLoss()(y, tf.Variable(other))),
                               float(losses.ColorLoss()(y, other)), rtol=1e-6)


def _input_variants(y_pred):
    """``{kind: y_pred as that input type}``: the types every public entry accepts."""
    inputs = {
        "tensor": keras.ops.convert_to_tensor(y_pred),
        "keras.Variable": keras.Variable(y_pred),
        "float16": y_pred.astype("float16"),
        "bfloat16": keras.ops.cast(y_pred, "bfloat16"),
        "float64": y_pred.astype("float64"),
        "list": y_pred.tolist(),
    }
    if BACKEND == "tensorflow":
        import tensorflow as tf

        inputs["tf.Variable"] = tf.Variable(y_pred)
    return inputs


#: Tolerances of the 16-bit inputs against the float32 result.
TOLERANCES = {"float16": 2e-2, "bfloat16": 6e-2}


def _check_input_types(classes, rng):
    y_true = rng.random((2, SIZE, SIZE, 3), dtype=np.float32)
    y_pred = np.clip(y_true + 0.1 * rng.standard_normal(y_true.shape), 0, 1).astype("float32")
    inputs = _input_variants(y_pred)
    for cls in classes:
        keras.utils.set_random_seed(0)
        loss = LOSS_CATALOG[cls][0][2]((0.0, 1.0))
        reference = to_numpy(loss(y_true, y_pred))
        for name, value in inputs.items():
            result = loss(keras.Variable(y_true) if name == "keras.Variable" else y_true, value)
            assert keras.backend.standardize_dtype(result.dtype) == "float32", (cls, name)
            tolerance = TOLERANCES.get(name, 1e-5)
            np.testing.assert_allclose(to_numpy(result), reference, rtol=tolerance,
                                       atol=1e-6, err_msg=f"{cls} {name}")


#: Losses of images; the backbone losses but one share that one's entry (slow set).
IMAGE_LOSSES = [cls for cls, cases in LOSS_CATALOG.items() if cases[0][1] == "image"]


def test_losses_accept_every_input_type(rng):
    """numpy, tensors, keras.Variable (and tf.Variable or JAX arrays), 16/64-bit: one result."""
    _check_input_types([c for c in IMAGE_LOSSES
                        if c not in BACKBONE_LOSSES or c == "FeatureReconstructionLoss"], rng)


@pytest.mark.slow  # a VGG each
def test_backbone_losses_accept_every_input_type(rng):
    _check_input_types([c for c in IMAGE_LOSSES
                        if c in BACKBONE_LOSSES and c != "FeatureReconstructionLoss"], rng)


def test_metrics_accept_every_input_type(rng):
    """psnr, ssim, PSNR, SSIM and temporal_warping_error: every input type, a float32 result."""
    from keras_perceptual import metrics

    y_true = rng.random((2, SIZE, SIZE, 3), dtype=np.float32)
    y_pred = np.clip(y_true + 0.1 * rng.standard_normal(y_true.shape), 0, 1).astype("float32")
    flows = np.zeros((1, SIZE, SIZE, 2), np.float32)
    functions = {
        "psnr": lambda t, p: metrics.psnr(t, p),
        "ssim": lambda t, p: metrics.ssim(t, p, filter_size=7),
        "temporal_warping_error": lambda t, p: metrics.temporal_warping_error(p, flows),
    }
    for name, fn in functions.items():
        reference = to_numpy(fn(y_true, y_pred))
        for kind, value in _input_variants(y_pred).items():
            result = fn(y_true, value)
            assert keras.backend.standardize_dtype(result.dtype) == "float32", (name, kind)
            tolerance = TOLERANCES.get(kind, 1e-5)
            np.testing.assert_allclose(to_numpy(result), reference, rtol=tolerance,
                                       atol=1e-6, err_msg=f"{name} {kind}")
    variables = {k: v for k, v in _input_variants(y_pred).items() if "Variable" in k}
    for cls in (metrics.PSNR, metrics.SSIM):  # the classes share the functions' entry
        metric = cls()
        reference = None
        for kind, value in {"numpy": y_pred, **variables}.items():
            metric.reset_state()
            metric.update_state(y_true, value)
            result = float(to_numpy(metric.result()))
            reference = result if reference is None else reference
            np.testing.assert_allclose(result, reference, rtol=TOLERANCES.get(kind, 1e-5),
                                       err_msg=f"{cls.__name__} {kind}")


# --------------------------------------------------------------------------
# Checks hold when shapes are known only at run time.
# --------------------------------------------------------------------------


def _run_with_unknown_shapes(fn, *arrays, channels=3):
    """``fn(*arrays)`` traced with every dimension but the channels unknown (TF) or jitted (JAX)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, None, None, channels), tf.float32)
        return tf.function(fn, input_signature=[spec] * len(arrays))(*arrays)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)(*arrays)
    pytest.skip(f"no tracing helper for backend {BACKEND}")


def _run_time_error():
    """The error a failed check raises: InvalidArgumentError in a TF graph, else InputError."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.errors.InvalidArgumentError
    return ValueError


@pytest.mark.parametrize(
    "make,shapes,pattern",
    [
        pytest.param(lambda: losses.PerceptualLoss(weights=None), ((1, 4, 4, 3), (1, 4, 4, 3)),
                     "smaller than 8 px.*relu4_3", marks=pytest.mark.slow),  # a whole VGG
        (lambda: losses.FeatureReconstructionLoss("relu1_2", weights=None),
         ((1, 8, 8, 3), (1, 16, 16, 3)), "same shape"),
        (lambda: losses.FeatureReconstructionLoss("pool2", weights=None),
         ((1, 2, 2, 3), (1, 2, 2, 3)), "4 px.*pool2"),
        (lambda: losses.CharbonnierLoss(), ((1, 8, 8, 3), (1, 8, 6, 3)), "same shape"),
        (lambda: losses.EdgeLoss(), ((1, 1, 8, 3), (1, 1, 8, 3)), "at least 2 px"),
    ],
)
def test_checks_hold_when_shapes_are_known_only_at_run_time(make, shapes, pattern):
    loss = make()
    a, b = (np.random.default_rng(0).random(s, dtype=np.float32) for s in shapes)
    with pytest.raises(_run_time_error(), match=pattern):
        value = _run_with_unknown_shapes(lambda t, p: loss(t, p), a, b)
        float(value)  # a NaN would pass silently: the error must come first


def _run_with_unknown_sizes(fn, *arrays):
    """``fn(*arrays)`` traced with every size but the last unknown (TF), or jitted (JAX)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        specs = [tf.TensorSpec((None,) * (a.ndim - 1) + a.shape[-1:], tf.float32) for a in arrays]
        return tf.function(fn, input_signature=specs)(*arrays)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)(*arrays)
    pytest.skip(f"no tracing helper for backend {BACKEND}")


def _critic(x):
    return keras.ops.sum(x, axis=-1, keepdims=True)


# Shapes that would broadcast (a batch of 1 against one of 4): before the one same-shape
# rule (_checks.check_same_shape) these losses compared them only where the sizes were known
# when traced, and a graph with None sizes silently returned a value for 4 pairs.
@pytest.mark.parametrize(
    "fn,shapes,pattern",
    [
        (lambda t, p: losses.DiscriminatorLoss()(t, p), ((4, 1), (1, 1)), "same shape"),
        (lambda t, p: losses.WassersteinLoss()(t, p), ((4, 1), (1, 1)), "same shape"),
        (lambda t, p: losses.JensenShannonDivergence()(t, p), ((4, 3), (1, 3)), "same shape"),
        (lambda c, p, f: losses.temporal_loss(c, p, f),
         ((2, 8, 8, 3), (1, 8, 8, 3), (2, 8, 8, 2)), "current and previous.*same shape"),
        (lambda r, f: losses.gradient_penalty(_critic, r, f, seed=0),
         ((4, 5), (1, 5)), "real and fake.*same shape"),
        (lambda c, s: losses.AdaINLoss.pack_targets(c, s),
         ((2, 8, 8, 3), (1, 8, 8, 3)), "content and style.*same shape"),
        (lambda c, p, f, m: losses.temporal_loss(c, p, f, m),
         ((2, 8, 8, 3), (2, 8, 8, 3), (2, 8, 8, 2), (1, 8, 8, 1)), "mask must be"),
        (lambda i, f: motion.warp(i, f), ((2, 8, 8, 3), (1, 8, 8, 2)), "flow must have"),
        (lambda i, c: motion.resample(i, c), ((4, 8, 8, 3), (2, 8, 8, 2)),
         "coordinates must have the images.{1,2} batch size"),
        (lambda c, s: kp_layers.AdaptiveInstanceNormalization()([c, s]),
         ((1, 8, 8, 4), (4, 8, 8, 4)), "style features need a batch of 1"),
        (lambda c, a: kp_layers.AdaptiveInstanceNormalization()([c, c, a[:, 0]]),
         ((1, 8, 8, 4), (4, 1)), "alpha must be a number, or one per image"),
        (lambda i, w: losses.pack_style_targets(i, w), ((4, 8, 8, 3), (1, 2)),
         "one row of style_weights per image"),
        (lambda f, t: kp_ops.sliced_wasserstein(f, t, kp_ops.sliced_wasserstein_directions(3, 4)),
         ((1, 4, 4, 3), (4, 4, 16)), "target must hold the sorted projections of one style"),
    ],
    ids=["discriminator", "wasserstein", "jensen_shannon", "temporal", "gradient_penalty",
         "adain_pack_targets", "temporal_mask", "warp", "resample", "adain_layer_style",
         "adain_layer_alpha", "pack_style_targets", "sliced_wasserstein"],
)
def test_pairs_that_would_broadcast_are_refused_when_sizes_are_known_only_at_run_time(
        fn, shapes, pattern):
    arrays = [np.random.default_rng(0).random(s, dtype=np.float32) for s in shapes]
    with pytest.raises(_run_time_error(), match=pattern):
        to_numpy(_run_with_unknown_sizes(fn, *arrays))


# Sizes that leave nothing to compare: a graph with None sizes once returned NaN.
@pytest.mark.parametrize(
    "fn,shapes,pattern",
    [
        (lambda t, p: metrics.psnr(t, p, crop_border=4), ((1, 8, 8, 3), (1, 8, 8, 3)),
         "crop_border=4 removes the whole"),
        (lambda t, p: metrics.ssim(t, p, filter_size=11), ((1, 8, 8, 3), (1, 8, 8, 3)),
         "at least filter_size=11 pixels"),
        (lambda f, w: metrics.temporal_warping_error(f, w), ((1, 8, 8, 3), (0, 8, 8, 2)),
         "at least two frames"),
    ],
    ids=["psnr_crop_border", "ssim_filter_size", "temporal_warping_error_one_frame"],
)
def test_too_small_sizes_are_refused_when_known_only_at_run_time(fn, shapes, pattern):
    arrays = [np.random.default_rng(0).random(s, dtype=np.float32) for s in shapes]
    with pytest.raises(_run_time_error(), match=pattern):
        to_numpy(_run_with_unknown_sizes(fn, *arrays))


def _terms(loss, term):
    """``loss.compute_terms(...)[term]``, a ``(batch,)`` value a broadcast would lengthen."""
    return lambda *images: loss.compute_terms(*images)[term]


# Losses and functions that hold a network are built once, outside the traced function.
# Each pair would broadcast (or sample the wrong images) in a graph with None sizes, where
# the checks once read only the static shapes: the value came out for 4 images, not 1.
@pytest.mark.parametrize(
    "make,shapes,pattern",
    [
        (lambda: losses.LPIPSLoss(weights=None), ((1, 16, 16, 3), (4, 16, 16, 3)),
         "LPIPS.*same shape"),
        (lambda: losses.DISTSLoss(weights=None), ((1, 16, 16, 3), (4, 16, 16, 3)),
         "DISTS.*same shape"),
        (lambda: lambda t, p: losses.lpips(t, p, weights=None),
         ((4, 16, 16, 3), (1, 16, 16, 3)), "LPIPS.*same shape"),
        (lambda: _terms(losses.AdaINLoss(weights=None, backbone="vgg16",
                                         style_layers=["relu1_2"]), "content"),
         ((1, 16, 16, 3), (1, 16, 16, 3), (4, 16, 16, 3)), "y_pred.*content images.{1,2} shape"),
        (lambda: _terms(losses.AdaINLoss(weights=None, backbone="vgg16",
                                         style_layers=["relu1_2"]), "style"),
         ((1, 16, 16, 3), (4, 16, 16, 3), (1, 16, 16, 3)), "style must hold one style image"),
        (lambda: _terms(losses.StyleReconstructionLoss("relu1_2", weights=None), "style"),
         ((4, 16, 16, 3), (1, 16, 16, 3)), "y_true must hold one style image"),
        (lambda: _terms(losses.StyleReconstructionLoss(
            "relu1_2", style_distance="sliced_wasserstein", weights=None), "style"),
         ((4, 16, 16, 3), (1, 16, 16, 3)), "y_true must hold one style image"),
    ],
    ids=["lpips_loss", "dists_loss", "lpips_function", "adain_content", "adain_style_batch",
         "style_gram_batch", "style_sliced_wasserstein_batch"],
)
def test_network_pairs_are_checked_when_sizes_are_known_only_at_run_time(make, shapes, pattern):
    fn = make()
    arrays = [np.random.default_rng(0).random(s, dtype=np.float32) for s in shapes]
    with pytest.raises(_run_time_error(), match=pattern):
        to_numpy(_run_with_unknown_sizes(lambda *a: fn(*a), *arrays))


@pytest.mark.slow  # traces fit three times
@pytest.mark.skipif(BACKEND != "tensorflow", reason="a tf.data pipeline of varying sizes")
def test_fit_on_varying_sizes_stops_at_the_too_small_batch():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    sizes = [16, 24, 2]  # the last batch is too small for pool2 (4 px)
    batches = [rng.random((1, s, s, 3), dtype=np.float32) for s in sizes]
    dataset = tf.data.Dataset.from_generator(
        lambda: ((x, x) for x in batches),
        output_signature=(tf.TensorSpec((1, None, None, 3)),) * 2,
    )
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="sigmoid")(inputs))
    model.compile("adam", loss=losses.FeatureReconstructionLoss("pool2", weights=None),
                  jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than 4 px.*pool2"):
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)


# --------------------------------------------------------------------------
# NaN in, NaN out: a diverged network must not get a finite loss.
# --------------------------------------------------------------------------

#: ``(class, case)`` that do not read ``y_true`` (a NaN there cannot show).
IGNORE_Y_TRUE = {
    ("StyleReconstructionLoss", "style image, mse, none"),
    ("TotalVariationLoss", "power 1"),
    ("TotalVariationLoss", "power 1.5"),
    *(("GeneratorLoss", kind) for kind in ("vanilla", "lsgan", "hinge")),
    ("WassersteinLoss", "generator"),
    ("Entropy", "probabilities"),
    ("Entropy", "logits"),
}


def _with_nan(batch, index=1):
    """``batch`` with one NaN in its first item (at flat position ``index`` of it)."""
    batch = np.array(batch, np.float32)
    batch[0].reshape(-1)[index] = np.nan
    return batch


def _nan_pair(kind):
    """Two items, the second an ordinary one: ``(y_true, y_pred)``."""
    if kind in ("score", "probability"):
        y_true, y_pred, _ = _edge_scores(kind)
        return y_true[[1, 3]], y_pred[[1, 3]]
    y_true, y_pred, _ = _edge_images()
    return y_true[[0, 6]], y_pred[[0, 6]]


def _assert_nan_then_finite(where, value):
    value = np.asarray(value, np.float64).reshape(2, -1)
    assert np.isnan(value[0]).any(), f"{where}: NaN input gave a NaN-free {value[0]}"
    assert np.isfinite(value[1]).all(), f"{where}: the finite item gave {value[1]}"


@pytest.mark.parametrize("cls,case,kind,factory", LOSS_CASES)
def test_losses_propagate_nan(cls, case, kind, factory):
    """A NaN pixel (or score) gives a NaN value for its image, never a finite one."""
    keras.utils.set_random_seed(0)
    loss = _adapted(kind, factory((0.0, 1.0)))
    y_true, y_pred = _nan_pair(kind)
    for position in (1, 3):  # the first pixel's green channel, the second's red one
        _assert_nan_then_finite(f"{cls}[{case}] NaN y_pred",
                                to_numpy(loss(y_true, _with_nan(y_pred, position))))
        if (cls, case) not in IGNORE_Y_TRUE:
            _assert_nan_then_finite(f"{cls}[{case}] NaN y_true",
                                    to_numpy(loss(_with_nan(y_true, position), y_pred)))


@pytest.mark.parametrize("op,case,fn", OP_CASES)
def test_ops_propagate_nan(op, case, fn):
    _, images, _ = _edge_images()
    outputs = fn(_with_nan(images[[0, 6]]))
    for output in outputs if isinstance(outputs, tuple) else (outputs,):
        _assert_nan_then_finite(f"{op}[{case}]", to_numpy(keras.ops.cast(output, "float32")))


def test_nan_safe_helpers_keep_finite_gradients_at_their_undefined_points():
    """The reason the safe helpers exist: gradient 0 (not inf/NaN) at 0, NaN only for NaN."""
    from keras_perceptual.losses import pixel

    x = np.array([0.0, 4.0, -1.0, np.nan], np.float32)
    np.testing.assert_array_equal(to_numpy(kp_ops.safe_sqrt(x)), [0.0, 2.0, 0.0, np.nan])
    _, (_, grad) = _values_and_gradients(lambda _, v: kp_ops.safe_sqrt(v), _cast(x[:3], "float32"),
                                         _cast(x[:3], "float32"))
    np.testing.assert_allclose(grad, [0.0, 0.25, 0.0])
    np.testing.assert_array_equal(to_numpy(kp_ops.charbonnier(x, 0.0)), [0.0, 4.0, 1.0, np.nan])
    zeros = np.zeros((1, 2, 2, 3), np.float32)
    _, grads = _values_and_gradients(pixel.angular_error, _cast(zeros, "float32"),
                                     _cast(zeros, "float32"))  # atan2(0, 0)
    assert all(np.all(g == 0.0) for g in grads)
    np.testing.assert_array_equal(
        to_numpy(pixel._safe_divide(np.array([1.0, 0.0, np.nan, 1.0], np.float32),
                                    np.array([2.0, 0.0, 0.0, np.nan], np.float32))),
        [0.5, 0.0, np.nan, np.nan])


def test_metrics_propagate_nan():
    from keras_perceptual import metrics

    rng = np.random.default_rng(4)
    y_true, y_pred = rng.random((2, 2, 2 * SIZE, 2 * SIZE, 3), dtype=np.float32)  # LPIPS alex
    functions = {
        "psnr": metrics.psnr,
        "ssim": lambda t, p: metrics.ssim(t, p, filter_size=7),
    }
    for name, fn in functions.items():
        _assert_nan_then_finite(f"{name} NaN y_pred", to_numpy(fn(y_true, _with_nan(y_pred))))
        _assert_nan_then_finite(f"{name} NaN y_true", to_numpy(fn(_with_nan(y_true), y_pred)))
    keras.utils.set_random_seed(0)
    for cls, kwargs in ((metrics.PSNR, {}), (metrics.SSIM, {"filter_size": 7}),
                        (metrics.LPIPS, {"weights": None}), (metrics.DISTS, {"weights": None})):
        metric = cls(**kwargs)
        metric.update_state(y_true, _with_nan(y_pred))
        assert np.isnan(float(to_numpy(metric.result()))), cls.__name__
    # A clip with a NaN frame: NaN, also where the masks leave nothing visible (was 0).
    frames = _with_nan(rng.random((3, SIZE, SIZE, 3), dtype=np.float32))
    flows = np.zeros((2, SIZE, SIZE, 2), np.float32)
    for masks in (None, np.zeros((2, SIZE, SIZE), np.float32)):
        assert np.isnan(float(to_numpy(metrics.temporal_warping_error(frames, flows, masks))))
    # A NaN in the flow: NaN (TensorFlow's gather failed on its integer cast).
    nan_flows = _with_nan(flows)
    clean = np.full_like(frames, 0.5)
    assert np.isnan(float(to_numpy(metrics.temporal_warping_error(clean, nan_flows))))
    values = to_numpy(losses.temporal_loss(clean[1:], clean[:-1], nan_flows))
    assert np.isnan(values[0]) and values[1] == 0.0
    nothing_visible = metrics.temporal_warping_error(np.full_like(frames, 0.5), flows,
                                                     np.zeros((2, SIZE, SIZE), np.float32))
    assert float(to_numpy(nothing_visible)) == 0.0


# --------------------------------------------------------------------------
# An empty batch: what Keras' own losses give (TensorFlow's convolution failed on it).
# --------------------------------------------------------------------------

#: One case of every loss that runs a network (its first catalog entry).
FIRST_BACKBONE_CASES = [c for c in LOSS_CASES if c.values[0] in BACKBONE_LOSSES
                        and c.values[1] == LOSS_CATALOG[c.values[0]][0][0]]
EMPTY = np.zeros((0, 2 * SIZE, 2 * SIZE, 3), np.float32)  # 32 px: LPIPS' AlexNet needs 31


def _forbid_convolutions(monkeypatch):
    """From now on a convolution fails the test: an empty batch must not run a network."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{self.name} ran on an empty batch")

    monkeypatch.setattr(keras.layers.Conv2D, "convolution_op", refuse)


@pytest.mark.parametrize("cls,case,kind,factory", [
    *FIRST_BACKBONE_CASES,
    pytest.param("LPIPSLoss", "spatial", "image", lambda vr: losses.LPIPSLoss(
        spatial=True, value_range=vr, **_SMALL), id="LPIPSLoss[spatial]"),
    pytest.param("lpips", "alex", "image", lambda vr: functools.partial(
        losses.lpips, weights=None), id="lpips()"),
    pytest.param("lpips", "spatial", "image", lambda vr: functools.partial(
        losses.lpips, net="vgg", spatial=True, weights=None), id="lpips(spatial=True)"),
    pytest.param("dists", "", "image", lambda vr: functools.partial(
        losses.dists, weights=None), id="dists()"),
])  # fmt: skip
def test_losses_on_a_network_take_an_empty_batch(cls, case, kind, factory, monkeypatch):
    """``(0,)`` values (``(0, H, W)`` maps), 0.0 reduced and an empty gradient, as Keras'
    losses give, without running the network; TensorFlow's CPU convolution returned the
    batch of 0 unchanged and the network's first bias failed (``Incompatible shapes:
    [0,32,32,3] vs. [1,1,1,64]``)."""
    loss = factory((0.0, 1.0))
    _forbid_convolutions(monkeypatch)
    fn = _adapted(kind, loss)
    empty = _cast(EMPTY, "float32")
    value, (_, grad) = _values_and_gradients(fn, empty, empty)
    expected = EMPTY.shape[:3] if case == "spatial" else (0,)
    assert value.shape == expected, value.shape
    assert grad is not None and grad.shape == EMPTY.shape
    if isinstance(loss, keras.losses.Loss):
        for reduction in ("sum_over_batch_size", "sum"):
            loss.reduction = reduction
            for weight in (None, np.zeros((0,), np.float32)):
                reduced = to_numpy(fn(empty, empty, sample_weight=weight))
                assert reduced.shape == () and reduced == 0.0, (reduction, reduced)


@pytest.mark.parametrize("name", ["LPIPS", "DISTS"])
def test_learned_metrics_are_unchanged_by_an_empty_batch(name, rng, monkeypatch):
    metric = getattr(metrics, name)(weights=None)
    y_true, y_pred = rng.random((2, 2, 2 * SIZE, 2 * SIZE, 3), dtype=np.float32)
    metric.update_state(y_true, y_pred)
    before = float(to_numpy(metric.result()))
    _forbid_convolutions(monkeypatch)
    metric.update_state(EMPTY, EMPTY)
    metric.update_state(EMPTY, EMPTY, sample_weight=np.zeros((0,), np.float32))
    assert float(to_numpy(metric.result())) == before
    metric.reset_state()
    metric.update_state(EMPTY, EMPTY)
    assert float(to_numpy(metric.result())) == 0.0  # no image yet: Keras' Mean gives 0


# --------------------------------------------------------------------------
# sample_weight of another length: a clear error (was an error deep in Keras' reduction).
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cls,case,kind,factory",
                         [c for c in LOSS_CASES if c.values[1] == LOSS_CATALOG[c.values[0]][0][0]])
def test_sample_weight_of_another_length_is_refused(cls, case, kind, factory):
    from keras_perceptual.errors import InputError

    keras.utils.set_random_seed(0)
    loss = _adapted(kind, factory((0.0, 1.0)))
    y_true, y_pred = _nan_pair(kind)  # two items, no NaN
    reference = to_numpy(loss(y_true, y_pred))
    shapes = [(3,), (1,), (2, 2)] if kind in ("image", "adain", "temporal") else [(3,), (1,)]
    for shape in shapes:
        with pytest.raises(InputError, match=(
                r"sample_weight must be a scalar or hold one weight per sample: shape "
                r"\(batch,\) = \(2,\).*Received: sample_weight.shape=" + re.escape(str(shape)))):
            loss(y_true, y_pred, sample_weight=np.ones(shape, np.float32))
    weights = np.array([0.25, 2.0], np.float32)
    for sample_weight in (weights, weights[:, None], np.float32(3.0)):
        value = to_numpy(loss(y_true, y_pred, sample_weight=sample_weight)).reshape(-1)
        expected = reference * np.broadcast_to(np.reshape(sample_weight, (-1,)), (2,))
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a TensorFlow graph with unknown batch")
def test_sample_weight_length_is_checked_at_run_time_in_a_graph():
    import tensorflow as tf

    loss = losses.CharbonnierLoss(reduction=None)
    fn = tf.function(lambda t, p, w: loss(t, p, sample_weight=w), input_signature=[
        tf.TensorSpec((None, 4, 4, 3)), tf.TensorSpec((None, 4, 4, 3)), tf.TensorSpec((None,))])
    x = np.zeros((2, 4, 4, 3), np.float32)
    assert to_numpy(fn(x, x, np.ones(2, np.float32))).shape == (2,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one weight per sample"):
        fn(x, x, np.ones(3, np.float32))


# --------------------------------------------------------------------------
# min_image_size: what the training recipes check crops against (before fit).
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cls,case,kind,factory", [
    case for case in LOSS_CASES if case.values[2] in ("image", "adain")
])  # fmt: skip
def test_min_image_size_is_the_smallest_size_the_loss_accepts(cls, case, kind, factory):
    loss = factory((0.0, 1.0))
    need = loss.min_image_size
    assert isinstance(need, int) and need >= 1, need

    def images(side):
        image = np.full((1, side, side, 3), 0.5, "float32")
        if kind == "adain":
            return losses.AdaINLoss.pack_targets(image, image), image
        return image, image

    assert np.all(np.isfinite(keras.ops.convert_to_numpy(loss(*images(need)))))
    if need > 1:
        with pytest.raises(InputError, match="needs (images )?at least"):
            loss(*images(need - 1))
