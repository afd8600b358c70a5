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

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import keras

from keras_perceptual.errors import InputError


class Platform:
    """The backend-specific operations of a training run.

    Attributes:
        chief: whether this process writes the run's outputs.
        multi_worker: whether the run spans several processes.
        replicas: the devices (over every process) a global batch is split over.
    """

    chief: bool = True
    multi_worker: bool = False
    replicas: int = 1

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

    def release(self, trainer: keras.Model) -> None:
        """Undoes :meth:`prepare`."""

    def dataset(self, build: Callable[[], Any]) -> Any:
        """The training input made by ``build()`` (a fresh pipeline), ready for ``fit``."""
        return build()

    def fit_context(self) -> contextlib.AbstractContextManager:
        """The context in which ``fit`` runs."""
        return contextlib.nullcontext()

    def describe(self, batch_size: int) -> dict:
        """What ``config.json`` records about the platform."""
        raise NotImplementedError


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
        variables = self._distribute.state_variables(trainer)
        values = self._distribute.from_chief(
            self.strategy, [keras.ops.convert_to_numpy(v) for v in variables]
        )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        return {"step": int(step), "epoch": int(epoch)}

    def prepare(self, trainer):
        from keras_perceptual.training.batchnorm import synchronize_batch_norm

        return synchronize_batch_norm(trainer) if self.replicas > 1 else 0

    def release(self, trainer):
        from keras_perceptual.training.batchnorm import unsynchronize_batch_norm

        unsynchronize_batch_norm(trainer)

    def dataset(self, build):
        """``build()`` restarted identically by every new iterator, auto-sharded by element.

        ``fit`` under an explicit strategy takes one batch from a first iterator to build
        the model, then starts a new one; a seeded ``shuffle(reshuffle_each_iteration=True)``
        gives each new iterator the *next* order, so the data a run sees would depend on
        how many iterators were made (one device, ``MirroredStrategy`` and multi-worker
        runs would disagree). Built inside ``flat_map``, the pipeline (and its shuffle
        seeds and crop counter) is instantiated afresh per iterator.
        """
        tf = self._tf

        @tf.autograph.experimental.do_not_convert
        def instantiate(_):
            return build()

        dataset = tf.data.Dataset.range(1).flat_map(instantiate).prefetch(tf.data.AUTOTUNE)
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


def platform_for(strategy: Any = None) -> Platform:
    """The :class:`Platform` of the active Keras backend.

    Args:
        strategy: TensorFlow only: a ``tf.distribute.Strategy`` (``None``: the default).

    Returns:
        A :class:`Platform`.

    Raises:
        keras_perceptual.errors.InputError: a backend the recipes do not support.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return TensorFlowPlatform(strategy)
    raise InputError(
        f"The training recipes run on the TensorFlow backend; this process uses "
        f"{backend!r}. Set KERAS_BACKEND=tensorflow. Received: backend={backend!r}"
    )


__all__ = ["Platform", "TensorFlowPlatform", "platform_for"]
