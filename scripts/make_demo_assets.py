"""Writes the demo's package data into keras_perceptual/assets/ (run once; the outputs are committed).

* ``photo_*.jpg``: four scikit-image sample photographs (CC0 / public domain, see
  ``skimage.data``), longer side 256 px, so ``keras-perceptual demo`` needs no
  scikit-image at run time.
* ``style_*.jpg``: four public-domain paintings from ``../shared/images/styles/``,
  longer side 512 px: the single-style demo's *The Starry Night* and, for the
  multi-style and arbitrary-style demos, *The Great Wave off Kanagawa* (crop), *The
  Scream* and *Composition VII*.
* ``README.txt``: provenance and licenses.

Usage::

    python scripts/make_demo_assets.py [--styles /path/to/shared/images/styles]
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
ASSETS = REPO / "keras_perceptual" / "assets"

#: name -> (skimage.data function, crop box (top, bottom, left, right) or None, credit)
PHOTOS = {
    "astronaut": (
        "astronaut",
        None,
        "Eileen Collins, NASA (public domain); skimage.data.astronaut()",
    ),
    "chelsea": ("chelsea", None, "Stefan van der Walt (CC0); skimage.data.chelsea()"),
    "coffee": ("coffee", None, "Rachel Michetti (CC0); skimage.data.coffee()"),
    "rocket": ("rocket", None, "SpaceX (public domain); skimage.data.rocket()"),
}
STYLES = (
    ("starry_night.jpg", "Vincent van Gogh, The Starry Night (1889), public domain"),
    ("wave_crop.jpg",
     "Katsushika Hokusai, The Great Wave off Kanagawa (c. 1831), crop, public domain"),
    ("the_scream.jpg", "Edvard Munch, The Scream (1893), public domain"),
    ("composition_vii.jpg", "Wassily Kandinsky, Composition VII (1913), public domain"),
)


def _fit(image: Image.Image, longer: int) -> Image.Image:
    scale = longer / max(image.size)
    if scale >= 1:
        return image
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--styles", default=str(REPO.parent / "shared" / "images" / "styles"), help="paintings folder"
    )
    args = parser.parse_args()
    import skimage.data

    ASSETS.mkdir(exist_ok=True)
    lines = [
        "Demo images of keras-perceptual (written by scripts/make_demo_assets.py).",
        "",
    ]
    for name, (function, box, credit) in PHOTOS.items():
        array = np.asarray(getattr(skimage.data, function)())
        if box is not None:
            top, bottom, left, right = box
            array = array[top:bottom, left:right]
        image = _fit(Image.fromarray(array).convert("RGB"), 256)
        path = ASSETS / f"photo_{name}.jpg"
        image.save(path, quality=90, optimize=True)
        lines.append(f"{path.name}: {image.width}x{image.height}, {credit}.")
        print(f"wrote {path} ({image.width}x{image.height}, {path.stat().st_size // 1024} KB)")
    for source, credit in STYLES:
        with Image.open(pathlib.Path(args.styles) / source) as painting:
            image = _fit(painting.convert("RGB"), 512)
        path = ASSETS / f"style_{pathlib.Path(source).stem}.jpg"
        image.save(path, quality=90, optimize=True)
        lines.append(f"{path.name}: {image.width}x{image.height}, {credit}.")
        print(f"wrote {path} ({image.width}x{image.height}, {path.stat().st_size // 1024} KB)")
    lines += [
        "",
        "The photographs are scikit-image sample data (CC0 or public domain, as documented",
        "in skimage.data); the paintings are in the public domain (their painters died more",
        "than 70 years ago; photographs of them are from ../shared/images/styles/).",
    ]
    (ASSETS / "README.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
