"""``keras-perceptual export``: a trained network as a TF Serving SavedModel, TFLite, ONNX or
OpenVINO model."""

from __future__ import annotations

import os

from keras_perceptual.cli.common import (
    PROG,
    HelpFormatter,
    UsageError,
    input_files,
    load_model,
    option_names,
    positive_int,
    say,
)
from keras_perceptual.runtimes import FILE_EXTENSIONS, extension_format

#: ``--format`` values, and the ``--quantize`` values each accepts.
FORMAT_QUANTIZATIONS = {
    "savedmodel": (),
    "tflite": ("dynamic", "float16", "int8"),
    "onnx": (),
    "openvino": ("float16",),
}
def _file_target(out: str, model_path: str, fmt: str) -> str:
    """OUT itself when it names a model file (of another format than ``fmt``: the export
    function refuses it, naming the right one), else OUT/<model name>.<ext> (the extension
    load_runtime recognizes: runtimes.FILE_EXTENSIONS)."""
    if extension_format(out) is not None:
        return out
    suffix = next(ext for ext, name in FILE_EXTENSIONS.items() if name == fmt)
    stem = os.path.splitext(os.path.basename(os.path.normpath(model_path)))[0]
    if model_path.startswith("hf://"):
        stem = model_path.rstrip("/").rsplit("/", 1)[-1]
    return os.path.join(out, f"{stem}{suffix}")


#: The options, by the export functions' argument each sets (for their messages).
_EXPORT_OPTIONS = {
    "model": "MODEL",
    "version": "--version",
    "overwrite": "--overwrite",
    "max_pixels": "--max-pixels",
    "compute_dtype": "--compute-dtype",
    "quantize": "--quantize",
    "representative_images": "--calibration-images",
    "base_dir": "OUT",
    "path": "OUT",
}


def _cmd_export(args) -> int:
    with option_names(_EXPORT_OPTIONS):
        return _export(args)


def _export(args) -> int:
    from keras_perceptual import export

    fmt = args.format
    if args.tflite and fmt != "savedmodel":
        raise UsageError("--tflite adds a TFLite model to a SavedModel export; with --format "
                         f"{fmt} drop it")
    quantized_format = "tflite" if args.tflite else fmt
    allowed = FORMAT_QUANTIZATIONS[quantized_format]
    if args.quantize and args.quantize not in allowed:
        options = ", ".join(allowed) if allowed else "none"
        hint = " (add --tflite or use --format tflite)" if fmt == "savedmodel" else ""
        raise UsageError(f"--quantize {args.quantize} does not apply to {quantized_format}"
                         f"{hint}; options there: {options}")
    if args.quantize == "int8" and not args.calibration_images:
        raise UsageError("--quantize int8 calibrates on real images: add --calibration-images "
                         "DIR (a few dozen typical inputs)")
    if args.calibration_images and args.quantize != "int8":
        raise UsageError("--calibration-images is for --quantize int8")
    calibration = args.calibration_images
    if calibration:
        # Listed and checked here, as stylize's inputs are: inside export_tflite an unreadable
        # one was named as load_image's path=, which this command calls OUT.
        with option_names({"input": "--calibration-images"}):
            calibration = input_files([calibration])
    model = load_model(args.model)
    if fmt == "savedmodel":
        path = export.export_for_serving(
            model,
            args.out,
            version=args.version,
            overwrite=args.overwrite,
            max_pixels=args.max_pixels,
            compute_dtype=args.compute_dtype,
        )
        say(f"wrote SavedModel {path}")
        if not args.tflite:
            return 0
        fmt = "tflite"
    if fmt == "tflite":
        result = export.export_tflite(
            model,
            _file_target(args.out, args.model, "tflite"),
            quantize=args.quantize,
            representative_images=calibration,
        )
        say(f"wrote TFLite model {result}")
        if result.metrics:
            m = result.metrics
            say(f"int8 vs float32 on {m['held_out_images']} held-out image(s): PSNR "
                f"{m['psnr_db']:.1f} dB (worst {m['psnr_db_min']:.1f} dB), calibrated on "
                f"{m['calibration_images']}")
    elif fmt == "onnx":
        say(f"wrote ONNX model {export.export_onnx(model, _file_target(args.out, args.model, fmt))}")
    else:
        path = export.export_openvino(model, args.out, quantize=args.quantize)
        say(f"wrote OpenVINO IR {path} (model.xml + model.bin)")
    return 0


_EXPORT_EPILOG = f"""examples:
  {PROG} export runs/sr4/model.keras export/sr4            # export/sr4/1/ (next free version)
  {PROG} export runs/starry/model.keras export/starry --version 3 --overwrite --tflite
  {PROG} export runs/starry export/starry.tflite --format tflite --quantize dynamic
  {PROG} export runs/sr4 export/sr4_int8.tflite --format tflite --quantize int8 \\
      --calibration-images photos/                           # prints the int8 PSNR
  {PROG} export runs/starry export/starry.onnx --format onnx
  {PROG} export runs/starry export/starry_openvino --format openvino
  {PROG} export hf://owner/starry export/starry.onnx --format onnx

OUT is the versions folder for savedmodel (serve with TF Serving:
--model_base_path=$PWD/export/sr4), a .tflite / .onnx file (or a folder to write
<model name>.tflite / .onnx into), or the OpenVINO IR folder. ONNX, OpenVINO and hf://
need the [export] extra."""


def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("export", help="export a model for TF Serving, TFLite, ONNX or OpenVINO",
                       description="Export a trained network: a SavedModel for TF Serving "
                       "(OUT/<version>/, the default), a .tflite, a .onnx or an OpenVINO IR.",
                       epilog=_EXPORT_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="model.keras, a training --out folder or hf://owner/name")
    p.add_argument("out", metavar="OUT", help="where to write (see below)")
    p.add_argument("--format", choices=tuple(FORMAT_QUANTIZATIONS), default="savedmodel",
                   help="what to write")
    p.add_argument("--quantize", choices=("dynamic", "float16", "int8"), default=None,
                   help="tflite: dynamic (int8 weights), float16, int8 (full integer, needs "
                   "--calibration-images); openvino: float16 weights")
    p.add_argument("--calibration-images", default=None, metavar="DIR",
                   help="with --quantize int8: folder (or glob) of typical input images")
    p.add_argument("--version", type=positive_int, default=None, metavar="N",
                   help="savedmodel: version number (default: the next free one)")
    p.add_argument("--overwrite", action="store_true", help="savedmodel: replace a version")
    p.add_argument("--tflite", action="store_true",
                   help="savedmodel: also write OUT/<model name>.tflite")
    p.add_argument("--max-pixels", type=positive_int, default=16_000_000, metavar="N",
                   help="savedmodel: largest height x width per image the server accepts")
    p.add_argument("--compute-dtype", choices=("float32",), default=None,
                   help="savedmodel: rebuild a mixed-precision model in float32 (CPU serving)")
    p.set_defaults(handler=_cmd_export)
