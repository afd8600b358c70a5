"""Reads PyTorch state-dict files into numpy arrays, without PyTorch.

``torch.save(model.state_dict(), path)`` has written two formats:

* the **zip** format (PyTorch >= 1.6, the default since): a zip archive holding
  ``<name>/data.pkl`` (the pickled dict) and one ``<name>/data/<key>`` entry of raw
  bytes per tensor storage;
* the **legacy** format (before 1.6, and ``_use_new_zipfile_serialization=False``;
  the published torchvision VGG16 / AlexNet ImageNet files and the LPIPS / DISTS
  weights use it): five pickles in a row (a magic number, the protocol version 1001,
  system information, the pickled dict, the list of storage keys), followed by each
  storage as an int64 element count and its raw bytes.

Both are read with a *restricted* unpickler: it builds only what a state dict needs
(``collections.OrderedDict``, the tensor-rebuilding functions of ``torch._utils``,
the ``torch.*Storage`` types, parameters) and refuses every other Python object, so a
file cannot run code on load (an ordinary ``pickle.load`` of a ``.pth`` file can).
Tensors become numpy arrays (``bfloat16`` is widened to ``float32``; little-endian
files only).

Example:
    >>> from keras_perceptual.state_dict import read_state_dict
    >>> arrays = read_state_dict("vgg16-397923af.pth",  # doctest: +SKIP
    ...                          include=lambda name: name.startswith("features."))
    >>> arrays["features.0.weight"].shape  # doctest: +SKIP
    (64, 3, 3, 3)
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from keras_perceptual._checks import check_input_file
from keras_perceptual.errors import InputError

#: The first pickle of a legacy-format file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: The second pickle of a legacy-format file.
LEGACY_PROTOCOL = 1001

# torch.<Name>Storage -> numpy dtype of one element ("bfloat16" is widened on read).
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


class _StorageType:
    """Stands for ``torch.<Name>Storage`` in the pickle (no PyTorch needed)."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A tensor storage whose bytes are filled in after the pickle is read."""

    def __init__(self, key: str, dtype: str, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: bytes | None = None
        self.base: _Storage | None = None  # legacy views share their root's bytes
        self.offset = 0

    def array(self) -> np.ndarray:
        root = self.base or self
        if root.data is None:
            raise _FormatError(f"storage {root.key!r} has no data")
        if root.dtype == "bfloat16":
            flat = np.frombuffer(root.data, "<u2").astype(np.uint32) << 16
            flat = flat.view(np.float32)
        else:
            flat = np.frombuffer(root.data, root.dtype)
        return flat[self.offset : self.offset + self.numel]


class _Tensor:
    """A tensor to materialize once its storage is read."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise _FormatError("a tensor refers to something that is not a storage")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def array(self) -> np.ndarray:
        flat = self.storage.array()
        if len(self.size) != len(self.stride):
            raise _FormatError("tensor size and stride differ in length")
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= flat.size:
            raise _FormatError("tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.size,
            strides=[s * flat.itemsize for s in self.stride],
            writeable=False,
        )
        return np.array(view, order="C")


class _FormatError(Exception):
    """Raised inside the reader; turned into an InputError naming the file."""


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *rest):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _TensorClass:
    """Stands for ``torch.Tensor`` / ``torch.nn.Parameter`` (only as a marker)."""


# (module, name) -> what the restricted unpickler builds for it.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorClass,
    ("torch.nn.parameter", "Parameter"): _TensorClass,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage], legacy: bool):
        super().__init__(file)
        self.storages = storages
        self.legacy = legacy

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _FormatError(
                f"it holds a Python object of type {module}.{name}, which a state dict of "
                "tensors does not need (only tensors, dicts and numbers can be read without "
                "PyTorch); save model.state_dict() instead of the whole model"
            ) from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise _FormatError(f"unknown persistent object {pid!r:.80}")
        if self.legacy:
            if len(pid) != 6:
                raise _FormatError("legacy storage record of unexpected length")
            _, storage_type, key, _location, numel, view = pid
        else:
            if len(pid) != 5:
                raise _FormatError("zip storage record of unexpected length")
            _, storage_type, key, _location, numel = pid
            view = None
        if not isinstance(storage_type, _StorageType):
            raise _FormatError(f"unsupported storage type {storage_type!r:.80}")
        key = key.decode() if isinstance(key, bytes) else str(key)
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
        if view is None:
            return root
        view_key, offset, size = view
        storage = _Storage(str(view_key), root.dtype, int(size))
        storage.base, storage.offset = root, int(offset)
        return storage


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy header pickles: numbers, strings, dicts and lists only."""

    def find_class(self, module, name):
        raise _FormatError("unexpected object in the file header")


def _flatten(obj, prefix: str, out: dict, include) -> None:
    if isinstance(obj, _Tensor):
        if include is None or include(prefix):
            out[prefix] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out, include)
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            _flatten(value, f"{prefix}.{index}" if prefix else str(index), out, include)


def _read_zip(path: Path, include) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise _FormatError("a zip file without exactly one data.pkl (not written by torch.save)")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() not in (b"", b"little"):
            raise _FormatError("big-endian files are not supported")
        storages: dict[str, _Storage] = {}
        obj = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages, False).load()
        tensors: dict[str, _Tensor] = {}
        _flatten(obj, "", tensors, include)
        for key in {t.storage.key if t.storage.base is None else t.storage.base.key
                    for t in tensors.values()}:
            storage = storages[key]
            try:
                data = archive.read(f"{prefix}data/{key}")
            except KeyError:
                raise _FormatError(f"the data of storage {key!r} is missing") from None
            expected = storage.numel * _itemsize(storage.dtype)
            if len(data) < expected:
                raise _FormatError(f"storage {key!r} has {len(data)} bytes, expected {expected}")
            storage.data = data[:expected]
        return {name: tensor.array() for name, tensor in tensors.items()}


def _read_legacy(path: Path, include) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        try:
            magic = _PlainUnpickler(f).load()
        except Exception:
            magic = None
        if magic != LEGACY_MAGIC:
            raise _FormatError("neither a zip archive nor the legacy torch.save format")
        protocol = _PlainUnpickler(f).load()
        if protocol != LEGACY_PROTOCOL:
            raise _FormatError(f"legacy protocol version {protocol!r}, expected {LEGACY_PROTOCOL}")
        info = _PlainUnpickler(f).load()
        if isinstance(info, dict) and not info.get("little_endian", True):
            raise _FormatError("big-endian files are not supported")
        storages: dict[str, _Storage] = {}
        obj = _RestrictedUnpickler(f, storages, True).load()
        keys = _PlainUnpickler(f).load()
        if not isinstance(keys, list):
            raise _FormatError("the storage key list is missing")
        tensors: dict[str, _Tensor] = {}
        _flatten(obj, "", tensors, include)
        needed = {t.storage.key if t.storage.base is None else t.storage.base.key
                  for t in tensors.values()}
        for key in keys:
            key = key.decode() if isinstance(key, bytes) else str(key)
            storage = storages.get(key)
            if storage is None:
                raise _FormatError(f"storage {key!r} is listed but never used")
            header = f.read(8)
            if len(header) != 8:
                raise _FormatError(f"the file ends before storage {key!r}")
            (numel,) = struct.unpack("<q", header)
            if numel != storage.numel:
                raise _FormatError(
                    f"storage {key!r} holds {numel} elements, its record says {storage.numel}"
                )
            nbytes = numel * _itemsize(storage.dtype)
            if key in needed:
                storage.data = f.read(nbytes)
                if len(storage.data) != nbytes:
                    raise _FormatError(f"the file ends inside storage {key!r}")
            else:
                f.seek(nbytes, os.SEEK_CUR)
        missing = needed - set(str(k.decode() if isinstance(k, bytes) else k) for k in keys)
        if missing:
            raise _FormatError(f"no data for storage(s) {sorted(missing)}")
        if f.tell() > path.stat().st_size:
            raise _FormatError("the file ends inside the last storage")
        return {name: tensor.array() for name, tensor in tensors.items()}


def read_state_dict(
    path: str | os.PathLike, include: Callable[[str], bool] | None = None
) -> dict[str, np.ndarray]:
    """Reads the tensors of a ``torch.save`` file (either format) as numpy arrays.

    Nested dicts and lists are flattened with dots (``{"model": {"w": t}}`` gives
    ``"model.w"``), as PyTorch names state-dict entries; values that are not tensors
    (an ``"epoch"`` number, ...) are left out.

    Args:
        path: a file written by ``torch.save`` (``.pth``/``.pt``), zip or legacy format.
        include: optional filter on the flattened names; tensors it rejects are not
            read (in the legacy format their bytes are skipped), which keeps reading
            a 528 MB VGG16 file's 59 MB of convolutions fast.

    Returns:
        ``{name: array}`` in the file's order, arrays of the stored shape and dtype
        (``bfloat16`` as ``float32``), contiguous and writeable.

    Raises:
        InputError: the file is missing, is not a PyTorch file, is truncated, is
            big-endian, or holds Python objects other than tensors and containers.

    Example:
        >>> sd = read_state_dict("alex.pth")  # doctest: +SKIP
        >>> sd["lin0.model.1.weight"].shape  # doctest: +SKIP
        (1, 64, 1, 1)
    """
    path = Path(os.fspath(path)).expanduser()
    check_input_file(str(path), "PyTorch weights file", "pass the path of a file written by "
                     "torch.save", f"path={os.fspath(path)!r}")
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path, include)
        return _read_legacy(path, include)
    except (_FormatError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile,
            struct.error, TypeError, KeyError, IndexError) as error:
        detail = str(error) or type(error).__name__
        raise InputError(
            f"Cannot read {str(path)!r} as a PyTorch state dict ({detail}); pass a complete "
            f"file written by torch.save(model.state_dict(), path), in the zip or legacy format, "
            f"and download it again if it was cut short. Received: path={str(path)!r}"
        ) from None


__all__ = ["LEGACY_MAGIC", "LEGACY_PROTOCOL", "STORAGE_DTYPES", "read_state_dict"]
