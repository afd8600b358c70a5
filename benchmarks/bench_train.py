"""Images per second of one full training step, ours on TensorFlow and JAX vs PyTorch.

    python benchmarks/bench_train.py                    # both backends, style 256 px + SR x4 288 px, batch 4
    python benchmarks/bench_train.py --backend tensorflow --no-torch   # TensorFlow only
    python benchmarks/bench_train.py --backend jax      # Keras' JAX backend (no TensorFlow needed)
    python benchmarks/bench_train.py --batches 4 16 --tasks style --precisions f32 bf16+vgg
    python benchmarks/bench_train.py --tasks style --precisions f32 --no-xla --no-torch --size 128
    python benchmarks/bench_train.py --quick            # smoke run (64 px, batch 1, one step)

A step is what ``model.fit`` does per batch: the transformation network forward, the
perceptual loss (forward through the frozen VGG), the backward pass and an Adam update.
Ours runs through ``model.fit`` on one in-memory batch repeated (no input pipeline cost;
``benchmarks/bench_data.py`` times the pipelines), every case in its own child process
with ``KERAS_BACKEND`` set before Keras is imported:

* **TensorFlow** (``tf``): a ``tf.data`` dataset of the batch; ``fit`` runs a
  ``tf.function`` graph, and again with ``jit_compile`` (``xla``; ``--no-xla`` leaves it out).
* **JAX** (``jax``): a ``keras.utils.PyDataset`` of the batch; the child never imports
  TensorFlow (the table says so if something did); ``fit`` always compiles with XLA.

Precisions (``--precisions``): ``f32``; ``bf16`` (``mixed_bfloat16``, the loss network in
float32, the library's default under a mixed policy); ``bf16+vgg`` (the loss network in
bfloat16 too, ``backbone_dtype``). By default the bfloat16 cases run only where the backend
computes bfloat16 natively (``keras_perceptual.precision``): on a CPU without bfloat16
units (AVX2, plain AVX-512) they are emulated, 5-8x slower, and would triple the run.

With the style task, the same step of a multi-style network (Dumoulin et al. 2017:
``multi_style_transfer_net(4)`` and ``PerceptualLoss(style_images=[4 images])``, each image
of the batch with its own style) is timed for every backend, precision (but ``bf16+vgg``)
and XLA setting, and reported as a ratio of the single-style step (goal: at most 1.1x).

The PyTorch side (``--torch-cases``; ``--no-torch`` or no PyTorch installed skips it): the
twin (``torch_nets.py``: the same architectures and pytorch/examples' loss) eager in
float32, under ``torch.compile`` (like with like for our compiled ``fit`` step; printed as
FAILED, with the reason, where the CPU build cannot compile) and under
``torch.autocast(bfloat16)`` (with the bf16 cases), and, for style transfer,
pytorch/examples' ``fast_neural_style`` network as shipped (``ExamplesNet``). On a machine
with CUDA they run on the GPU.

Every ratio against a PyTorch case is split into *work avoided* (their FLOPs per image /
ours: PyTorch's counted by ``torch.utils.flop_counter`` on the step; ours by TensorFlow's
profiler or XLA's cost analysis on the network, x3 for forward and both backward
products, plus the loss's count in ``common.loss_flops``) and *kernel efficiency* (our
GFLOP/s / theirs). JAX rows are also given as a ratio of the TensorFlow graph step.

The run ends with ``stylize`` latency on one 1024 px photo per backend (float32,
``precision="auto"``, and ``mixed_bfloat16`` with the bf16 cases; ``--stylize 0`` skips it),
on TensorFlow's own CPU kernels as ``stylize`` runs them (not the training steps' oneDNN).

Cost: the default run (both backends, float32 only on an AVX2 CPU, batch 4, twin eager +
compiled + pytorch/examples) is about 15 child processes, 10-15 minutes on 2 cores. The
expensive options: ``--batches 4 16`` (x2, batch 16 four times the step), the bfloat16
cases on a CPU that emulates them (``--precisions f32 bf16 bf16+vgg``), ``--steps``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

common.use_training_kernels()  # oneDNN, as the training commands run (keras_perceptual/_onednn.py)

TASKS = {"style": {"size": 256, "scale": 1}, "sr": {"size": 288, "scale": 4}}
PRECISIONS = ("f32", "bf16", "bf16+vgg")
BACKENDS = ("tensorflow", "jax")
#: PyTorch cases: the twin eager / compiled / bf16 autocast; pytorch/examples' network.
TORCH_CASES = ("twin f32", "twin f32 compiled", "twin bf16", "examples f32")
#: Styles of the multi-style case (the demo's four paintings).
MULTI_STYLES = 4
#: ``stylize`` precision of each ``--precisions`` entry.
STYLIZE_PRECISIONS = {"f32": "float32", "bf16": "mixed_bfloat16"}


def model_flops(model, shape) -> float:
    """Float operations of one ``model(x)`` call on a ``shape`` input: TensorFlow's
    profiler on the traced graph, or XLA's cost analysis under JAX."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return common.graph_flops(model, shape)
    import jax
    import jax.numpy as jnp

    lowered = jax.jit(lambda x: model(x, training=False)).lower(jnp.zeros(shape, jnp.float32))
    analysis = lowered.compile().cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0))


def measure_keras(case: dict) -> dict:
    import keras
    import numpy as np

    from keras_perceptual import FeatureReconstructionLoss, PerceptualLoss
    from keras_perceptual.losses import pack_style_targets
    from keras_perceptual.models import (
        multi_style_transfer_net,
        style_transfer_net,
        super_resolution_net,
    )

    backend = keras.backend.backend()
    if case["precision"] != "f32":
        keras.config.set_dtype_policy("mixed_bfloat16")
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
    jit = case["jit"] if backend == "tensorflow" else True  # JAX always compiles
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit)

    if backend == "tensorflow":
        import tensorflow as tf

        def data(steps):
            return tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    else:
        class Repeat(keras.utils.PyDataset):
            """The same batch, ``n`` times (no input pipeline cost, no TensorFlow)."""

            def __init__(self, n):
                super().__init__()
                self.n = n

            def __len__(self):
                return self.n

            def __getitem__(self, index):
                return x, y

        data = Repeat

    model.fit(data(2), epochs=1, verbose=0)  # trace / compile

    class StepTimer(keras.callbacks.Callback):
        """Records the wall time of every training batch."""

        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if logs:  # JAX dispatches asynchronously: reading the loss waits for the step
                float(np.asarray(keras.ops.convert_to_numpy(next(iter(logs.values())))))
            self.seconds.append(time.perf_counter() - self.start)

    timer = StepTimer()
    model.fit(data(case["steps"]), epochs=1, verbose=0, callbacks=[timer])
    # The median step, batch begin to batch end: a call of fit also pays a setup (iterator,
    # callbacks) that is seconds on this machine at times, and is not a training step.
    seconds = statistics.median(timer.seconds)
    # FLOPs of the step: the network's forward (counted) and its two backward products
    # (input and weight gradients), plus what the loss executes.
    if case["task"] == "multi-style":  # the per-style scales add no FLOPs worth counting
        net_flops = model_flops(style_transfer_net(), (1, size, size, 3))
    else:
        net_flops = model_flops(model, (1, *x.shape[1:]))
    loss_task = "style" if case["task"] == "multi-style" else case["task"]
    per_image = 3 * net_flops + common.loss_flops(loss_task, size)
    return {"images_per_second": b / seconds, "seconds_per_step": seconds,
            "flops_per_image": per_image, "gflops": b * per_image / seconds / 1e9,
            "backend": backend, "imported_tensorflow": "tensorflow" in sys.modules}


def measure_torch(case: dict) -> dict:
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torch_nets import ExamplesLoss, ExamplesNet, SRNet, StyleNet

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else os.cpu_count())
    rng = np.random.default_rng(0)
    b, size, scale = case["batch"], case["size"], case["scale"]
    y = torch.tensor(rng.random((b, 3, size, size), dtype=np.float32))
    name = case["name"]
    if case["task"] == "style":
        net = ExamplesNet() if name.startswith("examples") else StyleNet()
        loss = ExamplesLoss(style=torch.tensor(rng.random((1, 3, 256, 256), dtype=np.float32)))
        x = y
    else:
        net = SRNet(scale)
        loss = ExamplesLoss(style=None)
        x = y[:, :, ::scale, ::scale].contiguous()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net, loss, x, y = net.to(device), loss.to(device), x.to(device), y.to(device)
    if loss.gram_style is not None:  # a plain list: .to() does not move it
        loss.gram_style = [g.to(device) for g in loss.gram_style]
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    bf16 = "bf16" in name

    def forward_backward():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            value = loss(net(x).float(), y)
        value.backward()

    counter = FlopCounterMode(display=False)
    with counter:
        forward_backward()
    opt.zero_grad(set_to_none=True)
    flops = counter.get_total_flops() / b
    if "compiled" in name:
        forward_backward = torch.compile(forward_backward)

    def step():
        opt.zero_grad(set_to_none=True)
        forward_backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    seconds = common.time_it(step, case["steps"], warmup=2)
    return {"images_per_second": b / seconds, "seconds_per_step": seconds,
            "flops_per_image": flops, "gflops": b * flops / seconds / 1e9, "device": device}


def measure_stylize(case: dict) -> dict:
    """Latency of ``keras_perceptual.stylize`` on one ``size`` x ``size`` photo (the
    paper-width style network, random weights) under ``precision``."""
    import keras
    import numpy as np

    from keras_perceptual import stylize
    from keras_perceptual.models import style_transfer_net

    model = style_transfer_net()
    photo = np.random.default_rng(0).random((case["size"], case["size"], 3), dtype=np.float32)
    seconds = common.time_it(lambda: stylize(model, photo, precision=case["precision"]),
                             case["iters"], warmup=2)
    return {"ms": seconds * 1e3, "backend": keras.backend.backend()}


def measure(case: dict) -> dict:
    if case.get("kind") == "peak":
        from keras_perceptual.precision import device_capabilities

        return {**common.measure_peak(case), "native_bfloat16": device_capabilities().bfloat16}
    if case.get("kind") == "stylize":
        return measure_stylize(case)
    return measure_torch(case) if case["framework"] == "torch" else measure_keras(case)


def keras_label(backend: str, task: str, precision: str, jit: bool) -> str:
    """The table's name of one of our cases, e.g. ``tf multi f32 xla``."""
    label = f"{'tf' if backend == 'tensorflow' else 'jax'}"
    label += " multi" if task == "multi-style" else ""
    return label + f" {precision}" + (" xla" if jit and backend == "tensorflow" else "")


def references(name: str, results: dict) -> list[str]:
    """The measured cases a row of ours is compared with: the PyTorch cases of the same
    precision and, for a JAX row, the TensorFlow graph step of the same precision."""
    precision = name.split()[-2] if name.endswith(" xla") else name.split()[-1]
    torch_names = ["torch twin bf16"] if precision.startswith("bf16") else [
        "torch twin f32", "torch twin f32 compiled", "torch examples f32"]
    refs = [n for n in torch_names if n in results and "multi" not in name]
    if name.startswith("jax"):
        refs.append(name.replace("jax", "tf", 1))
    return [n for n in refs if "images_per_second" in results.get(n, {})]


def print_rows(rows: list, conv_peak: float) -> None:
    print("\nimages/second of one training step (higher is better), GFLOP/s and fraction of "
          "the measured float32 conv peak; ratios measured in this run, split into work "
          "avoided x kernel efficiency")
    for task, batch, shape, results in rows:
        print(f"\n{task} ({shape['size']} px target), batch {batch}")
        for name, r in results.items():
            if "error" in r:
                print(f"  {name:24} FAILED: {r['error'][-300:]}")
                continue
            frac = (f"{r['gflops']:6.1f} GFLOP/s {r['gflops'] / conv_peak:4.0%} of peak"
                    if r.get("gflops") and conv_peak else "")
            note = "  (imported TensorFlow!)" if r.get("imported_tensorflow") and (
                r.get("backend") == "jax") else ""  # fmt: skip
            print(f"  {name:24} {r['images_per_second']:8.2f} img/s  {frac:30} "
                  f"RSS {r['peak_rss_mb']:5.0f} MiB{note}")
        ratio_lines = []
        for name, r in results.items():
            if "images_per_second" not in r or name.startswith("torch"):
                continue
            for ref in references(name, results):
                theirs = results[ref]
                ratio = r["images_per_second"] / theirs["images_per_second"]
                ratio_lines.append(f"  {name:24} vs {ref:24} {ratio:5.2f}x "
                                   f"{common.split_margin(r, theirs)}")
            single = results.get(name.replace(" multi", "", 1), {})
            if " multi " in name and "seconds_per_step" in single:
                cost = r["seconds_per_step"] / single["seconds_per_step"]
                ratio_lines.append(f"  {name:24} step {cost:4.2f}x the single-style step "
                                   f"({MULTI_STYLES} styles; goal <= 1.1x)")
        if ratio_lines:
            print("  ratios:")
            print("\n".join(ratio_lines))


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both",
                        help="Keras backend of our cases, each case in its own child process")
    parser.add_argument("--batches", "--batch", type=int, nargs="+", default=[4],
                        help="batch sizes (default: 4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case")
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=tuple(TASKS))
    parser.add_argument("--size", type=int, default=None, help="target side of every task")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="default: f32, plus bf16 and bf16+vgg where bfloat16 is native")
    parser.add_argument("--no-xla", action="store_true",
                        help="leave out TensorFlow's jit_compile cases")
    parser.add_argument("--no-torch", action="store_true", help="leave out every PyTorch case")
    parser.add_argument("--torch-cases", nargs="*", choices=TORCH_CASES, default=TORCH_CASES)
    parser.add_argument("--stylize", type=int, default=1024,
                        help="side of the stylize latency photo, pixels (0: skip)")
    args = parser.parse_args()
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    sizes = {k: dict(v) for k, v in TASKS.items()}
    batches = args.batches
    if args.quick:
        args.steps, batches = 1, [1]
        sizes = {k: {"size": 64, "scale": v["scale"]} for k, v in TASKS.items()}
    for shape in sizes.values():
        shape["size"] = args.size or shape["size"]
    sizes = {k: v for k, v in sizes.items() if k in args.tasks}
    torch_cases = [] if args.no_torch else list(args.torch_cases)
    if torch_cases:
        try:
            import torch  # noqa: F401
        except ImportError:
            torch_cases = []
            print('PyTorch comparison skipped: PyTorch is not installed (pip install ".[bench]" '
                  "to include it).")
    script = os.path.abspath(__file__)
    peak = common.run_child(script, {"kind": "peak", "iters": 3, "quick": args.quick},
                            env={"KERAS_BACKEND": backends[0]})
    common.print_header(script, peak)  # CPU class, flags, hardware and measured peaks
    conv_peak = max(peak.get("conv_gflops", 0), peak.get("matmul_gflops", 0))
    precisions = args.precisions
    if precisions is None:
        precisions = list(PRECISIONS) if peak.get("native_bfloat16") else ["f32"]
        if len(precisions) == 1:
            print(f"bfloat16 cases left out: {backends[0]} emulates bfloat16 on this device "
                  "(several times slower than float32); --precisions f32 bf16 bf16+vgg times "
                  "them anyway.")
    if not any(p.startswith("bf16") for p in precisions):
        torch_cases = [c for c in torch_cases if "bf16" not in c]
    print(f"backends: {', '.join(backends)}; precisions: {' '.join(precisions)}; "
          f"batches: {' '.join(map(str, batches))}; PyTorch: {', '.join(torch_cases) or 'none'}")
    rows = []
    for task, shape in sizes.items():
        for batch in batches:
            base = {"task": task, "batch": batch, "steps": args.steps, **shape}
            results = {}
            # One precision at a time, all frameworks in turn: ratios stay fair when the
            # machine's load moves during the run.
            for precision in precisions:
                for backend in backends:
                    jits = (False,) if args.no_xla or backend != "tensorflow" else (False, True)
                    for jit in jits:
                        tasks = [task] + (["multi-style"] if task == "style"
                                          and precision != "bf16+vgg" else [])
                        for kind in tasks:
                            results[keras_label(backend, kind, precision, jit)] = (
                                common.run_child(script, {
                                    **base, "task": kind, "framework": "keras",
                                    "precision": precision, "jit": jit},
                                    env={"KERAS_BACKEND": backend}))
                for name in torch_cases:
                    if (name.startswith("examples") and task != "style") or (
                            ("bf16" in name) != (precision != "f32")) or f"torch {name}" in results:
                        continue
                    results[f"torch {name}"] = common.run_child(
                        script, {**base, "framework": "torch", "name": name})
            rows.append((task, batch, shape, results))
    print_rows(rows, conv_peak)
    stylized = {}
    if args.stylize:
        side = 128 if args.quick else args.stylize
        print(f"\nstylize latency, one {side}x{side} photo, paper-width style network "
              f"(median of --iters {args.iters} after 2 warm-up calls)")
        chosen = [STYLIZE_PRECISIONS[p] for p in STYLIZE_PRECISIONS if p in precisions] + ["auto"]
        for backend in backends:
            for precision in chosen:
                r = common.run_child(script, {"kind": "stylize", "size": side,
                                              "precision": precision, "iters": args.iters},
                                     env={"KERAS_BACKEND": backend},
                                     inference=True)  # stylize's kernels, not training's  # fmt: skip
                stylized[f"{backend} {precision}"] = r
                shown = f"{r['ms']:9.1f} ms" if "ms" in r else f"FAILED: {r['error'][-200:]}"
                print(f"  {backend:10} precision={precision:15} {shown}")
    common.write_json(args.json, {"peak": peak, "stylize": stylized, "rows": [
        {"task": t, "batch": b, **s, "results": r} for t, b, s, r in rows]})


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
