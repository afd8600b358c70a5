"""Writes the demo's package data into keras_perceptual/assets/ (run once; the outputs are committed).

* ``photo_*.jpg``: four scikit-image sample photographs (CC0 / public domain, see
  ``skimage.data``), longer side 256 px, so ``keras-perceptual demo`` needs no
  scikit-image at run time.
* ``style_starry_night.jpg``: Vincent van Gogh, The Starry Night (1889, public
  domain), longer side 512 px, from ``../shared/images/styles/starry_night.jpg``.
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
STYLE = (
    "starry_night.jpg",
    "Vincent van Gogh, The Starry Night (1889), public domain",
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
    source, credit = STYLE
    with Image.open(pathlib.Path(args.styles) / source) as painting:
        image = _fit(painting.convert("RGB"), 512)
    path = ASSETS / f"style_{pathlib.Path(source).stem}.jpg"
    image.save(path, quality=90, optimize=True)
    lines.append(f"{path.name}: {image.width}x{image.height}, {credit}.")
    print(f"wrote {path} ({image.width}x{image.height}, {path.stat().st_size // 1024} KB)")
    lines += [
        "",
        "The photographs are scikit-image sample data (CC0 or public domain, as documented",
        "in skimage.data); the painting is in the public domain.",
    ]
    (ASSETS / "README.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
