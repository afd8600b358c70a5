"""keras_perceptual.images: the one rule turning an image argument into an array."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

from keras_perceptual.images import image_array


@pytest.fixture
def image(rng):
    return rng.random((6, 5, 3), dtype=np.float32)


def _backend_inputs(image):
    """The image as every array type a user may hold on this backend."""
    inputs = {
        "numpy": image,
        "list": image.tolist(),
        "float16": image.astype("float16"),
        "float64": image.astype("float64"),
        "batch of one": image[None],
        "keras.Variable": keras.Variable(image),
        "tensor": keras.ops.convert_to_tensor(image),
        "bfloat16 tensor": keras.ops.cast(image, "bfloat16"),
    }
    if BACKEND == "tensorflow":
        import tensorflow as tf

        inputs["tf.Variable"] = tf.Variable(image)
    return inputs


def test_every_array_type_gives_the_same_float32_array(image):
    for kind, value in _backend_inputs(image).items():
        array = image_array(value)
        assert array.dtype == np.float32 and array.shape == (6, 5, 3), kind
        tolerance = {"float16": 1e-3, "bfloat16 tensor": 4e-3}.get(kind, 1e-7)
        np.testing.assert_allclose(array, image, atol=tolerance, err_msg=kind)


def test_paths_are_decoded_into_value_range(tmp_path):
    from PIL import Image

    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3) * 5
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_allclose(image_array(tmp_path / "a.png", (-1, 1)),
                               pixels / 127.5 - 1, atol=1e-6)


@pytest.mark.parametrize(
    "value,kwargs,match",
    [
        (np.zeros((4, 4, 3), np.uint8), {}, r"dtype uint8; expected floating-point.*/ 255\.0"),
        (np.zeros((4, 4, 3), bool), {}, "dtype bool"),
        (np.zeros((4, 4, 3), np.int32), {}, "dtype int32"),
        (np.zeros((4, 4, 4), np.float32), {}, "alpha channel"),
        (np.zeros((2, 4, 4, 3), np.float32), {}, r"one RGB image.*\(2, 4, 4, 3\)"),
        (np.full((4, 4, 3), np.nan, np.float32), {}, "NaN or infinite"),
        (np.full((4, 4, 3), 255.0, np.float32), {}, r"outside value_range=\(0.0, 1.0\).*/ 255"),
        (np.zeros((4, 4, 3), np.float32), {"value_range": (0.5, 1.0)}, "outside value_range"),
        ("/no/such/file.png", {}, "does not exist"),
        (object(), {}, "dtype object; expected floating-point"),
    ],
)
def test_refused_inputs(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_array(value, **kwargs)


def test_clip_instead_of_refusing_out_of_range(image):
    clipped = image_array(image * 2 - 0.5, clip=True)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    with pytest.raises(ValueError, match="NaN"):
        image_array(np.full((2, 2, 3), np.inf, np.float32), clip=True)
