"""PSNR and SSIM: per-image functions and Keras metrics (TensorFlow and JAX backends).

References: ``tf.image.psnr`` / ``tf.image.ssim`` run on numpy inputs (TensorFlow is
installed under every backend here) and a float64 numpy PSNR. Tolerances: PSNR within
1e-4 dB, SSIM within 1e-5 (both float32; differences are summation order only).
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from conftest import rewrite_keras_config, to_numpy

from keras_perceptual.errors import InputError
from keras_perceptual.metrics import LPIPS, PSNR, SSIM, psnr, rgb_to_y, ssim

tf = pytest.importorskip("tensorflow")

PSNR_ATOL = 1e-4  # dB
SSIM_ATOL = 1e-5


@pytest.fixture
def pair(rng):
    """Three 32x32 images and noisy copies with a different noise level each."""
    clean = rng.random((3, 32, 32, 3), dtype=np.float32)
    noise = (
        rng.standard_normal(clean.shape).astype(np.float32)
        * np.float32([0.02, 0.1, 0.3])[:, None, None, None]
    )
    return clean, np.clip(clean + noise, 0, 1).astype(np.float32)


def numpy_psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_psnr_matches_tf_image_and_numpy(pair, value_range):
    clean, noisy = pair
    low, high = value_range
    ours = to_numpy(psnr(clean * (high - low) + low, noisy * (high - low) + low, value_range))
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, tf.image.psnr(clean, noisy, 1.0).numpy(), atol=PSNR_ATOL)
    np.testing.assert_allclose(ours, numpy_psnr(clean, noisy), atol=PSNR_ATOL)
    assert ours[0] > ours[1] > ours[2]


def test_psnr_is_per_image_unlike_keras_ops_psnr(pair):
    clean, noisy = pair
    per_image = to_numpy(psnr(clean, noisy))
    batch = float(to_numpy(keras.ops.psnr(clean, noisy, 1.0)))  # one MSE for the whole batch
    assert abs(per_image.mean() - batch) > 1.0


def test_identical_images_give_max_db_not_inf(images):
    np.testing.assert_allclose(to_numpy(psnr(images, images)), [100.0, 100.0], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(psnr(images, images, max_db=40)), [40.0, 40.0], rtol=1e-6)
    assert np.isinf(to_numpy(psnr(images, images, max_db=None))).all()
    metric = PSNR()
    metric.update_state(images, images)
    metric.update_state(images, np.clip(images + 0.1, 0, 1))
    assert np.isfinite(float(metric.result()))


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_ssim_matches_tf_image(pair, value_range):
    clean, noisy = pair
    low, high = value_range
    ours = to_numpy(ssim(clean * (high - low) + low, noisy * (high - low) + low, value_range))
    expected = tf.image.ssim(clean, noisy, max_val=1.0).numpy()
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours, expected, atol=SSIM_ATOL)
    np.testing.assert_allclose(to_numpy(ssim(clean, clean)), [1, 1, 1], atol=1e-6)


def test_ssim_options_match_tf_image(pair):
    clean, noisy = pair
    ours = to_numpy(ssim(clean, noisy, filter_size=7, filter_sigma=1.0, k1=0.02, k2=0.04))
    expected = tf.image.ssim(
        clean, noisy, 1.0, filter_size=7, filter_sigma=1.0, k1=0.02, k2=0.04
    ).numpy()
    np.testing.assert_allclose(ours, expected, atol=SSIM_ATOL)


def test_unbatched_images_give_scalars(pair):
    clean, noisy = pair
    assert to_numpy(psnr(clean[0], noisy[0])).shape == ()
    np.testing.assert_allclose(
        to_numpy(ssim(clean[1], noisy[1])), to_numpy(ssim(clean, noisy))[1], atol=1e-6
    )


def test_y_channel_and_crop_border(pair):
    clean, noisy = pair
    weights = np.array([65.481, 128.553, 24.966]) / 255.0
    y_clean = (clean @ weights + 16 / 255.0)[..., None]
    y_noisy = (noisy @ weights + 16 / 255.0)[..., None]
    np.testing.assert_allclose(to_numpy(rgb_to_y(clean)), y_clean, atol=1e-6)
    ours = to_numpy(psnr(clean, noisy, y_channel=True, crop_border=4))
    np.testing.assert_allclose(
        ours, numpy_psnr(y_clean[:, 4:-4, 4:-4], y_noisy[:, 4:-4, 4:-4]), atol=PSNR_ATOL
    )
    ours = to_numpy(ssim(clean, noisy, y_channel=True, crop_border=2))
    expected = tf.image.ssim(
        y_clean[:, 2:-2, 2:-2].astype(np.float32), y_noisy[:, 2:-2, 2:-2].astype(np.float32), 1.0
    ).numpy()
    np.testing.assert_allclose(ours, expected, atol=SSIM_ATOL)


def test_function_errors(images):
    with pytest.raises(ValueError, match="same shape.*Received: y_true.shape"):
        psnr(images, images[:, :16])
    with pytest.raises(ValueError, match="same rank"):
        psnr(images, images[0])
    with pytest.raises(ValueError, match="dtype uint8"):
        psnr((images * 255).astype(np.uint8), images)
    with pytest.raises(ValueError, match="at least filter_size=11"):
        ssim(images[:, :8, :8], images[:, :8, :8])
    with pytest.raises(ValueError, match="filter_size must be odd"):
        ssim(images, images, filter_size=8)
    with pytest.raises(ValueError, match="crop_border=16 removes the whole"):
        psnr(images, images, crop_border=16)
    with pytest.raises(ValueError, match="max_db must be"):
        psnr(images, images, max_db=0)
    with pytest.raises(ValueError, match="y_channel=True needs RGB"):
        psnr(images[..., :1], images[..., :1], y_channel=True)
    with pytest.raises(ValueError, match="value_range"):
        psnr(images, images, value_range=(1, 1))


# --------------------------------------------------------------------------
# Keras metrics.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cls, fn", [(PSNR, psnr), (SSIM, ssim)])
def test_metric_is_the_mean_over_images_seen(rng, cls, fn):
    a = rng.random((5, 24, 24, 3), dtype=np.float32)
    b = np.clip(a + rng.standard_normal(a.shape).astype(np.float32) * 0.1, 0, 1)
    values = to_numpy(fn(a, b))
    metric = cls()
    metric.update_state(a[:2], b[:2])
    metric.update_state(a[2:], b[2:])
    np.testing.assert_allclose(float(metric.result()), values.mean(), rtol=1e-5)
    metric.reset_state()
    weights = np.array([1.0, 0.0, 2.0, 0.0, 1.0], np.float32)
    metric.update_state(a, b, sample_weight=weights)
    np.testing.assert_allclose(
        float(metric.result()), (values * weights).sum() / weights.sum(), rtol=1e-5
    )
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_metrics_rescale_value_range(pair):
    clean, noisy = pair
    for cls in (PSNR, SSIM):
        unit, signed = cls(), cls(value_range=(-1, 1))
        unit.update_state(clean, noisy)
        signed.update_state(clean * 2 - 1, noisy * 2 - 1)
        np.testing.assert_allclose(float(signed.result()), float(unit.result()), rtol=1e-5)


def test_metric_refuses_integer_images(images):
    with pytest.raises(ValueError, match="dtype uint8"):
        PSNR().update_state((images * 255).astype(np.uint8), images)


def test_metric_config_round_trip():
    for metric in (
        PSNR(value_range=(-1, 1), max_db=60.0, y_channel=True, crop_border=4, name="psnr_y"),
        SSIM(value_range=(0, 255), filter_size=7, filter_sigma=1.0, crop_border=2),
        PSNR(max_db=None),
    ):
        config = metric.get_config()
        clone = type(metric).from_config(config)
        assert clone.get_config() == config
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric)
        )
        assert type(restored) is type(metric) and restored.get_config() == config
    assert keras.saving.get_registered_name(PSNR) == "keras_perceptual>PSNR"
    assert PSNR()._direction == "up" and SSIM()._direction == "up"
    with pytest.raises(ValueError, match="filter_size must be odd"):
        SSIM(filter_size=4)
    with pytest.raises(ValueError, match="crop_border must be an integer >= 0"):
        PSNR(crop_border=-1)


@pytest.mark.parametrize("cls, fn", [(PSNR, psnr), (SSIM, ssim)])
def test_metric_classes_take_their_functions_options(cls, fn):
    import inspect

    options = list(inspect.signature(fn).parameters.values())[2:]
    parameters = list(inspect.signature(cls).parameters.values())
    assert parameters[:-2] == options
    tail = [(p.name, p.default) for p in parameters[-2:]]
    assert tail == [("name", fn.__name__), ("dtype", None)]
    # Positional arguments bind in that order, as they did when the options were written out.
    metric = cls((0, 255), *[p.default for p in options[1:]], "mine")
    assert metric.name == "mine" and metric.value_range == (0.0, 255.0)
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'crop'; did you mean"):
        cls(crop=2)
    with pytest.raises(TypeError, match="takes|too many positional"):
        cls(*[p.default for p in parameters], None)


def test_metrics_under_mixed_precision_compute_in_float32(pair):
    clean, noisy = pair
    keras.config.set_dtype_policy("mixed_float16")
    metric = PSNR()
    assert metric.dtype == "float32"
    metric.update_state(clean.astype(np.float16), noisy.astype(np.float16))
    expected = numpy_psnr(clean.astype(np.float16), noisy.astype(np.float16)).mean()
    np.testing.assert_allclose(float(metric.result()), expected, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_compile_evaluate_save_and_reload(tmp_path, pair):
    clean, noisy = pair
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(3, 1)])
    model.compile(loss="mse", metrics=[PSNR(), SSIM()])
    logs = model.evaluate(noisy, clean, batch_size=2, verbose=0, return_dict=True)
    output = to_numpy(model.predict(noisy, batch_size=3, verbose=0))
    np.testing.assert_allclose(logs["psnr"], to_numpy(psnr(clean, output)).mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["ssim"], to_numpy(ssim(clean, output)).mean(), atol=1e-4)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    again = reloaded.evaluate(noisy, clean, batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["psnr"], logs["psnr"], rtol=1e-5)
    np.testing.assert_allclose(again["ssim"], logs["ssim"], rtol=1e-5)


# --- Temporal warping error (flicker). ---


def test_temporal_warping_error_matches_numpy(rng):
    from conftest import numpy_warp

    from keras_perceptual.metrics import temporal_warping_error

    frames = rng.random((4, 10, 12, 3), dtype=np.float32)
    flows = rng.uniform(-2, 2, (3, 10, 12, 2)).astype(np.float32)
    masks = (rng.random((3, 10, 12)) > 0.2).astype(np.float32)
    squared = np.mean((frames[1:].astype(np.float64) - numpy_warp(frames[:-1], flows)) ** 2, -1)
    expected = np.mean((masks * squared).sum((1, 2)) / masks.sum((1, 2)))
    np.testing.assert_allclose(float(to_numpy(temporal_warping_error(frames, flows, masks))),
                               expected, rtol=1e-5)
    ranged = temporal_warping_error(frames * 2 - 1, flows, masks, value_range=(-1, 1))
    np.testing.assert_allclose(float(to_numpy(ranged)), expected, rtol=1e-5)


def test_temporal_warping_error_is_zero_for_a_perfect_translation(rng):
    """A constant-free pattern panned by whole pixels: perfect outputs score exactly 0."""
    from keras_perceptual.metrics import temporal_warping_error
    from keras_perceptual.motion import visibility_mask

    scene = rng.random((16, 40, 3), dtype=np.float32)
    frames = np.stack([scene[:, 2 * t : 2 * t + 24] for t in range(5)])  # 2 px per frame
    flows = np.zeros((4, 16, 24, 2), np.float32)
    flows[..., 0] = 2.0
    masks = to_numpy(visibility_mask(flows))
    assert float(to_numpy(temporal_warping_error(frames, flows, masks))) == 0.0
    flicker = frames + rng.normal(0, 0.05, frames.shape).astype(np.float32)
    value = float(to_numpy(temporal_warping_error(flicker, flows, masks)))
    np.testing.assert_allclose(value, 2 * 0.05**2, rtol=0.1)  # two independent noises


def test_temporal_warping_error_errors(rng):
    from keras_perceptual.metrics import temporal_warping_error

    frames = rng.random((3, 8, 8, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="at least two frames"):
        temporal_warping_error(frames[:1], np.zeros((0, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"flows must hold one backward flow.*\(2, 8, 8, 2\)"):
        temporal_warping_error(frames, np.zeros((3, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match="dtype uint8"):
        temporal_warping_error((frames * 255).astype(np.uint8), np.zeros((2, 8, 8, 2), "float32"))


# --- LPIPS / DISTS restored from a config or a saved model (weights there or not). ---


def _saved_with_weights(path, target, weights):
    """A copy of the .keras archive at ``path`` whose metric configs name ``weights``."""
    return rewrite_keras_config(path, target, '"weights": null', f'"weights": "{weights}"')


@pytest.mark.parametrize("name", ["LPIPS", "DISTS"])
def test_learned_metric_restored_without_its_weights_raises_at_first_update(tmp_path, name):
    """It used to fail the whole load (a saved model could not even predict); it must
    never compute with random weights instead: it loads, and its first update raises."""
    from keras_perceptual import WeightsUnavailableError, metrics
    from keras_perceptual.errors import InputError

    cls = getattr(metrics, name)
    config = {**cls(weights=None).get_config(), "weights": str(tmp_path / "gone.pth")}
    restored = cls.from_config(config)
    assert restored.get_config() == config  # the weights it needs, not None
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    with pytest.raises(WeightsUnavailableError,
                       match=rf"(?s)This {name} was restored.*gone\.pth.*metrics=\[{name}\("):
        restored.update_state(x, x)
    assert float(restored.result()) == 0.0 and float(restored.count) == 0.0  # nothing counted
    with pytest.raises(InputError, match="weights file .*gone.pth.* does not exist"):
        cls(**config)  # constructing it directly still fails at once
    if name == "LPIPS":  # other bad settings fail at load
        with pytest.raises(InputError, match="net"):
            cls.from_config({**config, "net": "resnet"})


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_saved_model_with_an_lpips_metric(tmp_path, pair):
    from keras_perceptual import WeightsUnavailableError
    from keras_perceptual.metrics import LPIPS

    clean, noisy = pair
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(3, 1)])
    model.compile(loss="mse", metrics=[LPIPS(weights=None)])
    logs = model.evaluate(noisy, clean, batch_size=2, verbose=0, return_dict=True)
    path = tmp_path / "model.keras"
    model.save(path)
    # Weights available (here the seeded random ones): restored as it was.
    reloaded = keras.models.load_model(path, safe_mode=True)
    again = reloaded.evaluate(noisy, clean, batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["lpips"], logs["lpips"], rtol=1e-6)
    # Weights missing where it loads: it loads and predicts; evaluating raises.
    gone = _saved_with_weights(path, tmp_path / "gone.keras", tmp_path / "gone.pth")
    reloaded = keras.models.load_model(gone, safe_mode=True)
    np.testing.assert_allclose(to_numpy(reloaded.predict(noisy, verbose=0)),
                               to_numpy(model.predict(noisy, verbose=0)), rtol=1e-6)
    with pytest.raises(WeightsUnavailableError, match=r"(?s)gone\.pth.*metrics=\[LPIPS\("):
        reloaded.evaluate(noisy, clean, batch_size=2, verbose=0)


def test_options_are_checked_in_the_functions_and_the_metrics():
    """Before: y_channel="no" measured the luma (a truthy string), filter_sigma=0 or k1=k2=0
    gave NaN, a negative sigma the same value as a positive one, max_db=True capped at 1 dB,
    and filter_sigma="x" raised float()'s own ValueError."""
    a = np.zeros((1, 12, 12, 3), "float32")
    for function in (psnr, ssim):
        with pytest.raises(ValueError, match=r"y_channel must be True or False.*y_channel='no'"):
            function(a, a, y_channel="no")
    for metric in (PSNR, SSIM):
        with pytest.raises(ValueError, match=r"y_channel must be True or False.*y_channel=None"):
            metric(y_channel=None)
    for name in ("filter_sigma", "k1", "k2"):
        for bad in (0.0, -1.5, float("nan"), "x", True, None):
            with pytest.raises(ValueError, match=rf"{name} must be a finite number > 0"):
                ssim(a, a, **{name: bad})
            with pytest.raises(ValueError, match=rf"{name} must be a finite number > 0"):
                SSIM(**{name: bad})
    with pytest.raises(ValueError, match=r"max_db must be .*Received: max_db=True"):
        psnr(a, a, max_db=True)
    assert SSIM(filter_sigma=np.float32(1.5), k1=np.float64(0.01)).get_config()["k1"] == 0.01
    # A numeric string is no number, as for every integer option (kernel_size="3" is refused)
    # and every weight: one rule, _checks.as_number (k1="0.01" was accepted until 2026-12).
    with pytest.raises(ValueError, match=r"k1 must be a finite number > 0\. Received: k1='0.01'"):
        SSIM(k1="0.01")
    np.testing.assert_allclose(to_numpy(psnr(a, a, y_channel=np.bool_(True))), [100.0])


def test_temporal_warping_error_refuses_masks_of_another_size():
    """Before: a (T-1, 4, 4) mask for 8x8 frames raised TensorFlow's 'Incompatible shapes'."""
    from keras_perceptual.metrics import temporal_warping_error

    frames = np.random.default_rng(0).random((3, 8, 8, 3)).astype("float32")
    flows = np.zeros((2, 8, 8, 2), "float32")
    expected = np.mean(np.square(frames[1:] - frames[:-1]))  # zero flow: no warping
    np.testing.assert_allclose(
        to_numpy(temporal_warping_error(frames, flows, np.ones((2, 8, 8, 1), "float32"))),
        expected, rtol=1e-5)
    for shape in ((2, 4, 4), (1, 8, 8), (2, 8, 4, 1)):
        with pytest.raises(ValueError, match=r"one weight per pixel of the frames.*"
                                             + re.escape(f"mask.shape={shape[:3]}")):
            temporal_warping_error(frames, flows, np.ones(shape, "float32"))


# --- sample_weight: the losses' shape rule, and finite weights >= 0. ---


METRIC_FACTORIES = {
    "psnr": lambda: PSNR(),
    "ssim": lambda: SSIM(filter_size=7),
    "lpips": lambda: __import__("keras_perceptual").metrics.LPIPS(net="vgg", weights=None),
    "dists": lambda: __import__("keras_perceptual").metrics.DISTS(weights=None),
}


@pytest.mark.parametrize("name", sorted(METRIC_FACTORIES))
def test_metric_sample_weight_is_checked_and_weights_the_mean(rng, name):
    from keras_perceptual.errors import InputError

    keras.utils.set_random_seed(0)
    a = rng.random((3, 16, 16, 3), dtype=np.float32)
    b = np.clip(a + rng.standard_normal(a.shape).astype(np.float32) * 0.1, 0, 1)
    metric = METRIC_FACTORIES[name]()
    for i in range(3):  # the per-image values, one image at a time
        metric.reset_state()
        metric.update_state(a[i:i + 1], b[i:i + 1])
        if i == 0:
            values = []
        values.append(float(to_numpy(metric.result())))
    metric.reset_state()
    # Was TensorFlow's "InvalidArgumentError: Incompatible shapes" (or a silent broadcast).
    for shape in [(2,), (4,), (3, 2)]:
        with pytest.raises(InputError, match=re.escape(
                "sample_weight must be a scalar or hold one weight per sample: shape (batch,) "
                f"= (3,), like y_pred's first axis; pass one weight per image, in order. "
                f"Received: sample_weight.shape={shape}, y_pred.shape=(3, 16, 16, 3)")):
            metric.update_state(a, b, sample_weight=np.ones(shape, np.float32))
    # Was accepted silently: a "mean" weighted by -1 or NaN.
    for bad in ([1.0, -1.0, 1.0], [1.0, float("nan"), 1.0], -2.0, [1.0, float("inf"), 0.0]):
        with pytest.raises(InputError, match=r"sample_weight must hold finite weights >= 0 .* "
                                             r"Received: sample_weight="):
            metric.update_state(a, b, sample_weight=np.float32(bad))
    assert float(to_numpy(metric.count)) == 0.0  # nothing was counted
    weights = np.float32([0.5, 0.0, 2.0])
    metric.update_state(a, b, sample_weight=weights)
    expected = (0.5 * values[0] + 2.0 * values[2]) / 2.5  # by hand
    np.testing.assert_allclose(float(to_numpy(metric.result())), expected, rtol=1e-4, atol=1e-6)
    metric.update_state(a, b, sample_weight=weights[:, None])  # (batch, 1): also one per image
    np.testing.assert_allclose(float(to_numpy(metric.result())), expected, rtol=1e-4, atol=1e-6)


def test_unbatched_image_metric_takes_a_scalar_or_one_weight(pair):
    from keras_perceptual.errors import InputError

    clean, noisy = pair
    metric = PSNR()
    metric.update_state(clean[0], noisy[0], sample_weight=np.float32([2.0]))
    metric.update_state(clean[1], noisy[1], sample_weight=1.0)
    values = numpy_psnr(clean[:2], noisy[:2])
    np.testing.assert_allclose(float(to_numpy(metric.result())),
                               (2 * values[0] + values[1]) / 3, rtol=1e-4)
    with pytest.raises(InputError, match=r"shape \(batch,\) = \(1,\).*sample_weight.shape=\(3,\)"):
        metric.update_state(clean[0], noisy[0], sample_weight=np.ones(3, np.float32))


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_metric_sample_weight_in_fit_and_evaluate(pair):
    """Inside the compiled steps (a TensorFlow graph, or a JAX jit) the weights are used as
    given; the length is still checked (at run time in a graph with an unknown batch)."""
    clean, noisy = pair
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Identity()])
    from keras_perceptual.losses import CharbonnierLoss  # one value per image, like the metric

    model.compile(loss=CharbonnierLoss(), weighted_metrics=[PSNR()])  # Keras: weighted_metrics
    weights = np.float32([1.0, 0.0, 3.0])
    logs = model.evaluate(noisy, clean, sample_weight=weights, batch_size=3, verbose=0,
                          return_dict=True)
    values = numpy_psnr(clean, noisy)
    np.testing.assert_allclose(logs["psnr"], (values[0] + 3 * values[2]) / 4, rtol=1e-4)
    history = model.fit(noisy, clean, sample_weight=weights, batch_size=3, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["psnr"][0], logs["psnr"], rtol=1e-4)


@pytest.mark.parametrize("make,need", [
    (lambda: PSNR(), 1),
    (lambda: PSNR(crop_border=2), 5),
    (lambda: SSIM(), 11),
    (lambda: SSIM(filter_size=7, crop_border=1), 9),
    (lambda: LPIPS(net="alex", weights=None), 31),
    (lambda: LPIPS(net="vgg", weights=None), 16),
])  # fmt: skip
def test_min_image_size_is_the_smallest_size_the_metric_accepts(make, need):
    """What the training recipes check their crops against before anything is trained."""
    metric = make()
    assert metric.min_image_size == need
    metric.update_state(np.zeros((1, need, need, 3)), np.full((1, need, need, 3), 0.5))
    assert np.isfinite(float(metric.result()))
    if need > 1:
        with pytest.raises(InputError):
            metric.update_state(np.zeros((1, need - 1, need, 3)), np.zeros((1, need - 1, need, 3)))


def test_rgb_to_y_refuses_integer_and_non_rgb_images():
    """Were backend errors (AddV2 of uint32 and float; a broadcast of 4 against 3)."""
    with pytest.raises(InputError, match=r"images has dtype uint8; expected floating-point"):
        rgb_to_y(np.zeros((1, 2, 2, 3), "uint8"))
    with pytest.raises(InputError, match=r"images has 1 channels; expected 3"):
        rgb_to_y(np.zeros((1, 2, 2, 1), "float32"))
    np.testing.assert_allclose(to_numpy(rgb_to_y([[[1.0, 1.0, 1.0]]])) * 255, [[[235.0]]], rtol=1e-6)


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_metric_takes_one_weight_per_image_shaped_as_the_images(rng, name):
    # (batch, 1, 1) and (batch, 1, 1, 1) weights (one per image, broadcastable against the
    # images) passed the shape check, then failed in Keras' Mean (TensorFlow's "Rank of
    # input (4) must be no greater than rank of output shape (1)").
    a = rng.random((3, 16, 16, 3), dtype=np.float32)
    b = np.clip(a + rng.standard_normal(a.shape).astype(np.float32) * 0.1, 0, 1)
    weights = np.float32([0.5, 0.0, 2.0])
    metric = METRIC_FACTORIES[name]()
    metric.update_state(a, b, sample_weight=weights)
    expected = float(to_numpy(metric.result()))
    for shape in [(3, 1, 1), (3, 1, 1, 1)]:
        metric.reset_state()
        metric.update_state(a, b, sample_weight=weights.reshape(shape))
        np.testing.assert_allclose(float(to_numpy(metric.result())), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "mixed_float16"])
def test_16_bit_metric_keeps_a_float32_running_mean(rng, dtype):
    # Keras keeps a metric's total and count in its dtype: PSNR(dtype="float16") read inf
    # after about 1,600 images (total > 65504) and dtype="bfloat16" a wrong mean (46.25 for
    # 40.06 dB) once its count stopped at 2048. The result still comes back in dtype.
    import json

    a = rng.random((8, 8, 8, 3), dtype=np.float32)
    b = np.clip(a + rng.standard_normal(a.shape).astype(np.float32) * 0.01, 0, 1)
    metric = PSNR(dtype=dtype)
    reference = PSNR()
    reference.update_state(a, b)
    metric.total.assign(float(to_numpy(reference.total)) * 300)  # 2,400 images seen
    metric.count.assign(2400.0)
    metric.update_state(a, b)
    expected = float(to_numpy(reference.result()))
    value = metric.result()
    compute = keras.DTypePolicy(dtype).compute_dtype
    assert keras.backend.standardize_dtype(value.dtype) == compute
    np.testing.assert_allclose(float(to_numpy(keras.ops.cast(value, "float32"))), expected,
                               rtol=1e-2)
    assert float(to_numpy(metric.count)) == 2408.0
    config = json.loads(json.dumps(metric.get_config()))
    assert config["dtype"] == compute
    assert PSNR.from_config(config).result_dtype == compute
