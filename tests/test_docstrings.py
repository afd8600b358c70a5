"""Every docstring example of the package runs (``doctest``), in the default test run.

Each module's examples run with a small shared namespace (``np``, ``keras``, the package's
public names, tiny ``images`` and a tiny untrained network ``net``) inside a temporary
folder, so examples may write files. The folder holds the few files examples read, the
same names in every module:

- ``photo.jpg``: a 64 x 48 (W x H) photo; ``painting.jpg``: a 64 x 64 painting;
- ``photos/``: four 64 x 64 photos (``astronaut``, ``chelsea``, ``coffee``, ``rocket``);
- ``model.keras``: ``style_transfer_net(filters=4, num_residual_blocks=1)`` saved;
- ``clip.mp4``: eight 32 x 32 frames at 8 fps (only where PyAV is installed).

An example that needs what a test cannot have (ImageNet weights, a dataset folder, a
GPU, a long training run, the network) says so with ``# doctest: +SKIP``; everything
else runs. A module whose optional extra is not installed is skipped with the reason.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import pathlib
import pkgutil
import re
import shutil

import numpy as np
import pytest
from conftest import BACKEND

import keras_perceptual

#: Modules that need an optional extra: module -> the import that tells whether it is there.
OPTIONAL = {
    "keras_perceptual.app": "gradio",
    "keras_perceptual.app.catalog": "gradio",
    "keras_perceptual.app.handlers": "gradio",
    "keras_perceptual.app.ui": "gradio",
}
#: Modules that need TensorFlow itself (their examples use tf.* objects).
TENSORFLOW_ONLY = {
    "keras_perceptual.data",
    "keras_perceptual.export",
    "keras_perceptual.gan",
    "keras_perceptual.training.distribute",
    "keras_perceptual.training.summaries",
}
#: Modules whose examples are too heavy for the default run: in the slow set (``-m slow``).
SLOW = {
    "keras_perceptual.export",  # writes a SavedModel, TFLite (float and int8), ONNX, OpenVINO
}


_TENSOR_REPRS = [
    # TensorFlow: <tf.Tensor: shape=(2,), dtype=float32, numpy=array([0., 2.], dtype=float32)>
    (re.compile(r"<tf\.Tensor: shape=\([^)]*\), dtype=\w+, numpy=(.*?)>", re.S), r"\1"),
    (re.compile(r"TensorShape\(\[([^\]]*)\]\)"), r"(\1)"),
    # JAX: Array([0., 2.], dtype=float32)
    (re.compile(r"\bArray\((.*?), dtype=\w+(?:, weak_type=True)?\)", re.S), r"\1"),
]
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _backend_neutral(text: str) -> str:
    """A tensor's repr as the numpy value it holds (so examples read the same on every backend)."""
    for pattern, replacement in _TENSOR_REPRS:
        text = pattern.sub(replacement, text)
    text = re.sub(r"array\((.*?)(?:, dtype=float32)?\)", r"\1", text, flags=re.S)
    text = re.sub(r"\(([^(),]+),\)", r"(\1)", text)  # (3,) == (3)
    text = re.sub(r"np\.(?:float|int)\d+\(([^()]*)\)", r"\1", text)
    return " ".join(text.split())


class BackendNeutralChecker(doctest.OutputChecker):
    """Compares outputs with tensors unwrapped and numbers to 6 significant digits."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        want, got = _backend_neutral(want), _backend_neutral(got)
        if _NUMBER.sub("#", want).replace(" ", "") != _NUMBER.sub("#", got).replace(" ", ""):
            return super().check_output(want, got, optionflags)
        pairs = zip(_NUMBER.findall(want), _NUMBER.findall(got), strict=True)
        return all(
            float(w) == float(g) or abs(float(w) - float(g)) <= 1e-5 * max(1.0, abs(float(w)))
            or len(w.split(".")[-1]) < len(g.split(".")[-1])
            and abs(float(w) - float(g)) <= 0.51 * 10 ** -len(w.split(".")[-1])
            for w, g in pairs
        )


def _modules() -> list[str]:
    names = [keras_perceptual.__name__]
    for info in pkgutil.walk_packages(keras_perceptual.__path__, prefix="keras_perceptual."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


@functools.lru_cache(maxsize=1)
def _namespace() -> dict:
    """The names every example may use (built once; each module gets a copy)."""
    import keras

    from keras_perceptual.models import style_transfer_net

    rng = np.random.default_rng(0)
    namespace = {name: getattr(keras_perceptual, name) for name in keras_perceptual.__all__}
    namespace.update(
        np=np,
        keras=keras,
        images=rng.random((2, 32, 32, 3), dtype=np.float32),
        net=style_transfer_net(filters=4, num_residual_blocks=1),
    )
    return namespace


ASSETS = pathlib.Path(keras_perceptual.__file__).parent / "assets"


def _write_example_files(folder: pathlib.Path) -> None:
    """Writes the files the examples read (see the module docstring) into ``folder``."""
    from PIL import Image

    from keras_perceptual.models import style_transfer_net

    def shrink(name: str, size: tuple[int, int], path: pathlib.Path) -> None:
        Image.open(ASSETS / name).convert("RGB").resize(size, Image.BICUBIC).save(path)

    shrink("photo_chelsea.jpg", (64, 48), folder / "photo.jpg")
    shrink("style_starry_night.jpg", (64, 64), folder / "painting.jpg")
    (folder / "photos").mkdir()
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        shrink(f"photo_{name}.jpg", (64, 64), folder / "photos" / f"{name}.jpg")
    style_transfer_net(filters=4, num_residual_blocks=1).save(folder / "model.keras")
    if importlib.util.find_spec("av") is not None:
        import av

        with av.open(str(folder / "clip.mp4"), "w") as container:
            stream = container.add_stream("mpeg4", rate=8)
            stream.width = stream.height = 32
            stream.pix_fmt = "yuv420p"
            for i in range(8):
                frame = np.full((32, 32, 3), 30 * i, np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())


@pytest.fixture(scope="session")
def example_files(tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("example_files")
    _write_example_files(folder)
    return folder


@pytest.mark.parametrize(
    "module_name",
    [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in _modules()],
)
def test_docstring_examples_run(module_name, tmp_path, monkeypatch, example_files):
    requirement = OPTIONAL.get(module_name)
    if requirement is not None and importlib.util.find_spec(requirement) is None:
        pytest.skip(f"{module_name} needs {requirement} (an optional extra)")
    if module_name in TENSORFLOW_ONLY and BACKEND != "tensorflow":
        pytest.skip(f"{module_name} is TensorFlow-only")
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    if not tests:
        pytest.skip(f"{module_name} has no docstring example")
    shutil.copytree(example_files, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(
        checker=BackendNeutralChecker(),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    namespace = _namespace()
    failures = []
    for test in tests:
        test.globs = {**namespace, **test.globs}
        runner.run(test, out=failures.append, clear_globs=True)
    assert not failures, "".join(failures)[-6000:]
