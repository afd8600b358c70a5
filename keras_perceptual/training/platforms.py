"""Where a run executes: the backend-specific half of the trainer.

The trainer (:mod:`keras_perceptual.training.trainer`) is written once; what depends on
the backend is behind a :class:`Platform`:

* :class:`TensorFlowPlatform`: a ``tf.distribute`` strategy (``MirroredStrategy`` over the
  GPUs of a machine, ``MultiWorkerMirroredStrategy`` over machines) and ``tf.data`` input.
* :class:`JaxPlatform`: Keras' distribution API (``keras.distribution.DataParallel``)
  and a ``keras.utils.PyDataset`` input, with no TensorFlow imported at all.

:func:`platform_for` picks the one of the active Keras backend.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual.errors import InputError


class Platform(abc.ABC):
    """The backend-specific operations of a training run.

    Attributes:
        chief: whether this process writes the run's outputs.
        multi_worker: whether the run spans several processes.
        replicas: the devices (over every process) a global batch is split over.
        saves_everywhere: whether saving weights, checkpoints and samples is a collective
            operation that every process must take part in (JAX across processes: reading a
            replicated array synchronizes the processes); non-chief processes then write to
            a scratch folder that is deleted (as TensorFlow's multi-worker guide does).
        bfloat16_variables: whether variables may be stored in bfloat16 (not under
            TensorFlow's multi-worker strategy: its collective broadcast of initial values
            has no bfloat16 kernel).
    """

    chief: bool = True
    multi_worker: bool = False
    replicas: int = 1
    saves_everywhere: bool = False
    bfloat16_variables: bool = True

    def scope(self) -> contextlib.AbstractContextManager:
        """The context in which networks, losses and optimizers are created."""
        return contextlib.nullcontext()

    def agree(self, failure: BaseException | None, chief_values: Sequence[float]) -> list[float]:
        """Multi-process rendezvous: re-raises ``failure`` (or a peer's) on every process,
        else returns the chief's values everywhere. One process: returns them."""
        if failure is not None:
            raise failure
        return [float(v) for v in chief_values]

    def share_state(self, trainer: keras.Model, restored: dict | None, failure) -> dict | None:
        """Gives every process the chief's restored training state; returns ``restored``."""
        if failure is not None:
            raise failure
        return restored

    def prepare(self, trainer: keras.Model) -> int:
        """Platform settings for training ``trainer`` (e.g. synchronized batch norm);
        returns the number of batch-norm layers synchronized."""
        return 0

    def release(self, trainer: keras.Model) -> None:  # noqa: B027 - nothing to undo by default
        """Undoes :meth:`prepare`."""

    @abc.abstractmethod
    def crop_dataset(self, scan, recipe, *, batch_size: int, seed: int, cache, value_range):
        """The training input: infinite batches of ``recipe.crop_size()`` random crops of
        the scanned images, mapped by ``recipe.pairs`` to ``(x, y)``, seeded."""

    def fit_context(self) -> contextlib.AbstractContextManager:
        """The context in which ``fit`` runs."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def describe(self, batch_size: int) -> dict:
        """What ``config.json`` records about the platform."""


class TensorFlowPlatform(Platform):
    """A ``tf.distribute`` strategy and ``tf.data`` input.

    Args:
        strategy: a ``tf.distribute.Strategy``; ``None`` picks
            :func:`~keras_perceptual.training.distribute.default_strategy`.

    Raises:
        keras_perceptual.errors.InputError: ``strategy`` is not a strategy.
    """

    def __init__(self, strategy: Any = None):
        import tensorflow as tf

        from keras_perceptual.training import distribute

        self._tf = tf
        self._distribute = distribute
        if strategy is None:
            strategy = distribute.default_strategy()
        if not isinstance(strategy, tf.distribute.Strategy):
            raise InputError(
                "strategy must be a tf.distribute.Strategy (e.g. tf.distribute.MirroredStrategy()) "
                f"or None to pick one. Received: strategy={strategy!r}"
            )
        self.strategy = strategy
        self.chief = distribute.is_chief(strategy)
        self.multi_worker = distribute.is_multi_worker(strategy)
        self.replicas = strategy.num_replicas_in_sync
        self.bfloat16_variables = not self.multi_worker

    def scope(self):
        return self.strategy.scope()

    def agree(self, failure, chief_values):
        if not self.multi_worker:
            return super().agree(failure, chief_values)
        return self._distribute.agree(self.strategy, failure, chief_values)

    def share_state(self, trainer, restored, failure):
        if not self.multi_worker:
            return super().share_state(trainer, restored, failure)
        state = [1, restored["step"], restored["epoch"]] if restored else [0, 0, 0]
        found, step, epoch = self._distribute.agree(self.strategy, failure, state)
        if not found:
            return None
        from keras_perceptual.training.replicas import state_variables

        variables = state_variables(trainer)
        values = self._distribute.from_chief(
            self.strategy, [keras.ops.convert_to_numpy(v) for v in variables]
        )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        return {"step": int(step), "epoch": int(epoch)}

    def prepare(self, trainer):
        from keras_perceptual.training.replicas import synchronize_batch_norm

        return synchronize_batch_norm(trainer) if self.replicas > 1 else 0

    def release(self, trainer):
        from keras_perceptual.training.replicas import unsynchronize_batch_norm

        unsynchronize_batch_norm(trainer)

    def crop_dataset(self, scan, recipe, *, batch_size, seed, cache, value_range):
        """``tf.data`` crops (:func:`keras_perceptual.data.image_folder_dataset`) mapped by
        ``recipe.pairs``, restarted identically by every new iterator, sharded by element.

        ``fit`` under an explicit strategy takes one batch from a first iterator to build
        the model, then starts a new one; a seeded ``shuffle(reshuffle_each_iteration=True)``
        gives each new iterator the *next* order, so the data a run sees would depend on
        how many iterators were made (one device, ``MirroredStrategy`` and multi-worker
        runs would disagree). Built inside ``flat_map``, the pipeline (and its shuffle
        seeds and crop counter) is instantiated afresh per iterator.
        """
        tf = self._tf
        from keras_perceptual import data

        autotune = tf.data.AUTOTUNE

        @tf.autograph.experimental.do_not_convert
        def instantiate(_):
            images = data.image_folder_dataset(
                scan, image_size=recipe.crop_size(), batch_size=batch_size, seed=seed,
                cache=cache, value_range=value_range,
            )  # fmt: skip
            return images.enumerate().map(
                lambda index, batch: recipe.pairs(batch, index),
                num_parallel_calls=autotune,
                deterministic=True,
            )

        dataset = tf.data.Dataset.range(1).flat_map(instantiate).prefetch(autotune)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)

    def fit_context(self):
        return self._distribute.multi_worker_reduce(self.strategy)

    def describe(self, batch_size):
        return {
            "class": self._distribute.strategy_name(self.strategy),
            "replicas": self.replicas,
            "workers": self._distribute.worker_count(self.strategy),
            "per_replica_batch": batch_size // self.replicas,
        }


class JaxPlatform(Platform):
    """Keras' distribution API on JAX, and ``PyDataset`` input: no TensorFlow at all.

    One process: a ``keras.distribution.DataParallel`` over every local device when there
    are several (e.g. the GPUs of a machine; ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
    makes N CPU devices), else the plain single-device path. Several processes (a Slurm
    job, a TPU pod slice): call ``keras.distribution.initialize()`` first (the
    command line does it when ``KERAS_DISTRIBUTION_*``/JAX coordinator variables are set;
    see the README), then every process runs the same recipe: process 0 is the chief
    (it alone writes ``output_dir``), each process reads its own slice of every global
    batch, and the seed and a resumed state are sent from the chief to all.

    Args:
        distribution: a ``keras.distribution.Distribution``; ``None``: ``DataParallel``
            over all devices when there are more than one.
    """

    def __init__(self, distribution: Any = None):
        import jax

        self._jax = jax
        self.process_index = jax.process_index()
        self.process_count = jax.process_count()
        self.chief = self.process_index == 0
        self.multi_worker = self.process_count > 1
        self.saves_everywhere = self.multi_worker
        devices = jax.devices()
        if distribution is None and len(devices) > 1:
            distribution = keras.distribution.DataParallel(devices=devices)
        if self.multi_worker and hasattr(distribution, "auto_shard_dataset"):
            # Each process's RandomCrops already reads its own slice of every global batch
            # (crop_dataset's shard=); Keras' auto-sharding takes only tf.data datasets.
            distribution.auto_shard_dataset = False
        self.distribution = distribution
        self.replicas = len(devices) if distribution is not None else 1

    def scope(self):
        if self.distribution is None:
            return contextlib.nullcontext()
        return self.distribution.scope()

    fit_context = scope

    def agree(self, failure, chief_values):
        if not self.multi_worker:
            return super().agree(failure, chief_values)
        from jax.experimental import multihost_utils

        failed = multihost_utils.process_allgather(np.float64(failure is not None))
        if failure is not None:
            raise failure
        if np.sum(failed) > 0:
            from keras_perceptual.errors import WorkerFailedError

            raise WorkerFailedError(
                f"{int(np.sum(failed))} process(es) of the multi-process run failed before "
                "training (the reason is in that process's own output); fix it, then start "
                "every process again."
            )
        values = np.asarray([float(v) for v in chief_values], np.float64)
        return [float(v) for v in multihost_utils.broadcast_one_to_all(values)]

    def share_state(self, trainer, restored, failure):
        if not self.multi_worker:
            return super().share_state(trainer, restored, failure)
        from jax.experimental import multihost_utils

        from keras_perceptual.training.replicas import state_variables

        state = [1, restored["step"], restored["epoch"]] if restored else [0, 0, 0]
        found, step, epoch = self.agree(failure, state)
        if not found:
            return None
        for variable in state_variables(trainer):
            value = np.asarray(keras.ops.convert_to_numpy(variable))
            variable.assign(multihost_utils.broadcast_one_to_all(value))
        return {"step": int(step), "epoch": int(epoch)}

    def crop_dataset(self, scan, recipe, *, batch_size, seed, cache, value_range):
        from keras_perceptual.pydata import RandomCrops

        return RandomCrops(
            scan,
            recipe.crop_size(),
            batch_size,
            seed=seed,
            value_range=value_range,
            cache=bool(cache),
            transform=recipe.pairs,
            shard=(self.process_index, self.process_count),
        )

    def describe(self, batch_size):
        name = type(self.distribution).__name__ if self.distribution is not None else "none"
        return {
            "class": name,
            "replicas": self.replicas,
            "workers": self.process_count,
            "per_replica_batch": batch_size // self.replicas,
            "devices": [str(d) for d in self._jax.devices()],
        }


def platform_for(strategy: Any = None) -> Platform:
    """The :class:`Platform` of the active Keras backend.

    Args:
        strategy: TensorFlow: a ``tf.distribute.Strategy`` (``None``: the default). JAX: a
            ``keras.distribution.Distribution`` (``None``: ``DataParallel`` over several
            devices).

    Returns:
        A :class:`Platform`.

    Raises:
        keras_perceptual.errors.InputError: a backend the recipes do not support.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return TensorFlowPlatform(strategy)
    if backend == "jax":
        if strategy is not None and not isinstance(strategy, keras.distribution.Distribution):
            raise InputError(
                "On the JAX backend, strategy must be a keras.distribution.Distribution (e.g. "
                "keras.distribution.DataParallel()) or None. Received: "
                f"strategy={strategy!r}"
            )
        return JaxPlatform(strategy)
    raise InputError(
        f"The training recipes run on the TensorFlow and JAX backends; this process uses "
        f"{backend!r}. Set KERAS_BACKEND=tensorflow or jax. Received: backend={backend!r}"
    )


__all__ = ["JaxPlatform", "Platform", "TensorFlowPlatform", "platform_for"]
