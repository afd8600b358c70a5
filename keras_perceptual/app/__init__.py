"""A local web app to try trained models: ``keras-perceptual app``.

Pick a trained network (every ``.keras`` under the folders given, training runs with
their style image, the demo's models, and exported ``.onnx``, ``.tflite`` and OpenVINO
models run through :mod:`keras_perceptual.runtimes`), drop photos on the page, see input
and output side by side, download the PNG. Style-transfer models have a *preserve
colour* toggle and a tile size (multi-style networks one slider per style,
arbitrary-style networks a style image and ``alpha``); super-resolution models show the
output next to bicubic with a zoomed crop, and a *histogram match* toggle. Each result
shows the time it took and the device; a progress bar follows large photos tile by tile.

The app binds to 127.0.0.1 unless told otherwise, limits upload size and pixel count,
answers every bad upload with a message in the page, runs one request at a time and
loads each model once. It needs the ``app`` extra (Gradio):
``pip install "keras-perceptual[app]"``.

Three modules, so each part can be used and tested alone:

* :mod:`~keras_perceptual.app.catalog`: finding models, recognizing their kind, the cache.
* :mod:`~keras_perceptual.app.handlers`: one request as plain functions (uploads checked
  and decoded, models run, results written); no web framework.
* :mod:`~keras_perceptual.app.ui`: the Gradio page and :func:`launch`.

Example:
    >>> from keras_perceptual.app import launch
    >>> launch(["runs/"], port=7860)  # doctest: +SKIP
"""

from keras_perceptual.app.catalog import (
    MODEL_KINDS,
    LoadedModel,
    ModelCache,
    ModelEntry,
    ModelKind,
    discover_models,
)
from keras_perceptual.app.handlers import Limits, Options, RunResult, process_uploads
from keras_perceptual.app.ui import AppState, build_app, launch

__all__ = [
    "MODEL_KINDS",
    "AppState",
    "Limits",
    "LoadedModel",
    "ModelCache",
    "ModelEntry",
    "ModelKind",
    "Options",
    "RunResult",
    "build_app",
    "discover_models",
    "launch",
    "process_uploads",
]
