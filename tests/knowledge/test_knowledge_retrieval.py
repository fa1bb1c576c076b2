"""Demonstrations by similarity with the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

from knowledge_helpers import make_posts

from kecpm.knowledge.cache import AnswerCache
from kecpm.knowledge.retrieval import top_k_demos


def test_top_k_picks_similar_training_posts_never_itself(tmp_path, minilm_path, monkeypatch):
    pool = make_posts(0, 12)
    football = pool[1]  # Messi joins PSG
    query = make_posts(4, 1)[0]  # Ronaldo scores for Portugal: another football post
    with AnswerCache(tmp_path / "c") as cache:
        demos = top_k_demos([query, football], pool, k=2, model=minilm_path, store=cache)
        assert len(demos) == 2 and all(len(d) == 2 for d in demos)
        assert all(d.id != query.id for d in demos[0]) and all(d.id != football.id for d in demos[1])
        assert football.id in {d.id for d in demos[0]}
        # vectors are cached: the second call loads no model
        import kecpm.knowledge.retrieval as r

        monkeypatch.setattr(r, "embed", lambda *a, **k: (_ for _ in ()).throw(AssertionError("model loaded")))
        again = top_k_demos([query, football], pool, k=2, model=minilm_path, store=cache)
    assert [[d.id for d in ds] for ds in again] == [[d.id for d in ds] for ds in demos]
    assert top_k_demos([query], pool, k=0) == [[]]
