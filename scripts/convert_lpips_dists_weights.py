"""Converts the released LPIPS and DISTS learned weights into the package's data files.

    python scripts/convert_lpips_dists_weights.py [--shared ../shared/weights]

Reads, without PyTorch (``keras_perceptual.state_dict.read_state_dict``), the reference
releases copied into ``shared/weights/`` (see its README):

* ``lpips_v0.1/{vgg,alex}.pth``, ``lpips_v0.0/{vgg,alex}.pth``: the 1x1 "lin" layers of
  LPIPS (Zhang et al., CVPR 2018), PyPI ``lpips`` 0.1.4, BSD-2-Clause;
* ``dists/weights.pt``: ``alpha`` and ``beta`` of DISTS (Ding et al., TPAMI 2020), PyPI
  ``DISTS_pytorch`` 0.1, MIT;

and writes ``keras_perceptual/assets/lpips_weights.npz`` (keys ``v0.1/vgg/0`` ...
``v0.0/alex/4``, each ``(C,)`` float32), ``keras_perceptual/assets/dists_weights.npz``
(``alpha``, ``beta``: ``(1475,)`` float32) and the two licence notices
(``LICENSE_lpips.txt``, ``LICENSE_dists.txt``), as the licences require.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from keras_perceptual.state_dict import read_state_dict  # noqa: E402

ASSETS = REPO / "keras_perceptual" / "assets"
LPIPS_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}
#: SHA-256 prefixes listed in shared/weights/README.md (v0.1 files).
KNOWN = {"lpips_v0.1/vgg.pth": "a78928a0", "lpips_v0.1/alex.pth": "df73285e",
         "dists/weights.pt": "f5e65c96"}


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_npz(path: pathlib.Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes, sha256 {sha256(path)[:16]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # ../shared beside the repository (or beside the worktrees folder).
    default = next((p / "shared" / "weights" for p in REPO.parents if (p / "shared").is_dir()), None)
    parser.add_argument("--shared", type=pathlib.Path, default=default)
    args = parser.parse_args()
    for name, prefix in KNOWN.items():
        digest = sha256(args.shared / name)
        if not digest.startswith(prefix):
            sys.exit(f"{name}: sha256 {digest} does not start with {prefix} (README); stop.")

    lpips = {}
    for version in ("0.1", "0.0"):
        for net, channels in LPIPS_CHANNELS.items():
            state = read_state_dict(args.shared / f"lpips_v{version}" / f"{net}.pth")
            for i, c in enumerate(channels):
                weight = state[f"lin{i}.model.1.weight"]
                if weight.shape != (1, c, 1, 1):
                    sys.exit(f"lpips v{version} {net} lin{i}: shape {weight.shape}, expected (1, {c}, 1, 1)")
                lpips[f"v{version}/{net}/{i}"] = weight.reshape(c).astype(np.float32)
    save_npz(ASSETS / "lpips_weights.npz", lpips)

    state = read_state_dict(args.shared / "dists" / "weights.pt")
    dists = {k: state[k].reshape(-1).astype(np.float32) for k in ("alpha", "beta")}
    if any(v.shape != (1475,) for v in dists.values()):
        sys.exit(f"dists: shapes {[v.shape for v in dists.values()]}, expected (1475,)")
    save_npz(ASSETS / "dists_weights.npz", dists)

    (ASSETS / "LICENSE_lpips.txt").write_text(
        "The learned LPIPS weights in lpips_weights.npz were converted from the PyPI package\n"
        "lpips 0.1.4 (lpips/weights/v0.1 and v0.0), https://github.com/richzhang/PerceptualSimilarity,\n"
        "under this licence:\n\n" + (args.shared / "lpips_v0.1" / "LICENSE").read_text())
    (ASSETS / "LICENSE_dists.txt").write_text(
        "The learned DISTS weights (alpha, beta) in dists_weights.npz were converted from the\n"
        "PyPI package DISTS_pytorch 0.1, https://github.com/dingkeyan93/DISTS, under this licence:\n\n"
        + (args.shared / "dists" / "LICENSE").read_text())
    print("wrote keras_perceptual/assets/LICENSE_lpips.txt, LICENSE_dists.txt")


if __name__ == "__main__":
    main()
