"""Adversarial training of a super-resolution (or any image-to-image) generator.

:class:`PerceptualGAN` is SRGAN's recipe (Ledig et al. 2017, Eq. 3) on
``model.fit``: the generator minimizes

    ``l_G = content_weight * l_content + pixel_weight * l_pixel
    + adversarial_weight * l_adv``

with ``l_content`` a :class:`~keras_perceptual.losses.PerceptualLoss` (the
"VGG loss"; any Keras loss works), ``l_pixel`` a pixel loss (MSE by default)
and ``l_adv`` the generator's adversarial loss, while the discriminator is
updated alternately on real and generated images. :func:`patch_discriminator`
builds a small PatchGAN (Isola et al. 2017) that returns per-patch logits.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_perceptual._checks import (
    check_choice,
    check_positive_int,
    check_value_range,
    check_weight,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.adversarial import (
    DiscriminatorLoss,
    GeneratorLoss,
    WassersteinLoss,
    gradient_penalty,
)

#: The keyword arguments of ``keras.Model.compile`` that :meth:`PerceptualGAN.compile` takes
#: (through ``**kwargs``) and keeps in its compile config.
COMPILE_KEYWORDS = ("metrics", "run_eagerly", "jit_compile", "steps_per_execution")

ADVERSARIAL_LOSSES = ("vanilla", "lsgan", "hinge", "wasserstein")
NORMALIZATIONS = ("instance", "batch", "none")



# --------------------------------------------------------------------------
# Discriminator.
# --------------------------------------------------------------------------


def patch_discriminator(
    filters: int = 64,
    num_layers: int = 3,
    normalization: str | None = "instance",
    value_range: Sequence[float] = (0.0, 1.0),
    channels: int = 3,
    name: str = "patch_discriminator",
) -> keras.Model:
    """A PatchGAN discriminator (Isola et al. 2017, pix2pix) returning per-patch logits.

    Layers: a rescaling of ``value_range`` to [-1, 1]; a 4x4 stride-2 convolution
    with ``filters`` channels and LeakyReLU(0.2); ``num_layers - 1`` more 4x4
    stride-2 convolutions doubling the width (at most 8x) with normalization and
    LeakyReLU; one 4x4 stride-1 convolution likewise; a 4x4 stride-1 convolution
    to one logit per patch (kept in float32 under mixed precision). With the
    defaults each logit sees a 70x70 patch and an ``H x W`` input gives
    ``ceil(H / 8) x ceil(W / 8)`` logits. Fully convolutional: any input size.

    Args:
        filters: width of the first convolution.
        num_layers: number of stride-2 convolutions (the output is ``2**num_layers``
            times smaller than the input).
        normalization: ``"instance"`` (default; ``GroupNormalization(groups=-1)``,
            independent of the batch and safe with a WGAN-GP critic), ``"batch"``
            (pix2pix) or ``"none"``/``None``.
        value_range: ``(low, high)`` of the images it will see.
        channels: input channels.
        name: model name.

    Returns:
        A functional ``keras.Model`` ``(batch, H, W, channels) -> (batch, h, w, 1)`` logits.

    Example:
        >>> d = patch_discriminator(filters=8)
        >>> d(np.zeros((2, 32, 32, 3), "float32")).shape
        TensorShape([2, 4, 4, 1])
    """
    filters = check_positive_int(filters, "filters")
    num_layers = check_positive_int(num_layers, "num_layers")
    channels = check_positive_int(channels, "channels")
    normalization = check_choice(
        "none" if normalization is None else normalization, NORMALIZATIONS, "normalization"
    )
    low, high = check_value_range(value_range)

    def norm(x, index):
        if normalization == "instance":
            return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=f"norm{index}")(x)
        if normalization == "batch":
            return keras.layers.BatchNormalization(name=f"norm{index}")(x)
        return x

    inputs = keras.Input((None, None, channels), name="images")
    x = keras.layers.Rescaling(2.0 / (high - low), offset=-2.0 * low / (high - low) - 1.0,
                               name="to_signed_unit")(inputs)
    x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name="conv1")(x)
    x = keras.layers.LeakyReLU(0.2, name="lrelu1")(x)
    use_bias = normalization == "none"
    for index in range(2, num_layers + 2):
        strides = 2 if index <= num_layers else 1
        width = filters * min(2 ** (index - 1), 8)
        x = keras.layers.Conv2D(width, 4, strides=strides, padding="same", use_bias=use_bias,
                                name=f"conv{index}")(x)
        x = norm(x, index)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{index}")(x)
    logits = keras.layers.Conv2D(1, 4, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


# --------------------------------------------------------------------------
# The adversarial trainer.
# --------------------------------------------------------------------------


def _resolve_loss(loss, name: str):
    if loss is None:
        return None
    if isinstance(loss, (str, dict)):
        try:
            return keras.losses.get(loss)
        except ValueError:
            raise InputError(
                f"{name} must be a Keras loss, a loss name such as 'mean_squared_error', or a "
                f"callable (y_true, y_pred). Received: {name}={loss!r}"
            ) from None
    if not callable(loss):
        raise InputError(
            f"{name} must be a Keras loss, a loss name such as 'mean_squared_error', or a "
            f"callable (y_true, y_pred). Received: {name}={loss!r}"
        )
    return loss


def _replicas() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside one)."""
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def _call_loss(loss, y_true, y_pred, sample_weight=None):
    """A Keras ``Loss`` object's batch mean, *without* its division by the replica count.

    Inside a ``tf.distribute`` strategy, Keras divides a reduced loss by the number of
    replicas (so that summing gradients over replicas gives the global mean). The GAN
    computes every term per replica first, logs them as they are, and divides its totals
    once in :meth:`PerceptualGAN.train_step`; this undoes Keras' division so that terms
    from ``Loss`` objects and from plain functions are on the same footing.
    """
    value = ops.cast(loss(y_true, y_pred, sample_weight=sample_weight), "float32")
    replicas = _replicas()
    return value * float(replicas) if replicas > 1 else value


def _apply_loss(loss, y_true, y_pred, sample_weight):
    """The sample-weighted batch mean of ``loss`` as a float32 scalar.

    Keras ``Loss`` objects apply ``sample_weight`` themselves; plain functions
    (``keras.losses.mean_squared_error``, any callable) return per-element values,
    averaged here per sample, weighted, then over the batch.
    """
    if isinstance(loss, keras.losses.Loss):
        return ops.mean(_call_loss(loss, y_true, y_pred, sample_weight))
    values = ops.cast(loss(y_true, y_pred), "float32")
    if len(values.shape) > 1:
        values = ops.mean(values, axis=tuple(range(1, len(values.shape))))
    if sample_weight is not None:
        weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        values = values * weights
    return ops.mean(values)


def _resolve_optimizer(optimizer, name: str):
    try:
        return keras.optimizers.get(optimizer)
    except ValueError:
        raise InputError(
            f"{name} must be a keras.optimizers.Optimizer or a name such as 'adam'. "
            f"Received: {name}={optimizer!r}"
        ) from None


@keras.saving.register_keras_serializable(package="keras_perceptual")
class PerceptualGAN(keras.Model):
    """SRGAN-style adversarial training (Ledig et al. 2017) of an image generator.

    Each ``train_step`` on a batch ``(x, y)`` (degraded inputs, target images in
    the generator's ``value_range``):

    1. generator update, on ``l_G = content_weight * content_loss(y, G(x)) +
       pixel_weight * pixel_loss(y, G(x)) + adversarial_weight * l_adv(D(G(x)))``
       (SRGAN's perceptual loss, Eq. 3: a VGG content loss plus ``1e-3`` times the
       adversarial loss, Eq. 6);
    2. discriminator update on ``D(y)`` and ``D(G(x))`` (the same generated batch,
       detached), with :class:`~keras_perceptual.losses.DiscriminatorLoss` or the
       Wasserstein critic loss, plus an optional WGAN-GP penalty.

    ``model.optimizer`` is the generator's optimizer (so learning-rate callbacks
    act on it). Metrics: ``loss`` (the same as ``generator_loss``, so callbacks'
    default ``monitor="val_loss"`` works), ``generator_loss``, ``discriminator_loss``,
    ``adversarial_loss`` (the generator's, unweighted), and ``content_loss``,
    ``pixel_loss``, ``gradient_penalty`` when those terms are on, and the
    ``metrics=`` given to ``compile`` on ``(y, G(x))``; ``evaluate`` and
    ``validation_data`` report the same without updates. ``call(x)`` runs the
    generator, so ``predict`` upscales. The model saves and reloads with
    ``model.save`` / ``keras.models.load_model`` (both networks, both optimizers'
    states and the compile settings); ``ModelCheckpoint`` works as usual.

    Backends: TensorFlow. JAX is not supported: Keras' JAX trainer threads the
    state of one optimizer (``model.optimizer``) through its jitted step, and the
    discriminator optimizer's state cannot be updated from inside it with public
    APIs; ``compile`` raises on other backends. The losses (including
    :func:`~keras_perceptual.losses.gradient_penalty`) work on JAX.

    Args:
        generator: a Keras model ``x -> image`` (e.g. ``super_resolution_net(4)``).
        discriminator: a Keras model ``image -> logits`` of shape ``(batch, ...)``
            (e.g. :func:`patch_discriminator`).
        seed: seed of the gradient-penalty interpolation (``None``: random).
        **kwargs: ``name``, ``trainable``, ``dtype`` as for ``keras.Model``.

    Example:
        >>> gan = PerceptualGAN(super_resolution_net(4), patch_discriminator())  # doctest: +SKIP
        >>> gan.compile(generator_optimizer=keras.optimizers.Adam(1e-4),
        ...             discriminator_optimizer=keras.optimizers.Adam(1e-4),
        ...             content_loss=PerceptualLoss.from_preset("johnson2016_sr"),
        ...             adversarial_weight=1e-3)  # doctest: +SKIP
        >>> gan.fit(pairs, epochs=10)  # doctest: +SKIP
    """

    def __init__(self, generator, discriminator, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for value, name in ((generator, "generator"), (discriminator, "discriminator")):
            if not isinstance(value, keras.Model):
                raise InputError(
                    f"{name} must be a keras.Model (e.g. a functional model); wrap a layer "
                    f"with keras.Sequential([layer]). Received: {name}={value!r}"
                )
        if generator is discriminator:
            raise InputError(
                "generator and discriminator must be two different models. "
                "Received: the same model for both"
            )
        self.generator = generator
        self.discriminator = discriminator
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.generator_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.adversarial_loss_tracker = keras.metrics.Mean(name="adversarial_loss")
        self.content_loss_tracker = keras.metrics.Mean(name="content_loss")
        self.pixel_loss_tracker = keras.metrics.Mean(name="pixel_loss")
        self.gradient_penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self._gan_settings: dict[str, Any] = {}
        if generator.built and discriminator.built:
            self.built = True

    # ------------------------------------------------------------------
    # Compile.
    # ------------------------------------------------------------------

    def compile(
        self,
        generator_optimizer: Any = "adam",
        discriminator_optimizer: Any = "adam",
        content_loss: Any = None,
        content_weight: float = 1.0,
        pixel_loss: Any = "mean_squared_error",
        pixel_weight: float = 1.0,
        adversarial_loss: str = "vanilla",
        adversarial_weight: float = 1e-3,
        gradient_penalty_weight: float = 0.0,
        **kwargs,
    ):
        """Configures both optimizers and the generator's and discriminator's losses.

        Args:
            generator_optimizer: optimizer (or name) of the generator; becomes
                ``model.optimizer``.
            discriminator_optimizer: a different optimizer (or name) for the discriminator.
            content_loss: the content term, e.g. a
                :class:`~keras_perceptual.losses.PerceptualLoss`, any Keras loss or
                name, or ``None`` for none.
            content_weight: its weight.
            pixel_loss: the pixel term (any Keras loss or name, e.g. ``"mean_absolute_error"``
                or :class:`~keras_perceptual.losses.CharbonnierLoss`). Names compare raw
                values; ``CharbonnierLoss(value_range=...)`` is range-invariant.
            pixel_weight: its weight; 0 switches it off.
            adversarial_loss: ``"vanilla"`` (non-saturating, SRGAN), ``"lsgan"``,
                ``"hinge"`` or ``"wasserstein"``.
            adversarial_weight: weight of the generator's adversarial term (SRGAN: 1e-3).
            gradient_penalty_weight: WGAN-GP ``lambda`` added to the discriminator
                loss (Gulrajani et al. 2017 use 10 with ``"wasserstein"``); 0 for none.
            **kwargs: ``metrics`` (computed on ``(y, G(x))``, e.g. PSNR),
                ``run_eagerly``, ``jit_compile``, ``steps_per_execution``.
        """
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise NotImplementedError(
                "PerceptualGAN trains on the TensorFlow backend only (Keras' JAX trainer "
                "carries one optimizer's state); set KERAS_BACKEND=tensorflow. The losses in "
                f"keras_perceptual.losses work on JAX. Received: backend={backend!r}"
            )
        for forbidden, hint in (
            ("optimizer", "generator_optimizer= and discriminator_optimizer="),
            ("loss", "content_loss=, pixel_loss= and adversarial_loss="),
            ("loss_weights", "content_weight=, pixel_weight= and adversarial_weight="),
        ):
            if forbidden in kwargs:
                raise InputError(
                    f"PerceptualGAN.compile takes {hint} instead of {forbidden}=. "
                    f"Received: {forbidden}={kwargs[forbidden]!r}"
                )
        generator_optimizer = _resolve_optimizer(generator_optimizer, "generator_optimizer")
        discriminator_optimizer = _resolve_optimizer(
            discriminator_optimizer, "discriminator_optimizer"
        )
        if generator_optimizer is discriminator_optimizer:
            raise InputError(
                "generator_optimizer and discriminator_optimizer must be two optimizer "
                "instances (their states differ); create one for each. "
                "Received: the same optimizer for both"
            )
        settings = {
            "generator_optimizer": generator_optimizer,
            "discriminator_optimizer": discriminator_optimizer,
            "content_loss": _resolve_loss(content_loss, "content_loss"),
            "content_weight": check_weight(content_weight, "content_weight"),
            "pixel_weight": check_weight(pixel_weight, "pixel_weight"),
            "adversarial_loss": check_choice(
                adversarial_loss, ADVERSARIAL_LOSSES, "adversarial_loss"
            ),
            "adversarial_weight": check_weight(adversarial_weight, "adversarial_weight"),
            "gradient_penalty_weight": check_weight(
                gradient_penalty_weight, "gradient_penalty_weight"
            ),
        }
        settings["pixel_loss"] = _resolve_loss(pixel_loss, "pixel_loss")
        if settings["pixel_weight"] > 0 and settings["pixel_loss"] is None:
            raise InputError(
                "pixel_loss is None but pixel_weight > 0; pass a loss such as "
                "'mean_squared_error' or set pixel_weight=0. Received: pixel_loss=None, "
                f"pixel_weight={pixel_weight!r}"
            )

        super().compile(optimizer=generator_optimizer, **kwargs)
        # Keras may have wrapped it in a LossScaleOptimizer (mixed_float16): use that one.
        generator_optimizer = self.optimizer
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            discriminator_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(
                discriminator_optimizer, name="discriminator_loss_scale_optimizer"
            )
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        # Each optimizer gets its own network's variables (not the union Keras would use).
        if self.generator.built and not generator_optimizer.built:
            generator_optimizer.build(self.generator.trainable_variables)
        if self.discriminator.built and not discriminator_optimizer.built:
            discriminator_optimizer.build(self.discriminator.trainable_variables)

        kind = settings["adversarial_loss"]
        if kind == "wasserstein":
            self._generator_adversarial = WassersteinLoss("generator")
            self._discriminator_adversarial = WassersteinLoss("critic")
        else:
            self._generator_adversarial = GeneratorLoss(kind)
            self._discriminator_adversarial = DiscriminatorLoss(kind)
        self._gan_settings = settings
        # What get_compile_config serializes: the arguments as given (optimizer objects,
        # not their loss-scale wrappers).
        self._gan_compile_args = {
            "generator_optimizer": settings["generator_optimizer"],
            "discriminator_optimizer": settings["discriminator_optimizer"],
            "content_loss": settings["content_loss"],
            "content_weight": settings["content_weight"],
            "pixel_loss": settings["pixel_loss"],
            "pixel_weight": settings["pixel_weight"],
            "adversarial_loss": kind,
            "adversarial_weight": settings["adversarial_weight"],
            "gradient_penalty_weight": settings["gradient_penalty_weight"],
            **{k: kwargs[k] for k in COMPILE_KEYWORDS if k in kwargs},
        }

    def get_compile_config(self):
        if not self.compiled or not self._gan_settings:
            return {}
        return {
            key: keras.saving.serialize_keras_object(value)
            for key, value in self._gan_compile_args.items()
        }

    def compile_from_config(self, config):
        config = {
            key: keras.saving.deserialize_keras_object(value) for key, value in config.items()
        }
        self.compile(**config)

    # ------------------------------------------------------------------
    # Forward pass, losses and steps.
    # ------------------------------------------------------------------

    def call(self, inputs, training=None):
        return self.generator(inputs, training=training)

    @property
    def metrics(self):
        settings = self._gan_settings
        metrics = [
            self.generator_loss_tracker,
            self.discriminator_loss_tracker,
            self.adversarial_loss_tracker,
        ]
        if settings.get("content_loss") is not None:
            metrics.append(self.content_loss_tracker)
        if settings.get("pixel_weight", 0) > 0:
            metrics.append(self.pixel_loss_tracker)
        if settings.get("gradient_penalty_weight", 0) > 0:
            metrics.append(self.gradient_penalty_tracker)
        if getattr(self, "_compile_metrics", None) is not None:
            metrics.append(self._compile_metrics)
        return metrics

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise InputError(
                "PerceptualGAN needs (inputs, target_images) pairs, e.g. fit(low_res, high_res) "
                "or a dataset of (low_res, high_res) tuples. Received: no targets"
            )
        if not self._gan_settings:
            raise InputError(
                "PerceptualGAN must be compiled before training or evaluation: call "
                "compile(generator_optimizer=..., discriminator_optimizer=..., "
                "content_loss=...). Received: an uncompiled model"
            )
        return x, y, sample_weight

    def generator_terms(self, y, fake, sample_weight=None, training=False) -> dict:
        """The generator's loss and its terms for targets ``y`` and generated images ``fake``.

        Returns a dict of scalars: ``"generator_loss"`` (the weighted total, with the
        generator's own regularization losses), ``"adversarial_loss"`` and, when on,
        ``"content_loss"`` and ``"pixel_loss"`` (unweighted).
        """
        settings = self._gan_settings
        terms = {}
        total = ops.zeros((), "float32")
        if settings["content_loss"] is not None:
            value = _apply_loss(settings["content_loss"], y, fake, sample_weight)
            terms["content_loss"] = value
            total = total + settings["content_weight"] * value
        if settings["pixel_weight"] > 0:
            value = _apply_loss(settings["pixel_loss"], y, fake, sample_weight)
            terms["pixel_loss"] = value
            total = total + settings["pixel_weight"] * value
        fake_logits = self.discriminator(fake, training=training)
        adversarial = _call_loss(self._generator_adversarial, None, fake_logits, sample_weight)
        terms["adversarial_loss"] = adversarial
        total = total + settings["adversarial_weight"] * adversarial
        for loss in self.generator.losses:
            total = total + ops.cast(loss, "float32")
        terms["generator_loss"] = total
        return terms

    def discriminator_terms(self, y, fake, sample_weight=None, training=False) -> dict:
        """The discriminator's loss on real ``y`` and (detached) generated ``fake``.

        Returns ``{"discriminator_loss": ...}`` (with the WGAN-GP term and the
        discriminator's regularization losses) and ``"gradient_penalty"`` when on.
        """
        settings = self._gan_settings
        fake = ops.stop_gradient(fake)
        real_logits = self.discriminator(y, training=training)
        fake_logits = self.discriminator(fake, training=training)
        total = _call_loss(self._discriminator_adversarial, real_logits, fake_logits,
                           sample_weight)
        terms = {}
        if settings["gradient_penalty_weight"] > 0:
            penalty = gradient_penalty(
                self.discriminator,
                y,
                fake,
                weight=settings["gradient_penalty_weight"],
                seed=self.seed_generator,
                training=training,
            )
            terms["gradient_penalty"] = penalty
            total = total + penalty
        for loss in self.discriminator.losses:
            total = total + ops.cast(loss, "float32")
        terms["discriminator_loss"] = total
        return terms

    def _log(self, terms: dict, y, fake, sample_weight) -> dict:
        trackers = {metric.name: metric for metric in self.metrics}
        for name, value in terms.items():
            trackers[name].update_state(value)
        compiled = getattr(self, "_compile_metrics", None)
        if compiled is not None:
            compiled.update_state(y, fake, sample_weight)
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        # "loss" is the generator's objective, so callbacks' default monitor="val_loss" works.
        return {"loss": logs["generator_loss"], **logs}

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = self._unpack(data)
        y = ops.convert_to_tensor(y)
        # Each term is this replica's batch mean; gradients are summed over replicas, so
        # the totals are divided by the replica count once, here (global-batch mean).
        per_replica = 1.0 / _replicas()

        generator_variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self.generator(x, training=True)
            g_terms = self.generator_terms(y, fake, sample_weight, training=True)
            scaled = self.generator_optimizer.scale_loss(g_terms["generator_loss"] * per_replica)
        gradients = tape.gradient(scaled, generator_variables)
        self.generator_optimizer.apply(gradients, generator_variables)

        discriminator_variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            d_terms = self.discriminator_terms(y, fake, sample_weight, training=True)
            scaled = self.discriminator_optimizer.scale_loss(
                d_terms["discriminator_loss"] * per_replica
            )
        gradients = tape.gradient(scaled, discriminator_variables)
        self.discriminator_optimizer.apply(gradients, discriminator_variables)
        return self._log({**g_terms, **d_terms}, y, fake, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = self._unpack(data)
        y = ops.convert_to_tensor(y)
        fake = self.generator(x, training=False)
        terms = self.generator_terms(y, fake, sample_weight, training=False)
        terms.update(self.discriminator_terms(y, fake, sample_weight, training=False))
        return self._log(terms, y, fake, sample_weight)

    # ------------------------------------------------------------------
    # Config.
    # ------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)  # deserialization consumes nested configs
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


__all__ = ["ADVERSARIAL_LOSSES", "COMPILE_KEYWORDS", "NORMALIZATIONS", "PerceptualGAN", "patch_discriminator"]
