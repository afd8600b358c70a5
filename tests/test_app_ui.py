"""keras_perceptual.app.ui: the page's state, and the whole app in a real browser.

The browser test starts ``keras-perceptual app`` on 127.0.0.1 with a model trained for
two steps, drives Debian's headless Chromium with Playwright (``/usr/bin/chromium``; a
browser downloaded at run time is not available here), uploads a 512 px photo, waits for
the result, downloads it, sends bad uploads through the page and through
``gradio_client`` (20 bad uploads, then a good one) and saves a screenshot. It is in the
slow set (``.ci/run`` installs Chromium and the ``app`` extra and runs it); locally it
skips, with the reason, when Chromium, Playwright or Gradio is missing; under ``CI=true``
a missing one fails it instead. ``KERAS_PERCEPTUAL_APP_SCREENSHOT=path.png`` also copies
the screenshot there (the README's is ``docs/images/app.png``), and
``KERAS_PERCEPTUAL_APP_MODELS=dir`` serves the models in ``dir`` first (the README's
screenshot shows the demo's style model, trained on The Starry Night).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import pytest
from conftest import HAS_HED, REPO
from PIL import Image

from keras_perceptual.app.catalog import ModelCache, inspect_model
from keras_perceptual.app.ui import MAX_STYLE_SLIDERS, AppState
from keras_perceptual.errors import InputError
from keras_perceptual.models import style_transfer_net, super_resolution_net

ASSETS = REPO / "keras_perceptual" / "assets"
CHROMIUM = "/usr/bin/chromium"
#: Chromium's flags on these machines (no sandbox as root; no background connections to
#: hosts that the closed network refuses).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


# --------------------------------------------------------------------------------------
# AppState: what the page's callbacks call (no Gradio needed)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A training-run folder (model.keras + config.json naming the style image) and an
    SR model; the cache serves in-memory nets (loading from disk is tested in
    test_app_catalog)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "starry").mkdir()
    (root / "starry" / "model.keras").write_text("stand-in")
    (root / "starry" / "config.json").write_text(json.dumps(
        {"recipe": "style_transfer",
         "arguments": {"style_image": str(ASSETS / "style_starry_night.jpg")}}))
    (root / "sr4.keras").write_text("stand-in")
    nets = {"model": inspect_model(style_transfer_net(filters=4, num_residual_blocks=1)).model,
            "sr4": super_resolution_net(4, filters=4, num_residual_blocks=1)}
    cache = ModelCache(loader=lambda path: nets[os.path.basename(path).split(".")[0]])
    return root, cache


def test_state_lists_describes_and_runs_models(runs, tmp_path):
    root, cache = runs
    state = AppState([str(root)], demo_dir=None, output_dir=str(tmp_path), cache=cache)
    labels = [entry.label for entry in state.entries]
    assert labels == ["sr4.keras", f"starry ({os.path.join('starry', 'model.keras')})"]
    style_key = state.entries[1].key
    described = state.describe(style_key)
    assert described["kind"] == "style" and described["action"] == "Stylize"
    assert described["info"].startswith("**style transfer** · ")
    assert "style image: style_starry_night.jpg" in described["info"]
    thumb = described["thumbnail"]
    assert thumb.dtype == np.uint8 and min(thumb.shape[:2]) == 192
    sr = state.describe(state.entries[0].key)
    assert (sr["kind"], sr["action"], sr["thumbnail"]) == ("super_resolution", "Upscale", None)
    assert "**super-resolution** ×4" in sr["info"]

    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 32), (200, 120, 40)).save(photo)
    result = state.run(style_key, [str(photo)], True, False, 512.0, style_weights=[0.0] * 8)
    assert len(result.images) == 1 and result.errors == ()  # slider values unused here
    assert result.images[0].output_path.startswith(str(tmp_path))


def test_exported_models_are_described_with_their_runtime(tmp_path):
    from keras_perceptual.runtimes import KerasRuntime

    class OnnxStandIn(KerasRuntime):  # what ONNX Runtime shows the app, without exporting
        name = "onnxruntime"

    net = style_transfer_net(filters=4, num_residual_blocks=1)
    (tmp_path / "starry.onnx").write_text("stand-in")
    cache = ModelCache(loader=lambda path: OnnxStandIn(net, path))
    state = AppState([str(tmp_path / "starry.onnx")], demo_dir=None,
                     output_dir=str(tmp_path), cache=cache)
    described = state.describe(state.entries[0].key)
    assert described["kind"] == "style"
    assert "**style transfer** · exported, runs in ONNX Runtime · " in described["info"]
    assert "normalized on their own" in described["info"]  # instance norm, per tile


def test_an_exported_arbitrary_style_network_shows_its_fixed_alpha(tmp_path):
    from keras_perceptual.models import arbitrary_style_net
    from keras_perceptual.runtimes import KerasRuntime

    class OnnxStandIn(KerasRuntime):  # what ONNX Runtime shows the app, without exporting
        name = "onnxruntime"

    net = arbitrary_style_net(weights=None, filters=4, alpha=0.5)
    (tmp_path / "adain.onnx").write_text("stand-in")
    (tmp_path / "adain.keras").write_text("stand-in")
    loaders = {".onnx": lambda path: OnnxStandIn(net, path), ".keras": lambda path: net}
    cache = ModelCache(loader=lambda path: loaders[os.path.splitext(path)[1]](path))
    state = AppState([str(tmp_path / "adain.onnx"), str(tmp_path / "adain.keras")],
                     demo_dir=None, output_dir=str(tmp_path), cache=cache)
    described = {os.path.splitext(e.path)[1]: state.describe(e.key) for e in state.entries}
    exported, keras_model = described[".onnx"], described[".keras"]
    assert exported["kind"] == keras_model["kind"] == "arbitrary_style"
    assert exported["alpha"] is False and keras_model["alpha"] is True  # the slider's visibility
    assert "alpha 0.5, fixed when it was exported" in exported["info"]
    assert "fixed when it was exported" not in keras_model["info"]


def test_state_refuses_unknown_models_and_finds_new_ones(runs, tmp_path):
    root, cache = runs
    state = AppState([str(root)], demo_dir=None, output_dir=str(tmp_path), cache=cache)
    with pytest.raises(InputError, match="No model is selected"):
        state.run(None, [])
    with pytest.raises(InputError, match="No model is selected"):
        state.describe(str(tmp_path / "elsewhere.keras"))
    (root / "later.keras").write_text("stand-in")
    try:
        assert len(state.refresh()) == 3
    finally:
        (root / "later.keras").unlink()


@pytest.mark.parametrize("options, name", [
    ({"tile_size": "big"}, "tile_size"), ({"tile_size": float("nan")}, "tile_size"),
    ({"tile_size": None}, "tile_size"), ({"preserve_color": "false"}, "preserve_color"),
    ({"histogram_match": "yes"}, "histogram_match")
])
def test_state_run_refuses_values_the_page_never_sends(runs, tmp_path, options, name):
    # The run endpoint is an HTTP API too. Before: float()'s ValueError, int(nan)'s, the page's
    # "Internal error ... a bug"; bool("false") silently switched preserve colour on.
    root, cache = runs
    state = AppState([str(root)], demo_dir=None, output_dir=str(tmp_path), cache=cache)
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 32), (200, 120, 40)).save(photo)
    with pytest.raises(InputError, match=f"Received: {name}="):
        state.run(state.entries[1].key, [str(photo)], **options)


# --------------------------------------------------------------------------------------
# The app in a browser
# --------------------------------------------------------------------------------------


def _missing_browser_tools() -> list[str]:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    for module, how in (("playwright", "pip install playwright"),
                        ("gradio", 'pip install "keras-perceptual[app]"'),
                        ("gradio_client", 'pip install "keras-perceptual[app]"')):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{module} ({how})")
    return missing


@pytest.fixture(scope="module")
def browser_tools():
    missing = _missing_browser_tools()
    if missing:
        message = "the browser test needs " + ", ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; .ci/run installs them, so CI must have them")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, browser_tools):
    """A tiny style network trained for two steps by the recipe (a real training output
    folder: model.keras + config.json with the style image)."""
    from keras_perceptual.training import train_style_transfer

    root = tmp_path_factory.mktemp("app_runs")
    photos = root / "photos"
    photos.mkdir()
    for path in ASSETS.glob("photo_*.jpg"):
        shutil.copy(path, photos)
    train_style_transfer(
        photos, ASSETS / "style_starry_night.jpg", output_dir=root / "runs" / "starry",
        steps=2, image_size=64, batch_size=2, style_image_size=64,
        weights="hed_bsds500" if HAS_HED else None,
        model_options={"filters": 4, "num_residual_blocks": 1}, verbose=0,
        # float32 whatever the CPU: precision="auto" trains in bfloat16 on CPUs with bf16
        # units, and the page's ONNX model (exported in float32) is compared with it below.
        precision="float32",
    )
    # A multi-style and an arbitrary-style network (untrained: the wiring of their sliders
    # and style upload through the server is what is checked).
    from keras_perceptual.models import arbitrary_style_net, multi_style_transfer_net

    multi_style_transfer_net(2, filters=4, num_residual_blocks=1).save(
        root / "runs" / "multi.keras")
    arbitrary_style_net(weights=None, filters=4).save(root / "runs" / "adain.keras")
    # The same network exported to ONNX (the export extra; CI installs it): the page lists
    # and runs exported models too.
    export_missing = [m for m in ("onnx", "tf2onnx", "onnxruntime")
                      if importlib.util.find_spec(m) is None]
    if not export_missing:
        from keras_perceptual.export import export_onnx
        from keras_perceptual.runtimes import load_keras_model

        export_onnx(load_keras_model(root / "runs" / "starry" / "model.keras"),
                    root / "runs" / "exports" / "starry.onnx")
    elif os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI installs the export extra, yet {', '.join(export_missing)} is missing")
    return root / "runs"


@pytest.fixture(scope="module")
def server(trained_run, tmp_path_factory):
    """``keras-perceptual app`` in a subprocess; yields its url, process, log file and the
    trained model's key (what the page's model list sends)."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    models = [str(trained_run / "starry"), str(trained_run)]  # the trained run listed first
    if os.environ.get("KERAS_PERCEPTUAL_APP_MODELS"):  # listed (and selected) first
        models.insert(0, os.environ["KERAS_PERCEPTUAL_APP_MODELS"])
    command = [sys.executable, "-m", "keras_perceptual.cli", "app", "--models", *models,
               "--no-demo", "--port", str(port), "--max-upload-mb", "1"]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(log_path, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=trained_run)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while "(Ctrl-C stops)" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the app did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    yield types.SimpleNamespace(
        url=url, process=process, log_path=log_path,
        style_key=os.path.realpath(trained_run / "starry" / "model.keras"),
        onnx_key=os.path.realpath(trained_run / "exports" / "starry.onnx"),
        multi_key=os.path.realpath(trained_run / "multi.keras"),
        adain_key=os.path.realpath(trained_run / "adain.keras"),
    )
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()


def _write_photo(path, size):
    with Image.open(ASSETS / "photo_astronaut.jpg") as image:
        image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(path, quality=92)
    return str(path)


def _status(page) -> str:
    return page.inner_text("#status")


def _busy(page) -> bool:
    """Whether Gradio's progress overlay (timer, progress text) is on the status."""
    return page.locator("#status .progress-text, #status .eta-bar").count() > 0


def _upload(page, files, attempts=4):
    """Sets ``files`` on the upload box and waits until it lists them. A file set while the
    page is still hydrating (after a reload, on a busy CPU) is dropped without a trace, so the
    files are set again when they do not show within 20 s."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.set_input_files("#photos input[type=file]", files)
        try:
            for path in files:
                page.locator("#photos").get_by_text(os.path.basename(path)).first.wait_for(
                    timeout=20_000
                )
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            print(f"upload of {[os.path.basename(f) for f in files]} not shown; set again")


def _run_and_wait(page, files, expect, timeout_s=300):
    """Uploads ``files``, presses the run button, waits for the new status to show ``expect``."""
    _upload(page, files)
    before = _status(page)
    page.click("#run")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = _status(page)
        if text != before and not _busy(page) and re.search(expect, text):
            return text
        time.sleep(0.25)
    raise AssertionError(f"the page never showed {expect!r}; status: {_status(page)!r}")


def _clear_uploads(page):
    """Clears the upload box and waits until it is empty again (a busy CPU re-renders late;
    a file set before that is lost)."""
    clear = page.locator("#photos button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
        clear.first.wait_for(state="detached", timeout=60_000)
    page.locator("#photos input[type=file]").wait_for(state="attached", timeout=60_000)


@pytest.mark.slow
def test_the_app_in_a_browser(server, tmp_path):
    from gradio_client import Client, handle_file
    from playwright.sync_api import expect as expect_that
    from playwright.sync_api import sync_playwright

    url, process, log_path = server.url, server.process, server.log_path
    photo = _write_photo(tmp_path / "astronaut.jpg", (512, 512))
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    noise = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "heavy.png")  # ~1.5 MB > --max-upload-mb 1
    assert os.path.getsize(tmp_path / "heavy.png") > 2**20

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-profile-"), executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS, headless=True, accept_downloads=True,
            viewport={"width": 1280, "height": 960},
        )
        try:
            page = context.new_page()
            page.goto(url, timeout=120_000)
            page.wait_for_selector("#run:not([disabled])", timeout=180_000)
            # The page fills these in after the button is enabled: wait for them (a busy CPU
            # renders later), then check.
            expect_that(page.locator("#model-info")).to_contain_text("starry", timeout=60_000)
            info = page.inner_text("#model-info")
            assert "style transfer" in info and "starry" in info, info
            page.locator("#style-image img").first.wait_for(timeout=60_000)
            assert page.locator("#style-image img").count() == 1  # the style's thumbnail

            # A 512 px photo in, its stylization out, next to it, downloadable.
            status = _run_and_wait(page, [photo], r"→ 512×512 in")
            seconds = float(re.search(r"512×512 in ([0-9.]+) s", status).group(1))
            assert "Device: CPU" in status or "Device: GPU" in status
            page.locator("#results img").nth(1).wait_for(timeout=60_000)
            assert page.locator("#results img").count() >= 2
            with page.expect_download() as download_info:
                page.locator("#downloads a").first.click()
            download = download_info.value
            saved = tmp_path / "downloaded.png"
            download.save_as(saved)
            assert download.suggested_filename == "astronaut_stylized.png"
            with Image.open(saved) as out:
                assert out.format == "PNG" and out.size == (512, 512)
                out_pixels = np.asarray(out.convert("RGB"), np.int16)
            with Image.open(photo) as original:
                in_pixels = np.asarray(original.convert("RGB"), np.int16)
            assert np.abs(out_pixels - in_pixels).mean() > 10  # stylized, not the input
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
            target = os.environ.get("KERAS_PERCEPTUAL_APP_SCREENSHOT")
            if target:
                shutil.copy(tmp_path / "app.png", target)
            print(f"\nper-image latency shown in the page at 512x512: {seconds:.2f} s")

            # Bad uploads: a message in the page, and the page keeps working.
            for name, expect in (("notes.txt", r"notes\.txt cannot be read as an image"),
                                 ("dot.png", r"dot\.png is 1×1 pixels")):
                _clear_uploads(page)
                _run_and_wait(page, [str(tmp_path / name)], expect)
            _clear_uploads(page)
            page.set_input_files("#photos input[type=file]", [str(tmp_path / "heavy.png")])
            page.get_by_text(re.compile(r"(exceeds|too large|size limit|maximum)", re.I)) \
                .first.wait_for(timeout=60_000)

            # The server survives 20 bad uploads (through the API), then a good one.
            client = Client(url, verbose=False)
            # style image, alpha and the style sliders: unused by this (single-style) model
            unused = [None, 1.0, *([1.0] + [0.0] * (MAX_STYLE_SLIDERS - 1))]
            data = pathlib.Path(photo).read_bytes()
            (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 3 // 4])
            bad = [tmp_path / "notes.txt", tmp_path / "dot.png", tmp_path / "cut.jpg"]
            for i in range(20):
                gallery, files, text = client.predict(
                    server.style_key, [handle_file(str(bad[i % 3]))], False, False, 1024,
                    *unused, api_name="/run")
                assert not gallery and not files, text
                assert re.search("cannot be read|1×1 pixels|truncated", text), text
            gallery, files, text = client.predict(server.style_key, [handle_file(photo)], True, False,
                                                  1024, *unused, api_name="/run")
            assert len(gallery) == 2 and "→ 512×512 in" in text, text
            assert process.poll() is None, log_path.read_text()[-3000:]
            from keras_perceptual.inference import save_image, stylize

            def result_pixels(files):
                first = files[0] if isinstance(files[0], str) else files[0]["path"]
                with Image.open(first) as out:
                    return np.asarray(out.convert("RGB"), np.int16)

            def expected_pixels(model, **style):
                save_image(stylize(model, photo, **style), tmp_path / "expected.png")
                with Image.open(tmp_path / "expected.png") as out:
                    return np.asarray(out.convert("RGB"), np.int16)

            if os.path.exists(server.onnx_key):  # the exported model, run by ONNX Runtime
                gallery, files, text = client.predict(
                    server.onnx_key, [handle_file(photo)], False, False, 1024, *unused,
                    api_name="/run")
                assert len(gallery) == 2 and "→ 512×512 in" in text, text
                same = np.abs(result_pixels(files) - expected_pixels(server.style_key)).max()
                assert same <= 2  # the same network as the .keras file
                print(f"ONNX Runtime in the page at 512x512: {text.splitlines()[0]}")

            # Multi-style sliders and the arbitrary-style upload and alpha, through the server.

            sliders = [0.2, 0.6] + [0.0] * (MAX_STYLE_SLIDERS - 2)  # blended as 1:3
            gallery, files, text = client.predict(
                server.multi_key, [handle_file(photo)], False, False, 1024, None, 1.0,
                *sliders, api_name="/run")
            assert len(gallery) == 2 and "→ 512×512 in" in text, text
            expected = expected_pixels(server.multi_key, style_weights=[0.25, 0.75])
            assert np.abs(result_pixels(files) - expected).max() <= 2
            painting = str(ASSETS / "style_the_scream.jpg")
            gallery, files, text = client.predict(
                server.adain_key, [handle_file(photo)], False, False, 1024,
                handle_file(painting), 0.5, *unused[2:], api_name="/run")
            assert len(gallery) == 2 and "→ 512×512 in" in text, text
            expected = expected_pixels(server.adain_key, style_image=painting, alpha=0.5)
            assert np.abs(result_pixels(files) - expected).max() <= 2

            # And the page still answers.
            page.reload()
            page.wait_for_selector("#run:not([disabled])", timeout=120_000)
            _run_and_wait(page, [photo], r"→ 512×512 in")
        finally:
            context.close()
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]



def test_an_empty_host_is_refused_before_serving():
    from keras_perceptual.app.ui import launch

    # Before: launch(host="") served (Gradio's default address) and printed http://:7860/.
    with pytest.raises(InputError, match="Received: host=''"):
        launch([], host="", demo_dir=None, block=False)
