"""keras_perceptual.cli.app: the ``keras-perceptual app`` command (in-process, no server)."""

from __future__ import annotations

import re
import sys

import pytest

import keras_perceptual.app.ui as ui
from keras_perceptual.cli import main
from keras_perceptual.errors import InputError


def error_lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["app", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--models", "--host", "--port", "--max-upload-mb", "--max-pixels",
                   "--max-files", "--no-demo", "examples:", "(default: 127.0.0.1)",
                   "(default: 7860)"):
        assert option in text, option
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "app" in capsys.readouterr().out


def test_without_gradio_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["app"]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith("keras-perceptual: error: The web app needs Gradio")
    assert 'pip install "keras-perceptual[app]"' in line


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["app", "--port", "70000"], "expected a TCP port 1-65535"),
        (["app", "--port", "http"], "expected an integer >= 1"),
        (["app", "--max-pixels", "0"], "expected an integer >= 1"),
        (["app", "--max-upload-mb", "-3"], "expected a positive number"),
    ],
)
def test_bad_options_are_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    (line,) = error_lines(capsys)
    assert fragment in line


def test_arguments_reach_launch(monkeypatch, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(ui, "require_gradio", lambda: None)
    monkeypatch.setattr(ui, "launch", lambda models, **kw: seen.update(models=models, **kw))
    argv = ["app", "--models", str(tmp_path), "x.keras", "--host", "0.0.0.0", "--port", "8080",
            "--max-upload-mb", "2.5", "--max-pixels", "1000", "--max-files", "3", "--no-demo",
            "--open"]
    assert main(argv) == 0
    limits = seen.pop("limits")
    assert (limits.max_upload_mb, limits.max_pixels, limits.max_files) == (2.5, 1000, 3)
    assert seen == {"models": [str(tmp_path), "x.keras"], "host": "0.0.0.0", "port": 8080,
                    "demo_dir": None, "open_browser": True}


def test_a_missing_models_folder_is_a_user_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ui, "require_gradio", lambda: None)
    assert main(["app", "--models", str(tmp_path / "nowhere")]) == 2
    (line,) = error_lines(capsys)
    assert "does not exist; pass existing folders or model files to --models" in line
    assert line.endswith(f"Received: --models {tmp_path / 'nowhere'}"), line


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True),
                                            ("127.0.0.2", True), ("::1", True), ("[::1]", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False),
                                            ("::", False), ("example.org", False)])
def test_only_loopback_hosts_are_quiet(host, loopback):
    assert ui.is_loopback(host) is loopback
    warning = ui.host_warning(host, 7860)
    assert (warning is None) is loopback
    if not loopback:
        assert f"listening on {host}" in warning and "no login" in warning


def test_a_port_in_use_is_named_without_gradios_advice(tmp_path, capsys):
    """Gradio reports any failed bind as "Cannot find empty port ... set GRADIO_SERVER_PORT
    or pass server_port to launch()", advice that means nothing on the command line."""
    import importlib.util
    import socket

    if importlib.util.find_spec("gradio") is None:
        pytest.skip('needs the [app] extra (pip install "keras-perceptual[app]")')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--no-demo", "--port", str(port)]) == 2
    lines = error_lines(capsys)
    assert lines[-1] == (
        f"keras-perceptual: error: Cannot serve on 127.0.0.1:{port}: port {port} is in use "
        f"(another program, or another 'keras-perceptual app', listens there); pass a free one "
        f"with --port, e.g. --port {port + 1}. Received: --port {port}"), lines
    assert all("GRADIO_SERVER_PORT" not in line for line in lines)


def test_an_address_of_another_machine_is_named():
    # 192.0.2.1 is TEST-NET-1: no machine owns it, so binding to it fails.
    message = ui.cannot_serve_message("192.0.2.1", 8080, OSError("Cannot find empty port"))
    assert message.startswith("Cannot serve on 192.0.2.1:8080 (")
    assert message.endswith("pass an address of this machine with --host (default 127.0.0.1). "
                            "Received: host='192.0.2.1'")


@pytest.mark.parametrize("host", ["::1", "::", "[::1]", "fe80::1"])
def test_an_ipv6_host_is_refused_before_the_server_starts(host, tmp_path, capsys):
    # Before: Gradio started the server, then built http://::1:7860/ and failed to parse it
    # (httpx.InvalidURL: an internal error with its traceback).
    import importlib.util

    if importlib.util.find_spec("gradio") is None:  # a missing extra is reported first
        pytest.skip('needs the [app] extra (pip install "keras-perceptual[app]")')
    assert main(["app", "--no-demo", "--host", host, "--port", "7860"]) == 2
    (line,) = error_lines(capsys)
    assert line == (
        "keras-perceptual: error: The app cannot listen on an IPv6 address (its web server, "
        "Gradio, does not support them); pass --host 127.0.0.1 (this machine only) or 0.0.0.0 "
        f"(every IPv4 interface). Received: --host {host}")


@pytest.mark.parametrize("host", ["::1", "fe80::1"])
def test_launch_refuses_an_ipv6_host_before_needing_gradio(host, tmp_path):
    # The library's check, which runs with or without the app extra installed.
    with pytest.raises(InputError, match=r"^The app cannot listen on an IPv6 address .*"
                                         rf"Received: host='{re.escape(host)}'$"):
        ui.launch([str(tmp_path)], host=host, port=7860, block=False)
