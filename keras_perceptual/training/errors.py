"""The exceptions the training recipes raise (defined in :mod:`keras_perceptual.errors`,
re-exported here and by :mod:`keras_perceptual.training`)."""

from keras_perceptual import errors

BackupError = errors.BackupError
NonFiniteLossError = errors.NonFiniteLossError
OutputWriteError = errors.OutputWriteError
ResumeMismatchError = errors.ResumeMismatchError
RunInProgressError = errors.RunInProgressError
WorkerFailedError = errors.WorkerFailedError

__all__ = [
    "BackupError",
    "NonFiniteLossError",
    "OutputWriteError",
    "ResumeMismatchError",
    "RunInProgressError",
    "WorkerFailedError",
]
