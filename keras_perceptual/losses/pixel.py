"""Pixel-space restoration losses: Charbonnier, edge and color.

Companions of the perceptual losses for super-resolution and restoration; every
one sees the images rescaled from ``value_range`` to [0, 1] first, so a weight
means the same for every range, and returns one value per image.

* Charbonnier (Charbonnier et al. 1994; LapSRN, Lai et al. 2017, Eq. 3):
  ``mean_{h,w,c} sqrt((y_hat - y)^2 + epsilon^2)``, a smooth L1.
* Edge loss: the pixel distance averaged over the edges of the target only
  (``mode="mask"``), or the distance between the Sobel gradients of both images
  (``mode="gradient"``, a gradient-difference loss, Mathieu et al. 2016).
* Color loss: the mean angle between the RGB vectors of corresponding pixels
  (``mode="angular"``, the recovery angular error of white-balance work, e.g.
  Finlayson & Zakizadeh 2014), or the squared L2 distance between Gaussian-blurred
  images (``mode="blur"``, DPED, Ignatov et al. 2017, 21x21 kernel, sigma 3).

For the plain L1 and L2 pixel losses use ``keras.losses.MeanAbsoluteError`` and
``keras.losses.MeanSquaredError`` (or ``PerceptualLoss(pixel_weight=...)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import keras
from keras import ops

from keras_perceptual._checks import (
    check_applies,
    check_channels,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_same_shape,
    check_value_range,
    check_weight,
    static_image_shape,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import ImageLoss, check_image_pair
from keras_perceptual.ops import (
    SOBEL_MIN_SIZE,
    as_float_tensor,
    charbonnier,
    edge_magnitude,
    keep_nan,
    safe_sqrt,
    sobel_edges,
    to_unit_range,
)

EDGE_MODES = ("mask", "gradient")
EDGE_WEIGHTINGS = ("hard", "soft")
EDGE_DISTANCES = ("l1", "charbonnier")
COLOR_MODES = ("angular", "blur")
#: Edge strengths at or below this are float32 rounding, not edges (see :func:`edge_weights`).
MIN_EDGE = 1e-5


# --------------------------------------------------------------------------
# Checks.
# --------------------------------------------------------------------------


def _safe_divide(numerator, denominator):
    """``numerator / denominator`` where ``denominator > 0``, else 0, with finite gradients;
    NaN where either is NaN."""
    positive = denominator > 0
    safe = ops.where(positive, denominator, ops.ones_like(denominator))
    quotient = ops.where(positive, numerator / safe, ops.zeros_like(numerator))
    return keep_nan(quotient, numerator, denominator)


def _unit_pair(y_true, y_pred, value_range, channels: int | None = None):
    """Both images as float32 tensors rescaled from ``value_range`` to [0, 1], once checked
    (:func:`check_image_pair`): the entry of every pure function here, and so of every loss."""
    value_range = check_value_range(value_range)
    y_true, y_pred = check_image_pair(y_true, y_pred, channels, value_range=value_range)
    return to_unit_range(y_true, value_range), to_unit_range(y_pred, value_range)


def _check_blur(kernel_size, sigma) -> tuple[int, float]:
    """``(kernel_size, sigma)`` of the blur color loss: an odd integer >= 1 and a finite
    number > 0 (:func:`blur_color_loss` and :class:`ColorLoss`)."""
    size = check_positive_int(kernel_size, "kernel_size")
    if size % 2 == 0:
        raise InputError(
            f"kernel_size must be odd so the blur is centred, e.g. {size + 1}. "
            f"Received: kernel_size={kernel_size!r}"
        )
    return size, check_positive_float(sigma, "sigma")


def _distance(diff, distance: str, epsilon: float):
    if distance == "l1":
        return ops.abs(diff)
    return charbonnier(diff, epsilon)


# --------------------------------------------------------------------------
# Pure functions: one value per image.
# --------------------------------------------------------------------------


def charbonnier_loss(y_true, y_pred, epsilon: float = 1e-3, value_range=(0.0, 1.0)):
    """Per-image Charbonnier loss ``mean_{h,w,c} sqrt((y_pred - y_true)^2 + epsilon^2)``.

    LapSRN (Lai et al. 2017), Eq. (3), after Charbonnier et al. (1994); the
    images are rescaled from ``value_range`` to [0, 1] first.

    Args:
        y_true, y_pred: ``(batch, height, width, channels)`` images in ``value_range``, of
            one shape, any channel count.
        epsilon: the smoothing constant (>= 0; 0 gives the mean absolute error); the loss
            is ``epsilon`` at ``y_pred == y_true``.
        value_range: ``(low, high)`` of the images.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: images that are not floating-point rank-4 batches of one shape (checked
            when the graph runs where sizes are ``None`` when traced), or a bad ``epsilon``
            or ``value_range``.

    Example:
        >>> x = np.zeros((1, 2, 2, 3), "float32")
        >>> charbonnier_loss(x, x + 1.0, epsilon=0.0)  # the mean absolute error
        array([1.], dtype=float32)
    """
    y_true, y_pred = _unit_pair(y_true, y_pred, value_range)
    return ops.mean(charbonnier(y_pred - y_true, epsilon), axis=(1, 2, 3))


def edge_weights(y_true, threshold: float = 0.1, weighting: str = "hard", value_range=(0.0, 1.0)):
    """Per-pixel edge weights ``(batch, H, W, 1)`` of images, from their Sobel magnitude.

    ``m = edge_magnitude(y_true)`` (``sqrt(mean_c(dy^2 + dx^2)) / 4`` on [0, 1]
    images, so a step of height ``h`` gives ``m = h``); ``weighting="hard"`` gives
    ``1[m > threshold]``, ``"soft"`` gives ``m * 1[m > threshold]``. Strengths up
    to ``MIN_EDGE`` (1e-5, float32 rounding on flat images, far below one 8-bit
    level) are never edges, also with ``threshold=0``. No gradient flows through
    the weights. A pixel whose strength is NaN (a NaN in ``y_true``) gets weight NaN.

    Raises:
        InputError: ``y_true`` is not a floating-point rank-4 batch at least 2 x 2 pixels,
            ``threshold`` is not a finite number >= 0, or a bad ``weighting``.
    """
    check_choice(weighting, EDGE_WEIGHTINGS, "weighting")
    threshold = check_weight(threshold, "threshold")
    value_range = check_value_range(value_range)
    y_true = as_float_tensor(y_true, "y_true", value_range=value_range)
    static_image_shape(y_true, "y_true", channels=None)
    magnitude = ops.stop_gradient(edge_magnitude(to_unit_range(y_true, value_range)))
    keep = magnitude > max(threshold, MIN_EDGE)
    if weighting == "hard":
        return keep_nan(ops.cast(keep, magnitude.dtype), magnitude)
    return keep_nan(ops.where(keep, magnitude, ops.zeros_like(magnitude)), magnitude)


def edge_loss(
    y_true,
    y_pred,
    mode: str = "mask",
    threshold: float = 0.1,
    weighting: str = "hard",
    distance: str = "l1",
    epsilon: float = 1e-3,
    value_range=(0.0, 1.0),
):
    """Per-image edge loss, on images rescaled to [0, 1].

    ``mode="mask"``: with ``w = edge_weights(y_true, threshold, weighting)`` and
    ``d = mean_c dist(y_pred - y_true)`` per pixel, ``sum(w d) / sum(w)``; a target
    without edges (``sum(w) = 0``) gives 0, with finite gradients.

    ``mode="gradient"``: ``mean_{h,w,c,k} dist((S_k(y_pred) - S_k(y_true)) / 4)``
    over the two Sobel gradients ``S = [dy, dx]`` of :func:`~keras_perceptual.ops.sobel_edges`
    (the gradient-difference loss of Mathieu et al. 2016 with Sobel derivatives).

    ``dist`` is ``|x|`` (``"l1"``) or ``sqrt(x^2 + epsilon^2)`` (``"charbonnier"``).

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: images that are not floating-point rank-4 batches of one shape, at least
            2 x 2 pixels; a bad argument (``threshold`` must be a finite number >= 0), or one
            the chosen mode or distance would ignore.

    Example:
        >>> flat = np.full((1, 8, 8, 3), 0.5, "float32")
        >>> edge_loss(flat, flat + 0.1)  # a target without edges
        array([0.], dtype=float32)
    """
    _check_edge_options(mode, threshold, weighting, distance, epsilon)
    y_true, y_pred = _unit_pair(y_true, y_pred, value_range)
    if mode == "gradient":
        diff = (sobel_edges(y_pred) - ops.stop_gradient(sobel_edges(y_true))) * 0.25
        return ops.mean(_distance(diff, distance, epsilon), axis=(1, 2, 3, 4))
    weights = edge_weights(y_true, threshold, weighting)
    per_pixel = ops.mean(_distance(y_pred - y_true, distance, epsilon), axis=-1, keepdims=True)
    numerator = ops.sum(weights * per_pixel, axis=(1, 2, 3))
    return _safe_divide(numerator, ops.sum(weights, axis=(1, 2, 3)))


def _check_edge_options(mode, threshold, weighting, distance, epsilon) -> None:
    """The choices of :func:`edge_loss`, and no setting the chosen mode or distance ignores."""
    check_choice(mode, EDGE_MODES, "mode")
    check_choice(distance, EDGE_DISTANCES, "distance")
    check_weight(threshold, "threshold")
    defaults = {k: p.default for k, p in inspect.signature(edge_loss).parameters.items()}
    for name, value in (("threshold", threshold), ("weighting", weighting)):
        check_applies(name, value, defaults[name], "mode", mode, ["mask"])
    check_applies("epsilon", epsilon, defaults["epsilon"], "distance", distance, ["charbonnier"])


def _safe_atan2(y, x):
    """``atan2(y, x)`` that is 0 with zero gradient at ``(0, 0)`` (atan2's gradient is NaN there)."""
    defined = (ops.abs(x) + ops.abs(y)) > 0
    angle = ops.arctan2(ops.where(defined, y, 0.0), ops.where(defined, x, 1.0))
    return keep_nan(ops.where(defined, angle, 0.0), y, x)


def angular_error(a, b):
    """Per-pixel angle (radians) between the RGB vectors of ``a`` and ``b``: ``(batch, H, W)``.

    ``atan2(|a x b|, a . b)``: accurate near 0 (where ``arccos`` of the cosine
    loses precision and has an infinite derivative), 0 with finite gradients for
    identical pixels, and 0 where either pixel is black (the angle is undefined);
    NaN where either pixel holds a NaN.

    Args:
        a, b: floating-point RGB pixels of one shape, ``(..., 3)`` (e.g. ``(batch, H, W, 3)``).

    Returns:
        ``a``'s shape without its last axis.

    Raises:
        InputError: integer images, a last axis other than 3 channels, or shapes that differ
            (checked when the graph runs where sizes are ``None`` when traced).
    """
    a, b = as_float_tensor(a, "a"), as_float_tensor(b, "b")
    check_channels(a, "a")
    check_channels(b, "b")
    a, b = check_same_shape(
        a, b, "a and b must have the same shape, one RGB pixel of b for each of a. ", ("a", "b")
    )
    return _angle(a, b)


def _angle(a, b):
    """:func:`angular_error` of checked float tensors."""
    cross = ops.cross(a, b)
    dot = ops.sum(a * b, axis=-1)
    squared = ops.sum(ops.square(cross), axis=-1)
    return _safe_atan2(safe_sqrt(squared), dot)


def angular_color_loss(y_true, y_pred, value_range=(0.0, 1.0)):
    """Per-image mean angle (radians) between the RGB vectors of corresponding pixels.

    The recovery angular error of color constancy and white balance
    (Finlayson & Zakizadeh 2014; Hordley & Finlayson 2006), averaged over pixels:
    ``mean_{h,w} atan2(|a x b|, a . b)`` with ``a, b`` the pixels of ``y_pred``
    and ``y_true`` rescaled to [0, 1]. Insensitive to brightness, sensitive to hue.

    Returns:
        ``(batch,)`` tensor in ``[0, pi/2]`` for non-negative images.

    Raises:
        InputError: images that are not floating-point RGB rank-4 batches of one shape.

    Example:
        >>> red = np.zeros((1, 1, 1, 3), "float32"); red[..., 0] = 1.0
        >>> green = np.roll(red, 1, axis=-1)
        >>> angular_color_loss(red, green)  # pi / 2
        array([1.5707964], dtype=float32)
    """
    b, a = _unit_pair(y_true, y_pred, value_range, channels=3)
    return ops.mean(_angle(a, b), axis=(1, 2))


def blur_color_loss(
    y_true, y_pred, kernel_size: int = 21, sigma: float = 3.0, value_range=(0.0, 1.0)
):
    """Per-image color loss of DPED (Ignatov et al. 2017, Eq. 3): L2 after a Gaussian blur.

    ``mean_{h,w,c} (B(y_pred) - B(y_true))^2`` with ``B`` a ``kernel_size`` x
    ``kernel_size`` Gaussian blur of standard deviation ``sigma`` (zero padding,
    ``keras.ops.image.gaussian_blur``) of the images rescaled to [0, 1]. The blur
    removes texture and keeps brightness, contrast and color. DPED sums over
    pixels; the mean here keeps a weight independent of the image size.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: images that are not floating-point rank-4 batches of one shape, a
            ``kernel_size`` that is not an odd integer >= 1, or a ``sigma`` that is not a
            finite number > 0 (:class:`ColorLoss`'s rule).

    Example:
        >>> x = np.zeros((1, 8, 8, 3), "float32")
        >>> blur_color_loss(x, x)
        array([0.], dtype=float32)
    """
    kernel_size, sigma = _check_blur(kernel_size, sigma)
    b, a = _unit_pair(y_true, y_pred, value_range)
    size = (kernel_size, kernel_size)
    std = (sigma, sigma)
    blurred_a = ops.image.gaussian_blur(a, size, std, data_format="channels_last")
    blurred_b = ops.image.gaussian_blur(b, size, std, data_format="channels_last")
    return ops.mean(ops.square(blurred_a - blurred_b), axis=(1, 2, 3))


# --------------------------------------------------------------------------
# Keras losses.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_perceptual")
class CharbonnierLoss(ImageLoss):
    """Charbonnier loss, a smooth L1 (LapSRN, Lai et al. 2017, Eq. 3).

    Per image, ``mean_{h,w,c} sqrt((y_pred - y_true)^2 + epsilon^2)`` on images
    rescaled from ``value_range`` to [0, 1]. Any channel count.

    Args:
        epsilon: smoothing constant (> 0); 1e-3 as in LapSRN and BasicSR.
        value_range: ``(low, high)`` of the images.
        reduction: as in ``keras.losses.Loss``; ``None`` returns one value per image.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).

    Returns:
        A loss whose call returns the reduced loss (``(batch,)`` with ``reduction=None``).

    Example:
        >>> loss = CharbonnierLoss(reduction=None)
        >>> x = np.zeros((2, 4, 4, 3), "float32")
        >>> loss(x, x)  # epsilon at y_pred == y_true
        array([0.001, 0.001], dtype=float32)
    """

    def __init__(
        self,
        epsilon: float = 1e-3,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "charbonnier_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.epsilon = check_positive_float(epsilon, "epsilon")

    OPTIONS = ("epsilon",)

    def call(self, y_true, y_pred):
        return charbonnier_loss(y_true, y_pred, **self.options(), value_range=self.value_range)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class EdgeLoss(ImageLoss):
    """Pixel loss on the edges of the target, or between Sobel gradients.

    ``mode="mask"`` (default): the Sobel edge strength of ``y_true``
    (``sqrt(mean_c(dy^2 + dx^2)) / 4`` on [0, 1] images: a step of height ``h``
    scores ``h``) gives per-pixel weights ``w`` (``weighting="hard"``:
    ``1[m > threshold]``; ``"soft"``: ``m * 1[m > threshold]``), and the per-pixel
    distance ``d = mean_c dist(y_pred - y_true)`` is averaged over them:
    ``sum(w d) / sum(w)``. A target with no edge above ``threshold`` gives 0 (never
    NaN). It concentrates the loss on the structures that blur first.

    ``mode="gradient"``: ``mean dist((S(y_pred) - S(y_true)) / 4)`` over the
    vertical and horizontal Sobel gradients ``S`` (a gradient-difference loss,
    Mathieu et al. 2016); ``threshold`` and ``weighting`` do not apply (refused).

    Sobel gradients are those of ``tensorflow.image.sobel_edges`` (reflect padding) on
    every backend, computed with ``keras.ops.image.sobel_edges``. Any channel count;
    images at least 2x2.

    Args:
        mode: ``"mask"`` or ``"gradient"``.
        threshold: edge strength (>= 0, on the [0, 1] scale) below which a pixel
            is not an edge.
        weighting: ``"hard"`` (edge pixels count equally) or ``"soft"`` (by strength).
        distance: ``"l1"`` or ``"charbonnier"``.
        epsilon: Charbonnier constant (> 0), with ``distance="charbonnier"`` only.
        value_range, reduction, name, dtype: as for every loss here.

    Returns:
        A loss whose call returns the reduced loss (``(batch,)`` with ``reduction=None``).

    Raises:
        InputError: a bad argument, or one the chosen mode or distance would ignore
            (``threshold``/``weighting`` with ``mode="gradient"``, ``epsilon`` with
            ``distance="l1"``).

    Example:
        >>> loss = EdgeLoss(threshold=0.05, distance="charbonnier")
        >>> model.compile("adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        mode: str = "mask",
        threshold: float = 0.1,
        weighting: str = "hard",
        distance: str = "l1",
        epsilon: float = 1e-3,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "edge_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.mode = check_choice(mode, EDGE_MODES, "mode")
        self.threshold = check_weight(threshold, "threshold")
        self.weighting = check_choice(weighting, EDGE_WEIGHTINGS, "weighting")
        self.distance = check_choice(distance, EDGE_DISTANCES, "distance")
        self.epsilon = check_positive_float(epsilon, "epsilon")
        _check_edge_options(**self.options())

    OPTIONS = ("mode", "threshold", "weighting", "distance", "epsilon")
    #: Sobel gradients need 2 px on each side.
    min_image_size = SOBEL_MIN_SIZE

    def call(self, y_true, y_pred):
        return edge_loss(y_true, y_pred, **self.options(), value_range=self.value_range)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class ColorLoss(ImageLoss):
    """Color loss: the angle between RGB vectors, or L2 after a Gaussian blur.

    ``mode="angular"`` (default): per image, the mean over pixels of the angle
    (radians) between the RGB vectors of ``y_pred`` and ``y_true``, computed as
    ``atan2(|a x b|, a . b)`` so that identical pixels and black pixels give
    finite values and gradients (``arccos`` of the cosine has an infinite
    derivative at 0 degrees). Needs 3 channels.

    ``mode="blur"``: DPED's color loss (Ignatov et al. 2017, Eq. 3), the mean
    squared difference of the images blurred by a ``kernel_size`` x ``kernel_size``
    Gaussian of standard deviation ``sigma`` (DPED: 21, 3). Any channel count.

    Both see the images rescaled from ``value_range`` to [0, 1].

    Args:
        mode: ``"angular"`` or ``"blur"``.
        kernel_size: odd blur kernel size (``mode="blur"`` only).
        sigma: blur standard deviation (> 0, ``mode="blur"`` only).
        value_range, reduction, name, dtype: as for every loss here.

    Returns:
        A loss whose call returns the reduced loss (``(batch,)`` with ``reduction=None``).

    Raises:
        InputError: a bad argument, or ``kernel_size``/``sigma`` with ``mode="angular"``
            (which would ignore them).

    Example:
        >>> loss = ColorLoss("blur", reduction=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> loss(x, x)
        array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        mode: str = "angular",
        kernel_size: int = 21,
        sigma: float = 3.0,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "color_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.mode = check_choice(mode, COLOR_MODES, "mode")
        self.kernel_size, self.sigma = _check_blur(kernel_size, sigma)
        defaults = {k: p.default for k, p in inspect.signature(ColorLoss).parameters.items()}
        for name in ("kernel_size", "sigma"):
            check_applies(name, getattr(self, name), defaults[name], "mode", self.mode, ["blur"])

    OPTIONS = ("mode", "kernel_size", "sigma")

    def call(self, y_true, y_pred):
        if self.mode == "angular":
            return angular_color_loss(y_true, y_pred, self.value_range)
        return blur_color_loss(y_true, y_pred, self.kernel_size, self.sigma, self.value_range)


__all__ = [
    "COLOR_MODES",
    "EDGE_DISTANCES",
    "EDGE_MODES",
    "EDGE_WEIGHTINGS",
    "MIN_EDGE",
    "CharbonnierLoss",
    "ColorLoss",
    "EdgeLoss",
    "angular_color_loss",
    "angular_error",
    "blur_color_loss",
    "charbonnier_loss",
    "edge_loss",
    "edge_weights",
]
