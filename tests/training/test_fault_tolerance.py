"""Fault tolerance of the training recipes: crashes, numerical faults, data faults, disks.

* A run killed with SIGKILL in the middle of an epoch, and again in the middle of a
  backup write, resumes with the same command from its last complete backup (at most
  ``save_every`` steps lost), with the step counter and the learning-rate schedule
  where they were, ends at the step count of an uninterrupted run, and leaves only
  loadable files.
* A NaN batch stops training with a message naming the step; the last good checkpoint
  is not overwritten.
* A corrupt image in the folder, and files damaged or deleted while training runs,
  are skipped and counted, not fatal.
* An output folder that cannot be written, a disk that fills up or a folder that turns
  read-only at a checkpoint give one clear error, and the previous checkpoint stays.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import (
    TINY_NET,
    make_photos,
    make_style_image,
    requires_tf,
    subprocess_env,
    tiny_style_kwargs,
)
from conftest import TRAINING_WORKER as WORKER
from PIL import Image

pytestmark = [requires_tf, pytest.mark.slow]

import tensorflow as tf  # noqa: E402

import keras_perceptual.data as keras_perceptual_data  # noqa: E402
from keras_perceptual import cli  # noqa: E402
from keras_perceptual.data import SkippedImagesWarning  # noqa: E402
from keras_perceptual.models import style_transfer_net  # noqa: E402
from keras_perceptual.training import (  # noqa: E402
    NonFiniteLossError,
    OutputWriteError,
    StepBackupAndRestore,
    read_csv_log,
    train_style_transfer,
)
from keras_perceptual.training import files as training_files  # noqa: E402

#: The learning-rate schedule of the crash test: lr(step) = 1e-3 * 0.9 ** step.
SCHEDULE = {
    "class": "ExponentialDecay",
    "config": {"initial_learning_rate": 1e-3, "decay_steps": 1, "decay_rate": 0.9},
}


def schedule_value(step: int) -> float:
    return 1e-3 * 0.9**step


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"), count=5)


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    return make_style_image(tmp_path_factory.mktemp("style"))


def style_kwargs(output_dir, **overrides):
    return tiny_style_kwargs(**{"output_dir": str(output_dir), "steps": 6, "batch_size": 2,
                                "save_every": 2, "sample_every": 100, **overrides})


class AtEpochEnd(keras.callbacks.Callback):
    """Calls ``action(step)`` at the end of every epoch, after the default callbacks."""

    def __init__(self, action):
        super().__init__()
        self.action = action

    def on_epoch_end(self, epoch, logs=None):
        self.action(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))


def temp_files(folder) -> list[str]:
    """Files named like the recipes' temporary files, anywhere under ``folder``."""
    found = []
    for root, _, files in os.walk(folder):
        found += [os.path.join(root, f) for f in files if training_files._TEMP_NAME.match(f)]
    return found


# --------------------------------------------------------------------------
# Every file of an output folder loads.
# --------------------------------------------------------------------------


def fresh_trainer(learning_rate):
    network = style_transfer_net(**TINY_NET)
    trainer = keras.Model(network.inputs, network.outputs)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return trainer


def check_every_file_loads(folder) -> dict[str, int]:
    """Opens every file under ``folder`` with the reader for its kind; returns counts."""
    from tensorflow.core.util import event_pb2

    kinds: dict[str, int] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            assert not name.startswith("."), f"temporary or hidden file left: {path}"
            if name.endswith(".keras"):
                keras.models.load_model(path)
                kind = "keras"
            elif name.endswith(".weights.h5"):
                import h5py

                with h5py.File(path, "r") as f:
                    f.visititems(lambda _, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
                kind = "weights.h5"
            elif name.endswith(".json"):
                with open(path) as f:
                    json.load(f)
                kind = "json"
            elif name.endswith(".csv"):
                with open(path, newline="") as f:
                    rows = list(csv.reader(f))
                assert rows and all(len(r) == len(rows[0]) for r in rows), path
                kind = "csv"
            elif name.endswith(".png"):
                with Image.open(path) as image:
                    image.load()
                kind = "png"
            elif name == "run.lock":  # the run lock (empty; released when the run ended)
                assert os.path.getsize(path) == 0
                kind = "lock"
            elif name.startswith("events.out.tfevents"):
                for record in tf.data.TFRecordDataset(path):
                    event_pb2.Event.FromString(record.numpy())
                kind = "events"
            else:
                raise AssertionError(f"unexpected file in the output folder: {path}")
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def learning_rate_events(folder) -> dict[int, float]:
    from tensorflow.core.util import event_pb2

    values = {}
    train = os.path.join(folder, "logs", "train")
    for name in sorted(os.listdir(train)):
        for record in tf.data.TFRecordDataset(os.path.join(train, name)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == "epoch/learning_rate":
                    number = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                    values[event.step] = float(number)
    return values


# --------------------------------------------------------------------------
# Crash and resume: SIGKILL mid-epoch and during a backup write.
# --------------------------------------------------------------------------


def start_and_kill_at_marker(spec_path, marker, timeout: float, **env) -> str:
    """Starts the worker, waits for ``marker`` to appear, SIGKILLs it; returns the marker."""
    log_path = f"{marker}.log"  # a file, not a pipe: a full pipe would block the child
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, WORKER, spec_path],
            env=subprocess_env(KP_TEST_MARKER=str(marker), **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    try:
        while not os.path.exists(marker):
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log_path) as log:
                    output = log.read()[-4000:]
                pytest.fail(f"no fault after {timeout} s or the run ended first "
                            f"(status {process.poll()}):\n{output}")
            time.sleep(0.1)
        time.sleep(0.2)  # the marker is written; the process now sleeps inside the fault
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with open(marker) as f:
        return f.read()


def run_to_completion(spec_path, timeout: float) -> None:
    done = subprocess.run(
        [sys.executable, WORKER, spec_path],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-5000:]


def committed_step(out) -> int:
    return json.loads((out / "backup" / "state.json").read_text())["step"]


def test_sigkill_mid_epoch_and_during_a_backup_write_then_resume(tmp_path, photos, style_file):
    save_every, steps = 2, 10
    out = tmp_path / "run"
    kwargs = style_kwargs(out, steps=steps, save_every=save_every, sample_every=3)
    spec_path = tmp_path / "spec.json"
    spec = {
        "result": str(tmp_path / "result.json"),
        "runs": [
            {"recipe": "style", "args": [photos, style_file], "kwargs": kwargs, "schedule": SCHEDULE}
        ],
    }
    spec_path.write_text(json.dumps(spec))

    # 1. Killed in the middle of the third epoch (after step 5; backups at 2 and 4).
    paused = int(start_and_kill_at_marker(spec_path, tmp_path / "m1", 180, KP_TEST_PAUSE_AT_STEP="5"))
    assert paused == 5 and committed_step(out) == 4
    assert paused - committed_step(out) <= save_every

    # 2. The same command: resumes from 4, backs up step 6, and is killed while writing
    #    the backup of step 8 (its temporary file half written, not yet renamed).
    temp = start_and_kill_at_marker(spec_path, tmp_path / "m2", 180, KP_TEST_HANG_IN_BACKUP="2")
    assert os.path.basename(temp).startswith(".step-000000008.weights.h5.")
    assert os.path.exists(temp)  # a half-written backup lies there, under a temporary name
    assert committed_step(out) == 6  # ... and the commit point still names step 6
    assert 8 - committed_step(out) <= save_every
    keras.models.load_model(out / "model.keras")  # the checkpoint of step 8 is complete

    # 3. The same command again: resumes from 6 and finishes.
    run_to_completion(spec_path, timeout=180)
    result = json.loads((tmp_path / "result.json").read_text())["runs"][0]
    assert result["resumed_from"] == 6 and result["step"] == steps
    # The optimizer state came back: the schedule continues at step 6 and ends at 10.
    np.testing.assert_allclose(result["learning_rates"]["6"], schedule_value(6), rtol=1e-6)
    np.testing.assert_allclose(result["learning_rates"]["10"], schedule_value(10), rtol=1e-6)

    # An uninterrupted run of the same settings (in this process) for comparison.
    straight_out = tmp_path / "straight"
    straight = train_style_transfer(
        photos,
        style_file,
        **{
            **style_kwargs(straight_out, steps=steps, save_every=save_every, sample_every=3),
            "learning_rate": keras.optimizers.schedules.ExponentialDecay(**SCHEDULE["config"]),
        },
    )
    assert straight.step == steps
    # Same step count, every step logged once, the same checkpoint intervals.
    assert read_csv_log(out / "steps.csv")["step"] == read_csv_log(straight.steps_path)["step"]
    assert read_csv_log(out / "steps.csv")["step"] == [float(s) for s in range(1, steps + 1)]
    history = read_csv_log(out / "training_log.csv")
    assert history["step"] == straight.history["step"] == [2.0, 4.0, 6.0, 8.0, 10.0]
    config = json.loads((out / "config.json").read_text())
    assert [run["resumed_from_step"] for run in config["runs"]] == [0, 4, 6]
    # The learning rate logged at every checkpoint is the schedule's at that step, across
    # the three processes.
    logged = learning_rate_events(out)
    assert {2, 4, 6, 8, 10} <= set(logged)
    for step, value in logged.items():
        np.testing.assert_allclose(value, schedule_value(step), rtol=1e-6)

    # Every file loads; no temporary file is left (the restart removed the half backup).
    assert temp_files(out) == []
    kinds = check_every_file_loads(out)
    assert kinds["keras"] == 1 and kinds["weights.h5"] == 2 and kinds["events"] >= 3
    trainer = fresh_trainer(keras.optimizers.schedules.ExponentialDecay(**SCHEDULE["config"]))
    assert StepBackupAndRestore(out / "backup").restore(trainer) == {"step": 10, "epoch": 5}
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 10
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate)), schedule_value(10), rtol=1e-6
    )


# --------------------------------------------------------------------------
# Numerical faults.
# --------------------------------------------------------------------------


def test_nan_batch_stops_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, photos, style_file, monkeypatch
):
    original = keras_perceptual_data.image_folder_dataset

    def with_a_nan_batch(*args, **kwargs):
        # The fourth batch (step 4, the end of the second checkpoint interval) is NaN.
        def poison(index, images):
            return tf.where(tf.equal(index, 3), tf.fill(tf.shape(images), np.float32("nan")), images)

        return original(*args, **kwargs).enumerate().map(poison)

    monkeypatch.setattr(keras_perceptual_data, "image_folder_dataset", with_a_nan_batch)
    snapshots = {}

    def snapshot(step):
        snapshots[step] = (tmp_path / "model.keras").read_bytes()

    with pytest.raises(NonFiniteLossError) as raised:
        train_style_transfer(
            photos, style_file, **style_kwargs(tmp_path, steps=6), callbacks=[AtEpochEnd(snapshot)]
        )
    message = str(raised.value)
    assert "Training stopped at step 4: the loss became nan" in message
    assert "last good state (step 2)" in message and "Lower the learning rate" in message
    # Step 4 ended an interval, yet nothing was written after the NaN: the checkpoint and
    # the backup are those of step 2, byte for byte.
    assert (tmp_path / "model.keras").read_bytes() == snapshots[2]
    assert committed_step(tmp_path) == 2
    assert sorted(os.listdir(tmp_path / "backup")) == ["state.json", "step-000000002.weights.h5"]
    model = keras.models.load_model(tmp_path / "model.keras")
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    assert temp_files(tmp_path) == []


# --------------------------------------------------------------------------
# Data faults.
# --------------------------------------------------------------------------


def test_corrupt_and_mid_run_damaged_images_are_skipped_and_counted(tmp_path, style_file):
    folder = make_photos(tmp_path / "photos", count=5, seed=7)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    damaged, deleted = os.path.join(folder, "photo2.png"), os.path.join(folder, "photo3.png")

    class DamageFiles(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 1:
                with open(damaged, "wb") as f:
                    f.write(b"\x89PNG\r\n\x1a\n garbage")  # becomes unreadable mid-run
                os.remove(deleted)  # disappears mid-run

    with pytest.warns(SkippedImagesWarning, match="broken.jpg"):
        result = train_style_transfer(
            folder,
            style_file,
            **style_kwargs(tmp_path / "out", steps=10, save_every=5),
            callbacks=[DamageFiles()],
        )
    assert result.step == 10  # not fatal: 20 images drawn from the 3 that stayed readable
    assert result.skipped_images == 1  # broken.jpg, at the scan
    assert result.runtime_skipped >= 2  # each damaged file counted every time it was drawn
    config = json.loads(pathlib.Path(result.config_path).read_text())
    assert config["resolved"]["data"]["skipped"] == 1
    assert config["resolved"]["data"]["skipped_files"][0][0].endswith("broken.jpg")
    run = config["runs"][-1]
    assert run["runtime_skipped"] == result.runtime_skipped
    failed = {os.path.basename(path) for path, _ in run["runtime_skipped_files"]}
    assert failed == {"photo2.png", "photo3.png"}
    assert "failed decode(s) skipped while training" in result.summary()
    assert all(np.isfinite(read_csv_log(result.steps_path)["loss"]))


# --------------------------------------------------------------------------
# Disks: unwritable folders, full disks, folders that turn read-only.
# --------------------------------------------------------------------------


def mount_tmpfs(mount_point, options: str) -> None:
    """Mounts a tmpfs at ``mount_point`` or skips (not Linux, not root, no mount)."""
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux and mount(8) to make a real small or read-only file system")
    os.makedirs(mount_point, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); the patched "
            "writer test covers a full disk portably"
        )


@pytest.fixture
def mounts():
    mounted = []
    yield mounted
    for mount_point in reversed(mounted):
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.mark.parametrize("kind", ["below-a-file", "read-only-mount", "no-permission"])
def test_output_folder_that_cannot_be_written_is_refused_up_front(
    tmp_path, photos, style_file, kind, mounts, capsys
):
    if kind == "below-a-file":
        (tmp_path / "file").write_text("x")
        out, reason = tmp_path / "file" / "out", "is a file, not a folder"
    elif kind == "read-only-mount":
        mount_tmpfs(tmp_path / "ro", "ro,size=1m")
        mounts.append(tmp_path / "ro")
        out, reason = tmp_path / "ro" / "out", "Read-only file system"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes through file permissions; the read-only mount covers this")
        (tmp_path / "locked").mkdir(mode=0o500)
        out, reason = tmp_path / "locked" / "out", "Permission denied"
    with pytest.raises(ValueError, match=rf"output_dir cannot be written: .*{reason}.*; choose "
                                         r"(a writable|another) location"):
        train_style_transfer(photos, style_file, **style_kwargs(out))
    # The command line: one line, exit status 2, no traceback.
    status = cli.main(
        ["train-style", photos, style_file, "--out", str(out), "--weights", "none", "--quiet"]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("keras-perceptual: error: ") and reason in error
    assert "Traceback" not in error


def test_full_disk_at_a_checkpoint_keeps_the_previous_one_then_resumes(
    tmp_path, photos, style_file, monkeypatch
):
    original_save = keras.Model.save
    saves = {"count": 0}

    def save_until_the_disk_is_full(self, filepath, *args, **kwargs):
        saves["count"] += 1
        if saves["count"] >= 2:  # the checkpoint of step 4
            with open(filepath, "wb") as f:
                f.write(b"the first bytes of a .keras file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_the_disk_is_full)
    snapshots = {}
    with pytest.raises(OutputWriteError) as raised:
        train_style_transfer(
            photos,
            style_file,
            **style_kwargs(tmp_path),
            callbacks=[AtEpochEnd(lambda step: snapshots.setdefault(step, (tmp_path / "model.keras").read_bytes()))],
        )
    error = raised.value
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    message = str(error)
    assert "Cannot write the checkpoint" in message and "at step 4 (No space left on device)" in message
    assert "still holds the checkpoint of step 2" in message and "Free space" in message
    assert (tmp_path / "model.keras").read_bytes() == snapshots[2]
    assert committed_step(tmp_path) == 2
    assert temp_files(tmp_path) == []

    # Space freed: the same call resumes from the backup of step 2 and finishes.
    monkeypatch.setattr(keras.Model, "save", original_save)
    result = train_style_transfer(photos, style_file, **style_kwargs(tmp_path))
    assert result.resumed_from == 2 and result.step == 6
    check_every_file_loads(tmp_path)


@pytest.mark.parametrize("fault", ["disk-full", "turned-read-only"])
def test_real_file_system_fault_at_a_checkpoint_keeps_the_previous_one(
    tmp_path, photos, style_file, fault, mounts
):
    disk = tmp_path / "disk"
    if fault == "disk-full":  # a small file system of its own, filled after step 2
        mount_tmpfs(disk, "size=4m")
        mounts.append(disk)
    out = disk / "run"
    snapshots = {}

    def fault_after_first_interval(step):
        snapshots.setdefault(step, (out / "model.keras").read_bytes())
        if step != 2:
            return
        if fault == "disk-full":
            with open(disk / "filler", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError as error:
                    assert error.errno == errno.ENOSPC
        else:
            # A read-only bind mount of the output folder onto itself: new writes fail with
            # EROFS while the files the run holds open (logs) stay as they are.
            for command in (["mount", "--bind", str(out), str(out)],
                            ["mount", "-o", "remount,bind,ro", str(out)]):  # fmt: skip
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    pytest.skip(f"cannot make {out} read-only: {done.stderr.strip()}")
                if command[1] == "--bind":
                    mounts.append(out)

    expected = {"disk-full": (errno.ENOSPC, "No space left on device"),
                "turned-read-only": (errno.EROFS, "Read-only file system")}[fault]  # fmt: skip
    with pytest.raises(OutputWriteError) as raised:
        train_style_transfer(
            photos, style_file, **style_kwargs(out), callbacks=[AtEpochEnd(fault_after_first_interval)]
        )
    assert raised.value.errno == expected[0]
    assert f"at step 4 ({expected[1]})" in str(raised.value)
    assert "still holds the checkpoint of step 2" in str(raised.value)
    assert (out / "model.keras").read_bytes() == snapshots[2]
    keras.models.load_model(out / "model.keras")
    assert committed_step(out) == 2
    assert temp_files(out) == []
