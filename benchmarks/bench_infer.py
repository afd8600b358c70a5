"""Stylize and upscale latency at 256, 512 and 1024 px (and a tiled 4096 px), with the
fraction of the machine's peak achieved, measured in the same run.

    python benchmarks/bench_infer.py            # full run
    python benchmarks/bench_infer.py --quick    # smoke run (small sizes)

Sizes are output sizes: the style net maps N x N to N x N, the x4 SR net N/4 x N/4 to
N x N. Each case runs in its own process: one batch-1 call through the library's
``stylize`` / ``upscale`` (the path users take, including its batching and
conversion) and through a bare compiled model call, float32 and ``mixed_bfloat16``.
FLOPs are counted by TensorFlow's profiler on the traced graph (every convolution and
transposed convolution), so the achieved GFLOP/s is comparable to the peak measured by
a large matmul and a large 3x3 convolution in the same run. The tiled 4096 px cases
use 1024 px tiles; the style net there uses per-tile instance-norm statistics
(``norm_statistics="tile"``; the exact whole-image mode costs about 8 more passes).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def measure(case: dict) -> dict:
    if case.get("kind") == "peak":
        return common.measure_peak(case)
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_perceptual import stylize, upscale
    from keras_perceptual.models import style_transfer_net, super_resolution_net

    if case["precision"] == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    size = case["size"]
    if case["task"] == "style":
        model = style_transfer_net()
        side = size
    else:
        model = super_resolution_net(4)
        side = size // 4
    image = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    tile = case.get("tile")
    if case["task"] == "style":
        kwargs = {"tile_size": tile, "norm_statistics": "tile"} if tile else {}
        if tile and tile < 256:  # --quick: the default 128 px overlap needs 256 px tiles
            kwargs["overlap"] = tile // 4
        run = lambda: stylize(model, image, **kwargs)  # noqa: E731
    else:
        kwargs = {"tile_size": tile // 4, "overlap": min(40, tile // 16)} if tile else {}
        run = lambda: upscale(model, image, **kwargs)  # noqa: E731
    library = common.time_it(run, case["iters"])
    result = {"library_ms": 1e3 * library}
    if not tile:
        compiled = tf.function(lambda x: model(x, training=False), jit_compile=False)
        x = tf.constant(image[None])
        bare = common.time_it(lambda: compiled(x).numpy(), case["iters"])
        result["bare_ms"] = 1e3 * bare
        flops = common.graph_flops(model, (1, side, side, 3))
        result["gflops"] = flops / bare / 1e9
    return result


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-tiled", action="store_true", help="skip the 4096 px tiled cases")
    args = parser.parse_args()
    sizes = [256, 512, 1024]
    tiled = [] if args.no_tiled else [(4096, 1024)]
    if args.quick:
        sizes, tiled, args.iters = [64], [(128, 64)], 1
    script = os.path.abspath(__file__)
    peak = common.run_child(script, {"kind": "peak", "iters": args.iters, "quick": args.quick})
    conv_peak = max(peak.get("conv_gflops", 0), peak.get("matmul_gflops", 0))
    print(f"machine peak (float32, same run): matmul {peak.get('matmul_gflops', 0):.0f} GFLOP/s, "
          f"3x3 conv {peak.get('conv_gflops', 0):.0f} GFLOP/s")
    print(f"\n{'task':6} {'size':>5} {'prec':>5} | {'library ms':>10} {'bare ms':>8} | "
          f"{'GFLOP/s':>7} {'of peak':>7} | {'RSS MiB':>7}")
    for task in ("style", "sr"):
        for precision in ("f32", "bf16"):
            cases = [(s, None) for s in sizes] + list(tiled)
            for size, tile in cases:
                r = common.run_child(script, {"task": task, "size": size, "tile": tile,
                                              "precision": precision, "iters": args.iters})
                label = f"{size}{'t' if tile else ''}"
                if "error" in r:
                    print(f"{task:6} {label:>5} {precision:>5} | FAILED: {r['error'][:200]}")
                    continue
                bare = f"{r['bare_ms']:8.1f}" if "bare_ms" in r else f"{'-':>8}"
                g = r.get("gflops")
                frac = f"{g / conv_peak:7.0%}" if g and conv_peak else f"{'-':>7}"
                gtxt = f"{g:7.1f}" if g else f"{'-':>7}"
                print(f"{task:6} {label:>5} {precision:>5} | {r['library_ms']:10.1f} {bare} | "
                      f"{gtxt} {frac} | {r['peak_rss_mb']:7.0f}")
    print("\nsize: output pixels per side; 't' = tiled with 1024 px tiles. Fractions of peak "
          "for bf16 are against the float32 peak.")


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
