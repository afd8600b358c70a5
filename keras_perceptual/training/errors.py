"""The exceptions the training recipes raise (defined in :mod:`keras_perceptual.errors`,
re-exported here and by :mod:`keras_perceptual.training`)."""

from keras_perceptual.errors import (
    BackupError,
    NonFiniteLossError,
    OutputWriteError,
    ResumeMismatchError,
    RunInProgressError,
    WorkerFailedError,
)

__all__ = [
    "BackupError",
    "NonFiniteLossError",
    "OutputWriteError",
    "ResumeMismatchError",
    "RunInProgressError",
    "WorkerFailedError",
]
