"""Running trained transformation networks on real images: batching, tiling, post-processing.

:func:`stylize` and :func:`upscale` take numpy arrays ``(H, W, 3)`` / ``(N, H, W, 3)``,
lists of arrays of different sizes, or image file paths, and return float32 numpy
images in the model's ``value_range``. Images larger than ``tile_size`` are processed
in overlapping tiles whose seams are cross-faded away, so an 8000x6000 photograph
never has to fit through the network at once.

Tiling and instance normalization. Instance normalization (the default of
:func:`~keras_perceptual.models.style_transfer_net`) normalizes with the statistics of
the whole image, so a tile normalized with its own statistics comes out with a
different contrast and colour than its neighbours. By default
(``norm_statistics="image"``) the tiled path therefore measures every
:class:`~keras_perceptual.layers.InstanceNormalization` layer's statistics over the
whole full-resolution image, tile by tile, and normalizes every tile with them. Layer
``k``'s statistics depend on those of the layers before it, so this takes one partial
pass over the tiles per normalization layer (each stopping at that layer; about 8
forward passes in all for ``style_transfer_net``) before the final pass. Approximate
shortcuts (statistics of a down-scaled copy, or pooled per-tile statistics) are not
offered: frozen statistics that do not match the features they normalize compound
through the network's 15 normalizations and change the result far more than per-tile
normalization does. The result matches the untiled one up to the receptive field not
covered by ``overlap`` (measured in ``tests/test_inference.py``). ``norm_statistics="tile"``
normalizes each tile on its own (one pass; seams are cross-faded but tiles may differ in
tone). Batch-normalized networks have no such issue.

Post-processing from the literature:

* ``preserve_color`` (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in
  Neural Artistic Style Transfer", luminance-only transfer): keep the content's
  chrominance (YIQ ``I`` and ``Q``) and take only the luminance ``Y`` from the
  stylized image.
* ``histogram_match`` (Johnson et al. 2016: super-resolved outputs are
  post-processed by histogram matching to the low-resolution input): match each
  output channel's histogram to the input's.
"""

from __future__ import annotations

import math
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_perceptual._checks import (
    check_choice,
    check_convex_weights,
    check_flag,
    check_output_file,
    check_positive_int,
    check_value_range,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import image_array, image_arrays, resize_shorter_side
from keras_perceptual.layers import (
    ADAIN_ENCODER_LAYER,
    AdaptiveInstanceNormalization,
    InstanceNormalization,
    PadToMultiple,
    check_alpha,
    instance_norm_statistics,
)
from keras_perceptual.models import model_precision, with_dtype_policy
from keras_perceptual.ops import from_unit_range, to_unit_range
from keras_perceptual.precision import check_precision, resolve_precision, warn_if_emulated
from keras_perceptual.runtimes import (
    BoundRuntime,
    KerasRuntime,
    Runtime,
    load_runtime,
    model_info,
)

NORM_STATISTICS = ("image", "tile")

# BT.601 RGB <-> YIQ (the luminance-only transfer of Gatys et al. 2016).
_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


# --------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------


def _images_as_list(images: Any, value_range) -> tuple[list[np.ndarray], str]:
    """Returns ``(list of (H, W, 3) arrays, kind)``; kind is 'single', 'batch' or 'list'."""
    if isinstance(images, (str, os.PathLike)):
        return [image_array(images, value_range, "images")], "single"
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(
                "images is an empty list; pass at least one image array or path. Received: images=[]"
            )
        return [image_array(im, value_range, f"images[{i}]") for i, im in enumerate(images)], "list"
    array = np.asarray(keras.ops.convert_to_numpy(images))
    if array.ndim == 4 and not array.shape[0]:
        raise InputError(
            "images is an empty batch; pass at least one image (H, W, 3) or a batch (N, H, W, 3) "
            f"with N >= 1. Received: images.shape={array.shape}"
        )
    if array.ndim == 4:
        return [image_array(im, value_range, f"images[{i}]") for i, im in enumerate(array)], "batch"
    if array.ndim == 3:
        return [image_array(array, value_range, "images")], "single"
    raise InputError(
        "images must be an image (H, W, 3), a batch (N, H, W, 3), a list of images of any "
        f"sizes or image file paths. Received: images.shape={array.shape}"
    )


def _package(outputs: list[np.ndarray], kind: str):
    if kind == "single":
        return outputs[0]
    if kind == "batch":
        return np.stack(outputs)
    return outputs


def save_image(
    image: Any, path: str | os.PathLike, value_range: Sequence[float] = (0.0, 1.0)
) -> None:
    """Writes one RGB image in ``value_range`` to an 8-bit file (PNG, JPEG, ... by extension).

    Args:
        image: ``(H, W, 3)`` or ``(1, H, W, 3)`` float array or tensor in ``value_range``
            (see :func:`~keras_perceptual.images.image_array`); values outside it are
            clipped, integer images refused.
        path: the file to write; the format follows the extension (``.png``, ``.jpg``,
            ``.webp``, ``.bmp``, ... any format Pillow writes). Written atomically: to a
            temporary file in the same folder, then renamed, so an interrupted write never
            leaves a truncated image under ``path`` (an existing file keeps its old
            content until the new one is complete).
        value_range: ``(low, high)`` of ``image``.

    Returns:
        None.

    Raises:
        InputError: a refused image (see :func:`~keras_perceptual.images.image_array`), a
            ``path`` that is not a path or whose folder does not exist, or an extension that
            names no image format Pillow can write.

    Example:
        >>> save_image(np.random.rand(32, 48, 3), "noise.png")  # 48 x 32 pixels
    """
    from PIL import Image

    from keras_perceptual.training.files import atomic_write

    path = check_output_file(path, "path", "stylized.png")
    value_range = check_value_range(value_range)
    extension = os.path.splitext(path)[1].lower()
    Image.init()
    image_format = Image.registered_extensions().get(extension)
    if image_format not in Image.SAVE:
        raise InputError(
            f"Cannot write an image to {path!r}: its extension {extension or '(none)'!r} names "
            "no image format Pillow writes; end the file name with .png, .jpg, .webp or .bmp. "
            f"Received: path={path!r}"
        )
    array = image_array(image, value_range, "image", clip=True)
    unit = to_unit_range(array.astype(np.float64), value_range)
    pixels = Image.fromarray(np.round(unit * 255.0).astype(np.uint8))
    atomic_write(path, lambda tmp: pixels.save(tmp, format=image_format))


# --------------------------------------------------------------------------------------
# Model inspection
# --------------------------------------------------------------------------------------


def walk_layers(layer):
    """Yields ``layer`` and every layer nested in it, each once, parents first.

    Follows functional graphs, sub-models and composite layers (any ``keras.layers.Layer``
    held in an attribute, or in a list or tuple attribute). The one walker of the package:
    every question about what a model contains goes through it.

    Args:
        layer: a ``keras.layers.Layer`` or ``keras.Model``.

    Returns:
        A generator of layers.

    Raises:
        InputError: ``layer`` is not an object at all (``None``, a string, a number: checked
            at the first ``next``).

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> [layer.name for layer in walk_layers(net)][:3]
        ['style_transfer_net', 'image', 'align_pad']
    """
    if not hasattr(layer, "__dict__"):  # None, a string, a number: not a model of any kind
        raise InputError(
            "Expected a keras.Model or keras.layers.Layer; load a model file first with "
            f"keras_perceptual.runtimes.load_keras_model(path). Received: model={layer!r:.100}"
        )
    seen: set[int] = set()
    stack = [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        children = []
        for value in vars(current).values():
            if isinstance(value, keras.layers.Layer):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, keras.layers.Layer))
        stack.extend(reversed(children))


def _input_padding(model) -> list[PadToMultiple]:
    return [layer for layer in walk_layers(model) if isinstance(layer, PadToMultiple)]


def input_alignment(model) -> tuple[int, str]:
    """``(multiple, numpy pad mode)`` of the model's own input padding; ``(1, "reflect")`` if none.

    Read from the model's first :class:`~keras_perceptual.layers.PadToMultiple` layer, or
    from a :class:`~keras_perceptual.runtimes.Runtime`'s metadata.
    """
    if isinstance(model, Runtime):
        return model.info.multiple, model.info.pad_mode
    padding = _input_padding(model)
    return (padding[0].multiple, padding[0].mode) if padding else (1, "reflect")


def min_input_size(model) -> int:
    """The smallest height and width ``model`` accepts, in pixels (1 if it states none).

    The one minimum-size rule of inference and export: the largest ``min_size`` of the
    model's :class:`~keras_perceptual.layers.PadToMultiple` layers (5 for the default
    networks, whose reflection padding needs it).

    Args:
        model: a ``keras.Model`` or a :class:`~keras_perceptual.runtimes.Runtime` (its
            metadata says).

    Returns:
        An ``int`` >= 1.

    Example:
        >>> min_input_size(style_transfer_net(filters=4, num_residual_blocks=1))
        5
    """
    if isinstance(model, Runtime):
        return model.info.min_size
    return max((layer.min_size for layer in _input_padding(model)), default=1)


#: Copies of networks under another dtype policy: ``{network: {policy: copy}}``.
_PRECISION_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def with_precision(model: Any, precision: str | None, caller: str = "stylize") -> Any:
    """``model`` computing in ``precision`` (the inference helpers' ``precision`` option).

    ``None`` returns ``model`` as it is (its own dtype policy). ``"auto"`` picks the fastest
    precision the device computes natively (:func:`~keras_perceptual.precision.resolve_precision`:
    ``"mixed_bfloat16"`` on CPUs with AVX512-BF16 or AMX and on recent GPUs, float32 on AVX2
    CPUs, where a network trained under a mixed policy is then run in float32);
    ``"float32"``, ``"mixed_bfloat16"`` and ``"mixed_float16"`` ask for one. A Keras network
    whose policy differs is copied once (:func:`~keras_perceptual.models.with_dtype_policy`,
    same weights; cached while the network lives). Exported runtimes compute as exported:
    ``"auto"`` leaves them alone, another precision is refused.

    Args:
        model: a Keras model or a :class:`~keras_perceptual.runtimes.Runtime`.
        precision: ``None`` or one of :data:`~keras_perceptual.precision.PRECISIONS`.
        caller: the public function's name, for messages.

    Returns:
        The model to run.

    Raises:
        InputError: a bad ``precision``, or one asked of an exported runtime.

    Example:
        >>> fast = with_precision(style_transfer_net(), "auto")  # float32 on an AVX2 CPU
    """
    if precision is None:
        return model
    check_precision(precision)
    if isinstance(model, KerasRuntime):
        model = model.model
    if not isinstance(model, keras.Model):
        if precision == "auto":
            return model
        raise InputError(
            f"precision applies to Keras models; this {type(model).__name__} computes in the "
            f"precision it was exported with. Pass precision='auto' (or None), or export again. "
            f"Received: precision={precision!r}"
        )
    target = resolve_precision(precision)
    if model_precision(model) == target:
        return model
    warn_if_emulated(
        target,
        f"{caller}(precision={precision!r})",
        "pass precision='auto' (the fastest precision the device has) or 'float32'",
    )
    copies = _PRECISION_COPIES.setdefault(model, {})
    if target not in copies:
        copies[target] = with_dtype_policy(model, target)
    return copies[target]


def resolve_model(model: Any) -> Any:
    """The network :func:`stylize` and :func:`upscale` run, from any model argument they take.

    Args:
        model: a ``keras.Model``, a :class:`~keras_perceptual.runtimes.Runtime`, or a path /
            ``hf://`` reference to a ``.keras``, ONNX, OpenVINO or TFLite file.

    Returns:
        A ``keras.Model`` (tiling can then use whole-image statistics; a
        :class:`~keras_perceptual.runtimes.KerasRuntime` is unwrapped) or another
        :class:`~keras_perceptual.runtimes.Runtime`. Load a path once with it before
        calling :func:`stylize` on many batches.

    Raises:
        keras_perceptual.errors.InputError / ModelLoadError: as
        :func:`~keras_perceptual.runtimes.load_runtime`.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)
        >>> resolve_model(net) is net
        True
    """
    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, Runtime):
        model = load_runtime(model)
    return model.model if isinstance(model, KerasRuntime) else model


def _even_batch(count: int, batch_size: int) -> int:
    """The batch size that splits ``count`` items into as few, as even, batches as possible."""
    return math.ceil(count / math.ceil(count / batch_size))


def _forward(model, batch: np.ndarray, size: int, eager: bool = False) -> np.ndarray:
    """Runs ``model`` in inference mode on ``batch``. Compiled calls pad the batch to
    ``size`` rows (one compiled shape per image size); ``eager=True`` calls the model
    directly, so that :func:`~keras_perceptual.layers.instance_norm_statistics` hooks
    are seen."""
    count = batch.shape[0]
    if isinstance(model, Runtime):  # exported runtimes take any batch size without retracing
        return model.predict_on_batch(batch)
    if count < size and not eager:
        batch = np.concatenate([batch, np.repeat(batch[-1:], size - count, axis=0)])
    result = model(batch, training=False) if eager else model.predict_on_batch(batch)
    return np.asarray(keras.ops.convert_to_numpy(result), dtype=np.float32)[:count]


# --------------------------------------------------------------------------------------
# Tiling
# --------------------------------------------------------------------------------------


def _axis_tiles(length: int, tile: int, overlap: int, multiple: int):
    """Tile starts, tile length and ownership bounds along one axis (``length`` padded)."""
    if length <= tile:
        return [0], length, [0, length]
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    starts = [int(round(s / multiple)) * multiple for s in np.linspace(0, length - tile, count)]
    bounds = [0]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        bounds.append(int(round((b + a + tile) / 2 / multiple)) * multiple)
    bounds.append(length)
    return starts, tile, bounds


def _axis_weights(starts, size, bounds, scale: int, ramp: float) -> list[np.ndarray]:
    """Per-tile 1-D blending weights at output resolution; they sum to one at every pixel."""

    def rise(u, boundary):
        if ramp <= 0:
            return (u >= boundary).astype(np.float64)
        t = np.clip((u - (boundary - ramp)) / (2 * ramp), 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * t)

    weights = []
    for i, start in enumerate(starts):
        u = start + (np.arange(size * scale) + 0.5) / scale
        w = np.ones_like(u)
        if i > 0:
            w *= rise(u, bounds[i])
        if i < len(starts) - 1:
            w *= 1.0 - rise(u, bounds[i + 1])
        weights.append(w)
    return weights


def _ramp(starts, size, bounds, overlap: int) -> float:
    """Half-width of the cross-fade: an eighth of the overlap, kept inside both tiles."""
    ramp = overlap / 8
    for i in range(len(starts) - 1):
        ramp = min(ramp, bounds[i + 1] - starts[i + 1], starts[i] + size - bounds[i + 1])
    return max(ramp, 0.0)


class _StopForward(Exception):
    """Raised by the statistics provider to end a forward pass early (nothing is wrong)."""


class _StatisticsPass:
    """Instance-norm statistics provider: applies known statistics, measures the next one.

    Known layers are normalized with their whole-image statistics. The first layer met
    without statistics (its inputs then depend only on layers already known, because
    layers run in topological order) has the moments of its inputs accumulated over the
    part of each tile that tile owns, and the forward pass stops there. The owned parts
    partition the (padded) image, so after every tile they are the whole image's.
    ``regions`` holds, per tile of the current batch, ``(top, bottom, left, right)`` of
    its owned part in tile input pixels.
    """

    def __init__(self, statistics: dict, record: bool, tile_shape: tuple[int, int]):
        self.statistics = statistics
        self.record = record
        self.tile_shape = tile_shape
        self.target: int | None = None
        # Running count, mean and sum of squared deviations (Chan et al.'s parallel
        # variance): each tile's part is reduced on the device in float32, the parts are
        # combined here in float64.
        self.count = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0
        self.regions: list[tuple[int, int, int, int]] = []

    def __call__(self, layer, x):
        key = id(layer)
        if key in self.statistics or not self.record:
            return self.statistics.get(key)
        self.target = key
        fy = x.shape[1] / self.tile_shape[0]
        fx = x.shape[2] / self.tile_shape[1]
        ops = keras.ops
        for row, (top, bottom, left, right) in enumerate(self.regions):  # padded rows unused
            part = x[
                row,
                int(round(top * fy)) : int(round(bottom * fy)),
                int(round(left * fx)) : int(round(right * fx)),
            ]
            count = int(part.shape[0]) * int(part.shape[1])
            mean = ops.mean(part, axis=(0, 1))
            m2 = ops.sum(ops.square(part - mean), axis=(0, 1))
            mean = np.asarray(ops.convert_to_numpy(mean), np.float64)
            m2 = np.asarray(ops.convert_to_numpy(m2), np.float64)
            total = self.count + count
            delta = mean - self.mean
            self.mean = self.mean + delta * (count / total)
            self.m2 = self.m2 + m2 + np.square(delta) * (self.count * count / total)
            self.count = total
        raise _StopForward("statistics recorded")

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        variance = np.asarray(self.m2) / self.count
        return np.asarray(self.mean, np.float32), variance.astype(np.float32)


def _tile_geometry(tile_size: int, overlap: int, multiple: int) -> tuple[int, int]:
    """``(tile, overlap)`` rounded to multiples of the model's down-sampling factor, or an
    ``InputError`` where the overlap is more than half the tile."""
    tile = max(multiple, tile_size // multiple * multiple)
    over = -(-overlap // multiple) * multiple
    if over * 2 > tile:
        raise InputError(
            f"overlap must be at most half of tile_size (after rounding both to multiples of "
            f"{multiple}, the model's down-sampling factor); lower the overlap or raise the "
            f"tile size. Received: tile_size={tile_size}, overlap={overlap}"
        )
    return tile, over


def _output_scale(caller: str, model, inputs: tuple, outputs: tuple) -> int:
    """How many times larger than its input batch the network's output is, checked against
    what ``caller`` returns: ``(batch, H, W, 3)`` images in, ``(batch, s*H, s*W, 3)`` out,
    with an integer ``s >= 1`` (``s = 1`` for :func:`stylize`).

    Raises:
        InputError: any other output (a classifier's scores, a network that shrinks its
            input, one that returns another channel count or the other kind of network).
    """
    height, width = inputs[1:3]
    scale = outputs[1] // height if len(outputs) == 4 and outputs[1] >= height else 0
    if (
        len(outputs) == 4
        and outputs[0] == inputs[0]
        and outputs[-1] == 3
        and scale >= 1
        and tuple(outputs[1:3]) == (height * scale, width * scale)
        and (caller == "upscale" or scale == 1)
    ):
        return scale
    wanted = (
        "a style-transfer network: (batch, H, W, 3) RGB images in, the same shape out"
        if caller == "stylize"
        else "a super-resolution network: (batch, H, W, 3) RGB images in, (batch, s*H, s*W, 3) "
        "out for an integer scale s"
    )
    hint = " (a super-resolution network: use upscale)" if caller == "stylize" and scale > 1 else ""
    raise InputError(
        f"{caller} needs {wanted}; this model maps {tuple(inputs)} to {tuple(outputs)}{hint}. "
        f"Pass a network built by keras_perceptual.models (or trained by its recipes). "
        f"Received: model={getattr(model, 'name', type(model).__name__)!r}"
    )


def _run_tiled(
    model, image, tile_size, overlap, batch_size, norm_statistics, n_norm, report=None,
    caller: str = "stylize",
) -> np.ndarray:
    """One image in tiles; ``report(fraction)`` after each batch of tiles (all passes)."""
    multiple, mode = input_alignment(model)
    height, width = image.shape[:2]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    tile, over = _tile_geometry(tile_size, overlap, multiple)
    ys, th, by = _axis_tiles(padded.shape[0], tile, over, multiple)
    xs, tw, bx = _axis_tiles(padded.shape[1], tile, over, multiple)
    grid = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    batch = _even_batch(len(grid), batch_size)

    def owned(i, j):
        return (by[i] - ys[i], by[i + 1] - ys[i], bx[j] - xs[j], bx[j + 1] - xs[j])

    def batches():
        for k in range(0, len(grid), batch):
            chunk = grid[k : k + batch]
            tiles = np.stack([padded[ys[i] : ys[i] + th, xs[j] : xs[j] + tw] for i, j in chunk])
            yield chunk, tiles

    statistics: dict = {}
    passes = n_norm + 2 if n_norm and len(grid) > 1 and norm_statistics == "image" else 1
    steps = passes * math.ceil(len(grid) / batch)
    step = 0

    def advance():
        nonlocal step
        step += 1
        if report is not None:
            report(min(step / steps, 1.0))

    if passes > 1:
        for _ in range(n_norm + 1):  # one pass per normalization layer, each stopping there
            provider = _StatisticsPass(statistics, record=True, tile_shape=(th, tw))
            with instance_norm_statistics(provider):
                for chunk, tiles in batches():
                    provider.regions = [owned(i, j) for i, j in chunk]
                    try:
                        _forward(model, tiles, batch, eager=True)
                    except _StopForward:
                        pass
                    advance()
            if provider.target is None:
                break
            statistics[provider.target] = provider.result()
        step = steps - math.ceil(len(grid) / batch)  # a pass not needed is skipped

    provider = _StatisticsPass(statistics, record=False, tile_shape=(th, tw))
    output = weights_y = weights_x = None
    scale = 1
    with instance_norm_statistics(provider):
        for chunk, tiles in batches():
            result = _forward(model, tiles, batch, eager=bool(statistics))
            if output is None:
                scale = _output_scale(caller, model, tiles.shape, result.shape)
                output = np.zeros(
                    (padded.shape[0] * scale, padded.shape[1] * scale, result.shape[-1]),
                    np.float64,
                )
                weights_y = _axis_weights(ys, th, by, scale, _ramp(ys, th, by, over))
                weights_x = _axis_weights(xs, tw, bx, scale, _ramp(xs, tw, bx, over))
            for (i, j), out in zip(chunk, result, strict=True):
                w = weights_y[i][:, None, None] * weights_x[j][None, :, None]
                y0, x0 = ys[i] * scale, xs[j] * scale
                output[y0 : y0 + th * scale, x0 : x0 + tw * scale] += w * out
            advance()
    return output[: height * scale, : width * scale].astype(np.float32)


def check_run_options(model, *, batch_size, tile_size, overlap, norm_statistics) -> tuple:
    """Checks the batching and tiling options of :func:`stylize` / :func:`upscale` for
    ``model`` (a Keras model or a Runtime), before any image is read or run; returns
    ``(batch_size, tile_size, overlap)`` as ints (``tile_size`` may be None).

    Raises:
        InputError: a bad option, or a tile too small for ``overlap`` and the network's
            input alignment, or smaller than the smallest input the network accepts
            (:func:`min_input_size`).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if tile_size is not None:
        tile_size = check_positive_int(tile_size, "tile_size")
    overlap = check_positive_int(overlap, "overlap", minimum=0)
    if tile_size is not None:  # refused before any image runs, whatever their sizes
        multiple = input_alignment(model)[0]
        tile, _ = _tile_geometry(tile_size, overlap, multiple)
        min_size = min_input_size(model)
        if tile < min_size:  # the network's own check fired in a layer, in a traceback
            smallest = -(-min_size // multiple) * multiple
            raise InputError(
                f"tile_size must be at least {smallest}: each tile is run through the network "
                f"on its own, and this model needs inputs of at least {min_size}x{min_size} "
                f"pixels. Raise the tile size (tiles of 256 or more are usual). "
                f"Received: tile_size={tile_size}"
            )
    check_choice(norm_statistics, NORM_STATISTICS, "norm_statistics")
    return batch_size, tile_size, overlap


def _run(
    model, images, *, batch_size, tile_size, overlap, norm_statistics, progress=None,
    caller: str = "stylize",
) -> list[np.ndarray]:
    batch_size, tile_size, overlap = check_run_options(
        model, batch_size=batch_size, tile_size=tile_size, overlap=overlap,
        norm_statistics=norm_statistics,
    )
    min_size = min_input_size(model)
    for index, image in enumerate(images):
        if min(image.shape[:2]) < min_size:
            raise InputError(
                f"images[{index}] is {image.shape[0]}x{image.shape[1]} pixels; this model needs at "
                f"least {min_size}x{min_size}. Upscale or pad the image first. "
                f"Received: images[{index}].shape={image.shape}"
            )

    def fits(image):
        return tile_size is None or max(image.shape[:2]) <= tile_size

    norm_layers = [
        layer
        for layer in walk_layers(model)
        if isinstance(layer, (InstanceNormalization, AdaptiveInstanceNormalization))
    ]
    if (
        isinstance(model, Runtime)
        and model_info(model).instance_normalization
        and norm_statistics == "image"
        and not all(fits(image) for image in images)
    ):
        raise InputError(
            f"Tiling with whole-image instance-norm statistics needs the Keras model; this "
            f"{model.name} model can only normalize each tile on its own: pass "
            "norm_statistics='tile' (faster, seams may differ in tone), tile_size=None, or the "
            f".keras model. Received: norm_statistics={norm_statistics!r}"
        )
    if tile_size is not None and not norm_layers:
        foreign = sorted(
            {
                type(layer).__name__
                for layer in walk_layers(model)
                if isinstance(
                    layer, (keras.layers.GroupNormalization, keras.layers.LayerNormalization)
                )
            }
        )
        if foreign and not all(fits(image) for image in images):
            warnings.warn(
                f"The model normalizes with per-image statistics ({', '.join(foreign)}); tiles are "
                "normalized independently, so tile seams may remain visible. Use tile_size=None, "
                "or keras_perceptual.layers.InstanceNormalization, whose statistics tiling "
                "computes over the whole image.",
                UserWarning,
                stacklevel=3,
            )

    if progress is not None and not callable(progress):
        raise InputError(
            "progress must be a callable progress(done, total) or None. "
            f"Received: progress={progress!r}"
        )
    outputs: list[np.ndarray | None] = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    done = 0
    for index, image in enumerate(images):
        if fits(image):
            groups.setdefault(image.shape, []).append(index)
        else:
            report = None if progress is None else (
                lambda fraction, base=done: progress(base + fraction, len(images)))
            outputs[index] = _run_tiled(
                model, image, tile_size, overlap, batch_size, norm_statistics, len(norm_layers),
                report, caller,
            )
            done += 1
    for indices in groups.values():
        batch = _even_batch(len(indices), batch_size)
        for k in range(0, len(indices), batch):
            chunk = indices[k : k + batch]
            inputs = np.stack([images[i] for i in chunk])
            result = _forward(model, inputs, batch)
            _output_scale(caller, model, inputs.shape, result.shape)
            for i, out in zip(chunk, result, strict=True):
                outputs[i] = out
            done += len(chunk)
            if progress is not None:
                progress(done, len(images))
    return outputs


# --------------------------------------------------------------------------------------
# Post-processing
# --------------------------------------------------------------------------------------


def _preserve_color(content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Luminance of ``stylized`` with the YIQ chrominance of ``content`` (both in [0, 1])."""
    yiq_content = content.astype(np.float64) @ _RGB_TO_YIQ.T
    yiq_stylized = stylized.astype(np.float64) @ _RGB_TO_YIQ.T
    yiq = np.concatenate([yiq_stylized[..., :1], yiq_content[..., 1:]], axis=-1)
    return np.clip(yiq @ _YIQ_TO_RGB.T, 0.0, 1.0).astype(np.float32)


def match_histograms(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Maps each channel of ``image`` so its histogram matches ``reference``'s.

    Exact histogram specification: every value of ``image`` is replaced by the value of
    ``reference`` at the same quantile (linear interpolation between quantiles), channel
    by channel; the sizes may differ. The post-processing Johnson et al. (2016) apply
    to super-resolved outputs, with the low-resolution input as the reference.

    Args:
        image: ``(H, W, C)`` array.
        reference: ``(h, w, C)`` array.

    Returns:
        ``image`` re-mapped, float32, same shape; values lie within ``reference``'s range.

    Raises:
        InputError: not two ``(H, W, C)`` arrays with the same ``C``, an empty one, or
            NaN or infinite values.

    Example:
        >>> match_histograms(np.random.rand(64, 64, 3), np.random.rand(16, 16, 3)).shape
        (64, 64, 3)
    """
    image = np.asarray(image)
    reference = np.asarray(reference)
    if image.ndim != 3 or reference.ndim != 3 or image.shape[-1] != reference.shape[-1]:
        raise InputError(
            "match_histograms needs two (H, W, C) images with the same channel count; pass "
            "one image each, not batches, e.g. match_histograms(output[0], image[0]). "
            f"Received: image.shape={image.shape}, reference.shape={reference.shape}"
        )
    for name, array in (("image", image), ("reference", reference)):
        if array.size == 0 or not np.all(np.isfinite(array)):
            raise InputError(
                f"match_histograms needs images with pixels, all finite (a NaN has no place in "
                f"a histogram); drop empty images and replace NaN or infinite values first. "
                f"Received: {name}.shape={array.shape}, finite="
                f"{bool(np.all(np.isfinite(array)))}"
            )
    matched = np.empty(image.shape, np.float32)
    for c in range(image.shape[-1]):
        values, inverse, counts = np.unique(
            image[..., c].ravel(), return_inverse=True, return_counts=True
        )
        ref_values, ref_counts = np.unique(reference[..., c].ravel(), return_counts=True)
        quantiles = np.cumsum(counts) / image[..., c].size
        ref_quantiles = np.cumsum(ref_counts) / reference[..., c].size
        mapped = np.interp(quantiles, ref_quantiles, ref_values)
        matched[..., c] = mapped[inverse.ravel()].reshape(image.shape[:2])
    return matched


# --------------------------------------------------------------------------------------
# Styles: which one a multi-style or arbitrary-style network applies
# --------------------------------------------------------------------------------------


def style_count(model: keras.Model) -> int | None:
    """How many styles a :func:`~keras_perceptual.models.multi_style_transfer_net` holds.

    Args:
        model: a Keras model.

    Returns:
        ``N`` for a model with a ``style_weights`` input of shape ``(batch, N)``, else ``None``.

    Example:
        >>> style_count(multi_style_transfer_net(4))
        4
    """
    for tensor in getattr(model, "inputs", None) or []:
        if tensor.name == "style_weights" and len(tensor.shape) == 2:
            return int(tensor.shape[-1])
    return None


def is_arbitrary_style_model(model: keras.Model) -> bool:
    """Whether ``model`` is an :func:`~keras_perceptual.models.arbitrary_style_net` (AdaIN).

    Example:
        >>> is_arbitrary_style_model(arbitrary_style_net(weights=None))
        True
    """
    names = {layer.name for layer in getattr(model, "layers", [])}
    return {"encoder", "adain", "decoder", "align_pad", "align_crop", "output"} <= names and (
        isinstance(model.get_layer("adain"), AdaptiveInstanceNormalization)
    )


def _finite_vector(values: Any, name: str) -> np.ndarray:
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        vector = None
    if vector is None or vector.ndim != 1 or not vector.size or not np.all(np.isfinite(vector)):
        raise InputError(
            f"{name} must be a list of finite numbers, one per style, e.g. [0.5, 0.5, 0, 0]. "
            f"Received: {name}={values!r}"
        )
    return vector


def resolve_style_weights(
    num_styles: int, style: int | None = None, style_weights: Any = None
) -> np.ndarray:
    """The convex style weights ``(num_styles,)`` that ``style=k`` or ``style_weights`` mean.

    ``style=k`` is the one-hot row of style ``k`` (0-based); ``style_weights`` must have one
    entry per style, all >= 0, summing to 1 (a convex blend, Dumoulin et al. 2017, Fig. 7)
    within 1e-3 (then renormalized exactly). Exactly one of the two is given.

    Args:
        num_styles: the number of styles ``N``.
        style: a style index in ``[0, N)``.
        style_weights: ``N`` weights.

    Returns:
        float32 ``(N,)`` weights.

    Raises:
        InputError: ``num_styles`` not an integer >= 1, neither or both of ``style`` and
            ``style_weights`` given, an index out of range, a wrong length, a negative
            weight, or weights that do not sum to 1.

    Example:
        >>> resolve_style_weights(4, style_weights=[0.5, 0.5, 0, 0])
        array([0.5, 0.5, 0. , 0. ], dtype=float32)
    """
    num_styles = check_positive_int(num_styles, "num_styles")
    if (style is None) == (style_weights is None):
        raise InputError(
            f"This network holds {num_styles} styles: pass style=k (an index from 0 to "
            f"{num_styles - 1}) or style_weights=[...] ({num_styles} weights >= 0 summing to 1)"
            f"{', not both' if style is not None else ''}. Received: style={style!r}, "
            f"style_weights={style_weights!r}"
        )
    if style is not None:
        if isinstance(style, bool) or not isinstance(style, (int, np.integer)) or not (
            0 <= style < num_styles
        ):
            raise InputError(
                f"style must be an index from 0 to {num_styles - 1} (this network holds "
                f"{num_styles} styles, counted from 0). Received: style={style!r}"
            )
        weights = np.zeros(num_styles)
        weights[int(style)] = 1.0
        return weights.astype(np.float32)
    weights = _finite_vector(style_weights, "style_weights")
    if weights.size != num_styles:
        raise InputError(
            f"style_weights must have one weight per style: {num_styles} for this network, e.g. "
            f"{[1.0] + [0.0] * (num_styles - 1)}. Received: style_weights={list(weights)} "
            f"({weights.size} weights)"
        )
    _check_convex(weights, "style_weights")
    return (weights / weights.sum()).astype(np.float32)


def _check_convex(weights: np.ndarray, name: str) -> None:
    check_convex_weights(
        weights, name,
        f"{name} must be >= 0 and sum to 1 (a convex blend of the styles; divide by their "
        "sum to normalize). ",
    )


class _StyleWeightsOf(keras.layers.Layer):
    """``(B, H, W, 3) -> (B, N)``: the same style weights (a variable) for every image."""

    def __init__(self, num_styles: int, **kwargs):
        super().__init__(**kwargs)
        self.style_weights = self.add_weight(
            shape=(1, num_styles), initializer="zeros", trainable=False, name="style_weights",
            autocast=False,
        )

    def call(self, images):
        zeros = keras.ops.zeros_like(keras.ops.cast(images[:, 0, 0, :1], "float32"))
        return zeros + self.style_weights

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.style_weights.shape[-1])


class _AdaINWithStatistics(keras.layers.Layer):
    """The network's AdaIN layer with target statistics and ``alpha`` held in variables."""

    def __init__(self, adain, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.adain = adain
        common = {"initializer": "zeros", "trainable": False, "autocast": False}
        self.mean = self.add_weight(shape=(1, channels), name="mean", **common)
        self.std = self.add_weight(shape=(1, channels), name="std", **common)
        self.alpha = self.add_weight(shape=(), name="alpha", **common)

    def call(self, features):
        return self.adain.transfer(features, self.mean, self.std, alpha=self.alpha)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


#: One wrapper per network (its graph compiled once); its style variables set per call.
_BOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bound_network(model, build):
    cached = _BOUND.get(model)
    if cached is None:
        cached = _BOUND[model] = build()
    return cached


def _style_image(
    item: Any, value_range, name: str, minimum: int, style_size: int | None = None
) -> np.ndarray:
    """A style image argument as an ``(H, W, 3)`` array, its shorter side resized to
    ``style_size`` (:func:`~keras_perceptual.images.resize_shorter_side`) when given."""
    image = image_array(item, value_range, name)
    if style_size is not None:
        if style_size < minimum:
            raise InputError(
                f"style_size={style_size} would make {name} smaller than the {minimum}x"
                f"{minimum} pixels the style encoder needs; pass a style_size of at least "
                f"{minimum}, or leave it out to encode the image at its own size. Received: "
                f"style_size={style_size}"
            )
        image = resize_shorter_side(image, style_size, value_range)
    if min(image.shape[:2]) < minimum:
        raise InputError(
            f"{name} is {image.shape[0]}x{image.shape[1]} pixels; the style encoder needs at "
            f"least {minimum}x{minimum}. Use a larger style image. Received: {name}.shape="
            f"{image.shape}"
        )
    return image


def _runtime_style_kind(runtime: Runtime) -> tuple[int | None, bool]:
    """``(num_styles, arbitrary)`` of an exported network, from its metadata."""
    names = tuple(runtime.info.input_names)
    if names == ("style_weights",):
        if not runtime.info.num_styles:
            raise InputError(
                f"This exported multi-style network does not record its number of styles (it "
                f"was exported by an earlier version); export it again from its .keras model, "
                f"or pass the .keras model. Received: model={runtime.path!r}"
            )
        return int(runtime.info.num_styles), False
    if names == ("style",):
        return None, True
    if names:
        raise InputError(
            f"This exported network takes inputs besides the image that stylize does not "
            f"know ({', '.join(names)}); it runs exported single-style, multi-style (input "
            f"style_weights) and arbitrary-style (input style) networks. Received: "
            f"model={runtime.path!r}"
        )
    return None, False


def style_kind(model: Any) -> tuple[int | None, bool]:
    """Which style choice a network needs: ``(num_styles, arbitrary)``.

    ``(N, False)`` for a multi-style network holding ``N`` styles (``style``/``style_weights``),
    ``(None, True)`` for an arbitrary-style network (``style_image``/``style_images``),
    ``(None, False)`` for a single-style or other one-input network.

    Args:
        model: a Keras model, or an exported network from :func:`resolve_model` (read from
            its metadata).

    Raises:
        InputError: an exported network whose inputs or metadata do not say.

    Example:
        >>> style_kind(multi_style_transfer_net(4, filters=4, num_residual_blocks=1))
        (4, False)
    """
    if isinstance(model, Runtime):
        return _runtime_style_kind(model)
    num_styles = style_count(model)
    return num_styles, num_styles is None and is_arbitrary_style_model(model)


def bind_style(
    model: Any,
    value_range: Sequence[float],
    style: int | None = None,
    style_weights: Sequence[float] | None = None,
    style_image: Any = None,
    style_images: Sequence[Any] | None = None,
    alpha: float | None = None,
    style_size: int | None = None,
) -> Any:
    """``model`` as a one-input image-to-image network applying the requested style.

    What :func:`stylize` does with its style options, once: bind a network before stylizing
    many batches (the frames of a video) so that, e.g., an arbitrary-style network encodes
    its style image once, not once a batch.

    Args:
        model: a network from :func:`resolve_model`.
        value_range: ``(low, high)`` of the images (and of a style image given as an array).
        style, style_weights, style_image, style_images, alpha, style_size: as for
            :func:`stylize`.

    Returns:
        ``model`` itself for a single-style network; otherwise a one-input ``keras.Model``
        sharing its weights (for an exported network, a
        :class:`~keras_perceptual.runtimes.BoundRuntime`).

    Raises:
        InputError: options the network does not take, a missing or refused style choice,
            or a bad ``value_range``.

    Example:
        >>> multi = multi_style_transfer_net(4, filters=4, num_residual_blocks=1)
        >>> bind_style(multi, (0, 1), style=2).inputs[0].shape
        (None, None, None, 3)
    """
    value_range = check_value_range(value_range)
    num_styles, arbitrary = style_kind(model)
    if style_size is not None:
        style_size = check_positive_int(style_size, "style_size")
    image_options = any(
        option is not None for option in (style_image, style_images, style_size, alpha)
    )
    if num_styles is not None:
        if image_options:
            raise InputError(
                f"This network holds {num_styles} trained styles (multi_style_transfer_net): "
                "choose one with style=k or blend them with style_weights=[...]; style_image, "
                "style_images, style_size and alpha are for arbitrary_style_net models. "
                f"Received: style_image={'given' if style_image is not None else None}, "
                f"style_images={'given' if style_images is not None else None}, "
                f"style_size={style_size!r}, alpha={alpha!r}"
            )
        weights = resolve_style_weights(num_styles, style, style_weights)
        if isinstance(model, Runtime):
            return BoundRuntime(model, [weights[None]])

        def build():
            image = keras.Input((None, None, 3), name="image")
            outputs = model([image, _StyleWeightsOf(num_styles, name="style_weights_of")(image)])
            return keras.Model(image, outputs, name=f"{model.name}_bound")

        network = _bound_network(model, build)
        network.get_layer("style_weights_of").style_weights.assign(weights[None])
        return network
    if arbitrary:
        if style is not None:
            raise InputError(
                "style=k selects a trained style of a multi_style_transfer_net; this "
                "arbitrary_style_net takes any style image: pass style_image=... (or "
                f"style_images=[...] with style_weights=[...]). Received: style={style!r}"
            )
        return _bind_style_image(model, value_range, style_weights, style_image, style_images,
                                 alpha, style_size)
    if style is not None or style_weights is not None or image_options:
        raise InputError(
            "style, style_weights, style_image, style_images, style_size and alpha apply to "
            "networks built by multi_style_transfer_net or arbitrary_style_net; this model "
            f"takes one image (a single-style network): leave them out. Received: "
            f"model={model.name!r}"
        )
    return model


def _bind_style_image(model, value_range, style_weights, style_image, style_images, alpha,
                      style_size):
    if (style_image is None) == (style_images is None):
        raise InputError(
            "This arbitrary_style_net needs a style: pass style_image=... (an image or a path) "
            "or style_images=[...] (several, blended by style_weights)"
            f"{', not both' if style_image is not None else ''}. Received: "
            f"style_image={'given' if style_image is not None else None}, "
            f"style_images={'given' if style_images is not None else None}"
        )
    if isinstance(model, Runtime):
        return _bind_runtime_style_image(
            model, value_range, style_weights, style_image, style_images, alpha, style_size
        )
    encoder, adain = model.get_layer("encoder"), model.get_layer("adain")
    alpha = adain.alpha if alpha is None else check_alpha(alpha)
    minimum = encoder.min_image_size
    if style_image is not None:
        if style_weights is not None:
            raise InputError(
                "style_weights blends several style images: pass style_images=[...] with them, "
                "or style_image=... alone. Received: style_weights with style_image"
            )
        images = [_style_image(style_image, value_range, "style_image", minimum, style_size)]
        weights = np.ones(1)
    else:
        images = [
            _style_image(item, value_range, f"style_images[{i}]", minimum, style_size)
            for i, item in enumerate(image_arrays(style_images, value_range, "style_images"))
        ]
        weights = _style_image_weights(style_weights, len(images))
    # AdaIN is affine in the style's (mean, std): blending them blends the outputs exactly.
    mean = std = 0.0
    for weight, image in zip(weights, images, strict=True):
        features = encoder(image[None])[ADAIN_ENCODER_LAYER]
        m, s = (np.asarray(keras.ops.convert_to_numpy(v), np.float32)
                for v in adain.style_statistics(features))
        mean, std = mean + weight * m, std + weight * s

    def build():
        content = keras.Input((None, None, 3), name="image")
        x = model.get_layer("align_pad")(content)
        x = encoder(x)[ADAIN_ENCODER_LAYER]
        x = _AdaINWithStatistics(adain, mean.shape[-1], name="adain_fixed")(x)
        x = model.get_layer("decoder")(x)
        x = model.get_layer("align_crop")([x, content])
        outputs = model.get_layer("output")(x)
        return keras.Model(content, outputs, name=f"{model.name}_bound")

    network = _bound_network(model, build)
    fixed = network.get_layer("adain_fixed")
    fixed.mean.assign(mean)
    fixed.std.assign(std)
    fixed.alpha.assign(alpha)
    return network


def _style_image_weights(style_weights, count: int) -> np.ndarray:
    """The blend weights of ``count`` style images: ``style_weights`` checked (one per
    image, >= 0, summing to 1) and normalized, or equal weights."""
    if style_weights is None:
        return np.full(count, 1.0 / count)
    weights = _finite_vector(style_weights, "style_weights")
    if weights.size != count:
        raise InputError(
            f"style_weights must have one weight per style image ({count}). "
            f"Received: style_weights={list(weights)} ({weights.size} weights)"
        )
    _check_convex(weights, "style_weights")
    return weights / weights.sum()


def _bind_runtime_style_image(runtime, value_range, style_weights, style_image, style_images,
                              alpha, style_size):
    """An exported arbitrary-style network with its ``style`` input fixed to one image. Its
    graph takes one style image and applies the ``alpha`` it was exported with: blends of
    several style images and another ``alpha`` need the Keras model (refused here)."""
    alpha = None if alpha is None else check_alpha(alpha)
    if style_images is not None:
        items = image_arrays(style_images, value_range, "style_images")
        _style_image_weights(style_weights, len(items))
        if len(items) > 1:
            raise InputError(
                "An exported arbitrary-style network takes one style image (its style input); "
                "blending several (style_images with style_weights) needs the .keras model, "
                "whose encoder blends their statistics: pass style_image=... or the .keras "
                f"model. Received: {len(items)} style_images"
            )
        style_image = items[0]
    elif style_weights is not None:
        raise InputError(
            "style_weights blends several style images: pass style_images=[...] with them, "
            "or style_image=... alone. Received: style_weights with style_image"
        )
    exported = runtime.info.alpha
    if alpha is not None and (exported is None or abs(alpha - exported) > 1e-6):
        raise InputError(
            f"This exported arbitrary-style network applies the alpha it was exported with "
            f"({exported if exported is not None else 'not recorded'}); another alpha needs "
            f"the .keras model, or an export of arbitrary_style_net(alpha=...). Leave alpha "
            f"out, or pass the .keras model. Received: alpha={alpha!r}"
        )
    image = _style_image(style_image, value_range, "style_image", runtime.info.style_min_size,
                         style_size)
    return BoundRuntime(runtime, [image[None]])


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


#: The arguments of :func:`stylize` and :func:`upscale` that :func:`_run` takes.
_TILING_ARGUMENTS = ("batch_size", "tile_size", "overlap", "norm_statistics", "progress")


def _infer(caller: str, arguments: dict, bind=None):
    """What :func:`stylize` and :func:`upscale` share, given the caller's ``arguments``
    (its ``locals()``): the model (loaded, at ``precision``), its value range
    (``value_range`` or the model's own), ``bind(model, value_range)`` (the network to run;
    the model itself without ``bind``), the images as a list, and the batched or tiled run.

    Returns ``(outputs, image_list, kind, value_range)``.
    """
    model = with_precision(resolve_model(arguments["model"]), arguments["precision"], caller)
    value_range = arguments["value_range"]
    value_range = (
        model_info(model).value_range if value_range is None else check_value_range(value_range)
    )
    network = model if bind is None else bind(model, value_range)
    image_list, kind = _images_as_list(arguments["images"], value_range)
    tiling = {name: arguments[name] for name in _TILING_ARGUMENTS}
    return _run(network, image_list, caller=caller, **tiling), image_list, kind, value_range


def stylize(
    model: Any,
    images: Any,
    *,
    style: int | None = None,
    style_weights: Sequence[float] | None = None,
    style_image: Any = None,
    style_images: Sequence[Any] | None = None,
    alpha: float | None = None,
    style_size: int | None = None,
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int = 128,
    preserve_color: bool = False,
    value_range: Sequence[float] | None = None,
    norm_statistics: str = "image",
    progress: Callable[[float, int], None] | None = None,
    precision: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Stylizes images of any size with a trained style-transfer network.

    Three kinds of network: a single-style ``style_transfer_net`` (no style options); a
    ``multi_style_transfer_net`` (Dumoulin et al. 2017), given ``style=k`` or a blend
    ``style_weights=[...]``; an ``arbitrary_style_net`` (Huang & Belongie 2017), given any
    ``style_image`` (or several ``style_images`` blended by ``style_weights``, the AdaIN
    statistics interpolated) and the content-style trade-off ``alpha``. The style applies
    to every image. Images of the same size are batched (``batch_size``); an image whose height or
    width exceeds ``tile_size`` is processed in ``tile_size`` tiles overlapping by
    ``overlap`` pixels, with instance-norm statistics taken from the whole image (see
    the module docstring). Each pixel comes from the tile in which it lies farthest
    from the tile's edge, cross-faded (raised cosine) over the middle quarter of each
    overlap, so the pixels used are at least ``3/8 * overlap`` from any tile edge.
    When that covers the network's receptive field (radius 57 pixels for the default
    :func:`~keras_perceptual.models.style_transfer_net`, hence the default 128) the
    tiled result equals the untiled one up to float rounding (``tests/test_inference.py``
    measures it).

    Args:
        model: an image-to-image Keras model, e.g. a trained ``style_transfer_net()``,
            ``multi_style_transfer_net(N)`` or ``arbitrary_style_net()``; or a
            :class:`~keras_perceptual.runtimes.Runtime`, or anything
            :func:`~keras_perceptual.runtimes.load_runtime` opens (a ``.keras``, ``.onnx`` or
            ``.tflite`` file, an OpenVINO folder, ``"hf://owner/name"``). An exported
            multi-style network takes ``style``/``style_weights`` as the Keras one does; an
            exported arbitrary-style network takes one style image and applies the
            ``alpha`` it was exported with (blends of several style images and another
            ``alpha`` need the Keras model).
        images: an image ``(H, W, 3)``, a batch ``(N, H, W, 3)``, a list of images of
            any sizes, or image file path(s); arrays in ``value_range``.
        style: multi-style networks: the style index, from 0.
        style_weights: multi-style networks: one weight per style, >= 0, summing to 1;
            arbitrary networks: one weight per entry of ``style_images`` (default equal).
        style_image: arbitrary networks: the style, an image ``(H, W, 3)`` in
            ``value_range`` or a path, any size (at least 8 x 8; its scale sets the scale
            of the strokes).
        style_images: arbitrary networks: several style images to blend.
        alpha: arbitrary networks: content-style trade-off in [0, 1] (default: the
            network's own, 1 unless built otherwise: full stylization; 0 reconstructs the
            content).
        style_size: arbitrary networks: resize ``style_image`` (and each of
            ``style_images``; arrays and paths alike) so its shorter side is this many
            pixels, aspect ratio kept, before the encoder sees it
            (:func:`~keras_perceptual.images.resize_shorter_side`), as ``test.py
            --style_size`` of the AdaIN reference code (Huang & Belongie 2017; 512 there):
            the style image's scale sets the scale of the strokes, so this fixes it
            whatever the file's size. ``None`` (default) encodes it at its own size.
        batch_size: images (or tiles) per model call.
        tile_size: largest height/width processed at once; ``None`` never tiles.
        overlap: pixels shared by neighbouring tiles.
        preserve_color: keep the content's colours, transfer only the luminance
            (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").
        value_range: ``(low, high)`` of inputs and outputs; default: the model's own
            (:func:`~keras_perceptual.models.model_value_range`).
        norm_statistics: how tiles are instance-normalized: ``"image"`` (default) with
            the whole image's statistics, measured exactly over the tiles (one extra
            partial pass per normalization layer, about 8x the work of one pass for
            ``style_transfer_net``); ``"tile"`` with each tile's own statistics (one pass,
            but neighbouring tiles may differ in contrast and colour).
        progress: ``progress(done, total)`` is called after each model call: ``done``
            images of ``total`` are finished (fractional while a tiled image is under way,
            counting every tile of every pass), e.g. to drive a progress bar.
        precision: ``None`` (default: the network's own dtype policy, outputs identical to
            calling it), ``"auto"`` (the fastest precision the device computes natively:
            bfloat16 on CPUs with AVX512-BF16/AMX and recent GPUs, float32 on AVX2 CPUs,
            also for a network trained under a mixed policy), ``"float32"``,
            ``"mixed_bfloat16"`` or ``"mixed_float16"``; see :func:`with_precision`. 16-bit
            outputs differ from float32 by about 1e-2 of the value range at most.

    Returns:
        float32 numpy images in ``value_range``, shaped like the input: ``(H, W, 3)``,
        ``(N, H, W, 3)``, or a list for list input.

    Raises:
        InputError: bad images or options: a style index out of range, style weights of
            the wrong length, negative or not summing to 1, a style image of the wrong
            shape, a ``style_size`` that is not an integer > 0 (or is below the encoder's
            8 pixels), style options the model does not take (or a missing style); for an
            exported network, what only the Keras model does (see ``model``), inputs
            stylize does not know, or a multi-style export that does not record its
            number of styles (written by an earlier version); a network whose output is
            not RGB images of its input's size (a classifier, a super-resolution network:
            use :func:`upscale`), found on the first batch it runs.

    Example:
        >>> net = style_transfer_net(filters=4, num_residual_blocks=1)  # train it first
        >>> out = stylize(net, "photo.jpg", tile_size=32, overlap=8, preserve_color=True)
        >>> out.shape  # photo.jpg is 64 x 48
        (48, 64, 3)
        >>> save_image(out, "stylized.png")
        >>> multi = multi_style_transfer_net(4, filters=4, num_residual_blocks=1)
        >>> blend = stylize(multi, "photo.jpg", style_weights=[0.5, 0.5, 0, 0])  # two styles
        >>> adain = arbitrary_style_net(weights=None)  # weights="imagenet" for real use
        >>> stylize(adain, "photo.jpg", style_image="painting.jpg", alpha=0.8).shape
        (48, 64, 3)
        >>> stylize(adain, "photo.jpg", style_image="painting.jpg", style_size=32).shape
        (48, 64, 3)
    """
    preserve_color = check_flag(preserve_color, "preserve_color")
    outputs, image_list, kind, value_range = _infer(
        "stylize",
        locals(),
        bind=lambda network, value_range: bind_style(
            network, value_range, style, style_weights, style_image, style_images, alpha,
            style_size,
        ),
    )
    if preserve_color:
        outputs = [
            from_unit_range(
                _preserve_color(
                    to_unit_range(content, value_range), to_unit_range(out, value_range)
                ),
                value_range,
            )
            for content, out in zip(image_list, outputs, strict=True)
        ]
    return _package([np.asarray(o, np.float32) for o in outputs], kind)


def upscale(
    model: Any,
    images: Any,
    *,
    batch_size: int = 4,
    tile_size: int | None = None,
    overlap: int = 40,
    histogram_match: bool = False,
    value_range: Sequence[float] | None = None,
    norm_statistics: str = "image",
    progress: Callable[[float, int], None] | None = None,
    precision: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Super-resolves images of any size with a trained super-resolution network.

    Same batching and tiling as :func:`stylize`; ``tile_size`` and ``overlap`` are in
    input (low-resolution) pixels. The default 40 covers the receptive field of
    :func:`~keras_perceptual.models.super_resolution_net` (radius about 15 input pixels).

    Args:
        model: e.g. a trained ``super_resolution_net(4)``, a
            :class:`~keras_perceptual.runtimes.Runtime` or a model file (as for :func:`stylize`).
        images: low-resolution image(s) as for :func:`stylize`.
        batch_size: images (or tiles) per model call.
        tile_size: largest input height/width processed at once; ``None`` never tiles.
        overlap: input pixels shared by neighbouring tiles.
        histogram_match: match each output channel's histogram to the input's (the
            paper's post-processing).
        value_range: ``(low, high)``; default: the model's own.
        norm_statistics: as for :func:`stylize` (only matters with instance normalization).
        progress: as for :func:`stylize`.
        precision: as for :func:`stylize`.

    Returns:
        float32 numpy images ``scale`` times larger, shaped like the input.

    Raises:
        InputError: bad images or options (as for :func:`stylize`); a network whose output
            is not RGB images an integer number of times its input's size (a classifier, a
            network that shrinks its input), found on the first batch it runs.

    Example:
        >>> net = super_resolution_net(4, filters=4, num_residual_blocks=1)  # train it first
        >>> out = upscale(net, "photo.jpg", tile_size=32, overlap=8, histogram_match=True)
        >>> out.shape  # photo.jpg is 64 x 48
        (192, 256, 3)
        >>> save_image(out, "large.png")
    """
    histogram_match = check_flag(histogram_match, "histogram_match")
    outputs, image_list, kind, _ = _infer("upscale", locals())
    if histogram_match:
        outputs = [match_histograms(out, low) for out, low in zip(outputs, image_list, strict=True)]
    return _package([np.asarray(o, np.float32) for o in outputs], kind)


__all__ = [
    "bind_style",
    "input_alignment",
    "is_arbitrary_style_model",
    "match_histograms",
    "min_input_size",
    "resolve_model",
    "resolve_style_weights",
    "save_image",
    "style_count",
    "style_kind",
    "stylize",
    "upscale",
    "walk_layers",
    "with_precision",
]
