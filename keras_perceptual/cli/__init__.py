"""The ``keras-perceptual`` command line: train, apply, export, demo, info.

One module per group of subcommands (:mod:`~keras_perceptual.cli.train`,
:mod:`~keras_perceptual.cli.apply`, :mod:`~keras_perceptual.cli.video`,
:mod:`~keras_perceptual.cli.export`,
:mod:`~keras_perceptual.cli.demo`, :mod:`~keras_perceptual.cli.info`), each with a
``register(subparsers)`` function; :mod:`~keras_perceptual.cli.common` holds what they
share. A new subcommand is a new module plus one entry in :data:`COMMAND_MODULES`.

Every subcommand has ``--help`` with examples. Exit statuses:

* 0: success;
* 2: a user error: a :class:`~keras_perceptual.errors.KerasPerceptualError` (a bad
  option, a missing or unreadable file, weights that cannot be obtained, ...) or a
  missing file, existing output or permission error, printed as one line ``keras-perceptual: error: ...``
  without a traceback (set ``KERAS_PERCEPTUAL_DEBUG=1`` to see one);
* 1: a NaN/Inf training loss (one line), or an unexpected exception: a bug, shown with
  its traceback and a request to report it;
* 130: interrupted (Ctrl-C): a re-run resumes a training command; ``stylize`` and
  ``upscale`` say which inputs were done (their outputs are kept, each written whole).

TensorFlow's C++ start-up logging (CUDA probes on a machine without a GPU) is quieted
before TensorFlow is imported (see :mod:`keras_perceptual._console`) unless
``TF_CPP_MIN_LOG_LEVEL=0`` is set or ``--verbose`` is given.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from keras_perceptual.cli.common import (
    PROG,
    USER_ERRORS,
    HelpFormatter,
    Parser,
    UsageError,
    interactive,
    one_line,
)
from keras_perceptual.errors import NonFiniteLossError

#: The modules that add subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "keras_perceptual.cli.train",
    "keras_perceptual.cli.apply",
    "keras_perceptual.cli.video",
    "keras_perceptual.cli.export",
    "keras_perceptual.cli.demo",
    "keras_perceptual.cli.info",
    "keras_perceptual.cli.app",
)

#: Where to report a bug (printed with an unexpected exception's traceback).
ISSUES_URL = "https://github.com/keras-perceptual/keras-perceptual/issues"

_MAIN_EPILOG = f"""examples:
  {PROG} demo
  {PROG} train-style photos/ painting.jpg --out runs/painting
  {PROG} stylize runs/painting/model.keras photo.jpg --out stylized/
  {PROG} info

'{PROG} COMMAND --help' shows each command's options and examples."""


def build_parser() -> Parser:
    """The ``keras-perceptual`` argument parser (all subcommands).

    Returns:
        An ``argparse.ArgumentParser``; ``parse_args`` sets ``handler``.

    Example:
        >>> args = build_parser().parse_args(["info"])
        >>> args.command
        'info'
    """
    from keras_perceptual import __version__

    parser = Parser(
        prog=PROG,
        description="Perceptual losses for real-time style transfer and super-resolution "
        "(Johnson, Alahi & Fei-Fei, ECCV 2016) on Keras 3 / TensorFlow.",
        epilog=_MAIN_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up logging (quiet by default unless TF_CPP_MIN_LOG_LEVEL=0 "
        "is set)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.set_defaults(command_names=list(sub.choices))
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"{PROG}: warning: {' '.join(str(message).split())}\n"


def _user_error(error: BaseException) -> bool:
    """Whether ``error`` is the user's to fix (one line) rather than a bug (traceback)."""
    return isinstance(error, USER_ERRORS)


#: The most characters of an unexpected error's message repeated on the last line.
_DETAIL_LIMIT = 400

#: The commands that a re-run resumes (from the backup in their output folder).
RESUMABLE_COMMANDS = frozenset({"train-style", "train-sr", "train-arbitrary", "demo"})


def _interrupted(argv: Sequence[str] | None, interrupt: KeyboardInterrupt) -> str:
    """The end of the line that reports a Ctrl-C: what the command had done (the
    interrupt's own text, set by commands that know) or what a re-run does."""
    if interrupt.args:
        return f" {one_line(interrupt)}"
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    if command in RESUMABLE_COMMANDS:
        return "; re-run the same command to resume training"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``keras-perceptual`` command; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success; 2 for a user error; 1 for a non-finite loss or a bug (traceback
        shown); 130 when interrupted.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
        keras-perceptual 0.1.0
    """
    debug = bool(os.environ.get("KERAS_PERCEPTUAL_DEBUG"))
    previous_format = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "handler", None) is None:
            commands = ", ".join(args.command_names)
            raise UsageError(f"a command is required: {commands} (see '{PROG} --help')")
        return args.handler(args)
    except KeyboardInterrupt as interrupt:
        if interactive():
            print(flush=True)  # below a progress bar that was redrawing its line
        print(f"{PROG}: interrupted{_interrupted(argv, interrupt)}", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - sorted into user errors and bugs below
        if not _user_error(error):
            traceback.print_exc()
            detail = one_line(error)
            if len(detail) > _DETAIL_LIMIT:  # e.g. a TFLite converter error quotes the graph
                detail = f"{detail[:_DETAIL_LIMIT]} [... all of it is in the traceback above]"
            print(
                f"{PROG}: internal error: {type(error).__name__}: {detail}. This is a bug "
                f"in keras-perceptual; please report it with the command line and the traceback "
                f"above at {ISSUES_URL}",
                file=sys.stderr,
            )
            return 1
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 1 if isinstance(error, NonFiniteLossError) else 2
    finally:
        warnings.formatwarning = previous_format


__all__ = ["COMMAND_MODULES", "build_parser", "main"]
