from __future__ import annotations

from dataclasses import replace

from transformers import AutoTokenizer

from kecpm.model.layout import InputLayout


def _layout(minilm_path: str, **kw) -> InputLayout:
    args = dict(max_text_tokens=64, max_caption_tokens=4, max_knowledge_tokens=12, use_caption=True,
                use_knowledge=True)
    args.update(kw)
    return InputLayout(AutoTokenizer.from_pretrained(minilm_path), **args)


def test_text_is_not_shortened_by_long_knowledge(minilm_path, tiny_posts):
    post = replace(tiny_posts[0], caption="a very long caption " * 10, knowledge=["long knowledge sentence"] * 50)
    b = _layout(minilm_path)([post])
    assert b.n_words == [len(post.tokens)]
    assert b.side_ids.shape[1] <= 12
    n_caption = int(((b.know_mask[0] == 0) & (b.side_mask[0] == 1)).sum()) - 3  # minus [CLS] and two [SEP]
    assert n_caption == 4
    assert int(b.know_mask[0].sum()) == 12 - 4 - 3


def test_text_budget_keeps_whole_words(minilm_path, tiny_posts):
    b = _layout(minilm_path, max_text_tokens=3)([tiny_posts[0]])
    assert b.n_words[0] < len(tiny_posts[0].tokens)
    kept = b.word_index[0][b.word_index[0] >= 0]
    assert int(kept.max()) == b.n_words[0] - 1
    assert b.text_ids.shape[1] <= 3 + 2


def test_no_side_sequence_when_caption_and_knowledge_off(minilm_path, tiny_posts):
    b = _layout(minilm_path, use_caption=False, use_knowledge=False)(tiny_posts)
    assert b.side_ids is None
    assert len(b.n_words) == len(tiny_posts)


def test_knowledge_filter_keeps_sentences_about_the_post(minilm_path, tiny_posts):
    from kecpm.model.layout import relevant_sentences

    tokens = ["#Obama", "meets", "the", "Queen", "in", "London"]
    sents = ["Barack Obama was US president.", "The weather is nice.", "London is a city in the UK.",
             "It was the best of times."]
    assert relevant_sentences(sents, tokens) == [sents[0], sents[2]]
    post = replace(tiny_posts[0], tokens=tokens, caption=None, knowledge=sents)
    kept = _layout(minilm_path, max_knowledge_tokens=100, filter_knowledge=True)([post])
    full = _layout(minilm_path, max_knowledge_tokens=100)([post])
    tok = AutoTokenizer.from_pretrained(minilm_path)
    n = len(tok.encode(" ".join(sents[0::2]), add_special_tokens=False))
    assert int(kept.know_mask[0].sum()) == n < int(full.know_mask[0].sum())


def test_inline_knowledge_follows_the_text_and_is_no_word(minilm_path, tiny_posts):
    """``inline_knowledge_tokens``: ``[CLS] text [SEP] knowledge [SEP]``, the knowledge cut to the budget, marked
    in ``text_know`` and outside every word; a post without knowledge keeps its plain text sequence."""
    know = ["Barack Obama was US president and lived in Washington for eight years."]
    posts = [replace(tiny_posts[0], knowledge=know), replace(tiny_posts[1], knowledge=None)]
    plain = _layout(minilm_path)(posts)
    b = _layout(minilm_path, inline_knowledge_tokens=6)(posts)
    tok = AutoTokenizer.from_pretrained(minilm_path)
    n0 = int(plain.text_mask[0].sum())
    assert b.text_ids[0, :n0].tolist() == plain.text_ids[0, :n0].tolist()  # the text part is unchanged
    assert b.text_ids[0, n0:n0 + 6].tolist() == tok.encode(know[0], add_special_tokens=False)[:6]
    assert int(b.text_ids[0, n0 + 6]) == tok.sep_token_id
    assert b.text_know[0, n0:n0 + 7].tolist() == [1] * 7  # the knowledge and its [SEP]
    assert int(b.text_know[0].sum()) == 7 and int(b.text_know[1].sum()) == 0
    assert b.word_index[0, n0:].max() == -1 and b.n_words == plain.n_words
    n1 = int(plain.text_mask[1].sum())
    assert b.text_ids[1, :n1].tolist() == plain.text_ids[1, :n1].tolist() and int(b.text_mask[1].sum()) == n1
    assert _layout(minilm_path, inline_knowledge_tokens=6, use_knowledge=False)(posts).text_know is None


def test_inline_knowledge_shapes_follow_its_words(minilm_path, tiny_posts):
    """``inline_shapes``: the same knowledge subwords, each with its word's shape (the [SEP] and text unchanged)."""
    from kecpm.model.shapes import SHAPES

    know = ["Mery Perello is Nadal's girlfriend, says @cnnsport about #tennis.", "NBA stars in 2018."]
    posts = [replace(tiny_posts[0], knowledge=know)]
    plain = _layout(minilm_path, inline_knowledge_tokens=64)(posts)
    shaped = _layout(minilm_path, inline_knowledge_tokens=64, inline_shapes=True)(posts)
    assert shaped.text_ids.tolist() == plain.text_ids.tolist()  # word by word: the same subwords
    assert shaped.text_know.tolist() == plain.text_know.tolist()
    know_at = shaped.text_know[0].bool()
    assert not plain.shape_ids[0][know_at].any()  # without the option the knowledge has no shapes
    assert shaped.shape_ids[0][~know_at].tolist() == plain.shape_ids[0][~know_at].tolist()
    tok = AutoTokenizer.from_pretrained(minilm_path)
    want = [SHAPES.index(s) for w, s in zip(" ".join(know).split(), [
        "Capitalised", "Capitalised", "lower", "Capitalised", "lower", "lower", "@mention", "lower", "#hashtag",
        "ALLCAPS", "lower", "lower", "number"], strict=True) for _ in tok.encode(w, add_special_tokens=False)]
    assert shaped.shape_ids[0][know_at].tolist() == [*want, 0]  # the closing [SEP] has none
    cut = _layout(minilm_path, inline_knowledge_tokens=5, inline_shapes=True)(posts)
    assert int(cut.text_know[0].sum()) == 6 and cut.shape_ids[0][cut.text_know[0].bool()].tolist() == [*want[:5], 0]
