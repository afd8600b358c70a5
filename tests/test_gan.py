import keras
import numpy as np
import pytest
from conftest import BACKEND, requires_tf, to_numpy

from keras_perceptual.gan import PerceptualGAN, patch_discriminator
from keras_perceptual.losses import PerceptualLoss
from keras_perceptual.losses.pixel import CharbonnierLoss


def tiny_generator(seed=0):
    """x2 upscaling: Conv2D + UpSampling2D + sigmoid (in [0, 1] by construction)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.UpSampling2D(2)(x)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="tiny_generator")


def content_loss():
    return PerceptualLoss(content_layers="relu1_2", style_layers=None, style_weight=0.0,
                          tv_weight=0.0, weights=None)


@pytest.fixture
def pairs(rng):
    """Six (16x16 input, 32x32 target) pairs: 3 steps at batch size 2."""
    return rng.random((6, 16, 16, 3), dtype=np.float32), rng.random((6, 32, 32, 3),
                                                                      dtype=np.float32)


def make_gan(**compile_kwargs):
    gan = PerceptualGAN(tiny_generator(), patch_discriminator(filters=8), seed=1)
    kwargs = {
        "generator_optimizer": keras.optimizers.Adam(1e-3),
        "discriminator_optimizer": keras.optimizers.Adam(1e-3),
        "content_loss": content_loss(),
        **compile_kwargs,
    }
    gan.compile(**kwargs)
    return gan


def weights_changed(model, before):
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


# --- The discriminator builder (any backend). ---


@pytest.mark.parametrize("normalization", ["instance", "batch", "none", None])
def test_patch_discriminator_gives_per_patch_logits(normalization, rng):
    d = patch_discriminator(filters=4, normalization=normalization)
    assert to_numpy(d(rng.random((2, 32, 32, 3), dtype=np.float32))).shape == (2, 4, 4, 1)
    assert to_numpy(d(rng.random((1, 40, 24, 3), dtype=np.float32))).shape == (1, 5, 3, 1)
    d2 = patch_discriminator(filters=4, num_layers=2, normalization=normalization)
    assert to_numpy(d2(rng.random((2, 32, 32, 3), dtype=np.float32))).shape == (2, 8, 8, 1)
    kinds = {type(layer).__name__ for layer in d.layers}
    expected = {"instance": "GroupNormalization", "batch": "BatchNormalization"}.get(
        normalization)
    assert (expected in kinds) if expected else not (kinds & {"GroupNormalization",
                                                              "BatchNormalization"})


def test_patch_discriminator_widths_and_range(rng):
    d = patch_discriminator(filters=8, num_layers=3)
    widths = [layer.filters for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert widths == [8, 16, 32, 64, 1]  # pix2pix's n_layers=3 PatchGAN at 1/8 width
    # value_range is mapped to [-1, 1]: the same images in another range give the same logits.
    x = rng.random((2, 16, 16, 3), dtype=np.float32)
    keras.utils.set_random_seed(2)
    d01 = patch_discriminator(filters=4)
    keras.utils.set_random_seed(2)
    d255 = patch_discriminator(filters=4, value_range=(0, 255))
    np.testing.assert_allclose(to_numpy(d01(x)), to_numpy(d255(x * 255)), rtol=1e-4, atol=1e-5)


def test_patch_discriminator_bad_arguments():
    with pytest.raises(ValueError, match="normalization must be one of 'instance', 'batch'"):
        patch_discriminator(normalization="layer")
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        patch_discriminator(num_layers=0)
    with pytest.raises(ValueError, match="filters must be an integer >= 1"):
        patch_discriminator(filters=2.5)
    with pytest.raises(ValueError, match="low < high"):
        patch_discriminator(value_range=(1, 1))


# --- Training (TensorFlow). ---


@requires_tf
def test_three_steps_train_both_networks(pairs):
    x, y = pairs
    gan = make_gan()
    g_before = [w.copy() for w in gan.generator.get_weights()]
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(x, y, batch_size=2, epochs=1, verbose=0)
    logs = history.history
    assert set(logs) == {"loss", "generator_loss", "discriminator_loss", "adversarial_loss",
                         "content_loss", "pixel_loss"}
    assert logs["loss"] == logs["generator_loss"]
    assert all(np.isfinite(v[0]) for v in logs.values())
    assert weights_changed(gan.generator, g_before)
    assert weights_changed(gan.discriminator, d_before)
    assert int(gan.generator_optimizer.iterations) == 3
    assert int(gan.discriminator_optimizer.iterations) == 3
    assert gan.optimizer is gan.generator_optimizer
    # Each optimizer holds state for its own network only.
    assert len(gan.discriminator_optimizer.variables) == 2 + 2 * len(
        gan.discriminator.trainable_variables)
    # predict() runs the generator.
    assert gan.predict(x, verbose=0).shape == (6, 32, 32, 3)


@requires_tf
def test_generator_loss_is_the_weighted_sum(pairs):
    x, y = pairs
    content_term = content_loss()
    gan = make_gan(content_loss=content_term, content_weight=2.0, pixel_loss=CharbonnierLoss(),
                   pixel_weight=0.5, adversarial_loss="lsgan", adversarial_weight=0.1)
    fake = gan.generator(x)
    terms = {k: float(v) for k, v in gan.generator_terms(y, fake).items()}
    content = float(content_term(y, fake))
    np.testing.assert_allclose(terms["content_loss"], content, rtol=1e-5)
    charbonnier = np.sqrt((to_numpy(fake) - y) ** 2 + 1e-6).mean()
    logits = to_numpy(gan.discriminator(fake))
    adversarial = ((logits - 1) ** 2).mean()
    np.testing.assert_allclose(terms["pixel_loss"], charbonnier, rtol=1e-4)
    np.testing.assert_allclose(terms["adversarial_loss"], adversarial, rtol=1e-4)
    np.testing.assert_allclose(terms["generator_loss"],
                               2.0 * content + 0.5 * charbonnier + 0.1 * adversarial, rtol=1e-4)
    d_terms = gan.discriminator_terms(y, fake)
    real_logits = to_numpy(gan.discriminator(y))
    np.testing.assert_allclose(float(d_terms["discriminator_loss"]),
                               ((real_logits - 1) ** 2).mean() + (logits**2).mean(), rtol=1e-4)


@requires_tf
def test_save_reload_resumes_training(tmp_path, pairs):
    x, y = pairs
    gan = make_gan(pixel_loss="mean_absolute_error", adversarial_loss="hinge",
                   metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    gan.fit(x, y, batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded, PerceptualGAN)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), gan.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    for a, b in ((reloaded.discriminator, gan.discriminator), (reloaded.generator, gan.generator)):
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
    # The compile settings and both optimizers' states came back.
    assert reloaded.get_compile_config() == gan.get_compile_config()
    for name in ("generator_optimizer", "discriminator_optimizer"):
        ours, theirs = getattr(reloaded, name), getattr(gan, name)
        assert int(ours.iterations) == 3
        for va, vb in zip(ours.variables, theirs.variables, strict=True):
            np.testing.assert_array_equal(to_numpy(va), to_numpy(vb))
    np.testing.assert_allclose(
        list(reloaded.evaluate(x, y, verbose=0, return_dict=True).values()),
        list(gan.evaluate(x, y, verbose=0, return_dict=True).values()), rtol=1e-5)
    history = reloaded.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["generator_loss"][0])
    # Compiled metrics are computed on (y, G(x)).
    mae = np.abs(reloaded.predict(x, verbose=0) - y).mean()
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0, return_dict=True)["mae"], mae,
                               rtol=1e-5)
    assert int(reloaded.discriminator_optimizer.iterations) == 6


@requires_tf
def test_callbacks_checkpoints_and_validation(tmp_path, pairs):
    x, y = pairs
    gan = make_gan()
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "epoch{epoch}.keras")),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"),
                                        monitor="val_discriminator_loss", mode="min",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(patience=5),  # monitor="val_loss": the generator's
        keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=1e9),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
    ]
    history = gan.fit(x, y, batch_size=2, epochs=2, validation_data=(x[:2], y[:2]),
                      callbacks=callbacks, verbose=0)
    assert {"val_generator_loss", "val_discriminator_loss"} <= set(history.history)
    assert (tmp_path / "epoch2.keras").is_file() and (tmp_path / "best.weights.h5").is_file()
    checkpoint = keras.models.load_model(tmp_path / "epoch2.keras")
    np.testing.assert_allclose(checkpoint.predict(x, verbose=0), gan.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    fresh = PerceptualGAN(tiny_generator(seed=5), patch_discriminator(filters=8))
    fresh.load_weights(tmp_path / "best.weights.h5")
    assert "generator_loss" in (tmp_path / "log.csv").read_text()
    # ReduceLROnPlateau (never an improvement of 1e9) halved the generator's learning rate.
    assert float(gan.generator_optimizer.learning_rate) == pytest.approx(5e-4)
    assert float(gan.discriminator_optimizer.learning_rate) == pytest.approx(1e-3)


@requires_tf
def test_wasserstein_with_gradient_penalty(pairs):
    x, y = pairs
    gan = make_gan(adversarial_loss="wasserstein", gradient_penalty_weight=10.0,
                   pixel_weight=0.0, content_loss=None)
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "generator_loss", "discriminator_loss",
                                    "adversarial_loss", "gradient_penalty"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert history.history["gradient_penalty"][0] > 0
    assert weights_changed(gan.discriminator, d_before)


@requires_tf
def test_mixed_precision_training(pairs):
    x, y = pairs
    keras.config.set_dtype_policy("mixed_float16")
    gan = make_gan()
    assert isinstance(gan.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    history = gan.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    keras.config.set_dtype_policy("float32")


@requires_tf
def test_sample_weight(pairs):
    x, y = pairs
    gan = make_gan(pixel_loss="mean_squared_error")
    fake = gan.generator(x)
    sw = np.array([1, 0, 0, 0, 0, 0], "float32")
    weighted = gan.generator_terms(y, fake, sample_weight=sw)
    per_image = ((to_numpy(fake) - y) ** 2).mean((1, 2, 3))
    np.testing.assert_allclose(float(weighted["pixel_loss"]), per_image[0] / 6, rtol=1e-4)
    history = gan.fit(x, y, sample_weight=np.ones(6, "float32"), batch_size=2, verbose=0)
    assert np.isfinite(history.history["generator_loss"][0])


def test_config_round_trip(rng):
    gan = PerceptualGAN(tiny_generator(), patch_discriminator(filters=4), seed=3, name="sr_gan")
    config = gan.get_config()
    assert config["name"] == "sr_gan" and config["seed"] == 3
    clone = PerceptualGAN.from_config(config)
    assert clone.get_config() == config
    assert clone.generator.count_params() == gan.generator.count_params()
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(gan))
    assert isinstance(revived, PerceptualGAN)
    x = rng.random((1, 8, 8, 3), dtype=np.float32)
    assert to_numpy(revived(x)).shape == (1, 16, 16, 3)


# --- Bad input. ---


@requires_tf
def test_bad_compile_and_fit(pairs):
    x, y = pairs
    gan = PerceptualGAN(tiny_generator(), patch_discriminator(filters=4))
    with pytest.raises(ValueError, match="generator_optimizer= and discriminator_optimizer="):
        gan.compile(optimizer="adam")
    with pytest.raises(ValueError, match="content_loss=, pixel_loss= and adversarial_loss="):
        gan.compile(loss="mse")
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        gan.compile(generator_optimizer=opt, discriminator_optimizer=opt)
    with pytest.raises(ValueError, match="adversarial_loss must be one of 'vanilla', 'lsgan'"):
        gan.compile(adversarial_loss="relativistic")
    with pytest.raises(ValueError, match="adversarial_weight must be a finite number >= 0"):
        gan.compile(adversarial_weight=-1)
    with pytest.raises(ValueError, match="pixel_weight > 0; pass a loss"):
        gan.compile(pixel_loss=None)
    with pytest.raises(ValueError, match="content_loss must be a Keras loss"):
        gan.compile(content_loss="not_a_loss")
    with pytest.raises(ValueError, match="generator_optimizer must be a keras.optimizers"):
        gan.compile(generator_optimizer="adamm")
    gan.compile()
    with pytest.raises(ValueError, match="needs \\(inputs, target_images\\) pairs"):
        gan.fit(x, batch_size=2, verbose=0)
    with pytest.raises(ValueError, match="dtype uint8; expected floating-point"):
        make_gan().fit(x, (y * 255).astype("uint8"), batch_size=2, verbose=0)


def test_bad_construction():
    g = tiny_generator()
    with pytest.raises(ValueError, match="discriminator must be a keras.Model"):
        PerceptualGAN(g, keras.layers.Dense(1))
    with pytest.raises(ValueError, match="two different models"):
        PerceptualGAN(g, g)


def test_compile_refuses_other_backends(monkeypatch):
    gan = PerceptualGAN(tiny_generator(), patch_discriminator(filters=4))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(NotImplementedError, match="TensorFlow backend only.*backend='jax'"):
        gan.compile()


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the error under another backend")
def test_compile_raises_under_this_backend():
    gan = PerceptualGAN(tiny_generator(), patch_discriminator(filters=4))
    with pytest.raises(NotImplementedError, match="KERAS_BACKEND=tensorflow"):
        gan.compile()
