"""What the learned perceptual metrics (LPIPS, DISTS) share: the loss base class, input
checks and a cache of their frozen networks.

Both compare two images of the same size through a frozen torchvision backbone
(:mod:`keras_perceptual.torchvision_backbones`) and per-channel weights fitted to
human judgements. The networks are plain Python objects held outside Keras' attribute
tracking, so ``model.save()`` never writes the backbone's weights into a checkpoint
(a loss is rebuilt from its config, which names the weights), and one network is shared
by every loss, metric and function call with the same settings.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import ops

from keras_perceptual._checks import check_same_shape, check_value_range, static_image_shape
from keras_perceptual.backbones import check_image_size
from keras_perceptual.errors import KerasPerceptualError
from keras_perceptual.losses.base import ImageLoss, restored_without_weights
from keras_perceptual.ops import COMPUTE_DTYPE, as_float_tensor, to_unit_range
from keras_perceptual.torchvision_backbones import WEIGHTS_EXPECTED
from keras_perceptual.weights import check_weights_argument


def weights_key(weights) -> tuple:
    """A hashable cache key for a ``weights`` argument (a file also by size and mtime)."""
    weights = check_weights_argument(weights, WEIGHTS_EXPECTED)
    if weights is not None and weights != "imagenet":
        path = Path(weights).expanduser()
        if path.is_file():
            stat = path.stat()
            return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return (weights,)


def _outside_traces():
    """A context in which a network is built with concrete weights even when the first call
    comes from inside a traced function: under JAX, ``jax.jit`` would otherwise leave its
    tracers in the cached network's variables (every later call then fails with
    ``UnexpectedTracerError``). TensorFlow lifts variable creation out of ``tf.function``
    by itself."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.ensure_compile_time_eval()
    return contextlib.nullcontext()


def cached(builder):
    """Caches ``builder(*settings, weights=...)`` on its settings and :func:`weights_key`,
    built outside any trace (:func:`_outside_traces`)."""

    @functools.lru_cache(maxsize=8)
    def memo(settings, key, weights):
        with _outside_traces():
            return builder(*settings, weights=weights)

    @functools.wraps(builder)
    def get(*settings, weights):
        weights = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        return memo(settings, weights_key(weights), weights)

    get.cache_clear = memo.cache_clear
    return get


def check_image_pair(y_true, y_pred, minimum: int, what: str) -> tuple:
    """``(y_true, y_pred)`` once checked to be RGB batches of one shape, >= ``minimum`` px.

    Static shapes are checked at once; sizes that are ``None`` when a TensorFlow graph is
    traced are checked when it runs (a batch of 1 would otherwise broadcast against a batch
    of 4), so use the returned pair.
    """
    static_image_shape(y_true, "y_true")
    static_image_shape(y_pred, "y_pred")
    y_true, y_pred = check_same_shape(
        y_true,
        y_pred,
        f"{what} compares images of the same shape; resize or crop one to the other. ",
    )
    y_pred = check_image_size(y_pred, "y_pred", minimum, [what])
    y_true = check_image_size(y_true, "y_true", minimum, [what])
    return y_true, y_pred


class LearnedMetricLoss(ImageLoss):
    """Base of :class:`LPIPSLoss` and :class:`DISTSLoss`: one frozen network, images in
    ``value_range``, ``y_true`` without gradient.

    Subclasses set ``self.network`` (an object with ``min_image_size``, ``label`` and
    ``distance(y_true, y_pred, joint=False, **options)`` taking images in [0, 1]) and
    ``self.distance_options``. ``joint=True`` (metrics, functions: no gradient) runs both
    images through the backbone as one batch: the same values, half the calls.
    """

    network = None
    distance_options: dict = {}
    #: Why the network's weights are missing (restored from a saved model on a machine
    #: without them); ``None`` when the loss holds its network.
    unavailable: KerasPerceptualError | None = None

    @classmethod
    def from_config(cls, config):
        """Rebuilds the loss from ``get_config()``, as ``keras.models.load_model`` does.

        Loading never fails because the weights (a path, or ``"imagenet"`` without
        internet) are missing on this machine: the loss is then restored with a random
        network, and its first use raises a
        :class:`~keras_perceptual.weights.WeightsUnavailableError` naming the weights and
        the fix (as :class:`~keras_perceptual.losses.PerceptualLoss` does).
        """
        try:
            return super().from_config(config)
        except KerasPerceptualError as error:
            if config.get("weights") is None:
                raise
            try:
                loss = super().from_config({**config, "weights": None})
            except KerasPerceptualError:
                raise error from None
            loss.weights_source = config["weights"]
            loss.unavailable = error
            return loss

    @property
    def min_image_size(self) -> int:
        """The smallest height and width (pixels) the network accepts (16 px for LPIPS's
        VGG, 31 px for its AlexNet)."""
        return self.network.min_image_size

    def call(self, y_true, y_pred):
        if self.unavailable is not None:
            raise restored_without_weights(self, self.unavailable, self.weights_source)
        y_true, y_pred = check_image_pair(
            y_true, y_pred, self.network.min_image_size, self.network.label
        )
        # The network takes float32 images (its constants are float32); the values are
        # returned in the loss dtype (dtype=float64, float16, ... as for every loss).
        y_true, y_pred = ops.cast(y_true, COMPUTE_DTYPE), ops.cast(y_pred, COMPUTE_DTYPE)
        unit_true = ops.stop_gradient(to_unit_range(y_true, self.value_range))
        unit_pred = to_unit_range(y_pred, self.value_range)
        values = self.network.distance(unit_true, unit_pred, **self.distance_options)
        return ops.cast(values, self.dtype)


def backbone_pair(backbone_features, y_true, y_pred, joint: bool):
    """``backbone_features`` of both images: one batch when ``joint``, else two calls.

    Two calls suit training (the backward pass then runs through ``y_pred``'s half only);
    one batch halves the calls where no gradient is taken.
    """
    if not joint:
        return backbone_features(y_true), backbone_features(y_pred)
    both = backbone_features(ops.concatenate([y_true, y_pred], axis=0))
    batch = ops.shape(y_true)[0]
    return [f[:batch] for f in both], [f[batch:] for f in both]


def pair_function(network, y_true, y_pred, value_range: Sequence[float], **options):
    """Evaluates ``network.distance`` on a pair given as arrays or tensors in ``value_range``.

    Accepts one image ``(H, W, 3)`` each (returns a scalar) or batches ``(B, H, W, 3)``.
    """
    value_range = check_value_range(value_range)
    y_true = as_float_tensor(y_true, "y_true", value_range=value_range)
    y_pred = as_float_tensor(y_pred, "y_pred", value_range=value_range)
    single = len(y_true.shape) == 3 and len(y_pred.shape) == 3
    if single:
        y_true, y_pred = y_true[None], y_pred[None]
    y_true, y_pred = check_image_pair(y_true, y_pred, network.min_image_size, network.label)
    values = network.distance(
        to_unit_range(y_true, value_range), to_unit_range(y_pred, value_range), joint=True,
        **options,
    )
    return values[0] if single else values


__all__ = ["LearnedMetricLoss", "backbone_pair", "cached", "check_image_pair", "pair_function", "weights_key"]
