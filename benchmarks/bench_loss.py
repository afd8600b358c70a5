"""Forward + backward of the perceptual loss per image, ours vs a naive Keras loss and
the PyTorch peers, on this machine, in one run.

    python benchmarks/bench_loss.py                 # 256 px, batch 4 and 16
    python benchmarks/bench_loss.py --quick         # smoke run (64 px, batch 1)
    python benchmarks/bench_loss.py --style-distances-only   # only sliced Wasserstein vs Gram

Configurations (Johnson et al. 2016):
  sr     feature reconstruction at relu2_2
  style  content relu2_2 + style relu1_2, relu2_2, relu3_3, relu4_3 (style image
         256 px) + total variation

Implementations:
  ours              keras_perceptual (FeatureReconstructionLoss / PerceptualLoss)
  ours bf16         the same with backbone_dtype="bfloat16" (opt-in: the VGG runs in
                    bfloat16, the loss is reduced in float32), inside tf.function
  ours SW           "style" with style_distance="sliced_wasserstein" (Heitz et al. 2021;
                    as many random projections as channels) instead of the Gram distance,
                    inside tf.function: its cost as a ratio to ours (Gram) in the same run
  naive             a Keras loss written the common way (the Keras "neural style
                    transfer" example's extractor: the full keras.applications.VGG16
                    returning every layer's activation), separate passes for y_true
                    and y_pred, the style image's Grams recomputed every step
  pytorch_examples  pytorch/examples fast_neural_style's Vgg16 (torchvision, four
                    slices always computed) + gram / mse_loss, Grams of the style
                    image precomputed as that script does
  piq               piq.ContentLoss / piq.StyleLoss / piq.TVLoss on a torchvision VGG16

Each is timed in "eager" mode and, for the Keras ones, inside tf.function ("graph",
where TensorFlow prunes unused VGG layers by itself, so the gain there must come
from elsewhere). All VGGs use random weights (weights=None): speed does not depend
on the values, and torchvision/piq cannot download ImageNet weights offline.
The achieved GFLOP/s of ours counts the 3x3 convolutions it executes (forward to the
deepest tap for y_pred, the input-gradient backward through them, y_true's forward
to the content tap) and the Gram products, against the machine's peak measured in the
same run (a 4096^2 matmul and a 3x3 256->256 convolution).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

common.use_training_kernels()  # oneDNN, as the training commands run (keras_perceptual/_onednn.py)

STYLE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
KERAS_NAMES = {"relu1_2": "block1_conv2", "relu2_2": "block2_conv2", "relu3_3": "block3_conv3",
               "relu4_3": "block4_conv3"}
TORCH_INDEX = {"relu1_2": "3", "relu2_2": "8", "relu3_3": "15", "relu4_3": "22"}


# --------------------------------------------------------------------------- children


def measure_keras(case: dict) -> dict:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    b, s = case["batch"], case["size"]
    y_true = tf.constant(rng.random((b, s, s, 3), dtype=np.float32))
    y_pred = tf.Variable(rng.random((b, s, s, 3), dtype=np.float32))
    style = rng.random((s, s, 3), dtype=np.float32)

    if case["impl"] in ("ours", "ours_bf16", "ours_sw"):
        from keras_perceptual import FeatureReconstructionLoss, PerceptualLoss

        dtype = "bfloat16" if case["impl"] == "ours_bf16" else "float32"
        distance = "sliced_wasserstein" if case["impl"] == "ours_sw" else "squared_frobenius"
        if case["config"] == "sr":
            loss_fn = FeatureReconstructionLoss("relu2_2", weights=None, backbone_dtype=dtype)
        else:
            loss_fn = PerceptualLoss(style_image=style, weights=None, backbone_dtype=dtype,
                                     style_distance=distance)
    else:
        loss_fn = naive_keras_loss(case["config"], style)

    def step():
        with tf.GradientTape() as tape:
            value = loss_fn(y_true, y_pred)
        return tape.gradient(value, y_pred)

    if case["mode"] == "graph":
        step = tf.function(step)
    seconds = common.time_it(lambda: step().numpy(), case["iters"])
    return {"seconds": seconds, "ms_per_image": 1e3 * seconds / b}


def naive_keras_loss(config: str, style):
    """The straightforward Keras implementation most tutorials show."""
    import keras
    import tensorflow as tf

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    outputs = {layer.name: layer.output for layer in vgg.layers}
    extractor = keras.Model(vgg.inputs, outputs)  # every activation of the full VGG16
    preprocess = keras.applications.vgg16.preprocess_input
    style = tf.constant(style[None])

    def gram(f):
        b, h, w, c = tf.unstack(tf.shape(f))
        flat = tf.reshape(f, (b, h * w, c))
        return tf.matmul(flat, flat, transpose_a=True) / tf.cast(c * h * w, f.dtype)

    def loss(y_true, y_pred):
        f_true = extractor(preprocess(y_true * 255.0))
        f_pred = extractor(preprocess(y_pred * 255.0))
        c = KERAS_NAMES["relu2_2"]
        value = tf.reduce_mean(tf.square(f_pred[c] - f_true[c]), axis=(1, 2, 3))
        if config == "style":
            f_style = extractor(preprocess(style * 255.0))  # recomputed every step
            for layer in STYLE_LAYERS:
                k = KERAS_NAMES[layer]
                value += 2e-5 * tf.reduce_sum(tf.square(gram(f_pred[k]) - gram(f_style[k])), (1, 2))
            value += 1e-4 * tf.image.total_variation(y_pred)
        return tf.reduce_mean(value)

    return loss


def measure_torch(case: dict) -> dict:
    import numpy as np
    import torch
    import torchvision

    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(0)
    b, s = case["batch"], case["size"]
    y_true = torch.tensor(rng.random((b, 3, s, s), dtype=np.float32))
    y_pred = torch.tensor(rng.random((b, 3, s, s), dtype=np.float32), requires_grad=True)
    style = torch.tensor(rng.random((1, 3, s, s), dtype=np.float32))
    features = torchvision.models.vgg16(weights=None).features.eval()
    for p in features.parameters():
        p.requires_grad_(False)

    if case["impl"] == "pytorch_examples":
        slices = [features[0:4], features[4:9], features[9:16], features[16:23]]
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1)

        def vgg(x):  # pytorch/examples' Vgg16.forward: all four slices, always
            x = (x - mean) / std
            out = []
            for part in slices:
                x = part(x)
                out.append(x)
            return out

        def gram(y):
            bb, ch, h, w = y.size()
            f = y.view(bb, ch, w * h)
            return f.bmm(f.transpose(1, 2)) / (ch * h * w)

        with torch.no_grad():
            gram_style = [gram(f) for f in vgg(style)]

        def loss_fn():
            fy, fx = vgg(y_pred), vgg(y_true)
            value = torch.nn.functional.mse_loss(fy[1], fx[1])
            if case["config"] == "style":
                for fy_j, gs in zip(fy, gram_style, strict=True):
                    value = value + torch.nn.functional.mse_loss(gram(fy_j), gs.expand(b, -1, -1))
            return value
    else:
        import piq

        content = piq.ContentLoss(feature_extractor=features, layers=(TORCH_INDEX["relu2_2"],),
                                  weights=[1.0])
        style_loss = piq.StyleLoss(feature_extractor=features,
                                   layers=tuple(TORCH_INDEX[k] for k in STYLE_LAYERS),
                                   weights=[1.0] * 4)
        tv = piq.TVLoss()
        style_batch = style.expand(b, -1, -1, -1)

        def loss_fn():
            value = content(y_pred, y_true)
            if case["config"] == "style":
                value = value + style_loss(y_pred, style_batch) + tv(y_pred)
            return value

    def forward_backward():
        loss_fn().backward()

    if case.get("compiled"):
        forward_backward = torch.compile(forward_backward)

    def step():
        y_pred.grad = None
        forward_backward()
        return y_pred.grad

    seconds = common.time_it(step, case["iters"], warmup=2 if case.get("compiled") else 1)
    return {"seconds": seconds, "ms_per_image": 1e3 * seconds / b}


def measure(case: dict) -> dict:
    if case["kind"] == "peak":
        return common.measure_peak(case)
    if case["kind"] == "torch":
        return measure_torch(case)
    return measure_keras(case)


# --------------------------------------------------------------------------- parent


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peers")
    parser.add_argument("--style-distances-only", action="store_true",
                        help="only the style configuration, ours with the Gram vs the sliced "
                        "Wasserstein distance (graph mode)")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.size, args.iters = [1], 64, 1
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        has_torch = not args.no_torch
    except ImportError:
        has_torch = False
        print('PyTorch peers skipped: pip install ".[bench]" to include them.')
    try:
        import piq  # noqa: F401
        has_piq = has_torch
    except ImportError:
        has_piq = False

    script = os.path.abspath(__file__)
    if args.style_distances_only:
        results = {"environment": common.environment(),
                   "style_distances": style_distances(script, args)}
        common.write_json(args.json, results)
        return
    results = {"environment": common.environment(), "cases": []}
    peak = common.run_child(script, {"kind": "peak", "iters": args.iters, "quick": args.quick})
    results["peak"] = peak
    results["machine"] = common.print_header(script, peak)
    conv_peak = max(peak.get("conv_gflops", 0), peak.get("matmul_gflops", 0))

    header = (f"{'config':6} {'batch':>5} | {'ours eager':>10} {'naive eager':>11} {'ratio':>6} | "
              f"{'ours graph':>10} {'naive graph':>11} {'ratio':>6} | {'pt/examples':>11} "
              f"{'ratio':>6} | {'piq':>8} {'ratio':>6} | {'GFLOP/s':>7} {'of peak':>7} | "
              f"{'RSS MiB':>7}")
    rows = []
    for config in ("sr", "style"):
        for batch in args.batches:
            base = {"config": config, "batch": batch, "size": args.size, "iters": args.iters}
            r = {}
            for impl in ("ours", "naive"):
                for mode in ("eager", "graph"):
                    r[f"{impl}_{mode}"] = common.run_child(
                        script, {**base, "kind": "keras", "impl": impl, "mode": mode})
            r["ours_bf16_graph"] = common.run_child(
                script, {**base, "kind": "keras", "impl": "ours_bf16", "mode": "graph"})
            if has_torch:
                r["pytorch_examples"] = common.run_child(
                    script, {**base, "kind": "torch", "impl": "pytorch_examples"})
                r["pytorch_examples_compiled"] = common.run_child(
                    script, {**base, "kind": "torch", "impl": "pytorch_examples",
                             "compiled": True})
            if has_piq:
                r["piq"] = common.run_child(script, {**base, "kind": "torch", "impl": "piq"})
            if config == "style":
                r["ours_sw_graph"] = common.run_child(
                    script, {**base, "kind": "keras", "impl": "ours_sw", "mode": "graph"})
            for name, value in r.items():
                if "error" in value:
                    print(f"  {config} b{batch} {name} FAILED: {value['error']}")
            ms = {k: v.get("ms_per_image") for k, v in r.items()}
            best_ours = min(x for x in (ms["ours_eager"], ms["ours_graph"]) if x)
            gflops = common.loss_flops(config, args.size) / (best_ours / 1e3) / 1e9
            row = {
                "config": config, "batch": batch, "ms_per_image": ms,
                "eager_speedup_vs_naive": ms["naive_eager"] / ms["ours_eager"],
                "graph_speedup_vs_naive": ms["naive_graph"] / ms["ours_graph"],
                # Like with like: eager PyTorch vs our eager loss, torch.compile vs our graph.
                "speedup_vs_pytorch_examples": (ms["pytorch_examples"] / ms["ours_eager"])
                if ms.get("pytorch_examples") else None,
                "speedup_vs_pytorch_examples_compiled": (
                    ms["pytorch_examples_compiled"] / ms["ours_graph"])
                if ms.get("pytorch_examples_compiled") else None,
                "work_avoided_vs_pytorch_examples": common.examples_loss_flops(config, args.size)
                / common.loss_flops(config, args.size),
                "speedup_vs_piq": (ms["piq"] / ms["ours_eager"]) if ms.get("piq") else None,
                "bf16_speedup_vs_naive_graph": (ms["naive_graph"] / ms["ours_bf16_graph"])
                if ms.get("ours_bf16_graph") else None,
                "bf16_speedup_vs_pytorch_examples": (ms["pytorch_examples"] / ms["ours_bf16_graph"])
                if ms.get("pytorch_examples") and ms.get("ours_bf16_graph") else None,
                "gflops": gflops, "fraction_of_peak": gflops / conv_peak if conv_peak else None,
                "peak_rss_mb": {k: v.get("peak_rss_mb") for k, v in r.items()},
            }
            rows.append(row)
            results["cases"].append(row)

    print(f"\nms per image (forward + backward), {args.size} px, median of {args.iters}; "
          "ratio = their time / ours (higher is better for us); the peers against our eager loss")
    print(header)
    for row in rows:
        ms = row["ms_per_image"]

        def cell(key, width=8, ms=ms):
            return f"{ms[key]:{width}.1f}" if ms.get(key) else f"{'-':>{width}}"

        pe = row["speedup_vs_pytorch_examples"]
        pq = row["speedup_vs_piq"]
        print(f"{row['config']:6} {row['batch']:>5} | {cell('ours_eager', 10)} "
              f"{cell('naive_eager', 11)} {row['eager_speedup_vs_naive']:5.2f}x | "
              f"{cell('ours_graph', 10)} {cell('naive_graph', 11)} "
              f"{row['graph_speedup_vs_naive']:5.2f}x | {cell('pytorch_examples', 11)} "
              f"{(f'{pe:5.2f}x') if pe else '    -':>6} | {cell('piq')} "
              f"{(f'{pq:5.2f}x') if pq else '    -':>6} | {row['gflops']:7.1f} "
              f"{row['fraction_of_peak']:7.0%} | {max(v or 0 for v in row['peak_rss_mb'].values()):7.0f}")
    print("\nagainst pytorch/examples, like with like (ratio = their time / ours = work "
          "avoided x kernel efficiency; work = their FLOPs / ours, common.loss_flops)")
    for row in rows:
        work = row["work_avoided_vs_pytorch_examples"]
        for mode, key in (("eager vs eager", "speedup_vs_pytorch_examples"),
                          ("graph vs torch.compile", "speedup_vs_pytorch_examples_compiled")):
            ratio = row[key]
            shown = (f"{ratio:5.2f}x = {work:.2f}x work avoided x {ratio / work:.2f}x kernel "
                     "efficiency") if ratio else "not measured (failed or skipped)"
            print(f"  {row['config']:6} b{row['batch']:<3} {mode:23} {shown}")
    print("\nopt-in backbone_dtype='bfloat16' (graph mode), ms per image and ratio = their time / ours")
    print(f"{'config':6} {'batch':>5} | {'ours bf16':>9} | {'vs ours f32':>11} | {'vs naive eager':>14} | "
          f"{'vs naive graph':>14} | {'vs pt/examples':>14}")
    for row in rows:
        ms = row["ms_per_image"]
        if not ms.get("ours_bf16_graph"):
            continue
        pe = row["bf16_speedup_vs_pytorch_examples"]
        print(f"{row['config']:6} {row['batch']:>5} | {ms['ours_bf16_graph']:9.1f} | "
              f"{ms['ours_graph'] / ms['ours_bf16_graph']:10.2f}x | "
              f"{ms['naive_eager'] / ms['ours_bf16_graph']:13.2f}x | "
              f"{row['bf16_speedup_vs_naive_graph']:13.2f}x | "
              f"{(f'{pe:13.2f}x') if pe else '-':>14}")
    print_style_distances(rows)
    common.write_json(args.json, results)


def print_style_distances(rows: list) -> None:
    """The sliced Wasserstein style distance's cost as a ratio to the Gram distance's."""
    print("\nstyle distance (graph mode, style configuration): sliced Wasserstein (K = C "
          "projections) vs Gram, ms per image and ratio = SW time / Gram time")
    print(f"{'batch':>5} | {'Gram':>8} | {'SW':>8} | {'SW / Gram':>9}")
    for row in rows:
        ms = row["ms_per_image"]
        if row["config"] != "style" or not (ms.get("ours_graph") and ms.get("ours_sw_graph")):
            continue
        row["sw_cost_vs_gram"] = ms["ours_sw_graph"] / ms["ours_graph"]
        print(f"{row['batch']:>5} | {ms['ours_graph']:8.1f} | {ms['ours_sw_graph']:8.1f} | "
              f"{row['sw_cost_vs_gram']:8.2f}x")


def style_distances(script: str, args) -> list:
    """--style-distances-only: ours with each style distance, graph mode, in one run."""
    rows = []
    for batch in args.batches:
        base = {"config": "style", "batch": batch, "size": args.size, "iters": args.iters,
                "kind": "keras", "mode": "graph"}
        r = {"ours_graph": common.run_child(script, {**base, "impl": "ours"}),
             "ours_sw_graph": common.run_child(script, {**base, "impl": "ours_sw"})}
        for name, value in r.items():
            if "error" in value:
                print(f"  style b{batch} {name} FAILED: {value['error']}")
        rows.append({"config": "style", "batch": batch,
                     "ms_per_image": {k: v.get("ms_per_image") for k, v in r.items()}})
    print_style_distances(rows)
    return rows


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
