"""LPIPS (losses/lpips.py): agreement with the reference package, formula, properties,
Keras conventions.

The reference numbers come from ``lpips.LPIPS`` 0.1.4 with seeded random torchvision
backbones (tests/fixtures/lpips_dists_reference.npz, written by
scripts/make_lpips_dists_fixture.py); here the same backbones are written as legacy
``.pth`` files and read without PyTorch. Tolerance: 1e-5 absolute per image / pixel
(float32); measured at most 4.2e-7.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import gradient, requires_tf, to_numpy
from torch_files import fixture_pair, reference_fixture

from keras_perceptual import LPIPS, LPIPSLoss, lpips
from keras_perceptual.errors import InputError
from keras_perceptual.losses.lpips import (
    LPIPS_SCALE,
    LPIPS_SHIFT,
    LPIPSNetwork,
    lpips_linear_weights,
    lpips_network,
)

TOLERANCE = 1e-5
NETS = {"alex": "alexnet", "vgg": "vgg16"}


@pytest.fixture(scope="module")
def fixture():
    return reference_fixture()


def pairs(fixture):
    return sorted({int(k[4:].split("_")[0]) for k in fixture if k.startswith("pair")})


def check_against_reference(fixture, net, version, indices, spatial=(False, True)):
    worst = 0.0
    weights = fixture[f"weights_{NETS[net]}"]
    for i in indices:
        y_true, y_pred = fixture_pair(fixture, i)
        for is_spatial in spatial:
            key = f"pair{i}_lpips_{net}_{version}" + ("_spatial" if is_spatial else "")
            ours = to_numpy(lpips(y_true, y_pred, net=net, version=version, weights=weights,
                                  spatial=is_spatial))[0]
            assert ours.shape == fixture[key].shape, key
            error = float(np.abs(ours - fixture[key]).max())
            assert error <= TOLERANCE, f"{key}: max |ours - lpips| = {error:.2e}"
            worst = max(worst, error)
    return worst


def test_matches_the_reference_package(fixture):
    """The default run (kept to a few seconds): two pairs of odd, different sizes with
    AlexNet; -m slow checks every pair of both nets and both versions."""
    check_against_reference(fixture, "alex", "0.1", [1, 6])
    check_against_reference(fixture, "alex", "0.0", [9], spatial=(False,))


@pytest.mark.slow
@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.parametrize("version", ["0.1", "0.0"])
def test_matches_the_reference_package_on_every_pair(fixture, net, version):
    worst = check_against_reference(fixture, net, version, pairs(fixture))
    print(f"LPIPS {net} v{version}: max abs difference {worst:.1e} over {len(pairs(fixture))} pairs")


def test_fixture_has_ten_or_more_pairs_of_odd_and_different_sizes(fixture):
    sizes = [fixture[f"pair{i}_true"].shape[:2] for i in pairs(fixture)]
    assert len(sizes) >= 10 and len(set(sizes)) == len(sizes)
    assert sum(h % 2 or w % 2 for h, w in sizes) >= 5
    values = [float(fixture[f"pair{i}_lpips_alex_0.1"]) for i in pairs(fixture)]
    assert max(values) > 5 * np.median(values) > 0  # distortions of different strength


# --- The formula, against numpy on the network's own features. ---


def numpy_lpips(features_true, features_pred, weights, spatial_size=None):
    total = 0.0
    for a, b, w in zip(features_true, features_pred, weights, strict=True):
        a = a / (np.sqrt((a**2).sum(-1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b**2).sum(-1, keepdims=True)) + 1e-10)
        total = total + (((a - b) ** 2) * w).sum(-1).mean((1, 2))
    return total


def test_per_image_value_is_equation_1(images, other_images):
    network = lpips_network("alex", "0.1", weights=None)
    scaled = [((x * 2 - 1) - np.float32(LPIPS_SHIFT)) / np.float32(LPIPS_SCALE)
              for x in (images, other_images)]
    raw = [network.backbone(x) for x in scaled]
    feats = [[to_numpy(r[t]) for t in network.taps] for r in raw]
    expected = numpy_lpips(*feats, lpips_linear_weights("alex", "0.1"))
    ours = to_numpy(LPIPSLoss("alex", weights=None, reduction=None)(images, other_images))
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_released_weights_are_shipped(tmp_path):
    for net, channels in (("vgg", (64, 128, 256, 512, 512)), ("alex", (64, 192, 384, 256, 256))):
        for version in ("0.1", "0.0"):
            weights = lpips_linear_weights(net, version)
            assert [w.shape for w in weights] == [(c,) for c in channels]
            assert all((w >= 0).all() for w in weights)  # the release clamps them at 0
    assert not np.allclose(lpips_linear_weights("vgg", "0.1")[0], lpips_linear_weights("vgg", "0.0")[0])


# --- Properties. ---


@pytest.mark.slow
def test_zero_for_identical_images_and_symmetric(images, other_images):
    loss = LPIPSLoss("alex", weights=None, reduction=None)
    x = np.concatenate([images, other_images])[:, :31, :33]
    np.testing.assert_array_equal(to_numpy(loss(x, x)), np.zeros(4, "float32"))
    a, b = x[:2], x[2:]
    np.testing.assert_allclose(to_numpy(loss(a, b)), to_numpy(loss(b, a)), rtol=1e-6)
    assert (to_numpy(loss(a, b)) > 0).all()


@pytest.mark.slow
def test_value_range_invariance(images, other_images):
    values = []
    for low, high in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        loss = LPIPSLoss("alex", weights=None, value_range=(low, high), reduction=None)
        values.append(to_numpy(loss(images * (high - low) + low, other_images * (high - low) + low)))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-5)
    np.testing.assert_allclose(values[2], values[0], rtol=1e-5)


@pytest.mark.slow
def test_gradients_are_finite_also_for_identical_and_flat_images(images, other_images):
    loss = LPIPSLoss("alex", weights=None)
    grad = gradient(lambda x: loss(other_images, x), images)
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    assert np.isfinite(gradient(lambda x: loss(images, x), images)).all()
    # A constant image (every feature of some layers zero) still gives a finite gradient.
    flat = np.full_like(images, 0.5)
    assert np.isfinite(gradient(lambda x: loss(flat, x), flat)).all()


@pytest.mark.slow
def test_spatial_map_averages_to_about_the_value(images, other_images):
    per_image = to_numpy(LPIPSLoss("alex", weights=None, reduction=None)(images, other_images))
    spatial = to_numpy(LPIPSLoss("alex", weights=None, spatial=True, reduction=None)(
        images[:, :, :31], other_images[:, :, :31]))
    assert spatial.shape == (2, 32, 31)
    assert (spatial >= 0).all()
    whole = to_numpy(lpips(images, other_images, weights=None, spatial=True))
    np.testing.assert_allclose(whole.mean((1, 2)), per_image, rtol=0.2)


# --- Keras conventions. ---


@pytest.mark.slow
def test_reductions_and_sample_weight(images, other_images):
    per_image = to_numpy(LPIPSLoss("alex", weights=None, reduction=None)(images, other_images))
    assert per_image.shape == (2,)
    loss = LPIPSLoss("alex", weights=None, reduction="sum")
    np.testing.assert_allclose(to_numpy(loss(images, other_images)), per_image.sum(), rtol=1e-5)
    loss = LPIPSLoss("alex", weights=None)
    sw = np.array([0.25, 2.0], "float32")
    np.testing.assert_allclose(to_numpy(loss(images, other_images, sample_weight=sw)),
                               (per_image * sw).mean(), rtol=1e-5)


def test_config_round_trip(images, other_images):
    loss = LPIPSLoss("alex", "0.0", weights=None, value_range=(-1, 1), spatial=True,
                     reduction="sum", name="perceptual")
    config = loss.get_config()
    assert {k: config[k] for k in ("net", "version", "weights", "spatial", "value_range")} == {
        "net": "alex", "version": "0.0", "weights": None, "spatial": True, "value_range": [-1.0, 1.0]}
    assert LPIPSLoss.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    a, b = images * 2 - 1, other_images * 2 - 1
    np.testing.assert_array_equal(to_numpy(revived(a, b)), to_numpy(loss(a, b)))


@pytest.mark.slow
def test_float32_under_mixed_precision(images, other_images):
    expected = to_numpy(LPIPSLoss("alex", weights=None, reduction=None)(images, other_images))
    keras.config.set_dtype_policy("mixed_float16")
    loss = LPIPSLoss("alex", weights=None, reduction=None)
    value = loss(images.astype("float16"), other_images.astype("float16"))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), expected, rtol=2e-3)


@pytest.mark.slow
def test_compile_fit_save_reload_same_loss_and_metric(tmp_path, images, other_images):
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=LPIPSLoss("alex", weights=None),
                  metrics=[LPIPS(weights=None)])
    history = model.fit(images, other_images, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    logs = model.evaluate(images, other_images, verbose=0, return_dict=True)
    predicted = to_numpy(model.predict(images, verbose=0))
    expected = to_numpy(lpips(other_images, predicted, weights=None)).mean()
    np.testing.assert_allclose(logs["lpips"], expected, rtol=1e-4)
    path = tmp_path / "model.keras"
    model.save(path)
    assert path.stat().st_size < 1_000_000  # the backbone is rebuilt, not saved
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded.loss, LPIPSLoss)
    again = reloaded.evaluate(images, other_images, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"], logs["loss"], rtol=1e-6)
    np.testing.assert_allclose(again["lpips"], logs["lpips"], rtol=1e-6)


@pytest.mark.slow
def test_metric_is_the_mean_over_images_and_weighted(images, other_images):
    per_image = to_numpy(lpips(images, other_images, weights=None))
    metric = LPIPS(weights=None)
    metric.update_state(images[:1], other_images[:1])
    metric.update_state(images[1:], other_images[1:], sample_weight=np.float32([3.0]))
    np.testing.assert_allclose(float(metric.result()), (per_image[0] + 3 * per_image[1]) / 4,
                               rtol=1e-5)
    config = metric.get_config()
    assert config == {"name": "lpips", "dtype": "float32", "net": "alex", "version": "0.1",
                      "weights": None, "value_range": [0.0, 1.0]}
    assert LPIPS.from_config(config).get_config() == config


@pytest.mark.slow
def test_function_form_single_images(images, other_images):
    value = to_numpy(lpips(images[0], other_images[0], weights=None))
    assert value.shape == ()
    assert to_numpy(lpips(images[0], other_images[0], weights=None, spatial=True)).shape == (32, 32)


# --- Errors. ---


@pytest.mark.parametrize("kwargs, match", [
    ({"net": "squeeze"}, "net must be one of 'vgg', 'alex'"),
    ({"version": "0.2"}, "version must be one of"),
    ({"weights": 3}, "weights must be 'imagenet', None or a path"),
    ({"weights": "/nonexistent/vgg16.pth"}, "does not exist"),
    ({"value_range": (1, 0)}, "value_range must satisfy low < high"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, match):
    with pytest.raises(InputError, match=match):
        LPIPSLoss(**{"weights": None, **kwargs})


def test_bad_images_are_refused_with_a_fix(images, other_images):
    loss = LPIPSLoss("alex", weights=None)
    with pytest.raises(InputError, match=r"same shape.*Received: y_true.shape=\(2, 32, 32, 3\)"):
        loss(images, other_images[:, :31])
    with pytest.raises(InputError, match=r"at least 31 px"):
        loss(images[:, :20], other_images[:, :20])
    with pytest.raises(InputError, match="expected 3 .RGB"):
        loss(images[..., :1].repeat(4, -1), other_images[..., :1].repeat(4, -1))
    with pytest.raises(InputError, match="dtype uint8"):
        loss((images * 255).astype("uint8"), other_images)


@pytest.mark.slow
@requires_tf
def test_first_use_inside_tf_function_then_eagerly(images, other_images):
    """A network first built inside a traced function must hold no tensors of that trace."""
    import tensorflow as tf

    built = []

    def distance(a, b):
        if not built:  # (tf.function traces twice when the first trace creates variables)
            built.append(LPIPSNetwork("alex", "0.0", weights=None))
        return built[0].distance(a, b)

    inside = to_numpy(tf.function(distance)(images, other_images))
    outside = to_numpy(built[0].distance(images, other_images))
    np.testing.assert_allclose(outside, inside, rtol=1e-6)


@pytest.mark.slow
def test_spatial_loss_reduces_with_sample_weight(images, other_images):
    maps = to_numpy(LPIPSLoss("alex", weights=None, spatial=True, reduction=None)(images, other_images))
    loss = LPIPSLoss("alex", weights=None, spatial=True)
    sw = np.array([0.5, 2.0], "float32")
    np.testing.assert_allclose(to_numpy(loss(images, other_images, sample_weight=sw)),
                               (maps * sw[:, None, None]).mean(), rtol=1e-5)


@pytest.mark.slow  # a torchvision VGG-16 each
@pytest.mark.parametrize("loss_class", ["LPIPSLoss", "DISTSLoss"])
def test_restored_without_its_weights_file_fails_at_first_use(tmp_path, loss_class):
    """Loading (from_config) never fails because the weights file is gone (issue 15)."""
    import keras_perceptual
    from keras_perceptual import WeightsUnavailableError

    cls = getattr(keras_perceptual, loss_class)
    config = {**cls(weights=None).get_config(), "weights": str(tmp_path / "gone.pth")}
    restored = cls.from_config(config)
    assert restored.get_config() == config
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    with pytest.raises(WeightsUnavailableError, match=r"(?s)gone\.pth.*recompile"):
        restored(x, x)
    with pytest.raises(InputError, match="net"):  # other bad settings still fail at load
        LPIPSLoss.from_config({**LPIPSLoss(weights=None).get_config(), "net": "resnet"})


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="jax.jit (run under KERAS_BACKEND=jax)")
def test_a_first_call_inside_jax_jit_builds_the_shared_network_with_concrete_weights():
    # lpips()/dists() build their network on the first call and cache it: built inside
    # jax.jit, its variables held the trace's tracers and every later call failed with
    # UnexpectedTracerError.
    import jax

    from keras_perceptual import dists
    from keras_perceptual.losses.dists import dists_network

    rng = np.random.default_rng(0)
    x, y = (rng.random((2, 32, 32, 3), dtype=np.float32) for _ in range(2))
    for function, network in ((lpips, lpips_network), (dists, dists_network)):
        network.cache_clear()
        traced = jax.jit(lambda a, b, f=function: f(a, b, weights=None))(x, y)
        np.testing.assert_allclose(to_numpy(function(x, y, weights=None)), to_numpy(traced),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_spatial_loss_takes_one_weight_per_image_of_any_rank(images, other_images):
    # A (batch, 1) weight on the (batch, H, W) maps was TensorFlow's "Incompatible shapes:
    # [2,16,16] vs. [2,1]"; (batch, 1, 1, 1) is one weight per image too.
    loss = LPIPSLoss("alex", weights=None, spatial=True, reduction=None)
    maps = to_numpy(loss(images, other_images))
    sw = np.array([0.5, 2.0], "float32")
    for shape in [(2, 1), (2, 1, 1, 1)]:
        np.testing.assert_allclose(
            to_numpy(loss(images, other_images, sample_weight=sw.reshape(shape))),
            maps * sw[:, None, None], rtol=1e-5)
