"""The two recipes: :func:`train_style_transfer` and :func:`train_super_resolution`.

Each checks its arguments, describes what it trains (a ``_Task``: network, loss,
compiled trainer, dataset, sample images) and hands it to
:func:`keras_perceptual.training.run._run`. The defaults are the paper's settings.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_perceptual._checks import (
    check_choice,
    check_positive_int,
    check_value_range,
    check_weight,
)
from keras_perceptual.data import (
    ScanResult,
    image_folder_dataset,
    sr_degrade,
    style_transfer_pairs,
    super_resolution_pairs,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import load_image, load_images
from keras_perceptual.losses import PerceptualLoss
from keras_perceptual.metrics import PSNR, SSIM
from keras_perceptual.models import style_transfer_net, super_resolution_net
from keras_perceptual.training.config import _json_safe
from keras_perceptual.training.distribute import _strategy_name
from keras_perceptual.training.results import TrainingResult
from keras_perceptual.training.run import _run, _Task
from keras_perceptual.weights import file_sha256

#: The paper's style-transfer run: 40,000 iterations of batch 4 (two epochs of COCO).
PAPER_STYLE_STEPS = 40_000
#: The paper's super-resolution run: 200,000 iterations of batch 4, 288 px patches.
PAPER_SR_STEPS = 200_000
SR_LOSSES = ("perceptual", "pixel")


def _check_learning_rate(learning_rate: Any):
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    try:
        value = float(learning_rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise InputError(
            "learning_rate must be a positive number (the paper: 1e-3) or a "
            f"keras.optimizers.schedules.LearningRateSchedule. Received: learning_rate={learning_rate!r}"
        )
    return value


def _common_checks(steps, batch_size, save_every, sample_every, seed, value_range):
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    save_every = check_positive_int(save_every, "save_every")
    sample_every = check_positive_int(sample_every, "sample_every")
    if seed is not None:
        seed = check_positive_int(seed, "seed", minimum=0)
        if seed >= 2**31:
            raise InputError(f"seed must be an integer in [0, 2**31). Received: seed={seed}")
    return steps, batch_size, save_every, sample_every, seed, check_value_range(value_range)


def _check_options(options: Any, name: str) -> dict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InputError(
            f"{name} must be a dict of keyword arguments, e.g. {{'filters': 16}}. "
            f"Received: {name}={options!r}"
        )
    return dict(options)


def _optional_weight(value: Any, name: str) -> float | None:
    return None if value is None else check_weight(value, name)


def _data_dir_argument(data_dir: Any) -> Any:
    if isinstance(data_dir, ScanResult):
        return os.path.abspath(data_dir.directory)
    if isinstance(data_dir, (str, os.PathLike)):
        return os.path.abspath(os.fspath(data_dir))
    return data_dir


def _load_style_image(style_image: Any, size: int | None, value_range) -> tuple[np.ndarray, dict]:
    """The style image as an array in ``value_range`` (longer side ``size``) and its record."""
    if isinstance(style_image, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(style_image))
        image = load_image(path, value_range=value_range)
        record = {"path": path, "sha256": file_sha256(path)}
    else:
        try:
            image = np.asarray(keras.ops.convert_to_numpy(style_image), dtype=np.float32)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            image = None
        if image is not None and image.ndim == 4 and image.shape[0] == 1:
            image = image[0]
        if image is None or image.ndim != 3 or image.shape[-1] != 3:
            raise InputError(
                "style_image must be an image file path or an RGB array (H, W, 3) in "
                f"value_range={tuple(value_range)}. Received: style_image={style_image!r:.80}"
            )
        record = {"path": None, "sha256": hashlib.sha256(image.tobytes()).hexdigest()}
    height, width = image.shape[:2]
    if size is not None and max(height, width) != size:
        scale = size / max(height, width)
        new = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = tf.image.resize(image, new, method="bicubic", antialias=True).numpy()
        image = np.clip(image, *value_range).astype(np.float32)
    record["shape"] = list(image.shape)
    return image, record


def _untracked_loss(loss: keras.losses.Loss) -> Callable:
    """Wraps a per-image loss as a plain function for ``compile``.

    Keras then reduces it (mean over the batch, scaled for distribution) exactly as it
    would the loss object, but does not track the loss: its frozen VGG is not written
    into every backup.
    """

    def perceptual_loss(y_true, y_pred):
        return loss(y_true, y_pred)

    return perceptual_loss


def _run_options(weights, value_range, strategy, save_every, sample_every, cache,
                 jit_compile, callbacks, verbose) -> dict:
    """The part of a recipe's resolved configuration that both recipes share (JSON-safe)."""
    return {
        "weights": os.fspath(weights) if isinstance(weights, os.PathLike) else weights,
        "value_range": list(value_range),
        "strategy": None if strategy is None else _strategy_name(strategy),
        "save_every": save_every,
        "sample_every": sample_every,
        "cache": cache,
        "jit_compile": jit_compile,
        "callbacks": [type(c).__name__ for c in callbacks or []],
        "verbose": verbose,
    }


def train_style_transfer(
    content_dir: str | os.PathLike | ScanResult,
    style_image: Any,
    *,
    output_dir: str | os.PathLike,
    steps: int = PAPER_STYLE_STEPS,
    image_size: int = 256,
    batch_size: int = 4,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    style_image_size: int | None = 256,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    loss_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
    strategy: tf.distribute.Strategy | None = None,
    seed: int | None = None,
    save_every: int = 500,
    sample_every: int = 250,
    cache: bool | str = False,
    jit_compile: bool | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
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

    Outputs, resuming and fault tolerance: see :mod:`keras_perceptual.training` and
    :mod:`keras_perceptual.training.run`. Calling again with the same ``output_dir``
    resumes (``steps`` may grow).

    Args:
        content_dir: folder of content photos (recursive), or a ``ScanResult`` of
            :func:`~keras_perceptual.data.scan_images`. Images smaller than
            ``image_size`` are skipped (reported once).
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
        loss_options: more :class:`PerceptualLoss` arguments (``content_layers``,
            ``style_layers``, ``backbone``, ``gram_normalization``, ...).
        model_options: :func:`~keras_perceptual.models.style_transfer_net` arguments
            (``filters``, ``num_residual_blocks``, ``normalization``, ...).
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
        callbacks: extra ``keras.callbacks.Callback`` instances, after the defaults.
        verbose: ``fit``'s verbosity (``"auto"``: a progress bar).

    Returns:
        A :class:`TrainingResult` (the trained network, the whole run's history and
        the output paths).

    Raises:
        ValueError: bad arguments, no usable image, unreadable style image, or
            (:class:`ResumeMismatchError`) settings that differ from the run in
            ``output_dir``.
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_style_transfer("coco/train2014", "starry_night.jpg",
        ...                               output_dir="runs/starry", weights="hed_bsds500")
        >>> stylized = stylize(result.model, "photo.jpg")
    """
    steps, batch_size, save_every, sample_every, seed, value_range = _common_checks(
        steps, batch_size, save_every, sample_every, seed, value_range
    )
    image_size = check_positive_int(image_size, "image_size")
    learning_rate = _check_learning_rate(learning_rate)
    if style_image_size is not None:
        style_image_size = check_positive_int(style_image_size, "style_image_size")
    loss_overrides = _check_options(loss_options, "loss_options")
    for key, value in (
        ("content_weight", content_weight),
        ("style_weight", style_weight),
        ("tv_weight", tv_weight),
    ):
        value = _optional_weight(value, key)
        if value is not None:
            loss_overrides[key] = value
    for forbidden in ("style_image", "weights", "value_range"):
        if forbidden in loss_overrides:
            raise InputError(
                f"loss_options cannot set {forbidden!r}; pass {forbidden}= to train_style_transfer "
                f"itself. Received: loss_options[{forbidden!r}]"
            )
    model_overrides = _check_options(model_options, "model_options")
    style, style_record = _load_style_image(style_image, style_image_size, value_range)

    arguments = {
        "content_dir": _data_dir_argument(content_dir),
        "style_image": style_record["path"],
        "style_image_sha256": style_record["sha256"],
        "output_dir": os.path.abspath(os.fspath(output_dir))
        if isinstance(output_dir, (str, os.PathLike))
        else output_dir,
        "steps": steps,
        "image_size": image_size,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "style_image_size": style_image_size,
        "content_weight": content_weight,
        "style_weight": style_weight,
        "tv_weight": tv_weight,
        "loss_options": loss_overrides,
        "model_options": model_overrides,
        **_run_options(weights, value_range, strategy, save_every, sample_every, cache,
                       jit_compile, callbacks, verbose),
    }

    def build_network():
        return style_transfer_net(**{"value_range": value_range, **model_overrides})

    def build_loss():
        return PerceptualLoss(
            style_image=style,
            weights=weights,
            value_range=value_range,
            reduction=None,
            **loss_overrides,
        )

    def compile_trainer(network, loss, strategy):
        trainer = keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")
        trainer.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=_untracked_loss(loss),
            jit_compile=jit_compile,
        )
        return trainer

    def build_dataset(scan, data_seed):
        images = image_folder_dataset(
            scan,
            image_size=image_size,
            batch_size=batch_size,
            seed=data_seed,
            cache=cache,
            value_range=value_range,
        )
        return style_transfer_pairs(images)

    def sample_images(scan):
        photos = load_images(list(scan.paths[:4]), size=image_size, value_range=value_range)
        return photos, None

    task = _Task(
        recipe="style_transfer",
        arguments=arguments,
        build_network=build_network,
        build_loss=build_loss,
        compile_trainer=compile_trainer,
        build_dataset=build_dataset,
        sample_images=sample_images,
        describe={"style_image": style_record, "optimizer": "Adam"},
    )
    return _run(
        task,
        data_dir=content_dir,
        min_size=image_size,
        output_dir=output_dir,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        save_every=save_every,
        sample_every=sample_every,
        weights=weights,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
        value_range=value_range,
    )


def train_super_resolution(
    image_dir: str | os.PathLike | ScanResult,
    scale: int = 4,
    *,
    output_dir: str | os.PathLike,
    steps: int = PAPER_SR_STEPS,
    patch_size: int = 288,
    batch_size: int = 4,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    loss: str = "perceptual",
    tv_weight: float | None = None,
    loss_options: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    gan: bool = False,
    gan_options: Mapping[str, Any] | None = None,
    sigma: float = 1.0,
    weights: str | os.PathLike | None = "imagenet",
    value_range: Sequence[float] = (0.0, 1.0),
    strategy: tf.distribute.Strategy | None = None,
    seed: int | None = None,
    save_every: int = 500,
    sample_every: int = 250,
    cache: bool | str = False,
    jit_compile: bool | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
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
    are computed on every training batch and logged as ``psnr`` / ``ssim``.

    ``gan=True`` adds SRGAN-style adversarial training (Ledig et al. 2017) through
    :class:`~keras_perceptual.gan.PerceptualGAN` and a
    :func:`~keras_perceptual.gan.patch_discriminator`: the generator minimizes the
    loss above plus ``1e-3`` times the adversarial loss (SRGAN's weight), each
    network with its own Adam; ``gan_options`` overrides ``PerceptualGAN.compile``
    arguments (``adversarial_weight``, ``adversarial_loss``, ...) and
    ``discriminator_filters``. ``model.keras`` then holds the generator alone.

    Outputs, resuming and fault tolerance: see :mod:`keras_perceptual.training` and
    :mod:`keras_perceptual.training.run`.

    Args:
        image_dir: folder of high-resolution images (recursive) or a ``ScanResult``.
            Images smaller than ``patch_size`` are skipped (reported once).
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
        callbacks: extra callbacks, after the defaults.
        verbose: ``fit``'s verbosity.

    Returns:
        A :class:`TrainingResult`; ``history`` has ``loss``, ``psnr`` and ``ssim``
        (and the GAN's terms with ``gan=True``).

    Raises:
        ValueError: bad arguments, no usable image, or settings that differ from the
            run in ``output_dir``.
        keras_perceptual.weights.WeightsUnavailableError: the weights cannot be obtained.
        NonFiniteLossError: the loss became NaN or infinite (the step is named).

    Example:
        >>> result = train_super_resolution("coco/val2014", 4, output_dir="runs/sr4",
        ...                                 weights="hed_bsds500")
        >>> large = upscale(result.model, "small.png", histogram_match=True)
    """
    steps, batch_size, save_every, sample_every, seed, value_range = _common_checks(
        steps, batch_size, save_every, sample_every, seed, value_range
    )
    patch_size = check_positive_int(patch_size, "patch_size")
    if isinstance(scale, bool) or scale not in (2, 4, 8):
        raise InputError(
            f"scale must be 2, 4 or 8 (the paper trains x4 and x8). Received: scale={scale!r}"
        )
    if patch_size % scale:
        raise InputError(
            f"patch_size={patch_size} is not divisible by scale={scale}; use a multiple of {scale} "
            f"such as {max(scale, patch_size - patch_size % scale)}. Received: patch_size={patch_size}"
        )
    learning_rate = _check_learning_rate(learning_rate)
    loss_kind = check_choice(loss, SR_LOSSES, "loss")
    loss_overrides = _check_options(loss_options, "loss_options")
    tv_weight = _optional_weight(tv_weight, "tv_weight")
    if tv_weight is not None:
        loss_overrides["tv_weight"] = tv_weight
    for forbidden in ("weights", "value_range"):
        if forbidden in loss_overrides:
            raise InputError(
                f"loss_options cannot set {forbidden!r}; pass {forbidden}= to "
                f"train_super_resolution itself. Received: loss_options[{forbidden!r}]"
            )
    model_overrides = _check_options(model_options, "model_options")
    gan_overrides = _check_options(gan_options, "gan_options")
    if gan_overrides and not gan:
        raise InputError(
            f"gan_options is only used with gan=True; pass gan=True or drop gan_options. "
            f"Received: gan_options={gan_overrides!r}"
        )
    discriminator_filters = check_positive_int(
        gan_overrides.pop("discriminator_filters", 64), "gan_options['discriminator_filters']"
    )
    gan_settings = {
        "content_weight": 1.0,
        "pixel_weight": 0.0,
        "adversarial_loss": "vanilla",
        "adversarial_weight": 1e-3,
        **gan_overrides,
    }

    arguments = {
        "image_dir": _data_dir_argument(image_dir),
        "scale": scale,
        "output_dir": os.path.abspath(os.fspath(output_dir))
        if isinstance(output_dir, (str, os.PathLike))
        else output_dir,
        "steps": steps,
        "patch_size": patch_size,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "loss": loss_kind,
        "tv_weight": tv_weight,
        "loss_options": loss_overrides,
        "model_options": model_overrides,
        "gan": bool(gan),
        "gan_options": {**gan_overrides, "discriminator_filters": discriminator_filters}
        if gan
        else {},
        "sigma": float(sigma),
        **_run_options(weights, value_range, strategy, save_every, sample_every, cache,
                       jit_compile, callbacks, verbose),
    }

    def build_network():
        return super_resolution_net(scale, **{"value_range": value_range, **model_overrides})

    def build_loss():
        if loss_kind == "pixel":
            options = {
                "content_layers": None,
                "style_layers": None,
                "tv_weight": 0.0,
                "pixel_weight": 1.0,
                **loss_overrides,
            }
            return PerceptualLoss(weights=None, value_range=value_range, reduction=None, **options)
        return PerceptualLoss.from_preset(
            "johnson2016_sr",
            weights=weights,
            value_range=value_range,
            reduction=None,
            **loss_overrides,
        )

    def metrics():
        return [PSNR(value_range=value_range), SSIM(value_range=value_range)]

    def compile_trainer(network, loss_object, strategy):
        if not gan:
            trainer = keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")
            trainer.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss=_untracked_loss(loss_object),
                metrics=metrics(),
                jit_compile=jit_compile,
            )
            return trainer
        from keras_perceptual.gan import PerceptualGAN, patch_discriminator

        discriminator = patch_discriminator(filters=discriminator_filters, value_range=value_range)
        trainer = PerceptualGAN(network, discriminator, seed=seed)
        trainer.compile(
            generator_optimizer=keras.optimizers.Adam(learning_rate),
            discriminator_optimizer=keras.optimizers.Adam(learning_rate),
            content_loss=_untracked_loss(loss_object),
            metrics=metrics(),
            jit_compile=jit_compile,
            **gan_settings,
        )
        return trainer

    def build_dataset(scan, data_seed):
        images = image_folder_dataset(
            scan,
            image_size=patch_size,
            batch_size=batch_size,
            seed=data_seed,
            cache=cache,
            value_range=value_range,
        )
        return super_resolution_pairs(
            images, scale, patch_size, sigma=sigma, value_range=value_range
        )

    def sample_images(scan):
        high = load_images(list(scan.paths[:4]), size=patch_size, value_range=value_range)
        low = sr_degrade(high, scale, sigma=sigma, value_range=value_range)
        return low, high

    task = _Task(
        recipe="super_resolution",
        arguments=arguments,
        build_network=build_network,
        build_loss=build_loss,
        compile_trainer=compile_trainer,
        build_dataset=build_dataset,
        sample_images=sample_images,
        describe={
            "optimizer": "Adam",
            "metrics": ["psnr", "ssim"],
            "adversarial": {
                "discriminator": f"patch_discriminator(filters={discriminator_filters})",
                **_json_safe(gan_settings),
            }
            if gan
            else None,
        },
        uses_backbone=loss_kind == "perceptual",
    )
    return _run(
        task,
        data_dir=image_dir,
        min_size=patch_size,
        output_dir=output_dir,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        save_every=save_every,
        sample_every=sample_every,
        weights=weights,
        strategy=strategy,
        callbacks=callbacks,
        verbose=verbose,
        value_range=value_range,
    )
