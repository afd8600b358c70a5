"""Shared benchmark machinery: isolated child processes, timing, FLOP counts, peaks.

Every measured case runs in its own child process (so one framework's thread pools
and allocator never slow down another's, and peak RSS is per case), and the parent
prints ratios of cases measured in the same invocation. Times are medians of
``--iters`` repetitions after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def use_training_kernels() -> None:
    """TensorFlow's CPU kernels as the training commands choose them
    (keras_perceptual/_onednn.py: oneDNN), for the training benchmarks; called before any
    TensorFlow import, its children inherit it. Loaded by path: importing the package would
    import TensorFlow in this parent process. The inference benchmarks keep TensorFlow's own
    choice, as ``stylize`` and the app do."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "keras_perceptual" / "_onednn.py"
    spec = importlib.util.spec_from_file_location("_kp_onednn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.prefer_onednn():
        _TRAINING_KERNEL_VARIABLES.add(module.ONEDNN_VARIABLE)


#: The environment variables :func:`use_training_kernels` set (not the user's own), which
#: ``run_child(..., inference=True)`` leaves out of an inference child's environment.
_TRAINING_KERNEL_VARIABLES: set[str] = set()

VGG16_CONVS = [
    # (name, block, in_channels, out_channels)
    ("block1_conv1", 1, 3, 64), ("block1_conv2", 1, 64, 64),
    ("block2_conv1", 2, 64, 128), ("block2_conv2", 2, 128, 128),
    ("block3_conv1", 3, 128, 256), ("block3_conv2", 3, 256, 256), ("block3_conv3", 3, 256, 256),
    ("block4_conv1", 4, 256, 512), ("block4_conv2", 4, 512, 512), ("block4_conv3", 4, 512, 512),
    ("block5_conv1", 5, 512, 512), ("block5_conv2", 5, 512, 512), ("block5_conv3", 5, 512, 512),
]


def vgg_forward_flops(size: int, deepest: str) -> float:
    """FLOPs (multiply + add = 2) of VGG16's 3x3 convolutions on one size x size image,
    up to and including ``deepest`` (a Keras conv name)."""
    total = 0.0
    for name, block, cin, cout in VGG16_CONVS:
        side = size // 2 ** (block - 1)
        total += 2.0 * side * side * cin * cout * 9
        if name == deepest:
            return total
    return total


def gram_flops(size: int, layers: list[str]) -> float:
    """FLOPs of the Gram matrices ``psi psi^T`` at ``layers`` for one image."""
    total = 0.0
    for name, block, _, cout in VGG16_CONVS:
        if name in layers:
            side = size // 2 ** (block - 1)
            total += 2.0 * side * side * cout * cout
    return total


#: The loss configurations of Johnson et al. 2016 timed by the benchmarks.
STYLE_TAPS = ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"]


def loss_flops(config: str, size: int) -> float:
    """FLOPs per image that the library's loss executes in a training step: ``y_pred``
    forward to the deepest tap and the input-gradient backward through it, ``y_true``
    forward to the content tap (relu2_2, no gradient) and, for "style", the Gram products
    (forward and two backward products); the style image's Grams are constants."""
    if config == "sr":
        return 3 * vgg_forward_flops(size, "block2_conv2")
    return (2 * vgg_forward_flops(size, "block4_conv3") + vgg_forward_flops(size, "block2_conv2")
            + 3 * gram_flops(size, STYLE_TAPS))


def examples_loss_flops(config: str, size: int) -> float:
    """FLOPs per image of pytorch/examples' ``fast_neural_style`` loss as shipped: all four
    VGG16 slices (to relu4_3) for ``y_pred`` (forward and input-gradient backward) and for
    ``y_true`` (forward), whatever the terms use; Gram products for "style"."""
    value = 3 * vgg_forward_flops(size, "block4_conv3")
    return value + (3 * gram_flops(size, STYLE_TAPS) if config == "style" else 0.0)


def graph_flops(model, shape) -> float:
    """Float operations of one ``model(x)`` call on a ``shape`` input, counted by
    TensorFlow's profiler on the traced graph."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False))
    graph = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return float(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_it(fn: Callable[[], object], iters: int, warmup: int = 1) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def environment() -> dict:
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "processor": cpu_name(),
    }
    # Package metadata, not imports: importing PyTorch into a TensorFlow process can crash
    # it, and a framework imported here would inflate a child's peak RSS.
    from importlib import metadata

    for package in ("tensorflow", "keras", "jax", "torch", "torchvision", "piq"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return info


def _cpuinfo() -> dict:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_name() -> str:
    return _cpuinfo().get("model name") or platform.processor()


def flops_per_cycle(flags: frozenset, vendor: str) -> int:
    """Peak float32 FLOPs per cycle and core from the CPU's vector flags, assuming two FMA
    pipes of the widest vector width (Intel server cores, AMD Zen): 2 x lanes x 2.

    AVX-512 on AMD Zen 4 runs 512-bit FMAs as two 256-bit halves, so it counts as AVX2;
    Zen 5 server cores (EPYC 9005) have full 512-bit FMA pipes. Zen 5 is told from Zen 4 by
    AVX-VNNI (``avx_vnni``, the VEX form), which Zen 4 lacks.
    """
    if "asimd" in flags:  # ARM NEON: 2-4 128-bit FMA pipes; 4 assumed (Neoverse V1/V2)
        return 4 * 4 * 2
    if "avx512f" in flags and (vendor != "AuthenticAMD" or "avx_vnni" in flags):
        return 2 * 16 * 2
    if "fma" in flags and "avx2" in flags:
        return 2 * 8 * 2
    if "avx" in flags:
        return 8 * 2  # one 256-bit add and one multiply per cycle
    return 4 * 2


def hardware_peak() -> dict:
    """The float32 peak the hardware allows: FLOP/cycle x physical cores x clock.

    Returns:
        ``{"flop_per_cycle", "cores", "ghz", "gflops", "clock_source"}``: physical cores
        of the CPUs this process may use (logical ones / threads per core), the clock from
        cpufreq's maximum where the OS exposes it, else ``/proc/cpuinfo``'s "cpu MHz" (the
        nominal clock under a hypervisor; turbo is not counted).
    """
    from keras_perceptual.precision import cpu_flags

    info = _cpuinfo()
    flags = cpu_flags()
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        per_core = max(1, int(info["siblings"]) // int(info["cpu cores"]))
    except (KeyError, ValueError, ZeroDivisionError):
        per_core = 1
    cores = max(1, logical // per_core)
    ghz, source = 0.0, "unknown"
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            ghz, source = int(f.read()) / 1e6, "cpufreq max"
    except (OSError, ValueError):
        try:
            ghz, source = float(info["cpu MHz"]) / 1e3, "/proc/cpuinfo cpu MHz"
        except (KeyError, ValueError):
            pass
    per_cycle = flops_per_cycle(flags, info.get("vendor_id", ""))
    return {"flop_per_cycle": per_cycle, "cores": cores, "ghz": round(ghz, 3),
            "gflops": per_cycle * cores * ghz, "clock_source": source}


def machine_info() -> dict:
    """What every script prints in its header (run in a child: it imports Keras): the CPU,
    its class and speed flags after ``ONEDNN_MAX_CPU_ISA``, the 16-bit formats the backend
    computes natively, and the hardware peak."""
    from keras_perceptual._onednn import onednn_enabled
    from keras_perceptual.precision import device_capabilities

    caps = device_capabilities()
    kernels = {True: "oneDNN", False: "Eigen"}.get(onednn_enabled())
    return {"cpu": cpu_name(), "cpu_class": caps.cpu_class, "flags": list(caps.flags),
            "tensorflow_kernels": kernels,
            "capabilities": caps.describe(), "hardware_peak": hardware_peak(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "environment": environment()}


def print_header(script: str, peak: dict | None = None) -> dict:
    """Prints the CPU class, flags, the hardware peak and (``peak``, from
    :func:`measure_peak` in this run) the measured one beside it; returns the machine's
    figures (:func:`machine_info`)."""
    machine = (peak or {}).get("machine") or run_child(script, {"kind": "machine"})
    if "error" in machine:
        print(f"machine: unknown ({machine['error'][:200]})")
        return machine
    hw = machine["hardware_peak"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["environment"].items()
                         if k not in ("machine", "cpus", "processor"))
    print(f"CPU: {machine['cpu']}, class {machine['cpu_class']}"
          + (f" (ONEDNN_MAX_CPU_ISA={machine['onednn_max_cpu_isa']})"
             if machine["onednn_max_cpu_isa"] else "")
          + f"; flags: {' '.join(machine['flags']) or 'none read'}")
    print(f"16-bit: {machine['capabilities']}"
          + (f"; TensorFlow CPU kernels: {machine['tensorflow_kernels']}"
             if machine.get("tensorflow_kernels") else ""))
    print(f"hardware peak (float32): {hw['flop_per_cycle']} FLOP/cycle x {hw['cores']} cores x "
          f"{hw['ghz']:.2f} GHz ({hw['clock_source']}) = {hw['gflops']:.0f} GFLOP/s; "
          f"load average {machine['load_average']:.2f}; {versions}")
    if peak and "conv_gflops" in peak:
        conv, mm = peak["conv_gflops"], peak["matmul_gflops"]
        frac = (f" ({conv / hw['gflops']:.0%} / {mm / hw['gflops']:.0%} of the hardware peak)"
                if hw["gflops"] else "")
        print(f"measured peak (float32, same run): 3x3 conv {conv:.0f}, matmul {mm:.0f} "
              f"GFLOP/s{frac}")
    return machine


def split_margin(ours: dict, theirs: dict) -> str:
    """A speed ratio split into work avoided (their FLOPs per image / ours) and kernel
    efficiency (our GFLOP/s / theirs): ratio = work x efficiency."""
    if not (ours.get("flops_per_image") and theirs.get("flops_per_image")):
        return ""
    work = theirs["flops_per_image"] / ours["flops_per_image"]
    speed = ours["images_per_second"] / theirs["images_per_second"]
    return f"= {work:.2f}x work avoided x {speed / work:.2f}x kernel efficiency"


def run_child(script: str, case: dict, timeout: float = 1800, env: dict | None = None,
              inference: bool = False) -> dict:
    """Runs ``script --child JSON`` in a fresh interpreter (``env``: extra environment
    variables, e.g. ``KERAS_BACKEND``) and returns its JSON result.

    ``inference=True`` runs the child on TensorFlow's own choice of CPU kernels, as
    ``stylize`` and the app do: the variables :func:`use_training_kernels` set in this
    process are left out (a user's own ``TF_ENABLE_ONEDNN_OPTS`` is kept)."""
    inherited = {name: value for name, value in os.environ.items()
                 if not (inference and name in _TRAINING_KERNEL_VARIABLES)}  # fmt: skip
    env = {**inherited, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, script, "--child", json.dumps(case)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = "\n".join(result.stderr.splitlines()[-15:])
    return {"error": f"exit {result.returncode}: {tail}"}


def child_main(measure: Callable[[dict], dict]) -> bool:
    """If this process was started as a child, measure its case, print it, return True."""
    if "--child" not in sys.argv:
        return False
    case = json.loads(sys.argv[sys.argv.index("--child") + 1])
    result = machine_info() if case.get("kind") == "machine" else measure(case)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print("RESULT " + json.dumps(result), flush=True)
    return True


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iters", type=int, default=3, help="timed repetitions (median)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny images, batch 1, one iteration")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    return parser


def measure_peak(case: dict) -> dict:
    """The machine's float32 limit, measured on the Keras backend in use: a large matmul and
    a large 3x3 conv, with :func:`machine_info`."""
    import keras
    import numpy as np

    quick = case.get("quick", False)
    rng = np.random.default_rng(0)
    n = 1024 if quick else 4096
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    t_mm = time_it(lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, b)), case["iters"])
    side, channels, batch = (16, 64, 2) if quick else (64, 256, 8)
    x = keras.ops.convert_to_tensor(
        rng.standard_normal((batch, side, side, channels), dtype=np.float32))
    k = keras.ops.convert_to_tensor(
        rng.standard_normal((3, 3, channels, channels), dtype=np.float32))
    t_conv = time_it(lambda: keras.ops.convert_to_numpy(keras.ops.conv(x, k, padding="same")),
                     case["iters"])
    conv_flops = 2.0 * batch * side * side * channels * channels * 9
    return {
        "matmul_gflops": 2.0 * n**3 / t_mm / 1e9,
        "conv_gflops": conv_flops / t_conv / 1e9,
        "machine": machine_info(),
    }


def write_json(path: str | None, results: dict) -> None:
    """Writes every figure of a run to ``path`` (``--json``), if given."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {path}")


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"
