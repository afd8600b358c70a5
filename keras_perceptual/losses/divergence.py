"""Divergences and entropy of probability vectors (over the last axis).

* Jensen-Shannon divergence (Lin 1991):
  ``JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m)`` with ``m = (p + q) / 2``;
  symmetric, bounded by ``log 2`` (nats), finite even where one vector has
  zeros the other does not (where ``KL`` is infinite).
* Shannon entropy: ``H(p) = -sum_k p_k log p_k``, a regularizer towards
  confident (minimize) or spread-out (negative weight) predictions.

``0 log 0 = 0`` throughout, and the derivative of ``p log p`` at ``p = 0``
(infinite) is taken as 0, so values and gradients are finite for every
probability vector, zero vectors included.

For the others use Keras' own: ``keras.losses.KLDivergence`` (Kullback-Leibler),
``keras.losses.CategoricalCrossentropy`` / ``SparseCategoricalCrossentropy`` /
``BinaryCrossentropy`` (cross-entropy).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    FLOAT_DTYPES,
    check_flag,
    check_non_negative_values,
    check_numeric_dtype,
    check_same_shape,
    check_sample_weight,
    concrete_values,
    dtype_name,
    per_sample_weight,
)
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import BaseLoss
from keras_perceptual.ops import as_float_tensor, keep_nan

LOG_2 = math.log(2.0)


def _xlog_ratio(p, q):
    """``p * (log p - log q)`` elementwise, 0 where ``p == 0``, with finite gradients;
    NaN where ``p`` or ``q`` is NaN."""
    positive = p > 0
    safe_p = ops.where(positive, p, 1.0)
    safe_q = ops.where(positive, q, 1.0)
    return keep_nan(ops.where(positive, p * (ops.log(safe_p) - ops.log(safe_q)), 0.0), p, q)


def _as_vectors(x, name: str, from_logits: bool, dtype: str | None = None):
    """``x`` as a floating-point tensor (in ``dtype``; ``None``: its own dtype, float32 for
    integer and boolean inputs).

    The dtype rule of the functions and the losses here: integer and boolean inputs are cast,
    as Keras' losses cast labels (one-hot ``y_true`` from ``keras.utils.to_categorical`` with
    an integer dtype, boolean masks). As probabilities they must be one-hot (0 or 1) where
    their values are known: an 8-bit probability in [0, 255] read as it stands would give a
    silently wrong divergence, so it is refused with the conversion to make.
    """
    dtype_in = dtype_name(x)
    if dtype_in not in FLOAT_DTYPES:
        check_numeric_dtype(x, name)  # None, strings, dicts: before their values are read
        if not from_logits:
            try:
                values = concrete_values(x)
            except (TypeError, ValueError):
                values = None
            if values is not None and not np.all((values == 0) | (values == 1)):
                raise InputError(
                    f"{name} has dtype {dtype_in} with values other than 0 and 1; integer "
                    "probabilities must be one-hot. Convert 8-bit probabilities with "
                    f"p.astype('float32') / 255.0. Received: {name}.dtype={dtype_in}, "
                    f"{name}.max()={float(values.max())!r}"
                )
        return as_float_tensor(x, name, dtype, floats_only=False)
    if dtype is None:
        return ops.convert_to_tensor(x)  # as given (JAX without x64 makes float64 float32)
    return as_float_tensor(x, name, dtype)


def _check_vectors(x, name: str, from_logits: bool) -> None:
    """Vectors on the last axis (rank >= 1); probabilities without a negative entry where
    their values are known (eager calls, numpy; not checked inside a traced function)."""
    if len(x.shape) < 1:
        raise InputError(
            f"{name} must hold probability vectors on its last axis, e.g. (batch, "
            f"num_classes); wrap a single vector as [p]. Received: {name}.shape={tuple(x.shape)}"
        )
    if not from_logits:
        check_non_negative_values(
            x,
            name,
            f"{name} must not hold negative entries with from_logits=False: probabilities are "
            ">= 0 (a negative one has no logarithm). Pass logits with from_logits=True, or "
            "normalize them with a softmax first. ",
        )


def _check_distributions(y_true, y_pred, from_logits: bool) -> tuple:
    message = (
        "y_true and y_pred must be probability vectors of the same shape, the classes on "
        "the last axis, e.g. (batch, num_classes); one-hot encode integer labels with "
        "keras.ops.one_hot. "
    )
    if len(y_true.shape) < 1:
        raise InputError(
            f"{message}Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    y_true, y_pred = check_same_shape(y_true, y_pred, message)
    for x, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        _check_vectors(x, name, from_logits)
    return y_true, y_pred


def jensen_shannon_divergence(y_true, y_pred, from_logits: bool = False):
    """Jensen-Shannon divergence over the last axis, in nats (Lin 1991, Eq. 4.1).

    ``1/2 sum p log(p / m) + 1/2 sum q log(q / m)``, ``m = (p + q) / 2``, with
    ``0 log 0 = 0``: finite for vectors with zeros, in ``[0, log 2]`` for
    probability vectors; NaN for a vector holding a NaN.

    Args:
        y_true, y_pred: probability vectors ``(..., num_classes)`` (or logits with
            ``from_logits=True``, normalized by a softmax).
        from_logits: whether the inputs are logits.

    Returns:
        The input shape without its last axis (``(batch,)`` for ``(batch, K)``).

    Raises:
        InputError: ``from_logits`` is not a bool; integer or boolean probabilities that are
            not one-hot (0/1), or inputs that differ in shape (checked when the graph runs where sizes are ``None`` when
            traced); a negative probability with ``from_logits=False``, where the values are
            known (eager calls and numpy arrays; a traced function does not read them).

    Example:
        >>> jensen_shannon_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
        array([0.6931472])
    """
    from_logits = check_flag(from_logits, "from_logits")
    y_true = _as_vectors(y_true, "y_true", from_logits)
    y_pred = _as_vectors(y_pred, "y_pred", from_logits)
    dtype = keras.backend.result_type(y_true.dtype, y_pred.dtype)
    y_true, y_pred = ops.cast(y_true, dtype), ops.cast(y_pred, dtype)
    y_true, y_pred = _check_distributions(y_true, y_pred, from_logits)
    return _js_values(y_true, y_pred, from_logits)


def _js_values(y_true, y_pred, from_logits: bool):
    """:func:`jensen_shannon_divergence` of checked tensors."""
    if from_logits:
        log_p = ops.log_softmax(y_true, axis=-1)
        log_q = ops.log_softmax(y_pred, axis=-1)
        p, q = ops.exp(log_p), ops.exp(log_q)
        log_m = ops.logaddexp(log_p, log_q) - LOG_2
        return 0.5 * ops.sum(p * (log_p - log_m) + q * (log_q - log_m), axis=-1)
    m = 0.5 * (y_true + y_pred)
    return 0.5 * ops.sum(_xlog_ratio(y_true, m) + _xlog_ratio(y_pred, m), axis=-1)


def entropy(probabilities, from_logits: bool = False):
    """Shannon entropy ``-sum_k p_k log p_k`` over the last axis, in nats (``0 log 0 = 0``).

    NaN for a vector holding a NaN.

    Args:
        probabilities: ``(..., num_classes)`` probability vectors (or logits with
            ``from_logits=True``).
        from_logits: whether the input is logits.

    Returns:
        The input shape without its last axis.

    Raises:
        InputError: ``from_logits`` is not a bool; integer or boolean probabilities that are
            not one-hot (0/1), or an input with no axis; a negative probability with ``from_logits=False``, where the values are
            known (eager calls and numpy arrays; a traced function does not read them).

    Example:
        >>> entropy(np.array([[0.5, 0.5, 0.0]]))  # log 2
        array([0.69314718])
    """
    from_logits = check_flag(from_logits, "from_logits")
    probabilities = _as_vectors(probabilities, "probabilities", from_logits)
    _check_vectors(probabilities, "probabilities", from_logits)
    return _entropy_values(probabilities, from_logits)


def _entropy_values(probabilities, from_logits: bool):
    """:func:`entropy` of a checked tensor."""
    if from_logits:
        log_p = ops.log_softmax(probabilities, axis=-1)
        return -ops.sum(ops.exp(log_p) * log_p, axis=-1)
    return -ops.sum(_xlog_ratio(probabilities, ops.ones_like(probabilities)), axis=-1)


class _ProbabilityLoss(BaseLoss):
    """A loss on probability vectors (or logits); float32 computation, also under mixed
    precision. The one constructor of its subclasses; each names its default ``name`` in
    ``DEFAULT_NAME``."""

    OPTIONS = ("from_logits",)

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        # True: the inputs are logits; False: probabilities.
        self.from_logits = check_flag(from_logits, "from_logits")

    def convert_inputs(self, y_true, y_pred):
        """``(y_true, y_pred)`` in the loss dtype (the functions' rule: integer and boolean
        inputs are cast, one-hot where they are probabilities)."""
        y_pred = _as_vectors(y_pred, "y_pred", self.from_logits, self.dtype)
        return _as_vectors(y_true, "y_true", self.from_logits, self.dtype), y_pred

    def check_sample_weight(self, sample_weight, y_pred):
        """``sample_weight`` shaped as the values: ``y_pred``'s shape less its class axis,
        so that one weight per sample (``(batch,)``) weights every position of its sample
        (it was broadcast onto the last position axis)."""
        rank = len(y_pred.shape) - 1
        weight = check_sample_weight(sample_weight, y_pred, rank if rank >= 1 else None)
        return per_sample_weight(weight, rank if rank >= 1 else None)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class JensenShannonDivergence(_ProbabilityLoss):
    """Jensen-Shannon divergence between ``y_true`` and ``y_pred`` (Lin 1991).

    ``JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m)``, ``m = (p + q) / 2``, summed
    over the last axis (the classes), in nats; symmetric and in ``[0, log 2]``.
    Unlike ``keras.losses.KLDivergence`` (use it for KL) it needs no clipping: a
    class with probability 0 in one vector contributes a finite amount, and
    gradients stay finite at zeros. ``reduction=None`` gives one value per vector
    (``(batch,)`` for ``(batch, K)`` inputs, as Keras' KL).

    Args:
        from_logits: the inputs are logits (a softmax is applied, exactly in log space).
        reduction: as in ``keras.losses.Loss``.
        name: loss name; ``None`` (default): ``"jensen_shannon_divergence"``.
        dtype: computation dtype (float32 by default, also under mixed precision).

    Returns:
        A loss whose call returns the reduced divergence.

    Example:
        >>> loss = JensenShannonDivergence(reduction=None)
        >>> loss(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))
        array([0.21576155], dtype=float32)
    """

    DEFAULT_NAME = "jensen_shannon_divergence"

    def call(self, y_true, y_pred):
        y_true, y_pred = _check_distributions(y_true, y_pred, self.from_logits)
        return _js_values(y_true, y_pred, self.from_logits)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class Entropy(_ProbabilityLoss):
    """Shannon entropy ``H(p) = -sum_k p_k log p_k`` of ``y_pred`` (Shannon 1948), in nats.

    A regularizer on predicted distributions: minimizing it pushes towards
    confident predictions (entropy minimization, Grandvalet & Bengio 2005); give
    it a negative loss weight to spread them out. ``y_true`` is unused (``None``
    is accepted), so it can be one entry of ``compile(loss=...)`` or be called on
    any layer's softmax output. ``0 log 0 = 0`` and gradients are finite at zeros.

    Args:
        from_logits: ``y_pred`` is logits (normalized by a softmax in log space).
        reduction: as in ``keras.losses.Loss``; ``None`` gives one value per vector.
        name: loss name; ``None`` (default): ``"entropy"``.
        dtype: computation dtype (float32 by default).

    Returns:
        A loss whose call returns the reduced entropy.

    Example:
        >>> Entropy()(None, np.array([[0.25, 0.25, 0.25, 0.25]]))  # log 4
        1.3862944
    """

    DEFAULT_NAME = "entropy"

    def __call__(self, y_true, y_pred, sample_weight=None):
        return super().__call__(y_pred if y_true is None else y_true, y_pred, sample_weight)

    def convert_inputs(self, y_true, y_pred):
        # y_true is unused: whatever it holds (labels of another output) is passed through.
        y_pred = _as_vectors(y_pred, "y_pred", self.from_logits, self.dtype)
        return self._convert_structure(y_true, "y_true"), y_pred

    def call(self, y_true, y_pred):
        _check_vectors(y_pred, "y_pred", self.from_logits)
        return _entropy_values(y_pred, self.from_logits)


__all__ = ["Entropy", "JensenShannonDivergence", "entropy", "jensen_shannon_divergence"]
