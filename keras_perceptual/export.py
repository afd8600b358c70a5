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

Super-resolution networks return ``scale`` times the height and width. ``serve_encoded``
processes the images of a batch one by one, so they may differ in size; grayscale inputs are
replicated to RGB and an alpha channel is dropped (not composited). Over TF Serving's REST API
the ``_bytes`` suffix makes the server return the PNGs as ``{"b64": ...}``.

Every signature rejects an image of more than ``max_pixels`` pixels (height x width, default
16 megapixels) with an ``InvalidArgument`` error before the network runs; the encoded one
reads the size from the PNG/JPEG/GIF/BMP header before decoding. Images smaller than the
network accepts (5x5 for the default nets) are rejected the same way.
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
import tensorflow as tf

from keras_perceptual._checks import check_choice, check_positive_int
from keras_perceptual.errors import InputError
from keras_perceptual.inference import min_input_size
from keras_perceptual.models import model_value_range
from keras_perceptual.ops import from_unit_range, to_unit_range

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
TFLITE_QUANTIZATIONS = ("dynamic", "float16")

_VERSION_NAME = re.compile(r"^[0-9]+$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


def _check_model(model: Any, caller: str) -> tuple[Any, Any]:
    """Returns the model's (input, output) KerasTensors after checking it maps images to images."""
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
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
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


def _check_compression(png_compression: Any) -> int:
    if (
        isinstance(png_compression, bool)
        or not isinstance(png_compression, int)
        or not -1 <= png_compression <= 9
    ):
        raise InputError(
            "png_compression must be an int from 0 (fastest) to 9 (smallest), or -1 for zlib's "
            f"default. Received: png_compression={png_compression!r}"
        )
    return png_compression


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
        >>> existing_versions("export/sr4")
        [1, 2]
    """
    base = os.fspath(base_dir)
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
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InputError(
                "version must be an integer >= 0 (TF Serving serves the highest number), or "
                f"None for the next free one. Received: version={version!r}"
            )
        return base, int(version)
    leaf = os.path.basename(base)
    if _VERSION_NAME.match(leaf) and (not os.path.exists(base) or _is_saved_model(base)):
        return os.path.dirname(base), int(leaf)
    versions = existing_versions(base)
    return base, (versions[-1] + 1 if versions else 1)


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


class _Serving:
    """The three signature functions of one model (plain TensorFlow around ``model``)."""

    def __init__(self, model, max_pixels: int, png_compression: int, min_side: int):
        self.model = model
        self.max_pixels = max_pixels
        self.png_compression = png_compression
        self.min_side = min_side
        self.input_dtype = model.inputs[0].dtype
        self.value_range = model_value_range(model)

    # value-range conversions ----------------------------------------------------------
    def to_range(self, images_uint8):
        return from_unit_range(tf.cast(images_uint8, tf.float32) / 255.0, self.value_range)

    def to_uint8(self, images):
        y = to_unit_range(tf.cast(images, tf.float32), self.value_range)
        return tf.cast(tf.round(tf.clip_by_value(y * 255.0, 0.0, 255.0)), tf.uint8)

    def run(self, images):
        outputs = self.model(tf.cast(images, self.input_dtype), training=False)
        return tf.cast(outputs, tf.float32)

    def checked(self, images, signature: str):
        shape = tf.shape(images)
        checks = _size_checks(shape[1], shape[2], self.max_pixels, self.min_side, signature)
        with tf.control_dependencies(checks):
            return tf.identity(images)

    # signatures -------------------------------------------------------------------------
    def serving_default(self, images):
        return {"images": self.run(self.checked(images, "serving_default"))}

    def serve_uint8(self, images):
        images = self.checked(images, "serve_uint8")
        return {"images": self.to_uint8(self.run(self.to_range(images)))}

    def encode_one(self, data):
        kind, height, width = _header_size(data)
        known = tf.debugging.Assert(
            kind > 0,
            [
                "serve_encoded: image_bytes must hold the bytes of a PNG or JPEG file (GIF, BMP "
                'and WebP also decode); over REST send each as {"b64": "<base64 of the file>"}, '
                "not as plain base64 text or pixel values. Received: first bytes =",
                tf.strings.substr(data, 0, 12),
            ],
        )
        header = _size_checks(height, width, self.max_pixels, 1, "serve_encoded")
        with tf.control_dependencies([known, *header]):
            image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        image = tf.ensure_shape(image, [None, None, 3])
        shape = tf.shape(image)
        checks = _size_checks(shape[0], shape[1], self.max_pixels, self.min_side, "serve_encoded")
        with tf.control_dependencies(checks):
            batch = self.to_range(image)[tf.newaxis]
        outputs = self.to_uint8(self.run(batch))[0]
        return tf.io.encode_png(outputs, compression=self.png_compression)

    def serve_encoded(self, image_bytes):
        encoded = tf.map_fn(
            self.encode_one,
            image_bytes,
            fn_output_signature=tf.TensorSpec([], tf.string),
            parallel_iterations=1,  # one image at a time bounds the memory by max_pixels
        )
        return {"image_bytes": encoded}


def _input_spec(model, dtype, name: str) -> tf.TensorSpec:
    _, height, width, _ = tuple(model.inputs[0].shape)
    return tf.TensorSpec((None, height, width, 3), dtype, name=name)


def _write_archive(model, path: str, serving: _Serving, signatures: Sequence[str]) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = {
        "serving_default": _input_spec(model, tf.float32, "images"),
        "serve_uint8": _input_spec(model, tf.uint8, "images"),
        "serve_encoded": tf.TensorSpec((None,), tf.string, name="image_bytes"),
    }
    for name in signatures:
        archive.add_endpoint(name, getattr(serving, name), input_signature=[specs[name]])
    archive.write_out(path, verbose=False)


# --------------------------------------------------------------------------------------
# Float32 copies (mixed precision, TFLite)
# --------------------------------------------------------------------------------------


def _float32_config(config: Any) -> Any:
    """``config`` with every dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(
            config.get("config"), dict
        ):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {
            key: (
                "float32"
                if key == "dtype" and isinstance(value, str) and value.startswith("mixed_")
                else _float32_config(value)
            )
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    return config


def _float32_copy(model: keras.Model) -> keras.Model:
    """A float32 copy of ``model`` (same weights), for mixed-precision models and TFLite."""

    def clone_layer(layer):
        return layer.__class__.from_config(_float32_config(layer.get_config()))

    try:
        copy = keras.models.clone_model(model, clone_function=clone_layer)
        copy.set_weights(model.get_weights())
    except Exception as error:  # noqa: BLE001 - any layer that does not round-trip its config
        raise InputError(
            f"Could not rebuild model {model.name!r} in float32 from its config ({error}); make "
            "every layer serializable (get_config/from_config), or pass compute_dtype=None to "
            "keep the model's own dtype policy. Received: model="
            f"{model.name!r}"
        ) from None
    return copy


def _has_mixed_policy(model: keras.Model) -> bool:
    return any(layer.dtype_policy.name.startswith("mixed_") for layer in [model, *model.layers])


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
            SavedModel), is that version when ``version`` is None.
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
        ValueError: the model or an argument is unusable.

    Example:
        >>> model = super_resolution_net(4)
        >>> export_for_serving(model, "export/sr4")   # export/sr4/1, then export/sr4/2, ...
        '/abs/path/export/sr4/1'
        >>> loaded = tf.saved_model.load("export/sr4/1")
        >>> loaded.signatures["serve_uint8"](images=tf.zeros((1, 32, 32, 3), tf.uint8))["images"]
    """
    _check_model(model, "export_for_serving")
    max_pixels = check_positive_int(max_pixels, "max_pixels")
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
    if compute_dtype == "float32" and _has_mixed_policy(model):
        model = _float32_copy(model)

    serving = _Serving(model, max_pixels, png_compression, min_input_size(model))
    os.makedirs(base, exist_ok=True)
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


def export_tflite(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    quantize: str | None = None,
    input_size: Sequence[int] | None = None,
) -> str:
    """Converts ``model`` to a TFLite flatbuffer for on-device stylization or upscaling.

    The ``.tflite`` computes in float32 (a model trained under mixed precision is rebuilt in
    float32 with the same weights) and has one signature, ``serving_default``, with input
    ``images`` (float32 in the model's ``value_range``) and output ``images``. Only builtin
    TFLite ops are used (no Flex delegate needed).

    Shapes: with ``input_size=None`` the input is ``(-1, -1, -1, 3)`` (any batch and size):
    call ``interpreter.resize_tensor_input(index, (B, H, W, 3))`` then ``allocate_tensors()``
    before each new shape, or use ``interpreter.get_signature_runner()``, which resizes for
    you. With ``input_size=(H, W)`` the input is fixed to ``(1, H, W, 3)``: every shape is
    static, which GPU/NNAPI delegates prefer; do not resize such a model.

    Args:
        model: a ``style_transfer_net`` / ``super_resolution_net`` (or any functional
            image-to-image model whose layers round-trip ``get_config``).
        path: the file to write (parent folders are created; an existing file is replaced
            atomically).
        quantize: None (float32 weights), ``"dynamic"`` (dynamic-range quantization: int8
            weights, about 4x smaller, float32 activations) or ``"float16"`` (float16
            weights, about 2x smaller).
        input_size: None for dynamic shapes, or ``(height, width)`` for a fixed
            ``(1, height, width, 3)`` input.

    Returns:
        The absolute path written.

    Example:
        >>> export_tflite(style_transfer_net(), "starry.tflite")
        >>> runner = tf.lite.Interpreter("starry.tflite").get_signature_runner()
        >>> runner(images=np.random.rand(1, 64, 80, 3).astype("float32"))["images"].shape
        (1, 64, 80, 3)
    """
    _check_model(model, "export_tflite")
    if quantize is not None:
        check_choice(quantize, TFLITE_QUANTIZATIONS, "quantize")
    min_side = min_input_size(model)
    if input_size is None:
        spec = tf.TensorSpec((None, None, None, 3), tf.float32, name="images")
    else:
        if (
            isinstance(input_size, (str, bytes))
            or not isinstance(input_size, Sequence)
            or len(input_size) != 2
        ):
            raise InputError(
                "input_size must be (height, width), e.g. (256, 256), or None for dynamic "
                f"shapes. Received: input_size={input_size!r}"
            )
        height, width = (check_positive_int(v, "input_size", minimum=min_side) for v in input_size)
        spec = tf.TensorSpec((1, height, width, 3), tf.float32, name="images")
    try:
        target = os.path.abspath(os.fspath(path))
    except TypeError:
        raise InputError(
            f"path must be a file path such as 'model.tflite'. Received: path={path!r}"
        ) from None
    if os.path.isdir(target):
        raise InputError(
            f"path is a folder; pass a file path such as {os.path.join(target, 'model.tflite')!r}"
            f". Received: path={path!r}"
        )

    portable = _float32_copy(model)
    fixed = tuple(portable.inputs[0].shape)[1:3]
    if input_size is None and fixed != (None, None):
        spec = tf.TensorSpec((None, *fixed, 3), tf.float32, name="images")
    serving = _Serving(portable, DEFAULT_MAX_PIXELS, -1, min_side)

    def serving_default(images):
        return {"images": serving.run(images)}

    os.makedirs(os.path.dirname(target), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keras_perceptual_tflite_") as scratch:
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
        flatbuffer = converter.convert()
    staging = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(staging, "wb") as f:
            f.write(flatbuffer)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return target


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SIGNATURES",
    "SIGNATURE_TENSORS",
    "TFLITE_QUANTIZATIONS",
    "existing_versions",
    "export_for_serving",
    "export_tflite",
]
