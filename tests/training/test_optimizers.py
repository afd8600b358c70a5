"""ScaledAdam: a learning-rate multiplier for the per-style parameters of a multi-style net."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_perceptual import multi_style_transfer_net
from keras_perceptual.errors import InputError
from keras_perceptual.training import ScaledAdam, style_parameter_paths


def _one_step(make_optimizer):
    """The change of every trainable variable after one fit step of a tiny 2-style net."""
    keras.utils.set_random_seed(0)
    model = multi_style_transfer_net(2, filters=4, num_residual_blocks=1)
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    model.compile(optimizer=make_optimizer(model), loss="mse")
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    model.fit([x, np.eye(2, dtype="float32")], x, epochs=1, batch_size=2, verbose=0)
    after = {v.path: keras.ops.convert_to_numpy(v) for v in model.trainable_variables}
    return {path: after[path] - before[path] for path in before}, model


def test_style_parameters_take_multiplier_times_adams_step_and_the_rest_adams_step():
    adam, model = _one_step(lambda m: keras.optimizers.Adam(1e-3))
    scaled, _ = _one_step(
        lambda m: ScaledAdam(1e-3, multiplier=10.0, scaled_variables=style_parameter_paths(m))
    )
    paths = set(style_parameter_paths(model))
    # Every conditional normalization's gamma and beta, nothing else.
    assert paths == {v.path for v in model.trainable_variables if "/norm" in v.path}
    assert len(paths) == 2 * 7
    for path, step in adam.items():
        expected = 10.0 * step if path in paths else step
        np.testing.assert_allclose(scaled[path], expected, rtol=1e-4, atol=1e-9, err_msg=path)
    assert all(np.abs(adam[p]).max() > 0 for p in paths)  # the test can fail


def test_multiplier_one_is_exactly_adam():
    adam, _ = _one_step(lambda m: keras.optimizers.Adam(1e-3))
    same, _ = _one_step(
        lambda m: ScaledAdam(1e-3, multiplier=1.0, scaled_variables=style_parameter_paths(m))
    )
    for path, step in adam.items():
        np.testing.assert_array_equal(same[path], step, err_msg=path)


def test_config_round_trip_and_registered_name():
    optimizer = ScaledAdam(2e-3, multiplier=4.0, scaled_variables=["a/gamma", "a/beta"],
                           beta_1=0.8)  # fmt: skip
    config = optimizer.get_config()
    assert config["multiplier"] == 4.0 and config["scaled_variables"] == ["a/gamma", "a/beta"]
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(again, ScaledAdam)
    assert again.multiplier == 4.0 and again.scaled_variables == ("a/gamma", "a/beta")
    assert again.beta_1 == 0.8 and np.isclose(float(again.learning_rate), 2e-3)


@pytest.mark.parametrize("multiplier", [0, -1.0, float("nan"), float("inf"), True, "x", None])
def test_bad_multiplier_is_refused(multiplier):
    with pytest.raises(InputError, match="multiplier must be a finite number > 0"):
        ScaledAdam(1e-3, multiplier=multiplier)


def test_unknown_variable_path_or_a_string_is_refused():
    with pytest.raises(InputError, match="list of variable paths"):
        ScaledAdam(1e-3, scaled_variables="conv_in/norm/gamma")
    model = multi_style_transfer_net(2, filters=4, num_residual_blocks=0)
    optimizer = ScaledAdam(1e-3, multiplier=2.0, scaled_variables=["no/such/variable"])
    with pytest.raises(InputError, match=r"not built for: \['no/such/variable'\]"):
        optimizer.build(model.trainable_variables)
