"""model.relation_negatives: the relation head also trains on spans the span head wrongly takes for entities."""

from __future__ import annotations

import json

import pytest
import torch

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


def test_a_pipeline_relation_model_trains_on_name_runs_no_triple_uses(make_model, tiny_posts):
    """With no span head (task mre, a pipeline's relation model) the negatives are runs of name-like words that
    overlap no gold entity: "@CNN", "China", "London" in the tiny posts; every pair with them is "no relation"."""
    model = make_model(task="mre", relation_negatives=2).train()
    head = model.heads["relation"]
    views, _ = model._encode(tiny_posts)
    added = {}
    for view in views:
        gold = view.gold_spans(model.config.max_span_width, head.labels.type_index)
        torch.manual_seed(0)
        logits, labels = head.loss_terms(view)
        n = round((1 + (1 + 4 * logits.shape[0]) ** 0.5) / 2)  # n entities give n * (n - 1) ordered pairs
        assert int((labels > 0).sum()) == len(view.post.triples)  # the added pairs are all "no relation"
        torch.manual_seed(0)
        negatives = head._name_negatives(view, gold)
        assert n == len(gold) + len(negatives) and len(negatives) <= 2
        assert all(1 <= t <= len(head.labels.entity_types) for t in negatives.values())
        added.update({view.post.span_text(*s): t for s, t in negatives.items()})
    assert sorted(added) == ["@CNN", "China", "London"]
    plain = make_model(task="mre").train()
    for view in plain._encode(tiny_posts)[0]:  # off: gold entities only
        gold = view.gold_spans(plain.config.max_span_width, plain.heads["relation"].labels.type_index)
        assert plain.heads["relation"]._name_negatives(view, gold) == {}
        assert plain.heads["relation"].loss_terms(view)[0].shape[0] == len(gold) * (len(gold) - 1)
