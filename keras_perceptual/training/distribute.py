"""Distribution: strategies, the chief, synchronized batch statistics, multi-worker agreement.

``batch_size`` is the global batch: a strategy with R replicas
gives each ``batch_size / R`` images of it, and the per-image losses are averaged
over the global batch (Keras divides each replica's mean by R before the gradients
are summed), so R replicas take the same steps as one device with the same batch
and seed, up to float round-off (``tests/training/test_distributed.py``). Two things make
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
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_perceptual.training.errors import WorkerFailedError


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
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
def multi_worker_reduce(strategy: tf.distribute.Strategy):
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
    if not is_multi_worker(strategy) or "reduce" in vars(strategy):
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


def from_chief(strategy: tf.distribute.Strategy, values: Sequence[Any]) -> list[np.ndarray]:
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


def agree(
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


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name (``MultiWorkerMirroredStrategy`` is ``CollectiveAllReduceStrategy``)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def worker_count(strategy: tf.distribute.Strategy) -> int:
    if not is_multi_worker(strategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))
