"""Building blocks of the image transformation networks (``keras.ops`` only: any backend).

Johnson, Alahi & Fei-Fei (2016), supplementary material, Section 2 ("Architectures"):
the transformation networks are built from convolutions followed by a normalization
and a ReLU, residual blocks of two 3x3 convolutions (Gross & Wilber 2016; ReLU after
the first only, identity shortcut), strided convolutions for down-sampling and
fractionally-strided convolutions for up-sampling, and a scaled ``tanh`` at the output.

Every layer here is registered (``package="keras_perceptual"``), returns its full
constructor arguments from ``get_config`` and implements ``compute_output_shape``,
so the networks built from them load with ``keras.models.load_model(path,
safe_mode=True)`` and work with symbolic ``(None, None, 3)`` inputs.

* :class:`ReflectionPadding2D` - mirror padding (``keras.ops.pad(mode="reflect")``).
* :class:`InstanceNormalization` - Ulyanov et al. (2016), the official code's choice.
* :class:`ConditionalInstanceNormalization` - one scale and offset per style (Dumoulin et
  al. 2017): many styles, and blends of them, in one network.
* :class:`AdaptiveInstanceNormalization` - the style features' per-channel mean and
  standard deviation given to the content features (Huang & Belongie 2017): any style.
* :class:`ConvBlock` - padding, convolution, normalization, activation.
* :class:`ResidualBlock` - the paper's residual block.
* :class:`UpsamplingBlock` - x2 up-sampling: ``"transpose"`` (the paper), ``"resize"``
  (nearest neighbour then convolution, Odena et al. 2016) or ``"subpixel"``
  (depth-to-space, Shi et al. 2016).
* :class:`DepthToSpace`, :class:`PadToMultiple`, :class:`CropToReference`,
  :class:`BoundedOutput` - glue that keeps the networks free of ``Lambda`` layers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    as_number,
    check_choice,
    check_flag,
    check_float_dtype,
    check_one_or_same_batch,
    check_positive_float,
    check_positive_int,
    check_value_range,
    checked_at_run_time,
    concrete_values,
    shapes_agree,
    static_image_shape,
)
from keras_perceptual.errors import InputError
from keras_perceptual.ops import ADAIN_EPSILON, channel_mean_std, from_unit_range, to_unit_range

NORMALIZATIONS = ("instance", "batch", "none")
#: What the blocks accept: the networks' normalizations plus ``"conditional"``
#: (:class:`ConditionalInstanceNormalization`; the block is then called on ``[x, style_weights]``).
BLOCK_NORMALIZATIONS = (*NORMALIZATIONS, "conditional")
UPSAMPLING_MODES = ("transpose", "resize", "subpixel")
PADDINGS = ("reflect", "zero")
OUTPUT_ACTIVATIONS = ("tanh", "sigmoid")
PAD_MODES = ("reflect", "symmetric", "constant")

_register = keras.saving.register_keras_serializable(package="keras_perceptual")


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _pair(value: Any, name: str) -> tuple[int, int]:
    """``k`` or ``(kh, kw)`` (a list, tuple or numpy array) as a pair of positive ints."""
    given = value
    if isinstance(value, np.ndarray):
        value = value.tolist()  # numpy integers become ints: the config stays JSON
    if isinstance(value, (list, tuple)) and len(value) == 2:
        pair = value
    elif isinstance(value, (list, tuple)):
        pair = (None, None)
    else:
        pair = (value, value)
    try:
        return (check_positive_int(pair[0], name), check_positive_int(pair[1], name))
    except InputError:
        raise InputError(
            f"{name} must be an integer >= 1 or a pair (height, width) of them, e.g. 3 or "
            f"(3, 5). Received: {name}={given!r}"
        ) from None


def _padding_pairs(padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))`` as nested int pairs."""
    error = InputError(
        "padding must be an int >= 0, a pair (height_pad, width_pad) or "
        "((top, bottom), (left, right)) of ints >= 0, e.g. 4 or ((4, 4), (4, 4)). "
        f"Received: padding={padding!r}"
    )

    def as_int(v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise error
        return int(v)

    if isinstance(padding, np.ndarray):
        padding = padding.tolist()
    if isinstance(padding, (list, tuple)):
        if len(padding) != 2:
            raise error
        pairs = []
        for item in padding:
            if isinstance(item, (list, tuple)):
                if len(item) != 2:
                    raise error
                pairs.append((as_int(item[0]), as_int(item[1])))
            else:
                pairs.append((as_int(item), as_int(item)))
        return (pairs[0], pairs[1])
    p = as_int(padding)
    return ((p, p), (p, p))


def _check_activation(activation: Any) -> str | None:
    """A Keras activation name (kept serializable) or ``None``."""
    if activation is None:
        return None
    try:
        if not isinstance(activation, str):
            raise ValueError
        keras.activations.get(activation)
    except ValueError:
        raise InputError(
            "activation must be the name of a Keras activation such as 'relu' or None. "
            f"Received: activation={activation!r}"
        ) from None
    return activation


def _spatial_dims(shape) -> tuple:
    return shape[1], shape[2]


def _check_rank4(shape, layer: keras.layers.Layer) -> None:
    if len(shape) != 4:
        raise InputError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects rank-4 channels-last "
            "images (batch, height, width, channels); add a batch axis with images[None]. "
            f"Received: input_shape={tuple(shape)}"
        )


def _padded_shape(shape, pads) -> tuple:
    (top, bottom), (left, right) = pads
    h, w = _spatial_dims(shape)
    return (
        shape[0],
        None if h is None else h + top + bottom,
        None if w is None else w + left + right,
        shape[3],
    )


def _pad2d(x, pads, mode: str):
    """Pads the spatial axes of a channels-last batch; ``mode`` 'reflect' or 'constant'."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode=mode)


def _check_reflect_fits(shape, pads, layer: keras.layers.Layer, mode: str = "reflect") -> None:
    """Reflection by ``p`` pixels needs more than ``p`` pixels (``symmetric``: at least ``p``)."""
    need_h = max(pads[0]) + (1 if mode == "reflect" else 0)
    need_w = max(pads[1]) + (1 if mode == "reflect" else 0)
    h, w = _spatial_dims(shape)
    if (h is not None and h < need_h) or (w is not None and w < need_w):
        raise InputError(
            f"Layer {layer.name!r} mirrors {max(pads[0])}x{max(pads[1])} pixels, which needs "
            f"inputs of at least {need_h}x{need_w} pixels; use larger images (or zero "
            f"padding). Received: input_shape={tuple(shape)}"
        )


def _keys_cubic(distance: float, a: float = -0.5) -> float:
    """Keys' cubic convolution kernel (the ``bicubic`` of tensorflow.image.resize, PIL, OpenCV)."""
    d = abs(distance)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def bicubic_upsample(x, factor: int):
    """Bicubic up-sampling by an integer factor, ``keras.ops`` only, dynamic sizes allowed.

    Keys' cubic kernel (a = -0.5) with half-pixel centres, written as ``factor**2`` fixed
    5x5 phase filters followed by a pixel shuffle, so it works with unknown height and
    width on every backend (``keras.ops.image.resize`` needs static sizes). Away from the
    border it equals ``tensorflow.image.resize(x, (H*factor, W*factor), "bicubic")`` to float
    rounding; within two input pixels of the border, edge pixels are replicated (as
    OpenCV does), where TensorFlow renormalizes the kernel weights instead.

    Args:
        x: rank-4 channels-last floating-point tensor ``(B, H, W, C)``, any value range.
        factor: the integer up-sampling factor, >= 1 (1 returns ``x``).

    Returns:
        ``(B, H*factor, W*factor, C)`` tensor of ``x``'s dtype.

    Raises:
        InputError: ``factor`` is not an integer >= 1 (2.5 was truncated to 2), or ``x`` is
            not a rank-4 floating-point batch (integer images had their kernel truncated).

    Example:
        >>> bicubic_upsample(np.ones((1, 3, 3, 1), "float32"), 2).shape
        (1, 6, 6, 1)
    """
    r = check_positive_int(factor, "factor")
    if not hasattr(x, "shape"):
        x = ops.convert_to_tensor(x)
    static_image_shape(x, "x", channels=None)
    check_float_dtype(x, "x")
    if r == 1:
        return x
    taps = []
    for phase in range(r):
        offset = (phase + 0.5) / r - 0.5  # output pixel centre, in input pixels
        taps.append([_keys_cubic(k - offset) for k in range(-2, 3)])
    kernel = [
        [[[taps[i][u] * taps[j][v] for i in range(r) for j in range(r)]] for v in range(5)]
        for u in range(5)
    ]
    kernel = ops.convert_to_tensor(kernel, dtype=x.dtype)  # (5, 5, 1, r*r)
    static = tuple(x.shape)
    dynamic = ops.shape(x)
    batch, height, width = (static[i] if static[i] is not None else dynamic[i] for i in range(3))
    channels = static[3]
    # Edge replication by two pixels (ops.pad's "edge" mode is not on every backend).
    x = ops.concatenate([x[:, :1], x[:, :1], x, x[:, -1:], x[:, -1:]], axis=1)
    x = ops.concatenate([x[:, :, :1], x[:, :, :1], x, x[:, :, -1:], x[:, :, -1:]], axis=2)
    # Channels into the batch so one (5, 5, 1, r*r) filter bank serves them all.
    x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, height + 4, width + 4, 1))
    x = ops.depth_to_space(ops.conv(x, kernel, padding="valid"), r)
    x = ops.reshape(x, (batch, channels, height * r, width * r))
    return ops.transpose(x, (0, 2, 3, 1))


#: Block side of :func:`blocked_conv` (4x4 output pixels: 16 times the output channels).
CONV_BLOCK = 4


def blocked_kernel(kernel, block: int = CONV_BLOCK):
    """The kernel of :func:`blocked_conv`: ``(kh, kw, C, F)`` to
    ``(block * kph, block * kpw, C, block**2 * F)`` with ``kph = ceil((kh - 1) / block) + 1``
    (``kpw`` alike): for each output phase ``(r, r')``, the kernel shifted by ``(r, r')``
    inside the larger window (zeros elsewhere), the phases concatenated along the output
    channels in ``ops.depth_to_space``'s order.

    Example:
        >>> blocked_kernel(np.zeros((9, 9, 32, 3), "float32")).shape
        (12, 12, 32, 48)
    """
    b = check_positive_int(block, "block", minimum=2)
    kh, kw = tuple(kernel.shape)[:2]
    height, width = b * (-(-(kh - 1) // b) + 1), b * (-(-(kw - 1) // b) + 1)
    return ops.concatenate(
        [
            ops.pad(kernel, [[r, height - kh - r], [r2, width - kw - r2], [0, 0], [0, 0]])
            for r in range(b)
            for r2 in range(b)
        ],
        axis=-1,
    )


def blocked_conv(x, kernel, bias, height, width, block: int = CONV_BLOCK, blocked=None):
    """A stride-1 'valid' convolution with few output channels, computed ``block x block``
    output pixels at a time: the same numbers (to float round-off), faster on CPUs.

    CPU convolution kernels (oneDNN, which TensorFlow, OpenVINO and ONNX Runtime use, and
    XNNPACK) vectorize over output channels: a convolution with 3 output channels, like the
    9x9 output layer of the paper's networks, fills 3 of the 16 float32 lanes of an AVX-512
    register. It ran at 20% of the machine's convolution peak and took 21% of the style
    network's time at 1024 px and 60% of the x4 SR network's (OpenVINO's per-layer profile,
    ``benchmarks/RESULTS.md``). Here each ``block x block`` group of output pixels is one
    output position of a stride-``block`` convolution with ``block**2`` times the output
    channels (:func:`blocked_kernel`: 48 for 3 at ``block=4``, full lanes), rearranged by
    ``ops.depth_to_space`` (Shi et al. 2016); the window grows from 9 to 12, 1.78x the
    multiply-adds. Measured on the 1024 px output layer (with its reflection padding): 1.8x
    (TensorFlow) and 2.0x (OpenVINO) faster with 32 input channels, 1.6x and 2.0x with 64.

    Args:
        x: ``(B, height + kh - 1, width + kw - 1, C)``: the input, already padded by the
            caller (for a 'same'-size output).
        kernel: ``(kh, kw, C, F)`` convolution kernel.
        bias: ``(F,)`` or ``None``.
        height, width: the output's size (ints, or scalar tensors for dynamic shapes).
        block: the block side, an integer >= 2.
        blocked: :func:`blocked_kernel` of ``kernel``, if already computed (exports embed it
            as a constant); else it is computed here.

    Returns:
        ``(B, height, width, F)``, equal to ``ops.conv(x, kernel, padding="valid") + bias``.

    Example:
        >>> x = np.random.rand(1, 20, 21, 2).astype("float32")
        >>> k = np.random.rand(9, 9, 2, 3).astype("float32")
        >>> y = blocked_conv(x, k, None, 12, 13)
        >>> bool(np.allclose(y, keras.ops.conv(x, k), atol=1e-4))
        True
    """
    b = check_positive_int(block, "block", minimum=2)
    if blocked is None:
        blocked = blocked_kernel(kernel, b)
    kh, kw, channels, _ = tuple(kernel.shape)
    # Zeros at the bottom and right: b * ceil(size / b) outputs need that many + window - b.
    extra_h = (b - height % b) % b + blocked.shape[0] - b - (kh - 1)
    extra_w = (b - width % b) % b + blocked.shape[1] - b - (kw - 1)
    if not (isinstance(extra_h, int) and isinstance(extra_w, int) and extra_h == extra_w == 0):
        x = ops.pad(x, [[0, 0], [0, extra_h], [0, extra_w], [0, 0]])
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], shape[2], channels))  # static channels (TFLite)
    y = ops.conv(x, blocked, strides=b, padding="valid")
    if bias is not None:
        y = y + ops.tile(bias, [b * b])
    return ops.depth_to_space(y, b)[:, :height, :width, :]


#: ``{id(ConvBlock): its blocked kernel as a NumPy array}`` in :func:`constant_blocked_kernels`.
_CONSTANT_BLOCKED_KERNELS: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "keras_perceptual_constant_blocked_kernels", default=None
)


@contextlib.contextmanager
def constant_blocked_kernels(layers: Iterable[keras.layers.Layer]):
    """Within this context, the :class:`ConvBlock` layers among ``layers`` that compute on
    pixel blocks at inference use their blocked kernels (:func:`blocked_kernel`, computed
    here, eagerly, from their current weights) as constants.

    For exports: a graph traced inside holds the blocked kernel as a constant, as the
    converters (TFLite, above all its integer quantization, which needs constant
    convolution weights; ONNX; OpenVINO) want it, instead of the ops that rearrange it.

    Args:
        layers: layers to look through (e.g. every layer of a model); others are ignored.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> with constant_blocked_kernels(net.layers):
        ...     y = net(np.zeros((1, 16, 16, 3), "float32"))
    """
    kernels = {
        id(layer): ops.convert_to_numpy(blocked_kernel(layer.conv.kernel))
        for layer in layers
        if isinstance(layer, ConvBlock) and layer.blocked_inference
    }
    token = _CONSTANT_BLOCKED_KERNELS.set(kernels)
    try:
        yield
    finally:
        _CONSTANT_BLOCKED_KERNELS.reset(token)


# --------------------------------------------------------------------------------------
# Instance-normalization statistics override (used by tiled inference)
# --------------------------------------------------------------------------------------

#: ``provider(layer, inputs) -> (mean, variance) | None`` consulted by InstanceNormalization.
StatisticsProvider = Callable[[keras.layers.Layer, Any], Any]
_STATISTICS_PROVIDER: contextvars.ContextVar[StatisticsProvider | None] = contextvars.ContextVar(
    "keras_perceptual_instance_norm_statistics", default=None
)


def instance_moments(layer: keras.layers.Layer, x):
    """Per-image, per-channel mean and variance of ``x`` over height and width.

    What every instance-statistics layer here (:class:`InstanceNormalization`,
    :class:`ConditionalInstanceNormalization`, the content side of
    :class:`AdaptiveInstanceNormalization`) normalizes with: the moments of ``x``
    itself, or, inside :func:`instance_norm_statistics`, those its provider returns for
    ``layer`` (tiled inference uses this to apply whole-image statistics to every tile).

    Args:
        layer: the layer asking (the provider's key).
        x: float32 ``(B, H, W, C)`` tensor.

    Returns:
        ``(mean, variance)``, each ``(B, 1, 1, C)`` float32 (or broadcastable to it).

    Example:
        >>> layer = InstanceNormalization()
        >>> mean, variance = instance_moments(layer, np.ones((1, 4, 4, 3), "float32"))
        >>> mean.shape, variance.shape
        ((1, 1, 1, 3), (1, 1, 1, 3))
    """
    provider = _STATISTICS_PROVIDER.get()
    statistics = provider(layer, x) if provider is not None else None
    if statistics is None:
        return ops.moments(x, axes=(1, 2), keepdims=True)
    return tuple(
        ops.reshape(ops.cast(ops.convert_to_tensor(s), "float32"), (-1, 1, 1, x.shape[-1]))
        for s in statistics
    )


@contextlib.contextmanager
def instance_norm_statistics(provider: StatisticsProvider) -> Iterator[None]:
    """Lets ``provider`` observe and replace the statistics of every InstanceNormalization.

    Inside the ``with`` block each :class:`InstanceNormalization` layer calls
    ``provider(layer, inputs)`` with its float32 inputs ``(B, H, W, C)``. Returning
    ``None`` keeps the usual per-image statistics; returning ``(mean, variance)``
    (arrays broadcastable to ``(B, 1, 1, C)``) normalizes with those instead. Tiled
    inference uses it to normalize every tile with the statistics of the whole image.
    It takes effect on eager calls (``model(x)``), not inside an already traced
    ``model.predict`` function.

    Args:
        provider: the callable described above.

    Returns:
        A context manager.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> x = np.random.rand(1, 32, 32, 3).astype("float32")
        >>> with instance_norm_statistics(lambda layer, x: None):  # None: the layer's own
        ...     y = net(x)
        >>> np.allclose(y, net(x))
        True
    """
    token = _STATISTICS_PROVIDER.set(provider)
    try:
        yield
    finally:
        _STATISTICS_PROVIDER.reset(token)


class ConfigFieldsMixin:
    """``get_config`` from a list of attribute names, for layers whose config is their arguments.

    A layer that stores each constructor argument (checked) under the argument's own name
    declares ``CONFIG_FIELDS`` and inherits ``get_config``: the base layer's config plus
    each named attribute, tuples (also nested) written as lists so the config is JSON. Put
    the mixin before ``keras.layers.Layer`` in the bases.

    Example:
        >>> class Shift(ConfigFieldsMixin, keras.layers.Layer):
        ...     CONFIG_FIELDS = ("offset",)
        ...     def __init__(self, offset=(1, 2), **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.offset = tuple(offset)
        >>> Shift(name="shift").get_config()["offset"]
        [1, 2]
    """

    #: The attributes ``get_config`` records, in order (each also a constructor argument).
    CONFIG_FIELDS: tuple[str, ...] = ()

    def get_config(self):
        config = super().get_config()
        for name in self.CONFIG_FIELDS:
            config[name] = _as_lists(getattr(self, name))
        return config


def _as_lists(value):
    """``value`` with every tuple (also nested) as a list, as a JSON config holds it."""
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------


@_register
class ReflectionPadding2D(ConfigFieldsMixin, keras.layers.Layer):
    """Mirror-pads the height and width of channels-last images (no edge repeat).

    ``keras.ops.pad(mode="reflect")``: the row beyond the border is the first row
    inside it, as ``numpy.pad(mode="reflect")`` and ``tensorflow.pad(mode="REFLECT")``. The
    official code of Johnson et al. pads every convolution this way to avoid the
    dark borders of zero padding. Padding ``p`` needs inputs larger than ``p``.

    Args:
        padding: ``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
        **kwargs: standard layer arguments (``name``, ``dtype``, ...).

    Returns:
        ``(B, H + top + bottom, W + left + right, C)``.

    Example:
        >>> ReflectionPadding2D(4)(np.zeros((1, 32, 32, 3))).shape
        (1, 40, 40, 3)
    """

    def __init__(self, padding: Any = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _padding_pairs(padding)

    def call(self, inputs):
        _check_reflect_fits(tuple(inputs.shape), self.padding, self)
        return _pad2d(inputs, self.padding, "reflect")

    def compute_output_shape(self, input_shape):
        _check_rank4(input_shape, self)
        _check_reflect_fits(input_shape, self.padding, self)
        return _padded_shape(input_shape, self.padding)

    CONFIG_FIELDS = ("padding",)


@_register
class InstanceNormalization(ConfigFieldsMixin, keras.layers.Layer):
    """Normalizes each channel of each image over its height and width.

    ``y = gamma * (x - mean_hw(x)) / sqrt(var_hw(x) + epsilon) + beta`` with per-image,
    per-channel statistics (Ulyanov, Vedaldi & Lempitsky 2016, "Instance Normalization:
    The Missing Ingredient for Fast Stylization"); the official code of Johnson et al.
    switched to it from batch normalization. Same as
    ``keras.layers.GroupNormalization(groups=-1)``, computed in float32 under mixed
    precision, and able to use externally supplied statistics (see
    :func:`instance_norm_statistics`), which tiled inference needs.

    Args:
        epsilon: added to the variance (the official code's ``1e-5``).
        center: learn the offset ``beta``.
        scale: learn the scale ``gamma``.
        **kwargs: standard layer arguments.

    Returns:
        A tensor of the input's shape.

    Example:
        >>> y = InstanceNormalization()(np.random.rand(2, 8, 8, 4))
    """

    def __init__(self, epsilon: float = 1e-5, center: bool = True, scale: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.center = check_flag(center, "center")
        self.scale = check_flag(scale, "scale")

    def build(self, input_shape):
        _check_rank4(input_shape, self)
        channels = input_shape[-1]
        if channels is None:
            raise InputError(
                f"Layer {self.name!r} needs a known channel count. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.gamma = (
            self.add_weight(shape=(channels,), initializer="ones", name="gamma", autocast=False)
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(shape=(channels,), initializer="zeros", name="beta", autocast=False)
            if self.center
            else None
        )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean, variance = instance_moments(self, x)
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            y = y * ops.cast(self.gamma, "float32")
        if self.beta is not None:
            y = y + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    CONFIG_FIELDS = ("epsilon", "center", "scale")


def _check_style_weights_shape(
    shape, num_styles: int, layer: keras.layers.Layer, features_shape=None
) -> None:
    shape = tuple(shape)
    if len(shape) != 2 or (shape[-1] is not None and shape[-1] != num_styles):
        raise InputError(
            f"Layer {layer.name!r} holds {num_styles} styles and takes style_weights of shape "
            f"(batch, {num_styles}): one row of {num_styles} weights per image (one-hot selects "
            f"a style, convex weights blend). Received: style_weights.shape={shape}"
        )
    if features_shape is not None and not shapes_agree(shape[:1], tuple(features_shape)[:1]):
        raise InputError(_batch_mismatch_message(layer, num_styles) + f"{tuple(features_shape)}, "
                         f"style_weights.shape={shape}")


def _batch_mismatch_message(layer: keras.layers.Layer, num_styles: int) -> str:
    return (
        f"Layer {layer.name!r}: features and style_weights must have the same batch size, one "
        f"row of {num_styles} weights per image; repeat one row for every image with "
        f"np.repeat(row[None], batch, axis=0). Received: features.shape="
    )


@_register
class ConditionalInstanceNormalization(InstanceNormalization):
    """Instance normalization with one learned scale and offset per style.

    Called on ``[features, style_weights]``: ``features`` ``(B, H, W, C)`` are
    instance-normalized (:class:`InstanceNormalization`), then scaled and shifted with
    ``gamma_b = sum_s w_bs gamma_s`` and ``beta_b = sum_s w_bs beta_s``, where ``w`` is
    ``style_weights`` ``(B, num_styles)`` and ``gamma``, ``beta`` are ``(num_styles, C)``
    (Dumoulin, Shlens & Kudlur, "A Learned Representation for Artistic Style", ICLR 2017,
    Eq. 5 and Section 3: conditional instance normalization; convex combinations of the
    per-style parameters blend the styles, Fig. 7). A one-hot row selects a style and then
    equals :class:`InstanceNormalization` with that style's ``gamma`` and ``beta``. The
    weights are not checked here (a graph cannot raise on values); ``stylize`` checks them.
    Float32 computation under mixed precision, like :class:`InstanceNormalization`, whose
    tiled-inference statistics override it shares.

    Args:
        num_styles: the number of styles ``N``.
        epsilon: added to the variance.
        center: learn the offsets ``beta``.
        scale: learn the scales ``gamma``.
        **kwargs: standard layer arguments.

    Returns:
        A tensor shaped like ``features``.

    Raises:
        InputError: ``num_styles`` < 1, a bad ``epsilon``, or ``style_weights`` not
            ``(batch, num_styles)`` with the features' batch (checked on static shapes at
            build and call; in a TensorFlow graph, batch sizes unknown when traced are
            checked when it runs).

    Example:
        >>> layer = ConditionalInstanceNormalization(3)
        >>> y = layer([np.random.rand(2, 8, 8, 4), np.eye(3)[[0, 2]]])  # styles 0 and 2
        >>> y.shape
        (2, 8, 8, 4)
    """

    def __init__(
        self,
        num_styles: int,
        epsilon: float = 1e-5,
        center: bool = True,
        scale: bool = True,
        **kwargs,
    ):
        super().__init__(epsilon=epsilon, center=center, scale=scale, **kwargs)
        self.num_styles = check_positive_int(num_styles, "num_styles")

    def _split_shapes(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
                and isinstance(input_shape[0], (list, tuple))):
            raise InputError(
                f"Layer {self.name!r} (ConditionalInstanceNormalization) is called on "
                "[features, style_weights]. Received: input_shape="
                f"{tuple(input_shape) if input_shape is not None else None}"
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape):
        features_shape, weights_shape = self._split_shapes(input_shape)
        _check_rank4(features_shape, self)
        _check_style_weights_shape(weights_shape, self.num_styles, self, features_shape)
        channels = features_shape[-1]
        if channels is None:
            raise InputError(
                f"Layer {self.name!r} needs a known channel count. "
                f"Received: input_shape={features_shape}"
            )
        shape = (self.num_styles, channels)
        self.gamma = (
            self.add_weight(shape=shape, initializer="ones", name="gamma", autocast=False)
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(shape=shape, initializer="zeros", name="beta", autocast=False)
            if self.center
            else None
        )

    def call(self, inputs):
        features, style_weights = inputs
        _check_style_weights_shape(style_weights.shape, self.num_styles, self, features.shape)
        if features.shape[0] is None or style_weights.shape[0] is None:
            features, style_weights = checked_at_run_time(
                (features, style_weights),
                lambda f, w: ops.equal(f[0], w[0]),
                _batch_mismatch_message(self, self.num_styles) + "(features, style_weights)=",
            )
        x = ops.cast(features, "float32")
        mean, variance = instance_moments(self, x)
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        weights = ops.cast(style_weights, "float32")
        channels = x.shape[-1]
        if self.gamma is not None:
            gamma = ops.matmul(weights, ops.cast(self.gamma, "float32"))
            y = y * ops.reshape(gamma, (-1, 1, 1, channels))
        if self.beta is not None:
            beta = ops.matmul(weights, ops.cast(self.beta, "float32"))
            y = y + ops.reshape(beta, (-1, 1, 1, channels))
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self._split_shapes(input_shape)[0]

    CONFIG_FIELDS = (*InstanceNormalization.CONFIG_FIELDS, "num_styles")


@_register
class AdaptiveInstanceNormalization(ConfigFieldsMixin, keras.layers.Layer):
    """Gives content features the per-channel mean and standard deviation of style features.

    Called on ``[content_features, style_features]`` (or ``[content, style, alpha]``):
    ``AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)`` with per-image,
    per-channel statistics over height and width, ``sigma = sqrt(var + epsilon)``
    (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization", ICCV 2017, Eq. 8), then the content-style trade-off of their
    Section 7.1: ``alpha * AdaIN(x, y) + (1 - alpha) * x`` (``alpha=0`` returns the
    content features, ``1`` full stylization). No learned weights. The style features may
    have another height and width than the content's, and a batch of 1 (broadcast) or
    the content's batch. ``alpha`` is the constructor's unless a third input gives one
    per call (a scalar, ``(batch,)`` or ``(batch, 1)``). Float32 computation under mixed
    precision; during tiled inference the content statistics come from the whole image
    (see :func:`instance_norm_statistics`).

    Args:
        alpha: the default content-style trade-off in [0, 1].
        epsilon: added to both variances, > 0 (at 0 a flat content map divides by zero).
        **kwargs: standard layer arguments.

    Returns:
        A tensor shaped like ``content_features``.

    Raises:
        InputError: ``alpha`` outside [0, 1] (the constructor's, or a call's where its
            values are known: not inside a traced graph), ``epsilon``
            not > 0, an ``alpha`` input not ``()``, ``(batch,)`` or ``(batch, 1)``, or
            inputs whose channel counts or batch sizes do not match.

    Example:
        >>> adain = AdaptiveInstanceNormalization()
        >>> t = adain([np.random.rand(2, 8, 8, 16), np.random.rand(1, 5, 7, 16)])
        >>> t.shape
        (2, 8, 8, 16)
    """

    def __init__(self, alpha: float = 1.0, epsilon: float = ADAIN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.alpha = check_alpha(alpha)
        # > 0: with 0 a flat content map divides by zero (rsqrt(0): inf, then NaN).
        self.epsilon = check_positive_float(epsilon, "epsilon")

    def _shapes(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) in (2, 3)):
            raise InputError(
                f"Layer {self.name!r} (AdaptiveInstanceNormalization) is called on "
                "[content_features, style_features] or [content_features, style_features, "
                f"alpha]. Received: {len(input_shape) if isinstance(input_shape, (list, tuple)) else 1} input(s)"
            )
        content, style = tuple(input_shape[0]), tuple(input_shape[1])
        _check_rank4(content, self)
        _check_rank4(style, self)
        if content[-1] is not None and style[-1] is not None and content[-1] != style[-1]:
            raise InputError(
                f"Layer {self.name!r}: content and style features must have the same channel "
                f"count (the same encoder layer). Received: content.shape={content}, "
                f"style.shape={style}"
            )
        if (
            content[0] is not None
            and style[0] is not None
            and style[0] not in (1, content[0])
        ):
            raise InputError(
                f"Layer {self.name!r}: style features need a batch of 1 (one style for every "
                f"image) or the content's batch ({content[0]}). Received: content.shape="
                f"{content}, style.shape={style}"
            )
        return content, style

    def build(self, input_shape):
        self._shapes(input_shape)

    def style_statistics(self, style_features):
        """``(mean, std)`` of ``style_features``, each ``(B, C)`` float32 (Eqs. 5-6).

        Example:
            >>> adain = AdaptiveInstanceNormalization()
            >>> mean, std = adain.style_statistics(np.random.rand(1, 8, 8, 16))
            >>> tuple(mean.shape), tuple(std.shape)
            ((1, 16), (1, 16))
        """
        return channel_mean_std(style_features, self.epsilon)

    def transfer(self, content_features, style_mean, style_std, alpha=None):
        """AdaIN with given target statistics: ``alpha * (std * x_hat + mean) + (1 - alpha) * x``.

        ``x_hat`` is the content features instance-normalized (``epsilon`` added to the
        variance). AdaIN is affine in ``(mean, std)``, so a convex combination of several
        styles' statistics gives exactly the same combination of their AdaIN outputs (the
        style interpolation of Huang & Belongie, Section 7.1).

        Args:
            content_features: ``(B, H, W, C)``.
            style_mean: ``(B, C)`` or ``(1, C)``.
            style_std: ``(B, C)`` or ``(1, C)``.
            alpha: ``None`` (the layer's), a number or a ``(B,)``/``(B, 1)`` tensor.

        Returns:
            ``(B, H, W, C)`` in the layer's compute dtype.

        Example:
            >>> adain = AdaptiveInstanceNormalization()
            >>> features, style_features = np.random.rand(2, 8, 8, 16), np.random.rand(1, 4, 4, 16)
            >>> t = adain.transfer(features, *adain.style_statistics(style_features))
            >>> t.shape
            (2, 8, 8, 16)
        """
        x = ops.cast(content_features, "float32")
        channels = x.shape[-1]
        style_mean, style_std = ops.cast(style_mean, "float32"), ops.cast(style_std, "float32")
        message = (
            f"Layer {self.name!r}: style features need a batch of 1 (one style for every "
            "image) or the content's batch. "
        )
        style_mean, x = check_one_or_same_batch(style_mean, x, message, ("style_mean", "content"))
        style_std, x = check_one_or_same_batch(style_std, x, message, ("style_std", "content"))
        mean, variance = instance_moments(self, x)
        normalized = (x - mean) * ops.rsqrt(variance + self.epsilon)
        target = normalized * ops.reshape(style_std, (-1, 1, 1, channels))
        target = target + ops.reshape(style_mean, (-1, 1, 1, channels))
        alpha = self._checked_alpha(alpha, x.shape)
        if isinstance(alpha, float):
            if alpha != 1.0:
                target = alpha * target + (1.0 - alpha) * x
        else:
            alpha = ops.cast(alpha, "float32")
            if len(alpha.shape):
                alpha, x = check_one_or_same_batch(
                    alpha,
                    x,
                    f"Layer {self.name!r}: alpha must be a number, or one per image: (batch,) "
                    "or (batch, 1) with the content's batch. ",
                    names=("alpha", "content"),
                )
            alpha = ops.reshape(alpha, (-1, 1, 1, 1)) if len(alpha.shape) else alpha
            target = alpha * target + (1.0 - alpha) * x
        return ops.cast(target, self.compute_dtype)

    def _checked_alpha(self, alpha, content_shape):
        """``alpha`` as a float (a number), or a tensor of ``()``, ``(B,)`` or ``(B, 1)``
        whose values are checked where they are known (not in a traced graph)."""
        if alpha is None:
            return self.alpha
        if isinstance(alpha, (bool, int, float, np.number)):
            return check_alpha(alpha)
        values = concrete_values(alpha)
        if values is not None:
            outside = values[~((values >= 0.0) & (values <= 1.0))]  # NaN included
            if outside.size:
                check_alpha(float(outside[0]))  # raises, naming the first bad value
            if isinstance(alpha, (list, tuple)):
                alpha = values.astype("float32")
        shape = tuple(alpha.shape)
        batch = content_shape[0]
        if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)) or (
            len(shape) >= 1 and not (shape[0] in (1, None) or batch is None or shape[0] == batch)
        ):
            raise InputError(
                f"Layer {self.name!r}: alpha must be a number, or one per image: (batch,) or "
                f"(batch, 1) with the content's batch ({batch}). Received: alpha.shape={shape}"
            )
        return alpha

    def call(self, inputs):
        content, style = inputs[0], inputs[1]
        self._shapes([tuple(content.shape), tuple(style.shape)])
        alpha = inputs[2] if len(inputs) == 3 else None
        return self.transfer(content, *self.style_statistics(style), alpha=alpha)

    def compute_output_shape(self, input_shape):
        return self._shapes(input_shape)[0]

    CONFIG_FIELDS = ("alpha", "epsilon")


#: The encoder layer adaptive instance normalization works at (Huang & Belongie 2017).
ADAIN_ENCODER_LAYER = "relu4_1"


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """Returns the content-style trade-off ``alpha`` as a float in [0, 1], or raises.

    Example:
        >>> check_alpha(0.8)
        0.8
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(alpha, bool) or not 0.0 <= value <= 1.0:
        raise InputError(
            f"{name} must be a number in [0, 1]: 0 keeps the content, 1 transfers the style "
            f"fully (Huang & Belongie 2017). Received: {name}={alpha!r}"
        )
    return value


def _make_normalization(kind: str, dtype, name: str, num_styles: int | None = None):
    if kind == "instance":
        return InstanceNormalization(dtype=dtype, name=name)
    if kind == "conditional":
        return ConditionalInstanceNormalization(num_styles, dtype=dtype, name=name)
    if kind == "batch":
        return keras.layers.BatchNormalization(dtype=dtype, name=name)
    return None


class _ConditionalMixin:
    """Shared handling of ``normalization="conditional"``: the block is called on
    ``[x, style_weights]`` and hands ``style_weights`` to every normalization."""

    def _check_normalization(self, normalization, num_styles):
        self.normalization = check_choice(normalization, BLOCK_NORMALIZATIONS, "normalization")
        if self.normalization == "conditional":
            self.num_styles = check_positive_int(num_styles, "num_styles")
        elif num_styles is not None:
            raise InputError(
                "num_styles is only used with normalization='conditional' (conditional instance "
                f"normalization); leave it None. Received: num_styles={num_styles!r}, "
                f"normalization={normalization!r}"
            )
        else:
            self.num_styles = None

    @property
    def _conditional(self) -> bool:
        return self.normalization == "conditional"

    def _split_input_shape(self, input_shape):
        """``(x_shape, style_weights_shape or None)``."""
        if self._conditional:
            if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
                    and isinstance(input_shape[0], (list, tuple))):
                raise InputError(
                    f"Layer {self.name!r} uses conditional instance normalization and is called "
                    f"on [x, style_weights]. Received: input_shape={input_shape!r}"
                )
            return tuple(input_shape[0]), tuple(input_shape[1])
        return tuple(input_shape), None

    def _split_inputs(self, inputs):
        if self._conditional:
            if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
                raise InputError(
                    f"Layer {self.name!r} uses conditional instance normalization and is called "
                    f"on [x, style_weights]. Received: {type(inputs).__name__}"
                )
            return inputs[0], inputs[1]
        return inputs, None

    def _build_norm(self, norm, shape, weights_shape):
        if norm is not None:
            norm.build([shape, weights_shape] if self._conditional else shape)

    def _normalize(self, norm, x, style_weights, training):
        if norm is None:
            return x
        if self._conditional:
            return norm([x, style_weights])
        return norm(x, training=training)


class _PaddedConvMixin:
    """Shared ``padding`` handling: explicit symmetric ``k // 2`` padding, then a 'valid'
    convolution, so both padding modes sample the same pixel grid."""

    def _conv_pads(self, kernel_size):
        kh, kw = kernel_size
        return ((kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2))

    def _apply_pad(self, x, pads):
        if self.padding == "reflect":
            _check_reflect_fits(tuple(x.shape), pads, self)
            return _pad2d(x, pads, "reflect")
        return _pad2d(x, pads, "constant")


class _Block(ConfigFieldsMixin, _ConditionalMixin, _PaddedConvMixin):
    """What the convolution blocks share: their common arguments (checked and stored
    once), the normalization and activation after the convolution, and ``get_config``
    (:class:`ConfigFieldsMixin`)."""

    def __init__(self, filters, kernel_size, normalization, padding, num_styles, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self._check_normalization(normalization, num_styles)
        self.padding = check_choice(padding, PADDINGS, "padding")
        self._pads = self._conv_pads(self.kernel_size)

    def _init_norm_act(self, activation):
        """The ``norm`` and ``act`` sublayers (``None`` where there is none)."""
        self.activation = _check_activation(activation)
        policy = self.dtype_policy
        self.norm = _make_normalization(self.normalization, policy, "norm", self.num_styles)
        self.act = (
            keras.layers.Activation(activation, dtype=policy, name="act")
            if activation is not None
            else None
        )

    def _norm_act(self, x, style_weights, training):
        x = self._normalize(self.norm, x, style_weights, training)
        return x if self.act is None else self.act(x)


@_register
class ConvBlock(_Block, keras.layers.Layer):
    """Padding, a convolution, a normalization and an activation, as one layer.

    The unit of the paper's networks ("32x9x9 conv, stride 1" + batch norm + ReLU);
    ``normalization="none", activation=None`` gives the plain output convolution.
    Convolutions followed by a normalization have no bias (the normalization's mean
    subtraction would cancel it; the official code kept these dead parameters).
    Padding is ``kernel_size // 2`` on every side, so stride 1 keeps the size and
    stride 2 halves even sizes.

    Args:
        filters: output channels.
        kernel_size: ``k`` or ``(kh, kw)``.
        strides: ``s`` or ``(sh, sw)``.
        normalization: ``"instance"``, ``"batch"``, ``"none"`` or ``"conditional"``
            (:class:`ConditionalInstanceNormalization`: the block is then called on
            ``[x, style_weights]``).
        activation: ``"relu"`` or any Keras activation name, or ``None``.
        padding: ``"reflect"`` (the official code) or ``"zero"``.
        num_styles: styles of ``normalization="conditional"`` (else ``None``).
        **kwargs: standard layer arguments.

    Returns:
        ``(B, ceil(H / sh), ceil(W / sw), filters)``.

    Example:
        >>> ConvBlock(64, 3, strides=2)(np.zeros((1, 32, 32, 32))).shape
        (1, 16, 16, 64)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any = 3,
        strides: Any = 1,
        normalization: str = "instance",
        activation: str | None = "relu",
        padding: str = "reflect",
        num_styles: int | None = None,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, normalization, padding, num_styles, **kwargs)
        self.strides = _pair(strides, "strides")
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="valid",
            use_bias=self.normalization == "none",
            dtype=self.dtype_policy,
            name="conv",
        )
        self._init_norm_act(activation)

    def build(self, input_shape):
        input_shape, weights_shape = self._split_input_shape(input_shape)
        _check_rank4(input_shape, self)
        padded = _padded_shape(input_shape, self._pads)
        self.conv.build(padded)
        self._build_norm(self.norm, self.conv.compute_output_shape(padded), weights_shape)

    def call(self, inputs, training=None):
        inputs, style_weights = self._split_inputs(inputs)
        padded = self._apply_pad(inputs, self._pads)
        if self.blocked_inference and not training:
            # Inference only, so training runs the plain convolution whatever the backend.
            static, dynamic = tuple(inputs.shape), ops.shape(inputs)
            h = static[1] if static[1] is not None else dynamic[1]
            w = static[2] if static[2] is not None else dynamic[2]
            dtype = self.conv.compute_dtype
            bias = None if self.conv.bias is None else ops.cast(self.conv.bias, dtype)
            blocked = (_CONSTANT_BLOCKED_KERNELS.get() or {}).get(id(self))
            x = blocked_conv(
                ops.cast(padded, dtype), ops.cast(self.conv.kernel, dtype), bias, h, w,
                blocked=None if blocked is None else ops.cast(blocked, dtype),
            )  # fmt: skip
        else:
            x = self.conv(padded)
        return self._norm_act(x, style_weights, training)

    @property
    def blocked_inference(self) -> bool:
        """Whether inference computes the convolution on pixel blocks
        (:func:`blocked_conv`; training never does): stride 1, at most 4 output
        channels and at least 16 input channels (the networks' RGB output layer, not their
        RGB input layer), a kernel of 9 or more (at most 1.78x the multiply-adds) and an
        unquantized kernel."""
        return (
            self.built
            and self.strides == (1, 1)
            and self.filters <= 4
            and self.conv.kernel.shape[2] >= 16
            and min(self.kernel_size) >= 2 * CONV_BLOCK + 1
            and getattr(self.conv, "quantization_mode", None) is None
        )

    def compute_output_shape(self, input_shape):
        input_shape = self._split_input_shape(input_shape)[0]
        _check_rank4(input_shape, self)
        return self.conv.compute_output_shape(_padded_shape(input_shape, self._pads))

    CONFIG_FIELDS = (
        "filters", "kernel_size", "strides", "normalization", "activation", "padding", "num_styles",
    )  # fmt: skip


@_register
class ResidualBlock(_Block, keras.layers.Layer):
    """The paper's residual block: ``x + norm(conv(relu(norm(conv(x)))))``.

    Two ``kernel_size`` convolutions with ``filters`` channels, each followed by a
    normalization, a ReLU after the first only, and an identity shortcut (Johnson et
    al. 2016, supplementary Fig. 1, after Gross & Wilber 2016). Padded, so the spatial
    size is kept (the official code's design; the paper's table shows the unpadded
    variant with a 40-pixel reflection border at the input).

    Args:
        filters: channels; must equal the input's channel count.
        kernel_size: ``k`` or ``(kh, kw)`` (3 in the paper).
        normalization: ``"instance"``, ``"batch"``, ``"none"`` or ``"conditional"``
            (called on ``[x, style_weights]``, see :class:`ConvBlock`).
        padding: ``"reflect"`` or ``"zero"``.
        num_styles: styles of ``normalization="conditional"`` (else ``None``).
        **kwargs: standard layer arguments.

    Returns:
        A tensor of the input's shape.

    Example:
        >>> ResidualBlock(128)(np.zeros((1, 16, 16, 128))).shape
        (1, 16, 16, 128)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any = 3,
        normalization: str = "instance",
        padding: str = "reflect",
        num_styles: int | None = None,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, normalization, padding, num_styles, **kwargs)
        policy = self.dtype_policy
        bias = self.normalization == "none"
        self.conv1 = keras.layers.Conv2D(
            self.filters, self.kernel_size, use_bias=bias, dtype=policy, name="conv1"
        )
        self.norm1 = _make_normalization(self.normalization, policy, "norm1", self.num_styles)
        self.conv2 = keras.layers.Conv2D(
            self.filters, self.kernel_size, use_bias=bias, dtype=policy, name="conv2"
        )
        self.norm2 = _make_normalization(self.normalization, policy, "norm2", self.num_styles)

    def build(self, input_shape):
        input_shape, weights_shape = self._split_input_shape(input_shape)
        _check_rank4(input_shape, self)
        if input_shape[-1] != self.filters:
            raise InputError(
                f"ResidualBlock {self.name!r} has filters={self.filters} but its input has "
                f"{input_shape[-1]} channels; the identity shortcut needs them equal, so set "
                f"filters={input_shape[-1]}. Received: input_shape={tuple(input_shape)}"
            )
        padded = _padded_shape(input_shape, self._pads)
        self.conv1.build(padded)
        self.conv2.build(padded)
        for norm in (self.norm1, self.norm2):
            self._build_norm(norm, tuple(input_shape), weights_shape)

    def call(self, inputs, training=None):
        inputs, style_weights = self._split_inputs(inputs)
        x = self.conv1(self._apply_pad(inputs, self._pads))
        x = self._normalize(self.norm1, x, style_weights, training)
        x = ops.relu(x)
        x = self.conv2(self._apply_pad(x, self._pads))
        x = self._normalize(self.norm2, x, style_weights, training)
        return ops.add(inputs, x)

    def compute_output_shape(self, input_shape):
        return self._split_input_shape(input_shape)[0]

    CONFIG_FIELDS = ("filters", "kernel_size", "normalization", "padding", "num_styles")


@_register
class DepthToSpace(ConfigFieldsMixin, keras.layers.Layer):
    """Sub-pixel shuffle ``(B, H, W, C*r*r) -> (B, H*r, W*r, C)`` as a layer.

    ``keras.ops.depth_to_space`` (Shi et al., CVPR 2016), whose channel order is that of
    ``tensorflow.nn.depth_to_space`` (NHWC, "DCR") on every backend: output pixel
    ``(h*r + i, w*r + j)`` channel ``c`` is input channel ``(i*r + j)*C + c``.

    Args:
        block_size: the factor ``r``.
        **kwargs: standard layer arguments.

    Returns:
        The rearranged tensor.

    Example:
        >>> DepthToSpace(2)(np.zeros((1, 8, 8, 12))).shape
        (1, 16, 16, 3)
    """

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = check_positive_int(block_size, "block_size", minimum=2)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if len(inputs.shape) != 4 or channels is None or channels % self.block_size**2:
            raise InputError(
                f"DepthToSpace {self.name!r} needs rank-4 inputs with a known channel count "
                f"divisible by block_size**2={self.block_size**2}. "
                f"Received: inputs.shape={tuple(inputs.shape)}"
            )
        return ops.depth_to_space(inputs, self.block_size)

    def compute_output_shape(self, input_shape):
        _check_rank4(input_shape, self)
        r = self.block_size
        b, h, w, c = input_shape
        if c is None or c % (r * r):
            raise InputError(
                f"DepthToSpace {self.name!r} needs a channel count divisible by "
                f"block_size**2={r * r}. Received: input_shape={tuple(input_shape)}"
            )
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    CONFIG_FIELDS = ("block_size",)


def _nearest_upsample(x, factor: int):
    """Nearest-neighbour up-sampling by ``factor``: the values of
    ``keras.layers.UpSampling2D(factor, interpolation="nearest")``, as ``factor**2`` copies
    of the channels rearranged by ``keras.ops.depth_to_space``. Keras' layer repeats along
    each axis (under TensorFlow a reshape to a computed shape), which leaves the channel
    count unknown in a converted graph: TFLite then cannot use its builtin convolution
    after it (``export_tflite`` of ``style_transfer_net(upsampling="resize")`` failed with
    "TF Select ops: Conv2D")."""
    return ops.depth_to_space(ops.concatenate([x] * factor**2, axis=-1), factor)


@_register
class UpsamplingBlock(_Block, keras.layers.Layer):
    """Up-samples by ``factor`` with ``filters`` output channels, then normalizes and activates.

    Modes:

    * ``"transpose"``: a ``kernel_size`` ``Conv2DTranspose`` with stride ``factor``
      (the paper's "fractionally-strided convolution, stride 1/2"; the default).
    * ``"resize"``: nearest-neighbour resize, then a stride-1 convolution; free of
      checkerboard artifacts (Odena, Dumoulin & Olah 2016, "Deconvolution and
      Checkerboard Artifacts").
    * ``"subpixel"``: a convolution to ``filters * factor**2`` channels, then
      depth-to-space (Shi et al. 2016, ESPCN).

    Args:
        filters: output channels.
        mode: ``"transpose"``, ``"resize"`` or ``"subpixel"``.
        factor: the up-sampling factor (2 in the paper).
        kernel_size: ``k`` or ``(kh, kw)``.
        normalization: ``"instance"``, ``"batch"``, ``"none"`` or ``"conditional"``
            (called on ``[x, style_weights]``, see :class:`ConvBlock`).
        activation: a Keras activation name or ``None``.
        padding: ``"reflect"`` or ``"zero"`` (convolutions of the ``"resize"`` and
            ``"subpixel"`` modes; a transposed convolution needs none).
        num_styles: styles of ``normalization="conditional"`` (else ``None``).
        **kwargs: standard layer arguments.

    Returns:
        ``(B, H * factor, W * factor, filters)``.

    Example:
        >>> UpsamplingBlock(64, mode="subpixel")(np.zeros((1, 8, 8, 128))).shape
        (1, 16, 16, 64)
    """

    def __init__(
        self,
        filters: int,
        mode: str = "transpose",
        factor: int = 2,
        kernel_size: Any = 3,
        normalization: str = "instance",
        activation: str | None = "relu",
        padding: str = "reflect",
        num_styles: int | None = None,
        **kwargs,
    ):
        # The upsampling arguments are checked before the block's own.
        mode = check_choice(mode, UPSAMPLING_MODES, "upsampling")
        factor = check_positive_int(factor, "factor", minimum=2)
        super().__init__(filters, kernel_size, normalization, padding, num_styles, **kwargs)
        self.mode, self.factor = mode, factor
        policy = self.dtype_policy
        bias = self.normalization == "none"
        self.shuffle = None
        if self.mode == "transpose":
            self.conv = keras.layers.Conv2DTranspose(
                self.filters,
                self.kernel_size,
                strides=self.factor,
                padding="same",
                use_bias=bias,
                dtype=policy,
                name="conv",
            )
        else:
            out = self.filters * self.factor**2 if self.mode == "subpixel" else self.filters
            self.conv = keras.layers.Conv2D(
                out, self.kernel_size, use_bias=bias, dtype=policy, name="conv"
            )
            if self.mode != "resize":
                self.shuffle = DepthToSpace(self.factor, dtype=policy, name="shuffle")
        self._init_norm_act(activation)

    def _scaled(self, shape, channels):
        b, h, w, _ = shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, channels)

    def build(self, input_shape):
        input_shape, weights_shape = self._split_input_shape(input_shape)
        _check_rank4(input_shape, self)
        if self.mode == "transpose":
            self.conv.build(tuple(input_shape))
        elif self.mode == "resize":
            self.conv.build(_padded_shape(self._scaled(input_shape, input_shape[-1]), self._pads))
        else:
            self.conv.build(_padded_shape(input_shape, self._pads))
        self._build_norm(self.norm, self._scaled(input_shape, self.filters), weights_shape)

    def call(self, inputs, training=None):
        inputs, style_weights = self._split_inputs(inputs)
        if self.mode == "transpose":
            x = self.conv(inputs)
        elif self.mode == "resize":
            x = self.conv(self._apply_pad(_nearest_upsample(inputs, self.factor), self._pads))
        else:
            x = self.shuffle(self.conv(self._apply_pad(inputs, self._pads)))
        return self._norm_act(x, style_weights, training)

    def compute_output_shape(self, input_shape):
        input_shape = self._split_input_shape(input_shape)[0]
        _check_rank4(input_shape, self)
        return self._scaled(input_shape, self.filters)

    CONFIG_FIELDS = (
        "filters", "mode", "factor", "kernel_size", "normalization", "activation", "padding",
        "num_styles",
    )  # fmt: skip


@_register
class PadToMultiple(ConfigFieldsMixin, keras.layers.Layer):
    """Pads height and width at the bottom/right up to multiples of ``multiple``.

    Paired with :class:`CropToReference` at the end of a network that down-samples by
    ``multiple``, it lets the network take any size and return exactly the input's.
    It also rejects images smaller than ``min_size`` with a clear ``ValueError`` whenever
    the size is known when the layer runs (eager calls, ``model.predict``, JAX); inside
    a ``tensorflow.function`` traced for unknown sizes TensorFlow's own padding error, naming
    the layer, is raised instead.

    Args:
        multiple: pad each spatial size up to a multiple of this (1: no padding).
        mode: ``"reflect"``, ``"symmetric"`` or ``"constant"`` (zeros).
        min_size: the smallest height and width accepted.
        **kwargs: standard layer arguments.

    Returns:
        ``(B, ceil(H / multiple) * multiple, ceil(W / multiple) * multiple, C)``.

    Example:
        >>> PadToMultiple(4)(np.zeros((1, 63, 65, 3))).shape
        (1, 64, 68, 3)
    """

    def __init__(self, multiple: int = 4, mode: str = "reflect", min_size: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.multiple = check_positive_int(multiple, "multiple")
        self.mode = check_choice(mode, PAD_MODES, "mode")
        self.min_size = check_positive_int(min_size, "min_size")
        # The widest padding is multiple - 1; mirroring it must fit in the smallest input.
        need = self.multiple - 1 + (1 if self.mode == "reflect" else 0)
        if self.mode != "constant" and self.min_size < need:
            self.min_size = need

    def _check_size(self, shape):
        h, w = _spatial_dims(shape)
        if (h is not None and h < self.min_size) or (w is not None and w < self.min_size):
            raise InputError(
                f"Input images are {h}x{w} pixels; this model needs at least "
                f"{self.min_size}x{self.min_size}. Upscale or pad the images first. "
                f"Received: input_shape={tuple(shape)}"
            )

    def call(self, inputs):
        static = tuple(inputs.shape)
        self._check_size(static)
        if self.multiple == 1:
            return inputs
        dynamic = ops.shape(inputs)
        m = self.multiple
        h = static[1] if static[1] is not None else dynamic[1]
        w = static[2] if static[2] is not None else dynamic[2]
        # (m - h % m) % m, not (-h) % m: the same for h >= 0, and it never takes the modulo of
        # a negative number, which ONNX converters turn into a truncated remainder (-1, not 3).
        ph, pw = (m - h % m) % m, (m - w % m) % m
        if isinstance(ph, int) and isinstance(pw, int) and ph == pw == 0:
            return inputs
        padded = ops.pad(inputs, [[0, 0], [0, ph], [0, pw], [0, 0]], mode=self.mode)
        if static[3] is None:
            return padded
        # Padding by a computed amount loses the static channel count, which TFLite's
        # builtin convolutions need for dynamic spatial shapes.
        shape = ops.shape(padded)
        return ops.reshape(padded, (shape[0], shape[1], shape[2], static[3]))

    def compute_output_shape(self, input_shape):
        _check_rank4(input_shape, self)
        self._check_size(input_shape)
        m = self.multiple
        b, h, w, c = input_shape
        return (b, None if h is None else -(-h // m) * m, None if w is None else -(-w // m) * m, c)

    CONFIG_FIELDS = ("multiple", "mode", "min_size")


@_register
class CropToReference(keras.layers.Layer):
    """Crops ``x`` to the height and width of ``reference`` (top-left corner kept).

    Called as ``CropToReference()([x, reference])``; undoes :class:`PadToMultiple`.

    Args:
        **kwargs: standard layer arguments.

    Returns:
        ``x[:, :H_ref, :W_ref, :]``.

    Raises:
        InputError: ``x`` smaller than ``reference`` where both sizes are known when traced
            (it would come back smaller than ``reference``, not cropped to it).

    Example:
        >>> CropToReference()([np.zeros((1, 64, 68, 3)), np.zeros((1, 63, 65, 3))]).shape
        (1, 63, 65, 3)
    """

    def _check_sizes(self, x_shape, reference_shape):
        if any(
            a is not None and b is not None and a < b
            for a, b in zip(tuple(x_shape)[1:3], tuple(reference_shape)[1:3], strict=True)
        ):
            raise InputError(
                f"Layer {self.name!r} crops x to reference's height and width, so x must be "
                "at least as large; pass [padded, original] in that order (the output of "
                "PadToMultiple first). "
                f"Received: x.shape={tuple(x_shape)}, reference.shape={tuple(reference_shape)}"
            )

    def call(self, inputs):
        x, reference = inputs
        self._check_sizes(x.shape, reference.shape)
        static = tuple(reference.shape)
        dynamic = ops.shape(reference)
        h = static[1] if static[1] is not None else dynamic[1]
        w = static[2] if static[2] is not None else dynamic[2]
        return x[:, :h, :w, :]

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        self._check_sizes(x_shape, ref_shape)
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@_register
class BoundedOutput(ConfigFieldsMixin, keras.layers.Layer):
    """Maps unbounded activations into ``value_range`` with a scaled tanh (or sigmoid).

    ``low + (high - low) * (tanh(x) + 1) / 2`` (the paper's "scaled tanh" output,
    supplementary Section 2), or ``low + (high - low) * sigmoid(x)``, then clipped so
    rounding can never leave ``[low, high]``: every output is in range whatever the
    weights. Networks create it with ``dtype="float32"`` so they return float32 under
    mixed precision. Its ``value_range`` is how :func:`keras_perceptual.models.model_value_range`
    discovers a model's range.

    Args:
        activation: ``"tanh"`` or ``"sigmoid"``.
        value_range: ``(low, high)`` of the outputs.
        **kwargs: standard layer arguments.

    Returns:
        A tensor of the input's shape with values in ``[low, high]``.

    Example:
        >>> BoundedOutput(value_range=(-1, 1))(np.array([[-50.0, 0.0, 50.0]]))
        [[-1., 0., 1.]]
    """

    def __init__(
        self, activation: str = "tanh", value_range: Sequence[float] = (0.0, 1.0), **kwargs
    ):
        super().__init__(**kwargs)
        self.activation = check_choice(activation, OUTPUT_ACTIVATIONS, "activation")
        self.value_range = check_value_range(value_range)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.activation == "tanh":
            unit = (ops.tanh(x) + 1.0) * 0.5
        else:
            unit = ops.sigmoid(x)
        return ops.clip(from_unit_range(unit, self.value_range), *self.value_range)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    CONFIG_FIELDS = ("activation", "value_range")


@keras.saving.register_keras_serializable(package="keras_perceptual")
class LogitSkip(ConfigFieldsMixin, keras.layers.Layer):
    """Adds an image to pre-activation outputs, so a network learns a residual over it.

    ``call([logits, image])`` returns ``logits + f^-1(u)``, where ``u`` is ``image`` (first
    up-sampled by ``factor`` with :func:`bicubic_upsample`) mapped from ``value_range`` to
    [0, 1] and clipped to ``[epsilon, 1 - epsilon]``, and ``f`` the
    output activation of :class:`BoundedOutput` (``atanh(2u - 1)`` for the scaled tanh,
    ``log(u / (1 - u))`` for the sigmoid). With zero logits the network outputs ``image``
    itself (within ``epsilon``), and the output stays bounded by construction. Used by
    ``super_resolution_net(skip="bicubic")`` (global residual learning, as VDSR,
    Kim et al. 2016); the paper's networks have no such skip.

    Args:
        activation: ``"tanh"`` or ``"sigmoid"``, as the :class:`BoundedOutput` that follows.
        value_range: ``(low, high)`` of ``image``.
        epsilon: clipping margin in [0, 1] units.
        factor: bicubic up-sampling of ``image`` first (1: none).
        **kwargs: standard layer arguments.

    Returns:
        A tensor shaped like ``logits``.

    Example:
        >>> y = LogitSkip()([np.zeros((1, 2, 2, 3)), np.full((1, 2, 2, 3), 0.5)])
        >>> float(keras.ops.max(y))  # atanh(2 * 0.5 - 1) = 0: the output is the image
        0.0
    """

    def __init__(
        self,
        activation: str = "tanh",
        value_range: Sequence[float] = (0.0, 1.0),
        epsilon: float = 1e-3,
        factor: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activation = check_choice(activation, OUTPUT_ACTIVATIONS, "activation")
        self.value_range = check_value_range(value_range)
        self.factor = check_positive_int(factor, "factor")
        if not 0.0 < as_number(epsilon) < 0.5:
            raise InputError(
                "epsilon must be in (0, 0.5), a number: the clipping margin in [0, 1] units; "
                f"pass e.g. 1e-3. Received: epsilon={epsilon!r}"
            )
        self.epsilon = float(epsilon)

    def call(self, inputs):
        logits, image = inputs
        image = ops.cast(image, self.compute_dtype)
        if self.factor > 1:
            image = bicubic_upsample(image, self.factor)
        # Sizes known when traced are compared here (a backend broadcast error otherwise);
        # no run-time assertion, which the exported graphs (TFLite) could not hold.
        if not shapes_agree(tuple(logits.shape)[1:3], tuple(image.shape)[1:3]):
            raise InputError(
                f"LogitSkip adds image, up-sampled {self.factor}x, to logits, so logits must be "
                f"{self.factor} times image's height and width; pass the network's input "
                "image and its output logits, or set factor to the network's scale. "
                f"Received: logits.shape={tuple(logits.shape)}, "
                f"image.shape={tuple(inputs[1].shape)}"
            )
        unit = ops.clip(to_unit_range(image, self.value_range), self.epsilon, 1.0 - self.epsilon)
        # log(u) - log(1 - u), not log(u / (1 - u)): the same up to float rounding, and each
        # factor stays in [epsilon, 1], which int8 quantization (export_tflite) represents;
        # the ratio spans [1e-3, 1e3] and collapses to zero in int8.
        base = ops.log(unit) - ops.log(1.0 - unit)
        if self.activation == "tanh":
            base = 0.5 * base  # atanh(2u - 1)
        return ops.cast(logits, self.compute_dtype) + base

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    CONFIG_FIELDS = ("activation", "value_range", "epsilon", "factor")


__all__ = [
    "ADAIN_ENCODER_LAYER",
    "BLOCK_NORMALIZATIONS",
    "CONV_BLOCK",
    "NORMALIZATIONS",
    "OUTPUT_ACTIVATIONS",
    "PADDINGS",
    "UPSAMPLING_MODES",
    "bicubic_upsample",
    "AdaptiveInstanceNormalization",
    "BoundedOutput",
    "ConditionalInstanceNormalization",
    "ConfigFieldsMixin",
    "ConvBlock",
    "CropToReference",
    "DepthToSpace",
    "InstanceNormalization",
    "LogitSkip",
    "PadToMultiple",
    "ReflectionPadding2D",
    "ResidualBlock",
    "UpsamplingBlock",
    "blocked_conv",
    "blocked_kernel",
    "check_alpha",
    "constant_blocked_kernels",
    "instance_moments",
    "instance_norm_statistics",
]
