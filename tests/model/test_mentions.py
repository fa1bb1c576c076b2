"""Knowledge anchored to mentions: matching, and the features it gives spans and pairs."""

from __future__ import annotations

import torch

from kecpm.model.mentions import co_named, named_in, normalise, pair_flags, span_flags


def test_matching_is_on_whole_normalised_words():
    sents = [normalise("Rafael Nadal (@RafaelNadal) is dating Mery Perello."), normalise("Spain won.")]
    toks = ["#Nadal", "and", "Mery", "Perello", "in", "Spa"]
    assert named_in(sents, toks, [(0, 1), (2, 4), (5, 6), (1, 2)]) == [{0}, {0}, set(), set()]
    assert span_flags(named_in(sents, toks, [(0, 1), (5, 6)])).tolist() == [1, 0]
    both = co_named(named_in(sents, toks, [(0, 1), (2, 4), (5, 6)]), torch.tensor([[0, 1], [0, 2]]))
    assert both == [{0}, set()] and pair_flags(both).tolist() == [1, 0]
    assert span_flags(named_in([], toks, [(0, 1)])).tolist() == [0]


def test_mention_vectors_start_at_zero_and_touch_only_named_spans(make_model, tiny_posts):
    model = make_model(use_image=False, knowledge_mentions=True, filter_knowledge=False).eval()
    post = next(p for p in tiny_posts if p.knowledge)
    [view] = model.views([post])
    assert view.sentences  # the post's knowledge, normalised
    spans = torch.tensor([(0, 2), (2, 3)])
    flags = span_flags(view.named_in([(0, 2), (2, 3)]))
    with torch.no_grad():
        before = model.spans(view.words, spans, view)
        assert torch.equal(before, model.spans(view.words, spans))  # zero at initialisation
        model.spans.mention.weight[1].fill_(1.0)
        after = model.spans(view.words, spans, view)
    changed = (after != before).any(-1).tolist()
    assert changed == [bool(f) for f in flags.tolist()] and any(changed)


def test_a_view_matches_each_span_once(make_model, tiny_posts, monkeypatch):
    """The span features, span head and relation head share one match per span and view: asking again for
    spans already matched (as lists or tuples, repeated or not) matches nothing new and gives the same sets."""
    from kecpm.model.heads import base

    model = make_model(use_image=False, knowledge_mentions=True, filter_knowledge=False).eval()
    post = next(p for p in tiny_posts if p.knowledge)
    [view] = model.views([post])
    matched = []
    real = base.named_in
    monkeypatch.setattr(base, "named_in", lambda sents, toks, spans: matched.extend(spans) or real(sents, toks, spans))
    first = view.named_in([(0, 2), (2, 3), (0, 2)])
    assert matched == [(0, 2), (2, 3)] and first == named_in(view.sentences, post.tokens, [(0, 2), (2, 3), (0, 2)])
    assert view.named_in([[2, 3], (0, 1)]) == [first[1], named_in(view.sentences, post.tokens, [(0, 1)])[0]]
    assert matched == [(0, 2), (2, 3), (0, 1)]


def test_without_the_option_views_carry_no_sentences(make_model, tiny_posts):
    model = make_model(use_image=False, knowledge_mentions=False).eval()
    assert model.spans.mention is None and model.head("relation").co_mention is None
    assert all(not v.sentences for v in model.views(tiny_posts[:2]))


def test_the_zero_features_draw_no_random_numbers(make_model, tiny_posts):
    """With the option on but no knowledge, a seeded model is the model without the option."""
    import torch

    torch.manual_seed(0)
    off = make_model(use_image=False, use_knowledge=False, knowledge_mentions=False).eval()
    torch.manual_seed(0)
    on = make_model(use_image=False, use_knowledge=False, knowledge_mentions=True).eval()
    assert not on.spans.mention.weight.any()
    assert [p.to_dict() for p in on.predict(tiny_posts)] == [p.to_dict() for p in off.predict(tiny_posts)]


def test_knowledge_outside_the_side_sequence_still_anchors_mentions(make_model, tiny_posts):
    """knowledge_in_side=false: the side sequence holds the caption alone, the views still carry the
    post's sentences (and none when knowledge dropout hides them), and no side encoder without a caption."""
    post = next(p for p in tiny_posts if p.knowledge)
    model = make_model(use_image=True, knowledge_mentions=True, filter_knowledge=False, knowledge_in_side=False)
    batch = model.encoder.batch([post])
    assert batch.know_mask is not None and not batch.know_mask.any()  # caption only
    assert batch.has_knowledge == [True]
    [view] = model.eval().views([post])
    assert view.sentences == model.encoder.layout.sentences(post) and view.sentences
    no_side = make_model(use_image=False, knowledge_mentions=True, knowledge_in_side=False)
    assert no_side.encoder.side is None and no_side.encoder.fusion is None
    assert no_side.eval().views([post])[0].sentences
    no_side.encoder.config.knowledge_dropout = 0.999
    no_side.train()
    assert no_side.views([post])[0].sentences == []  # dropped in training


def test_knowledge_in_side_with_retrieval_is_refused():
    import pytest

    from kecpm.config import ConfigError
    from kecpm.model.config import ModelConfig

    with pytest.raises(ConfigError, match="knowledge_in_side"):
        ModelConfig(retrieval="corpus.jsonl", knowledge_in_side=False)
