"""The loss network: a frozen, truncated, multi-output VGG.

Johnson et al. (2016), Section 3: the perceptual losses are defined through a
loss network ``phi`` pretrained for image classification, VGG-16 (Simonyan &
Zisserman 2015), held fixed during training. ``phi_j(x)`` is the activation of
its ``j``-th layer, of shape ``C_j x H_j x W_j``.

:class:`FeatureExtractor` builds exactly the ``keras.applications`` VGG16 (or
VGG19) convolution stack, truncated after the deepest requested layer, with the
backbone's own preprocessing in front of it, and returns a dict of the requested
activations. Keras' VGG convolutions include the ReLU, so the paper's
``relu2_2`` is Keras' ``block2_conv2`` (both names are accepted).
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    check_choice,
    check_value_range,
    checked_at_run_time,
    shortened,
    static_image_shape,
)
from keras_perceptual.errors import InputError, KerasPerceptualError
from keras_perceptual.ops import as_float_tensor, to_unit_range
from keras_perceptual.precision import BACKBONE_DTYPES, resolve_backbone_dtype, warn_if_emulated
from keras_perceptual.weights import WeightsUnavailableError, resolve_weights

_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_FILTERS = (64, 128, 256, 512, 512)
_APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19"}
BACKBONES = tuple(_BLOCKS)

#: ``keras.applications.vgg16.preprocess_input`` ("caffe" mode): BGR order, ImageNet mean.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def backbone_layer_names(backbone: str = "vgg16") -> list[str]:
    """The Keras names of the backbone's layers, in order (no input layer)."""
    check_choice(backbone, BACKBONES, "backbone")
    names = []
    for block, convs in enumerate(_BLOCKS[backbone], start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)]
        names.append(f"block{block}_pool")
    return names


def resolve_layer(name: str, backbone: str = "vgg16") -> str:
    """Maps a paper name (``relu2_2``, ``pool3``) or Keras name to the Keras layer name."""
    valid = backbone_layer_names(backbone)
    if isinstance(name, str):
        match = re.fullmatch(r"relu(\d)_(\d)", name)
        if match:
            name_ = f"block{match[1]}_conv{match[2]}"
        else:
            match = re.fullmatch(r"pool(\d)", name)
            name_ = f"block{match[1]}_pool" if match else name
        if name_ in valid:
            return name_
    aliases = [n.replace("block", "relu").replace("_conv", "_") for n in valid if "conv" in n]
    raise InputError(
        f"Unknown {backbone} layer {name!r}; use a Keras name ({', '.join(valid)}) or a paper "
        f"name ({', '.join(aliases)}, pool1..pool5). Received: layer={name!r}"
    )


def min_image_size(layer: str, backbone: str = "vgg16") -> int:
    """Smallest height/width (pixels) whose activation at ``layer`` is at least 1x1."""
    keras_name = resolve_layer(layer, backbone)
    block = int(keras_name[5])
    pools = block if keras_name.endswith("_pool") else block - 1
    return 2**pools


def backbone_outputs(network: keras.Model, images: Any, call=None):
    """``network(images)``: a frozen backbone's activations, also for an empty batch.

    A batch of 0 known when the call is traced does not run the network: its outputs are
    zeros of the shapes the network would give (``compute_output_spec``, which reads
    shapes only), tied to ``images`` so that a gradient is an empty tensor, never ``None``
    or NaN. TensorFlow's CPU convolution returns a batch of 0 unchanged, channels
    included, so the network would fail at its first bias (``Incompatible shapes``); a
    loss is then what Keras' own losses give: ``(0,)`` values, 0.0 reduced. A batch
    unknown when traced (``None``) runs the network, as any trained network's own
    convolutions do: a run-time branch would cost every step.

    Args:
        network: a functional model (:class:`FeatureExtractor`, a sub-model of one, a
            torchvision backbone).
        images: the batch it takes.
        call: what runs it (default ``network`` itself).

    Returns:
        What ``network(images)`` returns (a dict of activations).

    Example:
        >>> fx = FeatureExtractor("relu2_2", weights=None)
        >>> backbone_outputs(fx, np.zeros((0, 32, 32, 3), "float32"))["relu2_2"].shape
        (0, 16, 16, 128)
    """
    if tuple(images.shape)[:1] != (0,):
        return (call or network)(images)
    images = ops.convert_to_tensor(images)
    specs = network.compute_output_spec(keras.KerasTensor(images.shape, images.dtype))
    tie = ops.sum(images) * 0.0  # the sum of no values: 0, with an (empty) gradient
    return keras.tree.map_structure(
        lambda spec: ops.zeros(spec.shape, spec.dtype) + ops.cast(tie, spec.dtype), specs
    )


@keras.saving.register_keras_serializable(package="keras_perceptual")
class VGGPreprocessing(keras.layers.Layer):
    """Maps images in ``value_range`` to what the VGG backbone expects.

    Rescales to [0, 255], then applies exactly
    ``keras.applications.vgg16.preprocess_input`` (RGB to BGR, minus the ImageNet
    channel means); VGG19 uses the same preprocessing.

    Args:
        value_range: ``(low, high)`` of the input images.

    Raises:
        InputError: images that are not floating-point RGB (at the call).

    Example:
        >>> layer = VGGPreprocessing(value_range=(0, 1))
        >>> layer(np.ones((1, 4, 4, 3), "float32")).shape
        (1, 4, 4, 3)
    """

    def __init__(self, value_range=(0.0, 1.0), **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.value_range = check_value_range(value_range)

    def call(self, images):
        # The loss network's checks, for the layer used alone: a 4-channel or uint8 image
        # was a backend error (incompatible shapes; no 255.0 in uint8).
        images = as_float_tensor(images, "images", self.compute_dtype, self.value_range)
        if tuple(images.shape)[-1:] not in ((3,), (None,)):
            raise InputError(
                f"VGGPreprocessing takes RGB images, channels-last; these have "
                f"{images.shape[-1]} channels. Drop an alpha channel with images[..., :3]. "
                f"Received: images.shape={tuple(images.shape)}"
            )
        bgr = ops.flip(to_unit_range(images, self.value_range), axis=-1)
        mean = ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=self.compute_dtype)
        return bgr * 255.0 - mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range)}


def _layer_list(layers: Any) -> list[str]:
    if isinstance(layers, str):
        names = [layers]
    elif isinstance(layers, Mapping):
        names = list(layers)
    elif isinstance(layers, np.ndarray) and layers.ndim == 1:
        names = layers.tolist()  # numpy strings become str: the config stays JSON
    elif isinstance(layers, Sequence):
        names = list(layers)
    else:
        raise InputError(
            "layers must be a layer name, a list of names or a dict {name: weight}, e.g. "
            f"['relu2_2', 'relu3_3']. Received: layers={layers!r}"
        )
    if not names:
        raise InputError(
            f"layers is empty; give at least one layer name such as 'relu2_2'. "
            f"Received: layers={layers!r}"
        )
    return list(dict.fromkeys(names))


def _pretrained_source(backbone: str, path: str):
    """Builds the ``keras.applications`` model and loads ``path`` into it."""
    factory = getattr(keras.applications, _APPLICATIONS[backbone])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return factory(include_top=False, weights=path, input_shape=(None, None, 3))
    except Exception as error:
        detail = shortened(error)
        shapes = ", ".join(
            f"block{b}_conv1 {('3x3x3' if b == 1 else f'3x3x{_FILTERS[b - 2]}')}x{f}"
            for b, f in enumerate(_FILTERS, start=1)
        )
        raise InputError(
            f"weights file {path!r} does not fit keras.applications.{_APPLICATIONS[backbone]}"
            f"(include_top=False): expected {sum(_BLOCKS[backbone])} convolution layers "
            f"({shapes}, ...) as written by {_APPLICATIONS[backbone]}(include_top=False)"
            f".save_weights() or Keras' *_notop.h5 ImageNet file; check the file and the "
            f"backbone argument ({type(error).__name__}: {detail}). Received: weights={path!r}"
        ) from None


@keras.saving.register_keras_serializable(package="keras_perceptual")
class FeatureExtractor(keras.Model):
    """A frozen VGG that returns the activations of the requested layers.

    The model is truncated after the deepest requested layer, so no work is done
    beyond what is asked for, and its weights are frozen. Images go in as
    channels-last RGB floats in ``value_range``; the backbone sees exactly
    ``keras.applications.vgg16.preprocess_input`` of them rescaled to [0, 255].
    Computation is float32 whatever the global dtype policy.

    Args:
        layers: a layer name, a sequence of names or a dict whose keys are names.
            Keras names (``"block2_conv2"``, ``"block3_pool"``) and the paper's
            names (``"relu2_2"``, ``"pool3"``) are both accepted.
        backbone: ``"vgg16"`` (the paper's) or ``"vgg19"``.
        weights: ``"imagenet"``, ``"hed_bsds500"`` (offline stand-in, VGG16 only),
            a path to a ``keras.applications`` ``include_top=False`` weights file,
            or ``None`` (random Glorot initialization, seeded: identical on every
            construction). See :mod:`keras_perceptual.weights`.
        value_range: ``(low, high)`` of the input images.
        compute_dtype: ``"float32"`` (default, whatever the global policy), ``"auto"``
            (``"bfloat16"`` where the device computes bfloat16 natively: CPUs with
            AVX512-BF16 or AMX, GPUs from compute capability 8.0, TPUs; else float32; see
            :mod:`keras_perceptual.precision`) or an opt-in lower precision:
            ``"mixed_bfloat16"`` / ``"mixed_float16"`` (float32 weights, convolutions in 16
            bits) or ``"bfloat16"`` / ``"float16"``. 16 bits are about 2x faster where the
            hardware has the units and several times slower where it emulates them (AVX2
            and plain AVX-512 CPUs: a :class:`~keras_perceptual.precision.PrecisionWarning`
            says so, once). Activations come out in the dtype used.
        name: model name.
        **kwargs: ``keras.Model`` arguments. ``dtype`` (a dtype policy name or a
            ``keras.DTypePolicy``, Keras' own way to set a layer's precision) is taken as
            ``compute_dtype`` (it was ignored: the extractor computed in float32 whatever it
            said); giving both with different values is an ``InputError``.

    Returns (when called):
        A dict ``{name as given: activation (batch, H_j, W_j, C_j)}``; a batch of 0 gets
        empty activations without running the network (:func:`backbone_outputs`).

    Example:
        >>> fx = FeatureExtractor(["relu2_2", "relu3_3"], weights=None)
        >>> out = fx(np.zeros((1, 32, 32, 3), "float32"))
        >>> out["relu2_2"].shape, out["relu3_3"].shape
        ((1, 16, 16, 128), (1, 8, 8, 256))
    """

    def __init__(
        self,
        layers: Any,
        backbone: str = "vgg16",
        weights: str | os.PathLike | None = "imagenet",
        value_range: Sequence[float] = (0.0, 1.0),
        compute_dtype: str = "float32",
        name: str | None = None,
        **kwargs,
    ):
        # --- Arguments, checked before any work. ---
        check_choice(backbone, BACKBONES, "backbone")
        dtype = kwargs.pop("dtype", None)
        if dtype is not None:
            compute_dtype = _dtype_as_compute_dtype(dtype, compute_dtype)
        given_dtype = check_backbone_dtype(compute_dtype)
        policy = resolve_backbone_dtype(given_dtype)
        warn_if_emulated(
            policy,
            f"The loss network (backbone_dtype / compute_dtype={given_dtype!r})",
            "pass backbone_dtype='auto' (the fastest precision the device has) or 'float32'",
        )
        given = _layer_list(layers)
        taps = {g: resolve_layer(g, backbone) for g in given}
        value_range = check_value_range(value_range)
        path = resolve_weights(weights, backbone)
        order = backbone_layer_names(backbone)
        depth = max(order.index(k) for k in taps.values()) + 1

        # --- Layers: the keras.applications stack up to the deepest tap. ---
        source = _pretrained_source(backbone, path) if path is not None else None
        stack = []
        for index, layer_name in enumerate(order[:depth]):
            if layer_name.endswith("_pool"):
                layer = keras.layers.MaxPooling2D(
                    (2, 2), strides=(2, 2), name=layer_name, dtype=policy
                )
            else:
                block = int(layer_name[5])
                layer = keras.layers.Conv2D(
                    _FILTERS[block - 1],
                    (3, 3),
                    activation="relu",
                    padding="same",
                    # Seeded: weights=None gives the same network on every construction,
                    # so a loss rebuilt from its config (load_model) computes the same values.
                    kernel_initializer=keras.initializers.GlorotUniform(seed=index),
                    name=layer_name,
                    dtype=policy,
                )
            stack.append(layer)

        # --- Functional graph. ---
        inputs = keras.Input(shape=(None, None, 3), name="images", dtype="float32")
        x = VGGPreprocessing(value_range=value_range, name="preprocess")(inputs)
        activations = {}
        for layer in stack:
            x = layer(x)
            activations[layer.name] = x
        outputs = {g: activations[k] for g, k in taps.items()}
        super().__init__(
            inputs=inputs, outputs=outputs, name=name or f"{backbone}_features", **kwargs
        )
        if source is not None:
            for layer in stack:
                if layer.weights:
                    layer.set_weights(source.get_layer(layer.name).get_weights())
            del source
        self.trainable = False

        # --- Config. ---
        self.taps = taps
        self.backbone = backbone
        self.value_range = value_range
        self.weights_source = weights if not isinstance(weights, os.PathLike) else os.fspath(weights)
        self.compute_dtype_name = given_dtype
        self.resolved_compute_dtype = policy
        self.min_image_size = max(min_image_size(k, backbone) for k in taps.values())
        #: Why the weights are missing (restored where ``weights`` is unavailable and not yet
        #: loaded from the saved model); ``None`` when the extractor holds its weights.
        self.pending_weights: KerasPerceptualError | None = None

    def __call__(self, inputs, *args, **kwargs):
        symbolic = isinstance(inputs, keras.KerasTensor)  # graph building, e.g. on load
        if self.pending_weights is not None and not symbolic:
            raise WeightsUnavailableError(
                f"This FeatureExtractor was rebuilt from a config whose weights "
                f"{self.weights_source!r} are not available on this machine, and no saved "
                f"weights were loaded into it; load the whole saved model with "
                f"keras.models.load_model (which restores them), or build the extractor with "
                f"weights this machine has. Received: weights={self.weights_source!r}"
            ) from self.pending_weights
        if not symbolic:
            inputs = as_float_tensor(inputs, "images", value_range=self.value_range)
        # Before Keras' own input-spec check, whose message gives no fix.
        inputs = check_image_size(inputs, "images", self.min_image_size, self.taps.values())
        return backbone_outputs(self, inputs, functools.partial(super().__call__, *args, **kwargs))

    def load_own_variables(self, store):
        """Keras' loading hook: the saved model's weights replace any pending ones."""
        super().load_own_variables(store)
        self.pending_weights = None

    def submodel(self, layers: Any) -> keras.Model:
        """A model over the same (shared) layers returning only ``layers``.

        Used to run an input only as deep as it needs to go; no weights are copied.
        """
        names = _layer_list(layers)
        outputs = {}
        for given in names:
            keras_name = resolve_layer(given, self.backbone)
            try:
                outputs[given] = self.get_layer(keras_name).output
            except ValueError:
                raise InputError(
                    f"Layer {given!r} lies past this extractor's deepest layer; build the "
                    f"FeatureExtractor with it. Received: layers={layers!r}"
                ) from None
        model = keras.Model(self.input, outputs, name=f"{self.name}_sub")
        model.trainable = False
        return model

    def get_config(self):
        return {
            "layers": list(self.taps),
            "backbone": self.backbone,
            "weights": self.weights_source,
            "value_range": list(self.value_range),
            "compute_dtype": self.compute_dtype_name,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds the extractor; never fails because its ``weights`` are unavailable here.

        Inside ``keras.models.load_model`` the saved model carries the extractor's
        weights, so a weights path (or ``"imagenet"``) missing on this machine does not
        matter: the extractor is built without them and the saved weights are loaded.
        Used on its own (no saved weights loaded), such an extractor raises
        :class:`~keras_perceptual.weights.WeightsUnavailableError` when called.
        """
        try:
            resolve_weights(config.get("weights", "imagenet"), config.get("backbone", "vgg16"))
        except KerasPerceptualError as error:
            model = cls(**{**config, "weights": None})
            model.weights_source = config.get("weights")
            model.pending_weights = error
            return model
        return cls(**config)


def _dtype_as_compute_dtype(dtype: Any, compute_dtype: Any) -> str:
    """``FeatureExtractor``'s ``dtype=`` (Keras' layer argument) as its ``compute_dtype``."""
    given = getattr(dtype, "name", dtype)  # a keras.DTypePolicy names its policy
    if given not in BACKBONE_DTYPES:
        raise InputError(
            f"dtype of a FeatureExtractor must be one of {', '.join(map(repr, BACKBONE_DTYPES))} "
            f"(its compute_dtype); pass compute_dtype= instead. Received: dtype={dtype!r}"
        )
    if compute_dtype not in (None, "float32", given):
        raise InputError(
            "dtype and compute_dtype of a FeatureExtractor are the same setting and disagree; "
            f"pass only compute_dtype. Received: dtype={given!r}, compute_dtype={compute_dtype!r}"
        )
    return given


def check_backbone_dtype(compute_dtype: Any, name: str = "compute_dtype") -> str:
    """Returns the backbone's dtype as given (``None`` means float32; ``"auto"`` is kept,
    :func:`~keras_perceptual.precision.resolve_backbone_dtype` resolves it), or raises."""
    if compute_dtype is None:
        return "float32"
    return check_choice(compute_dtype, BACKBONE_DTYPES, name)


def check_image_size(images: Any, name: str, minimum: int, layers=()):
    """Raises if ``images`` is smaller than ``minimum`` pixels; returns ``images``.

    Static shapes are checked at once; a height or width unknown when a TensorFlow graph
    is traced is checked when it runs (:func:`~keras_perceptual._checks.checked_at_run_time`):
    a too-small image would otherwise reach an empty activation and a NaN loss. Use the
    returned tensor.
    """
    shape = static_image_shape(images, name)
    deepest = ", ".join(layers) if layers else "the deepest layer"
    for axis, size in (("height", shape[1]), ("width", shape[2])):
        if size is not None and size < minimum:
            raise InputError(
                f"{name} {axis} is {size} px; the backbone needs at least {minimum} px to "
                f"reach {deepest}. Upscale the images or use shallower layers. "
                f"Received: {name}.shape={shape}"
            )
    if minimum <= 1 or (shape[1] is not None and shape[2] is not None):
        return images
    import keras

    (images,) = checked_at_run_time(
        (images,),
        lambda s: keras.ops.min(s[1:3]) >= minimum,
        f"{name} is smaller than {minimum} px in height or width; the backbone needs at least "
        f"{minimum} px to reach {deepest}. Upscale the images or use shallower layers. "
        f"Received: {name}.shape=",
    )
    return images


__all__ = [
    "BACKBONES",
    "FeatureExtractor",
    "VGGPreprocessing",
    "WeightsUnavailableError",
    "backbone_layer_names",
    "backbone_outputs",
    "check_image_size",
    "min_image_size",
    "resolve_layer",
]
