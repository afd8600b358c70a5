import warnings

import keras
import numpy as np
import pytest
from conftest import (
    BACKEND,
    gradient,
    numpy_gram,
    requires_tf,
    rewrite_keras_config,
    to_numpy,
)

from keras_perceptual import (
    PRESETS,
    FeatureExtractor,
    FeatureReconstructionLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    TotalVariationLoss,
    WeightsUnavailableError,
)
from keras_perceptual.ops import from_uint8
from keras_perceptual.precision import PrecisionWarning

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def features(layers, x, weights=None, value_range=(0, 1)):
    fx = FeatureExtractor(layers, weights=weights, value_range=value_range)
    return {k: to_numpy(v) for k, v in fx(x).items()}


@pytest.fixture(scope="module")
def style_image():
    return np.random.default_rng(1).random((40, 48, 3), dtype=np.float32)


@pytest.fixture
def seeded():
    keras.utils.set_random_seed(3)


# --- Formulas against numpy. ---


def test_feature_reconstruction_matches_numpy(images, other_images, seeded):
    loss = FeatureReconstructionLoss({"relu2_2": 1.0, "relu3_3": 0.5}, weights=None, reduction=None)
    keras.utils.set_random_seed(3)
    f = features(["relu2_2", "relu3_3"], np.concatenate([images, other_images]))
    expected = 0.0
    for layer, w in (("relu2_2", 1.0), ("relu3_3", 0.5)):
        a, b = f[layer][:2], f[layer][2:]
        _, h, wd, c = a.shape
        expected = expected + w * ((b - a) ** 2).sum((1, 2, 3)) / (c * h * wd)
    np.testing.assert_allclose(to_numpy(loss(images, other_images)), expected, rtol=1e-4)


@pytest.mark.parametrize("distance", ["l1", "charbonnier"])
def test_feature_distances(images, other_images, seeded, distance):
    epsilon = {"epsilon": 0.5} if distance == "charbonnier" else {}  # l1 refuses it
    loss = FeatureReconstructionLoss("relu1_2", distance=distance, weights=None,
                                     reduction=None, **epsilon)
    keras.utils.set_random_seed(3)
    f = features("relu1_2", np.concatenate([images, other_images]))["relu1_2"]
    d = f[2:] - f[:2]
    ref = np.abs(d) if distance == "l1" else np.sqrt(d**2 + 0.25)
    np.testing.assert_allclose(to_numpy(loss(images, other_images)), ref.mean((1, 2, 3)),
                               rtol=1e-4)


def test_style_loss_with_style_image_matches_numpy(images, style_image, seeded):
    loss = StyleReconstructionLoss(STYLE_LAYERS, style_image=style_image, weights=None,
                                   reduction=None)
    keras.utils.set_random_seed(3)
    f_pred = features(STYLE_LAYERS, images)
    keras.utils.set_random_seed(3)
    f_style = features(STYLE_LAYERS, style_image[None])
    expected = sum(
        ((numpy_gram(f_pred[k]) - numpy_gram(f_style[k])) ** 2).sum((1, 2)) for k in STYLE_LAYERS
    )
    np.testing.assert_allclose(to_numpy(loss(images, images)), expected, rtol=2e-3)


@pytest.mark.parametrize("normalization,distance", [("hw", "mse"), ("none", "squared_frobenius")])
def test_style_conventions(images, other_images, seeded, normalization, distance):
    loss = StyleReconstructionLoss("relu1_2", gram_normalization=normalization, style_distance=distance,
                                   weights=None, reduction=None)
    keras.utils.set_random_seed(3)
    f = features("relu1_2", np.concatenate([images, other_images]))["relu1_2"]
    sq = (numpy_gram(f[:2], normalization) - numpy_gram(f[2:], normalization)) ** 2
    ref = sq.mean((1, 2)) if distance == "mse" else sq.sum((1, 2))
    np.testing.assert_allclose(to_numpy(loss(other_images, images)), ref, rtol=2e-3)


def test_style_target_y_true_of_another_size(images, rng):
    loss = StyleReconstructionLoss("relu2_2", weights=None, reduction=None)
    target = rng.random((2, 48, 24, 3), dtype=np.float32)
    value = to_numpy(loss(target, images))
    assert value.shape == (2,) and np.all(value > 0)
    assert to_numpy(loss(images, images)).max() < 1e-6 * value.max()


def test_total_variation_loss_matches_tf_image_on_rescaled_input(rng):
    tf = pytest.importorskip("tensorflow")
    x = rng.random((2, 8, 8, 5), dtype=np.float32)  # any channel count
    expected = tf.image.total_variation(tf.constant(x)).numpy()
    ours = TotalVariationLoss(reduction=None)(x, x)
    np.testing.assert_allclose(to_numpy(ours), expected, rtol=1e-5)
    ranged = TotalVariationLoss(value_range=(-1, 1), reduction=None)(x * 2 - 1, x * 2 - 1)
    np.testing.assert_allclose(to_numpy(ranged), expected, rtol=1e-5)


def test_perceptual_loss_is_the_weighted_sum(images, other_images, style_image, seeded):
    kw = dict(weights=None, reduction=None)
    total = PerceptualLoss(style_image=style_image, content_weight=2.0, style_weight=3.0,
                           tv_weight=0.1, pixel_weight=5.0, **kw)
    keras.utils.set_random_seed(3)
    content = FeatureReconstructionLoss("relu2_2", **kw)
    keras.utils.set_random_seed(3)
    style = StyleReconstructionLoss(STYLE_LAYERS, style_image=style_image, **kw)
    tv = TotalVariationLoss(reduction=None)
    pixel = ((images - other_images) ** 2).mean((1, 2, 3))
    expected = (2 * to_numpy(content(other_images, images)) + 3 * to_numpy(style(other_images, images))
                + 0.1 * to_numpy(tv(other_images, images)) + 5 * pixel)
    np.testing.assert_allclose(to_numpy(total(other_images, images)), expected, rtol=2e-3)
    terms = total.compute_terms(other_images, images)
    assert {"content", "style", "tv", "pixel", "content/relu2_2", "style/relu4_3"} <= set(terms)


def test_every_term_is_range_invariant(images, other_images, style_image, seeded):
    loss01 = PerceptualLoss(style_image=style_image, pixel_weight=1.0, weights=None, reduction=None)
    keras.utils.set_random_seed(3)
    loss11 = PerceptualLoss(style_image=style_image * 2 - 1, pixel_weight=1.0, weights=None,
                            value_range=(-1, 1), reduction=None)
    a = to_numpy(loss01(images, other_images))
    b = to_numpy(loss11(images * 2 - 1, other_images * 2 - 1))
    np.testing.assert_allclose(a, b, rtol=1e-3)


def test_default_is_the_papers_setting():
    loss = PerceptualLoss(weights=None)
    assert loss.content_layers == {"relu2_2": 1.0}
    assert list(loss.style_layers) == list(STYLE_LAYERS)
    assert loss.tv_weight > 0 and loss.style_weight > 0 and loss.content_weight == 1.0
    assert loss.gram_normalization == "chw" and loss.style_distance == "squared_frobenius"


# --- Keras semantics. ---


def test_reductions_and_sample_weight(images, other_images, seeded):
    per_image = to_numpy(FeatureReconstructionLoss("relu1_2", weights=None, reduction=None)(
        images, other_images))
    for reduction, expected in (("sum", per_image.sum()), ("sum_over_batch_size", per_image.mean())):
        keras.utils.set_random_seed(3)
        loss = FeatureReconstructionLoss("relu1_2", weights=None, reduction=reduction)
        np.testing.assert_allclose(to_numpy(loss(images, other_images)), expected, rtol=1e-5)
    keras.utils.set_random_seed(3)
    loss = FeatureReconstructionLoss("relu1_2", weights=None)
    sw = np.array([0.25, 2.0], "float32")
    np.testing.assert_allclose(to_numpy(loss(images, other_images, sample_weight=sw)),
                               (per_image * sw).mean(), rtol=1e-5)


@pytest.mark.parametrize("cls", [FeatureReconstructionLoss, StyleReconstructionLoss,
                                 PerceptualLoss, TotalVariationLoss])
def test_config_round_trip(cls, images, other_images):
    kwargs = {} if cls is TotalVariationLoss else {"weights": None}
    keras.utils.set_random_seed(5)
    loss = cls(reduction="sum", value_range=(-1, 1), **kwargs)
    config = loss.get_config()
    keras.utils.set_random_seed(5)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"].startswith("keras_perceptual>")
    keras.utils.set_random_seed(5)
    revived = keras.saving.deserialize_keras_object(serialized)
    a, b = images * 2 - 1, other_images * 2 - 1
    np.testing.assert_allclose(to_numpy(loss(a, b)), to_numpy(revived(a, b)), rtol=1e-6)


def test_style_image_config_stores_pixels_never_a_path(tmp_path, style_image):
    # Changed in the second round (DESIGN.md): a path in the config made saved models
    # unloadable where the file is absent; the config holds the pixels at the size used.
    from PIL import Image

    path = tmp_path / "style.png"
    Image.fromarray((style_image * 255).astype("uint8")).save(path)
    from_path = PerceptualLoss(style_image=str(path), weights=None)
    stored = np.asarray(from_path.get_config()["style_image"], "float32")
    pixels = np.asarray(Image.open(path), np.float32)
    np.testing.assert_array_equal(stored, from_uint8(pixels))
    keras.utils.set_random_seed(11)
    from_pixels = PerceptualLoss(style_image=style_image, weights=None)
    stored = np.asarray(from_pixels.get_config()["style_image"], "float32")
    np.testing.assert_array_equal(stored, style_image)  # exact, in the shortest decimal form
    keras.utils.set_random_seed(11)
    revived = PerceptualLoss.from_config(from_pixels.get_config())
    for layer in STYLE_LAYERS:
        np.testing.assert_allclose(to_numpy(revived.style_grams[layer]),
                                   to_numpy(from_pixels.style_grams[layer]), rtol=1e-6)


def test_compile_fit_save_reload_same_loss(tmp_path, images, other_images, style_image,
                                           standin_weights):
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    loss = PerceptualLoss(style_image=style_image, weights=standin_weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    history = model.fit(images, other_images, batch_size=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    path = tmp_path / "model.keras"
    model.save(path)
    # The loss network is rebuilt from the loss config, not written into every checkpoint.
    assert path.stat().st_size < 1_000_000
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded.loss, PerceptualLoss)
    np.testing.assert_allclose(
        reloaded.evaluate(images, other_images, verbose=0),
        model.evaluate(images, other_images, verbose=0),
        rtol=1e-5,
    )


def test_random_weights_are_reproducible(images, other_images):
    a = to_numpy(PerceptualLoss(weights=None, reduction=None)(images, other_images))
    b = to_numpy(PerceptualLoss(weights=None, reduction=None)(images, other_images))
    np.testing.assert_array_equal(a, b)


# --- Speed properties. ---


def test_one_shared_truncated_backbone(style_image):
    loss = PerceptualLoss(content_layers="relu2_2", style_layers=STYLE_LAYERS,
                          style_image=style_image, weights=None)
    names = [layer.name for layer in loss.networks.extractor.layers]
    assert names[-1] == "block4_conv3"
    # y_true only as deep as the content layer, on the same layer objects.
    true_names = [layer.name for layer in loss.networks.target.layers]
    assert true_names[-1] == "block2_conv2"
    assert loss.networks.target.get_layer("block1_conv1") is loss.networks.extractor.get_layer("block1_conv1")
    sr = PerceptualLoss.from_preset("johnson2016_sr", weights=None)
    assert [layer.name for layer in sr.networks.extractor.layers][-1] == "block2_conv2"


def test_style_grams_computed_once(images, style_image):
    loss = PerceptualLoss(style_image=style_image, weights=None)
    grams = {k: to_numpy(v) for k, v in loss.style_grams.items()}
    assert grams["relu1_2"].shape == (1, 64, 64) and grams["relu4_3"].shape == (1, 512, 512)
    calls = {"n": 0}
    original = loss.networks.extractor.submodel

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    loss.networks.extractor.submodel = counting
    for _ in range(4):
        loss(images, images)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="sigmoid")(inputs))
    model.compile("adam", loss=loss)
    model.fit(images, images, epochs=2, verbose=0)
    assert loss.style_gram_computations == 1 and calls["n"] == 0


def test_gradients_reach_y_pred_only(images, other_images, style_image):
    loss = PerceptualLoss(style_image=style_image, weights=None, pixel_weight=1.0)
    g_pred = gradient(lambda p: loss(other_images, p), images)
    assert np.all(np.isfinite(g_pred)) and np.abs(g_pred).max() > 0
    g_true = gradient(lambda t: loss(t, images), other_images)
    # Only the pixel term sees y_true; the feature terms pass no gradient to it.
    no_pixel = PerceptualLoss(style_image=style_image, weights=None)
    g_true_features = gradient(lambda t: no_pixel(t, images), other_images)
    assert g_true_features is None or np.abs(g_true_features).max() == 0
    assert g_true is not None and np.abs(g_true).max() > 0


def test_float32_under_mixed_precision(images, other_images, style_image):
    keras.utils.set_random_seed(7)
    reference = to_numpy(PerceptualLoss(style_image=style_image, weights=None)(images, other_images))
    for policy in ("mixed_float16", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(7)
        loss = PerceptualLoss(style_image=style_image, weights=None)
        value = loss(images, other_images.astype("float16"))
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        np.testing.assert_allclose(to_numpy(value), reference, rtol=2e-3)
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("backbone_dtype", ["mixed_bfloat16", "mixed_float16"])
def test_low_precision_backbone_is_opt_in_and_close(images, other_images, style_image,
                                                     backbone_dtype):
    kwargs = dict(style_image=style_image, weights=None, reduction=None)
    reference = to_numpy(PerceptualLoss(**kwargs)(images, other_images))
    with warnings.catch_warnings():  # emulated on CPUs without 16-bit units: test_precision.py
        warnings.simplefilter("ignore", PrecisionWarning)
        loss = PerceptualLoss(backbone_dtype=backbone_dtype, **kwargs)
    assert loss.networks.extractor.get_layer("block1_conv1").compute_dtype != "float32"
    value = loss(images, other_images)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(value), reference, rtol=0.1)
    assert PerceptualLoss.from_config(loss.get_config()).backbone_dtype == backbone_dtype
    with pytest.raises(ValueError, match="backbone_dtype must be one of"):
        PerceptualLoss(backbone_dtype="int8", weights=None)


@requires_tf
def test_jit_compile_fit(images, other_images, style_image):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile("adam", loss=PerceptualLoss(style_image=style_image, weights=None),
                  jit_compile=True)
    history = model.fit(images, other_images, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.skipif(BACKEND != "jax", reason="JAX-specific jit check")
def test_inside_jax_jit(images, other_images, style_image):
    import jax

    loss = PerceptualLoss(style_image=style_image, weights=None)
    jitted = jax.jit(lambda t, p: loss(t, p))
    np.testing.assert_allclose(float(jitted(images, other_images)),
                               float(loss(images, other_images)), rtol=1e-4)


# --- Presets. ---


def test_presets():
    assert set(PRESETS) >= {"johnson2016", "johnson2016_code", "pytorch_examples"}
    code = PerceptualLoss.from_preset("johnson2016_code", weights=None)
    assert code.content_layers == {"relu3_3": 1.0} and code.style_distance == "mse"
    assert code.style_weight == 5.0 and code.tv_power == 2.0
    torch_like = PerceptualLoss.from_preset("pytorch_examples", weights=None, tv_weight=1e-3)
    assert torch_like.tv_weight == 1e-3 and torch_like.style_distance == "mse"
    with pytest.raises(ValueError, match="Unknown preset 'paper'.*johnson2016"):
        PerceptualLoss.from_preset("paper")


# --- Bad input: every message says what, what was expected and how to fix it. ---


@pytest.fixture(scope="module")
def content_loss():
    return FeatureReconstructionLoss("relu2_2", weights=None)


def test_bad_image_shapes(content_loss, images):
    with pytest.raises(ValueError, match="rank-4.*images\\[None\\]"):
        content_loss(images[0], images[0])
    with pytest.raises(ValueError, match="1 channels; expected 3.*grayscale"):
        content_loss(images[..., :1], images[..., :1])
    with pytest.raises(ValueError, match="4 channels; expected 3.*alpha"):
        rgba = np.concatenate([images, images[..., :1]], -1)
        content_loss(rgba, rgba)
    with pytest.raises(ValueError, match="same shape.*resize or crop"):
        content_loss(images[:, :16], images)
    with pytest.raises(ValueError, match="at least 8 px.*relu4_3"):
        PerceptualLoss(weights=None)(images[:, :4, :4], images[:, :4, :4])


def test_integer_images_are_refused(content_loss, images):
    as_uint8 = (images * 255).astype("uint8")
    with pytest.raises(ValueError, match="dtype uint8; expected floating-point.*/ 255"):
        content_loss(images, as_uint8)
    with pytest.raises(ValueError, match="y_true has dtype int32"):
        content_loss(as_uint8.astype("int32"), images)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"content_layers": []}, "content_layers is empty"),
        ({"style_layers": ["relu9_9"]}, "Unknown vgg16 layer 'relu9_9'"),
        ({"style_weight": -1.0}, "style_weight must be a finite number >= 0"),
        ({"content_layers": {"relu2_2": -0.5}}, r"content_layers\['relu2_2'\]"),
        ({"tv_weight": float("nan")}, "tv_weight must be a finite number"),
        # float(True) is 1.0: a boolean is no weight, Python's or numpy's
        ({"tv_weight": True}, "tv_weight must be a number >= 0.*Received: tv_weight=True"),
        ({"style_weight": "1e5"}, "style_weight must be a number >= 0.*Received: style_weight='1e5'"),
        ({"content_layers": {"relu2_2": np.True_}}, r"content_layers\['relu2_2'\] must be a number"),
        ({"value_range": (1.0, 1.0)}, "low < high"),
        ({"backbone": "vgg11"}, "backbone must be one of"),
        ({"content_distance": "l3"}, "distance must be one of 'l2', 'l1', 'charbonnier'"),
        ({"gram_normalization": "c"}, "gram_normalization must be one of"),
        ({"style_distance": "fro"}, "style_distance must be one of"),
        ({"weights": "/no/such/file.h5"}, "/no/such/file.h5"),
        ({"weights": 3}, "weights must be"),
        ({"reduction": "avg"}, "reduction"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        PerceptualLoss(**{"weights": None, **kwargs})


@pytest.mark.parametrize("cls", [FeatureReconstructionLoss, StyleReconstructionLoss])
def test_one_term_loss_without_layers_is_refused(cls):
    # layers=None switches PerceptualLoss's terms off; here it made a loss that is 0 always
    with pytest.raises(ValueError, match="layers must be a layer name.*Received: layers=None"):
        cls(layers=None, weights=None)


def test_bad_style_images(tmp_path, style_image):
    with pytest.raises(ValueError, match="dtype uint8"):
        PerceptualLoss(style_image=(style_image * 255).astype("uint8"), weights=None)
    with pytest.raises(ValueError, match=r"outside value_range=\(0.0, 1.0\).*/ 255"):
        PerceptualLoss(style_image=style_image * 255, weights=None)
    with pytest.raises(ValueError, match="one RGB image"):
        PerceptualLoss(style_image=np.stack([style_image] * 2), weights=None)
    with pytest.raises(ValueError, match="does not exist"):
        PerceptualLoss(style_image=str(tmp_path / "missing.jpg"), weights=None)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="Could not read"):
        PerceptualLoss(style_image=str(bad), weights=None)
    with pytest.raises(ValueError, match="at least 8 px"):
        PerceptualLoss(style_image=style_image[:4, :4], weights=None)


def test_total_variation_bad_input(images):
    with pytest.raises(ValueError, match="rank-4"):
        TotalVariationLoss()(images[0], images[0])
    with pytest.raises(ValueError, match="power must be"):
        TotalVariationLoss(power=0)
    with pytest.raises(TypeError):
        TotalVariationLoss(weights=None)  # no backbone, no weights argument


# --- The engine: one validated settings object, thin constructors, extension points. ---


@pytest.mark.parametrize("cls", [FeatureReconstructionLoss, StyleReconstructionLoss,
                                 PerceptualLoss])
def test_attributes_and_config_are_the_constructor_arguments(cls):
    import inspect
    from collections.abc import Mapping

    def plain(value):
        return dict(value) if isinstance(value, Mapping) else (
            list(value) if isinstance(value, tuple) else value)

    loss = cls(weights=None, style_weight=0.0) if cls is PerceptualLoss else cls(weights=None)
    arguments = set(inspect.signature(cls.__init__).parameters) - {"self"}
    arguments -= set(cls.RENAMED_ARGUMENTS)  # deprecated aliases: not in the config
    assert set(loss.get_config()) == arguments
    for argument in arguments - {"reduction", "name", "dtype"}:
        assert plain(getattr(loss, argument)) == loss.get_config()[argument], argument


def test_settings_are_validated_once_and_frozen(monkeypatch):
    import dataclasses

    from keras_perceptual.losses import perceptual

    calls = []
    original = perceptual.layer_weights
    monkeypatch.setattr(perceptual, "layer_weights",
                        lambda layers, name: calls.append(name) or original(layers, name))
    loss = FeatureReconstructionLoss({"relu1_2": 0.5}, weights=None)
    assert calls == ["layers"]  # once per input, named as the user typed it
    calls.clear()
    PerceptualLoss(weights=None, style_weight=0.0)
    assert calls == ["content_layers", "style_layers"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.settings.content_weight = 2.0
    with pytest.raises(ValueError, match=r"layers\['relu1_2'\] must be a finite number"):
        FeatureReconstructionLoss({"relu1_2": -1.0}, weights=None)
    with pytest.raises(ValueError, match="distance must be one of"):
        StyleReconstructionLoss(style_distance="fro", weights=None)


def test_per_image_style_targets_from_several_style_images(images, rng):
    """Targets of a set of style images are stacked once; each image may select its own."""
    from keras_perceptual.losses.perceptual import perceptual_terms, style_targets

    styles = [rng.random((1, 40, 48, 3), dtype=np.float32),
              rng.random((1, 32, 36, 3), dtype=np.float32)]
    keras.utils.set_random_seed(4)
    loss = StyleReconstructionLoss("relu2_2", weights=None, reduction=None)
    targets = style_targets(loss.settings, loss.networks.extractor, styles)
    assert targets["relu2_2"].shape == (2, 128, 128)
    chosen = {k: keras.ops.take(v, [1, 0], axis=0) for k, v in targets.items()}
    per_image = to_numpy(perceptual_terms(loss.settings, loss.networks, images, images,
                                          chosen)["style"])
    for index, style in ((0, styles[1]), (1, styles[0])):
        keras.utils.set_random_seed(4)
        single = StyleReconstructionLoss("relu2_2", style_image=style, weights=None,
                                         reduction=None)
        np.testing.assert_allclose(per_image[index], to_numpy(single(images, images))[index],
                                   rtol=1e-5)


def test_a_new_style_distance_is_one_registry_entry(monkeypatch, images, style_image):
    from keras import ops

    from keras_perceptual.losses.perceptual import STYLE_DISTANCE_FUNCTIONS, StyleDistance

    def mean_features(features, settings):
        return ops.mean(features, axis=(1, 2))

    def compare(features_pred, target, settings):
        return ops.sum(ops.square(mean_features(features_pred, settings) - target), axis=-1)

    monkeypatch.setitem(STYLE_DISTANCE_FUNCTIONS, "mean_features",
                        StyleDistance(mean_features, compare))
    keras.utils.set_random_seed(3)
    loss = StyleReconstructionLoss("relu1_2", style_image=style_image, style_distance="mean_features",
                                   weights=None, reduction=None)
    keras.utils.set_random_seed(3)
    f_pred = features("relu1_2", images)["relu1_2"].mean((1, 2))
    keras.utils.set_random_seed(3)
    f_style = features("relu1_2", style_image[None])["relu1_2"].mean((1, 2))
    np.testing.assert_allclose(to_numpy(loss(images, images)),
                               ((f_pred - f_style) ** 2).sum(-1), rtol=1e-4)


# --- A set of style images (multi-style training, Dumoulin et al. 2017) ---


@pytest.fixture(scope="module")
def three_styles():
    rng = np.random.default_rng(11)
    return [rng.random((40, 48, 3), dtype=np.float32),
            rng.random((32, 36, 3), dtype=np.float32) ** 2,
            rng.random((36, 36, 3), dtype=np.float32) ** 0.5]


def test_style_images_mixed_batch_equals_single_style_losses(three_styles, rng):
    from keras_perceptual.losses import pack_style_targets

    photos = rng.random((3, 32, 32, 3), dtype=np.float32)
    stylized = rng.random((3, 32, 32, 3), dtype=np.float32)
    choice = [2, 0, 1]
    small = {"style_layers": ["relu1_2", "relu2_2"], "weights": None}
    loss = PerceptualLoss(style_images=three_styles, reduction=None, **small)
    assert loss.num_styles == 3 and loss.style_gram_computations == 1
    assert loss.networks.target_layers == ("relu2_2",)  # y_true only as deep as the content
    y_true = pack_style_targets(photos, np.eye(3, dtype="float32")[choice])
    assert tuple(y_true.shape) == (3, 32, 32, 6)
    mixed = to_numpy(loss(y_true, stylized))
    singles = [PerceptualLoss(style_image=s, reduction=None, **small) for s in three_styles]
    expected = [to_numpy(singles[k](photos, stylized))[i] for i, k in enumerate(choice)]
    np.testing.assert_allclose(mixed, expected, rtol=1e-5)
    total = PerceptualLoss(style_images=three_styles, reduction="sum", **small)
    np.testing.assert_allclose(to_numpy(total(y_true, stylized)), np.sum(expected), rtol=1e-5)


def test_style_images_blend_targets_the_blended_grams(three_styles, images):
    from keras_perceptual.losses import pack_style_targets

    loss = StyleReconstructionLoss("relu1_2", style_images=three_styles, weights=None,
                                   reduction=None)
    weights = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]], "float32")
    f_pred = features("relu1_2", images)["relu1_2"]
    grams = [numpy_gram(features("relu1_2", s[None])["relu1_2"])[0] for s in three_styles]
    target = np.einsum("bn,nij->bij", weights, np.stack(grams))
    expected = ((numpy_gram(f_pred) - target) ** 2).sum((1, 2))
    value = loss(pack_style_targets(images, weights), images)
    np.testing.assert_allclose(to_numpy(value), expected, rtol=2e-3)


@pytest.mark.slow  # a first fit traces the loss network: ~10-20 s on 2 cores
def test_style_images_train_and_reload_with_a_multi_style_net(tmp_path, three_styles, rng):
    from keras_perceptual import multi_style_transfer_net
    from keras_perceptual.losses import pack_style_targets

    model = multi_style_transfer_net(3, filters=4, num_residual_blocks=1)
    model.compile(optimizer="adam", jit_compile=False,
                  loss=PerceptualLoss(style_images=three_styles, weights=None))
    photos = rng.random((4, 32, 32, 3), dtype=np.float32)
    weights = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    x, y = {"image": photos, "style_weights": weights}, pack_style_targets(photos, weights)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "multi.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    assert restored.loss.num_styles == 3
    np.testing.assert_allclose(restored.loss.style_images[1], three_styles[1])
    np.testing.assert_allclose(restored.evaluate(x, y, verbose=0, batch_size=4),
                               model.evaluate(x, y, verbose=0, batch_size=4), rtol=1e-5)


def test_style_images_bad_arguments(three_styles, images):
    with pytest.raises(ValueError, match="not both"):
        PerceptualLoss(style_image=three_styles[0], style_images=three_styles, weights=None)
    with pytest.raises(ValueError, match="non-empty list"):
        StyleReconstructionLoss(style_images=[], weights=None)
    with pytest.raises(ValueError, match=r"style_images\[1\] .*dtype uint8"):
        StyleReconstructionLoss(style_images=[three_styles[0], np.zeros((8, 8, 3), "uint8")],
                                weights=None)
    loss = StyleReconstructionLoss(style_images=three_styles, weights=None)
    with pytest.raises(ValueError, match=r"\(batch, H, W, 6\).*pack_style_targets"):
        loss(images, images)


# --- style_distance="sliced_wasserstein" (Heitz et al. 2021). ---


def sw_reference(layers, pred, style, num_projections, seed=0):
    """Per image, sum over layers of ops.sliced_wasserstein on the extractor's features
    (the formula itself is checked against numpy in test_ops)."""
    from keras_perceptual.ops import (
        sliced_wasserstein,
        sliced_wasserstein_directions,
        sorted_projections,
    )

    f_pred, f_style = features(layers, pred), features(layers, style)
    total = 0.0
    for layer in layers:
        d = sliced_wasserstein_directions(f_pred[layer].shape[-1], num_projections, seed)
        total = total + to_numpy(sliced_wasserstein(f_pred[layer], sorted_projections(
            f_style[layer], d), d))
    return total


@pytest.mark.slow
def test_sliced_wasserstein_style_loss_with_a_style_image(images, style_image):
    layers = ("relu1_2", "relu2_2")
    loss = StyleReconstructionLoss(layers, style_image=style_image, style_distance="sliced_wasserstein",
                                   num_projections=8, seed=4, weights=None, reduction=None)
    expected = sw_reference(layers, images, style_image[None], 8, seed=4)
    np.testing.assert_allclose(to_numpy(loss(images, images)), expected, rtol=1e-5)
    # The style's sorted projections are computed once: (1, K, H*W) constants.
    assert tuple(loss.style_grams["relu1_2"].shape) == (1, 8, 40 * 48)
    same = StyleReconstructionLoss(layers, style_image=images[0], style_distance="sliced_wasserstein",
                                   num_projections=8, weights=None, reduction=None)
    np.testing.assert_allclose(to_numpy(same(images, images[:1])), 0.0, atol=1e-9)
    # Against y_true (any size) instead of a style image; 0 for the same image.
    from_y_true = StyleReconstructionLoss(layers, style_distance="sliced_wasserstein", weights=None,
                                          reduction=None)
    np.testing.assert_allclose(to_numpy(from_y_true(images, images)), [0.0, 0.0], atol=1e-9)
    assert (to_numpy(from_y_true(style_image[None], images)) > 0).all()


def test_sliced_wasserstein_config_round_trip_and_errors(images, style_image):
    loss = StyleReconstructionLoss("relu1_2", style_image=style_image[:16, :16],
                                   style_distance="sliced_wasserstein", num_projections=4, seed=9,
                                   weights=None, reduction=None)
    config = loss.get_config()
    assert (config["style_distance"], config["num_projections"], config["seed"]) == (
        "sliced_wasserstein", 4, 9)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert revived.get_config() == config
    x = images[:, :16, :16]
    np.testing.assert_array_equal(to_numpy(revived(x, x)), to_numpy(loss(x, x)))
    other = StyleReconstructionLoss("relu1_2", style_image=style_image[:16, :16], seed=10,
                                    style_distance="sliced_wasserstein", num_projections=4,
                                    weights=None, reduction=None)
    assert not np.allclose(to_numpy(other(x, x)), to_numpy(loss(x, x)))  # the seed matters
    with pytest.raises(ValueError, match="num_projections must be an integer >= 1"):
        StyleReconstructionLoss(style_distance="sliced_wasserstein", num_projections=0, weights=None)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*31\)"):
        PerceptualLoss(style_distance="sliced_wasserstein", seed=-1, weights=None)


# --- A distance's own settings, given with another distance, are refused. ---


@pytest.mark.parametrize("cls", [StyleReconstructionLoss, PerceptualLoss])
def test_settings_the_chosen_distance_ignores_are_refused(cls):
    """num_projections and seed with a Gram distance were silently ignored (and
    gram_normalization with the sliced Wasserstein one, epsilon without Charbonnier)."""
    from keras_perceptual.errors import InputError
    from keras_perceptual.losses.perceptual import TermSettings

    for distance in ("squared_frobenius", "mse"):
        for setting in ({"num_projections": 8}, {"seed": 3}):
            (field, value), = setting.items()
            with pytest.raises(InputError, match=(
                    rf"{field} applies only with style_distance='sliced_wasserstein', so it "
                    rf"would be ignored with style_distance='{distance}'.*"
                    rf"Received: {field}={value}")):
                cls(style_distance=distance, weights=None, **setting)
    with pytest.raises(InputError, match=r"gram_normalization applies only with "
                       r"style_distance='squared_frobenius' or style_distance='mse'"):
        cls(style_distance="sliced_wasserstein", gram_normalization="hw", weights=None)
    # The defaults, as every stored config holds them, and the distances' own settings pass.
    cls(style_distance="mse", num_projections=None, seed=0, gram_normalization="hw",
        weights=None)
    sw = cls(style_distance="sliced_wasserstein", num_projections=8, seed=3,
             gram_normalization="chw", weights=None)
    assert (sw.num_projections, sw.seed) == (8, 3)
    with pytest.raises(InputError, match=r"epsilon applies only with "
                       r"content_distance='charbonnier'.*Received: epsilon=0.5"):
        PerceptualLoss(content_distance="l1", epsilon=0.5, weights=None)
    with pytest.raises(InputError, match=r"epsilon applies only with distance='charbonnier', "
                       r"so it would be ignored with distance='l2'"):
        FeatureReconstructionLoss(epsilon=0.5, weights=None)
    assert FeatureReconstructionLoss(distance="charbonnier", epsilon=0.5,
                                     weights=None).epsilon == 0.5
    with pytest.raises(InputError, match="num_projections applies only"):
        TermSettings(style_layers="relu1_2", style_weight=1.0, num_projections=4, weights=None)


# --- style_distance= (DESIGN.md) and its deprecated alias distance=. ---


def test_style_distance_is_the_argument_and_distance_a_deprecated_alias(images, other_images):
    from keras_perceptual.errors import InputError

    loss = StyleReconstructionLoss("relu1_2", style_distance="mse", weights=None, reduction=None)
    assert loss.style_distance == "mse" and loss.settings.style_distance == "mse"
    config = loss.get_config()
    assert config["style_distance"] == "mse" and "distance" not in config
    # Same position as the old `distance`: positional callers keep working.
    positional = StyleReconstructionLoss("relu1_2", None, "chw", "mse", weights=None,
                                         reduction=None)
    assert positional.style_distance == "mse"
    expected = to_numpy(loss(images, other_images))
    with pytest.warns(DeprecationWarning, match="distance= is deprecated.*use style_distance="):
        alias = StyleReconstructionLoss("relu1_2", distance="mse", weights=None, reduction=None)
    assert alias.style_distance == "mse" and alias.get_config() == config
    np.testing.assert_array_equal(to_numpy(alias(images, other_images)), expected)
    with pytest.warns(DeprecationWarning):
        same = StyleReconstructionLoss("relu1_2", style_distance="mse", distance="mse",
                                       weights=None)
    assert same.style_distance == "mse"
    # Both, different values: refused, even when style_distance is given as the default value.
    for given, old in (("mse", "squared_frobenius"), ("squared_frobenius", "mse")):
        with pytest.warns(DeprecationWarning), pytest.raises(
                InputError, match=f"give only style_distance.*style_distance='{given}', "
                                  f"distance='{old}'"):
            StyleReconstructionLoss(style_distance=given, distance=old, weights=None)
    with pytest.raises(InputError, match="style_distance must be one of"):
        StyleReconstructionLoss(style_distance="fro", weights=None)


def test_configs_saved_with_the_old_distance_key_still_load(images, other_images):
    loss = StyleReconstructionLoss("relu1_2", style_distance="mse", weights=None, reduction=None)
    old = loss.get_config()
    old["distance"] = old.pop("style_distance")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old key loads without a deprecation warning
        revived = StyleReconstructionLoss.from_config(old)
        deserialized = keras.saving.deserialize_keras_object(
            {**keras.saving.serialize_keras_object(loss), "config": old})
    for restored in (revived, deserialized):
        assert restored.style_distance == "mse"
        assert restored.get_config() == loss.get_config()
        np.testing.assert_array_equal(to_numpy(restored(images, other_images)),
                                      to_numpy(loss(images, other_images)))


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_style_distance_save_reload_and_old_saved_model(tmp_path, images, other_images):
    loss = StyleReconstructionLoss("relu1_2", style_distance="mse", weights=None)
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    model.compile(optimizer="adam", loss=loss)
    before = model.evaluate(images, other_images, verbose=0)
    path = tmp_path / "new.keras"
    model.save(path)
    # A model saved before the rename: the same archive with the loss config's old key.
    old_path = rewrite_keras_config(path, tmp_path / "old.keras",
                                    '"style_distance": "mse"', '"distance": "mse"')
    for saved in (path, old_path):
        reloaded = keras.models.load_model(saved, safe_mode=True)
        assert isinstance(reloaded.loss, StyleReconstructionLoss)
        assert reloaded.loss.style_distance == "mse"
        assert reloaded.loss.get_config() == loss.get_config()
        np.testing.assert_array_equal(reloaded.evaluate(images, other_images, verbose=0), before)


@pytest.mark.slow  # traces the loss network inside evaluate: ~10 s on 2 cores
def test_sliced_wasserstein_save_reload_gives_identical_outputs(tmp_path, images, style_image):
    loss = PerceptualLoss(style_image=style_image, style_distance="sliced_wasserstein",
                          content_layers="relu1_2", style_layers=("relu1_2", "relu2_2"),
                          num_projections=4, seed=9, weights=None)
    assert PerceptualLoss.from_config(loss.get_config()).get_config() == loss.get_config()
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    model.compile(optimizer="adam", loss=loss)
    before = model.evaluate(images, images, verbose=0)
    path = tmp_path / "sw.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert reloaded.loss.get_config() == loss.get_config()
    np.testing.assert_array_equal(reloaded.evaluate(images, images, verbose=0), before)


@pytest.mark.slow
def test_sliced_wasserstein_over_several_style_images_of_different_sizes(images, style_image):
    from keras_perceptual.losses import pack_style_targets

    small = style_image[:24, :20]
    several = StyleReconstructionLoss("relu1_2", style_images=[style_image, small],
                                      style_distance="sliced_wasserstein", num_projections=6,
                                      weights=None, reduction=None)
    assert tuple(several.style_grams["relu1_2"].shape) == (2, 6, 40 * 48)  # brought to one size
    one = StyleReconstructionLoss("relu1_2", style_image=style_image, num_projections=6,
                                  style_distance="sliced_wasserstein", weights=None, reduction=None)
    y_true = pack_style_targets(images, np.float32([[1, 0], [1, 0]]))
    np.testing.assert_allclose(to_numpy(several(y_true, images)), to_numpy(one(images, images)),
                               rtol=1e-6)
    blended = to_numpy(several(pack_style_targets(images, np.float32([[0.5, 0.5]] * 2)), images))
    assert np.isfinite(blended).all()


@pytest.mark.slow  # 12 gradient steps through VGG, twice
@pytest.mark.parametrize("distance", ["sliced_wasserstein", "squared_frobenius"])
def test_optimizing_noise_toward_a_style_decreases_the_distance(rng, style_image, distance):
    """Texture synthesis (Gatys et al.; Heitz et al.): gradient steps on a noise image."""
    loss = StyleReconstructionLoss(("relu1_2", "relu2_2"), style_image=style_image,
                                   style_distance=distance, weights=None)
    x = rng.random((1, 32, 32, 3), dtype=np.float32)
    start = float(to_numpy(loss(x, x)))
    m, v = np.zeros_like(x), np.zeros_like(x)
    for step in range(1, 13):  # Adam, learning rate 0.05
        g = gradient(lambda image: loss(image, image), x)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        x = np.clip(x - 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8),
                    0, 1).astype("float32")
    end = float(to_numpy(loss(x, x)))
    print(f"{distance}: {start:.4g} -> {end:.4g}")
    assert end < 0.6 * start, (start, end)


# --- Portable saved state: a saved model outlives the files it was made from. ---


def _tiny_model():
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    return keras.Model(inputs, outputs)


@pytest.mark.slow  # builds, fits, saves and reloads a model with a VGG loss
def test_saved_model_loads_after_the_style_image_file_is_gone(tmp_path, images, style_image):
    """Handed case: PerceptualLoss(style_image="painting.png"), fit, save, move the PNG away."""
    import shutil

    from PIL import Image

    painting = tmp_path / "painting.png"
    Image.fromarray((style_image * 255).round().astype("uint8")).save(painting)
    model = _tiny_model()
    loss = PerceptualLoss(content_layers="relu1_2", style_layers="relu1_2",
                          style_image=str(painting), weights=None)
    model.compile("adam", loss=loss)
    model.fit(images, images, epochs=1, verbose=0)
    expected = model.evaluate(images, images, verbose=0)
    model.save(tmp_path / "m.keras")
    shutil.move(painting, tmp_path / "elsewhere.png")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert reloaded.loss.unavailable is None
    np.testing.assert_allclose(reloaded.evaluate(images, images, verbose=0), expected, rtol=1e-5)


@pytest.mark.slow  # builds, fits, saves and reloads a model with a VGG loss
def test_saved_model_loads_after_the_weights_file_is_gone(tmp_path, images, vgg16_weights_file):
    """Weights given by path: loading never fails; the loss says what to do at first use."""
    import shutil

    weights = tmp_path / "vgg.weights.h5"
    shutil.copy(vgg16_weights_file, weights)
    model = _tiny_model()
    model.compile("sgd", loss=FeatureReconstructionLoss("relu1_2", weights=str(weights)))
    expected = model.evaluate(images, images, verbose=0)
    model.save(tmp_path / "m.keras")
    weights.unlink()
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0),
                                  model.predict(images, verbose=0))
    assert reloaded.loss.get_config() == model.loss.get_config()
    with pytest.raises(WeightsUnavailableError, match=r"(?s)vgg\.weights\.h5.*recompile"):
        reloaded.evaluate(images, images, verbose=0)
    shutil.copy(vgg16_weights_file, weights)  # put back: a loss built anew works again
    reloaded.compile("sgd", loss=FeatureReconstructionLoss.from_config(model.loss.get_config()))
    np.testing.assert_allclose(reloaded.evaluate(images, images, verbose=0), expected, rtol=1e-5)


@pytest.mark.slow  # builds, fits, saves and reloads a model with a VGG loss
def test_loading_without_importing_the_package_names_what_is_missing(tmp_path, images):
    """Keras imports only its own packages: the message names our class (README says so)."""
    model = _tiny_model()
    model.compile("adam", loss=PerceptualLoss(weights=None))
    model.save(tmp_path / "m.keras")
    registry = keras.saving.get_custom_objects()
    ours = {k: v for k, v in registry.items() if k.startswith("keras_perceptual>")}
    try:
        for key in ours:
            del registry[key]
        with pytest.raises(TypeError, match=r"(?s)Could not locate class .PerceptualLoss.*imported"):
            keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    finally:
        registry.update(ours)


# --- The pure functions check their inputs as the losses do. ---

_F = np.random.default_rng(8).random((2, 4, 4, 8), dtype=np.float32)
_G = np.random.default_rng(9).random((2, 4, 4, 8), dtype=np.float32)
_X = np.random.default_rng(10).random((2, 8, 8, 3), dtype=np.float32)


def _pure_function_cases():
    from keras_perceptual.losses import (
        feature_reconstruction,
        pack_style_targets,
        pixel_reconstruction,
        style_reconstruction,
    )

    gram3, gram2 = np.ones((2, 3, 3), "float32"), np.ones((2, 2, 2), "float32")
    one_hot = np.eye(2, dtype="float32")
    return [
        # Was: TensorFlow's "Incompatible shapes" (InvalidArgumentError), or a silent
        # broadcast of a batch of 1 against 2.
        (lambda: feature_reconstruction(_F, _G[:, :2]),
         r"features_pred and features_true must have the same shape.*Received: "
         r"features_pred.shape=\(2, 4, 4, 8\), features_true.shape=\(2, 2, 4, 8\)"),
        (lambda: feature_reconstruction(_F[:1], _G), r"features_pred.shape=\(1, 4, 4, 8\)"),
        (lambda: feature_reconstruction(_F, _G[..., :4]), r"must have the same shape"),
        (lambda: style_reconstruction(gram3, gram2),
         r"Gram matrices of one layer, \(C, C\) with the same channel count.*Received: "
         r"gram_target.shape=\(2, 2, 2\), gram_pred.shape=\(2, 3, 3\)"),
        (lambda: style_reconstruction(gram3, np.ones((3, 3, 3), "float32")),
         r"gram_target must hold one Gram matrix for every image, or one per image"),
        (lambda: style_reconstruction(gram3[:1], gram3), r"gram_target.shape=\(2, 3, 3\)"),
        (lambda: pixel_reconstruction(_X, _X[:, :4]),
         r"y_true and y_pred must have the same shape; resize or crop"),
        (lambda: pixel_reconstruction(_X[:1], _X), r"y_true.shape=\(1, 8, 8, 3\)"),
        # Was: "Invalid reduction dimension" (InvalidArgumentError), or a silent value of
        # another shape (rank-5 features, Gram matrices of rank-4 features).
        (lambda: feature_reconstruction(_F[0], _G[0]), r"features_pred must be a rank-4 batch"),
        (lambda: feature_reconstruction(_F[None], _G[None]), r"features_pred must be a rank-4"),
        (lambda: style_reconstruction(gram3[0], gram3[0]),
         r"gram_pred must be a batch of Gram matrices \(batch, C, C\).*gram_pred\[None\]"),
        (lambda: style_reconstruction(_F, _G), r"gram_pred must be a batch of Gram matrices"),
        (lambda: style_reconstruction(np.ones((2, 3, 4), "float32"),
                                      np.ones((2, 3, 4), "float32")),
         r"Received: gram_pred.shape=\(2, 3, 4\)"),
        (lambda: pixel_reconstruction(_X[0], _X[0]), r"y_true must be a rank-4 batch"),
        # Was: ignored silently (FeatureReconstructionLoss refuses it).
        (lambda: feature_reconstruction(_F, _G, "l2", 0.5),
         r"epsilon applies only with distance='charbonnier'.*Received: epsilon=0.5"),
        # Was: uint8 images packed as [0, 255] floats; 1 and 4 channels packed silently
        # (the loss then read weights as colours); negative or unnormalized weights gave a
        # blend outside the styles'.
        (lambda: pack_style_targets((_X * 255).astype("uint8"), one_hot),
         r"images has dtype uint8; expected floating-point"),
        (lambda: pack_style_targets(_X[..., :1], one_hot), r"images has 1 channels; expected 3"),
        (lambda: pack_style_targets(np.concatenate([_X, _X[..., :1]], -1), one_hot),
         r"images has 4 channels; expected 3"),
        (lambda: pack_style_targets(_X, -one_hot),
         r"style_weights must hold one row of convex weights.*Received: style_weights.min\(\)"),
        (lambda: pack_style_targets(_X, one_hot * 2),
         r"convex weights per image.*Received: style_weights.sum\(axis=-1\)=\[2.0, 2.0\]"),
    ]


@pytest.mark.parametrize("case", range(len(_pure_function_cases())))
def test_pure_functions_refuse_what_the_losses_refuse(case):
    """Was: feature_reconstruction, style_reconstruction, pixel_reconstruction and
    pack_style_targets left their inputs (nearly) unchecked, unlike the losses (the comments
    in _pure_function_cases give each case's old result)."""
    from keras_perceptual.errors import InputError

    call, pattern = _pure_function_cases()[case]
    with pytest.raises(InputError, match=pattern):
        call()


def test_pure_functions_keep_their_values():
    """What they accepted and computed before is unchanged (a batch of 1 style target,
    integer one-hot or blended style weights, any channel count for the pixel term)."""
    from keras_perceptual.losses import (
        feature_reconstruction,
        pack_style_targets,
        pixel_reconstruction,
        style_reconstruction,
    )
    from keras_perceptual.ops import gram_matrix

    np.testing.assert_allclose(to_numpy(feature_reconstruction(_F, _G)),
                               ((_F - _G) ** 2).mean((1, 2, 3)), rtol=1e-5)
    grams = gram_matrix(_F), gram_matrix(_G[:1])
    expected = ((numpy_gram(_F) - numpy_gram(_G[:1])) ** 2).sum((1, 2))
    np.testing.assert_allclose(to_numpy(style_reconstruction(*grams)), expected, rtol=1e-4)
    np.testing.assert_allclose(to_numpy(pixel_reconstruction(_F, _G)),
                               ((_F - _G) ** 2).mean((1, 2, 3)), rtol=1e-5)
    packed = to_numpy(pack_style_targets(_X, np.array([[1, 0], [0, 1]])))
    np.testing.assert_array_equal(packed[:, 0, 0, 3:], np.eye(2))
    blended = to_numpy(pack_style_targets(_X, np.array([[0.25, 0.75], [0.5, 0.5]])))
    np.testing.assert_allclose(blended[:, 3, 5, 3:], [[0.25, 0.75], [0.5, 0.5]])
