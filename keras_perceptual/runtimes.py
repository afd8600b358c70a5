"""One way to run a trained network, whatever its format: Keras, ONNX, OpenVINO or TFLite.

Johnson, Alahi & Fei-Fei (2016) train a feed-forward network ``f_W`` so that applying it
costs one forward pass; this module makes that pass callable the same way from every
runtime it is deployed to, so :func:`~keras_perceptual.inference.stylize`,
:func:`~keras_perceptual.inference.upscale`, the command line and any other feature
(a web app, video stylization) take "a model" without caring what file it came from.

:func:`load_runtime` opens

============================================  ==========  =========================================
reference                                     format      runtimes (first: the default)
============================================  ==========  =========================================
a ``keras.Model``, a ``.keras`` file, a       keras       ``"keras"`` (any installed backend);
training ``--out`` folder, ``hf://owner/name``            ``"onnxruntime"``, ``"openvino"``,
                                                          ``"tflite"`` convert it first
``model.onnx`` (:func:`export_onnx`)          onnx        ``"onnxruntime"``, ``"openvino"``
an OpenVINO IR folder or its ``.xml``         openvino    ``"openvino"``
``model.tflite`` (:func:`export_tflite`)      tflite      ``"tflite"`` (TensorFlow's interpreter)
============================================  ==========  =========================================

(:func:`~keras_perceptual.export.export_onnx`, ``export_openvino`` and ``export_tflite`` are
in :mod:`keras_perceptual.export`.) Every :class:`Runtime` has the same interface:
``runtime(images)`` / ``runtime.predict_on_batch(images)`` maps a float32 batch
``(B, H, W, 3)`` in the model's ``value_range`` to its float32 outputs (a list of arrays
for models with several inputs), and ``runtime.info`` (:class:`ModelInfo`) says the
``value_range``, the smallest accepted size, the padding multiple and whether the
network uses instance normalization. Exports written by this library carry that
information in their metadata (ONNX ``metadata_props``, OpenVINO ``rt_info``, a TFLite
metadata entry), under the key :data:`METADATA_KEY`, as JSON.

ONNX Runtime, OpenVINO and the ``hf://`` loader are optional:
``pip install "keras-perceptual[export]"``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_perceptual._checks import (
    check_applies,
    check_choice,
    check_path,
    check_positive_int,
    check_value_range,
    shortened,
)
from keras_perceptual._console import quiet_native_output
from keras_perceptual.errors import InputError, MissingDependencyError, ModelLoadError, install_hint

#: File formats :func:`load_runtime` recognizes.
FORMATS = ("keras", "onnx", "openvino", "tflite")
#: ``{extension: format}`` of the single-file formats: how :func:`detect_format` reads a
#: file's format, and so the extension each exporter of :mod:`keras_perceptual.export` requires.
FILE_EXTENSIONS = {".keras": "keras", ".onnx": "onnx", ".xml": "openvino", ".tflite": "tflite"}
#: Runtimes, and the formats each can run.
RUNTIMES = ("keras", "onnxruntime", "openvino", "tflite")
#: ``{format: runtimes that run it}``; the first is the default.
FORMAT_RUNTIMES = {
    "keras": ("keras", "onnxruntime", "openvino", "tflite"),
    "onnx": ("onnxruntime", "openvino"),
    "openvino": ("openvino",),
    "tflite": ("tflite",),
}
#: The metadata key under which exports store :class:`ModelInfo` as JSON.
METADATA_KEY = "keras_perceptual"
#: Tensor names of the exported image input and output (ONNX, OpenVINO).
INPUT_NAME = "images"
OUTPUT_NAME = "output_images"
#: ``precision`` values of the OpenVINO runtime (its CPU plugin's inference precision).
OPENVINO_PRECISIONS = ("float32", "bfloat16")
#: The optional-dependency extra that installs ONNX Runtime, OpenVINO and huggingface_hub.
EXTRA = "export"

_INSTALL = install_hint(EXTRA)


# --------------------------------------------------------------------------------------
# What a runtime needs to know about a network
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What running a network needs beyond its graph; stored in every export's metadata.

    Attributes:
        value_range: ``(low, high)`` of the input and output images.
        min_size: the smallest height and width the network accepts (its mirror padding
            needs them).
        multiple: the network pads inputs to a multiple of this (4 for
            ``style_transfer_net``); tiled inference aligns its tiles to it.
        pad_mode: how that padding fills (``"reflect"``, ``"symmetric"``, ``"constant"``).
        instance_normalization: True when the network normalizes with per-image statistics,
            so tiles normalized on their own may differ in tone (see ``stylize``).
        input_names: the names of the inputs after the image (e.g. style weights).
        num_styles: a multi-style network's number of styles (its ``style_weights``
            input's width); 0 for other networks (and in exports written before it was recorded).
        alpha: an arbitrary-style network's content-style trade-off, fixed in an export;
            ``None`` for other networks.
        style_min_size: an arbitrary-style network's smallest style image (its encoder's).

    Example:
        >>> model_info(style_transfer_net(filters=4, num_residual_blocks=1)).multiple
        4
    """

    value_range: tuple[float, float] = (0.0, 1.0)
    min_size: int = 1
    multiple: int = 1
    pad_mode: str = "reflect"
    instance_normalization: bool = False
    input_names: tuple[str, ...] = ()
    num_styles: int = 0
    alpha: float | None = None
    style_min_size: int = 1

    def to_json(self) -> str:
        """The JSON text stored in an export's metadata."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> ModelInfo:
        """Parses :meth:`to_json`'s text; unknown keys are ignored, missing ones defaulted
        (text that is not a JSON object gives the defaults).

        Raises:
            InputError: a known key holds a value of the wrong kind (``"min_size": "x"``):
                the metadata was damaged, and running with it would fail later, obscurely.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "value_range" in values:
            values["value_range"] = check_value_range(values["value_range"])
        for key, value in values.items():
            if not _METADATA_TYPES[key](value):
                raise InputError(
                    f"The model's {METADATA_KEY!r} metadata has {key}={value!r}, which is not "
                    f"{_METADATA_EXPECTED[key]}: the file was edited or damaged; export the model "
                    f"again with keras_perceptual.export. Received: {key}={value!r}"
                )
        if "input_names" in values:
            values["input_names"] = tuple(values["input_names"])
        if values.get("alpha") is not None:
            values["alpha"] = float(values["alpha"])
        return cls(**values)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


#: What each metadata field must hold (its check, and the words for the message).
_METADATA_TYPES = {
    "value_range": lambda v: True,  # check_value_range said it
    "min_size": lambda v: _is_int(v, 1),
    "multiple": lambda v: _is_int(v, 1),
    "pad_mode": lambda v: isinstance(v, str),
    "instance_normalization": lambda v: isinstance(v, bool),
    "input_names": lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
    "num_styles": lambda v: _is_int(v, 0),
    "alpha": lambda v: v is None or (
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
    ),
    "style_min_size": lambda v: _is_int(v, 1),
}
_METADATA_EXPECTED = {
    "value_range": "a pair of numbers",
    "min_size": "an integer >= 1",
    "multiple": "an integer >= 1",
    "pad_mode": "a string",
    "instance_normalization": "true or false",
    "input_names": "a list of names",
    "num_styles": "an integer >= 0",
    "alpha": "a number in [0, 1] or null",
    "style_min_size": "an integer >= 1",
}


def model_info(model: Any) -> ModelInfo:
    """The :class:`ModelInfo` of a Keras network or of a :class:`Runtime`.

    For a Keras model it is read off its layers: the
    :class:`~keras_perceptual.layers.BoundedOutput` (value range), the
    :class:`~keras_perceptual.layers.PadToMultiple` layers (minimum size, multiple) and any
    :class:`~keras_perceptual.layers.InstanceNormalization` or
    ``keras.layers.GroupNormalization``; other models get the defaults.

    Args:
        model: a ``keras.Model`` or a :class:`Runtime`.

    Returns:
        A :class:`ModelInfo`.

    Example:
        >>> net = super_resolution_net(4, filters=4, num_residual_blocks=1, value_range=(-1, 1))
        >>> model_info(net).value_range
        (-1.0, 1.0)
    """
    if isinstance(model, Runtime):
        return model.info
    import keras

    from keras_perceptual.inference import (
        input_alignment,
        is_arbitrary_style_model,
        min_input_size,
        style_count,
        walk_layers,
    )
    from keras_perceptual.layers import InstanceNormalization
    from keras_perceptual.models import model_value_range

    multiple, mode = input_alignment(model)
    per_image = (InstanceNormalization, keras.layers.GroupNormalization)
    instance = any(isinstance(layer, per_image) for layer in walk_layers(model))
    names = tuple(t.name for t in getattr(model, "inputs", None) or [])[1:]
    arbitrary = is_arbitrary_style_model(model)
    return ModelInfo(
        value_range=tuple(float(v) for v in model_value_range(model)),
        min_size=int(min_input_size(model)),
        multiple=int(multiple),
        pad_mode=mode,
        instance_normalization=bool(instance),
        input_names=names,
        num_styles=int(style_count(model) or 0),
        alpha=float(model.get_layer("adain").alpha) if arbitrary else None,
        style_min_size=int(model.get_layer("encoder").min_image_size) if arbitrary else 1,
    )


# --------------------------------------------------------------------------------------
# Runtimes
# --------------------------------------------------------------------------------------


class Runtime:
    """A network loaded into one runtime, called like a Keras model on numpy batches.

    Subclasses: :class:`KerasRuntime`, :class:`OnnxRuntime`, :class:`OpenVINORuntime`,
    :class:`TFLiteRuntime`. Create them with :func:`load_runtime`.

    Attributes:
        name: the runtime (one of :data:`RUNTIMES`).
        format: the format it was loaded from (one of :data:`FORMATS`).
        path: the file or folder it was loaded from (``None`` for an in-memory model).
        info: the network's :class:`ModelInfo`.

    Example:
        >>> runtime = load_runtime("model.keras")  # or an exported .onnx / .tflite / OpenVINO
        >>> runtime(np.random.rand(1, 64, 80, 3).astype("float32")).shape
        (1, 64, 80, 3)
    """

    name = "runtime"

    def __init__(self, fmt: str, path: str | None, info: ModelInfo):
        self.format = fmt
        self.path = path
        self.info = info

    @property
    def value_range(self) -> tuple[float, float]:
        """The ``(low, high)`` of the network's images."""
        return self.info.value_range

    def predict_on_batch(self, inputs: Any) -> np.ndarray:
        """Runs the network on one batch.

        Args:
            inputs: float32 images ``(B, H, W, 3)`` in ``value_range``; for a network with
                several inputs, a list ``[images, *others]`` in the order of
                ``info.input_names``, or a dict keyed by ``"images"`` and those names: a multi-style network's ``style_weights`` ``(B, N)``, an
                arbitrary-style network's ``style`` images ``(B or 1, Hs, Ws, 3)`` (one style
                for every image, as the Keras model takes it) of at least
                ``info.style_min_size`` pixels.

        Returns:
            float32 numpy outputs, ``(B, H', W', 3)`` (``B`` may be 0: an empty batch gives
            an empty output of the right height and width in every runtime).

        Raises:
            InputError: the images are not a rank-4 float array with 3 channels, or smaller
                than ``info.min_size``; an input whose shape the exported graph fixes (a
                ``.tflite`` exported with ``input_size``, a multi-style network's number of
                styles) given another shape, or another batch size than the images; style
                images smaller than ``info.style_min_size``; an input that is not
                floating-point.
        """
        if isinstance(inputs, dict):
            inputs = self._ordered(inputs)
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        arrays[0] = self._check_images(arrays[0])
        expected = 1 + len(self.info.input_names)
        if len(arrays) != expected:
            raise InputError(
                f"This {self.name} model takes {expected} input(s) (images"
                f"{''.join(', ' + n for n in self.info.input_names)}); pass them as a list in "
                f"that order. Received: {len(arrays)} input(s)"
            )
        names = (INPUT_NAME, *self.info.input_names)
        shapes = self.graph_input_shapes or [None] * len(arrays)
        arrays = [
            self._check_input(
                np.asarray(array), name, shape, arrays[0].shape[0], self._is_style_image(name)
            )
            for array, name, shape in zip(arrays, names, shapes, strict=True)
        ]
        if arrays[0].shape[0] == 0:
            # TFLite's XNNPACK, OpenVINO and TensorFlow's mirror padding fail on an empty
            # batch: one blank image gives the output's shape, of which none is returned.
            blank = [np.zeros((1, *array.shape[1:]), np.float32) for array in arrays]
            return np.asarray(self._run(blank), dtype=np.float32)[:0]
        return np.asarray(self._run(arrays), dtype=np.float32)

    def __call__(self, inputs: Any, training: bool = False) -> np.ndarray:
        """Same as :meth:`predict_on_batch` (``training`` is accepted and ignored)."""
        return self.predict_on_batch(inputs)

    def _check_images(self, images: Any) -> np.ndarray:
        array = np.asarray(images)
        if array.dtype.kind != "f":
            raise InputError(
                f"The {self.name} model takes float32 images in value_range="
                f"{self.info.value_range}; convert first, e.g. images.astype('float32') / 255. "
                f"Received: images.dtype={array.dtype}"
            )
        if array.ndim != 4 or array.shape[-1] != 3:
            raise InputError(
                f"The {self.name} model takes a batch of RGB images (batch, height, width, 3); "
                f"add a batch axis with images[None] or drop alpha with images[..., :3]. "
                f"Received: images.shape={array.shape}"
            )
        if min(array.shape[1:3]) < self.info.min_size:
            size = self.info.min_size
            raise InputError(
                f"This model needs images of at least {size}x{size} pixels; upscale or pad "
                f"smaller images first. Received: images.shape={array.shape}"
            )
        return np.ascontiguousarray(array, dtype=np.float32)

    def _ordered(self, inputs: dict) -> list:
        """A dict of inputs keyed by name as the list :meth:`predict_on_batch` takes."""
        names = (INPUT_NAME, *self.info.input_names)
        if set(inputs) != set(names):
            raise InputError(
                f"The {self.name} model's inputs, as a dict, are keyed by "
                f"{', '.join(map(repr, names))} (or pass a list in that order). "
                f"Received: keys {sorted(map(str, inputs))}"
            )
        return [inputs[name] for name in names]

    def _is_style_image(self, name: str) -> bool:
        """Whether the input ``name`` is an arbitrary-style network's style image."""
        return self.info.alpha is not None and name == "style"

    def _check_input(
        self, array: np.ndarray, name: str, shape: tuple | None, batch: int,
        style_image: bool = False,
    ) -> np.ndarray:
        """``array`` as float32 if it fits ``shape`` (the graph's: ``None`` where any size
        goes; the batch axis is free) and has the images' ``batch`` size, else raises. A
        ``style_image`` (an arbitrary-style network's) may also have a batch of 1, used for
        every image as the Keras model does, and must be ``info.style_min_size`` or more."""
        if array.dtype.kind != "f":
            raise InputError(
                f"The {self.name} model's input {name} takes floating-point values; convert it "
                f"first, e.g. {name}.astype('float32'). Received: {name}.dtype={array.dtype}"
            )
        if shape is None:
            shape = (None,) * array.ndim
        if style_image:
            shape = (None, None, None, 3)
        fits = len(shape) == array.ndim and all(
            s is None or s == n for s, n in zip(shape[1:], array.shape[1:], strict=True)
        )
        batches = (batch, 1) if style_image else (batch,)
        if fits and style_image and min(array.shape[1:3]) < self.info.style_min_size:
            size = self.info.style_min_size
            raise InputError(
                f"The {self.name} model's style images must be at least {size}x{size} pixels "
                f"(its encoder's smallest input); upscale them first. "
                f"Received: {name}.shape={array.shape}"
            )
        if not fits or array.shape[0] not in batches:
            expected = ", ".join(["batch", *("any" if s is None else str(s) for s in shape[1:])])
            hint = ""
            if name == INPUT_NAME and self.format == "tflite":
                hint = " (it was exported with a fixed input_size; export with input_size=None)"
            one = " or 1" if style_image else ""
            raise InputError(
                f"The {self.name} model's input {name} must have shape ({expected}), with batch "
                f"the images' {batch}{one}{hint}; resize, crop or repeat it to fit. "
                f"Received: {name}.shape={array.shape}"
            )
        return np.ascontiguousarray(array, dtype=np.float32)

    @functools.cached_property
    def graph_input_shapes(self) -> list[tuple] | None:
        """The exported graph's input shapes (images first; ``None`` for free sizes), read
        once: they are fixed when the file is loaded, and every batch is checked against
        them."""
        return self._input_shapes()

    def _input_shapes(self) -> list[tuple] | None:
        """The graph's input shapes, images first, ``None`` for sizes it leaves free; or
        ``None`` where the runtime does not say."""
        return None

    def _run(self, arrays: list[np.ndarray]) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.path or ''}>"


class BoundRuntime(Runtime):
    """An exported network whose inputs after the image are fixed: called with images alone.

    How :func:`~keras_perceptual.inference.stylize` runs an exported multi-style network
    (a ``style_weights`` row) or arbitrary-style network (a ``style`` image): each extra
    input is given once, with a batch axis of 1, and repeated to every batch's size.

    Args:
        runtime: the exported network (a :class:`Runtime` with ``info.input_names``).
        inputs: one float array per name of ``runtime.info.input_names``, in that order,
            each with a leading batch axis of 1 (e.g. ``(1, N)`` weights, a ``(1, H, W, 3)``
            image in ``value_range``).

    Raises:
        InputError: ``runtime`` is not a :class:`Runtime`, or ``inputs`` are not one float
            array of batch 1 per extra input.

    Example:
        >>> bound = BoundRuntime(load_runtime("multi.onnx"), [np.eye(4)[None, 2]])  # doctest: +SKIP
        >>> bound(np.random.rand(2, 64, 64, 3).astype("float32")).shape  # doctest: +SKIP
        (2, 64, 64, 3)
    """

    def __init__(self, runtime: Runtime, inputs: Sequence[np.ndarray]):
        if not isinstance(runtime, Runtime):
            raise InputError(
                "BoundRuntime binds the extra inputs of a Runtime; open the model first with "
                f"load_runtime(model). Received: runtime={type(runtime).__name__}"
            )
        names = runtime.info.input_names
        if isinstance(inputs, np.ndarray) or len(inputs) != len(names):
            raise InputError(
                "BoundRuntime needs one array per extra input of the model "
                f"({', '.join(names) or 'none'}), as a list in that order. Received: "
                f"{'an array' if isinstance(inputs, np.ndarray) else f'{len(inputs)} input(s)'}"
            )
        for name, array in zip(names, inputs, strict=True):
            array = np.asarray(array)
            if array.dtype.kind != "f" or array.ndim < 1 or array.shape[0] != 1:
                raise InputError(
                    f"BoundRuntime's {name} must be a float array with a leading batch axis of 1 "
                    f"(it is repeated for every image), e.g. {name}[None].astype('float32') "
                    f"(in value_range for images). Received: {name} with shape {array.shape} "
                    f"and dtype {array.dtype}"
                )
        super().__init__(
            runtime.format, runtime.path, dataclasses.replace(runtime.info, input_names=())
        )
        self.name = runtime.name
        self.runtime = runtime
        self.inputs = [np.asarray(a, np.float32) for a in inputs]

    def _run(self, arrays):
        count = arrays[0].shape[0]
        extras = [np.repeat(a, count, axis=0) for a in self.inputs]
        return self.runtime.predict_on_batch([arrays[0], *extras])


class KerasRuntime(Runtime):
    """A Keras model (any backend); ``model`` is the ``keras.Model``."""

    name = "keras"

    def __init__(self, model, path: str | None = None):
        super().__init__("keras", path, model_info(model))
        self.model = model

    def _run(self, arrays):
        import keras

        out = self.model.predict_on_batch(arrays[0] if len(arrays) == 1 else arrays)
        return keras.ops.convert_to_numpy(out)


class OnnxRuntime(Runtime):
    """An ONNX file in ONNX Runtime (CPU execution provider unless ``providers`` say else)."""

    name = "onnxruntime"

    def __init__(self, path: str, threads: int | None = None, providers: Sequence[str] | None = None):
        path = check_path(path, "path", "model.onnx")
        threads = None if threads is None else check_positive_int(threads, "threads")
        ort = require("onnxruntime", "ONNX Runtime")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                path, options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as error:  # noqa: BLE001 - any reason the file is not a usable model
            raise ModelLoadError(
                f"ONNX Runtime could not load {path!r} ({_one_line(error)}); pass a .onnx file "
                f"written by export_onnx or 'keras-perceptual export --format onnx'. "
                f"Received: model={path!r}"
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        super().__init__("onnx", path, ModelInfo.from_json(meta))
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _input_shapes(self):
        return [
            tuple(d if isinstance(d, int) else None for d in i.shape)
            for i in self.session.get_inputs()
        ]

    def _run(self, arrays):
        return self.session.run(None, dict(zip(self.input_names, arrays, strict=True)))[0]


class OpenVINORuntime(Runtime):
    """An OpenVINO IR (its folder or ``.xml``, or an ONNX file) compiled for OpenVINO's CPU
    plugin.

    ``precision="float32"`` (default) pins the CPU plugin's inference precision to float32:
    on CPUs with bfloat16 units (AVX512-BF16, AMX) OpenVINO otherwise computes in bfloat16
    by default, faster but a few 1e-3 off; ``"bfloat16"`` asks for that explicitly.
    """

    name = "openvino"

    def __init__(
        self, path: str, threads: int | None = None, precision: str = "float32", fmt="openvino"
    ):
        threads = None if threads is None else check_positive_int(threads, "threads")
        path = check_path(path, "path", "export/model_openvino")
        if os.path.isdir(path):  # an IR folder, as load_runtime takes it
            xml = _openvino_xml(path)
            if xml is None:
                raise ModelLoadError(
                    f"{path!r} holds no single OpenVINO IR (.xml + .bin) to read; pass the "
                    "folder written by export_openvino, or the .xml path. "
                    f"Received: model={path!r}"
                )
            path = xml
        ov = require("openvino", "OpenVINO")
        check_choice(precision, OPENVINO_PRECISIONS, "precision")
        core = ov.Core()
        try:
            model = core.read_model(path)
        except Exception as error:  # noqa: BLE001 - any reason the file is not a usable model
            raise ModelLoadError(
                f"OpenVINO could not read {path!r} ({_one_line(error)}); pass the folder or .xml "
                f"written by export_openvino, or a .onnx file. Received: model={path!r}"
            ) from None
        meta = None
        if model.has_rt_info([METADATA_KEY]):
            meta = model.get_rt_info([METADATA_KEY]).astype(str)
        elif fmt == "onnx":
            meta = _onnx_metadata(path)
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32" if precision == "float32" else "bf16",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(model, "CPU", config)
        self.precision = precision
        super().__init__(fmt, path, ModelInfo.from_json(meta))

    def _input_shapes(self):
        return [
            tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
            for port in self.compiled.inputs
        ]

    def _run(self, arrays):
        return self.compiled(arrays)[0]


#: Whether a TFLite run has happened in this process (after which TFLite prints no
#: "Created ... XNNPACK delegate" line, so the output needs no capture).
_DELEGATE_CREATED = False


class TFLiteRuntime(Runtime):
    """A ``.tflite`` file in TensorFlow's TFLite interpreter (XNNPACK for float32 models)."""

    name = "tflite"

    def __init__(self, path: str, threads: int | None = None):
        path = check_path(path, "path", "model.tflite")
        threads = None if threads is None else check_positive_int(threads, "threads")
        tf = require("tensorflow", "TensorFlow")
        try:
            with warnings.catch_warnings():  # "deprecated ... use ai_edge_litert" (same kernels)
                warnings.simplefilter("ignore", UserWarning)
                self.interpreter = tf.lite.Interpreter(
                    model_path=path, num_threads=int(threads or os.cpu_count() or 1)
                )
            self.runner = self.interpreter.get_signature_runner()
        except Exception as error:  # noqa: BLE001 - any reason the file is not a usable model
            raise ModelLoadError(
                f"TFLite could not load {path!r} ({_one_line(error)}); pass a .tflite file "
                f"written by export_tflite. Received: model={path!r}"
            ) from None
        inputs = self.runner.get_input_details()
        self.input_keys = sorted(inputs, key=lambda k: (k != INPUT_NAME, k))
        super().__init__("tflite", path, ModelInfo.from_json(read_tflite_metadata(path)))

    def _input_shapes(self):
        details = self.runner.get_input_details()
        return [
            tuple(None if d < 0 else int(d) for d in details[key]["shape_signature"])
            for key in self.input_keys
        ]

    def _run(self, arrays):
        global _DELEGATE_CREATED
        feeds = dict(zip(self.input_keys, arrays, strict=True))
        if _DELEGATE_CREATED:
            outputs = self.runner(**feeds)
        else:  # the process's first run prints "INFO: Created TensorFlow Lite XNNPACK
            with quiet_native_output():  # delegate for CPU." (C++, once a process)
                outputs = self.runner(**feeds)
            _DELEGATE_CREATED = True
        return next(iter(outputs.values()))


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def detect_format(reference: Any) -> str:
    """The format of a model reference (one of :data:`FORMATS`).

    Args:
        reference: a ``keras.Model``, ``"hf://owner/name"``, or a path: ``.keras`` file or a
            folder holding ``model.keras``; ``.onnx``; an OpenVINO ``.xml`` or a folder holding
            one; ``.tflite``.

    Returns:
        ``"keras"``, ``"onnx"``, ``"openvino"`` or ``"tflite"``.

    Raises:
        InputError: the reference is none of these.
        ModelLoadError: the path does not exist.

    Example:
        >>> detect_format("model.keras")
        'keras'
    """
    if isinstance(reference, Runtime):
        return reference.format
    if _is_keras_model(reference) or str(reference).startswith("hf://"):
        return "keras"
    try:
        path = os.fspath(reference)
    except TypeError:
        raise InputError(
            "model must be a keras.Model, a Runtime, 'hf://owner/name' or the path of a .keras, "
            f".onnx, .tflite file or an OpenVINO folder. Received: model={reference!r}"
        ) from None
    if not os.path.exists(path):
        raise ModelLoadError(
            f"Model {path!r} does not exist; pass a .keras file (or a training --out folder), a "
            f".onnx or .tflite file, an OpenVINO folder, or 'hf://owner/name'. Received: "
            f"model={path!r}"
        )
    fmt = folder_format(path) if os.path.isdir(path) else extension_format(path)
    if fmt is not None:
        return fmt
    if os.path.isdir(path) and _holds_saved_model(path):
        raise InputError(
            f"{path!r} is a TensorFlow SavedModel (export_for_serving's TF Serving format), "
            "which load_runtime does not run: serve it with TF Serving, or load it with "
            "tf.saved_model.load(version_folder).signatures['serving_default']; to run the "
            "network here, pass the .keras file it was exported from, or export that with "
            f"export_onnx / export_tflite / export_openvino. Received: model={path!r}"
        )
    raise InputError(
        f"{path!r} is not a model file, so could not load it: pass a .keras file or a folder with "
        f"model.keras, a .onnx file, an OpenVINO folder (model.xml + model.bin) or .xml, or a "
        f".tflite file. Received: model={path!r}"
    )


def extension_format(path: str | os.PathLike) -> str | None:
    """The format a file path's extension names (:data:`FILE_EXTENSIONS`, any case), or None.

    Example:
        >>> extension_format("export/starry.TFLite"), extension_format("export/starry")
        ('tflite', None)
    """
    lower = check_path(path, "path", "model.onnx").lower()
    return next((fmt for ext, fmt in FILE_EXTENSIONS.items() if lower.endswith(ext)), None)


def folder_format(path: str | os.PathLike) -> str | None:
    """The format of an existing folder: ``"keras"`` (it holds ``model.keras`` or a
    ``config.json``), ``"openvino"`` (an IR ``.xml``), or None.

    Example:
        >>> os.makedirs("starry_openvino"); open("starry_openvino/model.xml", "w").close()
        >>> folder_format("starry_openvino")
        'openvino'
    """
    path = check_path(path, "path", "export/model_openvino")
    if os.path.isfile(os.path.join(path, "model.keras")) or os.path.isfile(
        os.path.join(path, "config.json")
    ):
        return "keras"
    return "openvino" if _openvino_xml(path) else None


def load_keras_model(reference: Any):
    """A ``keras.Model`` from a ``.keras`` file, a training folder or ``hf://owner/name``.

    ``hf://`` references are read by Keras' own ``keras.saving.load_model`` (which needs
    ``huggingface_hub``: the ``export`` extra); a hub that cannot be reached raises a
    :class:`~keras_perceptual.errors.ModelLoadError` saying so.

    Args:
        reference: a ``keras.Model`` (returned as is), a path or ``"hf://owner/name"``.

    Returns:
        The model, loaded with ``compile=False, safe_mode=True``.

    Raises:
        ModelLoadError: the file or repository cannot be read or is not a Keras model.
        MissingDependencyError: ``hf://`` without ``huggingface_hub`` installed.

    Example:
        >>> model = load_keras_model("model.keras")  # or a training run's --out folder
        >>> model = load_keras_model("hf://owner/starry")  # the network  # doctest: +SKIP
    """
    if _is_keras_model(reference):
        return reference
    import keras

    import keras_perceptual.layers  # noqa: F401 - registers the networks' layers

    text = check_path(reference, "model", "model.keras")
    if text.startswith("hf://"):
        repo = text[len("hf://"):]
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise InputError(
                f"A Hugging Face Hub model is 'hf://owner/name'. Received: model={text!r}"
            )
        require("huggingface_hub", "huggingface_hub (hf:// models)")
        try:
            return keras.saving.load_model(text, compile=False, safe_mode=True)
        except Exception as error:  # noqa: BLE001 - classified below
            if _is_hub_error(error):
                raise ModelLoadError(
                    f"Could not download {text!r} from the Hugging Face Hub "
                    f"({shortened(_one_line(error))}); check the network (HF_ENDPOINT, proxies), the "
                    "repository name and your token, or download it where the hub is reachable "
                    f"and pass the local folder. Received: model={text!r}"
                ) from None
            raise ModelLoadError(
                f"{text!r} was downloaded but is not a Keras model Keras can load "
                f"({shortened(_one_line(error))}); upload it with model.save('hf://owner/name'). "
                f"Received: model={text!r}"
            ) from None
    path = text
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.keras")):
        path = os.path.join(path, "model.keras")
    if not os.path.exists(path):
        raise ModelLoadError(
            f"Model file {path!r} does not exist; pass the model.keras written by training (or "
            f"its --out folder). Received: model={text!r}"
        )
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"Could not load {path!r}: it is not a .keras archive (a .keras file is a zip file, "
            "this one is not: truncated, or another format renamed); pass a .keras file written "
            f"by model.save() or by training. Received: model={text!r}"
        )
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any reason a file is not a model
        raise ModelLoadError(
            f"Could not load {path!r} as a Keras model ({shortened(_one_line(error))}); pass a "
            f".keras file written by model.save() or by training. Received: model={text!r}"
        ) from None


def load_runtime(
    model: Any,
    runtime: str | None = None,
    *,
    threads: int | None = None,
    precision: str = "float32",
) -> Runtime:
    """Opens a network in a runtime; every runtime is then called the same way.

    Args:
        model: a ``keras.Model``, a :class:`Runtime` (returned as is when ``runtime`` is None
            or its own; else its Keras model or its file is opened in ``runtime``; a
            :class:`BoundRuntime` is refused), ``"hf://owner/name"``, or a path: a ``.keras`` file or training
            folder, a ``.onnx`` file, an OpenVINO folder or ``.xml``, a ``.tflite`` file.
        runtime: one of :data:`RUNTIMES`, or None for the format's default (the first of
            :data:`FORMAT_RUNTIMES`). A Keras model asked for another runtime is exported
            to it first, in a temporary folder (seconds to a minute).
        threads: CPU threads for ONNX Runtime / OpenVINO / TFLite; None: the runtime's
            default (every core).
        precision: OpenVINO's inference precision, ``"float32"`` (default) or
            ``"bfloat16"`` (faster on CPUs with bfloat16 units, about 1e-2 off).

    Returns:
        A :class:`Runtime`.

    Raises:
        InputError: an unknown format, or a runtime that cannot run it.
        ModelLoadError: the model cannot be read (missing file, unreachable hub, ...).
        MissingDependencyError: the runtime's package is not installed (the message names
            the ``export`` extra).

    Example:
        >>> runtime = load_runtime("model.keras")  # Keras
        >>> stylize(runtime, "photo.jpg").shape
        (48, 64, 3)
        >>> # files written by keras-perceptual export (not made in the tests):
        >>> runtime = load_runtime("export/starry.onnx")  # ONNX Runtime  # doctest: +SKIP
        >>> runtime = load_runtime("export/starry.onnx", "openvino")  # doctest: +SKIP
    """
    if runtime is not None:
        check_choice(runtime, RUNTIMES, "runtime")
    if threads is not None:
        threads = check_positive_int(threads, "threads")
    check_choice(precision, OPENVINO_PRECISIONS, "precision")
    if isinstance(model, Runtime) and runtime in (None, model.name):
        return model
    fmt = detect_format(model)
    allowed = FORMAT_RUNTIMES[fmt]
    runtime = runtime or allowed[0]
    if runtime not in allowed:
        raise InputError(
            f"A {fmt} model runs in {', '.join(allowed)}, not {runtime}; choose one of those or "
            f"export the Keras model to a {runtime} format. Received: runtime={runtime!r}"
        )
    check_applies("precision", precision, "float32", "runtime", runtime, ["openvino"])
    if isinstance(model, BoundRuntime):
        raise InputError(
            f"A BoundRuntime fixes the inputs after the image for one {model.name} runtime; "
            f"open the file in {runtime} with load_runtime(path, "
            f"{runtime!r}) and bind the inputs again. Received: runtime={runtime!r}"
        )
    if isinstance(model, KerasRuntime):
        model = model.model
    elif isinstance(model, Runtime):  # the same file, opened in another runtime
        model = model.path
    if fmt == "keras":
        keras_model = load_keras_model(model)
        source = None if _is_keras_model(model) else str(model)
        if runtime == "keras":
            return KerasRuntime(keras_model, source)
        return _converted(keras_model, runtime, threads=threads, precision=precision)
    path = os.fspath(model)
    if fmt == "onnx":
        if runtime == "openvino":
            return OpenVINORuntime(path, threads, precision, fmt="onnx")
        return OnnxRuntime(path, threads)
    if fmt == "openvino":
        return OpenVINORuntime(_openvino_xml(path) or path, threads, precision)
    return TFLiteRuntime(path, threads)


def _converted(model, runtime: str, **options) -> Runtime:
    """Exports a Keras model to ``runtime``'s format in a temporary folder and loads it."""
    from keras_perceptual import export

    with tempfile.TemporaryDirectory(prefix="keras_perceptual_runtime_") as scratch:
        if runtime == "onnxruntime":
            path = export.export_onnx(model, os.path.join(scratch, "model.onnx"))
            return OnnxRuntime(path, options.get("threads"))
        if runtime == "openvino":
            path = export.export_openvino(model, os.path.join(scratch, "openvino"))
            return OpenVINORuntime(path, options.get("threads"), options["precision"])
        path = export.export_tflite(model, os.path.join(scratch, "model.tflite"))
        return TFLiteRuntime(path, options.get("threads"))


# --------------------------------------------------------------------------------------
# Metadata and helpers
# --------------------------------------------------------------------------------------


def _onnx_metadata(path: str) -> str | None:
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(path, load_external_data=False)
    return next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)


def read_tflite_metadata(path: str) -> str | None:
    """The :data:`METADATA_KEY` entry of a ``.tflite`` file's metadata, or None.

    Args:
        path: a ``.tflite`` file.

    Returns:
        The JSON text :func:`~keras_perceptual.export.export_tflite` stored, or None.

    Raises:
        InputError: ``path`` is not a path.
        ModelLoadError: the file is not a TFLite model.

    Example:
        >>> # starry.tflite: written by keras-perceptual export (not made in the tests)
        >>> ModelInfo.from_json(read_tflite_metadata("starry.tflite")).value_range  # doctest: +SKIP
        (0.0, 1.0)
    """
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:
        return None
    with open(check_path(path, "path", "model.tflite"), "rb") as f:
        buffer = f.read()
    try:
        model = schema.Model.GetRootAsModel(buffer, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == METADATA_KEY.encode():
                data = model.Buffers(entry.Buffer()).DataAsNumpy()
                return bytes(np.asarray(data, np.uint8)).decode()
    except (struct.error, IndexError, UnicodeDecodeError) as error:  # not a FlatBuffer model
        raise ModelLoadError(
            f"{path!r} is not a TFLite model ({type(error).__name__}: {error}); pass a .tflite "
            f"file written by export_tflite. Received: path={path!r}"
        ) from None
    return None


def _holds_saved_model(path: str) -> bool:
    """Whether the folder ``path`` is a SavedModel or a TF Serving base folder of them."""
    def is_saved_model(folder: str) -> bool:
        return any(
            os.path.isfile(os.path.join(folder, name))
            for name in ("saved_model.pb", "saved_model.pbtxt")
        )

    if is_saved_model(path):
        return True
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(name.isdigit() and is_saved_model(os.path.join(path, name)) for name in names)


def _openvino_xml(path: str) -> str | None:
    """The IR ``.xml`` of an OpenVINO folder (``model.xml`` first), or None."""
    if not os.path.isdir(path):
        return path if path.lower().endswith(".xml") else None
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(".xml"))
    if "model.xml" in names:
        return os.path.join(path, "model.xml")
    return os.path.join(path, names[0]) if len(names) == 1 else None


def _is_keras_model(value: Any) -> bool:
    try:
        import keras
    except ImportError:
        return False
    return isinstance(value, keras.Model)


def _is_hub_error(error: BaseException) -> bool:
    """True for errors of reaching the Hugging Face Hub (offline, DNS, HTTP, not found)."""
    for cause in (error, error.__cause__, error.__context__):
        if cause is None:
            continue
        module = type(cause).__module__.split(".")[0]
        if module in ("huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2", "requests",
                      "urllib3") or isinstance(cause, (ConnectionError, TimeoutError)):
            return True
    return False


def require(module: str, what: str):
    """Imports an optional package, or raises MissingDependencyError naming how to install
    it: the ``export`` extra for the packages it holds, the package itself for others
    (TensorFlow, which the TFLite runtime needs, under another Keras backend).

    Args:
        module: the module to import, e.g. ``"onnxruntime"``.
        what: the feature that needs it, for the message.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: the package is not installed.

    Example:
        >>> require("numpy", "NumPy arrays").__name__
        'numpy'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if module.split(".")[0] in _EXTRA_MODULES:
            how = f"install the optional runtimes with {_INSTALL}"
        else:  # not in the extra (TensorFlow under another Keras backend): the package itself
            how = f"install it with pip install {_PIP_NAMES.get(module, module)}"
        raise MissingDependencyError(
            f"{what} needs the {module!r} package; {how}. Received: missing module {module!r}"
        ) from None


#: The modules the ``export`` extra installs (the others are named by their own package).
_EXTRA_MODULES = ("onnx", "tf2onnx", "onnxruntime", "openvino", "huggingface_hub")
_PIP_NAMES = {"tensorflow": "tensorflow"}


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


__all__ = [
    "EXTRA",
    "FILE_EXTENSIONS",
    "FORMATS",
    "FORMAT_RUNTIMES",
    "INPUT_NAME",
    "METADATA_KEY",
    "OPENVINO_PRECISIONS",
    "OUTPUT_NAME",
    "RUNTIMES",
    "BoundRuntime",
    "KerasRuntime",
    "ModelInfo",
    "OnnxRuntime",
    "OpenVINORuntime",
    "Runtime",
    "TFLiteRuntime",
    "detect_format",
    "extension_format",
    "folder_format",
    "load_keras_model",
    "load_runtime",
    "model_info",
    "read_tflite_metadata",
    "require",
]
