"""The recipes' Keras callbacks, which count the global step (``optimizer.iterations``).

Stopping (:class:`StopOnNonFiniteLoss`, :class:`StopAtStep`), saving
(:class:`AtomicModelCheckpoint`, :class:`StepBackupAndRestore`) and logging
(:class:`StepLossLogger`, :class:`TensorBoardLogger`, :class:`SampleImages`, and
``StepCSVLogger``, Keras' ``CSVLogger`` with the step in every row). Each takes ``write=False``
on non-chief workers, and the savers a ``guard`` that stops them after a non-finite loss.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual._checks import check_positive_int, check_value_range
from keras_perceptual.errors import InputError
from keras_perceptual.training.errors import BackupError
from keras_perceptual.training.files import (
    atomic_save_model,
    atomic_save_weights,
    atomic_write_text,
    temp_path,
    writing,
)
from keras_perceptual.training.summaries import summary_writer


def _scalar(value: Any) -> float:
    """A Python float from a number, tensor, Keras variable or distributed (mirrored) variable."""
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(()))


def global_step(optimizer: Any) -> int:
    """``optimizer.iterations`` as an int (0 without an optimizer); works for mirrored variables,
    where ``int(variable)`` does not."""
    if optimizer is None:
        return 0
    return int(_scalar(optimizer.iterations))


def _finite_weights(model: keras.Model) -> bool:
    for variable in model.weights:
        value = keras.ops.convert_to_numpy(variable)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            return False
    return True


class _StepTracker(keras.callbacks.Callback):
    """Base class: ``self.step`` is the global step (``optimizer.iterations``) after each batch."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        self.step = global_step(optimizer)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1


class StopOnNonFiniteLoss(_StepTracker):
    """Stops training at the first NaN or infinite loss, naming the step.

    Stricter than ``keras.callbacks.TerminateOnNaN``: it records the step and the
    value (``failed_step``, ``failed_value``) so that :class:`AtomicModelCheckpoint`
    and :class:`StepBackupAndRestore` given it as ``guard`` write nothing afterwards
    (``fit`` still calls ``on_epoch_end`` once after a stop), and the recipes raise
    :class:`NonFiniteLossError` with a message naming the step.

    Args:
        monitor: the log entry checked after every batch.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> x = np.full((8, 1), np.nan, "float32")  # a diverged run
        >>> guard = StopOnNonFiniteLoss()
        >>> _ = model.fit(x, x, batch_size=4, verbose=0,
        ...               callbacks=[guard, AtomicModelCheckpoint("m.keras", guard=guard)])
        >>> guard.failed_step, os.path.exists("m.keras")
        (1, False)
    """

    def __init__(self, monitor: str = "loss"):
        super().__init__()
        self.monitor = monitor
        self.failed_step: int | None = None
        self.failed_value: float | None = None

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.failed_step is not None or not logs or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            self.failed_step = self.step
            self.failed_value = value
            self.model.stop_training = True

    @property
    def failed(self) -> bool:
        """Whether a non-finite loss was seen."""
        return self.failed_step is not None


class StopAtStep(_StepTracker):
    """Stops ``fit`` once the global step (``optimizer.iterations``) reaches ``steps``.

    Args:
        steps: the last step to train.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> x = np.ones((8, 1), "float32")
        >>> _ = model.fit(x, x, batch_size=2, epochs=3, verbose=0, callbacks=[StopAtStep(6)])
        >>> int(model.optimizer.iterations)
        6
    """

    def __init__(self, steps: int):
        super().__init__()
        self.steps = check_positive_int(steps, "steps")

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.step >= self.steps:
            self.model.stop_training = True


class AtomicModelCheckpoint(_StepTracker):
    """Saves a model as ``.keras`` at the end of every epoch, atomically.

    The file is written under a temporary name and renamed, so the previous
    checkpoint stays intact until the new one is complete. Nothing is written after
    a non-finite loss (``guard``) or when the weights are not finite.

    Args:
        filepath: the ``.keras`` file (overwritten each time).
        model: the model to save (default: the model being trained; the recipes pass
            the bare network, so the file has no compile state and loads anywhere).
        guard: a :class:`StopOnNonFiniteLoss` whose failure blocks saving.
        write: ``False`` on non-chief workers (nothing is written).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> x = np.ones((8, 1), "float32")
        >>> _ = model.fit(x, x, batch_size=4, verbose=0,
        ...               callbacks=[AtomicModelCheckpoint("checkpoint.keras")])
        >>> os.path.exists("checkpoint.keras")
        True
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        model: keras.Model | None = None,
        guard: StopOnNonFiniteLoss | None = None,
        write: bool = True,
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        if not self.filepath.endswith(".keras"):
            raise InputError(
                "filepath must end in .keras (the Keras v3 format); e.g. 'run/model.keras'. "
                f"Received: filepath={self.filepath!r}"
            )
        self.target = model
        self.guard = guard
        self.write = write
        self.saved_step: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self) -> bool:
        """Saves now (if allowed); returns whether a file was written."""
        if not self.write or (self.guard is not None and self.guard.failed):
            return False
        model = self.target or self.model
        if not _finite_weights(model):
            return False
        kept = (
            f"{self.filepath!r} still holds the checkpoint of step {self.saved_step}"
            if self.saved_step is not None
            else f"{os.path.basename(self.filepath)!r} keeps its previous content"
        )
        with writing("checkpoint", self.filepath, self.step, kept):
            os.makedirs(os.path.dirname(os.path.abspath(self.filepath)), exist_ok=True)
            atomic_save_model(model, self.filepath)
        self.saved_step = self.step
        return True


#: The most characters of each backup file's load error quoted by :class:`BackupError`.
_ERROR_DETAIL_LIMIT = 300


def _valid_state(state) -> bool:
    """Whether ``state.json``'s content (and its ``previous`` entry) has the fields
    :meth:`StepBackupAndRestore.restore` reads."""

    def entry(value) -> bool:
        return (isinstance(value, dict) and isinstance(value.get("weights"), str)
                and all(isinstance(value.get(key), int) and not isinstance(value.get(key), bool)
                        for key in ("step", "epoch")))  # fmt: skip

    return entry(state) and (not state.get("previous") or entry(state["previous"]))


class StepBackupAndRestore(_StepTracker):
    """Backs up the training state at every epoch end; :meth:`restore` brings it back.

    Like ``keras.callbacks.BackupAndRestore``, with the guarantees a long run needs:

    * the weights (network and optimizer, hence the step counter and the
      learning-rate schedule) go to ``step-<N>.weights.h5`` under a temporary name
      and are renamed; ``state.json`` (written the same way) then points at them.
      It is the single commit point: a kill at any moment leaves the previous
      complete backup in force;
    * the previous backup is kept, and used if the latest cannot be read;
    * nothing is written after a non-finite loss (``guard``) or with non-finite
      weights, so a diverged run resumes from its last good state;
    * the backup is kept when training ends (a finished run re-run with the same
      folder does no work; with a larger step budget it continues).

    Restoring is explicit (:meth:`restore` before ``fit``, then
    ``fit(initial_epoch=...)``), because the data pipeline's seed is derived from
    the restored step before ``fit`` starts.

    Args:
        backup_dir: folder of the backups (used by nothing else).
        guard: a :class:`StopOnNonFiniteLoss` whose failure blocks saving.
        write: ``False`` on non-chief workers (they restore but never write).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> x = np.ones((8, 1), "float32")
        >>> backup = StepBackupAndRestore("backup")
        >>> state = backup.restore(model)  # None on a fresh start
        >>> _ = model.fit(x, x, batch_size=4, epochs=2, verbose=0,
        ...               initial_epoch=state["epoch"] if state else 0, callbacks=[backup])
        >>> backup.read_state()["step"]
        4
    """

    STATE_FILE = "state.json"

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        guard: StopOnNonFiniteLoss | None = None,
        write: bool = True,
    ):
        super().__init__()
        self.backup_dir = os.fspath(backup_dir)
        self.guard = guard
        self.write = write
        self.saved_step: int | None = None

    @property
    def state_path(self) -> str:
        return os.path.join(self.backup_dir, self.STATE_FILE)

    def read_state(self) -> dict | None:
        """The committed state ``{"step", "epoch", "weights", "previous"}``, or ``None``."""
        try:
            with open(self.state_path, encoding="utf-8") as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise BackupError(
                f"The backup record {self.state_path!r} cannot be read ({error}); delete "
                f"{self.backup_dir!r} to start over, or restore it from a copy."
            ) from None
        if not _valid_state(state):
            raise BackupError(
                f"The backup record {self.state_path!r} is not one this library wrote (expected "
                "a JSON object with an integer 'step' and 'epoch' and a 'weights' file name; "
                f"edited by hand?); delete {self.backup_dir!r} to start over, or restore it from "
                "a copy."
            )
        return state

    def restore(self, model: keras.Model) -> dict | None:
        """Loads the latest readable backup into ``model`` (optimizer included).

        Args:
            model: the compiled model being trained, built like the one backed up.

        Returns:
            ``{"step": N, "epoch": E}`` of the restored state, or ``None`` when there
            is no backup.

        Raises:
            BackupError: if no backup listed in ``state.json`` can be loaded.
        """
        state = self.read_state()
        if state is None:
            return None
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        candidates = [state] + ([state["previous"]] if state.get("previous") else [])
        errors = []
        for candidate in candidates:
            path = os.path.join(self.backup_dir, candidate["weights"])
            try:
                model.load_weights(path)
            except Exception as error:  # noqa: BLE001 - corrupt, missing or mismatched file
                # Keras' shape-mismatch message prints every variable's values (tens of KB).
                detail = " ".join(str(error).split())
                if len(detail) > _ERROR_DETAIL_LIMIT:
                    detail = detail[:_ERROR_DETAIL_LIMIT] + " [...]"
                errors.append(f"{candidate['weights']}: {type(error).__name__}: {detail}")
                continue
            return {"step": int(candidate["step"]), "epoch": int(candidate["epoch"])}
        raise BackupError(
            f"No backup in {self.backup_dir!r} can be loaded into this model ({'; '.join(errors)})."
            " If the model or loss settings changed, use a new output folder; otherwise delete "
            f"{self.backup_dir!r} to start over."
        )

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1)

    def save(self, epoch: int) -> bool:
        """Writes a backup for the current step; returns whether one was written."""
        if not self.write or (self.guard is not None and self.guard.failed):
            return False
        if not _finite_weights(self.model):
            return False
        name = f"step-{self.step:09d}.weights.h5"
        previous = self.read_state()
        kept = (
            f"the backup of step {previous['step']} in {self.backup_dir!r} is intact"
            if previous
            else "no earlier backup existed"
        )
        with writing("backup", os.path.join(self.backup_dir, name), self.step, kept):
            os.makedirs(self.backup_dir, exist_ok=True)
            atomic_save_weights(self.model, os.path.join(self.backup_dir, name))
        state = {
            "step": self.step,
            "epoch": epoch,
            "weights": name,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "previous": None
            if previous is None or previous.get("weights") == name
            else {k: previous[k] for k in ("step", "epoch", "weights")},
        }
        with writing("backup record", self.state_path, self.step, kept):
            atomic_write_text(self.state_path, json.dumps(state, indent=2))
        keep = {name} | ({state["previous"]["weights"]} if state["previous"] else set())
        for entry in os.listdir(self.backup_dir):
            if entry.startswith("step-") and entry.endswith(".weights.h5") and entry not in keep:
                try:
                    os.remove(os.path.join(self.backup_dir, entry))
                except OSError:
                    pass
        self.saved_step = self.step
        return True


def _batch_value(k: int, mean: float, previous_mean: float) -> float:
    """The value of batch ``k`` (0-based) from running means ``m_k`` and ``m_{k-1}``."""
    if not math.isfinite(mean) or k == 0:
        return mean
    return (k + 1) * mean - k * previous_mean


class StepLossLogger(_StepTracker):
    """Appends ``step,loss`` for every training step to a CSV file.

    Keras logs the running mean of the loss over the current epoch; the loss of
    batch ``k`` is recovered exactly as ``(k + 1) m_k - k m_{k-1}`` (batches of equal
    size). Rows are buffered and written at each epoch end and at the end of training.

    Args:
        path: the CSV file (created with a header, else appended to).
        write: ``False`` on non-chief workers.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> from keras_perceptual.training.results import read_csv_log
        >>> x = np.ones((8, 1), "float32")
        >>> _ = model.fit(x, x, batch_size=4, verbose=0, callbacks=[StepLossLogger("steps.csv")])
        >>> len(read_csv_log("steps.csv")["loss"])  # one row per step
        2
    """

    def __init__(self, path: str | os.PathLike, write: bool = True):
        super().__init__()
        self.path = os.fspath(path)
        self.write = write
        self._rows: list[tuple[int, float]] = []
        self._previous_mean = 0.0
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._previous_mean = 0.0
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if not logs or "loss" not in logs:
            return
        mean = float(logs["loss"])
        value = _batch_value(self._batches, mean, self._previous_mean)
        self._previous_mean = mean
        self._batches += 1
        self._rows.append((self.step, value))

    def flush(self) -> None:
        """Writes the buffered rows."""
        if not self.write or not self._rows:
            self._rows = []
            return
        new = not os.path.exists(self.path)
        with writing("loss log", self.path, self._rows[-1][0], "the rows written before stay"):
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                if new:
                    writer.writerow(["step", "loss"])
                writer.writerows((step, f"{value:.8g}") for step, value in self._rows)
        self._rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.flush()

    def on_train_end(self, logs=None):
        self.flush()


class TensorBoardLogger(_StepTracker):
    """Writes the training curves to TensorBoard, against the global step.

    ``batch/loss``: the loss of every step (recovered from Keras' running mean as in
    :class:`StepLossLogger`); ``epoch/<name>``: every epoch-end log (loss, PSNR, ...)
    and ``epoch/learning_rate``. The x axis is the global step, so curves continue
    across resumed runs. Unlike ``keras.callbacks.TensorBoard`` this needs no
    ``tensorboard`` package to write on TensorFlow (:mod:`~keras_perceptual.training.summaries`); viewing needs it.

    Args:
        log_dir: TensorBoard folder; events go to ``log_dir/train``.
        per_step: also write ``batch/loss`` every step.
        write: ``False`` on non-chief workers.

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", loss="mse")
        >>> x = np.ones((8, 1), "float32")
        >>> _ = model.fit(x, x, batch_size=4, verbose=0, callbacks=[TensorBoardLogger("logs")])
        >>> os.listdir("logs")  # view with: tensorboard --logdir logs
        ['train']
    """

    def __init__(self, log_dir: str | os.PathLike, per_step: bool = True, write: bool = True):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.per_step = per_step
        self.write = write
        self._writer = None
        self._previous_mean = 0.0
        self._batches = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.write:
            self._writer = summary_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_begin(self, epoch, logs=None):
        self._previous_mean = 0.0
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self._writer is None or not self.per_step or not logs or "loss" not in logs:
            return
        mean = float(logs["loss"])
        value = _batch_value(self._batches, mean, self._previous_mean)
        self._previous_mean = mean
        self._batches += 1
        self._writer.scalar("batch/loss", value, self.step)

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        for name, value in (logs or {}).items():
            if name == "step":
                continue
            try:
                self._writer.scalar(f"epoch/{name}", float(value), self.step)
            except (TypeError, ValueError):
                continue
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            self._writer.scalar("epoch/learning_rate", _scalar(optimizer.learning_rate), self.step)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SampleImages(_StepTracker):
    """Every ``every`` steps, runs the network on fixed images and logs the results.

    Writes a grid (one row per image: input | output | target when given) to
    TensorBoard (image ``samples`` under ``log_dir``; :mod:`~keras_perceptual.training.summaries`) and as a PNG
    to ``image_dir/step-<N>.png``, and, when ``loss`` has ``compute_terms`` (e.g.
    :class:`~keras_perceptual.losses.PerceptualLoss`), each loss term's mean on these
    images as TensorBoard scalars ``terms/<name>``. Also logs step 0 before training
    and the final step.

    Args:
        network: the image transformation network.
        inputs: ``(N, h, w, 3)`` float images in ``value_range``.
        every: steps between samples.
        log_dir: TensorBoard folder (``None``: no TensorBoard output).
        image_dir: PNG folder (``None``: no PNG files).
        targets: ``(N, H, W, 3)`` images shown in a third column and given to
            ``loss.compute_terms`` (default: ``inputs``).
        loss: a loss with ``compute_terms(y_true, y_pred)``, or ``None``.
        value_range: ``(low, high)`` of the images.
        guard: a :class:`StopOnNonFiniteLoss` whose failure stops the sampling.
        write: ``False`` on non-chief workers.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> photos = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> samples = SampleImages(net, photos, every=500, image_dir="samples")
        >>> # model.fit(..., callbacks=[samples]) writes samples/step-<N>.png every 500 steps
    """

    def __init__(
        self,
        network: keras.Model,
        inputs: np.ndarray,
        every: int,
        log_dir: str | os.PathLike | None = None,
        image_dir: str | os.PathLike | None = None,
        targets: np.ndarray | None = None,
        loss: Any = None,
        value_range: Sequence[float] = (0.0, 1.0),
        guard: StopOnNonFiniteLoss | None = None,
        write: bool = True,
    ):
        super().__init__()
        self.network = network
        self.guard = guard
        self.inputs = np.asarray(inputs, np.float32)
        self.targets = None if targets is None else np.asarray(targets, np.float32)
        self.every = check_positive_int(every, "every")
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.image_dir = None if image_dir is None else os.fspath(image_dir)
        self.loss = loss
        self.value_range = check_value_range(value_range)
        self.write = write
        self._writer = None
        self._last = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.write and self.log_dir is not None:
            self._writer = summary_writer(os.path.join(self.log_dir, "samples"))
        if self.step == 0:
            self.log(0)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.step % self.every == 0:
            self.log(self.step)

    def on_train_end(self, logs=None):
        if self._last != self.step:
            self.log(self.step)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def grid(self, outputs: np.ndarray) -> np.ndarray:
        """Rows of ``input | output (| target)`` in [0, 1], inputs resized to the output size."""
        low, high = self.value_range
        height, width = outputs.shape[1:3]
        resized = keras.ops.image.resize(self.inputs, (height, width), interpolation="bicubic")
        columns = [keras.ops.convert_to_numpy(resized), outputs]
        if self.targets is not None:
            columns.append(self.targets)
        rows = [np.concatenate([c[i] for c in columns], axis=1) for i in range(len(outputs))]
        return np.clip((np.concatenate(rows, axis=0) - low) / (high - low), 0.0, 1.0)

    def log(self, step: int) -> None:
        """Runs the network on the sample images and writes the grid and loss terms."""
        self._last = step
        if not self.write or (self.guard is not None and self.guard.failed):
            return
        # JAX's fit keeps the training state outside the variables between epochs.
        sync = getattr(getattr(self, "model", None), "jax_state_sync", None)
        if sync is not None:
            sync()
        outputs = keras.ops.convert_to_numpy(self.network(self.inputs, training=False))
        if not np.all(np.isfinite(outputs)):
            return
        image = self.grid(outputs)
        if self.image_dir is not None:
            from PIL import Image

            path = os.path.join(self.image_dir, f"step-{step:07d}.png")
            with writing("sample image", path, step, "earlier samples are intact"):
                os.makedirs(self.image_dir, exist_ok=True)
                tmp = temp_path(path, suffix=".png")
                try:
                    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp, format="PNG")
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.remove(tmp)
        if self._writer is not None:
            self._writer.image("samples", image, step)
            compute_terms = getattr(self.loss, "compute_terms", None)
            if compute_terms is not None:
                target = self.targets if self.targets is not None else self.inputs
                for name, value in compute_terms(target, outputs).items():
                    mean = float(np.mean(keras.ops.convert_to_numpy(value)))
                    self._writer.scalar(f"terms/{name}", mean, step)
            self._writer.flush()


class StepCSVLogger(keras.callbacks.CSVLogger):
    """``keras.callbacks.CSVLogger`` with the global ``step`` in every row, and only the
    columns logged: Keras' adds a ``val_`` twin of every column when the first epoch has no
    validation values (``val_loss``, ``val_step``: ``NA`` in every row of a run without
    validation data). Appending to an existing log keeps that log's columns."""

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        optimizer = getattr(self.model, "optimizer", None)
        self._step = global_step(optimizer)
        self._columns = None
        if self.append and not getattr(self, "append_header", True):  # a log with a header
            with open(self.filename, newline="", encoding="utf-8") as file:
                header = next(csv.reader(file, delimiter=self.sep), [])
            self._columns = [name for name in header if name != "epoch"] or None

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = {**(logs or {}), "step": self._step}
        if self.keys is None:  # set here, Keras' CSVLogger does not add the val_ twins
            self.keys = self._columns or sorted(logs)
        super().on_epoch_end(epoch, logs)
