"""``keras-perceptual train-style`` and ``train-sr``: the training recipes from the shell."""

from __future__ import annotations

import json
import os

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    UsageError,
    add_distribution,
    add_training,
    add_weights,
    non_negative_int,
    positive_int,
    say,
    verbosity,
    weight,
)


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
        say(f"{output_dir} is already trained to step {step} of {steps}; nothing to train")
    else:
        say(f"resuming {output_dir} from step {step} of {steps}")


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
        verbose=verbosity(args),
    )
    say(result.summary())
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
        verbose=verbosity(args),
    )
    say(result.summary())
    return 0


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


def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("train-style", help="train a fast style-transfer network",
                       description="Train a fast style-transfer network (paper Section 4.1) "
                       "on a folder of photos with one style image.",
                       epilog=_TRAIN_STYLE_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("content_dir", metavar="CONTENT_DIR", help="folder of content photos (recursive)")
    p.add_argument("style_image", metavar="STYLE_IMAGE", help="the style image file")
    add_training(p, steps=40_000)
    add_distribution(p)
    group = p.add_argument_group("images and loss")
    group.add_argument("--image-size", type=positive_int, default=256, metavar="PX",
                       help="training crop size")
    group.add_argument("--style-image-size", type=non_negative_int, default=256, metavar="PX",
                       help="longer side of the style image (0: keep its size)")
    group.add_argument("--content-weight", type=weight, default=None, metavar="W",
                       help="content weight (default: PerceptualLoss's)")
    group.add_argument("--style-weight", type=weight, default=None, metavar="W",
                       help="style weight (default: PerceptualLoss's)")
    group.add_argument("--tv-weight", type=weight, default=None, metavar="W",
                       help="total-variation weight (default: PerceptualLoss's)")
    add_weights(group)
    group = p.add_argument_group("network")
    group.add_argument("--filters", type=positive_int, default=None, metavar="F",
                       help="width of the first layer (default: 32, the paper)")
    group.add_argument("--residual-blocks", type=non_negative_int, default=None, metavar="N",
                       help="residual blocks (default: 5, the paper)")
    group.add_argument("--normalization", choices=("instance", "batch", "none"), default=None,
                       help="normalization layers (default: instance)")
    p.set_defaults(handler=_cmd_train_style)

    p = sub.add_parser("train-sr", help="train a super-resolution network",
                       description="Train a single-image super-resolution network (paper "
                       "Section 4.2) on a folder of high-resolution images.",
                       epilog=_TRAIN_SR_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("image_dir", metavar="IMAGE_DIR", help="folder of high-resolution images")
    p.add_argument("--scale", type=int, choices=(2, 4, 8), default=4, help="up-sampling factor")
    add_training(p, steps=200_000)
    add_distribution(p)
    group = p.add_argument_group("images and loss")
    group.add_argument("--patch-size", type=positive_int, default=288, metavar="PX",
                       help="high-resolution patch size (a multiple of --scale)")
    group.add_argument("--loss", choices=("perceptual", "pixel"), default="perceptual",
                       help="feature reconstruction at relu2_2 (the paper) or pixel MSE (baseline)")
    group.add_argument("--tv-weight", type=weight, default=None, metavar="W",
                       help="total-variation weight (default: the johnson2016_sr preset's)")
    group.add_argument("--gan", action="store_true",
                       help="add SRGAN-style adversarial training (PerceptualGAN)")
    group.add_argument("--adversarial-weight", type=weight, default=1e-3, metavar="W",
                       help="weight of the adversarial term with --gan (SRGAN: 1e-3)")
    add_weights(group)
    group = p.add_argument_group("network")
    group.add_argument("--filters", type=positive_int, default=None, metavar="F",
                       help="channels of every layer (default: 64, the paper)")
    group.add_argument("--residual-blocks", type=non_negative_int, default=None, metavar="N",
                       help="residual blocks (default: 4, the paper)")
    p.set_defaults(handler=_cmd_train_sr)
