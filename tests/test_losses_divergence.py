import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy

from keras_perceptual.losses.divergence import (
    Entropy,
    JensenShannonDivergence,
    entropy,
    jensen_shannon_divergence,
)


def np_xlogy_ratio(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(p > 0, q, 1)), 0.0)


def np_js(p, q):
    m = (p + q) / 2
    return 0.5 * (np_xlogy_ratio(p, m) + np_xlogy_ratio(q, m)).sum(-1)


def np_entropy(p):
    return -np_xlogy_ratio(p, np.ones_like(p)).sum(-1)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def probs(rng):
    p = np_softmax(rng.normal(size=(4, 5)) * 2)
    q = np_softmax(rng.normal(size=(4, 5)) * 2)
    p[0, :2] = [0.0, 0.0]  # zeros where q is positive
    p[0] /= p[0].sum()
    q[1] = 0.0
    q[1, 3] = 1.0  # one-hot
    return p.astype("float32"), q.astype("float32")


# --- Formulas against numpy and scipy. ---


def test_js_matches_numpy_and_scipy(probs):
    p, q = probs
    scipy = pytest.importorskip("scipy.spatial.distance")
    expected = np.array([scipy.jensenshannon(a, b) ** 2 for a, b in zip(p, q, strict=True)])
    np.testing.assert_allclose(np_js(p.astype("float64"), q.astype("float64")), expected,
                               rtol=1e-6, atol=1e-9)
    ours = to_numpy(JensenShannonDivergence(reduction=None)(p, q))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    assert np.all(ours >= -1e-7) and np.all(ours <= np.log(2) + 1e-6)


def test_js_known_answers_and_symmetry(probs):
    p, q = probs
    loss = JensenShannonDivergence(reduction=None)
    np.testing.assert_allclose(to_numpy(loss(p, q)), to_numpy(loss(q, p)), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(loss(p, p)), 0.0, atol=1e-7)
    disjoint = to_numpy(loss(np.array([[1.0, 0.0]], "float32"), np.array([[0.0, 1.0]], "float32")))
    np.testing.assert_allclose(disjoint, [np.log(2)], rtol=1e-6)


def test_js_is_the_mean_of_keras_kl_to_the_midpoint(rng):
    p = np_softmax(rng.normal(size=(3, 6))).astype("float32")
    q = np_softmax(rng.normal(size=(3, 6))).astype("float32")
    m = (p + q) / 2
    kl = keras.losses.KLDivergence(reduction=None)
    expected = 0.5 * to_numpy(kl(p, m)) + 0.5 * to_numpy(kl(q, m))
    np.testing.assert_allclose(to_numpy(jensen_shannon_divergence(p, q)), expected, rtol=1e-4)


def test_js_from_logits(rng):
    a = rng.normal(size=(3, 2, 7)).astype("float32") * 5
    b = rng.normal(size=(3, 2, 7)).astype("float32") * 5
    expected = np_js(np_softmax(a.astype("float64")), np_softmax(b.astype("float64")))
    ours = to_numpy(JensenShannonDivergence(from_logits=True, reduction=None)(a, b))
    assert ours.shape == (3, 2)  # one value per vector, as keras.losses.KLDivergence
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-7)


def test_entropy_matches_numpy(probs, rng):
    p, _ = probs
    np.testing.assert_allclose(to_numpy(Entropy(reduction=None)(None, p)),
                               np_entropy(p.astype("float64")), rtol=1e-5)
    np.testing.assert_allclose(float(Entropy()(None, np.full((2, 4), 0.25, "float32"))),
                               np.log(4), rtol=1e-6)
    np.testing.assert_allclose(float(Entropy()(None, np.eye(3, dtype="float32"))), 0.0, atol=0)
    logits = rng.normal(size=(4, 6)).astype("float32") * 4
    np.testing.assert_allclose(to_numpy(Entropy(from_logits=True, reduction=None)(None, logits)),
                               np_entropy(np_softmax(logits.astype("float64"))), rtol=1e-4)
    # y_true is unused.
    np.testing.assert_allclose(to_numpy(entropy(p)), to_numpy(Entropy(reduction=None)(p * 0, p)))


# --- Gradients and values at zeros. ---


@pytest.mark.parametrize("case", ["one_hot", "zeros_in_pred", "zero_vectors", "identical"])
def test_values_and_gradients_finite_at_zeros(case, probs):
    p, q = probs
    one_hot = np.eye(5, dtype="float32")[:4]
    y_true, y_pred = {
        "one_hot": (one_hot, one_hot[::-1].copy()),
        "zeros_in_pred": (p, one_hot),
        "zero_vectors": (np.zeros_like(p), np.zeros_like(p)),
        "identical": (one_hot, one_hot),
    }[case]
    for loss, fn in ((JensenShannonDivergence(), lambda x, loss: loss(y_true, x)),
                     (Entropy(), lambda x, loss: loss(None, x))):
        value = to_numpy(fn(y_pred, loss))
        assert np.isfinite(value)
        g = gradient(lambda x, loss=loss, fn=fn: fn(x, loss), y_pred)
        assert g is not None and np.all(np.isfinite(g))
    if case in ("zero_vectors", "identical"):
        assert float(JensenShannonDivergence()(y_true, y_pred)) == pytest.approx(0.0, abs=1e-7)


def test_gradient_matches_finite_differences(rng):
    p = np_softmax(rng.normal(size=(1, 4))).astype("float64")
    q = np_softmax(rng.normal(size=(1, 4))).astype("float32")
    loss = JensenShannonDivergence()
    g = gradient(lambda x: loss(p.astype("float32"), x), q)
    eps = 1e-4
    for k in range(4):
        up, down = q.astype("float64").copy(), q.astype("float64").copy()
        up[0, k] += eps
        down[0, k] -= eps
        numeric = (np_js(p, up) - np_js(p, down))[0] / (2 * eps)
        assert g[0, k] == pytest.approx(numeric, rel=1e-2, abs=1e-4)


# --- Keras semantics. ---

CASES = [
    (JensenShannonDivergence, {}),
    (JensenShannonDivergence, {"from_logits": True}),
    (Entropy, {}),
    (Entropy, {"from_logits": True}),
]


@pytest.mark.parametrize("cls,kwargs", CASES)
def test_reductions_and_sample_weight(cls, kwargs, probs):
    p, q = probs
    per_sample = to_numpy(cls(**kwargs, reduction=None)(p, q))
    assert per_sample.shape == (4,)
    np.testing.assert_allclose(to_numpy(cls(**kwargs, reduction="sum")(p, q)), per_sample.sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(to_numpy(cls(**kwargs)(p, q)), per_sample.mean(), rtol=1e-5)
    sw = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    np.testing.assert_allclose(to_numpy(cls(**kwargs)(p, q, sample_weight=sw)),
                               (per_sample * sw).mean(), rtol=1e-5)


@pytest.mark.parametrize("cls,kwargs", CASES)
def test_config_round_trip(cls, kwargs, probs):
    p, q = probs
    loss = cls(**kwargs, reduction="sum", name="custom")
    config = loss.get_config()
    assert cls.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"].startswith("keras_perceptual>")
    revived = keras.saving.deserialize_keras_object(serialized)
    np.testing.assert_allclose(to_numpy(revived(p, q)), to_numpy(loss(p, q)), rtol=1e-6)


@pytest.mark.parametrize("cls,kwargs", CASES)
def test_float32_under_mixed_precision(cls, kwargs, probs):
    p, q = probs
    reference = to_numpy(cls(**kwargs)(p, q))
    keras.config.set_dtype_policy("mixed_float16")
    value = cls(**kwargs)(p.astype("float16"), q.astype("float16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), reference, rtol=2e-3, atol=1e-4)
    keras.config.set_dtype_policy("float32")


def test_trains_a_classifier_with_entropy_regularizer(rng):
    x = rng.normal(size=(16, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax")(inputs)
    model = keras.Model(inputs, [outputs, outputs])
    model.compile("adam", loss=[JensenShannonDivergence(), Entropy()], loss_weights=[1.0, 0.1])
    history = model.fit(x, [y, y], epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


# --- Bad input. ---


def test_bad_input(probs):
    p, q = probs
    with pytest.raises(ValueError, match="same shape.*one_hot.*Received: y_true.shape=\\(4, 5\\)"):
        JensenShannonDivergence()(p, q[:, :3])
    with pytest.raises(ValueError, match="from_logits must be True or False"):
        JensenShannonDivergence(from_logits="yes")
    with pytest.raises(ValueError, match="from_logits must be True or False"):
        Entropy(from_logits=1)
    # numpy's booleans are booleans (check_flag's rule, as for every other flag)
    assert Entropy(from_logits=np.bool_(True)).from_logits is True
    assert JensenShannonDivergence(from_logits=np.False_).get_config()["from_logits"] is False
    with pytest.raises(ValueError, match="last axis"):
        Entropy()(None, np.float32(0.5))


# --- The functions check their inputs as the losses do. ---

_P = np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]], "float32")
_Q = np.array([[0.3, 0.3, 0.4], [0.1, 0.1, 0.8]], "float32")
_NEGATIVE = np.array([[-0.5, 1.5, 0.0]], "float32")
_JS = jensen_shannon_divergence


@pytest.mark.parametrize(
    "call,pattern",
    [
        # Was: numpy's "operands could not be broadcast together" (ValueError), a silent
        # broadcast of a batch of 1 against 2, a backend "Invalid reduction dimension".
        (lambda: _JS(np.ones((2, 3), "float32") / 3, np.ones((2, 4), "float32") / 4),
         r"same shape.*Received: y_true.shape=\(2, 3\), y_pred.shape=\(2, 4\)"),
        (lambda: _JS(_P[:1], _Q), r"same shape.*Received: y_true.shape=\(1, 3\)"),
        (lambda: _JS(np.float32(0.5), np.float32(0.5)), r"same shape.*y_true.shape=\(\)"),
        (lambda: entropy(np.float32(0.5)),
         r"probabilities must hold probability vectors on its last axis.*shape=\(\)"),
        # Was: from_logits="yes" and 1 switched logits on (truthy), "no" too.
        (lambda: _JS(_P, _Q, from_logits="yes"),
         r"from_logits must be True or False.*Received: from_logits='yes'"),
        (lambda: _JS(_P, _Q, from_logits=1), r"Received: from_logits=1"),
        (lambda: entropy(_P, from_logits="no"), r"Received: from_logits='no'"),
        # Was: inf (js) and -0.61 (entropy) for a negative "probability".
        (lambda: _JS(_NEGATIVE, _P[:1]),
         r"y_true must not hold negative entries with from_logits=False.*softmax.*"
         r"Received: y_true.min\(\)=-0.5"),
        (lambda: _JS(_P[:1], _NEGATIVE), r"Received: y_pred.min\(\)=-0.5"),
        (lambda: entropy(_NEGATIVE), r"probabilities must not hold negative entries"),
        # Was: uint8 "probabilities" in [0, 255] read as they stand (entropy), backend dtype
        # errors (js). Integer and boolean one-hot vectors are cast, as Keras casts labels.
        (lambda: entropy(np.array([[255, 0]], "uint8")),
         r"probabilities has dtype uint8 with values other than 0 and 1; integer "
         r"probabilities must be one-hot.*/ 255\.0.*probabilities.max\(\)=255\.0"),
        (lambda: _JS(_P, (_Q * 255).astype("uint8")), r"y_pred has dtype uint8 with values"),
        # Were: "Cast string to float is not supported" and, for None, "has dtype object
        # with values other than 0 and 1".
        (lambda: _JS(_P, _Q.astype(str)), r"y_pred must hold numbers.*dtype str"),
        (lambda: entropy(None), r"probabilities must hold numbers.*dtype object \(NoneType\)"),
    ],
)
def test_functions_refuse_what_the_losses_refuse(call, pattern):
    """Was: jensen_shannon_divergence and entropy left their inputs unchecked (the comments
    give each case's old result)."""
    from keras_perceptual.errors import InputError

    with pytest.raises(InputError, match=pattern):
        call()


def test_losses_refuse_integer_and_negative_probabilities_too(probs):
    """The one rule of the functions and the losses. Was: uint8 "probabilities" in [0, 255]
    were read as they stand, and a negative probability gave inf (JensenShannonDivergence)
    or -0.61 (Entropy); integer and boolean one-hot labels are cast, as Keras casts labels;
    logits may be negative."""
    from keras_perceptual.errors import InputError

    p, q = probs
    one_hot = np.eye(5, dtype=int)[:4]
    np.testing.assert_allclose(to_numpy(JensenShannonDivergence()(one_hot, q)),
                               to_numpy(JensenShannonDivergence()(one_hot.astype("float32"), q)),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(to_numpy(entropy(one_hot.astype(bool))), 0.0, atol=1e-7)
    with pytest.raises(InputError, match=r"y_pred has dtype uint8 with values other than 0"):
        Entropy()(None, (p * 255).astype("uint8"))
    with pytest.raises(InputError, match=r"y_pred must not hold negative entries"):
        JensenShannonDivergence()(p, q - 0.5)
    with pytest.raises(InputError, match=r"y_pred must not hold negative entries"):
        Entropy()(None, q - 0.5)
    # Entropy ignores y_true: integer labels there are no error.
    Entropy()(np.zeros((4, 5), "int32"), q)
    np.testing.assert_allclose(to_numpy(JensenShannonDivergence(from_logits=True)(p - 1, q - 1)),
                               to_numpy(JensenShannonDivergence(from_logits=True)(p, q)),
                               rtol=1e-5)
    # A NaN stays a NaN value (not an error), and the functions give the losses' values.
    assert np.isnan(to_numpy(entropy(np.array([[np.nan, 0.5]], "float32")))).all()
    np.testing.assert_allclose(to_numpy(_JS(p, q)),
                               to_numpy(JensenShannonDivergence(reduction=None)(p, q)), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(_JS(p.astype("float64"), q)), to_numpy(_JS(p, q)),
                               rtol=1e-4)  # was: a backend error for float64 against float32


def test_negative_probabilities_are_not_read_inside_a_traced_function(probs):
    """Values are checked where they are known; inside a traced function (fit, jit) they are
    not, and the check neither breaks the trace nor reads a symbolic tensor: the formula's
    value comes out there, as before."""
    p, q = probs
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        traced = tf.function(jensen_shannon_divergence)
    else:
        import jax

        traced = jax.jit(jensen_shannon_divergence)
    np.testing.assert_allclose(to_numpy(traced(p, q)), to_numpy(jensen_shannon_divergence(p, q)),
                               rtol=1e-6)
    assert to_numpy(traced(p - 0.01, q)).shape == (4,)  # not read there, so not refused


@pytest.mark.parametrize("cls", [JensenShannonDivergence, Entropy])
@pytest.mark.parametrize("shape", [(3,), (3, 1), (3, 1, 1), (3, 1, 1, 1)])
def test_one_weight_per_sample_weights_every_position_of_its_sample(cls, shape):
    # Per-position values (3, 3, 3) of (3, 3, 3, 4) probabilities: a (3,) weight was
    # broadcast by Keras onto the last position axis, (3, 1) onto the middle one: silently
    # wrong sums. One weight per sample now weights every position of its sample.
    rng = np.random.default_rng(4)
    p = np_softmax(rng.standard_normal((3, 3, 3, 4))).astype("float32")
    q = p[::-1].copy()
    values = to_numpy(cls(reduction=None)(p, q))
    assert values.shape == (3, 3, 3)
    sw = np.float32([1.0, 0.0, 0.5])
    np.testing.assert_allclose(
        to_numpy(cls(reduction="sum")(p, q, sample_weight=sw.reshape(shape))),
        (values * sw[:, None, None]).sum(), rtol=1e-5)
