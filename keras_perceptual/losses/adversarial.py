"""Adversarial losses: GAN (non-saturating, least squares, hinge), Wasserstein, WGAN-GP.

Conventions (one for every class here, so each works as a Keras loss and
``reduction=None`` gives one value per sample):

* ``y_pred`` is always the discriminator's (critic's) raw output -- logits, not
  probabilities -- on **generated** images, of shape ``(batch,)``,
  ``(batch, 1)`` or per patch ``(batch, h, w, 1)`` (PatchGAN);
* for the discriminator/critic losses ``y_true`` is its output on the **real**
  images, of the same shape: ``DiscriminatorLoss()(real_logits, fake_logits)``;
* for the generator losses ``y_true`` is unused: pass ``None`` (or the real
  logits, which relativistic variants would need).

Each sample's value is the mean over its non-batch axes (over the patches of a
PatchGAN). With the default ``reduction="sum_over_batch_size"`` the losses are
the usual expectations over the batch:

==========  =====================================================  ==========================
kind        discriminator, per sample                              generator, per sample
==========  =====================================================  ==========================
vanilla     ``softplus(-d_real) + softplus(d_fake)``               ``softplus(-d_fake)``
lsgan       ``(d_real - 1)^2 + d_fake^2``                          ``(d_fake - 1)^2``
hinge       ``relu(1 - d_real) + relu(1 + d_fake)``                ``-d_fake``
wasserstein ``d_fake - d_real`` (:class:`WassersteinLoss`)         ``-d_fake``
==========  =====================================================  ==========================

* vanilla: Goodfellow et al. 2014, Eq. (1), with the non-saturating generator
  loss ``-log sigmoid(d_fake)`` of their Section 3, from logits
  (``softplus(-x) = -log sigmoid(x)``); SRGAN (Ledig et al. 2017) uses it.
* lsgan: Mao et al. 2017, Eq. (9) with targets 1/0, without its 1/2 factors
  (as pix2pix/BasicSR, so the scale matches the other kinds).
* hinge: Lim & Ye 2017; Miyato et al. 2018 (SN-GAN).
* Wasserstein: Arjovsky et al. 2017; :func:`gradient_penalty` is the WGAN-GP
  term of Gulrajani et al. 2017, Eq. (3).

For the discriminator trained as a plain classifier use
``keras.losses.BinaryCrossentropy(from_logits=True)`` with labels 1/0.
"""

from __future__ import annotations

import inspect

import keras
from keras import ops

from keras_perceptual._checks import (
    FLOAT_DTYPES,
    check_choice,
    check_flag,
    check_float_dtype,
    check_same_shape,
    check_seed,
    check_weight,
    dtype_name,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import BaseLoss
from keras_perceptual.ops import as_float_tensor, safe_sqrt

GAN_KINDS = ("vanilla", "lsgan", "hinge")
WASSERSTEIN_ROLES = ("critic", "generator")
PENALTY_REDUCTIONS = ("mean", "sum", None)


# --------------------------------------------------------------------------
# Pure functions: one value per sample.
# --------------------------------------------------------------------------


def _check_logits(x, name: str) -> tuple:
    shape = tuple(x.shape)
    if len(shape) < 1:
        raise InputError(
            f"{name} must have a batch axis, e.g. shape (batch,), (batch, 1) or "
            f"(batch, h, w, 1); wrap a single score as [score]. Received: {name}.shape={shape}"
        )
    return shape


#: How the losses name the outputs on real and on generated images (the functions name
#: them by their arguments).
_LOSS_NAMES = ("y_true", "y_pred")


def _check_score_pair(real, fake, names: tuple[str, str] = _LOSS_NAMES) -> tuple:
    """``(real, fake)``, each with a batch axis, once checked to have one shape (static,
    else when the graph runs)."""
    for x, name, kind in ((real, names[0], "real"), (fake, names[1], "fake")):
        _check_logits(x, f"{name} ({kind} logits)" if names == _LOSS_NAMES else name)
    return check_same_shape(
        real,
        fake,
        f"The discriminator outputs on real images ({names[0]}) and on generated images "
        f"({names[1]}) must have the same shape, one real and one generated image per sample; "
        "pass equal batches of both. ",
        names=names,
    )


def _as_scores(x, name: str):
    """Discriminator outputs as a float tensor: a float dtype as given, integers and booleans
    cast to float32 (what the losses' entry does)."""
    if dtype_name(x) in FLOAT_DTYPES:
        return ops.convert_to_tensor(x)
    return as_float_tensor(x, name, floats_only=False)


def _score_pair(real, fake, names: tuple[str, str]) -> tuple:
    """The functions' entry for two outputs: float tensors of one dtype and one shape."""
    real, fake = _as_scores(real, names[0]), _as_scores(fake, names[1])
    dtype = keras.backend.result_type(real.dtype, fake.dtype)
    return _check_score_pair(ops.cast(real, dtype), ops.cast(fake, dtype), names)


def _fake_scores(fake, name: str):
    """The functions' entry for the outputs on generated images alone."""
    fake = _as_scores(fake, name)
    _check_logits(fake, name)
    return fake


def _per_sample(values):
    """Mean over every non-batch axis: ``(batch, ...) -> (batch,)``."""
    if len(values.shape) == 1:
        return values
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def generator_adversarial_loss(fake_logits, kind: str = "vanilla"):
    """Per-sample generator loss from the discriminator's logits on generated images.

    ``vanilla``: ``softplus(-d)`` (non-saturating, ``-log sigmoid(d)``);
    ``lsgan``: ``(d - 1)^2``; ``hinge``: ``-d``; each averaged over non-batch axes.

    Args:
        fake_logits: ``(batch, ...)`` discriminator logits on generated images.
        kind: ``"vanilla"``, ``"lsgan"`` or ``"hinge"``.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: a bad ``kind``, or ``fake_logits`` without a batch axis (a scalar).

    Example:
        >>> generator_adversarial_loss(np.zeros((2, 1), "float32"))  # log 2
        array([0.6931472, 0.6931472], dtype=float32)
    """
    check_choice(kind, GAN_KINDS, "kind")
    return _generator_values(_fake_scores(fake_logits, "fake_logits"), kind)


def _generator_values(fake_logits, kind: str):
    """:func:`generator_adversarial_loss` of a checked tensor."""
    if kind == "vanilla":
        values = ops.softplus(-fake_logits)
    elif kind == "lsgan":
        values = ops.square(fake_logits - 1.0)
    else:
        values = -fake_logits
    return _per_sample(values)


def discriminator_adversarial_loss(real_logits, fake_logits, kind: str = "vanilla"):
    """Per-sample discriminator loss from its logits on real and on generated images.

    ``vanilla``: ``softplus(-d_real) + softplus(d_fake)`` (binary cross-entropy
    with labels 1 and 0, from logits); ``lsgan``: ``(d_real - 1)^2 + d_fake^2``;
    ``hinge``: ``relu(1 - d_real) + relu(1 + d_fake)``; each term averaged over
    the non-batch axes.

    Args:
        real_logits: ``(batch, ...)`` logits on real images.
        fake_logits: logits on generated images, same shape.
        kind: ``"vanilla"``, ``"lsgan"`` or ``"hinge"``.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: a bad ``kind``, logits without a batch axis, or of two shapes (checked
            when the graph runs where sizes are ``None`` when traced).

    Example:
        >>> discriminator_adversarial_loss(np.zeros(2, "float32"), np.zeros(2, "float32"))
        array([1.3862944, 1.3862944], dtype=float32)
    """
    check_choice(kind, GAN_KINDS, "kind")
    names = ("real_logits", "fake_logits")
    real_logits, fake_logits = _score_pair(real_logits, fake_logits, names)
    return _discriminator_values(real_logits, fake_logits, kind)


def _discriminator_values(real_logits, fake_logits, kind: str):
    """:func:`discriminator_adversarial_loss` of checked tensors."""
    if kind == "vanilla":
        real, fake = ops.softplus(-real_logits), ops.softplus(fake_logits)
    elif kind == "lsgan":
        real, fake = ops.square(real_logits - 1.0), ops.square(fake_logits)
    else:
        real, fake = ops.relu(1.0 - real_logits), ops.relu(1.0 + fake_logits)
    return _per_sample(real) + _per_sample(fake)


def wasserstein_loss(real_scores, fake_scores, role: str = "critic"):
    """Per-sample Wasserstein GAN loss (Arjovsky et al. 2017, Eq. 3).

    ``role="critic"``: ``d_fake - d_real`` (the critic minimizes
    ``E[D(G(z))] - E[D(x)]``); ``role="generator"``: ``-d_fake`` (``real_scores``
    unused, may be ``None``). Scores are averaged over the non-batch axes.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: a bad ``role``; scores without a batch axis; with ``role="critic"``,
            ``real_scores=None`` or scores of two shapes (checked when the graph runs where
            sizes are ``None`` when traced).

    Example:
        >>> wasserstein_loss(np.array([2.0], "float32"), np.array([0.5], "float32"))
        array([-1.5], dtype=float32)
    """
    check_choice(role, WASSERSTEIN_ROLES, "role")
    if role == "generator":
        return _wasserstein_values(None, _fake_scores(fake_scores, "fake_scores"), role)
    if real_scores is None:
        raise InputError(
            "wasserstein_loss with role='critic' needs real_scores, the critic's outputs on "
            "real images (role='generator' does not read them). Received: real_scores=None"
        )
    names = ("real_scores", "fake_scores")
    real_scores, fake_scores = _score_pair(real_scores, fake_scores, names)
    return _wasserstein_values(real_scores, fake_scores, role)


def _wasserstein_values(real_scores, fake_scores, role: str):
    """:func:`wasserstein_loss` of checked tensors."""
    if role == "generator":
        return -_per_sample(fake_scores)
    return _per_sample(fake_scores) - _per_sample(real_scores)


# --------------------------------------------------------------------------
# WGAN-GP.
# --------------------------------------------------------------------------


def _accepts_training(layer) -> bool:
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def _total_score(scores, batch):
    """Sum over the batch of each sample's score (the mean over its patches, if several).

    The scores must be per sample, ``(batch, ...)``: a critic that reduces over the batch
    (a scalar, or a mean over axis 0) would give each sample's gradient divided by the batch
    size, a silently wrong penalty. Checked on the static shapes (free when traced)."""
    shape = tuple(scores.shape)
    if not shape or (shape[0] is not None and batch is not None and shape[0] != batch):
        raise InputError(
            "critic must return one score (or one map of patch scores) per sample, "
            "(batch, ...) with the batch of its input, not a value reduced over the batch. "
            f"Received: critic output shape={shape} for an input batch of {batch}"
        )
    return ops.sum(_per_sample(ops.cast(scores, "float32")))


def _input_gradients(critic, x, training: bool):
    """Per-sample gradients of each sample's (patch-averaged) score w.r.t. ``x``.

    The gradient of the batch sum of scores: sample ``i``'s score depends on
    ``x[i]`` only. Differentiable again (second order) on both backends.
    """
    backend = keras.backend.backend()
    is_layer = isinstance(critic, keras.layers.Layer)
    kwargs = {"training": training} if is_layer and _accepts_training(critic) else {}
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = _total_score(critic(x, **kwargs), x.shape[0])
        return tape.gradient(total, x)
    if backend == "jax":
        import jax

        if is_layer:
            if not critic.built:
                critic(x, **kwargs)
            # The variables' current values: inside a stateless training step these are
            # the traced values, so the penalty stays differentiable w.r.t. the critic.
            trainable = [v.value for v in critic.trainable_variables]
            non_trainable = [v.value for v in critic.non_trainable_variables]

            def total(inputs):
                scores, _ = critic.stateless_call(trainable, non_trainable, inputs, **kwargs)
                return _total_score(scores, inputs.shape[0])

        else:

            def total(inputs):
                return _total_score(critic(inputs), inputs.shape[0])

        return jax.grad(total)(x)
    raise NotImplementedError(
        f"gradient_penalty needs input gradients, implemented for the TensorFlow and JAX "
        f"backends only; set KERAS_BACKEND=tensorflow or jax. Received: backend={backend!r}"
    )


def gradient_penalty(
    critic,
    real,
    fake,
    weight: float = 10.0,
    seed=None,
    reduction: str | None = "mean",
    training: bool = True,
):
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, Eq. 3 and Algorithm 1).

    ``weight * (||grad_x D(x_hat)||_2 - 1)^2`` per sample, at random points
    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` drawn per
    sample. The norm is over all of a sample's axes (BasicSR's
    ``gradients.norm(2, dim=1)`` takes it per channel instead). For a critic with
    several outputs per sample (PatchGAN) the score is their mean, as in
    :class:`WassersteinLoss`, so the constraint does not grow with the image size.

    The result is differentiable with respect to the critic's weights (a
    second-order gradient): add it to the critic's loss. Works on the TensorFlow
    backend (nested ``GradientTape``) and on JAX (``jax.grad`` through the
    critic's ``stateless_call``, also inside a stateless training step); other
    backends raise ``NotImplementedError``.

    Args:
        critic: a Keras layer/model, or any callable ``images -> scores``.
        real: ``(batch, ...)`` real samples.
        fake: generated samples, same shape.
        weight: ``lambda`` (10 in the paper).
        seed: ``None``, an int, or a ``keras.random.SeedGenerator`` (needed
            inside a jitted JAX function, where a fixed int would repeat).
        reduction: ``"mean"`` (default, the penalty to add), ``"sum"`` or ``None``
            for the ``(batch,)`` per-sample values.
        training: passed to the critic when it accepts ``training``: ``True``, ``False``
            or ``None`` (Keras' "inherit").

    Returns:
        A scalar, or ``(batch,)`` with ``reduction=None``.

    Raises:
        InputError: a ``critic`` that is not callable, or whose scores are not per sample
            (``(batch, ...)``: a score averaged over the batch); ``real`` and ``fake`` that are not
            floating-point batches of one shape (checked when the graph runs where sizes are
            ``None`` when traced); a bad ``weight``, ``seed``, ``reduction`` or ``training``.

    Example:
        >>> critic = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> penalty = gradient_penalty(critic, np.ones((2, 4)), np.zeros((2, 4)), seed=0)
    """
    if not callable(critic):
        raise InputError(
            "critic must be a Keras layer or model, or a callable images -> scores, e.g. the "
            f"discriminator. Received: critic={critic!r:.80}"
        )
    weight = check_weight(weight, "weight")
    if reduction not in PENALTY_REDUCTIONS:
        raise InputError(
            f"reduction must be 'mean', 'sum' or None (per-sample values). "
            f"Received: reduction={reduction!r}"
        )
    seed = _check_penalty_seed(seed)
    if training is not None:
        training = check_flag(training, "training")
    check_float_dtype(real, "real")
    check_float_dtype(fake, "fake")
    real = ops.convert_to_tensor(real, dtype="float32")
    fake = ops.convert_to_tensor(fake, dtype="float32")
    message = (
        "real and fake must be batches of the same shape (batch, ...), one fake per real "
        "sample, to interpolate between them. "
    )
    if len(real.shape) < 2:
        raise InputError(
            f"{message}Received: real.shape={tuple(real.shape)}, fake.shape={tuple(fake.shape)}"
        )
    real, fake = check_same_shape(real, fake, message, names=("real", "fake"))
    rank = len(real.shape)
    eps_shape = (ops.shape(real)[0],) + (1,) * (rank - 1)
    eps = keras.random.uniform(eps_shape, dtype="float32", seed=seed)
    interpolates = eps * real + (1.0 - eps) * fake
    grads = ops.cast(_input_gradients(critic, interpolates, training), "float32")
    norms = safe_sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, rank))))
    penalty = weight * ops.square(norms - 1.0)
    if reduction == "mean":
        return ops.mean(penalty)
    if reduction == "sum":
        return ops.sum(penalty)
    return penalty


def _check_penalty_seed(seed):
    """``None``, a ``keras.random.SeedGenerator``, or a seed in ``[0, 2**31)`` as an int."""
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    try:
        return check_seed(seed)
    except InputError:
        raise InputError(
            "seed must be None, an integer in [0, 2**31) such as 0, or a "
            "keras.random.SeedGenerator (inside a jitted JAX function, where a fixed int "
            f"would draw the same points at every step). Received: seed={seed!r}"
        ) from None


# --------------------------------------------------------------------------
# Keras losses.
# --------------------------------------------------------------------------


class _ScoreLoss(BaseLoss):
    """A loss on discriminator outputs; float32 computation; ``y_true=None`` allowed
    where it is unused."""

    #: Whether ``y_true`` holds the discriminator's outputs on real images.
    _needs_real = True
    #: One value per sample, ``(batch,)``, whatever the shape of the scores (a weight of
    #: another shape is refused; ``(batch, 1, 1, 1)`` is one per sample).
    values_rank = 1

    def __call__(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            if self._needs_real:
                raise InputError(
                    f"{type(self).__name__} needs the discriminator's outputs on real images "
                    f"as y_true: call loss(real_logits, fake_logits). Received: y_true=None"
                )
            y_true = y_pred
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)


class _KindLoss(_ScoreLoss):
    """A score loss of one of the :data:`GAN_KINDS` (the generator's or the discriminator's):
    their one constructor; each names its default ``name`` in ``DEFAULT_NAME``."""

    OPTIONS = ("kind",)

    def __init__(
        self,
        kind: str = "vanilla",
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.kind = check_choice(kind, GAN_KINDS, "kind")


@keras.saving.register_keras_serializable(package="keras_perceptual")
class GeneratorLoss(_KindLoss):
    """Adversarial loss of a generator, from the discriminator's logits on its outputs.

    ``loss(None, fake_logits)``: per sample, ``softplus(-d)`` for ``"vanilla"``
    (the non-saturating loss of Goodfellow et al. 2014, as in SRGAN, Ledig et al.
    2017, Eq. 6), ``(d - 1)^2`` for ``"lsgan"`` (Mao et al. 2017) or ``-d`` for
    ``"hinge"`` (Lim & Ye 2017), averaged over non-batch axes (PatchGAN patches).
    ``y_true`` is unused (``None`` is accepted).

    Args:
        kind: ``"vanilla"``, ``"lsgan"`` or ``"hinge"``.
        reduction: as in ``keras.losses.Loss``; ``None`` gives ``(batch,)``.
        name: loss name; ``None`` (default): ``"generator_loss"``.
        dtype: computation dtype (float32 by default, also under mixed precision).

    Returns:
        A loss whose call returns the reduced loss.

    Example:
        >>> GeneratorLoss("hinge")(None, np.array([[1.0], [3.0]], "float32"))
        -2.0
    """

    DEFAULT_NAME = "generator_loss"
    _needs_real = False

    def call(self, y_true, y_pred):
        _check_logits(y_pred, "y_pred (fake logits)")
        return _generator_values(y_pred, self.kind)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class DiscriminatorLoss(_KindLoss):
    """Adversarial loss of a discriminator: ``loss(real_logits, fake_logits)``.

    ``y_true`` holds the discriminator's logits on real images and ``y_pred``
    those on generated images (same shape); per sample ``i`` the loss is
    ``f_real(real_i) + f_fake(fake_i)``: ``softplus(-r) + softplus(f)`` for
    ``"vanilla"`` (binary cross-entropy with labels 1/0, from logits; Goodfellow
    et al. 2014, Eq. 1), ``(r - 1)^2 + f^2`` for ``"lsgan"`` (Mao et al. 2017),
    ``relu(1 - r) + relu(1 + f)`` for ``"hinge"`` (Lim & Ye 2017), each term
    averaged over non-batch axes. The default reduction gives the usual
    ``E[f_real] + E[f_fake]``.

    Args:
        kind: ``"vanilla"``, ``"lsgan"`` or ``"hinge"``.
        reduction, name, dtype: as in ``keras.losses.Loss``; ``name=None`` (default):
            ``"discriminator_loss"``.

    Returns:
        A loss whose call returns the reduced loss.

    Example:
        >>> loss = DiscriminatorLoss("hinge", reduction=None)
        >>> loss(np.array([2.0, 0.0], "float32"), np.array([-2.0, 0.0], "float32"))
        array([0., 2.], dtype=float32)
    """

    DEFAULT_NAME = "discriminator_loss"

    def call(self, y_true, y_pred):
        y_true, y_pred = _check_score_pair(y_true, y_pred)
        return _discriminator_values(y_true, y_pred, self.kind)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class WassersteinLoss(_ScoreLoss):
    """Wasserstein GAN loss (Arjovsky et al. 2017) for the critic or the generator.

    ``role="critic"``: ``loss(real_scores, fake_scores)`` is ``d_fake - d_real`` per
    sample; add :func:`gradient_penalty` for WGAN-GP (Gulrajani et al. 2017).
    ``role="generator"``: ``loss(None, fake_scores)`` is ``-d_fake``. Scores are
    averaged over non-batch axes.

    Args:
        role: ``"critic"`` or ``"generator"``.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Returns:
        A loss whose call returns the reduced loss.

    Example:
        >>> WassersteinLoss()(np.array([1.0, 3.0], "float32"), np.zeros(2, "float32"))
        -2.0
    """

    OPTIONS = ("role",)

    def __init__(
        self,
        role: str = "critic",
        reduction: str | None = "sum_over_batch_size",
        name: str = "wasserstein_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.role = check_choice(role, WASSERSTEIN_ROLES, "role")
        self._needs_real = self.role == "critic"

    def call(self, y_true, y_pred):
        if self.role == "critic":
            y_true, y_pred = _check_score_pair(y_true, y_pred)
        else:
            _check_logits(y_pred, "y_pred (fake scores)")
        return _wasserstein_values(y_true, y_pred, self.role)


__all__ = [
    "GAN_KINDS",
    "WASSERSTEIN_ROLES",
    "DiscriminatorLoss",
    "GeneratorLoss",
    "WassersteinLoss",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "gradient_penalty",
    "wasserstein_loss",
]
