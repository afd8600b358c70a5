"""The image transformation networks ``f_W`` of Johnson, Alahi & Fei-Fei (2016).

Supplementary material, Section 2 ("Architectures"):

* Style transfer: 9x9 conv 32 (stride 1), 3x3 conv 64 (stride 2), 3x3 conv 128
  (stride 2), five residual blocks of 128 filters, 3x3 conv 64 and 32 (stride 1/2),
  9x9 conv 3 (stride 1), scaled tanh. Each convolution but the last is followed by
  a normalization and a ReLU. About 1.68M parameters.
* Super-resolution x4: 9x9 conv 64, four residual blocks of 64 filters, two 3x3
  convs of stride 1/2, 9x9 conv 3; x8 adds one more up-sampling convolution.

Both are functional ``keras.Model``\\ s on ``Input(shape=(None, None, 3))`` with layers
named by role (``conv_in``, ``down1``, ``down2``, ``res1``..., ``up1``..., ``conv_out``,
``output``), so ``model.summary()`` reads like the paper's tables. The paper used batch
normalization; the official code later switched to instance normalization (Ulyanov et
al. 2016), the default of :func:`style_transfer_net` here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from keras_perceptual._checks import check_choice, check_positive_int, check_value_range
from keras_perceptual.errors import InputError
from keras_perceptual.layers import (
    NORMALIZATIONS,
    OUTPUT_ACTIVATIONS,
    PADDINGS,
    UPSAMPLING_MODES,
    BoundedOutput,
    ConvBlock,
    CropToReference,
    LogitSkip,
    PadToMultiple,
    ResidualBlock,
    UpsamplingBlock,
)

SCALES = (2, 4, 8)
SKIPS = (None, "bicubic")


def _min_size(padding: str, multiple: int) -> int:
    """Smallest height/width the nets accept: a 9x9 reflection pad needs 5 pixels; the
    style net also needs at least one pixel after down-sampling by ``multiple``."""
    return max(5 if padding == "reflect" else 1, multiple)


def _check_common(filters, num_residual_blocks, normalization, upsampling, padding, activation):
    check_positive_int(filters, "filters")
    check_positive_int(num_residual_blocks, "num_residual_blocks", minimum=0)
    check_choice(normalization, NORMALIZATIONS, "normalization")
    check_choice(upsampling, UPSAMPLING_MODES, "upsampling")
    check_choice(padding, PADDINGS, "padding")
    check_choice(activation, OUTPUT_ACTIVATIONS, "output_activation")


def style_transfer_net(
    filters: int = 32,
    num_residual_blocks: int = 5,
    normalization: str = "instance",
    upsampling: str = "transpose",
    padding: str = "reflect",
    value_range: Sequence[float] = (0.0, 1.0),
    output_activation: str = "tanh",
    name: str = "style_transfer_net",
) -> keras.Model:
    """The fast style-transfer network of Johnson et al. (2016) as a functional Keras model.

    ``conv_in`` (9x9, ``filters``), ``down1``/``down2`` (3x3 stride 2, x2 and x4
    ``filters``), ``res1``..``resN`` (residual blocks of 4 x ``filters``), ``up1``/``up2``
    (x2 up-sampling to 2 x and 1 x ``filters``), ``conv_out`` (9x9, 3 channels) and a
    scaled tanh into ``value_range``. Any input size: the image is mirror-padded to a
    multiple of 4 (``align_pad``) and the result cropped back (``align_crop``), so the
    output has exactly the input's height and width. Inputs need at least 5x5 pixels
    (4x4 with ``padding="zero"``).

    Args:
        filters: width of the first layer (32 in the paper); the others follow.
        num_residual_blocks: residual blocks at the bottleneck (5 in the paper).
        normalization: ``"instance"`` (default; the official code), ``"batch"`` (the
            paper) or ``"none"``.
        upsampling: ``"transpose"`` (the paper), ``"resize"`` or ``"subpixel"``.
        padding: ``"reflect"`` (default) or ``"zero"`` for every convolution.
        value_range: ``(low, high)`` of the input and output images.
        output_activation: ``"tanh"`` (the paper's scaled tanh) or ``"sigmoid"``.
        name: the model's name.

    Returns:
        A ``keras.Model`` mapping ``(B, H, W, 3)`` to ``(B, H, W, 3)`` float32 in
        ``value_range``; 1,677,635 parameters at the default widths (the official code's
        1,679,235 less the 1,600 biases that its normalizations cancel).

    Example:
        >>> model = style_transfer_net()
        >>> model(np.random.rand(1, 63, 65, 3)).shape
        TensorShape([1, 63, 65, 3])
    """
    _check_common(
        filters, num_residual_blocks, normalization, upsampling, padding, output_activation
    )
    value_range = check_value_range(value_range)
    f = int(filters)
    block = {"normalization": normalization, "padding": padding}

    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = PadToMultiple(4, mode="reflect", min_size=_min_size(padding, 4), name="align_pad")(inputs)
    x = ConvBlock(f, 9, **block, name="conv_in")(x)
    x = ConvBlock(2 * f, 3, strides=2, **block, name="down1")(x)
    x = ConvBlock(4 * f, 3, strides=2, **block, name="down2")(x)
    for i in range(1, num_residual_blocks + 1):
        x = ResidualBlock(4 * f, **block, name=f"res{i}")(x)
    x = UpsamplingBlock(2 * f, mode=upsampling, **block, name="up1")(x)
    x = UpsamplingBlock(f, mode=upsampling, **block, name="up2")(x)
    x = ConvBlock(3, 9, normalization="none", activation=None, padding=padding, name="conv_out")(x)
    x = CropToReference(name="align_crop")([x, inputs])
    outputs = BoundedOutput(output_activation, value_range, dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def super_resolution_net(
    scale: int = 4,
    filters: int = 64,
    num_residual_blocks: int = 4,
    normalization: str = "batch",
    upsampling: str = "transpose",
    padding: str = "reflect",
    value_range: Sequence[float] = (0.0, 1.0),
    output_activation: str = "tanh",
    skip: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """The single-image super-resolution network of Johnson et al. (2016).

    ``conv_in`` (9x9, ``filters``), ``res1``..``resN`` (residual blocks of ``filters``),
    ``up1``..``up{log2(scale)}`` (x2 up-sampling, ``filters`` each), ``conv_out`` (9x9,
    3 channels) and a scaled tanh into ``value_range``. The output is exactly ``scale``
    times the input's height and width. Inputs need at least 5x5 pixels with
    ``padding="reflect"``.

    Args:
        scale: the up-sampling factor: 4 or 8 as in the paper (2 also works).
        filters: channels of every hidden layer (64 in the paper).
        num_residual_blocks: residual blocks (4 in the paper).
        normalization: ``"batch"`` (default; the paper), ``"instance"`` or ``"none"``.
        upsampling: ``"transpose"`` (the paper), ``"resize"`` or ``"subpixel"``.
        padding: ``"reflect"`` (default) or ``"zero"``.
        value_range: ``(low, high)`` of the input and output images.
        output_activation: ``"tanh"`` (the paper's scaled tanh) or ``"sigmoid"``.
        skip: ``None`` (the paper) or ``"bicubic"``: the bicubic up-sampling of the input
            is added before the output activation (:class:`~keras_perceptual.layers.LogitSkip`),
            so the network starts from bicubic quality and learns the residual detail;
            much faster to train, which the demo relies on.
        name: the model's name; default ``"super_resolution_net_x{scale}"``.

    Returns:
        A ``keras.Model`` mapping ``(B, H, W, 3)`` to ``(B, scale*H, scale*W, 3)`` float32
        in ``value_range``.

    Example:
        >>> model = super_resolution_net(4)
        >>> model(np.random.rand(1, 72, 72, 3)).shape
        TensorShape([1, 288, 288, 3])
    """
    if isinstance(scale, bool) or scale not in SCALES:
        valid = ", ".join(str(s) for s in SCALES)
        raise InputError(
            f"scale must be one of {valid} (the paper trains x4 and x8 networks); other factors "
            f"need a different architecture. Received: scale={scale!r}"
        )
    _check_common(
        filters, num_residual_blocks, normalization, upsampling, padding, output_activation
    )
    value_range = check_value_range(value_range)
    if skip not in SKIPS:
        raise InputError(
            f"skip must be None (the paper) or 'bicubic'. Received: skip={skip!r}"
        )
    f = int(filters)
    block = {"normalization": normalization, "padding": padding}

    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = PadToMultiple(1, mode="reflect", min_size=_min_size(padding, 1), name="input_check")(inputs)
    x = ConvBlock(f, 9, **block, name="conv_in")(x)
    for i in range(1, num_residual_blocks + 1):
        x = ResidualBlock(f, **block, name=f"res{i}")(x)
    for i in range(1, int(math.log2(scale)) + 1):
        x = UpsamplingBlock(f, mode=upsampling, **block, name=f"up{i}")(x)
    x = ConvBlock(3, 9, normalization="none", activation=None, padding=padding, name="conv_out")(x)
    if skip == "bicubic":
        x = LogitSkip(
            output_activation, value_range, factor=scale, dtype="float32", name="skip"
        )([x, inputs])
    outputs = BoundedOutput(output_activation, value_range, dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=name or f"super_resolution_net_x{scale}")


def model_value_range(model: keras.Model) -> tuple[float, float]:
    """The ``value_range`` a network was built with; ``(0.0, 1.0)`` for foreign models.

    Reads the :class:`~keras_perceptual.layers.BoundedOutput` output layer of
    :func:`style_transfer_net` / :func:`super_resolution_net` (also after
    ``keras.models.load_model``).

    Args:
        model: a Keras model.

    Returns:
        ``(low, high)`` as floats.

    Example:
        >>> model_value_range(style_transfer_net(value_range=(-1, 1)))
        (-1.0, 1.0)
    """
    for layer in reversed(getattr(model, "layers", [])):
        if isinstance(layer, BoundedOutput):
            return tuple(layer.value_range)
    return (0.0, 1.0)


__all__ = ["SCALES", "model_value_range", "style_transfer_net", "super_resolution_net"]
