"""Runs training recipes in a process of their own, for the distributed and fault tests.

    python tests/training/worker.py SPEC.json

``SPEC.json``::

    {"logical_cpus": 2,            # split the CPU into logical devices first (optional)
     "result": "out/result.json",  # where the results go (written at the end)
     "gradient_check": false,      # also compare one SGD step, one device vs mirrored
     "runs": [{"recipe": "style" | "sr", "strategy": "default" | "mirrored",
               "kwargs": {...},    # train_style_transfer / train_super_resolution arguments
               "schedule": {"class": "ExponentialDecay", "config": {...}}}]}  # optional

Fault injection, by environment variable (so that a restart runs the same command):

* ``KP_TEST_PAUSE_AT_STEP=N``: after step ``N`` the run writes ``KP_TEST_MARKER`` and
  sleeps, so that the test can kill it in the middle of an epoch;
* ``KP_TEST_HANG_IN_BACKUP=N``: the ``N``-th backup write (1-based) truncates its
  temporary file to half, writes ``KP_TEST_MARKER`` and sleeps: a kill then lands in
  the middle of a checkpoint write, deterministically.

Results per run: the step reached, the step resumed from, the loss of every step, the
learning rate when training started and ended, the wall time, and the final weights
(``weights_<i>.npz`` beside the result file).
"""

from __future__ import annotations

import json
import os
import sys
import time


def _split_cpu(count: int) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def _install_fault_hooks() -> None:
    from keras_perceptual.training import files as training_files

    marker = os.environ.get("KP_TEST_MARKER")
    hang_at = int(os.environ.get("KP_TEST_HANG_IN_BACKUP", "0"))
    if hang_at:
        original = training_files._fsync_file
        calls = {"backups": 0}

        def fsync_then_hang(path):
            if path.endswith(".tmp.weights.h5"):  # a backup's temporary file
                calls["backups"] += 1
                if calls["backups"] == hang_at:
                    size = os.path.getsize(path)
                    with open(path, "r+b") as f:
                        f.truncate(size // 2)  # as if killed while writing it
                    with open(marker, "w") as f:
                        f.write(path)
                    time.sleep(600)
            return original(path)

        training_files._fsync_file = fsync_then_hang


class _Recorder:
    """Callback: learning rate at the start and end; optional pause at a step."""

    def __new__(cls, pause_at: int, marker: str | None):
        import keras

        from keras_perceptual.training.callbacks import _scalar, global_step

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.learning_rates = {}

            def on_train_begin(self, logs=None):
                step = global_step(self.model.optimizer)
                self.learning_rates[step] = _scalar(self.model.optimizer.learning_rate)

            def on_train_batch_end(self, batch, logs=None):
                step = global_step(self.model.optimizer)
                if pause_at and step == pause_at:
                    with open(marker, "w") as f:
                        f.write(str(step))
                    time.sleep(600)

            def on_train_end(self, logs=None):
                step = global_step(self.model.optimizer)
                self.learning_rates[step] = _scalar(self.model.optimizer.learning_rate)

        return Recorder()


def _gradient_check(strategies, kwargs_by_recipe) -> dict:
    """One SGD step of each network and loss, one device vs mirrored: the updates must agree.

    Adam's update hardly depends on the gradient's scale, so a loss scaled wrongly for
    distribution (a sum over replicas, or a mean over the per-replica batch left
    undivided by the replica count) would go unnoticed in the recipes' weights; plain
    SGD's update is proportional to the gradient and shows any such factor.
    """
    import keras
    import numpy as np

    from keras_perceptual.data import sr_degrade
    from keras_perceptual.losses import PerceptualLoss
    from keras_perceptual.models import style_transfer_net, super_resolution_net
    from keras_perceptual.training.recipes import untracked_loss
    from keras_perceptual.training.replicas import synchronize_batch_norm

    rng = np.random.default_rng(0)
    high = rng.random((4, 32, 32, 3), dtype=np.float32)
    style = rng.random((40, 56, 3), dtype=np.float32)
    low = np.asarray(sr_degrade(high, 4))
    report = {}
    for recipe in kwargs_by_recipe:
        deltas = {}
        for name, strategy in strategies.items():
            keras.utils.set_random_seed(0)
            with strategy.scope():
                if recipe == "style":
                    net = style_transfer_net(filters=4, num_residual_blocks=1)
                    loss = PerceptualLoss(style_image=style, weights=None, reduction=None)
                    x, y = high, high
                else:
                    net = super_resolution_net(4, filters=4, num_residual_blocks=1)
                    loss = PerceptualLoss.from_preset("johnson2016_sr", weights=None, reduction=None)
                    x, y = low, high
                trainer = keras.Model(net.inputs, net.outputs)
                trainer.compile(
                    optimizer=keras.optimizers.SGD(1e-3), loss=untracked_loss(loss)
                )
            if strategy.num_replicas_in_sync > 1:
                synchronize_batch_norm(trainer)
            before = [np.array(keras.ops.convert_to_numpy(w)) for w in net.trainable_weights]
            reported = float(trainer.train_on_batch(x, y))
            after = [np.array(keras.ops.convert_to_numpy(w)) for w in net.trainable_weights]
            direct = float(np.mean(keras.ops.convert_to_numpy(loss(y, net(x, training=False)))))
            deltas[name] = ([a - b for a, b in zip(after, before, strict=True)], reported, direct)
        one, mirrored = deltas["default"], deltas["mirrored"]
        scale = max(float(np.max(np.abs(d))) for d in one[0])
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one[0], mirrored[0], strict=True))
        norm_one = float(np.sqrt(sum(np.sum(d**2) for d in one[0])))
        norm_mirrored = float(np.sqrt(sum(np.sum(d**2) for d in mirrored[0])))
        report[recipe] = {
            "max_abs_update": scale,
            "max_abs_update_diff": diff,
            "update_norm_ratio": norm_mirrored / norm_one,
            "loss_one_device": one[1],
            "loss_mirrored": mirrored[1],
        }
    return report


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("logical_cpus"):
        _split_cpu(int(spec["logical_cpus"]))

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_perceptual.training import read_csv_log, train_style_transfer, train_super_resolution

    _install_fault_hooks()
    marker = os.environ.get("KP_TEST_MARKER")
    pause_at = int(os.environ.get("KP_TEST_PAUSE_AT_STEP", "0"))
    strategies = {"default": tf.distribute.get_strategy()}
    if spec.get("logical_cpus", 0) > 1 or any(r.get("strategy") == "mirrored" for r in spec["runs"]):
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategies["mirrored"] = tf.distribute.MirroredStrategy(devices)

    results = {"runs": [], "devices": [d.name for d in tf.config.list_logical_devices("CPU")]}
    folder = os.path.dirname(os.path.abspath(spec["result"]))
    for index, run in enumerate(spec["runs"]):
        kwargs = dict(run["kwargs"])
        if run.get("schedule"):
            schedule = getattr(keras.optimizers.schedules, run["schedule"]["class"])
            kwargs["learning_rate"] = schedule(**run["schedule"]["config"])
        recorder = _Recorder(pause_at, marker)
        strategy = strategies[run.get("strategy", "default")]
        recipe = train_style_transfer if run["recipe"] == "style" else train_super_resolution
        start = time.perf_counter()
        result = recipe(
            *run["args"],
            **kwargs,
            strategy=None if run.get("strategy", "default") == "default" else strategy,
            callbacks=[recorder],
        )
        elapsed = time.perf_counter() - start
        weights_path = os.path.join(folder, f"weights_{index}.npz")
        np.savez(
            weights_path,
            *[np.asarray(keras.ops.convert_to_numpy(w)) for w in result.model.weights],
        )
        results["runs"].append(
            {
                "recipe": run["recipe"],
                "strategy": run.get("strategy", "default"),
                "replicas": result.replicas,
                "step": result.step,
                "resumed_from": result.resumed_from,
                "losses": read_csv_log(result.steps_path).get("loss", []),
                "steps": read_csv_log(result.steps_path).get("step", []),
                "learning_rates": {str(k): v for k, v in recorder.learning_rates.items()},
                "seconds": elapsed,
                "weights": weights_path,
            }
        )
    if spec.get("gradient_check"):
        kinds = sorted({run["recipe"] for run in spec["runs"]})
        results["gradient_check"] = _gradient_check(strategies, kinds)
    with open(spec["result"] + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
    os.replace(spec["result"] + ".tmp", spec["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
