"""Image-quality metrics: PSNR and SSIM per image (Keras metrics), video flicker (``keras.ops`` only).

Both compare images on a common scale: they are first rescaled from
``value_range`` to [0, 1], so ``max_val`` is always 1 and a number means the same
for every ``value_range``.

* PSNR (peak signal-to-noise ratio), per image:
  ``PSNR = 10 log10(1 / MSE)`` with ``MSE`` the mean of the squared difference over
  height, width and channels of *that image*. This is what ``tensorflow.image.psnr``
  computes. ``keras.ops.psnr`` is not used because it reduces over the whole
  batch (one MSE for all images), which makes the metric depend on how images are
  batched. Identical images (``MSE = 0``) give ``max_db`` (default 100 dB) instead
  of ``inf``, so one perfect image cannot turn the running mean into ``inf``;
  ``max_db=None`` keeps ``inf``.
* SSIM (structural similarity; Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004),
  per image: ``keras.ops.image.ssim`` with its defaults (11 x 11 Gaussian window,
  sigma 1.5, ``k1=0.01``, ``k2=0.03``, valid windows only), the mean over the SSIM
  map and the channels; the same definition as ``tensorflow.image.ssim``.
* Temporal warping error (:func:`temporal_warping_error`, Lai et al. 2018): the flicker of
  a video, the masked mean squared difference between each frame and the previous one
  warped by the ground-truth flow.

The usual super-resolution evaluation protocol (Dong et al., SRCNN, 2014, followed
by most SR papers) measures only the luma channel and ignores a border of
``scale`` pixels: pass ``y_channel=True, crop_border=scale``. ``y_channel`` uses the
ITU-R BT.601 studio-swing luma of MATLAB's ``rgb2ycbcr``:
``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` for RGB in [0, 1].

The Keras metrics (:class:`PSNR`, :class:`SSIM`) report the mean over all images
seen since the last reset (weighted by ``sample_weight`` when given: a scalar or one
weight per image, finite and >= 0; unlike Keras' own metrics, a negative or NaN weight is
refused, since a mean weighted by it means nothing, wherever its value is known, i.e. in an
eager ``update_state``; inside ``fit``/``evaluate`` steps only its shape is checked) and are
registered, so ``model.compile(metrics=[PSNR(), SSIM()])`` survives
``model.save()`` / ``keras.models.load_model()``.
Their ``dtype`` is the result's: floating-point, float32 by default (an integer dtype is
refused); under a 16-bit one (``"float16"``, ``"bfloat16"``) the state (running total and
count) stays float32, where it would overflow past 65504 or stop counting at 2048 images.

Reference: Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style
Transfer and Super-Resolution", ECCV 2016, Section 4.2 (super-resolution results
are reported in PSNR and SSIM).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Sequence

import keras
from keras import ops

from keras_perceptual._checks import (
    as_number,
    check_channels,
    check_flag,
    check_float_dtype,
    check_float_policy,
    check_keywords,
    check_positive_float,
    check_positive_int,
    check_same_shape,
    check_sample_weight,
    check_value_range,
    checked_at_run_time,
    per_sample_weight,
    shapes_agree,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import restored_without_weights
from keras_perceptual.losses.dists import DISTSLoss
from keras_perceptual.losses.lpips import LPIPSLoss
from keras_perceptual.losses.temporal import temporal_loss
from keras_perceptual.ops import as_float_tensor, to_unit_range

#: Default cap of :func:`psnr` for identical images (an MSE of 1e-10 on [0, 1]).
DEFAULT_MAX_DB = 100.0

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing) for RGB in [0, 1].
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_OFFSET = 16.0 / 255.0


# --------------------------------------------------------------------------
# Checks and preparation shared by both metrics.
# --------------------------------------------------------------------------


def _check_max_db(max_db) -> float | None:
    if max_db is None:
        return None
    value = as_number(max_db)
    if not value > 0 or value == float("inf"):
        raise InputError(
            "max_db must be a finite number of decibels > 0 (the PSNR reported for identical "
            f"images, e.g. 100.0) or None to report inf. Received: max_db={max_db!r}"
        )
    return value


def _check_crop_border(crop_border) -> int:
    return check_positive_int(crop_border, "crop_border", minimum=0)


def _check_filter_size(filter_size) -> int:
    """The SSIM window side: a positive odd integer."""
    filter_size = check_positive_int(filter_size, "filter_size")
    if filter_size % 2 == 0:
        raise InputError(
            f"filter_size must be odd (the window needs a centre pixel), e.g. 11 or 7. "
            f"Received: filter_size={filter_size}"
        )
    return filter_size


def _prepare(y_true, y_pred, value_range, y_channel: bool, crop_border: int, name: str):
    """Validates the pair and returns float32 rank-4 images in [0, 1] and whether to squeeze."""
    y_channel = check_flag(y_channel, "y_channel")
    y_true = as_float_tensor(y_true, "y_true", value_range=value_range)
    y_pred = as_float_tensor(y_pred, "y_pred", value_range=value_range)
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(true_shape) not in (3, 4) or len(pred_shape) != len(true_shape):
        raise InputError(
            f"{name} expects two images (height, width, channels) or two batches (batch, "
            "height, width, channels) of the same rank, channels-last. "
            f"Received: y_true.shape={true_shape}, y_pred.shape={pred_shape}"
        )
    y_true, y_pred = check_same_shape(
        y_true,
        y_pred,
        f"{name} needs y_true and y_pred of the same shape; resize or crop one to the "
        "other (a x4 super-resolution output is 4 times the low-resolution input). ",
    )
    squeeze = len(true_shape) == 3
    if squeeze:
        y_true = ops.expand_dims(y_true, 0)
        y_pred = ops.expand_dims(y_pred, 0)
    y_true = to_unit_range(y_true, value_range)
    y_pred = to_unit_range(y_pred, value_range)
    if crop_border:
        height, width = y_true.shape[1], y_true.shape[2]
        if (height is not None and height <= 2 * crop_border) or (
            width is not None and width <= 2 * crop_border
        ):
            raise InputError(
                f"crop_border={crop_border} removes the whole {height}x{width} image; use a "
                f"border smaller than half the image side. Received: crop_border={crop_border}"
            )
        if height is None or width is None:  # else an empty crop: a NaN value, silently
            y_true, y_pred = checked_at_run_time(
                (y_true, y_pred),
                lambda t, p: ops.min(t[1:3]) > 2 * crop_border,
                f"crop_border={crop_border} removes the whole image; use a border smaller than "
                f"half the image side. Received: crop_border={crop_border}, y_true.shape=",
            )
        y_true = y_true[:, crop_border:-crop_border, crop_border:-crop_border, :]
        y_pred = y_pred[:, crop_border:-crop_border, crop_border:-crop_border, :]
    if y_channel:
        channels = y_true.shape[-1]
        if channels is not None and channels != 3:
            raise InputError(
                f"y_channel=True needs RGB images (3 channels) to compute the luma; pass "
                f"y_channel=False for other images. Received: y_true.shape={true_shape}"
            )
        y_true = rgb_to_y(y_true)
        y_pred = rgb_to_y(y_pred)
    return y_true, y_pred, squeeze


def rgb_to_y(images):
    """BT.601 studio-swing luma (MATLAB ``rgb2ycbcr``) of RGB images in [0, 1].

    Args:
        images: channels-last floating-point RGB ``(..., 3)`` with values in [0, 1].

    Returns:
        A tensor of the images' dtype with one channel, values in [16/255, 235/255].

    Raises:
        InputError: integer images (convert to [0, 1] floats first), or a last axis
            other than 3 channels.

    Example:
        >>> float(rgb_to_y(np.ones((1, 1, 3), "float32"))[0, 0, 0]) * 255  # ~235
        235.0
    """
    if not hasattr(images, "dtype"):
        images = as_float_tensor(images, "images", value_range=(0.0, 1.0))
    check_float_dtype(images, "images", (0.0, 1.0))
    check_channels(images, "images")
    weights = ops.convert_to_tensor(_Y_WEIGHTS, dtype=images.dtype)
    return ops.sum(images * weights, axis=-1, keepdims=True) + _Y_OFFSET


# --------------------------------------------------------------------------
# Pure functions: one value per image.
# --------------------------------------------------------------------------


def psnr(
    y_true,
    y_pred,
    value_range: Sequence[float] = (0.0, 1.0),
    max_db: float | None = DEFAULT_MAX_DB,
    y_channel: bool = False,
    crop_border: int = 0,
):
    """Peak signal-to-noise ratio in dB, one value per image.

    ``PSNR = 10 log10(1 / MSE)``, the MSE taken per image over height, width and
    channels of the images rescaled from ``value_range`` to [0, 1] (so
    ``max_val = 1``). Equal to ``tensorflow.image.psnr(..., max_val=1.0)`` on the rescaled
    images, except that identical images give ``max_db`` instead of ``inf``.

    Args:
        y_true: reference image ``(H, W, C)`` or batch ``(B, H, W, C)``, float, in
            ``value_range``.
        y_pred: image(s) of the same shape.
        value_range: ``(low, high)`` of both images.
        max_db: the value for an MSE of 0 (the MSE is floored at
            ``10 ** (-max_db / 10)``); ``None`` returns ``inf`` there.
        y_channel: compare only the BT.601 luma (the usual SR protocol).
        crop_border: pixels ignored on each side (the usual SR protocol uses ``scale``).

    Returns:
        ``(B,)`` float32 tensor, or a scalar for unbatched images.

    Example:
        >>> a = np.zeros((1, 8, 8, 3), "float32"); b = a + 0.1
        >>> float(psnr(a, b)[0])  # 10 log10(1 / 0.01)
        20.0
    """
    value_range = check_value_range(value_range)
    max_db = _check_max_db(max_db)
    crop_border = _check_crop_border(crop_border)
    y_true, y_pred, squeeze = _prepare(y_true, y_pred, value_range, y_channel, crop_border, "psnr")
    mse = ops.mean(ops.square(y_pred - y_true), axis=(1, 2, 3))
    if max_db is not None:
        mse = ops.maximum(mse, 10.0 ** (-max_db / 10.0))
    values = -10.0 * ops.log10(mse)
    return values[0] if squeeze else values


def ssim(
    y_true,
    y_pred,
    value_range: Sequence[float] = (0.0, 1.0),
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    y_channel: bool = False,
    crop_border: int = 0,
):
    """Structural similarity (Wang et al. 2004), one value per image.

    ``keras.ops.image.ssim`` on the images rescaled from ``value_range`` to [0, 1]
    (``max_val=1``): a Gaussian window of ``filter_size`` x ``filter_size`` pixels and
    standard deviation ``filter_sigma``, windows fully inside the image only,
    averaged over the SSIM map and the channels; the definition of
    ``tensorflow.image.ssim``. Images must be at least ``filter_size`` pixels on each side
    (after ``crop_border``).

    Args:
        y_true: reference image ``(H, W, C)`` or batch ``(B, H, W, C)``, float, in
            ``value_range``.
        y_pred: image(s) of the same shape.
        value_range: ``(low, high)`` of both images.
        filter_size: side of the Gaussian window (odd).
        filter_sigma: standard deviation of the window, in pixels.
        k1, k2: the stabilizing constants of Wang et al.
        y_channel: compare only the BT.601 luma (the usual SR protocol).
        crop_border: pixels ignored on each side (the usual SR protocol uses ``scale``).

    Returns:
        ``(B,)`` float32 tensor with values in [-1, 1] (1 for identical images), or a
        scalar for unbatched images.

    Example:
        >>> a = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> np.round(np.asarray(ssim(a, a)), 4)
        array([1., 1.], dtype=float32)
    """
    value_range = check_value_range(value_range)
    filter_size = _check_filter_size(filter_size)
    filter_sigma = check_positive_float(filter_sigma, "filter_sigma")
    k1, k2 = check_positive_float(k1, "k1"), check_positive_float(k2, "k2")
    crop_border = _check_crop_border(crop_border)
    y_true, y_pred, squeeze = _prepare(y_true, y_pred, value_range, y_channel, crop_border, "ssim")
    height, width = y_true.shape[1], y_true.shape[2]
    if (height is not None and height < filter_size) or (width is not None and width < filter_size):
        raise InputError(
            f"ssim needs images of at least filter_size={filter_size} pixels on each side "
            f"(after crop_border); pass a smaller odd filter_size or larger images. "
            f"Received: image size={height}x{width}"
        )
    if height is None or width is None:
        y_true, y_pred = checked_at_run_time(
            (y_true, y_pred),
            lambda t, p: ops.min(t[1:3]) >= filter_size,
            f"ssim needs images of at least filter_size={filter_size} pixels on each side "
            "(after crop_border); pass a smaller odd filter_size or larger images. "
            "Received: y_true.shape (after crop_border)=",
        )
    values = ops.image.ssim(
        y_true,
        y_pred,
        max_val=1.0,
        filter_size=filter_size,
        filter_sigma=filter_sigma,
        k1=k1,
        k2=k2,
        data_format="channels_last",
    )
    return values[0] if squeeze else values


def temporal_warping_error(frames, flows, masks=None, value_range: Sequence[float] = (0.0, 1.0)):
    """Flicker of a video: the mean warping error between consecutive frames.

    For each ``t >= 1``, the mean squared difference between frame ``t`` and frame
    ``t - 1`` warped onto it by the ground-truth backward flow, over the pixels visible
    in both (mask 1) and the channels, on frames rescaled from ``value_range`` to [0, 1]:

        ``E_warp = 1/(T-1) sum_t sum_p M_t(p) mean_k (V_t(p)_k - warp(V_{t-1}, F_t)(p)_k)^2 / sum_p M_t(p)``

    the warping error of Lai et al. (ECCV 2018, "Learning Blind Video Temporal
    Consistency", Eq. 10), with the mean over the three channels where Lai et al. sum
    them (multiply by 3 to compare with their tables); per pair it is
    :func:`~keras_perceptual.losses.temporal.temporal_loss`. Lower is steadier; a
    perfect stylization of a camera moving over a still scene scores about the
    interpolation error of the input frames themselves. Flows and masks of a synthetic
    clip come from :func:`keras_perceptual.motion.camera_clip`.

    Args:
        frames: ``(T, H, W, C)`` float frames (e.g. stylized outputs) in ``value_range``.
        flows: ``(T - 1, H, W, 2)``: ``flows[t - 1]`` is frame ``t``'s backward flow to frame
            ``t - 1`` in pixels ``(dx, dy)`` (:mod:`keras_perceptual.motion`).
        masks: ``(T - 1, H, W)`` (or ``(T - 1, H, W, 1)``) visibility, 1 where the point was
            visible in frame ``t - 1`` and not occluded; ``None``: every pixel.
        value_range: ``(low, high)`` of the frames.

    Returns:
        A float32 scalar tensor.

    Raises:
        InputError: fewer than two frames, integer frames or mismatched shapes.

    Example:
        >>> from keras_perceptual.motion import camera_clip, camera_path
        >>> photo = np.full((96, 96, 3), 0.5, "float32")  # a flat photo: no interpolation error
        >>> frames, flows, masks = camera_clip(photo, 64, camera_path(8))
        >>> round(float(temporal_warping_error(frames, flows, masks)), 6)
        0.0
    """
    value_range = check_value_range(value_range)
    frames = as_float_tensor(frames, "frames", value_range=value_range)
    flows = as_float_tensor(flows, "flows", floats_only=False)
    shape = tuple(frames.shape)
    if len(shape) != 4 or (shape[0] is not None and shape[0] < 2):
        raise InputError(
            "frames must be a clip (frames, height, width, channels) of at least two frames. "
            f"Received: frames.shape={shape}"
        )
    if shape[0] is None:  # else one frame and no flow: the mean of nothing, NaN
        frames, flows = checked_at_run_time(
            (frames, flows),
            lambda f, _: f[0] >= 2,
            "frames must be a clip (frames, height, width, channels) of at least two frames. "
            "Received: frames.shape, flows.shape=",
        )
    expected = (None if shape[0] is None else shape[0] - 1, shape[1], shape[2], 2)
    if not shapes_agree(tuple(flows.shape), expected):
        raise InputError(
            "flows must hold one backward flow per frame after the first: shape (frames - 1, "
            f"height, width, 2) = {expected}. Received: flows.shape={tuple(flows.shape)}, "
            f"frames.shape={shape}"
        )
    values = temporal_loss(frames[1:], frames[:-1], flows, masks, value_range)
    return ops.mean(values)


# --------------------------------------------------------------------------
# Keras metrics: the mean over all images seen.
# --------------------------------------------------------------------------


def _checked_weight(sample_weight, y_pred, batched: bool = True):
    """A metric's ``sample_weight``: one finite weight >= 0 per image (the losses' shape
    rule; negative and NaN values are refused where known, i.e. in eager calls)."""
    weight = check_sample_weight(sample_weight, y_pred, batched=batched, non_negative=True)
    # (batch,), as the values: Keras' Mean fails on a (batch, 1, 1) or (batch, 1, 1, 1) one.
    return per_sample_weight(weight, 1)


#: Dtypes in which a running total or count goes wrong: float16 overflows to inf past
#: 65504 (a PSNR total after about 1,600 images), bfloat16 stalls (its count stops at 2048).
_SHORT_FLOATS = ("float16", "bfloat16")


class _Float32State:
    """A mean metric whose running total and count stay float32 under a 16-bit ``dtype``.

    Keras keeps a metric's state in its ``dtype``: ``PSNR(dtype="float16")`` read ``inf``
    after about 1,600 images, and ``dtype="bfloat16"`` a wrong mean once its count stopped
    at 2048. The state is float32 here; :meth:`result` comes back in ``dtype`` as asked.
    """

    def _state_dtype(self, dtype):
        """``(dtype the Keras metric keeps its state in, dtype of the result or None)``."""
        compute = None if dtype is None else keras.dtype_policies.get(dtype).compute_dtype
        return ("float32", compute) if compute in _SHORT_FLOATS else (dtype, None)

    @property
    def result_dtype(self) -> str:
        """The dtype of :meth:`result` (the ``dtype`` given, or the state's)."""
        return self._result_dtype or self.dtype

    def result(self):
        value = super().result()
        return value if self._result_dtype is None else ops.cast(value, self._result_dtype)


class _ImageMetric(_Float32State, keras.metrics.MeanMetricWrapper):
    """A per-image function averaged over every image seen; refuses integer images."""

    def __init__(self, fn, name, dtype, value_range, **kwargs):
        check_float_policy(dtype, type(self).__name__)
        value_range = check_value_range(value_range)
        dtype, result_dtype = self._state_dtype(dtype)
        super().__init__(fn=fn, name=name, dtype=dtype, value_range=value_range, **kwargs)
        self._result_dtype = result_dtype
        self.value_range = value_range
        # Higher is better: ModelCheckpoint(monitor="val_psnr", mode="auto") maximizes it.
        self._direction = "up"

    def update_state(self, y_true, y_pred, sample_weight=None):
        # Converted before Keras' own cast: uint8 images read as floats would give wrong
        # numbers, and variables are read once here.
        y_true = as_float_tensor(y_true, "y_true", value_range=self.value_range)
        y_pred = as_float_tensor(y_pred, "y_pred", value_range=self.value_range)
        if sample_weight is not None and len(y_pred.shape) in (3, 4):  # else fn refuses y_pred
            sample_weight = _checked_weight(sample_weight, y_pred, batched=len(y_pred.shape) == 4)
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

    @property
    def min_image_size(self) -> int:
        """The smallest height and width (pixels) the metric accepts: SSIM's
        ``filter_size``, plus ``2 * crop_border`` (a PSNR without a border: 1)."""
        options = self._fn_kwargs
        return options.get("filter_size", 1) + 2 * options.get("crop_border", 0)

    def get_config(self):
        # Only the constructor's arguments (the wrapped function is fixed by the class).
        config = {"name": self.name, "dtype": self.result_dtype, **self._fn_kwargs}
        config["value_range"] = list(self.value_range)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


#: How a metric stores each option of its function (checked when the metric is built).
_OPTION_CHECKS: dict[str, Callable] = {
    "max_db": _check_max_db,
    "filter_size": _check_filter_size,
    "filter_sigma": functools.partial(check_positive_float, name="filter_sigma"),
    "k1": functools.partial(check_positive_float, name="k1"),
    "k2": functools.partial(check_positive_float, name="k2"),
    "y_channel": functools.partial(check_flag, name="y_channel"),
    "crop_border": _check_crop_border,
}


def _metric_constructor(fn: Callable, name: str) -> Callable:
    """The ``__init__`` of the metric averaging ``fn``: it takes ``fn``'s options (its
    parameters after ``y_true, y_pred``: the same order, defaults and annotations, written
    once, in ``fn``), then ``name`` (default ``name``) and ``dtype``. Python's rules and
    errors bind the arguments (an unknown keyword is refused naming the closest valid
    one); each option is checked (:data:`_OPTION_CHECKS`) and stored for ``fn`` (and
    ``get_config``)."""
    Parameter = inspect.Parameter
    options = list(inspect.signature(fn).parameters.values())[2:]
    signature = inspect.Signature([
        Parameter("self", Parameter.POSITIONAL_OR_KEYWORD),
        *options,
        Parameter("name", Parameter.POSITIONAL_OR_KEYWORD, default=name, annotation="str"),
        Parameter("dtype", Parameter.POSITIONAL_OR_KEYWORD, default=None),
    ])  # fmt: skip

    def __init__(*args, **kwargs):
        if args:
            check_keywords(kwargs, signature.parameters, f"{type(args[0]).__name__}.__init__")
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        values = dict(arguments.arguments)
        self, metric_name, dtype = values.pop("self"), values.pop("name"), values.pop("dtype")
        values = {k: _OPTION_CHECKS.get(k, lambda v: v)(v) for k, v in values.items()}
        _ImageMetric.__init__(self, fn, name=metric_name, dtype=dtype, **values)

    __init__.__signature__ = signature
    return __init__


@keras.saving.register_keras_serializable(package="keras_perceptual")
class PSNR(_ImageMetric):
    """Mean per-image peak signal-to-noise ratio (dB) of images in ``value_range``.

    Per image ``10 log10(1 / MSE)`` on the images rescaled to [0, 1] (see
    :func:`psnr`), averaged over every image seen since the last reset. Identical
    images count as ``max_db`` (100 dB by default) rather than ``inf``.

    Args:
        value_range: ``(low, high)`` of ``y_true`` and ``y_pred``.
        max_db: PSNR reported for identical images; ``None`` reports ``inf``.
        y_channel: measure the BT.601 luma only (the usual SR protocol).
        crop_border: pixels ignored on each side (the usual SR protocol uses ``scale``).
        name: metric name (``"psnr"``, logged as ``psnr`` / ``val_psnr``).
        dtype: floating-point dtype of the result (see the module docstring).

    Example:
        >>> net = super_resolution_net(2, filters=4, num_residual_blocks=1)
        >>> net.compile(optimizer="adam", loss="mse", metrics=[PSNR(), SSIM()])
        >>> m = PSNR(); m.update_state(np.zeros((2, 8, 8, 3)), np.full((2, 8, 8, 3), 0.1))
        >>> float(m.result())
        20.0

    References:
        Johnson et al. 2016, Section 4.2 (SR results in PSNR / SSIM).
    """

    __init__ = _metric_constructor(psnr, "psnr")


@keras.saving.register_keras_serializable(package="keras_perceptual")
class SSIM(_ImageMetric):
    """Mean per-image structural similarity of images in ``value_range``.

    Per image ``keras.ops.image.ssim`` on the images rescaled to [0, 1] (see
    :func:`ssim`; the definition of ``tensorflow.image.ssim``), averaged over every image
    seen since the last reset. Images must be at least ``filter_size`` pixels on
    each side.

    Args:
        value_range: ``(low, high)`` of ``y_true`` and ``y_pred``.
        filter_size: side of the Gaussian window (odd, default 11).
        filter_sigma: standard deviation of the window (default 1.5).
        k1, k2: the stabilizing constants of Wang et al. (0.01, 0.03).
        y_channel: measure the BT.601 luma only (the usual SR protocol).
        crop_border: pixels ignored on each side (the usual SR protocol uses ``scale``).
        name: metric name (``"ssim"``).
        dtype: floating-point dtype of the result (see the module docstring).

    Example:
        >>> net = super_resolution_net(2, filters=4, num_residual_blocks=1)
        >>> net.compile(optimizer="adam", loss="mse", metrics=[PSNR(), SSIM()])
        >>> m = SSIM(); m.update_state(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3)))
        >>> round(float(m.result()), 4)
        1.0

    References:
        Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error
        visibility to structural similarity", IEEE TIP 2004. Johnson et al. 2016,
        Section 4.2.
    """

    __init__ = _metric_constructor(ssim, "ssim")


# --------------------------------------------------------------------------
# Learned perceptual metrics: the mean LPIPS / DISTS over all images seen.
# --------------------------------------------------------------------------


#: Set while :meth:`_LearnedMetric.from_config` rebuilds a metric (a saved model loading).
_RESTORING = contextvars.ContextVar("keras_perceptual_metric_restoring", default=False)


class _LearnedMetric(_Float32State, keras.metrics.Mean):
    """The mean of a learned distance's per-image values (lower is better).

    Args:
        loss_class: :class:`LPIPSLoss` or :class:`DISTSLoss`, which computes the values.
        settings: its constructor arguments (the metric's own, but ``name`` and ``dtype``).
        name, dtype: as in ``keras.metrics.Mean``.

    An empty batch (a batch of 0) leaves the mean as it was and runs no network.
    """

    def __init__(self, loss_class, settings, name, dtype):
        check_float_policy(dtype, type(self).__name__)
        dtype, result_dtype = self._state_dtype(dtype)
        super().__init__(name=name, dtype=dtype)
        self._result_dtype = result_dtype
        # A Loss with reduction=None gives (batch,) values, checks included.
        arguments = {**settings, "reduction": None, "name": f"{name}_values"}
        if _RESTORING.get():
            # The loss's own rule: missing weights do not stop a saved model from loading;
            # the first update raises (never random weights in their place).
            loss = loss_class.from_config(arguments)
        else:
            loss = loss_class(**arguments)
        # No gradient is taken, so both images go through the backbone as one batch.
        loss.distance_options = {**loss.distance_options, "joint": True}
        self.distance = loss
        # Lower is better: ModelCheckpoint(monitor="val_lpips", mode="auto") minimizes it.
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.distance.unavailable is not None:
            raise restored_without_weights(
                self, self.distance.unavailable, self.distance.weights_source, "metrics"
            )
        values = self.distance(y_true, y_pred)  # checks the images first
        if sample_weight is not None:
            sample_weight = _checked_weight(sample_weight, y_pred, batched=len(values.shape) > 0)
        return super().update_state(values, sample_weight=sample_weight)

    @property
    def min_image_size(self) -> int:
        """The smallest height and width (pixels) the network accepts."""
        return self.distance.min_image_size

    def get_config(self):
        return {"name": self.name, "dtype": self.result_dtype, **self._settings()}

    @classmethod
    def from_config(cls, config):
        """Rebuilds the metric from :meth:`get_config`, as ``keras.models.load_model`` does.

        Where the weights it names (a path, or ``"imagenet"`` without internet) are
        missing on this machine, the metric is still restored (the model loads and
        predicts) and its first ``update_state`` raises a
        :class:`~keras_perceptual.weights.WeightsUnavailableError` naming the weights and
        the fix; it never computes with random weights instead. Other bad settings raise
        at once.
        """
        token = _RESTORING.set(True)
        try:
            return cls(**config)
        finally:
            _RESTORING.reset(token)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class LPIPS(_LearnedMetric):
    """Mean LPIPS distance (Zhang et al., CVPR 2018) over every image seen; lower is better.

    Per image the value of :func:`keras_perceptual.lpips` (numerically the reference
    ``lpips`` package with the same net and version), averaged over all images since the
    last reset (weighted by ``sample_weight`` when given).

    Args:
        net: ``"alex"`` (default, the LPIPS authors' choice for evaluation) or ``"vgg"``.
        version: ``"0.1"`` (default) or ``"0.0"``.
        weights: torchvision backbone weights: ``"imagenet"``, a path to a ``.pth`` state
            dict or converted Keras weights, or ``None`` (random, for tests).
        value_range: ``(low, high)`` of ``y_true`` and ``y_pred``.
        name: metric name (``"lpips"``, logged as ``lpips`` / ``val_lpips``).
        dtype: floating-point dtype of the result (see the module docstring).

    Raises:
        InputError: bad settings, or a weights file that does not exist.
        WeightsUnavailableError: ``"imagenet"`` cannot be downloaded; or, for a metric
            restored from a saved model (:meth:`from_config`) on a machine without its
            weights, at its first ``update_state`` (the model itself loads and predicts).

    Example:
        >>> model.compile(optimizer="adam", loss="mse", metrics=[PSNR(), LPIPS()])  # doctest: +SKIP
        >>> m = LPIPS(weights=None); m.update_state(np.zeros((2, 32, 32, 3)) + 0.5,
        ...                                         np.zeros((2, 32, 32, 3)) + 0.5)
        >>> float(m.result())
        0.0

    References:
        Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
        Features as a Perceptual Metric", CVPR 2018, Eq. (1).
    """

    def __init__(
        self,
        net: str = "alex",
        version: str = "0.1",
        weights="imagenet",
        value_range: Sequence[float] = (0.0, 1.0),
        name: str = "lpips",
        dtype=None,
    ):
        settings = {"net": net, "version": version, "weights": weights, "value_range": value_range}
        super().__init__(LPIPSLoss, settings, name=name, dtype=dtype)

    def _settings(self):
        config = self.distance.get_config()
        return {k: config[k] for k in ("net", "version", "weights", "value_range")}


@keras.saving.register_keras_serializable(package="keras_perceptual")
class DISTS(_LearnedMetric):
    """Mean DISTS (Ding et al., TPAMI 2020) over every image seen; lower is better.

    Per image the value of :func:`keras_perceptual.dists` (numerically the reference
    ``DISTS_pytorch`` package), averaged over all images since the last reset (weighted
    by ``sample_weight`` when given).

    Args:
        weights: torchvision VGG16 weights: ``"imagenet"``, a path to a ``.pth`` state dict
            or converted Keras weights, or ``None`` (random, for tests).
        value_range: ``(low, high)`` of ``y_true`` and ``y_pred``.
        name: metric name (``"dists"``).
        dtype: floating-point dtype of the result (see the module docstring).

    Raises:
        InputError, WeightsUnavailableError: as :class:`LPIPS` (a restored metric without
            its weights raises at its first ``update_state``).

    Example:
        >>> model.compile(optimizer="adam", loss="mse", metrics=[DISTS()])  # doctest: +SKIP

    References:
        Ding, Ma, Wang & Simoncelli, "Image Quality Assessment: Unifying Structure and
        Texture Similarity", IEEE TPAMI 2020, Eq. (9).
    """

    def __init__(
        self,
        weights="imagenet",
        value_range: Sequence[float] = (0.0, 1.0),
        name: str = "dists",
        dtype=None,
    ):
        settings = {"weights": weights, "value_range": value_range}
        super().__init__(DISTSLoss, settings, name=name, dtype=dtype)

    def _settings(self):
        config = self.distance.get_config()
        return {k: config[k] for k in ("weights", "value_range")}


__all__ = [
    "DEFAULT_MAX_DB",
    "DISTS",
    "LPIPS",
    "PSNR",
    "SSIM",
    "psnr",
    "rgb_to_y",
    "ssim",
    "temporal_warping_error",
]
