"""The web app's request handlers: uploads checked, models run, results written.

Plain functions with no web framework in them, so each can be tested and reused on its
own; :mod:`keras_perceptual.app.ui` only wires them to the page. One request is
:func:`process_uploads`: each uploaded file is checked (:func:`check_upload`: size in
bytes, a decodable image, its pixel count, the model's minimum size) and read with the
library's decoder (:func:`keras_perceptual.images.load_image`, which applies the EXIF
orientation of camera photos), then run through the model
(:func:`~keras_perceptual.inference.stylize` or :func:`~keras_perceptual.inference.upscale`,
tiled above ``tile_size``), and the results are written as PNG files. A file that fails
gives one sentence in :attr:`RunResult.errors` and the others are still processed;
nothing a user uploads can raise out of :func:`process_uploads`.

Requests run one at a time (:data:`RUN_LOCK`): on a CPU two stylizations side by side
take as long as one after the other, and need twice the memory.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import platform
import shutil
import tempfile
import threading
import time
import traceback
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_perceptual._checks import as_number, check_path, shortened
from keras_perceptual.app.catalog import LoadedModel
from keras_perceptual.errors import InputError, KerasPerceptualError

#: One request runs at a time in a process (the page also queues them).
RUN_LOCK = threading.Lock()

#: Defaults of the command's --max-upload-mb, --max-pixels and --max-files.
DEFAULT_MAX_UPLOAD_MB = 25.0
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_FILES = 16
#: Default tile size: larger images are processed in overlapping tiles (bounded memory).
DEFAULT_TILE_SIZE = 1024
#: Request folders kept in the output folder (older ones are deleted).
KEPT_REQUESTS = 32
#: The zoomed crop of super-resolution results is enlarged to about this many pixels.
ZOOM_DISPLAY = 320
#: Arbitrary-style networks: a larger style image is downscaled to this many pixels before
#: it is encoded. The encoder sees it whole (it is not tiled) and needs about 1.4 GB per
#: megapixel (a 12-megapixel phone photo: about 17 GB); the networks were trained on style
#: images of 512 px shorter side (Huang & Belongie 2017).
STYLE_MAX_PIXELS = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may upload.

    Attributes:
        max_upload_mb: largest file, in megabytes (MiB, 2^20 bytes, as browsers count).
        max_pixels: largest image, in pixels (width x height), for the upload and for
            a super-resolution model's output.
        max_files: most files in one request.

    Example:
        >>> Limits(max_upload_mb=5, max_pixels=2048 * 2048).max_upload_bytes
        5242880
    """

    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_files: int = DEFAULT_MAX_FILES

    def __post_init__(self):
        for name in ("max_upload_mb", "max_pixels", "max_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0
            ):
                raise InputError(f"{name} must be a number > 0. Received: {name}={value!r}")
        for name in ("max_pixels", "max_files"):
            if int(getattr(self, name)) != getattr(self, name):
                raise InputError(f"{name} must be a whole number. Received: {name}={getattr(self, name)!r}")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 2**20)


@dataclasses.dataclass(frozen=True)
class Options:
    """The page's controls for one request.

    Attributes:
        preserve_color: style models: keep the photo's colours, transfer luminance only
            (Gatys et al. 2016).
        histogram_match: super-resolution models: match the output's histogram to the
            input's (Johnson et al. 2016's post-processing).
        tile_size: style and super-resolution models: images whose height or width (input
            pixels) exceeds this are processed in overlapping tiles.
        style_weights: multi-style models: one weight >= 0 per style (normalized to sum
            to 1: a convex blend, Dumoulin et al. 2017); ``None`` is the first style.
        style_image: arbitrary-style models: the uploaded style image's path (checked and
            decoded as the photos are).
        alpha: arbitrary-style models: the content-style trade-off in [0, 1] (Huang &
            Belongie 2017, Section 7.1; 1 is full stylization).

    A style image of more than :data:`STYLE_MAX_PIXELS` pixels is downscaled to that many
    (the aspect ratio kept; said in :attr:`RunResult.notes`).
    """

    preserve_color: bool = False
    histogram_match: bool = False
    tile_size: int = DEFAULT_TILE_SIZE
    style_weights: tuple[float, ...] | None = None
    style_image: str | None = None
    alpha: float = 1.0


@dataclasses.dataclass(frozen=True)
class ImageResult:
    """One processed photo.

    Attributes:
        name: the uploaded file's name.
        output_path: the result, a PNG file (what the page offers for download).
        gallery: ``(png_path, caption)`` pairs shown side by side: input and output for
            style transfer; bicubic, network and a zoomed crop of both for super-resolution.
        seconds: time spent running the model (and its post-processing) on this photo.
        input_size: ``(width, height)`` of the photo as the model saw it (EXIF applied).
        output_size: ``(width, height)`` of the result.
        tiles: whether the photo was processed in tiles.
        first_of_size: whether it was a Keras model's first photo of this size since it
            was loaded (its time then includes tracing the graph for that size, once;
            exported runtimes take any size without retracing).
    """

    name: str
    output_path: str
    gallery: tuple[tuple[str, str], ...]
    seconds: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    tiles: bool
    first_of_size: bool = False


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one request produced: results, one message per file that failed, the device,
    and notes on what the model did not see (a downscaled style image, the other frames of
    an animated GIF, the transparency of a PNG: :func:`upload_notes`)."""

    images: tuple[ImageResult, ...]
    errors: tuple[str, ...]
    device: str
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """The status shown in the page (Markdown): per-image times, the device, the errors.

        Example:
            >>> RunResult((), ("x.txt: not an image",), "CPU").summary()
            '**x.txt: not an image**\\n\\nDevice: CPU'
        """
        lines = []
        for item in self.images:
            (w, h), (ow, oh) = item.input_size, item.output_size
            notes = [", tiled"] if item.tiles else []
            if item.first_of_size:
                notes.append(" (first image of this size: includes one-time graph tracing)")
            lines.append(
                f"{item.name}: {w}×{h} → {ow}×{oh} in **{item.seconds:.2f} s**{''.join(notes)}")
        lines.extend(self.notes)
        lines.extend(f"**{error}**" for error in self.errors)
        lines.append(f"Device: {self.device}")
        return "\n\n".join(lines)


# --------------------------------------------------------------------------------------
# Device
# --------------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: What runs an exported network, in words: on the CPU, as the app opens them
#: (:func:`~keras_perceptual.app.catalog.load_exported_model`).
RUNTIME_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "tflite": "TensorFlow Lite"}


@functools.lru_cache(maxsize=8)
def describe_device(runtime: str = "keras") -> str:
    """The device a model runs on, in words (shown in the page with each result).

    Args:
        runtime: what runs the model (:attr:`~keras_perceptual.app.catalog.LoadedModel.runtime`):
            ``"keras"`` (the Keras backend's device), or ``"onnxruntime"``, ``"openvino"``,
            ``"tflite"`` (exported networks, run on the CPU).

    Returns:
        e.g. ``"GPU: NVIDIA H100 (TensorFlow)"``, ``"CPU: AMD EPYC 7B13, 2 cores
        (TensorFlow)"`` or ``"CPU: AMD EPYC 7B13, 2 cores (ONNX Runtime)"``.

    Example:
        >>> describe_device()  # doctest: +SKIP
        'CPU: Intel(R) Xeon(R) CPU @ 2.20GHz, 2 cores (TensorFlow)'
    """
    if runtime in RUNTIME_NAMES:  # an exported network: it said "(TensorFlow)" as well
        return f"CPU: {_cpu_name()}, {os.cpu_count()} cores ({RUNTIME_NAMES[runtime]})"
    import keras

    backend = keras.backend.backend()
    framework = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}.get(backend, backend)
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
                more = f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else ""
                return f"GPU: {name or gpus[0].name}{more} ({framework})"
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return f"{device.platform.upper()}: {device.device_kind} ({framework})"
    except Exception:  # noqa: BLE001 - the device name is informative only
        pass
    return f"CPU: {_cpu_name()}, {os.cpu_count()} cores ({framework})"


# --------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MB"
    return f"{size / 2**10:.1f} kB" if size >= 2**10 else f"{size} bytes"


def check_upload(
    path: str, name: str, limits: Limits, loaded: LoadedModel | None = None
) -> tuple[int, int]:
    """Checks one uploaded file before it is decoded; returns its ``(width, height)``.

    Args:
        path: where the upload was saved.
        name: its name as the user knows it (used in messages).
        limits: the app's :class:`Limits`.
        loaded: the model it is for: its minimum input size, and for super-resolution
            its output size, are checked too.

    Returns:
        ``(width, height)`` from the file's header, EXIF orientation applied (as decoded).

    Raises:
        InputError: a missing or empty file, one larger than ``max_upload_mb``, not an
            image, an image with more than ``max_pixels`` pixels (or whose upscaled
            output would have), or one smaller than the model accepts.

    Example:
        >>> check_upload("photo.jpg", "photo.jpg", Limits())  # doctest: +SKIP
        (640, 480)
    """
    from keras_perceptual.images import UnusableImageError, read_header

    try:
        size = os.path.getsize(path)
    except OSError:
        raise InputError(
            f"{name}: the upload did not arrive (no file on the server); upload it again. "
            f"Received: file={name!r}"
        ) from None
    if os.path.isdir(path):
        raise InputError(f"{name} is a folder, not an image file; upload a JPEG, PNG or WebP "
                         f"photo. Received: file={name!r}")
    if size == 0:
        raise InputError(f"{name} is empty (0 bytes); upload a JPEG, PNG or WebP photo. "
                         f"Received: file={name!r}")
    if size > limits.max_upload_bytes:
        raise InputError(
            f"{name} is {_megabytes(size)}, over the upload limit of "
            f"{_megabytes(limits.max_upload_bytes)}; upload a smaller file or restart the app "
            f"with a larger --max-upload-mb. Received: size={_megabytes(size)}"
        )
    try:
        width, height = read_header(path)
    except UnusableImageError as error:  # e.g. "unreadable: [Errno 13] ...: '/tmp/...'"
        raise InputError(
            f"{name} cannot be read as an image ({_without_path(str(error), path, name)}); "
            f"upload a JPEG, PNG or WebP photo. Received: file={name!r}"
        ) from None
    if width * height > limits.max_pixels:
        raise InputError(
            f"{name} is {width}×{height} = {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,}; downscale it or restart the app with a larger --max-pixels. "
            f"Received: size={width}x{height}"
        )
    if loaded is not None:
        if min(width, height) < loaded.min_side:
            raise InputError(
                f"{name} is {width}×{height} pixels; this model needs at least "
                f"{loaded.min_side}×{loaded.min_side}. Upload a larger image. "
                f"Received: size={width}x{height}"
            )
        out = width * height * loaded.scale**2
        if out > limits.max_pixels:
            raise InputError(
                f"{name} ({width}×{height}) would upscale to {width * loaded.scale}×"
                f"{height * loaded.scale} = {out:,} pixels, over the limit of "
                f"{limits.max_pixels:,}; upload a smaller image or restart the app with a larger "
                f"--max-pixels. Received: size={width}x{height}"
            )
    return width, height


def upload_notes(path: str, name: str) -> tuple[str, ...]:
    """What the model will not see of an upload: the frames after the first of an animated
    GIF, WebP or PNG (the pages after the first of a TIFF), and the transparency of an image with an alpha channel (dropped, not
    composited, by :func:`keras_perceptual.images.load_image`: transparent areas show the
    colour stored under them, often black).

    Args:
        path: the upload (already checked by :func:`check_upload`).
        name: its name as the user knows it.

    Returns:
        One sentence per fact (none for an opaque still image, or a file Pillow cannot open).

    Example:
        >>> upload_notes("logo.png", "logo.png")  # doctest: +SKIP
        ('logo.png has transparent areas: the alpha channel is dropped (they show the colour stored under them).',)
    """
    from PIL import Image

    notes = []
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            # A camera's MPO JPEG holds previews or a depth map after the photo: nothing lost.
            if frames > 1 and image.format == "TIFF":
                notes.append(f"{name} has {frames} pages: only its first page was processed.")
            elif frames > 1 and image.format != "MPO":
                notes.append(f"{name} is animated ({frames} frames): only its first frame "
                             "was processed.")
            if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
                alpha = image.convert("RGBA").getchannel("A")
                if alpha.getextrema()[0] < 255:
                    notes.append(f"{name} has transparent areas: the alpha channel is dropped "
                                 "(they show the colour stored under them, often black).")
    except Exception:  # noqa: BLE001 - the notes are informative; decoding reports errors
        pass
    return tuple(notes)


def read_upload(path: str, name: str, limits: Limits, loaded: LoadedModel) -> np.ndarray:
    """Checks and decodes one upload for ``loaded``'s model.

    Args:
        path: where the upload was saved.
        name: its name as the user knows it.
        limits: the app's :class:`Limits`.
        loaded: the model it is for.

    Returns:
        float32 ``(H, W, 3)`` RGB in the model's ``value_range``, EXIF orientation applied
        (:func:`keras_perceptual.images.load_image`).

    Raises:
        InputError: as :func:`check_upload`, or a file that fails to decode (corrupt,
            truncated).

    Example:
        >>> read_upload("photo.jpg", "photo.jpg", Limits(), loaded).shape  # doctest: +SKIP
        (480, 640, 3)
    """
    from keras_perceptual.images import load_image

    check_upload(path, name, limits, loaded)
    try:
        return load_image(path, value_range=loaded.value_range)
    except InputError as error:  # e.g. "'upload.png' is truncated (...): ..."; the header read
        message = _without_path(str(error), path, name)
        if message.startswith(repr(name)):  # the app's messages start with the bare name
            message = name + message[len(repr(name)):]
        raise InputError(message) from None


def _without_path(message: str, path: str, name: str) -> str:
    """``message`` with the upload's path on the server (a temporary file) replaced by the
    name the user knows it by."""
    return message.replace(repr(path), repr(name)).replace(path, name)


# --------------------------------------------------------------------------------------
# Running a model
# --------------------------------------------------------------------------------------


def bicubic_baseline(image: np.ndarray, scale: int, value_range: Sequence[float]) -> np.ndarray:
    """The bicubic up-sampling a super-resolution result is compared with.

    :func:`keras_perceptual.layers.bicubic_upsample` (Keys' kernel, a = -0.5), clipped
    to ``value_range``.

    Args:
        image: ``(H, W, 3)`` in ``value_range``.
        scale: the integer factor.
        value_range: ``(low, high)``.

    Returns:
        float32 ``(H*scale, W*scale, 3)``.

    Example:
        >>> bicubic_baseline(np.zeros((8, 8, 3), "float32"), 4, (0, 1)).shape
        (32, 32, 3)
    """
    import keras

    from keras_perceptual.layers import bicubic_upsample

    up = bicubic_upsample(np.asarray(image, np.float32)[None], scale)
    return np.clip(keras.ops.convert_to_numpy(up)[0], *value_range).astype(np.float32)


def detail_window(image: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window with the most detail.

    Detail is the sum of absolute horizontal and vertical differences of the channel
    mean (a cheap edge energy), summed over the window with an integral image; windows
    are tried every ``size // 4`` pixels.

    Args:
        image: ``(H, W, C)`` array.
        size: the window's side, at most ``min(H, W)``.

    Returns:
        ``(top, left)``.

    Example:
        >>> image = np.zeros((64, 64, 3)); image[40:50, 8:20] = 1.0
        >>> detail_window(image, 16)  # the first window that holds the whole square
        (36, 8)
    """
    gray = np.asarray(image, np.float64).mean(axis=-1)
    height, width = gray.shape
    size = min(size, height, width)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.abs(np.diff(gray, axis=1))
    energy[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    stride = max(1, size // 4)
    tops = sorted({*range(0, height - size + 1, stride), height - size})
    lefts = sorted({*range(0, width - size + 1, stride), width - size})
    best, corner = -1.0, (0, 0)
    for top in tops:
        for left in lefts:
            total = (
                integral[top + size, left + size]
                - integral[top, left + size]
                - integral[top + size, left]
                + integral[top, left]
            )
            if total > best:
                best, corner = total, (top, left)
    return corner


def zoomed_crops(
    images: Sequence[np.ndarray], reference: int = 0, display: int = ZOOM_DISPLAY
) -> list[np.ndarray]:
    """The same detailed region cut from each image and enlarged (nearest neighbour).

    The region is a square of a quarter of the shorter side (at least 16 pixels) where
    ``images[reference]`` has the most detail (:func:`detail_window`); it is enlarged by
    the integer factor that brings it closest to ``display`` pixels, pixel for pixel, so
    the crops show what each method really produced.

    Args:
        images: arrays of the same ``(H, W, C)`` shape (e.g. bicubic and network outputs).
        reference: which image chooses the region.
        display: target side of the enlarged crops, in pixels.

    Returns:
        One enlarged crop per image.

    Example:
        >>> [c.shape for c in zoomed_crops([np.zeros((128, 128, 3))] * 2)]
        [(320, 320, 3), (320, 320, 3)]
    """
    height, width = images[0].shape[:2]
    size = min(height, width, max(16, min(height, width) // 4))
    top, left = detail_window(images[reference], size)
    factor = max(1, round(display / size))
    return [
        np.repeat(np.repeat(im[top : top + size, left : left + size], factor, 0), factor, 1)
        for im in images
    ]


def blend_weights(weights: Sequence[float] | None, num_styles: int) -> np.ndarray:
    """Multi-style sliders to the network's ``style_weights``: non-negative, summing to 1.

    Args:
        weights: one value >= 0 per style (more are refused; fewer are padded with 0);
            ``None`` selects the first style.
        num_styles: the network's number of styles.

    Returns:
        float32 ``(num_styles,)``.

    Raises:
        InputError: a negative or non-finite weight, too many, or all zero.

    Example:
        >>> blend_weights([1, 3], 3)
        array([0.25, 0.75, 0.  ], dtype=float32)
    """
    if weights is None:
        return np.eye(1, num_styles, dtype=np.float32)[0]
    if not isinstance(weights, (list, tuple, np.ndarray)):
        raise InputError(f"Style weights must be a list of numbers >= 0, one per style, e.g. "
                         f"[1, 0]. Received: style_weights={shortened(repr(weights), 80)}")
    values = np.zeros(num_styles, np.float64)
    given, weights = list(weights), [as_number(w) for w in weights]  # NaN: not a number
    if len(weights) > num_styles or not all(math.isfinite(w) and w >= 0 for w in weights):
        raise InputError(
            f"Style weights must be at most {num_styles} numbers >= 0, one per style. "
            f"Received: style_weights={shortened(repr(given))}"
        )
    values[: len(weights)] = weights
    if values.max() <= 0:
        raise InputError("Every style weight is 0; raise at least one style's slider. "
                         f"Received: style_weights={shortened(repr(given))}")
    values /= values.max()  # first: the sum of two weights near 1e308 is inf
    return (values / values.sum()).astype(np.float32)


def prepare_options(loaded: LoadedModel, options: Options, limits: Limits | None = None) -> dict:
    """Checks the request-wide options of ``loaded``'s kind once, before any photo runs.

    Args:
        loaded: the model.
        options: :class:`Options`.
        limits: the app's :class:`Limits` (for the style image of arbitrary-style models).

    Returns:
        What :func:`run_model` needs besides the photo: ``{"style_weights": (N,)}`` for
        multi-style models (:func:`blend_weights`), ``{"style": (H, W, 3), "alpha": a}``
        for arbitrary-style models (with ``"note"``, a sentence, when the style image
        was downscaled to :data:`STYLE_MAX_PIXELS`), else ``{}``.

    Raises:
        InputError: bad style weights, a missing or unusable style image, ``alpha``
            outside [0, 1].

    Example:
        >>> prepare_options(loaded, Options(style_weights=(1, 1)))  # doctest: +SKIP
        {'style_weights': array([0.5, 0.5], dtype=float32)}
    """
    kind = loaded.kind.name
    if kind == "multi_style":
        return {"style_weights": blend_weights(options.style_weights, loaded.num_styles)}
    if kind == "arbitrary_style":
        if not options.style_image:
            raise InputError("This network stylizes with any style image: upload one in the "
                             "Style image box. Received: style_image=None")
        alpha = as_number(options.alpha)  # NaN for a string or None: refused below
        if not 0.0 <= alpha <= 1.0:
            raise InputError("alpha must be a number in [0, 1] (1: full stylization). "
                             f"Received: alpha={options.alpha!r}")
        path = check_path(options.style_image, "style_image", "painting.jpg")
        limits = limits or Limits()
        name = f"Style image {os.path.basename(path)}"
        width, height = check_upload(path, name, limits, loaded)
        style = read_upload(path, name, limits, loaded)
        prepared = {"style": style, "alpha": alpha}
        if width * height > STYLE_MAX_PIXELS:
            from keras_perceptual.images import resize_shorter_side, resized_size

            # stylize(style_size=...)'s resize, to the largest shorter side within the cap
            # (the longer side is rounded, which can put the scaled side over it).
            side = max(loaded.min_side, math.floor(
                min(width, height) * math.sqrt(STYLE_MAX_PIXELS / (width * height))))
            while side > loaded.min_side and math.prod(
                    resized_size(width, height, side)) > STYLE_MAX_PIXELS:
                side -= 1
            style = prepared["style"] = resize_shorter_side(style, side, loaded.value_range)
            h, w = style.shape[:2]
            prepared["note"] = (
                f"{name} ({width}×{height}) was downscaled to {w}×{h} before encoding "
                f"(at most {STYLE_MAX_PIXELS:,} pixels: the style encoder sees it whole).")
        return prepared
    return {}


def run_model(
    loaded: LoadedModel,
    image: np.ndarray,
    options: Options,
    prepared: dict | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Runs ``loaded``'s model on one image with the page's options.

    Every kind goes through the library's tiled inference (tiles above ``tile_size``):
    :func:`~keras_perceptual.inference.stylize` for style transfer (``preserve_color``;
    multi-style networks with the blended ``style_weights``, arbitrary-style networks with
    the style image and ``alpha``: an exported one applies the ``alpha`` it was exported
    with), :func:`~keras_perceptual.inference.upscale` and the
    bicubic baseline for super-resolution. An exported network with instance
    normalization normalizes each tile on its own (``norm_statistics="tile"``: whole-image
    statistics over tiles need the Keras model).

    Args:
        loaded: the model (:class:`~keras_perceptual.app.catalog.LoadedModel`).
        image: float32 ``(H, W, 3)`` in the model's ``value_range``.
        options: :class:`Options`.
        prepared: :func:`prepare_options`' result (computed here when ``None``). The
            network bound to its style is kept in it (``"network"``), so the photos of one
            request share it: an arbitrary-style network encodes the style image once.
        progress: ``progress(done, total)`` after each model call (tiles of a large image
            included), as in :func:`~keras_perceptual.inference.stylize`.

    Returns:
        ``{"output": ...}``; super-resolution also ``"bicubic"``. Arrays in the model's
        ``value_range``.

    Raises:
        InputError: a bad option (see :func:`prepare_options`; a tile size smaller than
            twice the tile overlap).

    Example:
        >>> run_model(loaded, photo, Options(preserve_color=True))["output"].shape  # doctest: +SKIP
        (512, 512, 3)
    """
    from keras_perceptual.inference import bind_style, stylize, upscale

    prepared = prepare_options(loaded, options) if prepared is None else prepared
    kind = loaded.kind.name
    common: dict[str, Any] = {"tile_size": options.tile_size, "progress": progress}
    if tile_normalized(loaded):
        common["norm_statistics"] = "tile"
    if kind == "super_resolution":
        output = upscale(loaded.model, image, histogram_match=options.histogram_match, **common)
        return {"output": output,
                "bicubic": bicubic_baseline(image, loaded.scale, loaded.value_range)}
    if kind not in ("style", "multi_style", "arbitrary_style"):
        raise InputError(f"The app has no runner for {kind!r} models. Received: kind={kind!r}")
    network = prepared.get("network")
    if network is None:  # bound once per request: its photos then run the same network
        styles: dict[str, Any] = {}
        if kind == "multi_style":
            styles = {"style_weights": prepared["style_weights"]}
        elif kind == "arbitrary_style":  # the style image is encoded here, once
            styles = {"style_image": prepared["style"]}
            if loaded.runtime == "keras":  # an export applies the alpha it was exported with
                styles["alpha"] = prepared["alpha"]
        network = prepared["network"] = bind_style(loaded.model, loaded.value_range, **styles)
    output = stylize(network, image, preserve_color=options.preserve_color, **common)
    return {"output": output}


def tile_normalized(loaded: LoadedModel) -> bool:
    """Whether tiles of ``loaded``'s model are normalized on their own: an exported network
    with instance normalization (whole-image statistics over tiles need the Keras model).

    Example:
        >>> tile_normalized(cache.get("exports/starry.onnx"))  # doctest: +SKIP
        True
    """
    from keras_perceptual.runtimes import Runtime

    model = loaded.model
    return isinstance(model, Runtime) and model.info.instance_normalization


def write_results(
    loaded: LoadedModel, name: str, image: np.ndarray, outputs: dict[str, np.ndarray],
    folder: str, stem: str,
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Writes one photo's results as PNG files in ``folder``.

    Args:
        loaded: the model that made them.
        name: the photo's name (for captions).
        image: the photo as the model saw it, in the model's ``value_range``.
        outputs: :func:`run_model`'s result.
        folder: where to write.
        stem: file name stem, e.g. ``"photo"``.

    Returns:
        ``(output_path, gallery)``: the result's PNG (``<stem>_stylized.png``,
        ``<stem>_x4.png``) and the ``(png_path, caption)`` pairs shown side by side: input
        and output for style transfer; bicubic, network and a zoomed crop of both
        (:func:`zoomed_crops`) for super-resolution.

    Example:
        >>> path, shown = write_results(loaded, "a.jpg", photo, outputs, folder, "a")  # doctest: +SKIP
    """
    from keras_perceptual.inference import save_image

    def write(array, suffix, caption):
        path = os.path.join(folder, f"{stem}{suffix}.png")
        save_image(array, path, value_range=loaded.value_range)
        return path, caption

    suffix = output_suffixes(loaded)
    if not loaded.kind.upscales:
        output = write(outputs["output"], suffix["output"], f"{name}: stylized")
        return output[0], (write(image, suffix["input"], f"{name}: input"), output)
    x = loaded.scale
    output = write(outputs["output"], suffix["output"], f"{name}: network ×{x}")
    zoom_bicubic, zoom_network = zoomed_crops([outputs["bicubic"], outputs["output"]], reference=1)
    return output[0], (
        write(outputs["bicubic"], suffix["bicubic"], f"{name}: bicubic ×{x}"),
        output,
        write(zoom_bicubic, suffix["zoom_bicubic"], "zoomed crop: bicubic"),
        write(zoom_network, suffix["zoom_network"], "zoomed crop: network"),
    )


def output_suffixes(loaded: LoadedModel) -> dict[str, str]:
    """What :func:`write_results` appends to a photo's stem for each PNG it writes.

    Example:
        >>> output_suffixes(loaded)  # doctest: +SKIP
        {'output': '_stylized', 'input': '_input'}
    """
    output = loaded.kind.output_suffix.format(scale=loaded.scale)
    if not loaded.kind.upscales:
        return {"output": output, "input": "_input"}
    return {"output": output, "bicubic": f"_bicubic_x{loaded.scale}",
            "zoom_bicubic": "_zoom_bicubic", "zoom_network": "_zoom_network"}


def new_request_folder(output_dir: str, keep: int = KEPT_REQUESTS) -> str:
    """A new folder for one request's PNG files; the oldest beyond ``keep`` are deleted.

    Args:
        output_dir: the app's output folder (created if missing).
        keep: how many request folders to keep, this one included.

    Returns:
        The new folder's path.

    Example:
        >>> folder = new_request_folder(tempfile.mkdtemp())
    """
    os.makedirs(output_dir, exist_ok=True)
    entries = []
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if name.startswith("request-") and os.path.isdir(path):
            try:
                entries.append((os.path.getmtime(path), path))
            except OSError:
                continue
    for _, path in sorted(entries)[: max(0, len(entries) - keep + 1)]:
        shutil.rmtree(path, ignore_errors=True)
    folder = os.path.join(output_dir, f"request-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}")
    os.makedirs(folder)
    return folder


def _upload_name(item: Any) -> tuple[str, str]:
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return check_path(item[0], "files[i][0]", "upload.png"), str(item[1])
    path = check_path(item, "files[i]", "upload.png")
    return path, os.path.basename(path)


#: Longest output file name stem, in UTF-8 bytes: with a suffix (``_zoom_bicubic.png``) and
#: the temporary name written first (``.<name>.1234abcd.tmp``) well under the 255 bytes
#: file systems allow.
MAX_STEM_BYTES = 120


def _unique_stem(name: str, used: set[str], suffixes: Sequence[str]) -> str:
    """A file name stem from the upload's name: letters, digits, ``-_.`` kept, no leading
    dot (a hidden file), at most :data:`MAX_STEM_BYTES` bytes (a long, e.g. non-ASCII, name
    is cut), such that none of the files ``stem + suffix + ".png"`` is in ``used`` (file
    names as :func:`_file_key` compares them; those files are added).

    Not the stems alone: ``a_bicubic.png``'s network output ``a_bicubic_x4.png`` is
    ``a.png``'s bicubic baseline, and ``A.png``'s files are ``a.png``'s on macOS and Windows.
    """
    stem = os.path.splitext(os.path.basename(name))[0].lstrip(".") or "image"
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    stem = stem.encode("utf-8")[:MAX_STEM_BYTES].decode("utf-8", "ignore")
    candidate, index = stem, 2
    while any(_file_key(candidate + suffix) in used for suffix in suffixes):
        candidate, index = f"{stem}-{index}", index + 1
    used.update(_file_key(candidate + suffix) for suffix in suffixes)
    return candidate


def _file_key(name: str) -> str:
    """``name`` as a case-insensitive, normalizing file system (macOS, Windows) compares it."""
    return unicodedata.normalize("NFC", name).casefold()


def process_uploads(
    loaded: LoadedModel,
    files: Sequence[Any],
    options: Options = Options(),
    limits: Limits = Limits(),
    output_dir: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> RunResult:
    """Runs one request: every uploaded photo through ``loaded``'s model.

    Args:
        loaded: the model chosen in the page.
        files: upload paths, or ``(path, name)`` pairs (the name is used in messages and
            output file names).
        options: the page's :class:`Options`.
        limits: the app's :class:`Limits`.
        output_dir: where the PNG files go (a new ``request-*`` folder inside it; older
            ones beyond :data:`KEPT_REQUESTS` are deleted); default: a new temporary folder.
        progress: ``progress(fraction, text)`` (fraction of the request in [0, 1]) is
            called before each photo is run (with its size, and whether it is tiled), after
            each model call on it (each batch of tiles of a large photo) and at the end.

    Returns:
        A :class:`RunResult`. Every problem with a file becomes a message in
        ``errors`` (with an unexpected one also printed, with its traceback, to the
        server's standard error): nothing is raised for a bad upload.

    Raises:
        InputError: no file at all, more than ``max_files`` files, ``files`` not a list or
            an entry that is not a path (None, a number), a bad tile size, or a bad
            request-wide option (:func:`prepare_options`).

    Example:
        >>> result = process_uploads(cache.get("demo_out/style/model.keras"), ["photo.jpg"])  # doctest: +SKIP
        >>> result.images[0].output_path  # doctest: +SKIP
        '/tmp/.../request-.../photo_stylized.png'
    """
    if files is not None and not isinstance(files, (list, tuple)):
        raise InputError(
            "files must be a list of upload paths or (path, name) pairs, e.g. ['photo.png']. "
            f"Received: files={shortened(repr(files), 80)}"
        )
    files = [_upload_name(item) for item in files or []]  # every path checked before any runs
    if not files:
        raise InputError("No photo was uploaded; drop one or more JPEG, PNG or WebP files on the "
                         "upload area first. Received: files=[]")
    if len(files) > limits.max_files:
        raise InputError(
            f"{len(files)} files were uploaded; the app takes at most {limits.max_files} per "
            f"request (--max-files). Upload fewer at a time. Received: files={len(files)}"
        )
    if isinstance(options.tile_size, bool) or not isinstance(options.tile_size, (int, np.integer)) \
            or options.tile_size < 1:
        raise InputError(f"The tile size must be a whole number of pixels >= 1. "
                         f"Received: tile_size={options.tile_size!r}")
    prepared = prepare_options(loaded, options, limits)
    folder = new_request_folder(output_dir or tempfile.mkdtemp(prefix="keras-perceptual-app-"))
    results: list[ImageResult] = []
    errors: list[str] = []
    notes: list[str] = [prepared["note"]] if "note" in prepared else []
    used: set[str] = set()
    with RUN_LOCK:
        for index, (path, name) in enumerate(files):
            try:
                image = read_upload(path, name, limits, loaded)
                file_notes = upload_notes(path, name)
                height, width = image.shape[:2]
                tiled = max(height, width) > options.tile_size
                text = (f"{name} ({index + 1}/{len(files)}): {width}×{height}"
                        + (f", in tiles of {options.tile_size} px" if tiled else ""))
                step = None
                if progress is not None:
                    progress(index / len(files), text)

                    def step(done, total, index=index, text=text):
                        progress((index + done / total) / len(files), text)

                size = (height, width, options.tile_size if tiled else None)
                first = loaded.runtime == "keras" and size not in loaded.sizes_run
                start = time.perf_counter()
                outputs = run_model(loaded, image, options, prepared, progress=step)
                seconds = time.perf_counter() - start
                loaded.sizes_run.add(size)
                output_path, gallery = write_results(
                    loaded, name, image, outputs, folder,
                    _unique_stem(name, used, tuple(output_suffixes(loaded).values())),
                )
            except KerasPerceptualError as error:
                errors.append(f"{name}: {error}" if not str(error).startswith(name) else str(error))
                continue
            except MemoryError:
                errors.append(f"{name}: ran out of memory; choose a smaller tile size or upload a "
                              "smaller image.")
                continue
            except Exception as error:  # noqa: BLE001 - a bug or a framework failure: report it
                traceback.print_exc()
                errors.append(
                    f"{name}: the model failed on this image ({type(error).__name__}: "
                    f"{shortened(error, 300)}); the server's log has the details."
                )
                continue
            out_h, out_w = outputs["output"].shape[:2]
            results.append(
                ImageResult(
                    name=name,
                    output_path=output_path,
                    gallery=gallery,
                    seconds=seconds,
                    input_size=(width, height),
                    output_size=(out_w, out_h),
                    tiles=tiled,
                    first_of_size=first,
                )
            )
            notes.extend(file_notes)
        if progress is not None:
            progress(1.0, "done")
    return RunResult(images=tuple(results), errors=tuple(errors),
                     device=describe_device(loaded.runtime), notes=tuple(notes))


__all__ = [
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_UPLOAD_MB",
    "DEFAULT_TILE_SIZE",
    "ImageResult",
    "Limits",
    "Options",
    "RUN_LOCK",
    "RunResult",
    "STYLE_MAX_PIXELS",
    "bicubic_baseline",
    "blend_weights",
    "check_upload",
    "describe_device",
    "detail_window",
    "new_request_folder",
    "output_suffixes",
    "prepare_options",
    "process_uploads",
    "read_upload",
    "upload_notes",
    "run_model",
    "write_results",
    "zoomed_crops",
]
