"""Knowledge sentences that define a span (model.knowledge_definitions): which spans a sentence defines, that the
reader starts at zero, then changes exactly the defined spans' scores, and that it trains and survives a save."""

from __future__ import annotations

import pytest
import torch

from kecpm.data.schema import Entity, Post
from kecpm.model.definitions import defined_by, subject

SENTENCES = ["Nestle is a multinational food and beverage company.", "The #MeToo movement is a global movement.",
             "@Pompeo refers to Mike Pompeo, a US politician.", "They met in Paris."]


def test_a_sentence_defines_the_span_it_opens_with():
    tokens = ["RT", "@pompeo", ":", "Nestle", "backs", "#MeToo", "in", "Paris", "nestle"]
    spans = [(1, 2), (3, 4), (5, 6), (7, 8), (8, 9), (3, 5), (2, 3), (0, 1)]
    got = defined_by([subject(s) for s in SENTENCES], tokens, spans)
    # @/#, case and a leading "the" do not matter; "Paris" is named, not defined; ":" is no name; "Nestle backs" no
    assert got == [[2], [0], [1], [], [0], [], [], []]
    assert defined_by([], tokens, spans) == [[]] * len(spans)


def _post() -> Post:
    tokens = ["Nestle", "and", "Pompeo", "visit", "Paris"]
    return Post("p1", tokens, "p1.jpg", knowledge=SENTENCES, entities=[Entity(0, 1, "org", "Nestle"),
                                                                      Entity(2, 3, "per", "Pompeo")])


def test_the_reader_starts_at_zero_and_changes_only_defined_spans(make_model, tmp_path):
    from kecpm.model.heads.base import enumerate_spans
    from kecpm.model.model import PromptModel

    model = make_model(use_image=False, filter_knowledge=False, knowledge_definitions=True).eval()
    head = model.head("span")
    post = _post()
    [view] = model.views([post])
    assert view.definitions is not None and view.definitions[1].shape == (len(SENTENCES), model.encoder.hidden)
    assert torch.allclose(view.definitions[1].norm(dim=-1), torch.ones(len(SENTENCES)))
    spans = enumerate_spans(view.n, model.config.max_span_width)
    index = torch.tensor(spans)
    with torch.no_grad():
        before = head._logits(view, spans, index, fast=True)
        assert torch.equal(before, head._span_logits(view, spans, index, fast=True))  # zero at first
        head.definitions.weight.normal_()
        after = head._logits(view, spans, index, fast=True)
    changed = {spans[i] for i in (after != before).any(-1).nonzero().squeeze(-1).tolist()}
    assert changed == {(0, 1), (2, 3)}  # Nestle and Pompeo open a sentence; Paris is only named
    model.save(tmp_path / "m")
    again = PromptModel.load(tmp_path / "m").eval()
    [view2] = again.views([post])
    with torch.no_grad():
        assert torch.allclose(again.head("span")._logits(view2, spans, index, fast=True), after, atol=1e-5)


def test_it_trains_and_dropped_knowledge_defines_nothing(make_model):
    model = make_model(use_image=False, filter_knowledge=False, knowledge_definitions=True)
    model.train()
    loss = model.loss([_post()])
    loss.backward()
    assert model.head("span").definitions.weight.grad.abs().sum() > 0  # learns from the defined spans
    hidden = make_model(use_image=False, filter_knowledge=False, knowledge_definitions=True, knowledge_dropout=0.999)
    hidden.train()
    [view] = hidden.views([_post()])
    assert view.definitions is None


def test_needs_knowledge_and_a_span_head():
    from kecpm.config import ConfigError
    from kecpm.model.config import ModelConfig
    from kecpm.model.tasks import Task
    from kecpm.train.pipeline import part_configs

    with pytest.raises(ConfigError, match="knowledge_definitions.*mre"):
        ModelConfig(knowledge_definitions=True, task=Task.MRE)
    with pytest.raises(ConfigError, match="without use_knowledge"):
        ModelConfig(knowledge_definitions=True, use_knowledge=False)
    parts = part_configs(ModelConfig(knowledge_definitions=True, pipeline=True))
    assert parts["entity"].knowledge_definitions and not parts["relation"].knowledge_definitions
