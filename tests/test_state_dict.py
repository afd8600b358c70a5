"""The PyTorch state-dict reader (state_dict.py), without PyTorch.

Checked on files written by PyTorch 2.14 itself (tests/fixtures/torch_{zip,legacy}.pth:
bfloat16, views, shared storages, ...), on a file of the LPIPS release (legacy format of
2018: ``_rebuild_tensor`` v1, CUDA storages, 4-byte longs), and on files written by the
tests' own writer (tests/torch_files.py). The restricted unpickler must refuse every
object a state dict does not need, without running it.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import REPO
from torch_files import write_torch_file

from keras_perceptual.errors import InputError
from keras_perceptual.losses.lpips import lpips_linear_weights
from keras_perceptual.state_dict import LEGACY_MAGIC, LEGACY_PROTOCOL, read_state_dict

FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def state():
    rng = np.random.default_rng(0)
    return collections.OrderedDict(
        weight=rng.standard_normal((4, 3, 2, 2)).astype("float32"),
        half=rng.standard_normal(5).astype("float16"),
        double=rng.standard_normal((2, 2)),
        index=np.arange(7, dtype="int64"),
        flags=np.array([True, False]),
        scalar=np.array(2.5, "float32"),
        empty=np.zeros((0, 3), "float32"),
    )


@pytest.mark.parametrize("name", ["torch_zip.pth", "torch_legacy.pth"])
def test_reads_files_written_by_pytorch(name):
    expected = np.load(FIXTURES / "torch_files_expected.npz")
    arrays = read_state_dict(FIXTURES / name)
    assert list(arrays) == list(expected.files)
    for key in expected.files:
        assert arrays[key].shape == expected[key].shape, key
        assert arrays[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
        assert arrays[key].flags.c_contiguous and arrays[key].flags.writeable


def test_reads_the_2018_lpips_release():
    arrays = read_state_dict(FIXTURES / "lpips_v0.0_alex.pth")
    assert list(arrays) == [f"lin{i}.model.1.weight" for i in range(5)]
    for i, shipped in enumerate(lpips_linear_weights("alex", "0.0")):
        np.testing.assert_array_equal(arrays[f"lin{i}.model.1.weight"].reshape(-1), shipped)


@pytest.mark.parametrize("legacy", [False, True])
def test_round_trip_of_the_test_writer(tmp_path, state, legacy):
    path = tmp_path / "state.pth"
    write_torch_file(path, state, legacy=legacy)
    assert zipfile.is_zipfile(path) is not legacy
    arrays = read_state_dict(path)
    for key, value in state.items():
        assert arrays[key].dtype == value.dtype and arrays[key].shape == value.shape
        np.testing.assert_array_equal(arrays[key], value)


@pytest.mark.parametrize("legacy", [False, True])
def test_include_filter_reads_only_what_is_asked(tmp_path, state, legacy):
    path = tmp_path / "state.pth"
    write_torch_file(path, state, legacy=legacy)
    arrays = read_state_dict(path, include=lambda key: key in ("half", "flags"))
    assert list(arrays) == ["half", "flags"]


@pytest.mark.parametrize("legacy", [False, True])
def test_checkpoints_are_flattened_with_dots(tmp_path, state, legacy):
    path = tmp_path / "checkpoint.pth"
    write_torch_file(path, {"model": {"weight": state["weight"], "half": state["half"]},
                            "epoch": 3, "lr": 0.1}, legacy=legacy)
    arrays = read_state_dict(path)
    assert list(arrays) == ["model.weight", "model.half"]
    np.testing.assert_array_equal(arrays["model.weight"], state["weight"])


def legacy_file_with(obj_pickle: bytes, path):
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(obj_pickle)
        pickle.dump([], f, protocol=2)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["legacy", "zip"])
def test_arbitrary_objects_are_refused_and_never_run(tmp_path, container):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": Exploit(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if container == "legacy":
        legacy_file_with(payload, path)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("evil/data.pkl", payload)
    with pytest.raises(InputError, match=r"holds a Python object of type posix.system|"
                                         r"holds a Python object of type nt.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_whole_modules_are_refused_with_the_fix(tmp_path):
    payload = b"\x80\x02ctorch.nn.modules.linear\nLinear\nq\x00)\x81q\x01."
    path = tmp_path / "model.pth"
    legacy_file_with(payload, path)
    with pytest.raises(InputError, match=r"torch.nn.modules.linear.Linear.*save model.state_dict\(\)"):
        read_state_dict(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_files_are_refused(tmp_path, state, legacy):
    path = tmp_path / "state.pth"
    write_torch_file(path, state, legacy=legacy)
    data = path.read_bytes()
    for cut in (len(data) - 5, len(data) // 2, 40):
        path.write_bytes(data[:cut])
        with pytest.raises(InputError, match=r"download it again if it was cut short\. "
                                             r"Received: path="):
            read_state_dict(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")
    with pytest.raises(InputError, match="PyTorch weights file .* is a folder, not a file"):
        read_state_dict(tmp_path)
    (tmp_path / "link.pth").symlink_to(tmp_path / "gone.pth")
    with pytest.raises(InputError, match=r"is a broken symbolic link \(to '.*gone.pth'\)"):
        read_state_dict(tmp_path / "link.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(InputError, match="neither a zip archive nor the legacy torch.save format"):
        read_state_dict(junk)
    archive_path = tmp_path / "other.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match="data.pkl"):
        read_state_dict(archive_path)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_the_test_writer_matches_torch_load(tmp_path, state):
    """torch.load reads what the tests write (in a subprocess: PyTorch and TensorFlow
    should not share one)."""
    for legacy in (False, True):
        write_torch_file(tmp_path / f"w{legacy}.pth", state, legacy=legacy)
    np.savez(tmp_path / "expected.npz", **state)
    code = (
        "import numpy as np, torch, sys\n"
        "expected = np.load(sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    loaded = torch.load(name, weights_only=True)\n"
        "    for k in expected.files:\n"
        "        assert np.array_equal(loaded[k].numpy(), expected[k]), (name, k)\n"
        "        assert loaded[k].numpy().dtype == expected[k].dtype, (name, k)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "expected.npz"),
         str(tmp_path / "wFalse.pth"), str(tmp_path / "wTrue.pth")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
