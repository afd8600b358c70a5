"""``keras-perceptual train-style`` and ``train-sr``: the training recipes from the shell."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
from collections.abc import Callable
from typing import Any

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    UsageError,
    add_distribution,
    non_negative_int,
    option_names,
    positive_int,
    say,
    verbosity,
    weight,
    weights_choice,
    with_option_names,
)
from keras_perceptual.errors import KerasPerceptualError


def _announce_resume(config) -> None:
    """Says that ``config.output_dir`` holds a run that this command resumes (or that is
    already finished); nothing when its settings differ (the run then stops with the list
    of differences, and "resuming" above it would contradict it)."""
    from keras_perceptual.training import BACKUP_DIR, StepBackupAndRestore
    from keras_perceptual.training.trainer import CONFIG_FILE, MODEL_FILE, read_record

    output_dir, steps = config.output_dir, config.steps
    state_file = os.path.join(output_dir, BACKUP_DIR, StepBackupAndRestore.STATE_FILE)
    if not os.path.isfile(state_file):
        if os.path.isfile(os.path.join(output_dir, MODEL_FILE)):
            say(f"{output_dir} holds a {MODEL_FILE} but no {BACKUP_DIR}/{StepBackupAndRestore.STATE_FILE} "
                f"to resume from: training starts over from step 0 and replaces it (choose "
                f"another --out to keep it)")
        return
    record = read_record(os.path.join(output_dir, CONFIG_FILE)) or {}
    arguments = record.get("arguments")
    if not isinstance(arguments, dict):
        return  # the trainer refuses a damaged config.json
    if config.seed is None and arguments.get("seed") is not None:
        # No --seed: the run reuses the recorded one (Trainer.resolve), so it is no difference.
        config = dataclasses.replace(config, seed=arguments["seed"])
    try:
        if config.differences(arguments):
            return
    except (KerasPerceptualError, OSError):
        return  # the recipe reports it
    try:
        state = StepBackupAndRestore(os.path.dirname(state_file)).read_state() or {}
    except OSError:
        return
    step = state.get("step")
    if step is None:
        return
    if step > steps:
        say(f"{output_dir} is already trained to step {step}, past --steps {steps}; nothing to "
            f"train (a larger --steps trains on)")
    elif step == steps:
        say(f"{output_dir} is already trained to step {step} of {steps}; nothing to train (a "
            f"larger --steps trains on)")
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


def _field_option(field: dataclasses.Field) -> str:
    """A configuration field's option (``--image-size``), or a positional's metavar."""
    if field.metadata.get("cli") == "positional":
        return field.metadata["metavar"]
    return field.metadata.get("option") or "--" + field.name.replace("_", "-")


def _cli_message(error: Exception, name: str, text: str, option: str) -> str:
    """A configuration rule's message in command-line terms: ``expected ..., got '...'``."""
    message = " ".join(str(error).split())
    prefix = f"{name} must be "
    if message.startswith(prefix):
        rule = message[len(prefix):].split(". Received:")[0]
        return f"expected {rule}, got {text!r}"
    return with_option_names(message, {name: option})


def _parser_for(field: dataclasses.Field) -> Callable[[str], Any]:
    """The argparse ``type`` of a configuration field: parse the text, apply the field's rule
    (the one in :mod:`keras_perceptual.training.config`), report it as an argument error."""
    default = field.default
    annotation = str(field.type)
    if field.name == "weights":
        return weights_choice
    if "float" in annotation or isinstance(default, float) or field.name == "learning_rate":
        parse = float
    elif "int" in annotation:
        parse = int
    else:
        parse = str
    # With choices, argparse reports a value outside them ("invalid choice"); the rule
    # still applies when the configuration is built.
    check = None if field.metadata.get("choices") else field.metadata.get("check")
    option = _field_option(field)

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a number' if parse is float else 'an integer'}, got {text!r}"
            ) from None
        if check is not None:
            try:
                value = check(value, field.name)
            except KerasPerceptualError as error:
                raise argparse.ArgumentTypeError(
                    _cli_message(error, field.name, text, option)
                ) from None
        return value

    convert.__name__ = field.name  # argparse names the type in its own messages
    return convert


def _default_text(value: Any) -> str:
    if value is None or value is dataclasses.MISSING:
        return ""
    if isinstance(value, float) and value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
        return f" (default: {value:g})"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f" (default: {value:,})"
    return f" (default: {value})"


def add_config_options(parser, config_class, groups: dict[str, str], exclude=None) -> None:
    """Adds one argument per command-line field of ``config_class`` (defaults, help and rules
    from the fields; nothing written twice). Options not given are left out of the
    namespace and keep the field's default (so ``--weights none`` stays distinct from no
    ``--weights``). ``groups`` maps a field name to its argument group's title; the fields
    of the configuration class ``exclude`` (already added) are skipped."""
    group_objects: dict[str, Any] = {}
    skip = {field.name for field in dataclasses.fields(exclude)} if exclude else set()
    for field in dataclasses.fields(config_class):
        kind = field.metadata.get("cli")
        if kind is None or field.name in skip:
            continue
        title = groups.get(field.name)
        target = parser
        if title is not None:
            target = group_objects.setdefault(title, parser.add_argument_group(title))
        help_text = field.metadata["help"]
        if kind == "positional":
            target.add_argument(field.name, metavar=field.metadata["metavar"], help=help_text,
                                type=_parser_for(field), nargs=field.metadata.get("nargs"))  # fmt: skip
            continue
        option = _field_option(field)
        if kind == "flag":
            target.add_argument(option, dest=field.name, action="store_true",
                                default=argparse.SUPPRESS, help=help_text)  # fmt: skip
            continue
        required = field.default is dataclasses.MISSING and (
            field.default_factory is dataclasses.MISSING
        )
        target.add_argument(
            option,
            dest=field.name,
            type=_parser_for(field),
            default=argparse.SUPPRESS,
            required=required,
            choices=field.metadata.get("choices"),
            metavar=None if field.metadata.get("choices") else field.metadata.get("metavar"),
            help=help_text + _default_text(field.default),
        )


def config_options(config_class) -> dict[str, str]:
    """``{field name: option}`` of the command-line fields of ``config_class`` (a
    positional's metavar) and of the network options, for :func:`option_names`."""
    networks = (_STYLE_NETWORK, _ARBITRARY_NETWORK, _SR_NETWORK)
    # A resumed run's changed network option, as the settings check names it.
    options = {
        f"model_options[{name!r}]": option for network in networks for option, name, _ in network
    }
    options["gan_options['adversarial_weight']"] = "--adversarial-weight"
    options.update({name: option for network in networks for option, name, _ in network})
    for field in dataclasses.fields(config_class):
        kind = field.metadata.get("cli")
        if kind is not None:
            options[field.name] = _field_option(field)
    # The photo scan's min_size is the crop size (the recipe's data_source): name its option
    # (the scan's warning says "change min_size"; the recipes rename it in their errors).
    crop = "patch_size" if "patch_size" in options else "image_size"
    if crop in options:
        options["min_size"] = options[crop]
    if any(field.name == "style_images" for field in dataclasses.fields(config_class)):
        options["style_images"] = "STYLE_IMAGE"  # set from the STYLE_IMAGE positionals
    return options


def config_from_args(config_class, args, **extra) -> Any:
    """The configuration from parsed arguments: the fields given on the command line, plus
    ``extra`` (e.g. ``model_options``); the rest keep their defaults. Its errors name the
    options (:func:`config_options`)."""
    given = vars(args)
    values = {
        field.name: given[field.name]
        for field in dataclasses.fields(config_class)
        if field.metadata.get("cli") is not None and field.name in given
    }
    values.update({k: v for k, v in extra.items() if v})
    with option_names(config_options(config_class)):
        return config_class(**values)


#: Network options on the command line: ``(option, builder argument, help)``; their
#: defaults are read from the builder's signature.
_STYLE_NETWORK = (
    ("--filters", "filters", "width of the first layer"),
    ("--residual-blocks", "num_residual_blocks", "residual blocks"),
    ("--normalization", "normalization", "normalization layers"),
)
_ARBITRARY_NETWORK = (("--filters", "filters", "width of the decoder's last layer"),)
_SR_NETWORK = (
    ("--filters", "filters", "channels of every layer"),
    ("--residual-blocks", "num_residual_blocks", "residual blocks"),
)


def _add_network_options(parser, builder, options) -> None:
    group = parser.add_argument_group("network")
    defaults = inspect.signature(builder).parameters
    for option, name, help_text in options:
        default = defaults[name].default
        if name == "normalization":
            from keras_perceptual.layers import NORMALIZATIONS

            group.add_argument(option, dest=name, choices=NORMALIZATIONS, default=None,
                               help=f"{help_text} (default: {default})")  # fmt: skip
        else:
            kind = non_negative_int if name == "num_residual_blocks" else positive_int
            group.add_argument(option, dest=name, type=kind, default=None, metavar="N",
                               help=f"{help_text} (default: {default}, the paper)")  # fmt: skip


def _model_options(args, options) -> dict:
    return {name: getattr(args, name) for _, name, _ in options if getattr(args, name) is not None}


def _cmd_train_style(args) -> int:
    from keras_perceptual.training import MultiStyleConfig, StyleTransferConfig

    styles = args.style_image
    model_options = _model_options(args, _STYLE_NETWORK)
    if len(styles) == 1:
        given = sorted(_multi_style_only() & set(vars(args)))
        if given:
            raise UsageError(
                f"--{given[0].replace('_', '-')} applies to a network of several styles; give "
                "two or more style images, or leave the option out"
            )
        args.style_image = styles[0]
        return _train(args, config_from_args(StyleTransferConfig, args, model_options=model_options))
    if "normalization" in model_options:
        raise UsageError(
            "--normalization does not apply to several styles: a multi-style network uses "
            "conditional instance normalization (one scale and offset per style)"
        )
    del args.style_image
    return _train(args, config_from_args(MultiStyleConfig, args, style_images=styles,
                                         model_options=model_options))  # fmt: skip


def _cmd_train_arbitrary(args) -> int:
    from keras_perceptual.training import ArbitraryStyleConfig

    return _train(args, config_from_args(ArbitraryStyleConfig, args,
                                         model_options=_model_options(args, _ARBITRARY_NETWORK)))  # fmt: skip


def _cmd_train_sr(args) -> int:
    from keras_perceptual.training import SuperResolutionConfig

    gan_options = {}
    if args.adversarial_weight is not None:
        if not getattr(args, "gan", False):
            raise UsageError("--adversarial-weight needs --gan")
        gan_options["adversarial_weight"] = args.adversarial_weight
    config = config_from_args(SuperResolutionConfig, args, gan_options=gan_options,
                              model_options=_model_options(args, _SR_NETWORK))  # fmt: skip
    return _train(args, config)


def _jax_distribution(args):
    """Multi-process JAX: ``--workers``/``--worker-index``, or the environment.

    ``--workers HOST:PORT,...`` and ``--worker-index I`` start JAX's distributed runtime
    (``keras.distribution.initialize``; the first address is the coordinator). Without
    them, ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` / ``_NUM_PROCESSES`` / ``_PROCESS_ID`` (Keras'
    variables) or a Slurm job of several tasks (``SLURM_NTASKS`` > 1: JAX reads the rest
    from Slurm) do the same; a TPU pod slice needs ``KERAS_DISTRIBUTION_*`` or nothing
    (JAX finds the slice). Returns ``None``: the recipe picks ``DataParallel`` over every
    device when there are several.
    """
    workers, index = args.workers, args.worker_index
    if workers is None and index is not None:
        raise UsageError("--worker-index needs --workers HOST:PORT,HOST:PORT,... (every worker)")
    import keras

    if workers is not None:
        if index is None or index >= len(workers):
            raise UsageError(
                f"--workers needs --worker-index I: this process's position in the list, 0 to "
                f"{len(workers) - 1} (0 is the chief, which writes --out)"
            )
        keras.distribution.initialize(",".join(workers), len(workers), index)
    elif os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        keras.distribution.initialize()
    elif int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1:
        import jax

        jax.distributed.initialize()
    return None


def _train(args, config) -> int:
    """Runs the recipe of ``config`` on the backend's platform (created first thing:
    multi-worker TensorFlow and multi-process JAX need it before any operation)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        strategy = _strategy(args)
    else:
        strategy = _jax_distribution(args)
    from keras_perceptual.training import RECIPES, Trainer
    from keras_perceptual.training.platforms import platform_for

    platform = platform_for(strategy)
    if platform.chief:
        _announce_resume(config)
    with option_names(config_options(type(config))):
        recipe = RECIPES[type(config)](config)
        result = Trainer(recipe, platform=platform, verbose=verbosity(args)).run()
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
--batch-size is the global batch (split over every device of every worker).
With KERAS_BACKEND=jax (no TensorFlow needed): every local device is used (DataParallel);
--workers/--worker-index start JAX's distributed runtime the same way (the first address
is the coordinator), or set KERAS_DISTRIBUTION_JOB_ADDRESSES / _NUM_PROCESSES /
_PROCESS_ID, or run under Slurm with several tasks (srun).""".replace(
    "{prog}", PROG
)

_TRAIN_STYLE_EPILOG = f"""examples:
  {PROG} train-style coco/train2014 starry_night.jpg --out runs/starry
  {PROG} train-style coco/train2014 starry.jpg wave.jpg scream.jpg --out runs/three  # one network, 3 styles
  {PROG} train-style photos/ wave.jpg --out runs/wave --steps 2000 --image-size 128 --weights hed_bsds500
  {PROG} train-style photos/ wave.jpg --out runs/wave --steps 4000   # same --out: resumes, trains to 4000

Outputs in --out: model.keras, config.json, training_log.csv, steps.csv, samples/,
logs/ (tensorboard --logdir OUT/logs), backup/. Re-running with the same --out resumes.
Loss weights default to PerceptualLoss's (see its docstring); --style-weight is the one to tune.
Several STYLE_IMAGEs train one multi-style network (conditional instance normalization,
Dumoulin et al. 2017; each batch samples the styles evenly): apply it with
'{PROG} stylize MODEL PHOTO --out DIR --style K' or '--mix 0.5,0.5,0'.
""" + "\n" + _MULTI_WORKER_NOTE.format(command="train-style photos/ wave.jpg")

_TRAIN_ARBITRARY_EPILOG = f"""examples:
  {PROG} train-arbitrary coco/train2014 wikiart/ --out runs/adain
  {PROG} train-arbitrary photos/ paintings/ --out runs/adain --backbone vgg16 --weights hed_bsds500 --steps 2000

Trains the decoder of an AdaIN network (Huang & Belongie 2017): a frozen VGG encoder, adaptive
instance normalization and a decoder, with the paper's loss. The paintings are read into memory
at --style-image-size. Apply with any painting:
'{PROG} stylize MODEL PHOTO --out DIR --style-image painting.jpg --alpha 0.8'.
""" + "\n" + _MULTI_WORKER_NOTE.format(command="train-arbitrary photos/ paintings/")

_TRAIN_SR_EPILOG = f"""examples:
  {PROG} train-sr coco/val2014 --scale 4 --out runs/sr4
  {PROG} train-sr photos/ --scale 8 --out runs/sr8 --loss pixel          # the paper's baseline
  {PROG} train-sr photos/ --scale 4 --out runs/srgan --gan --weights hed_bsds500

Low-resolution inputs are made as in the paper: Gaussian blur (sigma 1.0), then bicubic
down-sampling. PSNR and SSIM are logged. Re-running with the same --out resumes.
""" + "\n" + _MULTI_WORKER_NOTE.format(command="train-sr photos/ --scale 4")


_STYLE_GROUPS = {
    **dict.fromkeys(("output_dir", "steps", "batch_size", "learning_rate", "seed", "save_every",
                     "sample_every", "cache", "precision"), "training"),
    **dict.fromkeys(("image_size", "style_image_size", "content_weight", "style_weight",
                     "tv_weight", "temporal_weight", "temporal_motion", "weights"),
                    "images and loss"),
}  # fmt: skip
def _multi_style_only() -> set[str]:
    """The command-line fields ``train-style`` takes only with several style images."""
    from keras_perceptual.training.config import MultiStyleConfig, StyleTransferConfig

    single = {field.name for field in dataclasses.fields(StyleTransferConfig)}
    return {field.name for field in dataclasses.fields(MultiStyleConfig)
            if field.metadata.get("cli") is not None and field.name not in single}  # fmt: skip


_ARBITRARY_GROUPS = {
    **_STYLE_GROUPS,
    **dict.fromkeys(("backbone", "weights"), "images and loss"),
}
_SR_GROUPS = {
    **_STYLE_GROUPS,
    **dict.fromkeys(("patch_size", "loss", "tv_weight", "gan", "weights"), "images and loss"),
}


def _finish_parser(p, builder, network, handler) -> None:
    """The options every training command ends with: progress, distribution, network."""
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_distribution(p)
    _add_network_options(p, builder, network)
    p.set_defaults(handler=handler)


def _training_parser(sub, name: str, summary: str, description: str, epilog: str,
                     config_class, groups):  # fmt: skip
    """A training command's parser with the options of ``config_class`` (by ``groups``)."""
    p = sub.add_parser(name, help=summary, description=description, epilog=epilog,
                       formatter_class=HelpFormatter)  # fmt: skip
    add_config_options(p, config_class, groups)
    return p


def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    from keras_perceptual.models import (
        arbitrary_style_net,
        style_transfer_net,
        super_resolution_net,
    )
    from keras_perceptual.training.config import (
        ArbitraryStyleConfig,
        MultiStyleConfig,
        StyleTransferConfig,
        SuperResolutionConfig,
    )

    p = _training_parser(sub, "train-style", "train a fast style-transfer network",
                         "Train a fast style-transfer network (paper Section 4.1) on a folder "
                         "of photos with one style image, or one network for several styles "
                         "(Dumoulin et al. 2017).", _TRAIN_STYLE_EPILOG, StyleTransferConfig,
                         _STYLE_GROUPS)  # fmt: skip
    add_config_options(p, MultiStyleConfig, dict.fromkeys(_multi_style_only(), "several styles"),
                       exclude=StyleTransferConfig)  # fmt: skip
    _finish_parser(p, style_transfer_net, _STYLE_NETWORK, _cmd_train_style)

    p = _training_parser(sub, "train-arbitrary", "train an arbitrary-style (AdaIN) network",
                         "Train the decoder of an arbitrary-style network (AdaIN, Huang & "
                         "Belongie 2017) on a folder of photos and a folder of paintings; it "
                         "then stylizes with any painting.", _TRAIN_ARBITRARY_EPILOG,
                         ArbitraryStyleConfig, _ARBITRARY_GROUPS)  # fmt: skip
    _finish_parser(p, arbitrary_style_net, _ARBITRARY_NETWORK, _cmd_train_arbitrary)

    p = _training_parser(sub, "train-sr", "train a super-resolution network",
                         "Train a single-image super-resolution network (paper Section 4.2) on "
                         "a folder of high-resolution images.", _TRAIN_SR_EPILOG,
                         SuperResolutionConfig, _SR_GROUPS)  # fmt: skip
    from keras_perceptual.gan import PerceptualGAN

    adversarial = inspect.signature(PerceptualGAN.compile).parameters["adversarial_weight"]
    p.add_argument("--adversarial-weight", type=weight, default=None, metavar="W",
                   help=f"weight of the adversarial term with --gan (default: "
                   f"{adversarial.default:g}, SRGAN's)")  # fmt: skip
    _finish_parser(p, super_resolution_net, _SR_NETWORK, _cmd_train_sr)
