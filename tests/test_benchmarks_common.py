"""benchmarks/common.py: what a benchmark's child processes inherit."""

import importlib.util
import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def common(monkeypatch):
    """A fresh copy of benchmarks/common.py (its module state is per test)."""
    spec = importlib.util.spec_from_file_location("_bench_common", ROOT / "benchmarks" / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child_script(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        "import json, os, sys\n"
        "print('RESULT ' + json.dumps({'onednn': os.environ.get('TF_ENABLE_ONEDNN_OPTS')}))\n"
    )
    return str(script)


def test_inference_children_run_on_tensorflows_own_kernels(common, monkeypatch, tmp_path):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    # As in a parent that has not imported TensorFlow, on x86 (where oneDNN is preferred).
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    spec = importlib.util.spec_from_file_location(
        "_kp_onednn_probe", ROOT / "keras_perceptual" / "_onednn.py")
    onednn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(onednn)
    if not onednn._x86():
        pytest.skip("oneDNN is only preferred on x86")
    common.use_training_kernels()
    try:
        assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
        script = _child_script(tmp_path)
        assert common.run_child(script, {}) == {"onednn": "1"}  # training children
        assert common.run_child(script, {}, inference=True) == {"onednn": None}
    finally:
        os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)


def test_a_users_own_kernel_choice_reaches_every_child(common, monkeypatch, tmp_path):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    common.use_training_kernels()  # the user's setting wins: nothing is set
    script = _child_script(tmp_path)
    assert common.run_child(script, {}, inference=True) == {"onednn": "0"}
    assert json.dumps(common.run_child(script, {})) == '{"onednn": "0"}'
