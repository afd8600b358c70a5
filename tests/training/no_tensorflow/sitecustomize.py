"""Put on PYTHONPATH by the JAX training tests: makes ``import tensorflow`` fail, so a
child process proves the JAX path never imports it, even where TensorFlow is installed."""

import importlib.abc
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the JAX tests)")
        return None


sys.meta_path.insert(0, _NoTensorFlow())
