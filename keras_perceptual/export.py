"""SavedModel export for TF Serving, and TFLite conversion, of the transformation networks.

Johnson, Alahi & Fei-Fei (2016) motivate their feed-forward networks ``f_W`` by speed at test
time ("real-time"); this module ships a trained ``f_W`` to where it runs: a TF Serving
``model_base_path`` (:func:`export_for_serving`) or a phone (:func:`export_tflite`).

:func:`export_for_serving` writes ``base_dir/<version>/``, a SavedModel with the ``serve`` tag
and three signatures, written with ``keras.export.ExportArchive``. The graph is plain
TensorFlow: loading it needs neither ``keras_perceptual`` nor Keras.

================  =============================================  ==============================
signature         input                                          output
================  =============================================  ==============================
serving_default   ``images``: float32 ``(-1, -1, -1, 3)`` in     ``images``: float32, same range
                  the model's ``value_range``
serve_uint8       ``images``: uint8 ``(-1, -1, -1, 3)``, 0..255  ``images``: uint8 (rounded,
                                                                 clipped)
serve_encoded     ``image_bytes``: string ``(-1,)``, PNG/JPEG    ``image_bytes``: string
                  file contents (GIF, BMP also decode)           ``(-1,)``, PNG file contents
================  =============================================  ==============================

Networks with more inputs than the image get them in every signature, under their Keras
names: ``style_weights`` float32 ``(-1, N)``, one row per image, for a
:func:`~keras_perceptual.models.multi_style_transfer_net`; ``style`` images for an
:func:`~keras_perceptual.models.arbitrary_style_net`, in the signature's image form (float32
in ``value_range``, uint8, or ``style_bytes``: one encoded file per image) and of any size.

Super-resolution networks return ``scale`` times the height and width. ``serve_encoded``
processes the images of a batch one by one, so they may differ in size, and decodes each by
the package's one decoding contract (:func:`keras_perceptual.images.read_rgb`, written in
TensorFlow ops, :func:`decode_upright`): the same pixels as the library and the command line.
The EXIF orientation of JPEG, PNG and WebP files is applied before the network runs (a phone
portrait comes back upright; the returned PNG carries no orientation tag), JPEGs are decoded
as Pillow decodes them, 16-bit PNGs keep 16 bits, grayscale inputs are replicated to RGB and
an alpha channel is dropped (not composited). Over TF Serving's REST API the ``_bytes``
suffix makes the server return the PNGs as ``{"b64": ...}``.

Every signature rejects an image of more than ``max_pixels`` pixels (height x width, default
16 megapixels) with an ``InvalidArgument`` error before the network runs; the encoded one
reads the size from the PNG/JPEG/GIF/BMP header before decoding. Images smaller than the
network accepts (5x5 for the default nets) are rejected the same way.

Beyond TF Serving (one input ``images``, float32 ``(batch, height, width, 3)`` in the model's
``value_range``, any batch, height and width; float32 output):

* :func:`export_onnx` writes a ``.onnx`` file with Keras' own ``Model.export(format="onnx")``
  (tf2onnx), then names the output and its dimensions and stores the model's
  :class:`~keras_perceptual.runtimes.ModelInfo` in the file's metadata.
* :func:`export_openvino` writes an OpenVINO IR folder (``model.xml`` + ``model.bin``) with
  OpenVINO's converter called directly on a ``tf.function`` of the model:
  ``Model.export(format="openvino")`` leaves two stray int32 scalar outputs in the IR (the
  dynamic size slices of the networks' pad-to-multiple and crop layers) and names the output
  after a TensorFlow node.
* :func:`export_tflite` writes a ``.tflite`` (float32, dynamic-range, float16 or full-integer
  int8 calibrated on representative images).

:mod:`keras_perceptual.runtimes` loads every one of them behind one call interface, and
each exporter accepts exactly the paths it recognizes (:data:`~keras_perceptual.runtimes.
FILE_EXTENSIONS`): a ``.onnx`` / ``.tflite`` file path must end with that extension (none
is added, as ``keras.Model.save`` requires ``.keras``), and a folder (OpenVINO, SavedModel)
must not end with a model file's extension; a wrong path is refused before any conversion.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_perceptual._checks import (
    check_choice,
    check_flag,
    check_path,
    check_positive_int,
    check_writable_folder,
)
from keras_perceptual._console import quiet_native_output
from keras_perceptual.errors import InputError
from keras_perceptual.inference import min_input_size, walk_layers
from keras_perceptual.layers import constant_blocked_kernels
from keras_perceptual.models import model_precision, model_value_range, with_dtype_policy
from keras_perceptual.ops import from_uint8, from_uint16, to_unit_range
from keras_perceptual.runtimes import (
    FILE_EXTENSIONS,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_NAME,
    TFLiteRuntime,
    extension_format,
    folder_format,
    model_info,
    require,
)

#: Signature keys of an export, in the order they are added.
SIGNATURES = ("serving_default", "serve_uint8", "serve_encoded")
#: ``{signature: (input name, output name)}``; stable, part of the serving API.
SIGNATURE_TENSORS = {
    "serving_default": ("images", "images"),
    "serve_uint8": ("images", "images"),
    "serve_encoded": ("image_bytes", "image_bytes"),
}
#: Default per-image limit on height x width (16 megapixels, e.g. 4000 x 4000).
DEFAULT_MAX_PIXELS = 16_000_000
#: ``quantize`` values of :func:`export_tflite`.
TFLITE_QUANTIZATIONS = ("dynamic", "float16", "int8")
#: ``quantize`` values of :func:`export_openvino` (float16 weights; computation as compiled).
OPENVINO_QUANTIZATIONS = ("float16",)
#: Default side of the square crops ``export_tflite(quantize="int8")`` calibrates on.
DEFAULT_CALIBRATION_SIZE = 256

_VERSION_NAME = re.compile(r"^[0-9]+$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


def _check_model(model: Any, caller: str, extra_inputs: bool = False) -> tuple[Any, Any]:
    """Returns the model's (image input, output) KerasTensors after checking it maps images to
    images; ``extra_inputs=True`` allows inputs after the image (e.g. style weights)."""
    if not isinstance(model, keras.Model):
        raise InputError(
            f"{caller} needs a keras.Model such as style_transfer_net() or a model loaded with "
            "keras.models.load_model(path); load the .keras file first. "
            f"Received: model={type(model).__name__}"
        )
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if inputs and outputs and len(inputs) > 1 and len(outputs) == 1 and not extra_inputs:
        names = [getattr(tensor, "name", "?") for tensor in inputs]
        raise InputError(
            f"{caller} exports models with one image input; this model has {len(inputs)} "
            f"inputs {names} (a multi-style or arbitrary-style network). Export it with "
            "export_for_serving, export_onnx or export_openvino, which keep the extra inputs "
            f"as signature inputs. Received: model={model.name!r}"
        )
    if not inputs or not outputs or (len(inputs) != 1 and not extra_inputs) or len(outputs) != 1:
        raise InputError(
            f"{caller} needs a functional model with one image input and one image output, like "
            "style_transfer_net() and super_resolution_net(); wrap a subclassed model as "
            "keras.Model(x := keras.Input((None, None, 3)), net(x)). "
            f"Received: model={model.name!r} with inputs={inputs!r}"
        )
    for role, tensor in (("input", inputs[0]), ("output", outputs[0])):
        shape = tuple(tensor.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise InputError(
                f"{caller} exports image-to-image models: the model's {role} must be RGB images "
                f"(batch, height, width, 3), as in style_transfer_net(). "
                f"Received: model.{role}s[0].shape={shape}"
            )
    return inputs[0], outputs[0]


#: ``{format: (its name, what writes it)}``, for the path checks' messages.
_WRITERS = {
    "keras": ("Keras", "model.save"),
    "onnx": ("ONNX", "export_onnx"),
    "openvino": ("OpenVINO", "export_openvino"),
    "tflite": ("TFLite", "export_tflite"),
}
_EXTENSIONS = {fmt: ext for ext, fmt in FILE_EXTENSIONS.items()}


def _check_extension(path: Any, target: str, fmt: str | None, caller: str,
                     name: str = "path") -> None:
    """Refuses a path that :func:`~keras_perceptual.runtimes.load_runtime` would not read as
    what ``caller`` writes there (its one rule, :func:`~keras_perceptual.runtimes.extension_format`):
    a file of format ``fmt`` must end with its extension (as ``keras.Model.save`` requires
    ``.keras``; none is added), a folder (``fmt=None``) with none of them. Called before any
    conversion starts."""
    found = extension_format(target)
    if found == fmt:
        return
    stem = os.path.splitext(os.fspath(path))[0] if found else os.fspath(path)
    if fmt is not None:
        label, _ = _WRITERS[fmt]
        other = ""
        if found:
            other = f" ({_EXTENSIONS[found]} is {_WRITERS[found][0]}'s: use {_WRITERS[found][1]})"
        raise InputError(
            f"{caller} writes {label} files, which load_runtime recognizes only by the extension "
            f"{_EXTENSIONS[fmt]}; end the path with it, e.g. {stem + _EXTENSIONS[fmt]!r}{other}. "
            f"Received: {name}={path!r}"
        )
    label, writer = _WRITERS[found]
    raise InputError(
        f"{caller} writes a folder, but load_runtime reads a path ending in {_EXTENSIONS[found]} "
        f"as {'an' if label[0] in 'AEIOU' else 'a'} {label} model file; use {writer} for that format, or a folder name without the "
        f"extension, e.g. {os.path.splitext(os.fspath(path))[0]!r}. Received: {name}={path!r}"
    )


def _check_compression(png_compression: Any) -> int:
    if (
        isinstance(png_compression, bool)
        or not isinstance(png_compression, (int, np.integer))
        or not -1 <= png_compression <= 9
    ):
        raise InputError(
            "png_compression must be an int from 0 (fastest) to 9 (smallest), or -1 for zlib's "
            f"default. Received: png_compression={png_compression!r}"
        )
    return int(png_compression)


# --------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------


def existing_versions(base_dir: str | os.PathLike) -> list[int]:
    """The version numbers under ``base_dir`` as TF Serving sees them (numeric folder names).

    Args:
        base_dir: a TF Serving ``model_base_path``; need not exist.

    Returns:
        The sorted versions; ``[]`` when there are none.

    Example:
        >>> for version in ("1", "2", "notes"):
        ...     os.makedirs(os.path.join("serving", "sr2", version))
        >>> existing_versions("serving/sr2")  # numeric folders only
        [1, 2]
    """
    base = check_path(base_dir, "base_dir", "export/sr4")
    if not os.path.isdir(base):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base)
        if _VERSION_NAME.match(name) and os.path.isdir(os.path.join(base, name))
    )


def _is_saved_model(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(
        os.path.join(path, "saved_model.pbtxt")
    )


def _resolve_target(base_dir: Any, version: Any) -> tuple[str, int]:
    """``(base, version)``; ``version=None`` is the next free number, except that a base_dir
    that is itself a version folder (``export/sr4/1``: numeric, and new or a SavedModel)
    means that version."""
    try:
        base = os.path.abspath(os.fspath(base_dir))
    except TypeError:
        raise InputError(
            "base_dir must be a folder path, the model_base_path TF Serving watches, e.g. "
            f"'export/sr4'. Received: base_dir={base_dir!r}"
        ) from None
    _check_extension(base_dir, base, None, "export_for_serving", "base_dir")
    if os.path.isfile(base):
        raise InputError(
            "base_dir is an existing file, but TF Serving's model_base_path is a folder of "
            f"numbered versions; pass a folder path, e.g. {base + '_serving'!r}. "
            f"Received: base_dir={base_dir!r}"
        )
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0
    ):
        raise InputError(
            "version must be an integer >= 0 (TF Serving serves the highest number), or "
            f"None for the next free one. Received: version={version!r}"
        )
    leaf = os.path.basename(base)
    if (
        version is None
        and _VERSION_NAME.match(leaf)
        and (not os.path.exists(base) or _is_saved_model(base))
    ):
        return os.path.dirname(base), int(leaf)
    _check_base_dir(base_dir, base)
    if version is not None:
        return base, int(version)
    versions = existing_versions(base)
    return base, (versions[-1] + 1 if versions else 1)


def _check_base_dir(base_dir: Any, base: str) -> None:
    """Refuses a ``base_dir`` that holds a model itself (a SavedModel, a Keras model, an
    OpenVINO IR): versions written into it would be mixed with that export."""
    if not os.path.isdir(base):
        return
    if _is_saved_model(base):
        found = "is itself a SavedModel (it holds saved_model.pb)"
    else:
        fmt = folder_format(base)
        if fmt is None:
            return
        found = f"holds {'a Keras model' if fmt == 'keras' else 'an OpenVINO IR'}"
    raise InputError(
        f"base_dir {found}, so the version folders TF Serving reads would be mixed into "
        "another export; pass the folder of numbered versions (TF Serving's "
        f"model_base_path), e.g. {os.path.join(os.path.dirname(base), 'serving')!r}. "
        f"Received: base_dir={base_dir!r}"
    )


# --------------------------------------------------------------------------------------
# Graph pieces
# --------------------------------------------------------------------------------------


def _size_checks(height, width, max_pixels: int, min_side: int, signature: str) -> list:
    """Assertions (InvalidArgument at run time) on one image's height and width."""
    pixels = tf.cast(height, tf.float64) * tf.cast(width, tf.float64)
    checks = [
        tf.debugging.assert_less_equal(
            pixels,
            tf.constant(float(max_pixels), tf.float64),
            message=(
                f"{signature}: an image has more than max_pixels={max_pixels} pixels (height x "
                "width), the per-image limit set at export to protect the server's memory. Send "
                "a smaller image (downscale or tile it), or re-export with a larger limit: "
                "export_for_serving(model, base_dir, max_pixels=N). Received pixels (x) vs limit "
                "(y):"
            ),
            summarize=2,
        )
    ]
    if min_side > 1:
        checks.append(
            tf.debugging.assert_greater_equal(
                tf.minimum(tf.cast(height, tf.int64), tf.cast(width, tf.int64)),
                tf.constant(min_side, tf.int64),
                message=(
                    f"{signature}: images must be at least {min_side}x{min_side} pixels for this "
                    "network (its mirror padding needs them); upscale or pad smaller images "
                    "first. Received min(height, width) (x) vs minimum (y):"
                ),
                summarize=2,
            )
        )
    return checks


def _batch_checks(images, signature: str, name: str) -> list:
    """Assertions (InvalidArgument at run time) that a batch holds at least one RGB image:
    the signature's ``(-1, -1, -1, 3)`` is not enforced on requests, and the network's
    padding and convolutions fail on other shapes with messages about their own tensors."""
    shape = tf.shape(images)
    return [
        tf.debugging.assert_equal(
            shape[-1],
            tf.constant(3, shape.dtype),
            message=(
                f"{signature}: {name} must be RGB, (batch, height, width, 3); replicate a "
                "grey channel (np.repeat(x, 3, axis=-1)) or drop alpha (x[..., :3]). Received "
                "channels (x) vs expected (y):"
            ),
            summarize=2,
        ),
        tf.debugging.assert_positive(
            shape[0],
            message=(
                f"{signature}: the request holds no images (batch 0); send at least one, or "
                "skip the request. Received batch size:"
            ),
            summarize=1,
        ),
    ]


def _uint_be(raw, start: int, length: int):
    """Big-endian unsigned integer from bytes ``raw[start:start + length]`` (uint8 tensor)."""
    value = tf.constant(0.0, tf.float64)
    for i in range(length):
        value = value * 256.0 + tf.cast(raw[start + i], tf.float64)
    return value


def _uint_le(raw, start: int, length: int):
    value = tf.constant(0.0, tf.float64)
    for i in reversed(range(length)):
        value = value * 256.0 + tf.cast(raw[start + i], tf.float64)
    return value


def _header_size(data):
    """``(kind, height, width)`` read from an encoded image's header, without decoding it.

    ``kind`` is 1 for PNG, 2 for JPEG, 3 for GIF, 4 for BMP, 5 for WebP, 0 for anything else;
    height and width are float64 (0 where the header does not say, e.g. WebP).
    """
    head = tf.strings.substr(data, 0, 32)  # shorter when the file is
    padded = tf.strings.join([head, tf.constant(b"\x00" * 32)])
    raw = tf.io.decode_raw(tf.strings.substr(padded, 0, 32), tf.uint8)
    magic = tf.strings.substr(padded, 0, 8)
    is_png = tf.equal(magic, _PNG_SIGNATURE)
    is_jpeg = tf.equal(tf.strings.substr(padded, 0, 3), b"\xff\xd8\xff")
    is_gif = tf.equal(tf.strings.substr(padded, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(padded, 0, 2), b"BM")
    is_webp = tf.logical_and(
        tf.equal(tf.strings.substr(padded, 0, 4), b"RIFF"),
        tf.equal(tf.strings.substr(padded, 8, 4), b"WEBP"),
    )
    zero = tf.constant(0.0, tf.float64)

    def jpeg_size():
        shape = tf.image.extract_jpeg_shape(data)
        return tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)

    def bmp_size():
        height = _uint_le(raw, 22, 4)
        height = tf.where(height >= 2.0**31, 2.0**32 - height, height)  # top-down BMPs
        return height, _uint_le(raw, 18, 4)

    height, width = tf.case(
        [
            (is_png, lambda: (_uint_be(raw, 20, 4), _uint_be(raw, 16, 4))),
            (is_jpeg, jpeg_size),
            (is_gif, lambda: (_uint_le(raw, 8, 2), _uint_le(raw, 6, 2))),
            (is_bmp, bmp_size),
        ],
        default=lambda: (zero, zero),
        exclusive=False,
    )
    kind = tf.case(
        [
            (is_png, lambda: tf.constant(1)),
            (is_jpeg, lambda: tf.constant(2)),
            (is_gif, lambda: tf.constant(3)),
            (is_bmp, lambda: tf.constant(4)),
            (is_webp, lambda: tf.constant(5)),
        ],
        default=lambda: tf.constant(0),
        exclusive=False,
    )
    return kind, height, width


def _is_image_input(tensor) -> bool:
    shape = tuple(tensor.shape)
    return len(shape) == 4 and shape[-1] == 3


# --------------------------------------------------------------------------------------
# Decoding in the serving graph: the contract of keras_perceptual.images.read_rgb
# --------------------------------------------------------------------------------------

#: How far into a file the EXIF orientation is looked for (JPEG APP1 segments come first).
_EXIF_SCAN_BYTES = 1 << 18
#: At most this many JPEG segments, PNG/WebP chunks and TIFF entries are read.
_EXIF_MAX_STEPS = 64


class _Bytes:
    """Random access to the first bytes of a file held in a string tensor (0 past its end)."""

    def __init__(self, data):
        self.raw = tf.cast(
            tf.io.decode_raw(tf.strings.substr(data, 0, _EXIF_SCAN_BYTES), tf.uint8), tf.int64
        )
        self.size = tf.size(self.raw, out_type=tf.int64)

    def at(self, i):
        i = tf.cast(i, tf.int64)
        inside = tf.logical_and(i >= 0, i < self.size)
        return tf.where(inside, tf.gather(self.raw, tf.clip_by_value(i, 0, self.size - 1)), 0)

    def uint(self, i, length: int, little):
        values = [self.at(i + k) for k in range(length)]
        big = values[0]
        for v in values[1:]:
            big = big * 256 + v
        small = values[-1]
        for v in reversed(values[:-1]):
            small = small * 256 + v
        return tf.where(little, small, big)

    def equals(self, i, text: bytes):
        return tf.reduce_all(tf.stack([tf.equal(self.at(i + k), b) for k, b in enumerate(text)]))


def _walk(start, step_fn):
    """Follows segments/chunks from ``start``: ``step_fn(i) -> (next_i, found, stop)``.

    Returns the first ``found`` offset (>= 0), or -1.
    """

    def body(i, found, steps):
        next_i, hit, stop = step_fn(i)
        found = tf.where(hit >= 0, hit, found)
        return tf.where(stop | (hit >= 0), tf.constant(-1, tf.int64), next_i), found, steps + 1

    def cond(i, found, steps):
        return (i >= 0) & (found < 0) & (steps < _EXIF_MAX_STEPS)

    _, found, _ = tf.while_loop(
        cond, body, [tf.cast(start, tf.int64), tf.constant(-1, tf.int64), tf.constant(0)]
    )
    return found


def _exif_tiff_start(data, kind):
    """Offset of the EXIF TIFF header in a JPEG (APP1), PNG (eXIf) or WebP (EXIF) file, or -1."""
    b = _Bytes(data)
    never = tf.constant(-1, tf.int64)

    def jpeg_step(i):
        marker = b.at(i + 1)
        standalone = (marker == 0xFF) | (marker == 0x01) | ((marker >= 0xD0) & (marker <= 0xD8))
        stop = (b.at(i) != 0xFF) | (marker == 0xDA) | (marker == 0xD9) | (i + 4 > b.size)
        length = b.uint(i + 2, 2, False)
        exif = (marker == 0xE1) & b.equals(i + 4, b"Exif\x00\x00")
        skip = tf.where(marker == 0xFF, tf.constant(1, tf.int64), tf.constant(2, tf.int64))
        next_i = tf.where(standalone, i + skip, i + 2 + length)
        return next_i, tf.where(exif & ~stop, i + 10, never), stop

    def png_step(i):
        length = b.uint(i, 4, False)
        stop = b.equals(i + 4, b"IDAT") | b.equals(i + 4, b"IEND") | (i + 8 > b.size)
        exif = b.equals(i + 4, b"eXIf")
        return i + 12 + length, tf.where(exif & ~stop, i + 8, never), stop

    def webp_step(i):
        length = b.uint(i + 4, 4, True)
        exif = b.equals(i, b"EXIF")
        # Some writers keep JPEG's "Exif\0\0" prefix inside the chunk.
        start = tf.where(b.equals(i + 8, b"Exif\x00\x00"), i + 14, i + 8)
        return i + 8 + length + length % 2, tf.where(exif, start, never), i + 8 > b.size

    return tf.case(
        [
            (tf.equal(kind, 2), lambda: _walk(2, jpeg_step)),
            (tf.equal(kind, 1), lambda: _walk(8, png_step)),
            (tf.equal(kind, 5), lambda: _walk(12, webp_step)),
        ],
        default=lambda: never,
        exclusive=True,
    ), b


def exif_orientation(data):
    """The EXIF orientation (1-8; 1 when absent) of an encoded image, in TensorFlow ops.

    Reads the TIFF structure of the file's EXIF block (JPEG APP1 segment, PNG ``eXIf``
    chunk, WebP ``EXIF`` chunk) within its first 256 KiB: the IFD0 entry with tag 0x0112.

    Args:
        data: a scalar string tensor holding the file's bytes.

    Returns:
        A scalar int32 tensor in 1..8.
    """
    kind, _, _ = _header_size(data)
    tiff, b = _exif_tiff_start(data, kind)
    little = b.equals(tiff, b"II")
    ifd = tiff + b.uint(tiff + 4, 4, little)
    count = b.uint(ifd, 2, little)
    index = tf.range(_EXIF_MAX_STEPS, dtype=tf.int64)
    entries = ifd + 2 + 12 * index
    hit = (b.uint(entries, 2, little) == 0x0112) & (index < count)
    value = tf.reduce_max(tf.where(hit, b.uint(entries + 8, 2, little), 0))
    valid = (tiff >= 0) & (value >= 1) & (value <= 8)
    return tf.cast(tf.where(valid, value, 1), tf.int32)


def orient_image(image, orientation):
    """Applies an EXIF orientation (1-8) to an ``(H, W, C)`` image tensor, as
    :func:`keras_perceptual.images.orient` does to arrays (``PIL.ImageOps.exif_transpose``)."""
    steps = [
        lambda: image,
        lambda: tf.reverse(image, [1]),
        lambda: tf.reverse(image, [0, 1]),
        lambda: tf.reverse(image, [0]),
        lambda: tf.transpose(image, [1, 0, 2]),
        lambda: tf.image.rot90(image, k=3),
        lambda: tf.reverse(tf.transpose(image, [1, 0, 2]), [0, 1]),
        lambda: tf.image.rot90(image, k=1),
    ]
    return tf.switch_case(tf.clip_by_value(orientation, 1, 8) - 1, steps)


def decode_upright(data):
    """One encoded image to an upright uint16 ``(H, W, 3)`` tensor (0..65535), in TF ops.

    The decoding contract of :func:`keras_perceptual.images.read_rgb` in the serving graph:
    JPEGs decoded as Pillow decodes them (``dct_method="INTEGER_ACCURATE"``, fancy
    upsampling; CMYK converted), 16-bit PNGs kept to 16 bits, 8-bit images as ``v * 257``,
    grayscale expanded, alpha dropped, the EXIF orientation applied.
    """
    kind, _, _ = _header_size(data)

    def widen(image):
        return tf.cast(image, tf.uint16) * tf.constant(257, tf.uint16)

    def png():
        sixteen = tf.equal(tf.strings.substr(data, 24, 1), b"\x10")
        return tf.cond(
            sixteen,
            lambda: tf.io.decode_png(data, channels=3, dtype=tf.uint16),
            lambda: widen(tf.io.decode_png(data, channels=3)),
        )

    image = tf.case(
        [
            (
                tf.equal(kind, 2),
                lambda: widen(tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")),
            ),
            (tf.equal(kind, 1), png),
        ],
        default=lambda: widen(
            tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        ),
        exclusive=True,
    )
    image = tf.ensure_shape(image, [None, None, 3])
    return tf.ensure_shape(orient_image(image, exif_orientation(data)), [None, None, 3])


class _Serving:
    """The three signature functions of one model (plain TensorFlow around ``model``).

    Each takes the image input, then the model's other inputs (style weights, a style
    image), which follow the image's form in the signature (float, uint8 or encoded)."""

    def __init__(self, model, max_pixels: int, png_compression: int, min_side: int):
        self.model = model
        self.max_pixels = max_pixels
        self.png_compression = png_compression
        self.min_side = min_side
        self.input_dtype = model.inputs[0].dtype
        self.value_range = model_value_range(model)
        self.extra_is_image = [_is_image_input(t) for t in model.inputs[1:]]

    # value-range conversions ----------------------------------------------------------
    def to_range(self, images, bits: int = 8):
        """uint8 (``bits=8``) or uint16 (``bits=16``) pixels to the model's value_range."""
        pixels = tf.cast(images, tf.float32)
        if bits == 16:
            return from_uint16(pixels, self.value_range)
        return from_uint8(pixels, self.value_range)

    def to_uint8(self, images):
        y = to_unit_range(tf.cast(images, tf.float32), self.value_range)
        return tf.cast(tf.round(tf.clip_by_value(y * 255.0, 0.0, 255.0)), tf.uint8)

    def run(self, images, *extras):
        images = tf.cast(images, self.input_dtype)
        inputs = [images, *(tf.cast(x, self.input_dtype) for x in extras)] if extras else images
        return tf.cast(self.model(inputs, training=False), tf.float32)

    def checked_extras(self, extras, signature: str, images, form: str = "float"):
        """The inputs after the image, checked against ``images`` (the image batch, or the
        encoded images' vector): non-image inputs one row per image of the model's width
        (``style_weights`` ``(batch, N)``), style images under the pixel limit, RGB, one per
        image or one for all (in ``form="encoded"``: one file per image); from uint8 they are
        brought to ``value_range``. Each is an ``InvalidArgument`` naming the input: the
        signature's shapes are not enforced on requests, and the network or ``tf.map_fn``
        would fail on its own tensors ("Matrix size-incompatible", "Trying to access element
        1 in a list with 1 elements")."""
        batch = tf.shape(images)[0]
        result = []
        for value, is_image, tensor in zip(
            extras, self.extra_is_image, self.model.inputs[1:], strict=True
        ):
            shape = tf.shape(value)
            name = f"{tensor.name}_bytes" if is_image and form == "encoded" else tensor.name
            checks = []
            if is_image and form != "encoded":
                checks += _size_checks(shape[1], shape[2], self.max_pixels, 1, signature)
                checks += _batch_checks(value, signature, f"the {name} images")
                checks.append(tf.debugging.Assert(
                    tf.logical_or(tf.equal(shape[0], batch), tf.equal(shape[0], 1)),
                    [f"{signature}: {name} must hold one image per image, or one for all of "
                     "them. Received: batch sizes of the images and of",
                     name, "(in that order):", batch, shape[0]],
                ))
            else:
                per_image = "one file per image" if is_image else "one row per image"
                checks.append(tf.debugging.assert_equal(
                    shape[0], batch,
                    message=(f"{signature}: {name} must hold {per_image}, in the images' "
                             f"order. Received {name} entries (x) vs images (y):"),
                    summarize=2,
                ))
            if not is_image:
                for axis, size in enumerate(tuple(tensor.shape)[1:], start=1):
                    if size is not None:
                        checks.append(tf.debugging.assert_equal(
                            shape[axis], tf.constant(size, shape.dtype),
                            message=(f"{signature}: {name} must have shape (batch, "
                                     f"{', '.join(str(d) for d in tuple(tensor.shape)[1:])}) "
                                     f"for this network. Received size of axis {axis} (x) vs "
                                     "expected (y):"),
                            summarize=2,
                        ))
            with tf.control_dependencies(checks):
                value = tf.identity(value)
            if is_image and form == "uint8":
                value = self.to_range(value)
            result.append(value)
        return result

    def checked(self, images, signature: str):
        shape = tf.shape(images)
        checks = _size_checks(shape[1], shape[2], self.max_pixels, self.min_side, signature)
        checks += _batch_checks(images, signature, "images")
        with tf.control_dependencies(checks):
            return tf.identity(images)

    # signatures -------------------------------------------------------------------------
    def serving_default(self, images, *extras):
        extras = self.checked_extras(extras, "serving_default", images)
        return {"images": self.run(self.checked(images, "serving_default"), *extras)}

    def serve_uint8(self, images, *extras):
        images = self.checked(images, "serve_uint8")
        extras = self.checked_extras(extras, "serve_uint8", images, form="uint8")
        return {"images": self.to_uint8(self.run(self.to_range(images), *extras))}

    def decode(self, data, name: str):
        """One encoded image as a ``(1, H, W, 3)`` batch in ``value_range`` (header-checked)."""
        kind, height, width = _header_size(data)
        known = tf.debugging.Assert(
            kind > 0,
            [
                f"serve_encoded: {name} must hold the bytes of a PNG or JPEG file (GIF, BMP "
                'and WebP also decode); over REST send each as {"b64": "<base64 of the file>"}, '
                "not as plain base64 text or pixel values. Received: first bytes =",
                tf.strings.substr(data, 0, 12),
            ],
        )
        header = _size_checks(height, width, self.max_pixels, 1, "serve_encoded")
        with tf.control_dependencies([known, *header]):
            image = decode_upright(data)  # the library's decoding contract, uint16
        return self.to_range(image, bits=16)[tf.newaxis]

    def encode_one(self, item):
        """``(image bytes, *other inputs)`` of one image -> the PNG bytes of its output."""
        data, extras = item[0], item[1:]
        extras = [
            self.decode(x, f"{tensor.name}_bytes") if is_image else x[tf.newaxis]
            for x, is_image, tensor in zip(
                extras, self.extra_is_image, self.model.inputs[1:], strict=True
            )
        ]
        batch = self.decode(data, "image_bytes")
        shape = tf.shape(batch)
        checks = _size_checks(shape[1], shape[2], self.max_pixels, self.min_side, "serve_encoded")
        with tf.control_dependencies(checks):
            batch = tf.identity(batch)
        outputs = self.to_uint8(self.run(batch, *extras))[0]
        return tf.io.encode_png(outputs, compression=self.png_compression)

    def serve_encoded(self, image_bytes, *extras):
        extras = self.checked_extras(extras, "serve_encoded", image_bytes, form="encoded")
        encoded = tf.map_fn(
            self.encode_one,
            (image_bytes, *extras),
            fn_output_signature=tf.TensorSpec([], tf.string),
            parallel_iterations=1,  # one image at a time bounds the memory by max_pixels
        )
        return {"image_bytes": encoded}


def _input_spec(model, dtype, name: str) -> tf.TensorSpec:
    _, height, width, _ = tuple(model.inputs[0].shape)
    return tf.TensorSpec((None, height, width, 3), dtype, name=name)


def _extra_specs(model, form: str) -> list[tf.TensorSpec]:
    """Specs of the inputs after the image, named as in Keras: images in the signature's
    ``form`` (``"float"``, ``"uint8"`` or ``"encoded"``: ``<name>_bytes``, one per image),
    anything else float32 with a free batch axis."""
    specs = []
    for tensor in model.inputs[1:]:
        shape = (None, *tuple(tensor.shape)[1:])
        if not _is_image_input(tensor):
            specs.append(tf.TensorSpec(shape, tf.float32, name=tensor.name))
        elif form == "encoded":
            specs.append(tf.TensorSpec((None,), tf.string, name=f"{tensor.name}_bytes"))
        else:
            dtype = tf.uint8 if form == "uint8" else tf.float32
            specs.append(tf.TensorSpec(shape, dtype, name=tensor.name))
    return specs


def _write_archive(model, path: str, serving: _Serving, signatures: Sequence[str]) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = {
        "serving_default": [
            _input_spec(model, tf.float32, "images"), *_extra_specs(model, "float")
        ],
        "serve_uint8": [_input_spec(model, tf.uint8, "images"), *_extra_specs(model, "uint8")],
        "serve_encoded": [
            tf.TensorSpec((None,), tf.string, name="image_bytes"), *_extra_specs(model, "encoded")
        ],
    }
    for name in signatures:
        archive.add_endpoint(name, getattr(serving, name), input_signature=specs[name])
    archive.write_out(path, verbose=False)


# --------------------------------------------------------------------------------------
# Float32 copies (mixed precision, TFLite)
# --------------------------------------------------------------------------------------


def _float32_copy(model: keras.Model) -> keras.Model:
    """A float32 copy of ``model`` (same weights), for mixed-precision models and TFLite."""
    try:
        return with_dtype_policy(model, "float32")
    except InputError as error:
        raise InputError(
            f"{str(error).split('. Received:')[0]}, or pass compute_dtype=None to keep the "
            f"model's own dtype policy. Received: model={model.name!r}"
        ) from None


def _has_mixed_policy(model: keras.Model) -> bool:
    return model_precision(model) != "float32"


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def export_for_serving(
    model: keras.Model,
    base_dir: str | os.PathLike,
    version: int | None = None,
    *,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    png_compression: int = -1,
    compute_dtype: str | None = None,
) -> str:
    """Writes ``model`` as a TF Serving SavedModel version ``base_dir/<version>/``.

    The SavedModel has the ``serve`` tag and three signatures (see the module docstring):
    ``serving_default`` (float32 images in the model's ``value_range`` -> float32 images),
    ``serve_uint8`` (uint8 -> uint8, rounded and clipped) and ``serve_encoded`` (a batch of
    PNG/JPEG bytes -> PNG bytes; images may differ in size). Inputs are named ``images`` /
    ``image_bytes``, outputs likewise. A model trained under ``mixed_float16`` or
    ``mixed_bfloat16`` still takes and returns float32 (inputs and outputs are cast).

    The version is written to a hidden temporary folder in ``base_dir`` and renamed into place,
    so TF Serving (which loads numeric folders) never sees a half-written version, even if
    the export crashes. With ``overwrite=True`` an existing version is replaced the same way.

    Args:
        model: a trained ``style_transfer_net`` / ``super_resolution_net`` (or any functional
            model mapping ``(B, H, W, 3)`` images to RGB images).
        base_dir: TF Serving's ``--model_base_path`` (created if missing). A path that is
            itself a version folder, e.g. ``"export/sr4/1"`` (numeric, and new or a
            SavedModel), is that version when ``version`` is None. A folder that holds
            another export itself (a SavedModel, a Keras model, an OpenVINO IR) is refused:
            versions would be mixed into it.
        version: the version number; None for one more than the highest existing one (1 for
            an empty ``base_dir``).
        overwrite: replace an existing version instead of raising ``FileExistsError``.
        max_pixels: the largest height x width accepted per image; bigger images fail with
            ``InvalidArgument`` (HTTP 400 over REST) before the network runs.
        png_compression: zlib level of the PNGs ``serve_encoded`` returns, 0..9 or -1.
        compute_dtype: None keeps the model's dtype policy (a ``mixed_float16`` graph is fast
            on GPUs, slow on CPUs); ``"float32"`` rebuilds the network in float32 with the same
            weights, for CPU serving of a model trained under mixed precision.

    Returns:
        The absolute path of the version folder written.

    Raises:
        FileExistsError: the version exists and ``overwrite`` is False.
        ValueError: the model or an argument is unusable (``base_dir`` an existing file,
            a folder holding another export, or not writable included).

    Example:
        >>> import tensorflow as tf
        >>> model = super_resolution_net(4, filters=4, num_residual_blocks=1)
        >>> export_for_serving(model, "export/sr4")  # export/sr4/1, then export/sr4/2, ...
        '.../export/sr4/1'
        >>> loaded = tf.saved_model.load("export/sr4/1")
        >>> out = loaded.signatures["serve_uint8"](images=tf.zeros((1, 8, 8, 3), tf.uint8))
        >>> tuple(out["images"].shape), out["images"].dtype.name
        ((1, 32, 32, 3), 'uint8')
    """
    _check_model(model, "export_for_serving", extra_inputs=True)
    max_pixels = check_positive_int(max_pixels, "max_pixels")
    overwrite = check_flag(overwrite, "overwrite")
    png_compression = _check_compression(png_compression)
    if compute_dtype is not None:
        check_choice(compute_dtype, ("float32",), "compute_dtype")
    base, number = _resolve_target(base_dir, version)
    target = os.path.join(base, str(number))
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.path.islink(target):
            raise FileExistsError(
                f"{target!r} exists and is not a folder; move it away or choose another version. "
                f"Received: version={number}"
            )
        if os.listdir(target) and not overwrite:
            free = (existing_versions(base) or [0])[-1] + 1
            raise FileExistsError(
                f"Version {number} already exists at {target!r}; pass overwrite=True to replace "
                f"it (keras-perceptual export --overwrite), or version=None for the next free "
                f"version ({free}). Received: version={number}"
            )
    check_writable_folder(base, "base_dir", base_dir, "export/sr4")
    if compute_dtype == "float32" and _has_mixed_policy(model):
        model = _float32_copy(model)

    serving = _Serving(model, max_pixels, png_compression, min_input_size(model))
    staging = os.path.join(base, f".{number}.tmp-{uuid.uuid4().hex[:8]}")
    retired = None
    try:
        _write_archive(model, staging, serving, SIGNATURES)
        if os.path.lexists(target):
            retired = os.path.join(base, f".{number}.old-{uuid.uuid4().hex[:8]}")
            os.rename(target, retired)
        try:
            os.rename(staging, target)
        except OSError as error:
            if retired is not None:
                os.rename(retired, target)
                retired = None
            raise FileExistsError(
                f"Could not move the export into {target!r} ({error.strerror or error}); another "
                "process may have written this version at the same time. Export again with "
                f"version=None or another number. Received: version={number}"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    return target


class ExportResult(str):
    """The absolute path an exporter wrote (a ``str``), with what it measured.

    Attributes:
        metrics: figures measured during the export; for
            ``export_tflite(quantize="int8")``: ``psnr_db`` (mean PSNR of the int8 model's
            outputs against the float32 Keras model on the held-out images, in dB with the
            value range as peak), ``psnr_db_min``, ``max_abs_error`` (value-range units),
            ``held_out_images`` and ``calibration_images``. Empty otherwise.

    Example:
        >>> model = super_resolution_net(4, filters=4, num_residual_blocks=1)
        >>> path = export_tflite(model, "sr4_int8.tflite", quantize="int8",
        ...                      representative_images="photos/")
        >>> sorted(path.metrics)[:3]  # an untrained network's PSNR means little
        ['calibration_images', 'held_out_images', 'max_abs_error']
    """

    metrics: dict

    def __new__(cls, path: str, metrics: dict | None = None):
        result = super().__new__(cls, path)
        result.metrics = dict(metrics or {})
        return result


def _target_path(path: Any, suffix: str, caller: str, overwrite: bool) -> str:
    """``path`` as an absolute file path, ending in ``suffix``, that is not a folder, in a
    writable folder (parent folders created); an existing file only with ``overwrite``."""
    try:
        target = os.path.abspath(os.fspath(path))
    except TypeError:
        raise InputError(
            f"path must be a file path such as 'model{suffix}'. Received: path={path!r}"
        ) from None
    if os.path.isdir(target):
        raise InputError(
            f"path is a folder; pass a file path such as "
            f"{os.path.join(target, 'model' + suffix)!r}. Received: path={path!r}"
        )
    _check_extension(path, target, FILE_EXTENSIONS[suffix], caller)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(
            f"{target!r} already exists; pass overwrite=True to replace it, or another path. "
            f"Received: path={path!r}, overwrite=False"
        )
    check_writable_folder(os.path.dirname(target), "path", path, f"~/model{suffix}")
    return target


def _write_atomically(target: str, data: bytes) -> None:
    staging = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(staging, "wb") as f:
            f.write(data)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def _portable(model: keras.Model) -> keras.Model:
    """``model`` itself, or a float32 copy when it computes under a mixed-precision policy."""
    return _float32_copy(model) if _has_mixed_policy(model) else model


def _input_specs(model: keras.Model, fixed: Sequence[int] | None = None) -> list:
    """float32 TensorSpecs of the model's inputs: ``images`` first (any batch; ``fixed``
    ``(H, W)`` pins batch 1 and the size), then the others under their Keras names."""
    _, height, width, _ = tuple(model.inputs[0].shape)
    if fixed is not None:
        specs = [tf.TensorSpec((1, *fixed, 3), tf.float32, name=INPUT_NAME)]
    else:
        specs = [tf.TensorSpec((None, height, width, 3), tf.float32, name=INPUT_NAME)]
    for tensor in model.inputs[1:]:
        shape = (1 if fixed is not None else None, *tuple(tensor.shape)[1:])
        specs.append(tf.TensorSpec(shape, tf.float32, name=tensor.name))
    return specs


def _forward_fn(model: keras.Model):
    """``f(*inputs) -> float32 outputs`` of the model in inference mode."""
    single = len(model.inputs) == 1

    def forward(*inputs):
        outputs = model(inputs[0] if single else list(inputs), training=False)
        return tf.cast(outputs, tf.float32)

    return forward


# --------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------


def _calibration_images(
    images: Any, value_range, fixed: Sequence[int] | None, size: int
) -> np.ndarray:
    """The representative images as one float32 batch in ``value_range``."""
    from keras_perceptual.images import load_images

    if images is None:
        raise InputError(
            'quantize="int8" calibrates activation ranges on real images: pass '
            "representative_images= a folder, a list of image files, or an (N, H, W, 3) float "
            "array of typical inputs (a few dozen). Received: representative_images=None"
        )
    if isinstance(images, (str, os.PathLike)) or (
        isinstance(images, (list, tuple)) and all(isinstance(i, (str, os.PathLike)) for i in images)
    ):
        target = tuple(fixed) if fixed is not None else size
        return load_images(images, size=target, value_range=value_range)
    array = np.asarray(images)
    low, high = value_range
    if array.ndim == 4 and array.shape[-1] == 3 and array.dtype.kind in "uib":
        raise InputError(
            "representative_images must be a float array (N, H, W, 3) in the model's "
            f"value_range={tuple(value_range)}, not {array.dtype} pixels; convert them, e.g. images.astype('float32') / 255 "
            f"* {high - low:g} + {low:g} for 8-bit pixels. Received: representative_images with "
            f"dtype {array.dtype}"
        )
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype.kind != "f":
        raise InputError(
            "representative_images must be a folder, a list of image files, or a float array "
            f"(N, H, W, 3) in the model's value_range={tuple(value_range)}. Received: "
            f"representative_images with shape {array.shape} and dtype {array.dtype}"
        )
    if fixed is not None and tuple(array.shape[1:3]) != tuple(fixed):
        raise InputError(
            f"representative_images must have the fixed input_size {tuple(fixed)}; resize them "
            f"or pass a folder. Received: representative_images.shape={array.shape}"
        )
    array = array.astype(np.float32, copy=False)
    if array.size and not np.all(np.isfinite(array)):
        raise InputError(
            "representative_images hold NaN or infinite values, which calibrate no usable int8 "
            "range; pass real images. Received: representative_images with "
            f"{int(np.size(array) - np.count_nonzero(np.isfinite(array)))} non-finite value(s)"
        )
    slack = 1e-3 * (high - low)
    if array.size and (array.min() < low - slack or array.max() > high + slack):
        raise InputError(
            f"representative_images must be in the model's value_range={tuple(value_range)}, "
            "the range its inputs have (int8 ranges calibrated on other values quantize real "
            "inputs badly); rescale them, e.g. images / 255 for 0..255 values. Received: "
            f"representative_images in [{float(array.min()):g}, {float(array.max()):g}]"
        )
    return array


def _psnr(reference: np.ndarray, test: np.ndarray, peak: float) -> float:
    mse = float(np.mean(np.square(reference.astype(np.float64) - test.astype(np.float64))))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(peak * peak / mse))


def _with_tflite_metadata(flatbuffer: bytes, key: str, text: str) -> bytes:
    """``flatbuffer`` with a metadata entry ``key`` holding ``text`` (TFLite's Model.metadata)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = key
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def export_tflite(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    quantize: str | None = None,
    input_size: Sequence[int] | None = None,
    representative_images: Any = None,
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
    overwrite: bool = True,
) -> ExportResult:
    """Converts ``model`` to a TFLite flatbuffer for on-device stylization or upscaling.

    The ``.tflite`` has one signature, ``serving_default``, with input ``images`` (float32 in
    the model's ``value_range``) and output ``images`` (float32), and only builtin TFLite ops
    (no Flex delegate). A model trained under mixed precision is rebuilt in float32 with the
    same weights first. The model's :class:`~keras_perceptual.runtimes.ModelInfo` is stored in
    the file's metadata (key ``"keras_perceptual"``), which
    :func:`~keras_perceptual.runtimes.load_runtime` reads.

    Shapes: with ``input_size=None`` the input is ``(-1, -1, -1, 3)`` (any batch and size):
    call ``interpreter.resize_tensor_input(index, (B, H, W, 3))`` then ``allocate_tensors()``
    before each new shape, or use ``interpreter.get_signature_runner()``, which resizes for
    you. With ``input_size=(H, W)`` the input is fixed to ``(1, H, W, 3)``: every shape is
    static, which GPU/NNAPI delegates prefer; do not resize such a model.

    ``quantize="int8"`` is full-integer quantization (Jacob et al. 2018, "Quantization and
    Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"): weights
    and activations int8, every op an int8 kernel, float32 only at the input and output
    (quantize/dequantize), for integer-only accelerators (Edge TPU, NPUs, DSPs). Activation
    ranges are calibrated on ``representative_images``; a fifth of them (at least one) is held
    out of the calibration, and the int8 model's PSNR against the float32 Keras model on those
    images is returned in ``result.metrics``.

    Args:
        model: a ``style_transfer_net`` / ``super_resolution_net`` (or any functional
            image-to-image model whose layers round-trip ``get_config``).
        path: the file to write, ending in ``.tflite`` (parent folders are created).
        quantize: None (float32), ``"dynamic"`` (dynamic-range quantization: int8 weights,
            about 4x smaller, float32 activations), ``"float16"`` (float16 weights, about 2x
            smaller) or ``"int8"`` (full-integer, about 4x smaller; needs
            ``representative_images``).
        input_size: None for dynamic shapes, or ``(height, width)`` for a fixed
            ``(1, height, width, 3)`` input.
        representative_images: with ``quantize="int8"``: a folder, an image file pattern or a
            list of files (center ``calibration_size`` squares are used; ``input_size`` when
            fixed), or a float array ``(N, H, W, 3)`` in ``value_range`` (finite values; an
            integer array or values outside the range are refused); at least 2 images, a few
            dozen typical inputs for good ranges.
        calibration_size: side of the square crops taken from image files for calibration.
        overwrite: True (default, as ``keras.Model.save``) replaces an existing file at
            ``path`` atomically (readers see the old file or the new one, never a mix);
            False raises ``FileExistsError`` instead.

    Returns:
        An :class:`ExportResult`: the absolute path written (a ``str``), with ``.metrics``.

    Raises:
        ValueError: the model or an argument is unusable, or ``path`` cannot be written
            (a parent that is a file, no write permission), said before converting.
        FileExistsError: ``path`` exists and ``overwrite`` is False.

    Example:
        >>> import tensorflow as tf
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> export_tflite(net, "starry.tflite")
        '.../starry.tflite'
        >>> runner = tf.lite.Interpreter("starry.tflite").get_signature_runner()
        >>> runner(images=np.random.rand(1, 64, 80, 3).astype("float32"))["images"].shape
        (1, 64, 80, 3)
        >>> # quantize="int8", representative_images="photos/": see ExportResult
    """
    _check_model(model, "export_tflite")
    overwrite = check_flag(overwrite, "overwrite")
    if quantize is not None:
        check_choice(quantize, TFLITE_QUANTIZATIONS, "quantize")
    if quantize != "int8" and representative_images is not None:
        raise InputError(
            'representative_images calibrates quantize="int8" only; drop it or pass '
            f'quantize="int8". Received: quantize={quantize!r}'
        )
    calibration_size = check_positive_int(calibration_size, "calibration_size")
    min_side = min_input_size(model)
    fixed = None
    if input_size is not None:
        if (
            isinstance(input_size, (str, bytes))
            or not isinstance(input_size, Sequence)
            or len(input_size) != 2
        ):
            raise InputError(
                "input_size must be (height, width), e.g. (256, 256), or None for dynamic "
                f"shapes. Received: input_size={input_size!r}"
            )
        fixed = tuple(check_positive_int(v, "input_size", minimum=min_side) for v in input_size)
    target = _target_path(path, ".tflite", "export_tflite", overwrite)
    value_range = model_value_range(model)
    held_out = calibration = None
    if quantize == "int8":
        images = _calibration_images(representative_images, value_range, fixed, calibration_size)
        if len(images) < 2:
            raise InputError(
                "representative_images must hold at least 2 images: a fifth (at least one) is "
                "held out to measure the int8 model's PSNR. Received: "
                f"{len(images)} image(s)"
            )
        if min(images.shape[1:3]) < min_side:
            raise InputError(
                f"representative_images are {images.shape[1]}x{images.shape[2]} pixels; this "
                f"model needs at least {min_side}x{min_side}; raise calibration_size. Received: "
                f"calibration_size={calibration_size}"
            )
        count = max(1, round(len(images) / 5))
        calibration, held_out = images[:-count], images[-count:]

    portable = _float32_copy(model)
    spec = _input_specs(portable, fixed)[0]
    serving = _Serving(portable, DEFAULT_MAX_PIXELS, -1, min_side)

    def serving_default(images):
        return {"images": serving.run(images)}

    with (
        tempfile.TemporaryDirectory(prefix="keras_perceptual_tflite_") as scratch,
        constant_blocked_kernels(walk_layers(portable)),  # int8 needs constant conv weights
    ):
        archive = keras.export.ExportArchive()
        archive.track(portable)
        archive.add_endpoint("serving_default", serving_default, input_signature=[spec])
        archive.write_out(scratch, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            scratch, signature_keys=["serving_default"]
        )
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "float16":
                converter.target_spec.supported_types = [tf.float16]
            elif quantize == "int8":
                converter.representative_dataset = lambda: ([x[None]] for x in calibration)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with quiet_native_output():  # "fully_quantize: 0, inference_type: 6, ..." (C++)
            flatbuffer = converter.convert()
    flatbuffer = _with_tflite_metadata(flatbuffer, METADATA_KEY, model_info(model).to_json())
    _write_atomically(target, flatbuffer)
    metrics = {}
    if quantize == "int8":
        low, high = value_range
        scores, worst = [], 0.0
        # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." at the first call (C++)
        with quiet_native_output():
            runtime = TFLiteRuntime(target)
            for image in held_out:
                reference = np.asarray(portable(image[None], training=False), np.float32)
                quantized = runtime(image[None])
                scores.append(_psnr(reference, quantized, high - low))
                worst = max(worst, float(np.max(np.abs(reference - quantized))))
        metrics = {
            "psnr_db": float(np.mean(scores)),
            "psnr_db_min": float(np.min(scores)),
            "max_abs_error": worst,
            "held_out_images": len(held_out),
            "calibration_images": len(calibration),
        }
    return ExportResult(target, metrics)


# --------------------------------------------------------------------------------------
# ONNX and OpenVINO
# --------------------------------------------------------------------------------------


def export_onnx(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    overwrite: bool = True,
) -> ExportResult:
    """Writes ``model`` as an ONNX file for ONNX Runtime, OpenVINO, TensorRT, ...

    Uses Keras' own ``Model.export(format="onnx")`` (tf2onnx under TensorFlow), then names
    the graph's tensors for people: input ``images`` (float32 ``[batch, height, width, 3]``
    in the model's ``value_range``, every dimension but the channels dynamic), output
    ``output_images`` (float32 ``[batch, out_height, out_width, 3]``: the same size for
    style networks, ``scale`` times for super-resolution), and stores the model's
    :class:`~keras_perceptual.runtimes.ModelInfo` as JSON in ``metadata_props`` under
    ``"keras_perceptual"``. Every layer of the library's networks converts: reflection and
    pad-to-multiple padding, crops, instance and batch normalization, transposed /
    resize / sub-pixel up-sampling, the bicubic skip and the bounded output. A model
    trained under mixed precision is exported from a float32 copy. Models with inputs after
    the image (e.g. style weights) keep them, under their Keras names.

    Verified (``tests/test_export.py``) in a process that cannot import
    keras_perceptual or Keras: ONNX Runtime's outputs are within 1e-4 of the Keras model on
    37x53 images, batches of 1 and 3. Wrong inputs fail with ONNX Runtime's
    ``InvalidArgument`` (wrong rank, channel count or element type, e.g. float64 or uint8).

    Args:
        model: a trained ``style_transfer_net`` / ``super_resolution_net`` (or any functional
            model whose first input and only output are RGB images).
        path: the ``.onnx`` file to write (parent folders created).
        opset: the ONNX opset, from 13 to the installed tf2onnx's newest; None for the
            converter's default.
        overwrite: True (default, as ``keras.Model.save``) replaces an existing file at
            ``path`` atomically; False raises ``FileExistsError`` instead.

    Returns:
        An :class:`ExportResult`: the absolute path written.

    Raises:
        ValueError: the model or an argument is unusable (an opset the converter does not
            know included), or ``path`` cannot be written (said before converting).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        MissingDependencyError: ``onnx`` / ``tf2onnx`` are not installed (the ``export``
            extra).

    Example:
        >>> export_onnx(style_transfer_net(filters=4, num_residual_blocks=1), "starry.onnx")
        '.../starry.onnx'
        >>> import onnxruntime
        >>> session = onnxruntime.InferenceSession("starry.onnx")
        >>> session.run(None, {"images": np.random.rand(1, 37, 53, 3).astype("float32")})[0].shape
        (1, 37, 53, 3)
    """
    _check_model(model, "export_onnx", extra_inputs=True)
    overwrite = check_flag(overwrite, "overwrite")
    if opset is not None:
        opset = check_positive_int(opset, "opset", minimum=13)
    target = _target_path(path, ".onnx", "export_onnx", overwrite)  # a wrong path: said first
    onnx = require("onnx", "export_onnx")
    require("tf2onnx", "export_onnx")
    if opset is not None:
        newest = _newest_onnx_opset()
        if opset > newest:
            raise InputError(
                f"opset must be from 13 to {newest}, the newest opset the installed tf2onnx "
                "converts to; pass a lower one or None for its default (or upgrade tf2onnx). "
                f"Received: opset={opset}"
            )
    portable = _portable(model)
    specs = _input_specs(portable)
    signature = specs if len(specs) == 1 else [specs]
    with tempfile.TemporaryDirectory(prefix="keras_perceptual_onnx_") as scratch:
        raw = os.path.join(scratch, "model.onnx")
        with _quiet_converter(), constant_blocked_kernels(walk_layers(portable)):
            portable.export(
                raw, format="onnx", input_signature=signature, opset_version=opset, verbose=False
            )
        graph_model = onnx.load(raw)
    _name_onnx_tensors(graph_model, specs, model_info(model).to_json())
    onnx.checker.check_model(graph_model)
    _write_atomically(target, graph_model.SerializeToString())
    return ExportResult(target)


def _newest_onnx_opset() -> int:
    """The newest ONNX opset the installed tf2onnx converts to."""
    from tf2onnx import constants

    return max(constants.OPSET_TO_IR_VERSION)


def _name_onnx_tensors(graph_model, specs, info_json: str) -> None:
    """Renames the output to OUTPUT_NAME, names the dynamic dimensions, adds the metadata."""
    graph = graph_model.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [OUTPUT_NAME if n == old else n for n in node.output]
        node.input[:] = [OUTPUT_NAME if n == old else n for n in node.input]
    graph.output[0].name = OUTPUT_NAME
    for value, names in (
        (graph.input[0], ("batch", "height", "width")),
        (graph.output[0], ("batch", "out_height", "out_width")),
    ):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims[:3], names, strict=True):
            if not dim.HasField("dim_value"):
                dim.dim_param = name
    for value in graph.input[1:]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    del graph_model.metadata_props[:]
    entry = graph_model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info_json
    graph_model.producer_name = "keras-perceptual"


class _quiet_converter:
    """Silences tf2onnx's INFO logging and Keras' NumPy-2 shim warning during a conversion."""

    def __enter__(self):
        import logging
        import warnings

        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        self._loggers = {}
        for name in ("tf2onnx", "tensorflow"):
            logger = logging.getLogger(name)
            self._loggers[name] = logger.level
            logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        import logging

        for name, level in self._loggers.items():
            logging.getLogger(name).setLevel(level)
        self._warnings.__exit__(*exc)
        return False


def _check_openvino_target(path: Any, folder: str, xml_name: str, overwrite: bool) -> None:
    """Refuses to mix the IR ``folder/xml_name`` (+ ``.bin``) into a folder path that holds
    other files, and to replace an earlier IR without ``overwrite``. A ``.xml`` path names
    its files itself, so other files beside it are left alone."""
    stem = os.path.splitext(xml_name)[0]
    own = {xml_name.lower(), f"{stem}.bin".lower()}
    if not os.path.isdir(folder):
        return
    names = [n for n in os.listdir(folder) if not n.startswith(".openvino-")]
    others = sorted(n for n in names if n.lower() not in own)
    if extension_format(path) != "openvino":  # a folder of its own: nothing else in it
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise InputError(
                f"path is a folder that already holds other files ({shown}), and the OpenVINO "
                "IR (model.xml + model.bin) would be mixed in with them, where load_runtime "
                "and tools reading the folder could pick the wrong model; pass a new or empty "
                f"folder, e.g. {os.path.join(folder, 'openvino')!r}, or a .xml path. "
                f"Received: path={path!r}"
            )
    existing = sorted(n for n in names if n not in others)
    if existing and not overwrite:
        raise FileExistsError(
            f"An OpenVINO IR already exists at {folder!r} ({', '.join(existing)}); pass "
            f"overwrite=True to replace it, or another path. Received: path={path!r}, "
            "overwrite=False"
        )


def export_openvino(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    quantize: str | None = None,
    overwrite: bool = True,
) -> ExportResult:
    """Writes ``model`` as an OpenVINO IR folder (``model.xml`` + ``model.bin``).

    Converted with OpenVINO's own ``openvino.convert_model`` from a ``tf.function`` of the
    model, not with ``Model.export(format="openvino")`` (which names the output after a
    TensorFlow node); the stray int32 scalar outputs OpenVINO's TensorFlow front end makes
    of unused dynamic-size slices are removed. Input
    ``images`` (float32 ``[?, ?, ?, 3]`` in the model's ``value_range``), output
    ``output_images`` (float32); the model's :class:`~keras_perceptual.runtimes.ModelInfo`
    is stored in the IR's ``rt_info`` under ``"keras_perceptual"``. Run it with
    :func:`~keras_perceptual.runtimes.load_runtime` (which pins the CPU plugin to float32:
    on CPUs with bfloat16 units OpenVINO otherwise computes in bfloat16) or
    ``openvino.Core().compile_model(path + "/model.xml", "CPU")``.

    Verified (``tests/test_export.py``) in a process that cannot import
    keras_perceptual or Keras: within 1e-4 of the Keras model on 37x53 images, batches of 1
    and 3. Wrong inputs fail with OpenVINO's ``RuntimeError`` (wrong rank or channel count;
    other element types are converted by OpenVINO's Python API).

    Args:
        model: a trained network, as for :func:`export_onnx`.
        path: the folder to write (created), or a ``.xml`` file path (its ``.bin`` is written
            beside it). A folder must be new, empty, or hold only an earlier IR of the same
            name (``model.xml`` + ``model.bin``): one with other files (a SavedModel, another
            IR, images) is refused rather than mixed with.
        quantize: None (float32 weights) or ``"float16"`` (weights stored in float16, half
            the size; the CPU plugin still computes in float32).
        overwrite: True (default, as ``keras.Model.save``) replaces an earlier IR at
            ``path`` (both files); False raises ``FileExistsError`` instead.

    Returns:
        An :class:`ExportResult`: the absolute folder (or ``.xml``) path written.

    Raises:
        ValueError: the model or an argument is unusable, ``path`` is a folder holding other
            files than an earlier IR, or cannot be written (said before converting).
        FileExistsError: an IR exists at ``path`` and ``overwrite`` is False.
        MissingDependencyError: ``openvino`` is not installed (the ``export`` extra).

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> export_openvino(net, "export/starry_openvino")
        '.../export/starry_openvino'
        >>> import openvino
        >>> compiled = openvino.Core().compile_model("export/starry_openvino/model.xml", "CPU")
        >>> compiled(np.random.rand(1, 37, 53, 3).astype("float32"))[0].shape
        (1, 37, 53, 3)
    """
    _check_model(model, "export_openvino", extra_inputs=True)
    overwrite = check_flag(overwrite, "overwrite")
    if quantize is not None:
        check_choice(quantize, OPENVINO_QUANTIZATIONS, "quantize")
    try:
        target = os.path.abspath(os.fspath(path))
    except TypeError:
        raise InputError(
            f"path must be a folder (or .xml file) path such as 'export/starry_openvino'. "
            f"Received: path={path!r}"
        ) from None
    if extension_format(target) == "openvino":
        folder, xml_name = os.path.dirname(target), os.path.basename(target)
    else:
        _check_extension(path, target, None, "export_openvino")
        if os.path.isdir(target) and folder_format(target) == "keras":
            raise InputError(
                "path holds a Keras model (model.keras or config.json), so load_runtime would "
                "read the folder as Keras, not as the OpenVINO IR; pass another folder, or a "
                f".xml path inside this one. Received: path={path!r}"
            )
        if os.path.isfile(target):
            raise InputError(
                f"path is a file; pass a folder for the OpenVINO IR (model.xml + model.bin), or "
                f"a .xml path. Received: path={path!r}"
            )
        folder, xml_name = target, "model.xml"
    _check_openvino_target(path, folder, xml_name, overwrite)
    check_writable_folder(folder, "path", path, "export/model_openvino")
    ov = require("openvino", "export_openvino")  # after the path checks: a wrong path first
    portable = _portable(model)
    specs = _input_specs(portable)
    function = tf.function(_forward_fn(portable), input_signature=specs, autograph=False)
    with _quiet_converter(), constant_blocked_kernels(walk_layers(portable)):
        concrete = function.get_concrete_function()
        ir = ov.convert_model(concrete)
    # OpenVINO's TensorFlow front end makes every op without consumers a result: Keras'
    # ``ops.shape`` slices all dynamic dimensions, the batch one too, and the slices a layer
    # does not use stay in the graph as stray int32 scalar outputs. Only the function's
    # outputs are kept.
    for result in ir.get_results()[len(concrete.outputs):]:
        ir.remove_result(result)
    ir.validate_nodes_and_infer_types()
    for port, spec in zip(ir.inputs, specs, strict=True):
        port.get_tensor().set_names({spec.name})
    ir.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    ir.set_rt_info(model_info(model).to_json(), [METADATA_KEY])
    os.makedirs(folder, exist_ok=True)
    stem = os.path.splitext(xml_name)[0]
    with tempfile.TemporaryDirectory(prefix=".openvino-", dir=folder) as scratch:
        ov.save_model(ir, os.path.join(scratch, xml_name), compress_to_fp16=quantize == "float16")
        for ext in (".xml", ".bin"):
            os.replace(os.path.join(scratch, stem + ext), os.path.join(folder, stem + ext))
    return ExportResult(target)


__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_MAX_PIXELS",
    "OPENVINO_QUANTIZATIONS",
    "decode_upright",
    "exif_orientation",
    "orient_image",
    "SIGNATURES",
    "SIGNATURE_TENSORS",
    "TFLITE_QUANTIZATIONS",
    "ExportResult",
    "existing_versions",
    "export_for_serving",
    "export_onnx",
    "export_openvino",
    "export_tflite",
]
