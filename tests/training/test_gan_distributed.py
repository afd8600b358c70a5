"""PerceptualGAN under MirroredStrategy (two logical CPUs) takes the one-device step.

Keras ``Loss`` objects divide their reduced value by the replica count inside a strategy;
plain-function terms do not. The GAN computes every term per replica, logs it as is and
divides its totals once, so the logged losses and the update of one plain SGD step match
one device with the same global batch (tolerance: relative 1e-4 for the losses, 1e-4 of
the largest update for the weights; float32 all-reduce round-off).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import requires_tf, subprocess_env

pytestmark = [requires_tf, pytest.mark.slow]

CHILD = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from keras_perceptual import PerceptualGAN, patch_discriminator

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((None, None, 3))
        x = keras.layers.UpSampling2D(2)(inputs)
        outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)
        gan = PerceptualGAN(keras.Model(inputs, outputs),
                            patch_discriminator(filters=4, num_layers=1, normalization="none"))
        gan.compile(generator_optimizer=keras.optimizers.SGD(0.1),
                    discriminator_optimizer=keras.optimizers.SGD(0.1),
                    pixel_weight=1.0, adversarial_weight=0.5)
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 3), dtype=np.float32)
    y = rng.random((4, 16, 16, 3), dtype=np.float32)
    before = [w.numpy().copy() for w in gan.trainable_weights]
    logs = gan.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history
    after = [w.numpy() for w in gan.trainable_weights]
    return {k: float(v[-1]) for k, v in logs.items()}, [a - b for a, b in zip(after, before)]

one_logs, one_updates = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
two_logs, two_updates = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
largest = max(float(np.abs(u).max()) for u in one_updates)
print("RESULT " + json.dumps({
    "one": one_logs, "two": two_logs,
    "update_diff": max(float(np.abs(a - b).max()) for a, b in zip(one_updates, two_updates)),
    "largest_update": largest,
}))
'''


def test_gan_step_under_mirrored_strategy_matches_one_device():
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=300, env=subprocess_env())
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    measured = json.loads(lines[-1][len("RESULT "):])
    print(measured)
    for key in ("generator_loss", "discriminator_loss", "adversarial_loss", "pixel_loss"):
        assert measured["two"][key] == pytest.approx(measured["one"][key], rel=1e-4), key
    assert measured["largest_update"] > 0
    assert measured["update_diff"] <= 1e-4 * measured["largest_update"] + 1e-7
