"""Inference precision: bf16 autocast and int8 encoders predict the same posts; int8 cannot be saved."""

from __future__ import annotations

import pytest
import torch

from kecpm.config import ConfigError


def test_bf16_and_int8_predict_every_post(make_model, tiny_posts, tmp_path) -> None:
    model = make_model(soft_prompt_tokens=2, entity_threshold=0.999)
    fp32 = model.predict(tiny_posts)
    bf16 = model.set_precision("bf16").predict(tiny_posts)
    assert [p.id for p in bf16] == [p.id for p in fp32]
    # the spans found are (nearly) the same: at threshold 0.999 almost every span is an entity
    same = sum(len({(e.start, e.end) for e in a.entities} & {(e.start, e.end) for e in b.entities})
               for a, b in zip(fp32, bf16, strict=True))
    assert same >= 0.9 * sum(len(a.entities) for a in fp32) > 0
    model.set_precision("int8")
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.encoder.text.modules())
    assert len(model.predict(tiny_posts)) == len(tiny_posts)
    with pytest.raises(ConfigError, match="int8"):
        model.save(tmp_path / "m")


def test_unknown_precision_is_a_config_error(make_model) -> None:
    with pytest.raises(ConfigError, match="fp16"):
        make_model(soft_prompt_tokens=2).set_precision("fp16")


def test_fp32_is_the_default_and_changes_nothing(make_model, tiny_posts) -> None:
    model = make_model(soft_prompt_tokens=2)
    assert model.precision == "fp32"
    a = model.predict(tiny_posts)
    assert torch.is_grad_enabled()
    assert [p.to_dict() for p in model.set_precision("fp32").predict(tiny_posts)] == [p.to_dict() for p in a]
