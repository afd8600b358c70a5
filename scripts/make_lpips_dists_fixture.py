"""Writes the LPIPS / DISTS known-answer fixture from the PyTorch reference implementations.

    pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 DISTS_pytorch==0.1
    python scripts/make_lpips_dists_fixture.py        # -> tests/fixtures/lpips_dists_reference.npz

Development-time only (CI checks the fixture without PyTorch: tests/test_losses_lpips.py,
tests/test_losses_dists.py). The references are the authors' packages:

* ``lpips.LPIPS(net=..., version=...)`` (PyPI ``lpips`` 0.1.4) for ``net`` in ``alex``,
  ``vgg`` and ``version`` in ``0.1``, ``0.0``, per image and with ``spatial=True``;
* ``DISTS_pytorch.DISTS()`` (PyPI ``DISTS_pytorch`` 0.1).

Both load their released learned weights from their own package (the same files the
library converts). ImageNet backbones cannot be downloaded here, so identical seeded
random backbones (``tests/torch_files.py: random_torchvision_state_dict``) are
transplanted into torchvision's VGG16 / AlexNet on the reference side; the tests write
the same weights as a legacy-format ``.pth`` and pass its path as ``weights=``.

It also writes ``tests/fixtures/torch_zip.pth`` and ``torch_legacy.pth`` (a small state
dict saved by this PyTorch in both formats: float32, float16, bfloat16, int64, bool,
non-contiguous, offset and shared-storage tensors, a parameter) with the expected arrays
in ``torch_files_expected.npz``, for the reader's tests (tests/test_state_dict.py).

Inputs: 12 pairs of crops of the package's photographs at different and odd sizes
(31-64 px), each with a different distortion (noise, blur, JPEG, colour, shift,
contrast, ...), stored as uint8 (the float inputs are ``uint8 / 255``).
"""

from __future__ import annotations

import io
import os
import pathlib
import sys
import types

import numpy as np

# The helpers import keras_perceptual (hence Keras); TensorFlow and PyTorch in one process
# can crash, so Keras runs on the PyTorch backend here (only shapes are used from it).
os.environ.setdefault("KERAS_BACKEND", "torch")

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from torch_files import random_torchvision_state_dict, state_dict_sha256  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "lpips_dists_reference.npz"
SEED = {"vgg16": 16, "alexnet": 1}
SIZES = [(32, 32), (31, 47), (64, 48), (37, 61), (45, 45), (33, 40), (50, 35), (63, 63),
         (40, 57), (55, 38), (48, 64), (35, 35)]
PHOTOS = ["photo_astronaut.jpg", "photo_chelsea.jpg", "photo_coffee.jpg", "photo_rocket.jpg"]


def distort(image: np.ndarray, kind: int, rng) -> np.ndarray:
    """A distorted copy of a uint8 image (12 kinds)."""
    from PIL import Image, ImageFilter

    x = image.astype(np.float32)
    pil = Image.fromarray(image)
    if kind == 0:
        x = x + rng.normal(0, 12, x.shape)
    elif kind == 1:
        x = np.asarray(pil.filter(ImageFilter.GaussianBlur(1.5)), np.float32)
    elif kind == 2:
        buffer = io.BytesIO()
        pil.save(buffer, "JPEG", quality=10)
        x = np.asarray(Image.open(buffer).convert("RGB"), np.float32)
    elif kind == 3:
        x = x * np.float32([1.1, 0.95, 0.8])
    elif kind == 4:
        x = np.roll(x, (1, 2), axis=(0, 1))
    elif kind == 5:
        x = (x - 128) * 0.6 + 128
    elif kind == 6:
        x = x + 30
    elif kind == 7:
        x = np.asarray(pil.filter(ImageFilter.UnsharpMask(2, 150)), np.float32)
    elif kind == 8:
        x = x[::-1]  # a different image of the same size
    elif kind == 9:
        x = np.round(x / 64) * 64
    elif kind == 10:
        x = rng.uniform(0, 255, x.shape)  # unrelated noise
    else:
        x = x.copy()  # identical pair
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def make_pairs():
    from PIL import Image

    rng = np.random.default_rng(2018)
    pairs = []
    for i, (h, w) in enumerate(SIZES):
        photo = np.asarray(Image.open(REPO / "keras_perceptual" / "assets" / PHOTOS[i % 4])
                           .convert("RGB"))
        top = int(rng.integers(0, photo.shape[0] - h))
        left = int(rng.integers(0, photo.shape[1] - w))
        clean = np.ascontiguousarray(photo[top:top + h, left:left + w])
        pairs.append((clean, distort(clean, i, rng)))
    return pairs


def write_torch_file_fixtures() -> None:
    import collections

    import torch

    torch.manual_seed(0)
    base = torch.arange(24, dtype=torch.float32) / 7
    state = collections.OrderedDict(
        conv=torch.randn(4, 3, 2, 2),
        transposed=torch.randn(3, 5).t(),                      # non-contiguous
        half=torch.nn.Parameter(torch.randn(2, 3).half()),    # a parameter, float16
        bf16=torch.randn(5).bfloat16(),
        index=torch.arange(10)[2:9:3],                          # offset and stride
        shared_a=base[4:10].view(2, 3),                         # two views of one storage
        shared_b=base.view(4, 6),
        flags=torch.tensor([True, False, True]),
        scalar=torch.tensor(3.5),
        empty=torch.zeros(0, 3),
    )
    folder = OUT.parent
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "torch_zip.pth")
    torch.save(state, folder / "torch_legacy.pth", _use_new_zipfile_serialization=False)
    expected = {k: (v.detach().float() if v.dtype == torch.bfloat16 else v.detach()).numpy()
                for k, v in state.items()}
    np.savez(folder / "torch_files_expected.npz", **expected)
    print(f"wrote {folder.relative_to(REPO)}/torch_zip.pth, torch_legacy.pth, "
          "torch_files_expected.npz")


def main() -> None:
    write_torch_file_fixtures()
    import DISTS_pytorch
    import lpips
    import torch
    import torchvision
    from DISTS_pytorch import DISTS_pt

    torch.set_num_threads(2)
    weights = {name: random_torchvision_state_dict(name, seed) for name, seed in SEED.items()}
    nets = {}
    for name, state in weights.items():
        model = getattr(torchvision.models, name)(weights=None)
        missing = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()},
                                        strict=False)
        if any(k.startswith("features.") for k in missing.missing_keys):
            sys.exit(f"{name}: features not all loaded: {missing.missing_keys}")
        nets[name] = model.features.eval()

    def transplant(module, features):
        """Copies the backbone into a reference module whose layers keep torchvision's index."""
        state = module.state_dict()
        for key in state:
            index, kind = key.split(".")[-2:]
            if kind in ("weight", "bias") and index.isdigit() and "filter" not in key:
                state[key] = features.state_dict()[f"{index}.{kind}"]
        module.load_state_dict(state)

    lpips_models = {}
    for net, backbone in (("alex", "alexnet"), ("vgg", "vgg16")):
        for version in ("0.1", "0.0"):
            for spatial in (False, True):
                model = lpips.LPIPS(net=net, version=version, spatial=spatial, pnet_rand=True,
                                    verbose=False).eval()
                transplant(model.net, nets[backbone])
                lpips_models[net, version, spatial] = model

    # DISTS_pt builds torchvision's VGG16 with ImageNet weights (a download); hand it ours.
    DISTS_pt.models = types.SimpleNamespace(
        vgg16=lambda *args, **kwargs: torchvision.models.vgg16(weights=None))
    dists_model = DISTS_pt.DISTS(load_weights=False).eval()
    for stage in (dists_model.stage1, dists_model.stage2, dists_model.stage3,
                  dists_model.stage4, dists_model.stage5):
        transplant(stage, nets["vgg16"])
    released = torch.load(pathlib.Path(DISTS_pytorch.__file__).parent / "weights.pt",
                          map_location="cpu")
    dists_model.alpha.data, dists_model.beta.data = released["alpha"], released["beta"]

    out = {"seed_vgg16": SEED["vgg16"], "seed_alexnet": SEED["alexnet"],
           "sha256_vgg16": state_dict_sha256(weights["vgg16"]),
           "sha256_alexnet": state_dict_sha256(weights["alexnet"]),
           "versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
                       f"lpips 0.1.4, DISTS_pytorch 0.1"}
    with torch.no_grad():
        for i, (clean, distorted) in enumerate(make_pairs()):
            out[f"pair{i}_true"], out[f"pair{i}_pred"] = clean, distorted
            t = torch.from_numpy(clean.astype(np.float32) / 255).permute(2, 0, 1)[None]
            p = torch.from_numpy(distorted.astype(np.float32) / 255).permute(2, 0, 1)[None]
            for (net, version, spatial), model in lpips_models.items():
                value = model(t * 2 - 1, p * 2 - 1)[0, 0].numpy()  # (H, W) or (1, 1)
                value = value if spatial else value.reshape(())
                key = f"pair{i}_lpips_{net}_{version}" + ("_spatial" if spatial else "")
                out[key] = value.astype(np.float32)
            out[f"pair{i}_dists"] = dists_model(t, p).numpy().astype(np.float32)
            print(f"pair {i} {clean.shape[:2]}: lpips alex 0.1 {float(out[f'pair{i}_lpips_alex_0.1']):.5f}"
                  f", vgg 0.1 {float(out[f'pair{i}_lpips_vgg_0.1']):.5f}, dists "
                  f"{float(out[f'pair{i}_dists']):.5f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
