"""LPIPS and DISTS: ours vs the authors' PyTorch packages, per image, in one run.

    python benchmarks/bench_metrics.py              # 256 px, batch 4
    python benchmarks/bench_metrics.py --quick      # smoke run (64 px, batch 1)

Two uses are timed:
  metric   the distance of a batch of pairs, no gradient (evaluation)
  loss     forward + backward with respect to y_pred (training with LPIPS / DISTS as loss)

Implementations:
  ours eager / graph   keras_perceptual's lpips()/dists() (metric: both images through the
                       backbone as one batch) and LPIPSLoss/DISTSLoss (loss: y_true without
                       gradient), called directly and inside tf.function
  reference            lpips.LPIPS(net=...) 0.1.4 and DISTS_pytorch.DISTS() 0.1, the
                       packages the numbers are checked against (torch.no_grad() for the
                       metric; DISTS(require_grad=True) for the loss, as its authors train)

Every backbone has random weights on both sides (weights=None; the reference's
torchvision networks are built untrained): speed does not depend on the values, and
ImageNet weights cannot be downloaded offline. Ratio = reference time / ours (higher is
better for us). Needs `pip install ".[bench]"` (torch, torchvision, lpips, DISTS_pytorch).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

METRICS = [("lpips", "alex"), ("lpips", "vgg"), ("dists", None)]


def measure_keras(case: dict) -> dict:
    import numpy as np
    import tensorflow as tf

    from keras_perceptual import DISTSLoss, LPIPSLoss, dists, lpips

    rng = np.random.default_rng(0)
    b, s = case["batch"], case["size"]
    y_true = tf.constant(rng.random((b, s, s, 3), dtype=np.float32))
    y_pred = tf.Variable(rng.random((b, s, s, 3), dtype=np.float32))
    if case["use"] == "metric":
        if case["metric"] == "lpips":
            def fn():
                return lpips(y_true, y_pred, net=case["net"], weights=None)
        else:
            def fn():
                return dists(y_true, y_pred, weights=None)
    else:
        loss = (LPIPSLoss(case["net"], weights=None) if case["metric"] == "lpips"
                else DISTSLoss(weights=None))

        def fn():
            with tf.GradientTape() as tape:
                value = loss(y_true, y_pred)
            return tape.gradient(value, y_pred)

    if case["mode"] == "graph":
        fn = tf.function(fn)
    seconds = common.time_it(lambda: np.asarray(fn()), case["iters"])
    return {"seconds": seconds, "ms_per_image": 1e3 * seconds / b}


def measure_torch(case: dict) -> dict:
    import types

    import numpy as np
    import torch
    import torchvision

    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(0)
    b, s = case["batch"], case["size"]
    y_true = torch.tensor(rng.random((b, 3, s, s), dtype=np.float32))
    y_pred = torch.tensor(rng.random((b, 3, s, s), dtype=np.float32),
                          requires_grad=case["use"] == "loss")
    if case["metric"] == "lpips":
        import lpips

        model = lpips.LPIPS(net=case["net"], pnet_rand=True, verbose=False).eval()

        def distance():
            return model(y_true * 2 - 1, y_pred * 2 - 1)
    else:
        from DISTS_pytorch import DISTS_pt

        # DISTS_pt asks torchvision for ImageNet weights (a download); give it an untrained VGG16.
        DISTS_pt.models = types.SimpleNamespace(
            vgg16=lambda *args, **kwargs: torchvision.models.vgg16(weights=None))
        model = DISTS_pt.DISTS(load_weights=False).eval()

        def distance():
            return model(y_true, y_pred, require_grad=case["use"] == "loss", batch_average=True)

    if case["use"] == "metric":
        def fn():
            with torch.no_grad():
                return distance()
    else:
        def fn():
            y_pred.grad = None
            distance().mean().backward()
            return y_pred.grad

    seconds = common.time_it(fn, case["iters"])
    return {"seconds": seconds, "ms_per_image": 1e3 * seconds / b}


def measure(case: dict) -> dict:
    return measure_torch(case) if case["kind"] == "torch" else measure_keras(case)


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.size, args.iters = 1, 64, 1
    try:
        import DISTS_pytorch  # noqa: F401
        import lpips  # noqa: F401
        import torch  # noqa: F401
        has_reference = True
    except ImportError:
        has_reference = False
        print('Reference packages missing: pip install ".[bench]" to compare with them.')

    script = os.path.abspath(__file__)
    results = {"environment": common.environment(), "cases": []}
    print(f"ms per image, {args.size} px, batch {args.batch}, median of {args.iters}; "
          "ratio = reference time / ours (higher is better for us)")
    print(f"{'metric':11} {'use':6} | {'ours eager':>10} {'ours graph':>10} | {'reference':>9} "
          f"| {'ratio (best ours)':>17}")
    for metric, net in METRICS:
        label = f"{metric}-{net}" if net else metric
        for use in ("metric", "loss"):
            base = {"metric": metric, "net": net, "use": use, "batch": args.batch,
                    "size": args.size, "iters": args.iters}
            r = {mode: common.run_child(script, {**base, "kind": "keras", "mode": mode})
                 for mode in ("eager", "graph")}
            if has_reference:
                r["reference"] = common.run_child(script, {**base, "kind": "torch"})
            for name, value in r.items():
                if "error" in value:
                    print(f"  {label} {use} {name} FAILED: {value['error']}")
            ms = {k: v.get("ms_per_image") for k, v in r.items()}
            ours = min(x for x in (ms["eager"], ms["graph"]) if x)
            ratio = ms["reference"] / ours if ms.get("reference") else None
            row = {"metric": label, "use": use, "ms_per_image": ms, "speedup_vs_reference": ratio}
            results["cases"].append(row)
            ref = f"{ms['reference']:9.1f}" if ms.get("reference") else f"{'-':>9}"
            print(f"{label:11} {use:6} | {ms['eager'] or 0:10.1f} {ms['graph'] or 0:10.1f} | "
                  f"{ref} | {(f'{ratio:16.2f}x') if ratio else f'{chr(45):>17}'}")
    common.write_json(args.json, results)


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
