"""The base classes of every loss in the package.

:class:`BaseLoss` adds to ``keras.losses.Loss`` what all the package's losses share:

* one entry conversion of the inputs (:func:`~keras_perceptual.ops.as_float_tensor`):
  numpy arrays, lists, ``tf.Tensor``, ``tf.Variable``, ``keras.Variable`` and JAX
  arrays, in float16, bfloat16, float32 or float64, all become tensors in the loss
  dtype before :meth:`call`, so no loss needs to handle input types itself (Keras
  alone would pass variables through unchanged, and some ``keras.ops`` fail on them);
* computation in the loss dtype (float32 by default), also under a
  ``mixed_float16`` / ``mixed_bfloat16`` global policy; ``dtype=`` takes any floating-point
  dtype or policy and refuses others (the losses on a network compare its features in
  float32 and return their values in the loss dtype);
* ``get_config`` recording the dtype.

:class:`ImageLoss` adds ``value_range=`` (images are rescaled from it, so a weight
means the same for every range) and refuses integer images *before* any cast (a
``uint8`` image read as ``[0, 255]`` floats with ``value_range=(0, 1)`` would give a
silently wrong number).

Subclasses implement ``call(y_true, y_pred) -> (batch,)`` per-sample values and
Keras applies ``sample_weight`` and ``reduction`` exactly as for its own losses. An empty
batch (known to be empty when traced) gives ``(0,)`` values with ``reduction=None`` and 0.0
reduced, as Keras' image losses do; the losses on a network do not run it then
(:func:`~keras_perceptual.backbones.backbone_outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import keras
from keras import ops

from keras_perceptual._checks import (
    check_float_policy,
    check_same_shape,
    check_sample_weight,
    check_value_range,
    per_sample_weight,
    static_image_shape,
)
from keras_perceptual.errors import InputError
from keras_perceptual.ops import as_float_tensor
from keras_perceptual.weights import WeightsUnavailableError


class BaseLoss(keras.losses.Loss):
    """A Keras loss whose inputs are converted once, at its entry.

    Args:
        reduction: as in ``keras.losses.Loss``; ``None`` returns one value per sample.
        name: loss name; ``None`` means the class's ``DEFAULT_NAME`` (where it has none,
            Keras' name from the class name).
        dtype: computation dtype (a floating-point dtype or a mixed policy, whose compute
            dtype is used); ``None`` means ``keras.config.floatx()`` (float32). The value is
            returned in it: in float16 a value above 65504 (a style term often is) is
            ``inf``, so keep float32 for losses on a network.

    Raises:
        InputError: a ``dtype`` that is not floating-point (e.g. ``"int32"``), or an
            unknown ``reduction``.
    """

    #: The loss's own constructor arguments, stored as attributes of the same names:
    #: :meth:`options` gives them to its function and ``get_config`` records them.
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: The name of a loss built with ``name=None``, for subclasses sharing one constructor.
    DEFAULT_NAME: ClassVar[str | None] = None
    #: The smallest height and width (pixels) of the images the loss accepts; losses on a
    #: backbone override it with what their deepest layer needs. Read by the training
    #: recipes to refuse crops that are too small before anything is trained.
    min_image_size: int = 1

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        check_float_policy(dtype, type(self).__name__)
        name = self.DEFAULT_NAME if name is None else name
        try:
            super().__init__(name=name, reduction=reduction, dtype=dtype)
        except ValueError:  # Keras' check of reduction (dtype is checked above)
            raise InputError(
                "reduction must be one of Keras' reductions: 'sum_over_batch_size' (the "
                "default, the mean over the batch), 'sum', 'mean', or None / 'none' for one "
                f"value per sample; pass one of them. Received: reduction={reduction!r}"
            ) from None

    def options(self) -> dict[str, Any]:
        """``{name: value}`` of the arguments named in ``OPTIONS`` (as stored)."""
        return {name: getattr(self, name) for name in self.OPTIONS}

    def convert_inputs(self, y_true, y_pred):
        """``(y_true, y_pred)`` as tensors in the loss dtype (``y_true`` may be ``None``).

        Inputs of any numeric dtype are accepted (labels, logits, probabilities);
        :class:`ImageLoss` refuses non-float images instead.
        """
        y_pred = as_float_tensor(y_pred, "y_pred", self.dtype, floats_only=False)
        return self._convert_structure(y_true, "y_true"), y_pred

    def _convert_structure(self, value, name: str):
        """Every tensor of a (possibly nested, e.g. ``(previous, flow, mask)``) argument."""
        return keras.tree.map_structure(
            lambda x: (
                None if x is None else as_float_tensor(x, name, self.dtype, floats_only=False)
            ),
            value,
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.convert_inputs(y_true, y_pred)
        if sample_weight is not None:
            sample_weight = self.check_sample_weight(sample_weight, y_pred)
        result = super().__call__(y_true, y_pred, sample_weight=sample_weight)
        if self.reduction not in (None, "none") and tuple(result.shape) == (0,):
            # Keras' reduction passes (0,) values of an empty batch through unreduced; a
            # reduced loss is one number: 0.0, as Keras' image losses give.
            result = ops.sum(result)
        return result

    #: The rank of the values :meth:`call` returns (1: ``(batch,)``, one per sample), whose
    #: ``sample_weight`` may only add axes of size 1; ``None``: not fixed (not checked).
    values_rank: int | None = None

    def check_sample_weight(self, sample_weight, y_pred):
        """``sample_weight`` as a tensor, if it is a scalar or holds one weight per sample
        (:func:`keras_perceptual._checks.check_sample_weight`, the rule the metrics share).

        Raises:
            InputError: a ``sample_weight`` of another length or shape.
        """
        weight = check_sample_weight(sample_weight, y_pred, self.values_rank)
        # Shaped as the values (Keras weights (batch,) values by a (batch, 1, 1) weight
        # crosswise, every value by every weight).
        return per_sample_weight(weight, self.values_rank)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self._dtype_policy.name if self._dtype_policy else None
        config.update(self.options())
        return config


class ImageLoss(BaseLoss):
    """A Keras loss over batches of channels-last images in ``value_range``.

    Args:
        value_range: ``(low, high)`` of the images.
        reduction: as in ``keras.losses.Loss``; ``None`` returns one value per image.
        name: loss name.
        dtype: computation dtype; ``None`` means ``keras.config.floatx()`` (float32).
    """

    #: Whether ``y_true`` holds images (the TV loss ignores it).
    _y_true_is_image = True
    #: One value per image, ``(batch,)`` (``LPIPSLoss(spatial=True)``: ``(batch, H, W)``).
    values_rank: int | None = 1

    def __init__(
        self,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.value_range = check_value_range(value_range)

    def convert_inputs(self, y_true, y_pred):
        y_pred = as_float_tensor(y_pred, "y_pred", self.dtype, self.value_range)
        if self._y_true_is_image:
            y_true = as_float_tensor(y_true, "y_true", self.dtype, self.value_range)
        elif y_true is None:
            y_true = y_pred
        else:
            y_true = self._convert_structure(y_true, "y_true")
        return y_true, y_pred

    def get_config(self):
        config = super().get_config()
        config["value_range"] = list(self.value_range)
        return config


def restored_without_weights(
    loss: Any, error: Exception, weights: Any, compile_argument: str = "loss"
):
    """The error a loss restored without its network's weights raises at its first use.

    ``keras.models.load_model`` rebuilds a loss from its config; where the weights it
    names (a path, or ``"imagenet"`` offline) are missing, the loss is restored without
    them (loading a trained network must not fail because of its loss) and every use
    raises this error, which says what is missing and how to fix it. The learned metrics
    (:class:`~keras_perceptual.metrics.LPIPS`, ``DISTS``) follow the same rule.

    Args:
        loss: the restored loss (or metric).
        error: why its weights could not be obtained.
        weights: the weights its config names.
        compile_argument: the ``compile`` argument it was given as: ``"loss"`` or
            ``"metrics"``.

    Returns:
        A :class:`~keras_perceptual.weights.WeightsUnavailableError` caused by ``error``.

    Example:
        >>> error = FileNotFoundError("no file vgg16.h5")
        >>> type(restored_without_weights(keras.losses.MeanSquaredError(), error, "vgg16.h5"))
        <class 'keras_perceptual.weights.WeightsUnavailableError'>
    """
    name = type(loss).__name__
    reason = str(error).split(" Received:")[0].rstrip(".; ")
    if compile_argument == "metrics":
        # Random weights would give meaningless values: no weights=None for a metric.
        what, example = "metric", f"metrics=[{name}(..., weights=a local weights file)]"
    else:
        what, example = "loss", f"loss={name}(..., weights=None or a local weights file)"
    result = WeightsUnavailableError(
        f"This {name} was restored from a saved model, but its network's weights are not "
        f"available on this machine ({reason}); to train or evaluate, recompile the model "
        f"with a {what} this machine can build, e.g. model.compile(optimizer, {example}), "
        f"or put the file back (predicting needs no {what}). Received: weights={weights!r}"
    )
    result.__cause__ = error
    return result


def check_image_pair(
    y_true,
    y_pred,
    channels: int | None = None,
    names: tuple[str, str] = ("y_true", "y_pred"),
    message: str = "y_true and y_pred must have the same shape; resize or crop one to match. ",
    value_range=None,
):
    """Both as float32 tensors (integer inputs refused), once checked to be rank-4
    channels-last batches of the same shape (static, else when the graph runs): the pair rule
    of the pure functions on images (pixel losses) and on features (perceptual, AdaIN).

    Args:
        y_true, y_pred: the two inputs.
        channels: the channel count both must have; ``None``: any.
        names: how the two are named in errors.
        message: the same-shape rule and its fix, ending with a space.
        value_range: the images' ``(low, high)``, quoted in the dtype message.

    Returns:
        ``(y_true, y_pred)`` as float32 tensors.

    Raises:
        InputError: not floating-point, not rank 4, another channel count, or two shapes.
    """
    y_true = as_float_tensor(y_true, names[0], value_range=value_range)
    y_pred = as_float_tensor(y_pred, names[1], value_range=value_range)
    static_image_shape(y_true, names[0], channels)
    static_image_shape(y_pred, names[1], channels)
    return check_same_shape(y_true, y_pred, message, names)
