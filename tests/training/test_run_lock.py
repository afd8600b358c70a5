"""One training run per output folder: a second run on a folder another run is writing is
refused before it touches anything; a finished or killed run leaves no stale lock.

Before: a second run (a second terminal, a re-run notebook cell) "resumed" from the first
one's backup while it was still training: at its start it deleted the first run's
temporary files (the first then failed with a misleading "Cannot write the checkpoint ...
Free space on that disk" error) and both wrote checkpoints, config.json and logs over each
other.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
from conftest import make_photos, make_style_image, requires_tf, subprocess_env, tiny_style_kwargs

pytestmark = requires_tf

from keras_perceptual.cli import main  # noqa: E402
from keras_perceptual.errors import InputError  # noqa: E402
from keras_perceptual.training import RunInProgressError, train_style_transfer  # noqa: E402
from keras_perceptual.training.files import LOCK_FILE, LOCK_OWNER_FILE, RunLock  # noqa: E402


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"), count=3)


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    return make_style_image(tmp_path_factory.mktemp("style"))


def tiny(**settings):
    return tiny_style_kwargs(**{"steps": 2, "batch_size": 2, "save_every": 1,
                                "sample_every": 1, **settings})


def snapshot(folder: pathlib.Path) -> dict:
    """Every file under ``folder``: its bytes and modification time."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_second_run_is_refused_before_touching_the_folder_and_resumes_after(tmp_path, photos, style):
    out = tmp_path / "run"
    first = train_style_transfer(photos, style, output_dir=out, **tiny())
    assert first.step == 2
    assert (out / LOCK_FILE).exists() and not (out / LOCK_OWNER_FILE).exists()  # released

    holder = RunLock(str(out))  # the first run, still training (its own file descriptor)
    holder.acquire()
    # A temporary file the holder is writing: the second run used to delete it as stale.
    (out / ".model.keras.ab12cd34.tmp.keras").write_bytes(b"being written")
    before = snapshot(out)
    try:
        with pytest.raises(RunInProgressError) as caught:
            train_style_transfer(photos, style, output_dir=out, **tiny(steps=4))
        message = str(caught.value)
        assert message.startswith(f"Another training run is writing to {str(out)!r} "
                                  f"(process {os.getpid()} on host ")
        assert "Wait for it to finish, stop it" in message
        assert "or choose another output_dir. Received" in message
        assert message.endswith(f"Received: output_dir={str(out)!r}")
        assert isinstance(caught.value, InputError)
        assert snapshot(out) == before  # config.json, checkpoints, logs, temp file untouched
    finally:
        holder.release()

    second = train_style_transfer(photos, style, output_dir=out, **tiny(steps=4))
    assert (second.resumed_from, second.step) == (2, 4)
    record = json.loads((out / "config.json").read_text())
    assert [run["resumed_from_step"] for run in record["runs"]] == [0, 2]
    assert not (out / ".model.keras.ab12cd34.tmp.keras").exists()  # stale now: removed
    assert not (out / LOCK_OWNER_FILE).exists()


HOLD = """
import sys, time, filelock
lock = filelock.FileLock(sys.argv[1], timeout=0)
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_killed_run_leaves_no_stale_lock(tmp_path, photos, style):
    out = tmp_path / "run"
    out.mkdir()
    # Another process holds the lock (no owner recorded), then dies by SIGKILL.
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(out / LOCK_FILE)],
                             stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgressError, match=r"is writing to '.*run'; two runs in one"):
            train_style_transfer(photos, style, output_dir=out, **tiny(steps=1))
        assert os.listdir(out) == [LOCK_FILE]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    result = train_style_transfer(photos, style, output_dir=out, **tiny(steps=1))
    assert result.step == 1 and (out / "config.json").exists()


def test_an_early_failure_leaves_no_lock_file_behind(tmp_path, photos, style):
    out = tmp_path / "empty"
    out.mkdir()
    with pytest.raises(InputError, match="image_size=6"):
        train_style_transfer(photos, style, output_dir=out, **tiny(image_size=6))
    assert os.listdir(out) == []
    with pytest.raises(InputError, match="image_size=6"):
        train_style_transfer(photos, style, output_dir=tmp_path / "new",
                             **tiny(image_size=6))
    assert not (tmp_path / "new").exists()


def test_the_command_line_shows_a_held_folder_as_one_line(tmp_path, photos, style, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = RunLock(str(out))
    holder.acquire()
    try:
        argv = ["train-style", photos, style, "--out", out, "--steps", 1, "--image-size", 32,
                "--filters", 4, "--residual-blocks", 1, "--weights", "none", "--quiet"]
        assert main([str(a) for a in argv]) == 2
    finally:
        holder.release()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("keras-perceptual: error: Another training run is writing to "
                           f"{str(out)!r} (process {os.getpid()} on host ")
    assert line.endswith(f"or choose another --out. Received: --out {out}")
    assert os.listdir(out) == [LOCK_FILE]


NO_FLOCK = """
import errno, fcntl, sys


def flock(fd, operation):  # a file system without flock (some FUSE and network mounts)
    raise OSError(errno.ENOSYS, "Function not implemented")


fcntl.flock = flock
"""

HOLD_WITHOUT_FLOCK = NO_FLOCK + """
from keras_perceptual.training.files import RunLock
lock = RunLock(sys.argv[1])  # kept: a lock that is garbage-collected is released
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.filterwarnings("ignore:flock not supported:UserWarning")
def test_a_folder_without_flock_still_takes_one_run_and_a_killed_run_does_not_block_it(
        tmp_path, monkeypatch):
    # filelock falls back to a marker file where flock fails with ENOSYS. Before 4.2.1 it
    # raised NotImplementedError (filelock 3.x: a traceback), let two runs in at once
    # (3.32, 4.0) or kept a killed run's marker forever (4.1, 4.2.0: the run could never
    # be resumed); setup.cfg asks for filelock>=4.2.1.
    out = tmp_path / "run"
    out.mkdir()
    namespace = {}
    exec(NO_FLOCK, namespace)
    monkeypatch.setattr("fcntl.flock", namespace["flock"])

    first = RunLock(str(out))
    first.acquire()
    try:
        with pytest.raises(RunInProgressError, match=f"process {os.getpid()} on host "):
            RunLock(str(out)).acquire()
    finally:
        first.release()

    child = subprocess.Popen([sys.executable, "-c", HOLD_WITHOUT_FLOCK, str(out)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=subprocess_env())
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgressError, match=f"process {child.pid} on host "):
            RunLock(str(out)).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdin.close()
        child.stdout.close()
    after_kill = RunLock(str(out))
    after_kill.acquire()  # the dead holder's marker is stale: taken over, not refused
    assert after_kill.held
    after_kill.release()
