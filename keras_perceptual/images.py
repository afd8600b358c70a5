"""Reading and writing image files (Pillow + numpy; no TensorFlow, any backend).

One decoder for every reader in the package: the tf.data pipelines
(:mod:`keras_perceptual.data`), style images of the losses, inference, the command
line and the notebooks. JPEG, PNG, BMP, GIF (first frame), WebP and TIFF (first page);
grayscale is expanded, alpha dropped (not composited), palettes, CMYK and 16-bit grayscale
converted, 16-bit PNGs and grayscale TIFFs kept to 16 bits, the EXIF (or TIFF) orientation
applied, ICC colour profiles not applied (see :func:`read_rgb`).
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import stat
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from keras_perceptual._checks import (
    check_flag,
    check_float_dtype,
    check_path,
    check_positive_int,
    check_value_range,
    unexpanded_home_hint,
)
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.ops import from_uint16

#: File extensions (any case) treated as images by folders and glob patterns.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class UnusableImageError(KerasPerceptualError):
    """An image file that cannot be used; ``str(error)`` is the reason, ``"kind: detail"``.

    ``kind`` is one of ``"missing"``, ``"unreadable"`` (permissions), ``"not an image"``,
    ``"unsupported"`` (signed or 32-bit integer and floating-point samples, which have no
    fixed range; HEIC/AVIF photos, and TIFFs of a sample layout Pillow cannot open, e.g.
    16-bit grayscale with alpha), ``"too large"`` (over Pillow's
    decompression-bomb or PNG metadata limits), ``"too small"``, ``"truncated"`` (the header reads, the pixel data
    ends early) and ``"corrupt"`` (the data does not decode); :attr:`damaged` is true for
    the last two, which only a new copy of the file fixes (:func:`damaged_image_message`).
    """

    @property
    def kind(self) -> str:
        return str(self).partition(": ")[0]

    @property
    def damaged(self) -> bool:
        """Whether the file is truncated or corrupt (as opposed to missing, not an image, ...)."""
        return self.kind in ("truncated", "corrupt")


def damaged_image_message(name: str, error: UnusableImageError) -> str:
    """The sentence, without its ending, every entry point says about a truncated or corrupt
    image file ``name`` (a repr'd path or an upload's name): what is wrong and the fix.

    Example:
        >>> damaged_image_message("'a.png'", UnusableImageError("truncated: image file is truncated"))
        "'a.png' is truncated (image file is truncated): its pixel data ends early, as after an interrupted download or copy; re-export or re-download it"
    """
    kind, _, detail = str(error).partition(": ")
    what = (
        "its pixel data ends early, as after an interrupted download or copy"
        if kind == "truncated"
        else "its data is damaged and does not decode"
    )
    return f"{name} is {kind} ({detail}): {what}; re-export or re-download it"


def _decoder_error(error: OSError) -> UnusableImageError:
    """A Pillow decoder or parser ``OSError`` as the reason: truncated or corrupt.

    Pillow reports pixel data that ends early as ``OSError: image file is truncated`` (with
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` False, its default, which this package never changes:
    True would silently fill the missing pixels with grey) and a header cut short as
    ``Truncated File Read``."""
    kind = "truncated" if "truncated" in str(error).lower() else "corrupt"
    return UnusableImageError(f"{kind}: {error}")


#: ISO base-media ``ftyp`` brands of HEIF containers (HEIC, the iPhone's default photo
#: format, and AVIF), which Pillow opens only with a plugin (``pillow-heif``).
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)


def _file_head(path: str, count: int) -> bytes:
    """The first ``count`` bytes of ``path`` (fewer if it is shorter; none if unreadable)."""
    try:
        with open(path, "rb") as f:
            return f.read(count)
    except OSError:
        return b""


def _is_heif(path: str) -> bool:
    """Whether ``path`` starts like a HEIF container: an ``ftyp`` box with a HEIF brand."""
    head = _file_head(path, 12)
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _is_tiff(path: str) -> bool:
    """Whether ``path`` starts with a TIFF (or BigTIFF) header, little- or big-endian."""
    return _file_head(path, 4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _is_empty(path: str) -> bool:
    """Whether ``path`` is a file of 0 bytes."""
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _is_apple_double(path: str) -> bool:
    """Whether ``path`` is a macOS AppleDouble file (``._photo.jpg``: the resource fork and
    Finder data a Mac writes beside ``photo.jpg`` on FAT/exFAT/network drives), by its magic
    number."""
    return _file_head(path, 4) == b"\x00\x05\x16\x07"


@contextlib.contextmanager
def _unusable_image_errors(path: str) -> Iterator[None]:
    """Turns what Pillow (or pypng) raises while opening or decoding ``path`` into the
    :class:`UnusableImageError` that says why it cannot be used: the one translation
    :func:`read_rgb` and :func:`read_header` share."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except (UnusableImageError, InputError):  # a reason already, or a setting (not the file)
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # The warning (over MAX_IMAGE_PIXELS, under twice it) is raised where a warnings
        # filter turns it into an error: too large as well, not a corrupt file.
        raise UnusableImageError(
            f"too large: {error} Downscale the image, or raise PIL.Image.MAX_IMAGE_PIXELS "
            "(None: no limit) if you trust the file"
        ) from None
    except UnidentifiedImageError:
        if _is_empty(path):
            raise UnusableImageError(
                "not an image: the file is empty (0 bytes), as after a failed download or copy"
            ) from None
        if _is_apple_double(path):
            raise UnusableImageError(
                "not an image: a macOS metadata file (the '._' AppleDouble companion a Mac "
                "writes beside each file on a non-Mac drive); delete these files, e.g. with "
                "dot_clean or find FOLDER -name '._*' -delete"
            ) from None
        if _is_heif(path):
            raise UnusableImageError(
                "unsupported: a HEIC/HEIF/AVIF photo (the iPhone's default format), which "
                "Pillow cannot decode; export it as JPEG (on an iPhone: Settings > Camera > "
                "Formats > Most Compatible) or convert it"
            ) from None
        if _is_tiff(path):
            raise UnusableImageError(
                "unsupported: a TIFF that Pillow cannot open: a sample layout it does not "
                "decode (e.g. 16-bit grayscale with alpha, or 32-bit colour) or a damaged "
                "header; re-save it as an 8- or 16-bit RGB or grayscale TIFF or PNG"
            ) from None
        raise UnusableImageError("not an image: unrecognized or unsupported file contents") from None
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnusableImageError(
                f"missing: a broken symbolic link to {os.readlink(path)!r}; fix or remove the link"
            ) from None
        raise UnusableImageError("missing: the file no longer exists") from None
    except (PermissionError, IsADirectoryError) as error:
        raise UnusableImageError(f"unreadable: {error}") from None
    except OSError as error:  # Pillow's decoder errors, and a header cut short
        raise _decoder_error(error) from None
    except ValueError as error:
        # A PNG text chunk over Pillow's limit, not damage (Pillow 10 says "Decompressed Data
        # Too Large" or "Too much memory used in text chunks"; later ones name MAX_TEXT_*).
        if any(words in str(error) for words in
               ("MAX_TEXT", "Decompressed Data Too Large", "Too much memory used in text")):
            raise UnusableImageError(
                f"too large: a metadata (text) chunk is over Pillow's limit ({error}), as "
                "Photoshop's bloated XMP can be; "
                "re-save the image without metadata, or raise PIL.PngImagePlugin.MAX_TEXT_CHUNK "
                "(and MAX_TEXT_MEMORY) if you trust the file"
            ) from None
        raise UnusableImageError(f"corrupt: {type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any decoder failure means "skip this file"
        raise UnusableImageError(f"corrupt: {type(error).__name__}: {error}") from None


@contextlib.contextmanager
def _open_image(path: str) -> Iterator[Any]:
    """``PIL.Image.open`` of a regular file, closed on exit; a named pipe, device or socket
    with an image's name is refused (opening a named pipe waits for a writer: a scan that
    never ends). Call it inside :func:`_unusable_image_errors`, which translates what it
    raises.

    Pillow is given an open file, not the path: with a path it memory-maps uncompressed
    images, and its memory-mapped TIFF decoding ignores a quarter-turn Orientation tag while
    reporting the turned size (Pillow 12: L, P, RGBA, CMYK and 16-bit TIFFs came out with
    scrambled rows).
    """
    from PIL import Image

    mode = os.stat(path).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder: IsADirectoryError, as before
        raise UnusableImageError(
            "not an image: not a regular file (a named pipe, device or socket), which reading "
            "would wait on forever; remove it or rename it without an image extension"
        )
    with open(path, "rb") as file, Image.open(file) as image:
        yield image


def _quarter_turned(image) -> bool:
    """Whether the EXIF orientation of an opened (not yet loaded) image swaps its width and
    height when shown, and Pillow's ``image.size`` does not already.

    For TIFFs it depends on Pillow: 12 reports the turned size at open, 10.3 the stored one
    (its ImageWidth/ImageLength tags) until the pixels are loaded (both turn the pixels), so
    the size is compared with the tags."""
    if _orientation(image) not in _QUARTER_TURNS:
        return False
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        return tuple(image.size) == (tags.get(256), tags.get(257))
    return True


class ImageTooSmallError(UnusableImageError):
    """A readable image whose shorter side is below the ``min_size`` asked for.

    ``size`` is its ``(width, height)`` as decoded (EXIF orientation applied), ``min_size``
    the minimum it missed.
    """

    def __init__(self, size: tuple[int, int], min_size: int):
        self.size, self.min_size = size, min_size
        super().__init__(
            f"too small: {size[0]}x{size[1]} px, shorter side below min_size={min_size}"
        )


# --------------------------------------------------------------------------
# Decoding (Pillow), shared by the scan, the pipeline and the loaders.
# --------------------------------------------------------------------------


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _to_rgb(image):
    """Any 8-bit Pillow mode to RGB: grayscale expanded, alpha dropped (not composited)."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # the documented path for palettes with alpha
    return image.convert("RGB")  # also drops alpha (RGBA, LA, PA); CMYK as libjpeg does


def _tiff_tag(image, tag: int, default: int) -> int:
    """The (first) value of TIFF tag ``tag`` of an opened image; ``default`` if the image has
    no such tag or is not a TIFF."""
    value = getattr(image, "tag_v2", {}).get(tag, default)
    return int(value[0] if isinstance(value, tuple) else value)


def _check_sample_format(image) -> None:
    """Refuses integer and floating-point images Pillow opens as modes ``"I"`` and ``"F"``
    (scientific TIFFs: signed 16-bit, 32-bit and float samples): their samples have no fixed
    range (a float TIFF may hold [0, 1], [0, 255] or physical units), and Pillow's
    conversion to RGB clips them to 0..255, so a float image in [0, 1] would come out black.
    Netpbm's 16-bit grayscale (PGM), which Pillow opens as ``"I"`` scaled to 0..65535, is
    16-bit."""
    if image.mode == "F" or (image.mode == "I" and image.format != "PPM"):
        if image.mode == "F":
            kind = "floating-point"
        else:  # signed 16-bit TIFFs are opened as "I" too: say which they are
            signed = "signed " if _tiff_tag(image, 339, 1) == 2 else ""  # SampleFormat
            kind = f"{signed}{_tiff_tag(image, 258, 32)}-bit integer"  # BitsPerSample
        raise UnusableImageError(
            f"unsupported: {kind} samples (Pillow mode {image.mode!r}) have no fixed range to "
            "read as colours; save it as an 8- or 16-bit (unsigned) PNG or TIFF"
        )


def _is_16_bit(image) -> bool:
    """Whether Pillow's ``image`` holds more than 8 bits per sample (16-bit PNG, I;16 TIFF,
    16-bit PGM)."""
    if image.mode.startswith("I;16") or image.mode == "I":  # "I": PGM (the others refused)
        return True
    if image.format == "PNG":
        # Pillow reads 16-bit colour PNGs as 8-bit RGB; the IHDR chunk says (bit depth at 24).
        fp = getattr(image, "fp", None)
        if fp is not None:
            position = fp.tell()
            fp.seek(24)
            depth = fp.read(1)
            fp.seek(position)
            return depth == b"\x10"
    return False


def _read_16_bit(image, path: str) -> np.ndarray:
    """A 16-bit image as a uint16 ``(H, W, 3)`` array: grayscale expanded, alpha dropped."""
    if image.format == "PNG":
        import png  # pypng: Pillow has no 16-bit colour mode

        # An open file of our own, closed here: ``png.Reader(filename=...)`` leaves its file
        # open (a ResourceWarning and a file descriptor held until garbage collection, for
        # every 16-bit PNG decoded in every epoch).
        with open(path, "rb") as file:
            width, height, rows, info = png.Reader(file=file).asDirect()
            array = np.vstack([np.asarray(row, np.uint16) for row in rows])
        array = array.reshape(height, width, info["planes"])
        if info["planes"] in (2, 4):
            array = array[..., :-1]  # alpha dropped, not composited (as for 8-bit images)
    else:
        array = np.asarray(image).astype(np.uint16)[..., None]
        if image.format == "TIFF":
            array = _tiff_16_bit_values(image, array)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array)


def _tiff_16_bit_values(image, array: np.ndarray) -> np.ndarray:
    """The samples of a grayscale TIFF Pillow opened as ``"I;16"`` on the 0..65535 scale of
    16-bit images: 12-bit TIFFs (Pillow unpacks them as 0..4095, 16 times too dark) scaled
    up, and WhiteIsZero ones (PhotometricInterpretation 0: 0 is white; Pillow inverts 8-bit
    ones, not 16-bit ones, a negative image) inverted."""
    bits = _tiff_tag(image, 258, 16)  # BitsPerSample
    if bits < 16:
        scale = 65535 / (2**bits - 1)
        array = np.rint(array.astype(np.float64) * scale).astype(np.uint16)
    if _tiff_tag(image, 262, 1) == 0:  # PhotometricInterpretation: WhiteIsZero
        array = np.uint16(65535) - array
    return array


#: EXIF orientations (tag 0x0112) that turn the stored image a quarter turn (or transpose
#: it): the displayed image has the stored height and width swapped.
_QUARTER_TURNS = (5, 6, 7, 8)


def _png_exif_chunk(fp) -> bytes | None:
    """The data of a PNG's ``eXIf`` chunk found by walking the chunk headers (the pixel
    data is skipped, not decoded), or None; ``fp``'s position is kept."""
    position = fp.tell()
    try:
        fp.seek(8)  # the signature
        while True:
            header = fp.read(8)
            if len(header) < 8:
                return None
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"eXIf":
                return fp.read(length)
            if kind == b"IEND":
                return None
            fp.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    finally:
        fp.seek(position)


def _orientation(image) -> int:
    """The EXIF orientation (tag 0x0112, 1-8) of an opened Pillow image, read from the file's
    header: Pillow's ``getexif()`` decodes a whole PNG to find an ``eXIf`` chunk placed after
    the pixel data, so PNGs are walked chunk by chunk instead."""
    from PIL import Image

    if image.format == "PNG":
        data = image.info.get("exif")
        if data is None:
            fp = getattr(image, "fp", None)
            data = _png_exif_chunk(fp) if fp is not None else None
        if not data:
            return 1
        if data.startswith(b"Exif\x00\x00"):  # a JPEG-style prefix some writers keep;
            data = data[6:]  # Pillow 12 skips it, Pillow 10 calls the file corrupt
        exif = Image.Exif()
        exif.load(data)
        return int(exif.get(0x0112, 1))
    return int(image.getexif().get(0x0112, 1))


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Applies an EXIF orientation (tag 0x0112, 1-8) to an ``(H, W, C)`` array.

    The same steps as ``PIL.ImageOps.exif_transpose`` (and the serving graph of
    :mod:`keras_perceptual.export`): the array comes out as the image is meant to be seen.

    Example:
        >>> orient(np.zeros((40, 24, 3)), 6).shape  # a phone portrait stored sideways
        (24, 40, 3)
    """
    steps = {
        2: lambda a: a[:, ::-1],  # mirrored left-right
        3: lambda a: a[::-1, ::-1],  # rotated 180
        4: lambda a: a[::-1],  # mirrored top-bottom
        5: lambda a: a.transpose(1, 0, 2),  # transposed
        6: lambda a: np.rot90(a, -1),  # rotated 90 degrees clockwise to show it
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # transversed
        8: lambda a: np.rot90(a, 1),  # rotated 90 degrees counter-clockwise to show it
    }
    step = steps.get(int(orientation))
    return np.ascontiguousarray(step(array)) if step else array


def resized_size(width: int, height: int, side: int) -> tuple[int, int]:
    """``(width, height)`` with the shorter side ``side``, keeping the aspect ratio (the
    longer side rounded to whole pixels): the size :func:`resize_shorter_side` gives.

    Raises:
        InputError: ``width``, ``height`` or ``side`` is not an integer > 0.

    Example:
        >>> resized_size(640, 480, 240)
        (320, 240)
    """
    width, height = check_positive_int(width, "width"), check_positive_int(height, "height")
    side = check_positive_int(side, "side")
    if width <= height:
        return side, max(side, round(height * side / width))
    return max(side, round(width * side / height)), side


def check_resize_target(size: tuple[int, int], name: str, value: Any,
                        source: str | None = None) -> None:
    """Refuses a resize to ``size=(width, height)`` over Pillow's limit on image size,
    ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 million pixels), the limit that reading a file
    applies: a style size or image size of 100000 would otherwise build a
    multi-gigabyte array and be killed for memory, saying nothing.

    Args:
        size: the target ``(width, height)`` in pixels.
        name, value: the argument that asked for it, for the message's ``Received:``.
        source: the file being resized, named in the message (``None``: an array).

    Raises:
        InputError: ``width * height`` is over the limit (unless it is ``None``).

    Example:
        >>> check_resize_target((4000, 3000), "side", 3000)
        >>> check_resize_target((100000, 75000), "side", 75000, "pano.jpg")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: Resizing 'pano.jpg' to 100000x75000 pixels (7500 megapixels) is over Pillow's limit of 89478485 pixels (PIL.Image.MAX_IMAGE_PIXELS, which guards memory): ask for a smaller size, or raise PIL.Image.MAX_IMAGE_PIXELS (None lifts it). Received: side=75000
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    width, height = size
    if limit is not None and width * height > limit:
        what = "" if source is None else f"{source!r} "
        raise InputError(
            f"Resizing {what}to {width}x{height} pixels ({width * height / 1e6:.0f} megapixels) "
            f"is over Pillow's limit of {limit} pixels (PIL.Image.MAX_IMAGE_PIXELS, which "
            "guards memory): ask for a smaller size, or raise PIL.Image.MAX_IMAGE_PIXELS (None "
            f"lifts it). Received: {name}={value!r}"
        )


def _resize_channels(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of an ``(H, W, C)`` array to ``size=(width, height)``, per channel in
    float32 (Pillow's mode ``"F"``: anti-aliased when shrinking, not rounded or clipped)."""
    from PIL import Image

    channels = [
        np.asarray(
            Image.fromarray(array[..., c].astype(np.float32), mode="F").resize(
                size, Image.Resampling.BICUBIC
            )
        )
        for c in range(array.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def _resize_16_bit(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a uint16 ``(H, W, 3)`` array to ``size=(width, height)``, per channel."""
    if (array.shape[1], array.shape[0]) == size:
        return array
    return np.clip(np.rint(_resize_channels(array, size)), 0, 65535).astype(np.uint16)


def resize_shorter_side(
    image: np.ndarray, side: int, value_range: Sequence[float] = (0.0, 1.0)
) -> np.ndarray:
    """An image array resized so that its shorter side is ``side`` pixels, aspect ratio kept.

    The resize :func:`load_image` applies to a file with ``size=side`` (the longer side
    rounded to the nearest pixel; bicubic, anti-aliased when shrinking), done on the
    float pixels, without rounding them to 8 or 16 bits: e.g. the ``style_size`` of
    :func:`~keras_perceptual.inference.stylize`, the AdaIN reference code's
    ``test.py --style_size`` (Huang & Belongie 2017), which sets the scale of the strokes.

    Args:
        image: an ``(H, W, 3)`` float array in ``value_range``.
        side: the shorter side of the result, in pixels (> 0); larger than the image's
            enlarges it.
        value_range: ``(low, high)`` of the pixels; bicubic overshoot is clipped to it.

    Returns:
        ``(H', W', 3)`` float32 array with ``min(H', W') == side``; the image itself
        (as float32) when its shorter side is already ``side``.

    Raises:
        InputError: ``side`` is not an integer > 0 or gives an image over Pillow's size
            limit (:func:`check_resize_target`), or ``image`` is refused by
            :func:`image_array` (not an RGB float image in ``value_range``, or empty).

    Example:
        >>> resize_shorter_side(np.zeros((48, 64, 3), "float32"), 24).shape
        (24, 32, 3)
    """
    return _resize_side(image, side, value_range, min, resized_size)


def resize_longer_side(
    image: np.ndarray, side: int, value_range: Sequence[float] = (0.0, 1.0)
) -> np.ndarray:
    """An image array resized so that its longer side is ``side`` pixels, aspect ratio kept.

    The same resize as :func:`resize_shorter_side` (bicubic on the float pixels,
    anti-aliased when shrinking, overshoot clipped to ``value_range``), measured on the
    longer side: the style image of the fast style-transfer recipes
    (``style_image_size``, 256 in Johnson et al.'s code).

    Args:
        image: an ``(H, W, 3)`` float array in ``value_range``.
        side: the longer side of the result, in pixels (> 0).
        value_range: ``(low, high)`` of the pixels.

    Returns:
        ``(H', W', 3)`` float32 array with ``max(H', W') == side`` (the shorter side
        rounded, at least 1); the image itself (as float32) when already so.

    Raises:
        InputError: as :func:`resize_shorter_side`.

    Example:
        >>> resize_longer_side(np.zeros((48, 64, 3), "float32"), 32).shape
        (24, 32, 3)
    """

    def size(width: int, height: int, side: int) -> tuple[int, int]:
        if width >= height:
            return side, max(1, round(height * side / width))
        return max(1, round(width * side / height)), side

    return _resize_side(image, side, value_range, max, size)


def _resize_side(image, side, value_range, measure, size) -> np.ndarray:
    """:func:`resize_shorter_side` and :func:`resize_longer_side`: ``measure`` (``min`` or
    ``max``) picks the side, ``size(width, height, side)`` gives the new ``(width, height)``."""
    side = check_positive_int(side, "side")
    image = image_array(image, value_range, "image")
    value_range = check_value_range(value_range)
    height, width = image.shape[:2]
    if measure(height, width) == side:
        return image
    check_resize_target(size(width, height, side), "side", side)
    resized = _resize_channels(image, size(width, height, side))
    return np.clip(resized, *value_range).astype(np.float32)


def read_rgb(
    path: str,
    *,
    shorter_side: int | None = None,
    at_least: int = 1,
    min_size: int = 1,
    size: tuple[int, int] | None = None,
    verify_only: bool = False,
    dtype: Any = np.uint8,
) -> np.ndarray | None:
    """Decodes ``path`` to an RGB ``(H, W, 3)`` array, or raises ``UnusableImageError``.

    The decoding contract of every entry point (this reader, the tf.data pipelines, the
    command line, and, in TensorFlow ops, the exported ``serve_encoded`` signature):
    the EXIF orientation is applied; grayscale is expanded to RGB; alpha is dropped, not
    composited (RGBA, LA, palettes with transparency); CMYK JPEGs are converted as
    libjpeg does; 16-bit PNGs (colour and grayscale), grayscale TIFFs (16-bit, and 12-bit
    ones scaled to 16) and PGMs keep their 16 bits; 16-bit colour TIFFs come out of Pillow
    as 8-bit RGB, their low byte cut (a documented Pillow limitation: on the same 0..1 scale
    as 8-bit images, within 1/256; re-save as a 16-bit PNG to keep every bit); signed or
    32-bit integer and floating-point images (TIFF) are refused, as their samples have no
    fixed range. Embedded ICC colour profiles are not applied: the stored values are read as
    sRGB (as ``tf.io.decode_image`` and most training code read them), so a Display P3 or
    Adobe RGB photo looks slightly less saturated than in a colour-managed viewer. The first
    frame of an animated GIF or WebP, and the first page of a multi-page TIFF, is read; a
    TIFF's Orientation tag is applied as a photo's EXIF orientation.

    Args:
        path: the image file.
        shorter_side: resize the shorter side to this length (bicubic).
        at_least: otherwise, enlarge a shorter side below this length to it.
        min_size: refuse images whose shorter side is smaller.
        size: ``(height, width)``: resize exactly.
        verify_only: decode (to find corrupt and truncated files) and return None.
        dtype: ``np.uint8`` (0..255; 16-bit images rounded) or ``np.uint16`` (0..65535:
            16-bit images exactly, 8-bit ones as ``v * 257``, so ``x / 65535`` equals
            ``v / 255``).

    Returns:
        ``(H, W, 3)`` array of ``dtype``, or None with ``verify_only``.
    """
    from PIL import Image, ImageOps

    with _unusable_image_errors(path), _open_image(path) as image:
        _check_sample_format(image)
        width, height = image.size
        short = min(width, height)
        if short < min_size:
            size = (height, width) if _quarter_turned(image) else (width, height)
            raise ImageTooSmallError(size, min_size)
        target = shorter_side if shorter_side else (at_least if short < at_least else None)
        if not verify_only and size is not None:  # refused before the pixels are decoded
            check_resize_target((size[1], size[0]), "size", size, path)
        elif not verify_only and target is not None:
            check_resize_target(resized_size(width, height, target),
                                "shorter_side" if shorter_side else "at_least", target, path)
        sixteen = _is_16_bit(image)
        if verify_only:
            image.draft(None, (1, 1))  # JPEG: smallest DCT scale; all data is still read
        elif size is not None:
            # draft() takes the stored image's (width, height): a quarter turn swaps them.
            turned = _quarter_turned(image)
            image.draft(None, (size[0], size[1]) if turned else (size[1], size[0]))
        elif target is not None:
            # JPEG only (no-op otherwise): decode at the smallest scale covering the target.
            image.draft(
                None, (math.ceil(width * target / short), math.ceil(height * target / short))
            )
        image.load()
        if verify_only:
            return None
        if sixteen:
            array = orient(_read_16_bit(image, path), _orientation(image))
            height, width = array.shape[:2]
            if size is not None:
                array = _resize_16_bit(array, (size[1], size[0]))
            elif target is not None:
                array = _resize_16_bit(array, resized_size(width, height, target))
            if np.dtype(dtype) == np.uint8:
                array = np.rint(array / 257.0).astype(np.uint8)
        else:
            image = _to_rgb(ImageOps.exif_transpose(image))
            if size is not None:
                if image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
            elif target is not None and min(image.size) != target:
                image = image.resize(resized_size(*image.size, target), Image.Resampling.BICUBIC)
            array = np.asarray(image, dtype=np.uint8)
            if np.dtype(dtype) == np.uint16:
                array = array.astype(np.uint16) * np.uint16(257)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise UnusableImageError(f"corrupt: decoded to an array of shape {array.shape}")
    return array


def read_header(path: str, min_size: int = 1) -> tuple[int, int]:
    """The ``(width, height)`` of ``path`` as decoded, read from its header (no pixels).

    The EXIF orientation (tag 0x0112) is applied as :func:`read_rgb` applies it: for
    orientations 5-8 (a phone portrait stored sideways) the stored width and height are
    swapped, so the result always equals the decoded array's ``(shape[1], shape[0])``.

    Args:
        path: the image file.
        min_size: refuse images whose shorter side is smaller.

    Returns:
        ``(width, height)`` in pixels, orientation applied.

    Raises:
        UnusableImageError: not an image, unreadable, or a header that is cut short or
            damaged; :class:`ImageTooSmallError` (a subclass) when the shorter side is
            below ``min_size``. Pixel data that is truncated or corrupt is only found by
            decoding (:func:`read_rgb`, ``verify_only=True``).

    Example:
        >>> read_header("photo.jpg")  # a 64 x 48 photo (a 48 x 64 one with Orientation=6)
        (64, 48)
    """

    with _unusable_image_errors(path), _open_image(path) as image:
        _check_sample_format(image)
        width, height = image.size
        if _quarter_turned(image):
            width, height = height, width
    if min(width, height) < min_size:
        raise ImageTooSmallError((width, height), min_size)
    return width, height


def check_image_file(path: str, min_size: int = 1, decode: bool = False) -> None:
    """Raises if ``path`` is not an image this package can use, else returns None.

    Args:
        path: the image file.
        min_size: refuse images whose shorter side (orientation applied) is smaller.
        decode: ``False``: read the header only (about 0.05 ms a file); ``True``: also decode
            the pixel data, which finds truncated and corrupt files (about 1.4 ms for a
            1024 px JPEG decoded at its smallest scale, 23 ms for a 1024 px PNG).

    Raises:
        UnusableImageError: why the file cannot be used (its ``kind``: missing, unreadable,
            not an image, unsupported, too large, truncated, corrupt);
            :class:`ImageTooSmallError` (a subclass) when the shorter side is below
            ``min_size``.

    Example:
        >>> check_image_file("photo.jpg", min_size=16, decode=True)  # a 64 x 48 photo
    """
    if decode:
        read_rgb(path, min_size=min_size, verify_only=True)
    else:
        read_header(path, min_size)


def _check_size_arg(size: Any, name: str = "size") -> int | tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return (
            check_positive_int(size[0], f"{name}[0]"),
            check_positive_int(size[1], f"{name}[1]"),
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(
            f"{name} must be None, an integer (the shorter side in pixels) or a pair "
            f"(height, width). Received: {name}={size!r}"
        )
    return int(size)


def _to_value_range(array: np.ndarray, value_range) -> np.ndarray:
    """A uint16 array of :func:`read_rgb` (0..65535) in ``value_range``, float32."""
    return from_uint16(array.astype(np.float32), value_range)


# --------------------------------------------------------------------------
# Files, folders and globs to arrays.
# --------------------------------------------------------------------------


def walk_images(directory: str, exclude: Sequence[str] = ()) -> tuple[list[str], int]:
    """All image-extension files under ``directory`` (sorted) and the count of other files;
    folders in ``exclude`` (and everything under them) are left out."""
    images: list[str] = []
    ignored = 0
    left_out = {os.path.realpath(path) for path in exclude}
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(root, d)) not in left_out)
        for name in sorted(files):
            if _is_image_name(name):
                images.append(os.path.join(root, name))
            else:
                ignored += 1
    return sorted(images), ignored


def _glob_without_links(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` does not descend into
    symbolically linked folders (as folders given to :func:`walk_images` do not): Python's
    ``**`` follows them, so a link to a parent folder listed each image once per path
    through the loop (40 times), and two such links took exponential time (a hang)."""
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)
    cut = parts.index("**")
    head, tail = os.sep.join(parts[:cut]), os.sep.join(parts[cut + 1 :])
    if head == "" and cut > 0:  # an absolute pattern, "/**/..."
        head = os.sep
    if glob.has_magic(head):
        bases = [b for b in glob.glob(head) if os.path.isdir(b)]
    else:
        bases = [head or os.curdir] if os.path.isdir(head or os.curdir) else []
    found: list[str] = []
    for base in bases:
        for root, dirs, files in os.walk(base):  # symbolic links to folders not followed
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # as glob's ** skips
            here = root if head else ("" if root == os.curdir else os.path.relpath(root))
            if tail:
                found += _glob_without_links(os.path.join(glob.escape(here), tail))
            else:
                found += [os.path.join(here, f) for f in files if not f.startswith(".")]
    return found


def list_images(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Expands files, folders (recursive) and glob patterns to a list of image paths.

    A file given by name is kept whatever its extension (decoding decides);
    folders and patterns contribute files with an image extension
    (``.jpg .jpeg .png .bmp .gif .webp .tif .tiff``, any case), sorted. Duplicates (the same file,
    however its path is written: ``photos/a.jpg``, ``./photos/../photos/a.jpg``, a link to
    it) are dropped, the first kept; order is kept. Neither folders nor ``**`` in a pattern descend into symbolically
    linked folders (a link back to a parent folder would list its images again and again).

    Args:
        inputs: one path or pattern, or a sequence of them.

    Returns:
        A list of file paths.

    Raises:
        ValueError: if an input does not exist or yields no image file.

    Example:
        >>> list_images(["photo.jpg", "photos/", "photos/c*.jpg"])  # in order, no repeats
        ['photo.jpg', 'photos/astronaut.jpg', 'photos/chelsea.jpg', 'photos/coffee.jpg', 'photos/rocket.jpg']
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, Sequence) or isinstance(inputs, bytes) or not inputs:
        raise InputError(
            "inputs must be a file, a folder, a glob pattern or a non-empty list of them. "
            f"Received: inputs={inputs!r}"
        )
    result: dict[str, str] = {}  # the file (links and '..' resolved) -> the path as listed
    for item in inputs:
        path = check_path(item, "input", "photos/")
        if os.path.isdir(path):
            found, _ = walk_images(path)
            where = f"folder {path!r}"
        elif os.path.isfile(path):
            found = [path]
            where = ""
        elif glob.has_magic(path):
            found = sorted(
                p for p in _glob_without_links(path) if os.path.isfile(p) and _is_image_name(p)
            )
            where = f"pattern {path!r}"
        else:
            raise InputError(
                f"{path!r} is not an existing file or folder, and not a glob pattern; check the "
                f"path (quote patterns such as 'photos/*.jpg').{unexpanded_home_hint(path)} "
                f"Received: input={path!r}"
            )
        if not found:
            raise InputError(
                f"The {where} holds no image file ({', '.join(IMAGE_EXTENSIONS)}); point it at "
                f"images. Received: input={path!r}"
            )
        for path in found:
            result.setdefault(os.path.realpath(path), path)
    return list(result.values())


def load_image(
    path: str | os.PathLike,
    size: int | tuple[int, int] | None = None,
    value_range: Sequence[float] = (0.0, 1.0),
) -> np.ndarray:
    """Reads one image file as a float32 ``(H, W, 3)`` RGB array in ``value_range``.

    The same decoder as the datasets (:func:`read_rgb`): JPEG/PNG/BMP/GIF/WebP/TIFF,
    grayscale expanded, alpha dropped, first GIF frame and TIFF page, EXIF (and TIFF)
    orientation applied, 16-bit images kept to float precision.

    Args:
        path: the image file.
        size: ``None`` keeps the size; an int resizes the *shorter* side to that many
            pixels, keeping the aspect ratio; ``(height, width)`` resizes exactly.
            Bicubic (anti-aliased when shrinking).
        value_range: ``(low, high)`` the 0..255 pixels are mapped to.

    Returns:
        ``(H, W, 3)`` float32 array.

    Raises:
        InputError: (a ``ValueError``) if the file is missing (or a broken symbolic link),
            a folder, empty, not an image, larger than Pillow's decompression-bomb limit
            (``PIL.Image.MAX_IMAGE_PIXELS``), of 32-bit or floating-point samples, or
            truncated or corrupt (the message names the file and says to re-export or
            re-download it; a truncated file is never decoded with grey-filled pixels), or
            ``size`` would make it larger than that limit (:func:`check_resize_target`).

    Example:
        >>> load_image("photo.jpg", size=24).shape  # a 64 x 48 photo
        (24, 32, 3)
    """
    path = check_path(path, "path")
    value_range = check_value_range(value_range)
    size = _check_size_arg(size)
    if os.path.isdir(path):
        raise InputError(
            f"{path!r} is a folder; pass one image file (load_images reads every image of a "
            f"folder, list_images lists them). Received: path={path!r}"
        )
    if os.path.islink(path) and not os.path.exists(path):
        raise InputError(
            f"{path!r} is a broken symbolic link (to {os.readlink(path)!r}); fix the link or "
            f"pass the image file itself. Received: path={path!r}"
        )
    if not os.path.exists(path):
        raise InputError(
            f"Image file {path!r} does not exist; pass the path of an existing image."
            f"{unexpanded_home_hint(path)} Received: path={path!r}"
        )
    try:
        array = read_rgb(
            path,
            shorter_side=size if isinstance(size, int) else None,
            size=size if isinstance(size, tuple) else None,
            dtype=np.uint16,
        )
    except UnusableImageError as error:
        if error.damaged:
            raise InputError(
                f"{damaged_image_message(repr(path), error)}. Received: path={path!r}"
            ) from None
        if error.kind in ("too large", "unsupported"):  # the reason says the fix
            raise InputError(f"Could not read {path!r} ({error}). Received: path={path!r}") from None
        raise InputError(
            f"Could not read {path!r} as an image ({error}); pass a readable "
            f"{'/'.join(e[1:].upper() for e in IMAGE_EXTENSIONS)} file. Received: path={path!r}"
        ) from None
    return _to_value_range(array, value_range)


def load_images(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    size: int | tuple[int, int] | None = None,
    value_range: Sequence[float] = (0.0, 1.0),
) -> np.ndarray:
    """Reads files, folders or glob patterns into one float32 batch ``(N, H, W, 3)``.

    Args:
        inputs: as for :func:`list_images`.
        size: ``None``: every image must already have the same size; an int: the
            shorter side is resized to ``size`` and the centre ``size`` x ``size``
            square is kept (as ``image_folder_dataset(crop="center")``);
            ``(height, width)``: resized exactly.
        value_range: ``(low, high)`` of the result.

    Returns:
        ``(N, H, W, 3)`` float32 array in ``value_range``, in :func:`list_images` order.

    Raises:
        ValueError: if an input is missing, a file is unreadable, or sizes differ
            with ``size=None``.

    Example:
        >>> load_images("photos/", size=32).shape  # four 64 x 64 photos
        (4, 32, 32, 3)
    """
    value_range = check_value_range(value_range)
    size = _check_size_arg(size)
    arrays = []
    for path in list_images(inputs):
        array = load_image(path, size=size, value_range=value_range)
        if isinstance(size, int):
            top = (array.shape[0] - size) // 2
            left = (array.shape[1] - size) // 2
            array = array[top : top + size, left : left + size]
        arrays.append(array)
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise InputError(
            f"The images have different sizes {shapes[:3]}; pass size=N (shorter side, centre "
            f"crop) or size=(height, width), or read them one by one with load_image. "
            f"Received: size={size!r}"
        )
    return np.stack(arrays)


# --------------------------------------------------------------------------
# Image arguments to arrays: the one rule for every entry point.
# --------------------------------------------------------------------------


def image_array(
    image: Any,
    value_range: Sequence[float] = (0.0, 1.0),
    name: str = "image",
    clip: bool = False,
) -> np.ndarray:
    """Turns one image argument (a file path, an array or a tensor) into a float32 array.

    The one rule every entry point that takes an image follows (style images of the
    losses, :func:`~keras_perceptual.inference.stylize` and ``upscale``, ...):

    * a path (``str`` or ``os.PathLike``) is decoded by :func:`load_image` (EXIF
      orientation applied, 16-bit kept to float precision, palette, alpha, CMYK and
      grayscale converted to RGB) into ``value_range``;
    * numpy arrays, nested lists, ``tf.Tensor``, ``tf.Variable``, ``keras.Variable``
      and JAX arrays of dtype float16, bfloat16, float32 or float64 are converted to
      float32;
    * refused, each with a message giving the fix: integer and boolean images (a
      ``uint8`` image read as floats in [0, 255] would silently be wrong: divide by
      255, or pass the file path), NaN or infinite pixels, values outside
      ``value_range`` (by more than 1e-3 of its width), and shapes other than
      ``(H, W, 3)`` and ``(1, H, W, 3)``, or with no pixels (a height or width of 0).

    Args:
        image: the image argument.
        value_range: ``(low, high)`` the pixels are (or, for a path, are mapped) in.
        name: the argument's name, for messages.
        clip: clip values outside ``value_range`` instead of refusing them (for images
            a network produced, about to be written).

    Returns:
        ``(H, W, 3)`` float32 numpy array in ``value_range``.

    Raises:
        InputError: for every refused input above, for unreadable files, and for a
            ``clip`` that is not a bool.

    Example:
        >>> image_array(np.zeros((1, 4, 4, 3), "float16")).dtype
        dtype('float32')
    """
    value_range = check_value_range(value_range)
    clip = check_flag(clip, "clip")
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, value_range=value_range)
    not_an_image = InputError(
        f"{name} must be an image file path or an RGB array/tensor (H, W, 3) in "
        f"value_range={value_range}. Received: {name}={image!r:.80}"
    )
    if image is None or isinstance(image, (bytes, dict)):
        raise not_an_image
    if not isinstance(image, (np.ndarray, list, tuple)):
        import keras  # backend tensors and variables; not needed for numpy inputs

        try:
            image = keras.ops.convert_to_numpy(image)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            raise not_an_image from None
    array = np.asarray(image)
    check_float_dtype(array, name, value_range)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        hint = ""
        if array.ndim == 3 and array.shape[-1] == 4:
            hint = " Drop the alpha channel with image[..., :3]."
        elif array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1):
            hint = " Repeat a grey image into RGB with np.repeat(image.reshape(h, w, 1), 3, axis=-1)."
        raise InputError(
            f"{name} must be one RGB image of shape (height, width, 3) or (1, height, width, "
            f"3), or an image file path.{hint} Received: {name}.shape={array.shape}"
        )
    if array.size == 0:
        raise InputError(
            f"{name} has no pixels; expected an RGB image of at least 1x1 pixels: check how "
            f"it was cropped or read. Received: {name}.shape={array.shape}"
        )
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise InputError(
            f"{name} contains NaN or infinite pixels; expected finite values in value_range="
            f"{value_range}. Received: {name} with non-finite values"
        )
    low, high = value_range
    if clip:
        return np.clip(array, low, high)
    tolerance = 1e-3 * (high - low)
    smallest, largest = float(array.min(initial=low)), float(array.max(initial=high))
    if smallest < low - tolerance or largest > high + tolerance:
        raise InputError(
            f"{name} values span [{array.min():.4g}, {array.max():.4g}], outside "
            f"value_range={value_range}; rescale the image (e.g. / 255.0) or pass the "
            f"matching value_range. Received: {name} range=[{array.min():.4g}, "
            f"{array.max():.4g}]"
        )
    return array


def image_arrays(
    images: Any, value_range: Sequence[float] = (0.0, 1.0), name: str = "images"
) -> list[np.ndarray]:
    """Turns a list of image arguments (sizes may differ) into float32 arrays.

    Each item follows :func:`image_array` (paths, arrays, tensors; named ``name[i]`` in
    messages). Used where a set of images is one argument, e.g. the style images of a
    multi-style loss or of an arbitrary-style blend.

    Args:
        images: a non-empty list or tuple of image arguments.
        value_range: ``(low, high)`` of the pixels.
        name: the argument's name, for messages.

    Returns:
        A list of ``(H, W, 3)`` float32 arrays.

    Raises:
        InputError: not a non-empty list or tuple (a single path or array included), or a
            refused item.

    Example:
        >>> [a.shape for a in image_arrays([np.zeros((4, 5, 3)), np.ones((6, 6, 3))])]
        [(4, 5, 3), (6, 6, 3)]
    """
    if not isinstance(images, (list, tuple)) or not images:
        raise InputError(
            f"{name} must be a non-empty list of images (arrays (H, W, 3) or paths). "
            f"Received: {name}={images!r:.80}"
        )
    return [image_array(item, value_range, f"{name}[{i}]") for i, item in enumerate(images)]
