"""``keras-perceptual export``: a trained network as a TF Serving SavedModel (and TFLite)."""

from __future__ import annotations

import os

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    UsageError,
    load_model,
    positive_int,
    say,
)


def _cmd_export(args) -> int:
    from keras_perceptual.export import export_for_serving, export_tflite

    if args.quantize and not args.tflite:
        raise UsageError("--quantize applies to the TFLite model: add --tflite")
    model = load_model(args.model)
    path = export_for_serving(
        model,
        args.out_dir,
        version=args.version,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
        compute_dtype=args.compute_dtype,
    )
    say(f"wrote SavedModel {path}")
    if args.tflite:
        stem = os.path.splitext(os.path.basename(os.path.normpath(args.model)))[0]
        target = os.path.join(args.out_dir, f"{stem}.tflite")
        say(f"wrote TFLite model {export_tflite(model, target, quantize=args.quantize)}")
    return 0


_EXPORT_EPILOG = f"""examples:
  {PROG} export runs/sr4/model.keras export/sr4            # export/sr4/1/ (next free version)
  {PROG} export runs/starry/model.keras export/starry --version 3 --overwrite --tflite
  {PROG} export runs/starry export/starry --tflite --quantize dynamic   # ~4x smaller .tflite

Serve with TF Serving: --model_base_path=$PWD/export/sr4 (the numbered versions)."""



def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("export", help="export a model as a TF Serving SavedModel (and TFLite)",
                       description="Export a trained network as a SavedModel for TF Serving: "
                       "OUT_DIR/<version>/.", epilog=_EXPORT_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("model", metavar="MODEL", help="model.keras (or a training --out folder)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="base folder of the versions")
    p.add_argument("--version", type=positive_int, default=None, metavar="N",
                   help="version number (default: the next free one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version")
    p.add_argument("--tflite", action="store_true",
                   help="also write OUT_DIR/<model name>.tflite (float32, any input size)")
    p.add_argument("--quantize", choices=("dynamic", "float16"), default=None,
                   help="with --tflite: int8 weights (dynamic range) or float16 weights")
    p.add_argument("--max-pixels", type=positive_int, default=16_000_000, metavar="N",
                   help="largest height x width per image the server accepts")
    p.add_argument("--compute-dtype", choices=("float32",), default=None,
                   help="rebuild a mixed-precision model in float32 (CPU serving)")
    p.set_defaults(handler=_cmd_export)
