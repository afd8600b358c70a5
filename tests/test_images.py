"""keras_perceptual.images: the one rule turning an image argument into an array."""

import os
import re

import keras
import numpy as np
import pytest
from conftest import BACKEND, truncate_image
from PIL import Image, ImageFile

from keras_perceptual.errors import InputError
from keras_perceptual.images import (
    UnusableImageError,
    image_array,
    list_images,
    load_image,
    read_header,
    read_rgb,
    resize_longer_side,
    resize_shorter_side,
    resized_size,
)


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
        # Was: a grey (H, 4) image was told to drop an alpha channel.
        (np.zeros((5, 4), np.float32), {}, r"^(?!.*alpha).*Repeat a grey image into RGB"),
        (np.zeros((5, 4, 1), np.float32), {}, r"Repeat a grey image into RGB"),
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


# --- The same file gives the same image at every entry point. ---


@pytest.mark.slow  # exports a SavedModel, runs the CLI and a tf.data pipeline (~1 min)
@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data, the CLI and TF Serving export")
def test_every_entry_point_decodes_the_same_pixels(tmp_path, tricky_image_files):
    import io

    import tensorflow as tf
    from PIL import Image

    from keras_perceptual.cli import main
    from keras_perceptual.data import image_folder_dataset
    from keras_perceptual.export import export_for_serving
    from keras_perceptual.images import load_image
    from keras_perceptual.inference import stylize
    from keras_perceptual.ops import from_uint16
    from keras_perceptual.pydata import RandomCrops

    paths, sixteen = tricky_image_files
    folder = paths[0].parent
    inputs = keras.Input((None, None, 3))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    identity.save(tmp_path / "identity.keras")
    served = tf.saved_model.load(export_for_serving(identity, tmp_path / "export"))
    serve = served.signatures["serve_encoded"]
    assert main(["stylize", str(tmp_path / "identity.keras"), str(folder), "--out",
                 str(tmp_path / "cli"), "--quiet"]) == 0
    expected = {p.name: load_image(p) for p in paths}

    # The handed case: a 40x24 JPEG with Orientation=6 is 24 wide and 40 high everywhere.
    assert expected["orientation6.jpg"].shape == (40, 24, 3)
    np.testing.assert_array_equal(expected["rgb16.png"], from_uint16(sixteen.astype("float32")))
    for path in paths:
        reference = expected[path.name]
        as_uint8 = np.round(reference * 255).astype(np.uint8)
        np.testing.assert_array_equal(stylize(identity, path), reference, err_msg=path.name)
        png = serve(image_bytes=tf.constant([path.read_bytes()]))["image_bytes"][0].numpy()
        decoded = Image.open(io.BytesIO(png))
        assert "exif" not in decoded.info and decoded.getexif().get(0x0112) is None
        np.testing.assert_array_equal(np.asarray(decoded), as_uint8, err_msg=path.name)
        written = np.asarray(Image.open(tmp_path / "cli" / f"{path.stem}_stylized.png"))
        np.testing.assert_array_equal(written, as_uint8, err_msg=path.name)
    # The tf.data pipeline: centre crops of the same pixels (no resizing).
    dataset = image_folder_dataset(folder, image_size=20, batch_size=1, shuffle=False,
                                   repeat=False, crop="center", resize=False)
    crops = [batch[0].numpy() for batch in dataset]
    for path, crop in zip(sorted(paths, key=lambda p: str(p)), crops, strict=True):
        image = expected[path.name]
        top, left = (image.shape[0] - 20) // 2, (image.shape[1] - 20) // 2
        np.testing.assert_array_equal(crop, image[top:top + 20, left:left + 20],
                                      err_msg=path.name)
    # The TensorFlow-free PyDataset pipeline: a random 24 x 24 crop (the shorter side, so
    # no resizing) is a window of the same pixels.
    for path in paths:
        image = expected[path.name]
        crop = RandomCrops([str(path)], image_size=24, batch_size=1, seed=0, workers=1).sample(0)
        windows = [image[i:i + 24, j:j + 24] for i in range(image.shape[0] - 23)
                   for j in range(image.shape[1] - 23)]
        assert any(np.array_equal(crop, w) for w in windows), path.name


def _camera_jpeg(path, orientation, size=(40, 24)):
    """A JPEG stored ``size`` (width, height) with EXIF ``Orientation=orientation``."""
    from PIL import Image

    rng = np.random.default_rng(orientation)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        path, quality=95, exif=_orientation_exif(orientation)
    )
    return str(path)


def _orientation_exif(orientation):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_header_applies_the_exif_orientation(tmp_path, orientation):
    from keras_perceptual.images import ImageTooSmallError, read_header, read_rgb

    path = _camera_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    decoded = read_rgb(path)
    assert read_header(path) == (decoded.shape[1], decoded.shape[0])
    assert read_header(path) == ((24, 40) if orientation >= 5 else (40, 24))
    for read in (read_header, read_rgb):
        with pytest.raises(ImageTooSmallError, match="too small") as error:
            read(path, min_size=30)
        assert error.value.size == read_header(path) and error.value.min_size == 30


def _png_with_exif_after_the_pixels(path, orientation, size=(40, 24)):
    """A PNG whose eXIf chunk follows IDAT (allowed; Pillow writes it before)."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    rng = np.random.default_rng(orientation)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buffer, "PNG"
    )
    data = buffer.getvalue()
    exif = _orientation_exif(orientation).removeprefix(b"Exif\x00\x00")  # eXIf: bare TIFF
    chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + exif) & 0xFFFFFFFF)
    end = data.rindex(b"IEND") - 4
    path.write_bytes(data[:end] + chunk + data[end:])
    return str(path)


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_read_header_reads_png_orientation_without_decoding(tmp_path, monkeypatch, where,
                                                             orientation):
    from PIL import Image, ImageFile

    from keras_perceptual.images import read_header, read_rgb

    path = tmp_path / "p.png"
    if where == "after":
        _png_with_exif_after_the_pixels(path, orientation)
    else:
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(
            path, exif=_orientation_exif(orientation))
    decoded = read_rgb(str(path))
    assert decoded.shape[:2] == ((40, 24) if orientation >= 5 else (24, 40))

    def no_decoding(self):
        raise AssertionError("read_header decoded the pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert read_header(str(path)) == (decoded.shape[1], decoded.shape[0])


@pytest.mark.parametrize("extension", ["jpg", "webp", "gif", "bmp"])
def test_read_header_decodes_no_pixels(tmp_path, monkeypatch, extension):
    from PIL import Image, ImageFile

    from keras_perceptual.images import read_header

    path = tmp_path / f"p.{extension}"
    Image.new("RGB", (40, 24), (10, 20, 30)).save(
        path, **({"exif": _orientation_exif(6)} if extension in ("jpg", "webp") else {}))

    def no_decoding(self):
        raise AssertionError("read_header decoded the pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert read_header(str(path)) == ((24, 40) if extension in ("jpg", "webp") else (40, 24))


# --------------------------------------------------------------------------
# Truncated and corrupt files: one clear error, never grey-filled pixels.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["png", "jpg", "bmp", "gif"])
def test_a_truncated_file_is_refused_with_the_fix(tmp_path, rng, extension):
    path = str(tmp_path / f"cut.{extension}")
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(path)
    truncate_image(path)
    for read in (load_image, image_array):
        with pytest.raises(InputError) as caught:
            read(path)
        message = str(caught.value)
        assert message.startswith(f"{path!r} is truncated (image file is truncated"), message
        assert "re-export or re-download it" in message
        assert message.endswith(f"Received: path={path!r}") and "\n" not in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # never set by the package


def test_damaged_headers_are_truncated_or_corrupt_not_unreadable(tmp_path):
    """A header cut short or a WebP that does not parse used to read "unreadable: ..."
    (the word for a permission problem)."""
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "full.webp")
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "full.jpg", quality=90)
    (tmp_path / "cut.webp").write_bytes((tmp_path / "full.webp").read_bytes()[:40])
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:30])
    for name, kind in (("cut.webp", "corrupt"), ("cut.jpg", "truncated")):
        with pytest.raises(UnusableImageError) as caught:
            read_header(str(tmp_path / name))
        assert caught.value.kind == kind and caught.value.damaged, str(caught.value)


def test_header_and_decode_name_the_same_reason(tmp_path, monkeypatch):
    """read_header and read_rgb share one translation of Pillow's errors: a decompression
    bomb read "corrupt: DecompressionBombError: ..." from the header and "too large: ..."
    from the decoder."""
    from keras_perceptual.images import check_image_file

    Image.new("RGB", (64, 48)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 48 // 4)  # 4x over: Pillow refuses it
    for decode in (False, True):
        with pytest.raises(UnusableImageError) as caught:
            check_image_file(str(tmp_path / "big.png"), decode=decode)
        assert caught.value.kind == "too large" and not caught.value.damaged, str(caught.value)
    with pytest.raises(UnusableImageError, match="^missing: "):
        check_image_file(str(tmp_path / "nothing.png"))


# --------------------------------------------------------------------------
# Sample formats beyond 8 bits (Pillow modes "I" and "F").
# --------------------------------------------------------------------------


def test_float_and_32_bit_integer_images_are_refused_not_clipped(tmp_path):
    # Before: Pillow's convert("RGB") clipped the samples to 0..255, so a float TIFF in
    # [0, 1] was read as a black image and a 32-bit one as a white one, without a word.
    ramp = np.linspace(0.0, 1.0, 8 * 8, dtype=np.float32).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "float.tiff")
    Image.fromarray((ramp * 65535).astype(np.int32)).save(tmp_path / "int32.tiff")
    for name, kind in (("float.tiff", "floating-point"), ("int32.tiff", "signed 32-bit integer")):
        for read, error in ((load_image, InputError), (read_header, UnusableImageError)):
            with pytest.raises(error, match=f"unsupported: {kind}.*8- or 16-bit .*PNG or TIFF"):
                read(str(tmp_path / name))


def test_16_bit_pgm_keeps_its_16_bits(tmp_path):
    # Pillow opens a 16-bit PGM as mode "I" (scaled to 0..65535); before, it was clipped to
    # white wherever a sample was above 255.
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    (tmp_path / "g.pgm").write_bytes(b"P5\n4 1\n65535\n" + values.astype(">u2").tobytes())
    from keras_perceptual.images import read_rgb

    exact = read_rgb(str(tmp_path / "g.pgm"), dtype=np.uint16)
    np.testing.assert_array_equal(exact, np.repeat(values[..., None], 3, axis=-1))
    np.testing.assert_array_equal(read_rgb(str(tmp_path / "g.pgm"))[0, :, 0], [0, 1, 128, 255])


def test_a_heic_photo_is_named_as_such_not_as_not_an_image(tmp_path):
    # The iPhone's default photo format, which Pillow opens only with a plugin: it was called
    # "not an image"; now every entry point (CLI, app, load_image) says what it is and the fix.
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\1" * 500)
    with pytest.raises(UnusableImageError, match="unsupported: a HEIC/HEIF/AVIF photo.*as JPEG"):
        read_header(str(path))
    with pytest.raises(InputError, match="unsupported: a HEIC/HEIF/AVIF photo"):
        load_image(str(path))
    (tmp_path / "notes.jpg").write_bytes(b"\0\0\0\x18ftypisom" + b"\1" * 500)  # MP4, not HEIF
    with pytest.raises(UnusableImageError, match="not an image"):
        read_header(str(tmp_path / "notes.jpg"))


def test_resize_shorter_side_is_load_images_resize_of_the_float_pixels(tmp_path,
                                                                       tricky_image_files):
    from keras_perceptual.images import resize_shorter_side

    paths, _ = tricky_image_files
    sixteen = str(next(p for p in paths if p.name == "rgb16.png"))  # 40 x 24: resized in float
    for side in (12, 17, 30):
        got = resize_shorter_side(load_image(sixteen), side)
        want = load_image(sixteen, size=side)  # rounded to 16 bits
        assert got.shape == want.shape == (side, round(40 * side / 24), 3) and got.dtype == "float32"
        np.testing.assert_allclose(got, want, atol=0.6 / 65535)
    portrait = np.random.default_rng(0).random((30, 20, 3), dtype=np.float32)
    assert resize_shorter_side(portrait, 10).shape == (15, 10, 3)
    np.testing.assert_array_equal(resize_shorter_side(portrait, 20), portrait)  # already 20
    scaled = resize_shorter_side(portrait * 2 - 1, 7, value_range=(-1, 1))  # overshoot clipped
    assert scaled.min() >= -1 and scaled.max() <= 1
    for bad in (0, -3, True, 2.5, "12"):
        with pytest.raises(InputError, match="side must be an integer >= 1"):
            resize_shorter_side(portrait, bad)


def test_resize_longer_side_is_resize_shorter_side_measured_on_the_longer_side():
    # The recipes' style image resize (style_image_size: the longer side), which was a second
    # resize (Keras' bicubic) in training/recipes.py; now the one of keras_perceptual.images.
    from keras_perceptual.images import resize_longer_side, resize_shorter_side

    rng = np.random.default_rng(0)
    landscape = rng.random((30, 45, 3), dtype=np.float32)
    got = resize_longer_side(landscape, 18)
    assert got.shape == (12, 18, 3) and got.dtype == "float32"
    np.testing.assert_array_equal(got, resize_shorter_side(landscape, 12))
    assert resize_longer_side(landscape.transpose(1, 0, 2), 18).shape == (18, 12, 3)
    assert resize_longer_side(landscape, 90).shape == (60, 90, 3)  # enlarges
    np.testing.assert_array_equal(resize_longer_side(landscape, 45), landscape)  # already 45
    assert resize_longer_side(rng.random((1, 40, 3), dtype=np.float32), 8).shape == (1, 8, 3)
    scaled = resize_longer_side(landscape * 2 - 1, 7, value_range=(-1, 1))  # overshoot clipped
    assert scaled.min() >= -1 and scaled.max() <= 1
    for bad in (0, -3, True, 2.5, "12"):
        with pytest.raises(InputError, match="side must be an integer >= 1"):
            resize_longer_side(landscape, bad)


# --- Bad arguments of the wrong kind: one InputError naming the argument -----------------


@pytest.mark.parametrize("call, name", [
    (lambda: load_image(None), "path"),
    (lambda: load_image(3), "path"),
    (lambda: list_images([None]), "input"),
    (lambda: list_images(b"photos/"), "inputs"),
])  # fmt: skip
def test_a_path_argument_that_is_not_a_path_is_named(call, name):
    # Before: os.fspath's bare TypeError ("expected str, bytes or os.PathLike object").
    with pytest.raises(InputError, match=rf"Received: {name}="):
        call()


def test_image_array_refuses_an_empty_image_and_a_clip_that_is_not_a_bool():
    # Before: a (0, 0, 3) image passed (save_image then failed in Pillow) and clip="no" clipped.
    with pytest.raises(InputError, match=r"has no pixels.*Received: image.shape=\(0, 0, 3\)"):
        image_array(np.zeros((0, 0, 3), "float32"))
    with pytest.raises(InputError, match="Received: clip='no'"):
        image_array(np.zeros((2, 2, 3), "float32"), clip="no")


@pytest.mark.parametrize("resize", [resize_shorter_side, resize_longer_side])
@pytest.mark.parametrize("image, expected", [
    (np.zeros((0, 0, 3), "float32"), "has no pixels"),
    (np.zeros((1, 1, 8, 8, 3), "float32"), "must be one RGB image"),
    (None, "must be an image file path or an RGB array"),
    (np.full((4, 4, 3), np.nan, "float32"), "NaN or infinite"),
])  # fmt: skip
def test_resize_refuses_what_image_array_refuses(resize, image, expected):
    # Before: ZeroDivisionError, Pillow's TypeError, a bare ValueError, or NaN pixels out.
    with pytest.raises(InputError, match=expected):
        resize(image, 4)


@pytest.mark.parametrize("args, name", [((0, 4, 2), "width"), ((4, None, 2), "height"),
                                        ((4, 4, "2"), "side")])
def test_resized_size_refuses_sizes_that_are_not_positive_integers(args, name):
    # Before: ZeroDivisionError for a zero width, TypeError for None and strings.
    with pytest.raises(InputError, match=rf"Received: {name}="):
        resized_size(*args)


# --------------------------------------------------------------------------
# Robustness sweep: files users of other style-transfer / SR projects hit.
# --------------------------------------------------------------------------


def _write_png16(path, array):
    """A 16-bit colour PNG (Pillow cannot write one) of a uint16 (H, W, 3) array."""
    import png

    height, width, _ = array.shape
    with open(path, "wb") as file:
        png.Writer(width, height, greyscale=False, bitdepth=16).write(
            file, array.reshape(height, -1).tolist()
        )


def test_16_bit_png_is_read_without_leaving_its_file_open(tmp_path):
    # Was: pypng's Reader(filename=...) left the file open: a ResourceWarning and a file
    # descriptor held until garbage collection for every 16-bit PNG, in every epoch.
    import gc
    import warnings

    values = np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000
    _write_png16(tmp_path / "a.png", values)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        exact = read_rgb(str(tmp_path / "a.png"), dtype=np.uint16)
        gc.collect()
    np.testing.assert_array_equal(exact, values)
    assert not [w for w in record if issubclass(w.category, ResourceWarning)], record


def test_a_folder_given_as_an_image_file_is_named_a_folder(tmp_path):
    # Was: "Image file '...' does not exist", about a folder that exists.
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    for call in (load_image, image_array):
        with pytest.raises(InputError, match=r"is a folder; pass one image file \(load_images"):
            call(str(tmp_path))


def test_a_broken_symlink_is_named_with_its_target(tmp_path):
    # Was: "does not exist" (load_image) and "missing: the file no longer exists" (scan), with
    # nothing saying that a link points at a moved or deleted file.
    from keras_perceptual.images import check_image_file

    link = tmp_path / "photo.jpg"
    link.symlink_to(tmp_path / "moved" / "photo.jpg")
    with pytest.raises(InputError, match=r"broken symbolic link \(to '.*moved/photo.jpg'\)"):
        load_image(str(link))
    with pytest.raises(UnusableImageError, match=r"^missing: a broken symbolic link to '.*moved"):
        check_image_file(str(link))


def test_an_empty_file_says_it_is_empty(tmp_path):
    # Was: "not an image: unrecognized or unsupported file contents" for a 0-byte download.
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"the file is empty \(0 bytes\), as after a failed download"):
        load_image(str(tmp_path / "empty.jpg"))
    with pytest.raises(UnusableImageError, match=r"^not an image: the file is empty"):
        read_header(str(tmp_path / "empty.jpg"))


def test_an_image_over_the_decompression_bomb_limit_says_how_to_read_it(tmp_path, monkeypatch):
    # Was: "(too large: ... could be decompression bomb DOS attack.); pass a readable
    # JPG/JPEG/PNG/... file": no way to read a trusted large photo or panorama.
    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses twice the limit
    for call in (load_image, read_header):
        with pytest.raises((InputError, UnusableImageError)) as info:
            call(str(tmp_path / "big.png"))
        message = str(info.value)
        assert "too large: Image size (1200 pixels) exceeds limit" in message, message
        assert "Downscale the image, or raise PIL.Image.MAX_IMAGE_PIXELS" in message, message
        assert "pass a readable" not in message, message


def test_a_recursive_pattern_does_not_follow_a_symlink_loop(tmp_path):
    # Was: Python's glob "**" follows symlinked folders: one link back to a parent listed the
    # image 41 times (load_images gave 41 copies); two such links did not return (exponential).
    import os
    import time

    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "b" / "y.png")
    for name in ("up1", "up2"):
        (tmp_path / "a" / "b" / name).symlink_to(tmp_path, target_is_directory=True)
    start = time.perf_counter()
    pattern = str(tmp_path / "**" / "*.png")
    assert list_images(pattern) == [str(tmp_path / "a" / "b" / "y.png"), str(tmp_path / "a" / "x.png")]
    assert list_images(str(tmp_path)) == list_images(pattern)  # as a folder lists them
    assert time.perf_counter() - start < 2
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # relative patterns give relative paths, as glob does
        assert list_images(os.path.join("**", "x.png")) == [os.path.join("a", "x.png")]
    finally:
        os.chdir(cwd)


def test_an_exact_size_of_a_rotated_jpeg_is_decoded_from_enough_pixels(tmp_path, rng):
    # Was: the JPEG's reduced decoding scale (draft) was chosen for the displayed (width,
    # height) against the stored image, so a phone portrait (EXIF orientation 6) resized to
    # a wide size was decoded at 1/4 scale and its width enlarged 4x again: a blurred image.
    from PIL import ImageOps

    coarse = rng.integers(0, 256, (8, 32, 3), dtype=np.uint8)
    stored = Image.fromarray(coarse).resize((800, 200), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    stored.save(tmp_path / "plain.jpg", quality=95)
    turned = read_rgb(str(tmp_path / "turned.jpg"), size=(20, 200))  # displayed 200 x 800
    plain = read_rgb(str(tmp_path / "plain.jpg"), size=(200, 20))
    np.testing.assert_array_equal(turned, np.rot90(plain, -1))
    full = ImageOps.exif_transpose(Image.open(tmp_path / "turned.jpg")).convert("RGB")
    want = np.asarray(full.resize((200, 20), Image.Resampling.BICUBIC))
    assert np.abs(turned.astype(int) - want).max() <= 1


def test_a_decompression_bomb_warning_made_an_error_is_too_large_not_corrupt(tmp_path, monkeypatch):
    # Was: under a warnings filter "error" (as in this project's tests, or a user's), Pillow's
    # DecompressionBombWarning (an image over MAX_IMAGE_PIXELS, under twice it) came out as
    # "corrupt: DecompressionBombWarning: ...", "re-export or re-download it".
    import warnings

    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 px: a warning, not an error
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(UnusableImageError, match=r"^too large: .*MAX_IMAGE_PIXELS") as info:
            read_rgb(str(tmp_path / "big.png"))
        assert not info.value.damaged
        with pytest.raises(InputError, match=r"too large: .*Downscale the image") as info:
            load_image(str(tmp_path / "big.png"))
        assert "re-download" not in str(info.value)


def test_list_images_drops_the_same_file_written_two_ways(tmp_path):
    # Was: duplicates were found by the path's text, so "photos/a.png" and
    # "photos/../photos/a.png" (or a link to it) were both listed and load_images read it twice.
    import os

    (tmp_path / "photos").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / "photos" / name)
    (tmp_path / "link.png").symlink_to(tmp_path / "photos" / "b.png")
    folder = str(tmp_path / "photos")
    listed = list_images([folder, os.path.join(folder, "..", "photos", "a.png"), str(tmp_path / "link.png")])
    assert listed == [os.path.join(folder, "a.png"), os.path.join(folder, "b.png")]


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="named pipes are POSIX")
def test_load_image_of_a_named_pipe_says_what_it_is(tmp_path):
    # Was: "Image file '...pipe.jpg' does not exist", about a file that exists.
    import os

    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(InputError, match=r"not a regular file \(a named pipe"):
        load_image(str(tmp_path / "pipe.jpg"))


def test_a_png_with_oversized_metadata_is_too_large_not_corrupt(tmp_path):
    # Was: "is corrupt (ValueError: Decompressed data too large for
    # PngImagePlugin.MAX_TEXT_CHUNK) ... re-export or re-download it" for a valid PNG whose XMP
    # text chunk is over Pillow's 1 MB limit (Photoshop's DocumentAncestors bloat it).
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", "x" * (PngImagePlugin.MAX_TEXT_CHUNK + 1), zip=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "xmp.png", pnginfo=info)
    with pytest.raises(UnusableImageError, match=r"^too large: a metadata \(text\) chunk is over Pillow's limit") as info:
        read_header(str(tmp_path / "xmp.png"))
    assert not info.value.damaged
    with pytest.raises(InputError, match=r"re-save the image without metadata, or raise PIL\.Png"):
        load_image(str(tmp_path / "xmp.png"))


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16"])
def test_a_tiff_with_a_quarter_turn_orientation_is_turned_once(tmp_path, mode):
    # Was (Pillow 12 reports a TIFF's size already turned): read_header swapped it again, so
    # it disagreed with the decoded array; and Pillow's memory-mapped decoding of uncompressed
    # L/P/RGBA/CMYK/16-bit TIFFs scrambled the rows (the image is now read from an open file).
    from PIL import TiffImagePlugin

    stored = (np.arange(20 * 30).reshape(20, 30) * 97 % 251).astype(np.uint8)
    if mode == "I;16":
        stored = stored.astype(np.uint16) * 257
    image = Image.fromarray(stored) if mode != "RGB" else Image.fromarray(np.dstack([stored] * 3))
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[0x0112] = 6
    image.save(tmp_path / "turned.tif", tiffinfo=tags)
    path = str(tmp_path / "turned.tif")
    decoded = read_rgb(path, dtype=np.uint16 if mode == "I;16" else np.uint8)
    np.testing.assert_array_equal(decoded[..., 0], np.rot90(stored, -1))
    assert read_header(path) == (20, 30) == (decoded.shape[1], decoded.shape[0])


# --------------------------------------------------------------------------
# TIFFs in training folders: listed, scanned and decoded on the scale of 8-bit images.
# --------------------------------------------------------------------------


def _write_tiff(path, samples, bits, photometric=1, sample_format=1, raw=None):
    """Writes ``samples`` (``(H, W)`` or ``(H, W, C)``; a last sample of 2 or 4 is alpha) as an
    uncompressed little-endian TIFF, byte by byte (TIFF 6.0 baseline, one strip): for the
    layouts Pillow reads but cannot write (16-bit colour, 12-bit, 16-bit WhiteIsZero, signed
    16-bit, 16-bit grayscale with alpha). ``raw``: the strip, for bit depths numpy lacks."""
    import struct

    height, width = samples.shape[:2]
    count = 1 if samples.ndim == 2 else samples.shape[2]
    data = raw if raw is not None else samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    tags = {256: [width], 257: [height], 258: [bits] * count, 259: [1], 262: [photometric],
            273: [0], 277: [count], 278: [height], 279: [len(data)],
            339: [sample_format] * count}  # fmt: skip
    if count in (2, 4):
        tags[338] = [2]  # ExtraSamples: unassociated alpha
    extra_at = 8 + 2 + 12 * len(tags) + 4  # after the header and the IFD: longer values
    tags[273] = [extra_at + sum(2 * len(v) for v in tags.values() if len(v) > 2)]  # the strip
    ifd, extra = struct.pack("<H", len(tags)), b""
    for tag, values in sorted(tags.items()):  # every value a SHORT (type 3)
        packed = struct.pack(f"<{len(values)}H", *values)
        if len(packed) > 4:
            packed, extra = struct.pack("<I", extra_at + len(extra)), extra + packed
        ifd += struct.pack("<HHI", tag, 3, len(values)) + packed.ljust(4, b"\0")
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + b"\0" * 4 + extra + data)


#: 16-bit samples whose low bytes matter: 0 and 65535 must land on 0.0 and 1.0, as 8-bit 0/255.
_SIXTEEN = np.array([[0, 255, 256, 4095], [32768, 40000, 65280, 65535]], np.uint16)


def _scanned(folder) -> list[str]:
    """The file names the training-folder scan and ``list_images`` find in ``folder``."""
    from keras_perceptual.scan import scan_images

    names = [os.path.basename(p) for p in scan_images(folder, warn=False).paths]
    assert names == [os.path.basename(p) for p in list_images(str(folder))]
    return names


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "CMYK", "1"])
@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_a_tiff_in_a_folder_is_scanned_and_read_as_its_png_twin(tmp_path, mode, compression):
    # Was: folders and patterns left .tif/.tiff files out (only counted as "ignored").
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert(mode)
    image.convert("RGB").save(tmp_path / "a.png")  # its colours, as a PNG (no CMYK PNGs)
    image.save(tmp_path / "b.tif", compression=compression)
    image.save(tmp_path / "c.TIFF", compression=compression)
    assert _scanned(tmp_path) == ["a.png", "b.tif", "c.TIFF"]
    assert list_images(str(tmp_path / "*.tif")) == [str(tmp_path / "b.tif")]
    png = load_image(tmp_path / "a.png")
    for name in ("b.tif", "c.TIFF"):
        np.testing.assert_array_equal(load_image(tmp_path / name), png, err_msg=name)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("mode", ["RGB", "I;16"])
def test_a_tiff_orientation_tag_is_applied_once_in_a_scanned_folder(tmp_path, orientation, mode):
    from PIL import TiffImagePlugin

    from keras_perceptual.images import orient

    stored = (np.arange(20 * 30).reshape(20, 30) * 97 % 251).astype(np.uint16) * 257 + 1
    colour = np.dstack([stored >> 8, 255 - (stored >> 8), stored % 7]).astype(np.uint8)
    image = Image.fromarray(stored if mode == "I;16" else colour)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[0x0112] = orientation
    image.save(tmp_path / "turned.tif", tiffinfo=tags)
    assert _scanned(tmp_path) == ["turned.tif"]
    decoded = read_rgb(str(tmp_path / "turned.tif"), dtype=np.uint16)
    want = np.asarray(image).astype(np.uint16)
    want = np.dstack([want] * 3) if mode == "I;16" else want * np.uint16(257)
    np.testing.assert_array_equal(decoded, orient(want, orientation))
    assert read_header(str(tmp_path / "turned.tif")) == (decoded.shape[1], decoded.shape[0])


def test_16_bit_tiffs_land_on_the_scale_of_8_bit_images(tmp_path):
    # 16-bit grayscale (either byte order) keeps its 16 bits; 16-bit colour comes out of
    # Pillow with its low byte cut (documented in read_rgb): within 1/256, never 256x off.
    Image.fromarray(_SIXTEEN).save(tmp_path / "grey16.tif")
    big_endian = Image.frombytes("I;16B", (4, 2), _SIXTEEN.astype(">u2").tobytes())
    big_endian.save(tmp_path / "grey16_big_endian.tif")
    colour = np.dstack([_SIXTEEN, _SIXTEEN[::-1], 65535 - _SIXTEEN])
    _write_tiff(tmp_path / "rgb16.tif", colour, 16, photometric=2)
    _write_tiff(tmp_path / "rgba16.tif", np.dstack([colour, _SIXTEEN]), 16, photometric=2)
    assert _scanned(tmp_path) == ["grey16.tif", "grey16_big_endian.tif", "rgb16.tif", "rgba16.tif"]
    for name in ("grey16.tif", "grey16_big_endian.tif"):
        np.testing.assert_allclose(load_image(tmp_path / name)[..., 1], _SIXTEEN / 65535, atol=1e-7)
        np.testing.assert_array_equal(read_rgb(str(tmp_path / name))[..., 0],
                                      np.rint(_SIXTEEN / 257))  # fmt: skip
    for name in ("rgb16.tif", "rgba16.tif"):
        decoded = load_image(tmp_path / name)
        np.testing.assert_allclose(decoded, colour / 65535, atol=1 / 256, err_msg=name)
        assert decoded[0, 0, 0] == 0 and decoded[1, 3, 0] == 1, name


def test_12_bit_and_white_is_zero_16_bit_tiffs_are_rescaled_and_inverted(tmp_path):
    # Was: Pillow unpacks 12-bit grayscale as 0..4095 (16 times too dark: white read as
    # 0.0625) and does not invert 16-bit WhiteIsZero (a negative image).
    twelve = _SIXTEEN >> 4
    bits = "".join(f"{v:012b}" for v in twelve.ravel())  # 4 samples a row: 6 whole bytes
    _write_tiff(tmp_path / "grey12.tif", twelve, 12, raw=int(bits, 2).to_bytes(12, "big"))
    _write_tiff(tmp_path / "white_is_zero.tif", 65535 - _SIXTEEN, 16, photometric=0)
    assert _scanned(tmp_path) == ["grey12.tif", "white_is_zero.tif"]
    np.testing.assert_allclose(load_image(tmp_path / "grey12.tif")[..., 0], twelve / 4095,
                               atol=1 / 65535)  # 12-bit steps are 16/65535  # fmt: skip
    np.testing.assert_allclose(load_image(tmp_path / "white_is_zero.tif")[..., 0],
                               _SIXTEEN / 65535, atol=1e-7)  # fmt: skip


def test_a_multi_page_tiff_reads_its_first_page(tmp_path):
    pages = [Image.new("RGB", (30, 20), colour) for colour in ((10, 200, 30), (255, 0, 0))]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    assert Image.open(tmp_path / "pages.tif").n_frames == 2
    assert _scanned(tmp_path) == ["pages.tif"]
    np.testing.assert_array_equal(read_rgb(str(tmp_path / "pages.tif"))[5, 5], [10, 200, 30])


def test_tiffs_without_a_fixed_range_are_skipped_by_the_scan_with_the_reason(tmp_path):
    # Was: left out of the folder unnamed ("ignored"); float and signed samples are refused
    # (their range is not known: [0, 1], [0, 255], physical units), never clipped or guessed.
    from keras_perceptual.scan import scan_images

    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tif")
    _write_tiff(tmp_path / "signed.tif", np.zeros((8, 8), np.int16), 16, sample_format=2)
    _write_tiff(tmp_path / "grey_alpha16.tif", np.zeros((8, 8, 2), np.uint16), 16)
    scan = scan_images(tmp_path, warn=False)
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert [os.path.basename(p) for p in scan.paths] == ["ok.png"] and scan.ignored == 0
    assert reasons["float.tif"].startswith("unsupported: floating-point samples")
    assert reasons["signed.tif"].startswith("unsupported: signed 16-bit integer samples")
    assert reasons["grey_alpha16.tif"].startswith("unsupported: a TIFF that Pillow cannot open")
    for reason in reasons.values():
        assert "PNG" in reason and "TIFF" in reason, reason  # what to re-save it as
    with pytest.raises(InputError, match=r"unsupported: a TIFF .* re-save it as an 8- or 16-bit"):
        load_image(tmp_path / "grey_alpha16.tif")


def test_messages_listing_the_image_extensions_name_tiff(tmp_path):
    from keras_perceptual.scan import scan_images

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match=r"\.webp, \.tif, \.tiff\); point it at images"):
        list_images(str(tmp_path / "*.txt*"))
    with pytest.raises(InputError, match=r"/\.webp/\.tif/\.tiff\)\. Add readable .*/\.tiff files"):
        scan_images(tmp_path)
    with pytest.raises(InputError, match=r"readable JPG/JPEG/PNG/BMP/GIF/WEBP/TIF/TIFF file"):
        load_image(tmp_path / "notes.txt")


def test_a_resize_over_pillow_s_size_limit_is_refused_before_any_memory_is_taken(tmp_path):
    # Before: load_image(size=100000), resize_shorter_side(image, 100000) and stylize's
    # style_size=100000 built a multi-gigabyte array (killed for memory, saying nothing);
    # the file readers reported the refusal as "corrupt". Reading a file applies Pillow's
    # MAX_IMAGE_PIXELS already: a resize now applies the same limit.
    from PIL import Image

    from keras_perceptual.errors import InputError

    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    expected = (r"^Resizing {}to {}x{} pixels \(\d+ megapixels\) is over Pillow's limit of "
                r"\d+ pixels \(PIL\.Image\.MAX_IMAGE_PIXELS, .*\)\: ask for a smaller size, or "
                r"raise PIL\.Image\.MAX_IMAGE_PIXELS \(None lifts it\)\. Received: {}$")
    file = f"'{re.escape(str(path))}' "
    cases = [
        (lambda: load_image(path, size=100000), (file, 133333, 100000, "shorter_side=100000")),
        (lambda: load_image(path, size=(20000, 20000)),
         (file, 20000, 20000, r"size=\(20000, 20000\)")),
        (lambda: read_rgb(str(path), shorter_side=100000, dtype=np.uint16),
         (file, 133333, 100000, "shorter_side=100000")),
        (lambda: resize_shorter_side(np.zeros((30, 40, 3), "float32"), 100000),
         ("", 133333, 100000, "side=100000")),
        (lambda: resize_longer_side(np.zeros((30, 40, 3), "float32"), 100000),
         ("", 100000, 75000, "side=100000")),
    ]
    for call, parts in cases:
        with pytest.raises(InputError, match=expected.format(*parts)):
            call()
    assert load_image(path, size=3000).shape == (3000, 4000, 3)  # 12 megapixels: fine
