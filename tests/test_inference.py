"""Inference helpers: input forms, batching, tiling (== untiled), colour and histogram steps."""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import pytest
from conftest import make_photos, truncate_image
from PIL import Image

from keras_perceptual import inference
from keras_perceptual.errors import InputError
from keras_perceptual.images import load_image
from keras_perceptual.inference import (
    input_alignment,
    match_histograms,
    min_input_size,
    save_image,
    style_kind,
    stylize,
    upscale,
)
from keras_perceptual.layers import InstanceNormalization, instance_norm_statistics
from keras_perceptual.models import style_transfer_net, super_resolution_net
from tests.conftest import to_numpy

TINY = {"filters": 4, "num_residual_blocks": 1}


def _photo(height, width, rng=None):
    """A smooth, photo-like test image in [0, 1] (gradients, a disc, mild noise)."""
    rng = rng or np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    disc = ((yy - 0.45) ** 2 + (xx - 0.55) ** 2 < 0.08).astype(float)
    image = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 * disc + 0.25], axis=-1)
    image += 0.05 * rng.standard_normal(image.shape)
    return np.clip(image, 0, 1).astype("float32")


def _calibrated(model, image):
    """Sets BatchNorm moving statistics to those of ``image`` (as if trained on it)."""
    bns = [
        layer
        for layer in inference.walk_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in bns:
        layer.momentum = 0.0
    model(image[None], training=True)
    return model


@pytest.fixture(scope="module")
def style_model():
    keras.utils.set_random_seed(1)
    return style_transfer_net(**TINY)


SR_IMAGE = _photo(96, 90)


@pytest.fixture(scope="module")
def sr_model():
    keras.utils.set_random_seed(2)
    return _calibrated(super_resolution_net(4, **TINY), SR_IMAGE)


# --- Input and output forms ---------------------------------------------------------------


def test_forms_and_batching(style_model, rng, tmp_path):
    a, b = _photo(20, 24, rng), _photo(17, 9, rng)
    direct_a = style_model.predict_on_batch(a[None])[0]
    direct_b = style_model.predict_on_batch(b[None])[0]

    single = stylize(style_model, a)
    assert single.shape == (20, 24, 3) and single.dtype == np.float32
    np.testing.assert_allclose(single, direct_a, atol=1e-5)

    batch = stylize(style_model, np.stack([a, a, a]), batch_size=2)
    assert batch.shape == (3, 20, 24, 3)
    np.testing.assert_allclose(batch, np.stack([direct_a] * 3), atol=1e-5)

    mixed = stylize(style_model, [a, b, a], batch_size=4)
    assert isinstance(mixed, list) and [m.shape for m in mixed] == [a.shape, b.shape, a.shape]
    np.testing.assert_allclose(mixed[1], direct_b, atol=1e-5)

    path = tmp_path / "a.png"
    save_image(a, path)
    from_file = stylize(style_model, str(path))
    np.testing.assert_allclose(from_file, stylize(style_model, load_image(path)), atol=1e-5)
    assert isinstance(stylize(style_model, [path]), list)


def test_value_range_defaults_to_the_models(rng, tmp_path):
    model = style_transfer_net(value_range=(-1, 1), **TINY)
    image = _photo(20, 24, rng)
    path = tmp_path / "x.png"
    save_image(image, path)
    out = stylize(model, path)  # file read into the model's range
    np.testing.assert_allclose(
        out, model.predict_on_batch(load_image(path, value_range=(-1, 1))[None])[0], atol=1e-5
    )
    assert out.min() >= -1 and out.max() <= 1 and out.min() < 0


def test_upscale_shapes(sr_model, rng):
    out = upscale(sr_model, [_photo(8, 10, rng), _photo(6, 7, rng)])
    assert [o.shape for o in out] == [(32, 40, 3), (24, 28, 3)]
    assert upscale(sr_model, _photo(8, 10, rng)[None]).shape == (1, 32, 40, 3)


def test_save_image_round_trip(rng, tmp_path):
    image = rng.random((9, 7, 3), dtype=np.float32) * 2 - 1
    save_image(image, tmp_path / "y.png", value_range=(-1, 1))
    np.testing.assert_allclose(
        load_image(tmp_path / "y.png", value_range=(-1, 1)), image, atol=1 / 255 + 1e-6
    )
    assert Image.open(tmp_path / "y.png").size == (7, 9)


def test_save_image_is_atomic(rng, tmp_path, monkeypatch):
    image = rng.random((9, 7, 3), dtype=np.float32)

    def encoder_that_fails_midway(im, fp, filename):
        fp.write(b"\x89PNG\r\n\x1a\n half an image")
        raise OSError("No space left on device")

    monkeypatch.setitem(Image.SAVE, "PNG", encoder_that_fails_midway)
    with pytest.raises(OSError, match="No space left"):
        save_image(image, tmp_path / "new.png")
    assert os.listdir(tmp_path) == []  # no truncated new.png, no temporary file
    (tmp_path / "old.png").write_bytes(b"the previous version")
    with pytest.raises(OSError, match="No space left"):
        save_image(image, tmp_path / "old.png")
    assert os.listdir(tmp_path) == ["old.png"]
    assert (tmp_path / "old.png").read_bytes() == b"the previous version"
    monkeypatch.undo()
    save_image(image, tmp_path / "old.png")
    assert Image.open(tmp_path / "old.png").size == (7, 9) and os.listdir(tmp_path) == ["old.png"]
    # The permissions open() gives a new file (the umask's), not a temporary file's 0o600.
    (tmp_path / "plain").write_bytes(b"")
    assert os.stat(tmp_path / "old.png").st_mode == os.stat(tmp_path / "plain").st_mode


@pytest.mark.parametrize("name", ["noext", "image.txt", "image.tif.gz"])
def test_save_image_refuses_an_extension_of_no_image_format(tmp_path, name):
    with pytest.raises(InputError, match=r"end the file name with \.png"):
        save_image(np.zeros((4, 4, 3), "float32"), tmp_path / name)
    assert os.listdir(tmp_path) == []


# --- Tiling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length,tile,overlap", [(200, 64, 16), (68, 64, 8), (400, 96, 32)])
def test_tile_weights_partition_unity(length, tile, overlap):
    starts, size, bounds = inference._axis_tiles(length, tile, overlap, 4)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(s % 4 == 0 for s in starts)
    for scale in (1, 4):
        ramp = inference._ramp(starts, size, bounds, overlap)
        total = np.zeros(length * scale)
        weights = inference._axis_weights(starts, size, bounds, scale, ramp)
        for start, w in zip(starts, weights, strict=True):
            total[start * scale : (start + size) * scale] += w
            assert w[0] < 1e-6 or start == 0  # tile edges get no weight
        np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_even_batches():
    assert [inference._even_batch(n, 4) for n in (1, 3, 4, 5, 9, 10)] == [1, 3, 4, 3, 3, 4]


# Tiled == untiled to this tolerance when the overlap covers the receptive field (measured
# on these settings: random weights, 1 residual block, 2x2 tiles overlapping by exactly
# `overlap`: max |difference| about 4e-7 for the SR net, 0 to 3e-6 for the style nets).
TILED_ATOL = 1e-5
# With instance norm the whole-image statistics are combined from per-tile moments while the
# untiled pass reduces the whole image at once; the float32 rounding difference passes
# through every normalization (measured max |difference| 5e-5 TensorFlow, 2e-6 JAX).
INSTANCE_TILED_ATOL = 2e-4


def test_tiled_equals_untiled_sr_net(sr_model):
    model, image = sr_model, SR_IMAGE
    whole = upscale(model, image)
    assert whole.std() > 0.05  # not a saturated, constant output
    tiled = upscale(model, image, tile_size=64, overlap=32, batch_size=3)
    assert tiled.shape == whole.shape == (384, 360, 3)
    np.testing.assert_allclose(tiled, whole, atol=TILED_ATOL)
    # Too little overlap for the receptive field: measurably different.
    rough = upscale(model, image, tile_size=48, overlap=0)
    assert np.abs(rough - whole).max() > 10 * TILED_ATOL


def test_progress_counts_images_and_tiles(sr_model, style_model):
    seen = []
    small = SR_IMAGE[:40, :40]
    upscale(sr_model, [small, SR_IMAGE, small], tile_size=64, overlap=32, batch_size=4,
            progress=lambda done, total: seen.append((done, total)))
    # The tiled image first (2x2 tiles in one batch, one pass: no instance norm), then the
    # two small ones in one batch.
    assert seen == [(1.0, 3), (3, 3)]
    seen.clear()
    stylize(style_model, _photo(40, 72), tile_size=40, overlap=8, batch_size=1,
            progress=lambda done, total: seen.append((done, total)))
    fractions = [done for done, _ in seen]
    # 2 tiles, one per batch; statistics passes over instance norm, then the output pass.
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 6
    assert {total for _, total in seen} == {1} and 0 < fractions[0] < 0.5
    with pytest.raises(InputError, match="progress must be a callable"):
        upscale(sr_model, small, progress=3)


def test_tiled_equals_untiled_batch_norm_style_net():
    keras.utils.set_random_seed(3)
    image = _photo(190, 189)  # padded to 192: two 128-pixel tiles overlapping by 64
    model = _calibrated(style_transfer_net(normalization="batch", **TINY), image)
    whole = stylize(model, image)
    assert whole.std() > 0.05
    tiled = stylize(model, image, tile_size=128, overlap=64)
    np.testing.assert_allclose(tiled, whole, atol=TILED_ATOL)
    rough = stylize(model, image, tile_size=96, overlap=0)
    assert np.abs(rough - whole).max() > 10 * TILED_ATOL


def _untiled_statistics(model, image):
    recorded = {}

    def provider(layer, x):
        x = to_numpy(x).astype("float64")
        recorded[id(layer)] = (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2)))
        return None

    with instance_norm_statistics(provider):
        model(image[None])
    return recorded


def test_instance_norm_tiling_uses_whole_image_statistics(style_model, monkeypatch):
    image = _photo(190, 189)
    whole = stylize(style_model, image)
    assert whole.std() > 0.05

    tiled = stylize(style_model, image, tile_size=128, overlap=64)
    np.testing.assert_allclose(tiled, whole, atol=INSTANCE_TILED_ATOL)

    # The statistics measured tile by tile are the whole image's.
    expected = _untiled_statistics(style_model, image)
    measured = {}
    original = inference._StatisticsPass.result

    def spy(self):
        measured[self.target] = original(self)
        return measured[self.target]

    monkeypatch.setattr(inference._StatisticsPass, "result", spy)
    stylize(style_model, image, tile_size=128, overlap=64)
    norms = [x for x in inference.walk_layers(style_model) if isinstance(x, InstanceNormalization)]
    assert set(measured) == {id(x) for x in norms} == set(expected)
    for key, (mean, var) in measured.items():
        np.testing.assert_allclose(mean, expected[key][0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(var, expected[key][1], rtol=1e-4, atol=1e-4)

    # Per-tile statistics (opt-in) are measurably different: the reason for the default.
    per_tile = stylize(style_model, image, tile_size=128, overlap=64, norm_statistics="tile")
    assert np.abs(per_tile - whole).max() > 100 * INSTANCE_TILED_ATOL


def test_tiling_warns_for_foreign_per_image_normalization(rng):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(3, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.GroupNormalization(groups=-1)(x))
    image = _photo(40, 40, rng)
    with pytest.warns(UserWarning, match="seams may remain visible"):
        stylize(model, image, tile_size=32, overlap=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stylize(model, image)  # untiled: nothing to warn about


# --- Post-processing --------------------------------------------------------------------------


def test_preserve_color_keeps_content_chroma(style_model):
    content = _photo(20, 24)
    plain = stylize(style_model, content)
    kept = stylize(style_model, content, preserve_color=True)
    yiq = inference._RGB_TO_YIQ
    inside = np.all((kept > 1e-4) & (kept < 1 - 1e-4), axis=-1)  # not clipped
    assert inside.mean() > 0.5
    np.testing.assert_allclose(
        (kept @ yiq.T)[inside][:, 0], (plain @ yiq.T)[inside][:, 0], atol=1e-5
    )
    np.testing.assert_allclose(
        (kept @ yiq.T)[inside][:, 1:], (content @ yiq.T)[inside][:, 1:], atol=1e-5
    )


def test_match_histograms_matches_skimage(rng):
    exposure = pytest.importorskip("skimage.exposure")
    image = rng.random((32, 30, 3)).astype("float32") ** 2
    reference = rng.random((8, 9, 3)).astype("float32")
    np.testing.assert_allclose(
        match_histograms(image, reference),
        exposure.match_histograms(image, reference, channel_axis=-1),
        atol=1e-6,
    )


def test_upscale_histogram_match(sr_model, rng):
    low = _photo(8, 10, rng)
    out = upscale(sr_model, low, histogram_match=True)
    for c in range(3):
        np.testing.assert_allclose(
            np.quantile(out[..., c], [0.1, 0.5, 0.9]),
            np.quantile(low[..., c], [0.1, 0.5, 0.9]),
            atol=0.03,
        )


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images,kwargs,match",
    [
        (np.zeros((16, 16, 3), np.uint8), {}, "astype\\('float32'\\) / 255.0"),
        (np.zeros((16, 16, 4), np.float32), {}, "alpha channel"),
        (np.zeros((16,), np.float32), {}, "images must be an image"),
        ([], {}, "empty list"),
        (np.zeros((2, 2, 3), np.float32), {}, "needs at least 5x5"),
        (np.full((16, 16, 3), np.nan, np.float32), {}, "NaN"),
        ("/no/such/image.png", {}, "does not exist"),
        (np.zeros((40, 40, 3), np.float32), {"tile_size": 32, "overlap": 20}, "at most half"),
        (np.zeros((16, 16, 3), np.float32), {"norm_statistics": "approx"}, "'image', 'tile'"),
        (np.zeros((16, 16, 3), np.float32), {"batch_size": 0}, "batch_size"),
        (np.zeros((16, 16, 3), np.float32), {"value_range": (1, 1)}, "value_range"),
    ],
)
def test_bad_inputs_raise(style_model, images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stylize(style_model, images, **kwargs)


# --- Model inspection: one walker, one minimum-size rule (shared with export) ---------------


def test_walk_layers_and_min_input_size_see_nested_models(style_model):
    from keras_perceptual.layers import PadToMultiple

    inputs = keras.Input((None, None, 3))
    wrapper = keras.Model(inputs, style_model(inputs))
    walked = list(inference.walk_layers(wrapper))
    assert len({id(layer) for layer in walked}) == len(walked)  # each once
    assert style_model in walked and any(isinstance(x, PadToMultiple) for x in walked)
    assert inference.min_input_size(wrapper) == inference.min_input_size(style_model) == 5
    assert inference.input_alignment(wrapper) == (4, "reflect")
    plain = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 1)])
    assert inference.min_input_size(plain) == 1
    assert inference.input_alignment(plain) == (1, "reflect")


def test_variables_and_half_precision_are_accepted(style_model, rng):
    image = rng.random((12, 12, 3), dtype=np.float32)
    reference = stylize(style_model, image)
    values = [keras.Variable(image), image.astype("float16"), image.astype("float64"),
              keras.ops.cast(image, "bfloat16"), keras.ops.convert_to_tensor(image[None])]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        values.append(tf.Variable(image))
    for value in values:
        out = stylize(style_model, value)
        assert out.dtype == np.float32 and out.shape[-3:] == reference.shape
        bfloat = keras.backend.standardize_dtype(getattr(value, "dtype", "")) == "bfloat16"
        np.testing.assert_allclose(out.reshape(reference.shape), reference,
                                   atol=2e-2 if bfloat else 2e-3)


# --- Many styles and any style ------------------------------------------------------------


@pytest.fixture(scope="module")
def multi_model():
    from keras_perceptual.models import multi_style_transfer_net

    model = multi_style_transfer_net(3, **TINY)
    rng = np.random.default_rng(4)
    for w in model.weights:  # distinct styles: random per-style scales and offsets
        value = rng.standard_normal(tuple(w.shape)) * 0.3
        w.assign((value + (1.0 if w.path.endswith("gamma") else 0.0)).astype("float32"))
    return model


@pytest.fixture(scope="module")
def adain_model():
    from keras_perceptual.models import arbitrary_style_net

    return arbitrary_style_net(weights=None, backbone="vgg16", filters=4)


def test_stylize_multi_style_index_and_blend(multi_model):
    photos = np.stack([_photo(36, 44), _photo(36, 44, np.random.default_rng(1))])
    for style in (2, 0):  # one network, its style chosen per call
        expected = to_numpy(multi_model([photos, np.eye(3, dtype="float32")[[style, style]]]))
        np.testing.assert_allclose(stylize(multi_model, photos, style=style), expected, atol=1e-5)
    weights = np.array([0.2, 0.5, 0.3], "float32")
    expected = to_numpy(multi_model([photos, np.stack([weights, weights])]))
    np.testing.assert_allclose(
        stylize(multi_model, list(photos), style_weights=list(weights))[1], expected[1], atol=1e-5
    )


def test_stylize_multi_style_tiled_equals_untiled(multi_model):
    image = _photo(120, 136)
    whole = stylize(multi_model, image, style_weights=[0.2, 0.3, 0.5])
    tiled = stylize(multi_model, image, style_weights=[0.2, 0.3, 0.5], tile_size=96, overlap=48)
    np.testing.assert_allclose(tiled, whole, atol=3e-3)


def test_stylize_with_a_style_image(adain_model, rng):
    photos = np.stack([_photo(40, 48), _photo(40, 48, rng)])
    style = rng.random((30, 36, 3), dtype=np.float32)
    expected = to_numpy(adain_model([photos, style[None]]))
    np.testing.assert_allclose(stylize(adain_model, photos, style_image=style), expected, atol=1e-5)
    # alpha=0: the decoded content features, whatever the style.
    keep = stylize(adain_model, photos, style_image=style, alpha=0.0)
    other = stylize(adain_model, photos, style_image=style[::-1, ::-1] ** 2, alpha=0.0)
    np.testing.assert_allclose(keep, other, atol=1e-6)


def test_stylize_interpolates_style_images(adain_model, rng):
    photo = _photo(40, 40)
    styles = [rng.random((24, 32, 3), dtype=np.float32), rng.random((40, 24, 3), dtype=np.float32) ** 3]
    encoder, adain = adain_model.get_layer("encoder"), adain_model.get_layer("adain")
    features = encoder(photo[None])["relu4_1"]
    mixed = sum(w * to_numpy(adain([features, encoder(s[None])["relu4_1"]]))
                for w, s in zip((0.25, 0.75), styles, strict=True))
    expected = to_numpy(adain_model.get_layer("output")(adain_model.get_layer("decoder")(mixed)))
    got = stylize(adain_model, photo, style_images=styles, style_weights=[0.25, 0.75])
    np.testing.assert_allclose(got, expected[0], atol=1e-5)


def test_stylize_style_size_resizes_every_style_image(adain_model, rng, tmp_path):
    """style_size: the style image's shorter side resized (resize_shorter_side), arrays and
    paths alike, before it is encoded (AdaIN's test.py --style_size)."""
    from keras_perceptual.images import resize_shorter_side

    photo = _photo(32, 40)
    style = rng.random((36, 54, 3), dtype=np.float32) ** 2
    save_image(style, tmp_path / "style.png")
    path, decoded = str(tmp_path / "style.png"), load_image(tmp_path / "style.png")
    got = stylize(adain_model, photo, style_image=style, style_size=16)
    np.testing.assert_array_equal(
        got, stylize(adain_model, photo, style_image=resize_shorter_side(style, 16)))
    assert np.abs(got - stylize(adain_model, photo, style_image=style)).max() > 1e-3
    np.testing.assert_array_equal(stylize(adain_model, photo, style_image=style, style_size=None),
                                  stylize(adain_model, photo, style_image=style))
    np.testing.assert_array_equal(  # a path is decoded, then resized as the array is
        stylize(adain_model, photo, style_image=path, style_size=16),
        stylize(adain_model, photo, style_image=decoded, style_size=16))
    other = rng.random((20, 14, 3), dtype=np.float32)
    blend = stylize(adain_model, photo, style_images=[path, other], style_weights=[0.3, 0.7],
                    style_size=24)
    resized = [resize_shorter_side(decoded, 24), resize_shorter_side(other, 24)]  # other enlarged
    np.testing.assert_array_equal(
        blend, stylize(adain_model, photo, style_images=resized, style_weights=[0.3, 0.7]))


@pytest.mark.parametrize("style_size", [0, -1, True, 2.5, "512"])
def test_stylize_refuses_a_style_size_that_is_not_a_positive_integer(adain_model, style_size):
    with pytest.raises(InputError, match=r"style_size must be an integer >= 1\. Received: "
                                         rf"style_size={style_size!r}"):
        stylize(adain_model, _photo(16, 16), style_image=_photo(16, 16), style_size=style_size)


def test_stylize_refuses_a_style_size_below_the_encoders_minimum(adain_model):
    with pytest.raises(InputError, match=r"style_size=4 would make style_image smaller than "
                                         r"the 8x8 pixels the style encoder needs"):
        stylize(adain_model, _photo(16, 16), style_image=_photo(16, 16), style_size=4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, r"holds 3 styles: pass style=k"),
        ({"style": 3}, r"index from 0 to 2 .*Received: style=3"),
        ({"style": -1}, r"index from 0 to 2"),
        ({"style": True}, r"index from 0 to 2"),
        ({"style": 0, "style_weights": [1, 0, 0]}, "not both"),
        ({"style_weights": [0.5, 0.5]}, r"one weight per style: 3 .*\(2 weights\)"),
        ({"style_weights": [0.5, 0.7, -0.2]}, r">= 0 and sum to 1"),
        ({"style_weights": [0.5, 0.6, 0.0]}, r"sum to 1 .*sum 1\.1"),
        ({"style_weights": [np.nan, 1, 0]}, "finite numbers"),
        ({"style": 0, "alpha": 0.5}, "alpha are for arbitrary_style_net"),
        ({"style_image": np.zeros((16, 16, 3), "float32")},
         "style_image, style_images, style_size and alpha are for arbitrary_style_net"),
        ({"style": 0, "style_size": 64}, r"style_size and alpha .*Received: .*style_size=64"),
    ],
)
def test_stylize_multi_style_bad_options(multi_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stylize(multi_model, _photo(16, 16), **kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "needs a style: pass style_image"),
        ({"style": 1}, "style=k selects a trained style"),
        ({"style_image": np.zeros((16, 16, 4), "float32")}, r"style_image must be one RGB image .*alpha"),
        ({"style_image": np.zeros((16, 16), "float32")}, r"shape \(height, width, 3\)"),
        ({"style_image": np.zeros((6, 30, 3), "float32")}, "at least 8x8"),
        ({"style_image": np.zeros((16, 16, 3), "uint8")}, "dtype uint8"),
        ({"style_image": np.zeros((16, 16, 3), "float32"), "alpha": 1.5}, "alpha must be a number"),
        ({"style_images": [np.zeros((16, 16, 3), "float32")] * 2, "style_weights": [1.0]},
         "one weight per style image"),
        ({"style_images": []}, "non-empty list"),
    ],
)
def test_stylize_arbitrary_bad_options(adain_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stylize(adain_model, _photo(16, 16), **kwargs)


def test_a_missing_style_choice_is_not_called_both(multi_model, adain_model, style_model):
    # Before: "..., not both. Received: style=None, style_weights=None" when neither was given.
    image = _photo(16, 16)
    cases = ((multi_model, {"style": 0, "style_weights": [1, 0, 0]},
              r"pass style=k \(an index from 0 to 2\) or style_weights=\[\.\.\.\] \(3 weights "
              r">= 0 summing to 1\)\. Received: style=None, style_weights=None$"),
             (adain_model, {"style_image": image, "style_images": [image]},
              r"\(several, blended by style_weights\)\. Received: style_image=None, "
              r"style_images=None$"))  # fmt: skip
    for model, both, neither in cases:
        with pytest.raises(InputError, match=neither):
            stylize(model, image)
        with pytest.raises(InputError, match=r", not both\. Received: "):
            stylize(model, image, **both)
    assert [style_kind(m) for m in (multi_model, adain_model, style_model)] == [
        (3, False), (None, True), (None, False)]


def test_stylize_single_style_model_refuses_style_options(style_model):
    with pytest.raises(ValueError, match="single-style network"):
        stylize(style_model, _photo(16, 16), style=0)
    with pytest.raises(InputError, match=r"style_images, style_size and alpha apply to networks "
                                         r"built by .*single-style network"):
        stylize(style_model, _photo(16, 16), style_size=64)


def test_precision_option(monkeypatch):
    from keras_perceptual import precision
    from keras_perceptual.models import model_precision, with_dtype_policy
    from keras_perceptual.runtimes import KerasRuntime

    keras.utils.set_random_seed(0)  # bfloat16's rounding error depends on the weights
    model = style_transfer_net(**TINY)
    photo = _photo(24, 20)
    reference = stylize(model, photo)
    np.testing.assert_array_equal(stylize(model, photo, precision="float32"), reference)

    def fake(bfloat16):
        answer = precision.DeviceCapabilities("cpu", "Test CPU", keras.backend.backend(),
                                              bfloat16, False, "AVX2", reason="faked")  # fmt: skip
        monkeypatch.setattr(precision, "device_capabilities", lambda: answer)
        monkeypatch.setattr(precision, "_warned", set())

    fake(bfloat16=False)  # an AVX2 CPU: "auto" runs a mixed-precision network in float32
    mixed = with_dtype_policy(model, "mixed_bfloat16")
    assert inference.with_precision(mixed, "auto") is inference.with_precision(mixed, "auto")
    assert model_precision(inference.with_precision(mixed, "auto")) == "float32"
    np.testing.assert_allclose(stylize(mixed, photo, precision="auto"), reference, atol=1e-5)
    assert inference.with_precision(model, "auto") is model
    fake(bfloat16=True)  # bfloat16 units: "auto" runs in bfloat16, close to float32
    fast = stylize(model, photo, precision="auto")
    assert np.abs(fast - reference).max() < 0.05
    with pytest.raises(ValueError, match="precision must be one of"):
        upscale(super_resolution_net(4, **TINY), photo[:8, :8], precision="fp8")
    assert inference.with_precision(KerasRuntime(model), "auto") is not model  # bfloat16 copy
    exported = type("ExportedRuntime", (), {})()  # e.g. ONNX Runtime: computes as exported
    assert inference.with_precision(exported, "auto") is exported
    with pytest.raises(ValueError, match="computes in the precision it was exported with"):
        inference.with_precision(exported, "float32")


def test_flags_and_value_range_are_checked_not_read_as_truthy(rng):
    """Before: preserve_color="no" and histogram_match="false" were truthy and applied, and
    value_range="01" was read as (0, 1)."""
    net = style_transfer_net(filters=4, num_residual_blocks=1)
    sr = super_resolution_net(2, filters=4, num_residual_blocks=1)
    image = rng.random((8, 8, 3), dtype=np.float32)
    with pytest.raises(InputError, match=r"preserve_color must be True or False.*='no'"):
        stylize(net, image, preserve_color="no")
    with pytest.raises(InputError, match=r"histogram_match must be True or False.*='false'"):
        upscale(sr, image, histogram_match="false")
    for value_range in ("01", (True, 2), (0, False)):
        with pytest.raises(InputError, match=r"value_range must be a pair \(low, high\)"):
            stylize(net, image, value_range=value_range)
    np.testing.assert_array_equal(stylize(net, image, preserve_color=np.bool_(False)),
                                  stylize(net, image))


def test_an_empty_batch_is_one_clear_error():
    """Before: an array (0, H, W, 3) raised numpy's 'need at least one array to stack'."""
    net = style_transfer_net(filters=4, num_residual_blocks=1)
    with pytest.raises(InputError, match=r"images is an empty batch.*images.shape=\(0, 8, 8, 3\)"):
        stylize(net, np.zeros((0, 8, 8, 3), "float32"))


@pytest.mark.parametrize("function", ["stylize", "upscale"])
def test_a_truncated_path_is_one_clear_error(style_model, sr_model, tmp_path, function):
    make_photos(tmp_path, count=2)
    cut = truncate_image(tmp_path / "photo1.png")
    model = style_model if function == "stylize" else sr_model
    with pytest.raises(InputError) as caught:
        getattr(inference, function)(model, [str(tmp_path / "photo0.png"), cut])
    message = str(caught.value)
    assert message.startswith(f"{cut!r} is truncated (image file is truncated)"), message
    assert "re-export or re-download it" in message and message.endswith(f"path={cut!r}")


def _conv_model(layer, name):
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, layer(inputs), name=name)


@pytest.mark.parametrize("tile_size", [None, 8])
def test_a_network_that_does_not_map_images_to_images_is_refused(tile_size):
    # Before: stylize(classifier, image) returned its (10,) scores as "the image", a network
    # that halves its input gave half-size images, and stylize with a x4 super-resolution
    # network a 4x larger one; upscale likewise. Now the output shape is checked against
    # what each function returns, on the batches it runs anyway (no extra pass).
    image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    classifier = _conv_model(
        lambda x: keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)), "classifier")
    halves = _conv_model(keras.layers.Conv2D(3, 3, strides=2, padding="same"), "halves")
    four_channels = _conv_model(keras.layers.Conv2D(4, 3, padding="same"), "four_channels")
    sr = super_resolution_net(4, filters=4, num_residual_blocks=1)
    options = {"tile_size": tile_size, "overlap": 2}
    for model in (classifier, halves, four_channels):
        for function in (stylize, upscale):
            with pytest.raises(InputError, match=f"{function.__name__} needs .* this model maps "
                                                 f".*Received: model='{model.name}'"):
                function(model, image, **options)
    with pytest.raises(InputError, match=r"to \(\d+, 64, 64, 3\) \(a super-resolution network: "
                                         r"use upscale\)|to \(\d+, 32, 32, 3\) \(a super-res"):
        stylize(sr, image, **options)
    assert upscale(sr, image, **options).shape == (64, 64, 3)


# --- Bad arguments of the wrong kind: one InputError naming the argument -----------------


def test_save_image_path_that_is_not_a_path_is_named(tmp_path):
    # Before: os.fspath's bare TypeError.
    with pytest.raises(InputError, match="Received: path=None"):
        save_image(np.zeros((2, 2, 3), "float32"), None)
    # Before: FileNotFoundError naming a temporary file the caller never named.
    with pytest.raises(InputError, match=r"folder of path does not exist.*Received: path="):
        save_image(np.zeros((2, 2, 3), "float32"), tmp_path / "missing" / "out.png")
    # A folder named like an image (same rule as stylize_video's output_path).
    (tmp_path / "grid.png").mkdir()
    with pytest.raises(InputError, match=r"path .*grid.png' is a folder; pass a file name"):
        save_image(np.zeros((2, 2, 3), "float32"), tmp_path / "grid.png")


@pytest.mark.parametrize("image, reference, name", [
    (np.zeros((0, 4, 3)), np.ones((4, 4, 3)), "image"),
    (np.ones((4, 4, 3)), np.zeros((4, 0, 3)), "reference"),
    (np.ones((4, 4, 3)), np.full((4, 4, 3), np.nan), "reference"),
])  # fmt: skip
def test_match_histograms_refuses_empty_and_non_finite_images(image, reference, name):
    # Before: numpy's "array of sample points is empty", or NaN written out silently.
    with pytest.raises(InputError, match=rf"Received: {name}.shape="):
        match_histograms(image, reference)


def test_style_helpers_check_their_other_arguments():
    from keras_perceptual.models import multi_style_transfer_net

    # Before: TypeError ('<' between int and str) / a bad value_range bound silently.
    with pytest.raises(InputError, match="Received: num_styles='2'"):
        inference.resolve_style_weights("2", style=0)
    multi = multi_style_transfer_net(2, filters=4, num_residual_blocks=1)
    with pytest.raises(InputError, match="Received: value_range='01'"):
        inference.bind_style(multi, "01", style=0)
    # Before: TypeError from vars(None).
    with pytest.raises(InputError, match="Received: model=None"):
        inference.min_input_size(None)


def test_a_tile_smaller_than_the_network_accepts_is_refused_up_front(style_model, sr_model):
    # Before: stylize(..., tile_size=4) raised the padding layer's error from inside Keras
    # ("Exception encountered when calling PadToMultiple.call() ... Input images are 4x4
    # pixels", on images of any size), and the command line a MirrorPad traceback. The
    # smallest tile is the smallest input rounded up to the network's alignment.
    image = np.random.default_rng(0).random((24, 24, 3), dtype=np.float32)
    assert min_input_size(style_model) == 5 and input_alignment(style_model)[0] == 4
    for tile_size in (1, 4, 7):
        with pytest.raises(InputError, match=rf"^tile_size must be at least 8: .* at least 5x5 "
                                             rf"pixels\. .*Received: tile_size={tile_size}$"):
            stylize(style_model, image, tile_size=tile_size, overlap=0)
    with pytest.raises(InputError, match=r"^tile_size must be at least 5: .*tile_size=4$"):
        upscale(sr_model, image, tile_size=4, overlap=0)
    assert stylize(style_model, image, tile_size=8, overlap=0).shape == (24, 24, 3)
    assert upscale(sr_model, image, tile_size=5, overlap=0).shape == (96, 96, 3)
