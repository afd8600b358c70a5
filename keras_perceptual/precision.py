"""Precision by capability: which float formats run natively on the device in use.

Low precision is only faster where the hardware computes it: bfloat16 convolutions run
about twice as fast as float32 on CPUs with bfloat16 dot-product units (AVX512-BF16,
AMX) and on recent GPUs, but several times *slower* on CPUs without them (AVX2 and plain
AVX-512 CPUs), where oneDNN and XLA emulate them through float32. This module finds out
which case applies, once per process:

* **CPUs**: the instruction-set flags (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS):
  ``avx512_bf16`` / ``amx_bf16`` give native bfloat16, ``avx512_fp16`` / ``amx_fp16`` native
  float16. ``ONEDNN_MAX_CPU_ISA`` (which caps the instruction set oneDNN, the CPU kernels
  of TensorFlow and PyTorch, may use) is honoured, and so is ``TF_ENABLE_ONEDNN_OPTS=0``
  (TensorFlow's Eigen kernels, which emulate 16-bit formats). Where the hardware has the
  units but the backend's kernels are not known to use them (JAX's XLA:CPU, ARM CPUs),
  a one-off micro-benchmark (a 3x3 convolution in float32 and in the 16-bit format)
  decides, and its result is cached per machine in ``$KERAS_HOME/keras_perceptual/``.
* **GPUs** by compute capability: bfloat16 from 8.0 (Ampere), float16 tensor cores from
  7.0 (Volta); **TPUs**: bfloat16.

:func:`resolve_precision` turns ``"auto"`` into the faster choice for the machine, and
:func:`warn_if_emulated` warns once, with the fix, when a 16-bit format is requested where
it is emulated. ``"auto"`` is accepted by the losses' ``backbone_dtype``, the training
recipes' ``precision`` and the inference helpers' ``precision``.

Example:
    >>> from keras_perceptual.precision import device_capabilities, resolve_precision
    >>> device_capabilities().cpu_class          # doctest: +SKIP
    'AVX2'
    >>> resolve_precision("auto")                # float32 on an AVX2 CPU  # doctest: +SKIP
    'float32'
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any

import keras

from keras_perceptual._checks import check_choice
from keras_perceptual._onednn import ONEDNN_VARIABLE, onednn_enabled
from keras_perceptual.errors import InputError

#: Precisions of a training run or an inference call (Keras dtype-policy names).
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

#: Compute dtypes of a loss network (:class:`~keras_perceptual.backbones.FeatureExtractor`).
BACKBONE_DTYPES = ("auto", "float32", "mixed_bfloat16", "mixed_float16", "bfloat16", "float16")

#: The CPU classes, slowest first (the label benchmarks and messages print).
CPU_CLASSES = ("SSE", "AVX", "AVX2", "AVX-512", "AVX512-BF16", "AMX")

#: oneDNN's ``ONEDNN_MAX_CPU_ISA`` values (and their older aliases), lowest first, with the
#: CPU class each allows at most.
ONEDNN_ISA_CLASSES = {
    "SSE41": "SSE",
    "AVX": "AVX",
    "AVX2": "AVX2",
    "AVX2_VNNI": "AVX2",
    "AVX2_VNNI_2": "AVX2",
    "AVX512_CORE": "AVX-512",
    "AVX512_CORE_VNNI": "AVX-512",
    "AVX512_CORE_BF16": "AVX512-BF16",
    "AVX10_1_512": "AVX512-BF16",
    "AVX512_CORE_FP16": "AVX512-BF16",
    "AVX10_1_512_AMX": "AMX",
    "AVX512_CORE_AMX": "AMX",
    "AVX10_1_512_AMX_FP16": "AMX",
    "AVX512_CORE_AMX_FP16": "AMX",
    "DEFAULT": "AMX",
    "ALL": "AMX",
}

#: The CPU flags that matter for speed (printed by benchmarks and messages).
SPEED_FLAGS = (
    "sse4_1", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16", "avx_vnni", "avx_ne_convert",
    "asimd", "asimdhp", "sve", "bf16", "i8mm",
)  # fmt: skip

#: Slowdown of emulated bfloat16 measured here (the loss network, forward + backward,
#: ``benchmarks/bench_loss.py``, AMD EPYC with AVX2 + FMA): bf16 time / float32 time.
EMULATED_SLOWDOWN = "3-8x"

_LOW = {"bfloat16": "bfloat16", "float16": "float16"}


class PrecisionWarning(UserWarning):
    """A 16-bit format was requested where the device emulates it (slower than float32)."""


# --------------------------------------------------------------------------------------
# CPU flags and class
# --------------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    try:
        result = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags, lower case (Linux and macOS; empty elsewhere).

    Returns:
        A frozenset such as ``{"avx2", "fma", "avx512_bf16", ...}`` (x86: the names of
        ``/proc/cpuinfo``; ARM: its ``Features`` names, e.g. ``"bf16"``, ``"asimdhp"``).

    Example:
        >>> "avx2" in cpu_flags()  # doctest: +SKIP
        True
    """
    text = _read_text("/proc/cpuinfo")
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    if sys.platform == "darwin":
        names = " ".join(
            _sysctl(n) for n in ("machdep.cpu.features", "machdep.cpu.leaf7_features")
        ).lower()
        flags = {n.replace(".", "_") for n in names.split()}
        # Apple silicon answers hw.optional.arm.FEAT_* instead.
        if _sysctl("hw.optional.arm.FEAT_BF16") == "1":
            flags.add("bf16")
        if _sysctl("hw.optional.arm.FEAT_FP16") == "1":
            flags.add("asimdhp")
        if platform.machine() == "arm64":
            flags.add("asimd")
        return frozenset(flags)
    return frozenset()


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``, ``sysctl`` or ``platform.processor()``)."""
    for line in _read_text("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    if sys.platform == "darwin":
        name = _sysctl("machdep.cpu.brand_string")
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown CPU"


def onednn_isa_cap() -> str | None:
    """``ONEDNN_MAX_CPU_ISA`` (upper case) when set to a known value, else ``None``."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if not value:
        return None
    value = value.strip().upper()
    return value if value in ONEDNN_ISA_CLASSES else None


def cpu_class(flags: Iterable[str] | None = None, isa_cap: str | None = None) -> str:
    """The CPU's class for speed: ``"AMX"``, ``"AVX512-BF16"``, ``"AVX-512"``, ``"AVX2"``,
    ``"AVX"`` or ``"SSE"`` on x86 (capped by ``isa_cap``, an ``ONEDNN_MAX_CPU_ISA`` value);
    ``"ARM"``, ``"ARM-BF16"`` on ARM; ``"unknown"`` when no flags could be read.

    Args:
        flags: CPU flags (default: :func:`cpu_flags`): an iterable of names, or one string
            of whitespace-separated names as ``/proc/cpuinfo``'s ``flags`` line writes them.
        isa_cap: an ``ONEDNN_MAX_CPU_ISA`` value, one of :data:`ONEDNN_ISA_CLASSES` in any
            case (default: none, the hardware's class).

    Returns:
        The class label.

    Raises:
        InputError: ``isa_cap`` is not a value oneDNN knows.

    Example:
        >>> cpu_class({"avx", "avx2", "fma"})
        'AVX2'
        >>> cpu_class({"avx2", "avx512f", "avx512_bf16"}, isa_cap="AVX2")
        'AVX2'
    """
    if isinstance(flags, str):  # a flags line; iterating it would give its letters
        flags = flags.lower().split()
    flags = cpu_flags() if flags is None else frozenset(flags)
    if isa_cap is not None:
        if not isinstance(isa_cap, str) or isa_cap.strip().upper() not in ONEDNN_ISA_CLASSES:
            raise InputError(
                "isa_cap must be an ONEDNN_MAX_CPU_ISA value, one of "
                f"{', '.join(ONEDNN_ISA_CLASSES)} (any case), or None for no cap. "
                f"Received: isa_cap={isa_cap!r}"
            )
        isa_cap = isa_cap.strip().upper()
    if not flags:
        return "unknown"
    if "asimd" in flags or "neon" in flags or "sve" in flags:
        return "ARM-BF16" if "bf16" in flags else "ARM"
    if "amx_bf16" in flags or "amx_tile" in flags:
        found = "AMX"
    elif "avx512_bf16" in flags:
        found = "AVX512-BF16"
    elif "avx512f" in flags:
        found = "AVX-512"
    elif "avx2" in flags:
        found = "AVX2"
    elif "avx" in flags:
        found = "AVX"
    else:
        found = "SSE"
    if isa_cap is not None:
        cap = ONEDNN_ISA_CLASSES[isa_cap]
        found = CPU_CLASSES[min(CPU_CLASSES.index(found), CPU_CLASSES.index(cap))]
    return found


# --------------------------------------------------------------------------------------
# The capability probe
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeviceCapabilities:
    """What the device in use computes natively.

    Attributes:
        device: ``"cpu"``, ``"gpu"`` or ``"tpu"``.
        name: the device's name (CPU model, GPU name).
        backend: the Keras backend the answer is for.
        bfloat16: bfloat16 convolutions/matmuls run natively (faster than float32).
        float16: float16 convolutions/matmuls run natively.
        cpu_class: the CPU class (:func:`cpu_class`, after ``ONEDNN_MAX_CPU_ISA``), or
            ``None`` on accelerators.
        flags: the CPU flags of :data:`SPEED_FLAGS` present (empty on accelerators).
        reason: how the answer was reached, in words (flags, compute capability, a
            measurement).
    """

    device: str
    name: str
    backend: str
    bfloat16: bool
    float16: bool
    cpu_class: str | None = None
    flags: tuple[str, ...] = ()
    reason: str = ""

    def native(self, dtype: str) -> bool:
        """Whether ``dtype`` (a dtype or policy name) runs natively; float32 always does."""
        low = low_dtype(dtype)
        return True if low is None else bool(getattr(self, low))

    def describe(self) -> str:
        """One line: device, class, flags and the answer (benchmarks print it)."""
        kind = f"{self.cpu_class} CPU" if self.device == "cpu" else self.device.upper()
        natives = [d for d in ("bfloat16", "float16") if getattr(self, d)] or ["none"]
        flags = f"; flags: {' '.join(self.flags)}" if self.flags else ""
        return (f"{self.name} ({kind}, {self.backend}); native 16-bit: {', '.join(natives)}"
                f"{flags}; {self.reason}")  # fmt: skip


def low_dtype(dtype: Any) -> str | None:
    """``"bfloat16"``/``"float16"`` for a 16-bit dtype or policy, else ``None``.

    Args:
        dtype: a dtype or policy name, or an object with one in ``.name``: a
            ``keras.DTypePolicy`` (``model.dtype_policy``), a NumPy or TensorFlow dtype.

    Example:
        >>> low_dtype("mixed_bfloat16"), low_dtype("float16"), low_dtype("float32")
        ('bfloat16', 'float16', None)
        >>> low_dtype(keras.DTypePolicy("mixed_float16"))
        'float16'
    """
    if not isinstance(dtype, str):
        dtype = getattr(dtype, "name", None)
    if not isinstance(dtype, str):
        return None
    return _LOW.get(dtype.removeprefix("mixed_"))


def _accelerator() -> tuple[str, str, Any] | None:
    """``(kind, name, compute capability or None)`` of the backend's first accelerator."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            capability = details.get("compute_capability")
            return "gpu", details.get("device_name", "GPU"), capability
        if tf.config.list_logical_devices("TPU"):
            return "tpu", "TPU", None
        return None
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform in ("gpu", "cuda", "rocm"):
            capability = getattr(device, "compute_capability", None)
            if isinstance(capability, str) and capability:
                capability = tuple(int(p) for p in capability.split(".")[:2])
            if device.platform == "rocm":
                capability = (9, 0)  # CDNA matrix cores: bfloat16 and float16
            return "gpu", getattr(device, "device_kind", "GPU"), capability
        if device.platform == "tpu":
            return "tpu", getattr(device, "device_kind", "TPU"), None
        return None
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)
        return None
    return None


def _gpu_capabilities(name: str, capability: Any, backend: str) -> DeviceCapabilities:
    if capability is None:
        return DeviceCapabilities("gpu", name, backend, False, False,
                                  reason="compute capability unknown: 16-bit not assumed")  # fmt: skip
    major, minor = (int(c) for c in tuple(capability)[:2])
    return DeviceCapabilities(
        "gpu", name, backend, bfloat16=major >= 8, float16=major >= 7,
        reason=f"compute capability {major}.{minor} (bfloat16 from 8.0, float16 tensor cores "
        "from 7.0)",
    )  # fmt: skip


def _onednn_in_use(backend: str) -> bool:
    """Whether the backend's CPU convolutions run through oneDNN (TensorFlow with its
    oneDNN optimizations on, the default on x86 Linux; PyTorch)."""
    if backend == "tensorflow":
        enabled = onednn_enabled()
        if enabled is not None:
            return enabled
        return os.environ.get(ONEDNN_VARIABLE, "1").strip().lower() not in ("0", "false")
    return backend == "torch"


def _cpu_capabilities(backend: str) -> DeviceCapabilities:
    flags = cpu_flags()
    cap = onednn_isa_cap()
    kind = cpu_class(flags, cap)
    shown = tuple(f for f in SPEED_FLAGS if f in flags)
    name = cpu_name()
    capped = f" (ONEDNN_MAX_CPU_ISA={cap})" if cap else ""
    units = {
        "bfloat16": kind in ("AVX512-BF16", "AMX", "ARM-BF16"),
        "float16": bool({"avx512_fp16", "amx_fp16"} & flags) and kind in ("AVX512-BF16", "AMX"),
    }
    if kind == "unknown":
        return DeviceCapabilities("cpu", name, backend, False, False, kind, shown,
                                  "CPU flags unreadable: 16-bit formats not assumed native")  # fmt: skip
    if not any(units.values()):
        return DeviceCapabilities(
            "cpu", name, backend, False, False, kind, shown,
            f"CPU flags{capped}: no bfloat16/float16 units (avx512_bf16, amx_bf16, avx512_fp16)",
        )  # fmt: skip
    if _onednn_in_use(backend) and kind != "ARM-BF16":
        return DeviceCapabilities(
            "cpu", name, backend, units["bfloat16"], units["float16"], kind, shown,
            f"CPU flags{capped} and oneDNN kernels",
        )  # fmt: skip
    if backend == "tensorflow" and kind != "ARM-BF16":
        return DeviceCapabilities(
            "cpu", name, backend, False, False, kind, shown,
            "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0): TensorFlow's Eigen kernels emulate 16-bit formats",
        )  # fmt: skip
    # The hardware has the units; whether this backend's kernels use them is measured.
    measured = {d: units[d] and measured_speedup(d) > 1.1 for d in units}
    figures = ", ".join(f"{d} {measured_speedup(d):.2f}x" for d in units if units[d])
    return DeviceCapabilities(
        "cpu", name, backend, measured["bfloat16"], measured["float16"], kind, shown,
        f"CPU flags{capped}; {backend} kernels measured (speed vs float32: {figures})",
    )  # fmt: skip


@functools.cache
def _probe(backend: str) -> DeviceCapabilities:
    accelerator = _accelerator()
    if accelerator is None:
        return _cpu_capabilities(backend)
    kind, name, capability = accelerator
    if kind == "tpu":
        return DeviceCapabilities("tpu", name, backend, True, False, reason="TPU: bfloat16 MXU")
    return _gpu_capabilities(name, capability, backend)


def device_capabilities() -> DeviceCapabilities:
    """What the device the Keras backend computes on runs natively (probed once a process).

    Returns:
        A :class:`DeviceCapabilities`.

    Example:
        >>> caps = device_capabilities()
        >>> caps.native("mixed_bfloat16")  # False on an AVX2 CPU  # doctest: +SKIP
        False
    """
    return _probe(keras.backend.backend())


# --------------------------------------------------------------------------------------
# The micro-benchmark (only where flags cannot tell)
# --------------------------------------------------------------------------------------


def probe_cache_path() -> str:
    """Where :func:`measured_speedup` keeps its results (``$KERAS_HOME/keras_perceptual``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "keras_perceptual", "precision_probe.json")


def _probe_key(dtype: str) -> str:
    parts = [keras.backend.backend(), keras.__version__, cpu_name(), ",".join(sorted(cpu_flags())),
             os.environ.get("ONEDNN_MAX_CPU_ISA", ""), dtype]  # fmt: skip
    try:
        module = {"tensorflow": "tensorflow", "jax": "jaxlib", "torch": "torch"}.get(parts[0])
        parts.append(__import__(module).__version__ if module else "")
    except Exception:  # noqa: BLE001 - the version only refines the cache key
        pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _time_conv(dtype: str, repeats: int = 5) -> float:
    rng = keras.random.SeedGenerator(0)
    x = keras.ops.cast(keras.random.uniform((4, 64, 64, 64), seed=rng), dtype)
    k = keras.ops.cast(keras.random.uniform((3, 3, 64, 64), seed=rng) * 0.1, dtype)
    keras.ops.convert_to_numpy(keras.ops.conv(x, k, padding="same"))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.conv(x, k, padding="same"))
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@functools.cache
def measured_speedup(dtype: str) -> float:
    """Speed of a 3x3 convolution in ``dtype`` relative to float32 on this backend and CPU.

    Measured once per machine (about a second) and cached in :func:`probe_cache_path`;
    only consulted where the CPU has 16-bit units but the backend's kernels are not known
    to use them.

    Args:
        dtype: ``"bfloat16"`` or ``"float16"``.

    Returns:
        float32 time / ``dtype`` time (above 1: ``dtype`` is faster).
    """
    dtype = check_choice(dtype, ("bfloat16", "float16"), "dtype")
    path, key = probe_cache_path(), _probe_key(dtype)
    try:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), (int, float)):
        return float(cached[key])
    speedup = _time_conv("float32") / _time_conv(dtype)
    cached = cached if isinstance(cached, dict) else {}
    cached[key] = speedup
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(cached, f)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home: measured again next process, nothing is lost
    return speedup


# --------------------------------------------------------------------------------------
# "auto" and the warning
# --------------------------------------------------------------------------------------


def check_precision(precision: Any, name: str = "precision",
                    choices: tuple[str, ...] = PRECISIONS) -> str:  # fmt: skip
    """Returns ``precision`` if it is one of ``choices`` (default :data:`PRECISIONS`), or raises.

    Raises:
        InputError: another value.
    """
    return check_choice(precision, choices, name)


def resolve_precision(precision: str = "auto", *, name: str = "precision",
                      global_policy: bool = False) -> str:  # fmt: skip
    """The precision to run with: ``"auto"`` becomes the fastest native choice.

    ``"auto"``: ``"mixed_bfloat16"`` where bfloat16 is native (CPUs with AVX512-BF16 or
    AMX, GPUs of compute capability 8.0 and later, TPUs); ``"mixed_float16"`` on GPUs with
    float16 tensor cores but no bfloat16 (compute capability 7.x); ``"float32"`` elsewhere
    (AVX2 and AVX-512 CPUs without bfloat16 units, where 16-bit formats are emulated and
    slower). Any other value is returned as given (after the check).

    Args:
        precision: one of :data:`PRECISIONS`.
        name: the argument's name, for messages.
        global_policy: ``"auto"`` first keeps the global Keras dtype policy when the user
            set one other than float32 (``keras.config.set_dtype_policy``), as the
            training recipes do.

    Returns:
        ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"`` (or, with
        ``global_policy``, the global policy's name).

    Raises:
        InputError: ``precision`` is not one of :data:`PRECISIONS`.

    Example:
        >>> resolve_precision("float32")
        'float32'
    """
    precision = check_precision(precision, name)
    if precision != "auto":
        return precision
    if global_policy and keras.config.dtype_policy().name != "float32":
        return keras.config.dtype_policy().name
    caps = device_capabilities()
    if caps.bfloat16:
        return "mixed_bfloat16"
    if caps.float16 and caps.device == "gpu":
        return "mixed_float16"
    return "float32"


def resolve_backbone_dtype(dtype: Any, name: str = "backbone_dtype") -> str:
    """A loss network's compute dtype: ``"auto"`` becomes ``"bfloat16"`` where bfloat16 is
    native (the loss network is frozen: its weights may be stored in bfloat16), else
    ``"float32"``; ``None`` means ``"float32"``; other values are checked and returned.

    Raises:
        InputError: not one of :data:`BACKBONE_DTYPES`.

    Example:
        >>> resolve_backbone_dtype(None)
        'float32'
    """
    if dtype is None:
        return "float32"
    dtype = check_choice(dtype, BACKBONE_DTYPES, name)
    if dtype != "auto":
        return dtype
    return "bfloat16" if device_capabilities().bfloat16 else "float32"


def backbone_dtype_for(precision: str) -> str:
    """The loss network's dtype under a run's ``precision``: bfloat16 weights and compute
    under ``"mixed_bfloat16"`` (the loss network is frozen), ``"mixed_float16"`` under
    ``"mixed_float16"``, float32 otherwise.

    Example:
        >>> backbone_dtype_for("mixed_bfloat16"), backbone_dtype_for("float32")
        ('bfloat16', 'float32')
    """
    return {"mixed_bfloat16": "bfloat16", "mixed_float16": "mixed_float16"}.get(
        precision, "float32"
    )


_warned: set = set()


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside keras_perceptual and Keras (the
    user's line, whatever the depth of the call inside the library)."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("keras_perceptual", "keras")):
            return level
        frame, level = frame.f_back, level + 1
    return 2


def warn_if_emulated(dtype: str, what: str, fix: str) -> bool:
    """Warns once per process and 16-bit format when ``dtype`` is one the device emulates,
    saying what asked for it, the expected slowdown and ``fix``.

    Args:
        dtype: the dtype or policy name requested.
        what: what computes in it (e.g. ``"the loss network (backbone_dtype='bfloat16')"``).
        fix: how to avoid the slowdown (e.g. ``"use backbone_dtype='auto' or 'float32'"``).

    The warning points at the first line outside the library (the user's call).

    Returns:
        Whether ``dtype`` is emulated (warned now or before).

    Example:
        >>> warn_if_emulated("float32", "the network", "nothing")
        False
    """
    low = low_dtype(dtype)
    if low is None:
        return False
    caps = device_capabilities()
    if caps.native(low):
        return False
    if low not in _warned:
        _warned.add(low)
        where = (f"this {caps.cpu_class} CPU ({caps.name})" if caps.device == "cpu"
                 else f"this {caps.device.upper()} ({caps.name})")  # fmt: skip
        slowdown = (f"expect about {EMULATED_SLOWDOWN} slower convolutions than float32 (measured "
                    "on an AVX2 CPU)" if caps.device == "cpu"
                    else "expect no speed-up over float32")  # fmt: skip
        warnings.warn(
            f"{what} computes in {low}, which {where} does not run natively ({caps.reason}), "
            f"so it is emulated: {slowdown}. To fix it, {fix}.",
            PrecisionWarning,
            stacklevel=_user_stacklevel(),
        )
    return True


__all__ = [
    "BACKBONE_DTYPES",
    "CPU_CLASSES",
    "EMULATED_SLOWDOWN",
    "ONEDNN_ISA_CLASSES",
    "PRECISIONS",
    "SPEED_FLAGS",
    "DeviceCapabilities",
    "backbone_dtype_for",
    "PrecisionWarning",
    "check_precision",
    "cpu_class",
    "cpu_flags",
    "cpu_name",
    "device_capabilities",
    "low_dtype",
    "measured_speedup",
    "onednn_isa_cap",
    "probe_cache_path",
    "resolve_backbone_dtype",
    "resolve_precision",
    "warn_if_emulated",
]
