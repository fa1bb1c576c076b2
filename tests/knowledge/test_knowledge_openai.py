"""The ``openai`` backend against a real ``vllm serve`` on 127.0.0.1 (free port, bounded wait, always stopped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from knowledge_helpers import make_posts, need_vllm

from kecpm.knowledge.backends import make_backend
from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.pipeline import generate_knowledge
from kecpm.knowledge.smollm import materialise_packaged

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
START_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    need_vllm()
    folder, _ = materialise_packaged()
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "serve.log"
    env = {"VLLM_CPU_OMP_THREADS_BIND": "nobind", **os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
           "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", "2048", "--gpu-memory-utilization", "0.1", "--enforce-eager"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not ready within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_openai_backend_against_vllm_serve(vllm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("KECPM_TEST_KEY", "sk-never-stored-123")
    cfg = KnowledgeConfig(backend="openai", model="smollm2", k=1, max_new_tokens=32, max_sentences=2)
    backend = make_backend("openai", cfg, {"base_url": vllm_server, "api_key_env": "KECPM_TEST_KEY", "concurrency": 4,
                                           "timeout": 120, "retries": 1})
    pool, posts = make_posts(0, 6), make_posts(6, 2)
    with AnswerCache(tmp_path / "c") as cache:
        recs, s = generate_knowledge(posts, pool, cfg, backend=backend, cache=cache, progress=False)
        recs2, s2 = generate_knowledge(posts, pool, cfg, backend=backend, cache=cache, progress=False)
        answers = [a for (a,) in cache.db.execute("SELECT answer FROM answers")]
    assert s.tokens > 0 and s.cache_misses == s.prompts >= 2
    assert all(a.lstrip().startswith("{") for a in answers), answers  # response_format json_schema honoured
    assert all(len(r["knowledge"]) <= 2 for r in recs)
    assert s2.model_calls == 0 and recs2 == recs
    for f in (tmp_path / "c").iterdir():  # the key is never written to disk
        assert b"sk-never-stored-123" not in f.read_bytes()
