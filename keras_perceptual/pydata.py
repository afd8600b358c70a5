"""Input pipelines without TensorFlow: ``keras.utils.PyDataset`` batches of random crops.

The JAX training path (:class:`~keras_perceptual.training.platforms.JaxPlatform`) runs
where TensorFlow is not installed, so it cannot use ``tf.data``
(:mod:`keras_perceptual.data`). :class:`RandomCrops` gives the same kind of batches:
square random crops of the scanned images, decoded by the same Pillow reader
(:func:`keras_perceptual.images.read_rgb`: EXIF orientation applied, every mode to RGB,
the shorter side resized to the crop size), in ``value_range``, in parallel worker
threads (Pillow releases the GIL while it decodes and resizes) so the accelerator is
not starved, with an optional per-batch ``transform`` (e.g. the SR degradation, written
with ``keras.ops`` and therefore the same function on every backend).

Why ``PyDataset`` rather than ``grain``: it is part of Keras (no extra dependency, every
backend), its worker threads suffice for a decode-bound pipeline of a few images per
step, and ``fit`` consumes it directly. ``benchmarks/bench_data.py`` measures both
pipelines' images per second in one run.

Reproducibility. Batch ``k`` is a pure function of ``(seed, k)``: the images of epoch
``e`` (every image once) are a permutation drawn from ``(seed, e)``, and each crop's
position from ``(seed, sample index)``. Worker scheduling therefore never changes the
data, and each process of a multi-process run (``shard=(index, count)``) takes its own
slice of every global batch. The random streams differ from ``tf.data``'s (which uses
TensorFlow's shuffle and stateless crop kernels), so for the same seed the two paths
draw different crops of the same images: the same distribution, not the same batches
(``tests/test_pydata.py`` checks both); the SR degradation gives the same numbers on
both paths.

Decoding failures. A file that fails to decode while training (deleted or damaged after
the scan) is skipped: the next image of the order takes its place, the failure is counted
in the scan's ``runtime_skipped`` log (:attr:`RandomCrops.skipped`; a log of its own for a
list of paths), and each failing file is named once through the ``logging`` logger
``keras_perceptual.pydata``, as on the ``tf.data`` path. If every file has failed, the
pipeline raises :class:`~keras_perceptual.errors.DataError`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual._checks import (
    check_flag,
    check_positive_int,
    check_seed,
    check_value_range,
    is_bool,
)
from keras_perceptual.errors import DataError, InputError
from keras_perceptual.images import UnusableImageError, read_rgb
from keras_perceptual.ops import from_uint16
from keras_perceptual.scan import SkipLog, log_runtime_failure

logger = logging.getLogger(__name__)


def _stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent random stream for ``(seed, *keys)`` (NumPy's SeedSequence)."""
    return np.random.default_rng([seed, *keys])


def _scan_paths(scan: Any) -> list:
    """The image paths of ``RandomCrops``' ``scan`` argument (a ``ScanResult`` or a list of
    paths); one path (a folder or a file), which would be read as a sequence of one-letter
    paths, and lists of anything but paths are refused."""
    if isinstance(scan, (str, bytes, os.PathLike)):
        path = os.fsdecode(scan)
        how = (
            f"scan_images({path!r}) to find its images" if os.path.isdir(path)
            else f"[{path!r}] for one image"
        )
        raise InputError(
            "RandomCrops takes a ScanResult (from scan_images) or a list of image paths, not "
            f"one path; pass {how}. Received: scan={scan!r}"
        )
    try:
        paths = list(getattr(scan, "paths", scan))
    except TypeError:
        paths = None
    if paths is not None and all(isinstance(p, (str, os.PathLike)) for p in paths):
        return paths
    raise InputError(
        "RandomCrops takes a ScanResult (from scan_images) or a list of image file paths "
        f"(str or pathlib.Path). Received: scan={scan!r:.100}"
    )


class RandomCrops(keras.utils.PyDataset):
    """Infinite batches of ``image_size`` x ``image_size`` random crops, as a ``PyDataset``.

    Args:
        scan: a :class:`~keras_perceptual.data.ScanResult` (its ``paths`` are the images,
            its ``runtime_skipped`` log counts decoding failures) or a list of paths.
        image_size: side of the square crops, in pixels.
        batch_size: images per *global* batch (every process together).
        seed: seed of the image order and the crops, in ``[0, 2**31)``.
        value_range: ``(low, high)`` the pixels (0..255, or 0..65535 for 16-bit PNGs) are
            mapped to.
        cache: keep decoded (resized) images in memory (small folders).
        transform: ``transform(batch, index) -> (x, y)`` applied to each float32 batch
            ``(b, image_size, image_size, 3)`` (``index``: the batch's position in the
            stream); default ``(batch, batch)``.
        shard: ``(index, count)``: this process takes images ``index::count`` of every
            global batch (``batch_size`` must be divisible by ``count``).
        workers: decoding threads, an integer >= 1 (default: the CPU count, at most 16).
        max_queue_size: batches prepared ahead.
        start_batch: index of the first batch (a resumed run continues the stream).

    Raises:
        keras_perceptual.errors.InputError: bad arguments, no image, or ``scan`` neither a
            ``ScanResult`` nor a list of paths (one folder or file path is refused: pass
            ``scan_images(folder)`` or ``[path]``).

    Example:
        >>> from keras_perceptual.scan import scan_images
        >>> crops = RandomCrops(scan_images("photos"), image_size=32, batch_size=2, seed=0)
        >>> x, y = crops[0]
        >>> x.shape, y.shape
        ((2, 32, 32, 3), (2, 32, 32, 3))
    """

    def __init__(
        self,
        scan: Any,
        image_size: int,
        batch_size: int,
        *,
        seed: int,
        value_range: Sequence[float] = (0.0, 1.0),
        cache: bool = False,
        transform: Callable[[np.ndarray, int], Any] | None = None,
        shard: tuple[int, int] = (0, 1),
        workers: int | None = None,
        max_queue_size: int = 8,
        start_batch: int = 0,
    ):
        workers = min(16, os.cpu_count() or 1) if workers is None else workers
        workers = check_positive_int(workers, "workers")
        max_queue_size = check_positive_int(max_queue_size, "max_queue_size")
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        paths = _scan_paths(scan)
        if not paths:
            raise InputError(
                "RandomCrops needs at least one image; scan a folder that holds images. "
                f"Received: {len(paths)} paths"
            )
        self.paths = [os.fspath(p) for p in paths]
        skipped = getattr(scan, "runtime_skipped", None)
        self.skipped = skipped if isinstance(skipped, SkipLog) else SkipLog(len(self.paths))
        self.image_size = check_positive_int(image_size, "image_size")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.seed = check_seed(seed)
        self.value_range = check_value_range(value_range)
        if not (
            isinstance(shard, (tuple, list))
            and len(shard) == 2
            and all(isinstance(v, (int, np.integer)) and not is_bool(v) for v in shard)
        ):
            raise InputError(
                "shard must be a pair of integers (index, count), e.g. (0, 1) for one process. "
                f"Received: shard={shard!r}"
            )
        if transform is not None and not callable(transform):
            raise InputError(
                "transform must be None or a function transform(batch, index) -> (x, y). "
                f"Received: transform={transform!r:.100}"
            )
        index, count = shard
        if not (0 <= index < count) or self.batch_size % count:
            raise InputError(
                f"shard=(index, count) needs 0 <= index < count and batch_size divisible by "
                f"count. Received: shard={shard!r}, batch_size={batch_size}"
            )
        self.shard = (int(index), int(count))
        self.transform = transform
        self.start_batch = check_positive_int(start_batch, "start_batch", minimum=0)
        self._cache: dict[str, np.ndarray] | None = {} if check_flag(cache, "cache") else None
        self._failed: set[str] = set()
        self._lock = threading.Lock()
        self._orders: dict[int, np.ndarray] = {}

    @property
    def num_batches(self) -> None:
        """``None``: an infinite stream (``fit`` takes ``steps_per_epoch`` batches)."""
        return None

    def __len__(self) -> int:  # PyDataset requires it; ``num_batches`` says infinite
        raise TypeError("RandomCrops is infinite; use num_batches (None)")

    # ------------------------------------------------------------------
    def _order(self, epoch: int) -> np.ndarray:
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                order = _stream(self.seed, 0, epoch).permutation(len(self.paths))
                self._orders = {epoch: order, **{k: v for k, v in self._orders.items()
                                                 if k >= epoch - 1}}  # fmt: skip
            return order

    def _decode(self, path: str) -> np.ndarray:
        if self._cache is not None:
            image = self._cache.get(path)
            if image is not None:
                return image
        image = read_rgb(  # uint16: the tf.data pipeline's decoding (16-bit PNGs and TIFFs kept)
            path, shorter_side=self.image_size, at_least=self.image_size, dtype=np.uint16
        )
        if self._cache is not None:
            self._cache[path] = image
        return image

    def sample(self, index: int) -> np.ndarray:
        """The ``index``-th crop of the stream (float32 in ``value_range``)."""
        count = len(self.paths)
        position = index
        while True:
            epoch, slot = divmod(position, count)
            path = self.paths[self._order(epoch)[slot]]
            try:
                image = self._decode(path)
                break
            except UnusableImageError as error:
                with self._lock:
                    self._failed.add(path)
                    every_file_failed = len(self._failed) >= count
                log_runtime_failure(self.skipped, path, str(error), logger)
                if every_file_failed:
                    raise DataError(
                        f"Every one of the {count} images has failed to decode since the scan "
                        f"(last: {path!r}, {error}); was the folder moved or a drive unmounted? "
                        "Scan it again."
                    ) from None
                position += 1  # the next image of the order takes its place
        size = self.image_size
        rng = _stream(self.seed, 1, index)
        top = int(rng.integers(0, image.shape[0] - size + 1))
        left = int(rng.integers(0, image.shape[1] - size + 1))
        crop = image[top : top + size, left : left + size].astype(np.float32)
        return from_uint16(crop, self.value_range)

    def __getitem__(self, batch: int):
        index, count = self.shard
        local = self.batch_size // count
        first = (self.start_batch + batch) * self.batch_size + index * local
        images = np.stack([self.sample(first + i) for i in range(local)])
        if self.transform is None:
            return images, images
        x, y = self.transform(images, self.start_batch + batch)
        return keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)


__all__ = ["RandomCrops"]
