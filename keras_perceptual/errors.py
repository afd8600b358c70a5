"""The exceptions keras-perceptual raises on purpose.

Every error the library raises about something the *user* gave (an argument, an image,
a file, a setting, the machine's state) derives from :class:`KerasPerceptualError`, and
also from the built-in class a Keras user expects (``ValueError`` for a bad argument,
``OSError`` for a file that cannot be used), so ``except ValueError`` keeps working.

The command line relies on this split: a :class:`KerasPerceptualError` is printed as one
line (exit status 2); any other exception is a bug and is shown with its traceback and a
request to report it (exit status 1).

Example:
    >>> from keras_perceptual.errors import InputError
    >>> try:
    ...     raise InputError("steps must be >= 1. Received: steps=0")
    ... except ValueError as error:
    ...     print(error)
    steps must be >= 1. Received: steps=0
"""

from __future__ import annotations


class KerasPerceptualError(Exception):
    """Base of every error about user input or the environment that the library raises.

    The message says what was wrong, what was expected and how to fix it.
    """


class InputError(KerasPerceptualError, ValueError):
    """An argument, image or setting given by the user cannot be used (a ``ValueError``)."""


class MissingDependencyError(KerasPerceptualError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra."""


def install_hint(extra: str) -> str:
    """The command that installs an optional extra, for messages: the package's name (an
    install from a package index) and the repository's form (an install from a clone,
    where ``pip install "keras-perceptual[...]"`` finds nothing to install).

    Example:
        >>> install_hint("video")
        'pip install "keras-perceptual[video]" (from a clone: pip install ".[video]")'
    """
    return f'pip install "keras-perceptual[{extra}]" (from a clone: pip install ".[{extra}]")'


class ModelLoadError(KerasPerceptualError, OSError):
    """A model cannot be loaded: a missing or unreadable file, a file of another format, or a
    Hugging Face Hub repository that cannot be reached."""


class DataError(KerasPerceptualError, RuntimeError):
    """Training or inference data became unusable while running (e.g. a folder moved away)."""



class VideoError(KerasPerceptualError, OSError):
    """A video file cannot be read (not a video, corrupt, unsupported codec) or written."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NonFiniteLossError(KerasPerceptualError, FloatingPointError):
    """Training produced a NaN or infinite loss and was stopped (see :class:`StopOnNonFiniteLoss`)."""


class ResumeMismatchError(InputError):
    """``output_dir`` holds a run whose settings differ from the ones given."""


class RunInProgressError(InputError):
    """``output_dir`` is being written by another training run (it holds the folder's run
    lock); one run per output folder."""


class BackupError(KerasPerceptualError, OSError):
    """A backup folder exists but cannot be read or loaded into the model."""


class OutputWriteError(KerasPerceptualError, OSError):
    """An output (checkpoint, backup, log) could not be written: a full disk, a folder that
    became read-only, ... The file under its final name still holds its previous version.
    ``errno`` is the underlying error's (e.g. ``errno.ENOSPC``), ``filename`` the file."""

    def __str__(self) -> str:
        return str(self.strerror)


class WorkerFailedError(KerasPerceptualError, RuntimeError):
    """Another worker of a multi-worker run failed before training; see its own output."""


__all__ = [
    "BackupError",
    "DataError",
    "InputError",
    "KerasPerceptualError",
    "MissingDependencyError",
    "ModelLoadError",
    "NonFiniteLossError",
    "OutputWriteError",
    "ResumeMismatchError",
    "RunInProgressError",
    "VideoError",
    "WorkerFailedError",
    "install_hint",
]
