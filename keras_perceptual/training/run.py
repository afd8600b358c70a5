"""One training run: the machinery both recipes share (``_run``), the output file names.

A recipe describes what differs (``_Task``: network, loss, compiled trainer, dataset,
sample images); ``_run`` checks the output folder, agrees on the seed, builds everything
inside the strategy, resumes from ``backup/``, writes ``config.json`` and calls ``fit``
with the callbacks of :mod:`keras_perceptual.training.callbacks`.

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
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_perceptual.data import ScanResult, scan_images
from keras_perceptual.errors import InputError
from keras_perceptual.training.callbacks import (
    AtomicModelCheckpoint,
    SampleImages,
    StepBackupAndRestore,
    StepLossLogger,
    StopAtStep,
    StopOnNonFiniteLoss,
    TensorBoardLogger,
    _CSVLogger,
    _global_step,
)
from keras_perceptual.training.config import (
    _compare_arguments,
    _json_safe,
    _loss_config,
    _read_config,
    _versions,
    _weights_record,
)
from keras_perceptual.training.distribute import (
    _agree,
    _from_chief,
    _is_multi_worker,
    _multi_worker_reduce,
    _state_variables,
    _strategy_name,
    _synchronize_batch_norm,
    _unsynchronize,
    _worker_count,
    default_strategy,
    is_chief,
)
from keras_perceptual.training.errors import NonFiniteLossError
from keras_perceptual.training.files import (
    _remove_stale_temp_files,
    _temp_path,
    _writing,
    atomic_save_model,
    atomic_write_text,
)
from keras_perceptual.training.results import TrainingResult, _truncate_csv, read_csv_log

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
CSV_FILE = "training_log.csv"
STEPS_FILE = "steps.csv"
SAMPLES_DIR = "samples"


def _check_output_dir(output_dir: Any, create: bool = True) -> str:
    """The absolute output folder; with ``create``, made and probed for writing."""
    if not isinstance(output_dir, (str, os.PathLike)) or not os.fspath(output_dir):
        raise InputError(
            "output_dir must be the path of a folder for the run's outputs (created if "
            f"missing). Received: output_dir={output_dir!r}"
        )
    path = os.path.abspath(os.fspath(output_dir))
    if not create:  # a non-chief worker: it never touches the folder
        return path
    if os.path.isfile(path):
        raise InputError(
            f"output_dir {path!r} is a file; pass a folder (it is created if missing). "
            f"Received: output_dir={output_dir!r}"
        )
    try:
        os.makedirs(path, exist_ok=True)
        probe = _temp_path(os.path.join(path, "write-test"))
        os.remove(probe)
    except OSError as error:
        raise InputError(
            f"output_dir {path!r} cannot be written ({error.strerror or error}); choose a "
            f"writable folder. Received: output_dir={output_dir!r}"
        ) from None
    return path


def _check_callbacks(callbacks: Any) -> list:
    if callbacks is None:
        return []
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise InputError(
                "callbacks must be a list of keras.callbacks.Callback instances (added to the "
                f"default ones). Received: callbacks item {callback!r}"
            )
    return callbacks


def _resolve_strategy(strategy: Any) -> tf.distribute.Strategy:
    if strategy is None:
        return default_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise InputError(
            "strategy must be a tf.distribute.Strategy (e.g. tf.distribute.MirroredStrategy()) "
            f"or None to pick one. Received: strategy={strategy!r}"
        )
    return strategy


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


def _derived_seed(seed: int, step: int) -> int:
    """The data seed after a resume at ``step`` (``seed`` itself at step 0)."""
    if step == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:{step}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


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
        raise InputError(
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
