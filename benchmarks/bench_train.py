"""Images per second of one full training step, ours vs the same step in PyTorch.

    python benchmarks/bench_train.py            # style 256 px and SR x4 288 px, batch 4
    python benchmarks/bench_train.py --quick    # smoke run
    python benchmarks/bench_train.py --tasks style --no-torch   # style and multi-style only
    python benchmarks/bench_train.py --tasks style --precisions f32 --no-xla --no-torch --size 128

A step is what ``model.fit`` does per batch: the transformation network forward, the
perceptual loss (forward through the frozen VGG), the backward pass and an Adam
update. Ours runs through ``model.fit`` on an in-memory repeated dataset (no input
pipeline cost), in float32 and ``mixed_bfloat16``, with and without
``jit_compile``; the PyTorch twin (benchmarks/torch_nets.py: the same architecture and
pytorch/examples' loss) runs an eager step in float32 and under
``torch.autocast("cpu", torch.bfloat16)``. Every case runs in its own process.

With the style task, the same step of a multi-style network (Dumoulin et al. 2017:
``multi_style_transfer_net(4)`` and ``PerceptualLoss(style_images=[4 images])``, each
image of the batch with its own style) is timed in the same run and reported as a ratio
of the single-style step (the goal: at most 1.1x).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

TASKS = {"style": {"size": 256, "scale": 1}, "sr": {"size": 288, "scale": 4}}
PRECISIONS = ("f32", "bf16", "bf16+vgg")
#: Styles of the multi-style case (the demo's four paintings).
MULTI_STYLES = 4


def measure_keras(case: dict) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_perceptual import FeatureReconstructionLoss, PerceptualLoss
    from keras_perceptual.losses import pack_style_targets
    from keras_perceptual.models import (
        multi_style_transfer_net,
        style_transfer_net,
        super_resolution_net,
    )

    if case["precision"] != "f32":
        keras.config.set_dtype_policy("mixed_bfloat16")
    # "bf16+vgg": the loss network in bfloat16 too (backbone_dtype, opt-in); "bf16" keeps it
    # in float32, the library's default under a mixed policy.
    backbone_dtype = "bfloat16" if case["precision"] == "bf16+vgg" else "float32"
    rng = np.random.default_rng(0)
    b, size, scale = case["batch"], case["size"], case["scale"]
    y = rng.random((b, size, size, 3), dtype=np.float32)
    if case["task"] == "style":
        model = style_transfer_net()
        loss = PerceptualLoss(style_image=rng.random((256, 256, 3), dtype=np.float32),
                              weights=None, backbone_dtype=backbone_dtype)
        x = y
    elif case["task"] == "multi-style":
        model = multi_style_transfer_net(MULTI_STYLES)
        styles = [rng.random((256, 256, 3), dtype=np.float32) for _ in range(MULTI_STYLES)]
        loss = PerceptualLoss(style_images=styles, weights=None, backbone_dtype=backbone_dtype)
        one_hot = np.eye(MULTI_STYLES, dtype=np.float32)[np.arange(b) % MULTI_STYLES]
        x = {"image": y, "style_weights": one_hot}
        y = keras.ops.convert_to_numpy(pack_style_targets(y, one_hot))
    else:
        model = super_resolution_net(scale)
        loss = FeatureReconstructionLoss("relu2_2", weights=None, backbone_dtype=backbone_dtype)
        x = y[:, ::scale, ::scale]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=case["jit"])
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    steps = case["steps"]
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace / compile
    class StepTimer(keras.callbacks.Callback):
        """Records the wall time of every training batch."""

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = StepTimer()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    # The median step, batch begin to batch end: a call of fit also pays a setup (iterator,
    # callbacks) that is seconds on this machine at times, and is not a training step.
    seconds = statistics.median(timer.seconds)
    # FLOPs of the step: the network's forward (profiler count) and its two backward
    # products (input and weight gradients), plus what the loss executes.
    if case["task"] == "multi-style":  # the per-style scales add no FLOPs worth counting
        net_flops = common.graph_flops(style_transfer_net(), (1, size, size, 3))
    else:
        net_flops = common.graph_flops(model, (1, *x.shape[1:]))
    loss_task = "style" if case["task"] == "multi-style" else case["task"]
    step_flops = b * (3 * net_flops + common.loss_flops(loss_task, size))
    return {"images_per_second": b / seconds, "seconds_per_step": seconds,
            "gflops": step_flops / seconds / 1e9}


def measure_torch(case: dict) -> dict:
    import numpy as np
    import torch
    from torch_nets import ExamplesLoss, SRNet, StyleNet

    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(0)
    b, size, scale = case["batch"], case["size"], case["scale"]
    y = torch.tensor(rng.random((b, 3, size, size), dtype=np.float32))
    if case["task"] == "style":
        net = StyleNet()
        loss = ExamplesLoss(style=torch.tensor(rng.random((1, 3, 256, 256), dtype=np.float32)))
        x = y
    else:
        net = SRNet(scale)
        loss = ExamplesLoss(style=None)
        x = y[:, :, ::scale, ::scale].contiguous()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    bf16 = case["precision"] == "bf16"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            value = loss(net(x).float(), y)
        value.backward()
        opt.step()

    seconds = common.time_it(step, case["steps"], warmup=2)
    return {"images_per_second": b / seconds, "seconds_per_step": seconds}


def measure(case: dict) -> dict:
    if case.get("kind") == "peak":
        return common.measure_peak(case)
    return measure_torch(case) if case["framework"] == "torch" else measure_keras(case)


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=tuple(TASKS))
    parser.add_argument("--size", type=int, default=None, help="target side of every task")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=PRECISIONS)
    parser.add_argument("--no-xla", action="store_true", help="leave out the jit_compile cases")
    args = parser.parse_args()
    sizes = {k: dict(v) for k, v in TASKS.items()}
    if args.quick:
        args.steps, args.batch = 1, 1
        sizes = {"style": {"size": 64, "scale": 1}, "sr": {"size": 64, "scale": 4}}
    for shape in sizes.values():
        shape["size"] = args.size or shape["size"]
    sizes = {k: v for k, v in sizes.items() if k in args.tasks}
    try:
        import torch  # noqa: F401
        has_torch = not args.no_torch
    except ImportError:
        has_torch = False
        print('PyTorch comparison skipped: pip install ".[bench]" to include it.')
    script = os.path.abspath(__file__)
    peak = common.run_child(script, {"kind": "peak", "iters": 3, "quick": args.quick})
    conv_peak = max(peak.get("conv_gflops", 0), peak.get("matmul_gflops", 0))
    common.print_header(script, peak)  # CPU class, flags, hardware and measured peaks
    rows = []
    for task, shape in sizes.items():
        base = {"task": task, "batch": args.batch, "steps": args.steps, **shape}
        results = {}
        for precision in args.precisions:
            for jit in (False,) if args.no_xla else (False, True):
                results[f"keras {precision}{' xla' if jit else ''}"] = common.run_child(
                    script, {**base, "framework": "keras", "precision": precision, "jit": jit})
                if task == "style" and precision != "bf16+vgg":
                    results[f"multi {precision}{' xla' if jit else ''}"] = common.run_child(
                        script, {**base, "task": "multi-style", "framework": "keras",
                                 "precision": precision, "jit": jit})
            if has_torch and precision != "bf16+vgg":
                results[f"torch {precision}"] = common.run_child(
                    script, {**base, "framework": "torch", "precision": precision})
        rows.append((task, shape, results))

    print(f"\nimages/second of one training step, batch {args.batch} (higher is better); "
          "ratios against the PyTorch twin measured in this run; fraction of the float32 "
          "conv peak")
    for task, shape, results in rows:
        ref = results.get("torch f32", {}).get("images_per_second")
        ref_bf16 = results.get("torch bf16", {}).get("images_per_second")
        print(f"\n{task} ({shape['size']} px target)")
        for name, r in results.items():
            if "error" in r:
                print(f"  {name:16} FAILED: {r['error'][:300]}")
                continue
            ips = r["images_per_second"]
            ratio = f"{ips / ref:5.2f}x vs torch f32" if ref else ""
            ratio_bf16 = f"{ips / ref_bf16:5.2f}x vs torch bf16" if ref_bf16 else ""
            frac = (f"{r['gflops']:6.1f} GFLOP/s {r['gflops'] / conv_peak:4.0%} of peak"
                    if r.get("gflops") and conv_peak else "")
            print(f"  {name:16} {ips:8.2f} img/s  {ratio:18} {ratio_bf16:19} {frac:30} "
                  f"peak RSS {r['peak_rss_mb']:.0f} MiB")
        for name, r in results.items():
            single = results.get(name.replace("multi", "keras", 1), {})
            if name.startswith("multi") and "error" not in r and "seconds_per_step" in single:
                cost = r["seconds_per_step"] / single["seconds_per_step"]
                print(f"  {name:16} step {cost:4.2f}x the single-style step "
                      f"({MULTI_STYLES} styles; goal <= 1.1x)")


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
