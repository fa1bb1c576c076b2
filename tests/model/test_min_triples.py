"""model.min_triples: every post keeps at least that many triples (and, for JMERE, a pair of entities)."""

from __future__ import annotations

import json

import pytest

from kecpm.config import ConfigError
from kecpm.data.schema import Post
from kecpm.model.config import ModelConfig

NOTHING_PASSES = {"entity_threshold": 1e-9, "relation_threshold": 1e-9}  # no-class probabilities are never this low


def _unordered(post: Post) -> set[frozenset[tuple[int, int]]]:
    return {frozenset({(t.head.start, t.head.end), (t.tail.start, t.tail.end)}) for t in post.triples}


def test_resolved_from_the_training_posts(tiny_posts):
    assert all(p.triples for p in tiny_posts)
    assert ModelConfig().min_triples == -1
    assert ModelConfig().resolve_min_triples(tiny_posts).min_triples == 1
    without = [*tiny_posts, Post("x", ["no", "relation"], "x.jpg")]
    assert ModelConfig().resolve_min_triples(without).min_triples == 0
    assert ModelConfig(task="mner").resolve_min_triples(tiny_posts).min_triples == 0  # no relation head
    assert ModelConfig(min_triples=0).resolve_min_triples(tiny_posts).min_triples == 0  # set by the user: kept


def test_bad_value_and_old_saved_configs(tmp_path):
    with pytest.raises(ConfigError, match="min_triples must be >= -1"):
        ModelConfig(min_triples=-2)
    saved = ModelConfig().to_dict()
    del saved["min_triples"]  # a model saved before the option: decodes as it was trained
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert ModelConfig.load(tmp_path / "config.json").min_triples == 0


def test_jmere_keeps_a_pair_and_one_triple_when_nothing_passes(make_model, tiny_posts):
    off = make_model(min_triples=0).eval()
    assert all(not p.entities and not p.triples for p in off.predict(tiny_posts, thresholds=NOTHING_PASSES))
    on = make_model(min_triples=1).eval()
    preds = on.predict([*tiny_posts, Post("one", ["Barcelona"], "x.jpg")], thresholds=NOTHING_PASSES)
    # two spans kept for a pair; where the schema allows no relation between their types (or a one-word post
    # has no pair) they are dropped again: no entity that no triple uses is kept under the threshold
    assert all(len(p.triples) == 1 and len(p.entities) == 2 for p in preds if p.triples)
    assert all(not p.entities for p in preds if not p.triples)
    assert any(p.triples for p in preds) and not preds[-1].entities
    for p in preds:
        if p.entities:
            a, b = p.entities
            assert a.end <= b.start  # the added spans do not overlap


def test_mre_keeps_the_likeliest_pairs_up_to_min_triples(make_model, tiny_posts):
    one = make_model(task="mre", min_triples=1).eval().predict(tiny_posts, thresholds=NOTHING_PASSES)
    assert all(len(p.triples) == 1 for p in one)  # every tiny post has a pair whose types allow a relation
    two = make_model(task="mre", min_triples=2).eval().predict(tiny_posts, thresholds=NOTHING_PASSES)
    assert all(1 <= len(p.triples) <= 2 for p in two) and any(len(p.triples) == 2 for p in two)
    for a, b in zip(one, two, strict=True):
        assert _unordered(a) <= _unordered(b)  # the likeliest pair first, then the next


def test_what_passes_the_thresholds_is_kept(make_model, tiny_posts):
    loose = {"entity_threshold": 0.99, "relation_threshold": 0.99}
    off = make_model(min_triples=0).eval().predict(tiny_posts, thresholds=loose)
    on = make_model(min_triples=1).eval().predict(tiny_posts, thresholds=loose)
    for a, b in zip(off, on, strict=True):
        if len(a.entities) >= 2:
            assert [e.to_dict() for e in a.entities] == [e.to_dict() for e in b.entities]
        assert _unordered(a) <= _unordered(b) and len(b.triples) >= len(a.triples)
