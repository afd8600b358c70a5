"""Training recipes: the paper's two trainings on ``model.compile`` + ``model.fit``.

:func:`train_style_transfer` and :func:`train_super_resolution` build the image
transformation network and its :class:`~keras_perceptual.losses.PerceptualLoss`
inside a ``tf.distribute`` strategy's scope, stream an image folder through
:mod:`keras_perceptual.data`, and call ``fit`` with callbacks that make a run safe
to interrupt and easy to watch. Both write everything into one ``output_dir``::

    output_dir/
      config.json         every argument, resolved defaults, versions, weights used
      model.keras         the trained network (latest good checkpoint), no compile state:
                          keras.models.load_model(path) works on any machine
      backup/             training state every ``save_every`` steps (weights + optimizer)
      training_log.csv    one row per ``save_every`` steps (CSVLogger; "epoch" = interval)
      steps.csv           the loss of every step
      samples/            step-0000500.png ... input | output (| target) grids
      logs/               TensorBoard: train/ (loss per step, interval metrics, learning
                          rate), samples/ (sample grids, loss terms); x axis = global step

Calling a recipe again with the same ``output_dir`` resumes the run; a kill, a NaN loss
or a full disk never leaves a damaged file under a final name. The details are told
where the code is, one concern per module:

* :mod:`~keras_perceptual.training.recipes`: the two recipes, their arguments and the
  paper's defaults.
* :mod:`~keras_perceptual.training.run`: the machinery both share: steps and epochs,
  resuming, fault tolerance, the output file names.
* :mod:`~keras_perceptual.training.config`: ``config.json``, the run's record, and the
  settings a resume must match.
* :mod:`~keras_perceptual.training.callbacks`: the step-counting Keras callbacks (stop on a
  non-finite loss, stop at a step, atomic checkpoints, backups, loss logs, TensorBoard,
  sample images).
* :mod:`~keras_perceptual.training.results`: :class:`TrainingResult` and :func:`read_csv_log`.
* :mod:`~keras_perceptual.training.files`: atomic writes, temporary files left by a killed
  run, :class:`OutputWriteError` messages.
* :mod:`~keras_perceptual.training.distribute`: strategies, the chief (:func:`is_chief`),
  global-batch statistics, multi-worker agreement.
* :mod:`~keras_perceptual.training.summaries`: TensorBoard events without the
  ``tensorboard`` package.
* :mod:`~keras_perceptual.training.errors`: the exceptions.

Every public name is importable from here, e.g. ``from keras_perceptual.training import
train_style_transfer``. Private helpers (leading underscore) are imported, and patched in
tests, from the module that defines them.
"""

from keras_perceptual.training.callbacks import (
    AtomicModelCheckpoint,
    SampleImages,
    StepBackupAndRestore,
    StepLossLogger,
    StopAtStep,
    StopOnNonFiniteLoss,
    TensorBoardLogger,
)
from keras_perceptual.training.config import RESUMABLE_CHANGES as RESUMABLE_CHANGES
from keras_perceptual.training.distribute import default_strategy, is_chief
from keras_perceptual.training.errors import (
    BackupError,
    NonFiniteLossError,
    OutputWriteError,
    ResumeMismatchError,
    WorkerFailedError,
)
from keras_perceptual.training.files import atomic_save_model, atomic_write_text
from keras_perceptual.training.recipes import (
    PAPER_SR_STEPS,
    PAPER_STYLE_STEPS,
    train_style_transfer,
    train_super_resolution,
)
from keras_perceptual.training.recipes import SR_LOSSES as SR_LOSSES
from keras_perceptual.training.results import TrainingResult, read_csv_log
from keras_perceptual.training.run import BACKUP_DIR as BACKUP_DIR
from keras_perceptual.training.run import CONFIG_FILE as CONFIG_FILE
from keras_perceptual.training.run import CSV_FILE as CSV_FILE
from keras_perceptual.training.run import LOG_DIR as LOG_DIR
from keras_perceptual.training.run import MODEL_FILE as MODEL_FILE
from keras_perceptual.training.run import SAMPLES_DIR as SAMPLES_DIR
from keras_perceptual.training.run import STEPS_FILE as STEPS_FILE
from keras_perceptual.training.summaries import summary_image, summary_scalar

__all__ = [
    "AtomicModelCheckpoint",
    "BackupError",
    "NonFiniteLossError",
    "OutputWriteError",
    "PAPER_SR_STEPS",
    "PAPER_STYLE_STEPS",
    "ResumeMismatchError",
    "SampleImages",
    "StepBackupAndRestore",
    "StepLossLogger",
    "StopAtStep",
    "StopOnNonFiniteLoss",
    "TensorBoardLogger",
    "TrainingResult",
    "WorkerFailedError",
    "atomic_save_model",
    "atomic_write_text",
    "default_strategy",
    "is_chief",
    "read_csv_log",
    "summary_image",
    "summary_scalar",
    "train_style_transfer",
    "train_super_resolution",
]
