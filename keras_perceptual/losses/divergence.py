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
from keras import ops

from keras_perceptual._checks import check_flag, check_same_shape
from keras_perceptual.errors import InputError
from keras_perceptual.losses.base import BaseLoss
from keras_perceptual.ops import keep_nan

LOG_2 = math.log(2.0)


def _xlog_ratio(p, q):
    """``p * (log p - log q)`` elementwise, 0 where ``p == 0``, with finite gradients;
    NaN where ``p`` or ``q`` is NaN."""
    positive = p > 0
    safe_p = ops.where(positive, p, 1.0)
    safe_q = ops.where(positive, q, 1.0)
    return keep_nan(ops.where(positive, p * (ops.log(safe_p) - ops.log(safe_q)), 0.0), p, q)


def _check_distributions(y_true, y_pred) -> tuple:
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
    return check_same_shape(y_true, y_pred, message)


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

    Example:
        >>> jensen_shannon_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
        array([0.6931472])
    """
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

    Example:
        >>> entropy(np.array([[0.5, 0.5, 0.0]]))  # log 2
        array([0.69314718])
    """
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
        y_true, y_pred = _check_distributions(y_true, y_pred)
        return jensen_shannon_divergence(y_true, y_pred, self.from_logits)


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

    def call(self, y_true, y_pred):
        if len(y_pred.shape) < 1:
            raise InputError(
                "y_pred must hold probability vectors on its last axis, e.g. (batch, "
                f"num_classes). Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        return entropy(y_pred, self.from_logits)


__all__ = ["Entropy", "JensenShannonDivergence", "entropy", "jensen_shannon_divergence"]
