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

The TFLite converter and interpreter print lines of their own from C++ at every conversion
(``fully_quantize: 0, inference_type: 6, ...``, ``INFO: Created TensorFlow Lite XNNPACK
delegate for CPU.``); :func:`quiet_native_output` hides those (:data:`CONVERTER_NOISE`)
around a library call, the command line's and everyone else's, by the same technique.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any

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

#: What the TFLite converter and interpreter print at every conversion (regular
#: expressions), from C++ straight to the process's standard output and error:
#: :func:`quiet_native_output` hides them around a conversion.
CONVERTER_NOISE = (
    r"fully_quantize: \d+, inference_type: \d+",
    r"Created TensorFlow Lite XNNPACK delegate for CPU",
    r"tf_tfl_flatbuffer_helpers\.cc.*Ignored (output_format|drop_control_dependency)",
    r"flatbuffer_export\.cc.*Skipping runtime version metadata in the model",
    r"Estimated count of arithmetic ops: .* ops, equivalently .* MACs",
)

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


def filter_noise(text: str, noise: Sequence[str] = NOISE) -> str:
    """``text`` without the lines that match one of ``noise`` (default :data:`NOISE`).

    Example:
        >>> filter_noise("fully_quantize: 0, inference_type: 6\\nkept\\n", CONVERTER_NOISE)
        'kept\\n'
    """
    pattern = re.compile("|".join(noise))
    return "".join(
        line for line in text.splitlines(keepends=True) if not pattern.search(line)
    )


def shows_native_logging(argv: list[str] | None = None) -> bool:
    """Whether the user asked to see TensorFlow's C++ logging: ``TF_CPP_MIN_LOG_LEVEL=0``,
    or ``keras-perceptual --verbose``."""
    argv = list(sys.orig_argv if argv is None else argv)
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0" or (
        "--verbose" in argv and is_command_line(argv)
    )


#: Held while file descriptors are captured (they belong to the whole process).
_CAPTURING = threading.Lock()


def _flush_streams() -> None:
    """Flushes Python's and C's buffered standard output and error (before a descriptor
    changes, so that what was written goes where it was meant to)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # None (pythonw), closed, or not a file
            stream.flush()
    with contextlib.suppress(Exception):  # C's stdio buffers (std::cout), where libc is found
        import ctypes

        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def captured_output(fds: Sequence[int], noise: Sequence[str]) -> Iterator[bool]:
    """Runs the body with the file descriptors ``fds`` (1: standard output, 2: standard
    error) sent to temporary files, then writes back what was written there, in order,
    to ``sys.stdout`` / ``sys.stderr``, less the lines that match ``noise``; if the body
    raises, everything is written back (a converter's own explanation of a failure is
    never hidden).

    This catches what C and C++ code write straight to the descriptors, which replacing
    ``sys.stdout`` / ``sys.stderr`` does not. Yields whether it captures: not when a
    descriptor cannot be duplicated (closed, as under ``pythonw``) or when another thread
    is capturing (the descriptors are the whole process's; that thread's capture then
    also holds, and writes back, what this one prints). The descriptors are restored
    whatever happens.
    """
    if not _CAPTURING.acquire(blocking=False):
        yield False
        return
    saved: dict[int, int] = {}
    files: dict[int, Any] = {}
    try:
        _flush_streams()
        try:
            for fd in fds:
                saved[fd] = os.dup(fd)
        except OSError:
            for copy in saved.values():
                os.close(copy)
            saved.clear()
        if not saved:
            yield False
            return
        failed = True
        try:
            for fd in saved:
                files[fd] = tempfile.TemporaryFile(mode="w+b")
                os.dup2(files[fd].fileno(), fd)
            yield True
            failed = False
        finally:
            _flush_streams()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            for fd, capture in files.items():
                capture.seek(0)
                text = capture.read().decode("utf-8", "replace")
                capture.close()
                kept = text if failed else filter_noise(text, noise)
                stream = sys.stdout if fd == 1 else sys.stderr
                if kept and stream is not None:
                    with contextlib.suppress(Exception):
                        stream.write(kept)
                        stream.flush()
    finally:
        _CAPTURING.release()


@contextlib.contextmanager
def quiet_native_output() -> Iterator[bool]:
    """Hides the TFLite converter's and interpreter's lines (:data:`CONVERTER_NOISE`) that
    C++ prints on the process's standard output and error in the body, unless the user
    asked for TensorFlow's logging (:func:`shows_native_logging`). Every other line is
    written back afterwards, and everything if the body raises (:func:`captured_output`).
    Yields whether it hides them.

    Example:
        >>> with quiet_native_output():  # doctest: +SKIP
        ...     flatbuffer = converter.convert()
    """
    if shows_native_logging():
        yield False
        return
    with captured_output((1, 2), CONVERTER_NOISE) as capturing:
        yield capturing


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
    with captured_output((2,), NOISE) as capturing:
        yield capturing
        if capturing:
            initialize_devices()
