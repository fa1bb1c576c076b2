"""The sentences about a pair (model.pair_sentences): which side tokens belong to which sentence, which a pair
may read, and that the reader starts closed and then changes only the pairs some sentence names together."""

from __future__ import annotations

import pytest
import torch

from kecpm.data.schema import Entity, Post
from kecpm.model.pair_sentences import pair_keys, sentence_index

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
    pk = pair_keys(keys, side_sentence, [{0}, set(), {1, 2}])
    assert pk.tolist() == [[False, False, True, True, False, False, False, False, False],
                           [False] * 9,
                           [False, False, False, False, False, True, True, True, False]]
    assert not pair_keys(keys, side_sentence, [set(), set()]).any()


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


def test_needs_mentions_in_the_side_sequence():
    from kecpm.config import ConfigError
    from kecpm.model.config import ModelConfig

    for bad in ({"knowledge_mentions": False}, {"knowledge_in_side": False}, {"retrieval": "corpus.jsonl"}):
        with pytest.raises(ConfigError, match="pair_sentences"):
            ModelConfig(pair_sentences=True, **bad)
    assert ModelConfig.SAVED_DEFAULTS["pair_sentences"] is False  # configs saved before the option load as trained
