"""knowledge_in_text: the post's knowledge appended to the text sequence, read by the trained encoder."""

from __future__ import annotations

import dataclasses

import torch

from kecpm.model.config import ModelConfig


def _with_knowledge(posts):
    return next(p for p in posts if p.knowledge)


def test_appended_tokens_are_no_words_and_marked(make_model, tiny_posts):
    post = _with_knowledge(tiny_posts)
    plain = make_model(use_image=False, filter_knowledge=False, knowledge_in_side=False)
    model = make_model(use_image=False, filter_knowledge=False, knowledge_in_side=False, knowledge_in_text=True)
    bare, both = plain.encoder.batch([post]), model.encoder.batch([post, dataclasses.replace(post, knowledge=[])])
    n = bare.text_ids.size(1)
    assert bare.text_know is None
    assert torch.equal(both.text_ids[0, :n], bare.text_ids[0]) and both.n_words == [bare.n_words[0]] * 2
    know = both.text_know[0].bool()
    assert know[n:].all() and not know[:n].any()  # everything after the text's [SEP] is knowledge
    assert (both.word_index[0, n:] == -1).all() and (both.shape_ids[0, n:] == 0).all()
    assert both.text_ids[0, -1] == model.encoder.tokenizer.sep_token_id
    assert not both.text_know[1].any() and both.text_mask[1].sum() == n  # no knowledge: nothing appended


def test_the_encoder_reads_the_knowledge_and_dropout_hides_it(make_model, tiny_posts):
    post = _with_knowledge(tiny_posts)
    model = make_model(use_image=False, soft_prompt_tokens=0, filter_knowledge=False, knowledge_in_side=False,
                       knowledge_in_text=True)
    model.eval()
    with torch.no_grad():
        read = model.encoder(model.encoder.batch([post])).words
        bare = model.encoder(model.encoder.batch([dataclasses.replace(post, knowledge=[])])).words
        assert not torch.allclose(read, bare, atol=1e-4)  # the knowledge changes the words' states
        model.encoder.config.knowledge_dropout = 1.0
        model.encoder.train()
        model.encoder.text.eval()  # no hidden dropout: only the knowledge dropout differs from eval
        hidden = model.encoder(model.encoder.batch([post])).words
    assert torch.allclose(hidden, bare, atol=1e-5)


def test_saved_configs_without_the_key_load_it_off():
    cfg = ModelConfig.from_dict({k: v for k, v in ModelConfig().to_dict().items() if k != "knowledge_in_text"})
    assert cfg.knowledge_in_text is False
