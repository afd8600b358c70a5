"""Which trained models the web app offers, what kind each is, and a cache of loaded ones.

:func:`discover_models` turns the folders and files given to ``keras-perceptual app
--models`` (plus the demo's ``demo_out/``) into :class:`ModelEntry` records without
loading anything: every model file found (``.keras``, and the exported ``.onnx``,
``.tflite`` and OpenVINO ``.xml`` + ``.bin`` of :mod:`keras_perceptual.export`), with the
training run's ``config.json`` when one lies beside it (the recipe, the style image shown
as a thumbnail, the steps).

:class:`ModelCache` loads a model the first time it is asked for, decides its
:class:`ModelKind` and keeps it (reloading when the file changes, e.g. a training run
that is still writing checkpoints). A kind is detected from the loaded model itself,
so a bare model file with no ``config.json`` works too; Keras models and exported ones
(:class:`~keras_perceptual.runtimes.Runtime`) are told apart the same way, from
:func:`keras_perceptual.runtimes.model_info` (the inputs after the image) and one run:

* ``"style"``: one image input, an output of the same height and width
  (:func:`~keras_perceptual.models.style_transfer_net`); run with
  :func:`~keras_perceptual.inference.stylize`.
* ``"super_resolution"``: one image input, an output an integer number of times larger
  (:func:`~keras_perceptual.models.super_resolution_net`); run with
  :func:`~keras_perceptual.inference.upscale`.
* ``"multi_style"``: inputs ``image`` and ``style_weights``
  (:func:`~keras_perceptual.models.multi_style_transfer_net`); one slider per style.
* ``"arbitrary_style"``: inputs ``content`` and ``style``
  (:func:`~keras_perceptual.models.arbitrary_style_net`); a style image and ``alpha``.

A new kind of model is one more :class:`ModelKind` in :data:`MODEL_KINDS` (its extra input
names), its branch in :func:`keras_perceptual.app.handlers.run_model` and its controls in
:mod:`keras_perceptual.app.ui`; a new file format is one more entry in
:data:`MODEL_LOADERS` (a file suffix and its loader). Exported multi-style and
arbitrary-style networks are recognized from their metadata (the inputs, the number of
styles); an exported arbitrary-style network applies the ``alpha`` it was exported with
(another alpha is a message naming the ``.keras`` model).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_perceptual._checks import check_path
from keras_perceptual.errors import InputError
from keras_perceptual.training.trainer import CONFIG_FILE, MODEL_FILE, read_record

#: The folder ``keras-perceptual demo`` writes to by default, and its two model folders.
DEMO_DIR = "demo_out"
DEMO_TASKS = ("style", "sr")
#: Folders never searched: version control, virtual environments, caches.
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages"})


@dataclasses.dataclass(frozen=True)
class ModelKind:
    """A kind of model the app can run: how to recognize it and how the page presents it.

    Attributes:
        name: identifier (``"style"``, ``"super_resolution"``, ...).
        label: words shown in the page (``"style transfer"``).
        action: the run button's text (``"Stylize"``).
        output_suffix: appended to a photo's name for the downloaded PNG; ``{scale}`` is
            replaced by the model's factor.
        extra_inputs: the names of the model's inputs after the image
            (:attr:`keras_perceptual.runtimes.ModelInfo.input_names`); ``()``: the image only.
        upscales: whether the output is an integer number of times larger than the input
            (super-resolution) rather than the same size.
    """

    name: str
    label: str
    action: str
    output_suffix: str
    extra_inputs: tuple[str, ...] = ()
    upscales: bool = False

    def matches(self, extra_inputs: tuple[str, ...], scale: int | None) -> bool:
        """Whether a model with these inputs after the image and output/input size ratio is
        of this kind."""
        if tuple(extra_inputs) != self.extra_inputs:
            return False
        if scale is None:
            return False
        return scale > 1 if self.upscales else scale == 1


#: The kinds the app runs, tried in order. Multi-style networks
#: (:func:`~keras_perceptual.models.multi_style_transfer_net`) get one slider per style;
#: arbitrary-style networks (:func:`~keras_perceptual.models.arbitrary_style_net`) a style
#: image upload and an ``alpha`` slider.
MODEL_KINDS: tuple[ModelKind, ...] = (
    ModelKind("style", "style transfer", "Stylize", "_stylized"),
    ModelKind("super_resolution", "super-resolution", "Upscale", "_x{scale}", upscales=True),
    ModelKind("multi_style", "multi-style transfer", "Stylize", "_stylized",
              extra_inputs=("style_weights",)),
    ModelKind("arbitrary_style", "arbitrary style transfer", "Stylize", "_stylized",
              extra_inputs=("style",)),
)


def kind_by_name(name: str) -> ModelKind:
    """The :class:`ModelKind` called ``name``, or raises ``InputError`` naming the kinds."""
    for kind in MODEL_KINDS:
        if kind.name == name:
            return kind
    names = ", ".join(repr(k.name) for k in MODEL_KINDS)
    raise InputError(f"Unknown model kind; expected one of {names}. Received: kind={name!r}")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model the app offers (found on disk; nothing loaded yet).

    Attributes:
        key: the model file's absolute, resolved path (unique; the page's choice value).
        label: what the model picker shows, e.g. ``"starry (runs/starry/model.keras)"``.
        path: the model file as found.
        run_dir: the training output folder when ``config.json`` lies beside the model.
        recipe: the training recipe recorded there (``"style_transfer"``,
            ``"super_resolution"``), else ``None``.
        style_image: path of the style image the run was trained with, when it still
            exists (shown as a thumbnail).
        notes: short facts from ``config.json`` for the page (steps, image size, loss
            network weights, a style image that is no longer where it was).
    """

    key: str
    label: str
    path: str
    run_dir: str | None = None
    recipe: str | None = None
    style_image: str | None = None
    notes: tuple[str, ...] = ()


def read_run_record(model_path: str) -> dict[str, Any]:
    """What the app shows of the training run that wrote ``model_path``.

    Reads ``config.json`` beside the model (written by
    :mod:`keras_perceptual.training`): the recipe, the style image (``arguments.style_image``,
    an absolute path), steps, image size and the loss network's weights. A missing or
    unreadable ``config.json`` gives an empty record: a bare ``.keras`` file is fine.

    Args:
        model_path: a ``.keras`` file.

    Returns:
        A dict with the keys ``run_dir``, ``recipe``, ``style_image`` and ``notes`` (the
        first three ``None`` when unknown).

    Example:
        >>> read_run_record("demo_out/style/model.keras")["recipe"]  # doctest: +SKIP
        'style_transfer'
    """
    record: dict[str, Any] = {"run_dir": None, "recipe": None, "style_image": None, "notes": ()}
    folder = os.path.dirname(os.path.abspath(model_path))
    config = read_record(os.path.join(folder, CONFIG_FILE))
    if config is None:
        return record
    arguments = config.get("arguments") if isinstance(config.get("arguments"), dict) else {}
    notes = []
    recipe = config.get("recipe") if isinstance(config.get("recipe"), str) else None
    style = arguments.get("style_image")
    if isinstance(style, str) and style:
        if os.path.isfile(style):
            record["style_image"] = style
            notes.append(f"style image: {os.path.basename(style)}")
        else:
            notes.append(f"style image {style} (no longer there: no thumbnail)")
    steps = arguments.get("steps")
    if isinstance(steps, int):
        notes.append(f"trained {steps:,} steps")
    for key, words in (("image_size", "at {} px"), ("patch_size", "on {} px patches"),
                       ("scale", "x{}")):
        if isinstance(arguments.get(key), int):
            notes.append(words.format(arguments[key]))
    weights = config.get("weights") if isinstance(config.get("weights"), dict) else {}
    if isinstance(weights.get("requested"), str):
        notes.append(f"loss network weights: {weights['requested']}")
    record.update(run_dir=folder, recipe=recipe, notes=tuple(notes))
    return record


def _skip_folder(root: str, name: str) -> bool:
    return (
        name.startswith(".")
        or name in SKIPPED_FOLDERS
        or os.path.isfile(os.path.join(root, name, "pyvenv.cfg"))
    )


def is_model_file(path: str) -> bool:
    """Whether ``path`` names a model the app loads: a suffix of :data:`MODEL_LOADERS`
    (an OpenVINO ``.xml`` only with its ``.bin`` beside it, so that other XML is ignored).

    Example:
        >>> is_model_file("runs/starry/model.onnx"), is_model_file("notes.txt")
        (True, False)
    """
    lower = path.lower()
    if not lower.endswith(tuple(MODEL_LOADERS)):
        return False
    return not lower.endswith(".xml") or os.path.isfile(os.path.splitext(path)[0] + ".bin")


def _model_files(folder: str) -> list[str]:
    """Every model file under ``folder`` (sorted; hidden files and folders skipped:
    training writes its temporary files as ``.name.XXXXXXXX.tmp.keras``)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skip_folder(root, d))
        found.extend(
            os.path.join(root, name)
            for name in sorted(files)
            if is_model_file(os.path.join(root, name)) and not name.startswith(".")
        )
    return found


def _label(path: str, base: str | None) -> str:
    """``"<run folder> (<path relative to base>)"`` for ``model.keras``, else the relative path."""
    relative = os.path.relpath(path, base) if base else os.path.basename(path)
    if relative.startswith(".."):
        relative = path
    if os.path.basename(path) == MODEL_FILE:
        folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
        return f"{folder} ({relative})"
    return relative


def discover_models(
    paths: Sequence[str | os.PathLike] = (), demo_dir: str | os.PathLike | None = DEMO_DIR
) -> list[ModelEntry]:
    """Finds the models the app offers: model files under ``paths``, and the demo's.

    Args:
        paths: folders (searched recursively; hidden folders and virtual environments
            skipped; an OpenVINO folder too) and model files (``.keras``, ``.onnx``,
            ``.tflite``, OpenVINO ``.xml``). Each must exist.
        demo_dir: the folder ``keras-perceptual demo`` wrote (``demo_out``); its
            ``style/model.keras`` and ``sr/model.keras`` are offered when present.
            ``None`` leaves it out.

    Returns:
        :class:`ModelEntry` records, the demo's first, then in the order found; a model
        reached twice (a folder inside another, a symbolic link) is listed once.

    Raises:
        InputError: a path that does not exist, a file that is not a model file, or a
            ``demo_dir`` that is a file.

    Example:
        >>> [e.label for e in discover_models(["runs"])]  # doctest: +SKIP
        ['starry (runs/starry/model.keras)', 'sr4 (runs/sr4/model.keras)']
    """
    found: list[tuple[str, str | None, str | None]] = []  # (path, label base, label prefix)
    if demo_dir is not None:
        demo_dir = check_path(demo_dir, "demo_dir", "demo_out")
        if os.path.isfile(demo_dir):
            raise InputError(
                f"demo_dir {demo_dir!r} is a file; pass the folder 'keras-perceptual demo' wrote "
                f"(its --out, 'demo_out' by default), or no demo folder. Received: "
                f"demo_dir={demo_dir!r}"
            )
        for task in DEMO_TASKS:
            candidate = os.path.join(demo_dir, task, MODEL_FILE)
            if os.path.isfile(candidate):
                found.append((candidate, os.path.dirname(demo_dir) or ".", "demo: "))
    for item in paths:
        path = check_path(item, "models", "runs/")
        if os.path.isdir(path):
            found.extend((p, path, None) for p in _model_files(path))
        elif os.path.isfile(path):
            if not is_model_file(path):
                suffixes = ", ".join(MODEL_LOADERS)
                raise InputError(
                    f"{path!r} is not a model file; pass {suffixes} files (an OpenVINO .xml with "
                    "its .bin beside it) or folders that hold "
                    f"them (e.g. a 'keras-perceptual train-style --out' folder). "
                    f"Received: models={path!r}"
                )
            found.append((path, os.path.dirname(path), None))
        else:
            raise InputError(
                f"{path!r} does not exist; pass existing folders or model files to --models. "
                f"Received: models={path!r}"
            )
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for path, base, prefix in found:
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        record = read_run_record(path)
        entries.append(
            ModelEntry(
                key=key,
                label=(prefix or "") + _label(path, base),
                path=path,
                run_dir=record["run_dir"],
                recipe=record["recipe"],
                style_image=record["style_image"],
                notes=record["notes"],
            )
        )
    return entries


def no_models_message(paths: Sequence[str | os.PathLike] = (),
                      demo_dir: str | os.PathLike | None = DEMO_DIR) -> str:
    """The page's (and the command's) explanation when :func:`discover_models` found nothing.

    Args:
        paths: the folders and files that were searched.
        demo_dir: the demo folder that was looked for.

    Returns:
        One sentence naming where the app looked and how to get a model
        (``keras-perceptual demo``, a training command, ``--models``).

    Example:
        >>> "keras-perceptual demo" in no_models_message()
        True
    """
    places = [os.fspath(p) for p in paths]
    if demo_dir is not None:
        places.append(os.path.join(os.fspath(demo_dir), "{style,sr}", MODEL_FILE))
    where = ", ".join(places) or "nowhere (no --models given)"
    return (
        f"No model found (looked in: {where}). Train one with `keras-perceptual demo` (it writes "
        f"demo_out/style/{MODEL_FILE}; start the app from the folder that holds demo_out/) or "
        "`keras-perceptual train-style ... --out DIR`, then pass `--models DIR` and press Refresh."
    )


# --------------------------------------------------------------------------------------
# Loading and kinds
# --------------------------------------------------------------------------------------


def load_keras_model(path: str):
    """Loads a ``.keras`` network for inference (``safe_mode=True``, no compile state).

    Args:
        path: the ``.keras`` file.

    Returns:
        The ``keras.Model``.

    Raises:
        KerasPerceptualError: a missing file, or one that is not a loadable Keras model.

    Example:
        >>> model = load_keras_model("demo_out/style/model.keras")  # doctest: +SKIP
    """
    from keras_perceptual.cli.common import load_model

    return load_model(path)


def load_exported_model(path: str):
    """Opens an exported network (``.onnx``, ``.tflite``, OpenVINO ``.xml``) in its runtime.

    :func:`keras_perceptual.runtimes.load_runtime` with the format's default runtime
    (ONNX Runtime, TFLite, OpenVINO).

    Args:
        path: the exported file.

    Returns:
        A :class:`~keras_perceptual.runtimes.Runtime`.

    Raises:
        ModelLoadError: the file cannot be read by its runtime.
        MissingDependencyError: the runtime is not installed (the ``export`` extra).

    Example:
        >>> runtime = load_exported_model("exports/starry.onnx")  # doctest: +SKIP
    """
    from keras_perceptual.runtimes import load_runtime

    return load_runtime(path)


#: File suffix -> loader returning a callable image model (a ``keras.Model`` or a
#: :class:`~keras_perceptual.runtimes.Runtime`). A new format is one more entry here.
MODEL_LOADERS: dict[str, Callable[[str], Any]] = {
    ".keras": load_keras_model,
    ".onnx": load_exported_model,
    ".tflite": load_exported_model,
    ".xml": load_exported_model,  # OpenVINO IR (with its .bin)
}

#: Side of the blank image a newly loaded model is run on to measure its output size.
PROBE_SIZE = 32


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model loaded and inspected once, as the cache keeps it.

    Attributes:
        model: the ``keras.Model``, or a :class:`~keras_perceptual.runtimes.Runtime` for
            an exported network.
        kind: its :class:`ModelKind`.
        scale: output size / input size (1 for style transfer).
        value_range: ``(low, high)`` of its images.
        min_side: the smallest height and width it accepts, in pixels.
        parameters: its parameter count (``None`` for an exported network).
        runtime: what runs it: ``"keras"``, ``"onnxruntime"``, ``"openvino"``, ``"tflite"``.
        num_styles: multi-style networks: the length of their ``style_weights`` input.
        mtime: the file's modification time when loaded (informative: :class:`ModelCache`
            reloads a changed or replaced file).
        sizes_run: the input sizes the model has run on since it was loaded (the first
            run at a new size includes tracing the graph for it).
    """

    model: Any
    kind: ModelKind
    scale: int
    value_range: tuple[float, float]
    min_side: int
    parameters: int | None
    mtime: float
    num_styles: int = 0
    runtime: str = "keras"
    sizes_run: set = dataclasses.field(default_factory=set, compare=False, repr=False)


def inspect_model(model, mtime: float = 0.0) -> LoadedModel:
    """Decides what kind of model ``model`` is by running it once on a blank image.

    The inputs after the image come from :func:`keras_perceptual.runtimes.model_info`,
    which reads them off a Keras model and off an export's metadata alike.

    Args:
        model: a loaded ``keras.Model`` or :class:`~keras_perceptual.runtimes.Runtime`.
        mtime: recorded in the result (see :class:`ModelCache`).

    Returns:
        A :class:`LoadedModel`.

    Raises:
        InputError: when the model is none of :data:`MODEL_KINDS` (several inputs the app
            does not know, an output that is not an RGB image of the input's size or an
            integer multiple of it), or an exported multi-style network that does not
            record its number of styles (an export of an earlier version).

    Example:
        >>> inspect_model(style_transfer_net(filters=4)).kind.name  # doctest: +SKIP
        'style'
    """
    import keras

    from keras_perceptual.runtimes import Runtime, model_info

    info = model_info(model)
    extra = tuple(info.input_names)
    exported = isinstance(model, Runtime)
    runtime = model.name if exported else "keras"
    if exported and extra == ("style_weights",) and not info.num_styles:
        raise InputError(
            "This exported multi-style network does not record its number of styles (it was "
            "exported by an earlier version); export it again from its .keras model, or pass "
            f"the .keras model. Received: model={model.path!r}"
        )
    min_side = int(info.min_size)
    value_range = tuple(info.value_range)
    size = max(PROBE_SIZE, min_side)
    probe: list | None = []
    if exported:  # the shapes of the inputs, from the export's metadata
        extra_shapes = {"style_weights": (1, info.num_styles), "style": (1, None, None, 3)}
        shapes = [(1, None, None, 3), *(extra_shapes.get(name, ()) for name in extra)]
    else:
        shapes = [tuple(t.shape) for t in model.inputs]
    for shape in shapes:  # images (rank 4) mid-grey; vectors (style weights) one-hot
        if len(shape) == 4 and shape[-1] == 3:
            probe.append(np.full((1, size, size, 3), sum(value_range) / 2, np.float32))
        elif len(shape) == 2 and shape[-1] is not None:
            probe.append(np.eye(1, int(shape[-1]), dtype=np.float32))
        else:
            probe = None
            break
    scale = None
    shape = ()
    if probe:
        try:
            out = model(probe[0] if len(probe) == 1 else probe, training=False)
            shape = tuple(int(d) for d in keras.ops.shape(out))
        except Exception as error:  # noqa: BLE001 - any failure means "not an image model"
            raise InputError(
                f"The model does not run on a {size}x{size} RGB image ({type(error).__name__}); "
                "the app runs image-to-image networks (style transfer, super-resolution). "
                f"Received: model={_model_name(model)!r}"
            ) from None
        if len(shape) == 4 and shape[-1] == 3 and shape[1] % size == 0 and shape[1] == shape[2]:
            scale = shape[1] // size
    for kind in MODEL_KINDS:
        if kind.matches(extra, scale):
            return LoadedModel(
                model=model,
                kind=kind,
                scale=int(scale or 1),
                value_range=value_range,
                min_side=min_side,
                parameters=None if exported else int(model.count_params()),
                mtime=mtime,
                num_styles=int(shapes[1][-1]) if kind.name == "multi_style" else 0,
                runtime=runtime,
            )
    inputs = ("image", *extra)
    what = (f"has inputs {inputs} and maps a 1x{size}x{size}x3 image to {shape}" if shape
            else f"has inputs {inputs}")
    raise InputError(
        f"The model {what}; the app runs style-transfer networks (an RGB image in, the same size "
        "out), super-resolution networks (an RGB image in, an integer multiple of its size out), "
        "multi-style networks (inputs image and style_weights) and arbitrary-style networks "
        f"(inputs content and style). Received: model={_model_name(model)!r}"
    )


def _model_name(model) -> str:
    return str(getattr(model, "path", None) or getattr(model, "name", type(model).__name__))


class ModelCache:
    """Loads each model once and keeps the most recently used ones (thread-safe).

    A model whose file has changed since it was loaded (a training run still writing
    checkpoints, a file replaced by another) is loaded again: the file's modification
    time, size, inode and status-change time are compared, so a replacement that keeps
    the old modification time (``cp -p``, ``rsync -t``, a rename over it) is noticed too.

    Args:
        capacity: how many loaded models to keep.
        loader: ``loader(path) -> model``; default: by file suffix (:data:`MODEL_LOADERS`).

    Example:
        >>> cache = ModelCache()
        >>> loaded = cache.get("demo_out/style/model.keras")  # doctest: +SKIP
        >>> cache.get("demo_out/style/model.keras") is loaded  # doctest: +SKIP
        True
    """

    def __init__(self, capacity: int = 4, loader: Callable[[str], Any] | None = None):
        self.capacity = int(capacity)
        self.loader = loader
        self.loads = 0
        self._models: OrderedDict[str, tuple[tuple, LoadedModel]] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self, path: str):
        if self.loader is not None:
            return self.loader(path)
        for suffix, loader in MODEL_LOADERS.items():
            if path.endswith(suffix):
                return loader(path)
        raise InputError(
            f"No loader for {os.path.basename(path)!r}; the app loads {', '.join(MODEL_LOADERS)} "
            f"files. Received: path={path!r}"
        )

    def get(self, path: str | os.PathLike) -> LoadedModel:
        """The loaded, inspected model at ``path`` (loaded now if needed).

        Args:
            path: a model file.

        Returns:
            A :class:`LoadedModel`.

        Raises:
            KerasPerceptualError: the file is missing, not a model, or of no known kind.
        """
        key = os.path.realpath(os.fspath(path))
        try:
            stat = os.stat(key)
        except OSError:
            raise InputError(
                f"The model file {os.fspath(path)!r} is gone; press Refresh to list the models "
                f"that exist now. Received: path={os.fspath(path)!r}"
            ) from None
        # Not the modification time alone: a file replaced by one with the same time (cp -p,
        # rsync -t, an unzipped archive, a rename over it) has a new inode, size or ctime.
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None and cached[0] == signature:
                self._models.move_to_end(key)
                return cached[1]
            loaded = inspect_model(self._load(key), mtime=stat.st_mtime)
            self.loads += 1
            self._models[key] = (signature, loaded)
            self._models.move_to_end(key)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return loaded


__all__ = [
    "CONFIG_FILE",
    "DEMO_DIR",
    "MODEL_FILE",
    "MODEL_KINDS",
    "MODEL_LOADERS",
    "LoadedModel",
    "ModelCache",
    "ModelEntry",
    "ModelKind",
    "discover_models",
    "inspect_model",
    "is_model_file",
    "kind_by_name",
    "load_exported_model",
    "load_keras_model",
    "no_models_message",
    "read_run_record",
]
