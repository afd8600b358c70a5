"""What training on several replicas needs, on any backend (no TensorFlow).

The variables of a training state (:func:`state_variables`), which a multi-process run
sends from the chief to every process, and synchronized batch statistics: with more
than one replica, ``BatchNormalization`` layers (the SR network's) use the
statistics of the global batch while training (``synchronized=True``), so R replicas
take the step one device would take on the whole batch; saved files keep
``synchronized=False`` so they load anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import keras

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


def synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every ``BatchNormalization`` of ``model`` use the statistics of the global batch.

    Under a strategy with several replicas each replica only sees ``batch / replicas``
    images; synchronized statistics (``BatchNormalization(synchronized=True)``, an
    all-reduce per layer and step) make the step the one a single device would take
    on the whole batch. Returns the number of layers switched (undo: :func:`unsynchronize_batch_norm`).
    """
    count = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            setattr(layer, _SYNCHRONIZED_BY_RECIPE, True)
            count += 1
    return count


def unsynchronize_batch_norm(model: keras.Model) -> None:
    for layer in _all_layers(model):
        if getattr(layer, _SYNCHRONIZED_BY_RECIPE, False):
            layer.synchronized = False
            setattr(layer, _SYNCHRONIZED_BY_RECIPE, False)


@contextlib.contextmanager
def local_batch_norm(model: keras.Model):
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


def state_variables(trainer: keras.Model) -> list:
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


__all__ = [
    "local_batch_norm",
    "state_variables",
    "synchronize_batch_norm",
    "unsynchronize_batch_norm",
]
