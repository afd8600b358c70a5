"""tf.data pipelines: folder scanning, decoding, crops, skipped files, SR degradation."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
Image = pytest.importorskip("PIL.Image")

from keras_perceptual.data import (  # noqa: E402
    MAX_LISTED,
    ScanResult,
    SkippedImagesWarning,
    gaussian_kernel,
    image_folder_dataset,
    list_images,
    load_image,
    load_images,
    scan_images,
    sr_degrade,
    style_transfer_pairs,
    super_resolution_pairs,
)
from keras_perceptual.errors import InputError  # noqa: E402

GOOD = {
    "rgb.jpg",
    "rgb.png",
    "gray.png",
    "rgba.png",
    "palette.gif",
    "lossless.webp",
    "upper.BMP",
    os.path.join("sub", "nested", "deep.JPEG"),
}
BAD = {  # file -> reason prefix
    "corrupt.png": "corrupt",
    "truncated.jpg": "truncated",
    "tiny.png": "too small",
    "fake.png": "not an image",
}
OTHER = {"notes.txt", "meta.json"}


def _rgb(rng, height, width):
    return (rng.random((height, width, 3)) * 255).astype(np.uint8)


def make_folder(root, rng=None):
    """A folder with every kind of file a photo folder holds; returns its path."""
    rng = rng or np.random.default_rng(0)
    os.makedirs(root / "sub" / "nested", exist_ok=True)
    Image.fromarray(_rgb(rng, 48, 64)).save(root / "rgb.jpg", quality=92)
    Image.fromarray(_rgb(rng, 40, 56)).save(root / "rgb.png")
    Image.fromarray(_rgb(rng, 44, 44)[..., 0], mode="L").save(root / "gray.png")
    rgba = np.dstack([_rgb(rng, 40, 48), np.zeros((40, 48, 1), np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(root / "rgba.png")
    frames = [Image.new("RGB", (40, 40), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames = [f.convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    frames[0].save(root / "palette.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(_rgb(rng, 40, 40)).save(root / "lossless.webp", lossless=True)
    Image.fromarray(_rgb(rng, 40, 40)).save(root / "upper.BMP")
    Image.fromarray(_rgb(rng, 64, 40)).save(root / "sub" / "nested" / "deep.JPEG")
    # Bad files, each with an image extension.
    Image.fromarray(_rgb(rng, 40, 40)).save(root / "good_source.png")
    data = bytearray((root / "good_source.png").read_bytes())
    os.remove(root / "good_source.png")
    start = data.index(b"IDAT") + 20
    data[start : start + 40] = bytes(b ^ 0xFF for b in data[start : start + 40])
    (root / "corrupt.png").write_bytes(bytes(data))
    jpeg = (root / "rgb.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    Image.fromarray(_rgb(rng, 8, 8)).save(root / "tiny.png")
    (root / "fake.png").write_text("this is not an image")
    # Files without an image extension: counted, not reported.
    (root / "notes.txt").write_text("notes")
    (root / "meta.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("photos"))


def _relative(paths, root):
    return {os.path.relpath(p, root) for p in paths}


def _all_images(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


# --------------------------------------------------------------------------
# Scanning.
# --------------------------------------------------------------------------


def test_scan_counts_every_kind_of_file(folder):
    scan = scan_images(folder, min_size=16, warn=False)
    assert isinstance(scan, ScanResult)
    assert _relative(scan.paths, folder) == GOOD
    assert len(scan) == 8
    assert list(scan.paths) == sorted(scan.paths)
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert set(reasons) == set(BAD)
    for name, prefix in BAD.items():
        assert reasons[name].startswith(prefix), reasons[name]
    assert scan.ignored == len(OTHER)
    summary = scan.summary()
    assert "8 usable of 12" in summary and "skipped 4" in summary and "ignored 2" in summary


def test_scan_header_only_finds_non_images_and_tiny_files(folder):
    scan = scan_images(folder, min_size=16, verify=False, warn=False)
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    # Without decoding, corrupt and truncated data are left to the pipeline.
    assert set(reasons) == {"tiny.png", "fake.png"}
    assert len(scan.paths) == 10


def test_scan_warns_once_listing_paths_and_count(folder):
    with pytest.warns(SkippedImagesWarning) as record:
        scan_images(folder, min_size=16)
    ours = [w for w in record if issubclass(w.category, SkippedImagesWarning)]
    assert len(ours) == 1
    assert ours[0].filename == __file__  # attributed to the caller's line
    message = str(ours[0].message)
    assert "skipped 4" in message
    for name in BAD:
        assert name in message
    assert "1 corrupt" in message and "1 truncated" in message and "1 too small" in message


def test_warning_lists_only_the_first_few(tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "good.png")
    for i in range(MAX_LISTED + 2):
        (tmp_path / f"bad{i}.jpg").write_text("not a jpeg")
    with pytest.warns(SkippedImagesWarning, match=r"skipped 7 .*and 2 more") as record:
        scan_images(tmp_path)
    message = str(record[0].message)
    assert "bad4.jpg" in message and "bad6.jpg" not in message


def test_scan_errors(tmp_path, folder):
    with pytest.raises(ValueError, match="does not exist.*Received: directory="):
        scan_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="is a file; pass the folder"):
        scan_images(folder / "rgb.png")
    with pytest.raises(ValueError, match="No usable image"):
        scan_images(tmp_path)  # empty
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_text("no")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(bad / "small.png")
    with pytest.raises(ValueError, match=r"No usable image.*not an image.*too small"):
        scan_images(bad, min_size=16)
    with pytest.raises(ValueError, match="min_size must be an integer"):
        scan_images(folder, min_size=0)


# --------------------------------------------------------------------------
# The dataset.
# --------------------------------------------------------------------------


def test_dataset_shapes_dtype_range_and_single_warning(folder):
    with pytest.warns(SkippedImagesWarning) as record:
        dataset = image_folder_dataset(folder, 32, 3, seed=0, repeat=False)
    ours = [w for w in record if issubclass(w.category, SkippedImagesWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__
    assert dataset.element_spec.shape.as_list() == [None, 32, 32, 3]
    batches = [b.numpy() for b in dataset]
    assert [b.shape[0] for b in batches] == [3, 3, 2]  # 8 usable images (tiny.png too small)
    images = np.concatenate(batches)
    assert images.dtype == np.float32 and images.shape[1:] == (32, 32, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.05


def test_repeating_dataset_has_static_batches(folder):
    with pytest.warns(SkippedImagesWarning):
        dataset = image_folder_dataset(folder, 32, 4, seed=0)
    assert dataset.element_spec.shape.as_list() == [4, 32, 32, 3]
    for batch in dataset.take(3):  # 12 > 8 images: crosses an epoch
        assert batch.shape == (4, 32, 32, 3)


def test_value_range_is_an_affine_map(folder):
    scan = scan_images(folder, min_size=32, warn=False)
    unit = _all_images(image_folder_dataset(scan, 32, 4, seed=1, repeat=False))
    signed = _all_images(
        image_folder_dataset(scan, 32, 4, seed=1, repeat=False, value_range=(-1, 1))
    )
    np.testing.assert_allclose(signed, unit * 2 - 1, atol=1e-6)
    assert signed.min() >= -1 and signed.min() < -0.9


def test_seed_reproduces_order_and_crops(folder):
    scan = scan_images(folder, min_size=32, warn=False)

    def first_batches(seed, **kwargs):
        dataset = image_folder_dataset(scan, 32, 4, seed=seed, **kwargs)
        return np.stack([b.numpy() for b in dataset.take(5)])

    a = first_batches(7)
    np.testing.assert_array_equal(a, first_batches(7))
    assert not np.array_equal(a, first_batches(8))
    # Also with the in-memory cache (shuffle and crops after the cache).
    c = first_batches(7, cache=True)
    np.testing.assert_array_equal(c, first_batches(7, cache=True))
    # Crops change from epoch to epoch: 5 batches of 4 span 2.5 epochs of 8 images, and
    # the non-square ones get new windows (square images have a single possible crop).
    assert len({f.tobytes() for f in a.reshape(-1, 32, 32, 3)}) > 8


def test_center_crop_matches_a_pil_reference(tmp_path):
    array = _rgb(np.random.default_rng(3), 48, 64)
    Image.fromarray(array).save(tmp_path / "one.png")
    dataset = image_folder_dataset(
        tmp_path, 32, 1, crop="center", shuffle=False, repeat=False, seed=0
    )
    (ours,) = [b.numpy()[0] for b in dataset]
    # Reference: shorter side 48 -> 32 (width 64 -> 43), bicubic, then the centre 32 x 32.
    resized = np.asarray(
        Image.fromarray(array).resize((43, 32), Image.Resampling.BICUBIC), np.float32
    )
    left = (43 - 32) // 2
    np.testing.assert_allclose(ours, resized[:, left : left + 32] / 255.0, atol=1e-6)


def test_random_crops_are_windows_of_the_resized_image(tmp_path):
    array = _rgb(np.random.default_rng(4), 40, 80)
    Image.fromarray(array).save(tmp_path / "wide.png")
    resized = load_image(tmp_path / "wide.png", size=32)  # (32, 64, 3)
    dataset = image_folder_dataset(tmp_path, 32, 1, seed=5)
    offsets = set()
    for batch in dataset.take(6):
        crop = batch.numpy()[0]
        matches = [
            x for x in range(resized.shape[1] - 31) if np.allclose(resized[:, x : x + 32], crop)
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 1


def test_resize_options(tmp_path):
    Image.fromarray(_rgb(np.random.default_rng(5), 48, 64)).save(tmp_path / "p.png")
    full = _all_images(
        image_folder_dataset(
            tmp_path, 48, 1, resize=False, crop="center", shuffle=False, repeat=False
        )
    )
    reference = load_image(tmp_path / "p.png")
    np.testing.assert_allclose(full[0], reference[:, 8:56], atol=1e-6)
    larger = _all_images(
        image_folder_dataset(tmp_path, 16, 1, resize=24, crop="center", repeat=False)
    )
    assert larger.shape == (1, 16, 16, 3)
    # With min_size below image_size, small images are enlarged to fit.
    grown = _all_images(image_folder_dataset(tmp_path, 64, 1, min_size=8, repeat=False))
    assert grown.shape == (1, 64, 64, 3)


def test_decoding_to_rgb(tmp_path, folder):
    gray = load_image(folder / "gray.png")
    assert gray.shape == (44, 44, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    rgba = load_image(folder / "rgba.png")  # alpha 0 everywhere: colours kept, alpha dropped
    assert rgba.shape == (40, 48, 3) and rgba.std() > 0.1
    first_frame = load_image(folder / "palette.gif")
    np.testing.assert_allclose(first_frame.mean((0, 1)), [1, 0, 0], atol=0.02)
    # 16-bit grayscale is scaled to 8 bits, not clipped.
    ramp = np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    deep = load_image(tmp_path / "deep.png")
    assert deep.max() == 1.0 and 0.45 < deep.mean() < 0.55
    # Lossless formats come back exactly.
    exact = _rgb(np.random.default_rng(6), 20, 30)
    for name, kwargs in (("x.webp", {"lossless": True}), ("x.bmp", {}), ("x.png", {})):
        Image.fromarray(exact).save(tmp_path / name, **kwargs)
        np.testing.assert_allclose(load_image(tmp_path / name) * 255, exact, atol=1e-3)


def test_dataset_argument_errors(folder, tmp_path):
    scan = scan_images(folder, min_size=16, warn=False)
    with pytest.raises(ValueError, match="crop must be one of"):
        image_folder_dataset(scan, 32, crop="middle")
    with pytest.raises(ValueError, match="resize must be True"):
        image_folder_dataset(scan, 32, resize=16)
    with pytest.raises(ValueError, match="min_size cannot be combined with a ScanResult"):
        image_folder_dataset(scan, 32, min_size=8)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        image_folder_dataset(scan, 32, 0)
    with pytest.raises(ValueError, match="cache=.*existing folder"):
        image_folder_dataset(scan, 32, cache=str(tmp_path / "no" / "cache"))
    with pytest.raises(ValueError, match="value_range"):
        image_folder_dataset(scan, 32, value_range=(1, 0))
    with pytest.raises(ValueError, match="does not exist"):
        image_folder_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="No usable image"):
        image_folder_dataset(folder, 128)  # every image is below min_size=128


@pytest.mark.parametrize("flag", ["shuffle", "repeat", "verify"])
@pytest.mark.parametrize("value", ["no", "False", 0, None])
def test_dataset_flags_must_be_booleans(folder, flag, value):
    # "no" used to shuffle (truthy), repeat="False" failed inside tf.data
    with pytest.raises(ValueError, match=f"{flag} must be True or False.*Received: {flag}="):
        image_folder_dataset(folder, 32, **{flag: value})


@pytest.mark.parametrize("flag", ["verify", "warn"])
def test_scan_flags_must_be_booleans(folder, flag):
    with pytest.raises(ValueError, match=f"{flag} must be True or False"):
        scan_images(folder, min_size=16, **{flag: "no"})


def test_numpy_booleans_are_booleans(folder):
    scan = scan_images(folder, min_size=16, warn=np.False_)
    dataset = image_folder_dataset(scan, 32, 2, seed=0, shuffle=np.False_, repeat=np.False_,
                                   resize=np.True_, cache=np.False_)
    assert _all_images(dataset).shape[1:] == (32, 32, 3)


def test_disk_cache(folder, tmp_path):
    scan = scan_images(folder, min_size=32, warn=False)
    path = tmp_path / "cache"
    images = _all_images(image_folder_dataset(scan, 32, 4, seed=0, repeat=False, cache=path))
    assert images.shape == (8, 32, 32, 3)
    assert any(name.startswith("cache") for name in os.listdir(tmp_path))


# --------------------------------------------------------------------------
# Files that break after the scan.
# --------------------------------------------------------------------------


def test_files_broken_after_the_scan_are_skipped_and_counted(tmp_path, caplog):
    root = make_folder(tmp_path / "photos")
    scan = scan_images(root, min_size=32, warn=False)
    dataset = image_folder_dataset(scan, 32, 2, seed=0, repeat=False)
    os.remove(root / "rgb.png")
    (root / "gray.png").write_bytes((root / "gray.png").read_bytes()[:60])
    with caplog.at_level(logging.WARNING, logger="keras_perceptual.data"):
        images = _all_images(dataset)
    assert images.shape == (6, 32, 32, 3)
    assert scan.runtime_skipped.count == 2
    assert _relative(scan.runtime_skipped.paths, root) == {"rgb.png", "gray.png"}
    reasons = sorted(e.reason.split(":")[0] for e in scan.runtime_skipped.entries)
    assert reasons == ["missing", "truncated"]
    ours = [r.getMessage() for r in caplog.records if r.name == "keras_perceptual.data"]
    # Each failing file is named (was: only the first; the second was skipped unnamed).
    assert len(ours) == 2 and all(m.startswith("Skipping") for m in ours), ours
    for name in ("rgb.png", "gray.png"):
        assert sum(repr(str(root / name)) in m for m in ours) == 1, ours


def test_a_file_failing_every_epoch_is_named_once(tmp_path, caplog):
    for i in range(3):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / f"{i}.png")
    scan = scan_images(tmp_path, warn=False)
    (tmp_path / "1.png").write_bytes(b"broken now")
    dataset = image_folder_dataset(scan, 32, 2, seed=0).take(4)  # 8 images: 4 epochs
    with caplog.at_level(logging.WARNING, logger="keras_perceptual.data"):
        assert _all_images(dataset).shape == (8, 32, 32, 3)
    assert scan.runtime_skipped.count >= 3 and len(scan.runtime_skipped.paths) == 1
    ours = [r.getMessage() for r in caplog.records if r.name == "keras_perceptual.data"]
    assert len(ours) == 1 and repr(str(tmp_path / "1.png")) in ours[0], ours
    assert "truncated" in ours[0] or "not an image" in ours[0], ours


def test_every_file_gone_stops_with_an_error_instead_of_looping(tmp_path):
    for i in range(2):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / f"{i}.png")
    scan = scan_images(tmp_path, warn=False)
    dataset = image_folder_dataset(scan, 32, 1, seed=0)  # repeats forever
    for i in range(2):
        os.remove(tmp_path / f"{i}.png")
    with pytest.raises(tf.errors.OpError, match="failed to decode since the scan"):
        next(iter(dataset))


# --------------------------------------------------------------------------
# Files, folders and globs.
# --------------------------------------------------------------------------


def test_list_images(folder):
    pattern = str(folder / "**" / "*.JPEG")
    listed = list_images([folder / "rgb.png", str(folder / "*.png"), pattern, folder / "rgb.png"])
    names = [os.path.relpath(p, folder) for p in listed]
    assert names[0] == "rgb.png" and names.count("rgb.png") == 1
    assert os.path.join("sub", "nested", "deep.JPEG") in names
    assert "notes.txt" not in names
    assert len(list_images(folder)) == 12  # every image-extension file, usable or not
    assert list_images(folder / "notes.txt") == [str(folder / "notes.txt")]  # named explicitly
    with pytest.raises(ValueError, match="not an existing file or folder"):
        list_images(folder / "missing.png")
    with pytest.raises(ValueError, match="pattern .* holds no image file"):
        list_images(str(folder / "*.tiff"))


def test_load_images(folder, tmp_path):
    batch = load_images([folder / "rgb.jpg", folder / "sub"], size=32, value_range=(-1, 1))
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.float32
    assert batch.min() >= -1 and batch.max() <= 1
    assert load_images(folder / "rgb.jpg", size=(20, 30)).shape == (1, 20, 30, 3)
    with pytest.raises(ValueError, match="different sizes"):
        load_images([folder / "rgb.jpg", folder / "rgb.png"])
    with pytest.raises(ValueError, match=r"Could not read .*fake\.png"):
        load_images(folder / "fake.png")
    with pytest.raises(ValueError, match="size must be None"):
        load_image(folder / "rgb.jpg", size=0)


# --------------------------------------------------------------------------
# Super-resolution degradation.
# --------------------------------------------------------------------------


def _keys(x, a=-0.5):
    x = np.abs(x)
    near = (a + 2) * x**3 - (a + 3) * x**2 + 1
    far = a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def _bicubic_matrix(n_in, scale):
    """Keys cubic (a=-0.5), half-pixel centres, taps outside the image dropped and the rest
    renormalized: the definition of TF's bicubic resize without anti-aliasing."""
    n_out = n_in // scale
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale - 0.5
        first = math.floor(centre) - 1
        for j in range(first, first + 4):
            if 0 <= j < n_in:
                matrix[i, j] = _keys(centre - j)
        matrix[i] /= matrix[i].sum()
    return matrix


def numpy_degrade(images, scale, sigma=1.0, low=0.0, high=1.0):
    """Reference in float64: a 2-D Gaussian built directly (not as an outer product),
    convolved by explicit shifts after numpy 'reflect' padding, then matrix resampling."""
    radius = math.ceil(3 * sigma)
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    kernel = np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    x = images.astype(np.float64)
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="reflect")
    height, width = x.shape[1:3]
    blurred = np.zeros_like(x)
    for i in range(2 * radius + 1):
        for j in range(2 * radius + 1):
            blurred += kernel[i, j] * padded[:, i : i + height, j : j + width]
    rows, cols = _bicubic_matrix(height, scale), _bicubic_matrix(width, scale)
    small = np.einsum("ih,bhwc,jw->bijc", rows, blurred, cols)
    return np.clip(small, low, high)


@pytest.mark.parametrize("scale", [2, 4])
def test_sr_degrade_matches_numpy_reference(rng, scale):
    images = rng.random((2, 32, 24, 3), dtype=np.float32)
    ours = sr_degrade(images, scale)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float32
    assert ours.shape == (2, 32 // scale, 24 // scale, 3)
    # float32 convolution and resampling against a float64 reference: ~1e-7 apart.
    np.testing.assert_allclose(ours, numpy_degrade(images, scale), atol=2e-6)


def test_sr_degrade_inputs_and_ranges(rng):
    image = rng.random((16, 16, 3), dtype=np.float32)
    single = sr_degrade(image, 4)
    assert single.shape == (4, 4, 3)
    tensor = sr_degrade(tf.constant(image[None]), 4)
    assert isinstance(tensor, tf.Tensor)
    np.testing.assert_allclose(tensor.numpy()[0], single, atol=1e-6)
    signed = sr_degrade(image * 2 - 1, 4, value_range=(-1, 1))
    np.testing.assert_allclose(signed, single * 2 - 1, atol=1e-5)
    no_blur = sr_degrade(image, 2, sigma=0)
    expected = tf.image.resize(image[None], (8, 8), "bicubic", antialias=False).numpy()[0]
    np.testing.assert_allclose(no_blur, np.clip(expected, 0, 1), atol=1e-6)
    # A constant image stays constant (normalized kernel, reflection padding).
    np.testing.assert_allclose(sr_degrade(np.full((8, 8, 3), 0.3, np.float32), 2), 0.3, atol=1e-6)


def test_sr_degrade_errors(rng):
    with pytest.raises(ValueError, match="not divisible by scale=4"):
        sr_degrade(rng.random((18, 16, 3), dtype=np.float32), 4)
    with pytest.raises(ValueError, match="dtype uint8"):
        sr_degrade(np.zeros((16, 16, 3), np.uint8), 4)
    with pytest.raises(ValueError, match="sigma must be"):
        sr_degrade(np.zeros((16, 16, 3), np.float32), 4, sigma=-1)
    with pytest.raises(ValueError, match="too small for the sigma"):
        sr_degrade(np.zeros((1, 2, 2, 3), np.float32), 2)


def test_gaussian_kernel():
    taps = gaussian_kernel(1.0)
    assert taps.shape == (7,) and taps.dtype == np.float32
    np.testing.assert_allclose(taps.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(taps, taps[::-1])
    assert gaussian_kernel(2.0, radius=0).tolist() == [1.0]
    # Were math's TypeError/ValueError/OverflowError, and an empty kernel for sigma < 0.
    for bad in (None, "wide", float("nan"), float("inf"), 0, -1.0, True):
        with pytest.raises(InputError, match=r"sigma must be a finite number > 0\. Received"):
            gaussian_kernel(bad)
    for bad in (-1, 1.5, "3"):
        with pytest.raises(InputError, match=r"radius must be an integer >= 0\. Received"):
            gaussian_kernel(1.0, radius=bad)


def test_super_resolution_pairs(folder):
    scan = scan_images(folder, min_size=32, warn=False)
    high_res = image_folder_dataset(scan, 32, 2, seed=0)
    pairs = super_resolution_pairs(high_res, scale=4, patch_size=32)
    low_spec, high_spec = pairs.element_spec
    assert low_spec.shape.as_list() == [2, 8, 8, 3]
    assert high_spec.shape.as_list() == [2, 32, 32, 3]
    low, high = next(iter(pairs))
    np.testing.assert_allclose(low.numpy(), sr_degrade(high.numpy(), 4), atol=1e-6)


def test_super_resolution_pairs_errors(folder):
    scan = scan_images(folder, min_size=32, warn=False)
    images = image_folder_dataset(scan, 32, 2, seed=0)
    with pytest.raises(ValueError, match="patch_size=30 is not divisible by scale=4.*28"):
        super_resolution_pairs(images, scale=4, patch_size=30)
    with pytest.raises(ValueError, match="got 32x32 images but patch_size=64"):
        super_resolution_pairs(images, scale=4, patch_size=64)
    with pytest.raises(ValueError, match=r"not \(x, y\) pairs"):
        super_resolution_pairs(style_transfer_pairs(images), scale=4, patch_size=32)
    with pytest.raises(ValueError, match="expects a tf.data.Dataset"):
        super_resolution_pairs(np.zeros((2, 32, 32, 3), np.float32), scale=4, patch_size=32)
    # Images of unknown static size are checked when they arrive.

    def double(x):  # a random factor that is always 2: unknown to the shape inference
        return tf.image.resize(x, tf.shape(x)[1:3] * tf.random.uniform((), 2, 3, tf.int32))

    unknown = images.map(double)
    assert unknown.element_spec.shape.as_list() == [2, None, None, 3]
    pairs = super_resolution_pairs(unknown, scale=4, patch_size=32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(iter(pairs))


def test_style_transfer_pairs(folder):
    scan = scan_images(folder, min_size=32, warn=False)
    x, y = next(iter(style_transfer_pairs(image_folder_dataset(scan, 32, 2, seed=0))))
    np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_scan_leaves_out_the_excluded_folders(tmp_path):
    from conftest import make_photos

    make_photos(tmp_path / "a", count=2)
    make_photos(tmp_path / "a" / "run" / "samples", count=1)
    make_photos(tmp_path / "b", count=1)
    names = lambda scan: sorted(os.path.relpath(p, tmp_path) for p in scan.paths)  # noqa: E731
    assert len(scan_images(tmp_path).paths) == 4
    assert names(scan_images(tmp_path, exclude=str(tmp_path / "a" / "run"))) == [
        os.path.join("a", "photo0.png"), os.path.join("a", "photo1.png"),
        os.path.join("b", "photo0.png")]  # fmt: skip
    with pytest.raises(ValueError, match="No usable image"):
        scan_images(tmp_path, exclude=[tmp_path / "a", tmp_path / "b"])
    assert len(scan_images(tmp_path, exclude=None).paths) == 4  # None: nothing left out
    # Were "TypeError: 'int' object is not iterable" and os.fspath's bare TypeError.
    for bad in (3, [None], [str(tmp_path / "a"), 7], b"a"):
        with pytest.raises(InputError, match="exclude must be a .*Received: exclude="):
            scan_images(tmp_path, exclude=bad)


def test_macos_appledouble_files_are_named_as_such(tmp_path):
    # Was: "'._p0.png' (not an image: unrecognized or unsupported file contents)" on every run,
    # for the metadata files a Mac writes beside each photo on an exFAT/FAT/network drive.
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "p0.png")
    (tmp_path / "._p0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"Mac OS X" + bytes(70))
    with pytest.warns(SkippedImagesWarning, match=r"'\._p0.png' \(not an image: a macOS metadata"):
        scan = scan_images(tmp_path)
    assert [os.path.basename(p) for p in scan.paths] == ["p0.png"]
    assert "-name '._*' -delete" in scan.skipped[0].reason


def test_a_path_starting_with_a_tilde_says_python_does_not_expand_it():
    # Was: "Image folder '~/...' does not exist; check the path." for a path a shell expands.
    folder = "~/keras-perceptual-no-such-photos"
    hint = r"Python does not expand '~': pass os.path.expanduser\('~/keras-perceptual-no-such"
    with pytest.raises(InputError, match=hint):
        scan_images(folder)
    with pytest.raises(InputError, match=hint):
        image_folder_dataset(folder, 32)
    with pytest.raises(InputError, match=hint):
        list_images(folder)
    with pytest.raises(InputError, match=hint):
        load_image(folder + "/a.jpg")
    with pytest.raises(InputError, match=r"check the path\. Received"):  # no hint otherwise
        scan_images("/no/such/keras-perceptual-photos")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_with_an_image_name_is_skipped_not_waited_on(tmp_path):
    # Was: Image.open on a named pipe waits for a writer: the scan never ended, silently.
    import threading

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a.png")
    os.mkfifo(tmp_path / "pipe.jpg")
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(scan=scan_images(tmp_path, warn=False)), daemon=True
    )
    thread.start()
    thread.join(5)
    try:
        assert not thread.is_alive(), "scan_images is waiting on the named pipe"
    finally:
        if thread.is_alive():  # release the old code's blocked open()
            os.close(os.open(tmp_path / "pipe.jpg", os.O_WRONLY | os.O_NONBLOCK))
    scan = result["scan"]
    assert [os.path.basename(p) for p in scan.paths] == ["a.png"]
    assert scan.skipped[0].reason.startswith("not an image: not a regular file (a named pipe")


def test_tf_data_pydata_and_load_image_decode_every_kind_of_file_alike(tmp_path, tricky_image_files):
    # A fast guard of the decoding contract (the slow test adds the CLI and TF Serving): every
    # EXIF orientation, 16-bit PNGs (one with its eXIf chunk after the pixel data), palette,
    # LA/RGBA (alpha dropped), CMYK, grayscale, progressive JPEG, WebP with an orientation,
    # 1-bit, and the first frame of animated GIF and WebP give the same pixels on all three paths.
    import struct
    import zlib

    from keras_perceptual.pydata import RandomCrops

    paths, _ = tricky_image_files
    folder = paths[0].parent
    rgb = np.asarray(Image.open(paths[0]).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(folder / "progressive.jpg", progressive=True, quality=90)
    Image.fromarray(rgb).save(folder / "turned.webp", lossless=True, exif=exif)
    Image.fromarray(rgb).convert("1").save(folder / "bilevel.png")
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    for name in ("animated.gif", "animated.webp"):
        frames[0].save(folder / name, save_all=True, append_images=frames[1:], lossless=True)
    data = (folder / "rgb16.png").read_bytes()  # eXIf (Orientation=3) placed before IEND
    upside_down = Image.Exif()
    upside_down[0x0112] = 3
    body = b"eXIf" + upside_down.tobytes()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    (folder / "rgb16_turned.png").write_bytes(data[:-12] + chunk + data[-12:])
    expected = {p: load_image(p) for p in list_images(str(folder))}
    assert len(expected) == len(paths) + 6
    for name in ("animated.gif", "animated.webp"):  # the first frame, not the second
        first = np.abs(expected[str(folder / name)] - rgb / 255).mean()
        assert first < 0.05 < np.abs(expected[str(folder / name)] - (255 - rgb) / 255).mean()
    np.testing.assert_array_equal(expected[str(folder / "rgb16_turned.png")],
                                  expected[str(folder / "rgb16.png")][::-1, ::-1])
    assert expected[str(folder / "turned.webp")].shape == (40, 24, 3)
    scan = scan_images(folder, warn=False)
    dataset = image_folder_dataset(scan, 20, 1, shuffle=False, repeat=False, crop="center",
                                   resize=False)
    for path, batch in zip(scan.paths, dataset, strict=True):
        image = expected[path]
        top, left = (image.shape[0] - 20) // 2, (image.shape[1] - 20) // 2
        np.testing.assert_array_equal(batch[0].numpy(), image[top:top + 20, left:left + 20],
                                      err_msg=path)
    crops = RandomCrops(scan, 24, 1, seed=0, workers=1)  # 24: the shorter side, no resize
    for k in range(len(scan.paths)):
        path = scan.paths[crops._order(0)[k]]
        image, crop = expected[path], crops.sample(k)
        windows = [image[i:i + 24, j:j + 24] for i in range(image.shape[0] - 23)
                   for j in range(image.shape[1] - 23)]
        assert any(np.array_equal(crop, w) for w in windows), path


def test_a_folder_of_jpeg_png_and_tiff_photos_trains_on_every_one(tmp_path):
    # Was: the scan left the TIFFs out, so the dataset held only the JPEG and the PNG.
    from PIL import TiffImagePlugin

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(rgb).save(tmp_path / "b.png")
    turned = TiffImagePlugin.ImageFileDirectory_v2()
    turned[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "c.tif", compression="tiff_lzw", tiffinfo=turned)
    sixteen = rng.integers(0, 65536, (24, 40), dtype=np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "d.tiff")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "e.TIF")
    scan = scan_images(tmp_path)
    names = [os.path.basename(p) for p in scan.paths]
    assert names == ["a.jpg", "b.png", "c.tif", "d.tiff", "e.TIF"]
    expected = {p: load_image(p) for p in scan.paths}
    assert expected[scan.paths[2]].shape == (40, 24, 3)  # the Orientation tag applied
    np.testing.assert_allclose(expected[scan.paths[3]][..., 0], sixteen / 65535, atol=1e-7)
    dataset = image_folder_dataset(scan, 24, 1, shuffle=False, repeat=False, crop="center",
                                   resize=False)  # fmt: skip
    for path, batch in zip(scan.paths, dataset, strict=True):
        image = expected[path]
        top, left = (image.shape[0] - 24) // 2, (image.shape[1] - 24) // 2
        np.testing.assert_array_equal(batch[0].numpy(), image[top : top + 24, left : left + 24],
                                      err_msg=path)  # fmt: skip
