"""Input pipelines: image folders as ``tf.data`` datasets, and the paper's SR degradation.

One place for each thing:

* :func:`scan_images`: find the usable images under a folder (recursive), once.
  Returns a :class:`ScanResult` (``paths``, ``skipped``, ``ignored``) that the
  dataset and the command line share.
* :func:`image_folder_dataset`: batches of ``image_size`` x ``image_size`` RGB crops
  in ``value_range``, decoded in parallel, shuffled and cropped reproducibly for a
  given ``seed``.
* :func:`style_transfer_pairs` / :func:`super_resolution_pairs`: turn such a
  dataset into the ``(x, y)`` pairs ``model.fit`` needs: ``(content, content)`` for
  style transfer, ``(low_res, high_res)`` for super-resolution.
* :func:`sr_degrade`: the paper's degradation (Gaussian blur, sigma 1.0, then
  bicubic down-sampling) on numpy arrays or tensors.
* :func:`list_images`, :func:`load_image`, :func:`load_images`: files, folders and
  glob patterns to numpy arrays (command line, demo, notebooks, inference).

Decoding
--------
Every image is decoded by Pillow (in :func:`tf.numpy_function`, parallel with
``num_parallel_calls=AUTOTUNE``; Pillow releases the GIL while it decodes and
resizes), not by ``tf.io.decode_image``:

* one decoder for every format: ``tf.io`` cannot decode WebP or TIFF, and mixing
  two decoders would make the scan and the pipeline disagree about what is readable;
* a file that cannot be read, even one deleted or damaged *after* the scan,
  becomes an ``ok=False`` element that a ``filter`` drops and that is counted in
  :attr:`ScanResult.runtime_skipped`; ``tf.io.read_file`` / ``decode_image`` would
  raise inside the graph and end training, and ``Dataset.ignore_errors()`` would
  drop them silently, uncounted, together with genuine bugs;
* RGB conversion that handles what photo folders contain, by the one decoding contract
  of :func:`keras_perceptual.images.read_rgb` (the same image at every entry point):
  grayscale (expanded), alpha (dropped), palettes, CMYK, 16-bit PNGs and grayscale TIFFs
  (kept to 16 bits: the pipeline carries uint16), the EXIF (or TIFF) orientation of camera
  photos, the first frame of GIF / animated WebP and the first page of a multi-page TIFF;
* large JPEGs are decoded at a reduced DCT scale (``Image.draft``) that still
  covers the requested size, several times faster for camera photos.

The cost: the pipeline holds a Python function, so it cannot be serialized into
a graph (``tf.data`` service, TPU input on remote hosts). Paths must be local
files.

Skipped files
-------------
``scan_images`` reads each candidate once (``verify=True``: a full decode, on a
thread pool) and skips files that are corrupt, truncated, not images, or smaller
than ``min_size`` pixels on their shorter side. They are listed in
``ScanResult.skipped`` and reported **once** per scan as a
:class:`SkippedImagesWarning` (a ``UserWarning``, attributed to the calling line
outside this package) that gives the count, the reasons and the first few paths. Files without an image extension (``.txt``,
``.json``, ``Thumbs.db``) are only counted (``ScanResult.ignored``): sidecar files
are normal in photo folders and would make the warning appear on every run.
Files that fail later, inside the pipeline, are dropped, counted in
``ScanResult.runtime_skipped`` and each failing file is named once (its first
failure) through the ``logging`` logger ``keras_perceptual.data`` (a Python warning there would run on a ``tf.data``
thread, where a warnings filter set to ``"error"`` would end training). If every
image of the scan has failed, the pipeline stops with an error rather than
looping forever.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_perceptual._checks import (
    check_choice,
    check_flag,
    check_float_dtype,
    check_patch_size,
    check_positive_int,
    check_seed,
    check_sigma,
    check_value_range,
    is_bool,
)
from keras_perceptual.errors import DataError, InputError
from keras_perceptual.images import (
    IMAGE_EXTENSIONS,
    UnusableImageError,
    list_images,
    load_image,
    load_images,
    read_rgb,
)
from keras_perceptual.ops import from_uint16, gaussian_kernel
from keras_perceptual.ops import sr_degrade as sr_degrade_op
from keras_perceptual.scan import (
    MAX_LISTED,
    ScanResult,
    SkipLog,
    SkippedFile,
    SkippedImagesWarning,
    log_runtime_failure,
    scan_images,
)

CROPS = ("random", "center")

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# The training dataset.
# --------------------------------------------------------------------------


def _decode_in_pipeline(scan: ScanResult, shorter_side: int | None, at_least: int):
    """Returns the ``numpy_function`` body: path bytes -> (uint16 image, ok flag).

    uint16 (``read_rgb(dtype=np.uint16)``): 16-bit images keep their precision and 8-bit
    ones are exact (``v * 257``), at twice the memory of uint8 in a cache.
    """
    placeholder = np.zeros((at_least, at_least, 3), np.uint16)

    def decode(path_bytes) -> tuple[np.ndarray, np.bool_]:
        path = os.fsdecode(bytes(path_bytes))
        try:
            image = read_rgb(
                path, shorter_side=shorter_side, at_least=at_least, dtype=np.uint16
            )
            if min(image.shape[:2]) < at_least:  # cannot happen; keeps crops safe
                raise UnusableImageError(f"too small: decoded to {image.shape[1]}x{image.shape[0]}")
            return image, np.bool_(True)
        except UnusableImageError as error:
            if log_runtime_failure(scan.runtime_skipped, path, str(error), logger):
                raise DataError(
                    f"Every one of the {len(scan.paths)} images found under "
                    f"{scan.directory!r} has failed to decode since the scan (last: {path!r}, "
                    f"{error}); was the folder moved or a drive unmounted? Scan it again."
                ) from None
            return placeholder, np.bool_(False)

    return decode


def _is_ok(image, ok):
    return ok


def _drop_ok(image, ok):
    return image


def _duplicate(x):
    return x, x


def image_folder_dataset(
    directory: str | os.PathLike | ScanResult,
    image_size: int = 256,
    batch_size: int = 4,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    repeat: bool = True,
    cache: bool | str | os.PathLike = False,
    crop: str = "random",
    resize: bool | int = True,
    min_size: int | None = None,
    verify: bool = True,
    value_range: Sequence[float] = (0.0, 1.0),
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Batches of square RGB crops from every image under a folder, as a ``tf.data.Dataset``.

    Each image is decoded (in parallel), its shorter side resized to ``image_size``
    keeping the aspect ratio (bicubic, anti-aliased), and an ``image_size`` x
    ``image_size`` square cropped from it, at random or from the centre. The paper
    trains style transfer on 256 x 256 images of MS-COCO and super-resolution on
    288 x 288 patches; the authors' code (fast-neural-style,
    ``scripts/make_style_dataset.py``) resizes COCO images to 256 x 256 without
    keeping the aspect ratio, where this crops instead so nothing is distorted.

    Reproducible: for a given ``seed`` the file order of every epoch and every crop
    are the same from run to run (crops use stateless random ops keyed by
    ``(seed, element index)``, the order a seeded shuffle; the parallel decode keeps
    the order). ``seed=None`` draws a fresh seed.

    Unusable files are skipped, counted and reported once (see :func:`scan_images`;
    failures while running are counted in ``ScanResult.runtime_skipped``).

    Args:
        directory: a folder (scanned with :func:`scan_images`), or a
            :class:`ScanResult` from an earlier scan (not scanned or reported again).
        image_size: side of the square crops, in pixels (paper: 256 for style transfer,
            288 for super-resolution).
        batch_size: images per batch (paper: 4). With ``repeat=True`` every batch is
            full (static batch size); without, the last one may be smaller.
        shuffle: shuffle the file order each epoch.
        seed: seed for the file order and the crops.
        repeat: repeat forever (use ``steps_per_epoch`` / ``steps`` in ``fit``).
        cache: ``False``; ``True`` keeps the decoded, resized images in memory
            (small folders); a file path caches them on disk. The random crop is taken
            after the cache, so it still changes every epoch.
        crop: ``"random"`` (training) or ``"center"`` (evaluation).
        resize: ``True`` resizes the shorter side to ``image_size``; an int ``>=
            image_size`` resizes it to that length (crops then cover less of the
            image); ``False`` crops from the full-resolution image (images smaller
            than ``image_size`` are enlarged).
        min_size: images whose shorter side is below this many pixels are skipped.
            Default ``image_size``: training images are never enlarged, which would
            teach blur. Not allowed with a ``ScanResult`` (the scan applied its own).
        verify: passed to :func:`scan_images` when ``directory`` is a folder.
        value_range: ``(low, high)`` the pixels (0..255, or 0..65535 for 16-bit PNGs) are
            mapped to.
        shuffle_buffer: elements in the shuffle buffer; default all images (free for
            paths and for the in-memory cache; lower it with an on-disk ``cache``).

    Returns:
        A dataset of float32 ``(batch, image_size, image_size, 3)`` tensors in
        ``value_range``, prefetched.

    Raises:
        ValueError: for a missing folder, a file, no usable image, or bad arguments.

    Example:
        >>> ds = image_folder_dataset("photos", image_size=32, batch_size=2, seed=0)
        >>> tuple(next(iter(ds)).shape)  # the paper: image_size=256, batch_size=4 on COCO
        (2, 32, 32, 3)

    References:
        Johnson et al., ECCV 2016, Sections 4.1 (style transfer: 256 x 256 COCO images,
        batch 4) and 4.2 (super-resolution: 288 x 288 patches).
    """
    image_size = check_positive_int(image_size, "image_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    crop = check_choice(crop, CROPS, "crop")
    shuffle = check_flag(shuffle, "shuffle")
    repeat = check_flag(repeat, "repeat")
    verify = check_flag(verify, "verify")
    value_range = check_value_range(value_range)
    if seed is not None:
        seed = check_seed(seed)
    if shuffle_buffer is not None:
        shuffle_buffer = check_positive_int(shuffle_buffer, "shuffle_buffer")
    if is_bool(resize):
        shorter_side = image_size if resize else None
    elif isinstance(resize, (int, np.integer)) and resize >= image_size:
        shorter_side = int(resize)
    else:
        raise InputError(
            f"resize must be True (shorter side to image_size={image_size}), False (crop from "
            f"full resolution) or an integer >= image_size. Received: resize={resize!r}"
        )
    if is_bool(cache):
        cache = bool(cache)
    elif not isinstance(cache, (str, os.PathLike)):
        raise InputError(
            f"cache must be False, True (in memory) or a file path (on disk). Received: "
            f"cache={cache!r}"
        )
    if isinstance(cache, (str, os.PathLike)):
        cache = os.fspath(cache)
        parent = os.path.dirname(os.path.abspath(cache))
        if not cache or not os.path.isdir(parent):
            raise InputError(
                f"cache={cache!r} must be a file path in an existing folder; create {parent!r} "
                f"first or pass cache=True. Received: cache={cache!r}"
            )

    if isinstance(directory, ScanResult):
        if min_size is not None:
            raise InputError(
                "min_size cannot be combined with a ScanResult, whose scan already applied "
                f"min_size={directory.min_size}; pass min_size to scan_images instead. "
                f"Received: min_size={min_size!r}"
            )
        scan = directory
    else:
        min_size = image_size if min_size is None else min_size
        scan = scan_images(directory, min_size=min_size, verify=verify)

    seed = secrets.randbits(31) if seed is None else seed
    count = len(scan.paths)
    decode = _decode_in_pipeline(scan, shorter_side, at_least=image_size)

    def decode_map(path):
        image, ok = tf.numpy_function(decode, [path], (tf.uint16, tf.bool), name="decode_image")
        image.set_shape((None, None, 3))
        ok.set_shape(())
        return image, ok

    autotune = tf.data.AUTOTUNE
    paths = tf.data.Dataset.from_tensor_slices(
        tf.constant([os.fsencode(p) for p in scan.paths], dtype=tf.string)
    )
    if cache is False:
        if shuffle:
            paths = paths.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            paths = paths.repeat()
    images = paths.map(decode_map, num_parallel_calls=autotune, deterministic=True)
    images = images.filter(_is_ok).map(_drop_ok)
    if cache is not False:
        images = images.cache("" if cache is True else cache)
        if shuffle:
            buffer = shuffle_buffer or count
            images = images.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            images = images.repeat()

    base_seed = tf.constant(seed, tf.int64)

    def crop_map(index, image):
        if crop == "random":
            image = tf.image.stateless_random_crop(
                image, (image_size, image_size, 3), seed=tf.stack([base_seed, index])
            )
        else:
            shape = tf.shape(image)
            top = (shape[0] - image_size) // 2
            left = (shape[1] - image_size) // 2
            image = image[top : top + image_size, left : left + image_size]
            image.set_shape((image_size, image_size, 3))
        return from_uint16(tf.cast(image, tf.float32), value_range)

    dataset = images.enumerate().map(crop_map, num_parallel_calls=autotune, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=repeat)
    return dataset.prefetch(autotune)


def style_transfer_pairs(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Maps a dataset of images ``x`` to ``(x, x)`` pairs for ``model.fit``.

    In style transfer the content target is the input image itself (Eq. 5 compares
    the output's features with the input's).

    Args:
        dataset: a dataset of image batches, e.g. from :func:`image_folder_dataset`.

    Returns:
        A dataset of ``(content, content)`` pairs.

    Example:
        >>> pairs = style_transfer_pairs(image_folder_dataset("photos", 32, batch_size=2, seed=0))
        >>> x, y = next(iter(pairs))  # net.fit(pairs, steps_per_epoch=...) trains on them
        >>> bool(np.all(x == y))
        True
    """
    _check_image_dataset(dataset, "style_transfer_pairs")
    return dataset.map(_duplicate)


# --------------------------------------------------------------------------
# Super-resolution degradation (Section 4.2).
# --------------------------------------------------------------------------


def _degrade_tensor(images: tf.Tensor, scale: int, sigma: float, value_range) -> tf.Tensor:
    """``keras_perceptual.ops.sr_degrade`` on a rank-4 float32 tensor with static channels, with
    the divisibility check made at run time when sizes are unknown (``tf.data``)."""
    channels = images.shape[-1]
    height, width = images.shape[1], images.shape[2]
    if channels is None:
        raise InputError(
            "sr_degrade needs a known number of channels; set the dataset's shape (e.g. "
            "tf.ensure_shape). Received: images.shape=" + str(tuple(images.shape))
        )
    if height is None or width is None:  # static sizes are checked by the op itself
        shape = tf.shape(images)
        checks = [
            tf.debugging.assert_equal(
                shape[1:3] % scale,
                0,
                message=f"image height and width must be divisible by scale={scale}",
            )
        ]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
    low = sr_degrade_op(images, scale, sigma=sigma, value_range=value_range)
    if height is not None and width is not None:
        low.set_shape((images.shape[0], height // scale, width // scale, channels))
    return low


def sr_degrade(
    images,
    scale: int,
    sigma: float = 1.0,
    value_range: Sequence[float] = (0.0, 1.0),
):
    """The paper's low-resolution inputs: Gaussian blur (sigma 1.0), then bicubic down-sampling.

    Blur: a fixed depthwise convolution with a normalized ``2 ceil(3 sigma) + 1`` tap
    Gaussian (7 x 7 for sigma 1.0) after reflection padding of ``ceil(3 sigma)``
    pixels (``tf.pad(mode="REFLECT")``, the edge pixel not repeated), so borders are
    not darkened and the output keeps the input's size. Down-sampling:
    ``tf.image.resize(method="bicubic", antialias=False)`` to ``1/scale`` of each side
    (Keys cubic, ``a = -0.5``, half-pixel centres, taps outside the image dropped). The
    paper names exactly two steps, a sigma 1.0 Gaussian blur and bicubic interpolation,
    so the blur is the degradation's only low-pass filter: it removes the frequencies
    that alias most, and an anti-aliased resize would add a second, scale-dependent
    blur (a wider one at x8 than at x4) and give a different degradation from the
    paper's. Some aliasing remains at x4 / x8 (a sigma 1.0 Gaussian keeps about 73% of
    the amplitude at the x4 Nyquist frequency); that is part of the paper's setting,
    and models trained on it expect it. Results are clipped to
    ``value_range`` (bicubic overshoots at edges). Both steps are linear with
    weights summing to one, so they work in any ``value_range`` directly.

    Args:
        images: ``(H, W, C)`` or ``(B, H, W, C)`` float images in ``value_range``: a
            numpy array (or anything ``np.asarray`` accepts) or a ``tf.Tensor`` (also
            inside ``tf.data`` / ``tf.function``). ``H`` and ``W`` divisible by ``scale``.
        scale: down-sampling factor (the paper: 4 and 8).
        sigma: standard deviation of the blur in pixels (paper: 1.0; 0 disables it).
        value_range: ``(low, high)`` of the images.

    Returns:
        float32 ``(..., H / scale, W / scale, C)``: a numpy array for numpy-like input,
        a ``tf.Tensor`` for tensor input.

    Example:
        >>> sr_degrade(np.random.rand(288, 288, 3).astype("float32"), scale=4).shape
        (72, 72, 3)

    References:
        Johnson et al., ECCV 2016, Section 4.2: "we prepare low-resolution inputs by
        blurring with a Gaussian kernel of width sigma = 1.0 and downsampling with
        bicubic interpolation".
    """
    scale = check_positive_int(scale, "scale")
    sigma = check_sigma(sigma)
    value_range = check_value_range(value_range)
    as_tensor = isinstance(images, tf.Tensor)
    if not as_tensor:
        images = np.asarray(images)
    check_float_dtype(images, "images", value_range)
    rank = len(images.shape)
    if rank not in (3, 4):
        raise InputError(
            "sr_degrade expects an image (height, width, channels) or a batch (batch, height, "
            f"width, channels). Received: images.shape={tuple(images.shape)}"
        )
    tensor = tf.cast(tf.convert_to_tensor(images), tf.float32)
    if rank == 3:
        tensor = tensor[None]
    low = _degrade_tensor(tensor, scale, sigma, value_range)
    if rank == 3:
        low = low[0]
    return low if as_tensor else low.numpy()


def _check_image_dataset(dataset: Any, name: str) -> tf.TensorSpec:
    if not isinstance(dataset, tf.data.Dataset):
        raise InputError(
            f"{name} expects a tf.data.Dataset of images, e.g. from image_folder_dataset(). "
            f"Received: dataset={dataset!r}"
        )
    spec = dataset.element_spec
    if (
        not isinstance(spec, tf.TensorSpec)
        or spec.shape.rank not in (3, 4)
        or spec.shape[-1] != 3
        or not spec.dtype.is_floating
    ):
        raise InputError(
            f"{name} expects a dataset whose elements are float RGB images (batch, height, "
            f"width, 3) or (height, width, 3), as image_folder_dataset() yields; pass that "
            f"dataset, not (x, y) pairs. Received: element_spec={spec!r}"
        )
    return spec


def super_resolution_pairs(
    dataset: tf.data.Dataset,
    scale: int,
    patch_size: int = 288,
    *,
    sigma: float = 1.0,
    value_range: Sequence[float] = (0.0, 1.0),
) -> tf.data.Dataset:
    """Maps high-resolution patches to ``(low_res, high_res)`` pairs with :func:`sr_degrade`.

    ``high_res`` is the dataset's ``patch_size`` x ``patch_size`` image, ``low_res``
    the paper's degradation of it, ``patch_size / scale`` pixels on a side.

    Args:
        dataset: images (batched or not) of ``patch_size`` x ``patch_size`` pixels,
            e.g. ``image_folder_dataset(folder, image_size=patch_size)``.
        scale: up-sampling factor the model learns (paper: 4 or 8).
        patch_size: side of the high-resolution patches (paper: 288); divisible by ``scale``.
        sigma: the blur's standard deviation (paper: 1.0).
        value_range: ``(low, high)`` of the images.

    Returns:
        A dataset of ``(low_res, high_res)`` float32 pairs, prefetched.

    Raises:
        ValueError: if ``patch_size`` is not divisible by ``scale`` or the dataset's
            images are not ``patch_size`` pixels on a side.

    Example:
        >>> hr = image_folder_dataset("photos", image_size=32, batch_size=2, seed=0)
        >>> low, high = next(iter(super_resolution_pairs(hr, scale=4, patch_size=32)))
        >>> tuple(low.shape), tuple(high.shape)  # the paper: 288 x 288 patches
        ((2, 8, 8, 3), (2, 32, 32, 3))

    References:
        Johnson et al., ECCV 2016, Section 4.2.
    """
    scale = check_positive_int(scale, "scale")
    patch_size = check_patch_size(patch_size, scale)
    sigma = check_sigma(sigma)
    value_range = check_value_range(value_range)
    spec = _check_image_dataset(dataset, "super_resolution_pairs")
    height, width = spec.shape[-3], spec.shape[-2]
    if (height is not None and height != patch_size) or (width is not None and width != patch_size):
        raise InputError(
            f"super_resolution_pairs got {height}x{width} images but patch_size={patch_size}; "
            f"build the dataset with image_size={patch_size} (or pass patch_size={height}). "
            f"Received: element_spec={spec!r}"
        )
    if height is None or width is None:
        shape = [None] * (spec.shape.rank - 3) + [patch_size, patch_size, 3]
        dataset = dataset.map(lambda x: tf.ensure_shape(x, shape))

    def to_pair(high):
        high = tf.cast(high, tf.float32)
        return sr_degrade(high, scale, sigma, value_range), high

    pairs = dataset.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return pairs.prefetch(tf.data.AUTOTUNE)


__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_LISTED",
    "ScanResult",
    "SkipLog",
    "SkippedFile",
    "SkippedImagesWarning",
    "gaussian_kernel",
    "image_folder_dataset",
    "list_images",
    "load_image",
    "load_images",
    "scan_images",
    "sr_degrade",
    "style_transfer_pairs",
    "super_resolution_pairs",
]
