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


def test_detached_negatives_train_only_the_relation_head(make_model, tiny_posts):
    """relation_negatives_detached: the loss of the pairs with a negative reaches the relation head's weights
    but neither the encoder nor the span features; the other pairs reach both as before."""
    import torch

    model = make_model(relation_negatives=2, relation_negatives_detached=True, use_image=False)
    head = model.heads["relation"]
    view, (logits, gold) = next((v, t) for v, t in _terms(model, tiny_posts) if v.negatives)
    neg = torch.tensor([(e.start, e.end) in view.negatives for e in head.gold_entities(
        view, {**view.gold_spans(model.config.max_span_width, head.labels.type_index), **view.negatives}).entities])
    n_neg = int((neg.unsqueeze(0) | neg.unsqueeze(1)).sum() - neg.sum())  # ordered pairs with a negative
    assert n_neg > 0 and (gold[-n_neg:] == 0).all()  # they come last, all "no relation"
    word = model.encoder.text.get_input_embeddings().weight
    span_params = [q for q in model.spans.parameters() if q.requires_grad]
    for part, reaches_encoder in ((logits[-n_neg:], False), (logits[:-n_neg], True)):
        model.zero_grad(set_to_none=True)
        part.sum().backward(retain_graph=True)
        assert head.ent.weight.grad is not None and head.ent.weight.grad.abs().sum() > 0
        assert (word.grad is not None and bool(word.grad.abs().sum() > 0)) == reaches_encoder
        assert any(q.grad is not None and bool(q.grad.abs().sum() > 0) for q in span_params) == reaches_encoder
