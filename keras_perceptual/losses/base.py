"""The base class of every image loss in the package.

It adds to ``keras.losses.Loss`` what all image losses share:

* ``value_range=``: images are rescaled from it, so a weight means the same for
  every range;
* integer images are refused *before* Keras casts them to float (a ``uint8``
  image read as ``[0, 255]`` floats with ``value_range=(0, 1)`` would otherwise
  give a silently wrong number);
* computation in the loss dtype (float32 by default), also under a
  ``mixed_float16`` / ``mixed_bfloat16`` global policy: Keras converts both
  inputs to ``self.dtype`` before :meth:`call`;
* ``get_config`` starting from Keras' own.

Subclasses implement ``call(y_true, y_pred) -> (batch,)`` per-image values and
Keras applies ``sample_weight`` and ``reduction`` exactly as for its own losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_perceptual._checks import check_float_dtype, check_value_range


class ImageLoss(keras.losses.Loss):
    """A Keras loss over batches of channels-last images in ``value_range``.

    Args:
        value_range: ``(low, high)`` of the images.
        reduction: as in ``keras.losses.Loss``; ``None`` returns one value per image.
        name: loss name.
        dtype: computation dtype; ``None`` means ``keras.config.floatx()`` (float32).
    """

    #: Whether ``y_true`` holds images (adversarial losses take logits instead).
    _y_true_is_image = True

    def __init__(
        self,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.value_range = check_value_range(value_range)

    def __call__(self, y_true, y_pred, sample_weight=None):
        check_float_dtype(y_pred, "y_pred", self.value_range)
        if self._y_true_is_image:
            check_float_dtype(y_true, "y_true", self.value_range)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config["value_range"] = list(self.value_range)
        config["dtype"] = self._dtype_policy.name if self._dtype_policy else None
        return config
