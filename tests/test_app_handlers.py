"""keras_perceptual.app.handlers: uploads in, images out, every bad input a message."""

from __future__ import annotations

import os
import pathlib
import threading
import time
import unicodedata

import numpy as np
import pytest
from PIL import Image

from keras_perceptual.app import handlers
from keras_perceptual.app.catalog import inspect_model
from keras_perceptual.app.handlers import (
    Limits,
    Options,
    RunResult,
    bicubic_baseline,
    blend_weights,
    check_upload,
    detail_window,
    new_request_folder,
    process_uploads,
    zoomed_crops,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import load_image
from keras_perceptual.inference import stylize, upscale
from keras_perceptual.models import (
    arbitrary_style_net,
    multi_style_transfer_net,
    style_transfer_net,
    super_resolution_net,
)


@pytest.fixture(scope="module")
def style():
    return inspect_model(style_transfer_net(filters=4, num_residual_blocks=1))


@pytest.fixture(scope="module")
def sr():
    return inspect_model(super_resolution_net(4, filters=4, num_residual_blocks=1))


def photo(path, size=(48, 40), seed=0, **save):
    """A smooth random RGB photo of ``size`` (width, height), saved by extension."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    image.save(path, **save)
    return str(path)


def png_pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def as_png_pixels(array, tmp_path):
    from keras_perceptual.inference import save_image

    save_image(array, tmp_path / "reference.png")
    return png_pixels(tmp_path / "reference.png")


@pytest.fixture
def bad_files(tmp_path):
    """One file per kind of bad upload, with the words its message must contain."""
    good = photo(tmp_path / "good.jpg", size=(200, 160))
    data = pathlib.Path(good).read_bytes()
    (tmp_path / "notes.txt").write_text("not an image at all")
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 3 // 4])  # header intact, data cut
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (400, 300)).save(tmp_path / "huge.png")
    (tmp_path / "heavy.png").write_bytes(b"\0" * 30_000)
    return {
        str(tmp_path / "notes.txt"): "not an image",
        str(tmp_path / "cut.jpg"): "cut.jpg is truncated (image file is truncated",
        str(tmp_path / "garbage.png"): "cannot be read as an image",
        str(tmp_path / "empty.jpg"): "is empty",
        str(tmp_path / "dot.png"): "1×1 pixels; this model needs at least 5×5",
        str(tmp_path / "huge.png"): "120,000 pixels, over the limit of 100,000",
        str(tmp_path / "heavy.png"): "is 29.3 kB, over the upload limit of 20.0 kB",
        str(tmp_path / "never-arrived.jpg"): "did not arrive",
    }


LIMITS = Limits(max_upload_mb=20 / 1024, max_pixels=100_000, max_files=16)


# --------------------------------------------------------------------------------------
# Good uploads
# --------------------------------------------------------------------------------------


def test_style_request_writes_the_stylized_png(style, tmp_path):
    path = photo(tmp_path / "cat.jpg")
    result = process_uploads(style, [path], output_dir=str(tmp_path / "out"))
    assert result.errors == ()
    (item,) = result.images
    assert item.name == "cat.jpg" and item.input_size == (48, 40) == item.output_size
    assert os.path.basename(item.output_path) == "cat_stylized.png"
    out = png_pixels(item.output_path)
    reference = as_png_pixels(stylize(style.model, load_image(path)), tmp_path)
    np.testing.assert_array_equal(out, reference)
    assert np.abs(out.astype(int) - png_pixels(path).astype(int)).mean() > 5  # not the input
    assert [caption for _, caption in item.gallery] == ["cat.jpg: input", "cat.jpg: stylized"]
    np.testing.assert_array_equal(png_pixels(item.gallery[0][0]), np.asarray(Image.open(path)))
    assert item.gallery[1][0] == item.output_path
    summary = result.summary()
    assert "cat.jpg: 48×40 → 48×40 in **" in summary and "Device: " in summary
    assert item.seconds > 0 and not item.tiles


def test_preserve_color_reaches_stylize(style, tmp_path):
    path = photo(tmp_path / "p.png")
    options = Options(preserve_color=True)
    (item,) = process_uploads(style, [path], options, output_dir=str(tmp_path)).images
    expected = stylize(style.model, load_image(path), preserve_color=True)
    np.testing.assert_array_equal(png_pixels(item.output_path), as_png_pixels(expected, tmp_path))


def test_tile_size_reaches_the_inference_functions(style, sr, tmp_path, monkeypatch):
    import keras_perceptual.inference as inference

    calls = []

    def spy(name):
        def run(model, image, **kwargs):
            calls.append((name, kwargs))
            return np.zeros((image.shape[0] * (4 if name == "upscale" else 1),
                             image.shape[1] * (4 if name == "upscale" else 1), 3), np.float32)
        return run

    monkeypatch.setattr(inference, "stylize", spy("stylize"))
    monkeypatch.setattr(inference, "upscale", spy("upscale"))
    path = photo(tmp_path / "p.png")
    (item,) = process_uploads(style, [path], Options(tile_size=32), output_dir=str(tmp_path)).images
    process_uploads(sr, [path], Options(tile_size=300, histogram_match=True),
                    output_dir=str(tmp_path))
    for call in calls:
        assert call[1].pop("progress") is None  # no progress callback given
    assert calls == [("stylize", {"tile_size": 32, "preserve_color": False}),
                     ("upscale", {"tile_size": 300, "histogram_match": True})]
    assert item.tiles  # 48 px > 32 px


def test_super_resolution_request_shows_bicubic_and_zoomed_crops(sr, tmp_path):
    path = photo(tmp_path / "small.webp", size=(40, 32), format="WEBP", lossless=True)
    result = process_uploads(sr, [(path, "small.webp")], Options(histogram_match=True),
                             output_dir=str(tmp_path))
    (item,) = result.images
    assert item.output_size == (160, 128) and os.path.basename(item.output_path) == "small_x4.png"
    expected = upscale(sr.model, load_image(path), histogram_match=True)
    np.testing.assert_array_equal(png_pixels(item.output_path), as_png_pixels(expected, tmp_path))
    captions = [caption for _, caption in item.gallery]
    assert captions == ["small.webp: bicubic ×4", "small.webp: network ×4",
                        "zoomed crop: bicubic", "zoomed crop: network"]
    bicubic = png_pixels(item.gallery[0][0])
    np.testing.assert_array_equal(
        bicubic, as_png_pixels(bicubic_baseline(load_image(path), 4, (0, 1)), tmp_path))
    zoom_b, zoom_n = (png_pixels(p) for p, _ in item.gallery[2:])
    assert zoom_b.shape == zoom_n.shape and zoom_b.shape[0] >= 300  # enlarged to ~320 px


def test_exif_orientation_is_applied(style, tmp_path):
    image = Image.open(photo(tmp_path / "plain.jpg", size=(40, 48)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "camera.jpg", exif=exif)
    (item,) = process_uploads(style, [str(tmp_path / "camera.jpg")], output_dir=str(tmp_path)).images
    assert item.input_size == (48, 40) == item.output_size
    assert png_pixels(item.output_path).shape == (40, 48, 3)


def test_duplicate_names_get_distinct_outputs(style, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [photo(tmp_path / "a" / "x.png"), photo(tmp_path / "b" / "x.png", seed=1)]
    result = process_uploads(style, files, output_dir=str(tmp_path))
    paths = [os.path.basename(item.output_path) for item in result.images]
    assert paths == ["x_stylized.png", "x-2_stylized.png"]


def test_names_whose_outputs_would_collide_get_distinct_outputs(style, sr, tmp_path):
    # Before: a_bicubic.png's network output overwrote a.png's bicubic baseline (both
    # a_bicubic_x4.png), so a.png showed another photo as its bicubic; A.png and a.png
    # wrote the same files on macOS and Windows; .png gave a hidden .png_stylized.png.
    red, blue = photo(tmp_path / "red.png", size=(32, 32)), photo(tmp_path / "b.png", seed=1)
    result = process_uploads(sr, [(red, "a.png"), (blue, "a_bicubic.png")],
                             output_dir=str(tmp_path / "sr"))
    first = dict((caption, path) for path, caption in result.images[0].gallery)
    np.testing.assert_array_equal(png_pixels(first["a.png: bicubic ×4"]), as_png_pixels(
        bicubic_baseline(load_image(red), 4, (0, 1)), tmp_path))
    written = [path for item in result.images for path, _ in item.gallery]
    assert len(set(written)) == len(written) == 8
    names = ["Photo.png", "photo.png", "PHOTO.jpg", "e\u0301.png", "\u00e9.png", ".png"]
    result = process_uploads(style, [(red, name) for name in names], output_dir=str(tmp_path))
    written = [os.path.basename(path) for item in result.images for path, _ in item.gallery]
    assert len({unicodedata.normalize("NFC", n).casefold() for n in written}) == 12
    assert not any(name.startswith(".") for name in written)


@pytest.mark.parametrize("stem", ["x" * 240, "фото_日本語" * 30])
def test_long_upload_names_give_short_output_names(style, tmp_path, stem):
    # 240 characters (or 240 multi-byte ones) plus a suffix are over the 255 bytes a file
    # name may have: the output names are cut, the messages keep the name as uploaded.
    path = photo(tmp_path / "p.jpg")
    result = process_uploads(style, [(path, stem + ".jpg")], output_dir=str(tmp_path))
    assert not result.errors and result.images[0].name == stem + ".jpg"
    for shown, _ in result.images[0].gallery:
        assert len(os.path.basename(shown).encode()) < 200 and os.path.isfile(shown)


def test_the_first_image_of_a_size_is_flagged(style, tmp_path):
    path = photo(tmp_path / "odd.png", size=(44, 36))
    first, second = (process_uploads(style, [path], output_dir=str(tmp_path)) for _ in range(2))
    assert first.images[0].first_of_size and not second.images[0].first_of_size
    assert "includes one-time graph tracing" in first.summary()
    assert "tracing" not in second.summary()


def test_progress_is_reported_per_image(style, tmp_path, monkeypatch):
    monkeypatch.setattr(handlers, "run_model",
                        lambda loaded, image, *args, **kwargs: {"output": image})
    seen = []
    files = [photo(tmp_path / "1.png"), photo(tmp_path / "2.png", size=(600, 500))]
    process_uploads(style, files, Options(tile_size=512), output_dir=str(tmp_path),
                    progress=lambda f, t: seen.append((f, t)))
    assert seen == [(0.0, "1.png (1/2): 48×40"), (0.5, "2.png (2/2): 600×500, in tiles of 512 px"),
                    (1.0, "done")]


def test_progress_follows_the_tiles_of_a_large_photo(style, tmp_path, monkeypatch):
    import keras_perceptual.inference as inference

    def tiled_stylize(model, image, progress=None, **kwargs):  # reports 4 steps (test_inference
        for step in range(1, 5):                                 # checks the real tile counts)
            progress(step / 4, 1)
        return image

    monkeypatch.setattr(inference, "stylize", tiled_stylize)
    seen = []
    files = [photo(tmp_path / "1.png", size=(40, 40)), photo(tmp_path / "2.png", size=(300, 40))]
    result = process_uploads(style, files, Options(tile_size=256), output_dir=str(tmp_path),
                             progress=lambda f, t: seen.append((f, t)))
    assert len(result.images) == 2 and result.images[1].tiles
    first, second = "1.png (1/2): 40×40", "2.png (2/2): 300×40, in tiles of 256 px"
    assert seen == [(0.0, first), (0.125, first), (0.25, first), (0.375, first), (0.5, first),
                    (0.5, second), (0.625, second), (0.75, second), (0.875, second),
                    (1.0, second), (1.0, "done")]


def test_multi_style_blends_the_slider_weights(tmp_path):
    loaded = inspect_model(multi_style_transfer_net(3, filters=4, num_residual_blocks=1))
    assert (loaded.kind.name, loaded.num_styles) == ("multi_style", 3)
    path = photo(tmp_path / "p.png")
    result = process_uploads(loaded, [path], Options(style_weights=(0.0, 1.0, 3.0)),
                             output_dir=str(tmp_path))
    (item,) = result.images
    weights = np.array([[0.0, 0.25, 0.75]], np.float32)
    expected = loaded.model([load_image(path)[None], weights], training=False)
    difference = png_pixels(item.output_path).astype(int) - as_png_pixels(
        np.asarray(expected)[0], tmp_path).astype(int)
    assert np.abs(difference).max() <= 1  # compiled vs eager float rounding
    with pytest.raises(InputError, match="Every style weight is 0"):
        process_uploads(loaded, [path], Options(style_weights=(0, 0)), output_dir=str(tmp_path))


def test_blend_weights():
    np.testing.assert_array_equal(blend_weights(None, 3), [1, 0, 0])
    np.testing.assert_allclose(blend_weights([2, 2], 4), [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(blend_weights([1e308, 1e308], 2), [0.5, 0.5])  # sum: inf
    # Before: float()'s ValueError/TypeError for a string or None, list(3)'s TypeError.
    for bad in ([1, -1], [1, float("nan")], [1, 1, 1, 1, 1], ["a", 1], [None, 1], 3, "1,0"):
        with pytest.raises(InputError, match="Received: style_weights="):
            blend_weights(bad, 4)


def test_arbitrary_style_uses_the_style_image_and_alpha(tmp_path):
    net = arbitrary_style_net(weights=None, filters=4)
    loaded = inspect_model(net)
    assert loaded.kind.name == "arbitrary_style" and loaded.min_side == 16
    content, style = photo(tmp_path / "c.png"), photo(tmp_path / "s.png", size=(40, 40), seed=3)
    half = process_uploads(loaded, [content], Options(style_image=style, alpha=0.5),
                           output_dir=str(tmp_path)).images[0]
    assert net.get_layer("adain").alpha == 1.0  # restored after the call
    twin = arbitrary_style_net(weights=None, filters=4, alpha=0.5)
    twin.set_weights(net.get_weights())
    expected = twin([load_image(content)[None], load_image(style)[None]], training=False)
    difference = png_pixels(half.output_path).astype(int) - as_png_pixels(
        np.asarray(expected)[0], tmp_path).astype(int)
    assert np.abs(difference).max() <= 1  # compiled vs eager float rounding
    full = process_uploads(loaded, [content], Options(style_image=style),
                           output_dir=str(tmp_path)).images[0]
    assert np.abs(png_pixels(full.output_path).astype(int)
                  - png_pixels(half.output_path).astype(int)).max() > 0
    with pytest.raises(InputError, match="upload one in the Style image box"):
        process_uploads(loaded, [content], Options(), output_dir=str(tmp_path))
    # Before: float()'s ValueError or TypeError for a string or None, os.fspath's for a list.
    for alpha in (2, -0.1, float("nan"), "0.5", None):
        with pytest.raises(InputError, match=r"alpha must be a number in \[0, 1\]"):
            process_uploads(loaded, [content], Options(style_image=style, alpha=alpha),
                            output_dir=str(tmp_path))
    with pytest.raises(InputError, match="Received: style_image=\\["):
        process_uploads(loaded, [content], Options(style_image=[style]), output_dir=str(tmp_path))
    (tmp_path / "bad.txt").write_text("no")
    with pytest.raises(InputError, match="Style image bad.txt cannot be read as an image"):
        process_uploads(loaded, [content], Options(style_image=str(tmp_path / "bad.txt")),
                        output_dir=str(tmp_path))


def test_the_style_is_bound_once_per_request(tmp_path, monkeypatch):
    # An arbitrary-style network encoded the style image again for every photo of a request.
    import keras_perceptual.inference as inference

    loaded = inspect_model(arbitrary_style_net(weights=None, filters=4))
    photos = [photo(tmp_path / f"c{i}.png", seed=i) for i in range(3)]
    style = photo(tmp_path / "s.png", size=(40, 40), seed=3)
    together = process_uploads(loaded, photos, Options(style_image=style),
                               output_dir=str(tmp_path / "together"))
    one_by_one = [process_uploads(loaded, [p], Options(style_image=style),
                                  output_dir=str(tmp_path / f"alone{i}")).images[0]
                  for i, p in enumerate(photos)]
    for a, b in zip(together.images, one_by_one, strict=True):
        np.testing.assert_array_equal(png_pixels(a.output_path), png_pixels(b.output_path))
    encodings = []
    real = inference.bind_style

    def counting(model, value_range, *args, **kwargs):  # stylize() also binds, to nothing
        encodings.extend([1] if kwargs.get("style_image") is not None else [])
        return real(model, value_range, *args, **kwargs)

    monkeypatch.setattr(inference, "bind_style", counting)
    process_uploads(loaded, photos, Options(style_image=style), output_dir=str(tmp_path / "n"))
    assert len(encodings) == 1


def test_a_large_style_image_is_downscaled_and_said(tmp_path, monkeypatch):
    # The style encoder sees the style image whole (about 1.4 GB per megapixel): a phone
    # photo as style image must not take the server's memory.
    from keras_perceptual.app.catalog import LoadedModel, kind_by_name

    loaded = LoadedModel(model=None, kind=kind_by_name("arbitrary_style"), scale=1,
                         value_range=(0.0, 1.0), min_side=16, parameters=None, mtime=0.0)
    monkeypatch.setattr(handlers, "STYLE_MAX_PIXELS", 48 * 32)
    seen = {}

    def run_model(loaded, image, options, prepared, progress=None):
        seen["style"] = prepared["style"].shape
        return {"output": image}

    monkeypatch.setattr(handlers, "run_model", run_model)
    big = photo(tmp_path / "big.png", size=(192, 128))
    result = process_uploads(loaded, [photo(tmp_path / "p.png")], Options(style_image=big),
                             output_dir=str(tmp_path))
    assert not result.errors and seen["style"] == (32, 48, 3)
    assert "Style image big.png (192×128) was downscaled to 48×32" in result.summary()
    small = photo(tmp_path / "small.png", size=(48, 32))
    prepared = handlers.prepare_options(loaded, Options(style_image=small))
    assert prepared["style"].shape == (32, 48, 3) and "note" not in prepared
    # stylize(style_size=...)'s resize, of the decoded pixels.
    from keras_perceptual.images import load_image, resize_shorter_side

    prepared = handlers.prepare_options(loaded, Options(style_image=big))
    np.testing.assert_array_equal(prepared["style"], resize_shorter_side(load_image(big), 32))
    # The pixel cap holds after the longer side is rounded. Before: 40 x 50 became 35 x 44,
    # 1,540 pixels, "at most 1,536".
    prepared = handlers.prepare_options(loaded, Options(style_image=photo(tmp_path / "t.png",
                                                                          size=(40, 50))))
    assert prepared["style"].shape == (42, 34, 3), prepared["style"].shape
    assert "downscaled to 34×42 before encoding (at most 1,536 pixels" in prepared["note"]


def test_what_the_model_does_not_see_is_said(style, tmp_path):
    # An animated GIF's first frame only; a PNG's transparency dropped (not composited).
    frames = [Image.open(photo(tmp_path / f"f{i}.png", seed=i)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    rgba = np.asarray(Image.open(photo(tmp_path / "o.png")).convert("RGBA")).copy()
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[:8, :, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "logo.png")
    files = [str(tmp_path / n) for n in ("anim.gif", "logo.png", "opaque.png", "f0.png")]
    result = process_uploads(style, files, output_dir=str(tmp_path))
    assert not result.errors and len(result.images) == 4
    assert result.notes == (
        "anim.gif is animated (3 frames): only its first frame was processed.",
        "logo.png has transparent areas: the alpha channel is dropped (they show the colour "
        "stored under them, often black).",
    )
    assert result.notes[0] in result.summary()


def test_pages_and_camera_previews_are_not_called_animation(tmp_path):
    # Before: a phone's MPO JPEG (the photo, then a preview or depth map) was "animated (2
    # frames): only its first frame was processed", and so was a scanner's 2-page TIFF.
    for name, kind in (("IMG_1.jpg", "MPO"), ("scan.tif", "TIFF")):  # new images for each
        frames = [Image.open(photo(tmp_path / f"f{i}.png", seed=i)) for i in range(2)]
        frames[0].save(tmp_path / name, kind, save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "IMG_1.jpg").n_frames == 2
    assert handlers.upload_notes(str(tmp_path / "IMG_1.jpg"), "IMG_1.jpg") == ()
    assert handlers.upload_notes(str(tmp_path / "scan.tif"), "scan.tif") == (
        "scan.tif has 2 pages: only its first page was processed.",)


# --------------------------------------------------------------------------------------
# Bad uploads
# --------------------------------------------------------------------------------------


def test_every_bad_upload_is_a_message_and_the_rest_still_runs(style, tmp_path, bad_files):
    good = photo(tmp_path / "fine.png", size=(32, 32))
    result = process_uploads(style, [*bad_files, good], limits=LIMITS, output_dir=str(tmp_path))
    assert [item.name for item in result.images] == ["fine.png"]
    assert len(result.errors) == len(bad_files)
    for error, (path, words) in zip(result.errors, bad_files.items(), strict=True):
        name = os.path.basename(path)
        assert error.startswith(name) and words in error, error
        assert "Received:" in error and "Traceback" not in error
        assert str(tmp_path) not in error  # the server's temporary paths are not shown
    summary = result.summary()
    assert summary.count("**") >= 2 * len(bad_files)


def test_a_heic_photo_is_named_as_such(tmp_path):
    # The iPhone's default format: "not an image" would be wrong; say what to do instead.
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\1" * 500)
    with pytest.raises(InputError, match=r"IMG_0001.HEIC cannot be read as an image \(unsupported: "
                       r"a HEIC/HEIF/AVIF photo .* export it as JPEG"):
        check_upload(str(path), "IMG_0001.HEIC", Limits())


def test_uploads_that_are_folders_or_unreadable_do_not_show_server_paths(tmp_path, monkeypatch):
    # Before: "p2 cannot be read as an image (unreadable: [Errno 21] Is a directory:
    # '/tmp/.../p2')": the errno, and the server's path, for a folder given as a style image.
    import keras_perceptual.images as images

    loaded = inspect_model(arbitrary_style_net(weights=None, filters=4))
    content = photo(tmp_path / "c.png")
    (tmp_path / "styles").mkdir()
    with pytest.raises(InputError, match=r"^Style image styles is a folder, not an image file; "
                       r"upload a JPEG") as info:
        process_uploads(loaded, [content], Options(style_image=str(tmp_path / "styles")),
                        output_dir=str(tmp_path / "out"))
    assert str(tmp_path) not in str(info.value)
    result = process_uploads(loaded, [str(tmp_path / "styles")],
                             Options(style_image=content), output_dir=str(tmp_path / "out"))
    assert result.errors == ("styles is a folder, not an image file; upload a JPEG, PNG or WebP "
                             "photo. Received: file='styles'",)

    def unreadable(path, *args, **kwargs):
        raise images.UnusableImageError(f"unreadable: [Errno 13] Permission denied: {path!r}")

    monkeypatch.setattr(images, "read_header", unreadable)
    with pytest.raises(InputError, match=r"^p.png cannot be read as an image \(unreadable: "
                       r"\[Errno 13\] Permission denied: 'p.png'\); upload"):
        check_upload(content, "p.png", Limits())


def test_super_resolution_output_size_is_limited(sr, tmp_path):
    path = photo(tmp_path / "wide.png", size=(100, 80))
    result = process_uploads(sr, [path], limits=Limits(max_pixels=100_000), output_dir=str(tmp_path))
    assert "would upscale to 400×320 = 128,000 pixels" in result.errors[0]


def test_twenty_bad_uploads_then_a_good_one(style, tmp_path, bad_files):
    bad = list(bad_files)
    for i in range(20):
        result = process_uploads(style, [bad[i % len(bad)]], limits=LIMITS, output_dir=str(tmp_path))
        assert result.images == () and len(result.errors) == 1
    good = photo(tmp_path / "good.png", size=(32, 32))
    assert len(process_uploads(style, [good], limits=LIMITS, output_dir=str(tmp_path)).images) == 1


def test_unexpected_failures_are_reported_not_raised(style, tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(handlers, "run_model", broken)
    result = process_uploads(style, [photo(tmp_path / "p.png")], output_dir=str(tmp_path))
    assert result.errors == ("p.png: the model failed on this image (RuntimeError: device lost); "
                             "the server's log has the details.",)
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "files, options, limits, match",
    [
        ([], Options(), Limits(), "No photo was uploaded"),
        (["a.png"] * 3, Options(), Limits(max_files=2), "3 files were uploaded; .* at most 2"),
        (["a.png"], Options(tile_size=0), Limits(), "tile size must be a whole number"),
    ],
)
def test_bad_requests_raise_input_error(style, tmp_path, files, options, limits, match):
    with pytest.raises(InputError, match=match):
        process_uploads(style, files, options, limits, output_dir=str(tmp_path))


def test_a_tile_smaller_than_twice_the_overlap_is_a_message(style, tmp_path):
    path = photo(tmp_path / "p.png", size=(200, 200))
    result = process_uploads(style, [path], Options(tile_size=128), output_dir=str(tmp_path))
    assert "overlap must be at most half of tile_size" in result.errors[0]


@pytest.mark.parametrize("field, value", [("max_upload_mb", 0), ("max_pixels", -1),
                                          ("max_files", 1.5), ("max_pixels", float("nan")),
                                          ("max_files", True)])
def test_limits_are_validated(field, value):
    with pytest.raises(InputError, match=f"Received: {field}="):
        Limits(**{field: value})


def test_check_upload_reads_only_the_header(tmp_path):
    assert check_upload(photo(tmp_path / "p.png"), "p.png", Limits()) == (48, 40)


@pytest.mark.parametrize("orientation", [6, 8])
def test_check_upload_reports_the_size_as_decoded(sr, tmp_path, orientation):
    # Stored 48 wide and 40 high; EXIF orientations 6 and 8 show it 40 wide and 48 high.
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = photo(tmp_path / "camera.jpg", size=(48, 40), exif=exif.tobytes())
    decoded = load_image(path)
    assert check_upload(path, "camera.jpg", Limits()) == (decoded.shape[1], decoded.shape[0])
    assert decoded.shape[:2] == (48, 40)
    with pytest.raises(InputError, match="camera.jpg is 40×48 = 1,920 pixels"):
        check_upload(path, "camera.jpg", Limits(max_pixels=1000))
    with pytest.raises(InputError, match=r"\(40×48\) would upscale to 160×192"):
        check_upload(path, "camera.jpg", Limits(max_pixels=30000), sr)


# --------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------


def test_requests_run_one_at_a_time(style, tmp_path, monkeypatch):
    active, peak = [0], [0]
    real = handlers.run_model

    def counted(*args, **kwargs):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            active[0] -= 1

    monkeypatch.setattr(handlers, "run_model", counted)
    path = photo(tmp_path / "p.png", size=(16, 16))
    threads = [threading.Thread(target=process_uploads, args=(style, [path]),
                                kwargs={"output_dir": str(tmp_path)}) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 1


def test_old_request_folders_are_deleted(tmp_path):
    folders = [new_request_folder(str(tmp_path), keep=10) for _ in range(5)]
    for age, folder in enumerate(folders):
        os.utime(folder, (1000 + age, 1000 + age))
    (tmp_path / "keep-me.txt").write_text("not a request folder")
    newest = new_request_folder(str(tmp_path), keep=3)
    remaining = sorted(os.listdir(tmp_path))
    expected = sorted([os.path.basename(f) for f in folders[-2:]] + [os.path.basename(newest),
                                                                   "keep-me.txt"])
    assert remaining == expected


def test_detail_window_matches_brute_force(rng):
    image = rng.random((40, 56, 3)) * (np.arange(56) > 30)[None, :, None]
    size = 12
    gray = image.mean(-1)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.abs(np.diff(gray, axis=1))
    energy[1:, :] += np.abs(np.diff(gray, axis=0))
    stride = size // 4
    tops = sorted({*range(0, 40 - size + 1, stride), 40 - size})
    lefts = sorted({*range(0, 56 - size + 1, stride), 56 - size})
    scores = {(t, left): energy[t:t + size, left:left + size].sum() for t in tops for left in lefts}
    assert detail_window(image, size) == max(scores, key=scores.get)


def test_zoomed_crops_are_the_same_region_enlarged(rng):
    a, b = rng.random((64, 64, 3)), rng.random((64, 64, 3))
    crop_a, crop_b = zoomed_crops([a, b], reference=0, display=64)
    assert crop_a.shape == (64, 64, 3)  # 16 px region x 4
    top, left = detail_window(a, 16)
    np.testing.assert_array_equal(crop_b[::4, ::4], b[top:top + 16, left:left + 16])


def test_bicubic_baseline_is_clipped_and_keeps_constants():
    flat = np.full((6, 5, 3), 0.25, np.float32)
    np.testing.assert_allclose(bicubic_baseline(flat, 2, (0, 1)), 0.25, atol=1e-6)
    edge = np.zeros((6, 6, 3), np.float32)
    edge[:, 3:] = 1.0
    up = bicubic_baseline(edge, 4, (0, 1))
    assert up.shape == (24, 24, 3) and up.min() >= 0.0 and up.max() <= 1.0


def test_summary_lists_times_errors_and_device():
    text = RunResult((), ("x.txt: not an image",), "CPU: test").summary()
    assert text == "**x.txt: not an image**\n\nDevice: CPU: test"


@pytest.mark.parametrize("files, name", [(3, "files"), ([None], r"files\[i\]"),
                                         ([(7, "a.png")], r"files\[i\]\[0\]")])
def test_upload_lists_of_the_wrong_kind_are_one_input_error(style, tmp_path, files, name):
    # Before: list(3)'s TypeError, os.fspath(None)'s, after part of the request had run.
    with pytest.raises(InputError, match=rf"Received: {name}="):
        process_uploads(style, files, output_dir=str(tmp_path))
