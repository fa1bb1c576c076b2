"""The ``openai`` backend over several endpoints: spreading, bounded concurrency per endpoint, fail-over.

Two tiny OpenAI-compatible stub servers on 127.0.0.1 (http.server in threads, random ports) answer
``/v1/chat/completions`` with ``{"sentences": [<the end of the last user message>]}`` and count their requests;
one can be told to die after a number of requests (it drops the connection and stops listening).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from knowledge_helpers import make_posts, write_split
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.config import ConfigError, parse_overrides
from kecpm.knowledge.backends import BackendError, Sampling, backend_options, make_backend
from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.pipeline import generate_knowledge

KEY = "sk-test-Endpoints-77aa99"


class Stub:
    """An OpenAI-compatible server: ``delay`` s per request, a fixed ``status``, dead after ``die_after``."""

    def __init__(self, delay: float = 0.0, status: int = 200, die_after: int | None = None,
                 gauge: dict[str, int] | None = None) -> None:
        self.delay, self.status, self.die_after = delay, status, die_after
        self.received = self.answered = self.in_flight = self.max_in_flight = 0
        self.gauge = gauge  # shared by several stubs: requests in flight over all of them
        self.lock = threading.Lock()
        self.stopped = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                stub.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _enter(self, d: int) -> None:
        with self.lock:
            self.in_flight += d
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.gauge is not None:
                self.gauge["now"] += d
                self.gauge["max"] = max(self.gauge["max"], self.gauge["now"])

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers.get("Content-Length") or 0)))
        with self.lock:
            self.received += 1
            dying = self.die_after is not None and self.received > self.die_after
        if dying:  # drop the connection unanswered and stop listening
            threading.Thread(target=self.stop, daemon=True).start()
            h.close_connection = True
            return
        self._enter(1)
        try:
            time.sleep(self.delay)
        finally:
            self._enter(-1)
        if self.status == 200:
            answer = json.dumps({"sentences": [body["messages"][-1]["content"][-80:].strip()]})
            out = {"choices": [{"message": {"content": answer}}], "usage": {"completion_tokens": 3}}
        else:
            out = {"error": {"message": f"refused; header was 'Authorization: {h.headers.get('Authorization')}'"}}
        data = json.dumps(out).encode()
        h.send_response(self.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        with self.lock:
            self.answered += self.status == 200

    def stop(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[list[Stub]]:
    """Stubs started with ``start(stubs, ...)``; all are stopped at the end."""
    made: list[Stub] = []
    yield made
    for s in made:
        s.stop()


def start(made: list[Stub], **kwargs) -> Stub:  # noqa: ANN003
    made.append(Stub(**kwargs))
    return made[-1]


def backend(*urls: str, **options):  # noqa: ANN003, ANN201
    cfg = KnowledgeConfig(backend="openai", model="m", k=0, repetition_penalty=1.0)
    return make_backend("openai", cfg, {"base_url": ",".join(urls), "api_key_env": "KECPM_TEST_KEY",
                                        "timeout": 10, "retries": 0, **options})


def conversations(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"post {i}"}] for i in range(n)]


def texts(answers) -> list[str]:  # noqa: ANN001
    return [json.loads(a.text)["sentences"][0] for a in answers]


def test_options_take_one_or_several_urls() -> None:
    one = backend_options("openai", {"base_url": "http://127.0.0.1:8000/v1/"})
    assert one.urls() == ["http://127.0.0.1:8000/v1"] and one.per_endpoint() == 4 and one.in_all() == 4
    items = parse_overrides(["backend.base_url=http://a:1/v1, http://b:2/v1/,http://a:1/v1"], ("backend",))
    two = backend_options("openai", items["backend"])
    assert two.urls() == ["http://a:1/v1", "http://b:2/v1"] and two.in_all() == 8
    listed = backend_options("openai", {"base_urls": ["http://a:1/v1", "https://b/v1"], "max_concurrency": 2})
    assert listed.urls() == ["http://a:1/v1", "https://b/v1"] and listed.per_endpoint() == 2 and listed.in_all() == 4
    old = backend_options("openai", {"base_url": "http://a:1/v1", "concurrency": 6})  # a saved pre-#13 config
    assert old.per_endpoint() == 6 and old.in_all() == 6
    with pytest.raises(ConfigError, match="http:// or https://"):
        backend_options("openai", {"base_url": "http://a/v1,ftp://b"})
    with pytest.raises(ConfigError, match="max_concurrency must be at least 1"):
        backend_options("openai", {"max_concurrency": 0})


def test_requests_are_spread_over_both_in_input_order_with_bounded_concurrency(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, delay=0.02), start(stubs, delay=0.02)
    be = backend(a.url, b.url, max_concurrency=3)
    answers = be.generate(conversations(60), Sampling(), None)
    assert texts(answers) == [f"post {i}" for i in range(60)]
    assert a.answered + b.answered == 60 and a.answered >= 15 and b.answered >= 15, (a.answered, b.answered)
    assert a.max_in_flight <= 3 and b.max_in_flight <= 3
    assert be.stats() == {a.url: {"ok": a.answered, "failed": 0}, b.url: {"ok": b.answered, "failed": 0}}


def test_concurrency_bounds_requests_in_all(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    gauge = {"now": 0, "max": 0}
    a, b = start(stubs, delay=0.01, gauge=gauge), start(stubs, delay=0.01, gauge=gauge)
    answers = backend(a.url, b.url, max_concurrency=4, concurrency=2).generate(conversations(20), Sampling(), None)
    assert texts(answers) == [f"post {i}" for i in range(20)]
    assert gauge["max"] <= 2 and a.max_in_flight <= 2 and b.max_in_flight <= 2


def test_one_endpoint_dies_mid_run_every_post_is_answered_by_the_other(stubs, monkeypatch, caplog) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, delay=0.01, die_after=5), start(stubs, delay=0.01)
    be = backend(a.url, b.url, max_concurrency=2)  # retries=0: fail-over to another endpoint is not a retry
    answers = be.generate(conversations(40), Sampling(), None)
    assert texts(answers) == [f"post {i}" for i in range(40)]
    assert a.stopped and a.answered == 5 and b.answered == 35
    assert be.stats()[a.url]["failed"] >= 1
    assert a.url in caplog.text and "marked down" in caplog.text
    # a second batch goes straight to the live endpoint: the dead one is marked down for down_seconds
    failed = be.stats()[a.url]["failed"]
    assert texts(be.generate(conversations(10), Sampling(), None)) == [f"post {i}" for i in range(10)]
    assert be.stats()[a.url]["failed"] == failed and b.answered == 45


def test_fail_over_through_the_cache(stubs, tmp_path, monkeypatch) -> None:
    """The pipeline's cache is used as with one endpoint: a rerun with both endpoints gone makes no call."""
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, die_after=3), start(stubs)
    cfg = KnowledgeConfig(backend="openai", model="m", k=0, repetition_penalty=1.0, batch_size=4, reflect=True)
    opts = {"base_url": f"{a.url},{b.url}", "api_key_env": "KECPM_TEST_KEY", "retries": 0, "max_concurrency": 2}
    posts = make_posts(0, 8)
    with AnswerCache(tmp_path / "c") as cache:
        recs, s = generate_knowledge(posts, [], cfg, cache=cache, progress=False, options=opts)
        a.stop()
        b.stop()
        recs2, s2 = generate_knowledge(posts, [], cfg, cache=cache, progress=False, options=opts)
    assert s.cache_misses == s.prompts == 16 and a.answered + b.answered == 16 and a.answered <= 3
    assert all(r["knowledge"] and r["reflected"] for r in recs) and s.invalid_answers == s.invalid_items == 0
    assert s2.model_calls == 0 and s2.cache_hits == 16 and recs2 == recs


def test_both_down_is_one_line_naming_the_urls(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs), start(stubs)
    a.stop()
    b.stop()
    t0 = time.monotonic()
    with pytest.raises(BackendError) as err:
        backend(a.url, b.url, retries=1).generate(conversations(6), Sampling(), None)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"cannot reach {a.url}, {b.url} after")
    assert time.monotonic() - t0 < 10


def test_both_down_via_cli(stubs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs), start(stubs)
    a.stop()
    b.stop()
    split = write_split(tmp_path / "split", 2, 1, 1)
    result = CliRunner().invoke(app, [
        "gen-knowledge", str(split), "--backend", "openai", "--model", "m", "--n-demos", "0", "--no-progress",
        "--cache-dir", str(tmp_path / "cache"), "--set", f"backend.base_url={a.url},{b.url}",
        "--set", "backend.api_key_env=KECPM_TEST_KEY", "--set", "backend.retries=0",
        "--set", "knowledge.repetition_penalty=1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert a.url in error and b.url in error


def test_5xx_fails_over_and_marks_down_with_the_key_masked(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, status=503), start(stubs)
    be = backend(a.url, b.url, max_concurrency=1)
    assert texts(be.generate(conversations(10), Sampling(), None)) == [f"post {i}" for i in range(10)]
    assert a.received == 1 and b.answered == 10  # marked down after its first 503: not asked again
    c, d = start(stubs, status=502), start(stubs, status=500)
    with pytest.raises(BackendError) as err:  # the 5xx bodies echo the Authorization header
        backend(c.url, d.url).generate(conversations(2), Sampling(), None)
    msg = str(err.value)
    assert "HTTP 502" in msg and "HTTP 500" in msg and "Bearer ***" in msg and KEY not in msg


def test_429_goes_to_another_endpoint_without_marking_it_down(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, status=429), start(stubs)
    be = backend(a.url, b.url, max_concurrency=1, concurrency=1)
    assert texts(be.generate(conversations(4), Sampling(), None)) == [f"post {i}" for i in range(4)]
    assert a.received == 4 and b.answered == 4


def test_4xx_is_not_retried(stubs, monkeypatch) -> None:
    monkeypatch.setenv("KECPM_TEST_KEY", KEY)
    a, b = start(stubs, status=400), start(stubs)
    with pytest.raises(BackendError) as err:
        backend(a.url, b.url, max_concurrency=1, concurrency=1, retries=3).generate(conversations(3), Sampling(), None)
    msg = str(err.value)
    assert msg.startswith(f"{a.url}/chat/completions: HTTP 400") and "Bearer ***" in msg and KEY not in msg
    assert a.received == 1 and b.received == 0
