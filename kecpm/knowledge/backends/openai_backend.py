"""The ``openai`` backend: any OpenAI-compatible chat endpoint (``vllm serve``, hosted APIs).

One or more endpoints (``base_url`` comma-separated, or ``base_urls``), served by a thread pool with
at most ``max_concurrency`` requests in flight per endpoint (``concurrency`` in all, when set), each
request going to the least busy endpoint that is up. Fail-over: a connection error, a timeout or a
5xx marks that endpoint down for ``down_seconds`` and the request moves at once to another endpoint;
408, 409, 425 and 429 move it too, without marking the endpoint down; any other 4xx is an error, not
retried. When every endpoint has failed a request, it is retried ``retries`` times with exponential
backoff, then the error is one line naming every URL. Answers come back in input order.

The API key is read from an environment variable and only ever sent in the ``Authorization``
header: never in the cache key, on disk or in logs. Whatever the server sends back
(error bodies, answers) passes through ``redact`` first, so a server that echoes the header cannot
put the key on the screen, in a log, in the cache or in knowledge.jsonl.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kecpm.config import Config, ConfigError, option
from kecpm.knowledge.backends.base import Answer, BackendError, Messages, Sampling
from kecpm.redact import redact

if TYPE_CHECKING:
    import httpx

    from kecpm.knowledge.config import KnowledgeConfig

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429}  # tried on another endpoint, which is not marked down (5xx is)


@dataclass
class OpenAIOptions(Config):
    """Options of the ``openai`` backend."""

    base_url: str = option("http://127.0.0.1:8000/v1",
                           "endpoint (an OpenAI-compatible /v1 URL); several: comma-separated")
    base_urls: list[str] = option([], "endpoints as a list; when given, replaces base_url")
    api_key_env: str = option("OPENAI_API_KEY", "environment variable holding the key (never stored)")
    max_concurrency: int | None = option(None, "requests in flight per endpoint (default: concurrency if set, else 4)")
    concurrency: int | None = option(None, "requests in flight in all (default: max_concurrency times the endpoints)")
    timeout: float = option(60.0, "seconds per request")
    retries: int = option(3, "retries per request once every endpoint failed it, with exponential backoff")
    down_seconds: float = option(30.0, "seconds an endpoint is skipped after a connection error or a 5xx")

    def __post_init__(self) -> None:
        for url in self.urls():
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"openai: base_url must start with http:// or https://, got {url!r}")
        if not self.urls():
            raise ConfigError("openai: base_url/base_urls: no endpoint given")
        for name in ("max_concurrency", "concurrency"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"openai: {name} must be at least 1, got {value}")
        if self.retries < 0 or self.timeout <= 0 or self.down_seconds < 0:
            raise ConfigError("openai: retries must be >= 0, timeout > 0 and down_seconds >= 0")

    def urls(self) -> list[str]:
        """The endpoints, in order, without a trailing ``/`` and without repeats."""
        raw = self.base_urls if self.base_urls else self.base_url.split(",")
        return list(dict.fromkeys(u.strip().rstrip("/") for u in raw if u.strip()))

    def per_endpoint(self) -> int:
        return self.max_concurrency or self.concurrency or 4

    def in_all(self) -> int:
        return self.concurrency or self.per_endpoint() * len(self.urls())


class _Endpoint:
    """One base URL: requests in flight, when it may be used again after a failure, requests served."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.busy = 0
        self.down_until = 0.0
        self.marked = 0.0  # when it was last marked down
        self.ok = 0
        self.failed = 0
        self.why = ""  # the last failure that marked it down


class _Stopped(Exception):
    """Another request failed for good: the rest are not sent."""


class OpenAIBackend:
    """Chat completions over HTTP with JSON-schema output (``response_format``)."""

    Options = OpenAIOptions
    name = "openai"
    structured = True

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 revision: str | None = None, concurrency: int | None = None, timeout: float = 60.0, retries: int = 3,
                 backoff: float = 0.5, base_urls: list[str] | None = None, max_concurrency: int | None = None,
                 down_seconds: float = 30.0) -> None:
        self.options = OpenAIOptions(base_url=base_url, base_urls=list(base_urls or []), api_key_env=api_key_env,
                                     max_concurrency=max_concurrency, concurrency=concurrency, timeout=timeout,
                                     retries=retries, down_seconds=down_seconds)
        self.model_id = model
        self.weights = f"revision:{revision}" if revision else "served"
        self.urls = self.options.urls()
        self.base_url = self.urls[0]
        self.api_key_env = api_key_env
        self.per_endpoint, self.in_all = self.options.per_endpoint(), self.options.in_all()
        self.timeout, self.retries, self.backoff, self.down_seconds = timeout, retries, backoff, down_seconds
        self.endpoints = [_Endpoint(u) for u in self.urls]  # kept across batches: a down endpoint stays skipped
        self._cond = threading.Condition()

    @classmethod
    def from_config(cls, model: str, common: KnowledgeConfig, options: OpenAIOptions) -> OpenAIBackend:
        """``model`` is the served model's name; ``common.revision`` (if any) names its weights in the cache key."""
        return cls(model, revision=common.revision, **options.to_dict())

    def _key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _safe(self, text: str, limit: int | None = None) -> str:
        """Server text without the key or any bearer token (masked before it is cut to ``limit``)."""
        clean = redact(text, [self._key()])
        return clean[:limit] if limit is not None else clean

    def _body(self, messages: Messages, sampling: Sampling, schema: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id, "messages": messages, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens, "seed": sampling.seed,
        }
        if sampling.repetition_penalty != 1.0:  # a vLLM extension; hosted APIs want 1.0 (not sent)
            body["repetition_penalty"] = sampling.repetition_penalty
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "knowledge", "schema": schema}}
        return body

    def _line(self, text: str, limit: int) -> str:
        """Server text for an error message: on one line, masked, cut to ``limit``."""
        return self._safe(" ".join(text.split()), limit)

    def _acquire(self, tried: set[str], stop: threading.Event) -> _Endpoint | None:
        """A slot on the least busy endpoint that is up and not in ``tried`` (waiting for one to free up);
        when no endpoint is up and nothing was tried yet, the one back first (a probe); else None."""
        with self._cond:
            while True:
                if stop.is_set():
                    raise _Stopped
                now = time.monotonic()
                left = [e for e in self.endpoints if e.url not in tried]
                up = [e for e in left if e.down_until <= now]
                if not up and (tried or not left):
                    return None
                candidates = up or [min(left, key=lambda e: e.down_until)]
                free = [e for e in candidates if e.busy < self.per_endpoint]
                if free:
                    chosen = min(free, key=lambda e: (e.busy, e.ok + e.failed))
                    chosen.busy += 1
                    return chosen
                self._cond.wait(0.2)  # a slot frees up, or an endpoint comes back

    def _release(self, e: _Endpoint, started: float, ok: bool, down: str) -> None:
        """Give the slot back; ``down`` (why, when not empty) marks the endpoint down for ``down_seconds``;
        an answer to a request sent after it was marked down marks it up again."""
        with self._cond:
            e.busy -= 1
            now = time.monotonic()
            was_up = e.down_until <= now
            if ok:
                e.ok += 1
                if started > e.marked:
                    e.down_until = 0.0
            else:
                e.failed += 1
            if down:
                e.down_until, e.marked, e.why = now + self.down_seconds, now, down
            self._cond.notify_all()
        if down and was_up:
            log.warning("openai: %s marked down for %g s after %s", e.url, self.down_seconds, down)

    def _answer(self, url: str, r: httpx.Response) -> Answer:
        try:
            data = r.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):  # the body may hold the key: not chained
            raise BackendError(f"{url}: unexpected response: {self._line(r.text, 300)}") from None
        tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
        return Answer(self._safe(str(text)), tokens)

    def _one(self, clients: dict[str, httpx.Client], body: dict[str, Any], stop: threading.Event) -> Answer:
        """One request: to the least busy endpoint that is up, failing over to the others, then ``retries``
        rounds over all endpoints with exponential backoff."""
        import httpx

        errors: dict[str, str] = {}
        attempts = 0
        for rnd in range(self.retries + 1):
            if rnd:
                delay = self.backoff * 2 ** (rnd - 1) * (1 + random.random() / 4)  # noqa: S311
                log.debug("retry %d in %.1f s after %s", rnd, delay, "; ".join(errors.values()))
                if stop.wait(delay):
                    raise _Stopped
            tried: set[str] = set()
            while (e := self._acquire(tried, stop)) is not None:
                tried.add(e.url)
                attempts += 1
                url = f"{e.url}/chat/completions"
                ok, down, started = False, "", time.monotonic()  # down: why the endpoint is marked down
                try:
                    try:
                        r = clients[e.url].post(url, json=body)
                    except httpx.TransportError as exc:
                        errors[e.url] = down = self._line(f"{type(exc).__name__}: {exc}", 200)
                        continue
                    if r.status_code >= 500:
                        body_text = self._line(r.text, 100)
                        errors[e.url] = down = f"HTTP {r.status_code}" + (f": {body_text}" if body_text else "")
                        continue
                    if r.status_code in RETRY_STATUS:  # busy or rate-limited: another endpoint, not marked down
                        errors[e.url] = f"HTTP {r.status_code}"
                        continue
                    if r.status_code >= 400:
                        stop.set()
                        raise BackendError(f"{url}: HTTP {r.status_code}: {self._line(r.text, 300)}")
                    answer = self._answer(url, r)
                    ok = True
                    return answer
                finally:
                    self._release(e, started, ok, down)
        skipped = {e.url: f"skipped, marked down after {e.why}" for e in self.endpoints if e.why}
        detail = "; ".join(f"{u}: {errors.get(u) or skipped.get(u, 'not tried')}" for u in self.urls)
        raise BackendError(f"cannot reach {', '.join(self.urls)} after {attempts} attempt(s): {detail}")

    def generate(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        """One answer per conversation, in input order, from a pool of ``in_all`` threads."""
        import httpx

        if not batch:
            return []
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        limits = httpx.Limits(max_connections=self.per_endpoint, max_keepalive_connections=self.per_endpoint)
        clients = {u: httpx.Client(timeout=timeout, headers=self._headers(), trust_env=False, limits=limits)
                   for u in self.urls}
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self.in_all, len(batch)), thread_name_prefix="kecpm-openai")
        interrupted = False
        try:
            futures: list[Future[Answer]] = [pool.submit(self._one, clients, self._body(m, sampling, schema), stop)
                                             for m in batch]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [x for f in futures if f.done() and not f.cancelled() and (x := f.exception()) is not None]
            if failed:
                stop.set()
                raise next((x for x in failed if not isinstance(x, _Stopped)), failed[0])
            return [f.result() for f in futures]
        except BaseException as e:
            stop.set()
            interrupted = not isinstance(e, Exception)
            raise
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=True)  # requests in flight end within timeout
            for client in clients.values():
                client.close()
            log.debug("openai: %s", ", ".join(f"{e.url}: {e.ok} ok, {e.failed} failed" for e in self.endpoints))

    def stats(self) -> dict[str, dict[str, int]]:
        """Requests answered and failed per endpoint since this backend was built."""
        with self._cond:
            return {e.url: {"ok": e.ok, "failed": e.failed} for e in self.endpoints}

    def close(self) -> None:
        pass
