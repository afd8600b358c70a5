"""Inference latency of the style net and the x4 SR net in every runtime, at 256, 512 and
1024 px, with the fraction of the machine's convolution peak, measured in the same run.

    python benchmarks/bench_infer.py                 # runtimes table (needs the [export] extra)
    python benchmarks/bench_infer.py --library       # also the library path and tiled 4096 px
    python benchmarks/bench_infer.py --quick         # smoke run (small sizes)

Sizes are output sizes: the style net maps N x N to N x N, the x4 SR net N/4 x N/4 to
N x N. Paper-width networks with random weights (speed does not depend on the values).

Runtimes (one image, batch 1, median of ``--iters`` after a warm-up call):

* ``tf f32`` / ``tf bf16``: a ``tf.function`` of the Keras model, float32 and
  ``mixed_bfloat16`` (TensorFlow's own choice of CPU kernels: oneDNN on AVX-512 machines
  with VNNI/BF16/AMX, Eigen on AVX2; the header says which);
* ``onnxruntime``: the ``export_onnx`` file, CPU execution provider, all graph optimizations;
* ``openvino``: the ``export_openvino`` IR, CPU plugin, latency hint, float32 precision;
* ``tflite f32`` / ``tflite int8``: ``export_tflite`` (float32 / full-integer int8 calibrated
  on the package's sample photos), TensorFlow's interpreter with XNNPACK, all cores.

A ``prepare`` child builds each network once, writes every export and the Keras float32
reference outputs; each runtime then runs in its own child that loads only that runtime
(ONNX Runtime and OpenVINO children do not import TensorFlow or Keras), so peak RSS is the
runtime's own. "max diff" is the largest absolute difference from the Keras float32
output (value range [0, 1]). FLOPs are counted by TensorFlow's profiler on the traced
graph; "of peak" divides the achieved GFLOP/s by the float32 3x3-convolution (or matmul)
peak measured by TensorFlow in the same run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

RUNTIMES = ("tf f32", "tf bf16", "onnxruntime", "openvino", "tflite f32", "tflite int8")
TASKS = ("style", "sr")


def _build(task: str):
    import keras

    from keras_perceptual.models import style_transfer_net, super_resolution_net

    keras.utils.set_random_seed(0)
    return style_transfer_net() if task == "style" else super_resolution_net(4)


def _input(task: str, size: int):
    import numpy as np

    side = size if task == "style" else size // 4
    return np.random.default_rng(size).random((1, side, side, 3), dtype=np.float32)


def prepare(case: dict) -> dict:
    """Exports one network to every format and stores the float32 references and FLOPs."""
    import glob

    import numpy as np

    from keras_perceptual.export import export_onnx, export_openvino, export_tflite
    from keras_perceptual.images import load_images

    task, folder = case["task"], case["folder"]
    model = _build(task)
    calibration = load_images(
        sorted(glob.glob(os.path.join(os.path.dirname(common.__file__), "..", "keras_perceptual",
                                      "assets", "*.jpg"))), size=case["calibration"])
    if task == "sr":  # the SR net's inputs are low-resolution images
        calibration = calibration[:, ::4, ::4]
    export_onnx(model, os.path.join(folder, "model.onnx"))
    export_openvino(model, os.path.join(folder, "openvino"))
    export_tflite(model, os.path.join(folder, "f32.tflite"))
    int8 = export_tflite(model, os.path.join(folder, "int8.tflite"), quantize="int8",
                         representative_images=calibration)
    flops = {}
    for size in case["sizes"]:
        x = _input(task, size)
        np.save(os.path.join(folder, f"ref{size}.npy"), np.asarray(model(x, training=False)))
        flops[size] = common.graph_flops(model, x.shape)
    return {"flops": flops, "int8_psnr_db": int8.metrics["psnr_db"]}


def measure(case: dict) -> dict:
    if case.get("kind") == "peak":
        return common.measure_peak(case)
    if case.get("kind") == "prepare":
        return prepare(case)
    if case.get("kind") == "library":
        return measure_library(case)
    import numpy as np

    task, size, runtime, folder = case["task"], case["size"], case["runtime"], case["folder"]
    x = _input(task, size)
    threads = os.cpu_count() or 1
    if runtime.startswith("tf "):
        import keras
        import tensorflow as tf

        if runtime == "tf bf16":
            keras.config.set_dtype_policy("mixed_bfloat16")
        model = _build(task)
        fn = tf.function(lambda images: model(images, training=False))
        run = lambda: fn(x).numpy()  # noqa: E731
    elif runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        run = lambda: session.run(None, {"images": x})[0]  # noqa: E731
    elif runtime == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(
            os.path.join(folder, "openvino", "model.xml"), "CPU",
            {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"},
        )
        run = lambda: compiled(x)[0]  # noqa: E731
    else:
        import warnings

        import tensorflow as tf

        name = "int8.tflite" if runtime == "tflite int8" else "f32.tflite"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(os.path.join(folder, name), num_threads=threads)
        runner = interpreter.get_signature_runner()
        run = lambda: runner(images=x)["images"]  # noqa: E731
    seconds = common.time_it(run, case["iters"])
    reference = np.load(os.path.join(folder, f"ref{size}.npy"))
    diff = float(np.max(np.abs(np.asarray(run(), np.float32) - reference)))
    return {"ms": 1e3 * seconds, "max_diff": diff}


def measure_library(case: dict) -> dict:
    """The library's ``stylize``/``upscale`` (batching, conversion, tiling) on one image."""
    import numpy as np

    from keras_perceptual import stylize, upscale

    task, size, tile = case["task"], case["size"], case.get("tile")
    model = _build(task)
    image = _input(task, size)[0]
    if task == "style":
        kwargs = {"tile_size": tile, "norm_statistics": "tile"} if tile else {}
        if tile and tile < 256:
            kwargs["overlap"] = tile // 4
        run = lambda: stylize(model, image, **kwargs)  # noqa: E731
    else:
        kwargs = {"tile_size": tile // 4, "overlap": min(40, tile // 16)} if tile else {}
        run = lambda: upscale(model, image, **kwargs)  # noqa: E731
    del np
    return {"ms": 1e3 * common.time_it(run, case["iters"])}


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--library", action="store_true",
                        help="also time the library's stylize/upscale, untiled and tiled 4096 px")
    parser.add_argument("--tasks", default=",".join(TASKS), help="style, sr or both")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help=f"comma-separated subset of: {', '.join(RUNTIMES)}")
    args = parser.parse_args()
    sizes = [64, 128] if args.quick else [256, 512, 1024]
    if args.quick:
        args.iters = 1
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    script = os.path.abspath(__file__)
    # Versions from package metadata: importing a framework here would inflate every child's
    # peak RSS (a forked child starts with its parent's high-water mark).
    peak = common.run_child(script, {"kind": "peak", "iters": args.iters, "quick": args.quick})
    common.print_header(script, peak)
    print(f"runtimes: {_versions()}")
    conv_peak = max(peak.get("conv_gflops", 0), peak.get("matmul_gflops", 0))
    figures = {"peak": peak, "cases": []}
    with tempfile.TemporaryDirectory(prefix="bench_infer_") as scratch:
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            folder = os.path.join(scratch, task)
            os.makedirs(folder)
            prep = common.run_child(script, {"kind": "prepare", "task": task, "folder": folder,
                                             "sizes": sizes, "calibration": 64 if args.quick
                                             else 256}, timeout=3600)
            if "error" in prep:
                print(f"{task}: export FAILED: {prep['error'][-1500:]}")
                continue
            print(f"\n{task}: int8 PSNR vs float32 on a held-out sample photo "
                  f"{prep['int8_psnr_db']:.1f} dB (random weights)")
            print(f"{'task':5} {'size':>5} {'runtime':12} | {'ms':>8} {'vs tf f32':>9} | "
                  f"{'GFLOP/s':>7} {'of peak':>7} | {'RSS MiB':>7} | {'max diff':>8}")
            for size in sizes:
                base = None
                gflop = prep["flops"][str(size)] / 1e9
                for runtime in runtimes:
                    r = common.run_child(script, {"task": task, "size": size, "runtime": runtime,
                                                  "folder": folder, "iters": args.iters})
                    if "error" in r:
                        print(f"{task:5} {size:>5} {runtime:12} | FAILED: {r['error'][-300:]}")
                        continue
                    if runtime == "tf f32":
                        base = r["ms"]
                    speed = gflop / (r["ms"] / 1e3)
                    ratio = f"{base / r['ms']:8.2f}x" if base else f"{'-':>9}"
                    frac = speed / conv_peak if conv_peak else 0.0
                    print(f"{task:5} {size:>5} {runtime:12} | {r['ms']:8.1f} {ratio} | "
                          f"{speed:7.1f} {frac:7.0%} | {r['peak_rss_mb']:7.0f} | "
                          f"{r['max_diff']:8.1e}")
                    figures["cases"].append({"task": task, "size": size, "runtime": runtime,
                                             "gflop": gflop, "of_peak": frac, **r})
            if args.library:
                cases = [(s, None) for s in sizes] + [(128 if args.quick else 4096,
                                                       64 if args.quick else 1024)]
                for size, tile in cases:
                    r = common.run_child(script, {"kind": "library", "task": task, "size": size,
                                                  "tile": tile, "iters": args.iters})
                    label = f"{size}{'t' if tile else ''}"
                    text = f"{r['ms']:.1f} ms" if "ms" in r else f"FAILED {r['error'][-200:]}"
                    print(f"{task:5} {label:>5} library {'stylize' if task == 'style' else 'upscale'}"
                          f": {text}")
    print("\nsize: output pixels per side. 'vs tf f32': speed relative to TensorFlow float32 "
          "(above 1: faster). Fractions of peak for bf16 and int8 are against the float32 peak. "
          "RSS: the child's peak resident memory (TFLite children import TensorFlow).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


def _versions() -> str:
    from importlib import metadata

    parts = []
    for package in ("tensorflow", "keras", "onnxruntime", "openvino", "tf2onnx"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} not installed")
    return ", ".join(parts)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # each row as it is measured
    if not common.child_main(measure):
        main()
