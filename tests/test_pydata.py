"""The TensorFlow-free input pipeline (``keras_perceptual.pydata.RandomCrops``)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_photos

from keras_perceptual.errors import DataError, InputError
from keras_perceptual.ops import sr_degrade
from keras_perceptual.pydata import RandomCrops
from keras_perceptual.scan import scan_images


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return scan_images(make_photos(tmp_path_factory.mktemp("photos"), count=5), min_size=32)


def test_batches_are_crops_in_value_range_and_a_function_of_seed_and_index(scan):
    crops = RandomCrops(scan, 32, 4, seed=3, value_range=(-1, 1), workers=1)
    x, y = crops[0]
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32 and x is y
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.05
    again = RandomCrops(scan, 32, 4, seed=3, value_range=(-1, 1), workers=1)
    np.testing.assert_array_equal(again[5][0], crops[5][0])  # any order of access
    np.testing.assert_array_equal(again[0][0], x)
    assert not np.array_equal(RandomCrops(scan, 32, 4, seed=4)[0][0], crops[0][0] * 0.5 + 0.5)
    assert crops.num_batches is None  # infinite


def test_every_image_once_per_epoch(scan):
    crops = RandomCrops(scan, 40, 1, seed=0, workers=1, value_range=(0, 1))
    # Each 40 px crop of a 40 px-high photo shows the whole height: identify the photo by
    # comparing with centre crops of the decoded images.
    from keras_perceptual.images import read_rgb

    images = [read_rgb(p, shorter_side=40, at_least=40).astype(np.float32) / 255 for p in scan.paths]
    seen = []
    for k in range(len(scan.paths)):
        crop = crops[k][0][0]
        matches = [i for i, image in enumerate(images)
                   if any(np.allclose(image[:, j:j + 40], crop, atol=1e-6)
                          for j in range(image.shape[1] - 39))]  # fmt: skip
        seen.append(matches[0])
    assert sorted(seen) == list(range(len(scan.paths)))


def test_shards_make_the_global_batch(scan):
    whole = RandomCrops(scan, 32, 4, seed=1, workers=1)[2][0]
    parts = [RandomCrops(scan, 32, 4, seed=1, shard=(i, 2), workers=1)[2][0] for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    resumed = RandomCrops(scan, 32, 4, seed=1, start_batch=2, workers=1)[0][0]
    np.testing.assert_array_equal(resumed, whole)


def test_transform_gets_the_batch_and_its_index(scan):
    seen = []

    def degrade(batch, index):
        seen.append(index)
        return sr_degrade(batch, 4), batch

    low, high = RandomCrops(scan, 32, 2, seed=0, transform=degrade, workers=1)[7]
    assert low.shape == (2, 8, 8, 3) and high.shape == (2, 32, 32, 3) and seen == [7]
    np.testing.assert_allclose(low, np.asarray(sr_degrade(high, 4)), atol=1e-6)


def test_a_file_failing_while_training_is_skipped_and_counted(tmp_path):
    folder = make_photos(tmp_path / "photos", count=3)
    scan = scan_images(folder, min_size=32)
    (tmp_path / "photos" / "photo1.png").write_bytes(b"broken now")
    crops = RandomCrops(scan, 32, 3, seed=0, workers=1)
    for k in range(4):
        assert crops[k][0].shape == (3, 32, 32, 3)
    assert scan.runtime_skipped.count >= 1
    assert scan.runtime_skipped.paths == [str(tmp_path / "photos" / "photo1.png")]
    for name in ("photo0.png", "photo2.png"):
        (tmp_path / "photos" / name).write_bytes(b"gone")
    with pytest.raises(DataError, match="Every one of the 3 images has failed"):
        RandomCrops(scan, 32, 3, seed=1, workers=1)[0]


def test_files_failing_while_training_are_each_named_once_in_the_log(tmp_path, caplog):
    # Was: skipped without a word (the tf.data path names them), and a list of paths, which
    # has no scan, did not even count them.
    import logging

    folder = make_photos(tmp_path / "photos", count=4)
    scan = scan_images(folder, min_size=32)
    broken = [str(tmp_path / "photos" / f"photo{i}.png") for i in (1, 2)]
    for path in broken:
        with open(path, "wb") as file:
            file.write(b"broken now")
    for given in (scan, list(scan.paths)):
        caplog.clear()
        crops = RandomCrops(given, 32, 2, seed=0, workers=1)
        with caplog.at_level(logging.WARNING, logger="keras_perceptual.pydata"):
            for k in range(6):  # three epochs: each broken file fails three times
                assert crops[k][0].shape == (2, 32, 32, 3)
        ours = [r.getMessage() for r in caplog.records if r.name == "keras_perceptual.pydata"]
        assert len(ours) == 2, ours
        for path in broken:
            assert sum(m.startswith(f"Skipping {path!r}") for m in ours) == 1, ours
        assert crops.skipped.paths == broken and crops.skipped.count >= 4


def test_bad_arguments(scan):
    with pytest.raises(InputError, match="batch_size divisible by count"):
        RandomCrops(scan, 32, 3, seed=0, shard=(0, 2))
    with pytest.raises(InputError, match="seed must be an integer"):
        RandomCrops(scan, 32, 2, seed=-1)
    with pytest.raises(InputError, match="at least one image"):
        RandomCrops([], 32, 2, seed=0)


def test_one_path_instead_of_a_scan_is_refused_with_the_fix(tmp_path):
    # Was: a folder path (str) was read as a list of one-letter paths, every "image" failed
    # at the first batch with "Every one of the N images has failed to decode"; a
    # pathlib.Path raised TypeError "'PosixPath' object is not iterable".
    import pathlib

    folder = make_photos(tmp_path / "photos", count=2)
    for given in (folder, pathlib.Path(folder)):
        with pytest.raises(InputError, match=r"not one path; pass scan_images\('.*photos'\)"):
            RandomCrops(given, 32, 2, seed=0)
    photo = str(tmp_path / "photos" / "photo0.png")
    with pytest.raises(InputError, match=r"pass \['.*photo0.png'\] for one image"):
        RandomCrops(photo, 32, 2, seed=0)
    for bad in (3, [np.zeros((40, 40, 3))]):
        with pytest.raises(InputError, match="a list of image file paths"):
            RandomCrops(bad, 32, 2, seed=0)
    crops = RandomCrops([pathlib.Path(photo)], 32, 1, seed=0, workers=1)  # Paths accepted
    assert crops[0][0].shape == (1, 32, 32, 3)


def test_arguments_of_the_wrong_kind_are_refused_with_the_expected_kind(scan):
    # Was: shard=2 / (0,) raised bare TypeError / ValueError "cannot unpack"; shard=(0.5, 1)
    # and (True, 2) were accepted; transform=3 failed at the first batch ("'int' object is not
    # callable"); workers=-1 and 2.5, max_queue_size=0 and cache="yes" were accepted.
    for kwargs, pattern in (
        ({"shard": 2}, r"shard must be a pair of integers \(index, count\).*Received: shard=2"),
        ({"shard": (0,)}, "shard must be a pair of integers"),
        ({"shard": (0.5, 1)}, "shard must be a pair of integers"),
        ({"shard": (True, 2)}, "shard must be a pair of integers"),
        ({"transform": 3}, r"transform must be None or a function transform\(batch, index\)"),
        ({"workers": -1}, "workers must be an integer >= 1"),
        ({"workers": 2.5}, "workers must be an integer >= 1"),
        ({"max_queue_size": 0}, "max_queue_size must be an integer >= 1"),
        ({"cache": "yes"}, "cache must be"),
    ):
        with pytest.raises(InputError, match=pattern):
            RandomCrops(scan, 32, 2, seed=0, **kwargs)
    assert RandomCrops(scan, 32, 2, seed=0, shard=[np.int64(1), 2], workers=1)[0][0].shape == (1, 32, 32, 3)


def test_a_folder_of_jpeg_png_and_tiff_photos_gives_crops_of_every_one(tmp_path):
    # Was: the scan left the TIFFs out, so the batches held only the JPEG and the PNG.
    from PIL import Image

    from keras_perceptual.images import load_image

    rng = np.random.default_rng(6)
    for name in ("a.jpg", "b.png", "c.tif", "d.tiff"):
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / name)
    Image.fromarray(rng.integers(0, 65536, (32, 48), dtype=np.uint16)).save(tmp_path / "e.tif")
    scan = scan_images(tmp_path)
    assert len(scan.paths) == 5 and scan.ignored == 0
    images = [load_image(p) for p in scan.paths]
    crops = RandomCrops(scan, 32, 5, seed=0, workers=1)[0][0]  # an epoch: each image once
    found = sorted(
        next(i for i, image in enumerate(images)
             if any(np.array_equal(crop, image[:, j : j + 32]) for j in range(17)))
        for crop in crops
    )  # fmt: skip
    assert found == [0, 1, 2, 3, 4]
