"""The exceptions the training recipes raise (all re-exported by :mod:`keras_perceptual.training`)."""

from __future__ import annotations


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss and was stopped (see :class:`StopOnNonFiniteLoss`)."""


class ResumeMismatchError(ValueError):
    """``output_dir`` holds a run whose settings differ from the ones given."""


class BackupError(OSError):
    """A backup folder exists but cannot be read or loaded into the model."""


class OutputWriteError(OSError):
    """An output (checkpoint, backup, log) could not be written: a full disk, a folder that
    became read-only, ... The file under its final name still holds its previous version.
    ``errno`` is the underlying error's (e.g. ``errno.ENOSPC``), ``filename`` the file."""

    def __str__(self) -> str:
        return str(self.strerror)


class WorkerFailedError(RuntimeError):
    """Another worker of a multi-worker run failed before training; see its own output."""
