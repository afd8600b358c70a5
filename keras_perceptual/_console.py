"""Quiet TensorFlow's C++ start-up logging for the ``keras-perceptual`` command.

On a machine without a GPU, importing TensorFlow prints lines such as
``cudart_stub.cc ... Could not find cuda drivers`` and ``E0000 ... failed call to
cuInit: UNKNOWN ERROR (303)``: harmless, but a newcomer reads them as failures.
TensorFlow 2.21 writes them through absl before its logging is initialized, so
``TF_CPP_MIN_LOG_LEVEL`` alone does not hide them. When this process *is* the command
line (``keras-perceptual ...`` or ``python -m keras_perceptual.cli ...``), the package's
``__init__`` imports Keras (hence TensorFlow) inside :func:`quiet_startup`, which
sends file descriptor 2 to a temporary file for the duration of the import and of the
backend's device probe (:func:`initialize_devices`), and then
writes back every line except the known start-up notices (:data:`NOISE`), and sets
``TF_CPP_MIN_LOG_LEVEL=2`` for what TensorFlow logs later. A library import never
changes anything. The user's own ``TF_CPP_MIN_LOG_LEVEL`` is kept: ``0`` (show INFO)
keeps everything, as ``--verbose`` does; ``1``-``3`` (hide INFO and more, the usual way to
silence TensorFlow, which 2.21 no longer honours for these lines) hides the notices too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: TensorFlow's start-up lines that the command line hides (regular expressions).
NOISE = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"cudart_stub\.cc.*Could not find cuda drivers",
    r"failed call to cuInit",
    r"cuda_executor\.cc|cuda_diagnostics\.cc|cuda_platform\.cc",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"TF-TRT Warning: Could not find TensorRT",
    r"Unable to register the cuda",
)
_NOISE = re.compile("|".join(NOISE))

#: ``TF_CPP_MIN_LOG_LEVEL`` for the rest of the command's run: INFO and WARNING hidden.
QUIET_LEVEL = "2"


def is_command_line(argv: list[str] | None = None) -> bool:
    """Whether the running program is the ``keras-perceptual`` command."""
    argv = list(sys.orig_argv if argv is None else argv)
    if not argv:
        return False
    names = [os.path.basename(arg) for arg in argv[:2]]
    if any(name in ("keras-perceptual", "keras-perceptual.exe") for name in names):
        return True
    for index, arg in enumerate(argv[:-1]):
        if arg == "-m":
            return argv[index + 1] in ("keras_perceptual.cli", "keras_perceptual.cli.__main__")
    return False


def wants_quiet(argv: list[str] | None = None) -> bool:
    """The command line, without ``--verbose``, and the user's ``TF_CPP_MIN_LOG_LEVEL``
    unset or asking to hide INFO lines (``1``, ``2``, ``3``; ``0`` shows them)."""
    argv = list(sys.orig_argv if argv is None else argv)
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip()
    return (
        level != "0"
        and "--verbose" not in argv
        and is_command_line(argv)
    )


def filter_noise(text: str) -> str:
    """``text`` without the lines that match :data:`NOISE`."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not _NOISE.search(line)
    )


def initialize_devices() -> None:
    """Makes the backend probe its devices now (where the CUDA probes log), not later."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices()
    # JAX is not probed: its distributed runtime (multi-process training) must start
    # before the backend does, and it prints no C++ start-up notices.


@contextlib.contextmanager
def quiet_startup(argv: list[str] | None = None) -> Iterator[bool]:
    """Runs the body with TensorFlow's start-up notices hidden, for the command line only.

    Yields whether it is hiding them. Every other line written to standard error in the
    meantime is written back afterwards, in order.
    """
    if not wants_quiet(argv):
        yield False
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LEVEL)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable file descriptor 2
        yield False
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield True
            initialize_devices()
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = filter_noise(capture.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
