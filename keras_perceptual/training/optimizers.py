"""Adam with a learning-rate multiplier for chosen variables.

Adam's step does not depend on the scale of a variable's gradient (Kingma & Ba 2015,
Section 2.1: the step is about ``learning_rate`` per unit of signal-to-noise), so scaling
a gradient does not make a variable learn faster; scaling its learning rate does. The
multi-style recipe uses this for the per-style scales and offsets of conditional instance
normalization (Dumoulin, Shlens & Kudlur 2017), a few thousand parameters that decide
which style comes out while the million shared convolution weights learn the rest: on
short runs they move too little for the styles to separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from keras_perceptual._checks import check_positive_float
from keras_perceptual.errors import InputError
from keras_perceptual.inference import walk_layers
from keras_perceptual.layers import ConditionalInstanceNormalization


@keras.saving.register_keras_serializable(package="keras_perceptual")
class ScaledAdam(keras.optimizers.Adam):
    """Adam in which the variables named in ``scaled_variables`` take ``multiplier`` times
    larger steps (their learning rate is ``multiplier * learning_rate``).

    Every other variable, and every other Adam setting, is as in
    ``keras.optimizers.Adam``; ``multiplier=1`` is exactly Adam.

    Args:
        learning_rate: as for ``keras.optimizers.Adam`` (a float or a schedule).
        multiplier: the factor, a finite number > 0.
        scaled_variables: the paths (``variable.path``, e.g. ``"conv_in/norm/gamma"``) of
            the variables it applies to; each must be among the variables the optimizer
            is built for.
        **kwargs: the other ``keras.optimizers.Adam`` arguments.

    Raises:
        keras_perceptual.errors.InputError: a bad ``multiplier``, or (when the optimizer is
            built) a path in ``scaled_variables`` that names no variable.

    Example:
        >>> model = multi_style_transfer_net(2, filters=4, num_residual_blocks=1)
        >>> paths = [v.path for v in model.trainable_variables if "/norm/" in v.path]
        >>> optimizer = ScaledAdam(1e-3, multiplier=10.0, scaled_variables=paths)
        >>> optimizer.get_config()["multiplier"]
        10.0
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        *,
        multiplier: float = 1.0,
        scaled_variables: Sequence[str] = (),
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        self.multiplier = check_positive_float(multiplier, "multiplier")
        if isinstance(scaled_variables, str):
            raise InputError(
                "scaled_variables must be a list of variable paths such as "
                f"['conv_in/norm/gamma']. Received: scaled_variables={scaled_variables!r}"
            )
        self.scaled_variables = tuple(str(path) for path in scaled_variables)
        self._scaled_keys: set = set()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        paths = {variable.path: variable for variable in var_list}
        missing = sorted(set(self.scaled_variables) - set(paths))
        if missing:
            raise InputError(
                f"ScaledAdam's scaled_variables name variables the optimizer is not built "
                f"for: {missing}; pass paths of trainable variables (variable.path). "
                f"Received: scaled_variables={list(self.scaled_variables)}"
            )
        self._scaled_keys = {self._var_key(paths[path]) for path in self.scaled_variables}

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self._scaled_keys:
            learning_rate = learning_rate * self.multiplier
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"multiplier": self.multiplier, "scaled_variables": list(self.scaled_variables)}
        )
        return config


def style_parameter_paths(network: keras.Model) -> list[str]:
    """The paths of the per-style variables of ``network``: the scales and offsets of its
    :class:`~keras_perceptual.layers.ConditionalInstanceNormalization` layers.

    Example:
        >>> style_parameter_paths(multi_style_transfer_net(2, num_residual_blocks=0))[:2]
        ['conv_in/norm/gamma', 'conv_in/norm/beta']
    """
    return [
        variable.path
        for layer in walk_layers(network)
        if isinstance(layer, ConditionalInstanceNormalization)
        for variable in layer.trainable_variables
    ]


__all__ = ["ScaledAdam", "style_parameter_paths"]
