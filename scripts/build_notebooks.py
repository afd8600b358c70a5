"""Builds ``notebooks/*.ipynb`` from their sources in ``scripts/notebooks/``.

The sources are plain Python files in the "percent" format: a line ``# %%`` starts a
code cell, ``# %% [markdown]`` a Markdown cell (its lines written as ``# text``), and
``# %% [thumbnail]`` a code cell whose first image output becomes the README thumbnail
``docs/images/<notebook>.png``. Comment lines before the first marker (e.g. ``# ruff: noqa``)
are not part of the notebook. The line ``# %% [weights]`` is replaced by the cell that
every notebook starts with (:data:`WEIGHTS_CELL`), so the four choose their loss network
the same way.

Usage::

    python scripts/build_notebooks.py                 # write the notebooks, no outputs
    python scripts/build_notebooks.py --execute       # ... and run them (fresh kernel each,
                                                      # in a temporary folder), keeping outputs
                                                      # and writing the thumbnails
    python scripts/build_notebooks.py --execute 02    # only the notebooks whose name has "02"
    python scripts/build_notebooks.py --check         # exit 1 if a committed notebook's cells
                                                      # differ from its source

``tests/test_notebooks.py`` runs ``--check``'s comparison and executes every notebook.
"""

from __future__ import annotations

import argparse
import base64
import io
import pathlib
import re
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SOURCES = REPO / "scripts" / "notebooks"
NOTEBOOKS = REPO / "notebooks"
THUMBNAILS = REPO / "docs" / "images"
THUMBNAIL_WIDTH = 480
THUMBNAIL_MAX_BYTES = 150_000
#: Keeps C-level output (TensorFlow's C++ log lines) out of the stored outputs.
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

#: The first code cell of every notebook: which loss network, said in words.
WEIGHTS_CELL = '''\
import os

from keras_perceptual import FeatureExtractor, WeightsUnavailableError

PAPER_SIZE = False  # True: the paper's sizes and training lengths (hours on a CPU; use a GPU)


def choose_weights():
    """$KERAS_PERCEPTUAL_WEIGHTS if set, else ImageNet VGG16 if obtainable, else the stand-in."""
    chosen = os.environ.get("KERAS_PERCEPTUAL_WEIGHTS")
    if chosen:
        return chosen
    try:
        FeatureExtractor("relu1_1", weights="imagenet")  # downloaded once into ~/.keras/models
        return "imagenet"
    except WeightsUnavailableError:  # no network: say so and use the offline stand-in
        return "hed_bsds500"


WEIGHTS = choose_weights()
FeatureExtractor("relu1_1", weights=WEIGHTS)  # fails here, naming the way out, if unusable
if WEIGHTS == "imagenet":
    print("Loss network: ImageNet VGG16, the paper's (weights='imagenet').")
else:
    print(
        f"Loss network: weights={WEIGHTS!r}. This is a STAND-IN, not the paper's ImageNet VGG16"
        " (unless it is a copy of that file): every figure and number below will differ from"
        " the paper's."
    )'''

_CELL_MARK = re.compile(r"^# %%(?: \[(markdown|thumbnail|weights)\])?\s*$")


def parse_source(path: pathlib.Path) -> list[dict]:
    """Splits a percent-format file into ``{"kind", "source", "thumbnail"}`` cells."""
    cells: list[dict] = []
    current = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _CELL_MARK.match(line)
        if match:
            tag = match.group(1)
            current = {
                "kind": "markdown" if tag == "markdown" else "code",
                "lines": [],
                "thumbnail": tag == "thumbnail",
            }
            cells.append(current)
            if tag == "weights":
                current["lines"] = WEIGHTS_CELL.splitlines()
            continue
        if current is None:
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"{path}:{number}: code before the first '# %%' cell marker")
            continue
        if current["kind"] == "markdown":
            if line and not line.startswith("#"):
                raise ValueError(f"{path}:{number}: Markdown lines must start with '#'")
            line = line[2:] if line.startswith("# ") else line[1:]
        current["lines"].append(line)
    for cell in cells:
        lines = cell.pop("lines")
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        cell["source"] = "\n".join(lines)
    return [cell for cell in cells if cell["source"]]


def build(path: pathlib.Path):
    """The notebook (``nbformat`` node, no outputs) of one source file."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(parse_source(path)):
        if cell["kind"] == "markdown":
            node = nbformat.v4.new_markdown_cell(cell["source"])
        else:
            node = nbformat.v4.new_code_cell(cell["source"])
            if cell["thumbnail"]:
                node.metadata["tags"] = ["thumbnail"]
        node["id"] = f"{path.stem[:2]}-{index:02d}"
        nb.cells.append(node)
    return nb


def sources() -> list[pathlib.Path]:
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def cell_sources(nb) -> list[tuple[str, str]]:
    """``(cell_type, source)`` of every cell: what ``--check`` compares."""
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def execute(nb, timeout: int = 900, timeout_func=None, folder: str | None = None):
    """Runs ``nb`` top to bottom in a fresh kernel of this Python, in a temporary folder.

    The kernel is this interpreter's ``ipykernel`` under the name ``python3``, whatever
    kernels the user has registered (a private kernelspec is put first on ``JUPYTER_PATH``).
    ``timeout`` (seconds) bounds each cell, or ``timeout_func(cell)`` when given.
    """
    import json
    import os

    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="notebook_") as scratch:
        spec = pathlib.Path(scratch) / "kernels" / "python3"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec.joinpath("kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": KERNEL["display_name"], "language": "python"})
        )
        previous = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [scratch, previous]))
        try:
            client = NotebookClient(
                nb,
                timeout=timeout,
                timeout_func=timeout_func,
                kernel_name="python3",
                resources={"metadata": {"path": folder or scratch}},
                record_timing=False,
                # TensorFlow's C++ start-up lines go to the terminal, not into the notebook.
                extra_arguments=KERNEL_ARGUMENTS,
            )
            client.execute()
        finally:
            if previous is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = previous
    return nb


def write_thumbnail(nb, name: str) -> pathlib.Path | None:
    """Saves the first image output of the cell tagged ``thumbnail``, shrunk, as a PNG in docs/images."""
    from PIL import Image

    for cell in nb.cells:
        if "thumbnail" not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            kind = next((k for k in ("image/png", "image/jpeg") if k in data), None)
            if kind is not None:
                image = Image.open(io.BytesIO(base64.b64decode(data[kind])))
                image = image.convert("RGB")
                THUMBNAILS.mkdir(parents=True, exist_ok=True)
                target = THUMBNAILS / f"{name}.png"
                for width in range(THUMBNAIL_WIDTH, 159, -80):  # shrink until small enough
                    height = round(image.height * width / image.width)
                    small = image.resize((width, height), Image.LANCZOS)
                    small.save(target, optimize=True)
                    if target.stat().st_size <= THUMBNAIL_MAX_BYTES:
                        break
                else:
                    raise RuntimeError(f"{target} stays above {THUMBNAIL_MAX_BYTES} bytes")
                return target
    return None


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="build only notebooks whose name contains these")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--execute", action="store_true", help="run and keep the outputs")
    mode.add_argument("--check", action="store_true", help="compare with the committed notebooks")
    args = parser.parse_args(argv)

    stale = []
    for path in sources():
        if args.only and not any(key in path.stem for key in args.only):
            continue
        target = NOTEBOOKS / f"{path.stem}.ipynb"
        nb = build(path)
        if args.check:
            committed = nbformat.read(target, as_version=4) if target.is_file() else None
            if committed is None or cell_sources(committed) != cell_sources(nb):
                stale.append(target.name)
            continue
        NOTEBOOKS.mkdir(exist_ok=True)
        if args.execute:
            start = time.perf_counter()
            execute(nb)
            print(f"{target.name}: executed in {time.perf_counter() - start:.0f} s", flush=True)
            nbformat.write(nb, target)
            thumbnail = write_thumbnail(nb, path.stem)
            if thumbnail is not None:
                print(f"  thumbnail {thumbnail.relative_to(REPO)} ({thumbnail.stat().st_size} B)")
        else:
            nbformat.write(nb, target)
        print(f"wrote {target.relative_to(REPO)}")
    if stale:
        print("out of date (run python scripts/build_notebooks.py --execute):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
