"""Pure tensor functions behind the losses (``keras.ops`` only: any backend).

Notation of Johnson et al. (2016): ``phi_j(x)`` is the activation of layer ``j``
of the loss network, of shape ``C_j x H_j x W_j``; ``psi`` is ``phi_j(x)``
reshaped to ``C_j x H_j W_j``.

* Gram matrix, Eq. (3): ``G_j(x) = psi psi^T / (C_j H_j W_j)``.
* Total variation regularizer ``l_TV`` (Section 3.3; Mahendran & Vedaldi 2015):
  the sum of absolute differences of neighbouring pixels, as
  ``tensorflow.image.total_variation`` computes it.

For Sobel edges, Gaussian blur and SSIM use ``keras.ops.image.sobel_edges``,
``keras.ops.image.gaussian_blur`` and ``keras.ops.image.ssim``; for PSNR
``keras.ops.psnr``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    as_number,
    check_channels,
    check_choice,
    check_finite_float,
    check_float_dtype,
    check_numeric_dtype,
    check_one_or_same_batch,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_value_range,
    checked_at_run_time,
)
from keras_perceptual.errors import InputError

GRAM_NORMALIZATIONS = ("chw", "hw", "none")
#: The dtype every public loss, op and metric computes in and returns.
COMPUTE_DTYPE = "float32"


def as_float_tensor(
    x: Any,
    name: str = "images",
    dtype: str | None = None,
    value_range: Sequence[float] | None = None,
    floats_only: bool = True,
):
    """The one entry conversion of the public losses, ops and metrics: any input to a tensor.

    Accepts numpy arrays, nested lists, backend tensors (``tf.Tensor``, JAX arrays),
    ``keras.Variable`` and ``tf.Variable`` (whose current value is read: Keras leaves
    variables as they are, and some ``keras.ops`` then fail on them), in float16,
    bfloat16, float32 or float64, and returns a backend tensor in ``dtype``. Symbolic
    ``keras.KerasTensor`` inputs (functional model construction) are cast only.

    Args:
        x: the input.
        name: its argument name, for messages.
        dtype: the result's dtype; ``None`` means :data:`COMPUTE_DTYPE` (float32).
        value_range: the images' ``(low, high)``, quoted in the dtype message.
        floats_only: refuse integer and boolean inputs (images and features: a ``uint8``
            image read as floats would silently give a wrong number); ``False`` casts
            them (labels, one-hot vectors).

    Returns:
        A tensor of ``dtype``.

    Raises:
        InputError: for a non-float input when ``floats_only``.

    Example:
        >>> keras.backend.standardize_dtype(as_float_tensor(np.ones((1, 2, 2, 3), "float16")).dtype)
        'float32'
    """
    dtype = dtype or COMPUTE_DTYPE
    if floats_only:
        check_float_dtype(x, name, value_range)
    else:
        check_numeric_dtype(x, name)
    if isinstance(x, keras.KerasTensor):
        return ops.cast(x, dtype)
    if isinstance(x, keras.Variable):
        x = x.value
    read_value = getattr(x, "read_value", None)  # a backend variable (tf.Variable)
    if callable(read_value):
        x = read_value()
    return ops.cast(ops.convert_to_tensor(x), dtype)


def to_unit_range(images, value_range: Sequence[float] = (0.0, 1.0)):
    """Linearly maps ``images`` from ``value_range`` to [0, 1].

    Example:
        >>> to_unit_range(np.array([-1.0, 0.0, 1.0]), (-1, 1))
        array([0. , 0.5, 1. ])
    """
    low, high = check_value_range(value_range)
    if (low, high) == (0.0, 1.0):
        return images
    return (images - low) * (1.0 / (high - low))


def from_unit_range(images, value_range: Sequence[float] = (0.0, 1.0)):
    """Linearly maps ``images`` from [0, 1] to ``value_range`` (inverse of :func:`to_unit_range`)."""
    low, high = check_value_range(value_range)
    if (low, high) == (0.0, 1.0):
        return images
    return images * (high - low) + low


def from_uint8(pixels, value_range: Sequence[float] = (0.0, 1.0)):
    """Maps 8-bit pixel values (0..255, as floats) to ``value_range``.

    ``pixels * ((high - low) / 255) + low`` with float32 constants, written with Python
    operators so it gives the same numbers for numpy arrays (image files) and backend
    tensors (``tf.data``, serving graphs): the one rule for every decoder.

    Example:
        >>> float(from_uint8(np.float32(255.0), (-1, 1)))
        1.0
    """
    import numpy as np

    low, high = check_value_range(value_range)
    return pixels * np.float32((high - low) / 255.0) + np.float32(low)


def from_uint16(pixels, value_range: Sequence[float] = (0.0, 1.0)):
    """Maps 16-bit pixel values (0..65535, as floats) to ``value_range``.

    :func:`from_uint8` of ``pixels / 257``: an 8-bit image carried as 16 bits
    (``v * 257``, as :func:`keras_perceptual.images.read_rgb` gives with
    ``dtype=np.uint16``) maps to exactly the numbers of its 8-bit pixels, and a genuine
    16-bit image keeps its precision.

    Example:
        >>> float(from_uint16(np.float32(65535.0), (-1, 1)))
        1.0
    """
    import numpy as np

    return from_uint8(pixels / np.float32(257.0), value_range)


def gram_matrix(features, normalization: str = "chw"):
    """Gram matrices of a batch of feature maps: ``(batch, H, W, C) -> (batch, C, C)``.

    Eq. (3) of Johnson et al.: ``G = psi psi^T / (C H W)`` with ``psi`` the features
    reshaped to ``(C, H*W)``. ``normalization`` selects the divisor:
    ``"chw"`` (the paper, its official code, pytorch/examples), ``"hw"`` (Gatys et
    al. 2016, magenta) or ``"none"`` (piq).

    Args:
        features: rank-4 channels-last tensor.
        normalization: ``"chw"``, ``"hw"`` or ``"none"``.

    Returns:
        ``(batch, C, C)`` float32 tensor (computed in float32 whatever the input dtype:
        16-bit sums over ``H*W`` products would overflow).

    Example:
        >>> f = np.ones((1, 2, 2, 3), "float32")
        >>> gram_matrix(f)[0, 0, 0]  # 4 products of 1 / (3 * 2 * 2)
        0.33333334
    """
    check_choice(normalization, GRAM_NORMALIZATIONS, "gram_normalization")
    features = as_float_tensor(features, "features")
    if len(features.shape) != 4:
        raise InputError(
            "gram_matrix expects rank-4 features (batch, height, width, channels). "
            f"Received: features.shape={tuple(features.shape)}"
        )
    shape = ops.shape(features)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    flat = ops.reshape(features, (batch, height * width, channels))
    gram = ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)
    if normalization == "none":
        return gram
    divisor = height * width
    if normalization == "chw":
        divisor = divisor * channels
    return gram / ops.cast(divisor, gram.dtype)


#: The smallest exponent of the total variation: below 1, ``|d|^p`` has an infinite slope
#: at ``d = 0`` (every flat region), so the gradients there are NaN.
MIN_TV_POWER = 1.0


def check_tv_power(power: Any, name: str = "power") -> float:
    """Returns ``power`` as a float >= :data:`MIN_TV_POWER`, or raises (the one TV-power rule).

    Example:
        >>> check_tv_power(2)
        2.0
    """
    value = as_number(power)
    if not (MIN_TV_POWER <= value < float("inf")):
        raise InputError(
            f"{name} must be a number >= {MIN_TV_POWER:g}, e.g. 1 (tensorflow.image."
            f"total_variation) or 2 (squared TV): below 1 the penalty's slope is infinite where "
            f"neighbouring pixels are equal, which makes gradients NaN on flat regions. "
            f"Received: {name}={power!r}"
        )
    return value


def total_variation(images, power: float = 1.0):
    """Per-image total variation: ``sum |x[i+1,j]-x[i,j]|^p + sum |x[i,j+1]-x[i,j]|^p``.

    With ``power=1`` this is exactly ``tensorflow.image.total_variation`` (anisotropic,
    summed over pixels and channels). ``power=2`` gives the squared variant used
    by the paper's official code and by magenta.

    Args:
        images: rank-4 ``(batch, height, width, channels)``, any channel count.
        power: exponent applied to the absolute differences, >= 1 (see
            :func:`check_tv_power`).

    Returns:
        ``(batch,)`` float32 tensor.

    Raises:
        InputError: for a power below 1 or images that are not rank 4.

    Example:
        >>> x = np.zeros((1, 2, 2, 1), "float32"); x[0, 0, 0, 0] = 1.0
        >>> total_variation(x)
        array([2.], dtype=float32)
    """
    power = check_tv_power(power)
    images = as_float_tensor(images)
    if len(images.shape) != 4:
        raise InputError(
            "total_variation expects rank-4 images (batch, height, width, channels); add a "
            f"batch axis with images[None]. Received: images.shape={tuple(images.shape)}"
        )
    dy = ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :])
    dx = ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :])
    if power != 1.0:
        dy = dy**power
        dx = dx**power
    return ops.sum(dy, axis=(1, 2, 3)) + ops.sum(dx, axis=(1, 2, 3))


def charbonnier(x, epsilon: float = 1e-3):
    """Elementwise Charbonnier penalty ``sqrt(x^2 + epsilon^2)`` (a smooth L1).

    With ``epsilon=0`` it is ``|x|``, with gradient 0 (not NaN) at ``x = 0``.

    Raises:
        InputError: ``epsilon`` is not a finite number >= 0, or ``x`` is not floating-point.
    """
    epsilon = check_finite_float(epsilon, "epsilon", minimum=0)
    x = as_float_tensor(x, "x")
    return safe_sqrt(ops.square(x) + epsilon * epsilon)


def luminance(images):
    """ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of channels-last RGB images.

    Args:
        images: floating-point ``(..., 3)`` RGB, any value range.

    Returns:
        ``(..., 1)`` float32 luma, in the images' value range.

    Raises:
        InputError: integer images, or a last axis other than 3 channels.
    """
    images = as_float_tensor(images)
    check_channels(images, "images")
    weights = ops.convert_to_tensor([0.299, 0.587, 0.114], dtype=images.dtype)
    return ops.sum(images * weights, axis=-1, keepdims=True)


__all__ = [
    "COMPUTE_DTYPE",
    "GRAM_NORMALIZATIONS",
    "MIN_TV_POWER",
    "as_float_tensor",
    "check_tv_power",
    "charbonnier",
    "from_uint8",
    "from_uint16",
    "from_unit_range",
    "gram_matrix",
    "luminance",
    "to_unit_range",
    "total_variation",
]


# --------------------------------------------------------------------------
# Edges (appended for the pixel losses; shared with anything that needs edges).
# --------------------------------------------------------------------------


#: The smallest height and width :func:`sobel_edges` takes (its reflection padding needs 2).
SOBEL_MIN_SIZE = 2


def sobel_edges(images):
    """Sobel gradients ``(batch, H, W, C, 2)`` holding ``[dy, dx]``, the same on every backend.

    Equal to ``tensorflow.image.sobel_edges`` (3x3 Sobel kernels, reflect padding).
    ``keras.ops.image.sobel_edges`` pads with reflection on TensorFlow but with
    zeros on JAX, which invents edges along the border of a constant image; here
    the image is reflect-padded by one pixel first and the border cropped after,
    so the result no longer depends on the backend's padding.

    Args:
        images: rank-4 channels-last tensor, height and width >= 2.

    Returns:
        ``(batch, height, width, channels, 2)`` tensor: vertical then horizontal gradient.

    Example:
        >>> x = np.zeros((1, 4, 4, 1), "float32"); x[:, :, 2:] = 1.0
        >>> sobel_edges(x)[0, 1, :, 0, 1]  # dx: a unit step gives 4 next to it
        array([0., 4., 4., 0.], dtype=float32)
    """
    images = as_float_tensor(images)
    if len(images.shape) != 4:
        raise InputError(
            "sobel_edges expects rank-4 images (batch, height, width, channels); add a "
            f"batch axis with images[None]. Received: images.shape={tuple(images.shape)}"
        )
    for axis, name in ((1, "height"), (2, "width")):
        size = images.shape[axis]
        if size is not None and size < SOBEL_MIN_SIZE:
            raise InputError(
                f"sobel_edges needs images at least {SOBEL_MIN_SIZE} px in {name}; upsample or "
                f"skip such tiny images. Received: images.shape={tuple(images.shape)}"
            )
    if images.shape[1] is None or images.shape[2] is None:
        (images,) = checked_at_run_time(
            (images,),
            lambda s: ops.min(s[1:3]) >= SOBEL_MIN_SIZE,
            f"sobel_edges needs images at least {SOBEL_MIN_SIZE} px in height and width; "
            "upsample or skip such tiny images. Received: images.shape=",
        )
    padded = ops.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    edges = ops.image.sobel_edges(padded, data_format="channels_last")
    return edges[:, 1:-1, 1:-1]


def edge_magnitude(images):
    """Per-pixel edge strength ``(batch, H, W, 1)``: the Sobel magnitude over 4, RMS over channels.

    ``sqrt(mean_c(dy_c^2 + dx_c^2)) / 4`` with ``dy, dx`` from :func:`sobel_edges`:
    a step of height ``h`` between flat regions gives ``h`` next to the step
    (the Sobel kernels sum to 4). The square root has a zero (not infinite)
    gradient where the image is flat.

    Example:
        >>> x = np.zeros((1, 4, 4, 3), "float32"); x[:, :, 2:] = 0.5
        >>> edge_magnitude(x)[0, 0, :, 0]
        array([0. , 0.5, 0.5, 0. ], dtype=float32)
    """
    edges = sobel_edges(images)
    squared = ops.mean(ops.sum(ops.square(edges), axis=-1), axis=-1, keepdims=True)
    return safe_sqrt(squared) * 0.25


def keep_nan(result, *sources, per_sample: bool = False):
    """``result`` with NaN wherever one of ``sources`` is NaN.

    The finite-gradient helpers mask undefined points, ``where(x > 0, f(x), 0)``; a NaN
    fails every comparison, so the mask alone would turn a NaN input (a diverged
    network) into a finite 0. Passing the mask's result through ``keep_nan(result, x)``
    keeps the NaN visible. Likewise a backbone's max pooling drops NaN on some backends
    (TensorFlow's ``max(NaN, x)`` is ``x``), so the backbone losses mark each image with a
    NaN pixel with ``per_sample=True``. The gradient is unchanged where the sources are
    finite.

    Args:
        result: the masked tensor; with ``per_sample``, ``(batch, ...)``.
        *sources: the tensors the result was computed from: broadcastable to ``result``,
            or with ``per_sample``, ``(batch or 1, ...)`` tensors (a source of batch 1,
            e.g. one style image, marks every sample).
        per_sample: whether a NaN anywhere in a source's sample ``i`` makes all of
            ``result[i]`` NaN (else elementwise).

    Returns:
        ``result``, NaN where a source is NaN.

    Example:
        >>> x = np.array([np.nan, 0.0, 4.0], "float32")
        >>> keep_nan(np.where(x > 0, x, 0.0), x)
        array([nan,  0.,  4.], dtype=float32)
        >>> images = np.zeros((2, 4, 4, 3), "float32"); images[1, 0, 0, 0] = np.nan
        >>> keep_nan(np.ones(2, "float32"), images, per_sample=True)
        array([ 1., nan], dtype=float32)
    """
    result = ops.convert_to_tensor(result)
    nan = ops.cast(float("nan"), result.dtype)
    for source in sources:
        is_nan = ops.isnan(ops.convert_to_tensor(source))
        if per_sample:
            if len(is_nan.shape) > 1:
                is_nan = ops.any(is_nan, axis=tuple(range(1, len(is_nan.shape))))
            is_nan = ops.reshape(is_nan, (-1,) + (1,) * (len(result.shape) - 1))
        result = ops.where(is_nan, nan, result)
    return result


def safe_sqrt(x):
    """``sqrt(x)`` for ``x >= 0`` whose gradient at 0 is 0 instead of infinite (or NaN).

    Negative ``x`` gives 0; NaN gives NaN.
    """
    x = as_float_tensor(x, "x")
    positive = x > 0
    root = ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)
    return keep_nan(root, x)


__all__ += ["SOBEL_MIN_SIZE", "edge_magnitude", "keep_nan", "safe_sqrt", "sobel_edges"]


#: The variance offset of adaptive instance normalization and its statistics (reference code).
ADAIN_EPSILON = 1e-5


def channel_mean_std(features, epsilon: float = ADAIN_EPSILON):
    """Per-image, per-channel mean and standard deviation over height and width.

    ``mu_c = mean_hw(x_c)`` and ``sigma_c = sqrt(var_hw(x_c) + epsilon)``: the
    statistics of Huang & Belongie (2017), Eqs. (5)-(6), that adaptive instance
    normalization transfers and whose distance is the AdaIN style loss (Eq. 13).
    Computed in float32.

    Args:
        features: ``(batch, H, W, C)`` channels-last tensor.
        epsilon: added to the variance before the square root (``1e-5`` as in the
            reference code), which keeps ``sigma`` and its gradient finite on flat maps;
            a finite number >= 0.

    Returns:
        ``(mean, std)``, each ``(batch, C)`` float32.

    Raises:
        InputError: ``epsilon`` is negative or not a number, or ``features`` is not a
            floating-point tensor.

    Example:
        >>> mean, std = channel_mean_std(np.ones((2, 4, 4, 3), "float32"), epsilon=0.0)
        >>> mean.shape, float(std[0, 0])
        ((2, 3), 0.0)
    """
    epsilon = check_finite_float(epsilon, "epsilon", minimum=0)
    x = as_float_tensor(features, "features")
    mean, variance = ops.moments(x, axes=(1, 2))
    return mean, safe_sqrt(variance + epsilon)


__all__ += ["ADAIN_EPSILON", "channel_mean_std"]


def gaussian_kernel(sigma: float = 1.0, radius: int | None = None):
    """Normalized 1-D Gaussian taps, ``2 * radius + 1`` of them (default ``radius = ceil(3 sigma)``).

    Args:
        sigma: standard deviation in pixels (> 0).
        radius: half-width; the default keeps 99.7% of the mass before normalization.

    Returns:
        A float32 numpy array summing to 1.

    Raises:
        InputError: ``sigma`` not a finite number > 0, or ``radius`` not an integer >= 0.

    Example:
        >>> gaussian_kernel(1.0).shape  # 7 taps
        (7,)
    """
    import math

    import numpy as np

    sigma = check_positive_float(sigma, "sigma")
    if radius is None:
        radius = math.ceil(3.0 * sigma)
    radius = check_positive_int(radius, "radius", minimum=0)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-(x**2) / (2.0 * sigma**2))
    return (taps / taps.sum()).astype(np.float32)


def sr_degrade(images, scale: int, sigma: float = 1.0, value_range: Sequence[float] = (0.0, 1.0)):
    """The super-resolution degradation of Johnson et al. (2016), Section 4.2, on any backend.

    A Gaussian blur of standard deviation ``sigma`` (reflection padding; ``sigma=0``: none),
    then bicubic down-sampling by ``scale`` without antialiasing
    (``keras.ops.image.resize``, which is ``tensorflow.image.resize(method="bicubic")``
    on the TensorFlow backend; JAX gives the same numbers to float round-off), clipped
    to ``value_range``.

    Args:
        images: ``(B, H, W, C)`` float images in ``value_range``, ``H`` and ``W`` divisible
            by ``scale`` and larger than the blur's radius (``ceil(3 sigma)``).
        scale: the down-sampling factor, an integer >= 1.
        sigma: the blur's standard deviation, in pixels of ``images``.
        value_range: ``(low, high)`` of the images.

    Returns:
        ``(B, H / scale, W / scale, C)`` images in ``value_range``.

    Raises:
        keras_perceptual.errors.InputError: ``scale`` not an integer >= 1, sizes not
            divisible by it, or too small for the blur.

    Example:
        >>> sr_degrade(np.random.rand(1, 32, 32, 3).astype("float32"), 4).shape
        (1, 8, 8, 3)
    """
    import numpy as np

    low, high = check_value_range(value_range)
    scale = check_positive_int(scale, "scale")
    images = as_float_tensor(images, "images", value_range=value_range)
    _, height, width, channels = images.shape
    for size, axis in ((height, "height"), (width, "width")):
        if size is not None and size % scale:
            raise InputError(
                f"Image {axis} {size} is not divisible by scale={scale}; crop the images to a "
                f"multiple of {scale}, e.g. images[:, :h - h % {scale}, :w - w % {scale}]. "
                f"Received: images.shape={tuple(images.shape)}"
            )
    if sigma > 0:
        taps = gaussian_kernel(sigma)
        radius = len(taps) // 2
        for size, axis in ((height, "height"), (width, "width")):
            if size is not None and size <= radius:
                raise InputError(
                    f"Image {axis} {size} is too small for the sigma={sigma} blur (reflection "
                    f"padding of {radius} px); use images larger than {radius} px. "
                    f"Received: images.shape={tuple(images.shape)}"
                )
        kernel = np.tile(np.outer(taps, taps)[:, :, None, None], (1, 1, channels, 1))
        padded = ops.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "reflect")
        images = ops.depthwise_conv(padded, kernel, strides=1, padding="valid")
    shape = ops.shape(images)
    size = (shape[1] // scale, shape[2] // scale)
    resized = ops.image.resize(images, size, interpolation="bicubic", antialias=False)
    return ops.clip(resized, low, high)


__all__ += ["gaussian_kernel", "sr_degrade"]


# --------------------------------------------------------------------------
# Sliced Wasserstein distance between feature distributions (style).
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _directions(channels: int, num_projections: int, seed: int):
    rng = np.random.Generator(np.random.PCG64([seed, channels, num_projections]))
    directions = rng.standard_normal((channels, num_projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    directions = directions.astype("float32")
    directions.flags.writeable = False
    return directions


def sliced_wasserstein_directions(channels: int, num_projections: int | None = None,
                                  seed: int = 0) -> np.ndarray:
    """Random unit directions for the sliced Wasserstein distance, ``(channels, K)``.

    Drawn once from ``seed`` (the same arguments give the same directions on every
    backend and machine: numpy's PCG64 stream) and kept constant.

    Args:
        channels: the feature channels ``C``.
        num_projections: ``K``; ``None`` uses ``C`` (Heitz et al. use as many random
            directions as channels).
        seed: an integer in ``[0, 2**31)``.

    Returns:
        float32 ``(C, K)`` array with unit-norm columns (read-only).

    Example:
        >>> d = sliced_wasserstein_directions(64, 8)
        >>> d.shape, np.allclose(np.linalg.norm(d, axis=0), 1)
        ((64, 8), True)
    """
    channels = check_positive_int(channels, "channels")
    k = channels if num_projections is None else check_positive_int(num_projections,
                                                                    "num_projections")
    return _directions(channels, k, check_seed(seed))


def sorted_projections(features, directions):
    """The sorted 1-D projections of each image's feature vectors: ``(batch, K, H*W)``.

    Every spatial position's ``C``-vector is projected on each of the ``K`` directions
    and the ``H*W`` values of each projection are sorted (ascending): the empirical
    quantile functions that :func:`sliced_wasserstein` compares.

    Args:
        features: ``(batch, H, W, C)`` tensor.
        directions: ``(C, K)`` array, e.g. from :func:`sliced_wasserstein_directions`.

    Returns:
        ``(batch, K, H*W)`` tensor.
    """
    features = as_float_tensor(features, "features")
    shape = ops.shape(features)
    flat = ops.reshape(features, (shape[0], -1, shape[-1]))  # (B, N, C)
    projected = ops.matmul(flat, ops.cast(directions, flat.dtype))  # (B, N, K)
    return ops.sort(ops.transpose(projected, (0, 2, 1)), axis=-1)


def sliced_wasserstein(features_pred, target, directions):
    """Sliced Wasserstein style distance, the loss L_SW of Heitz et al. (CVPR 2021), per image.

    ``SW(p, t) = 1/K sum_k 1/N sum_i (sort(p . v_k)_i - T_k(q_i))^2``: the squared
    2-Wasserstein distance between the distributions of the projections of ``y_pred``'s
    ``N = H*W`` feature vectors on each direction ``v_k`` and those of the target,
    averaged over the ``K`` directions. It compares the whole distribution of feature
    vectors, not only its second moments (the Gram matrix), and ignores where in the
    image each vector occurs.

    Sizes: ``T_k`` is the target's empirical quantile function (its sorted projections,
    ``N_t`` values) read at the centres ``q_i = (i + 1/2) / N`` of ``y_pred``'s ``N``
    quantile bins (the target value of rank ``floor(q_i N_t)``). With ``N_t = N`` this is
    exactly the 1-D Wasserstein-2 distance of the two empirical distributions; with other
    sizes it is its nearest-rank approximation, off by at most the target's largest gap
    between consecutive quantiles.

    Args:
        features_pred: ``(batch, H, W, C)`` tensor.
        target: ``(1 or batch, K, N_t)`` sorted projections (:func:`sorted_projections`).
        directions: the ``(C, K)`` directions the target was projected on.

    Returns:
        ``(batch,)`` tensor (>= 0; 0 for the same feature vectors in any order).

    Example:
        >>> f = np.random.rand(2, 4, 4, 8).astype("float32")
        >>> d = sliced_wasserstein_directions(8, 4)
        >>> np.asarray(sliced_wasserstein(f[:, ::-1], sorted_projections(f, d), d))
        array([0., 0.], dtype=float32)

    References:
        Heitz, Vanderhaeghe, Chajadi & Paulin, "A Sliced Wasserstein Loss for Neural
        Texture Synthesis", CVPR 2021.
    """
    features_pred = as_float_tensor(features_pred, "features_pred")
    target = as_float_tensor(target, "target")
    if len(target.shape) != 3:
        raise InputError(
            "target must hold sorted projections (1 or batch, K, N_t), as sorted_projections "
            f"returns them. Received: target.shape={tuple(target.shape)}"
        )
    target, features_pred = check_one_or_same_batch(
        target,
        features_pred,
        "target must hold the sorted projections of one style (a batch of 1) or of one per "
        "image of features_pred (its batch size); project one style or split the batch. ",
        names=("target", "features_pred"),
    )
    pred = sorted_projections(features_pred, directions)  # (B, K, N)
    n_pred, n_target = pred.shape[-1], target.shape[-1]
    if n_pred is None or n_target is None or n_pred != n_target:
        n_pred_t = ops.cast(ops.shape(pred)[-1], "float32")
        n_target_t = ops.cast(ops.shape(target)[-1], "float32")
        centres = (ops.cast(ops.arange(ops.shape(pred)[-1]), "float32") + 0.5) / n_pred_t
        ranks = ops.minimum(ops.floor(centres * n_target_t), n_target_t - 1.0)
        target = ops.take(target, ops.cast(ranks, "int32"), axis=-1)
    return ops.mean(ops.square(pred - target), axis=(1, 2))


__all__ += ["sliced_wasserstein", "sliced_wasserstein_directions", "sorted_projections"]
