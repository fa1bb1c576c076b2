"""model.relation_negatives: the relation head also trains on spans the span head wrongly takes for entities."""

from __future__ import annotations

import json

import pytest

from kecpm.config import ConfigError
from kecpm.model.config import ModelConfig


def _terms(model, posts):
    views, _ = model.train()._encode(posts)
    out = []
    for view in views:
        model.heads["span"].loss_terms(view)
        out.append((view, model.heads["relation"].loss_terms(view)))
    return out


def test_negatives_are_wrong_entities_and_pairs_with_them_have_no_relation(make_model, tiny_posts):
    seen = 0
    model = make_model(relation_negatives=2)
    for view, (logits, gold) in _terms(model, tiny_posts):
        spans = view.gold_spans(model.config.max_span_width, model.heads["relation"].labels.type_index)
        taken = sorted(view.negatives)
        assert len(taken) <= 2 and all(a[1] <= b[0] for a, b in zip(taken, taken[1:], strict=False))
        assert all(set(range(*n)).isdisjoint(range(*g)) for n in taken for g in spans)  # overlaps no gold entity
        n = len(spans) + len(taken)
        assert logits.shape[0] == n * (n - 1) == len(gold)
        assert int((gold > 0).sum()) == len(view.post.triples)  # every added pair is "no relation"
        seen += len(taken)
    assert seen > 0  # the untrained span head takes some words for entities


def test_off_by_default_and_old_models(make_model, tiny_posts, tmp_path):
    assert ModelConfig().relation_negatives == 0
    saved = ModelConfig(relation_negatives=2).to_dict()
    del saved["relation_negatives"]  # a model saved before the option was trained without it
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert ModelConfig.load(tmp_path / "config.json").relation_negatives == 0
    for view, terms in _terms(make_model(), tiny_posts):
        assert view.negatives == {} and terms[0].shape[0] == len(terms[1])
    with pytest.raises(ConfigError, match="relation_negatives must be >= 0"):
        ModelConfig(relation_negatives=-1)
