"""MoRe's experts over retrieved passages (kecpm.model.experts): variants, mixing gate, the base model
untouched when retrieval is off, save / load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.data.schema import Post
from kecpm.hashing import sha256_file
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.retrieval.index import cache_root

FACTS = ["Barack Obama was the 44th president of the United States.", "Angela Merkel was chancellor of Germany.",
         "Lionel Messi plays football for Barcelona.", "Kobe Bryant played basketball for the Lakers."]


@pytest.fixture()
def corpus(tmp_path: Path, tiny_posts: list[Post]) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": p.id, "text": p.text} for p in tiny_posts] + [{"text": t} for t in FACTS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _step(model: PromptModel, posts: list[Post], lr: float = 1e-3) -> float:
    torch.manual_seed(1)  # the same dropout masks for every model
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    opt.zero_grad()
    loss = model.loss(posts)
    loss.backward()
    opt.step()
    return loss.item()


def test_retrieval_off_is_the_base_model(make_model, tiny_posts):
    base = make_model()
    rng = torch.random.get_rng_state()
    other = make_model(retrieval_top_k=7, retrieval_embedder="no/such-model")
    assert torch.equal(rng, torch.random.get_rng_state())  # no extra RNG draw
    names = [n for n, _ in base.named_parameters()]
    assert names == [n for n, _ in other.named_parameters()] and not any("experts" in n for n in names)
    assert base.encoder.experts is None and set(base.knowledge_gates()) == {"gate", "pair_gate"}
    assert _step(base, tiny_posts) == _step(other, tiny_posts)
    with torch.no_grad():  # after the step
        assert torch.equal(base.eval().loss(tiny_posts), other.eval().loss(tiny_posts))
    batch = base.encoder.batch(tiny_posts)
    assert batch.visual_ids is None and batch.side_ids is not None


def test_a_new_retrieval_model_starts_as_the_base_model(make_model, tiny_posts, corpus):
    base = make_model().eval()
    more = make_model(retrieval=str(corpus), experts="mix").eval()
    with torch.no_grad():  # the readers' gates start closed, the mix at 0.5 / 0.5, the heads as the base model's
        assert torch.allclose(base.loss(tiny_posts), more.loss(tiny_posts), atol=1e-6)
    assert set(more.knowledge_gates()) == {"pair_gate", "text_gate", "visual_gate"}
    gate_ids = {id(p) for p in more.parameter_groups()["gate"]}
    assert all(id(r.gate) in gate_ids for r in more.encoder.experts.readers.values())


def test_mix_weights_sum_to_one():
    from kecpm.model.experts import Experts

    experts = Experts(ModelConfig(retrieval="unused.jsonl", experts="mix"), 16, layout=None)  # type: ignore[arg-type]
    torch.manual_seed(1)
    torch.nn.init.normal_(experts.mix.weight)
    outs = [torch.randn(5, 7, 16), torch.randn(5, 7, 16)]
    words = torch.rand(5, 7) > 0.3
    w = experts.weights(outs, words)
    assert w.shape == (5, 2) and torch.allclose(w.sum(-1), torch.ones(5)) and bool((w > 0).all())
    assert not torch.allclose(w, torch.full_like(w, 0.5))


@pytest.mark.parametrize("experts", ["text", "visual", "mix"])
def test_each_expert_variant_trains_one_step_and_predicts(experts, make_model, tiny_posts, corpus):
    model = make_model(retrieval=str(corpus), experts=experts, soft_prompt_tokens=2)
    readers = model.encoder.experts.readers
    assert list(readers) == (["text", "visual"] if experts == "mix" else [experts])
    batch = model.encoder.batch(tiny_posts[:1])
    tok = model.encoder.tokenizer
    if "text" in readers:  # knowledge, then passages retrieved by the text (never the post itself)
        side = tok.decode(batch.side_ids[0][batch.side_mask[0].bool()])
        assert "well known" in side and "obama was the 44th president" in side
        assert "barack obama meets angela merkel" not in side
    if "visual" in readers:  # the caption, then passages retrieved by it
        side = tok.decode(batch.visual_ids[0][batch.visual_mask[0].bool()])
        assert side.startswith("[CLS] a photo of people [SEP]") and "well known" not in side
    loss = model.loss(tiny_posts)
    loss.backward()
    assert torch.isfinite(loss) and all(r.gate.grad is not None and r.gate.grad.abs().sum() > 0
                                        for r in readers.values())
    if experts == "mix":
        w = model.encoder.experts.last_weights
        assert w is not None and torch.allclose(w.sum(-1), torch.ones(len(tiny_posts)))
    preds = model.predict(tiny_posts)
    assert [p.id for p in preds] == [p.id for p in tiny_posts]


def test_saved_retrieval_model_predicts_the_same(make_model, tiny_posts, corpus, tmp_path):
    model = make_model(retrieval=str(corpus), experts="mix", soft_prompt_tokens=2)
    for _ in range(2):
        _step(model, tiny_posts, lr=1e-2)
    model.eval().save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["retrieval"] == str(corpus) and saved["retrieval_sha256"] == sha256_file(corpus)
    want = [p.to_dict() for p in model.predict(tiny_posts)]
    assert [p.to_dict() for p in PromptModel.load(tmp_path / "m").predict(tiny_posts)] == want
    shutil.rmtree(cache_root())  # no cached index: rebuilt from the corpus
    assert [p.to_dict() for p in PromptModel.load(tmp_path / "m").predict(tiny_posts)] == want
    shutil.rmtree(cache_root())
    corpus.unlink()  # neither: one clear error
    with pytest.raises(FileNotFoundError, match="retrieval corpus not found.*put the file back"):
        PromptModel.load(tmp_path / "m").predict(tiny_posts)


def test_retrieval_options_are_validated():
    with pytest.raises(ConfigError, match="experts: 'both' is not one of text, visual, mix"):
        ModelConfig(experts="both")
    with pytest.raises(ConfigError, match="retrieval_top_k must be positive"):
        ModelConfig(retrieval="c.jsonl", retrieval_top_k=0)
    with pytest.raises(ConfigError, match="MMIB"):
        ModelConfig(retrieval="c.jsonl", ib_weight=0.1)
    with pytest.raises(FileNotFoundError, match="retrieval corpus not found"):
        PromptModel(ModelConfig(retrieval="no/such/corpus.jsonl", entity_types=["per"], relations=["peer"]))
