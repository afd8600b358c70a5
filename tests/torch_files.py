"""Test helpers: PyTorch state-dict files written without PyTorch, and the seeded random
backbone weights shared by the reference-fixture script and the tests.

``write_torch_file`` produces what ``torch.save(state_dict, path)`` writes (zip format)
or, with ``legacy=True``, what ``torch.save(..., _use_new_zipfile_serialization=False)``
writes (the format of torchvision's published ImageNet files): the pickles reference
``torch.FloatStorage`` and ``torch._utils._rebuild_tensor_v2`` by name, which is done here
with stand-in modules registered in ``sys.modules`` only while pickling. Checked against
``torch.load`` when PyTorch is installed (tests/test_state_dict.py).
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pathlib
import pickle
import struct
import sys
import tempfile
import types
import zipfile

import numpy as np

from keras_perceptual.state_dict import LEGACY_MAGIC, LEGACY_PROTOCOL
from keras_perceptual.torchvision_backbones import torchvision_state_dict_shapes

_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("int32"): "IntStorage",
    np.dtype("uint8"): "ByteStorage",
    np.dtype("bool"): "BoolStorage",
}


def _rebuild_tensor_v2(*args):  # a stand-in, never called
    raise NotImplementedError


class _Tensor:
    def __init__(self, storage, offset, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, shape, strides

    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.strides, False,
                                     collections.OrderedDict()))


class _Storage:
    def __init__(self, key, storage_type, data: np.ndarray):
        self.key, self.storage_type, self.data = key, storage_type, data


def _fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in _STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    return {"torch": torch, "torch._utils": utils}


def write_torch_file(path, state_dict: dict, legacy: bool = False) -> None:
    """Writes ``{name: numpy array}`` as ``torch.save`` would (zip, or the legacy format).

    Values may also be nested dicts and plain numbers (a training checkpoint).
    """
    fakes = _fake_torch()
    storages = []

    def convert(value):
        if isinstance(value, dict):
            return collections.OrderedDict((k, convert(v)) for k, v in value.items())
        if not isinstance(value, np.ndarray):
            return value  # numbers, strings: pickled as they are
        array = np.array(value, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        storage_type = getattr(fakes["torch"], _STORAGE_NAMES[array.dtype])
        storage = _Storage(str(len(storages)), storage_type, array)
        storages.append(storage)
        strides = tuple(s // array.itemsize for s in array.strides)
        return _Tensor(storage, 0, tuple(array.shape), strides)

    tensors = convert(state_dict)

    def persistent_id(obj):
        if isinstance(obj, _Storage):
            record = ("storage", obj.storage_type, obj.key, "cpu", int(obj.data.size))
            return record + (None,) if legacy else record
        return None

    def dump(obj, file):
        saved = {name: sys.modules.get(name) for name in fakes}
        sys.modules.update(fakes)
        try:
            pickler = pickle.Pickler(file, protocol=2)
            pickler.persistent_id = persistent_id
            pickler.dump(obj)
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module

    if legacy:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                           {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 8}}):
                pickle.dump(header, f, protocol=2)
            dump(tensors, f)
            pickle.dump([s.key for s in storages], f, protocol=2)
            for s in storages:
                f.write(struct.pack("<q", s.data.size))
                f.write(s.data.astype(s.data.dtype.newbyteorder("<"), copy=False).tobytes())
        return
    buffer = io.BytesIO()
    dump(tensors, buffer)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", "little")
        for s in storages:
            archive.writestr(f"archive/data/{s.key}", s.data.tobytes())
        archive.writestr("archive/version", "3\n")


def random_torchvision_state_dict(backbone: str, seed: int) -> collections.OrderedDict:
    """Seeded Kaiming-uniform weights for torchvision's ``features`` (PyTorch layout).

    Drawn with ``Generator(PCG64(seed)).random()`` (float64, a stream numpy keeps fixed),
    then cast to float32, so the reference script and the tests build identical networks.
    Biases are uniform in [-0.1, 0.1].
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    result = collections.OrderedDict()
    for name, shape in torchvision_state_dict_shapes(backbone).items():
        if name.endswith("weight"):
            limit = np.sqrt(6.0 / np.prod(shape[1:]))
        else:
            limit = 0.1
        result[name] = ((rng.random(shape) * 2.0 - 1.0) * limit).astype(np.float32)
    return result


def state_dict_sha256(state_dict: dict) -> str:
    """SHA-256 of the arrays' bytes in order (detects a change in the generator)."""
    digest = hashlib.sha256()
    for array in state_dict.values():
        digest.update(np.array(array, order="C").tobytes())
    return digest.hexdigest()


#: The known-answer fixture written by scripts/make_lpips_dists_fixture.py.
REFERENCE_FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "lpips_dists_reference.npz"


def reference_fixture() -> dict:
    """The fixture's arrays, with the seeded backbones written as legacy ``.pth`` files.

    Returns the fixture as a dict plus ``weights_vgg16`` / ``weights_alexnet``: paths of
    the same random backbones the reference ran with (regenerated here from their seeds,
    checked against the recorded SHA-256, written once per machine under the temporary
    folder, named by that digest).
    """
    with np.load(REFERENCE_FIXTURE) as data:
        fixture = {key: data[key] for key in data.files}
    folder = pathlib.Path(tempfile.gettempdir()) / "keras_perceptual_tests"
    folder.mkdir(exist_ok=True)
    for backbone in ("vgg16", "alexnet"):
        expected = str(fixture[f"sha256_{backbone}"])
        path = folder / f"{backbone}_{expected[:16]}.pth"
        if not path.is_file():
            state = random_torchvision_state_dict(backbone, int(fixture[f"seed_{backbone}"]))
            if state_dict_sha256(state) != expected:
                raise AssertionError(
                    f"numpy's PCG64 stream changed: the regenerated {backbone} weights differ from "
                    "the fixture's; rerun scripts/make_lpips_dists_fixture.py")
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            write_torch_file(tmp, state, legacy=True)
            os.replace(tmp, path)
        fixture[f"weights_{backbone}"] = str(path)
    return fixture


def fixture_pair(fixture: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``index`` as float32 batches of one image in [0, 1]."""
    return tuple(fixture[f"pair{index}_{side}"][None].astype(np.float32) / 255
                 for side in ("true", "pred"))
