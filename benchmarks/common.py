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
    for module in ("tensorflow", "keras", "jax", "torch", "torchvision", "piq"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # not installed in this environment
            pass
    return info


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_child(script: str, case: dict, timeout: float = 1800) -> dict:
    """Runs ``script --child JSON`` in a fresh interpreter and returns its JSON result."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
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
    result = measure(case)
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
    """The machine's float32 limit, measured: a large matmul and a large 3x3 conv (TF)."""
    import tensorflow as tf

    quick = case.get("quick", False)
    n = 1024 if quick else 4096
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.matmul(a, b))
    t_mm = time_it(lambda: matmul().numpy(), case["iters"])
    side, channels, batch = (16, 64, 2) if quick else (64, 256, 8)
    x = tf.random.normal((batch, side, side, channels))
    k = tf.random.normal((3, 3, channels, channels))
    conv = tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME"))
    t_conv = time_it(lambda: conv().numpy(), case["iters"])
    conv_flops = 2.0 * batch * side * side * channels * channels * 9
    return {
        "matmul_gflops": 2.0 * n**3 / t_mm / 1e9,
        "conv_gflops": conv_flops / t_conv / 1e9,
    }


def write_json(path: str | None, results: dict) -> None:
    """Writes every figure of a run to ``path`` (``--json``), if given."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {path}")


def fmt_ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"
