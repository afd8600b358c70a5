"""Training recipes: the paper's two trainings on ``model.compile`` + ``model.fit``.

:func:`train_style_transfer`, :func:`train_super_resolution`, :func:`train_multi_style`
(several styles in one network, Dumoulin et al. 2017) and :func:`train_arbitrary_style`
(AdaIN, Huang & Belongie 2017) build a validated run configuration
(:class:`StyleTransferConfig`, :class:`SuperResolutionConfig`, :class:`MultiStyleConfig`,
:class:`ArbitraryStyleConfig`), and a
:class:`Trainer` runs the recipe in named phases (resolve, build, restore, record, fit,
result): the image transformation network and its
:class:`~keras_perceptual.losses.PerceptualLoss` are built inside the backend's
distribution scope, an image folder is streamed in, and ``fit`` runs with callbacks
that make a run safe to interrupt and easy to watch. Both write everything into one
``output_dir``::

    output_dir/
      config.json         the configuration, what was resolved, versions, weights used
      model.keras         the trained network (latest good checkpoint), no compile state:
                          keras.models.load_model(path) works on any machine
      backup/             training state every ``save_every`` steps (weights + optimizer)
      training_log.csv    one row per ``save_every`` steps (CSVLogger; "epoch" = interval)
      steps.csv           the loss of every step
      samples/            step-0000500.png ... input | output (| target) grids
      logs/               TensorBoard: train/ (loss per step, interval metrics, learning
                          rate), samples/ (sample grids, loss terms); x axis = global step
      run.lock            locked while a run writes here (run.lock.json: its process)

Calling a recipe again with the same ``output_dir`` resumes the run; a kill, a NaN loss
or a full disk never leaves a damaged file under a final name. One run writes a folder at a
time: a second run on it raises :class:`RunInProgressError` before touching it. One concern per module:

* :mod:`~keras_perceptual.training.config`: the run configurations (every setting, its
  default and its rule, written once) and their ``config.json`` record.
* :mod:`~keras_perceptual.training.recipes`: what each training declares (:class:`Recipe`)
  and the public recipe functions.
* :mod:`~keras_perceptual.training.trainer`: the phases every run shares, the output names.
* :mod:`~keras_perceptual.training.platforms`: what depends on the backend (distribution,
  input pipelines).
* :mod:`~keras_perceptual.training.callbacks`: the step-counting Keras callbacks (stop on a
  non-finite loss, stop at a step, atomic checkpoints, backups, loss logs, TensorBoard,
  sample images).
* :mod:`~keras_perceptual.training.results`: :class:`TrainingResult` and :func:`read_csv_log`.
* :mod:`~keras_perceptual.training.files`: atomic writes, temporary files left by a killed
  run, :class:`OutputWriteError` messages, the output folder's run lock.
* :mod:`~keras_perceptual.training.distribute`: ``tf.distribute`` strategies, the chief
  (:func:`is_chief`), multi-worker agreement; :mod:`~keras_perceptual.training.replicas`:
  synchronized batch statistics and the training state's variables (any backend).
* :mod:`~keras_perceptual.training.summaries`: TensorBoard events without the
  ``tensorboard`` package.
* :mod:`~keras_perceptual.errors`: the exceptions (re-exported here).

Every public name is importable from here, e.g. ``from keras_perceptual.training import
train_style_transfer``.
"""

from keras_perceptual.errors import (
    BackupError,
    NonFiniteLossError,
    OutputWriteError,
    ResumeMismatchError,
    RunInProgressError,
    WorkerFailedError,
)
from keras_perceptual.training.callbacks import (
    AtomicModelCheckpoint,
    SampleImages,
    StepBackupAndRestore,
    StepCSVLogger,
    StepLossLogger,
    StopAtStep,
    StopOnNonFiniteLoss,
    TensorBoardLogger,
)
from keras_perceptual.training.config import (
    PAPER_ADAIN_STEPS,
    PAPER_SR_STEPS,
    PAPER_STYLE_STEPS,
    SR_LOSSES,
    ArbitraryStyleConfig,
    MultiStyleConfig,
    RunConfig,
    StyleTransferConfig,
    SuperResolutionConfig,
)
from keras_perceptual.training.files import atomic_save_model, atomic_write_text
from keras_perceptual.training.optimizers import ScaledAdam, style_parameter_paths
from keras_perceptual.training.recipes import (
    RECIPES,
    ArbitraryStyleRecipe,
    MultiStyleRecipe,
    Recipe,
    StyleTransferRecipe,
    SuperResolutionRecipe,
    train_arbitrary_style,
    train_multi_style,
    train_style_transfer,
    train_super_resolution,
)
from keras_perceptual.training.results import TrainingResult, read_csv_log
from keras_perceptual.training.trainer import (
    BACKUP_DIR,
    CONFIG_FILE,
    CSV_FILE,
    LOG_DIR,
    MODEL_FILE,
    SAMPLES_DIR,
    STEPS_FILE,
    Trainer,
)

#: Settings that may change when a run is resumed (every recipe's); all others must match.
RESUMABLE_CHANGES = frozenset().union(*(config.resumable_fields() for config in RECIPES))

_TENSORFLOW_NAMES = {
    "default_strategy": "keras_perceptual.training.distribute",
    "is_chief": "keras_perceptual.training.distribute",
    "summary_image": "keras_perceptual.training.summaries",
    "summary_scalar": "keras_perceptual.training.summaries",
}


def __getattr__(name: str):
    # TensorFlow-only names are imported on first use, so that importing the package
    # does not import TensorFlow (the JAX training path runs without it).
    if name in _TENSORFLOW_NAMES:
        import importlib

        return getattr(importlib.import_module(_TENSORFLOW_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArbitraryStyleConfig",
    "ArbitraryStyleRecipe",
    "AtomicModelCheckpoint",
    "BACKUP_DIR",
    "BackupError",
    "CONFIG_FILE",
    "CSV_FILE",
    "LOG_DIR",
    "MODEL_FILE",
    "MultiStyleConfig",
    "MultiStyleRecipe",
    "NonFiniteLossError",
    "OutputWriteError",
    "PAPER_ADAIN_STEPS",
    "PAPER_SR_STEPS",
    "PAPER_STYLE_STEPS",
    "RECIPES",
    "RESUMABLE_CHANGES",
    "Recipe",
    "ResumeMismatchError",
    "RunConfig",
    "RunInProgressError",
    "SAMPLES_DIR",
    "SR_LOSSES",
    "STEPS_FILE",
    "SampleImages",
    "ScaledAdam",
    "StepBackupAndRestore",
    "StepCSVLogger",
    "StepLossLogger",
    "StopAtStep",
    "StopOnNonFiniteLoss",
    "StyleTransferConfig",
    "StyleTransferRecipe",
    "SuperResolutionConfig",
    "SuperResolutionRecipe",
    "TensorBoardLogger",
    "Trainer",
    "TrainingResult",
    "WorkerFailedError",
    "atomic_save_model",
    "atomic_write_text",
    "default_strategy",
    "is_chief",
    "read_csv_log",
    "style_parameter_paths",
    "summary_image",
    "summary_scalar",
    "train_arbitrary_style",
    "train_multi_style",
    "train_style_transfer",
    "train_super_resolution",
]
