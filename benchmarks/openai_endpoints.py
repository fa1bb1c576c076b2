"""Stage 1 over several ``openai`` endpoints: posts/s with one vs two stub servers, and one dying mid-run.

Each stub is an OpenAI-compatible server on 127.0.0.1 (http.server in threads, random port) that
sleeps ``--delay`` s (default 0.05) per request with at most ``--slots`` requests at once (like a
server with that many sequences per batch), and answers ``{"sentences": [...]}``. The backend sends
at most ``--max-concurrency`` requests per endpoint. Each row is a whole ``generate_knowledge`` call
(prompts, a fresh cache, parsing) on the same synthetic posts, knowledge pass only (no reflection,
no demonstrations). No model is involved: this measures the client's spreading and fail-over.

    .venv/bin/python benchmarks/openai_endpoints.py [--posts 400] [--delay 0.05] [--slots 4] [--max-concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Stub:
    """A stub endpoint; ``die_after`` requests, it drops the connection and stops listening."""

    def __init__(self, delay: float, slots: int, die_after: int | None = None) -> None:
        self.delay, self.die_after, self.requests, self.stopped = delay, die_after, 0, False
        self.slots, self.lock = threading.Semaphore(slots), threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                stub.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests += 1
            dying = self.die_after is not None and self.requests > self.die_after
        if dying:
            threading.Thread(target=self.stop, daemon=True).start()
            h.close_connection = True
            return
        with self.slots:
            time.sleep(self.delay)
        answer = json.dumps({"sentences": ["A canned sentence about the post."]})
        data = json.dumps({"choices": [{"message": {"content": answer}}], "usage": {"completion_tokens": 8}}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stop(self) -> None:
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        self.server.shutdown()
        self.server.server_close()


def posts(n: int) -> list:  # noqa: ANN201
    from kecpm.data.schema import Post, post_id

    out = []
    for i in range(n):
        toks = f"Post number {i} : someone visits somewhere with someone else".split()
        out.append(Post(post_id(f"img{i}", toks), toks, f"img{i}.jpg", caption="a picture"))
    return out


def run(urls: list[str], n: int, max_concurrency: int) -> tuple[float, int]:
    from kecpm.knowledge.cache import AnswerCache
    from kecpm.knowledge.config import KnowledgeConfig
    from kecpm.knowledge.pipeline import generate_knowledge

    cfg = KnowledgeConfig(backend="openai", model="stub", k=0, reflect=False, repetition_penalty=1.0)
    opts = {"base_url": ",".join(urls), "max_concurrency": max_concurrency, "retries": 0, "timeout": 30}
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp)) as cache:
        t0 = time.perf_counter()
        recs, summary = generate_knowledge(posts(n), [], cfg, cache=cache, progress=False, options=opts)
        seconds = time.perf_counter() - t0
    assert summary.cache_misses == n and summary.invalid_answers == 0
    return seconds, sum(bool(r["knowledge"]) for r in recs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=400)
    ap.add_argument("--delay", type=float, default=0.05, help="seconds per request in each stub")
    ap.add_argument("--slots", type=int, default=4, help="requests each stub serves at once")
    ap.add_argument("--max-concurrency", type=int, default=4, help="requests in flight per endpoint (client)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    rows = []
    for label, dies in (("1 endpoint", None), ("2 endpoints", None), ("2 endpoints, one dies at 25%", args.posts // 4)):
        stubs = [Stub(args.delay, args.slots, dies)] + ([Stub(args.delay, args.slots)] if label != "1 endpoint" else [])
        try:
            seconds, answered = run([s.url for s in stubs], args.posts, args.max_concurrency)
        finally:
            for s in stubs:
                s.stop()
        served = "/".join(str(min(s.requests, s.die_after or s.requests)) for s in stubs)
        rows.append((label, args.posts / seconds, seconds, answered, served))
    print(f"{args.posts} posts, {args.delay * 1000:.0f} ms per request, {args.slots} slots per stub, "
          f"max_concurrency {args.max_concurrency}")
    print(f"{'':30} {'posts/s':>8} {'seconds':>8} {'answered':>9}  served per endpoint")
    for label, rate, seconds, answered, served in rows:
        print(f"{label:30} {rate:8.1f} {seconds:8.2f} {answered:>9}  {served}")
    print(f"speed-up, two endpoints vs one: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
