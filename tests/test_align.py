"""PROMU alignment pre-training (`kecpm pretrain-align`): pseudo-labels, losses, images, output, cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kecpm.align import Aligner, candidate_spans
from kecpm.align_config import AlignConfig
from kecpm.cli import app
from kecpm.config import ConfigError
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.schema import Post
from kecpm.model.config import ModelConfig
from kecpm.model.folder import read_heads
from kecpm.model.model import PromptModel
from kecpm.pretrain_align import model_config, pretrain_align

TINY = Path(__file__).parent / "model" / "tiny_posts.jsonl"
SMALL = {"soft_prompt_tokens": 2, "visual_tokens": 2}


def _aligner(**align: object) -> Aligner:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return Aligner(PromptModel.create(model_config(SMALL)), AlignConfig(**align))


def _png(path: Path, colour: tuple[int, int, int]) -> str:
    from PIL import Image

    Image.new("RGB", (40, 30), colour).save(path, format="PNG")
    return str(path)


def test_candidate_spans_are_name_like_words_or_all_spans():
    tokens = ["RT", "@nytimes", ":", "Rafael", "Nadal", "in", "Madrid"]
    assert candidate_spans(tokens, 3) == [(1, 2), (3, 4), (3, 5), (4, 5), (6, 7)]  # "RT" is no name
    assert candidate_spans(["messi", "joins", "psg"], 2) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]


def test_soft_pseudo_labels_are_distributions_and_the_losses_finite():
    aligner = _aligner()
    posts = [p for p in read_jsonl(TINY) if p.caption][:4]
    aligner.model.train()
    losses = aligner.losses(posts)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values()), losses
    for post in posts:
        tg = aligner._targets[post.id]
        n_caption = len(aligner.model.encoder.tokenizer.encode(post.caption, add_special_tokens=False))
        assert tg.entity.shape == (len(tg.spans), n_caption)  # one column per caption subword (a region)
        assert torch.allclose(tg.entity.sum(-1), torch.ones(len(tg.spans)))
        assert tg.relation.shape == (len(aligner.model.labels.relations),)
        assert torch.allclose(tg.relation.sum(), torch.tensor(1.0))
        assert not tg.entity.requires_grad and not tg.relation.requires_grad
    sharp = aligner.sharpness()
    assert 0 < sharp["entity_entropy"] <= 1 and 0 < sharp["relation_entropy"] <= 1


def test_the_loss_decreases_on_a_tiny_batch():
    aligner = _aligner()
    model = aligner.model
    posts = [p for p in read_jsonl(TINY) if p.caption][:4]
    model.eval()  # no dropout: the same batch gives the same loss but for the updates
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    # small rates: a first Adam step at 1e-3 moves every projection weight at once (the loop warms up)
    groups = [{"params": params, "lr": 2e-5}, {"params": list(aligner.parameters()), "lr": 1e-4}]
    opt = torch.optim.AdamW(groups)
    seen = []
    for _ in range(5):
        loss = aligner.losses(posts)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen.append(float(loss.detach()))
    assert seen[-1] < 0.9 * seen[0], seen
    assert float(model.encoder.fusion.gate.abs().max()) == 0.0  # the caption fusion stays shut


def test_images_are_the_regions_when_readable(tmp_path):
    aligner = _aligner()
    base = read_jsonl(TINY)[0]
    img = _png(tmp_path / "a.png", (200, 30, 60))
    posts = [replace(base, id="img", image_path=img, caption=None),
             replace(base, id="img2", image_path=_png(tmp_path / "b.png", (10, 90, 220)),
                     caption="a red square"),
             replace(base, id="broken-cap", image_path=str(tmp_path / "missing.png"), caption="a photo"),
             replace(base, id="broken", image_path=str(tmp_path / "missing.png"), caption=None),
             replace(base, id="nothing", image_path=None, caption="  ")]
    assert [aligner.usable(p) for p in posts] == ["image", "image", "caption", None, None]
    losses = aligner.losses(posts[:3])
    assert all(torch.isfinite(v) for v in losses.values())
    assert aligner._targets["img"].entity.size(1) == SMALL["visual_tokens"]  # the visual prefix vectors
    assert aligner._targets["img2"].entity.size(1) == SMALL["visual_tokens"]  # the image before the caption
    assert aligner._targets["broken-cap"].entity.size(1) == 2  # unreadable image: the subwords of "a photo"
    assert losses["entity"].requires_grad
    weight = aligner.model.encoder.visual.proj[1].weight
    grads = torch.autograd.grad(losses["entity"], weight, allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0  # the image path reaches the visual prefix


def test_pretrain_align_writes_a_warm_start_folder_and_caches_it(tmp_path, monkeypatch):
    posts = read_jsonl(TINY)
    pairs = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, posts)  # 4 with a caption, 4 without (and no image): skipped
    cfg = AlignConfig(max_posts=3, batch_size=2, threads=1, progress=False)
    path = pretrain_align([pairs], model_config(SMALL), cfg, out=tmp_path / "align")
    assert path == tmp_path / "align" / "model"
    done = json.loads((tmp_path / "align" / "align.json").read_text())
    assert done["posts"] == {"caption": 4, "image": 0, "skipped": 4, "used": 3}
    assert (tmp_path / "align" / "align.config.json").exists()
    saved = PromptModel.load(path)
    assert saved.config.task.value == "jmere" and len(saved.labels.relations) == 21
    projections = ("span_proj", "region_proj", "text_proj", "nce_text", "nce_image")  # the Aligner's
    assert not [k for k in read_heads(path)[0] if k.split(".")[0] in projections]
    # kecpm train --init-from: encoder, word shapes, soft prompt and span head come from it
    new = PromptModel.create(ModelConfig(entity_types=["per", "org", "loc", "misc"], relations=["peer"],
                                         soft_prompt_tokens=2, init_from=str(path)))
    assert new.warm_start_info["copied"] == ["encoder", "word shapes", "soft prompt", "span head"]
    src = saved.encoder.text.state_dict()
    assert all(torch.equal(v, src[k]) for k, v in new.encoder.text.state_dict().items())
    # a model aligned from it takes its settings
    assert model_config({"init_from": str(path)}).soft_prompt_tokens == 2

    # the same inputs again, through the CLI: the cached folder as the last line, nothing trained
    monkeypatch.setattr("kecpm.pretrain_align.train_alignment", lambda *a: pytest.fail("trained again"))
    args = ["pretrain-align", "--pairs", str(pairs), "--out", str(tmp_path / "align"), "--threads", "1",
            *[f"--set=model.{k}={v}" for k, v in SMALL.items()],
            "--set", "align.max_posts=3", "--set", "align.batch_size=2", "--set", "align.progress=false"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines()[-1] == str(path)


def test_default_output_is_cached_by_input_hash(tmp_path, _isolated_cache, monkeypatch):
    pairs = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, [p for p in read_jsonl(TINY) if p.caption][:2])
    cfg = AlignConfig(batch_size=2, threads=1, progress=False)
    path = pretrain_align([pairs], model_config(SMALL), cfg)
    assert path.parent.parent == _isolated_cache / "align-models" and (path / "heads.safetensors").exists()
    monkeypatch.setattr("kecpm.pretrain_align.train_alignment", lambda *a: pytest.fail("trained again"))
    assert pretrain_align([pairs], model_config(SMALL), cfg) == path


def test_no_usable_post_and_bad_settings_are_errors(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, [Post(p.id, p.tokens, p.img_id) for p in read_jsonl(TINY)])
    with pytest.raises(ConfigError, match="none of the 8 posts has a caption or a readable image"):
        pretrain_align([pairs], model_config(SMALL), AlignConfig(threads=1), out=tmp_path / "x")
    with pytest.raises(ConfigError, match="use_image"):
        model_config({"use_image": False})
    with pytest.raises(ConfigError, match="temperature"):
        AlignConfig(teacher_temperature=0)
