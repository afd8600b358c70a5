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
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual._checks import check_choice, check_positive_int, check_value_range
from keras_perceptual.backbones import BACKBONES, FeatureExtractor, backbone_layer_names
from keras_perceptual.errors import InputError
from keras_perceptual.layers import (
    ADAIN_ENCODER_LAYER,
    NORMALIZATIONS,
    OUTPUT_ACTIVATIONS,
    PADDINGS,
    UPSAMPLING_MODES,
    AdaptiveInstanceNormalization,
    BoundedOutput,
    ConvBlock,
    CropToReference,
    LogitSkip,
    PadToMultiple,
    ResidualBlock,
    UpsamplingBlock,
    check_alpha,
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
    inputs = keras.Input(shape=(None, None, 3), name="image")
    outputs = _style_graph(
        inputs, None, int(filters), num_residual_blocks, normalization, upsampling, padding,
        value_range, output_activation,
    )
    return keras.Model(inputs, outputs, name=name)


def _style_graph(
    inputs, style_weights, f, num_residual_blocks, normalization, upsampling, padding,
    value_range, output_activation,
):
    """The style network's layers on ``inputs``; conditional when ``style_weights`` is given."""
    if style_weights is None:
        block = {"normalization": normalization, "padding": padding}

        def apply(layer, x):
            return layer(x)
    else:
        block = {
            "normalization": "conditional",
            "padding": padding,
            "num_styles": style_weights.shape[-1],
        }

        def apply(layer, x):
            return layer([x, style_weights])

    x = PadToMultiple(4, mode="reflect", min_size=_min_size(padding, 4), name="align_pad")(inputs)
    x = apply(ConvBlock(f, 9, **block, name="conv_in"), x)
    x = apply(ConvBlock(2 * f, 3, strides=2, **block, name="down1"), x)
    x = apply(ConvBlock(4 * f, 3, strides=2, **block, name="down2"), x)
    for i in range(1, num_residual_blocks + 1):
        x = apply(ResidualBlock(4 * f, **block, name=f"res{i}"), x)
    x = apply(UpsamplingBlock(2 * f, mode=upsampling, **block, name="up1"), x)
    x = apply(UpsamplingBlock(f, mode=upsampling, **block, name="up2"), x)
    x = ConvBlock(3, 9, normalization="none", activation=None, padding=padding, name="conv_out")(x)
    x = CropToReference(name="align_crop")([x, inputs])
    return BoundedOutput(output_activation, value_range, dtype="float32", name="output")(x)


def multi_style_transfer_net(
    num_styles: int,
    filters: int = 32,
    num_residual_blocks: int = 5,
    upsampling: str = "transpose",
    padding: str = "reflect",
    value_range: Sequence[float] = (0.0, 1.0),
    output_activation: str = "tanh",
    name: str = "multi_style_transfer_net",
) -> keras.Model:
    """One fast style-transfer network for ``num_styles`` styles and their blends.

    :func:`style_transfer_net` with every instance normalization replaced by a
    :class:`~keras_perceptual.layers.ConditionalInstanceNormalization` (Dumoulin, Shlens
    & Kudlur, "A Learned Representation for Artistic Style", ICLR 2017): each style has
    its own scales and offsets (``2 x num_styles x`` the 1,600 normalized channels: 3,200
    parameters a style at the default widths), all convolutions are shared. The second
    input ``style_weights`` ``(batch, num_styles)`` picks the style of each image
    (one-hot) or blends styles (convex weights, the paper's Fig. 7). With one-hot weights
    the network is exactly ``style_transfer_net`` with that style's normalization
    parameters. Same layer names, sizes and output bound as :func:`style_transfer_net`;
    Dumoulin et al. up-sample with ``upsampling="resize"`` (nearest neighbour then
    convolution), which avoids checkerboard artifacts.

    Args:
        num_styles: the number of styles ``N`` (>= 1).
        filters, num_residual_blocks, upsampling, padding, value_range,
            output_activation: as for :func:`style_transfer_net`.
        name: the model's name.

    Returns:
        A ``keras.Model`` with inputs ``{"image": (B, H, W, 3), "style_weights": (B, N)}``
        (or the list ``[image, style_weights]``) and the ``(B, H, W, 3)`` float32 output
        in ``value_range``.

    Raises:
        InputError: a bad argument (``num_styles`` < 1, an unknown mode, ...).

    Example:
        >>> model = multi_style_transfer_net(4)
        >>> weights = np.array([[0.5, 0.5, 0.0, 0.0]], "float32")  # half style 0, half style 1
        >>> model({"image": np.random.rand(1, 64, 64, 3), "style_weights": weights}).shape
        TensorShape([1, 64, 64, 3])
    """
    num_styles = check_positive_int(num_styles, "num_styles")
    _check_common(filters, num_residual_blocks, "instance", upsampling, padding, output_activation)
    value_range = check_value_range(value_range)
    image = keras.Input(shape=(None, None, 3), name="image")
    style_weights = keras.Input(shape=(num_styles,), name="style_weights")
    outputs = _style_graph(
        image, style_weights, int(filters), num_residual_blocks, "conditional", upsampling,
        padding, value_range, output_activation,
    )
    return keras.Model([image, style_weights], outputs, name=name)


def check_scale(scale: Any, name: str = "scale") -> int:
    """Returns ``scale`` if it is an up-sampling factor of :func:`super_resolution_net`
    (:data:`SCALES`), or raises :class:`~keras_perceptual.errors.InputError`."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale not in SCALES:
        valid = ", ".join(str(s) for s in SCALES)
        # 4.0 or a tensor holding 4: the right factor in the wrong type.
        as_int = f" as an integer, e.g. {name}={int(scale)}" if _integral_in(scale, SCALES) else ""
        raise InputError(
            f"{name} must be one of {valid}{as_int} (the paper trains x4 and x8 networks); other "
            f"factors need a different architecture. Received: {name}={scale!r}"
        )
    return int(scale)


def _integral_in(value: Any, allowed: Sequence[int]) -> bool:
    """Whether ``value`` is a non-bool number (or 0-d array) equal to one of ``allowed``."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return False
    try:
        number = float(np.asarray(value))
    except (TypeError, ValueError):
        return False
    return number.is_integer() and int(number) in allowed


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
    scale = check_scale(scale)
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


def arbitrary_style_net(
    weights: str | os.PathLike | None = "imagenet",
    backbone: str = "vgg19",
    alpha: float = 1.0,
    filters: int = 64,
    padding: str = "reflect",
    value_range: Sequence[float] = (0.0, 1.0),
    output_activation: str = "tanh",
    name: str = "arbitrary_style_net",
) -> keras.Model:
    """The AdaIN encoder-decoder that stylizes with any style image, given at run time.

    Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization", ICCV 2017, Section 6.1: a frozen VGG encoder ``f`` up to ``relu4_1``
    (``encoder``: the library's :class:`~keras_perceptual.backbones.FeatureExtractor`,
    VGG-19 as in the paper), an :class:`~keras_perceptual.layers.AdaptiveInstanceNormalization`
    layer ``t = alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c)`` (``adain``), and a trained
    decoder ``g`` that mirrors the encoder (``decoder``: nearest-neighbour up-sampling in
    place of pooling, reflection padding, no normalization layers, as the paper), then the
    scaled-tanh bound into ``value_range``. Only the decoder is trainable. The content is
    mirror-padded to a multiple of 8 (``align_pad``) and the output cropped back
    (``align_crop``), so the output has exactly the content's height and width; the style
    image may have any size (at least 8 x 8 px). Train the decoder with
    :class:`~keras_perceptual.losses.AdaINLoss`.

    Args:
        weights: the encoder's weights, as for ``FeatureExtractor``: ``"imagenet"`` (the
            paper), a path to a ``keras.applications`` ``include_top=False`` weights file,
            ``None`` (random: tests) or ``"hed_bsds500"`` (offline stand-in, VGG-16 only).
            Stored in the config as given, so loading a saved model rebuilds the encoder
            from the same source before its saved weights are restored.
        backbone: ``"vgg19"`` (the paper) or ``"vgg16"``.
        alpha: the content-style trade-off in [0, 1] used by calls of the model (1: full
            stylization); :func:`~keras_perceptual.inference.stylize` takes another per call.
        filters: the decoder's width at full resolution (64 mirrors VGG); it doubles
            after each up-sampling step back (64, 128, 256). Smaller is faster.
        padding: the decoder's convolution padding, ``"reflect"`` (the paper) or ``"zero"``.
        value_range: ``(low, high)`` of the images.
        output_activation: ``"tanh"`` or ``"sigmoid"``.
        name: the model's name.

    Returns:
        A ``keras.Model`` with inputs ``content`` ``(B, H, W, 3)`` and ``style``
        ``(B or 1, Hs, Ws, 3)`` (a list, or a dict keyed by those names) and the stylized
        ``(B, H, W, 3)`` float32 output in ``value_range``; 3,505,219 decoder parameters
        at the default width.

    Raises:
        InputError: a bad argument; WeightsUnavailableError: weights that cannot be obtained.

    Example:
        >>> model = arbitrary_style_net(weights=None)
        >>> model([np.random.rand(1, 64, 48, 3), np.random.rand(1, 40, 40, 3)]).shape
        TensorShape([1, 64, 48, 3])
    """
    check_choice(backbone, BACKBONES, "backbone")
    alpha = check_alpha(alpha)
    f = check_positive_int(filters, "filters")
    check_choice(padding, PADDINGS, "padding")
    check_choice(output_activation, OUTPUT_ACTIVATIONS, "output_activation")
    value_range = check_value_range(value_range)

    # --- Layers. ---
    encoder = FeatureExtractor(
        [ADAIN_ENCODER_LAYER], backbone=backbone, weights=weights, value_range=value_range,
        name="encoder",
    )
    features = 512  # relu4_1 of VGG-16 and VGG-19
    names = backbone_layer_names(backbone)
    blocks = [sum(n.startswith(f"block{b}_conv") for n in names) for b in (1, 2, 3)]
    decoder = _adain_decoder(features, f, blocks, padding)

    # --- Functional graph. ---
    content = keras.Input(shape=(None, None, 3), name="content")
    style = keras.Input(shape=(None, None, 3), name="style")
    x = PadToMultiple(8, mode="reflect", min_size=16, name="align_pad")(content)
    content_features = encoder(x)[ADAIN_ENCODER_LAYER]
    style_features = encoder(style)[ADAIN_ENCODER_LAYER]
    t = AdaptiveInstanceNormalization(alpha, name="adain")([content_features, style_features])
    y = decoder(t)
    y = CropToReference(name="align_crop")([y, content])
    outputs = BoundedOutput(output_activation, value_range, dtype="float32", name="output")(y)
    return keras.Model([content, style], outputs, name=name)


def _adain_decoder(features: int, f: int, blocks: Sequence[int], padding: str) -> keras.Model:
    """The decoder ``g``: the encoder up to ``relu4_1`` mirrored, ``features`` channels in,
    3 logits out; ``blocks`` are the backbone's convolutions per block."""
    conv = {"normalization": "none", "padding": padding}
    widths = {1: f, 2: 2 * f, 3: 4 * f}
    inputs = keras.Input(shape=(None, None, features), name="features")
    x = ConvBlock(widths[3], 3, **conv, name="dec4_1")(inputs)  # mirrors conv4_1
    for block in (3, 2, 1):
        # Up-sampling (mirrors pool{block}) and the block's last convolution.
        x = UpsamplingBlock(widths[block], mode="resize", **conv, name=f"up{block}")(x)
        for j in range(blocks[block - 1] - 1, 1, -1):
            x = ConvBlock(widths[block], 3, **conv, name=f"dec{block}_{j}")(x)
        if block > 1:
            x = ConvBlock(widths[block - 1], 3, **conv, name=f"dec{block}_1")(x)
    x = ConvBlock(3, 3, normalization="none", activation=None, padding=padding, name="dec1_1")(x)
    return keras.Model(inputs, x, name="decoder")


def _check_network(model: Any, function: str) -> None:
    """Refuses what is not a Keras model or layer (a path, None, an exported artifact): it has
    no layers to read, and ``(0, 1)`` or ``"float32"`` would be a silent guess."""
    if not isinstance(model, keras.layers.Layer):
        raise InputError(
            f"{function} reads a Keras model's layers; load a model file first with "
            f"keras.models.load_model(path). Received: model={model!r:.100}"
        )


def model_value_range(model: keras.Model) -> tuple[float, float]:
    """The ``value_range`` a network was built with; ``(0.0, 1.0)`` for foreign models.

    Reads the :class:`~keras_perceptual.layers.BoundedOutput` output layer of
    :func:`style_transfer_net` / :func:`super_resolution_net` (also after
    ``keras.models.load_model``).

    Args:
        model: a Keras model (or layer).

    Returns:
        ``(low, high)`` as floats.

    Raises:
        InputError: ``model`` is not a Keras model or layer (a path: load it first).

    Example:
        >>> model_value_range(style_transfer_net(value_range=(-1, 1)))
        (-1.0, 1.0)
    """
    _check_network(model, "model_value_range")
    for layer in reversed(getattr(model, "layers", [])):
        if isinstance(layer, BoundedOutput):
            return tuple(layer.value_range)
    return (0.0, 1.0)


def model_precision(model: keras.Model) -> str:
    """The dtype policy a network computes in: the first mixed or 16-bit policy among its
    layers (nested ones included), else ``"float32"``.

    Raises:
        InputError: ``model`` is not a Keras model or layer (a path: load it first).

    Example:
        >>> model_precision(style_transfer_net())
        'float32'
    """
    _check_network(model, "model_precision")
    stack = [model]
    while stack:
        layer = stack.pop(0)
        name = layer.dtype_policy.name
        if "16" in name:
            return name
        stack.extend(getattr(layer, "layers", []))
    return "float32"


def _float32_config(config: Any) -> Any:
    """``config`` with every 16-bit dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(
            config.get("config"), dict
        ):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {
            key: (
                "float32"
                if key == "dtype" and isinstance(value, str) and "16" in value
                else _float32_config(value)
            )
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    return config


def _has_kernel(layer: keras.layers.Layer) -> bool:
    return any(w.path.rsplit("/", 1)[-1] == "kernel" for w in layer.weights)


def with_dtype_policy(model: keras.Model, policy: str) -> keras.Model:
    """A copy of ``model`` (same weights, values float32) computing under ``policy``.

    ``"float32"`` rebuilds every layer in float32 (e.g. a network trained under
    ``mixed_bfloat16``, for a CPU without bfloat16 units). A mixed policy
    (``"mixed_bfloat16"``, ``"mixed_float16"``) is given to the layers that hold
    convolution or dense kernels (where the time goes); every other layer keeps its own
    policy, so the output layers stay float32 as Keras' mixed-precision guide asks (nested
    networks, such as the frozen encoder of :func:`arbitrary_style_net`, are shared as
    they are). The copy returns the same outputs up to the 16-bit rounding.

    Args:
        model: a functional Keras model whose layers round-trip their configs (every
            network of this library, also after ``keras.models.load_model``).
        policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``.

    Returns:
        A new ``keras.Model``; ``model`` itself is unchanged.

    Raises:
        InputError: a bad ``policy``, or a layer that cannot be rebuilt from its config.

    Example:
        >>> fast = with_dtype_policy(style_transfer_net(), "mixed_bfloat16")
        >>> model_precision(fast)
        'mixed_bfloat16'
    """
    check_choice(policy, ("float32", "mixed_bfloat16", "mixed_float16"), "policy")

    def clone_layer(layer):
        if policy == "float32":
            return layer.__class__.from_config(_float32_config(layer.get_config()))
        if isinstance(layer, keras.Model) or not _has_kernel(layer):
            return layer  # nested networks (e.g. a frozen encoder) and weightless layers: shared
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy})

    try:
        copy = keras.models.clone_model(model, clone_function=clone_layer)
        copy.set_weights(model.get_weights())
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - any layer that does not round-trip its config
        raise InputError(
            f"Could not rebuild model {model.name!r} under the {policy} dtype policy from its "
            f"config ({type(error).__name__}: {error}); make every layer serializable "
            f"(get_config/from_config). Received: model={model.name!r}, policy={policy!r}"
        ) from None
    return copy


__all__ = [
    "SCALES",
    "arbitrary_style_net",
    "check_scale",
    "model_precision",
    "model_value_range",
    "with_dtype_policy",
    "multi_style_transfer_net",
    "style_transfer_net",
    "super_resolution_net",
]
