"""The package as users import it: public names, registration, backend independence."""

import os
import subprocess
import sys

import keras
from conftest import requires_jax

import keras_perceptual as kp


def test_version_and_public_names():
    assert kp.__version__.count(".") == 2
    missing = [name for name in kp.__all__ if not hasattr(kp, name)]
    assert missing == []


def test_saved_models_load_after_a_plain_import(tmp_path):
    path = tmp_path / "net.keras"
    kp.style_transfer_net(filters=4, num_residual_blocks=1).save(path)
    code = (
        "import keras, keras_perceptual\n"
        f"model = keras.models.load_model({str(path)!r}, safe_mode=True)\n"
        "print(type(model.get_layer('res1')).__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keras_perceptual.layers" in result.stdout


@requires_jax
def test_core_import_does_not_need_tensorflow_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    code = "import sys, keras_perceptual; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_every_public_class_is_registered():
    for name in kp.__all__:
        obj = getattr(kp, name)
        if isinstance(obj, type) and issubclass(obj, (keras.layers.Layer, keras.losses.Loss,
                                                      keras.metrics.Metric)):
            registered = keras.saving.get_registered_name(obj)
            assert registered.startswith("keras_perceptual>"), name


def test_no_private_name_is_imported_from_another_module():
    """What modules share is a documented interface: no ``from keras_perceptual.x import
    _name`` anywhere in the package (private modules such as ``_checks`` hold public names)."""
    import ast
    import pathlib

    import keras_perceptual

    root = pathlib.Path(keras_perceptual.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").startswith("keras_perceptual")
            ):
                found += [
                    f"{path.relative_to(root)}:{node.lineno} {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert not found, found
