"""Temporal losses: stable, flicker-free outputs for video (``keras.ops`` only).

A feed-forward style-transfer network applied to a video frame by frame flickers:
small changes between frames (noise, a camera moving by a fraction of a pixel)
change the stylized texture a lot. Two published training-time terms fix this, both
comparing the outputs for two related inputs in pixel space, with no extra pass
through the loss network:

* the temporal loss of Ruder, Dosovitskiy & Brox (GCPR 2016, "Artistic style transfer
  for videos", Eq. 7) and Huang et al. (CVPR 2017, "Real-Time Neural Style Transfer for
  Videos", Eq. 4): the output for frame ``t`` should equal the output for frame
  ``t - 1`` warped by the optical flow, wherever the point was visible (not occluded):

      ``l_temporal = sum_p c(p) * mean_k (y_t(p)_k - warp(y_{t-1}, flow)(p)_k)^2 / sum_p c(p)``

  with ``c`` the visibility mask (1 visible, 0 occluded), ``k`` the colour channels, the
  images rescaled from ``value_range`` to [0, 1]. Ruder et al. and Huang et al. divide by
  the pixel count ``H W C`` instead of the visible count; with masks that are nearly all
  ones the difference is a constant factor close to 1, and dividing by the visible count
  makes the loss equal to the warping error of
  :func:`~keras_perceptual.metrics.temporal_warping_error` (Lai et al., ECCV 2018).

* the stability loss of Gupta, Johnson, Alahi & Fei-Fei (ICCV 2017, "Characterizing and
  Improving Stability in Neural Style Transfer", Section 4): the outputs for an image
  and for a slightly perturbed copy (Gaussian noise) should be equal. Here the
  perturbation may also move the image by a sub-pixel shift, zoom and rotation, and the
  outputs should then differ only as the inputs do, which is the same formula with the
  flow of that motion.

:class:`TemporalLoss` is that formula as a Keras loss; :class:`TemporalConsistency`
makes the second input on the fly (:class:`~keras_perceptual.motion.RandomCameraMotion`:
``motion="stability"`` for Gupta et al.'s perturbation, ``"camera"`` for a synthetic
camera motion with its exact flow and occlusion mask) and adds the term inside
``fit``, so training needs no video, no optical-flow network and no change to the data
pipeline or to the style loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_perceptual._checks import (
    check_float_dtype,
    check_non_negative_values,
    check_numeric_dtype,
    check_same_shape,
    check_seed,
    check_value_range,
    check_weight,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import ImageLoss
from keras_perceptual.motion import MOTION_PRESETS, RandomCameraMotion, warp
from keras_perceptual.ops import as_float_tensor, keep_nan, to_unit_range

#: Default weight of :class:`TemporalConsistency` (see its docstring for the calibration).
DEFAULT_TEMPORAL_WEIGHT = 1.0


# --------------------------------------------------------------------------
# The formula.
# --------------------------------------------------------------------------


def _check_mask(mask, current):
    check_numeric_dtype(mask, "mask")
    check_non_negative_values(
        mask,
        "mask",
        "mask must hold visibility weights >= 0, one per pixel: 1 where the point was visible, "
        "0 where it was occluded. ",
    )
    mask = ops.convert_to_tensor(mask)
    if "float" not in str(mask.dtype):
        mask = ops.cast(mask, "float32")
    if len(mask.shape) == len(current.shape):
        if mask.shape[-1] not in (1, None):
            raise InputError(
                "mask must be (batch, H, W) or (batch, H, W, 1): one weight per pixel, 1 where "
                f"the point was visible. Received: mask.shape={tuple(mask.shape)}"
            )
        mask = mask[..., 0]
    mask, _ = check_same_shape(
        mask,
        current,
        "mask must be (batch, H, W) or (batch, H, W, 1), one weight per pixel of the frames. ",
        names=("mask", "frames"),
        axes=(slice(None), slice(0, -1)),
    )
    return mask


def temporal_loss(current, previous, flow, mask=None, value_range: Sequence[float] = (0.0, 1.0)):
    """Per-image masked squared difference between ``current`` and ``previous`` warped by ``flow``.

    ``sum_p c(p) mean_k (current(p)_k - warp(previous, flow)(p)_k)^2 / sum_p c(p)`` on
    images rescaled from ``value_range`` to [0, 1] (Ruder et al. 2016, Eq. 7; Huang et
    al. 2017, Eq. 4, normalized by the visible pixel count; see the module docstring).
    An image whose mask is all zeros gives 0 (NaN if its frames hold a NaN); an image
    whose frames or flow hold a NaN gives NaN.

    Args:
        current: ``(batch, H, W, C)`` frames (or outputs) at time ``t``.
        previous: ``(batch, H, W, C)`` at time ``t - 1``.
        flow: ``(batch, H, W, 2)`` backward flow of ``current`` in pixels ``(dx, dy)``
            (:mod:`keras_perceptual.motion`); zeros for Gupta et al.'s noise-only stability.
        mask: ``(batch, H, W)`` or ``(batch, H, W, 1)`` visibility (1 visible, 0 occluded);
            ``None``: every pixel.
        value_range: ``(low, high)`` of the images.

    Returns:
        ``(batch,)`` float tensor.

    Raises:
        InputError: frames that are not floating-point rank-4 batches of one shape; a flow
            that is missing or not ``(batch, H, W, 2)`` with the frames' batch and size; a
            mask of another shape (shapes are checked when the graph runs where sizes are
            ``None`` when traced) or, where its values are known (eager calls and numpy
            arrays), with a negative weight; a bad ``value_range``.

    Example:
        >>> frames = np.random.rand(2, 16, 16, 3).astype("float32")
        >>> np.asarray(temporal_loss(frames, frames, np.zeros((2, 16, 16, 2), "float32"))).tolist()
        [0.0, 0.0]
    """
    value_range = check_value_range(value_range)
    check_float_dtype(current, "current", value_range)
    check_float_dtype(previous, "previous", value_range)
    current = ops.convert_to_tensor(current)
    previous = ops.cast(previous, current.dtype)  # the dtype of current, as flow's below
    message = "current and previous must be batches (batch, H, W, C) of the same shape. "
    if len(current.shape) != 4:
        raise InputError(
            f"{message}Received: current.shape={tuple(current.shape)}, "
            f"previous.shape={tuple(previous.shape)}"
        )
    current, previous = check_same_shape(current, previous, message, ("current", "previous"))
    current = to_unit_range(current, value_range)
    previous = to_unit_range(previous, value_range)
    if flow is None:
        raise InputError(
            "flow must be the backward flow of current, (batch, H, W, 2) in pixels; pass "
            "zeros for frames without motion (Gupta et al.'s stability loss). Received: flow=None"
        )
    flow = as_float_tensor(flow, "flow", dtype=current.dtype, floats_only=False)
    if len(flow.shape) != 4:
        raise InputError(
            "flow must be (batch, H, W, 2): one backward flow per pair of frames; repeat a "
            "single (H, W, 2) flow with np.repeat(flow[None], batch, axis=0). "
            f"Received: flow.shape={tuple(flow.shape)}, current.shape={tuple(current.shape)}"
        )
    warped = warp(previous, flow)  # NaN at the pixels of a NaN flow; the image's value is NaN below
    squared = ops.mean(ops.square(current - warped), axis=-1)
    if mask is None:
        return keep_nan(ops.mean(squared, axis=(1, 2)), flow, per_sample=True)
    mask = ops.cast(_check_mask(mask, current), squared.dtype)
    visible = ops.sum(mask, axis=(1, 2))
    numerator = ops.sum(mask * squared, axis=(1, 2))
    # 0 for a frame with nothing visible, but NaN frames stay NaN (divide_no_nan hides them).
    return keep_nan(ops.divide_no_nan(numerator, visible), numerator, visible, flow,
                    per_sample=True)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class TemporalLoss(ImageLoss):
    """The temporal loss of Ruder et al. (2016) / Huang et al. (2017) as a Keras loss.

    Per image, :func:`temporal_loss` of ``y_pred`` (the output for frame ``t``) against
    the output for frame ``t - 1`` warped by the flow, outside occlusions. ``y_true`` is
    the tuple ``(previous, flow, mask)``: the previous output ``(batch, H, W, C)``, the
    backward flow ``(batch, H, W, 2)`` and the mask ``(batch, H, W)`` (or ``None``
    for every pixel). With a zero flow it is the stability loss of Gupta et al. (2017).
    To train with it inside ``fit`` without any video, use :class:`TemporalConsistency`.

    Args:
        value_range: ``(low, high)`` of the images (they are rescaled to [0, 1]).
        reduction: as in ``keras.losses.Loss``; ``None`` gives one value per image.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).

    Returns:
        The reduced loss (a scalar), or ``(batch,)`` values with ``reduction=None``.

    Raises:
        InputError: integer images, ``y_true`` not a ``(previous, flow, mask)`` tuple,
            mismatched shapes.

    Example:
        >>> from keras_perceptual.motion import camera_motion_pair
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> photo = np.random.rand(48, 48, 3).astype("float32")
        >>> first, second, flow, mask = camera_motion_pair(photo, 32, shift=(2.0, 1.0))
        >>> loss = TemporalLoss()
        >>> value = loss((net(first[None]), flow[None], mask[None]), net(second[None]))
        >>> tuple(value.shape)
        ()
    """

    _y_true_is_image = False

    def __init__(
        self,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "temporal_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not isinstance(y_true, (tuple, list)) or len(y_true) != 3:
            raise InputError(
                "TemporalLoss takes y_true=(previous, flow, mask): the previous output, its "
                "backward flow (batch, H, W, 2) and the visibility mask (batch, H, W) or None. "
                f"Received: y_true of type {type(y_true).__name__}"
            )
        previous, flow, mask = y_true
        check_float_dtype(previous, "y_true[0] (previous)", self.value_range)
        if mask is None:
            mask = ops.ones(tuple(ops.shape(flow))[:-1], dtype="float32")
        return super().__call__((previous, flow, mask), y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        previous, flow, mask = y_true
        return temporal_loss(y_pred, previous, flow, mask, self.value_range)


# --------------------------------------------------------------------------
# Training inside fit.
# --------------------------------------------------------------------------


def _motion_layer(motion: Any, value_range, seed) -> RandomCameraMotion:
    if isinstance(motion, RandomCameraMotion):
        return motion
    if isinstance(motion, str) and motion in MOTION_PRESETS:
        return RandomCameraMotion(preset=motion, value_range=value_range, seed=seed)
    valid = ", ".join(repr(k) for k in MOTION_PRESETS)
    raise InputError(
        f"motion must be one of {valid} or a keras_perceptual.motion.RandomCameraMotion layer. "
        f"Received: motion={motion!r}"
    )


@keras.saving.register_keras_serializable(package="keras_perceptual")
class TemporalConsistency(keras.layers.Layer):
    """Wraps an image network; in training, adds its temporal loss to the model's losses.

    Called on a batch of images ``x``, it returns ``network(x)`` unchanged, so the
    compiled loss (e.g. :class:`~keras_perceptual.losses.PerceptualLoss` with its style
    target and Gram matrices) sees exactly what it saw before. In training it also
    moves ``x`` by a random motion (``motion``, :class:`~keras_perceptual.motion.RandomCameraMotion`),
    runs the network on the moved copy ``x'`` (in the same call as ``x``) and adds
    ``weight * mean(temporal_loss(network(x'), network(x), flow, mask))`` with
    ``add_loss``: the output for ``x'`` must equal the output for ``x`` moved the same
    way, outside the border that came into view. ``motion="stability"`` is the
    stability loss of Gupta et al. (2017) (noise and sub-pixel motion);
    ``motion="camera"`` the flow-based temporal loss of Ruder et al. (2016) / Huang et
    al. (2017) on synthetic camera motion. Costs one more forward and backward pass of
    the network (not of the loss network) per step.

    Weight. The term is a mean squared difference of [0, 1] images: a style-transfer
    network trained for a few hundred steps scores about 3e-3 on a random "stability" or
    "camera" motion of a 128 px photo, while
    :class:`~keras_perceptual.losses.PerceptualLoss`'s total with its default weights is
    about 1e3 per image there (measured with the ``"hed_bsds500"`` loss network), so the
    term starts to matter at weights of order 1e4 and is about 30% of the loss at 1e5
    (``benchmarks/bench_video.py``: 3.5x less flicker at +6% style loss with 3e4, 8.8x at
    +12% with 1e5). The default
    (``DEFAULT_TEMPORAL_WEIGHT``, 1.0) is mild and not calibrated: measure the trade-off
    between warping error and style loss for your style and loss weights with
    ``benchmarks/bench_video.py --part temporal --weight W [W ...]``.

    Args:
        network: the image-to-image ``keras.Model`` being trained (its weights are shared,
            not copied; save ``network`` itself after training).
        weight: weight of the temporal term (>= 0; 0 switches it off).
        motion: ``"stability"``, ``"camera"`` (keys of
            :data:`~keras_perceptual.motion.MOTION_PRESETS`) or a ``RandomCameraMotion``.
        value_range: ``(low, high)`` of the images.
        seed: seed of the random motion, an integer in [0, 2**31) (``None``: unseeded).
        **kwargs: ``keras.layers.Layer`` arguments (``name``).

    Call arguments:
        images: ``(batch, H, W, 3)`` in ``value_range``.
        training: the temporal term is added only in training.

    Returns:
        ``network(images)``.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> inputs = keras.Input((None, None, 3))
        >>> trainer = keras.Model(inputs, TemporalConsistency(net, weight=3e4)(inputs))
        >>> trainer.compile("adam", loss=PerceptualLoss(style_image="painting.jpg", weights=None))
        >>> photos = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> _ = trainer(photos, training=True)
        >>> len(trainer.losses)  # the temporal term, which fit adds to the compiled loss
        1
        >>> # trainer.fit(photos, photos, batch_size=4); then net.save("model.keras")
    """

    def __init__(
        self,
        network: keras.Model,
        weight: float = DEFAULT_TEMPORAL_WEIGHT,
        motion: str | RandomCameraMotion = "stability",
        value_range: Sequence[float] = (0.0, 1.0),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(network, keras.layers.Layer):
            raise InputError(
                "network must be a keras.Model (or layer) mapping images to images, e.g. "
                f"style_transfer_net(). Received: network={network!r:.80}"
            )
        self.network = network
        self.weight = check_weight(weight, "weight")
        self.value_range = check_value_range(value_range)
        # An int (numpy integers included) in [0, 2**31): the config stays JSON, and Keras'
        # random layers refuse a numpy integer.
        self.seed = None if seed is None else check_seed(seed, "seed")
        self.motion = _motion_layer(motion, self.value_range, self.seed)
        self.loss_fn = TemporalLoss(value_range=self.value_range, reduction=None)

    def build(self, input_shape):
        if not self.network.built:
            self.network.build(input_shape)
        self.built = True

    def call(self, images, training=None):
        if not training or self.weight == 0:
            return self.network(images, training=training)
        count = ops.shape(images)[0]
        moved, flow, mask = self.motion(images)
        outputs = self.network(ops.concatenate([images, ops.cast(moved, images.dtype)], axis=0),
                               training=training)
        first, second = outputs[:count], outputs[count:]
        values = temporal_loss(
            ops.cast(second, "float32"), ops.cast(first, "float32"), flow, mask, self.value_range
        )
        self.add_loss(self.weight * ops.mean(values))
        return first

    def compute_output_shape(self, input_shape):
        return self.network.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "network": keras.saving.serialize_keras_object(self.network),
                "weight": self.weight,
                "motion": keras.saving.serialize_keras_object(self.motion),
                "value_range": list(self.value_range),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        config["motion"] = keras.saving.deserialize_keras_object(config["motion"])
        return cls(**config)


__all__ = [
    "DEFAULT_TEMPORAL_WEIGHT",
    "TemporalConsistency",
    "TemporalLoss",
    "temporal_loss",
]
