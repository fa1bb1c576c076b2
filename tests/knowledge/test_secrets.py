"""The API key never reaches the screen, a log, the cache or a file, even from a server that echoes it.

A fake OpenAI-compatible server on 127.0.0.1 (random port) echoes the request's Authorization header:
in a 401 body, or inside a 200 answer. Runs the real ``gen-knowledge`` command with the ``openai`` backend.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from knowledge_helpers import write_split
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.redact import redact

KEY = "sk-test-Zq81vXr2Lm45Np90Ab"


class EchoAuth(BaseHTTPRequestHandler):
    """POST /v1/chat/completions -> the Authorization header, in a 401 error or in the answer."""

    mode = "401"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        if self.mode == "401":
            status, body = 401, {"error": {"message": f"Invalid key in header 'Authorization: {auth}'", "key": KEY}}
        else:
            answer = json.dumps({"sentences": [f"The header was {auth}.", f"[/b] {KEY} :100:"]})
            status, body = 200, {"choices": [{"message": {"content": answer}}], "usage": {"completion_tokens": 9}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoAuth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _run(server: ThreadingHTTPServer, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    monkeypatch.setattr(EchoAuth, "mode", mode)
    split = write_split(tmp_path / "split", 2, 1, 1)
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return CliRunner().invoke(app, [
        "--verbose", "gen-knowledge", str(split), "--backend", "openai", "--model", "m", "--n-demos", "0", "--no-progress",
        "--cache-dir", str(tmp_path / "cache"), "--set", f"backend.base_url={base}",
        "--set", "backend.api_key_env=KECPM_TEST_KEY", "--set", "backend.retries=0",
        "--set", "knowledge.repetition_penalty=1"])


def _files_hold_key(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]


def test_key_echoed_in_a_401_is_masked(echo_server, tmp_path, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    result = _run(echo_server, "401", tmp_path, monkeypatch)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    [error] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "HTTP 401" in error and "Bearer ***" in error and "***" in error
    assert KEY not in result.output and KEY not in caplog.text
    assert KEY[:12] not in result.output  # not even the part left by cutting the body short
    assert _files_hold_key(tmp_path) == []


def test_key_echoed_in_an_answer_never_reaches_cache_or_knowledge(echo_server, tmp_path, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    result = _run(echo_server, "200", tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    knowledge = (tmp_path / "split" / "knowledge.jsonl").read_text()
    assert "Bearer ***" in knowledge and "[/b] *** :100:" in knowledge  # stored as data, masked
    assert KEY not in result.output and KEY not in caplog.text
    assert _files_hold_key(tmp_path) == []


def test_redact_masks_keys_and_bearer_tokens() -> None:
    assert redact(f"a {KEY} b", [KEY]) == "a *** b"
    assert redact('{"h": "Authorization: Bearer abc.def-ghi"}') == '{"h": "Authorization: Bearer ***"}'
    assert redact("bearer  tok123, next", []) == "bearer ***, next"
    assert redact("no secret here", [None, "", "ab"]) == "no secret here"  # short or empty values ignored
