"""Scanning an image folder once, without TensorFlow: the usable files and the rest.

:func:`scan_images` finds the usable images under a folder (recursive) and returns a
:class:`ScanResult` (``paths``, ``skipped``, ``ignored``) that the input pipelines
(``tf.data`` in :mod:`keras_perceptual.data`, ``PyDataset`` in
:mod:`keras_perceptual.pydata`) and the command line share.

``scan_images`` reads each candidate once (``verify=True``: a full decode, on a thread
pool) and skips files that are corrupt, truncated, not images, or smaller than
``min_size`` pixels on their shorter side. They are listed in ``ScanResult.skipped`` and
reported **once** per scan as a :class:`SkippedImagesWarning` (a ``UserWarning``,
attributed to the calling line outside this package) that gives the count, the reasons
and the first few paths. Files without an image extension (``.txt``, ``.json``,
``Thumbs.db``) are only counted (``ScanResult.ignored``). Files that fail later, inside a
pipeline, are counted in ``ScanResult.runtime_skipped`` (a :class:`SkipLog`), and each
failing file is named once in a warning through :mod:`logging`
(:func:`log_runtime_failure`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from keras_perceptual._checks import (
    check_flag,
    check_path,
    check_positive_int,
    unexpanded_home_hint,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import (
    IMAGE_EXTENSIONS,
    UnusableImageError,
    check_image_file,
    walk_images,
)

#: How many skipped paths the warning lists.
MAX_LISTED = 5


class SkippedImagesWarning(UserWarning):
    """Some image files could not be used and were skipped (see :func:`scan_images`)."""


class SkippedFile(NamedTuple):
    """A file left out of a dataset, and why (``"corrupt: ..."``, ``"too small: ..."``)."""

    path: str
    reason: str


class SkipLog:
    """Thread-safe record of the files that failed inside a running pipeline."""

    def __init__(self, total: int):
        self._lock = threading.Lock()
        self._entries: list[SkippedFile] = []
        self._failed: set[str] = set()
        self._total = total

    def add(self, path: str, reason: str) -> tuple[bool, bool]:
        """Records a failure; returns ``(first_failure, every_file_failed)``."""
        with self._lock:
            self._entries.append(SkippedFile(path, reason))
            self._failed.add(path)
            return len(self._entries) == 1, len(self._failed) >= self._total

    def record(self, path: str, reason: str) -> tuple[bool, bool]:
        """Records a failure as :meth:`add` does; returns ``(first_failure_of_this_file,
        every_file_failed)``."""
        with self._lock:
            new = path not in self._failed
            self._entries.append(SkippedFile(path, reason))
            self._failed.add(path)
            return new, len(self._failed) >= self._total

    @property
    def count(self) -> int:
        """Number of failed decodes so far (a file failing in two epochs counts twice)."""
        with self._lock:
            return len(self._entries)

    @property
    def entries(self) -> list[SkippedFile]:
        """The failures so far, in the order they happened."""
        with self._lock:
            return list(self._entries)

    @property
    def paths(self) -> list[str]:
        """The distinct files that failed so far, sorted."""
        with self._lock:
            return sorted(self._failed)

    def __repr__(self) -> str:
        return f"SkipLog(count={self.count})"


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan_images` found under a folder.

    Attributes:
        directory: the folder scanned.
        paths: the usable image files, sorted.
        skipped: ``SkippedFile(path, reason)`` for image-extension files that were left out.
        ignored: number of files without an image extension (not reported otherwise).
        min_size: the smallest shorter side accepted, in pixels.
        runtime_skipped: failures of datasets built from this scan, while they run.
    """

    directory: str
    paths: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    ignored: int
    min_size: int
    runtime_skipped: SkipLog = field(compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    def summary(self) -> str:
        """One paragraph for people: counts, reasons, the first few skipped paths."""
        total = len(self.paths) + len(self.skipped)
        text = f"{len(self.paths)} usable of {total} image files under {self.directory!r}"
        if self.skipped:
            reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
            counts = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
            listed = "; ".join(
                f"{os.path.relpath(s.path, self.directory)!r} ({s.reason})"
                for s in self.skipped[:MAX_LISTED]
            )
            more = len(self.skipped) - MAX_LISTED
            text += f"; skipped {len(self.skipped)} ({counts}): {listed}"
            if more > 0:
                text += f"; and {more} more (see ScanResult.skipped)"
        if self.ignored:
            text += (
                f"; ignored {self.ignored} file(s) without an image extension "
                f"({'/'.join(IMAGE_EXTENSIONS)})"
            )
        return text + "."


def log_runtime_failure(log: SkipLog, path: str, reason: str, logger: logging.Logger) -> bool:
    """Records in ``log`` that ``path`` failed to decode while a pipeline ran, and logs a
    warning through ``logger`` naming the file and the reason the first time that file fails
    (a file failing every epoch is named once; every failure is counted in ``log``).

    Both pipelines (``tf.data`` and ``PyDataset``) report through it, so the same failure
    reads the same on both; a warning through ``logging`` rather than ``warnings``, as it
    runs on a pipeline thread where a warnings filter set to ``"error"`` would end training.

    Returns:
        Whether every file of the log has now failed (the caller then raises).

    Example:
        >>> log = SkipLog(total=2)
        >>> log_runtime_failure(log, "a.png", "truncated: ...", logging.getLogger("demo"))
        False
        >>> log.paths
        ['a.png']
    """
    first, every_file_failed = log.record(path, reason)
    if first and not every_file_failed:
        logger.warning(
            "Skipping %r: it could not be decoded during training (%s); the next image takes "
            "its place. Each failing file is named once; every failure is counted in "
            "ScanResult.runtime_skipped.",
            path,
            reason,
        )
    return every_file_failed


def _warn_at_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first caller outside this package (the user's
    line, whichever of our functions it went through)."""
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("keras_perceptual"):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _check_directory(directory: Any) -> str:
    if not isinstance(directory, (str, os.PathLike)):
        raise InputError(
            "directory must be the path of a folder of images (str or pathlib.Path). "
            f"Received: directory={directory!r}"
        )
    path = os.fspath(directory)
    if os.path.isfile(path):
        raise InputError(
            f"{path!r} is a file; pass the folder that holds the training images (use "
            f"load_image for a single file). Received: directory={path!r}"
        )
    if not os.path.isdir(path):
        raise InputError(
            f"Image folder {path!r} does not exist; check the path.{unexpanded_home_hint(path)} "
            f"Received: directory={path!r}"
        )
    return path


def _scan(directory, min_size, verify, warn, num_workers, exclude) -> ScanResult:
    directory = _check_directory(directory)
    min_size = check_positive_int(min_size, "min_size")
    verify = check_flag(verify, "verify")
    warn = check_flag(warn, "warn")
    if num_workers is not None:
        num_workers = check_positive_int(num_workers, "num_workers")
    if exclude is None or isinstance(exclude, (str, os.PathLike)):
        exclude = [] if exclude is None else [exclude]
    if not isinstance(exclude, (list, tuple, set, frozenset)):
        raise InputError(
            "exclude must be a folder path or a list of them, e.g. exclude=['photos/runs']. "
            f"Received: exclude={exclude!r:.100}"
        )
    exclude = [check_path(path, "exclude", "photos/runs") for path in exclude]
    candidates, ignored = walk_images(directory, exclude)

    def check(path: str) -> str | None:
        try:
            check_image_file(path, min_size, decode=verify)
        except UnusableImageError as error:
            return str(error)
        return None

    workers = num_workers or min(16, (os.cpu_count() or 1) + 4)
    if len(candidates) > 1 and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL
            reasons = list(pool.map(check, candidates))
    else:
        reasons = [check(path) for path in candidates]
    paths = tuple(p for p, r in zip(candidates, reasons, strict=True) if r is None)
    skipped = tuple(
        SkippedFile(p, r) for p, r in zip(candidates, reasons, strict=True) if r is not None
    )
    result = ScanResult(directory, paths, skipped, ignored, min_size, SkipLog(len(paths)))
    if not paths:
        raise InputError(
            f"No usable image under {directory!r}: {result.summary()} Add readable "
            f"{'/'.join(IMAGE_EXTENSIONS)} files whose shorter side is at least min_size="
            f"{min_size} px (or lower min_size). Received: directory={directory!r}"
        )
    if skipped and warn:
        _warn_at_caller(
            f"Skipped image files that cannot be used: {result.summary()} Fix or remove "
            "them (or change min_size) to silence this warning.",
            SkippedImagesWarning,
        )
    return result


def scan_images(
    directory: str | os.PathLike,
    *,
    min_size: int = 1,
    verify: bool = True,
    warn: bool = True,
    num_workers: int | None = None,
    exclude: str | os.PathLike | Sequence[str | os.PathLike] = (),
) -> ScanResult:
    """Finds the usable images under ``directory``, recursively.

    Files with an image extension (``.jpg .jpeg .png .bmp .gif .webp .tif .tiff``, any case)
    are opened with Pillow; corrupt, truncated and non-image files, and images whose
    shorter side is below ``min_size``, are skipped and listed with a reason. Other
    files are only counted (``ignored``).

    Args:
        directory: the folder to scan (sub-folders included; symlinked folders are
            not followed).
        min_size: smallest accepted shorter side, in pixels.
        verify: ``True`` decodes every file (on a thread pool) to find corrupt and
            truncated data now; ``False`` reads headers only (fast for very large
            folders: bad data is then found, skipped and counted while training).
        warn: issue one :class:`SkippedImagesWarning` if any file was skipped
            (callers that print :meth:`ScanResult.summary` themselves pass ``False``).
        num_workers: threads for ``verify`` (default: CPU count + 4, at most 16).
        exclude: folders under ``directory`` to leave out (a path, a list of paths, or
            ``None`` for none), e.g. a training run's output folder kept inside its photos
            folder (its sample grids are not photos).

    Returns:
        A :class:`ScanResult` with the usable ``paths`` (sorted) and the ``skipped`` files.

    Raises:
        ValueError: if ``directory`` is missing or a file, or holds no usable image
            (:class:`~keras_perceptual.errors.InputError`), or ``exclude`` is not paths.

    Example:
        >>> scan = scan_images("photos", min_size=32)  # four 64 x 64 photos
        >>> len(scan.paths), len(scan.skipped)
        (4, 0)
    """
    return _scan(directory, min_size, verify, warn, num_workers, exclude)


__all__ = [
    "MAX_LISTED",
    "ScanResult",
    "SkipLog",
    "SkippedFile",
    "SkippedImagesWarning",
    "log_runtime_failure",
    "scan_images",
]
