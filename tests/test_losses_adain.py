"""The AdaIN objective (Huang & Belongie 2017, Eqs. 11-13) against numpy."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_perceptual import AdaINLoss, FeatureExtractor, arbitrary_style_net
from keras_perceptual.losses.adain import ADAIN_STYLE_LAYERS

SMALL = {"backbone": "vgg16", "weights": None}


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(5)
    content = rng.random((2, 32, 40, 3), dtype=np.float32)
    style = rng.random((2, 32, 40, 3), dtype=np.float32) ** 2
    stylized = rng.random((2, 32, 40, 3), dtype=np.float32)
    return content, style, stylized


def _numpy_terms(content, style, stylized, distance="mse", epsilon=1e-5):
    fx = FeatureExtractor(list(ADAIN_STYLE_LAYERS), **SMALL)
    fc, fs, fp = ({k: to_numpy(v).astype(np.float64) for k, v in fx(x).items()}
                  for x in (content, style, stylized))

    def stats(f):
        return f.mean(axis=(1, 2)), np.sqrt(f.var(axis=(1, 2)) + epsilon)

    def dist(d, axes):
        return (d**2).mean(axis=axes) if distance == "mse" else np.sqrt((d**2).sum(axis=axes))

    c = fc["relu4_1"]
    s_mean, s_std = stats(fs["relu4_1"])
    c_mean, c_std = stats(c)
    target = (c - c_mean[:, None, None]) / c_std[:, None, None] * s_std[:, None, None] + s_mean[
        :, None, None
    ]
    content_term = dist(fp["relu4_1"] - target, (1, 2, 3))
    style_term = 0.0
    for layer in ADAIN_STYLE_LAYERS:
        (pm, ps), (sm, ss) = stats(fp[layer]), stats(fs[layer])
        style_term = style_term + dist(pm - sm, 1) + dist(ps - ss, 1)
    return content_term, style_term


@pytest.mark.parametrize("distance", ["mse", "l2"])
def test_adain_loss_matches_numpy(batch, distance):
    content, style, stylized = batch
    loss = AdaINLoss(style_weight=3.0, distance=distance, reduction=None, **SMALL)
    content_term, style_term = _numpy_terms(content, style, stylized, distance)
    terms = loss.compute_terms(content, style, stylized)
    np.testing.assert_allclose(to_numpy(terms["content"]), content_term, rtol=2e-4)
    np.testing.assert_allclose(to_numpy(terms["style"]), style_term, rtol=2e-4)
    value = loss(AdaINLoss.pack_targets(content, style), stylized)
    np.testing.assert_allclose(to_numpy(value), content_term + 3.0 * style_term, rtol=2e-4)


def test_adain_loss_of_the_adain_target_is_small_for_its_content_term(batch):
    content, style, _ = batch
    loss = AdaINLoss(reduction=None, **SMALL)
    # A style image that is its own content: the AdaIN target is the content's features, so
    # the stylized image = the content image scores 0 on both terms.
    terms = loss.compute_terms(content, content, content)
    np.testing.assert_allclose(to_numpy(terms["content"]), 0.0, atol=1e-3)
    np.testing.assert_allclose(to_numpy(terms["style"]), 0.0, atol=1e-6)
    # Any style size, one style broadcast over the batch.
    terms = loss.compute_terms(content, style[:1, :24, :16], content)
    assert to_numpy(terms["style"]).shape == (2,) and np.all(to_numpy(terms["style"]) > 0)


@pytest.mark.slow  # a first fit traces the encoder three times: ~10 s on 2 idle cores
def test_adain_loss_trains_the_decoder_and_reloads(tmp_path, batch):
    content, style, _ = batch
    model = arbitrary_style_net(filters=4, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=AdaINLoss(**SMALL), jit_compile=False)
    decoder_before = [to_numpy(w) for w in model.get_layer("decoder").weights]
    encoder_before = [to_numpy(w) for w in model.get_layer("encoder").weights]
    targets = AdaINLoss.pack_targets(content, style)
    history = model.fit({"content": content, "style": style}, targets, epochs=1, batch_size=2,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [np.abs(a - to_numpy(w)).max() > 0
               for a, w in zip(decoder_before, model.get_layer("decoder").weights, strict=True)]
    assert all(changed)  # every decoder weight moved...
    for a, w in zip(encoder_before, model.get_layer("encoder").weights, strict=True):
        np.testing.assert_array_equal(a, to_numpy(w))  # ... the encoder did not
    model.save(tmp_path / "adain.keras")
    restored = keras.models.load_model(tmp_path / "adain.keras", safe_mode=True)
    assert isinstance(restored.loss, AdaINLoss)
    x = {"content": content, "style": style}
    np.testing.assert_allclose(restored.evaluate(x, targets, verbose=0),
                               model.evaluate(x, targets, verbose=0), rtol=1e-5)


def test_adain_loss_config_round_trip():
    loss = AdaINLoss(style_weight=2.5, content_weight=0.5, style_layers={"relu1_1": 2.0},
                     distance="l2", epsilon=1e-4, reduction=None, **SMALL)
    config = loss.get_config()
    clone = AdaINLoss.from_config(config)
    assert clone.get_config() == config
    assert config["style_layers"] == {"relu1_1": 2.0} and config["weights"] is None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"style_weight": -1}, "style_weight must be a finite number >= 0"),
        ({"distance": "l1"}, "'mse', 'l2'"),
        ({"style_layers": ["relu9_9"]}, "Unknown vgg16 layer 'relu9_9'"),
        ({"content_layer": ["relu4_1"]}, "content_layer must be one layer name"),
        ({"backbone": "vgg11"}, "'vgg16', 'vgg19'"),
    ],
)
def test_adain_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdaINLoss(**{**SMALL, **kwargs})


def test_adain_loss_bad_inputs(batch):
    content, style, stylized = batch
    loss = AdaINLoss(**SMALL)
    with pytest.raises(ValueError, match=r"pack_targets\(content, style\)"):
        loss(content, stylized)
    with pytest.raises(ValueError, match="same shape"):
        AdaINLoss.pack_targets(content, style[:, :16])
    with pytest.raises(ValueError, match="must have the content images' shape"):
        loss.compute_terms(content, style, stylized[:, :16])
    with pytest.raises(ValueError, match="style height is 4 px"):
        loss.compute_terms(content, style[:, :4], stylized)


@pytest.mark.slow  # builds the VGG-16 encoder three times
def test_adain_loss_restored_without_its_weights_file_fails_at_first_use(tmp_path, batch,
                                                                         vgg16_weights_file):
    """Loading (from_config) never fails because the weights file is gone (issue 15)."""
    import shutil

    from keras_perceptual import WeightsUnavailableError

    weights = tmp_path / "encoder.weights.h5"
    shutil.copy(vgg16_weights_file, weights)
    loss = AdaINLoss(backbone="vgg16", weights=str(weights))
    content, style, stylized = batch
    y_true = AdaINLoss.pack_targets(content, style)
    expected = to_numpy(loss(y_true, stylized))
    config = loss.get_config()
    weights.unlink()
    restored = AdaINLoss.from_config(config)
    assert restored.get_config() == config
    with pytest.raises(WeightsUnavailableError, match=r"(?s)encoder\.weights\.h5.*recompile"):
        restored(y_true, stylized)
    shutil.copy(vgg16_weights_file, weights)  # put back: built anew, the same value
    np.testing.assert_allclose(to_numpy(AdaINLoss.from_config(config)(y_true, stylized)),
                               expected, rtol=1e-6)


# --- The pure functions check their inputs as the loss does. ---


def _pure_function_cases():
    from keras_perceptual.losses import adain_content_loss, adain_style_loss

    rng = np.random.default_rng(6)
    f, g = rng.random((2, 4, 4, 8), dtype=np.float32), rng.random((2, 4, 4, 8), dtype=np.float32)
    mean, std = g.mean((1, 2)), np.sqrt(g.var((1, 2)) + 1e-5)
    return [
        # Was: TensorFlow's "Incompatible shapes" (InvalidArgumentError), or a silent
        # broadcast of a batch of 1 against 2.
        (lambda: adain_content_loss(f, g[:, :2]),
         r"features_pred and target must have the same shape.*Received: "
         r"features_pred.shape=\(2, 4, 4, 8\), target.shape=\(2, 2, 4, 8\)"),
        (lambda: adain_content_loss(f[:1], g), r"features_pred.shape=\(1, 4, 4, 8\)"),
        (lambda: adain_style_loss(f, mean[:, :4], std[:, :4]),
         r"style_mean and style_std must have one entry per channel of features_pred.*Received: "
         r"style_mean.shape=\(2, 4\), features_pred.shape=\(2, 4, 4, 8\)"),
        (lambda: adain_style_loss(f, np.concatenate([mean, mean[:1]]),
                                  np.concatenate([std, std[:1]])),
         r"statistics of one style image for every image, or of one per image"),
        (lambda: adain_style_loss(f, mean, std[:1]),
         r"style_mean and style_std must have the same shape.*style_std.shape=\(1, 8\)"),
        # Was: "Invalid reduction dimension" (InvalidArgumentError), a silent broadcast of
        # (C,) statistics, "Incompatible shapes: [4] vs. [2,8]".
        (lambda: adain_content_loss(f[0], g[0]), r"features_pred must be a rank-4 batch"),
        (lambda: adain_style_loss(f, mean[0], std[0]),
         r"style_mean must be \(batch or 1, channels\).*style_mean\[None\]"),
        (lambda: adain_style_loss(f[0], mean, std), r"features_pred must be a rank-4 batch"),
        # Was: uint8 features cast silently (a content loss of 24057 instead of 0.17).
        (lambda: adain_content_loss((f * 255).astype("uint8"), g),
         r"features_pred has dtype uint8; expected floating-point"),
        (lambda: adain_style_loss(f, (mean * 255).astype("uint8"), std),
         r"style_mean has dtype uint8"),
        # Was: a negative standard deviation compared silently.
        (lambda: adain_style_loss(f, mean, -std),
         r"style_std must hold standard deviations, >= 0\. Received: style_std.min\(\)=-"),
    ]


@pytest.mark.parametrize("case", range(len(_pure_function_cases())))
def test_pure_functions_refuse_what_the_loss_refuses(case):
    """Was: adain_content_loss and adain_style_loss left their inputs unchecked, unlike
    AdaINLoss (the comments in _pure_function_cases give each case's old result)."""
    from keras_perceptual.errors import InputError

    call, pattern = _pure_function_cases()[case]
    with pytest.raises(InputError, match=pattern):
        call()


def test_pure_functions_keep_their_values():
    """Statistics of one style image broadcast over the batch, as before."""
    from keras_perceptual.losses import adain_content_loss, adain_style_loss
    from keras_perceptual.ops import channel_mean_std

    rng = np.random.default_rng(7)
    f, g = rng.random((2, 4, 4, 8), dtype=np.float32), rng.random((1, 6, 6, 8), dtype=np.float32)
    np.testing.assert_allclose(to_numpy(adain_content_loss(f, f * 0)), (f**2).mean((1, 2, 3)),
                               rtol=1e-6)
    mean, std = channel_mean_std(g)
    fm, fs = f.mean((1, 2)), np.sqrt(f.var((1, 2)) + 1e-5)
    expected = ((fm - to_numpy(mean)) ** 2).mean(1) + ((fs - to_numpy(std)) ** 2).mean(1)
    np.testing.assert_allclose(to_numpy(adain_style_loss(f, mean, std)), expected, rtol=1e-4)
