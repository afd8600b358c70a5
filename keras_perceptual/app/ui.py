"""The web page (Gradio): layout and wiring of the handlers; nothing else happens here.

Gradio is the field's convention for model demos (the Hugging Face Spaces of style
transfer and super-resolution projects use it): one Python package, a page with file
upload by drag and drop, galleries, progress bars and a request queue, served locally
by its own web server. It is an optional dependency: ``pip install "keras-perceptual[app]"``.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any

from keras_perceptual._checks import check_finite_float, check_flag, shortened
from keras_perceptual.app.catalog import (
    DEMO_DIR,
    ModelCache,
    discover_models,
    no_models_message,
)
from keras_perceptual.app.handlers import (
    DEFAULT_TILE_SIZE,
    Limits,
    Options,
    describe_device,
    process_uploads,
)
from keras_perceptual.errors import (
    InputError,
    KerasPerceptualError,
    MissingDependencyError,
    install_hint,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Most requests waiting in the queue; more are refused with a message ("queue full").
QUEUE_SIZE = 64
#: Side of the style image thumbnail, in pixels (shorter side).
THUMBNAIL_SIZE = 192
TILE_RANGE = (256, 4096)
#: Sliders shown for a multi-style network's styles (a network with more styles gets
#: these many; the other weights stay 0).
MAX_STYLE_SLIDERS = 8

_INSTALL = install_hint("app")


def require_gradio():
    """Imports Gradio, or raises :class:`~keras_perceptual.errors.MissingDependencyError`.

    Gradio's usage analytics (which would call out to the internet) are switched off
    unless ``GRADIO_ANALYTICS_ENABLED`` is already set.

    Returns:
        The ``gradio`` module.

    Raises:
        MissingDependencyError: Gradio is not installed; the message names the ``app`` extra.

    Example:
        >>> gr = require_gradio()  # doctest: +SKIP
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise MissingDependencyError(
            f"The web app needs Gradio, which is not installed ({error}); install it with "
            f"{_INSTALL}. Received: gradio=not installed"
        ) from None
    return gradio


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
        (True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_warning(host: str, port: int) -> str | None:
    """The warning printed when the app listens beyond this machine, else ``None``.

    Example:
        >>> host_warning("127.0.0.1", 7860) is None
        True
    """
    if is_loopback(host):
        return None
    return (
        f"listening on {host}: anyone who can reach this machine on port {port} can use the app "
        f"(it has no login) and upload files to it. Use the default --host {DEFAULT_HOST} to "
        "keep it on this machine."
    )


def cannot_serve_message(host: str, port: int, error: OSError) -> str:
    """Why the server could not listen on ``host:port``, and the fix.

    Gradio reports every failure to bind as "Cannot find empty port" and suggests its own
    environment variable and ``launch()`` argument; binding once more here tells a port in
    use from an address that is not this machine's.
    """
    import errno
    import socket

    reason = shortened(error)
    code = None
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.bind(address)
    except OSError as bind_error:  # socket.gaierror too: an unknown host name
        code = getattr(bind_error, "errno", None)
        reason = bind_error.strerror or reason
    if code == errno.EADDRINUSE:
        return (f"Cannot serve on {host}:{port}: port {port} is in use (another program, or "
                f"another 'keras-perceptual app', listens there); pass a free one with --port, "
                f"e.g. --port {port + 1 if port < 65535 else port - 1}. Received: port={port}")
    if code is not None:
        return (f"Cannot serve on {host}:{port} ({reason}); pass an address of this machine with "
                f"--host (default {DEFAULT_HOST}). Received: host={host!r}")
    return (f"Cannot serve on {host}:{port} ({reason}); pass another --port or --host. "
            f"Received: port={port}")


def _theme(gr):
    system = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif")
    mono = ("ui-monospace", "SFMono-Regular", "Menlo", "monospace")
    # Local fonts only: the default theme loads Google Fonts, which an offline machine
    # cannot reach (the page would wait for them).
    return gr.themes.Soft(primary_hue="indigo", font=system, font_mono=mono)


#: How the page names each runtime of :mod:`keras_perceptual.runtimes`.
RUNTIME_LABELS = {"keras": "Keras", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO",
                  "tflite": "TFLite"}


def _model_info(entry, loaded) -> str:
    from keras_perceptual.app.handlers import tile_normalized

    size = (f"{loaded.parameters:,} parameters" if loaded.parameters is not None
            else f"exported, runs in {RUNTIME_LABELS.get(loaded.runtime, loaded.runtime)}")
    lines = [
        f"**{loaded.kind.label}**"
        + (f" ×{loaded.scale}" if loaded.scale > 1 else "")
        + f" · {size} · images in {tuple(loaded.value_range)}"
        + (f" · at least {loaded.min_side} px" if loaded.min_side > 1 else ""),
        f"`{entry.path}`" + "".join(f" · {note}" for note in entry.notes),
    ]
    if tile_normalized(loaded):
        lines.append("Tiles of large photos are normalized on their own (whole-image "
                     "statistics need the .keras model): raise the tile size to avoid seams.")
    if loaded.kind.name == "arbitrary_style" and not _alpha_adjustable(loaded):
        lines.append(f"alpha {loaded.model.info.alpha:g}, fixed when it was exported (another "
                     "alpha needs the .keras model).")
    return "\n\n".join(lines)


def _alpha_adjustable(loaded) -> bool:
    """Whether the page's alpha slider applies: an exported arbitrary-style network applies
    the alpha it was exported with."""
    return loaded.runtime == "keras"


def _thumbnail(path: str | None):
    if not path:
        return None
    from keras_perceptual.images import UnusableImageError, read_rgb

    try:
        return read_rgb(path, shorter_side=THUMBNAIL_SIZE)
    except UnusableImageError:
        return None


def _failure(error: BaseException, what: str) -> str:
    """The page's one-sentence message for an exception (a traceback only in the log)."""
    if isinstance(error, KerasPerceptualError):
        return f"**{error}**"
    traceback.print_exc()
    text = shortened(error, 300)
    return (f"**Internal error while {what} ({type(error).__name__}: {text}); this is a bug in "
            "keras-perceptual: the server's log has the traceback.**")


class AppState:
    """What the page's handlers share: the models found, the model cache, the limits.

    Args:
        models: folders and files searched for models.
        demo_dir: the demo's output folder (``None``: not looked for).
        limits: upload limits.
        output_dir: where result PNGs are written (default: a temporary folder, removed
            at exit).
        cache: a :class:`~keras_perceptual.app.catalog.ModelCache` (default: a new one).

    Raises:
        InputError: a path in ``models`` that does not exist or is not a model file.

    Example:
        >>> state = AppState(["runs"])  # doctest: +SKIP
        >>> [e.label for e in state.entries]  # doctest: +SKIP
        ['starry (runs/starry/model.keras)']
    """

    def __init__(self, models: Sequence[str] = (), demo_dir: str | None = DEMO_DIR,
                 limits: Limits | None = None, output_dir: str | None = None,
                 cache: ModelCache | None = None):
        self.models = [os.fspath(m) for m in models]
        self.demo_dir = demo_dir
        self.limits = limits or Limits()
        self.cache = cache or ModelCache()
        if output_dir is None:
            output_dir = tempfile.mkdtemp(prefix="keras-perceptual-app-")
            atexit.register(shutil.rmtree, output_dir, True)
        self.output_dir = output_dir
        self.entries = discover_models(self.models, demo_dir)

    def refresh(self) -> list:
        """Searches again (new training runs appear); returns the entries."""
        self.entries = discover_models(self.models, self.demo_dir)
        return self.entries

    def entry(self, key: str | None):
        """The entry whose key is ``key``, or raises ``InputError``."""
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise InputError(
            "No model is selected, or the selected one is gone; pick one in the Model list "
            f"(press Refresh after training a new one). Received: model={key!r}"
        )

    def describe(self, key: str | None) -> dict[str, Any]:
        """Loads (or takes from the cache) the model ``key`` and describes it for the page.

        Returns:
            ``{"info", "kind", "action", "thumbnail", "num_styles", "alpha"}``: Markdown,
            the kind's name, the run button's text, the style image as a uint8 array (or
            ``None``), the number of styles of a multi-style network (else 0) and whether
            the alpha slider applies (a Keras arbitrary-style network).
        """
        entry = self.entry(key)
        loaded = self.cache.get(entry.path)
        return {
            "info": _model_info(entry, loaded),
            "kind": loaded.kind.name,
            "action": loaded.kind.action,
            "thumbnail": _thumbnail(entry.style_image),
            "num_styles": loaded.num_styles,
            "alpha": loaded.kind.name == "arbitrary_style" and _alpha_adjustable(loaded),
        }

    def run(self, key: str | None, files: Sequence[Any] | None, preserve_color: bool = False,
            histogram_match: bool = False, tile_size: float = DEFAULT_TILE_SIZE,
            style_weights: Sequence[float] | None = None, style_image: str | None = None,
            alpha: float = 1.0, progress=None):
        """One request from the page: :func:`~keras_perceptual.app.handlers.process_uploads`.

        Returns:
            The :class:`~keras_perceptual.app.handlers.RunResult`.
        """
        loaded = self.cache.get(self.entry(key).path)
        if not loaded.num_styles:
            style_weights = None
        elif isinstance(style_weights, (list, tuple)):  # MAX_STYLE_SLIDERS sliders, some hidden
            style_weights = tuple(style_weights)[: loaded.num_styles]  # (else blend_weights says)
        # Numbers from the HTTP API can be anything: a message, not float()'s ValueError.
        tile = check_finite_float(tile_size, "tile_size", "pixels")
        # None: a checkbox left out of an API call (unticked); "false" would be True.
        options = Options(preserve_color=check_flag(preserve_color or False, "preserve_color"),
                          histogram_match=check_flag(histogram_match or False, "histogram_match"),
                          tile_size=int(round(tile)), style_weights=style_weights,
                          style_image=style_image or None, alpha=alpha)
        return process_uploads(loaded, files or [], options, self.limits, self.output_dir,
                               progress=progress)


def build_app(state: AppState):
    """The page, as a ``gradio.Blocks`` (not launched).

    Args:
        state: the :class:`AppState` the handlers use.

    Returns:
        A ``gradio.Blocks``; :func:`launch` serves it.

    Raises:
        MissingDependencyError: Gradio is not installed.

    Example:
        >>> blocks = build_app(AppState(["runs"]))  # doctest: +SKIP
    """
    gr = require_gradio()

    def choices():
        return [(entry.label, entry.key) for entry in state.entries]

    def on_refresh(current):
        try:
            state.refresh()
        except KerasPerceptualError as error:
            return gr.update(), _failure(error, "searching for models")
        keys = [key for _, key in choices()]
        value = current if current in keys else (keys[0] if keys else None)
        message = "" if keys else f"**{no_models_message(state.models, state.demo_dir)}**"
        return gr.update(choices=choices(), value=value), message

    def on_select(key):
        hidden = gr.update(visible=False)
        controls = [hidden] * (4 + MAX_STYLE_SLIDERS)  # preserve, histogram, tile, style, alpha
        if not key:
            message = (f"**{no_models_message(state.models, state.demo_dir)}**"
                       if not state.entries else "")
            return [message, gr.update(value=None, visible=False), gr.update(interactive=False),
                    *controls, hidden]
        try:
            described = state.describe(key)
        except Exception as error:  # noqa: BLE001 - shown in the page, never raised
            return [f"Cannot use this model: {_failure(error, 'loading the model')}",
                    gr.update(value=None, visible=False), gr.update(interactive=False),
                    *controls, hidden]
        kind = described["kind"]
        thumb = described["thumbnail"]
        count = described["num_styles"]
        sliders = [gr.update(visible=i < count, value=1.0 if i == 0 else 0.0,
                             label=f"style {i}") for i in range(MAX_STYLE_SLIDERS)]
        return [
            described["info"],
            gr.update(value=thumb, visible=thumb is not None),
            gr.update(value=described["action"], interactive=True),
            gr.update(visible=kind != "super_resolution"),
            gr.update(visible=kind == "super_resolution"),
            gr.update(visible=True),
            gr.update(visible=kind == "arbitrary_style"),
            gr.update(visible=described["alpha"]),
            *sliders,
        ]

    tracker = gr.Progress()  # Gradio's progress bar, passed as a default argument (its idiom)

    def on_run(key, files, preserve, histogram, tile, style_file, alpha, *weights,
               progress=tracker):
        def report(fraction, text):
            progress(fraction, desc=text)

        try:
            result = state.run(key, files, preserve, histogram, tile, style_weights=weights,
                               style_image=style_file, alpha=alpha, progress=report)
        except Exception as error:  # noqa: BLE001 - shown in the page, never raised
            return [], None, _failure(error, "running the model") + f"\n\nDevice: {describe_device()}"
        gallery = [item for image in result.images for item in image.gallery]
        downloads = [image.output_path for image in result.images] or None
        return gallery, downloads, result.summary()

    limits = state.limits
    with gr.Blocks(title="keras-perceptual", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(
            "## keras-perceptual: try a trained model\n"
            "Fast style transfer and super-resolution networks trained with perceptual losses "
            "(Johnson, Alahi & Fei-Fei, ECCV 2016)."
        )
        with gr.Row(equal_height=True):
            model = gr.Dropdown(label="Model", choices=choices(), scale=5, elem_id="model")
            refresh = gr.Button("Refresh", scale=0, min_width=100, size="sm", elem_id="refresh")
        with gr.Row():
            info = gr.Markdown(elem_id="model-info")
            thumbnail = gr.Image(label="Style image", height=THUMBNAIL_SIZE, interactive=False,
                                 visible=False, scale=0, min_width=THUMBNAIL_SIZE,
                                 buttons=[], elem_id="style-image")
        with gr.Row():
            with gr.Column(scale=2):
                photos = gr.File(label="Photos (drag and drop)", file_count="multiple",
                                 type="filepath", elem_id="photos")
                gr.Markdown(
                    f"JPEG, PNG or WebP; up to {limits.max_files} files of at most "
                    f"{limits.max_upload_mb:g} MB and {limits.max_pixels / 1e6:.1f} megapixels.",
                    elem_id="limits",
                )
                preserve = gr.Checkbox(label="Preserve colour (transfer luminance only, Gatys et "
                                       "al. 2016)", value=False, elem_id="preserve-color")
                histogram = gr.Checkbox(label="Histogram match (the paper's post-processing)",
                                        value=False, visible=False, elem_id="histogram-match")
                tile = gr.Slider(*TILE_RANGE, value=DEFAULT_TILE_SIZE, step=64,
                                 label="Tile size (px)", elem_id="tile-size",
                                 info="larger photos are processed in overlapping tiles "
                                 "(bounded memory, same result)")
                style_file = gr.File(label="Style image (any painting)", file_count="single",
                                     type="filepath", visible=False, elem_id="style-upload")
                alpha = gr.Slider(0.0, 1.0, value=1.0, step=0.05, visible=False,
                                  label="alpha: content (0) to full style (1)", elem_id="alpha")
                weights = [gr.Slider(0.0, 1.0, value=1.0 if i == 0 else 0.0, step=0.05,
                                     label=f"style {i}", visible=False, elem_id=f"style-{i}")
                           for i in range(MAX_STYLE_SLIDERS)]
                run = gr.Button("Stylize", variant="primary", interactive=False, elem_id="run")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="status")
                gallery = gr.Gallery(label="Results", columns=2, height="auto", format="png",
                                     object_fit="contain", elem_id="results")
                downloads = gr.File(label="Download (PNG)", file_count="multiple",
                                    interactive=False, elem_id="downloads")

        # Loading a model and running one share one queue slot: one at a time on the CPU.
        selection = [info, thumbnail, run, preserve, histogram, tile, style_file, alpha, *weights]
        queued = {"concurrency_limit": 1, "concurrency_id": "model"}
        blocks.load(on_refresh, inputs=model, outputs=[model, status], api_name=False).then(
            on_select, inputs=model, outputs=selection, api_name=False, **queued)
        refresh.click(on_refresh, inputs=model, outputs=[model, status], api_name=False).then(
            on_select, inputs=model, outputs=selection, api_name=False, **queued)
        model.input(on_select, inputs=model, outputs=selection, api_name=False, **queued)
        run.click(on_run, inputs=[model, photos, preserve, histogram, tile, style_file, alpha,
                                  *weights],
                  outputs=[gallery, downloads, status], api_name="run", **queued)
    return blocks


def launch(
    models: Sequence[str] = (),
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    demo_dir: str | None = DEMO_DIR,
    limits: Limits | None = None,
    open_browser: bool = False,
    block: bool = True,
):
    """Serves the app; returns when stopped (Ctrl-C), or at once with ``block=False``.

    Args:
        models: folders and model files (``.keras``, ``.onnx``, ``.tflite``, OpenVINO
            ``.xml``) to offer (see
            :func:`~keras_perceptual.app.catalog.discover_models`).
        host: the address to listen on; anything but a loopback address makes the app
            reachable from other machines (a warning is printed: it has no login).
        port: the TCP port.
        demo_dir: the demo's output folder, offered when present.
        limits: upload limits (:class:`~keras_perceptual.app.handlers.Limits`).
        open_browser: open the page in the default browser.
        block: wait until interrupted; ``False`` returns the running app (tests).

    Returns:
        ``(blocks, url)``: the running ``gradio.Blocks`` (``blocks.close()`` stops it) and
        its local address.

    Raises:
        MissingDependencyError: Gradio is not installed.
        InputError: a bad ``models`` path or ``demo_dir``, an empty ``host`` or an IPv6
            address, or a port that cannot be used.

    Example:
        >>> launch(["runs"], port=7861)  # doctest: +SKIP
    """
    if not isinstance(host, str) or not host.strip():  # said before a missing extra
        raise InputError(
            "host must be an address to listen on, such as 127.0.0.1 (this machine only) or "
            f"0.0.0.0 (every network interface). Received: host={host!r}"
        )
    if ":" in host:  # Gradio writes http://{host}:{port}/ unbracketed, then fails to parse it
        raise InputError(
            "The app cannot listen on an IPv6 address (its web server, Gradio, does not support "
            f"them); pass --host {DEFAULT_HOST} (this machine only) or 0.0.0.0 (every IPv4 "
            f"interface). Received: host={host!r}"
        )
    gr = require_gradio()
    state = AppState(models, demo_dir=demo_dir, limits=limits)
    if not state.entries:
        print(f"keras-perceptual: warning: {no_models_message(models, demo_dir)}",
              file=sys.stderr, flush=True)
    warning = host_warning(host, port)
    if warning:
        print(f"keras-perceptual: warning: {warning}", file=sys.stderr, flush=True)
    blocks = build_app(state)
    blocks.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    try:
        blocks.launch(
            server_name=host,
            server_port=port,
            max_file_size=state.limits.max_upload_bytes,
            share=False,
            inbrowser=open_browser,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            ssr_mode=False,
            footer_links=["gradio", "settings"],
            theme=_theme(gr),
        )
    except OSError as error:
        raise InputError(cannot_serve_message(host, port, error)) from None
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"
    count = len(state.entries)
    print(f"keras-perceptual app: {count} model(s), {describe_device()}; open {url} "
          "(Ctrl-C stops)", flush=True)
    if block:
        try:
            blocks.block_thread()
        finally:
            blocks.close()
    return blocks, url


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "AppState",
    "build_app",
    "host_warning",
    "is_loopback",
    "launch",
    "require_gradio",
]
