"""Warm start from a trained model: type mapping, what is copied, errors, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.data.schema import Entity, Post, schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.folder import state_sha256
from kecpm.model.model import PromptModel
from kecpm.model.warm_start import map_type


def test_type_map_defaults_overrides_and_a_clear_error():
    targets = ["loc", "misc", "org", "per"]
    assert [map_type(t, targets, {}) for t in ("PER", "OTHER", "MISC", "org")] == ["per", "misc", "misc", "org"]
    assert map_type("EVENT", targets, {"EVENT": "misc"}) == "misc"
    assert map_type("EVENT", targets, {"EVENT": "none"}) is None
    with pytest.raises(ConfigError, match="'EVENT' .* has no match among loc, misc, org, per"):
        map_type("EVENT", targets, {})


def _mner_model(tiny_posts: list[Post], tmp_path: Path) -> Path:
    torch.manual_seed(0)
    ents = [Post(p.id, p.tokens, p.img_id, entities=[Entity(e.start, e.end, e.type.upper(), e.text)
                                                       for e in p.with_entities_from_triples().entities])
            for p in tiny_posts]
    model = PromptModel.create(ModelConfig(**schema_from_posts(ents), task="mner", use_image=False,
                                           use_knowledge=False, word_shapes=True))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        model.loss(ents).backward()
        opt.step()
    model.save(tmp_path / "mner")
    return tmp_path / "mner"


def test_warm_start_copies_encoder_and_span_head_by_type_name(tiny_posts, tmp_path):
    source = PromptModel.load(_mner_model(tiny_posts, tmp_path))
    cfg = ModelConfig(**schema_from_posts(tiny_posts), word_shapes=True, init_from=str(tmp_path / "mner"))
    model = PromptModel.create(cfg)
    assert model.warm_start_info["copied"] == ["encoder", "word shapes", "soft prompt", "span head"]
    assert model.warm_start_info["sha256"] == state_sha256(source)  # the source's weights, as saved and loaded
    src_text, dst_text = source.encoder.text.state_dict(), model.encoder.text.state_dict()
    assert all(torch.equal(src_text[k], v) for k, v in dst_text.items())
    sv, dv = source.heads["span"].verbalizer, model.heads["span"].verbalizer
    for t in model.labels.entity_types:  # "PER" in the source is "per" here
        s, d = source.labels.entity_types.index(t.upper()) + 1, model.labels.entity_types.index(t) + 1
        assert torch.equal(sv.labels[s], dv.labels[d])
    # save/load of the warm-started model gives identical predictions
    model.eval().save(tmp_path / "jmere")
    again = PromptModel.load(tmp_path / "jmere")
    assert [p.to_dict() for p in again.predict(tiny_posts)] == [p.to_dict() for p in model.predict(tiny_posts)]


def test_init_from_a_folder_that_is_not_a_model(tiny_posts, tmp_path):
    with pytest.raises(ConfigError, match="not a kecpm model folder"):
        PromptModel.create(ModelConfig(**schema_from_posts(tiny_posts), init_from=str(tmp_path)))
