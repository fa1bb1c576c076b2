"""The sentences about a pair (model.pair_sentences) or a span (model.span_sentences): which side tokens belong to
which sentence, which a pair may read, and that the readers start closed and then change only the pairs some sentence
names together, or the spans some sentence names."""

from __future__ import annotations

import pytest
import torch

from kecpm.data.schema import Entity, Post
from kecpm.model.pair_sentences import sentence_index, sentence_keys

SENTENCES = ["Jack and Dani are a couple on Love Island.", "Hudaida is a port city in Yemen.", "Dani, 24, is from Essex."]


def test_every_knowledge_subword_maps_to_its_sentence(minilm_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(minilm_path)
    ids = tok.encode(" ".join(SENTENCES), add_special_tokens=False)
    index = sentence_index(tok, SENTENCES, len(ids))
    assert len(index) == len(ids) and index == sorted(index) and set(index) == {0, 1, 2}
    for i, s in enumerate(SENTENCES):  # the subwords of sentence i decode to sentence i
        assert tok.decode([t for t, k in zip(ids, index, strict=True) if k == i]) == tok.decode(tok.encode(
            s, add_special_tokens=False))
    assert sentence_index(tok, SENTENCES, 5) == index[:5]  # the side budget cuts the knowledge at the end
    assert sentence_index(tok, [], 5) == []


def test_a_pair_reads_the_visible_tokens_of_the_sentences_naming_both():
    side_sentence = torch.tensor([-1, -1, 0, 0, 0, 1, 1, 2, -1])
    keys = torch.tensor([1, 1, 1, 1, 0, 1, 1, 1, 0], dtype=torch.bool)  # token 4 hidden
    pk = sentence_keys(keys, side_sentence, [{0}, set(), {1, 2}])
    assert pk.tolist() == [[False, False, True, True, False, False, False, False, False],
                           [False] * 9,
                           [False, False, False, False, False, True, True, True, False]]
    assert not sentence_keys(keys, side_sentence, [set(), set()]).any()


def _post() -> Post:
    ents = [Entity(0, 1, "per", "Jack"), Entity(2, 3, "per", "Dani"), Entity(5, 6, "loc", "Hudaida")]
    return Post("p1", ["Jack", "and", "Dani", "visit", "the", "Hudaida", "port"], "p1.jpg", knowledge=SENTENCES,
                entities=ents)


def test_the_reader_starts_closed_and_opens_only_for_co_named_pairs(make_model):
    from kecpm.model.heads.relation import ordered_pairs

    model = make_model(use_image=False, knowledge_mentions=True, filter_knowledge=False, pair_sentences=True).eval()
    head = model.head("relation")
    post = _post()
    [view] = model.views([post])
    assert view.side_sentence is not None and view.sentences
    ents = head.gold_entities(view)
    pairs = ordered_pairs(3)
    with torch.no_grad():
        before = head(view.words, ents, pairs, view.side, view.keys, view)
        reader, head.sentences = head.sentences, None
        assert torch.equal(before, head(view.words, ents, pairs, view.side, view.keys, view))  # zero at first
        head.sentences = reader
        reader.gate.fill_(1.0)
        after = head(view.words, ents, pairs, view.side, view.keys, view)
    changed = (after != before).any(-1).tolist()
    # Jack-Dani are named together (sentence 0); no sentence names Hudaida with either of them
    assert changed == [(h, t) in {(0, 1), (1, 0)} for h, t in pairs.tolist()]
    assert "sentence_gate" in model.gate_openness()


def test_dropped_knowledge_is_not_read(make_model):
    model = make_model(use_image=False, knowledge_mentions=True, filter_knowledge=False, pair_sentences=True,
                       knowledge_dropout=0.999)
    model.head("relation").sentences.gate.data.fill_(1.0)
    model.train()
    [view] = model.views([_post()])
    assert view.sentences == []  # hidden in this training step: no pair has a sentence to read
    assert model.loss([_post()]).isfinite()


def test_the_span_reader_starts_closed_and_opens_only_for_named_spans(make_model):
    from kecpm.model.heads.base import enumerate_spans
    from kecpm.model.mentions import named_in

    model = make_model(use_image=False, knowledge_mentions=True, filter_knowledge=False, span_sentences=True).eval()
    head = model.head("span")
    post = _post()
    [view] = model.views([post])
    spans = enumerate_spans(view.n, model.config.max_span_width)
    index = torch.tensor(spans)
    with torch.no_grad():
        before = head._logits(view, spans, index, fast=True)
        head.sentences.gate.fill_(1.0)
        slow, fast = head._logits(view, spans, index, fast=False), head._logits(view, spans, index, fast=True)
    assert torch.allclose(slow, fast, atol=1e-5)  # the per-word first layer gives the training path's scores
    changed = {spans[i] for i in (fast != before).any(-1).nonzero().squeeze(-1).tolist()}
    named = {s for s, n in zip(spans, named_in(view.sentences, post.tokens, spans), strict=True) if n}
    assert changed == named  # exactly the spans some sentence names: Jack, Dani, Hudaida, "Jack and Dani", "port"...
    assert {(0, 1), (2, 3), (5, 6), (0, 3)} <= changed and not {(3, 4), (4, 5), (3, 5)} & changed  # not "visit the"
    assert "span_sentence_gate" in model.gate_openness()
    model.train()
    assert model.loss([post]).isfinite()


def test_needs_mentions_in_the_side_sequence():
    from kecpm.config import ConfigError
    from kecpm.model.config import ModelConfig
    from kecpm.model.tasks import Task

    for name in ("pair_sentences", "span_sentences"):
        for bad in ({"knowledge_mentions": False}, {"knowledge_in_side": False}, {"retrieval": "corpus.jsonl"}):
            with pytest.raises(ConfigError, match=name):
                ModelConfig(**{name: True}, **bad)
        assert ModelConfig.SAVED_DEFAULTS[name] is False  # configs saved before the option load as trained
    with pytest.raises(ConfigError, match="span head"):
        ModelConfig(span_sentences=True, task=Task.MRE)
