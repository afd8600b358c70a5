"""``keras-perceptual app``: a local web page to try trained models (needs the ``app`` extra)."""

from __future__ import annotations

import argparse

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    option_names,
    positive_float,
    positive_int,
)
from keras_perceptual.errors import install_hint


def _port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {text!r}")
    return value


#: The options, by the argument of ``Limits`` / ``launch`` each sets (for their messages).
_APP_OPTIONS = {
    "models": "--models",
    "demo_dir": "--demo-dir",
    "host": "--host",
    "port": "--port",
    "max_upload_mb": "--max-upload-mb",
    "max_pixels": "--max-pixels",
    "max_files": "--max-files",
}


def _cmd_app(args) -> int:
    from keras_perceptual.app.handlers import Limits
    from keras_perceptual.app.ui import launch, require_gradio

    require_gradio()  # before anything else: a missing extra is the likeliest problem
    with option_names(_APP_OPTIONS):
        limits = Limits(max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
                        max_files=args.max_files)
        launch(
            args.models,
            host=args.host,
            port=args.port,
            demo_dir=None if args.no_demo else args.demo_dir,
            limits=limits,
            open_browser=args.open,
        )
    return 0


_APP_EPILOG = f"""examples:
  {PROG} app                                  # the demo's models (run '{PROG} demo' first)
  {PROG} app --models runs/                   # every model under runs/, training runs included
  {PROG} app --models exports/                # .onnx, .tflite and OpenVINO (.xml + .bin) exports
  {PROG} app --models runs/starry sr4.keras --port 8080 --open
  {PROG} app --host 0.0.0.0 --max-pixels 4000000   # reachable from the network (no login!)

Open the printed address in a browser; Ctrl-C stops the server. Requires
Gradio: {install_hint("app")}."""


def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    from keras_perceptual.app.handlers import (
        DEFAULT_MAX_FILES,
        DEFAULT_MAX_PIXELS,
        DEFAULT_MAX_UPLOAD_MB,
    )
    from keras_perceptual.app.ui import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser(
        "app", help="a local web page to try trained models (needs the [app] extra)",
        description="Serve a local web page to try trained style-transfer and super-resolution "
        "models: pick a model, drop photos, compare and download the results.",
        epilog=_APP_EPILOG, formatter_class=HelpFormatter,
    )
    p.add_argument("--models", nargs="+", default=[], metavar="DIR_OR_FILE",
                   help="folders (searched recursively) and model files to offer: .keras, and "
                   "exported .onnx, .tflite and OpenVINO .xml (the export extra runs them)")
    p.add_argument("--demo-dir", default="demo_out", metavar="DIR",
                   help="the demo's output folder; its style/ and sr/ models are offered when present")
    p.add_argument("--no-demo", action="store_true", help="do not offer the demo's models")
    p.add_argument("--host", default=DEFAULT_HOST, metavar="ADDR",
                   help="address to listen on; anything but 127.0.0.1/localhost makes the page "
                   "reachable from other machines (it has no login; a warning is printed)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="N", help="TCP port")
    p.add_argument("--max-upload-mb", type=positive_float, default=DEFAULT_MAX_UPLOAD_MB,
                   metavar="MB", help="largest upload accepted, in megabytes")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="largest image accepted (width x height), also the largest output of a "
                   "super-resolution model")
    p.add_argument("--max-files", type=positive_int, default=DEFAULT_MAX_FILES, metavar="N",
                   help="most photos in one request")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=_cmd_app)
