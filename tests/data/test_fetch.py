"""``kecpm data fetch`` against a loopback HTTP server that serves ../shared/data/mnre with Range support."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from kecpm.data.fetch import MNRE_SHA256, FetchError, fetch_mnre, file_url


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # send only this many body bytes, then hang up (once)


def _handler(server: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            rng = self.headers.get("Range")
            server.requests.append((self.path, rng))
            path = server.root / unquote(self.path.lstrip("/"))
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if server.cut_after is not None:
                body, server.cut_after = body[: server.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def mnre_server(shared_data: Path) -> Iterator[tuple[str, _Server]]:
    """Serve the real MNRE folder on 127.0.0.1 at a free port; always shut down."""
    state = _Server(shared_data / "mnre")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_url_encodes_the_space() -> None:
    assert file_url("http://h/x/", "mnre_val .txt") == "http://h/x/mnre_val%20.txt"


@pytest.mark.realdata
def test_fetch_downloads_and_verifies(mnre_server: tuple[str, _Server], tmp_path: Path) -> None:
    url, state = mnre_server
    done = fetch_mnre(tmp_path, base_url=url)
    assert [f.status for f in done] == ["downloaded"] * 3
    for name, sha in MNRE_SHA256.items():
        assert _sha(tmp_path / name) == sha
    assert not list(tmp_path.glob("*.part"))
    assert ("/mnre_val%20.txt", None) in state.requests
    # a second run finds everything in place and downloads nothing
    n = len(state.requests)
    assert [f.status for f in fetch_mnre(tmp_path, base_url=url)] == ["cached"] * 3
    assert len(state.requests) == n


@pytest.mark.realdata
def test_fetch_resumes_a_partial_download(mnre_server: tuple[str, _Server], shared_data: Path,
                                          tmp_path: Path) -> None:
    url, state = mnre_server
    name = "mnre_test.txt"
    (tmp_path / f"{name}.part").write_bytes((shared_data / "mnre" / name).read_bytes()[:100_000])
    [done] = fetch_mnre(tmp_path, base_url=url, files={name: MNRE_SHA256[name]})
    assert done.status == "resumed"
    assert state.requests == [(f"/{name}", "bytes=100000-")]
    assert _sha(tmp_path / name) == MNRE_SHA256[name]
    assert not (tmp_path / f"{name}.part").exists()


@pytest.mark.realdata
def test_interrupted_download_keeps_part_and_resumes(mnre_server: tuple[str, _Server], tmp_path: Path) -> None:
    url, state = mnre_server
    name = "mnre_test.txt"
    state.cut_after = 200_000
    with pytest.raises(FetchError, match="interrupted.*run again to resume"):
        fetch_mnre(tmp_path, base_url=url, files={name: MNRE_SHA256[name]})
    assert (tmp_path / f"{name}.part").stat().st_size == 200_000
    assert not (tmp_path / name).exists()
    [done] = fetch_mnre(tmp_path, base_url=url, files={name: MNRE_SHA256[name]})
    assert done.status == "resumed" and state.requests[-1] == (f"/{name}", "bytes=200000-")
    assert _sha(tmp_path / name) == MNRE_SHA256[name]


@pytest.mark.realdata
def test_wrong_hash_is_rejected_and_nothing_left(mnre_server: tuple[str, _Server], tmp_path: Path) -> None:
    url, _ = mnre_server
    with pytest.raises(FetchError, match="mnre_test.txt: sha256 mismatch"):
        fetch_mnre(tmp_path, base_url=url, files={"mnre_test.txt": "0" * 64})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.realdata
def test_http_error_is_reported(mnre_server: tuple[str, _Server], tmp_path: Path) -> None:
    url, _ = mnre_server
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_mnre(tmp_path, base_url=url, files={"missing.txt": "0" * 64})


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a port bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnre_txt"


def test_unreachable_source_says_offline(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"cannot reach 127\.0\.0\.1:\d+ \(offline\?\)"):
        fetch_mnre(tmp_path, base_url=closed_port_url(), timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.realdata
def test_complete_part_is_verified_and_moved(mnre_server: tuple[str, _Server], shared_data: Path,
                                             tmp_path: Path) -> None:
    url, state = mnre_server
    name = "mnre_test.txt"
    (tmp_path / f"{name}.part").write_bytes((shared_data / "mnre" / name).read_bytes())
    [done] = fetch_mnre(tmp_path, base_url=url, files={name: MNRE_SHA256[name]})
    assert done.status == "resumed" and _sha(tmp_path / name) == MNRE_SHA256[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
