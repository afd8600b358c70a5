import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy

from keras_perceptual.errors import InputError
from keras_perceptual.losses.pixel import (
    CharbonnierLoss,
    ColorLoss,
    EdgeLoss,
    angular_color_loss,
    angular_error,
    blur_color_loss,
    charbonnier_loss,
    edge_loss,
    edge_weights,
)
from keras_perceptual.ops import edge_magnitude, sobel_edges

# --- numpy references. ---

SOBEL_Y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "float64")
SOBEL_X = SOBEL_Y.T


def np_sobel(x):
    """(b, h, w, c, 2) [dy, dx] with reflect padding, as tf.image.sobel_edges."""
    x = np.asarray(x, "float64")
    _, h, w, _ = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    out = []
    for kernel in (SOBEL_Y, SOBEL_X):
        out.append(sum(kernel[i, j] * p[:, i:i + h, j:j + w] for i in range(3) for j in range(3)))
    return np.stack(out, -1)


def np_magnitude(x):
    return np.sqrt((np_sobel(x) ** 2).sum(-1).mean(-1, keepdims=True)) / 4


def np_dist(d, distance, eps):
    return np.abs(d) if distance == "l1" else np.sqrt(d**2 + eps**2)


def np_edge_mask(t, p, threshold, weighting, distance, eps):
    m = np_magnitude(t)
    w = (m > max(threshold, 1e-5)).astype("float64")
    if weighting == "soft":
        w = w * m
    d = np_dist(p - t, distance, eps).mean(-1, keepdims=True)
    num, den = (w * d).sum((1, 2, 3)), w.sum((1, 2, 3))
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0)


def np_angles(a, b):
    cross = np.cross(a, b)
    return np.arctan2(np.linalg.norm(cross, axis=-1), (a * b).sum(-1))


def np_blur(x, k, sigma):
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    kernel = np.outer(g, g)
    _, h, w, _ = x.shape
    r = k // 2
    p = np.pad(np.asarray(x, "float64"), ((0, 0), (r, r), (r, r), (0, 0)))
    return sum(kernel[i, j] * p[:, i:i + h, j:j + w] for i in range(k) for j in range(k))


@pytest.fixture
def small(rng):
    return rng.random((2, 12, 10, 3), dtype=np.float32), rng.random((2, 12, 10, 3), dtype=np.float32)


def step_image(height=0.8):
    x = np.full((2, 12, 12, 3), 0.1, "float32")
    x[:, :, 6:] = 0.1 + height
    return x


# --- Sobel. ---


def test_sobel_matches_numpy_and_tf_image(rng):
    x = rng.random((2, 7, 9, 3), dtype=np.float32)
    ours = to_numpy(sobel_edges(x))
    np.testing.assert_allclose(ours, np_sobel(x), rtol=1e-5, atol=1e-5)
    # keras.ops.image.sobel_edges pads with zeros on JAX: a constant image must still have no edge.
    assert np.abs(to_numpy(sobel_edges(np.full((1, 5, 5, 1), 0.7, "float32")))).max() < 1e-6
    tf = pytest.importorskip("tensorflow")
    np.testing.assert_allclose(ours, tf.image.sobel_edges(tf.constant(x)).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_edge_magnitude_known_answer():
    x = np.zeros((1, 4, 6, 3), "float32")
    x[:, :, 3:] = 0.5
    np.testing.assert_allclose(to_numpy(edge_magnitude(x))[0, :, :, 0],
                               np.tile([0, 0, 0.5, 0.5, 0, 0], (4, 1)), atol=1e-6)


# --- Formulas against numpy. ---


@pytest.mark.parametrize("epsilon", [1e-3, 0.5])
def test_charbonnier_matches_numpy_and_is_range_invariant(small, epsilon):
    t, p = small
    expected = np.sqrt((p - t).astype("float64") ** 2 + epsilon**2).mean((1, 2, 3))
    loss = CharbonnierLoss(epsilon, reduction=None)
    np.testing.assert_allclose(to_numpy(loss(t, p)), expected, rtol=1e-5)
    ranged = CharbonnierLoss(epsilon, value_range=(-1, 1), reduction=None)
    np.testing.assert_allclose(to_numpy(ranged(2 * t - 1, 2 * p - 1)), expected, rtol=1e-5)
    # Integer-valued [0, 255] floats with value_range=(0, 255).
    byte = CharbonnierLoss(epsilon, value_range=(0, 255), reduction=None)
    np.testing.assert_allclose(to_numpy(byte(t * 255, p * 255)), expected, rtol=1e-4)


@pytest.mark.parametrize("weighting", ["hard", "soft"])
@pytest.mark.parametrize("distance", ["l1", "charbonnier"])
def test_edge_mask_matches_numpy(small, weighting, distance):
    t, p = small
    epsilon = {"epsilon": 0.1} if distance == "charbonnier" else {}  # l1 refuses it
    loss = EdgeLoss(threshold=0.2, weighting=weighting, distance=distance, reduction=None,
                    **epsilon)
    expected = np_edge_mask(t, p, 0.2, weighting, distance, 0.1)
    assert np.all(expected > 0)
    np.testing.assert_allclose(to_numpy(loss(t, p)), expected, rtol=1e-5)
    ranged = EdgeLoss(threshold=0.2, weighting=weighting, distance=distance,
                      value_range=(-1, 1), reduction=None, **epsilon)
    np.testing.assert_allclose(to_numpy(ranged(2 * t - 1, 2 * p - 1)), expected, rtol=1e-4)


def test_edge_mask_averages_over_edges_only():
    target = step_image(0.8)  # edges: the two columns beside the step
    pred = target.copy()
    pred[:, :, :3] += 0.05  # far from the edge: ignored
    assert float(EdgeLoss()(target, pred)) == 0.0
    pred[:, :, 5] += 0.1  # on the edge
    # 12 of 24 edge pixels (per row) are off by 0.1 -> mean 0.05.
    np.testing.assert_allclose(to_numpy(EdgeLoss(reduction=None)(target, pred)), [0.05, 0.05],
                               rtol=1e-5)


@pytest.mark.parametrize("distance", ["l1", "charbonnier"])
def test_edge_gradient_mode_matches_numpy(small, distance):
    t, p = small
    expected = np_dist((np_sobel(p) - np_sobel(t)) / 4, distance, 1e-3).mean((1, 2, 3, 4))
    loss = EdgeLoss("gradient", distance=distance, reduction=None)
    np.testing.assert_allclose(to_numpy(loss(t, p)), expected, rtol=1e-5)
    # Blind to a constant offset (it has no gradient).
    floor = 0.0 if distance == "l1" else 1e-3  # Charbonnier is epsilon at zero difference
    np.testing.assert_allclose(to_numpy(loss(t, t + 0.3)), floor, atol=1e-6)


def test_angular_matches_numpy_and_known_answers(small):
    t, p = small
    expected = np_angles(p.astype("float64"), t.astype("float64")).mean((1, 2))
    loss = ColorLoss("angular", reduction=None)
    np.testing.assert_allclose(to_numpy(loss(t, p)), expected, rtol=1e-5)
    ranged = ColorLoss("angular", value_range=(-1, 1), reduction=None)
    np.testing.assert_allclose(to_numpy(ranged(2 * t - 1, 2 * p - 1)), expected, rtol=1e-4)
    # Brightness does not change the angle; a hue change does.
    np.testing.assert_allclose(to_numpy(loss(t, 0.5 * t)), 0.0, atol=1e-6)
    red = np.zeros((1, 1, 1, 3), "float32")
    red[..., 0] = 1.0
    np.testing.assert_allclose(to_numpy(loss(red, np.roll(red, 1, -1))), [np.pi / 2], rtol=1e-6)
    gray = np.full((1, 1, 1, 3), 0.5, "float32")
    np.testing.assert_allclose(to_numpy(angular_color_loss(gray, red)),
                               [np.arccos(1 / np.sqrt(3))], rtol=1e-6)


def test_angular_black_pixels_count_as_zero(small):
    t, p = small
    p = p.copy()
    p[:, :4] = 0.0  # black prediction rows
    angles = np_angles(p.astype("float64"), t.astype("float64"))
    assert np.all(angles[:, :4] == 0)
    np.testing.assert_allclose(to_numpy(ColorLoss(reduction=None)(t, p)), angles.mean((1, 2)),
                               rtol=1e-5)


@pytest.mark.parametrize("kernel_size,sigma", [(21, 3.0), (5, 1.5)])
def test_blur_matches_numpy(small, kernel_size, sigma):
    t, p = small
    expected = ((np_blur(p, kernel_size, sigma) - np_blur(t, kernel_size, sigma)) ** 2).mean(
        (1, 2, 3))
    loss = ColorLoss("blur", kernel_size=kernel_size, sigma=sigma, reduction=None)
    np.testing.assert_allclose(to_numpy(loss(t, p)), expected, rtol=1e-4)
    ranged = ColorLoss("blur", kernel_size=kernel_size, sigma=sigma, value_range=(0, 255),
                       reduction=None)
    np.testing.assert_allclose(to_numpy(ranged(t * 255, p * 255)), expected, rtol=1e-3)


# --- Gradients at the edge cases. ---

LOSSES = {
    "charbonnier": lambda: CharbonnierLoss(),
    "edge_mask_l1": lambda: EdgeLoss(),
    "edge_mask_soft_charbonnier": lambda: EdgeLoss(weighting="soft", threshold=0.0,
                                                   distance="charbonnier"),
    "edge_gradient": lambda: EdgeLoss("gradient"),
    "edge_gradient_charbonnier": lambda: EdgeLoss("gradient", distance="charbonnier"),
    "color_angular": lambda: ColorLoss("angular"),
    "color_blur": lambda: ColorLoss("blur", kernel_size=5, sigma=1.0),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("case", ["identical", "all_black", "edge_free_target", "black_pred"])
def test_values_and_gradients_finite_at_edge_cases(name, case, small):
    loss = LOSSES[name]()
    t, p = small
    flat = np.full_like(t, 0.4)
    black = np.zeros_like(t)
    y_true, y_pred = {
        "identical": (t, t),
        "all_black": (black, black),
        "edge_free_target": (flat, p),
        "black_pred": (t, black),
    }[case]
    value = to_numpy(loss(y_true, y_pred))
    assert np.isfinite(value)
    g = gradient(lambda x: loss(y_true, x), y_pred)
    assert g is not None and np.all(np.isfinite(g))
    if case in ("identical", "all_black") and "charbonnier" not in name:  # else epsilon
        assert value == pytest.approx(0.0, abs=1e-6)


def test_edge_free_target_gives_zero_not_nan(small):
    _, p = small
    flat = np.full_like(p, 0.4)
    for weighting in ("hard", "soft"):
        for threshold in (0.0, 0.1):  # float32 rounding on a flat image is no edge
            for range_, scale in (((0, 1), 1.0), ((0, 255), 255.0)):
                loss = EdgeLoss(threshold=threshold, weighting=weighting, value_range=range_,
                                reduction=None)
                np.testing.assert_array_equal(to_numpy(loss(flat * scale, p * scale)), [0, 0])


def test_arccos_form_has_non_finite_gradient_at_zero_degrees_ours_does_not(small):
    t, _ = small

    def arccos_form(x):
        a, b = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(t)
        cos = keras.ops.sum(a * b, -1) / (keras.ops.norm(a, axis=-1) * keras.ops.norm(b, axis=-1))
        return keras.ops.mean(keras.ops.arccos(keras.ops.clip(cos, -1.0, 1.0)))

    # Identical pixels: the arccos form's derivative is infinite (or NaN) there ...
    g_arccos = gradient(arccos_form, t)
    assert not np.all(np.isfinite(g_arccos))
    # ... and the atan2 form's is finite, also for black pixels.
    loss = ColorLoss("angular")
    for pred in (t, np.zeros_like(t), t * 0.3):
        g = gradient(lambda x: loss(t, x), pred)
        assert g is not None and np.all(np.isfinite(g))
    # Away from 0 degrees the gradient is the true one (a central finite difference).
    pred = np.roll(t, 1, axis=-1)
    g = gradient(lambda x: loss(t, x), pred)
    eps = 1e-2
    bumped = pred.copy()
    bumped[0, 3, 4, 1] += eps
    lowered = pred.copy()
    lowered[0, 3, 4, 1] -= eps
    numeric = (float(loss(t, bumped)) - float(loss(t, lowered))) / (2 * eps)
    assert g[0, 3, 4, 1] == pytest.approx(numeric, rel=2e-2)


def test_losses_train_a_model(small):
    t, p = small
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same",
                                                    activation="sigmoid")(inputs))
    for loss in (CharbonnierLoss(), EdgeLoss("gradient"), ColorLoss("angular")):
        model.compile(keras.optimizers.Adam(1e-2), loss=loss)
        history = model.fit(p, t, epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))


# --- Keras semantics. ---

CLASSES = [
    (CharbonnierLoss, {"epsilon": 0.01}),
    (EdgeLoss, {"threshold": 0.05, "weighting": "soft", "distance": "charbonnier"}),
    (EdgeLoss, {"mode": "gradient"}),
    (ColorLoss, {"mode": "angular"}),
    (ColorLoss, {"mode": "blur", "kernel_size": 7, "sigma": 2.0}),
]


@pytest.mark.parametrize("cls,kwargs", CLASSES)
def test_reductions_and_sample_weight(cls, kwargs, small):
    t, p = small
    per_image = to_numpy(cls(**kwargs, reduction=None)(t, p))
    assert per_image.shape == (2,)
    np.testing.assert_allclose(to_numpy(cls(**kwargs, reduction="sum")(t, p)), per_image.sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(to_numpy(cls(**kwargs)(t, p)), per_image.mean(), rtol=1e-5)
    sw = np.array([0.25, 2.0], "float32")
    np.testing.assert_allclose(to_numpy(cls(**kwargs)(t, p, sample_weight=sw)),
                               (per_image * sw).mean(), rtol=1e-5)


@pytest.mark.parametrize("cls,kwargs", CLASSES)
def test_config_round_trip(cls, kwargs, small):
    t, p = small
    loss = cls(**kwargs, value_range=(-1, 1), reduction="sum", name="custom")
    config = loss.get_config()
    assert cls.from_config(config).get_config() == config
    assert set(config) - {"name", "reduction", "dtype", "value_range"} == set(
        cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount]) - {
        "name", "reduction", "dtype", "value_range"}
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"].startswith("keras_perceptual>")
    revived = keras.saving.deserialize_keras_object(serialized)
    a, b = 2 * t - 1, 2 * p - 1
    np.testing.assert_allclose(to_numpy(revived(a, b)), to_numpy(loss(a, b)), rtol=1e-6)


@pytest.mark.parametrize("cls,kwargs", CLASSES)
def test_float32_under_mixed_precision(cls, kwargs, small):
    t, p = small
    reference = to_numpy(cls(**kwargs)(t, p))
    keras.config.set_dtype_policy("mixed_float16")
    loss = cls(**kwargs)
    value = loss(t.astype("float16"), p.astype("float16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), reference, rtol=2e-3, atol=1e-5)
    keras.config.set_dtype_policy("float32")


def test_pure_function_is_the_loss(small):
    t, p = small
    np.testing.assert_allclose(to_numpy(edge_loss(t, p, mode="gradient")),
                               to_numpy(EdgeLoss("gradient", reduction=None)(t, p)), rtol=1e-6)


# --- Bad input. ---


@pytest.mark.parametrize(
    "cls,kwargs,pattern",
    [
        (CharbonnierLoss, {"epsilon": 0.0}, "epsilon must be a finite number > 0"),
        (CharbonnierLoss, {"epsilon": -1.0}, r"epsilon must be a finite number > 0\. Received"),
        (CharbonnierLoss, {"value_range": (1, 0)}, "low < high"),
        (EdgeLoss, {"mode": "sobel"}, "mode must be one of 'mask', 'gradient'"),
        (EdgeLoss, {"weighting": "linear"}, "weighting must be one of 'hard', 'soft'"),
        (EdgeLoss, {"distance": "l2"}, "distance must be one of 'l1', 'charbonnier'"),
        (EdgeLoss, {"threshold": -0.1}, "threshold must be a finite number >= 0"),
        (ColorLoss, {"mode": "hsv"}, "mode must be one of 'angular', 'blur'"),
        (ColorLoss, {"kernel_size": 4}, "kernel_size must be odd.*e.g. 5"),
        (ColorLoss, {"kernel_size": 0}, "kernel_size must be an integer >= 1"),
        (ColorLoss, {"sigma": 0}, "sigma must be a finite number > 0"),
        (ColorLoss, {"sigma": True}, "sigma must be a finite number > 0"),
        # numpy's booleans are no numbers either (float(np.True_) is 1.0)
        (ColorLoss, {"mode": "blur", "sigma": np.True_}, "sigma must be a finite number > 0"),
        (CharbonnierLoss, {"epsilon": np.True_}, "epsilon must be a finite number > 0"),
        (EdgeLoss, {"threshold": True}, "threshold must be a number >= 0.*not a bool"),
        (CharbonnierLoss, {"value_range": (np.False_, 1)}, "value_range must be a pair"),
        # strings are no numbers either, whatever float("0.5") says (an untyped config)
        (CharbonnierLoss, {"value_range": ("0", "1")}, "value_range must be a pair"),
        (CharbonnierLoss, {"epsilon": "1e-3"}, "epsilon must be a finite number > 0"),
        (ColorLoss, {"mode": "blur", "sigma": "3"}, "sigma must be a finite number > 0"),
        (EdgeLoss, {"threshold": "0.1"}, "threshold must be a number >= 0.*not a bool or a string"),
        (CharbonnierLoss, {"reduction": "avg"}, "reduction"),
    ],
)
def test_bad_arguments(cls, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(**kwargs)


def test_bad_images(small):
    t, p = small
    with pytest.raises(ValueError, match="rank-4.*images\\[None\\]"):
        CharbonnierLoss()(t[0], p[0])
    with pytest.raises(ValueError, match="same shape; resize or crop"):
        EdgeLoss()(t[:, :8], p)
    with pytest.raises(ValueError, match="1 channels; expected 3.*grayscale"):
        ColorLoss("angular")(t[..., :1], p[..., :1])
    with pytest.raises(ValueError, match="dtype uint8; expected floating-point"):
        ColorLoss()(t, (p * 255).astype("uint8"))
    with pytest.raises(ValueError, match="at least 2 px in height"):
        EdgeLoss()(t[:, :1], p[:, :1])
    # Any channel count where the formula allows it.
    gray_t, gray_p = t[..., :1], p[..., :1]
    for loss in (CharbonnierLoss(), EdgeLoss(), ColorLoss("blur")):
        assert np.isfinite(to_numpy(loss(gray_t, gray_p)))


def test_settings_the_chosen_mode_ignores_are_refused(small):
    """EdgeLoss("gradient", threshold=...) and ColorLoss(kernel_size=...) (angular) silently
    ignored the setting; refused now, as the backbone losses' distance settings are."""
    from keras_perceptual.errors import InputError
    from keras_perceptual.losses import edge_loss

    t, p = small
    cases = [
        (lambda: EdgeLoss("gradient", threshold=0.05), r"threshold applies only with "
         r"mode='mask', so it would be ignored with mode='gradient'.*Received: threshold=0.05"),
        (lambda: EdgeLoss("gradient", weighting="soft"), "weighting applies only with mode"),
        (lambda: EdgeLoss(epsilon=0.1), r"epsilon applies only with distance='charbonnier'"),
        (lambda: edge_loss(t, p, "gradient", threshold=0.3), "threshold applies only"),
        (lambda: ColorLoss(kernel_size=5), r"kernel_size applies only with mode='blur', so it "
         r"would be ignored with mode='angular'"),
        (lambda: ColorLoss("angular", sigma=1.0), "sigma applies only with mode='blur'"),
    ]
    for factory, match in cases:
        with pytest.raises(InputError, match=match):
            factory()
    # Defaults (as stored configs hold them) and the modes' own settings pass.
    EdgeLoss("gradient", threshold=0.1, weighting="hard", epsilon=1e-3)
    EdgeLoss("gradient", distance="charbonnier", epsilon=0.1)
    ColorLoss("blur", kernel_size=5, sigma=1.0)
    ColorLoss(kernel_size=21, sigma=3.0)


# --- The pure functions check their inputs as the losses do. ---

_X = np.random.default_rng(3).random((2, 8, 8, 3), dtype=np.float32)
_Y = np.random.default_rng(4).random((2, 8, 8, 3), dtype=np.float32)
_RGBA = np.concatenate([_X, _X[..., :1]], axis=-1)
_SAME = r"y_true and y_pred must have the same shape; resize or crop one to match\. Received: "


@pytest.mark.parametrize(
    "call,pattern",
    [
        # Was: a TensorFlow "Incompatible shapes" (InvalidArgumentError), or a silent
        # broadcast of a batch of 1 against 2 / of 1 channel against 3.
        (lambda: charbonnier_loss(_X, _Y[:, :4]), _SAME + r"y_true.shape=\(2, 8, 8, 3\)"),
        (lambda: charbonnier_loss(_X[:1], _Y), _SAME + r"y_true.shape=\(1, 8, 8, 3\)"),
        (lambda: edge_loss(_X, _Y[:, :4]), _SAME),
        (lambda: edge_loss(_X, _Y[:, :4], mode="gradient"), _SAME),
        (lambda: edge_loss(_X[:1], _Y), _SAME),
        (lambda: angular_color_loss(_X[:1], _Y), _SAME),
        (lambda: blur_color_loss(_X, _Y[:, :4]), _SAME),
        (lambda: blur_color_loss(_X, _Y[..., :1]), _SAME),
        (lambda: angular_error(_X, _Y[:, :4]),
         r"a and b must have the same shape.*Received: a.shape=\(2, 8, 8, 3\), b.shape"),
        # Was: "Invalid reduction dimension" (InvalidArgumentError).
        (lambda: charbonnier_loss(_X[0], _Y[0]), r"y_true must be a rank-4 batch.*images\[None\]"),
        (lambda: blur_color_loss(_X[0], _Y[0]), r"y_true must be a rank-4 batch"),
        (lambda: edge_weights(_X[0]), r"y_true must be a rank-4 batch.*Received: y_true.shape"),
        # Was: TensorFlow's Cross "Cross-products are only defined for 3-element vectors".
        (lambda: angular_color_loss(_RGBA, _RGBA),
         r"y_true has 4 channels; expected 3 .*images\[\.\.\., :3\]"),
        (lambda: angular_color_loss(_X[..., :1], _Y[..., :1]),
         r"y_true has 1 channels; expected 3"),
        (lambda: angular_error(_RGBA, _RGBA), r"a has 4 channels; expected 3"),
        # Was: a backend reshape error (2.5, 0); kernel_size=2 (even), True, sigma=-1 and
        # sigma=0 (NaN values) were accepted silently. ColorLoss's rule now.
        (lambda: blur_color_loss(_X, _Y, kernel_size=2.5),
         r"kernel_size must be an integer >= 1\. Received: kernel_size=2.5"),
        (lambda: blur_color_loss(_X, _Y, kernel_size=0), r"kernel_size must be an integer >= 1"),
        (lambda: blur_color_loss(_X, _Y, kernel_size=True), r"kernel_size must be an integer"),
        (lambda: blur_color_loss(_X, _Y, kernel_size=2),
         r"kernel_size must be odd .*e.g. 3\. Received: kernel_size=2"),
        (lambda: blur_color_loss(_X, _Y, sigma=-1), r"sigma must be a finite number > 0\. "
         r"Received: sigma=-1"),
        (lambda: blur_color_loss(_X, _Y, sigma=0), r"sigma must be a finite number > 0"),
        (lambda: blur_color_loss(_X, _Y, sigma=float("nan")), r"sigma must be a finite number"),
        # Was: threshold=-1 weighted every pixel, NaN and True none (EdgeLoss's rule now).
        (lambda: edge_weights(_X, threshold=-1),
         r"threshold must be a finite number >= 0.*Received: threshold=-1"),
        (lambda: edge_weights(_X, threshold=float("nan")), r"Received: threshold=nan"),
        (lambda: edge_weights(_X, threshold=True), r"threshold must be a number >= 0.*not a bool"),
        (lambda: edge_loss(_X, _Y, threshold=-1), r"threshold must be a finite number >= 0"),
        (lambda: edge_loss(_X, _Y, threshold=float("nan")), r"Received: threshold=nan"),
    ],
)
def test_pure_functions_refuse_what_the_losses_refuse(call, pattern):
    """Was: the pure functions left their inputs unchecked, unlike CharbonnierLoss, EdgeLoss
    and ColorLoss (the comments give each case's old result)."""
    with pytest.raises(InputError, match=pattern):
        call()


def test_pure_functions_keep_their_values_and_check_pairs_known_at_run_time(small):
    """The checks moved from the losses into the functions: the losses give the functions'
    values, and a batch of 1 against 2 whose sizes are unknown when traced is refused when
    the graph runs (was: a value for 2 pairs)."""
    t, p = small
    for loss, function in (
        (CharbonnierLoss(reduction=None), charbonnier_loss),
        (EdgeLoss(reduction=None), edge_loss),
        (ColorLoss(reduction=None), angular_color_loss),
        (ColorLoss("blur", kernel_size=5, sigma=1.0, reduction=None),
         lambda a, b: blur_color_loss(a, b, 5, 1.0)),
    ):
        np.testing.assert_allclose(to_numpy(loss(t, p)), to_numpy(function(t, p)), rtol=1e-6)
    if keras.backend.backend() != "tensorflow":
        return  # JAX traces with concrete shapes: the static check above decides
    import tensorflow as tf

    spec = tf.TensorSpec((None, 12, 10, 3), tf.float32)
    traced = tf.function(charbonnier_loss, input_signature=[spec, spec])
    with pytest.raises(tf.errors.InvalidArgumentError, match="same shape"):
        traced(t[:1], p)
    np.testing.assert_allclose(to_numpy(traced(t, p)), to_numpy(charbonnier_loss(t, p)))


@pytest.mark.parametrize("cls,kwargs", CLASSES)
@pytest.mark.parametrize("shape", [(2, 1), (2, 1, 1), (2, 1, 1, 1)])
def test_one_weight_per_image_of_any_rank_weights_its_image(cls, kwargs, shape, small):
    # A (batch, 1, 1[, 1]) weight (shaped to broadcast against the images) was multiplied
    # with the (batch,) values crosswise by Keras: (batch, 1, batch), every value weighted
    # by every image's weight (a silently wrong loss; reduction=None gave (2, 1, 2)).
    t, p = small
    per_image = to_numpy(cls(**kwargs, reduction=None)(t, p))
    sw = np.array([0.25, 2.0], "float32")
    np.testing.assert_allclose(to_numpy(cls(**kwargs, reduction="sum")(
        t, p, sample_weight=sw.reshape(shape))), (per_image * sw).sum(), rtol=1e-5)
    values = to_numpy(cls(**kwargs, reduction=None)(t, p, sample_weight=sw.reshape(shape)))
    assert values.shape == (2,)
    np.testing.assert_allclose(values, per_image * sw, rtol=1e-5)
