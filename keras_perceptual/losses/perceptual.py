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

How the module is built (the engine), for whoever adds a term or a distance:

* :class:`TermSettings`: every setting of the terms (layers and their weights,
  distances, Gram normalization, TV power, term weights, backbone, weights, dtype,
  ``value_range``), validated once when it is built, frozen.
* :data:`STYLE_DISTANCE_FUNCTIONS`: each style distance is a :class:`StyleDistance`
  (the Gram distances of the paper and the sliced Wasserstein distance of Heitz et al.
  2021),
  a pair of per-layer functions: ``target(features, settings)`` (the statistics a
  style image is reduced to, computed once as a constant) and
  ``compare(features_pred, target, settings)`` (one value per image). A new
  distance is one more entry.
* :func:`build_loss_networks`, :func:`style_targets`, :func:`perceptual_terms` and
  :func:`weighted_sum`: pure functions over the settings. ``style_targets`` takes
  several style images and stacks their targets, so a loss over a *set* of styles
  can pass :func:`perceptual_terms` per-image targets (a selection or a convex blend).
* :class:`BackboneLoss`: the ``keras.losses.Loss`` that runs them; the three public
  losses are thin constructors over it that map their arguments to settings.
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    Unset,
    check_applies,
    check_channels,
    check_choice,
    check_convex_weights,
    check_one_or_same_batch,
    check_positive_int,
    check_same_shape,
    check_seed,
    check_value_range,
    check_weight,
    layer_weights,
    renamed_argument,
    static_image_shape,
)
from keras_perceptual.backbones import (
    BACKBONES,
    FeatureExtractor,
    backbone_outputs,
    check_backbone_dtype,
    check_image_size,
    min_image_size,
    resolve_layer,
)
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.images import image_array, image_arrays
from keras_perceptual.losses.base import ImageLoss, check_image_pair, restored_without_weights
from keras_perceptual.ops import (
    COMPUTE_DTYPE,
    GRAM_NORMALIZATIONS,
    as_float_tensor,
    charbonnier,
    check_tv_power,
    gram_matrix,
    keep_nan,
    sliced_wasserstein,
    sliced_wasserstein_directions,
    sorted_projections,
    to_unit_range,
    total_variation,
)
from keras_perceptual.weights import WeightsUnavailableError

CONTENT_DISTANCES = ("l2", "l1", "charbonnier")
PAPER_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
PAPER_CONTENT_LAYERS = ("relu2_2",)

#: True while ``from_config`` rebuilds a loss (``keras.models.load_model``): then what is
#: unavailable on this machine is reported at first use instead of failing the load.
_RESTORING = contextvars.ContextVar("keras_perceptual_restoring_loss", default=False)

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

    Args:
        features_pred, features_true: ``(batch, H, W, C)`` floating-point features of one
            shape (one layer's activations of ``y_pred`` and of ``y_true``).
        distance: ``"l2"``, ``"l1"`` or ``"charbonnier"``.
        epsilon: the Charbonnier constant (>= 0), with ``distance="charbonnier"`` only.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: features that are not floating-point rank-4 tensors of one shape
            (checked when the graph runs where sizes are ``None`` when traced), a bad
            ``distance`` or ``epsilon``, or an ``epsilon`` the distance would ignore.
    """
    check_choice(distance, CONTENT_DISTANCES, "distance")
    check_applies("epsilon", epsilon, 1e-3, "distance", distance, ["charbonnier"])  # default
    features_pred, features_true = check_image_pair(
        features_pred, features_true, names=("features_pred", "features_true"),
        message="features_pred and features_true must have the same shape, the activations of "
        "one layer for images of one size. ",
    )
    return _feature_distance(features_pred, features_true, distance, epsilon)


def _feature_distance(features_pred, features_true, distance: str, epsilon: float):
    """:func:`feature_reconstruction` of checked features (the engine checked the images),
    in float32 (16-bit backbone features are compared in float32)."""
    diff = ops.cast(features_pred, COMPUTE_DTYPE) - ops.cast(features_true, COMPUTE_DTYPE)
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

    Args:
        gram_pred: ``(batch, C, C)`` Gram matrices (:func:`~keras_perceptual.ops.gram_matrix`).
        gram_target: ``(batch or 1, C, C)`` Gram matrices of the style target.
        distance: ``"squared_frobenius"`` (the paper) or ``"mse"``.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: Gram matrices that are not floating-point ``(batch, C, C)`` tensors, of
            two sizes ``C``, or a ``gram_target`` batch other than 1 or ``gram_pred``'s
            (checked when the graph runs where sizes are ``None`` when traced); a bad
            ``distance``.
    """
    check_choice(distance, GRAM_STYLE_DISTANCES, "style_distance")
    gram_pred = as_float_tensor(gram_pred, "gram_pred")
    gram_target = as_float_tensor(gram_target, "gram_target")
    for x, name in ((gram_pred, "gram_pred"), (gram_target, "gram_target")):
        shape = tuple(x.shape)
        if len(shape) != 3 or (None not in shape[1:] and shape[1] != shape[2]):
            raise InputError(
                f"{name} must be a batch of Gram matrices (batch, C, C), e.g. from "
                f"keras_perceptual.ops.gram_matrix(features); add a batch axis with {name}[None] "
                f"for one matrix. Received: {name}.shape={shape}"
            )
    gram_target, gram_pred = check_same_shape(
        gram_target,
        gram_pred,
        "gram_pred and gram_target must be Gram matrices of one layer, (C, C) with the same "
        "channel count C; compare the Gram matrices of the same layer. ",
        names=("gram_target", "gram_pred"),
        axes=(slice(1, None), slice(1, None)),
    )
    gram_target, gram_pred = check_one_or_same_batch(
        gram_target,
        gram_pred,
        "gram_target must hold one Gram matrix for every image, or one per image (a batch of 1 "
        "or gram_pred's batch size). ",
        names=("gram_target", "gram_pred"),
    )
    return _gram_difference(gram_pred, gram_target, distance)


def _gram_difference(gram_pred, gram_target, distance: str):
    """:func:`style_reconstruction` of checked Gram matrices (the engine's own), in float32."""
    squared = ops.square(ops.cast(gram_pred, COMPUTE_DTYPE) - ops.cast(gram_target, COMPUTE_DTYPE))
    if distance == "mse":
        return ops.mean(squared, axis=(1, 2))
    return ops.sum(squared, axis=(1, 2))


def pixel_reconstruction(y_true, y_pred, value_range=(0.0, 1.0)):
    """Per-image mean squared error of the images rescaled to [0, 1].

    Args:
        y_true, y_pred: ``(batch, H, W, C)`` floating-point images of one shape, in
            ``value_range``, any channel count.
        value_range: ``(low, high)`` of the images.

    Returns:
        ``(batch,)`` tensor.

    Raises:
        InputError: images that are not floating-point rank-4 batches of one shape (checked
            when the graph runs where sizes are ``None`` when traced), or a bad
            ``value_range``.
    """
    value_range = check_value_range(value_range)
    y_true, y_pred = check_image_pair(y_true, y_pred, value_range=value_range)
    return _pixel_distance(y_true, y_pred, value_range)


def _pixel_distance(y_true, y_pred, value_range):
    """:func:`pixel_reconstruction` of checked images (the engine checked them), in float32."""
    y_true, y_pred = ops.cast(y_true, COMPUTE_DTYPE), ops.cast(y_pred, COMPUTE_DTYPE)
    diff = to_unit_range(y_pred, value_range) - to_unit_range(y_true, value_range)
    return ops.mean(ops.square(diff), axis=(1, 2, 3))


# --------------------------------------------------------------------------
# Style distances: per-layer (target statistics, comparison) pairs.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StyleDistance:
    """A style distance, as the two per-layer functions the engine calls.

    Attributes:
        target: ``target(features, settings) -> statistics``: what one layer's
            activations ``(n, H, W, C)`` of the target images reduce to, with a
            leading axis of ``n``. For a style image it is computed once, at
            construction, and kept as a constant; for ``y_true`` targets at every call.
        compare: ``compare(features_pred, statistics, settings) -> (batch,)``: the
            distance of ``y_pred``'s activations to the statistics (whose leading
            axis is 1, broadcast over the batch, or the batch size).
        stack: ``stack(list of numpy statistics) -> numpy array``: joins the statistics
            of several style images along the leading axis (default: concatenation;
            statistics whose size depends on the image size must be brought to one).
        reads: the :class:`TermSettings` fields of the style settings it reads
            (``gram_normalization``, ``num_projections``, ``seed``): given for another
            distance, where they would be ignored, they are refused.
    """

    target: Callable[[Any, TermSettings], Any]
    compare: Callable[[Any, Any, TermSettings], Any]
    stack: Callable[[list], Any] = np.concatenate
    reads: tuple[str, ...] = ()


def _gram_target(features, settings: TermSettings):
    return gram_matrix(features, settings.gram_normalization)


def _gram_distance(features_pred, target, settings: TermSettings):
    gram = gram_matrix(features_pred, settings.gram_normalization)
    return _gram_difference(gram, target, settings.style_distance)


def _sw_directions(features, settings: TermSettings):
    return sliced_wasserstein_directions(
        features.shape[-1], settings.num_projections, settings.seed
    )


def _sw_target(features, settings: TermSettings):
    return sorted_projections(features, _sw_directions(features, settings))


def _sw_distance(features_pred, target, settings: TermSettings):
    return sliced_wasserstein(features_pred, target, _sw_directions(features_pred, settings))


def _sw_stack(targets: list) -> np.ndarray:
    """Sorted projections of style images of different sizes, brought to the largest
    count of positions by nearest rank (each image's quantile function, resampled)."""
    size = max(t.shape[-1] for t in targets)
    resampled = []
    for t in targets:
        ranks = np.floor((np.arange(size) + 0.5) * t.shape[-1] / size).astype(int)
        resampled.append(t[..., ranks])
    return np.concatenate(resampled)


_GRAM_READS = ("gram_normalization",)

#: The style distances by name: the one place a new one is added.
STYLE_DISTANCE_FUNCTIONS: dict[str, StyleDistance] = {
    # Eq. (4): squared Frobenius norm of the Gram difference (the paper).
    "squared_frobenius": StyleDistance(_gram_target, _gram_distance, reads=_GRAM_READS),
    # Its mean over C x C: the official code's nn.MSECriterion, pytorch/examples' mse_loss.
    "mse": StyleDistance(_gram_target, _gram_distance, reads=_GRAM_READS),
    # Heitz et al. (CVPR 2021): the whole distribution of feature vectors, by 1-D
    # projections on constant random directions (ops.sliced_wasserstein). A blend of
    # stacked targets averages quantile functions: the 1-D Wasserstein barycentre.
    "sliced_wasserstein": StyleDistance(
        _sw_target, _sw_distance, _sw_stack, reads=("num_projections", "seed")
    ),
}
STYLE_DISTANCES = tuple(STYLE_DISTANCE_FUNCTIONS)
#: The style distances that compare Gram matrices (:func:`style_reconstruction`).
GRAM_STYLE_DISTANCES = ("squared_frobenius", "mse")


# --------------------------------------------------------------------------
# The term settings: validated once, frozen.
# --------------------------------------------------------------------------


def _frozen_layers(layers: Any, name: str):
    """``None`` or a read-only ``{layer: weight}`` (``layer_weights`` normalizes it)."""
    if layers is None:
        return None
    return types.MappingProxyType(layer_weights(layers, name))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TermSettings:
    """Every setting of the content, style, TV and pixel terms, validated once, frozen.

    The three backbone losses are thin constructors over this object: each maps
    its own arguments to these fields (``argument_names`` gives the name a user
    typed, used in error messages). Validation happens here and nowhere else.
    Fields a loss does not take keep their defaults (the term switched off, the
    paper's conventions).

    Attributes:
        content_layers: ``None`` (no content term) or a read-only ``{layer: weight}``.
        style_layers: likewise for the style term.
        content_weight, style_weight, tv_weight, pixel_weight: term weights >= 0
            (0 switches a term off and skips its computation).
        content_distance: one of :data:`CONTENT_DISTANCES`.
        epsilon: the Charbonnier constant of ``content_distance="charbonnier"``.
        gram_normalization: one of ``GRAM_NORMALIZATIONS``.
        style_distance: one of :data:`STYLE_DISTANCES`.
        num_projections: ``style_distance="sliced_wasserstein"``: random directions per
            layer, ``None`` for as many as the layer has channels.
        seed: ``style_distance="sliced_wasserstein"``: the directions' seed, in ``[0, 2**31)``.
        tv_power: exponent of the TV term.
        backbone: ``"vgg16"`` or ``"vgg19"``.
        weights: the backbone's weights as given (``os.PathLike`` stored as ``str``).
        backbone_dtype: the backbone's dtype policy name.
        value_range: ``(low, high)`` of the images.
        argument_names: ``{field: argument name}`` for messages, e.g.
            ``{"content_layers": "layers"}``; not part of equality.

    A distance's own setting (``epsilon`` of ``"charbonnier"``, a :class:`StyleDistance`'s
    ``reads``) given a non-default value with another distance raises
    :class:`~keras_perceptual.errors.InputError`: it would be silently ignored.

    Example:
        >>> settings = TermSettings(content_layers="relu2_2", content_weight=1.0,
        ...                         weights=None)
        >>> settings.content, settings.taps
        ({'relu2_2': 1.0}, ('relu2_2',))
    """

    content_layers: Any = None
    style_layers: Any = None
    content_weight: float = 0.0
    style_weight: float = 0.0
    tv_weight: float = 0.0
    pixel_weight: float = 0.0
    content_distance: str = "l2"
    epsilon: float = 1e-3
    gram_normalization: str = "chw"
    style_distance: str = "squared_frobenius"
    num_projections: int | None = None
    seed: int = 0
    tv_power: float = 1.0
    backbone: str = "vgg16"
    weights: Any
    backbone_dtype: str = "float32"
    value_range: Sequence[float] = (0.0, 1.0)
    argument_names: Mapping[str, str] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self):
        name = self.argument_name
        checked = {
            "backbone": check_choice(self.backbone, BACKBONES, name("backbone")),
            "content_distance": check_choice(
                self.content_distance, CONTENT_DISTANCES, name("content_distance")
            ),
            "gram_normalization": check_choice(
                self.gram_normalization, GRAM_NORMALIZATIONS, name("gram_normalization")
            ),
            # The live registry: a distance added to it is accepted at once.
            "style_distance": check_choice(
                self.style_distance, tuple(STYLE_DISTANCE_FUNCTIONS), name("style_distance")
            ),
            "num_projections": None
            if self.num_projections is None
            else check_positive_int(self.num_projections, name("num_projections")),
            "seed": check_seed(self.seed, name("seed")),
            "epsilon": check_weight(self.epsilon, name("epsilon")),
            "tv_power": check_tv_power(self.tv_power, name("tv_power")),
            "content_layers": _frozen_layers(self.content_layers, name("content_layers")),
            "style_layers": _frozen_layers(self.style_layers, name("style_layers")),
            "weights": os.fspath(self.weights)
            if isinstance(self.weights, os.PathLike)
            else self.weights,
            "backbone_dtype": check_backbone_dtype(self.backbone_dtype, name("backbone_dtype")),
            "value_range": check_value_range(self.value_range),
            "argument_names": types.MappingProxyType(dict(self.argument_names)),
        }
        for field in ("content_weight", "style_weight", "tv_weight", "pixel_weight"):
            checked[field] = check_weight(getattr(self, field), name(field))
        for layers in (checked["content_layers"] or {}, checked["style_layers"] or {}):
            for layer in layers:
                resolve_layer(layer, checked["backbone"])
        for field, value in checked.items():
            object.__setattr__(self, field, value)
        self._refuse_ignored_settings()

    def _refuse_ignored_settings(self) -> None:
        """A distance's own setting given with another distance, which would ignore it,
        is an error (e.g. ``num_projections`` with a Gram distance)."""
        readers = {"epsilon": ("content_distance", ["charbonnier"])}
        for distance, functions in STYLE_DISTANCE_FUNCTIONS.items():
            for field in functions.reads:
                readers.setdefault(field, ("style_distance", []))[1].append(distance)
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        name = self.argument_name
        for field, (chooser, users) in readers.items():
            check_applies(name(field), getattr(self, field), defaults[field], name(chooser),
                          getattr(self, chooser), users)

    def argument_name(self, field: str) -> str:
        """The name the user's constructor gave ``field`` (for messages)."""
        return self.argument_names.get(field, field)

    @property
    def content(self) -> dict[str, float]:
        """The content layers in use: ``{}`` when the term is off."""
        return dict(self.content_layers or {}) if self.content_weight > 0 else {}

    @property
    def style(self) -> dict[str, float]:
        """The style layers in use: ``{}`` when the term is off."""
        return dict(self.style_layers or {}) if self.style_weight > 0 else {}

    @property
    def taps(self) -> tuple[str, ...]:
        """Every layer ``y_pred`` goes through, content first, without repeats."""
        return tuple(dict.fromkeys([*self.content, *self.style]))

    @property
    def style_distance_functions(self) -> StyleDistance:
        """The :class:`StyleDistance` of ``style_distance``."""
        return STYLE_DISTANCE_FUNCTIONS[self.style_distance]

    @property
    def term_weights(self) -> dict[str, float]:
        """``{"content": ..., "style": ..., "tv": ..., "pixel": ...}``."""
        return {
            "content": self.content_weight,
            "style": self.style_weight,
            "tv": self.tv_weight,
            "pixel": self.pixel_weight,
        }


# --------------------------------------------------------------------------
# Style images.
# --------------------------------------------------------------------------


def pixels_config(pixels: np.ndarray) -> list:
    """Pixels as nested lists for a config, each float32 in its shortest exact decimal form.

    ``np.asarray(pixels_config(x), "float32")`` gives back exactly ``x``; the JSON is about
    40% smaller than ``x.tolist()`` (float32 values written with float64 digits).
    """
    return np.asarray(pixels, np.float32).astype(str).astype(np.float64).tolist()


def _style_image_array(style_image: Any, value_range) -> np.ndarray:
    """The style image as a float32 ``(1, H, W, 3)`` array (the rule of ``image_array``)."""
    return image_array(style_image, value_range, "style_image")[None]


# --------------------------------------------------------------------------
# The networks: one truncated backbone for every term.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LossNetworks:
    """The frozen networks a loss runs (kept out of Keras' saved weights on purpose).

    Attributes:
        extractor: the :class:`FeatureExtractor` for ``y_pred``, through every tap,
            or ``None`` when no term needs a backbone.
        target: the model ``y_true`` goes through (a sub-model of ``extractor`` on the
            same layers, as deep as the content taps), or ``None`` if no term needs it.
        target_layers: the layers ``target`` returns.

    A plain object, not a Keras one: ``model.save()`` walks a compiled loss's Keras
    attributes and would otherwise write the whole loss network (30+ MB of VGG
    weights, which the loss rebuilds from its config) into every checkpoint.
    """

    extractor: FeatureExtractor | None
    target: keras.Model | None
    target_layers: tuple[str, ...] = ()

    def min_target_size(self, backbone: str) -> int:
        """Smallest height/width of ``y_true`` that reaches every target layer."""
        return max([min_image_size(t, backbone) for t in self.target_layers] or [1])


def build_loss_networks(settings: TermSettings, style_from_y_true: bool) -> LossNetworks:
    """Builds the one truncated backbone every term shares, and ``y_true``'s sub-model.

    ``y_pred`` goes through every tap. ``y_true`` goes through every tap when the
    style term compares with it (``style_from_y_true``: no style image), else only
    as deep as the content taps, else nowhere.

    Args:
        settings: the validated :class:`TermSettings`.
        style_from_y_true: whether the style targets are ``y_true``'s statistics.

    Returns:
        A :class:`LossNetworks`; ``LossNetworks(None, None)`` when no term needs a
        backbone.
    """
    if not settings.taps:
        return LossNetworks(None, None)
    extractor = FeatureExtractor(
        list(settings.taps),
        backbone=settings.backbone,
        weights=settings.weights,
        value_range=settings.value_range,
        compute_dtype=settings.backbone_dtype,
    )
    if settings.style and style_from_y_true:
        return LossNetworks(extractor, extractor, tuple(extractor.taps))
    if settings.content:
        content = tuple(settings.content)
        return LossNetworks(extractor, extractor.submodel(list(content)), content)
    return LossNetworks(extractor, None)


def style_targets(
    settings: TermSettings, extractor: FeatureExtractor, images: Sequence[np.ndarray]
) -> dict[str, Any]:
    """The constant per-layer style targets of one or more style images.

    Each image (``(1, H, W, 3)`` in ``value_range``, sizes may differ) goes once
    through the style layers; its activations are reduced by the style distance's
    ``target`` function in float32. The results are stacked along a leading axis,
    one entry per image, and returned as constants (no gradient, no graph).

    Args:
        settings: the :class:`TermSettings` (style layers, distance, normalization).
        extractor: the loss's :class:`FeatureExtractor`.
        images: the style images, each ``(1, H, W, 3)``.

    Returns:
        ``{layer: (len(images), ...)}`` constant tensors.
    """
    layers = list(settings.style)
    model = extractor.submodel(layers)
    distance = settings.style_distance_functions
    per_image = []
    for image in images:
        check_image_size(image, "style_image", extractor.min_image_size, layers)
        features = model(image)
        per_image.append(
            {
                layer: ops.convert_to_numpy(
                    distance.target(ops.cast(features[layer], "float32"), settings)
                )
                for layer in layers
            }
        )
    return {
        layer: ops.convert_to_tensor(distance.stack([t[layer] for t in per_image]))
        for layer in layers
    }


def blend_style_targets(targets: Mapping[str, Any], style_weights) -> dict[str, Any]:
    """Per-image style targets from stacked ones: ``sum_k w_bk * targets[layer][k]``.

    A one-hot row selects style ``k``'s statistics; a convex row blends them (for Gram
    matrices, the Gram matrix of the blended style, as conditional instance normalization
    blends the per-style parameters, Dumoulin et al. 2017).

    Args:
        targets: ``{layer: (N, ...)}`` from :func:`style_targets` of ``N`` style images.
        style_weights: ``(batch, N)`` weights.

    Returns:
        ``{layer: (batch, ...)}``.

    Example:
        >>> blend_style_targets({"relu1_2": np.ones((3, 64, 64))}, np.eye(3)[[2, 0]])["relu1_2"].shape
        (2, 64, 64)
    """
    weights = ops.cast(style_weights, "float32")
    blended = {}
    for layer, stacked in targets.items():
        shape = tuple(stacked.shape)
        flat = ops.reshape(ops.cast(stacked, "float32"), (shape[0], -1))
        blended[layer] = ops.reshape(ops.matmul(weights, flat), (-1, *shape[1:]))
    return blended


def pack_style_targets(images, style_weights):
    """``y_true`` of a loss given ``style_images``: each image with its style weights.

    Keras hands a loss only ``(y_true, y_pred)``; a loss over a set of styles also needs
    each image's style, so the ``N`` weights ride along as ``N`` constant channels after
    the 3 colour channels.

    Args:
        images: ``(batch, H, W, 3)`` content images (the ``y_true`` of a single style).
        style_weights: ``(batch, N)``: a one-hot row per image selects its style, a convex
            row blends styles (what the multi-style network is given as ``style_weights``).

    Returns:
        ``(batch, H, W, 3 + N)`` float32 tensor.

    Raises:
        InputError: ``images`` that are not a floating-point RGB batch, ``style_weights``
            that are not ``(batch, N)`` with ``images``' batch size (checked when the graph
            runs where it is ``None`` when traced), or whose rows are not convex weights
            (>= 0, summing to 1), where their values are known (eager calls and numpy
            arrays; a traced function does not read them).

    Example:
        >>> photos = np.random.rand(2, 32, 32, 3)
        >>> y = pack_style_targets(photos, np.eye(4)[[0, 3]])  # photo 0: style 0, photo 1: style 3
        >>> tuple(y.shape)  # model.fit({"image": photos, "style_weights": np.eye(4)[[0, 3]]}, y)
        (2, 32, 32, 7)
    """
    images = as_float_tensor(images, "images")
    weights = ops.cast(style_weights, "float32")
    _check_convex_rows(weights)
    if len(weights.shape) != 2 or len(images.shape) != 4:
        raise InputError(
            "pack_style_targets takes images (batch, H, W, 3) and style_weights (batch, N). "
            f"Received: images.shape={tuple(images.shape)}, "
            f"style_weights.shape={tuple(weights.shape)}"
        )
    images, weights = check_same_shape(
        images,
        weights,
        "pack_style_targets takes one row of style_weights per image: images (batch, H, W, 3) "
        "and style_weights (batch, N) of the same batch size; repeat one row for every image "
        "with np.repeat(row[None], batch, axis=0). ",
        names=("images", "style_weights"),
        axes=(slice(0, 1), slice(0, 1)),
    )
    check_channels(images, "images")
    planes = ops.zeros_like(images[..., :1]) + weights[:, None, None, :]
    return ops.concatenate([images, planes], axis=-1)


def _check_convex_rows(weights) -> None:
    """Style weights whose rows select (one-hot) or blend (convex) styles, where their values
    are known (:func:`~keras_perceptual._checks.check_convex_weights`)."""
    check_convex_weights(
        weights, "style_weights",
        "style_weights must hold one row of convex weights per image: >= 0, summing to 1 (a "
        "one-hot row selects a style); divide each row by its sum to normalize. ",
    )


# --------------------------------------------------------------------------
# The terms.
# --------------------------------------------------------------------------


def check_term_inputs(
    settings: TermSettings, networks: LossNetworks, y_true, y_pred, style_target_given: bool
):
    """Raises a clear error for images the active terms cannot compare; returns the pair.

    Static shapes are checked at once; what they leave open (``None`` dimensions in a
    traced TensorFlow graph) is checked when the graph runs, so use the returned
    ``(y_true, y_pred)``.
    """
    extractor, target = networks.extractor, networks.target
    needs_rgb = extractor is not None
    static_image_shape(y_pred, "y_pred", 3 if needs_rgb else None)
    uses_true = target is not None or settings.pixel_weight > 0
    true_shape = (
        static_image_shape(y_true, "y_true", 3 if needs_rgb else None) if uses_true else None
    )
    if needs_rgb:
        y_pred = check_image_size(y_pred, "y_pred", extractor.min_image_size, extractor.taps)
    if target is not None:
        y_true = check_image_size(
            y_true, "y_true", networks.min_target_size(settings.backbone), networks.target_layers
        )
    same_size_needed = bool(settings.content) or settings.pixel_weight > 0
    if same_size_needed and true_shape is not None:
        y_true, y_pred = check_same_shape(
            y_true,
            y_pred,
            "y_true and y_pred must have the same shape for the content/pixel terms; resize or "
            "crop one to match (only the style term compares images of different sizes). ",
        )
    if settings.style and not style_target_given and true_shape is not None:
        y_true, y_pred = check_one_or_same_batch(
            y_true, y_pred, "y_true must hold one style image or one per y_pred image; ",
            names=("y_true", "y_pred"),
        )
    return y_true, y_pred


def _weighted_layers(layers: Mapping[str, float], prefix: str, compute):
    """``{prefix: sum_j w_j compute(j), prefix/j: compute(j)}`` over ``layers``."""
    terms = {}
    total = 0.0
    for layer, weight in layers.items():
        value = compute(layer)
        terms[f"{prefix}/{layer}"] = value
        total = total + weight * value
    terms[prefix] = total
    return terms


def perceptual_terms(
    settings: TermSettings,
    networks: LossNetworks,
    y_true,
    y_pred,
    style_target: Mapping[str, Any] | None = None,
) -> dict:
    """Per-image values of every active term, before the term weights.

    Args:
        settings: the :class:`TermSettings`.
        networks: the :class:`LossNetworks` built for them.
        y_true, y_pred: ``(batch, H, W, 3)`` float tensors in ``settings.value_range``
            (already in the loss dtype).
        style_target: ``{layer: statistics}`` with a leading axis of 1 (broadcast) or
            ``batch`` (one target per image), from :func:`style_targets`; ``None``
            compares with ``y_true``'s statistics.

    Returns:
        ``{"content", "style", "tv", "pixel"}`` (those with a non-zero weight) and
        ``"content/<layer>"``, ``"style/<layer>"`` entries, each ``(batch,)`` in the dtype of
        ``y_pred`` (the loss dtype).
    """
    y_true, y_pred = check_term_inputs(settings, networks, y_true, y_pred, style_target is not None)
    terms = {}
    extractor, target = networks.extractor, networks.target
    dtype = y_pred.dtype
    if extractor is not None:
        # Distances and Grams in float32 (the term functions' dtype), whatever the backbone
        # computed in; each term is then cast to the loss dtype (float64, float16, ...).
        pred = {k: ops.cast(v, COMPUTE_DTYPE) for k, v in extractor(y_pred).items()}
        true = backbone_outputs(target, ops.stop_gradient(y_true)) if target is not None else {}
        true = {k: ops.stop_gradient(ops.cast(v, COMPUTE_DTYPE)) for k, v in true.items()}
        # NaN images stay NaN, as max pooling may drop NaN (TensorFlow does): per image 0,
        # or NaN where y_pred (or y_true) holds one, added to every term; found once a call.
        pred_nan = keep_nan(ops.zeros_like(y_pred[:, 0, 0, 0]), y_pred, per_sample=True)
        y_true_read = settings.content or style_target is None  # else y_true is ignored
        both_nan = keep_nan(pred_nan, y_true, per_sample=True) if y_true_read else pred_nan
        if settings.content:
            terms.update(
                _weighted_layers(
                    settings.content,
                    "content",
                    lambda layer: ops.cast(
                        _feature_distance(
                            pred[layer], true[layer], settings.content_distance, settings.epsilon
                        ),
                        dtype,
                    )
                    + both_nan,
                )
            )
        if settings.style:
            distance = settings.style_distance_functions

            def style_term(layer):
                if style_target is not None:
                    statistics = style_target[layer]
                else:
                    statistics = ops.stop_gradient(distance.target(true[layer], settings))
                marks = pred_nan if style_target is not None else both_nan
                return ops.cast(distance.compare(pred[layer], statistics, settings), dtype) + marks

            terms.update(_weighted_layers(settings.style, "style", style_term))
    if settings.tv_weight > 0:
        unit = to_unit_range(y_pred, settings.value_range)
        terms["tv"] = ops.cast(total_variation(unit, settings.tv_power), dtype)
    if settings.pixel_weight > 0:
        terms["pixel"] = ops.cast(_pixel_distance(y_true, y_pred, settings.value_range), dtype)
    return terms


def weighted_sum(settings: TermSettings, terms: Mapping[str, Any], y_pred):
    """Eq. (5): ``sum_t weight_t * terms[t]`` over the active terms, ``(batch,)``.

    With every weight zero it is a defined, differentiable zero per image.
    """
    total = None
    for term, weight in settings.term_weights.items():
        if term in terms:
            value = weight * terms[term]
            total = value if total is None else total + value
    if total is None:
        total = ops.sum(y_pred, axis=(1, 2, 3)) * 0.0
    return total


# --------------------------------------------------------------------------
# The Keras loss over the engine.
# --------------------------------------------------------------------------


class BackboneLoss(ImageLoss):
    """A Keras loss computing the terms of a :class:`TermSettings` over one backbone.

    Subclasses are thin constructors: they build the settings from their own
    arguments and declare ``ARGUMENTS``, ``{argument name: TermSettings field}``,
    which gives both their attributes (``loss.<argument>``) and their
    ``get_config`` (exactly the constructor arguments).

    Args:
        settings: the validated :class:`TermSettings`.
        style_image: ``None`` or the style image (array or path; see
            :class:`StyleReconstructionLoss`).
        reduction, name, dtype: as in ``keras.losses.Loss``.
        style_images: ``None`` or a set of ``N`` style images (arrays or paths): their
            targets are computed once and stacked, and ``y_true`` carries each image's style
            weights after its colour channels (:func:`pack_style_targets`), so every image
            of a batch is compared with its own style or blend.
    """

    #: ``{constructor argument: TermSettings field}``; ``style_image`` is handled apart.
    ARGUMENTS: ClassVar[dict[str, str]] = {}
    #: Whether the constructor takes ``style_image`` (stored in the config).
    takes_style_image: ClassVar[bool] = False
    #: Settings the subclass fixes (e.g. ``{"content_weight": 1.0}``).
    FIXED_SETTINGS: ClassVar[dict[str, Any]] = {}

    #: ``{deprecated argument: its new name}``: keyword-only aliases the constructor still
    #: takes (not in ``get_config``); configs saved with the old name load.
    RENAMED_ARGUMENTS: ClassVar[dict[str, str]] = {}

    #: The constructor arguments every subclass passes on to :class:`BackboneLoss` itself.
    BASE_ARGUMENTS: ClassVar[tuple[str, ...]] = (
        "style_image", "reduction", "name", "dtype", "style_images",
    )  # fmt: skip

    @classmethod
    def settings_from_arguments(cls, arguments: Mapping[str, Any]) -> TermSettings:
        """The :class:`TermSettings` of a constructor's ``arguments`` (its ``locals()``).

        Reads ``value_range`` and every argument named in ``ARGUMENTS``; others are ignored.
        ``None`` switches a term off only for :class:`PerceptualLoss`: a one-term loss's
        ``layers=None`` would make it 0 for every image, so it is refused.
        """
        if "layers" in cls.ARGUMENTS and arguments["layers"] is None:
            layer_weights(None, "layers")  # raises, with the message of every layers argument
        return TermSettings(
            **{field: arguments[argument] for argument, field in cls.ARGUMENTS.items()},
            **cls.FIXED_SETTINGS,
            value_range=arguments["value_range"],
            argument_names={field: argument for argument, field in cls.ARGUMENTS.items()},
        )

    def init_from_arguments(self, arguments: Mapping[str, Any]) -> None:
        """Initializes a subclass from its constructor's ``arguments`` (its ``locals()``).

        The settings come from :meth:`settings_from_arguments`, the rest from the arguments
        named in ``BASE_ARGUMENTS`` that the constructor takes. A subclass constructor is
        then one line: ``self.init_from_arguments(locals())``.
        """
        BackboneLoss.__init__(
            self,
            self.settings_from_arguments(arguments),
            **{name: arguments[name] for name in self.BASE_ARGUMENTS if name in arguments},
        )

    def __init__(
        self,
        settings: TermSettings,
        style_image: Any = None,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype=None,
        style_images: Sequence[Any] | None = None,
    ):
        super().__init__(
            value_range=settings.value_range, reduction=reduction, name=name, dtype=dtype
        )
        self.settings = settings
        for argument, field in self.ARGUMENTS.items():
            setattr(self, argument, getattr(settings, field))
        self.style_image = style_image
        self.style_images = style_images
        self.networks = LossNetworks(None, None)
        self._style_target = None
        self.style_gram_computations = 0
        #: Why this loss, restored from a saved model, cannot compute (``None``: it can).
        self.unavailable: KerasPerceptualError | None = None
        if style_image is not None and style_images is not None:
            raise InputError(
                "Give style_image (one style) or style_images (a set of styles, one chosen "
                "per image), not both. Received: style_image and style_images"
            )
        try:
            # Checked even when the style term is off: a bad argument is an error. The
            # pixels (at the size used) replace paths: get_config stores them.
            if style_image is not None:
                self.style_image = _style_image_array(style_image, settings.value_range)[0]
            if style_images is not None:
                self.style_images = image_arrays(style_images, settings.value_range, "style_images")
        except KerasPerceptualError as error:
            if not _RESTORING.get():
                raise
            self.unavailable = error
            return
        try:
            self._build(settings)
        except KerasPerceptualError as error:
            if not _RESTORING.get():
                raise
            self.unavailable = WeightsUnavailableError(str(error))
            self.unavailable.__cause__ = error

    def _build(self, settings: TermSettings) -> None:
        """One backbone for every term, truncated at the deepest tap; the style targets."""
        if self.style_image is not None:
            pixels = [self.style_image[None]]
        else:
            pixels = [image[None] for image in self.style_images or []]
        style_given = bool(pixels) and bool(settings.style)
        self.networks = build_loss_networks(settings, style_from_y_true=not style_given)
        if style_given:
            self._style_target = style_targets(settings, self.networks.extractor, pixels)
            self.style_gram_computations += 1

    @classmethod
    def from_config(cls, config):
        """Rebuilds the loss from :meth:`get_config`, as ``keras.models.load_model`` does.

        Configs saved under an argument's old name (``RENAMED_ARGUMENTS``) load too.
        Loading never fails because the loss network's weights (a path, or ``"imagenet"``
        without internet) are missing on this machine: the loss is then restored
        without its networks, and its first use raises the error (a
        :class:`~keras_perceptual.weights.WeightsUnavailableError` naming the weights and
        the fix). Predicting with the loaded model needs no loss.
        """
        config = dict(config)
        for old, new in cls.RENAMED_ARGUMENTS.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
        token = _RESTORING.set(True)
        try:
            return super().from_config(config)
        finally:
            _RESTORING.reset(token)

    def _check_available(self) -> None:
        error = self.unavailable
        if error is None:
            return
        raise restored_without_weights(self, error, self.settings.weights)

    @property
    def num_styles(self) -> int | None:
        """``N`` for a loss over ``style_images`` (``y_true`` then has ``3 + N`` channels)."""
        return None if self.style_images is None else len(self.style_images)

    def _split_y_true(self, y_true):
        """``(images, style_weights or None)``: ``y_true`` of a ``style_images`` loss carries
        each image's style weights after its colour channels."""
        if self.style_images is None:
            return y_true, None
        shape = static_image_shape(y_true, "y_true", channels=None)
        if shape[-1] != 3 + self.num_styles:
            raise InputError(
                f"This loss holds {self.num_styles} style images, so y_true must be the images "
                f"with their style weights, (batch, H, W, {3 + self.num_styles}): build it with "
                "keras_perceptual.losses.pack_style_targets(images, style_weights). "
                f"Received: y_true.shape={shape}"
            )
        return y_true[..., :3], y_true[:, 0, 0, 3:]

    @property
    def style_grams(self):
        """The constant style targets of ``style_image``, ``{layer: (1, ...)}``, or ``None``.

        For the Gram distances (the paper's), the ``(1, C, C)`` Gram matrices.
        """
        return self._style_target

    @property
    def min_image_size(self) -> int:
        """The smallest height and width (pixels) of ``y_pred`` and ``y_true`` the terms
        accept: what the deepest of their layers needs (e.g. 8 px for VGG16's relu4_3), 1
        without a backbone."""
        networks, needs = self.networks, [1]
        if networks.extractor is not None:
            needs.append(networks.extractor.min_image_size)
        if networks.target is not None:
            needs.append(networks.min_target_size(self.settings.backbone))
        return max(needs)

    def compute_terms(self, y_true, y_pred) -> dict:
        """Per-image values of every active term, before the global term weights.

        Returns a dict with ``"content"``, ``"style"``, ``"tv"``, ``"pixel"`` (those
        with a non-zero weight) and ``"content/<layer>"``, ``"style/<layer>"``
        entries, each a ``(batch,)`` tensor. :meth:`call` returns
        ``content_weight * terms["content"] + style_weight * terms["style"] + ...``.
        """
        self._check_available()
        y_true, y_pred = self.convert_inputs(y_true, y_pred)
        y_true, style_weights = self._split_y_true(y_true)
        target = self._style_target
        if target is not None and style_weights is not None:
            target = blend_style_targets(target, style_weights)
        return perceptual_terms(self.settings, self.networks, y_true, y_pred, target)

    def call(self, y_true, y_pred):
        terms = self.compute_terms(y_true, y_pred)
        return ops.cast(weighted_sum(self.settings, terms, y_pred), self.dtype)

    def _style_image_config(self):
        source = self.style_image
        if source is None or isinstance(source, (str, os.PathLike)):
            # A path only remains when a restored loss could not read it (an old config).
            return None if source is None else os.fspath(source)
        if isinstance(source, list):
            return source  # restored without its networks: kept as it was stored
        return pixels_config(source)

    def get_config(self):
        config = super().get_config()
        for argument in self.ARGUMENTS:
            value = getattr(self, argument)
            config[argument] = dict(value) if isinstance(value, Mapping) else value
        if self.takes_style_image:
            config["style_image"] = self._style_image_config()
            # The pixels, never paths: a saved model loads where the files are absent.
            config["style_images"] = (
                None
                if self.style_images is None
                else [
                    pixels_config(i) if isinstance(i, np.ndarray) else i for i in self.style_images
                ]
            )
        return config


# --------------------------------------------------------------------------
# Public losses.
# --------------------------------------------------------------------------


_BACKBONE_ARGUMENTS = {
    "backbone": "backbone",
    "weights": "weights",
    "backbone_dtype": "backbone_dtype",
}


@keras.saving.register_keras_serializable(package="keras_perceptual")
class FeatureReconstructionLoss(BackboneLoss):
    """Feature reconstruction loss, Eq. (2) of Johnson et al. (2016).

    Per image, ``sum_j w_j / (C_j H_j W_j) * ||phi_j(y_pred) - phi_j(y_true)||_2^2``
    over the requested layers ``j`` (``w_j = 1`` unless ``layers`` is a dict).
    ``y_true`` runs through the backbone only as deep as needed, without gradient.

    Args:
        layers: a name, a list of names or a dict ``{name: weight}``; default
            ``"relu2_2"`` (the paper's choice for style transfer and super-resolution).
        distance: ``"l2"`` (the paper), ``"l1"`` or ``"charbonnier"``.
        epsilon: Charbonnier epsilon, in feature units; only with
            ``distance="charbonnier"`` (refused otherwise, where it would be ignored).
        backbone: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"imagenet"``, ``"hed_bsds500"``, a path or ``None``.
        backbone_dtype: the loss network's compute dtype: ``"float32"`` (default),
            ``"auto"`` (bfloat16 where the device computes it natively: CPUs with
            AVX512-BF16 or AMX, GPUs from compute capability 8.0, TPUs; float32 elsewhere,
            e.g. on AVX2 CPUs, where 16 bits are emulated and slower; see
            :mod:`keras_perceptual.precision`) or, opt-in, ``"mixed_bfloat16"`` /
            ``"mixed_float16"`` (convolutions in 16 bits, float32 weights) or
            ``"bfloat16"``. Distances and Grams are computed in float32 and each term is
            returned in the loss dtype (``dtype=``). Stored as given:
            a saved loss with ``"auto"`` chooses again on the machine that loads it.
        value_range: ``(low, high)`` of the images.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Example:
        >>> loss = FeatureReconstructionLoss("relu2_2", weights=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> float(loss(x, x))
        0.0
    """

    ARGUMENTS: ClassVar[dict[str, str]] = {
        "layers": "content_layers",
        "distance": "content_distance",
        "epsilon": "epsilon",
        **_BACKBONE_ARGUMENTS,
    }
    FIXED_SETTINGS: ClassVar[dict[str, Any]] = {"content_weight": 1.0}

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
        self.init_from_arguments(locals())


#: ``StyleReconstructionLoss``'s default ``style_distance`` (an :class:`Unset`, to tell it
#: from the same value given next to the deprecated ``distance``).
_DEFAULT_STYLE_DISTANCE = Unset("squared_frobenius")


@keras.saving.register_keras_serializable(package="keras_perceptual")
class StyleReconstructionLoss(BackboneLoss):
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
        style_distance: ``"squared_frobenius"`` (paper), ``"mse"`` (mean over ``C x C``,
            the official code's ``nn.MSECriterion``) or ``"sliced_wasserstein"`` (Heitz
            et al., CVPR 2021: the distributions of the feature vectors compared through
            ``num_projections`` constant random 1-D projections, sorted; see
            :func:`~keras_perceptual.ops.sliced_wasserstein`; no Gram matrix, so
            ``gram_normalization`` does not apply).
        backbone, weights, backbone_dtype, value_range, reduction, name, dtype: see
            :class:`FeatureReconstructionLoss`.
        style_images: instead of ``style_image``, a set of ``N`` style images (keyword
            only): each image of a batch is compared with its own style, or a blend,
            given by its style weights in ``y_true`` (:func:`pack_style_targets`), as
            :class:`PerceptualLoss` for multi-style training.
        num_projections: (keyword only) random directions per layer for
            ``style_distance="sliced_wasserstein"``; ``None`` (default) uses as many as the
            layer has channels, as Heitz et al. do. Refused with a Gram distance.
        seed: (keyword only) seed of those directions; they are drawn once and kept, so the
            loss is deterministic and a saved loss reloads with the same ones.
        distance: (keyword only) deprecated alias of ``style_distance`` (a
            ``DeprecationWarning``); configs saved with it still load.

    Raises:
        InputError: an unknown ``style_distance``; ``style_distance`` and ``distance``
            both given with different values; ``num_projections`` or ``seed`` with a Gram
            distance, or ``gram_normalization`` other than ``"chw"`` with
            ``"sliced_wasserstein"`` (settings the distance would ignore).

    Sizes with ``"sliced_wasserstein"``: ``y_pred`` and the target may differ in size;
    the target's sorted projections (its quantile functions, computed once for a
    ``style_image``) are read at the centres of ``y_pred``'s ``H*W`` quantile bins, which
    is exact when both have as many positions and a nearest-rank approximation otherwise.

    Example:
        >>> style = np.random.rand(48, 40, 3).astype("float32")
        >>> loss = StyleReconstructionLoss(style_image=style, weights=None)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> loss(x, x, ).shape
        ()
    """

    ARGUMENTS: ClassVar[dict[str, str]] = {
        "layers": "style_layers",
        "gram_normalization": "gram_normalization",
        "style_distance": "style_distance",
        **_BACKBONE_ARGUMENTS,
        "num_projections": "num_projections",
        "seed": "seed",
    }
    FIXED_SETTINGS: ClassVar[dict[str, Any]] = {"style_weight": 1.0}
    RENAMED_ARGUMENTS: ClassVar[dict[str, str]] = {"distance": "style_distance"}
    takes_style_image = True

    def __init__(
        self,
        layers: Any = PAPER_STYLE_LAYERS,
        style_image: Any = None,
        gram_normalization: str = "chw",
        style_distance: str = _DEFAULT_STYLE_DISTANCE,
        backbone: str = "vgg16",
        weights: str | os.PathLike | None = "imagenet",
        backbone_dtype: str = "float32",
        value_range: Sequence[float] = (0.0, 1.0),
        reduction: str | None = "sum_over_batch_size",
        name: str = "style_reconstruction_loss",
        dtype=None,
        *,
        style_images: Sequence[Any] | None = None,
        num_projections: int | None = None,
        seed: int = 0,
        distance: str | None = None,
    ):
        style_distance = renamed_argument("style_distance", style_distance, "distance", distance)
        self.init_from_arguments(locals())



@keras.saving.register_keras_serializable(package="keras_perceptual")
class TotalVariationLoss(ImageLoss):
    """Total variation regularizer ``l_TV`` (Johnson et al. 2016, Section 3.3).

    Per image, the sum of absolute differences of neighbouring pixels of
    ``y_pred`` rescaled from ``value_range`` to [0, 1], i.e.
    ``tensorflow.image.total_variation``. ``y_true`` is ignored. Works for any channel
    count; needs no backbone.

    Args:
        power: exponent on the differences, >= 1: 1 (default, ``tensorflow.image``) or 2
            (the squared form of the paper's official code and magenta). Below 1 the
            slope is infinite on flat regions (NaN gradients), so it is refused.
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
        self.power = check_tv_power(power, "power")

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
class PerceptualLoss(BackboneLoss):
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
        style_distance: ``"squared_frobenius"`` (paper), ``"mse"`` or
            ``"sliced_wasserstein"`` (Heitz et al. 2021; see
            :class:`StyleReconstructionLoss`, ``num_projections`` and ``seed``). Its values
            are on another scale than the Gram distance's: retune ``style_weight``.
        tv_power: 1 (``tensorflow.image.total_variation``) or 2 (squared TV).
        backbone: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"imagenet"``, ``"hed_bsds500"``, a path or ``None``.
        backbone_dtype: ``"float32"`` (default), ``"auto"``, ``"mixed_bfloat16"``,
            ``"mixed_float16"`` or ``"bfloat16"``: see :class:`FeatureReconstructionLoss`.
        value_range: ``(low, high)`` of the images.
        reduction, name, dtype: as in ``keras.losses.Loss``.
        style_images: instead of ``style_image``, a set of ``N`` style images (keyword
            only; arrays in ``value_range`` or paths, any sizes) for one network that
            learns them all (:func:`~keras_perceptual.models.multi_style_transfer_net`,
            Dumoulin et al. 2017): their Gram matrices are computed once, stacked, and
            each image of a batch is compared with its own style's (a one-hot row of its
            style weights) or with the blend of them (a convex row). ``y_true`` is then the
            content images with their style weights after the colour channels,
            ``(batch, H, W, 3 + N)``: :func:`pack_style_targets`. The per-image value
            equals that of ``PerceptualLoss(style_image=...)`` of the selected style.
        num_projections, seed: (keyword only) the directions of
            ``style_distance="sliced_wasserstein"``: see :class:`StyleReconstructionLoss`.

    Raises:
        InputError: a bad argument, e.g. a setting the chosen distance would ignore
            (``num_projections`` or ``seed`` with a Gram ``style_distance``,
            ``gram_normalization`` with ``"sliced_wasserstein"``, ``epsilon`` without
            ``content_distance="charbonnier"``).

    Example:
        >>> loss = PerceptualLoss(style_image=np.random.rand(64, 64, 3).astype("float32"),
        ...                       weights=None)
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> net.compile(optimizer="adam", loss=loss)
        >>> starry, wave, scream = np.random.rand(3, 48, 48, 3).astype("float32")
        >>> several = PerceptualLoss(style_images=[starry, wave, scream], weights=None)
        >>> photos = np.random.rand(2, 32, 32, 3).astype("float32")
        >>> y_true = pack_style_targets(photos, np.eye(3)[[0, 2]])  # styles 0 and 2
        >>> tuple(several(y_true, photos).shape)
        ()
    """

    ARGUMENTS: ClassVar[dict[str, str]] = {
        field: field
        for field in (
            "content_layers",
            "style_layers",
            "content_weight",
            "style_weight",
            "tv_weight",
            "pixel_weight",
            "content_distance",
            "epsilon",
            "gram_normalization",
            "style_distance",
            "tv_power",
            *_BACKBONE_ARGUMENTS,
            "num_projections",
            "seed",
        )
    }
    takes_style_image = True

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
        *,
        style_images: Sequence[Any] | None = None,
        num_projections: int | None = None,
        seed: int = 0,
    ):
        self.init_from_arguments(locals())

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


__all__ = [
    "BackboneLoss",
    "CONTENT_DISTANCES",
    "GRAM_STYLE_DISTANCES",
    "LossNetworks",
    "STYLE_DISTANCE_FUNCTIONS",
    "StyleDistance",
    "TermSettings",
    "blend_style_targets",
    "build_loss_networks",
    "check_term_inputs",
    "pack_style_targets",
    "perceptual_terms",
    "style_targets",
    "weighted_sum",
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
