"""DISTS: Deep Image Structure and Texture Similarity (Ding et al., TPAMI 2020).

Ding, Ma, Wang & Simoncelli, "Image Quality Assessment: Unifying Structure and Texture
Similarity", IEEE TPAMI 2020, Eqs. (6)-(9). With ``x~^(i)_j`` the ``j``-th channel of
the ``i``-th representation of an image (``i = 0``: the image itself in [0, 1];
``i = 1..5``: torchvision VGG16's ``relu1_2 ... relu5_3`` with every max-pooling
replaced by Hanning-window L2 pooling, :class:`~keras_perceptual.torchvision_backbones.L2Pooling2D`,
on inputs normalized by torchvision's ImageNet mean and standard deviation):

    l(x~, y~)  = (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1)          texture (global means)
    s(x~, y~)  = (2 sigma_xy + c2) / (sigma_x^2 + sigma_y^2 + c2)      structure (global (co)variances)
    D(x, y)    = 1 - sum_{i,j} (alpha_ij l(x~_j^(i), y~_j^(i)) + beta_ij s(x~_j^(i), y~_j^(i)))

with ``c1 = c2 = 1e-6`` and the learned ``alpha, beta`` (1475 each) normalized to sum to
1 together. Exactly the reference implementation (PyPI ``DISTS_pytorch`` 0.1). Values lie
in [0, 1] for natural images: 0 for identical images; DISTS tolerates texture resampling
(two patches of the same grass score close) where LPIPS does not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

import keras
import numpy as np
from keras import ops

from keras_perceptual.backbones import backbone_outputs
from keras_perceptual.losses.learned import (
    LearnedMetricLoss,
    backbone_pair,
    cached,
    pair_function,
)
from keras_perceptual.torchvision_backbones import DEFAULT_TAPS, torchvision_backbone

#: torchvision's ImageNet input normalization (DISTS' ``mean`` / ``std`` buffers).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Channels of the six representations (the image, then relu1_2 ... relu5_3).
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)
DISTS_C1 = 1e-6
DISTS_C2 = 1e-6


def dists_weights() -> tuple[np.ndarray, np.ndarray]:
    """The released ``alpha`` and ``beta`` of DISTS, each ``(1475,)`` float32.

    Converted once from the reference release (PyPI ``DISTS_pytorch`` 0.1, MIT; see
    ``keras_perceptual/assets/LICENSE_dists.txt``) by ``scripts/convert_lpips_dists_weights.py``.
    """
    with resources.files("keras_perceptual").joinpath("assets/dists_weights.npz").open("rb") as f:
        data = np.load(f)
        return data["alpha"], data["beta"]


class DISTSNetwork:
    """The frozen DISTS network: L2-pooled VGG16 and the learned weights (not a Keras object).

    ``distance(y_true, y_pred)`` takes float32 images in [0, 1].
    """

    label = "DISTS"
    min_image_size = 1

    def __init__(self, weights):
        self.backbone = torchvision_backbone("vgg16", weights=weights, pooling="l2", name="dists")
        self.taps = DEFAULT_TAPS["vgg16"]
        alpha, beta = dists_weights()
        total = float(alpha.astype("float64").sum() + beta.astype("float64").sum())
        splits = np.cumsum(DISTS_CHANNELS)[:-1]
        # numpy constants (not tensors): a network first built inside a traced function
        # must not hold that trace's tensors.
        self.alpha = np.split(alpha / np.float32(total), splits)
        self.beta = np.split(beta / np.float32(total), splits)
        self.mean = np.float32(IMAGENET_MEAN)
        self.inv_std = 1.0 / np.float32(IMAGENET_STD)

    def features(self, unit_images):
        """The image and its five VGG16 representations, for images in [0, 1]."""
        out = backbone_outputs(self.backbone, (unit_images - self.mean) * self.inv_std)
        return [unit_images, *(out[t] for t in self.taps)]

    def distance(self, y_true, y_pred, joint: bool = False):
        """Per image, ``(B,)``."""
        similarity = 0.0
        features_true, features_pred = backbone_pair(self.features, y_true, y_pred, joint)
        for f_true, f_pred, alpha, beta in zip(
            features_true, features_pred, self.alpha, self.beta, strict=True
        ):
            mean_true = ops.mean(f_true, axis=(1, 2))
            mean_pred = ops.mean(f_pred, axis=(1, 2))
            texture = (2 * mean_true * mean_pred + DISTS_C1) / (
                ops.square(mean_true) + ops.square(mean_pred) + DISTS_C1
            )
            # Centred before multiplying (the reference's E[xy] - E[x]E[y] is the same
            # quantity, but loses digits to cancellation in float32 on long sums).
            centred_true = f_true - mean_true[:, None, None]
            centred_pred = f_pred - mean_pred[:, None, None]
            var_true = ops.mean(ops.square(centred_true), axis=(1, 2))
            var_pred = ops.mean(ops.square(centred_pred), axis=(1, 2))
            covariance = ops.mean(centred_true * centred_pred, axis=(1, 2))
            structure = (2 * covariance + DISTS_C2) / (var_true + var_pred + DISTS_C2)
            similarity = similarity + ops.sum(alpha * texture + beta * structure, axis=-1)
        return 1.0 - similarity


@cached
def dists_network(weights=None) -> DISTSNetwork:
    """The shared :class:`DISTSNetwork` for these weights (built once, then cached)."""
    return DISTSNetwork(weights)


def dists(
    y_true,
    y_pred,
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
):
    """DISTS (Ding et al. 2020, Eq. 9) between two images or two batches.

    The same numbers as the reference ``DISTS_pytorch.DISTS()`` on the same images (that
    package wants [0, 1] inputs; here any ``value_range``).

    Args:
        y_true: reference image(s), ``(H, W, 3)`` or ``(B, H, W, 3)``, float, RGB, in
            ``value_range``.
        y_pred: image(s) of the same shape.
        weights: the VGG16 backbone's weights: ``"imagenet"`` (torchvision's, downloaded
            and converted once), a path to a torchvision ``.pth`` state dict or converted
            Keras weights, or ``None`` (random, for tests).
        value_range: ``(low, high)`` of the images.

    Returns:
        ``(B,)`` float32 values (0 for identical images), or a scalar for unbatched images.
        A batch of 0 gives ``(0,)`` without running the network.

    Raises:
        InputError: bad argument, shapes that differ or integer images.
        WeightsUnavailableError: ``weights="imagenet"`` cannot be downloaded.

    Example:
        >>> a = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> np.round(np.asarray(dists(a, a, weights=None)), 5)
        array([0., 0.], dtype=float32)
    """
    return pair_function(dists_network(weights=weights), y_true, y_pred, value_range)


@keras.saving.register_keras_serializable(package="keras_perceptual")
class DISTSLoss(LearnedMetricLoss):
    """DISTS (Ding et al., TPAMI 2020, Eq. 9) as a Keras loss: one value per image.

    ``1 - `` the weighted texture and structure similarity of ``y_pred`` and ``y_true``
    over the image and five L2-pooled torchvision VGG16 stages; numerically the reference
    ``DISTS_pytorch`` package (see :func:`dists`). ``y_true`` runs without gradient.
    Computes in float32 under any dtype policy. The DISTS authors trained with it as a
    loss (``require_grad=True``); it suits texture-rich restoration, where it accepts
    plausible texture that LPIPS and pixel losses penalize.

    Args:
        weights: ``"imagenet"`` (torchvision's VGG16, downloaded once and converted), a
            path to a torchvision ``.pth`` state dict (either ``torch.save`` format) or to
            converted Keras weights, or ``None`` (random, seeded).
        value_range: ``(low, high)`` of the images (the library rescales; DISTS sees [0, 1]).
        reduction, name, dtype: as in ``keras.losses.Loss``; ``reduction=None`` gives
            ``(batch,)`` values.

    Raises:
        InputError: bad argument (at construction) or images of different shapes or of
            integer dtype (at the first call).
        WeightsUnavailableError: ``weights="imagenet"`` cannot be downloaded.

    Example:
        >>> loss = DISTSLoss(weights=None, reduction=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> np.round(np.asarray(loss(x, x)), 5)
        array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = "imagenet",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "dists_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.weights_source = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        self.network = dists_network(weights=self.weights_source)
        self.distance_options = {}

    def get_config(self):
        return {**super().get_config(), "weights": self.weights_source}


__all__ = [
    "DISTSLoss",
    "DISTSNetwork",
    "DISTS_CHANNELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "dists",
    "dists_network",
    "dists_weights",
]
