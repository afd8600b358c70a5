"""Argument and tensor checks shared by the whole package.

Every user-facing error says what was wrong, what was expected and how to fix
it, in one sentence, and ends with ``Received: name=value`` (Keras' own style).
They raise ``ValueError`` (never ``assert``, which ``python -O`` removes).
"""

from __future__ import annotations

import difflib
import math
import os
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from keras_perceptual.errors import InputError

ValueRange = tuple[float, float]


def check_value_range(value_range: Any) -> ValueRange:
    """Returns ``value_range`` as a ``(low, high)`` tuple of floats, or raises."""
    try:
        # "01" would iterate as ("0", "1"), True as 1.0: neither is a range anyone means.
        if isinstance(value_range, (str, bytes)):
            raise TypeError
        low, high = (as_number(v) for v in value_range)
        if math.isnan(low) or math.isnan(high):
            raise TypeError
    except (TypeError, ValueError):
        raise InputError(
            "value_range must be a pair (low, high) of numbers such as (0.0, 1.0) or "
            f"(-1.0, 1.0). Received: value_range={value_range!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise InputError(
            "value_range must satisfy low < high with finite numbers, e.g. (0.0, 1.0); "
            f"swap or fix the bounds. Received: value_range={value_range!r}"
        )
    return (low, high)


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a boolean, Python's or numpy's (``float(True)`` is 1.0, so a
    number check must refuse them first: ``tv_weight=True`` is not a weight anyone means).

    Example:
        >>> is_bool(np.bool_(False)), is_bool(0)
        (True, False)
    """
    return isinstance(value, (bool, np.bool_))


def as_number(value: Any) -> float:
    """``float(value)``, or NaN for what is not a number, so that a range check refuses it
    with its own message.

    Booleans and strings are not numbers here (``float(True)`` is 1.0 and ``float("0.5")``
    is 0.5, but ``tv_weight=True`` or ``"0.5"`` read from an untyped config is a mistake to
    report, not to guess at). The one rule for every number check below.

    Example:
        >>> as_number(np.float32(0.5)), as_number("0.5")
        (0.5, nan)
    """
    if is_bool(value) or isinstance(value, (str, bytes)):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def check_weight(value: Any, name: str) -> float:
    """Returns a finite, non-negative float weight, or raises (booleans too)."""
    try:
        if is_bool(value) or isinstance(value, (str, bytes)):
            raise TypeError
        weight = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a number >= 0 such as 1.0, not a bool or a string. "
            f"Received: {name}={value!r}"
        ) from None
    if not math.isfinite(weight) or weight < 0:
        raise InputError(
            f"{name} must be a finite number >= 0 (use 0 to switch the term off). "
            f"Received: {name}={value!r}"
        )
    return weight


def check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    """Returns ``value`` if it is one of ``choices``, or raises naming them."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise InputError(f"{name} must be one of {valid}. Received: {name}={value!r}")
    return value


def check_flag(value: Any, name: str) -> bool:
    """Returns ``value`` as a ``bool`` if it is ``True`` or ``False`` (numpy's too), or raises.

    Truthiness is not enough: ``"no"``, ``"false"``, ``"0"`` and ``None`` would silently
    switch an option on or off.

    Example:
        >>> check_flag(np.bool_(True), "preserve_color")
        True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(
            f"{name} must be True or False; pass a bool, not a string or a number. "
            f"Received: {name}={value!r}"
        )
    return bool(value)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Returns ``value`` as an int >= ``minimum``, or raises."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


#: Seeds are 31-bit non-negative integers everywhere (recipes, data pipelines, derived seeds).
MAX_SEED = 2**31


def check_positive_float(value: Any, name: str) -> float:
    """Returns a finite float > 0, or raises naming ``name``.

    Example:
        >>> check_positive_float(np.float32(2.5), "multiplier")
        2.5
    """
    number = as_number(value)
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{name} must be a finite number > 0. Received: {name}={value!r}")
    return number


def check_seed(value: Any, name: str = "seed") -> int:
    """Returns ``value`` as an int in ``[0, MAX_SEED)``, or raises."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
        0 <= value < MAX_SEED
    ):
        raise InputError(
            f"{name} must be an integer in [0, 2**31), e.g. 0 or 1234. Received: {name}={value!r}"
        )
    return int(value)


def check_sigma(value: Any, name: str = "sigma") -> float:
    """The standard deviation of a Gaussian blur in pixels: a finite number >= 0 (0: no blur)."""
    sigma = as_number(value)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise InputError(
            f"{name} must be a finite number >= 0 (the Gaussian blur's standard deviation in "
            f"pixels; the paper uses 1.0, 0 disables the blur). Received: {name}={value!r}"
        )
    return sigma


class Unset(str):
    """A ``str`` default whose identity tells "not given" from the same value given.

    ``def f(x: str = DEFAULT)`` with ``DEFAULT = Unset("a")`` shows ``'a'`` in the signature,
    while ``x is DEFAULT`` holds only when the caller left ``x`` out (a literal ``"a"`` is
    another object). For :func:`renamed_argument`.
    """


def renamed_argument(name: str, value: Any, old_name: str, old_value: Any) -> Any:
    """The value of argument ``name``, which may still be given by its deprecated ``old_name``.

    ``old_value`` is ``None`` when the old name was not used; ``value`` is an :class:`Unset`
    default when ``name`` was not. Using the old name warns (``DeprecationWarning``, at the
    caller of the constructor); giving both with different values raises.

    Example:
        >>> renamed_argument("style_distance", Unset("mse"), "distance", None)
        'mse'
    """
    if old_value is None:
        return str(value) if isinstance(value, Unset) else value
    warnings.warn(
        f"{old_name}= is deprecated here; use {name}= (the same values). "
        f"Received: {old_name}={old_value!r}",
        DeprecationWarning,
        stacklevel=3,
    )
    if not isinstance(value, Unset) and value != old_value:
        raise InputError(
            f"{name} and its deprecated alias {old_name} were both given, with different "
            f"values; give only {name}. Received: {name}={value!r}, {old_name}={old_value!r}"
        )
    return old_value


def check_applies(name: str, value: Any, default: Any, chooser: str, chosen: Any,
                  users: Collection) -> None:
    """Refuses ``name=value`` when the choice ``chooser=chosen`` would silently ignore it.

    ``name`` is read only when ``chooser`` is one of ``users``; its ``default`` (what every
    stored config holds when it was not set) is always accepted.

    Example:
        >>> check_applies("epsilon", 0.5, 1e-3, "distance", "l1", ["charbonnier"])
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: epsilon applies only with distance='charbonnier', so it would be ignored with distance='l1'; leave epsilon out or choose that setting. Received: epsilon=0.5
    """
    if value == default or chosen in users:
        return
    valid = " or ".join(f"{chooser}={user!r}" for user in users)
    raise InputError(
        f"{name} applies only with {valid}, so it would be ignored with {chooser}={chosen!r}; "
        f"leave {name} out or choose that setting. Received: {name}={value!r}"
    )


def check_keywords(given: Iterable[str], valid: Collection[str], function: str) -> None:
    """Raises ``TypeError`` for the first keyword in ``given`` that is not in ``valid``,
    naming it and the closest valid one (for functions that take ``**settings``).

    Example:
        >>> check_keywords(["stepz"], ["steps", "seed"], "train")
        Traceback (most recent call last):
        ...
        TypeError: train() got an unexpected keyword argument 'stepz'; did you mean 'steps'?
    """
    for name in given:
        if name not in valid:
            raise TypeError(
                f"{function}() got an unexpected keyword argument {name!r}{_closest(name, valid)}"
            )


def _closest(name: str, valid: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` with the valid name closest to ``name`` ("" for none)."""
    closest = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.5)
    return f"; did you mean {closest[0]!r}?" if closest else ""


def keyword_names(function: Any) -> frozenset[str]:
    """The names ``function`` (a function, or a class for its constructor) takes as
    keyword arguments; ``*args``, ``**kwargs`` and ``self`` are left out."""
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = inspect.signature(function).parameters.values()
    return frozenset(p.name for p in parameters if p.kind in kinds and p.name != "self")


def check_options(options: Mapping[str, Any], name: str, target: Any, *,
                  set_by_caller: Mapping[str, str | None] | Collection[str] = (),
                  extra: Collection[str] = ()) -> None:  # fmt: skip
    """Checks a dict of keyword arguments that is passed on to ``target`` (the recipes'
    ``loss_options``, ``model_options``, ``gan_options``) before anything runs.

    Args:
        options: the dict, e.g. ``{"filters": 16}``.
        name: its argument name, for messages.
        target: the function or class it is passed to.
        set_by_caller: keys the caller sets itself, which ``options`` may not change; as a
            dict, each key's value names the caller's own argument that sets it (``None``:
            none, leave the key out).
        extra: more keys the caller takes from ``options`` itself.

    Raises:
        keras_perceptual.errors.InputError: a key ``target`` does not take (naming the
            closest it does), or one the caller sets (naming the argument to use instead).

    Example:
        >>> from keras_perceptual.models import style_transfer_net
        >>> check_options({"filtrs": 16}, "model_options", style_transfer_net)
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: model_options has 'filtrs', which style_transfer_net does not take; did you mean 'filters'? ... Received: model_options={'filtrs': 16}
    """
    if not isinstance(set_by_caller, Mapping):
        set_by_caller = {key: key for key in set_by_caller}
    valid = keyword_names(target) | frozenset(extra)
    title = getattr(target, "__qualname__", repr(target))
    for key in options:
        if not isinstance(key, str):
            raise InputError(
                f"{name} keys must be argument names (strings) of {title}. "
                f"Received: {name} key {key!r}"
            )
        if key in set_by_caller:
            argument = set_by_caller[key]
            fix = f"pass {argument}= to the recipe instead" if argument else "leave it out"
            raise InputError(
                f"{name} cannot set {key!r}: the recipe sets it itself; {fix}. "
                f"Received: {name}[{key!r}]"
            )
        allowed = valid - set(set_by_caller)
        if key not in allowed:
            hint = _closest(key, allowed) or "."
            raise InputError(
                f"{name} has {key!r}, which {title} does not take{hint} {name} may hold: "
                f"{', '.join(sorted(allowed))}. Received: {name}={dict(options)!r:.200}"
            )


def check_patch_size(patch_size: Any, scale: int, name: str = "patch_size") -> int:
    """A high-resolution patch side that is a positive multiple of the SR ``scale``."""
    patch_size = check_positive_int(patch_size, name)
    if patch_size % scale:
        multiple = max(scale, patch_size - patch_size % scale)
        raise InputError(
            f"{name}={patch_size} is not divisible by scale={scale}; use a multiple of {scale} "
            f"such as {multiple}. Received: {name}={patch_size}"
        )
    return patch_size


def layer_weights(layers: Any, name: str) -> dict[str, float]:
    """Normalizes a ``layers`` argument to an ordered ``{layer_name: weight}`` dict.

    Accepts one name, a sequence of names (weight 1.0 each) or a mapping
    ``{name: weight}``. Raises on empty input, non-string names or bad weights.
    """
    if isinstance(layers, str):
        items = [(layers, 1.0)]
    elif isinstance(layers, Mapping):
        items = list(layers.items())
    elif isinstance(layers, Sequence) or isinstance(layers, np.ndarray):
        items = [(layer, 1.0) for layer in layers]
    else:
        raise InputError(
            f"{name} must be a layer name, a list of names or a dict {{name: weight}}, e.g. "
            f"'relu2_2' or {{'relu2_2': 1.0}}. Received: {name}={layers!r}"
        )
    if not items:
        raise InputError(
            f"{name} is empty; give at least one layer name such as 'relu2_2' "
            f"(pass None to PerceptualLoss to switch a term off). Received: {name}={layers!r}"
        )
    result: dict[str, float] = {}
    for layer, weight in items:
        if not isinstance(layer, str):
            raise InputError(
                f"{name} must hold layer names as strings such as 'relu2_2'. "
                f"Received: {name}={layers!r}"
            )
        result[layer] = check_weight(weight, f"{name}[{layer!r}]")
    return result


def shapes_agree(a: Sequence, b: Sequence) -> bool:
    """Whether two static shapes have one rank and equal sizes wherever both are known.

    A size unknown at trace time (``None``) agrees with any size.

    Example:
        >>> shapes_agree((None, 4, 4, 3), (2, 4, 4, 3)), shapes_agree((2, 4), (2, 5))
        (True, False)
    """
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a, b, strict=True)
    )


def static_image_shape(x: Any, name: str, channels: int | None = 3) -> tuple:
    """Checks that ``x`` is a rank-4 channels-last batch and returns its static shape.

    ``channels=None`` accepts any channel count. Dimensions unknown at trace time
    are returned as ``None`` and not checked.
    """
    shape = tuple(x.shape)
    if len(shape) != 4:
        raise InputError(
            f"{name} must be a rank-4 batch of images (batch, height, width, channels); "
            f"add a batch axis with images[None] for a single image. "
            f"Received: {name}.shape={shape}"
        )
    if channels is not None:
        check_channels(x, name, channels)
    return shape


def check_channels(x: Any, name: str, channels: int = 3) -> None:
    """Refuses a channels-last ``x`` (any rank) whose static last axis is not ``channels``,
    with the conversion for grey and RGBA images; an unknown last axis passes."""
    shape = tuple(x.shape)
    c = shape[-1] if shape else None
    if not shape or (c is not None and c != channels):
        hint = ""
        if c == 1:
            hint = " Convert grayscale with keras.ops.repeat(images, 3, axis=-1)."
        elif c == 4:
            hint = " Drop the alpha channel with images[..., :3]."
        raise InputError(
            f"{name} has {c} channels; expected {channels} (RGB, channels-last).{hint} "
            f"Received: {name}.shape={shape}"
        )


def concrete_values(x: Any) -> np.ndarray | None:
    """``x``'s values as a float64 numpy array where they are known now, else ``None``.

    Known: numbers, lists, numpy arrays, eager tensors, variables outside a traced call.
    Unknown: symbolic tensors (a ``KerasTensor``, a TensorFlow graph being traced, a JAX
    tracer under ``jit``, a variable's value inside a compiled ``predict``/``fit`` step),
    whose values a check cannot read; the caller then checks what it can (the shape).

    Example:
        >>> concrete_values([0.5, 1.0])
        array([0.5, 1. ])
    """
    import keras

    if isinstance(x, keras.KerasTensor):
        return None
    if isinstance(x, keras.Variable):
        x = x.value  # a JAX tracer inside a stateless (jit-compiled) call
    if isinstance(x, (bool, int, float, np.number, np.ndarray, list, tuple)):
        return np.asarray(x, np.float64)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    elif backend == "jax":
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    else:
        return None
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def checked_at_run_time(tensors: tuple, condition, message: str) -> tuple:
    """``tensors``, made to fail with ``message`` where ``condition`` is false at run time.

    For the checks a static shape cannot decide: dimensions that are ``None`` when a
    ``tf.function`` is traced (``fit`` on a dataset of varying image sizes, a
    ``tf.function`` with ``None`` in its input signature). Keras has no assert op, so this
    small helper is backend-dispatched:

    * in a TensorFlow graph, ``condition(*shapes)`` (``shapes``: the ``tf.shape`` of each
      tensor) becomes a ``tf.debugging.Assert`` that the returned tensors depend on: a run
      with a bad shape stops with an ``InvalidArgumentError`` whose text is ``message``
      followed by the shapes;
    * eager tensors (any backend) have concrete shapes, and JAX traces with concrete shapes:
      the static checks the callers make first have already decided, so nothing is added.

    Under XLA (``jit_compile=True``) TensorFlow compiles asserts away; there the static
    checks hold for the shapes known when the function is traced.

    Args:
        tensors: the tensors to return, in order.
        condition: ``condition(*shapes) -> scalar bool tensor`` (TensorFlow ops).
        message: the error, ending with ``Received: <what>.shape=`` (the shapes follow).

    Returns:
        ``tensors`` (the same objects, or graph identities that carry the check).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return tuple(tensors)
    import tensorflow as tf

    if tf.executing_eagerly() or any(isinstance(t, keras.KerasTensor) for t in tensors):
        return tuple(tensors)
    shapes = [tf.shape(t) for t in tensors]
    check = tf.debugging.Assert(condition(*shapes), [message, *shapes], summarize=8)
    with tf.control_dependencies([check]):
        return tuple(tf.identity(t) for t in tensors)


def check_same_shape(first: Any, second: Any, message: str,
                     names: tuple[str, str] = ("y_true", "y_pred"),
                     axes: tuple[slice, slice] = (slice(None), slice(None))) -> tuple:
    """``(first, second)`` once their shapes are checked equal: the one same-shape rule.

    Sizes known when the call is traced are compared at once and a mismatch raises
    :class:`~keras_perceptual.errors.InputError`; sizes that are ``None`` then (a
    ``tf.function`` with ``None`` in its signature, ``fit`` on images of varying sizes)
    are compared when the graph runs (:func:`checked_at_run_time`), so two shapes that
    would broadcast never give a silent answer.

    Args:
        first, second: tensors with a static rank.
        message: what must hold and how to fix it, ending with a space; the error adds
            ``Received: <names[0]>.shape=..., <names[1]>.shape=...``.
        names: how the two are named in the error.
        axes: the parts of the two shapes to compare, e.g. ``(slice(0, -1), slice(0, -1))``
            for all but the channels (default: the whole shapes).

    Returns:
        ``(first, second)`` (graph identities carrying the run-time check where needed).

    Raises:
        InputError: ranks differ, or a size known for both differs.
    """
    first_part, second_part = tuple(first.shape)[axes[0]], tuple(second.shape)[axes[1]]
    if not shapes_agree(first_part, second_part):
        raise InputError(
            f"{message}Received: {names[0]}.shape={tuple(first.shape)}, "
            f"{names[1]}.shape={tuple(second.shape)}"
        )
    if None not in first_part and None not in second_part:
        return first, second
    from keras import ops

    return checked_at_run_time(
        (first, second),
        lambda a, b: ops.all(ops.equal(a[axes[0]], b[axes[1]])),
        f"{message}Received: {names[0]}.shape, {names[1]}.shape=",
    )


def check_one_or_same_batch(first: Any, second: Any, message: str,
                            names: tuple[str, str]) -> tuple:
    """``(first, second)`` once ``first``'s batch is checked to be 1 or ``second``'s.

    For a tensor that is broadcast over a batch or given per image (style images, style
    statistics): static batch sizes are compared at once; where one is ``None`` when a
    TensorFlow graph is traced it is compared when the graph runs
    (:func:`checked_at_run_time`), so a batch of 4 never broadcasts silently against 1.

    Args:
        first, second: tensors with a static rank >= 1.
        message: what must hold and how to fix it, ending with a space; the error adds
            ``Received: <names[0]>.shape=..., <names[1]>.shape=...``.
        names: how the two are named in the error.

    Returns:
        ``(first, second)`` (graph identities carrying the run-time check where needed).

    Raises:
        InputError: both batch sizes are known, and ``first``'s is neither 1 nor ``second``'s.

    Example:
        >>> check_one_or_same_batch(np.zeros((2, 3)), np.zeros((4, 3)), "Bad. ", ("a", "b"))
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: Bad. Received: a.shape=(2, 3), b.shape=(4, 3)
    """
    batch, other = tuple(first.shape)[0], tuple(second.shape)[0]
    if batch is not None and other is not None and batch not in (1, other):
        raise InputError(
            f"{message}Received: {names[0]}.shape={tuple(first.shape)}, "
            f"{names[1]}.shape={tuple(second.shape)}"
        )
    if batch == 1 or (batch is not None and other is not None):
        return first, second
    from keras import ops

    return checked_at_run_time(
        (first, second),
        lambda a, b: ops.logical_or(ops.equal(a[0], 1), ops.equal(a[0], b[0])),
        f"{message}Received: {names[0]}.shape, {names[1]}.shape=",
    )


def check_sample_weight(sample_weight: Any, y_pred: Any, values_rank: int | None = 1, *,
                        batched: bool = True, non_negative: bool = False) -> Any:
    """``sample_weight`` as a tensor, if it is a scalar or holds one weight per sample.

    The one rule of the losses and the metrics: its first axis must be ``y_pred``'s batch
    (checked on static shapes, and in a TensorFlow graph at run time where the batch is
    unknown when traced), and its axes past ``values_rank`` must have size 1 (``None``: not
    checked). Keras would otherwise fail deep in the reduction (TensorFlow's "Incompatible
    shapes"), or broadcast a weight onto the wrong samples. ``batched=False``: ``y_pred`` is
    one unbatched image, whose weight is a scalar or of shape ``(1,)``.

    ``non_negative=True`` (the metrics: a mean weighted by negative or NaN weights means
    nothing) also refuses weights that are negative, NaN or infinite, where their values are
    known (eager calls); inside a compiled step (``fit``, ``evaluate``, ``jit``) they are not
    read, and only the shape is checked.

    Raises:
        InputError: a ``sample_weight`` of another length or shape, or with a bad value.

    Example:
        >>> check_sample_weight([1.0, 2.0], np.zeros((3, 4, 4, 3)))
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: sample_weight must be a scalar or hold one weight per sample: shape (batch,) = (3,), like y_pred's first axis; pass one weight per image, in order. Received: sample_weight.shape=(2,), y_pred.shape=(3, 4, 4, 3)
    """
    import keras

    weight = keras.ops.convert_to_tensor(sample_weight)
    shape = tuple(weight.shape)
    if non_negative:
        values = concrete_values(weight)
        if values is not None and not (np.isfinite(values) & (values >= 0)).all():
            raise InputError(
                "sample_weight must hold finite weights >= 0 (a mean weighted by negative or "
                "NaN weights means nothing); pass 0 to leave an image out. "
                f"Received: sample_weight={values.tolist()}"
            )
    if not shape:
        return weight
    pred_shape = tuple(y_pred.shape) if hasattr(y_pred, "shape") else np.shape(y_pred)
    batch = (pred_shape[:1] or (None,)) if batched else (1,)
    rule = (
        "sample_weight must be a scalar or hold one weight per sample: shape (batch,) = "
        f"{batch}, like y_pred's first axis; pass one weight per image, in order. Received: "
    )
    extra = () if values_rank is None else shape[values_rank:]
    if not shapes_agree(shape[:1], batch) or any(d not in (1, None) for d in extra):
        raise InputError(f"{rule}sample_weight.shape={shape}, y_pred.shape={pred_shape}")
    if batched and (shape[0] is None or batch[0] is None):
        weight, _ = checked_at_run_time(
            (weight, y_pred),
            lambda w, p: keras.ops.equal(w[0], p[0]),
            f"{rule}sample_weight.shape, y_pred.shape=",
        )
    return weight


def dtype_name(x: Any) -> str:
    """The standard name of ``x``'s dtype (``"float32"``, ``"bfloat16"``, ``"uint8"``, ...).

    Works for numpy arrays, backend tensors and variables, and Python lists and numbers.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    name = getattr(dtype, "name", None)
    if not isinstance(name, str):  # TensorFlow DTypes name themselves; numpy dtypes too
        name = str(dtype)
    return name.replace("tf.", "")


#: The floating-point dtypes images may have (all computed in float32).
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def check_float_dtype(x: Any, name: str, value_range: ValueRange | None = None) -> None:
    """Rejects every image dtype but the floating-point ones (integers would be misread).

    A ``uint8`` image read as ``[0, 255]`` floats with ``value_range=(0, 1)`` gives a
    silently wrong number, so integer (and boolean, complex, string) images are refused
    everywhere, with the conversion to make in the message.
    """
    dtype = dtype_name(x)
    if dtype not in FLOAT_DTYPES:
        where = f" in value_range={tuple(value_range)}" if value_range is not None else ""
        raise InputError(
            f"{name} has dtype {dtype}; expected floating-point images{where}. Convert "
            f"first, e.g. images.astype('float32') / 255.0 for uint8 images and "
            f"value_range=(0, 1). Received: {name}.dtype={dtype}"
        )


#: The dtype name prefixes of numbers (what a loss may cast: labels, masks, flows).
NUMERIC_DTYPE_PREFIXES = ("float", "bfloat", "int", "uint", "bool")


def check_numeric_dtype(x: Any, name: str) -> None:
    """Rejects inputs that are not numbers (strings, ``None``, dicts, objects), which the
    backends refuse with a cast error that names neither the argument nor the fix.

    Raises:
        InputError: ``x``'s dtype is not a float, integer or boolean one.

    Example:
        >>> check_numeric_dtype(["a.jpg"], "mask")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: mask must hold numbers (a float, integer or boolean array or tensor); pass the values, not file names or strings. Received: mask of dtype str160 (list)
    """
    try:
        dtype = dtype_name(x)
    except Exception:  # an object numpy cannot even hold
        dtype = "object"
    if not dtype.startswith(NUMERIC_DTYPE_PREFIXES):
        raise InputError(
            f"{name} must hold numbers (a float, integer or boolean array or tensor); pass the "
            f"values, not file names or strings. Received: {name} of dtype {dtype} "
            f"({type(x).__name__})"
        )


def check_float_policy(dtype: Any, owner: str) -> None:
    """Refuses a ``dtype=`` (a dtype or a Keras dtype policy) that does not compute in floats.

    Keras accepts ``dtype="int32"`` for a loss or metric and then truncates every value it
    computes (a PSNR of 7.75 dB reads 7.0), or fails deep inside an op; the package's
    losses and metrics compute in floating point only.

    Args:
        dtype: the ``dtype`` argument as given (``None``: Keras' ``floatx()``, accepted).
        owner: the class refusing it, for the message.

    Raises:
        InputError: a dtype or policy that is unknown or not floating-point.

    Example:
        >>> check_float_policy("mixed_bfloat16", "PSNR")  # accepted: computes in bfloat16
    """
    if dtype is None:
        return
    import keras

    try:
        compute_dtype = keras.dtype_policies.get(dtype).compute_dtype
    except (TypeError, ValueError):
        compute_dtype = None
    if compute_dtype not in FLOAT_DTYPES:
        raise InputError(
            f"{owner} computes in its dtype, which must be floating-point: one of "
            f"{', '.join(map(repr, FLOAT_DTYPES))} or a mixed policy such as "
            "'mixed_float16'; integer dtypes would truncate every value. Pass dtype=None "
            f"(float32) or 'float32'. Received: dtype={dtype!r}"
        )


def check_path(value: Any, name: str, example: str = "photo.jpg") -> str:
    """Returns ``os.fspath(value)`` for a ``str`` or ``os.PathLike`` path, or raises.

    ``None``, numbers and bytes are not paths: ``os.fspath`` would raise a bare
    ``TypeError`` (and ``open(3)`` would silently read file descriptor 3).

    Example:
        >>> check_path(os.path.join("photos", "a.jpg"), "path")
        'photos/a.jpg'
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    raise InputError(
        f"{name} must be a file or folder path (a str or pathlib.Path) such as {example!r}. "
        f"Received: {name}={value!r:.100}"
    )


def check_input_file(path: str, described: str, fix: str, received: str) -> None:
    """Raises unless ``path`` is an existing file, saying whether it is missing or a folder.

    A folder where a file is expected is a common slip (the folder of the photos given as
    the style image); "does not exist" would send the user looking for a typo.

    Args:
        path: the path, already checked as one (:func:`check_path`).
        described: what the file is, as the message starts, e.g. ``"weights file"``.
        fix: what to pass instead, e.g. ``"pass the path of an existing image file"``.
        received: the ``Received:`` part, e.g. ``"weights='x.h5'"``.

    Raises:
        InputError: ``path`` is a folder or does not exist.

    Example:
        >>> check_input_file(os.curdir, "style image", "pass an image file", "style_image='.'")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: style image '.' is a folder, not a file; pass an image file. Received: style_image='.'
    """
    if os.path.isfile(path):
        return
    if os.path.isdir(path):
        state = "is a folder, not a file"
    elif os.path.islink(path):
        state = f"is a broken symbolic link (to {os.readlink(path)!r})"
    else:
        state = "does not exist"
    raise InputError(
        f"{described} {path!r} {state}; {fix}.{unexpanded_home_hint(path)} Received: {received}"
    )


def check_output_file(value: Any, name: str, example: str) -> str:
    """Returns the path of a file to write, after checking that it can be one: a path
    (:func:`check_path`), not an existing folder, in a folder that exists.

    Example:
        >>> check_output_file("stylized.png", "path", "stylized.png")
        'stylized.png'
    """
    path = check_path(value, name, example)
    if os.path.isdir(path):
        raise InputError(
            f"{name} {path!r} is a folder; pass a file name such as "
            f"{os.path.join(path, example)!r}. Received: {name}={path!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(
            f"the folder of {name} does not exist; create {folder!r} first (os.makedirs) or "
            f"write elsewhere. Received: {name}={path!r}"
        )
    return path


def check_finite_float(value: Any, name: str, unit: str = "", minimum: float | None = None) -> float:
    """Returns ``value`` as a finite float (any sign, or ``>= minimum``), or raises (booleans
    and strings too).

    Example:
        >>> check_finite_float(np.float32(-2.5), "rotation", "degrees")
        -2.5
    """
    number = as_number(value)
    what = f" ({unit})" if unit else ""
    if not math.isfinite(number):  # booleans and strings too (as_number)
        raise InputError(
            f"{name} must be a finite number{what}, not a bool, a string or None. "
            f"Received: {name}={value!r}"
        )
    if minimum is not None and number < minimum:
        raise InputError(f"{name} must be a number >= {minimum}{what}. Received: {name}={value!r}")
    return number


def check_non_negative_values(x: Any, name: str, message: str) -> None:
    """Refuses ``x`` if one of its entries is negative, where its values are known now.

    For tensors a negative entry makes meaningless (probabilities, visibility masks, blend
    weights). Numbers, lists, numpy arrays and eager tensors are read
    (:func:`concrete_values`); symbolic ones (a TensorFlow graph being traced, a JAX tracer
    under ``jit``, a ``KerasTensor``) are not, so a compiled step is neither slowed nor
    broken: there only the shapes are checked, as :func:`check_sample_weight` does for the
    metrics' weights. NaN is not negative and passes (the losses carry it to a NaN value).

    Args:
        x: the tensor.
        name: its argument name, for the message.
        message: what must hold and how to fix it, ending with a space; the error adds
            ``Received: <name>.min()=...``.

    Raises:
        InputError: ``x``'s values are known and one is negative.

    Example:
        >>> check_non_negative_values([0.5, -0.25], "p", "p must hold probabilities >= 0. ")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: p must hold probabilities >= 0. Received: p.min()=-0.25
    """
    try:
        values = concrete_values(x)
    except (TypeError, ValueError):  # not numbers (strings): the caller's conversion says so
        return
    if values is None:
        return
    negative = values[values < 0]
    if negative.size:
        raise InputError(f"{message}Received: {name}.min()={float(negative.min())!r}")


CONVEX_TOLERANCE = 1e-3
"""How far from 1 a row of blend weights may sum (rounding of user-typed fractions)."""


def check_convex_weights(x: Any, name: str, message: str) -> None:
    """Refuses blend weights whose rows (last axis) are not convex: an entry < 0, or a row
    whose sum is off 1 by more than :data:`CONVEX_TOLERANCE`, where the values are known.

    The one rule for style blends (Dumoulin et al. 2017, Fig. 7): a one-hot row selects a
    style, a convex row interpolates the styles' parameters or statistics; anything else
    would silently give a style outside their blends (a row of 2s doubles every Gram
    matrix). As :func:`check_non_negative_values`, symbolic tensors pass unread.

    Args:
        x: ``(N,)`` or ``(batch, N)`` weights.
        name: its argument name, for the message.
        message: what must hold and how to fix it, ending with a space; the error adds the
            received values or row sums.

    Raises:
        InputError: ``x``'s values are known and a row is not convex.

    Example:
        >>> check_convex_weights([0.5, 0.25], "style_weights", "Rows must sum to 1. ")
        Traceback (most recent call last):
        ...
        keras_perceptual.errors.InputError: Rows must sum to 1. Received: style_weights=[0.5, 0.25] (sum 0.75)
    """
    check_non_negative_values(x, name, message)
    try:
        values = concrete_values(x)
    except (TypeError, ValueError):
        return
    if values is None or values.ndim == 0:
        return
    sums = values.sum(axis=-1)
    if np.all(np.abs(sums - 1.0) <= CONVEX_TOLERANCE):
        return
    if values.ndim == 1:
        shown = [float(w) for w in values]
        raise InputError(f"{message}Received: {name}={shown} (sum {float(sums):.4g})")
    raise InputError(
        f"{message}Received: {name}.sum(axis=-1)={np.round(sums, 4).reshape(-1).tolist()[:8]}"
    )


def unexpanded_home_hint(path: str) -> str:
    """A sentence for "does not exist" messages when ``path`` starts with ``~``, which
    Python's file functions do not expand (a shell does), else ``""``.

    Example:
        >>> unexpanded_home_hint("~/photos")
        " Python does not expand '~': pass os.path.expanduser('~/photos')."
    """
    if path.startswith("~") and not os.path.exists(path):
        return f" Python does not expand '~': pass os.path.expanduser({path!r})."
    return ""


def check_writable_folder(folder: str, name: str, value: Any, example: str) -> str:
    """Creates ``folder`` (and its parents) if missing and checks that a file can be written
    in it, before any long work starts; returns it.

    A parent that is a file, a folder without write permission or on a read-only file
    system, and a path the system refuses otherwise are one :class:`InputError` naming the
    path and the reason (``os.makedirs`` and ``open`` raise ``FileExistsError``, which reads
    as "the output exists", or ``NotADirectoryError`` / ``PermissionError`` about a
    temporary name the caller never gave).

    Args:
        folder: the folder that will hold the output.
        name: the argument's name, for the message.
        value: the argument as given, for the message.
        example: a writable alternative to suggest.

    Raises:
        InputError: the folder cannot be created or written.

    Example:
        >>> check_writable_folder("exports", "path", "exports/m.onnx", "exports/m.onnx")
        'exports'
    """
    import tempfile

    head = os.path.abspath(folder)
    while not os.path.lexists(head) and os.path.dirname(head) != head:
        head = os.path.dirname(head)
    if os.path.lexists(head) and not os.path.isdir(head):
        raise InputError(
            f"{name} cannot be written: {head!r} is a file, not a folder, so nothing can be "
            f"created under it; choose another location, e.g. {example!r}. "
            f"Received: {name}={value!r}"
        )
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(
            f"{name} cannot be written: {folder!r} is not a folder this process can write to "
            f"({error.strerror or error}); choose a writable location, e.g. {example!r}. "
            f"Received: {name}={value!r}"
        ) from None
    return folder


def per_sample_weight(weight: Any, values_rank: int | None) -> Any:
    """A ``sample_weight`` checked by :func:`check_sample_weight`, shaped as the values.

    Keras lines a weight up with the values only where their ranks differ by one: a weight
    ``(batch, 1, 1)`` or ``(batch, 1, 1, 1)`` (one weight per image, shaped to broadcast
    against the images) multiplied ``(batch,)`` values into ``(batch, 1, batch)`` (every
    value weighted by every image's weight: a silently wrong reduced loss, a ``(batch, 1,
    batch)`` result with ``reduction=None``) or failed in the backend (the metrics); a
    ``(batch,)`` weight against ``(batch, H, W)`` values (spatial maps, per-position
    divergences) was broadcast onto the last axis. Here a weight holding one value per
    sample (every axis after the first of size 1) becomes ``(batch,)`` followed by size-1
    axes up to ``values_rank``, and the size-1 axes past ``values_rank`` of any other
    weight are dropped; other weights (one per position of spatial values) are returned as
    they are. A reshape only: nothing is checked, no work is added to a compiled step.

    Args:
        weight: the checked weight (a tensor; a scalar is returned as it is).
        values_rank: the rank of the values it weights (``(batch,)``: 1); ``None``: the
            weight is returned as it is.

    Example:
        >>> tuple(per_sample_weight(np.ones((2, 1, 1, 1)), 1).shape)
        (2,)
    """
    import keras

    shape = tuple(weight.shape)
    rank = len(shape)
    if values_rank is None or rank == 0 or rank == values_rank:
        return weight
    if all(d == 1 for d in shape[1:]):
        if rank > 1:
            weight = keras.ops.squeeze(weight, axis=tuple(range(1, rank)))
        for _ in range(values_rank - 1):
            weight = keras.ops.expand_dims(weight, -1)
        return weight
    if rank > values_rank:
        return keras.ops.squeeze(weight, axis=tuple(range(values_rank, rank)))
    return weight


def shortened(text: str, limit: int = 200) -> str:
    """``text`` on one line and cut to about ``limit`` characters, never inside a word.

    For quoting another library's error inside a message: the sentences that fit whole
    when they fill at least half of ``limit``, otherwise the words that fit and ``...``
    (a single first word longer than ``limit`` is kept whole up to ``4 * limit``
    characters: a longer blob without spaces, e.g. base64, is cut there).

    Example:
        >>> shortened("Got: ConnectError. We cannot find the snapshot folder for the "
        ...           "specified revision.", 40)
        'Got: ConnectError. We cannot find the ...'
    """
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    sentence = head.rfind(". ")
    if sentence >= limit // 2:
        return head[: sentence + 1]
    space = head.rfind(" ")
    if space <= 0:  # one long first word: kept whole up to 4 times the limit, then cut
        space = text.find(" ", limit)
        if space < 0 or space > 4 * limit:
            return text if len(text) <= 4 * limit else text[: 4 * limit] + " ..."
    return text[:space] + " ..."
