import keras
import numpy as np
import pytest
from conftest import gradient, to_numpy

from keras_perceptual.losses.adversarial import (
    DiscriminatorLoss,
    GeneratorLoss,
    WassersteinLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    gradient_penalty,
    wasserstein_loss,
)


def softplus(x):
    return np.logaddexp(0.0, x)


NP_DISCRIMINATOR = {
    "vanilla": lambda r, f: softplus(-r) + softplus(f),
    "lsgan": lambda r, f: (r - 1) ** 2 + f**2,
    "hinge": lambda r, f: np.maximum(0, 1 - r) + np.maximum(0, 1 + f),
}
NP_GENERATOR = {
    "vanilla": lambda f: softplus(-f),
    "lsgan": lambda f: (f - 1) ** 2,
    "hinge": lambda f: -f,
}


@pytest.fixture
def logits(rng):
    """PatchGAN-shaped logits on real and on generated images."""
    real = rng.normal(size=(3, 4, 4, 1)).astype("float32") * 3
    fake = rng.normal(size=(3, 4, 4, 1)).astype("float32") * 3
    return real, fake


# --- Formulas against numpy. ---


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_discriminator_loss_matches_numpy(kind, logits):
    real, fake = logits
    r, f = real.astype("float64"), fake.astype("float64")
    expected = NP_DISCRIMINATOR[kind](r, f).mean((1, 2, 3))
    np.testing.assert_allclose(to_numpy(DiscriminatorLoss(kind, reduction=None)(real, fake)),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(DiscriminatorLoss(kind)(real, fake)), expected.mean(),
                               rtol=1e-5)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_generator_loss_matches_numpy(kind, logits):
    _, fake = logits
    expected = NP_GENERATOR[kind](fake.astype("float64")).mean((1, 2, 3))
    np.testing.assert_allclose(to_numpy(GeneratorLoss(kind, reduction=None)(None, fake)),
                               expected, rtol=1e-5)
    # y_true is unused: passing the real logits changes nothing.
    np.testing.assert_allclose(to_numpy(GeneratorLoss(kind, reduction=None)(fake * 0, fake)),
                               expected, rtol=1e-5)


def test_vanilla_is_binary_cross_entropy_from_logits(logits):
    real, fake = logits
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    flat_r, flat_f = real.reshape(-1, 1), fake.reshape(-1, 1)
    expected_d = float(bce(np.ones_like(flat_r), flat_r)) + float(bce(np.zeros_like(flat_f), flat_f))
    np.testing.assert_allclose(float(DiscriminatorLoss()(real, fake)), expected_d, rtol=1e-5)
    # Non-saturating generator loss = BCE of the fakes against the "real" label.
    np.testing.assert_allclose(float(GeneratorLoss()(None, fake)),
                               float(bce(np.ones_like(flat_f), flat_f)), rtol=1e-5)


def test_vanilla_is_stable_for_large_logits():
    big = np.array([[80.0], [-80.0]], "float32")
    assert np.all(np.isfinite(to_numpy(DiscriminatorLoss(reduction=None)(big, -big))))
    np.testing.assert_allclose(to_numpy(GeneratorLoss(reduction=None)(None, big)), [0.0, 80.0],
                               atol=1e-6)
    g = gradient(lambda x: GeneratorLoss()(None, x), big)
    assert np.all(np.isfinite(g))


def test_wasserstein_matches_numpy(logits):
    real, fake = logits
    per_r, per_f = real.mean((1, 2, 3)), fake.mean((1, 2, 3))
    np.testing.assert_allclose(to_numpy(WassersteinLoss(reduction=None)(real, fake)),
                               per_f - per_r, rtol=1e-5, atol=1e-6)
    gen = WassersteinLoss("generator", reduction=None)
    np.testing.assert_allclose(to_numpy(gen(None, fake)), -per_f, rtol=1e-5)
    # Rank-1 scores are the per-sample values themselves.
    np.testing.assert_allclose(float(WassersteinLoss()(per_r, per_f)), (per_f - per_r).mean(),
                               rtol=1e-5, atol=1e-6)


def test_pure_functions_are_the_losses(logits):
    real, fake = logits
    np.testing.assert_allclose(to_numpy(discriminator_adversarial_loss(real, fake, "hinge")),
                               to_numpy(DiscriminatorLoss("hinge", reduction=None)(real, fake)))
    np.testing.assert_allclose(to_numpy(generator_adversarial_loss(fake, "lsgan")),
                               to_numpy(GeneratorLoss("lsgan", reduction=None)(None, fake)))


# --- Gradient penalty. ---


def linear_critic(shape=(4, 4, 3), seed=0, scale=0.05):
    """D(x) = <w, x> + b: its input gradient is w for every x, so the penalty is known."""
    critic = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
    w = np.random.default_rng(seed).normal(size=(int(np.prod(shape)), 1)).astype("float32")
    critic.layers[-1].kernel.assign(w * scale)
    return critic, w * scale


@pytest.mark.parametrize("weight", [10.0, 2.5])
def test_gradient_penalty_on_a_linear_critic(rng, weight):
    critic, w = linear_critic()
    real = rng.random((3, 4, 4, 3), dtype=np.float32)
    fake = rng.random((3, 4, 4, 3), dtype=np.float32)
    norm = np.linalg.norm(w.astype("float64"))
    assert abs(norm - 1) > 0.1  # a non-trivial penalty
    expected = weight * (norm - 1) ** 2
    per_sample = to_numpy(gradient_penalty(critic, real, fake, weight=weight, seed=1,
                                           reduction=None))
    np.testing.assert_allclose(per_sample, np.full(3, expected), rtol=1e-5)
    np.testing.assert_allclose(float(gradient_penalty(critic, real, fake, weight, seed=2)),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(gradient_penalty(critic, real, fake, weight, seed=2, reduction="sum")),
        3 * expected, rtol=1e-5)


def test_gradient_penalty_on_a_quadratic_critic_uses_the_interpolates(rng):
    # D(x) = 0.5 ||x||^2 per sample: gradient x_hat; with real == fake, x_hat == real.
    real = rng.random((2, 3, 3, 3), dtype=np.float32)

    def critic(x):
        return 0.5 * keras.ops.sum(keras.ops.square(x), axis=(1, 2, 3))

    norms = np.linalg.norm(real.reshape(2, -1).astype("float64"), axis=1)
    np.testing.assert_allclose(
        to_numpy(gradient_penalty(critic, real, real, weight=1.0, seed=0, reduction=None)),
        (norms - 1) ** 2, rtol=1e-5)
    # real = 2 * fake: x_hat = (1 + eps) fake, so the gradient norm is in [|fake|, 2 |fake|].
    fake = real / norms[:, None, None, None] * 0.5
    values = to_numpy(gradient_penalty(critic, 2 * fake, fake, weight=1.0, seed=3,
                                       reduction=None))
    assert np.all(values >= 0) and np.all(values <= 0.25 + 1e-6)


@pytest.mark.parametrize("reduce", [
    lambda x: keras.ops.mean(x),  # a scalar
    lambda x: keras.ops.mean(keras.ops.reshape(x, (-1, 27)), axis=0),  # averaged over the batch
])
def test_gradient_penalty_refuses_a_critic_that_reduces_over_the_batch(rng, reduce):
    """Was: the penalty of each sample's gradient divided by the batch size, silently."""
    from keras_perceptual.errors import InputError

    real = rng.random((2, 3, 3, 3), dtype=np.float32)
    with pytest.raises(InputError, match=r"critic must return one score .* per sample.*"
                                         r"Received: critic output shape=\(\d*,?\) for an "
                                         r"input batch of 2"):
        gradient_penalty(reduce, real, real * 0.5, seed=0)


def test_gradient_penalty_is_differentiable_wrt_the_critic(rng):
    # d/dw [lambda (||w|| - 1)^2] = 2 lambda (||w|| - 1) w / ||w||.
    critic, w = linear_critic(shape=(2, 2, 3), seed=4)
    real = rng.random((2, 2, 2, 3), dtype=np.float32)
    fake = rng.random((2, 2, 2, 3), dtype=np.float32)
    kernel = critic.layers[-1].kernel

    def penalty_of(k):
        with keras.StatelessScope(state_mapping=[(kernel, k)]):
            return gradient_penalty(critic, real, fake, weight=10.0, seed=0)

    g = gradient(penalty_of, w)
    norm = np.linalg.norm(w)
    np.testing.assert_allclose(g, 2 * 10.0 * (norm - 1) * w / norm, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_inside_a_training_step(rng):
    """The WGAN-GP critic loss trains a critic through model.fit on either backend."""

    class Critic(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                         keras.layers.Dense(1)])
            self.seed = keras.random.SeedGenerator(0)

        def call(self, x):
            return self.net(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            fake = keras.ops.zeros_like(x)
            loss = WassersteinLoss()(self.net(x), self.net(fake))
            return loss + gradient_penalty(self.net, x, fake, seed=self.seed)

    critic = Critic()
    critic.compile(keras.optimizers.Adam(1e-2))
    before = to_numpy(critic.net.layers[-1].kernel).copy()
    history = critic.fit(rng.random((8, 4, 4, 3), dtype=np.float32), epochs=2, batch_size=4,
                         verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(to_numpy(critic.net.layers[-1].kernel), before)


def test_gradient_penalty_zero_gradient_is_finite(rng):
    real = rng.random((2, 3, 3, 3), dtype=np.float32)

    def constant_critic(x):
        return keras.ops.zeros((keras.ops.shape(x)[0], 1)) + 0.0 * keras.ops.sum(x)

    value = to_numpy(gradient_penalty(constant_critic, real, real * 0, weight=3.0, seed=0))
    np.testing.assert_allclose(value, 3.0)


def test_gradient_penalty_bad_input(rng):
    critic, _ = linear_critic()
    real = rng.random((3, 4, 4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="same shape.*Received: real.shape"):
        gradient_penalty(critic, real, real[:2])
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        gradient_penalty(critic, real, real, weight=-1)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or None"):
        gradient_penalty(critic, real, real, reduction="sum_over_batch_size")


# --- Keras semantics. ---

CASES = [
    (GeneratorLoss, {"kind": "lsgan"}, False),
    (DiscriminatorLoss, {"kind": "hinge"}, True),
    (DiscriminatorLoss, {"kind": "vanilla"}, True),
    (WassersteinLoss, {"role": "critic"}, True),
    (WassersteinLoss, {"role": "generator"}, False),
]


def call(loss, needs_real, real, fake, **kwargs):
    return loss(real if needs_real else None, fake, **kwargs)


@pytest.mark.parametrize("cls,kwargs,needs_real", CASES)
def test_reductions_and_sample_weight(cls, kwargs, needs_real, logits):
    real, fake = logits
    per_sample = to_numpy(call(cls(**kwargs, reduction=None), needs_real, real, fake))
    assert per_sample.shape == (3,)
    np.testing.assert_allclose(to_numpy(call(cls(**kwargs, reduction="sum"), needs_real, real,
                                             fake)), per_sample.sum(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(call(cls(**kwargs), needs_real, real, fake)),
                               per_sample.mean(), rtol=1e-5, atol=1e-6)
    sw = np.array([0.5, 2.0, 0.0], "float32")
    np.testing.assert_allclose(to_numpy(call(cls(**kwargs), needs_real, real, fake,
                                             sample_weight=sw)),
                               (per_sample * sw).mean(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,needs_real", CASES)
def test_config_round_trip(cls, kwargs, needs_real, logits):
    real, fake = logits
    loss = cls(**kwargs, reduction="sum", name="custom")
    config = loss.get_config()
    assert cls.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"].startswith("keras_perceptual>")
    revived = keras.saving.deserialize_keras_object(serialized)
    np.testing.assert_allclose(to_numpy(call(revived, needs_real, real, fake)),
                               to_numpy(call(loss, needs_real, real, fake)), rtol=1e-6)


@pytest.mark.parametrize("cls,kwargs,needs_real", CASES)
def test_float32_under_mixed_precision(cls, kwargs, needs_real, logits):
    real, fake = logits
    reference = to_numpy(call(cls(**kwargs), needs_real, real, fake))
    keras.config.set_dtype_policy("mixed_float16")
    value = call(cls(**kwargs), needs_real, real.astype("float16"), fake.astype("float16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), reference, rtol=2e-3, atol=2e-3)
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("cls,kwargs,needs_real", CASES)
def test_gradients_finite(cls, kwargs, needs_real, logits):
    real, fake = logits
    loss = cls(**kwargs)
    for f in (fake, np.zeros_like(fake)):
        g = gradient(lambda x: call(loss, needs_real, real, x), f)
        assert g is not None and np.all(np.isfinite(g))


# --- Bad input. ---


def test_bad_arguments_and_inputs(logits):
    real, fake = logits
    with pytest.raises(ValueError, match="kind must be one of 'vanilla', 'lsgan', 'hinge'"):
        GeneratorLoss("wgan")
    with pytest.raises(ValueError, match="kind must be one of"):
        DiscriminatorLoss("relativistic")
    with pytest.raises(ValueError, match="role must be one of 'critic', 'generator'"):
        WassersteinLoss("discriminator")
    with pytest.raises(ValueError, match="needs the discriminator's outputs on real images"):
        DiscriminatorLoss()(None, fake)
    with pytest.raises(ValueError, match="needs the discriminator's outputs on real images"):
        WassersteinLoss()(None, fake)
    with pytest.raises(ValueError, match="same shape.*equal batches"):
        DiscriminatorLoss()(real[:2], fake)
    with pytest.raises(ValueError, match="batch axis"):
        GeneratorLoss()(None, np.float32(1.0))


def test_gradient_penalty_other_backends(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(NotImplementedError, match="TensorFlow and JAX.*Received: backend='torch'"):
        gradient_penalty(lambda x: x, np.ones((1, 2)), np.ones((1, 2)))


def test_gradient_penalty_averages_patch_scores(rng):
    # A "PatchGAN" critic whose 4 patch scores are each <w, x>: their mean has gradient w.
    critic, w = linear_critic(shape=(2, 2, 3), seed=6)

    def patch_critic(x):
        score = critic(x)  # (batch, 1)
        return keras.ops.reshape(keras.ops.repeat(score, 4, axis=1), (-1, 2, 2, 1))

    real = rng.random((2, 2, 2, 3), dtype=np.float32)
    norm = np.linalg.norm(w)
    np.testing.assert_allclose(
        to_numpy(gradient_penalty(patch_critic, real, real * 0.5, seed=0, reduction=None)),
        10.0 * (norm - 1) ** 2 * np.ones(2), rtol=1e-5)


# --- The pure functions check their inputs as the losses do. ---

_REAL = np.zeros((2, 1), "float32")
_IMAGES = np.random.default_rng(5).random((2, 4, 4, 3), dtype=np.float32)
_SAME = r"must have the same shape, one real and one generated image per sample.*equal batches"


def _sum_critic(x):
    return keras.ops.sum(x, axis=(1, 2, 3))


@pytest.mark.parametrize(
    "call,pattern",
    [
        # Was: TensorFlow's "Incompatible shapes: [2] vs. [3]" (discriminator), numpy's
        # "could not be broadcast" (wasserstein), or a silent value for (2, 1) against (2,)
        # and (2, 1) against (2, 4), whose patch means were subtracted.
        (lambda: discriminator_adversarial_loss(np.zeros(2), np.zeros(3)),
         _SAME + r".*Received: real_logits.shape=\(2,\), fake_logits.shape=\(3,\)"),
        (lambda: discriminator_adversarial_loss(_REAL, np.zeros(2, "float32")), _SAME),
        (lambda: wasserstein_loss(np.zeros(2), np.zeros(3)),
         _SAME + r".*Received: real_scores.shape=\(2,\)"),
        (lambda: wasserstein_loss(_REAL, np.zeros((2, 4), "float32")), _SAME),
        # Was: a silent value for a scalar (no batch axis), or AttributeError ('float' object
        # has no attribute 'shape') in wasserstein_loss.
        (lambda: generator_adversarial_loss(0.0),
         r"fake_logits must have a batch axis.*\[score\]\. Received: fake_logits.shape=\(\)"),
        (lambda: discriminator_adversarial_loss(0.0, 0.0), r"real_logits must have a batch axis"),
        (lambda: wasserstein_loss(1.0, 2.0), r"real_scores must have a batch axis"),
        (lambda: wasserstein_loss(None, 2.0, "generator"), r"fake_scores must have a batch axis"),
        # Was: AttributeError ('NoneType' object has no attribute 'shape').
        (lambda: wasserstein_loss(None, np.zeros(2)),
         r"role='critic' needs real_scores.*Received: real_scores=None"),
        # Was: seed=-1 accepted; 2.5, "a" and True gave Keras' own ValueErrors.
        (lambda: gradient_penalty(_sum_critic, _IMAGES, _IMAGES, seed=-1),
         r"seed must be None, an integer in \[0, 2\*\*31\).*SeedGenerator.*Received: seed=-1"),
        (lambda: gradient_penalty(_sum_critic, _IMAGES, _IMAGES, seed=2.5), r"Received: seed=2.5"),
        (lambda: gradient_penalty(_sum_critic, _IMAGES, _IMAGES, seed=True),
         r"Received: seed=True"),
        # Was: training="no" reached the critic as a truthy string.
        (lambda: gradient_penalty(_sum_critic, _IMAGES, _IMAGES, seed=0, training="no"),
         r"training must be True or False.*Received: training='no'"),
        # Was: TypeError ('NoneType' object is not callable).
        (lambda: gradient_penalty(None, _IMAGES, _IMAGES), r"critic must be a Keras layer or "
         r"model, or a callable.*Received: critic=None"),
        # Was: uint8 real images interpolated with [0, 1] fakes, silently.
        (lambda: gradient_penalty(_sum_critic, (_IMAGES * 255).astype("uint8"), _IMAGES, seed=0),
         r"real has dtype uint8; expected floating-point.*Received: real.dtype=uint8"),
        (lambda: gradient_penalty(_sum_critic, _IMAGES, _IMAGES > 0.5, seed=0),
         r"fake has dtype bool"),
    ],
)
def test_pure_functions_refuse_what_the_losses_refuse(call, pattern):
    """Was: the pure functions left their inputs unchecked, unlike DiscriminatorLoss,
    GeneratorLoss and WassersteinLoss (the comments give each case's old result)."""
    from keras_perceptual.errors import InputError

    with pytest.raises(InputError, match=pattern):
        call()


def test_pure_functions_take_what_the_losses_take(logits):
    """Integer and boolean logits are cast to float32, as the losses' entry does (was: a
    backend error, "Value for attr 'T' of int64" in Softplus; "bad operand type for unary -"
    for a list), and float logits of two dtypes are compared (was: "cannot compute AddV2")."""
    real, fake = logits
    ints = np.array([[1], [-2]])
    np.testing.assert_allclose(to_numpy(generator_adversarial_loss(ints)),
                               to_numpy(GeneratorLoss(reduction=None)(None, ints)))
    np.testing.assert_allclose(to_numpy(generator_adversarial_loss(ints.tolist())),
                               to_numpy(generator_adversarial_loss(ints.astype("float32"))))
    np.testing.assert_allclose(
        to_numpy(discriminator_adversarial_loss(np.array([True, False]), np.array([False, True]))),
        to_numpy(DiscriminatorLoss(reduction=None)(np.array([True, False]),
                                                   np.array([False, True]))))
    np.testing.assert_allclose(to_numpy(discriminator_adversarial_loss(real.astype("float16"),
                                                                       fake)),
                               to_numpy(discriminator_adversarial_loss(real, fake)), rtol=1e-2)
    np.testing.assert_allclose(to_numpy(wasserstein_loss(real, fake)),
                               to_numpy(WassersteinLoss(reduction=None)(real, fake)))
    # The losses keep their own names in their messages.
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(2, 4, 4, 1\)"):
        WassersteinLoss()(real[:2], fake)


@pytest.mark.parametrize("cls", [GeneratorLoss, DiscriminatorLoss, WassersteinLoss])
def test_sample_weight_is_one_per_sample_whatever_the_score_shape(cls):
    # Patch scores (3, 4, 4, 1) give one value per sample: a (3, 1, 1) or (3, 1, 1, 1)
    # weight was multiplied with the (3,) values crosswise by Keras (a silently wrong loss);
    # a (3, 4) weight was TensorFlow's "Incompatible shapes".
    from keras_perceptual.errors import InputError

    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((2, 3, 4, 4, 1)).astype("float32")
    values = to_numpy(cls(reduction=None)(real, fake))
    assert values.shape == (3,)
    sw = np.float32([1.0, 0.0, 0.5])
    for shape in [(3,), (3, 1), (3, 1, 1), (3, 1, 1, 1)]:
        np.testing.assert_allclose(
            to_numpy(cls(reduction="sum")(real, fake, sample_weight=sw.reshape(shape))),
            (values * sw).sum(), rtol=1e-5)
    with pytest.raises(InputError, match=r"hold one weight per sample.*sample_weight.shape=\(3, 4\)"):
        cls()(real, fake, sample_weight=np.ones((3, 4), "float32"))
