from __future__ import annotations

from dataclasses import replace

import torch

from kecpm.data.schema import Post


def test_fusion_gate_starts_closed_so_knowledge_cannot_change_text_encoding(make_model, tiny_posts):
    model = make_model().eval()
    with_k = model.encoder.batch(tiny_posts[:2])
    bare = [replace(p, knowledge=None, caption=None) for p in tiny_posts[:2]]
    without = model.encoder.batch(bare)
    with torch.no_grad():
        assert torch.allclose(model.encoder(with_k).words, model.encoder(without).words, atol=1e-6)
        # the relation head's pair reader is gated the same way: the whole loss is the text-only one
        assert torch.allclose(model.loss(tiny_posts[:2]), model.loss(bare), atol=1e-6)
    assert model.heads["relation"].reader is not None


def test_save_load_gives_identical_predictions(make_model, tiny_posts, tmp_path):
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(3):  # move away from the initial state so the comparison means something
        opt.zero_grad()
        model.loss(tiny_posts).backward()
        opt.step()
    model.eval()
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "schema.json", "encoder", "heads.safetensors"}
    from kecpm.model.model import PromptModel

    loaded = PromptModel.load(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(model.loss(tiny_posts), loaded.loss(tiny_posts))
    a, b = model.predict(tiny_posts), loaded.predict(tiny_posts)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]


def test_post_without_image_or_knowledge_still_predicts(make_model):
    model = make_model()
    post = Post("x1", ["Obama", "visits", "Paris"], "", image_path=None, caption=None, knowledge=None)
    [pred] = model.predict([post])
    assert pred.id == "x1" and pred.tokens == post.tokens
    assert all(0 <= e.start < e.end <= 3 for e in pred.entities)


def test_training_loss_falls(make_model, tiny_posts):
    model = make_model(soft_prompt_tokens=2)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = model.loss(tiny_posts)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_schema_constraint_blocks_unseen_type_pairs(make_model, tiny_posts):
    model = make_model()
    r = model.labels.rel_index["member_of"]
    t = model.labels.type_index
    allowed = model.heads["relation"].allowed
    assert allowed[t["per"], t["org"], r] and not allowed[t["org"], t["per"], r]


def test_knowledge_is_read_by_a_frozen_cached_encoder(make_model, tiny_posts):
    model = make_model()
    side = model.encoder.side
    before = {k: v.clone() for k, v in side.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    opt.zero_grad()
    model.loss(tiny_posts).backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in side.state_dict().items())
    assert not any(p.requires_grad for p in side.parameters()) and not side.training
    assert len(model.encoder._side_cache) == len({(p.caption, tuple(p.knowledge or ())) for p in tiny_posts})
    assert min(model.gate_openness().values()) > 0  # both knowledge gates (fusion, pair reader) learn to open
