"""TensorFlow's oneDNN CPU kernels for the training commands (keras_perceptual._onednn)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from keras_perceptual import _onednn

#: TensorFlow's own answer, then what the package reports (they must agree).
ASK = (
    "import keras_perceptual._onednn as o; "
    "from tensorflow.python.util import _pywrap_util_port; "
    "print('oneDNN', _pywrap_util_port.IsMklEnabled(), o.onednn_enabled())"
)


def test_prefer_onednn_only_sets_a_default(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(_onednn, "_x86", lambda: True)
    # TensorFlow already imported (as in this test process): too late, nothing changes.
    assert "tensorflow" in sys.modules
    assert _onednn.prefer_onednn() is False and "TF_ENABLE_ONEDNN_OPTS" not in os.environ
    monkeypatch.delitem(sys.modules, "tensorflow")
    assert _onednn.prefer_onednn() is True and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # the user's choice wins
    assert _onednn.prefer_onednn() is False and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setattr(_onednn, "_x86", lambda: False)  # no x86, no change
    assert _onednn.prefer_onednn() is False and "TF_ENABLE_ONEDNN_OPTS" not in os.environ


@pytest.mark.parametrize(
    "argv, wanted",
    [
        (["/venv/bin/python", "/venv/bin/keras-perceptual", "train-style", "c/", "s.jpg"], True),
        (["python", "-m", "keras_perceptual.cli", "train-sr", "c/", "4"], True),
        (["/venv/bin/python", "/venv/bin/keras-perceptual", "demo"], True),
        (["/venv/bin/python", "/venv/bin/keras-perceptual", "stylize", "m.keras", "p.jpg"], False),
        (["/venv/bin/python", "/venv/bin/keras-perceptual", "app"], False),
        (["python", "train-style.py", "train-style"], False),  # a script, not the command
    ],
)
def test_only_the_training_commands_want_onednn(argv, wanted):
    assert _onednn.wants_onednn(argv) is wanted


def _tensorflow_says(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    environ.update(env, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(not _onednn._x86(), reason="TensorFlow's oneDNN choice is an x86 matter")
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="TensorFlow backend")  # fmt: skip
def test_the_package_reports_what_tensorflow_chose():
    assert _tensorflow_says(ASK, TF_ENABLE_ONEDNN_OPTS="1") == "oneDNN True True"
    assert _tensorflow_says(ASK, TF_ENABLE_ONEDNN_OPTS="0") == "oneDNN False False"
