"""stylize_video (keras_perceptual.video): round trips, options, failures, memory.

Clips are generated with PyAV (``make_clip``): 48x64 px, 12 fps, 2 s, with a tone.
"""

from __future__ import annotations

import glob
import io
import os
import pathlib
import re
import sys
import threading
import time

import keras
import numpy as np
import pytest
from conftest import make_clip, read_clip, requires_tf

from keras_perceptual.errors import InputError, MissingDependencyError, VideoError
from keras_perceptual.inference import stylize
from keras_perceptual.models import style_transfer_net

pytest.importorskip("av")
from keras_perceptual.video import probe_video, stylize_video  # noqa: E402

pytestmark = requires_tf  # the JAX re-run covers the core; video I/O is backend-independent


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(3)
    return style_transfer_net(filters=8, num_residual_blocks=1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


def test_probe(clip):
    info = probe_video(clip)
    assert (info.frames, info.fps, info.width, info.height) == (24, 12.0, 64, 48)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_progress_away_from_a_terminal_is_one_line(net, clip, tmp_path, capsys):
    """Was: tqdm's bar redrawn with carriage returns at every batch into a log file (the
    README: away from a terminal, progress is one line per run)."""
    stylize_video(net, clip, tmp_path / "logged.mp4", batch_size=8)
    err = capsys.readouterr().err
    assert "\r" not in err and "|" not in err, repr(err)
    lines = err.splitlines()
    assert len(lines) == 1 and re.fullmatch(
        r"logged\.mp4: 24/24 frames in \d+\.\d s \(\d+\.\d\d frames/s\)", lines[0]), lines


def test_progress_on_a_terminal_is_a_bar(net, clip, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    stylize_video(net, clip, tmp_path / "shown.mp4", batch_size=8)
    drawn = terminal.getvalue()
    assert "\r" in drawn and "24/24" in drawn and "frame/s" in drawn, repr(drawn)
    assert " frames in " not in drawn  # the bar's own final state, not the log line too


def test_round_trip_keeps_frames_rate_size_and_audio(net, clip, tmp_path):
    out = tmp_path / "out.mp4"
    info = stylize_video(net, clip, out, progress=False)
    assert (info.frames, info.width, info.height, info.fps) == (24, 64, 48, 12.0)
    assert info.audio == "copied" and info.frames_per_second > 0
    frames, times, samples, codec = read_clip(out)
    in_frames, in_times, in_samples, _ = read_clip(clip)
    assert frames.shape == in_frames.shape == (24, 48, 64, 3)
    np.testing.assert_allclose(times, in_times, atol=1e-6)  # every timestamp kept
    assert codec == "aac" and samples == in_samples  # the track was copied, not re-encoded
    expected = stylize(net, in_frames.astype(np.float32) / 255.0)
    # H.264 at CRF 18 keeps the luma; 4:2:0 chroma cannot hold a random net's colour noise.
    assert np.abs(luma(frames / 255.0 - expected)).mean() < 0.03
    assert np.abs(frames.astype(float) - in_frames).mean() > 10  # and it is stylized
    assert not glob.glob(str(tmp_path / ".*partial*"))


def test_webm_re_encodes_audio_and_no_audio(net, clip, tmp_path):
    info = stylize_video(net, clip, tmp_path / "out.webm", progress=False)
    frames, times, samples, codec = read_clip(tmp_path / "out.webm")
    assert info.audio == "re-encoded" and codec == "opus" and frames.shape[0] == 24
    assert samples == pytest.approx(2.0 * 48000, rel=0.05)  # 2 s at Opus' 48 kHz
    info = stylize_video(net, clip, tmp_path / "silent.mp4", audio=False, progress=False)
    assert info.audio is None and read_clip(tmp_path / "silent.mp4")[3] is None


def test_stylize_options_are_applied(net, tmp_path):
    clip = make_clip(tmp_path / "short.mp4", frames=3, audio=False)
    in_frames = read_clip(clip)[0].astype(np.float32) / 255.0
    options = {"tile_size": 48, "overlap": 8, "norm_statistics": "tile", "preserve_color": True}
    stylize_video(net, clip, tmp_path / "tiled.mp4", progress=False, batch_size=2,
                  codec_options={"crf": "4"}, **options)
    frames = read_clip(tmp_path / "tiled.mp4")[0] / 255.0
    expected = stylize(net, in_frames, **options)
    plain = stylize(net, in_frames)
    assert np.abs(frames - expected).mean() < 0.02
    assert np.abs(frames - plain).mean() > 3 * np.abs(frames - expected).mean()


def test_an_arbitrary_style_is_encoded_once_for_the_whole_video(tmp_path, monkeypatch):
    """Before: the style image was read and encoded again for every batch of frames."""
    from keras_perceptual.layers import AdaptiveInstanceNormalization
    from keras_perceptual.models import arbitrary_style_net

    keras.utils.set_random_seed(4)
    adain = arbitrary_style_net(weights=None)
    painting = np.random.default_rng(5).random((32, 32, 3)).astype("float32")
    clip = make_clip(tmp_path / "short.mp4", frames=5, audio=False)
    calls = []
    statistics = AdaptiveInstanceNormalization.style_statistics
    monkeypatch.setattr(AdaptiveInstanceNormalization, "style_statistics",
                        lambda self, *a, **k: calls.append(1) or statistics(self, *a, **k))
    stylize_video(adain, clip, tmp_path / "styled.mp4", progress=False, batch_size=2,
                  codec_options={"crf": "4"}, style_image=painting, alpha=0.5)
    assert len(calls) == 1  # 3 batches of frames
    frames = read_clip(tmp_path / "styled.mp4")[0] / 255.0
    expected = stylize(adain, read_clip(clip)[0].astype(np.float32) / 255.0,
                       style_image=painting, alpha=0.5)
    assert np.abs(frames - expected).mean() < 0.02


def test_style_size_resizes_the_style_image_once_for_the_whole_video(tmp_path, monkeypatch):
    """style_size reaches the one binding of the style: the encoder sees the resized image."""
    from keras_perceptual.layers import AdaptiveInstanceNormalization
    from keras_perceptual.models import arbitrary_style_net

    keras.utils.set_random_seed(4)
    adain = arbitrary_style_net(weights=None, backbone="vgg16", filters=4)
    painting = np.random.default_rng(5).random((32, 48, 3)).astype("float32")
    clip = make_clip(tmp_path / "short.mp4", frames=3, audio=False)
    shapes = []
    statistics = AdaptiveInstanceNormalization.style_statistics
    monkeypatch.setattr(AdaptiveInstanceNormalization, "style_statistics",
                        lambda self, f: shapes.append(tuple(f.shape)) or statistics(self, f))
    stylize_video(adain, clip, tmp_path / "styled.mp4", progress=False, batch_size=2,
                  codec_options={"crf": "4"}, style_image=painting, style_size=16)
    assert [shape[1:3] for shape in shapes] == [(2, 3)]  # relu4_1 of 16 x 24, not 4 x 6
    frames = read_clip(tmp_path / "styled.mp4")[0] / 255.0
    expected = stylize(adain, read_clip(clip)[0].astype(np.float32) / 255.0,
                       style_image=painting, style_size=16)
    assert np.abs(frames - expected).mean() < 0.02
    with pytest.raises(InputError, match="style_size must be an integer >= 1"):
        stylize_video(adain, clip, tmp_path / "bad.mp4", progress=False, style_image=painting,
                      style_size=0)


def luma(images):
    return images @ np.array([0.299, 0.587, 0.114])


class _Interrupting(keras.Model):
    """A model that raises KeyboardInterrupt on its second call, as Ctrl-C would."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return self.model(*args, **kwargs)

    predict_on_batch = __call__


def test_interrupted_or_failed_run_leaves_no_output(net, clip, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        stylize_video(_Interrupting(net), clip, out, progress=False, value_range=(0, 1))
    assert os.listdir(tmp_path) == []  # neither the output nor a temporary file
    out.write_bytes(b"previous result")
    with pytest.raises(KeyboardInterrupt):
        stylize_video(_Interrupting(net), clip, out, progress=False, value_range=(0, 1))
    assert out.read_bytes() == b"previous result" and os.listdir(tmp_path) == ["out.mp4"]
    stale = tmp_path / ".out.999999999.partial.mp4"  # left by a killed run (no such process)
    stale.write_bytes(b"half")
    stylize_video(net, clip, out, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"] and probe_video(out).frames == 24


def test_unreadable_inputs(net, clip, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(pathlib.Path(clip).read_bytes()[:4000])
    data = bytearray(pathlib.Path(clip).read_bytes())
    start = data.find(b"mdat") + 3000
    data[start : start + 6000] = np.random.default_rng(0).integers(0, 256, 6000, np.uint8).tobytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(data))
    from PIL import Image

    image = tmp_path / "photo.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    out = tmp_path / "out.mp4"
    for path, pattern in [
        (text, "cannot read .* as a video"),
        (truncated, "cannot read .* as a video"),
        (corrupt, r"cannot decode .* after \d+ frame\(s\)"),
        (image, "is a still image, not a video"),
    ]:
        with pytest.raises(VideoError, match=pattern):
            stylize_video(net, path, out, progress=False)
        assert not out.exists()
    with pytest.raises(FileNotFoundError):
        stylize_video(net, tmp_path / "missing.mp4", out, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["corrupt.mp4", "notes.mp4", "photo.png", "truncated.mp4"]


def test_bad_outputs(net, clip, tmp_path):
    with pytest.raises(InputError, match=r"video extension \(.mp4, .m4v"):
        stylize_video(net, clip, tmp_path / "out.gif", progress=False)
    with pytest.raises(InputError, match="is the input video"):
        stylize_video(net, clip, clip, progress=False)
    with pytest.raises(InputError, match="does not exist; create"):
        stylize_video(net, clip, tmp_path / "missing" / "out.mp4", progress=False)
    with pytest.raises(InputError, match="batch_size"):
        stylize_video(net, clip, tmp_path / "out.mp4", batch_size=0, progress=False)
    # Before: any truthy value (audio="no", progress="false") switched the option on.
    with pytest.raises(InputError, match=r"audio must be True or False.*audio='no'"):
        stylize_video(net, clip, tmp_path / "out.mp4", audio="no", progress=False)
    with pytest.raises(InputError, match=r"progress must be True or False.*progress='false'"):
        stylize_video(net, clip, tmp_path / "out.mp4", progress="false")
    assert not (tmp_path / "out.mp4").exists()


def test_missing_pyav_names_the_extra(net, clip, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingDependencyError, match=r'keras-perceptual\[video\]'):
        stylize_video(net, clip, tmp_path / "out.mp4")


def _peak_rss_during(fn) -> float:
    """Peak resident memory (MiB) sampled every 5 ms while ``fn`` runs."""
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.is_set():
            with open("/proc/self/statm") as statm:
                peak[0] = max(peak[0], int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return peak[0] / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_memory_is_constant_in_the_video_length(net, tmp_path):
    """A clip 4x longer (40 vs 160 frames of 192x256) raises peak memory by < 20 MiB, while
    keeping its frames would take 160 * 192 * 256 * 3 bytes = 22.5 MiB (uint8), 4x that in
    float32 (the 10 s and 60 s figures of a 256 px clip: benchmarks/bench_video.py)."""
    short = make_clip(tmp_path / "short.mp4", frames=40, size=(192, 256), fps=24)
    long = make_clip(tmp_path / "long.mp4", frames=160, size=(192, 256), fps=24)
    stylize_video(net, short, tmp_path / "warmup.mp4", progress=False)  # compile, allocate

    peaks = [
        _peak_rss_during(lambda p=path: stylize_video(net, p, tmp_path / "o.mp4", progress=False))
        for path in (short, long)
    ]
    assert peaks[1] - peaks[0] < 20, peaks


def test_every_argument_is_checked_before_the_input_is_opened(net, clip, tmp_path, monkeypatch):
    """Was: tile_size, overlap, norm_statistics, preserve_color and the stylize options were
    checked by the first stylize call, after the input was opened and the output created."""
    from keras_perceptual import video

    def never(*args, **kwargs):
        raise AssertionError("the input was opened before the arguments were checked")

    monkeypatch.setattr(video, "_open_input", never)
    out = tmp_path / "out.mp4"
    cases = [
        ({"tile_size": 0}, InputError, r"tile_size must be an integer >= 1\. "
                                       r"Received: tile_size=0"),
        ({"tile_size": "64"}, InputError, r"tile_size must be an integer >= 1"),
        ({"overlap": -1}, InputError, r"overlap must be an integer >= 0\. Received: overlap=-1"),
        ({"tile_size": 16, "overlap": 16}, InputError, r"overlap must be at most half of tile_size"),
        ({"norm_statistics": "frame"}, InputError, r"norm_statistics must be one of"),
        ({"preserve_color": "no"}, InputError, r"preserve_color must be True or False"),
        ({"stlye": 1}, TypeError, r"stylize_video\(\) got an unexpected keyword argument "
                                  r"'stlye'; did you mean 'style'\?"),
        ({"images": np.zeros((1, 8, 8, 3))}, TypeError, r"unexpected keyword argument 'images'"),
        ({"style": 0}, InputError, r"single-style network\): leave them out"),
        ({"precision": "float8"}, InputError, r"precision"),
        ({"codec_options": ["crf", "23"]}, InputError, r"codec_options must be a dict"),
        # Was: FFmpeg ignored an option its encoder does not take, and the video was written
        # without it (a misspelt 'crf', or 'crf' for AVI's MPEG-4 encoder).
        ({"codec_options": {"cfr": "23"}}, InputError, r"codec_options has 'cfr', which the "
                                                        r"h264 encoder \(libx264\) does not take"),
        ({"codec_options": {"crf": "abc"}}, InputError, r"a value the h264 encoder \(libx264\) "
                                                        r"refuses"),
        ({"batch_size": 0}, InputError, r"batch_size must be an integer >= 1"),
    ]
    for kwargs, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            stylize_video(net, clip, out, progress=False, **kwargs)
    with pytest.raises(InputError, match=r"'crf', which the mpeg4 encoder"):
        stylize_video(net, clip, tmp_path / "out.avi", progress=False, codec_options={"crf": 4})
    with pytest.raises(InputError, match=r"video extension"):  # also before the input
        stylize_video(net, tmp_path / "missing.mp4", tmp_path / "out.gif", progress=False)
    assert os.listdir(tmp_path) == []


class _FailingOn(keras.Model):
    """A model whose ``call``-th call raises ``error`` (a bug, a full GPU, ...)."""

    def __init__(self, model, call, error):
        super().__init__()
        self.model, self.calls, self.fail_on, self.error = model, 0, call, error

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on:
            raise self.error
        return self.model(*args, **kwargs)

    predict_on_batch = __call__


@pytest.mark.parametrize("call", [1, 3])
def test_any_error_while_stylizing_leaves_no_partial_file(net, clip, tmp_path, call):
    out = tmp_path / "out.mp4"
    failing = _FailingOn(net, call, RuntimeError("out of memory"))
    with pytest.raises(RuntimeError, match="out of memory"):
        stylize_video(failing, clip, out, batch_size=4, progress=False, value_range=(0, 1))
    assert failing.calls == call and os.listdir(tmp_path) == []


def _identity():
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def _write_raw_clip(path, images, fps=12, rotation=None, **tags):
    """A lossless H.264 clip of ``images`` (uint8 RGB) with an optional display matrix
    (``rotation``: degrees counter-clockwise, as a phone writes) and colour ``tags``."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"qp": "0"})
        stream.height, stream.width = images.shape[1:3]
        stream.pix_fmt = "yuv444p"
        for name, value in tags.items():
            setattr(stream.codec_context, name, value)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image in images:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame = frame.reformat(format="yuv444p", dst_colorspace=tags.get("colorspace"))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


def _frames(count=3, size=(32, 48)):
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]]
    images = np.stack([np.stack([xs * 5 + t, ys * 7, (xs + ys) * 2], -1) for t in range(count)])
    images = images.astype(np.uint8)
    images[:, :8, :8] = 255  # a white top-left corner shows which way up a frame is
    return images


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_phone_video_rotation_is_applied(tmp_path, rotation):
    """Before: a portrait phone video (landscape frames and a display matrix) came out
    sideways: the frames were stylized and written as stored, the matrix dropped."""
    images = _frames()
    clip = _write_raw_clip(tmp_path / "phone.mp4", images, rotation=rotation)
    out = tmp_path / "out.mp4"
    info = stylize_video(_identity(), clip, out, progress=False, value_range=(0, 1),
                         codec_options={"crf": "0"})
    upright = np.rot90(images, rotation // 90, axes=(1, 2))  # as players show the input
    frames = read_clip(out)[0]
    assert frames.shape == upright.shape and (info.height, info.width) == upright.shape[1:3]
    assert np.abs(frames.astype(float) - upright).mean() < 3
    import av

    with av.open(str(out)) as container:  # upright pixels, so no matrix to apply again
        assert next(container.decode(video=0)).rotation == 0


def test_colour_matrix_and_tags_of_the_input_are_kept(tmp_path):
    """Before: frames decoded with a BT.709 input's matrix were encoded with BT.601 and
    written untagged, so players decoding HD video as BT.709 showed shifted colours."""
    import av

    images = np.zeros((2, 32, 48, 3), np.uint8)
    images[:, :, :16] = (0, 200, 0)
    images[:, :, 16:32] = (220, 30, 40)
    images[:, :, 32:] = (40, 60, 230)
    bt709 = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}
    clip = _write_raw_clip(tmp_path / "hd.mp4", images, **bt709)
    out = tmp_path / "out.mp4"
    stylize_video(_identity(), clip, out, progress=False, value_range=(0, 1),
                  codec_options={"crf": "0"})
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        tags = {name: int(getattr(context, name)) for name in bt709}
        frame = next(container.decode(video=0))
        as_bt709 = frame.to_ndarray(format="rgb24", src_colorspace="ITU709")
    assert tags == bt709
    assert np.abs(as_bt709.astype(float) - images[0]).max() < 12  # 4:2:0 edges
    assert np.abs(as_bt709.astype(float) - images[0]).mean() < 2


def test_a_video_path_that_is_not_a_path_is_named(tmp_path):
    # Before: os.fspath's bare TypeError.
    with pytest.raises(InputError, match="Received: path=None"):
        probe_video(None)
    from keras_perceptual.video import check_output_path

    with pytest.raises(InputError, match="Received: input_path=3"):
        check_output_path(tmp_path / "out.mp4", 3)


def _write_timed_clip(path, images, times, time_base=(1, 1000), format=None, audio=None,
                      layout="mono"):
    """A clip of ``images`` (uint8 RGB) whose frames have the given ``times`` (in
    ``time_base`` units; None: no timestamps, as in a raw .h264 stream), with an ``audio``
    track of that codec and channel ``layout`` (a second of silence from the first frame's
    time) when given."""
    import fractions

    import av

    time_base = fractions.Fraction(*time_base)
    with av.open(str(path), "w", format=format) as container:
        stream = container.add_stream("libx264", rate=10, options={"qp": "0", "bf": "0"})
        stream.height, stream.width = images.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        tone = None
        if audio is not None:
            tone = container.add_stream(audio, rate=48000)
            tone.layout = layout
        for image, when in zip(images, times, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if when is not None:
                frame.pts, frame.time_base = when, time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if tone is not None:
            channels = len(av.AudioLayout(layout).channels)
            frame = av.AudioFrame.from_ndarray(np.zeros((channels, 48000), np.float32),
                                               format="fltp", layout=layout)
            frame.sample_rate, frame.pts = 48000, round((times[0] or 0) * time_base * 48000)
            for packet in [*tone.encode(frame), *tone.encode(None)]:
                container.mux(packet)
    return str(path)


def test_frames_without_timestamps_keep_their_rate(tmp_path):
    """Before: a raw .h264 stream's frames (no timestamps) were given their index in the
    stream's time base (1/1200000 s): the whole output played in its first instant."""
    clip = _write_timed_clip(tmp_path / "raw.h264", _frames(5), [None] * 5, format="h264")
    info = stylize_video(_identity(), clip, tmp_path / "out.mp4", progress=False,
                         value_range=(0, 1))
    times = read_clip(tmp_path / "out.mp4")[1]
    assert info.frames == len(times) == 5 and info.fps > 0
    np.testing.assert_allclose(np.diff(times), 1 / info.fps, atol=1e-3)


def test_probe_counts_the_frames_of_a_raw_stream(tmp_path):
    """Before: a raw .h264 stream (no frame count, no duration) was probed as 0 frames of
    0 s; its packets, one a frame, are counted, at the 25 fps it is written at."""
    clip = _write_timed_clip(tmp_path / "raw.h264", _frames(7), [None] * 7, format="h264")
    info = probe_video(clip)
    assert (info.frames, info.fps) == (7, 25.0)
    assert info.duration == pytest.approx(7 / 25)
    written = stylize_video(_identity(), clip, tmp_path / "out.mp4", progress=False,
                            value_range=(0, 1))  # fmt: skip
    assert written.frames == info.frames


def _joined_clip(tmp_path, second_size, second_start):
    """Two MPEG-TS clips of four frames at 10 fps, joined byte by byte (as `cat` joins
    recordings): the second of ``second_size`` (height, width), its times starting at
    ``second_start`` seconds. Returns the path and the sizes and times PyAV decodes."""
    import av

    parts = []
    for name, size, start in [("a", (24, 32), 0), ("b", second_size, second_start)]:
        times = [round((start + t / 10) * 90000) for t in range(4)]
        parts.append(_write_timed_clip(tmp_path / f"{name}.ts", _frames(4, size), times,
                                       time_base=(1, 90000), format="mpegts"))
    clip = tmp_path / "joined.ts"
    clip.write_bytes(b"".join(pathlib.Path(part).read_bytes() for part in parts))
    with av.open(str(clip)) as container:
        decoded = [(frame.to_ndarray(format="rgb24").shape[:2], float(frame.time))
                   for frame in container.decode(video=0)]
    return clip, decoded


@pytest.mark.parametrize("ext", [".avi", ".mkv"])
def test_timestamps_the_output_cannot_hold_come_one_frame_later(tmp_path, ext):
    """Before: 'cannot write ... check the free disk space': a variable-rate input with two
    frames within one frame period (AVI counts frames), or timestamps that go back (files
    joined together), gave the encoder non-increasing times. Every frame is kept."""
    images = _frames(8)
    variable = _write_timed_clip(tmp_path / "vfr.mkv", images,
                                 [0, 100, 150, 400, 450, 900, 1000, 1010])
    joined, decoded = _joined_clip(tmp_path, (24, 32), 0)
    assert np.any(np.diff([when for _, when in decoded]) < 0)  # the times go back
    options = None if ext == ".avi" else {"crf": "0"}
    for clip, count in ((variable, 8), (joined, len(decoded))):
        out = tmp_path / f"out{ext}"
        info = stylize_video(_identity(), clip, out, progress=False, value_range=(0, 1),
                             codec_options=options)
        frames, times, _, _ = read_clip(out)
        assert info.frames == len(frames) == count and np.all(np.diff(times) > 0), times
    assert np.abs(frames.astype(float) - np.concatenate([_frames(4, (24, 32))] * 2)[-count:]).mean() < 4
    if ext == ".mkv":  # times it can hold are kept; after the reset, one frame period apart
        start = decoded[0][1]
        np.testing.assert_allclose(times, start + np.arange(count) / 10, atol=2e-3)


def test_a_change_of_frame_size_midway_is_scaled_to_the_first(tmp_path):
    """Before: frames of a second size (a stream that changes resolution, joined files)
    reached the encoder opened for the first: 'cannot write ... check the free disk space'."""
    clip, decoded = _joined_clip(tmp_path, (48, 64), 0.4)
    assert {size for size, _ in decoded} == {(24, 32), (48, 64)}
    with pytest.warns(UserWarning, match=r"changes its frame size from 32x24 to 64x48 at frame"):
        info = stylize_video(_identity(), clip, tmp_path / "out.mp4", progress=False,
                             value_range=(0, 1))
    frames, times, _, _ = read_clip(tmp_path / "out.mp4")
    assert info.frames == len(frames) == len(decoded) and frames.shape[1:3] == (24, 32)
    np.testing.assert_allclose(times, [when for _, when in decoded], atol=1e-3)


def test_audio_the_container_refuses_to_copy_is_re_encoded(tmp_path):
    """Before: FLAC into MOV was 'copied' (FFmpeg lists FLAC for MOV), then the header was
    refused: 'cannot write ... check the free disk space'. The input's first packets are
    now written in memory first."""
    clip = _write_timed_clip(tmp_path / "flac.mkv", _frames(10), [100 * t for t in range(10)],
                             audio="flac")
    info = stylize_video(_identity(), clip, tmp_path / "out.mov", progress=False,
                         value_range=(0, 1))
    assert info.audio == "re-encoded" and read_clip(tmp_path / "out.mov")[3] == "aac"
    info = stylize_video(_identity(), clip, tmp_path / "out.mkv", progress=False,
                         value_range=(0, 1))
    assert info.audio == "copied" and info.audio_codec == "flac"
    # Before: the same failure when the trailer was written: PCM from Matroska, which
    # stores no channel order ("2 channels"), into MP4, which needs one.
    clip = _write_timed_clip(tmp_path / "pcm.mkv", _frames(3), [0, 100, 200],
                             audio="pcm_s16le", layout="stereo")
    info = stylize_video(_identity(), clip, tmp_path / "out.mp4", progress=False,
                         value_range=(0, 1))
    assert info.audio == "re-encoded" and read_clip(tmp_path / "out.mp4")[3] == "aac"
    assert stylize_video(_identity(), clip, tmp_path / "out.mov", progress=False,
                         value_range=(0, 1)).audio == "copied"


def test_avi_counts_time_from_the_first_frame(tmp_path):
    """Before: an input starting at 2 s (MPEG-TS recordings start past 0) gave an AVI whose
    first frame lasted 2.1 s while its audio, which AVI cannot delay, started at 0 s: the
    picture lagged the sound by 2 s. Other containers keep the input's times."""
    clip = _write_timed_clip(tmp_path / "late.mkv", _frames(5), [2000 + 100 * t for t in range(5)],
                             audio="aac")
    stylize_video(_identity(), clip, tmp_path / "out.avi", progress=False, value_range=(0, 1))
    np.testing.assert_allclose(read_clip(tmp_path / "out.avi")[1], [0, 0.1, 0.2, 0.3, 0.4],
                               atol=1e-6)
    stylize_video(_identity(), clip, tmp_path / "out.mkv", progress=False, value_range=(0, 1))
    np.testing.assert_allclose(read_clip(tmp_path / "out.mkv")[1], [2, 2.1, 2.2, 2.3, 2.4],
                               atol=1e-6)


def test_a_gif_of_one_frame_is_a_still_image_and_an_animated_gif_a_video(tmp_path):
    """Before: a one-frame GIF was written as a one-frame video at 100 fps, while the same
    picture as a PNG was refused as a still image."""
    from PIL import Image

    images = [Image.fromarray(image) for image in _frames(3, (24, 32))]
    images[0].save(tmp_path / "still.gif")
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="still.gif' is a still image, not a video"):
        stylize_video(_identity(), tmp_path / "still.gif", out, progress=False, value_range=(0, 1))
    assert sorted(os.listdir(tmp_path)) == ["still.gif"]
    images[0].save(tmp_path / "anim.gif", save_all=True, append_images=images[1:],
                   duration=[100, 300, 100], loop=0)
    info = stylize_video(_identity(), tmp_path / "anim.gif", out, progress=False,
                         value_range=(0, 1))
    assert info.frames == 3
    np.testing.assert_allclose(read_clip(out)[1], [0, 0.1, 0.4], atol=1e-6)  # GIF delays kept


def test_audio_in_a_layout_the_encoder_refuses_is_remixed(tmp_path):
    """Before: 5.1(side) audio (AC-3's and DTS's 5.1) into WebM, re-encoded to Opus, which
    takes 5.1 but not 5.1(side): 'cannot write ... check the free disk space'."""
    import av

    clip = _write_timed_clip(tmp_path / "ac3.mkv", _frames(3), [0, 100, 200], audio="ac3",
                             layout="5.1(side)")
    info = stylize_video(_identity(), clip, tmp_path / "out.webm", progress=False,
                         value_range=(0, 1))
    assert info.audio == "re-encoded" and info.audio_codec == "libopus"
    with av.open(str(tmp_path / "out.webm")) as container:
        assert container.streams.audio[0].codec_context.layout.name == "5.1"


#: Flat patches (RGB) for the colour-range test: grey, the primaries, black and white.
_PATCHES = np.array([(128, 128, 128), (255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 150, 100),
                     (0, 0, 0), (255, 255, 255)], np.float64)  # fmt: skip


def _write_yuv_patches(path, matrix, full, colorspace=None):
    """A lossless H.264 clip of :data:`_PATCHES` (32 px each), its YUV planes computed here
    (not by swscale, whose RGB to full-range 4:2:0 turns grey 128 into (126, 128, 126)),
    with the ``matrix`` ((Kr, Kb)) and range given; ``colorspace`` tags the matrix."""
    import av

    kr, kb = matrix
    rgb = _PATCHES / 255
    y = rgb @ (kr, 1 - kr - kb, kb)
    scale, offset = ((255, 255), 0) if full else ((219, 224), 16)
    cb = 128 + (rgb[:, 2] - y) / (2 - 2 * kb) * scale[1]
    cr = 128 + (rgb[:, 0] - y) / (2 - 2 * kr) * scale[1]
    yuv = np.round(np.stack([offset + y * scale[0], cb, cr], -1)).clip(0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 32 * len(yuv), 32, "yuv420p"
        stream.codec_context.color_range = 2 if full else 1
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        for index in range(2):
            frame = av.VideoFrame(stream.width, stream.height, "yuv420p")
            for plane, values in zip(frame.planes, yuv.T, strict=True):
                row = np.repeat(values, plane.line_size // len(yuv))
                plane.update(np.tile(row, (plane.height, 1)))
            frame.color_range, frame.pts = stream.codec_context.color_range, index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


@pytest.mark.parametrize(
    "full, matrix, colorspace",
    [(True, (0.299, 0.114), None), (True, (0.2126, 0.0722), 1), (False, (0.2126, 0.0722), 1)],
    ids=["full-range-untagged", "full-range-bt709", "limited-bt709"],
)
def test_full_range_input_keeps_its_levels_and_the_output_states_its_range(
    tmp_path, full, matrix, colorspace
):
    """Full-range input (yuvj420p, 'pc': MJPEG, phone cameras) is decoded with its range
    and matrix and written in limited range, tagged so: grey, black and white exact, no
    tint. Before: an untagged full-range input gave an output of unstated range (Matroska
    stores it), and 4:2:0 colours lost up to 4 levels (swscale's chroma rounding)."""
    import av

    clip = _write_yuv_patches(tmp_path / "in.mp4", matrix, full, colorspace)
    out = tmp_path / "out.mkv"
    stylize_video(
        _identity(), clip, out, progress=False, value_range=(0, 1), codec_options={"crf": "0"}
    )
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        patches = frame.to_ndarray(format="rgb24")[16, 16::32].astype(np.float64)
        tags = int(frame.color_range), int(frame.colorspace)
    assert tags == (1, colorspace or 2)  # limited range; the input's matrix, or none
    np.testing.assert_array_equal(patches[[0, 5, 6]], _PATCHES[[0, 5, 6]])  # grey, black, white
    assert np.abs(patches - _PATCHES).max() <= 3, patches


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".webm"])
def test_an_audio_track_without_packets_is_not_reported_as_copied(tmp_path, ext):
    """Before: an audio track without a single packet (a recording whose sound failed) was
    reported as "copied" (AAC into MKV and MP4) or "re-encoded" (into WebM) though nothing
    was: MKV and WebM got an empty track, MP4 none. It is not written, and reported so."""
    import av

    clip = str(tmp_path / "silent.mkv")
    with av.open(clip, "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        container.add_stream("aac", rate=48000).layout = "mono"  # no packet is written
        for image in _frames(3, (24, 32)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with av.open(clip) as container:
        assert len(container.streams.audio) == 1
    out = tmp_path / f"out{ext}"
    info = stylize_video(_identity(), clip, out, progress=False, value_range=(0, 1))
    assert (info.frames, info.audio, info.audio_codec) == (3, None, None)
    with av.open(str(out)) as container:
        assert not container.streams.audio
    tone = make_clip(tmp_path / "tone.mkv")  # a track with sound is still written
    info = stylize_video(_identity(), tone, out, progress=False, value_range=(0, 1))
    assert info.audio == ("re-encoded" if ext == ".webm" else "copied")


def test_an_animated_webp_is_named_not_called_a_still_image(tmp_path):
    """Before: an animated WebP, which FFmpeg cannot decode, was refused as "a still image,
    not a video". The error says what it is and how to convert it; the conversion works."""
    from PIL import Image

    images = [Image.fromarray(np.full((24, 32, 3), level, np.uint8)) for level in (0, 120, 240)]
    anim = tmp_path / "anim.webp"  # frames that differ: libwebp merges near-identical ones
    images[0].save(anim, save_all=True, append_images=images[1:], duration=[100, 300, 100],
                   loop=0)  # fmt: skip
    images[0].save(tmp_path / "still.webp")
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match=r"anim.webp' is an animated WebP, which FFmpeg cannot "
                       r"decode; .*save_all=True\) .* Received: input_path="):  # fmt: skip
        stylize_video(_identity(), anim, out, progress=False, value_range=(0, 1))
    with pytest.raises(VideoError, match="still.webp' is a still image, not a video"):
        probe_video(tmp_path / "still.webp")
    Image.open(anim).save(tmp_path / "clip.gif", save_all=True)  # the conversion it names
    info = stylize_video(_identity(), tmp_path / "clip.gif", out, progress=False,
                         value_range=(0, 1))  # fmt: skip
    assert info.frames == 3
    np.testing.assert_allclose(read_clip(out)[1], [0, 0.1, 0.4], atol=1e-6)


def test_frames_smaller_than_the_model_accepts_are_refused_in_a_video_s_terms(net, tmp_path):
    # stylize's own message spoke of "images[0] ... Upscale or pad the image first", after
    # the output had been opened; the header is enough to tell, before any frame is decoded
    path = tmp_path / "tiny.mp4"
    _write_raw_clip(path, np.full((3, 4, 6, 3), 100, np.uint8))
    output = tmp_path / "out.mp4"
    with pytest.raises(InputError, match=r"The video's frames are 6x4 pixels; this model needs "
                       r"at least 5x5\. Scale the video up first, e\.g\. `ffmpeg -i tiny\.mp4 "
                       r"-vf \"scale='if\(lt\(iw,ih\),6,-2\)':'if\(lt\(iw,ih\),-2,6\)'\" "
                       r"larger\.mp4`\. Received: input_path="):
        stylize_video(net, str(path), str(output), progress=False)
    assert not output.exists()


def test_a_missing_video_is_named_in_a_sentence(net, tmp_path):
    # Before: "[Errno 2] no such video file: 'x.mp4'" (the command line showed it as is),
    # and a broken symbolic link read as a plain missing file.
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match=r"^no such video file: '.*missing\.mp4'; check "
                                                r"the path\. Received: input_path="):
        stylize_video(net, str(missing), str(tmp_path / "out.mp4"), progress=False)
    link = tmp_path / "link.mp4"
    link.symlink_to(tmp_path / "gone.mp4")
    with pytest.raises(FileNotFoundError, match=r"link\.mp4' \(a broken symbolic link to "
                                                r"'.*gone\.mp4'\); check the path"):
        stylize_video(net, str(link), str(tmp_path / "out.mp4"), progress=False)


def test_audio_with_cover_art_is_not_a_video(net, tmp_path):
    # Before: FFmpeg lists an MP3's cover art as a video stream (one frame, "attached
    # picture"), and stylize_video wrote it as a 1-frame video at 90000 fps.
    import av
    from av.stream import Disposition

    path = tmp_path / "song.mp3"
    with av.open(str(path), "w") as out:
        sound = out.add_stream("mp3", rate=44100)
        cover = out.add_stream("mjpeg", rate=1)
        cover.width = cover.height = 32
        cover.pix_fmt = "yuvj420p"
        cover.disposition = Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture.reformat(format="yuvj420p")), *cover.encode()]:
            out.mux(packet)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 44100), np.float32), format="fltp",
                                             layout="mono")
        samples.sample_rate = 44100
        for packet in [*sound.encode(samples), *sound.encode()]:
            out.mux(packet)
    output = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match=r"has no video stream \(audio only, audio with cover "
                                         r"art, or an image\?\)"):
        stylize_video(net, str(path), str(output), progress=False)
    with pytest.raises(VideoError, match="has no video stream"):
        probe_video(str(path))
    assert not output.exists()
