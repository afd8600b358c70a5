"""TensorFlow's oneDNN CPU kernels for the training commands (set before TensorFlow starts).

TensorFlow's Linux x86 wheels carry two sets of CPU kernels: Eigen's and oneDNN's.
TensorFlow turns oneDNN on by itself only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX;
on every other x86 CPU (AVX2 ones: most AMD EPYC/Ryzen machines and Intel before Ice
Lake, cloud CI runners included) it runs Eigen's. For this library's networks the
difference is large: measured on a 2-vCPU AMD EPYC with AVX2 + FMA (TensorFlow 2.21,
float32, batch 4), the gradient of the output 9x9 convolution at 64x64 takes 133 ms with
Eigen and 17 ms with oneDNN, a whole x4 super-resolution ``fit`` step 190 ms vs 77 ms,
and the style ``fit`` step likewise (``benchmarks/bench_train.py``). PyTorch runs its
CPU convolutions through oneDNN on every x86 CPU, so with Eigen the comparison with it is
lost on exactly the CPUs most users have.

But oneDNN is not faster everywhere: on the same CPU it runs these networks' batch-1
*inference* 3-10x slower than Eigen (style network at 256 px: 549 vs 184 ms; x4 SR to
256 px: 1474 vs 141 ms). So the choice is per process and per job: the command line's
training commands (:data:`TRAINING_COMMANDS`) turn oneDNN on, everything else (a library
import, ``stylize``, the app, export) keeps TensorFlow's own choice. A training script of
your own gets it with ``TF_ENABLE_ONEDNN_OPTS=1`` in its environment.

The variable ``TF_ENABLE_ONEDNN_OPTS`` is read once, when TensorFlow is imported, so
:func:`prefer_onednn` must run before that: the package's ``__init__`` calls it (when
:func:`wants_onednn`) before it imports Keras. It only *sets a default*: a user's ``TF_ENABLE_ONEDNN_OPTS`` (``0`` to
keep Eigen's kernels, e.g. for bit-for-bit comparisons with an earlier run) always
wins, and when TensorFlow was already imported nothing changes (then
:func:`onednn_enabled` says what TensorFlow chose; ``keras-perceptual info`` and the
benchmarks' headers print it). oneDNN changes the order of floating-point sums, so
results differ from Eigen's by round-off (relative 1e-6 in float32), as TensorFlow's own
start-up notice says.
"""

from __future__ import annotations

import os
import platform
import sys

#: The environment variable TensorFlow reads once, at import, to choose oneDNN's kernels.
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


#: The ``keras-perceptual`` subcommands that train, and so run on oneDNN's kernels.
TRAINING_COMMANDS = ("train-style", "train-sr", "train-arbitrary", "demo")


def wants_onednn(argv: list[str] | None = None) -> bool:
    """Whether this process is the command line running a training command."""
    from keras_perceptual._console import is_command_line

    argv = list(sys.orig_argv if argv is None else argv)
    return is_command_line(argv) and any(arg in TRAINING_COMMANDS for arg in argv[1:5])


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def prefer_onednn() -> bool:
    """Default ``TF_ENABLE_ONEDNN_OPTS=1`` on x86 before TensorFlow is imported.

    Returns:
        Whether the variable was set by this call (``False`` when the user set it, when
        TensorFlow is already imported, or on a CPU other than x86).
    """
    if ONEDNN_VARIABLE in os.environ or "tensorflow" in sys.modules or not _x86():
        return False
    os.environ[ONEDNN_VARIABLE] = "1"
    return True


def onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs its CPU kernels through oneDNN.

    Returns:
        TensorFlow's own answer when TensorFlow is imported, else ``None`` (unknown).
    """
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own flag
    except ImportError:  # pragma: no cover - a TensorFlow build without it
        value = os.environ.get(ONEDNN_VARIABLE, "").strip().lower()
        return value in ("1", "true") if value else None
    return bool(_pywrap_util_port.IsMklEnabled())
