"""Images per second of the input pipelines: tf.data vs the PyDataset, on the same folder.

    python benchmarks/bench_data.py                 # 256 px crops, batch 4, 96 photos of 640x480
    python benchmarks/bench_data.py --folder DIR    # your own images (e.g. a COCO subset)
    python benchmarks/bench_data.py --quick         # smoke run

Both pipelines decode JPEGs, resize the shorter side to the crop size (anti-aliased), take a
random square crop and batch, as the training recipes do:

* ``tf.data``: :func:`keras_perceptual.data.image_folder_dataset` (the TensorFlow recipes;
  parallel decode in TensorFlow's thread pool, prefetch);
* ``PyDataset``: :class:`keras_perceptual.pydata.RandomCrops` (the JAX path, no
  TensorFlow; Pillow decode in ``workers`` threads), run under TensorFlow and under JAX.

Each is consumed the way training consumes it, by ``model.fit`` of a network too small to
matter (one 1x1 convolution), in its own child process, alternating cases, so that the
figure is what the pipeline can feed a training step. ``--cache`` also times the in-memory
cache (decoded images kept; crops still random). The synthetic folder is built from the
package's sample photos (random crops, flips and JPEG qualities, 640x480), once per run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

CASES = (("tf.data", "tensorflow"), ("PyDataset", "tensorflow"), ("PyDataset", "jax"))


def make_folder(folder: str, count: int, width: int = 640, height: int = 480) -> None:
    """``count`` distinct JPEG photos of ``width`` x ``height`` from the sample photos."""
    import numpy as np
    from PIL import Image

    assets = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "keras_perceptual", "assets")
    photos = [Image.open(os.path.join(assets, f)).convert("RGB")
              for f in sorted(os.listdir(assets)) if f.startswith("photo_")]
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        scale = rng.uniform(1.0, 1.5) * max(width / photo.width, height / photo.height)
        big = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1))
        left = int(rng.integers(0, big.width - width + 1))
        top = int(rng.integers(0, big.height - height + 1))
        image = big.crop((left, top, left + width, top + height))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.save(os.path.join(folder, f"photo_{i:04d}.jpg"), quality=int(rng.integers(80, 96)))


def measure(case: dict) -> dict:
    import keras
    import numpy as np

    from keras_perceptual.scan import scan_images

    scan = scan_images(case["folder"], verify=False)
    size, batch, cache = case["size"], case["batch"], case["cache"]
    if case["pipeline"] == "tf.data":
        from keras_perceptual.data import image_folder_dataset, style_transfer_pairs

        data = style_transfer_pairs(image_folder_dataset(scan, size, batch, seed=0, cache=cache))
    else:
        from keras_perceptual.pydata import RandomCrops

        data = RandomCrops(scan, size, batch, seed=0, cache=cache)
    model = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Conv2D(3, 1)])
    model.compile("sgd", "mse")

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, index, logs=None):
            self.times.append(time.perf_counter())

    timer = Timer()
    timer.times = []
    warm = 2 * max(1, case["images"] // batch) if cache else 3
    model.fit(data, steps_per_epoch=warm + case["steps"], epochs=1, verbose=0, callbacks=[timer])
    gaps = np.diff(timer.times[warm - 1:])
    per_batch = statistics.median(gaps)
    return {"images_per_second": batch / per_batch,
            "mean_images_per_second": batch * len(gaps) / float(np.sum(gaps)),
            "backend": keras.backend.backend()}


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--folder", help="images to read (default: a synthetic folder)")
    parser.add_argument("--images", type=int, default=96, help="synthetic folder: photos")
    parser.add_argument("--size", type=int, default=256, help="crop side, pixels")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60, help="timed batches per case")
    parser.add_argument("--cache", action="store_true", help="also the in-memory cache")
    parser.add_argument("--no-jax", action="store_true", help="skip the PyDataset under JAX")
    args = parser.parse_args()
    if args.quick:
        args.images, args.steps, args.size = 8, 4, 64
    script = os.path.abspath(__file__)
    common.print_header(script)
    cases = [c for c in CASES if not (args.no_jax and c[1] == "jax")]
    with tempfile.TemporaryDirectory(prefix="bench_data_") as scratch:
        folder = args.folder
        if folder is None:
            folder = scratch
            make_folder(folder, args.images)
        count = len(os.listdir(folder))
        print(f"\n{count} files in {folder if args.folder else 'a synthetic folder (640x480 JPEG)'}"
              f", {args.size} px crops, batch {args.batch}, {args.steps} timed batches; "
              "images/second fed to fit (median batch interval; mean in brackets)")
        results = {}
        for cache in (False, True) if args.cache else (False,):
            for pipeline, backend in cases:
                name = f"{pipeline} ({backend}){' cached' if cache else ''}"
                results[name] = common.run_child(script, {
                    "folder": folder, "pipeline": pipeline, "size": args.size,
                    "batch": args.batch, "steps": args.steps, "cache": cache,
                    "images": count}, env={"KERAS_BACKEND": backend})  # fmt: skip
    ref = results.get("tf.data (tensorflow)", {}).get("images_per_second")
    for name, r in results.items():
        if "error" in r:
            print(f"  {name:32} FAILED: {r['error'][-300:]}")
            continue
        ips = r["images_per_second"]
        ratio = f"{ips / ref:5.2f}x tf.data" if ref else ""
        print(f"  {name:32} {ips:8.1f} img/s ({r['mean_images_per_second']:7.1f})  {ratio:14} "
              f"RSS {r['peak_rss_mb']:5.0f} MiB")
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    if not common.child_main(measure):
        main()
