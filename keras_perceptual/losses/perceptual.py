"""The perceptual losses of Johnson, Alahi & Fei-Fei (ECCV 2016).

With ``phi_j(x)`` the ``C_j x H_j x W_j`` activation of layer ``j`` of a frozen
VGG-16 (:class:`~keras_perceptual.backbones.FeatureExtractor`):

* Feature reconstruction loss, Eq. (2):
  ``l_feat^{phi,j}(y_hat, y) = 1/(C_j H_j W_j) ||phi_j(y_hat) - phi_j(y)||_2^2``.
* Style reconstruction loss, Eq. (4), with the Gram matrix ``G_j`` of Eq. (3):
  ``l_style^{phi,j}(y_hat, y) = ||G_j(y_hat) - G_j(y)||_F^2``, summed over a set
  of layers ``J``.
* Total variation regularizer ``l_TV`` and the pixel loss
  ``l_pixel = 1/(CHW) ||y_hat - y||_2^2`` (Section 3.3).
* The style-transfer objective, Eq. (5):
  ``lambda_c l_feat + lambda_s l_style + lambda_TV l_TV``.

Every term is computed per image (``reduction=None`` gives ``(batch,)`` values)
and is range-invariant: pixel and TV terms see the images rescaled from
``value_range`` to [0, 1], feature terms see the backbone's own preprocessing.

Speed: ``y_pred`` goes once through the backbone, as deep as the deepest layer
any term needs; ``y_true`` goes only as deep as the content layers need, with no
gradient; the style target's Gram matrices are computed once at construction
when ``style_image`` is given and reused as constants for every batch.

Conventions differ between implementations (Gram divisor, style distance,
layers, weights); they are explicit arguments here, and
:meth:`PerceptualLoss.from_preset` reproduces the known ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    check_choice,
    check_weight,
    layer_weights,
    static_image_shape,
)
from keras_perceptual.backbones import (
    BACKBONES,
    FeatureExtractor,
    check_backbone_dtype,
    check_image_size,
    min_image_size,
    resolve_layer,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import load_image
from keras_perceptual.losses.base import ImageLoss
from keras_perceptual.ops import (
    GRAM_NORMALIZATIONS,
    charbonnier,
    gram_matrix,
    to_unit_range,
    total_variation,
)

CONTENT_DISTANCES = ("l2", "l1", "charbonnier")
STYLE_DISTANCES = ("squared_frobenius", "mse")
PAPER_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
PAPER_CONTENT_LAYERS = ("relu2_2",)

#: Default weights of :class:`PerceptualLoss`; see its docstring for why.
DEFAULT_STYLE_WEIGHT = 2e-5
DEFAULT_TV_WEIGHT = 1e-4


# --------------------------------------------------------------------------
# Pure functions: one value per image.
# --------------------------------------------------------------------------


def feature_reconstruction(features_pred, features_true, distance: str = "l2", epsilon=1e-3):
    """Eq. (2) per image: mean over ``H_j, W_j, C_j`` of the feature distance.

    ``distance="l2"`` is the paper's ``1/(CHW) ||a - b||_2^2``; ``"l1"`` uses
    ``|a - b|`` and ``"charbonnier"`` ``sqrt((a - b)^2 + epsilon^2)``.

    Returns:
        ``(batch,)`` tensor.
    """
    check_choice(distance, CONTENT_DISTANCES, "distance")
    diff = features_pred - features_true
    if distance == "l2":
        values = ops.square(diff)
    elif distance == "l1":
        values = ops.abs(diff)
    else:
        values = charbonnier(diff, epsilon)
    return ops.mean(values, axis=(1, 2, 3))


def style_reconstruction(gram_pred, gram_target, distance: str = "squared_frobenius"):
    """Eq. (4) per image: ``||G(y_hat) - G(y)||_F^2`` (or its mean over ``C x C`` with ``"mse"``).

    ``gram_target`` may have batch size 1; it is broadcast over the batch.

    Returns:
        ``(batch,)`` tensor.
    """
    check_choice(distance, STYLE_DISTANCES, "style_distance")
    squared = ops.square(gram_pred - gram_target)
    if distance == "mse":
        return ops.mean(squared, axis=(1, 2))
    return ops.sum(squared, axis=(1, 2))


def pixel_reconstruction(y_true, y_pred, value_range=(0.0, 1.0)):
    """Per-image mean squared error of the images rescaled to [0, 1]."""
    diff = to_unit_range(y_pred, value_range) - to_unit_range(y_true, value_range)
    return ops.mean(ops.square(diff), axis=(1, 2, 3))


# --------------------------------------------------------------------------
# Style images.
# --------------------------------------------------------------------------


def _style_image_array(style_image: Any, value_range) -> np.ndarray:
    """Returns the style image as a float32 ``(1, H, W, 3)`` array in ``value_range``."""
    if isinstance(style_image, (str, os.PathLike)):
        array = load_image(style_image, value_range=value_range)
    else:
        raw = ops.convert_to_numpy(style_image) if not isinstance(style_image, list) else None
        array = np.asarray(raw if raw is not None else style_image)
        if array.dtype.kind not in "f":
            raise InputError(
                f"style_image has dtype {array.dtype}; expected float pixels in value_range="
                f"{tuple(value_range)} (e.g. uint8 / 255.0) or a path to an image file. "
                f"Received: style_image.dtype={array.dtype}"
            )
        array = array.astype(np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1 or array.shape[-1] != 3:
        raise InputError(
            "style_image must be one RGB image of shape (H, W, 3) or (1, H, W, 3), or a path. "
            f"Received: style_image.shape={array.shape}"
        )
    low, high = value_range
    tolerance = 1e-3 * (high - low)
    if array.min() < low - tolerance or array.max() > high + tolerance:
        raise InputError(
            f"style_image values span [{array.min():.4g}, {array.max():.4g}], outside "
            f"value_range={tuple(value_range)}; rescale the image (e.g. / 255.0) or pass the "
            f"matching value_range. Received: style_image range=[{array.min():.4g}, "
            f"{array.max():.4g}]"
        )
    return array


# --------------------------------------------------------------------------
# The engine shared by the three backbone losses.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LossNetworks:
    """The frozen networks a loss runs (kept out of Keras' saved weights on purpose).

    Attributes:
        extractor: the :class:`FeatureExtractor` for ``y_pred``, through every tap.
        target: the model ``y_true`` goes through (a sub-model of ``extractor`` on the
            same layers, as deep as the content taps), or ``None`` if no term needs it.

    A plain object, not a Keras one: ``model.save()`` walks a compiled loss's Keras
    attributes and would otherwise write the whole loss network (30+ MB of VGG
    weights, which the loss rebuilds from its config) into every checkpoint.
    """

    extractor: FeatureExtractor | None
    target: keras.Model | None


class _BackboneLoss(ImageLoss):
    """Content, style, TV and pixel terms over one shared, truncated backbone."""

    def _setup(
        self,
        content_layers,
        style_layers,
        style_image,
        content_weight,
        style_weight,
        tv_weight,
        pixel_weight,
        content_distance,
        epsilon,
        gram_normalization,
        style_distance,
        tv_power,
        backbone,
        weights,
        backbone_dtype="float32",
    ):
        # --- Arguments, all checked before the backbone is built. ---
        self.backbone = check_choice(backbone, BACKBONES, "backbone")
        self.content_distance = check_choice(content_distance, CONTENT_DISTANCES, "distance")
        self.gram_normalization = check_choice(
            gram_normalization, GRAM_NORMALIZATIONS, "gram_normalization"
        )
        self.style_distance = check_choice(style_distance, STYLE_DISTANCES, "style_distance")
        self.epsilon = check_weight(epsilon, "epsilon")
        self.tv_power = check_weight(tv_power, "tv_power")
        self.content_weight = check_weight(content_weight, "content_weight")
        self.style_weight = check_weight(style_weight, "style_weight")
        self.tv_weight = check_weight(tv_weight, "tv_weight")
        self.pixel_weight = check_weight(pixel_weight, "pixel_weight")
        self.content_layers = (
            None if content_layers is None else layer_weights(content_layers, "content_layers")
        )
        self.style_layers = (
            None if style_layers is None else layer_weights(style_layers, "style_layers")
        )
        for layers in (self.content_layers or {}, self.style_layers or {}):
            for layer in layers:
                resolve_layer(layer, self.backbone)
        self.weights_source = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
        self.backbone_dtype = check_backbone_dtype(backbone_dtype, "backbone_dtype")
        self.style_image_source = style_image

        content = self.content_layers if self.content_weight > 0 else None
        style = self.style_layers if self.style_weight > 0 else None
        self._content = content or {}
        self._style = style or {}

        # --- One backbone for every term, truncated at the deepest tap. ---
        self.networks = LossNetworks(None, None)
        self._style_grams = None
        self.style_gram_computations = 0
        taps = list(dict.fromkeys([*self._content, *self._style]))
        if not taps:
            if style_image is not None and style is None:
                _style_image_array(style_image, self.value_range)
            return
        extractor = FeatureExtractor(
            taps,
            backbone=self.backbone,
            weights=weights,
            value_range=self.value_range,
            compute_dtype=backbone_dtype,
        )
        if self._style and style_image is not None:
            self._style_grams = self._compute_style_grams(extractor, style_image)
        if self._style and style_image is None:
            # Style targets are y_true's Grams: y_true needs every tap.
            target, target_layers = extractor, list(extractor.taps)
        elif self._content:
            target, target_layers = extractor.submodel(list(self._content)), list(self._content)
        else:
            target, target_layers = None, []
        self.networks = LossNetworks(extractor, target)
        self._min_pred = extractor.min_image_size
        self._target_layers = target_layers
        self._min_true = max([min_image_size(t, self.backbone) for t in target_layers] or [1])

    def _compute_style_grams(self, extractor, style_image):
        image = _style_image_array(style_image, self.value_range)
        check_image_size(image, "style_image", extractor.min_image_size, self._style)
        features = extractor.submodel(list(self._style))(image)
        self.style_gram_computations += 1
        return {
            layer: ops.convert_to_tensor(
                ops.convert_to_numpy(
                    gram_matrix(ops.cast(features[layer], "float32"), self.gram_normalization)
                )
            )
            for layer in self._style
        }

    @property
    def style_grams(self):
        """The constant Gram matrices of ``style_image``, ``{layer: (1, C, C)}``, or ``None``."""
        return self._style_grams

    # ------------------------------------------------------------------
    def _check_shapes(self, y_true, y_pred):
        extractor, target = self.networks.extractor, self.networks.target
        needs_rgb = extractor is not None
        pred_shape = static_image_shape(y_pred, "y_pred", 3 if needs_rgb else None)
        uses_true = target is not None or self.pixel_weight > 0
        true_shape = (
            static_image_shape(y_true, "y_true", 3 if needs_rgb else None) if uses_true else None
        )
        if needs_rgb:
            check_image_size(y_pred, "y_pred", self._min_pred, extractor.taps)
        if target is not None:
            check_image_size(y_true, "y_true", self._min_true, self._target_layers)
        same_size_needed = bool(self._content) or self.pixel_weight > 0
        if same_size_needed and true_shape is not None:
            for axis in range(4):
                a, b = true_shape[axis], pred_shape[axis]
                if a is not None and b is not None and a != b:
                    raise InputError(
                        f"y_true and y_pred must have the same shape for the content/pixel "
                        f"terms; resize or crop one to match (only the style term compares "
                        f"images of different sizes). Received: y_true.shape={true_shape}, "
                        f"y_pred.shape={pred_shape}"
                    )
        if (
            self._style
            and self._style_grams is None
            and true_shape is not None
            and true_shape[0] not in (None, 1)
            and pred_shape[0] is not None
            and true_shape[0] != pred_shape[0]
        ):
            raise InputError(
                "y_true must hold one style image or one per y_pred image; "
                f"Received: y_true.shape={true_shape}, y_pred.shape={pred_shape}"
            )

    def compute_terms(self, y_true, y_pred) -> dict:
        """Per-image values of every active term, before the global term weights.

        Returns a dict with ``"content"``, ``"style"``, ``"tv"``, ``"pixel"`` (those
        with a non-zero weight) and ``"content/<layer>"``, ``"style/<layer>"``
        entries, each a ``(batch,)`` tensor. :meth:`call` returns
        ``content_weight * terms["content"] + style_weight * terms["style"] + ...``.
        """
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        self._check_shapes(y_true, y_pred)
        terms = {}
        extractor, target = self.networks.extractor, self.networks.target
        if extractor is not None:
            # Distances and Grams in the loss dtype, whatever the backbone computed in.
            pred = {k: ops.cast(v, self.dtype) for k, v in extractor(y_pred).items()}
            true = target(ops.stop_gradient(y_true)) if target is not None else {}
            true = {k: ops.cast(v, self.dtype) for k, v in true.items()}
            if self._content:
                total = 0.0
                for layer, weight in self._content.items():
                    value = feature_reconstruction(
                        pred[layer],
                        ops.stop_gradient(true[layer]),
                        self.content_distance,
                        self.epsilon,
                    )
                    terms[f"content/{layer}"] = value
                    total = total + weight * value
                terms["content"] = total
            if self._style:
                total = 0.0
                for layer, weight in self._style.items():
                    gram = gram_matrix(pred[layer], self.gram_normalization)
                    if self._style_grams is not None:
                        target = self._style_grams[layer]
                    else:
                        target = ops.stop_gradient(
                            gram_matrix(true[layer], self.gram_normalization)
                        )
                    value = style_reconstruction(gram, target, self.style_distance)
                    terms[f"style/{layer}"] = value
                    total = total + weight * value
                terms["style"] = total
        if self.tv_weight > 0:
            terms["tv"] = total_variation(to_unit_range(y_pred, self.value_range), self.tv_power)
        if self.pixel_weight > 0:
            terms["pixel"] = pixel_reconstruction(y_true, y_pred, self.value_range)
        return terms

    def call(self, y_true, y_pred):
        terms = self.compute_terms(y_true, y_pred)
        weights = {
            "content": self.content_weight,
            "style": self.style_weight,
            "tv": self.tv_weight,
            "pixel": self.pixel_weight,
        }
        total = None
        for term, weight in weights.items():
            if term in terms:
                value = weight * terms[term]
                total = value if total is None else total + value
        if total is None:
            # Every weight is zero: a defined, differentiable zero per image.
            total = ops.sum(y_pred, axis=(1, 2, 3)) * 0.0
        return ops.cast(total, self.dtype)

    def _style_image_config(self):
        source = self.style_image_source
        if source is None or isinstance(source, (str, os.PathLike)):
            return None if source is None else os.fspath(source)
        return _style_image_array(source, self.value_range)[0].tolist()

    def _backbone_config(self):
        return {
            "backbone": self.backbone,
            "weights": self.weights_source,
            "backbone_dtype": self.backbone_dtype,
        }


# --------------------------------------------------------------------------
# Public losses.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_perceptual")
class FeatureReconstructionLoss(_BackboneLoss):
    """Feature reconstruction loss, Eq. (2) of Johnson et al. (2016).

    Per image, ``sum_j w_j / (C_j H_j W_j) * ||phi_j(y_pred) - phi_j(y_true)||_2^2``
    over the requested layers ``j`` (``w_j = 1`` unless ``layers`` is a dict).
    ``y_true`` runs through the backbone only as deep as needed, without gradient.

    Args:
        layers: a name, a list of names or a dict ``{name: weight}``; default
            ``"relu2_2"`` (the paper's choice for style transfer and super-resolution).
        distance: ``"l2"`` (the paper), ``"l1"`` or ``"charbonnier"``.
        epsilon: Charbonnier epsilon, in feature units.
        backbone: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"imagenet"``, ``"hed_bsds500"``, a path or ``None``.
        backbone_dtype: the loss network's compute dtype: ``"float32"`` (default) or,
            opt-in for speed, ``"mixed_bfloat16"`` / ``"mixed_float16"`` (convolutions in
            16 bits, float32 weights; distances and Grams stay in the loss dtype).
        value_range: ``(low, high)`` of the images.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Example:
        >>> loss = FeatureReconstructionLoss("relu2_2", weights=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> float(loss(x, x))
        0.0
    """

    def __init__(
        self,
        layers: Any = "relu2_2",
        distance: str = "l2",
        epsilon: float = 1e-3,
        backbone: str = "vgg16",
        weights: str | os.PathLike | None = "imagenet",
        backbone_dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "feature_reconstruction_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self._setup(
            content_layers=layer_weights(layers, "layers"),
            style_layers=None,
            style_image=None,
            content_weight=1.0,
            style_weight=0.0,
            tv_weight=0.0,
            pixel_weight=0.0,
            content_distance=distance,
            epsilon=epsilon,
            gram_normalization="chw",
            style_distance="squared_frobenius",
            tv_power=1.0,
            backbone=backbone,
            weights=weights,
            backbone_dtype=backbone_dtype,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "layers": dict(self.content_layers),
            "distance": self.content_distance,
            "epsilon": self.epsilon,
            **self._backbone_config(),
        }


@keras.saving.register_keras_serializable(package="keras_perceptual")
class StyleReconstructionLoss(_BackboneLoss):
    """Style reconstruction loss, Eqs. (3)-(4) of Johnson et al. (2016).

    Per image, ``sum_j w_j ||G_j(y_pred) - G_j(target)||_F^2`` with
    ``G_j = psi psi^T / (C_j H_j W_j)``. The target is ``style_image`` when given
    (its Grams are computed once here and broadcast over every batch; any size),
    else ``y_true`` (which may differ in size from ``y_pred``).

    Args:
        layers: default the paper's ``relu1_2, relu2_2, relu3_3, relu4_3``.
        style_image: ``None``, an array/tensor ``(H, W, 3)`` or ``(1, H, W, 3)`` in
            ``value_range``, or a path to an image file.
        gram_normalization: ``"chw"`` (paper), ``"hw"`` (Gatys) or ``"none"`` (piq).
        distance: ``"squared_frobenius"`` (paper) or ``"mse"`` (mean over ``C x C``,
            the official code's ``nn.MSECriterion``).
        backbone, weights, backbone_dtype, value_range, reduction, name, dtype: see
            :class:`FeatureReconstructionLoss`.

    Example:
        >>> style = np.random.rand(48, 40, 3).astype("float32")
        >>> loss = StyleReconstructionLoss(style_image=style, weights=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> loss(x, x, ).shape
        ()
    """

    def __init__(
        self,
        layers: Any = PAPER_STYLE_LAYERS,
        style_image: Any = None,
        gram_normalization: str = "chw",
        distance: str = "squared_frobenius",
        backbone: str = "vgg16",
        weights: str | os.PathLike | None = "imagenet",
        backbone_dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "style_reconstruction_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self._setup(
            content_layers=None,
            style_layers=layer_weights(layers, "layers"),
            style_image=style_image,
            content_weight=0.0,
            style_weight=1.0,
            tv_weight=0.0,
            pixel_weight=0.0,
            content_distance="l2",
            epsilon=1e-3,
            gram_normalization=gram_normalization,
            style_distance=distance,
            tv_power=1.0,
            backbone=backbone,
            weights=weights,
            backbone_dtype=backbone_dtype,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "layers": dict(self.style_layers),
            "style_image": self._style_image_config(),
            "gram_normalization": self.gram_normalization,
            "distance": self.style_distance,
            **self._backbone_config(),
        }


@keras.saving.register_keras_serializable(package="keras_perceptual")
class TotalVariationLoss(ImageLoss):
    """Total variation regularizer ``l_TV`` (Johnson et al. 2016, Section 3.3).

    Per image, the sum of absolute differences of neighbouring pixels of
    ``y_pred`` rescaled from ``value_range`` to [0, 1], i.e.
    ``tensorflow.image.total_variation``. ``y_true`` is ignored. Works for any channel
    count; needs no backbone.

    Args:
        power: exponent on the differences; 1 (default, ``tensorflow.image``) or 2 (the
            squared form of the paper's official code and magenta).
        value_range, reduction, name, dtype: as for every loss here.

    Example:
        >>> x = np.zeros((1, 2, 2, 1), "float32"); x[0, 0, 0] = 1.0
        >>> float(TotalVariationLoss(reduction=None)(x, x)[0])
        2.0
    """

    _y_true_is_image = False

    def __init__(
        self,
        power: float = 1.0,
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "total_variation_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self.power = check_weight(power, "power")
        if self.power == 0:
            raise InputError(f"power must be > 0, e.g. 1 or 2. Received: power={power!r}")

    def call(self, y_true, y_pred):
        static_image_shape(y_pred, "y_pred", channels=None)
        return total_variation(to_unit_range(y_pred, self.value_range), self.power)

    def get_config(self):
        return {**super().get_config(), "power": self.power}


#: Named settings reproducing known implementations; see ``PerceptualLoss.from_preset``.
PRESETS: dict[str, dict] = {
    "johnson2016": {
        "description": "The paper (style transfer): content relu2_2; style relu1_2, relu2_2, "
        "relu3_3, relu4_3; Gram / (C H W), squared Frobenius; TV; this library's weights.",
        "kwargs": {},
    },
    "johnson2016_sr": {
        "description": "The paper (super-resolution): feature loss at relu2_2 only, with a "
        "small TV term.",
        "kwargs": {"style_layers": None, "style_weight": 0.0, "tv_weight": 1e-6},
    },
    "johnson2016_code": {
        "description": "The official Lua code's train.lua defaults: content relu3_3 (weight "
        "1), style weights 5 with nn.MSECriterion over Gram/(CHW) (a further 1/C^2), squared "
        "TV of strength 1e-6 on [0, 255] images.",
        "kwargs": {
            "content_layers": "relu3_3",
            "style_distance": "mse",
            "style_weight": 5.0,
            # Their TV gradient is 1e-6 * d/dx (1/2 sum d^2) on [0, 255] pixels.
            "tv_weight": 1e-6 * 0.5 * 255.0**2,
            "tv_power": 2.0,
        },
    },
    "pytorch_examples": {
        "description": "pytorch/examples fast_neural_style: content relu2_2 x 1e5, style "
        "x 1e10 with mse_loss over Gram/(CHW), no TV. Their VGG sees torchvision's mean/std "
        "normalization of [0, 1] images; the weights here are rescaled by the input-scale "
        "ratio 255 * 0.226 (squared for content, to the fourth for style) to fit the caffe "
        "preprocessing, which is approximate because the network's biases do not scale.",
        "kwargs": {
            "style_distance": "mse",
            "content_weight": 1e5 / (255.0 * 0.226) ** 2,
            "style_weight": 1e10 / (255.0 * 0.226) ** 4,
            "tv_weight": 0.0,
        },
    },
}


@keras.saving.register_keras_serializable(package="keras_perceptual")
class PerceptualLoss(_BackboneLoss):
    """The paper's full objective, Eq. (5), over one shared truncated VGG.

    ``content_weight * l_feat + style_weight * l_style + tv_weight * l_TV +
    pixel_weight * l_pixel`` per image, where ``l_feat`` (Eq. 2) compares
    ``y_pred`` with ``y_true`` at ``content_layers``, ``l_style`` (Eq. 4) compares
    Gram matrices with ``style_image`` (or ``y_true``) at ``style_layers``,
    ``l_TV`` is the total variation of ``y_pred`` and ``l_pixel`` the mean squared
    error, both on images rescaled to [0, 1].

    ``PerceptualLoss()`` is the paper's style-transfer setting: content at
    ``relu2_2``, style at ``relu1_2, relu2_2, relu3_3, relu4_3`` (equal layer
    weights), a TV term, and default weights ``content_weight=1.0``,
    ``style_weight=2e-5``, ``tv_weight=1e-4``. Why these (measured on this library's
    demo photos at 128 px with the pretrained-like stand-in weights ``"hed_bsds500"``;
    ImageNet weights could not be downloaded where they were calibrated, and their
    feature scale may differ): with the paper's formulas (Gram / CHW, squared Frobenius)
    the style term of a photo against a painting is O(10^7) per image, 99% of it from
    ``relu1_2``, while the content term of a half-trained network is O(10^2-10^3).
    ``style_weight=2e-5`` brings the weighted style term to the same order as the content
    term: in 300 steps a style network paints the photos in the painting's palette and
    strokes while they stay recognizable, whereas ``1e-5`` barely changes their colours and
    ``1e-4`` loses the content. The TV term of a 256x256 [0, 1] photo is O(10^4), so
    ``1e-4`` makes it a light smoothness prior (about 1 per image) that suppresses
    high-frequency speckle without blurring. The paper cross-validated ``lambda_TV`` in
    [1e-6, 1e-4]. Tune ``style_weight`` per style image and loss network.

    Args:
        content_layers: name, list or ``{name: weight}``; ``None`` switches the
            content term off.
        style_layers: likewise; ``None`` switches the style term off.
        style_image: style target (array ``(H, W, 3)``/``(1, H, W, 3)`` in
            ``value_range`` or an image path); ``None`` compares with ``y_true``.
        content_weight, style_weight, tv_weight, pixel_weight: term weights (>= 0;
            0 switches a term off and skips its computation).
        content_distance: ``"l2"`` (paper), ``"l1"`` or ``"charbonnier"``.
        epsilon: Charbonnier epsilon for ``content_distance="charbonnier"``.
        gram_normalization: ``"chw"`` (paper), ``"hw"`` or ``"none"``.
        style_distance: ``"squared_frobenius"`` (paper) or ``"mse"``.
        tv_power: 1 (``tensorflow.image.total_variation``) or 2 (squared TV).
        backbone: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"imagenet"``, ``"hed_bsds500"``, a path or ``None``.
        backbone_dtype: ``"float32"`` (default) or ``"mixed_bfloat16"`` /
            ``"mixed_float16"``: see :class:`FeatureReconstructionLoss`.
        value_range: ``(low, high)`` of the images.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Example:
        >>> loss = PerceptualLoss(style_image=np.random.rand(64, 64, 3).astype("float32"),
        ...                       weights=None)
        >>> model.compile(optimizer="adam", loss=loss)  # doctest: +SKIP
    """

    def __init__(
        self,
        content_layers: Any = PAPER_CONTENT_LAYERS,
        style_layers: Any = PAPER_STYLE_LAYERS,
        style_image: Any = None,
        content_weight: float = 1.0,
        style_weight: float = DEFAULT_STYLE_WEIGHT,
        tv_weight: float = DEFAULT_TV_WEIGHT,
        pixel_weight: float = 0.0,
        content_distance: str = "l2",
        epsilon: float = 1e-3,
        gram_normalization: str = "chw",
        style_distance: str = "squared_frobenius",
        tv_power: float = 1.0,
        backbone: str = "vgg16",
        weights: str | os.PathLike | None = "imagenet",
        backbone_dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "perceptual_loss",
        dtype=None,
    ):
        super().__init__(value_range=value_range, reduction=reduction, name=name, dtype=dtype)
        self._setup(
            content_layers=content_layers,
            style_layers=style_layers,
            style_image=style_image,
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            pixel_weight=pixel_weight,
            content_distance=content_distance,
            epsilon=epsilon,
            gram_normalization=gram_normalization,
            style_distance=style_distance,
            tv_power=tv_power,
            backbone=backbone,
            weights=weights,
            backbone_dtype=backbone_dtype,
        )

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> PerceptualLoss:
        """Builds the loss with a named convention; keyword arguments override it.

        Presets: ``"johnson2016"`` (the paper, the default), ``"johnson2016_sr"``,
        ``"johnson2016_code"`` (the official Lua defaults), ``"pytorch_examples"``.
        See ``PRESETS[name]["description"]`` and the README's conventions table.

        Example:
            >>> loss = PerceptualLoss.from_preset("johnson2016_code", weights=None)
        """
        if preset not in PRESETS:
            raise InputError(
                f"Unknown preset {preset!r}; choose one of {', '.join(map(repr, PRESETS))}. "
                f"Received: preset={preset!r}"
            )
        return cls(**{**PRESETS[preset]["kwargs"], **overrides})

    def get_config(self):
        return {
            **super().get_config(),
            "content_layers": None if self.content_layers is None else dict(self.content_layers),
            "style_layers": None if self.style_layers is None else dict(self.style_layers),
            "style_image": self._style_image_config(),
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            "pixel_weight": self.pixel_weight,
            "content_distance": self.content_distance,
            "epsilon": self.epsilon,
            "gram_normalization": self.gram_normalization,
            "style_distance": self.style_distance,
            "tv_power": self.tv_power,
            **self._backbone_config(),
        }


__all__ = [
    "CONTENT_DISTANCES",
    "FeatureReconstructionLoss",
    "PAPER_STYLE_LAYERS",
    "PRESETS",
    "PerceptualLoss",
    "STYLE_DISTANCES",
    "StyleReconstructionLoss",
    "TotalVariationLoss",
    "feature_reconstruction",
    "pixel_reconstruction",
    "style_reconstruction",
]
