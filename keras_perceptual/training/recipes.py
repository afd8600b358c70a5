"""The recipes: what each training declares, and the functions that run them.

A :class:`Recipe` holds a run configuration (:mod:`keras_perceptual.training.config`)
and declares only what differs between trainings: the data it scans, the network, the
loss, the compiled training model, the dataset, the sample images and what to record.
:class:`~keras_perceptual.training.trainer.Trainer` does the rest (resume, checkpoints,
logs, distribution).

:func:`train_style_transfer` and :func:`train_super_resolution` are the public entry
points: they build the configuration from their keyword arguments (or take one) and run
the trainer. Their defaults are the paper's settings, written once, in the configuration
classes.

Adding a recipe option: a field in the recipe's configuration class and its use in the
recipe's methods below; the public function takes it as a keyword (its signature is made
from the configuration's fields, see ``_recipe_function``).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import functools
import inspect
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual._checks import check_keywords
from keras_perceptual.errors import InputError
from keras_perceptual.images import image_array, load_images, resize_longer_side
from keras_perceptual.inference import min_input_size
from keras_perceptual.losses import (
    AdaINLoss,
    PerceptualLoss,
    TemporalConsistency,
    pack_style_targets,
)
from keras_perceptual.metrics import LPIPS, PSNR, SSIM
from keras_perceptual.models import (
    arbitrary_style_net,
    multi_style_transfer_net,
    style_transfer_net,
    super_resolution_net,
)
from keras_perceptual.motion import MOTION_PRESETS
from keras_perceptual.ops import from_uint8, sr_degrade
from keras_perceptual.precision import backbone_dtype_for, resolve_backbone_dtype
from keras_perceptual.training.config import (
    ArbitraryStyleConfig,
    MultiStyleConfig,
    RunConfig,
    StyleTransferConfig,
    SuperResolutionConfig,
    image_sha256,
    json_safe,
)
from keras_perceptual.training.optimizers import ScaledAdam, style_parameter_paths
from keras_perceptual.training.results import TrainingResult
from keras_perceptual.training.trainer import Trainer, run_folders_under, skipped_record

#: The loss network :class:`PerceptualLoss` uses when ``loss_options`` names none.
DEFAULT_LOSS_BACKBONE = inspect.signature(PerceptualLoss).parameters["backbone"].default


def untracked_loss(loss: keras.losses.Loss) -> Callable:
    """Wraps a per-image loss as a plain function for ``compile``.

    Keras then reduces it (mean over the batch, scaled for distribution) exactly as it
    would the loss object, but does not track the loss: its frozen VGG is not written
    into every backup.
    """

    def perceptual_loss(y_true, y_pred):
        return loss(y_true, y_pred)

    return perceptual_loss


@contextlib.contextmanager
def named_as(names: Mapping[str, str]) -> Iterator[None]:
    """Within: an :class:`~keras_perceptual.errors.InputError` about an argument of a function
    called on the caller's behalf names the caller's own setting instead. ``names`` maps the
    inner argument to the setting (``{"directory": "content_dir"}``: ``Received:
    directory='x'`` becomes ``Received: content_dir='x'``); only ``name=``, ``name must``
    and ``name)`` are renamed, never a word of a sentence. The error keeps its class.

    Example:
        >>> from keras_perceptual.scan import scan_images
        >>> with named_as({"directory": "content_dir"}):
        ...     scan_images("no_such_folder")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: Image folder 'no_such_folder' does not exist; check the path. Received: content_dir='no_such_folder'
    """
    try:
        yield
    except InputError as error:
        text = str(error)
        for inner, outer in names.items():
            text = re.sub(rf"(?<![\w.'\"/\-]){re.escape(inner)}(?==| must |\))", outer, text)
        error.args = (text, *error.args[1:])
        raise


def style_array(image: Any, size: int | None, value_range, name: str = "style_image"):
    """A style image argument (path or array) as ``(array resized to size, record)``.

    The image follows :func:`~keras_perceptual.images.image_array`'s one rule: an integer
    (e.g. ``uint8``) array is refused with the fix, not read as floats in [0, 255] and
    clipped to ``value_range``.
    """
    with named_as({"path": name}):  # image_array reads a path with load_image
        array = image_array(image, value_range, name)
    record = {"path": image if isinstance(image, str) else None}
    record["sha256"] = image_sha256(image)
    if size is not None:
        array = resize_longer_side(array, size, value_range)
    return array, {**record, "shape": list(array.shape)}


def balanced_schedule(count: int, seed: int, length: int = 4096) -> np.ndarray:
    """Seeded random permutations of ``range(count)``, end to end (``length`` rounded up).

    Every ``count`` consecutive entries hold each value once, so batches drawn from it
    sample styles evenly however the batch size relates to ``count``.

    Example:
        >>> sorted(balanced_schedule(3, seed=0)[:3].tolist())
        [0, 1, 2]
    """
    rng = np.random.default_rng(seed)
    cycles = -(-length // count)
    return np.concatenate([rng.permutation(count) for _ in range(cycles)]).astype(np.int32)


def schedule_rows(table: np.ndarray, images, index):
    """The rows of ``table`` for the images of batch ``index``: positions
    ``index * batch + i`` (modulo its length), as ``keras.ops`` (any backend, tf.data)."""
    batch = keras.ops.shape(images)[0]
    start = keras.ops.cast(index, "int32") * keras.ops.cast(batch, "int32")
    positions = (start + keras.ops.arange(batch, dtype="int32")) % table.shape[0]
    return keras.ops.take(keras.ops.convert_to_tensor(table), positions, axis=0)


class _SampleNetwork:
    """The network with fixed extra inputs per sample row (what ``SampleImages`` calls)."""

    def __init__(self, network, extra):
        self.network, self.extra = network, extra

    def __call__(self, images, training=False):
        return self.network([images, self.extra], training=training)


class _SampleTerms:
    """``compute_terms(y_true, y_pred)`` of a loss whose targets need the sample rows' extra
    inputs (``pack(y_true) -> the loss's y_true``, or ``terms(y_true, y_pred)``)."""

    def __init__(self, compute):
        self.compute = compute

    def compute_terms(self, y_true, y_pred):
        return self.compute(y_true, y_pred)


class Recipe(abc.ABC):
    """What a training declares; the :class:`Trainer` runs it.

    Subclasses set ``config_class`` and implement the methods below; ``self.config`` is
    the validated configuration (the trainer replaces it once the seed is settled).
    """

    config_class: type[RunConfig] = RunConfig
    #: The precision the run computes in (``config.precision`` resolved by the trainer).
    precision: str = "float32"

    def __init__(self, config: RunConfig):
        if not isinstance(config, self.config_class):
            raise InputError(
                f"{type(self).__name__} needs a {self.config_class.__name__}. "
                f"Received: config={type(config).__name__}"
            )
        self.config = config

    # --- the data --------------------------------------------------------
    @abc.abstractmethod
    def data_source(self) -> tuple[Any, int]:
        """``(folder or ScanResult, minimum image side)`` of the training images."""

    def scan(self):
        """The usable images of :meth:`data_source` (a ``ScanResult``)."""
        from keras_perceptual.scan import ScanResult

        source, min_size = self.data_source()
        if isinstance(source, ScanResult):
            return source
        name = next((field.name for field in dataclasses.fields(self.config)
                     if getattr(self.config, field.name) is source), "directory")  # fmt: skip
        return self.scan_folder(source, min_size, name)

    def scan_folder(self, folder: Any, min_size: int, name: str):
        """``scan_images(folder)`` without the run's own outputs (sample grids) and other
        runs' (:meth:`left_out_of`); its errors name the settings (``name`` for the folder,
        the crop size's for ``min_size``), not ``scan_images``' arguments."""
        from keras_perceptual.scan import scan_images

        with named_as({"directory": name, "min_size": self.network_input()[0]}):
            return scan_images(folder, min_size=min_size, exclude=self.left_out_of(folder))

    def other_scans(self) -> list:
        """The scans of other image folders than the photos' (the paintings of an arbitrary
        style run), resolved: their unusable files count in ``TrainingResult.skipped_images``."""
        return []

    def left_out_of(self, folder: str) -> list[str]:
        """The folders a scan of ``folder`` leaves out: this run's output folder and every
        other training run below ``folder`` (:func:`run_folders_under`), named in a warning."""
        others = [path for path in run_folders_under(folder)
                  if os.path.realpath(path) != os.path.realpath(self.config.output_dir)]
        if others:
            shown = ", ".join(repr(path) for path in others[:5])
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            warnings.warn(
                f"Left out {len(others)} folder(s) under {folder!r} that hold other training "
                f"runs (their sample grids are not training images): {shown}{more}.",
                UserWarning, stacklevel=2,
            )
        return [self.config.output_dir, *others]

    @abc.abstractmethod
    def crop_size(self) -> int:
        """Side of the square random crops the recipe trains on."""

    def network_input(self) -> tuple[str, int, str | None, int]:
        """``(setting, its value, divisor's name, divisor)``: the loss and the metrics see
        ``value``-pixel crops and the network ``value // divisor`` (default: the
        ``image_size`` crops themselves)."""
        return "image_size", self.crop_size(), None, 1

    def check_crop_size(self, network: keras.Model, loss: Any, metrics: list) -> None:
        """Refuses crops smaller than ``network``, ``loss`` or one of ``metrics`` accepts
        (their ``min_image_size``), before anything is trained or recorded: ``fit`` would
        fail inside its first sample or step, in words about the loss's layers or the
        metric's window instead of the recipe's setting.

        Raises:
            keras_perceptual.errors.InputError: the crops, or the network's inputs made
                from them, would be too small.
        """
        name, value, divisor_name, divisor = self.network_input()
        side = value // divisor
        seen = f" ({name} / {divisor_name} = {value} / {divisor})" if divisor_name else ""
        needs = [("network", side, seen, min_input_size(network), divisor)]
        needs += [
            (what, value, "", getattr(item, "min_image_size", 1), 1)
            for what, item in [("loss", loss), *((f"{m.name} metric", m) for m in metrics)]
        ]
        for what, size, seen, need, scale in needs:
            if size < need:
                smallest = -(-need * scale // divisor) * divisor  # a multiple of the divisor
                raise InputError(
                    f"{name}={value} gives the {what} {size}x{size} pixel images{seen}, but it "
                    f"needs at least {need}x{need}; use {name} >= {smallest}. "
                    f"Received: {name}={value}"
                )

    def pairs(self, images, index):
        """``(x, y)`` for ``fit`` from a float32 batch of crops (``keras.ops`` only: the same
        function on every backend and input pipeline). ``index`` is the batch's position
        in the stream (an integer scalar), for seeded per-batch choices. Default:
        ``(images, images)``."""
        return images, images

    @abc.abstractmethod
    def sample_images(self, scan) -> tuple[np.ndarray, np.ndarray | None]:
        """``(inputs, targets or None)`` drawn as samples during training."""

    # --- the models -------------------------------------------------------
    def loss_backbone(self) -> str | None:
        """The loss network's backbone (``None``: the loss needs no loss network)."""
        return self.config.loss_options.get("backbone", DEFAULT_LOSS_BACKBONE)

    def resolve(self) -> None:  # noqa: B027 - most recipes need no preparation
        """Prepares inputs the recipe needs before building (e.g. the style image)."""

    #: Whether the loss network's weights may be stored in bfloat16; the trainer sets it
    #: from its platform (``Platform.bfloat16_variables``).
    bfloat16_variables: bool = True

    def loss_network_dtype(self) -> dict:
        """``{"backbone_dtype": ...}`` for the loss: the one of :attr:`precision`
        (:func:`~keras_perceptual.precision.backbone_dtype_for`) unless ``loss_options``
        names one."""
        return {"backbone_dtype": backbone_dtype_for(self.precision)}

    def loss_arguments(self, arguments: Mapping[str, Any]) -> dict:
        """The loss's keyword ``arguments`` with a ``backbone_dtype`` the platform can hold.

        Where variables cannot be stored in bfloat16 (TensorFlow's multi-worker strategy),
        a loss network that would be bfloat16 (from ``precision``, or ``"auto"`` on a CPU
        with bfloat16 units) computes in bfloat16 with float32 weights
        (``"mixed_bfloat16"``).

        Raises:
            keras_perceptual.errors.InputError: ``loss_options`` asks for
                ``backbone_dtype="bfloat16"`` where it cannot be held.
        """
        arguments = dict(arguments)
        dtype = arguments.get("backbone_dtype")
        if self.bfloat16_variables or dtype is None:
            return arguments
        if resolve_backbone_dtype(dtype) != "bfloat16":
            return arguments
        if self.config.loss_options.get("backbone_dtype") == "bfloat16":
            raise InputError(
                "loss_options backbone_dtype='bfloat16' stores the loss network's weights in "
                "bfloat16, which TensorFlow's multi-worker strategy cannot broadcast (its "
                "collective ops have no bfloat16 kernel); pass 'mixed_bfloat16' (bfloat16 "
                "compute, float32 weights) or 'auto'. Received: backbone_dtype='bfloat16'"
            )
        return {**arguments, "backbone_dtype": "mixed_bfloat16"}

    @abc.abstractmethod
    def build_network(self) -> keras.Model:
        """The image transformation network to train."""

    @abc.abstractmethod
    def build_loss(self) -> keras.losses.Loss:
        """The per-image training loss (``reduction=None``)."""

    def compile(
        self, network: keras.Model, loss: keras.losses.Loss, metrics: list | None = None
    ) -> keras.Model:
        """The compiled model ``fit`` trains (it shares ``network``'s weights); ``metrics``
        defaults to :meth:`metrics`."""
        trainer = keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")
        trainer.compile(
            optimizer=self.build_optimizer(network),
            loss=untracked_loss(loss),
            metrics=self.metrics() if metrics is None else metrics,
            jit_compile=self.config.jit_compile,
        )
        return trainer

    def build_optimizer(self, network: keras.Model) -> keras.optimizers.Optimizer:
        """The optimizer: Adam at the configured learning rate (every paper here)."""
        return keras.optimizers.Adam(self.config.learning_rate)

    def metrics(self) -> list:
        """Metrics logged while training."""
        return []

    def sampling(self, network: keras.Model, loss: Any) -> tuple[Any, Any]:
        """``(network, loss)`` the sample images go through: by default the trained ones;
        networks with more inputs than the image bind them for the sample rows."""
        return network, loss

    def describe(self) -> dict:
        """What ``config.json`` records under ``resolved`` for this recipe."""
        return {"optimizer": "Adam"}


class StyleTransferRecipe(Recipe):
    """Fast style transfer (Johnson et al. 2016, Section 4.1)."""

    config_class = StyleTransferConfig

    def data_source(self):
        return self.config.content_dir, self.config.image_size

    def resolve(self):
        config = self.config
        self.style, self.style_record = style_array(
            config.style_image, config.style_image_size, config.value_range
        )

    def build_network(self):
        return style_transfer_net(
            **{"value_range": self.config.value_range, **self.config.model_options}
        )

    def style_targets(self) -> dict:
        """The style argument of the :class:`PerceptualLoss`: the style image."""
        return {"style_image": self.style}

    def build_loss(self):
        config = self.config
        return PerceptualLoss(
            **self.style_targets(),
            weights=config.weights,
            value_range=config.value_range,
            reduction=None,
            **self.loss_arguments(
                {**self.loss_network_dtype(), **config.loss_options, **config.loss_weights()}
            ),
        )

    def compile(self, network, loss, metrics=None):
        config = self.config
        if config.temporal_weight > 0:
            # Trains the same weights; model.keras, samples and inference keep ``network``.
            stable = TemporalConsistency(
                network,
                weight=config.temporal_weight,
                motion=config.temporal_motion,
                value_range=config.value_range,
                seed=config.seed,
                name="temporal_consistency",
            )
            network = keras.Model(network.inputs, stable(network.inputs[0]), name=network.name)
        return super().compile(network, loss, metrics)

    def crop_size(self):
        return self.config.image_size

    def sample_images(self, scan):
        config = self.config
        photos = load_images(
            list(scan.paths[:4]), size=config.image_size, value_range=config.value_range
        )
        return photos, None

    def describe(self):
        config = self.config
        temporal = None
        if config.temporal_weight > 0:
            temporal = {
                "class": "TemporalConsistency",
                "weight": config.temporal_weight,
                "motion": config.temporal_motion,
                "perturbation": MOTION_PRESETS[config.temporal_motion],
            }
        return {"style_image": self.style_record, "optimizer": "Adam", "temporal": temporal}


class MultiStyleRecipe(StyleTransferRecipe):
    """Several styles in one network (Dumoulin, Shlens & Kudlur 2017): the style-transfer
    recipe with a :func:`multi_style_transfer_net` and ``PerceptualLoss(style_images=...)``.

    Each image of a batch gets a style from a seeded :func:`balanced_schedule` (every
    ``N`` consecutive images hold every style once), as its one-hot ``style_weights``
    input and, through ``y_true`` (:func:`~keras_perceptual.losses.pack_style_targets`), as
    its Gram-matrix target; a step costs what a single-style step costs plus the
    conditional normalizations' tiny matrix products (``benchmarks/bench_train.py``).
    """

    config_class = MultiStyleConfig

    def resolve(self):
        config = self.config
        loaded = [
            style_array(image, config.style_image_size, config.value_range, f"style_images[{i}]")
            for i, image in enumerate(config.style_images)
        ]
        self.styles = [array for array, _ in loaded]
        self.style_records = [record for _, record in loaded]
        self.schedule = balanced_schedule(len(self.styles), config.seed)

    def build_network(self):
        return multi_style_transfer_net(
            len(self.styles), **{"value_range": self.config.value_range, **self.config.model_options}
        )

    def style_targets(self) -> dict:
        return {"style_images": self.styles}

    def build_optimizer(self, network):
        """Adam, with ``style_learning_rate_multiplier`` times the learning rate for the
        per-style scales and offsets (:class:`~keras_perceptual.training.ScaledAdam`)."""
        return ScaledAdam(
            self.config.learning_rate,
            multiplier=self.config.style_learning_rate_multiplier,
            scaled_variables=style_parameter_paths(network),
        )

    def pairs(self, images, index):
        styles = schedule_rows(self.schedule, images, index)
        weights = keras.ops.one_hot(styles, len(self.styles), dtype="float32")
        return {"image": images, "style_weights": weights}, pack_style_targets(images, weights)

    def sample_images(self, scan):
        photos, _ = super().sample_images(scan)
        photos = photos[:2]
        count = len(self.styles)
        self.sample_weights = np.tile(np.eye(count, dtype=np.float32), (len(photos), 1))
        return np.repeat(photos, count, axis=0), None  # each photo in every style

    def sampling(self, network, loss):
        weights = self.sample_weights

        def terms(y_true, y_pred):
            return loss.compute_terms(pack_style_targets(y_true, weights), y_pred)

        return _SampleNetwork(network, weights), _SampleTerms(terms)

    def describe(self):
        return {"style_images": self.style_records, "style_schedule": "balanced_schedule",
                "optimizer": "Adam" if self.config.style_learning_rate_multiplier == 1 else
                "ScaledAdam"}  # fmt: skip


class ArbitraryStyleRecipe(Recipe):
    """Arbitrary style transfer (Huang & Belongie 2017, Section 6.2): the AdaIN decoder.

    Content crops stream from ``content_dir`` as in every recipe; the paintings of
    ``style_dir`` are scanned and read once (unusable files skipped and named in a
    ``SkippedImagesWarning``, as the photos' scan does), resized so their shorter side is ``style_image_size`` and
    centre-cropped to a square, and held in memory as 8-bit pixels (``style_image_size``
    ** 2 * 3 bytes each: 0.8 MB at 512 px); each content crop is paired with a random
    ``image_size`` crop of a painting, the paintings drawn evenly from a seeded schedule.
    """

    config_class = ArbitraryStyleConfig

    def data_source(self):
        return self.config.content_dir, self.config.image_size

    def loss_backbone(self):
        return self.config.backbone

    def resolve(self):
        config = self.config
        paintings = (config.style_dir, config.image_size, config.style_image_size)
        # Scanned and read once: a worker whose drawn seed the chief's replaces resolves
        # again for the schedule only (a second scan would repeat its warnings).
        if getattr(self, "paintings", None) != paintings:
            # Unusable paintings are named in the SkippedImagesWarning the photos' scan
            # gives, and listed in config.json (describe).
            self.style_scan = self.scan_folder(config.style_dir, config.image_size, "style_dir")
            self.style_paths = list(self.style_scan.paths)
            pixels = load_images(self.style_paths, size=config.style_image_size, value_range=(0, 1))
            self.style_bank = np.round(pixels * 255.0).astype(np.uint8)
            self.paintings = paintings
        rng = np.random.default_rng([config.seed, 1])
        schedule = balanced_schedule(len(self.style_paths), config.seed)
        room = config.style_image_size - config.image_size + 1
        self.schedule = np.stack(
            [schedule, rng.integers(0, room, schedule.size), rng.integers(0, room, schedule.size)],
            axis=1,
        ).astype(np.int32)

    def other_scans(self):
        return [self.style_scan]

    def style_crops(self, rows):
        """``(B, image_size, image_size, 3)`` crops in ``value_range`` for schedule rows
        ``(style, top, left)`` (``keras.ops``: any backend and input pipeline)."""
        ops = keras.ops
        size, full = self.config.image_size, self.config.style_image_size
        # The batch's paintings as float32 (exact for 0-255) before any gather: TensorFlow
        # gathers along an axis with transposes, and oneDNN has no uint8 transpose on CPUs
        # without AVX-512 (it logs an error line and falls back to Eigen).
        bank = ops.cast(ops.take(ops.convert_to_tensor(self.style_bank), rows[:, 0], axis=0),
                        "float32")  # fmt: skip
        batch = ops.shape(bank)[0]
        steps = ops.arange(size, dtype="int32")
        top = ops.broadcast_to((rows[:, 1:2] + steps[None])[:, :, None, None], (batch, size, full, 3))
        band = ops.take_along_axis(bank, top, axis=1)
        left = ops.broadcast_to((rows[:, 2:3] + steps[None])[:, None, :, None], (batch, size, size, 3))
        crops = ops.take_along_axis(band, left, axis=2)
        return from_uint8(crops, self.config.value_range)

    def crop_size(self):
        return self.config.image_size

    def pairs(self, images, index):
        styles = self.style_crops(schedule_rows(self.schedule, images, index))
        return {"content": images, "style": styles}, AdaINLoss.pack_targets(images, styles)

    def build_network(self):
        config = self.config
        return arbitrary_style_net(
            weights=config.weights, backbone=config.backbone, value_range=config.value_range,
            **config.model_options,
        )

    def build_loss(self):
        config = self.config
        return AdaINLoss(
            weights=config.weights, backbone=config.backbone, value_range=config.value_range,
            reduction=None, **self.loss_arguments(
                {**self.loss_network_dtype(), **config.loss_options, **config.loss_weights()}
            ),
        )

    def sample_images(self, scan):
        config = self.config
        photos = load_images(list(scan.paths[:4]), size=config.image_size,
                             value_range=config.value_range)  # fmt: skip
        rows = np.stack(
            [np.arange(len(photos)) % len(self.style_paths), np.zeros(len(photos)),
             np.zeros(len(photos))], axis=1,
        ).astype(np.int32)  # fmt: skip
        self.sample_photos = photos
        self.sample_styles = keras.ops.convert_to_numpy(self.style_crops(rows))
        return photos, self.sample_styles  # rows: photo | stylized | the style crop used

    def sampling(self, network, loss):
        photos, styles = self.sample_photos, self.sample_styles

        def terms(y_true, y_pred):  # y_true: the style crops shown as targets
            return loss.compute_terms(photos, styles, y_pred)

        return _SampleNetwork(network, styles), _SampleTerms(terms)

    def describe(self):
        return {
            "style_dir": {"images": len(self.style_paths), "held_in_memory_bytes":
                          int(self.style_bank.nbytes), **skipped_record(self.style_scan)},
            "style_schedule": "balanced_schedule, random crops",
            "optimizer": "Adam",
        }  # fmt: skip


class SuperResolutionRecipe(Recipe):
    """Single-image super-resolution (Johnson et al. 2016, Section 4.2), optionally SRGAN."""

    config_class = SuperResolutionConfig

    def data_source(self):
        return self.config.image_dir, self.config.patch_size

    def loss_backbone(self):
        return super().loss_backbone() if self.config.loss == "perceptual" else None

    def gan_settings(self) -> dict:
        """``PerceptualGAN.compile`` arguments (SRGAN's by default) with the overrides."""
        from keras_perceptual.gan import PerceptualGAN

        defaults = inspect.signature(PerceptualGAN.compile).parameters
        options = {k: v for k, v in self.config.gan_options.items() if k != "discriminator_filters"}
        return {
            "content_weight": 1.0,
            "pixel_weight": 0.0,
            "adversarial_loss": defaults["adversarial_loss"].default,
            "adversarial_weight": defaults["adversarial_weight"].default,
            **options,
        }

    def discriminator_filters(self) -> int:
        from keras_perceptual.gan import patch_discriminator

        default = inspect.signature(patch_discriminator).parameters["filters"].default
        return self.config.gan_options.get("discriminator_filters", default)

    def build_network(self):
        config = self.config
        return super_resolution_net(
            config.scale, **{"value_range": config.value_range, **config.model_options}
        )

    def build_loss(self):
        config = self.config
        overrides = dict(config.loss_options)
        if config.tv_weight is not None:
            overrides["tv_weight"] = config.tv_weight
        if config.loss == "pixel":
            options = {
                "content_layers": None,
                "style_layers": None,
                "tv_weight": 0.0,
                "pixel_weight": 1.0,
                **overrides,
            }
            return PerceptualLoss(
                weights=None, value_range=config.value_range, reduction=None, **options
            )
        return PerceptualLoss.from_preset(
            "johnson2016_sr",
            weights=config.weights,
            value_range=config.value_range,
            reduction=None,
            **self.loss_arguments({**self.loss_network_dtype(), **overrides}),
        )

    def metrics(self):
        value_range = self.config.value_range
        metrics = [PSNR(value_range=value_range), SSIM(value_range=value_range)]
        if self.config.lpips:
            weights = self.config.lpips_weights
            weights = self.config.weights if weights is None else weights
            metrics.append(LPIPS(weights=weights, value_range=value_range))
        return metrics

    def compile(self, network, loss, metrics=None):
        config = self.config
        if not config.gan:
            return super().compile(network, loss, metrics)
        from keras_perceptual.gan import PerceptualGAN, patch_discriminator

        discriminator = patch_discriminator(
            filters=self.discriminator_filters(), value_range=config.value_range
        )
        trainer = PerceptualGAN(network, discriminator, seed=config.seed)
        trainer.compile(
            generator_optimizer=keras.optimizers.Adam(config.learning_rate),
            discriminator_optimizer=keras.optimizers.Adam(config.learning_rate),
            content_loss=untracked_loss(loss),
            metrics=self.metrics() if metrics is None else metrics,
            jit_compile=config.jit_compile,
            **self.gan_settings(),
        )
        return trainer

    def crop_size(self):
        return self.config.patch_size

    def network_input(self):
        return "patch_size", self.config.patch_size, "scale", self.config.scale

    def pairs(self, images, index):
        config = self.config
        low = sr_degrade(images, config.scale, sigma=config.sigma, value_range=config.value_range)
        return low, images

    def sample_images(self, scan):
        config = self.config
        high = load_images(list(scan.paths[:4]), size=config.patch_size,
                           value_range=config.value_range)  # fmt: skip
        low = sr_degrade(high, config.scale, sigma=config.sigma, value_range=config.value_range)
        return keras.ops.convert_to_numpy(low), high

    def describe(self):
        config = self.config
        adversarial = None
        if config.gan:
            adversarial = {
                "discriminator": f"patch_discriminator(filters={self.discriminator_filters()})",
                **json_safe(self.gan_settings()),
            }
        return {"optimizer": "Adam", "metrics": ["psnr", "ssim"], "adversarial": adversarial}


# --------------------------------------------------------------------------
# The public functions.
# --------------------------------------------------------------------------


def _configuration(config_class: type[RunConfig], given: Any, settings: Mapping[str, Any],
                   first: str) -> RunConfig:  # fmt: skip
    """The configuration a recipe function was called with: ``given`` itself when it is a
    configuration (then no other setting may be passed), else one built from ``settings``."""
    if isinstance(given, config_class):
        if settings:
            raise InputError(
                f"pass either a {config_class.__name__} or settings, not both; use "
                f"dataclasses.replace(config, ...) to change it. Received: {', '.join(settings)}"
            )
        return given
    values = {**settings, first: given}
    missing = [
        field.name for field in dataclasses.fields(config_class)
        if field.init and field.name not in values
        and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]  # fmt: skip
    if missing:
        raise InputError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
            f"({config_class.__name__}). Received: no {', '.join(missing)}"
        )
    return config_class(**values)


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


#: Marks a recipe function's second positional argument as not given.
_UNSET: Any = _Unset()

#: The arguments of a recipe function that go to the :class:`Trainer`, not the configuration.
_TRAINER_ARGUMENTS = ("strategy", "callbacks", "verbose")


def _train(
    recipe_class: type[Recipe], first: str, given: Any, /, **settings: Any
) -> TrainingResult:
    """What every public recipe function does: the configuration (:func:`_configuration`;
    ``given`` is the argument ``first``, which may be a whole configuration; arguments
    left at ``_UNSET`` are not given), then the recipe run by a :class:`Trainer`."""
    settings = {name: value for name, value in settings.items() if value is not _UNSET}
    trainer_arguments = {
        name: settings.pop(name) for name in _TRAINER_ARGUMENTS if name in settings
    }
    config = _configuration(recipe_class.config_class, given, settings, first)
    return Trainer(recipe_class(config), **trainer_arguments).run()


def _recipe_function(recipe_class: type[Recipe], order: str, omit: Sequence[str] = ()):
    """Gives a public recipe function (``f(first, second=_UNSET, **settings)``) the
    signature of its configuration class, and refuses keywords outside it.

    Each parameter is a field of ``recipe_class.config_class`` with the field's default
    and annotation (what its rule accepts where that is wider than the value stored, e.g.
    ``str | os.PathLike`` for ``output_dir``), or one of :class:`Trainer`'s (``strategy``, ``callbacks``,
    ``verbose``). ``order`` names them as the signature lists them, the positional ones
    first and ``*`` before the keyword-only ones; the fields it does not name follow,
    keyword-only, except those in ``omit``: a new field is a new keyword of the function.
    ``help()`` and ``inspect.signature`` show that signature; an unknown keyword raises
    ``TypeError`` naming the closest valid one.
    """
    fields = {field.name: field for field in dataclasses.fields(recipe_class.config_class)
              if field.init}  # fmt: skip
    trainer = inspect.signature(Trainer).parameters
    positional, _, keywords = (part.split() for part in order.partition("*"))
    named = {*positional, *keywords, *omit}
    keywords += [name for name in fields if name not in named]

    def parameter(name: str, kind) -> inspect.Parameter:
        if name not in fields:
            return trainer[name].replace(kind=kind)
        field = fields[name]
        if field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        elif field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = inspect.Parameter.empty
        annotation = field.metadata.get("accepts") or field.type
        return inspect.Parameter(name, kind, default=default, annotation=annotation)

    parameters = [parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in positional]
    parameters += [parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in keywords]

    def decorate(function: Callable) -> Callable:
        signature = inspect.Signature(
            parameters, return_annotation=inspect.signature(function).return_annotation
        )

        @functools.wraps(function)
        def recipe_function(*args, **settings):
            check_keywords(settings, signature.parameters, function.__name__)
            return function(*args, **settings)

        recipe_function.__signature__ = signature
        return recipe_function

    return decorate


@_recipe_function(
    StyleTransferRecipe,
    "content_dir style_image * output_dir steps image_size batch_size learning_rate "
    "style_image_size content_weight style_weight tv_weight temporal_weight temporal_motion "
    "loss_options model_options weights value_range strategy seed save_every sample_every "
    "cache jit_compile precision callbacks verbose",
)
def train_style_transfer(
    content_dir: Any, style_image: Any = _UNSET, **settings: Any
) -> TrainingResult:
    """Trains a fast style-transfer network (Johnson et al. 2016, Section 4.1) with ``fit``.

    The paper's setting by default: random 256 x 256 crops of the photos under
    ``content_dir`` (the paper: MS-COCO, 80k images), batch 4, Adam with learning
    rate 1e-3, 40,000 steps (two epochs of COCO), :func:`style_transfer_net`, and the
    loss ``PerceptualLoss(style_image=...)``: feature reconstruction at ``relu2_2``,
    style reconstruction at ``relu1_2, relu2_2, relu3_3, relu4_3`` and total variation
    (Eq. 5). The content, style and TV weights are :class:`PerceptualLoss`'s own
    defaults (see its docstring for the values and why) unless given here; the paper
    did not publish its weights, and ``style_weight`` is the one to tune per style.
    Every default is a field of :class:`StyleTransferConfig` (written once, there).

    Outputs, resuming and fault tolerance: see :mod:`keras_perceptual.training` and
    :mod:`keras_perceptual.training.trainer`. Calling again with the same ``output_dir``
    resumes (``steps`` may grow).

    Args:
        content_dir: folder of content photos (recursive), or a ``ScanResult`` of
            :func:`~keras_perceptual.data.scan_images`. Images smaller than
            ``image_size`` are skipped (reported once). Or a whole
            :class:`StyleTransferConfig` (then pass no other setting).
        style_image: the style image: a file path or an ``(H, W, 3)`` array in ``value_range``.
        output_dir: folder for every output (created; re-using it resumes).
        steps: training steps (batches) in all (paper: 40,000).
        image_size: side of the square training crops (paper: 256).
        batch_size: global batch size, split over the strategy's replicas (paper: 4).
        learning_rate: Adam's learning rate or a schedule (paper: 1e-3).
        style_image_size: the style image is resized so its longer side has this many
            pixels (the authors' code: 256); ``None`` keeps its size.
        content_weight, style_weight, tv_weight: override :class:`PerceptualLoss`'s
            default weights; ``None`` keeps them.
        temporal_weight: weight of the temporal stability term for video (default 0:
            off). Each step also runs the network on a randomly moved copy of the batch
            and adds ``temporal_weight`` times the mean squared difference between that
            output and the first output moved the same way
            (:class:`~keras_perceptual.losses.TemporalConsistency`); the style target and
            the saved network are unchanged. Costs one more forward and backward pass of
            the network (not of the loss network) per step.
        temporal_motion: the random motion of the temporal term: ``"stability"`` (Gupta et
            al. 2017: noise and sub-pixel shift, zoom and rotation) or ``"camera"`` (a few
            pixels of shift, zoom and rotation with the uncovered border masked; Ruder et
            al. 2016); see :data:`~keras_perceptual.motion.MOTION_PRESETS`.
        loss_options: more :class:`PerceptualLoss` arguments (``content_layers``,
            ``style_layers``, ``backbone``, ``gram_normalization``, ...); not those this
            function takes itself (``content_weight``, ``value_range``, ...).
        model_options: :func:`~keras_perceptual.models.style_transfer_net` arguments
            (``filters``, ``num_residual_blocks``, ``normalization``, ...); not
            ``value_range``, which this function takes.
        weights: the loss network's weights: ``"imagenet"`` (the paper), ``"hed_bsds500"``
            (offline stand-in, not ImageNet), a path, or ``None`` (random).
        value_range: ``(low, high)`` of the network's images.
        strategy: a ``tf.distribute.Strategy``; ``None`` uses ``MirroredStrategy`` when
            more than one GPU is visible, else the default strategy.
        seed: seed of the initialization, data order and crops; ``None`` draws one
            (recorded in ``config.json`` and reused on resume).
        save_every: steps between checkpoints and backups (the length of an "epoch").
        sample_every: steps between sample images (TensorBoard and ``samples/``).
        cache: passed to :func:`~keras_perceptual.data.image_folder_dataset`
            (``True`` keeps decoded images in memory: small folders).
        jit_compile: passed to ``compile`` (``"auto"``: XLA on GPUs).
        precision: ``"auto"`` (default: the global Keras dtype policy if one was set, else
            ``"mixed_bfloat16"`` where the device computes bfloat16 natively, CPUs with
            AVX512-BF16 or AMX and GPUs from compute capability 8.0; ``"mixed_float16"`` on
            float16-only GPUs; ``"float32"`` elsewhere, e.g. AVX2 CPUs), ``"float32"``,
            ``"mixed_bfloat16"`` or ``"mixed_float16"``. The network computes under that
            dtype policy (float32 weights) and the loss network in the matching 16-bit
            format (``backbone_dtype``; ``loss_options`` may override it); the loss value
            stays float32. A 16-bit choice the device emulates warns once.
        callbacks: extra ``keras.callbacks.Callback`` instances, after the defaults.
        verbose: ``fit``'s verbosity (``"auto"``: a progress bar).

    Returns:
        A :class:`TrainingResult` (the trained network, the whole run's history and
        the output paths).

    Raises:
        keras_perceptual.errors.InputError: bad arguments, no usable image, unreadable
            style image, or (:class:`ResumeMismatchError`) settings that differ from the
            run in ``output_dir``.
        keras_perceptual.errors.RunInProgressError: another training run is writing to
            ``output_dir`` (raised before anything there is read or written).
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_style_transfer(  # hours on a GPU  # doctest: +SKIP
        ...     "coco/train2014", "painting.jpg", output_dir="runs/painting")
        >>> stylized = stylize(result.model, "photo.jpg")  # doctest: +SKIP
    """
    return _train(
        StyleTransferRecipe, "content_dir", content_dir, style_image=style_image, **settings
    )


@_recipe_function(
    SuperResolutionRecipe,
    "image_dir scale * output_dir steps patch_size batch_size learning_rate loss tv_weight "
    "loss_options model_options gan gan_options sigma weights value_range strategy seed "
    "save_every sample_every cache jit_compile precision callbacks verbose lpips lpips_weights",
)
def train_super_resolution(image_dir: Any, scale: Any = _UNSET, **settings: Any) -> TrainingResult:
    """Trains a single-image super-resolution network (Johnson et al. 2016, Section 4.2).

    The paper's setting by default: ``patch_size`` 288 x 288 crops of the images under
    ``image_dir`` (the paper: 10k COCO images), degraded by a Gaussian blur (sigma 1.0)
    and bicubic down-sampling by ``scale`` (:func:`~keras_perceptual.data.super_resolution_pairs`),
    :func:`super_resolution_net`, batch 4, Adam with learning rate 1e-3, 200,000 steps,
    and the feature reconstruction loss at ``relu2_2`` with a small TV term
    (``PerceptualLoss.from_preset("johnson2016_sr")``: the preset's weights are
    :class:`PerceptualLoss`'s). ``loss="pixel"`` trains the paper's baseline (mean
    squared error on images rescaled to [0, 1]). PSNR and SSIM
    (:class:`~keras_perceptual.metrics.PSNR`, :class:`~keras_perceptual.metrics.SSIM`)
    are computed on every training batch and logged as ``psnr`` / ``ssim``; with
    ``lpips=True`` also LPIPS (:class:`~keras_perceptual.metrics.LPIPS`, AlexNet, version
    0.1), logged as ``lpips``. Every default is a field of :class:`SuperResolutionConfig`.

    ``gan=True`` adds SRGAN-style adversarial training (Ledig et al. 2017) through
    :class:`~keras_perceptual.gan.PerceptualGAN` and a
    :func:`~keras_perceptual.gan.patch_discriminator`: the generator minimizes the
    loss above plus ``PerceptualGAN.compile``'s default ``adversarial_weight`` (SRGAN's
    1e-3) times the adversarial loss, each network with its own Adam; ``gan_options``
    overrides ``PerceptualGAN.compile`` arguments (``adversarial_weight``,
    ``adversarial_loss``, ...) and ``discriminator_filters``. ``model.keras`` then holds
    the generator alone.

    Args:
        image_dir: folder of high-resolution images (recursive) or a ``ScanResult``.
            Images smaller than ``patch_size`` are skipped (reported once). Or a whole
            :class:`SuperResolutionConfig` (then pass no other setting).
        scale: up-sampling factor: 4 or 8 (paper), or 2.
        output_dir: folder for every output (created; re-using it resumes).
        steps: training steps in all (paper: 200,000).
        patch_size: side of the high-resolution patches (paper: 288), a multiple of ``scale``.
        batch_size: global batch size (paper: 4).
        learning_rate: Adam's learning rate or a schedule (paper: 1e-3).
        loss: ``"perceptual"`` (the paper's feature loss) or ``"pixel"`` (the baseline).
        tv_weight: overrides the preset's TV weight; ``None`` keeps it.
        loss_options: more :class:`PerceptualLoss` arguments (e.g. ``content_layers``).
        model_options: :func:`~keras_perceptual.models.super_resolution_net` arguments.
        gan: add adversarial training.
        gan_options: ``PerceptualGAN.compile`` overrides, plus ``discriminator_filters``.
        sigma: the degradation's Gaussian blur (paper: 1.0).
        weights: the loss network's weights: ``"imagenet"`` (the paper), ``"hed_bsds500"``,
            a path, or ``None``. Not used with ``loss="pixel"``.
        value_range: ``(low, high)`` of the network's images.
        strategy: a ``tf.distribute.Strategy`` or ``None`` (see :func:`default_strategy`).
        seed: seed of the initialization, data order and crops (recorded; reused on resume).
        save_every: steps between checkpoints and backups.
        sample_every: steps between sample images (bicubic | network | original).
        cache: passed to :func:`~keras_perceptual.data.image_folder_dataset`.
        jit_compile: passed to ``compile``.
        precision: as for :func:`train_style_transfer`.
        callbacks: extra callbacks, after the defaults.
        verbose: ``fit``'s verbosity.
        lpips: also report LPIPS on the training batches (torchvision's ImageNet AlexNet,
            233 MB, downloaded once, with ``weights="imagenet"``; a random one with
            ``weights=None``; with other ``weights``, pass ``lpips_weights``). Off by
            default: it adds a second network to every step.
        lpips_weights: with ``lpips=True``, LPIPS's AlexNet weights, independent of the
            loss network's: torchvision's ``.pth`` file (offline) or ``"imagenet"``; default
            ``None``: as ``weights``.

    Returns:
        A :class:`TrainingResult`; ``history`` has ``loss``, ``psnr`` and ``ssim``
        (``lpips`` with ``lpips=True``, the GAN's terms with ``gan=True``).

    Raises:
        keras_perceptual.errors.InputError: bad arguments, no usable image, or settings
            that differ from the run in ``output_dir``.
        keras_perceptual.errors.RunInProgressError: another run is writing to ``output_dir``
            (as for :func:`train_style_transfer`).
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_super_resolution(  # hours on a GPU  # doctest: +SKIP
        ...     "coco/val2014", 4, output_dir="runs/sr4")
        >>> large = upscale(result.model, "photo.jpg", histogram_match=True)  # doctest: +SKIP
    """
    return _train(SuperResolutionRecipe, "image_dir", image_dir, scale=scale, **settings)


@_recipe_function(
    MultiStyleRecipe,
    "content_dir style_images * output_dir steps image_size batch_size learning_rate "
    "style_image_size content_weight style_weight tv_weight style_learning_rate_multiplier "
    "loss_options model_options "
    "weights value_range strategy seed save_every sample_every cache jit_compile precision "
    "callbacks verbose",
    # temporal_* are refused for several styles (each image would need its style's motion).
    omit=("temporal_weight", "temporal_motion"),
)
def train_multi_style(
    content_dir: Any, style_images: Any = _UNSET, **settings: Any
) -> TrainingResult:
    """Trains one network for several styles (Dumoulin, Shlens & Kudlur, ICLR 2017) with ``fit``.

    :func:`train_style_transfer` with a :func:`~keras_perceptual.models.multi_style_transfer_net`
    (conditional instance normalization: one scale and offset per style, every other weight
    shared) and ``PerceptualLoss(style_images=...)`` (the Gram matrices of every style,
    computed once). Each batch samples the styles evenly from a seeded schedule; each image
    is trained towards its own style. The same defaults, outputs, resuming, NaN guard,
    samples (the first two photos in every style), TensorBoard and distribution as
    :func:`train_style_transfer`; every default is a field of :class:`MultiStyleConfig`.
    Apply the result with ``stylize(model, image, style=k)`` or ``style_weights=[...]``.

    Args:
        content_dir: folder of content photos (recursive), a ``ScanResult``, or a whole
            :class:`MultiStyleConfig` (then pass no other setting).
        style_images: two or more style images: file paths or ``(H, W, 3)`` arrays in
            ``value_range``; style ``k`` of the network is ``style_images[k]``.
        output_dir, steps, image_size, batch_size, learning_rate, style_image_size,
            content_weight, style_weight, tv_weight, loss_options, weights, value_range,
            strategy, seed, save_every, sample_every, cache, jit_compile, precision,
            callbacks, verbose: as for :func:`train_style_transfer` (``precision`` sets the
            network's dtype policy and the loss network's compute dtype).
        model_options: :func:`~keras_perceptual.models.multi_style_transfer_net` arguments
            (``filters``, ``num_residual_blocks``, ``upsampling``, ...).

    Returns:
        A :class:`TrainingResult` whose ``model`` takes ``[image, style_weights]``.

    Raises:
        keras_perceptual.errors.InputError: bad arguments (fewer than two styles included),
            no usable image, or settings that differ from the run in ``output_dir``.
        RunInProgressError, WeightsUnavailableError, NonFiniteLossError: as for
            :func:`train_style_transfer`.

    Example:
        >>> result = train_multi_style(  # hours on a GPU  # doctest: +SKIP
        ...     "coco/train2014", ["starry.jpg", "wave.jpg", "scream.jpg"], output_dir="runs/three")
        >>> blend = stylize(result.model, "photo.jpg", style_weights=[0.5, 0.5, 0.0])  # doctest: +SKIP
    """
    return _train(
        MultiStyleRecipe, "content_dir", content_dir, style_images=style_images, **settings
    )


@_recipe_function(
    ArbitraryStyleRecipe,
    "content_dir style_dir * output_dir steps image_size batch_size learning_rate "
    "style_image_size backbone content_weight style_weight loss_options model_options "
    "weights value_range strategy seed save_every sample_every cache jit_compile precision "
    "callbacks verbose",
)
def train_arbitrary_style(
    content_dir: Any, style_dir: Any = _UNSET, **settings: Any
) -> TrainingResult:
    """Trains an arbitrary-style (AdaIN) network (Huang & Belongie, ICCV 2017) with ``fit``.

    The decoder of :func:`~keras_perceptual.models.arbitrary_style_net` (its VGG encoder is
    frozen) learns with :class:`~keras_perceptual.losses.AdaINLoss` to invert the encoder on
    AdaIN-stylized features: each random ``image_size`` crop of a content photo is paired
    with a random crop of a painting from ``style_dir`` (drawn evenly, seeded; the
    paintings are held in memory, see :class:`ArbitraryStyleRecipe`). The paper's settings
    by default (batch 8, Adam 1e-4, 160,000 steps, 256 px crops of images resized to a
    512 px shorter side, VGG-19); every default is a field of :class:`ArbitraryStyleConfig`.
    Outputs, resuming, NaN guard, samples (photos with one painting each), TensorBoard and
    distribution as in :func:`train_style_transfer`. The trained network stylizes with any
    painting: ``stylize(model, photo, style_image=painting, alpha=...)``.

    Args:
        content_dir: folder of content photos (recursive), a ``ScanResult``, or a whole
            :class:`ArbitraryStyleConfig` (then pass no other setting).
        style_dir: folder of style images (paintings), recursive; unusable files are
            skipped and named in a ``SkippedImagesWarning`` (as unusable photos are) and
            listed in ``config.json``.
        output_dir, steps, batch_size, learning_rate, weights, value_range, strategy, seed,
            save_every, sample_every, cache, jit_compile, precision, callbacks, verbose: as
            for :func:`train_style_transfer` (``precision`` sets the decoder's dtype policy
            and the loss network's compute dtype; the encoder follows the policy too).
        image_size: side of the content and style crops.
        style_image_size: shorter side the paintings are resized to (then centre-cropped).
        backbone: ``"vgg19"`` (the paper) or ``"vgg16"`` (the ``"hed_bsds500"`` stand-in):
            the encoder and the loss network.
        content_weight, style_weight: override :class:`AdaINLoss`'s weights.
        loss_options: more :class:`AdaINLoss` arguments (``style_layers``, ``distance``).
        model_options: :func:`~keras_perceptual.models.arbitrary_style_net` arguments
            (``filters``, ``padding``, ...).

    Returns:
        A :class:`TrainingResult` whose ``model`` takes ``[content, style]``.

    Raises:
        keras_perceptual.errors.InputError: bad arguments, no usable image, or settings
            that differ from the run in ``output_dir``.
        RunInProgressError, WeightsUnavailableError, NonFiniteLossError: as for
            :func:`train_style_transfer`.

    Example:
        >>> result = train_arbitrary_style(  # days on a GPU  # doctest: +SKIP
        ...     "coco/train2014", "wikiart/", output_dir="runs/adain")
        >>> out = stylize(result.model, "photo.jpg", style_image="painting.jpg")  # doctest: +SKIP
    """
    return _train(ArbitraryStyleRecipe, "content_dir", content_dir, style_dir=style_dir, **settings)


#: The recipe of each configuration class (the command line and the demo pick by it).
RECIPES: dict[type[RunConfig], type[Recipe]] = {
    StyleTransferConfig: StyleTransferRecipe,
    MultiStyleConfig: MultiStyleRecipe,
    ArbitraryStyleConfig: ArbitraryStyleRecipe,
    SuperResolutionConfig: SuperResolutionRecipe,
}


__all__ = [
    "ArbitraryStyleRecipe",
    "DEFAULT_LOSS_BACKBONE",
    "MultiStyleRecipe",
    "RECIPES",
    "Recipe",
    "StyleTransferRecipe",
    "SuperResolutionRecipe",
    "balanced_schedule",
    "schedule_rows",
    "style_array",
    "train_arbitrary_style",
    "train_multi_style",
    "train_style_transfer",
    "train_super_resolution",
    "untracked_loss",
]
