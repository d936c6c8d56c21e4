"""Getting the YuNet model the way users do, without the internet: a loopback HTTP server serves the test copy
from ../shared/models/ (good, corrupted, truncated) or nothing at all. The cache only ever holds a verified file."""

from __future__ import annotations

import http.server
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

from _helpers import require_yunet
from deepemotion.runtime import download
from deepemotion.runtime.download import ModelUnavailable, yunet_model_path


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    declared = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(self.declared))
        self.end_headers()
        self.wfile.write(self.payload)  # fewer bytes than declared = a truncated transfer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """(set_payload(bytes, declared=None), url)"""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()

    def set_payload(data: bytes, declared: int | None = None) -> None:
        _Handler.payload = data
        _Handler.declared = len(data) if declared is None else declared

    yield set_payload, f"http://127.0.0.1:{srv.server_address[1]}/face_detection_yunet_2023mar.onnx"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DEEPEMOTION_YUNET", raising=False)
    return tmp_path / "cache" / "deepemotion"


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_first_use_downloads_verifies_and_caches(server, empty_cache, monkeypatch):
    good = require_yunet().read_bytes()
    set_payload, url = server
    set_payload(good)
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", url)
    path = yunet_model_path()
    assert path == empty_cache / download.YUNET_FILE and path.read_bytes() == good
    assert _cache_files(empty_cache) == [download.YUNET_FILE]  # no temporary file left
    set_payload(b"")  # the second use reads the cache, not the server
    assert yunet_model_path() == path


@pytest.mark.parametrize("kind", ["checksum", "truncated", "too-long"])
def test_bad_transfers_never_land_in_the_cache(server, empty_cache, monkeypatch, kind):
    good = require_yunet().read_bytes()
    set_payload, url = server
    if kind == "checksum":
        set_payload(good[:-1] + bytes([good[-1] ^ 1]))
    elif kind == "truncated":
        set_payload(good[:100_000], declared=len(good))
    else:
        set_payload(good + b"x")
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", url)
    with pytest.raises(ModelUnavailable) as e:
        yunet_model_path()
    assert "--prefetch" in str(e.value) and "DEEPEMOTION_YUNET" in str(e.value)
    assert _cache_files(empty_cache) == []


def test_server_down_says_how_to_fix(empty_cache, monkeypatch):
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", "http://127.0.0.1:9/none.onnx")
    with pytest.raises(ModelUnavailable, match="could not download"):
        yunet_model_path()
    with pytest.raises(ModelUnavailable, match="not in the cache"):
        yunet_model_path(allow_download=False)


def test_a_corrupt_cached_file_is_replaced(server, empty_cache, monkeypatch):
    good = require_yunet().read_bytes()
    empty_cache.mkdir(parents=True)
    (empty_cache / download.YUNET_FILE).write_bytes(b"half a file")
    set_payload, url = server
    set_payload(good)
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", url)
    assert yunet_model_path().read_bytes() == good


def test_overrides(tmp_path, empty_cache, monkeypatch):
    model = require_yunet()
    assert yunet_model_path(model) == model  # argument
    monkeypatch.setenv("DEEPEMOTION_YUNET", str(model))
    assert yunet_model_path() == model  # environment
    monkeypatch.setenv("DEEPEMOTION_YUNET", str(tmp_path / "missing.onnx"))
    with pytest.raises(ModelUnavailable, match="DEEPEMOTION_YUNET"):
        yunet_model_path()


def test_offline_recognizer_falls_back_to_haar_with_one_warning(empty_cache, monkeypatch):
    from deepemotion import Recognizer

    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", "http://127.0.0.1:9/none.onnx")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = Recognizer()
    assert rec.detector_name == "haar"
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msgs) == 1 and "fer-predict --prefetch" in msgs[0]


def test_prefetch_command(server, empty_cache, monkeypatch, capsys):
    from deepemotion.cli.predict import main

    set_payload, url = server
    set_payload(require_yunet().read_bytes())
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", url)
    assert main(["--prefetch"]) == 0
    assert str(empty_cache / download.YUNET_FILE) in capsys.readouterr().out


# --- an overall deadline ----------------------------------------------------------------------------------------
class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the handler's name is fixed
        self.send_response(200)
        self.send_header("Content-Length", "232589")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.4)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_download_has_an_overall_deadline_and_leaves_no_part_files(tmp_path):
    from deepemotion.runtime.download import ModelUnavailable, download

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stale = tmp_path / ".face_detection_yunet_2023mar.onnx.abc.part"
    stale.write_bytes(b"left by a killed run")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    t0 = time.monotonic()
    try:
        with pytest.raises(ModelUnavailable, match="not complete after"):
            download(
                f"http://127.0.0.1:{server.server_address[1]}/y.onnx",
                tmp_path / "face_detection_yunet_2023mar.onnx",
                timeout=5,
                deadline_s=1.5,
                progress=False,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - t0 < 4.0
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "face_detection_yunet_2023mar.onnx").exists()
