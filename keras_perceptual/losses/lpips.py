"""LPIPS: the Learned Perceptual Image Patch Similarity (Zhang et al., CVPR 2018).

Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018, Eq. (1):

    d(x, x0) = sum_l 1/(H_l W_l) sum_{h,w} || w_l * (yhat^l_hw - yhat0^l_hw) ||_2^2

where ``yhat^l`` are the activations of layer ``l`` of a frozen ImageNet network
(torchvision's AlexNet ``relu1..relu5`` or VGG16 ``relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3``), each unit-normalized over its channels (``f / (||f||_2 + 1e-10)``), and
``w_l`` the per-channel weights fitted to human judgements (the released "lin"
layers). Exactly the reference implementation (PyPI ``lpips`` 0.1.4,
``lpips.LPIPS(net=..., version=...)``):

* images are mapped to [-1, 1]; version ``"0.1"`` (the default, the released weights'
  current version) then applies LPIPS' own scaling layer ``(x - shift) / scale`` with
  ``shift = (-.030, -.088, -.188)``, ``scale = (.458, .448, .450)``; version ``"0.0"``
  (the paper's first release) feeds the [-1, 1] images unscaled;
* ``spatial=True`` returns the per-pixel map: each layer's weighted squared difference
  up-sampled bilinearly (half-pixel centres, PyTorch's ``align_corners=False``) to the
  input size and summed over layers.

Values are distances: 0 for identical images, larger is more different (about 0.1-0.7
for visibly different photos with the ImageNet backbones).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import check_choice, check_flag
from keras_perceptual.backbones import backbone_outputs
from keras_perceptual.losses.learned import (
    LearnedMetricLoss,
    backbone_pair,
    cached,
    pair_function,
)
from keras_perceptual.ops import safe_sqrt
from keras_perceptual.torchvision_backbones import (
    DEFAULT_TAPS,
    torchvision_backbone,
    torchvision_min_image_size,
)

LPIPS_NETS = ("vgg", "alex")
LPIPS_VERSIONS = ("0.1", "0.0")
#: The torchvision backbone of each LPIPS net.
LPIPS_BACKBONES = {"vgg": "vgg16", "alex": "alexnet"}
#: LPIPS' scaling layer (version 0.1): ``(x - shift) / scale`` on images in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: The feature normalization's epsilon (``lpips.normalize_tensor``).
NORMALIZE_EPSILON = 1e-10


def lpips_linear_weights(net: str, version: str) -> list[np.ndarray]:
    """The released per-channel weights ``w_l`` of LPIPS, one ``(C_l,)`` array per layer.

    Converted once from the reference release (PyPI ``lpips`` 0.1.4, BSD-2-Clause; see
    ``keras_perceptual/assets/LICENSE_lpips.txt``) by
    ``scripts/convert_lpips_dists_weights.py``.
    """
    check_choice(net, LPIPS_NETS, "net")
    check_choice(version, LPIPS_VERSIONS, "version")
    with resources.files("keras_perceptual").joinpath("assets/lpips_weights.npz").open("rb") as f:
        data = np.load(f)
        return [data[f"v{version}/{net}/{i}"] for i in range(5)]


class LPIPSNetwork:
    """The frozen LPIPS network: backbone, scaling and learned weights (not a Keras object).

    ``distance(y_true, y_pred, spatial)`` takes float32 images in [0, 1].
    """

    def __init__(self, net: str, version: str, weights):
        self.net, self.version = net, version
        backbone = LPIPS_BACKBONES[net]
        self.label = f"LPIPS (net={net!r})"
        self.backbone = torchvision_backbone(backbone, weights=weights, name=f"lpips_{net}")
        self.taps = DEFAULT_TAPS[backbone]
        # numpy constants (not tensors): a network first built inside a traced function
        # must not hold that trace's tensors.
        self.linear = lpips_linear_weights(net, version)
        self.min_image_size = max(torchvision_min_image_size(t, backbone) for t in self.taps)
        if version == "0.1":
            shift, scale = np.float32(LPIPS_SHIFT), np.float32(LPIPS_SCALE)
            # 2u - 1 then (x - shift) / scale, as one multiply-add per channel.
            self.input_scale = 2.0 / scale
            self.input_offset = (-1.0 - shift) / scale
        else:
            self.input_scale = np.full(3, 2.0, "float32")
            self.input_offset = np.full(3, -1.0, "float32")

    def features(self, unit_images):
        """Unit-normalized activations at the five taps, for images in [0, 1]."""
        x = unit_images * self.input_scale + self.input_offset
        out = backbone_outputs(self.backbone, x)
        result = []
        for tap in self.taps:
            f = out[tap]
            # safe_sqrt: the same value, but a finite gradient where all channels are 0.
            norm = safe_sqrt(ops.sum(ops.square(f), axis=-1, keepdims=True))
            result.append(f / (norm + NORMALIZE_EPSILON))
        return result

    def distance(self, y_true, y_pred, spatial: bool = False, joint: bool = False):
        """Per image ``(B,)``, or the map ``(B, H, W)`` with ``spatial=True``."""
        total = None
        size = (ops.shape(y_pred)[1], ops.shape(y_pred)[2])
        features_true, features_pred = backbone_pair(self.features, y_true, y_pred, joint)
        for f_true, f_pred, w in zip(features_true, features_pred, self.linear, strict=True):
            layer = ops.sum(ops.square(f_pred - f_true) * w, axis=-1)  # (B, h, w)
            if spatial:
                layer = ops.image.resize(
                    layer[..., None], size, interpolation="bilinear", antialias=False
                )[..., 0]
            else:
                layer = ops.mean(layer, axis=(1, 2))
            total = layer if total is None else total + layer
        return total


@cached
def lpips_network(net: str, version: str, weights=None) -> LPIPSNetwork:
    """The shared :class:`LPIPSNetwork` for these settings (built once, then cached)."""
    check_choice(net, LPIPS_NETS, "net")
    check_choice(version, LPIPS_VERSIONS, "version")
    return LPIPSNetwork(net, version, weights)


def lpips(
    y_true,
    y_pred,
    net: str = "alex",
    version: str = "0.1",
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
    spatial: bool = False,
):
    """LPIPS distance (Zhang et al. 2018, Eq. 1) between two images or two batches.

    The same numbers as the reference ``lpips.LPIPS(net=net, version=version)`` on the
    same images (that package wants [-1, 1] inputs; here any ``value_range``).

    Args:
        y_true: reference image(s), ``(H, W, 3)`` or ``(B, H, W, 3)``, float, RGB, in
            ``value_range``.
        y_pred: image(s) of the same shape.
        net: ``"alex"`` (default here, as in the reference: the best forward metric) or
            ``"vgg"`` (closer to a traditional perceptual loss; the loss's default).
        version: ``"0.1"`` (default) or ``"0.0"`` (the first release).
        weights: the backbone's weights: ``"imagenet"`` (torchvision's, downloaded and
            converted once), a path to a torchvision ``.pth`` state dict or converted Keras
            weights, or ``None`` (random, for tests).
        value_range: ``(low, high)`` of the images.
        spatial: return the per-pixel map instead of its average.

    Returns:
        ``(B,)`` float32 distances (>= 0, 0 for identical images), ``(B, H, W)`` with
        ``spatial=True``; a scalar / ``(H, W)`` for unbatched images. A batch of 0 gives
        ``(0,)`` / ``(0, H, W)`` without running the network.

    Raises:
        InputError: bad argument, shapes that differ, images smaller than the network
            needs (16 px for ``"vgg"``, 31 px for ``"alex"``) or integer images.
        WeightsUnavailableError: ``weights="imagenet"`` cannot be downloaded.

    Example:
        >>> a = np.random.rand(2, 64, 64, 3).astype("float32")
        >>> lpips(a, a, weights=None).shape
        (2,)
    """
    network = lpips_network(net, version, weights=weights)
    return pair_function(network, y_true, y_pred, value_range, spatial=check_flag(spatial, "spatial"))


@keras.saving.register_keras_serializable(package="keras_perceptual")
class LPIPSLoss(LearnedMetricLoss):
    """LPIPS (Zhang et al., CVPR 2018, Eq. 1) as a Keras loss: one distance per image.

    ``y_pred`` is compared with ``y_true`` through a frozen torchvision VGG16 / AlexNet
    and the released per-channel weights; numerically the reference ``lpips`` package
    (see :func:`lpips`). ``y_true`` runs without gradient. Computes in float32 under any
    dtype policy.

    Args:
        net: ``"vgg"`` (default for training: the LPIPS authors' advice for optimization)
            or ``"alex"`` (their default as an evaluation metric).
        version: ``"0.1"`` (default) or ``"0.0"``.
        weights: ``"imagenet"`` (torchvision's ImageNet backbone, downloaded once and
            converted), a path to a torchvision ``.pth`` state dict (either ``torch.save``
            format) or to converted Keras weights, or ``None`` (random, seeded).
        value_range: ``(low, high)`` of the images (the library rescales; LPIPS sees
            [-1, 1]).
        spatial: ``True`` returns the per-pixel distance map ``(batch, H, W)`` (the
            reduction then averages over pixels too).
        reduction, name, dtype: as in ``keras.losses.Loss``; ``reduction=None`` gives
            ``(batch,)`` values.

    Raises:
        InputError: bad argument (at construction) or images of different shapes,
            too small (16 px for ``"vgg"``, 31 px for ``"alex"``) or of integer dtype (at
            the first call).
        WeightsUnavailableError: ``weights="imagenet"`` cannot be downloaded.

    Example:
        >>> loss = LPIPSLoss(weights=None, reduction=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> np.asarray(loss(x, x))
        array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        net: str = "vgg",
        version: str = "0.1",
        weights: str | os.PathLike | None = "imagenet",
        value_range: Sequence[float] = (0.0, 1.0),
        spatial: bool = False,
        reduction: str | None = "sum_over_batch_size",
        name: str = "lpips_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.net = check_choice(net, LPIPS_NETS, "net")
        self.version = check_choice(version, LPIPS_VERSIONS, "version")
        self.weights_source = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        self.spatial = check_flag(spatial, "spatial")
        self.values_rank = 3 if self.spatial else 1
        self.network = lpips_network(self.net, self.version, weights=self.weights_source)
        self.distance_options = {"spatial": self.spatial}

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.spatial and sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
            if len(sample_weight.shape) == 1:
                # One weight per image applies to every pixel of its (H, W) map.
                sample_weight = ops.reshape(sample_weight, (-1, 1, 1))
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "net": self.net,
            "version": self.version,
            "weights": self.weights_source,
            "spatial": self.spatial,
        }


__all__ = [
    "LPIPSLoss",
    "LPIPSNetwork",
    "LPIPS_BACKBONES",
    "LPIPS_NETS",
    "LPIPS_SCALE",
    "LPIPS_SHIFT",
    "LPIPS_VERSIONS",
    "lpips",
    "lpips_linear_weights",
    "lpips_network",
]
