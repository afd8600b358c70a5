"""The multi-backend core (backbones, ops, losses, layers, models, metrics) runs under
JAX as well: this test re-runs those test modules with ``KERAS_BACKEND=jax`` in a
fresh process (the backend is fixed when Keras is imported)."""

import os
import subprocess
import sys

import pytest
from conftest import BACKEND, REPO, requires_jax

CORE_TEST_MODULES = [
    "tests/test_backbones.py",
    "tests/test_ops.py",
    "tests/test_losses_perceptual.py",
    "tests/test_losses_adain.py",
    "tests/test_motion.py",
    "tests/test_losses_temporal.py",
    "tests/test_precision.py",
    "tests/test_edge_inputs.py",
    "tests/test_public_objects.py",
]
OPTIONAL_CORE_TEST_MODULES = [
    "tests/test_losses_pixel.py",
    "tests/test_losses_adversarial.py",
    "tests/test_losses_divergence.py",
    "tests/test_layers.py",
    "tests/test_models.py",
    "tests/test_inference.py",
    "tests/test_metrics.py",
    "tests/test_images.py",
    "tests/test_losses_lpips.py",
    "tests/test_losses_dists.py",
    "tests/test_torchvision_backbones.py",
    "tests/test_state_dict.py",
]


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "tensorflow", reason="spawned from the default (TensorFlow) run")
@requires_jax
def test_core_passes_under_jax_backend():
    modules = CORE_TEST_MODULES + [m for m in OPTIONAL_CORE_TEST_MODULES if (REPO / m).exists()]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=2700,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, f"core tests failed under KERAS_BACKEND=jax:\n{tail}"
    assert " passed" in result.stdout
