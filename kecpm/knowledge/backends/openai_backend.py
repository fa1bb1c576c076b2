"""The ``openai`` backend: any OpenAI-compatible chat endpoint (``vllm serve``, hosted APIs).

Bounded concurrency, a timeout per request, retries with exponential backoff on connection errors,
429 and 5xx. The API key is read from an environment variable and only ever sent in the
``Authorization`` header: never in the cache key, on disk or in logs. Whatever the server sends back
(error bodies, answers) passes through ``redact`` first, so a server that echoes the header cannot
put the key on the screen, in a log, in the cache or in knowledge.jsonl.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kecpm.config import Config, ConfigError, option
from kecpm.knowledge.backends.base import Answer, BackendError, Messages, Sampling
from kecpm.redact import redact

if TYPE_CHECKING:
    import httpx

    from kecpm.knowledge.config import KnowledgeConfig

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class OpenAIOptions(Config):
    """Options of the ``openai`` backend."""

    base_url: str = option("http://127.0.0.1:8000/v1", "endpoint (an OpenAI-compatible /v1 URL)")
    api_key_env: str = option("OPENAI_API_KEY", "environment variable holding the key (never stored)")
    concurrency: int = option(4, "requests in flight")
    timeout: float = option(60.0, "seconds per request")
    retries: int = option(3, "retries per request, with exponential backoff")

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"openai: base_url must start with http:// or https://, got {self.base_url!r}")
        if self.concurrency < 1:
            raise ConfigError(f"openai: concurrency must be at least 1, got {self.concurrency}")
        if self.retries < 0 or self.timeout <= 0:
            raise ConfigError("openai: retries must be >= 0 and timeout > 0")


class OpenAIBackend:
    """Chat completions over HTTP with JSON-schema output (``response_format``)."""

    Options = OpenAIOptions
    name = "openai"
    structured = True

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 revision: str | None = None, concurrency: int = 4, timeout: float = 60.0, retries: int = 3,
                 backoff: float = 0.5) -> None:
        self.options = OpenAIOptions(base_url=base_url, api_key_env=api_key_env, concurrency=concurrency,
                                     timeout=timeout, retries=retries)
        self.model_id = model
        self.weights = f"revision:{revision}" if revision else "served"
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff

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

    async def _one(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, body: dict[str, Any]) -> Answer:
        import httpx

        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)  # noqa: S311
                log.debug("retry %d in %.1f s after %s", attempt, delay, last)
                await asyncio.sleep(delay)
            async with sem:
                try:
                    r = await client.post(url, json=body)
                except httpx.TransportError as e:
                    last = self._safe(f"{type(e).__name__}: {e}")
                    continue
            if r.status_code in RETRY_STATUS:
                last = f"HTTP {r.status_code}"
                continue
            if r.status_code >= 400:
                raise BackendError(f"{url}: HTTP {r.status_code}: {self._safe(r.text, 300)}")
            try:
                data = r.json()
                text = data["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):  # the body may hold the key: not chained
                raise BackendError(f"{url}: unexpected response: {self._safe(r.text, 300)}") from None
            tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
            return Answer(self._safe(str(text)), tokens)
        raise BackendError(f"cannot reach {url} after {self.retries + 1} attempt(s): {last}")

    async def _batch(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        async with httpx.AsyncClient(timeout=timeout, headers=self._headers(), trust_env=False) as client:
            tasks = [asyncio.ensure_future(self._one(client, sem, self._body(m, sampling, schema))) for m in batch]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def generate(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        return asyncio.run(self._batch(batch, sampling, schema))

    def close(self) -> None:
        pass
