"""What every ``keras-perceptual`` subcommand shares: the parser classes, argument
types, user errors, model and image-file handling, and output helpers."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from keras_perceptual.errors import InputError, KerasPerceptualError

PROG = "keras-perceptual"
IMAGE_FORMATS = ("png", "jpg", "webp", "bmp")


class UsageError(KerasPerceptualError):
    """A user error: printed as one line, exit status 2."""


#: The exceptions that are the user's to fix (one line, exit status 2), not bugs.
USER_ERRORS = (KerasPerceptualError, FileNotFoundError, FileExistsError, PermissionError,
               IsADirectoryError, NotADirectoryError)

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
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


def expand_home(word: str) -> str:
    """``word`` with a leading ``~`` (of the word, or of an ``--option=`` value) expanded as a
    shell would: a shell leaves ``--out=~/runs`` and ``"~/My Photos"`` alone, and the files
    would otherwise go to a folder named ``~`` in the current one.

    Example:
        >>> expand_home("--out=~/runs") == "--out=" + os.path.expanduser("~/runs")
        True
    """
    if word.startswith("~"):
        return os.path.expanduser(word)
    option, equals, value = word.partition("=")
    if equals and option.startswith("--") and value.startswith("~"):
        return f"{option}={os.path.expanduser(value)}"
    return word


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_known_args(self, args=None, namespace=None):
        import sys

        words = sys.argv[1:] if args is None else args
        return super().parse_known_args([expand_home(str(word)) for word in words], namespace)


# --------------------------------------------------------------------------
# Argument types.
# --------------------------------------------------------------------------


def number_type(convert: type, valid, expected: str, name: str):
    """An argparse ``type=``: ``convert(text)`` when ``valid(value)``, else a usage error
    ``expected {expected}, got {text!r}`` (text that does not convert is refused too)."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = parse.__qualname__ = name
    return parse


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


positive_int = number_type(int, lambda value: value >= 1, "an integer >= 1", "positive_int")
non_negative_int = number_type(
    int, lambda value: value >= 0, "an integer >= 0", "non_negative_int"
)
positive_float = number_type(
    float, lambda value: _finite(value) and value > 0, "a positive number", "positive_float"
)
weight = number_type(
    float, lambda value: _finite(value) and value >= 0, "a number >= 0", "weight"
)


def weights_choice(text: str) -> Any:
    """``--weights``: imagenet | hed_bsds500 | none | PATH (checked by
    :func:`keras_perceptual.weights.check_weights`, without fetching anything)."""
    from keras_perceptual.weights import NAMED_WEIGHTS, check_weights

    lowered = text.lower()
    value = None if lowered == "none" else lowered if lowered in NAMED_WEIGHTS else text
    try:
        return check_weights(value)
    except KerasPerceptualError as error:
        raise argparse.ArgumentTypeError(" ".join(str(error).split())) from None


def worker_list(text: str) -> list[str]:
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


def demo_weights_choice(text: str) -> Any:
    """``demo --weights``: also ``auto``."""
    return "auto" if text.lower() == "auto" else weights_choice(text)


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


# --------------------------------------------------------------------------
# Library errors in the command line's words.
# --------------------------------------------------------------------------

#: ``stylize``/``upscale``/``stylize-video`` options, by the library argument each sets.
INFERENCE_OPTIONS = {
    "model": "MODEL",
    "tile_size": "--tile",
    "overlap": "--overlap",
    "batch_size": "--batch-size",
    "norm_statistics": "--norm-statistics",
    "precision": "--precision",
    "runtime": "--runtime",
    "threads": "--threads",
    "preserve_color": "--preserve-color",
    "histogram_match": "--histogram-match",
}

#: The style options (:func:`add_style_options`), by the ``stylize`` argument each sets.
STYLE_OPTIONS = {
    "style": "--style",
    "style_weights": "--mix",
    "style_image": "--style-image",
    "style_images": "--style-image",
    "style_size": "--style-size",
    "alpha": "--alpha",
}

#: One-word argument names that the messages never use as plain English, translated
#: wherever they stand. Other one-word names ("style", "steps", "precision") are translated
#: as ``name=value`` and as the subject of a rule ("style must ..."); names with an
#: underscore wherever they stand.
_ARGUMENT_WORDS = frozenset({"overlap", "alpha"})

#: A Python value as the library's messages print it after ``name=``.
_VALUE = r"""'[^']*'|"[^"]*"|\[[^\]]*\]|\([^)]*\)|[^\s,;)]+"""


#: Options whose ``None`` is a value spelled on the command line, not a missing option.
_NONE_VALUES = {"--weights": "none"}


def _option_value(option: str, text: str) -> str:
    """``option`` given ``text`` (a value as the library prints it), in command-line form."""
    if text == "None" and option in _NONE_VALUES:
        return f"{option} {_NONE_VALUES[option]}"
    if text in ("None", "False"):
        return f"no {option}"
    if text in ("True", "given"):  # "given": the library's word for an image argument
        return option
    if text[:1] in "'\"":
        text = text[1:-1]
    elif text[:1] in "[(":
        text = ",".join(item.strip().strip("'\"") for item in text[1:-1].split(",") if item.strip())
    return f"{option} {text}"


def with_option_names(message: str, options: Mapping[str, str]) -> str:
    """``message`` with the library's argument names replaced by the command's options.

    ``options`` maps argument names to options (``{"tile_size": "--tile"}``):
    ``tile_size=512`` becomes ``--tile 512`` (``None``/``False``: ``no --tile``; lists:
    comma-separated, as ``--mix`` takes them; ``weights=None``: ``--weights none``), and a
    bare ``tile_size`` becomes ``--tile`` (one-word names only as the subject of a rule,
    e.g. ``style must``, the head of a list of arguments that ``apply``, or in the list of
    settings a resumed run ``may change``; see ``_ARGUMENT_WORDS``). A positional
    argument's "option" is its metavar.

    Example:
        >>> with_option_names("overlap must be at most half of tile_size. Received: "
        ...                   "tile_size=64, overlap=128", INFERENCE_OPTIONS)
        '--overlap must be at most half of --tile. Received: --tile 64, --overlap 128'
    """
    for name, option in options.items():
        before, after = r"(?<![\w\-/.'\"])", r"(?![\w\-]|\.\w)"
        message = re.sub(  # an item of a list argument too: style_images[1]='b.png'
            before + re.escape(name) + rf"(?:\[\d+\])?=({_VALUE})",
            lambda match, option=option: _option_value(option, match.group(1)),
            message,
        )
        bare = before + re.escape(name) + after
        if "_" not in name and name not in _ARGUMENT_WORDS:
            # The subject of a rule, the head of a list of arguments opening a sentence
            # ("style, style_weights and alpha apply to ..."), or an item of the list of
            # settings a resumed run may change ("(only cache, steps, weights may change; ...)").
            word = re.escape(name)
            bare = (r"(?:(?<=^)|(?<=[.;:] ))" + word
                    + r"(?= (?:must|applies) |(?:, [\w\-]+)*,? and [\w\-]+ apply )"
                    + r"|(?:(?<=\(only )|(?<=, ))" + word + r"(?=(?:, [\w\-]+)* may change[;)])")
        message = re.sub(bare, option, message)
    # Two arguments set by one option ("style_image, style_images") are named once: both
    # unset, "no --style-image" once; one set, only its value.
    message = re.sub(r"(?<![\w-])(?<!no )((?:no )?--[\w-]+)(?:, \1(?![\w-]))+", r"\1", message)
    message = re.sub(r"(?<![\w-])(--[\w-]+)((?: [^,;()]+)?), no \1(?![\w-])", r"\1\2", message)
    return re.sub(r"(?<![\w-])no (--[\w-]+), \1(?![\w-])", r"\1", message)


@contextlib.contextmanager
def option_names(options: Mapping[str, str]) -> Iterator[None]:
    """Turns an :class:`~keras_perceptual.errors.InputError` (or a missing file, a model, video
    or weights that cannot be used) raised inside into a :class:`UsageError` naming the command's options
    (:func:`with_option_names`) instead of the library's arguments: on the command line,
    ``tile_size`` means nothing. The warnings shown meanwhile name them too."""
    import warnings

    from keras_perceptual.errors import ModelLoadError, VideoError
    from keras_perceptual.weights import WeightsUnavailableError

    shown = warnings.formatwarning

    def formatwarning(message, *rest, **keywords):
        return shown(with_option_names(str(message), options), *rest, **keywords)

    warnings.formatwarning = formatwarning
    try:
        yield
    except (InputError, FileNotFoundError, ModelLoadError, VideoError,
            WeightsUnavailableError) as error:
        # Chained: KERAS_PERCEPTUAL_DEBUG=1 shows where the library raised it.
        raise UsageError(with_option_names(one_line(error), options)) from error
    finally:
        warnings.formatwarning = shown


def load_model(path: str):
    """A trained Keras network from a ``.keras`` file, a training output folder or
    ``hf://owner/name`` (:func:`keras_perceptual.runtimes.load_keras_model`)."""
    from keras_perceptual.runtimes import detect_format, load_keras_model

    if not path.startswith("hf://") and detect_format(path) != "keras":
        raise UsageError(
            f"{path!r} is an exported model; this command needs the Keras model (.keras file, "
            f"training --out folder or hf://owner/name) it was exported from"
        )
    return load_keras_model(path)


def input_files(inputs: Sequence[str]) -> list[str]:
    """Expands files, folders and globs and checks every file is an image that decodes
    (:func:`check_input_images` with ``decode=True``)."""
    from keras_perceptual.images import list_images

    files = list_images(list(inputs))
    check_input_images(files, decode=True)
    return files


def check_input_images(files: Sequence[str], min_size: int = 1, decode: bool = False) -> None:
    """Checks that every file is a readable image whose shorter side is at least
    ``min_size`` (the model's :func:`~keras_perceptual.inference.min_input_size`), so that a
    command stops before writing anything rather than half-way through.

    From the headers only, or with ``decode`` from all the data (a file truncated or
    damaged after its header is only found so): 20 photos of 1024x1024 took 0.8 ms
    (JPEG) / 1.2 ms (PNG) header-only and 27 ms / 460 ms decoded (JPEGs at their smallest
    DCT scale), against about 2 s per photo for a style network on 2 CPU cores.

    Raises:
        UsageError: one line naming the first bad file and what is expected.
    """
    from keras_perceptual.images import (
        ImageTooSmallError,
        UnusableImageError,
        check_image_file,
        damaged_image_message,
    )

    for path in files:
        try:
            check_image_file(path, min_size, decode=decode)
        except ImageTooSmallError as error:
            width, height = error.size
            raise UsageError(
                f"{path!r} is {width}x{height} pixels; the model needs images of at least "
                f"{min_size}x{min_size} pixels: enlarge it or remove it from the inputs "
                "(nothing was written)"
            ) from None
        except UnusableImageError as error:
            if error.damaged:
                raise UsageError(
                    f"{damaged_image_message(repr(path), error)}, or remove it from the inputs "
                    "(nothing was written)"
                ) from None
            raise UsageError(
                f"cannot read {path!r} as an image ({error}); remove it from the inputs or "
                "pass readable JPEG/PNG/BMP/GIF/WebP/TIFF files (nothing was written)"
            ) from None


def stopped_at(files: Sequence[str], index: int, out: str) -> str:
    """What a run over ``files`` that stopped at ``files[index]`` did and did not do, for the
    end of its error line: the inputs before it were done (their outputs kept in ``out``,
    each written whole), it and those after it were not.

    Example:
        >>> print(stopped_at(["a.png", "b.png", "c.png"], 1, "out"))
        (stopped at input 2 of 3, 'b.png': the 1 input before it, 'a.png', was done and its output is kept in 'out'; 'b.png' and the 1 input after it were not done)
    """
    count, path, after = len(files), files[index], len(files) - index - 1
    if index == 0:
        done = "nothing was written"
    elif index == 1:
        done = f"the 1 input before it, {files[0]!r}, was done and its output is kept in {out!r}"
    else:
        done = (f"the {index} inputs before it, up to {files[index - 1]!r}, were done and their "
                f"outputs are kept in {out!r}")
    if after:
        rest = f"{path!r} and the {after} input{'s' if after > 1 else ''} after it were not done"
    else:
        rest = f"{path!r} was not done"
    return f"(stopped at input {index + 1} of {count}, {path!r}: {done}; {rest})"


def output_path(folder: str, source: str, suffix: str, extension: str, used: set[str]) -> str:
    stem = os.path.splitext(os.path.basename(source))[0]
    candidate = os.path.join(folder, f"{stem}{suffix}.{extension}")
    index = 2
    while candidate in used:
        candidate = os.path.join(folder, f"{stem}{suffix}-{index}.{extension}")
        index += 1
    used.add(candidate)
    return candidate


def check_output_dir(path: str) -> None:
    """Refuses ``--out`` when it is a file (before any work; the folder is created later)."""
    if os.path.isfile(path):
        raise UsageError(f"--out {path!r} is a file; pass a folder (created if missing)")


def make_output_dir(path: str) -> str:
    check_output_dir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --out {path!r} ({error.strerror or error})") from None
    return path


def interactive() -> bool:
    """Whether standard output is a terminal (progress bars redraw in place there)."""
    import sys

    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


class ProgressBar:
    """A progress bar over files (``keras.utils.Progbar``), or nothing with ``--quiet``.

    Away from a terminal (a log file, CI) it prints one line at the end instead of redrawing
    itself with backspaces and colour codes after every file."""

    def __init__(self, total: int, quiet: bool):
        self.bar = None
        if not quiet:
            import keras

            self.bar = keras.utils.Progbar(total, unit_name="image",
                                           verbose=1 if interactive() else 2)  # fmt: skip

    def add(self, name: str) -> None:
        if self.bar is not None:
            self.bar.add(1)

    def stop(self) -> None:
        """Ends the bar's line when a run stops part-way (the error goes below it)."""
        if self.bar is not None:
            say()


def verbosity(args) -> Any:
    """``fit``'s ``verbose``: 0 with ``--quiet``; the redrawn bar (``"auto"``) on a terminal;
    elsewhere (a log file, CI) one line per epoch (2), since Keras draws its bar with
    backspaces and colour codes after every step even when the output is a file."""
    if args.quiet:
        return 0
    return "auto" if interactive() else 2


def add_weights(parser, default: Any = "imagenet") -> None:
    """``--weights W`` with the help text of the run configurations' ``weights`` field."""
    from keras_perceptual.training.config import RunConfig

    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    extra = (
        "; default auto: imagenet, or hed_bsds500 with a notice when it cannot be downloaded"
        if default == "auto"
        else ""
    )
    parser.add_argument(
        "--weights",
        type=demo_weights_choice if default == "auto" else weights_choice,
        default=default,
        metavar="W",
        help=fields["weights"].metadata["help"] + extra,
    )


def add_distribution(parser) -> None:
    group = parser.add_argument_group("multi-worker training (see the notes below)")
    group.add_argument("--workers", type=worker_list, default=None, metavar="HOST:PORT,...",
                       help="every worker of a multi-worker run, the same list on each (sets "
                       "TF_CONFIG)")
    group.add_argument("--worker-index", type=non_negative_int, default=None, metavar="I",
                       help="this process's position in --workers (0 is the chief)")



# --------------------------------------------------------------------------
# Style selection (stylize, stylize-video).
# --------------------------------------------------------------------------


def weights_list(text: str) -> list[float]:
    """``--mix``: comma-separated numbers (the library checks they are >= 0 and sum to 1)."""
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated weights such as 0.5,0.5,0,0, got {text!r}"
        )
    return values


def unit_interval(text: str) -> float:
    """``--alpha``: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def add_style_options(parser) -> None:
    """``--style``, ``--mix``, ``--style-image``, ``--style-size``, ``--alpha``: the style of
    multi-style and arbitrary-style networks (:func:`style_options_from` turns them into
    ``stylize``'s)."""
    g = parser.add_argument_group("styles (multi-style and arbitrary-style networks)")
    g.add_argument("--style", type=non_negative_int, default=None, metavar="K",
                   help="multi-style network: the style to apply, counted from 0")
    g.add_argument("--mix", type=weights_list, default=None, metavar="W,W,...",
                   help="multi-style network: one weight per style, >= 0, summing to 1 "
                   "(a blend); arbitrary network: one weight per --style-image")
    g.add_argument("--style-image", nargs="+", default=None, metavar="PATH",
                   help="arbitrary-style network: the style image (several are blended, "
                   "equally unless --mix)")
    g.add_argument("--style-size", type=positive_int, default=None, metavar="PX",
                   help="arbitrary-style network: resize each --style-image so its shorter "
                   "side is PX pixels (aspect ratio kept) before encoding it; the style "
                   "image's scale sets the scale of the strokes (AdaIN's test.py uses 512; "
                   "default: the image's own size)")
    g.add_argument("--alpha", type=unit_interval, default=None, metavar="A",
                   help="arbitrary-style network: content-style trade-off in [0, 1] "
                   "(default: the network's, 1 = full style)")


def style_options_from(args) -> dict:
    """``stylize``'s style keyword arguments from ``--style``, ``--mix``, ``--style-image``,
    ``--style-size``, ``--alpha`` (the library checks them against the model)."""
    if args.style is not None and args.mix is not None:
        raise UsageError("--style K and --mix W,W,... both choose the style; give one of them")
    options = {"style": args.style, "style_weights": args.mix, "alpha": args.alpha,
               "style_size": args.style_size}
    if args.style_image:
        with option_names({"input": "--style-image"}):
            images = input_files(args.style_image)
        if len(args.style_image) == 1 and len(images) == 1:
            options["style_image"] = images[0]
        else:
            options["style_images"] = images
    return {key: value for key, value in options.items() if value is not None}


def check_style_image_given(network, options: Mapping[str, Any]) -> None:
    """Refuses an arbitrary-style network given ``--style`` or no ``--style-image``
    (``options`` from :func:`style_options_from`) in the command's words: the library's
    message offers ``style_image`` and ``style_images``, one option here. Other choices
    are :func:`~keras_perceptual.inference.bind_style`'s to refuse."""
    from keras_perceptual.inference import style_kind

    if not style_kind(network)[1]:
        return
    if "style" in options:
        raise UsageError(
            "--style k selects a trained style of a multi-style network; this arbitrary-style "
            "network takes a style image instead: pass --style-image PATH. Received: --style "
            f"{options['style']}"
        )
    if not options.keys() & {"style_image", "style_images"}:
        raise UsageError(
            "this arbitrary-style network needs a style image: pass --style-image PATH "
            "(several are blended, equally unless --mix). Received: no --style-image"
        )
