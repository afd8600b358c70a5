"""torchvision's VGG16 and AlexNet feature stacks as Keras models (``keras.ops`` only).

The learned perceptual metrics LPIPS (Zhang et al., CVPR 2018) and DISTS (Ding et
al., TPAMI 2020) were fitted on the features of **torchvision's** ImageNet networks,
not on ``keras.applications``' caffe-converted VGG16 (different weights, RGB input
normalized by torchvision's mean and standard deviation). This module rebuilds those
networks layer for layer with ``keras.layers`` and loads their published PyTorch
weights without PyTorch:

* ``vgg16``: ``torchvision.models.vgg16().features``: 13 convolutions 3x3 (padding 1)
  with ReLU, 2x2 max-pooling after each block. Keras names ``block{b}_conv{i}`` /
  ``block{b}_pool`` (as ``keras.applications``), paper names ``relu{b}_{i}``.
* ``alexnet``: ``torchvision.models.alexnet().features``: conv 11x11/4 (padding 2),
  max-pool 3/2, conv 5x5 (padding 2), max-pool 3/2, three conv 3x3, max-pool 3/2.
  Names ``conv1`` ... ``conv5`` (each includes its ReLU; aliases ``relu1`` ...
  ``relu5``), ``pool1``, ``pool2``, ``pool5``.
* ``pooling="l2"`` (VGG16 only) replaces each max-pooling by the Hanning-window L2
  pooling of DISTS (:class:`L2Pooling2D`).

The models take images already normalized the way their user expects (LPIPS and DISTS
apply their own input scaling) and return a dict of activations.

``weights`` is one of:

* ``"imagenet"``: PyTorch's published ImageNet file (``vgg16-397923af.pth``,
  ``alexnet-owt-7be5be79.pth``), downloaded once through Keras' cache with its SHA-256
  checked (or taken from PyTorch's own cache, ``$TORCH_HOME/hub/checkpoints``, when
  it is there), converted once to Keras weights in
  ``$KERAS_HOME/models/keras_perceptual/torchvision_<net>.weights.h5``;
* a path to a torchvision state-dict file (``.pth``, either ``torch.save`` format,
  read by :func:`keras_perceptual.state_dict.read_state_dict`), or to converted Keras
  weights (written by :func:`convert_torchvision_weights`);
* ``None``: random (seeded, the same on every construction).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import check_choice, check_input_file, shortened
from keras_perceptual.backbones import resolve_layer
from keras_perceptual.errors import InputError
from keras_perceptual.state_dict import read_state_dict
from keras_perceptual.weights import (
    WeightsUnavailableError,
    check_weights_argument,
    download_file,
    file_sha256,
    keras_cache_dir,
)

TORCHVISION_BACKBONES = ("vgg16", "alexnet")
POOLINGS = ("max", "l2")
#: What ``weights=`` accepts here, for error messages.
WEIGHTS_EXPECTED = "'imagenet', None or a path to a torchvision .pth file or converted Keras weights"

#: PyTorch's published ImageNet files: ``{backbone: (url, sha256)}``.
IMAGENET_FILES = {
    "vgg16": (
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    ),
    "alexnet": (
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    ),
}

# Each network as (name, kind, filters, kernel, stride, padding, torchvision features index).
_VGG_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _vgg16_spec():
    spec, index = [], 0
    for block, (convs, filters) in enumerate(_VGG_BLOCKS, start=1):
        for i in range(1, convs + 1):
            spec.append((f"block{block}_conv{i}", "conv", filters, 3, 1, 1, index))
            index += 2
        spec.append((f"block{block}_pool", "pool", None, 2, 2, 0, index))
        index += 1
    return spec


_SPECS = {
    "vgg16": _vgg16_spec(),
    "alexnet": [
        ("conv1", "conv", 64, 11, 4, 2, 0),
        ("pool1", "pool", None, 3, 2, 0, 2),
        ("conv2", "conv", 192, 5, 1, 2, 3),
        ("pool2", "pool", None, 3, 2, 0, 5),
        ("conv3", "conv", 384, 3, 1, 1, 6),
        ("conv4", "conv", 256, 3, 1, 1, 8),
        ("conv5", "conv", 256, 3, 1, 1, 10),
        ("pool5", "pool", None, 3, 2, 0, 12),
    ],
}

#: The layers LPIPS and DISTS read (after each ReLU that precedes a pooling).
DEFAULT_TAPS = {
    "vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
    "alexnet": ("relu1", "relu2", "relu3", "relu4", "relu5"),
}


def torchvision_layer_names(backbone: str = "vgg16") -> list[str]:
    """The Keras names of the network's layers, in order (convolutions include their ReLU)."""
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    return [entry[0] for entry in _SPECS[backbone]]


def resolve_torchvision_layer(name: str, backbone: str = "vgg16") -> str:
    """Maps ``relu2_2`` / ``pool3`` (VGG16) or ``relu3`` (AlexNet) to the Keras layer name."""
    if backbone == "vgg16":  # the keras.applications names and their paper aliases
        return resolve_layer(name, "vgg16")
    valid = torchvision_layer_names(backbone)
    if isinstance(name, str):
        match = re.fullmatch(r"relu(\d)", name)
        candidate = f"conv{match[1]}" if match else name
        if candidate in valid:
            return candidate
    aliases = ", ".join(DEFAULT_TAPS[backbone])
    raise InputError(
        f"Unknown torchvision {backbone} layer {name!r}; use one of {', '.join(valid)} or a "
        f"ReLU alias such as {aliases}. Received: layer={name!r}"
    )


def _output_size(size: int, backbone: str, upto: str, pooling: str) -> int:
    for name, kind, _, kernel, stride, padding, _ in _SPECS[backbone]:
        if kind == "pool" and pooling == "l2":
            kernel, stride, padding = 3, 2, 1
        size = (size + 2 * padding - kernel) // stride + 1
        if size < 1:
            return 0
        if name == upto:
            return size
    return size


def torchvision_min_image_size(layer: str, backbone: str = "vgg16", pooling: str = "max") -> int:
    """Smallest height/width (pixels) whose activation at ``layer`` is at least 1x1."""
    keras_name = resolve_torchvision_layer(layer, backbone)
    size = 1
    while _output_size(size, backbone, keras_name, pooling) < 1:
        size += 1
    return size


@keras.saving.register_keras_serializable(package="keras_perceptual")
class L2Pooling2D(keras.layers.Layer):
    """The Hanning-window L2 pooling of DISTS (Ding et al., TPAMI 2020, Eq. 2).

    ``sqrt(conv(x^2, g) + 1e-12)`` per channel with ``g`` the normalized 3x3 outer
    product of ``hanning(5)[1:-1] = (0.5, 1, 0.5)``, stride 2, zero padding 1: an
    anti-aliased replacement for max-pooling. Output size ``ceil(H / 2) x ceil(W / 2)``.

    Example:
        >>> L2Pooling2D()(np.ones((1, 5, 4, 8), "float32")).shape
        (1, 3, 2, 8)
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        window = np.hanning(5)[1:-1]
        window = np.outer(window, window)
        self.window = (window / window.sum()).astype("float32")

    def call(self, inputs):
        channels = inputs.shape[-1]
        kernel = np.tile(self.window[:, :, None, None], (1, 1, channels, 1))
        kernel = ops.convert_to_tensor(kernel, dtype=inputs.dtype)
        padded = ops.pad(ops.square(inputs), ((0, 0), (1, 1), (1, 1), (0, 0)))
        pooled = ops.depthwise_conv(padded, kernel, strides=2, padding="valid")
        return ops.sqrt(pooled + 1e-12)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else (h + 1) // 2, None if w is None else (w + 1) // 2, c)


def _layer(entry, pooling: str, seed: int):
    name, kind, filters, kernel, stride, padding, _ = entry
    if kind == "pool":
        if pooling == "l2":
            return [L2Pooling2D(name=name)]
        return [keras.layers.MaxPooling2D(kernel, strides=stride, name=name, dtype="float32")]
    layers = []
    if padding and 2 * padding != kernel - 1:  # AlexNet's conv1: "same" would pad unevenly
        layers.append(keras.layers.ZeroPadding2D(padding, name=f"{name}_pad", dtype="float32"))
    layers.append(
        keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same" if 2 * padding == kernel - 1 else "valid",
            activation="relu",
            # Seeded: weights=None gives the same network on every construction.
            kernel_initializer=keras.initializers.HeNormal(seed=seed),
            name=name,
            dtype="float32",
        )
    )
    return layers


def _layer_list(layers: Any, backbone: str) -> list[str]:
    if layers is None:
        return list(DEFAULT_TAPS[backbone])
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not layers:
        raise InputError(
            f"layers must be a layer name or a non-empty list of names such as "
            f"{list(DEFAULT_TAPS[backbone])}. Received: layers={layers!r}"
        )
    return list(dict.fromkeys(layers))


def torchvision_backbone(
    backbone: str = "vgg16",
    layers: Any = None,
    weights: str | os.PathLike | None = "imagenet",
    pooling: str = "max",
    name: str | None = None,
) -> keras.Model:
    """A frozen Keras copy of torchvision's VGG16 / AlexNet ``features``, multi-output.

    The model is truncated after the deepest requested layer and computes in float32
    whatever the global dtype policy. Input: channels-last RGB images **already
    normalized** as the caller's method expects (torchvision's ImageNet mean/std for
    DISTS, LPIPS's own shift and scale); the first convolution sees them unchanged.

    Args:
        backbone: ``"vgg16"`` or ``"alexnet"``.
        layers: a name or a list of names (``"relu2_2"``, ``"block2_conv2"``,
            ``"relu3"``, ``"pool1"``); default: the five taps of LPIPS (``relu1_2``
            ... ``relu5_3`` / ``relu1`` ... ``relu5``).
        weights: ``"imagenet"``, a path to a torchvision state dict (``.pth``) or to
            converted Keras weights, or ``None`` (random, seeded).
        pooling: ``"max"`` (torchvision) or ``"l2"`` (DISTS' Hanning L2 pooling; VGG16).
        name: model name.

    Returns:
        A functional ``keras.Model`` ``images (B, H, W, 3) -> {layer as given: (B, h, w, C)}``.

    Raises:
        InputError: unknown backbone, layer, pooling, or a weights file that does not fit.
        WeightsUnavailableError: ``"imagenet"`` cannot be downloaded.

    Example:
        >>> net = torchvision_backbone("alexnet", ["relu1", "relu2"], weights=None)
        >>> out = net(np.zeros((1, 64, 64, 3), "float32"))
        >>> out["relu1"].shape, out["relu2"].shape
        ((1, 15, 15, 64), (1, 7, 7, 192))
    """
    # --- Arguments, checked before any work. ---
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    check_choice(pooling, POOLINGS, "pooling")
    if pooling == "l2" and backbone != "vgg16":
        raise InputError(
            f"pooling='l2' (DISTS) is defined for VGG16 only; use backbone='vgg16' or "
            f"pooling='max'. Received: backbone={backbone!r}"
        )
    given = _layer_list(layers, backbone)
    taps = {g: resolve_torchvision_layer(g, backbone) for g in given}
    order = torchvision_layer_names(backbone)
    depth = max(order.index(k) for k in taps.values()) + 1
    arrays = load_torchvision_weights(weights, backbone)

    # --- Layers, up to the deepest tap. ---
    stack = []
    for seed, entry in enumerate(_SPECS[backbone][:depth]):
        stack.extend(_layer(entry, pooling, seed))

    # --- Functional graph. ---
    inputs = keras.Input(shape=(None, None, 3), name="images", dtype="float32")
    x, activations = inputs, {}
    for layer in stack:
        x = layer(x)
        activations[layer.name] = x
    model = keras.Model(
        inputs, {g: activations[k] for g, k in taps.items()}, name=name or f"torchvision_{backbone}"
    )
    if arrays is not None:
        for layer in stack:
            if layer.weights:
                layer.set_weights(arrays[layer.name])
    model.trainable = False
    return model


# --------------------------------------------------------------------------
# Weights: reading, converting, downloading.
# --------------------------------------------------------------------------


def _conv_entries(backbone: str):
    return [entry for entry in _SPECS[backbone] if entry[1] == "conv"]


def torchvision_state_dict_shapes(backbone: str = "vgg16") -> dict[str, tuple[int, ...]]:
    """The convolution entries of torchvision's state dict and their shapes, in order.

    Example:
        >>> torchvision_state_dict_shapes("alexnet")["features.0.weight"]
        (64, 3, 11, 11)
    """
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    shapes, channels = {}, 3
    for _, _, filters, kernel, _, _, index in _conv_entries(backbone):
        shapes[f"features.{index}.weight"] = (filters, channels, kernel, kernel)
        shapes[f"features.{index}.bias"] = (filters,)
        channels = filters
    return shapes


def state_dict_to_keras(arrays: dict, backbone: str, source: str = "the state dict") -> dict:
    """Maps a torchvision state dict (``features.<i>.weight``/``.bias``) to Keras layers.

    Accepts the whole model's state dict (``features.0.weight``, classifier entries
    ignored) or that of ``model.features`` (``0.weight``). Kernels are transposed from
    PyTorch's ``(out, in, kh, kw)`` to Keras' ``(kh, kw, in, out)``.

    Returns:
        ``{keras layer name: [kernel, bias]}`` (float32).

    Raises:
        InputError: an entry is missing or has the wrong shape.
    """
    result = {}
    shapes = torchvision_state_dict_shapes(backbone)
    prefix = "features." if any(k.startswith("features.") for k in arrays) else ""
    for name, *_, index in _conv_entries(backbone):
        names = (f"features.{index}.weight", f"features.{index}.bias")
        keys = tuple(prefix + n[len("features."):] for n in names)
        missing = [k for k in keys if k not in arrays]
        if missing:
            expected = ", ".join(f"{k} {v}" for k, v in shapes.items() if k.endswith("weight"))
            raise InputError(
                f"{source} has no {missing[0]!r}: it is not a torchvision {backbone} state dict "
                f"(expected {expected} and their biases); pass torchvision's {backbone} file. "
                f"Received: keys={list(arrays)[:6]}"
            )
        kernel, bias = (np.asarray(arrays[k], np.float32) for k in keys)
        kernel_shape, bias_shape = shapes[names[0]], shapes[names[1]]
        if kernel.shape != kernel_shape or bias.shape != bias_shape:
            raise InputError(
                f"{source} holds {keys[0]} of shape {kernel.shape} and {keys[1]} of shape "
                f"{bias.shape}; torchvision {backbone} has {kernel_shape} and {bias_shape} "
                f"there; pass a {backbone} state dict. Received: {keys[0]}.shape={kernel.shape}"
            )
        result[name] = [np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), bias]
    return result


def _full_model(backbone: str) -> keras.Model:
    return torchvision_backbone(backbone, [torchvision_layer_names(backbone)[-1]], weights=None)


def _read_keras_weights(path: str, backbone: str) -> dict:
    model = _full_model(backbone)
    try:
        # Keras only warns about layers it cannot find in the file (they would keep their
        # random weights): an error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            model.load_weights(path)
    except Exception as error:
        detail = shortened(error)
        raise InputError(
            f"weights file {path!r} does not hold converted torchvision {backbone} weights "
            f"({type(error).__name__}: {detail}); pass a file written by "
            f"convert_torchvision_weights(..., backbone={backbone!r}) or a torchvision .pth. "
            f"Received: weights={path!r}"
        ) from None
    return {
        layer.name: layer.get_weights() for layer in model.layers if layer.weights
    }


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def load_torchvision_weights(weights: str | os.PathLike | None, backbone: str) -> dict | None:
    """Resolves a ``weights`` argument to ``{keras layer name: [kernel, bias]}`` or ``None``.

    Raises:
        InputError: unknown name, missing file, or a file that does not fit.
        WeightsUnavailableError: ``"imagenet"`` cannot be downloaded.
    """
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    weights = check_weights_argument(weights, WEIGHTS_EXPECTED)
    if weights is None:
        return None
    if weights == "imagenet":
        return _read_keras_weights(torchvision_imagenet_weights(backbone), backbone)
    path = Path(weights).expanduser()
    check_input_file(
        str(path), "weights file", f"pass a torchvision {backbone} state-dict file (.pth), "
        "converted Keras weights, 'imagenet' or None", f"weights={weights!r}",
    )
    if _is_hdf5(path):
        return _read_keras_weights(str(path), backbone)
    arrays = read_state_dict(path, include=lambda key: not key.startswith("classifier."))
    return state_dict_to_keras(arrays, backbone, source=repr(str(path)))


def convert_torchvision_weights(
    source: str | os.PathLike, target: str | os.PathLike, backbone: str = "vgg16"
) -> str:
    """Converts a torchvision state-dict file to Keras weights (``.weights.h5``), no PyTorch.

    The target loads with ``weights=target`` here (``LPIPSLoss``, ``DISTSLoss``,
    :func:`torchvision_backbone`) and with ``model.load_weights`` into
    ``torchvision_backbone(backbone, "relu5_3" | "relu5", weights=None)``.
    It is written under a temporary name and renamed, so it is never half-written.

    Args:
        source: a torchvision ``vgg16`` / ``alexnet`` ``.pth`` (either ``torch.save`` format).
        target: the Keras weights file to write (ends in ``.weights.h5``).
        backbone: ``"vgg16"`` or ``"alexnet"``.

    Returns:
        ``target`` as a string.

    Example:
        >>> convert_torchvision_weights("vgg16-397923af.pth", "vgg16.weights.h5")  # doctest: +SKIP
    """
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    target = Path(os.fspath(target))
    if not target.name.endswith(".weights.h5"):
        raise InputError(
            f"target must end in .weights.h5 (Keras' weights format). Received: target={str(target)!r}"
        )
    arrays = read_state_dict(source, include=lambda key: not key.startswith("classifier."))
    converted = state_dict_to_keras(arrays, backbone, source=repr(os.fspath(source)))
    model = _full_model(backbone)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(converted[layer.name])
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".weights.h5")
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return str(target)


def torch_hub_dir() -> Path:
    """PyTorch's download cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def _imagenet_help(backbone: str) -> str:
    url = IMAGENET_FILES[backbone][0]
    return (
        f"Copy {url.rsplit('/', 1)[1]} from a machine with internet access and pass its path "
        f"as weights='/path/to/{url.rsplit('/', 1)[1]}' (or put it in {torch_hub_dir()}), or "
        "pass weights=None (random backbone, for tests); weights='hed_bsds500' is a VGG16 "
        "stand-in for the Johnson et al. losses only, not for LPIPS/DISTS."
    )


def _imagenet_source(backbone: str) -> str:
    """The verified PyTorch ImageNet file: Keras' cache, PyTorch's cache, or a download."""
    url, sha256 = IMAGENET_FILES[backbone]
    filename = url.rsplit("/", 1)[1]
    for candidate in (keras_cache_dir() / "models" / filename, torch_hub_dir() / filename):
        if candidate.is_file() and file_sha256(candidate) == sha256:
            return str(candidate)
    return download_file(
        url, sha256, f"torchvision's ImageNet {backbone} weights", _imagenet_help(backbone)
    )


def torchvision_imagenet_weights(backbone: str) -> str:
    """Path of the converted ImageNet weights, downloading and converting them once.

    The converted file and a JSON record of its SHA-256 live in
    ``$KERAS_HOME/models/keras_perceptual/``; a converted file that does not match its
    record (truncated, edited) is converted again from the verified download.

    Raises:
        WeightsUnavailableError: the download failed or its checksum did not match.
    """
    check_choice(backbone, TORCHVISION_BACKBONES, "backbone")
    folder = keras_cache_dir() / "models" / "keras_perceptual"
    target = folder / f"torchvision_{backbone}.weights.h5"
    record_path = folder / f"torchvision_{backbone}.json"
    source_sha256 = IMAGENET_FILES[backbone][1]
    if target.is_file() and record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("source_sha256") == source_sha256 and record.get("sha256") == file_sha256(
            target
        ):
            return str(target)
    source = _imagenet_source(backbone)
    try:
        convert_torchvision_weights(source, target, backbone)
    except InputError as error:
        raise WeightsUnavailableError(
            f"The ImageNet {backbone} file {source!r} could not be converted ({error}). "
            f"Delete it so that it is downloaded again. {_imagenet_help(backbone)}"
        ) from None
    record = {"sha256": file_sha256(target), "source_sha256": source_sha256, "source": source}
    tmp_record = record_path.with_suffix(".json.tmp")
    tmp_record.write_text(json.dumps(record, indent=2))
    os.replace(tmp_record, record_path)
    return str(target)


__all__ = [
    "DEFAULT_TAPS",
    "IMAGENET_FILES",
    "L2Pooling2D",
    "TORCHVISION_BACKBONES",
    "WeightsUnavailableError",
    "convert_torchvision_weights",
    "load_torchvision_weights",
    "resolve_torchvision_layer",
    "state_dict_to_keras",
    "torch_hub_dir",
    "torchvision_backbone",
    "torchvision_imagenet_weights",
    "torchvision_layer_names",
    "torchvision_min_image_size",
    "torchvision_state_dict_shapes",
]
