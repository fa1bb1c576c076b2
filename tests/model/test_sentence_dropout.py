"""Knowledge sentence dropout: a random subset and order of the sentences in training, all of them in the LLM's order
when predicting, and no side states kept for the varied sequences."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.model.sentence_dropout import vary_sentences

SENTENCES = ["Obama was the president of the United States.", "Kenya is a country in Africa.",
             "Nairobi is the capital of Kenya.", "Michelle Obama is his wife."]


def test_vary_sentences_keeps_a_subset_in_a_new_order_and_leaves_the_post(tiny_posts):
    post = replace(tiny_posts[0], knowledge=list(SENTENCES))
    bare = replace(tiny_posts[1], knowledge=None)
    assert vary_sentences([post, bare], 0.0) == [post, bare]
    torch.manual_seed(0)
    seen = [vary_sentences([post, bare], 0.5) for _ in range(200)]
    assert all(b is bare for _, b in seen)  # no knowledge, nothing to vary
    kept = [v.knowledge for v, _ in seen]
    assert all(len(set(k)) == len(k) and set(k) <= set(SENTENCES) for k in kept)
    mean_kept = sum(map(len, kept)) / len(kept)
    assert 1.5 < mean_kept < 2.5  # each of 4 sentences kept with probability 0.5
    full = [k for k in kept if len(k) == 4]
    assert full and any(k != SENTENCES for k in full)  # shuffled, not only thinned
    assert post.knowledge == SENTENCES  # copies: the training post itself is unchanged


def test_only_training_varies_the_sentences_and_the_side_cache_stays_small(make_model, tiny_posts):
    posts = [replace(p, knowledge=list(SENTENCES)) for p in tiny_posts[:3]]
    plain = make_model(inline_knowledge_tokens=64, knowledge_dropout=0.0)  # no whole-knowledge dropout draws
    varied = make_model(inline_knowledge_tokens=64, knowledge_dropout=0.0, inline_knowledge_sentence_dropout=0.5)
    varied.load_state_dict(plain.state_dict())
    # prediction reads every sentence in order: the same entities and scores as the model without the option
    assert [p.entities for p in varied.predict(posts)] == [p.entities for p in plain.predict(posts)]
    for m in (plain, varied):
        m.train()
        m.encoder.text.eval()  # no encoder dropout: only the sentences differ
        m.encoder.clear_side_cache()
    torch.manual_seed(3)
    a = plain.loss(posts)
    torch.manual_seed(3)
    b = varied.loss(posts)
    assert not torch.isclose(a, b)  # the varied model read other knowledge
    assert all(not k[0] for k in varied.encoder._side_cache)  # no training-mode side states kept
    assert any(k[0] for k in plain.encoder._side_cache)


@pytest.mark.parametrize("overrides, message", [
    ({"inline_knowledge_sentence_dropout": 0.2}, "needs inline_knowledge_tokens"),
    ({"inline_knowledge_sentence_dropout": 1.0, "inline_knowledge_tokens": 32}, r"must be in \[0, 1\)"),
])
def test_sentence_dropout_is_checked(overrides, message):
    from kecpm.model.config import ModelConfig

    with pytest.raises(ConfigError, match=message):
        ModelConfig(**overrides)
