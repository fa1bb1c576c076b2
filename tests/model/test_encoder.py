"""The post encoder: the side encoder is a real (frozen) submodule, and everything follows .to()."""

from __future__ import annotations

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.device import resolve_device


def test_side_encoder_is_a_frozen_submodule_that_stays_in_eval_mode(make_model):
    model = make_model()
    side = model.encoder.side
    assert any(m is side for m in model.modules())  # so .to(device) moves it
    model.train()
    assert model.encoder.text.training and not side.training
    assert not any(p.requires_grad for p in side.parameters())
    assert not any(k.startswith("encoder.side.") for k in model.own_state())  # saved as side_encoder/


def test_every_tensor_follows_the_model(make_model, tiny_posts):
    """float64 stands in for a CUDA device here: every tensor the model makes while encoding, computing
    the loss and decoding must follow the model's parameters, or this raises a dtype mismatch."""
    model = make_model().to(torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    loss = model.loss(tiny_posts[:3])
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    loss.backward()
    [pred] = model.predict(tiny_posts[:1])
    assert pred.id == tiny_posts[0].id


def test_to_clears_the_side_cache(make_model, tiny_posts):
    model = make_model()
    model.loss(tiny_posts[:2])
    assert model.encoder._side_cache
    model.to(torch.float64)
    assert not model.encoder._side_cache


def test_device_choice():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not one of"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")


def test_inline_knowledge_changes_only_posts_with_knowledge_and_drops_with_it(make_model, tiny_posts):
    """``inline_knowledge_tokens`` adds no parameters: a post without knowledge is encoded exactly as before,
    one with knowledge differently (the encoder reads it), and knowledge dropout hides the appended tokens
    (dropout 1.0 in training = the post without knowledge)."""
    from dataclasses import replace

    with_k = replace(tiny_posts[0], knowledge=["Obama was the president of the United States."])
    without = replace(tiny_posts[1], knowledge=None)
    plain, inline = make_model(), make_model(inline_knowledge_tokens=32)
    assert set(plain.state_dict()) == set(inline.state_dict())
    inline.load_state_dict(plain.state_dict())
    for m in (plain, inline):
        m.eval()
    enc = {name: m.encoder(m.encoder.batch([with_k, without])) for name, m in (("plain", plain), ("inline", inline))}
    n1 = enc["plain"].n_words[1]
    assert torch.allclose(enc["plain"].words[1, :n1], enc["inline"].words[1, :n1], atol=1e-5)
    assert not torch.allclose(enc["plain"].words[0], enc["inline"].words[0], atol=1e-3)
    hidden = make_model(inline_knowledge_tokens=32, knowledge_dropout=0.999, head_dropout=0.0)
    hidden.load_state_dict(plain.state_dict())
    hidden.train()
    hidden.encoder.text.eval()  # no encoder dropout: only the knowledge dropout differs
    torch.manual_seed(1)
    dropped = hidden.encoder(hidden.encoder.batch([with_k]))
    ref = inline.encoder(_inline_masked(inline, with_k))
    assert dropped.know_visible == [False]
    assert torch.allclose(dropped.words[0], ref.words[0], atol=1e-5)
    # inline_knowledge_dropout overrides knowledge_dropout for a model reading the knowledge inline
    kept = make_model(inline_knowledge_tokens=32, knowledge_dropout=0.999, inline_knowledge_dropout=0.0, head_dropout=0.0)
    kept.load_state_dict(plain.state_dict())
    kept.train()
    kept.encoder.text.eval()
    torch.manual_seed(1)
    seen = kept.encoder(kept.encoder.batch([with_k]))
    assert seen.know_visible == [True]
    assert torch.allclose(seen.words[0], enc["inline"].words[0], atol=1e-5)


def _inline_masked(model, post):  # noqa: ANN001, ANN201
    """``post``'s encoding by ``model`` (eval) with its inline knowledge masked out, by hand."""
    batch = model.encoder.batch([post])
    batch.text_mask = batch.text_mask * (1 - batch.text_know)
    return batch


def test_inline_segment_reads_the_knowledge_as_segment_b(make_model, tiny_posts):
    """``inline_knowledge_segment`` adds no parameters and changes only how a post with knowledge is read: the
    same as giving the encoder token type 1 on the knowledge and its closing [SEP] by hand."""
    from dataclasses import replace

    with_k = replace(tiny_posts[0], knowledge=["Obama was the president of the United States."])
    without = replace(tiny_posts[1], knowledge=None)
    bare = {"inline_knowledge_tokens": 32, "soft_prompt_tokens": 0, "use_image": False}  # no prefix before the text
    inline, segment = make_model(**bare), make_model(**bare, inline_knowledge_segment=True)
    segment.load_state_dict(inline.state_dict())
    for m in (inline, segment):
        m.eval()
    batch = segment.encoder.batch([with_k, without])
    assert batch.text_know[0].sum() > 0 and batch.text_know[1].sum() == 0
    got = segment.encoder(batch)
    plain = inline.encoder(inline.encoder.batch([with_k, without]))
    n1 = got.n_words[1]
    assert torch.allclose(got.words[1, :n1], plain.words[1, :n1], atol=1e-5)
    assert not torch.allclose(got.words[0], plain.words[0], atol=1e-4)
    text = inline.encoder.text
    emb = text.get_input_embeddings()(batch.text_ids)
    if inline.encoder.shapes is not None:
        emb = emb + inline.encoder.shapes[batch.shape_ids]
    by_hand = text(inputs_embeds=emb, attention_mask=batch.text_mask, token_type_ids=batch.text_know).last_hidden_state
    onehot = batch.word_index[0].unsqueeze(0) == torch.arange(got.n_words[0]).unsqueeze(1)
    first_word = by_hand[0][onehot[0]].mean(0)
    assert torch.allclose(got.words[0, 0], first_word, atol=1e-5)


def test_inline_segment_needs_inline_knowledge():
    from kecpm.model.config import ModelConfig

    with pytest.raises(ConfigError, match="inline_knowledge_segment"):
        ModelConfig(inline_knowledge_segment=True)
