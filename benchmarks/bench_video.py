"""Video: stylize-video throughput and memory, and flicker with and without stability training.

    python benchmarks/bench_video.py                      # every part
    python benchmarks/bench_video.py --part speed         # frames/s at 256 and 512 px
    python benchmarks/bench_video.py --part memory        # peak RSS, 10 s vs 60 s clip
    python benchmarks/bench_video.py --part temporal      # the 2x flicker goal (issue 18)
    python benchmarks/bench_video.py --quick              # smoke run of every part

speed: frames per second of :func:`keras_perceptual.video.stylize_video` (decode, the
paper's ``style_transfer_net()`` on batches of 4 frames, H.264 encode, audio copy) on a
48-frame clip at 256 and 512 px, next to the bare network's frames per second on the
same frames (compiled ``predict_on_batch``, batch 4) in the same process: the ratio is
what the video pipeline costs on top of the network.

memory: peak resident memory of a process that stylizes a 10 s and a 60 s clip (25 fps,
256 px), each in its own process; the 60 s clip has 6x the frames, so any
growth with the length shows as a difference.

temporal: issue 18's measured result. A fast style-transfer network
(``style_transfer_net(filters=16, upsampling="resize")``, the demo's) is trained on three
shipped photos (astronaut, chelsea, rocket; random 128 px crops through
``image_folder_dataset``) with ``PerceptualLoss(style_image=starry_night)`` for
``--base-steps``; then (a) trains ``--steps`` more without and (b) ``--steps`` more with
:class:`~keras_perceptual.losses.TemporalConsistency` (``--motion``, ``--weight``), from
the same weights and the same data. Both stylize a synthetic clip of the held-out
shipped photo (coffee) under a smooth known camera path
(:func:`~keras_perceptual.motion.camera_clip`, 48 frames); reported: the warping error
(:func:`~keras_perceptual.metrics.temporal_warping_error`, lower = less flicker), the
style loss (``StyleReconstructionLoss`` against the style image, mean over frames) and
the content loss of both, the ratios (a)/(b), and a strip of frames
(``--out``/strip.png, and strip.gif). The loss network is the offline stand-in
``weights="hed_bsds500"`` (not ImageNet; say so wherever the figures are quoted).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(REPO, "keras_perceptual", "assets")
TRAIN_PHOTOS = ("photo_astronaut.jpg", "photo_chelsea.jpg", "photo_rocket.jpg")
CLIP_PHOTO = "photo_coffee.jpg"


# --------------------------------------------------------------------------
# Clips.
# --------------------------------------------------------------------------


def write_clip(path: str, frames: int, side: int, fps: int = 25) -> str:
    """A silent H.264 clip panning over a shipped photo (written one frame at a time)."""
    import av
    import numpy as np

    from keras_perceptual.images import load_image

    photo = load_image(os.path.join(ASSETS, CLIP_PHOTO), size=(side + 64, side + 64))
    photo = (photo * 255).astype(np.uint8)
    with av.open(path, "w") as container:
        video = container.add_stream("h264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        for t in range(frames):
            dx = int(32 + 30 * np.sin(2 * np.pi * t / 100))
            image = np.ascontiguousarray(photo[16 : 16 + side, dx : dx + side])
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    return path


# --------------------------------------------------------------------------
# Children.
# --------------------------------------------------------------------------


def measure(case: dict) -> dict:
    import numpy as np

    from keras_perceptual.models import style_transfer_net
    from keras_perceptual.video import stylize_video

    folder = tempfile.mkdtemp(prefix="bench_video_")
    try:
        source = write_clip(os.path.join(folder, "in.mp4"), case["frames"], case["side"])
        model = style_transfer_net()
        result = {}
        if case["kind"] == "speed":
            # Warm-up (traces the network for this size), then the timed run.
            stylize_video(model, source, os.path.join(folder, "warm.mp4"), progress=False)
            start = time.perf_counter()
            info = stylize_video(model, source, os.path.join(folder, "out.mp4"), progress=False)
            video_fps = info.frames / (time.perf_counter() - start)
            batch = np.random.default_rng(0).random((4, case["side"], case["side"], 3), "float32")
            model.predict_on_batch(batch)
            bare = common.time_it(lambda: model.predict_on_batch(batch), case["iters"])
            result.update(video_fps=video_fps, network_fps=4 / bare, frames=info.frames)
        else:
            info = stylize_video(model, source, os.path.join(folder, "out.mp4"), progress=False)
            result.update(frames=info.frames, fps=info.fps)
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def part_speed(args) -> dict:
    sides = (64, 128) if args.quick else tuple(args.sides)
    frames = 8 if args.quick else args.frames
    results = {}
    for side in sides:
        case = {"kind": "speed", "side": side, "frames": frames, "iters": args.iters}
        results[side] = common.run_child(__file__, case)
        r = results[side]
        if "error" in r:
            print(f"speed {side} px: {r['error']}")
            continue
        print(
            f"stylize-video {side}x{side}: {r['video_fps']:.2f} frames/s; network alone "
            f"{r['network_fps']:.2f} frames/s; video/network = "
            f"{common.fmt_ratio(r['video_fps'], r['network_fps'])}"
        )
    return results


def part_memory(args) -> dict:
    side = 64 if args.quick else args.memory_side
    seconds = (2, 12) if args.quick else (10, 60)
    results = {}
    for length in seconds:
        case = {"kind": "memory", "side": side, "frames": 25 * length}
        results[length] = common.run_child(__file__, case, timeout=3600)
        r = results[length]
        if "error" in r:
            print(f"memory {length} s: {r['error']}")
            continue
        print(f"{length:>3} s clip ({r['frames']} frames, {side} px): "
              f"peak RSS {r['peak_rss_mb']:.0f} MiB")
    a, b = (results[s].get("peak_rss_mb") for s in seconds)
    if a and b:
        print(f"peak RSS, {seconds[1]} s clip vs {seconds[0]} s clip: {b - a:+.0f} MiB "
              f"({common.fmt_ratio(b, a)}) for {seconds[1] // seconds[0]}x the frames")
    return results


# --------------------------------------------------------------------------
# Temporal stability (runs in this process: one base training, then the fine-tunings).
# --------------------------------------------------------------------------


def _evaluate(net, clip, style_loss, content_loss) -> dict:
    """Warping error, style loss and content loss of ``net`` on the synthetic clip."""
    import keras
    import numpy as np

    from keras_perceptual import stylize
    from keras_perceptual.metrics import temporal_warping_error

    frames, flows, masks = clip
    stylized = stylize(net, frames, batch_size=8)
    return {
        "warping_error": float(temporal_warping_error(stylized, flows, masks)),
        "style_loss": float(np.mean(keras.ops.convert_to_numpy(style_loss(frames, stylized)))),
        "content_loss": float(np.mean(keras.ops.convert_to_numpy(content_loss(frames, stylized)))),
    }, stylized


def _train(network, dataset, steps: int, loss, weight: float, motion: str, seed: int,
           evaluate=None, every: int = 0):
    """Trains ``network`` for ``steps`` (with the temporal term when ``weight > 0``);
    ``evaluate(step)`` every ``every`` steps gives the learning curve."""
    import keras

    from keras_perceptual.losses import TemporalConsistency

    inputs = keras.Input((None, None, 3))
    if weight > 0:
        outputs = TemporalConsistency(network, weight=weight, motion=motion, seed=seed)(inputs)
    else:
        outputs = network(inputs)
    trainer = keras.Model(inputs, outputs)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss=lambda y, p: loss(y, p))
    every = every if evaluate is not None and 0 < every < steps else steps
    curve = []

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if evaluate is not None and (epoch + 1) * every < steps:
                curve.append({"step": (epoch + 1) * every, "loss": logs.get("loss"),
                              **evaluate()})

    start = time.perf_counter()
    history = trainer.fit(dataset, steps_per_epoch=every, epochs=-(-steps // every), verbose=0,
                          callbacks=[Curve()])
    return time.perf_counter() - start, float(history.history["loss"][-1]), curve


def part_temporal(args) -> dict:
    import keras
    import numpy as np
    from PIL import Image

    from keras_perceptual import PerceptualLoss, StyleReconstructionLoss
    from keras_perceptual.data import image_folder_dataset, style_transfer_pairs
    from keras_perceptual.images import load_image
    from keras_perceptual.losses import FeatureReconstructionLoss
    from keras_perceptual.metrics import temporal_warping_error
    from keras_perceptual.models import style_transfer_net
    from keras_perceptual.motion import camera_clip, camera_path

    quick = args.quick
    size = 64 if quick else 128
    base_steps = 4 if quick else args.base_steps
    steps = 4 if quick else args.steps
    frames_count = 6 if quick else 48
    out = args.out
    os.makedirs(out, exist_ok=True)
    photos = tempfile.mkdtemp(prefix="bench_video_photos_")
    for name in TRAIN_PHOTOS:
        shutil.copy(os.path.join(ASSETS, name), photos)
    style = load_image(os.path.join(ASSETS, "style_starry_night.jpg"), size=256)
    weights = "hed_bsds500"
    loss = PerceptualLoss(style_image=style, weights=weights, reduction=None)

    def dataset(seed):
        images = image_folder_dataset(photos, image_size=size, batch_size=4, seed=seed,
                                      resize=2 * size, cache=True)
        return style_transfer_pairs(images)

    def network():
        return style_transfer_net(filters=16, upsampling="resize")

    keras.utils.set_random_seed(0)
    base = network()
    base_path = os.path.join(out, f"base_{base_steps}.weights.h5")
    if os.path.exists(base_path) and not quick:
        base.load_weights(base_path)
        base_seconds = None
    else:
        base_seconds, _, _ = _train(base, dataset(0), base_steps, loss, 0.0, args.motion, 0)
        base.save_weights(base_path)
    print(f"base network: {base_steps} steps" + (
        f" ({base_seconds:.0f} s)" if base_seconds else " (cached)"), flush=True)

    clip_side = size + 32
    photo = load_image(os.path.join(ASSETS, CLIP_PHOTO), size=clip_side + 48)
    path = camera_path(frames_count, shift=(12.0, 6.0), zoom=0.06, rotation=3.0)
    clip = tuple(np.asarray(keras.ops.convert_to_numpy(v))
                 for v in camera_clip(photo, clip_side, path, margin=2.0))
    frames = clip[0]
    style_loss = StyleReconstructionLoss(style_image=style, weights=weights, reduction=None)
    content_loss = FeatureReconstructionLoss(weights=weights, reduction=None)
    results = {"input": {"warping_error": float(temporal_warping_error(*clip))}}
    results["base"], _ = _evaluate(base, clip, style_loss, content_loss)

    # (a) once, then (b) for every weight; each fine-tuning's final weights are cached in
    # --out, so adding a weight to the sweep re-uses the others.
    runs = [("plain", 0.0)] + [(f"stable_{args.motion}_{w:g}", w) for w in args.weight]
    outputs = {}
    for name, weight in runs:
        net = network()
        cached = os.path.join(out, f"{name}_{base_steps}+{steps}.weights.h5")
        record_path = cached.replace(".weights.h5", ".json")
        if os.path.exists(cached) and os.path.exists(record_path) and not quick:
            net.load_weights(cached)
            with open(record_path) as f:
                record = json.load(f)
            note = "cached"
        else:
            net.load_weights(base_path)
            seconds, final_loss, curve = _train(
                net, dataset(1), steps, loss, weight, args.motion, 1,
                evaluate=lambda n=net: _evaluate(n, clip, style_loss, content_loss)[0],
                every=args.eval_every,
            )
            record = {"weight": weight, "train_seconds": seconds, "final_train_loss": final_loss,
                      "curve": curve}
            if not quick:
                net.save_weights(cached)
                with open(record_path, "w") as f:
                    json.dump(record, f, indent=2)
            note = f"{seconds:.0f} s"
        metrics, outputs[name] = _evaluate(net, clip, style_loss, content_loss)
        results[name] = {**record, **metrics}
        print(f"{name}: +{steps} steps, weight {weight:g} ({note}): warping error "
              f"{metrics['warping_error']:.3e}, style loss {metrics['style_loss']:.4g}",
              flush=True)
    results["settings"] = {"base_steps": base_steps, "steps": steps, "size": size,
                           "clip": f"{frames_count} frames, {clip_side} px, {CLIP_PHOTO}",
                           "motion": args.motion, "weights": weights}

    a = results["plain"]
    print(f"clip: {frames_count} frames of {CLIP_PHOTO} at {clip_side} px; input warping error "
          f"{results['input']['warping_error']:.2e} (interpolation only)")
    print(f"{'':<34}{'warping error':>14}{'style loss':>12}{'content':>10}"
          f"{'(a)/(b) warp':>14}{'(b)/(a) style':>15}")
    best = None
    for name, _ in [("base", 0.0)] + runs:
        r = results[name]
        label = {"base": f"base ({base_steps} steps)", "plain": "(a) plain"}.get(name, f"(b) {name}")
        ratio, style_ratio = a["warping_error"] / r["warping_error"], r["style_loss"] / a["style_loss"]
        r["warping_ratio"], r["style_ratio"] = ratio, style_ratio
        print(f"{label:<34}{r['warping_error']:>14.3e}{r['style_loss']:>12.4g}"
              f"{r['content_loss']:>10.4g}{ratio:>13.2f}x{style_ratio:>15.3f}")
        if name.startswith("stable") and style_ratio <= 1.10 and (
                best is None or ratio > results[best]["warping_ratio"]):
            best = name
    if best is None:  # no (b) within the style budget: show the one closest to it
        best = min((n for n, _ in runs[1:]), key=lambda n: results[n]["style_ratio"])
    b = results[best]
    results["chosen"] = best
    print(f"chosen (b) = {best}: warping error (a)/(b) = "
          f"{common.fmt_ratio(a['warping_error'], b['warping_error'])} (goal >= 2x); style loss "
          f"(b)/(a) = {b['style_ratio']:.3f} (goal <= 1.10); goal "
          f"{'met' if b['warping_ratio'] >= 2 and b['style_ratio'] <= 1.10 else 'NOT met'}")
    if "train_seconds" in a and "train_seconds" in b:
        print(f"training time (b)/(a) = {common.fmt_ratio(b['train_seconds'], a['train_seconds'])}")

    # A strip: input, (a), (b) at a few frames; and (a)/(b) animated side by side.
    picks = np.linspace(0, frames_count - 1, min(5, frames_count)).astype(int)
    rows = [np.concatenate([img[t] for t in picks], axis=1)
            for img in (frames, outputs["plain"], outputs[best])]
    strip = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(strip).save(os.path.join(out, "strip.png"))
    both = (np.clip(np.concatenate([outputs["plain"], outputs[best]], axis=2), 0, 1)
            * 255).astype(np.uint8)
    gif = [Image.fromarray(f).quantize(colors=128, method=Image.Quantize.MEDIANCUT) for f in both]
    gif[0].save(os.path.join(out, "strip.gif"), save_all=True, append_images=gif[1:],
                duration=80, loop=0, optimize=True)
    with open(os.path.join(out, "temporal.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {out}/strip.png (rows: input, (a), (b)), strip.gif ((a) | (b)), temporal.json")
    shutil.rmtree(photos, ignore_errors=True)
    return results


def main() -> None:
    if common.child_main(measure):
        return
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("speed", "memory", "temporal", "all"), default="all")
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512],
                        help="speed: frame sizes (square)")
    parser.add_argument("--frames", type=int, default=48, help="speed: frames per clip")
    parser.add_argument("--memory-side", type=int, default=256, help="memory: frame size")
    parser.add_argument("--base-steps", type=int, default=300,
                        help="temporal: steps of the shared base network")
    parser.add_argument("--steps", type=int, default=300,
                        help="temporal: steps of each fine-tuning, (a) and (b)")
    parser.add_argument("--weight", type=float, nargs="+", default=[3e4, 1e5],
                        help="temporal: TemporalConsistency weight(s) of (b): several sweep")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="temporal: also measure every N steps of each fine-tuning")
    parser.add_argument("--motion", default="stability", help="temporal: stability or camera")
    parser.add_argument("--out", default="bench_video_out", help="temporal: output folder")
    args = parser.parse_args()
    common.print_header(os.path.abspath(__file__))
    results = {}
    for part, run in (("speed", part_speed), ("memory", part_memory),
                      ("temporal", part_temporal)):
        if args.part in (part, "all"):
            results[part] = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
