"""MMIB's regularisers (kecpm.model.mmib): off = the base model exactly; bottleneck KL, alignment InfoNCE."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from kecpm.config import ConfigError, parse_overrides
from kecpm.data.schema import Post
from kecpm.model.config import ModelConfig


def _one_step_then_loss(model, posts: list[Post]) -> torch.Tensor:
    """The training loss after one AdamW step, from fixed RNG states (dropout, knowledge dropout, noise)."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(1)
    opt.zero_grad()
    model.loss(posts).backward()
    opt.step()
    torch.manual_seed(2)
    return model.loss(posts).detach()


def test_off_is_exactly_the_base_model(make_model, tiny_posts):
    base, off = make_model(), make_model(ib_weight=0.0, align_weight=0.0)
    assert off.encoder.mmib is None
    assert [n for n, _ in off.named_parameters()] == [n for n, _ in base.named_parameters()]
    assert not off.encoder(off.encoder.batch(tiny_posts)).aux
    assert torch.equal(_one_step_then_loss(off, tiny_posts), _one_step_then_loss(base, tiny_posts))


def test_on_adds_only_its_own_parameters_and_starts_near_the_base_model(make_model, tiny_posts):
    base, on = make_model(), make_model(ib_weight=0.1, align_weight=0.1)
    base_state, on_state = base.state_dict(), on.state_dict()
    added = set(on_state) - set(base_state)
    assert added and all(k.startswith("encoder.mmib.") for k in added) and set(base_state) <= set(on_state)
    # built without drawing from the global RNG: every other parameter starts as in the base model
    assert all(torch.equal(v, on_state[k]) for k, v in base_state.items())
    base.eval(), on.eval()
    with torch.no_grad():  # eval: z = mu = identity at the start
        a, b = base.encoder(base.encoder.batch(tiny_posts)), on.encoder(on.encoder.batch(tiny_posts))
    assert torch.allclose(a.words, b.words, atol=1e-6)


def test_bottleneck_kl_is_positive_and_eval_is_deterministic(make_model, tiny_posts):
    model = make_model(ib_weight=0.1)
    enc = model.encoder
    assert enc.mmib is not None and enc.mmib.align_text is None  # alignment off
    model.train()
    out = enc(enc.batch(tiny_posts))
    assert set(out.aux) == {"ib_text", "ib_side", "ib_image"}
    for name in ("ib_text", "ib_side"):
        assert torch.isfinite(out.aux[name]) and out.aux[name] > 0, name
    assert out.aux["ib_image"] == 0  # no post has an image file: nothing to squeeze there
    assert not torch.equal(out.words, enc(enc.batch(tiny_posts)).words)  # sampled in training
    model.loss(tiny_posts).backward()
    assert enc.mmib.text.logvar.bias.grad is not None and enc.mmib.text.logvar.bias.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert torch.equal(enc(enc.batch(tiny_posts)).words, enc(enc.batch(tiny_posts)).words)
    first, second = model.predict(tiny_posts), model.predict(tiny_posts)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in second]


def test_every_tensor_follows_the_model(make_model, tiny_posts):
    model = make_model(ib_weight=0.1, align_weight=0.1).to(torch.float64)
    loss = model.loss(tiny_posts[:3])
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    loss.backward()


def test_alignment_is_zero_for_one_post_and_positive_for_posts_with_captions(make_model, tiny_posts):
    model = make_model(align_weight=0.5).eval()
    enc = model.encoder
    captioned = [p for p in tiny_posts if p.caption]
    bare = [p for p in tiny_posts if not p.caption]
    assert len(captioned) >= 3 and bare and not any(p.image_path for p in tiny_posts)
    with torch.no_grad():
        assert set(enc(enc.batch(captioned)).aux) == {"align"}  # no bottleneck without ib_weight
        assert enc(enc.batch(captioned[:1])).aux["align"] == 0
        # posts with neither image nor caption are left out of the InfoNCE batch: one post remains
        assert enc(enc.batch([captioned[0], *bare])).aux["align"] == 0
        align = enc(enc.batch(captioned)).aux["align"]
    assert torch.isfinite(align) and align > 0
    model.train()
    loss = model.loss(captioned)
    loss.backward()
    assert enc.mmib.align_visual.weight.grad is not None and enc.mmib.align_visual.weight.grad.abs().sum() > 0


@pytest.fixture()
def image_posts(tiny_posts: list[Post], tmp_path: Path) -> list[Post]:
    """Four posts with a tiny generated PNG each (different colours and patterns), captions removed."""
    from PIL import Image

    out = []
    for i, post in enumerate(tiny_posts[:4]):
        img = Image.new("RGB", (48, 40), (60 * i, 255 - 50 * i, (90 * i) % 256))
        for x in range(0, 48, 4 + 2 * i):
            for y in range(40):
                img.putpixel((x, y), (255, 255, 255))
        path = tmp_path / f"img{i}.png"
        img.save(path)
        out.append(replace(post, image_path=str(path), caption=None))
    return out


def test_alignment_reads_image_features_when_posts_have_images(make_model, image_posts):
    torch.set_num_threads(1)
    model = make_model(ib_weight=0.1, align_weight=0.5).eval()
    enc = model.encoder
    with torch.no_grad():
        out = enc(enc.batch(image_posts))
        # without the images (and captions) nothing is left to align with
        none = enc(enc.batch([replace(p, image_path=None) for p in image_posts]))
        # an image wins over a caption: adding captions changes neither the text nor the visual side
        captioned = enc(enc.batch([replace(p, caption="a photo of people") for p in image_posts]))
    assert not enc.visual.unreadable
    assert torch.isfinite(out.aux["align"]) and out.aux["align"] > 0
    assert out.aux["ib_image"] > 0 and none.aux["ib_image"] == 0
    assert none.aux["align"] == 0
    assert torch.allclose(captioned.aux["align"], out.aux["align"], atol=1e-6)
    model.train()
    model.loss(image_posts).backward()
    assert enc.mmib.image.logvar.bias.grad.abs().sum() > 0


def test_a_model_with_the_regularisers_saves_loads_and_predicts_the_same(make_model, tiny_posts, tmp_path):
    model = make_model(ib_weight=0.1, align_weight=0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        model.loss(tiny_posts).backward()
        opt.step()
    model.eval()
    model.save(tmp_path / "m")
    from kecpm.model.model import PromptModel

    loaded = PromptModel.load(tmp_path / "m")
    assert loaded.config.ib_weight == 0.1 and loaded.config.align_weight == 0.1
    assert loaded.encoder.mmib is not None
    for k, v in model.encoder.mmib.state_dict().items():
        assert torch.equal(v, loaded.encoder.mmib.state_dict()[k]), k
    with torch.no_grad():
        assert torch.equal(model.loss(tiny_posts), loaded.loss(tiny_posts))
    a, b = model.predict(tiny_posts), loaded.predict(tiny_posts)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]


def test_options_are_validated_and_reachable_with_set(tmp_path):
    for bad in ({"ib_weight": -0.1}, {"align_weight": -1.0}, {"ib_weight": float("nan")},
                {"align_temperature": 0.0}, {"align_weight": 0.1, "use_image": False}):
        name = next(iter(bad))
        with pytest.raises(ConfigError, match=name):
            ModelConfig.from_dict(bad)
    items = ["model.ib_weight=0.1", "model.align_weight=1", "model.align_temperature=0.05"]
    config = ModelConfig.from_dict(parse_overrides(items, ("model", "train"))["model"])
    assert (config.ib_weight, config.align_weight, config.align_temperature) == (0.1, 1.0, 0.05)
    assert isinstance(config.align_weight, float)
    # a config saved before these options loads with both off
    path = tmp_path / "config.json"
    ModelConfig().save(path)
    data = json.loads(path.read_text())
    for key in ("ib_weight", "align_weight", "align_temperature"):
        del data[key]
    path.write_text(json.dumps(data))
    old = ModelConfig.load(path)
    assert old.ib_weight == 0.0 and old.align_weight == 0.0
