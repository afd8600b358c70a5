"""``keras-perceptual stylize`` and ``upscale``: trained networks applied to image files."""

from __future__ import annotations

import contextlib
import os

from keras_perceptual.cli.common import (
    IMAGE_FORMATS,
    INFERENCE_OPTIONS,
    PROG,
    STYLE_OPTIONS,
    USER_ERRORS,
    HelpFormatter,
    ProgressBar,
    UsageError,
    add_style_options,
    check_input_images,
    check_output_dir,
    check_style_image_given,
    input_files,
    make_output_dir,
    non_negative_int,
    one_line,
    option_names,
    output_path,
    positive_int,
    say,
    stopped_at,
    style_options_from,
)
from keras_perceptual.errors import InputError
from keras_perceptual.precision import PRECISIONS
from keras_perceptual.runtimes import RUNTIMES


def _precision_note(network) -> str:
    """`` (in mixed_bfloat16: ...)`` for the header line where a Keras network computes in a
    16-bit precision (``--precision auto`` picks bfloat16 on CPUs with bfloat16 units): the
    outputs then differ from float32 by up to a few levels of 255, which is worth saying."""
    import keras

    from keras_perceptual.models import model_precision

    if not isinstance(network, keras.Model) or model_precision(network) == "float32":
        return ""
    return f" (in {model_precision(network)}; --precision float32 for float32 outputs)"


def _model_scale(model, kind: str, reference: str) -> int:
    """How many times larger than its input the network's output is, checked against the
    command: ``stylize`` needs the same size out, ``upscale`` an integer multiple.

    Raises:
        UsageError: the other command's kind of network (it would run and write misnamed,
            useless images), or no image-to-image network at all.
    """
    from keras_perceptual.app.catalog import inspect_model

    try:
        loaded = inspect_model(model)
    except InputError as error:
        text = one_line(error).replace("the app runs", f"'{PROG} {kind}' runs")
        raise UsageError(f"cannot {kind} with {reference!r}: {text}") from error
    if kind == "upscale" and not loaded.kind.upscales:
        raise UsageError(
            f"{reference!r} is a {loaded.kind.label} network (its output is the size of its "
            f"input), not a super-resolution one: use '{PROG} stylize' with it"
        )
    if kind == "stylize" and loaded.kind.upscales:
        raise UsageError(
            f"{reference!r} is a x{loaded.scale} super-resolution network, not a style-transfer "
            f"one: use '{PROG} upscale' with it"
        )
    return loaded.scale


def _output_paths(files, out: str, suffix: str, extension: str) -> list[str]:
    """One output path per input (``<name><suffix>.<extension>`` in ``out``, numbered when
    two inputs share a name), refused when one of them is an input: writing it would
    replace that photo before (or after) it is read."""
    used: set[str] = set()
    targets = [output_path(out, path, suffix, extension, used) for path in files]
    inputs = {os.path.realpath(path): path for path in files}
    for target in targets:
        source = inputs.get(os.path.realpath(target))
        if source is not None:
            raise UsageError(
                f"the output {target!r} would overwrite the input {source!r}; choose another "
                "--out folder or --format (nothing was written)"
            )
    return targets


def _check_order(args, kind: str) -> None:
    """Refuses an image as MODEL with a model among the inputs: the two were swapped (the
    image was otherwise reported as 'not a model file' and the model as 'not an image')."""
    from keras_perceptual.images import IMAGE_EXTENSIONS
    from keras_perceptual.runtimes import extension_format, folder_format

    if not args.model.lower().endswith(IMAGE_EXTENSIONS):
        return
    for path in args.inputs:
        if extension_format(path) or (os.path.isdir(path) and folder_format(path)):
            raise UsageError(
                f"MODEL {args.model!r} is an image and INPUT {path!r} a model: give the model "
                f"first, then the images ('{PROG} {kind} MODEL INPUT... --out DIR')"
            )


def _apply(args, kind: str) -> int:
    _check_order(args, kind)
    with option_names({"input": "INPUT"}):
        files = input_files(args.inputs)
    style_options = style_options_from(args) if kind == "stylize" else {}
    check_output_dir(args.out)  # created once the model and the inputs are known to be fine
    from keras_perceptual.inference import (
        bind_style,
        min_input_size,
        resolve_model,
        save_image,
        stylize,
        upscale,
        with_precision,
    )
    from keras_perceptual.runtimes import load_runtime

    runtime = None if args.runtime == "auto" else args.runtime
    with option_names(INFERENCE_OPTIONS):
        model = load_runtime(args.model, runtime, threads=args.threads)
    check_input_images(files, min_input_size(model))
    scale = _model_scale(model, kind, args.model)
    value_range = model.info.value_range
    # The precision and the style, applied once, before anything is written: every input
    # then runs the same network (an arbitrary-style network encodes its style image once,
    # not once per input).
    with option_names({**INFERENCE_OPTIONS, **STYLE_OPTIONS}):
        network = with_precision(resolve_model(model), args.precision, kind)
        computes = _precision_note(network)
        if kind == "stylize":
            check_style_image_given(network, style_options)
            network = bind_style(network, value_range, **style_options)
    suffix = "_stylized" if kind == "stylize" else f"_x{scale}"
    targets = _output_paths(files, args.out, suffix, args.format)
    created = not os.path.isdir(args.out)
    out = make_output_dir(args.out)
    if not args.quiet and model.name != "keras":
        say(f"running {args.model} in {model.name}")
    written = []
    if not args.quiet:
        say(f"{kind}: {len(files)} image(s) -> {out}{computes}")
    bar = ProgressBar(len(files), args.quiet)
    # The options both commands share; each adds its own.
    options = {
        "tile_size": args.tile,
        "overlap": args.overlap,
        "batch_size": args.batch_size,
        "norm_statistics": args.norm_statistics,
        "value_range": value_range,
    }
    if kind == "stylize":
        options["preserve_color"] = args.preserve_color
    else:
        options["histogram_match"] = args.histogram_match
    for index, (path, target) in enumerate(zip(files, targets, strict=True)):
        try:
            with option_names(INFERENCE_OPTIONS):
                image = (stylize if kind == "stylize" else upscale)(network, path, **options)
            save_image(image, target, value_range=value_range)  # whole or not at all
        except (*USER_ERRORS, KeyboardInterrupt) as error:
            # E.g. a file changed since the check, an option the network does not take: the
            # outputs written so far are kept; a folder made for nothing is removed.
            bar.stop()
            if created and not written:
                with contextlib.suppress(OSError):
                    os.rmdir(out)
            if isinstance(error, KeyboardInterrupt):
                raise KeyboardInterrupt(stopped_at(files, index, out)) from None
            raise UsageError(f"{one_line(error)} {stopped_at(files, index, out)}") from error
        written.append(target)
        bar.add(path)
    say(f"wrote {len(written)} image(s) to {out}")
    return 0


def _cmd_stylize(args) -> int:
    return _apply(args, "stylize")


def _cmd_upscale(args) -> int:
    return _apply(args, "upscale")


_MODEL_HELP = """MODEL is a model.keras (or a training --out folder), hf://owner/name (needs the
[export] extra), or an export: a .onnx file (ONNX Runtime), an OpenVINO folder, a .tflite
file. --runtime runs a .keras model in ONNX Runtime / OpenVINO / TFLite (converted first) or
a .onnx file in OpenVINO."""

_STYLIZE_EPILOG = f"""examples:
  {PROG} stylize runs/starry/model.keras photo.jpg --out stylized/
  {PROG} stylize runs/starry holiday/ 'scans/*.png' --out stylized/ --tile 512 --preserve-color
  {PROG} stylize runs/four_styles photo.jpg --out out/ --style 2          # multi-style network
  {PROG} stylize runs/four_styles photo.jpg --out out/ --mix 0.5,0.5,0,0  # blend styles 0 and 1
  {PROG} stylize runs/adain photo.jpg --out out/ --style-image wave.jpg --alpha 0.8
  {PROG} stylize runs/adain photo.jpg --out out/ --style-image wave.jpg --style-size 512
  {PROG} stylize runs/adain photo.jpg --out out/ --style-image a.jpg b.jpg --mix 0.3,0.7
  {PROG} stylize export/starry.onnx photo.jpg --out stylized/            # ONNX Runtime
  {PROG} stylize export/starry_openvino photo.jpg --out stylized/        # OpenVINO
  {PROG} stylize hf://owner/starry photo.jpg --out stylized/

Writes OUT/<name>_stylized.png per input. Use --tile for large photos (bounded memory).
A network trained on several styles (train-style with several STYLE images) needs --style or
--mix; an arbitrary-style network (train-arbitrary) needs --style-image.

{_MODEL_HELP}"""


_UPSCALE_EPILOG = f"""examples:
  {PROG} upscale runs/sr4/model.keras small.png --out large/
  {PROG} upscale runs/sr4 'thumbs/*.jpg' --out large/ --histogram-match --tile 256
  {PROG} upscale export/sr4.onnx small.png --out large/ --runtime openvino

{_MODEL_HELP}

Writes OUT/<name>_x4.png per input (the factor is the model's)."""



def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    for name, handler, epilog, help_text in (
        ("stylize", _cmd_stylize, _STYLIZE_EPILOG, "apply a style-transfer network to images"),
        ("upscale", _cmd_upscale, _UPSCALE_EPILOG, "apply a super-resolution network to images"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:]
                           + ": files, folders (recursive) or glob patterns in, image files out.",
                           epilog=epilog, formatter_class=HelpFormatter)
        p.add_argument("model", metavar="MODEL",
                       help="model.keras, training --out folder, hf://owner/name, .onnx, "
                       "OpenVINO folder or .tflite")
        p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
        p.add_argument("--out", required=True, metavar="DIR", help="output folder")
        p.add_argument("--tile", type=positive_int, default=None, metavar="PX",
                       help="process images larger than PX in overlapping tiles (bounded memory)")
        p.add_argument("--overlap", type=non_negative_int,
                       default=128 if name == "stylize" else 40, metavar="PX",
                       help="overlap of neighbouring tiles (input pixels)")
        p.add_argument("--batch-size", type=positive_int, default=4, metavar="B",
                       help="tiles per model call")
        p.add_argument("--format", choices=IMAGE_FORMATS, default="png", help="output format")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--runtime", choices=("auto", *RUNTIMES), default="auto",
                       help="where the network runs; auto: the model format's own (Keras for "
                       ".keras, ONNX Runtime for .onnx, ...)")
        p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                       help="CPU threads for ONNX Runtime / OpenVINO / TFLite (default: all)")
        p.add_argument("--norm-statistics", choices=("image", "tile"), default="image",
                       help="with --tile: normalize tiles with whole-image statistics (exact, "
                       "Keras models only) or each tile's own (one pass)")
        p.add_argument("--precision", choices=PRECISIONS, default="auto",
                       help="compute precision of a Keras model: auto (bfloat16 where the device "
                       "computes it natively, e.g. AVX512-BF16/AMX CPUs and recent GPUs; float32 "
                       "elsewhere, also for a network trained in mixed precision)")
        if name == "stylize":
            p.add_argument("--preserve-color", action="store_true",
                           help="keep the photo's colours, transfer luminance only (Gatys et al. 2016)")
            add_style_options(p)
        else:
            p.add_argument("--histogram-match", action="store_true",
                           help="match each output channel's histogram to the input's (the paper's "
                           "post-processing)")
        p.set_defaults(handler=handler)
