"""The training objective of arbitrary style transfer with adaptive instance normalization.

Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization", ICCV 2017, Section 6.2. With ``f`` the frozen VGG encoder, ``c`` a
content image, ``s`` a style image, ``t = AdaIN(f(c), f(s))`` at ``relu4_1`` and
``g(t)`` the decoded (stylized) image:

* content loss, Eq. (12): ``L_c = ||f(g(t)) - t||`` at ``relu4_1``: the stylized image's
  features must be the AdaIN target itself, not the content image's features;
* style loss, Eq. (13): ``L_s = sum_i ||mu(phi_i(g(t))) - mu(phi_i(s))|| +
  ||sigma(phi_i(g(t))) - sigma(phi_i(s))||`` over ``relu1_1, relu2_1, relu3_1, relu4_1``:
  only the per-channel means and standard deviations are matched (what AdaIN transfers),
  not Gram matrices;
* ``L = L_c + lambda L_s`` (Eq. 11).

``distance="mse"`` (default) takes the mean of squared differences, as the authors'
released code and pytorch-AdaIN do; ``"l2"`` the Euclidean norms of the equations.

Keras' losses see ``(y_true, y_pred)``; the objective needs the content *and* the style
image, so ``y_true`` packs both along the channel axis, ``(batch, H, W, 6)``:
:meth:`AdaINLoss.pack_targets` (equal sizes, as the paper's 256 x 256 training crops).
:meth:`AdaINLoss.compute_terms` takes them apart, of any sizes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_perceptual._checks import (
    check_choice,
    check_non_negative_values,
    check_one_or_same_batch,
    check_positive_float,
    check_same_shape,
    check_weight,
    layer_weights,
    static_image_shape,
)
from keras_perceptual.backbones import (
    BACKBONES,
    FeatureExtractor,
    backbone_outputs,
    check_backbone_dtype,
    check_image_size,
    resolve_layer,
)
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.layers import ADAIN_ENCODER_LAYER, AdaptiveInstanceNormalization
from keras_perceptual.losses.base import ImageLoss, check_image_pair, restored_without_weights
from keras_perceptual.ops import ADAIN_EPSILON, as_float_tensor, channel_mean_std, keep_nan
from keras_perceptual.weights import resolve_weights

#: The style layers of Huang & Belongie (2017), Section 6.2.
ADAIN_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ADAIN_DISTANCES = ("mse", "l2")
#: Default ``style_weight`` of :class:`AdaINLoss`; see its docstring for why.
DEFAULT_ADAIN_STYLE_WEIGHT = 10.0


def _distance(diff, axes, distance: str):
    squared = ops.square(diff)
    if distance == "mse":
        return ops.mean(squared, axis=axes)
    return ops.sqrt(ops.sum(squared, axis=axes) + 1e-12)


def adain_content_loss(features_pred, target, distance: str = "mse"):
    """Eq. (12) per image: the distance of ``f(g(t))`` to the AdaIN target ``t``.

    Args:
        features_pred: ``(batch, H, W, C)`` encoder features of the stylized images.
        target: ``(batch, H, W, C)`` AdaIN targets ``t``.
        distance: ``"mse"`` (mean over H, W, C of squared differences) or ``"l2"``
            (Euclidean norm).

    Returns:
        ``(batch,)`` float32.

    Raises:
        InputError: features that are not floating-point rank-4 tensors of one shape
            (checked when the graph runs where sizes are ``None`` when traced), or a bad
            ``distance``.

    Example:
        >>> adain_content_loss(np.ones((2, 4, 4, 8)), np.zeros((2, 4, 4, 8)))
        [1., 1.]
    """
    check_choice(distance, ADAIN_DISTANCES, "distance")
    features_pred, target = check_image_pair(
        features_pred, target, names=("features_pred", "target"),
        message="features_pred and target must have the same shape: the encoder's features of "
        "the stylized images and their AdaIN targets, at one layer. ",
    )
    return _content_distance(features_pred, target, distance)


def _content_distance(features_pred, target, distance: str):
    """:func:`adain_content_loss` of checked features (:class:`AdaINLoss` checked the
    images), in float32."""
    diff = ops.cast(features_pred, "float32") - ops.cast(target, "float32")
    return _distance(diff, (1, 2, 3), distance)


def adain_style_loss(features_pred, style_mean, style_std, distance: str = "mse",
                     epsilon: float = ADAIN_EPSILON):
    """Eq. (13) for one layer, per image: distances of the per-channel means and stds.

    Args:
        features_pred: ``(batch, H, W, C)`` features of the stylized images.
        style_mean, style_std: ``(batch or 1, C)`` statistics of the style images
            (:func:`~keras_perceptual.ops.channel_mean_std`).
        distance: ``"mse"`` (mean over C of squared differences, for each statistic) or
            ``"l2"`` (Euclidean norm of each).
        epsilon: added to the variance of ``features_pred``.

    Returns:
        ``(batch,)`` float32: ``d(mu, mu_s) + d(sigma, sigma_s)``.

    Raises:
        InputError: ``features_pred`` that is not a floating-point rank-4 tensor; statistics
            that are not floating-point ``(batch or 1, C)`` tensors of one shape, with the
            features' channel count ``C`` and a batch of 1 or the features' (checked when the
            graph runs where sizes are ``None`` when traced); a negative ``style_std``, where
            its values are known (eager calls and numpy arrays); a bad ``distance`` or
            ``epsilon``.

    Example:
        >>> from keras_perceptual.ops import channel_mean_std
        >>> features, style_features = np.random.rand(2, 4, 4, 8), np.random.rand(1, 6, 6, 8)
        >>> mean, std = channel_mean_std(style_features)
        >>> tuple(adain_style_loss(features, mean, std).shape)
        (2,)
    """
    check_choice(distance, ADAIN_DISTANCES, "distance")
    features_pred = as_float_tensor(features_pred, "features_pred")
    static_image_shape(features_pred, "features_pred", channels=None)
    style_mean, style_std = _check_statistics(style_mean, style_std, features_pred)
    return _style_distance(features_pred, style_mean, style_std, distance, epsilon)


def _style_distance(features_pred, style_mean, style_std, distance: str, epsilon: float):
    """:func:`adain_style_loss` of checked features and statistics (:class:`AdaINLoss`
    computes the statistics itself)."""
    mean, std = channel_mean_std(features_pred, epsilon)
    return _distance(mean - style_mean, (1,), distance) + _distance(std - style_std, (1,), distance)


def _check_statistics(style_mean, style_std, features) -> tuple:
    """``(style_mean, style_std)`` as float32 tensors, once checked against ``features``."""
    style_mean = as_float_tensor(style_mean, "style_mean")
    style_std = as_float_tensor(style_std, "style_std")
    for x, name in ((style_mean, "style_mean"), (style_std, "style_std")):
        if len(x.shape) != 2:
            raise InputError(
                f"{name} must be (batch or 1, channels): per-image channel statistics, e.g. "
                "from keras_perceptual.ops.channel_mean_std(style_features); add a batch axis "
                f"with {name}[None] for one style. Received: {name}.shape={tuple(x.shape)}"
            )
    style_mean, style_std = check_same_shape(
        style_mean,
        style_std,
        "style_mean and style_std must have the same shape, the two statistics of the same "
        "style images. ",
        names=("style_mean", "style_std"),
    )
    style_mean, features = check_same_shape(
        style_mean,
        features,
        "style_mean and style_std must have one entry per channel of features_pred; compute "
        "them at the same layer. ",
        names=("style_mean", "features_pred"),
        axes=(slice(-1, None), slice(-1, None)),
    )
    style_mean, features = check_one_or_same_batch(
        style_mean,
        features,
        "style_mean and style_std must hold the statistics of one style image for every "
        "image, or of one per image (a batch of 1 or features_pred's batch size). ",
        names=("style_mean", "features_pred"),
    )
    check_non_negative_values(
        style_std, "style_std", "style_std must hold standard deviations, >= 0. "
    )
    return style_mean, style_std


@keras.saving.register_keras_serializable(package="keras_perceptual")
class AdaINLoss(ImageLoss):
    """The AdaIN objective ``L_c + style_weight * L_s`` (Huang & Belongie 2017, Eqs. 11-13).

    Trains the decoder of :func:`~keras_perceptual.models.arbitrary_style_net`. Per
    image: the content loss compares the stylized image's encoder features at
    ``content_layer`` with the AdaIN target ``t = AdaIN(f(content), f(style))`` (Eq. 12,
    computed here from the two images, without gradient); the style loss compares the
    per-channel means and standard deviations of its features with the style image's at
    ``style_layers`` (Eq. 13, a dict gives layer weights). One frozen encoder serves every
    term, truncated at the deepest layer.

    ``y_true`` is the content and style images packed along the channel axis,
    ``(batch, H, W, 6)`` (:meth:`pack_targets`); ``y_pred`` the stylized images.
    :meth:`compute_terms` takes the three images separately, in any sizes.

    ``style_weight=10`` is the paper's lambda, set for their encoder (a VGG-19 normalized
    so that every channel's mean activation is 1). Keras' VGG sees caffe-range inputs and
    its activations are larger, the early layers' most: on the demo's photos and paintings
    with the stand-in VGG-16, the content image itself scores ``L_c`` about 30-50 and
    ``L_s`` about 1,400-2,400 (``relu1_1`` and ``relu2_1`` 85% of it), so tune the weight to
    the trade-off you want.

    Args:
        style_weight: ``lambda`` of Eq. (11), >= 0.
        content_weight: weight of ``L_c``, >= 0.
        style_layers: name, list or ``{name: weight}``; default ``relu1_1 ... relu4_1``.
        content_layer: the AdaIN layer, ``"relu4_1"`` (must match the network's encoder).
        distance: ``"mse"`` (the released code) or ``"l2"`` (the equations' norms).
        epsilon: added to variances (as in the AdaIN layer), > 0.
        backbone: ``"vgg19"`` (the paper) or ``"vgg16"``.
        weights: ``"imagenet"``, ``"hed_bsds500"`` (VGG-16), a path or ``None``.
        backbone_dtype: the encoder's compute dtype (``"float32"``, ``"auto"`` or a mixed
            policy; see :class:`~keras_perceptual.losses.FeatureReconstructionLoss`).
        value_range: ``(low, high)`` of the images.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Raises:
        InputError: a bad argument (at construction) or images that cannot be compared
            (at the first call).

    Example:
        >>> loss = AdaINLoss(weights=None, backbone="vgg16")
        >>> content, style = np.random.rand(2, 32, 32, 3), np.random.rand(2, 32, 32, 3)
        >>> stylized = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> loss(AdaINLoss.pack_targets(content, style), stylized).shape
        ()
    """

    def __init__(
        self,
        style_weight: float = DEFAULT_ADAIN_STYLE_WEIGHT,
        content_weight: float = 1.0,
        style_layers: Any = ADAIN_STYLE_LAYERS,
        content_layer: str = ADAIN_ENCODER_LAYER,
        distance: str = "mse",
        epsilon: float = ADAIN_EPSILON,
        backbone: str = "vgg19",
        weights: str | os.PathLike | None = "imagenet",
        backbone_dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "adain_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.style_weight = check_weight(style_weight, "style_weight")
        self.content_weight = check_weight(content_weight, "content_weight")
        self.style_layers = layer_weights(style_layers, "style_layers")
        if not isinstance(content_layer, str):
            raise InputError(
                f"content_layer must be one layer name such as 'relu4_1'. "
                f"Received: content_layer={content_layer!r}"
            )
        self.content_layer = content_layer
        self.distance = check_choice(distance, ADAIN_DISTANCES, "distance")
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.backbone = check_choice(backbone, BACKBONES, "backbone")
        for layer in (*self.style_layers, content_layer):
            resolve_layer(layer, self.backbone)
        self.weights = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        self.backbone_dtype = check_backbone_dtype(backbone_dtype, "backbone_dtype")
        taps = list(dict.fromkeys([*self.style_layers, content_layer]))
        extractor = FeatureExtractor(
            taps, backbone=self.backbone, weights=weights, value_range=self.value_range,
            compute_dtype=self.backbone_dtype,
        )
        # Plain attributes in a tuple, so model.save() does not write the encoder's weights
        # into every checkpoint (the loss rebuilds it from its config).
        self._networks = (extractor, extractor.submodel([content_layer]))
        self._adain = AdaptiveInstanceNormalization(epsilon=self.epsilon, dtype="float32")

    @staticmethod
    def pack_targets(content, style):
        """``y_true`` for :class:`AdaINLoss`: content and style images along channels.

        Args:
            content: ``(batch, H, W, 3)`` content images.
            style: ``(batch, H, W, 3)`` style images of the same size.

        Returns:
            ``(batch, H, W, 6)`` float32 tensor.

        Raises:
            InputError: shapes that differ or are not RGB batches.

        Example:
            >>> c, s = np.random.rand(2, 32, 32, 3), np.random.rand(2, 32, 32, 3)
            >>> y_true = AdaINLoss.pack_targets(c, s)  # model.fit({"content": c, "style": s}, y_true)
            >>> tuple(y_true.shape)
            (2, 32, 32, 6)
        """
        static_image_shape(content, "content")
        static_image_shape(style, "style")
        content, style = check_same_shape(
            content,
            style,
            "pack_targets needs content and style batches of the same shape (crop both to "
            "one size, as the paper's 256 x 256 training crops); compare images of other "
            "sizes with compute_terms. ",
            names=("content", "style"),
        )
        return ops.concatenate([ops.cast(content, "float32"), ops.cast(style, "float32")], -1)

    def compute_terms(self, content, style, stylized) -> dict:
        """Per-image values of the terms, before their weights.

        Args:
            content: ``(batch, H, W, 3)`` content images (in ``value_range``).
            style: ``(batch or 1, Hs, Ws, 3)`` style images, any size.
            stylized: ``(batch, H, W, 3)`` the network's outputs for them.

        Returns:
            ``{"content", "style", "style/<layer>"}``, each ``(batch,)``.

        Example:
            >>> loss = AdaINLoss(weights=None, backbone="vgg16")
            >>> content, painting = np.random.rand(2, 32, 32, 3), np.random.rand(40, 48, 3)
            >>> stylized = np.random.rand(2, 32, 32, 3)  # stylize(net, content, style_image=painting)
            >>> terms = loss.compute_terms(content, painting[None], stylized)
            >>> sorted(terms)[:2], tuple(terms["content"].shape)
            (['content', 'style'], (2,))
        """
        extractor, content_model = self._networks
        if extractor.pending_weights is not None:
            raise restored_without_weights(self, extractor.pending_weights, self.weights)
        stylized = as_float_tensor(stylized, "y_pred", self.dtype, self.value_range)
        content = ops.stop_gradient(as_float_tensor(content, "content", self.dtype,
                                                    self.value_range))
        style = ops.stop_gradient(as_float_tensor(style, "style", self.dtype, self.value_range))
        minimum = extractor.min_image_size
        for value, name in ((stylized, "y_pred"), (content, "content"), (style, "style")):
            check_image_size(value, name, minimum, extractor.taps)
        content, stylized = check_same_shape(
            content,
            stylized,
            "The stylized images (y_pred) must have the content images' shape. ",
            names=("content", "y_pred"),
            axes=(slice(0, 3), slice(0, 3)),
        )
        style, stylized = check_one_or_same_batch(
            style,
            stylized,
            "style must hold one style image for every stylized image, or one per image (a "
            "batch of 1 or y_pred's batch size); repeat the style image or split the batch. ",
            names=("style", "y_pred"),
        )
        pred = extractor(stylized)
        style_features = extractor(style)
        statistics = {
            layer: tuple(ops.stop_gradient(s) for s in channel_mean_std(style_features[layer],
                                                                        self.epsilon))
            for layer in dict.fromkeys([*self.style_layers, self.content_layer])
        }
        terms = {}
        if self.content_weight > 0:
            content_features = backbone_outputs(content_model, content)[self.content_layer]
            target = ops.stop_gradient(
                self._adain.transfer(content_features, *statistics[self.content_layer], alpha=1.0)
            )
            terms["content"] = keep_nan(
                _content_distance(pred[self.content_layer], target, self.distance),
                stylized, content, style, per_sample=True,
            )  # NaN images stay NaN: max pooling may drop NaN (TensorFlow does)
        total = 0.0
        for layer, weight in self.style_layers.items():
            value = _style_distance(pred[layer], *statistics[layer], self.distance, self.epsilon)
            value = keep_nan(value, stylized, style, per_sample=True)
            terms[f"style/{layer}"] = value
            total = total + weight * value
        terms["style"] = total
        return terms

    @property
    def min_image_size(self) -> int:
        """The smallest height and width (pixels) of the content, style and stylized
        images: what the deepest style layer needs (16 px for VGG19's relu4_1)."""
        return self._networks[0].min_image_size

    def call(self, y_true, y_pred):
        shape = static_image_shape(y_true, "y_true", channels=None)
        if shape[-1] != 6:
            raise InputError(
                "AdaINLoss takes y_true = the content and style images packed along the channel "
                "axis, (batch, H, W, 6): build it with AdaINLoss.pack_targets(content, style). "
                f"Received: y_true.shape={shape}"
            )
        terms = self.compute_terms(y_true[..., :3], y_true[..., 3:], y_pred)
        total = self.style_weight * terms["style"]
        if "content" in terms:
            total = total + self.content_weight * terms["content"]
        return ops.cast(total, self.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "style_weight": self.style_weight,
            "content_weight": self.content_weight,
            "style_layers": dict(self.style_layers),
            "content_layer": self.content_layer,
            "distance": self.distance,
            "epsilon": self.epsilon,
            "backbone": self.backbone,
            "weights": self.weights,
            "backbone_dtype": self.backbone_dtype,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the loss from :meth:`get_config`, as ``keras.models.load_model`` does.

        Loading never fails because the encoder's weights (a path, or ``"imagenet"``
        without internet) are missing on this machine: the loss is then restored with an
        encoder without weights, and its first use raises a
        :class:`~keras_perceptual.weights.WeightsUnavailableError` naming the weights and
        the fix (as :class:`~keras_perceptual.losses.PerceptualLoss` does).
        """
        try:
            resolve_weights(config.get("weights", "imagenet"), config.get("backbone", "vgg19"))
        except KerasPerceptualError as error:
            loss = super().from_config({**config, "weights": None})
            loss.weights = config.get("weights")
            extractor = loss._networks[0]
            extractor.weights_source = loss.weights
            extractor.pending_weights = error
            return loss
        return super().from_config(config)


__all__ = [
    "ADAIN_DISTANCES",
    "ADAIN_STYLE_LAYERS",
    "AdaINLoss",
    "DEFAULT_ADAIN_STYLE_WEIGHT",
    "adain_content_loss",
    "adain_style_loss",
]
