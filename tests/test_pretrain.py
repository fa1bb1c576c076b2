"""MNER (the entity task) on real Twitter lines."""

from __future__ import annotations

import pytest
import torch

from kecpm.data.folders import find_seed_splits
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel


@pytest.mark.realdata
def test_mner_model_tags_real_twitter_lines(shared_data, tmp_path):
    [sp] = find_seed_splits(shared_data / "twitter2017")
    train, test = sp.read("train")[:40], sp.read("test")[:20]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = PromptModel.create(ModelConfig(**schema_from_posts(train), task="mner", use_image=False,
                                           use_knowledge=False, soft_prompt_tokens=0))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    for _ in range(4):
        for i in range(0, len(train), 8):
            opt.zero_grad()
            model.loss(train[i:i + 8]).backward()
            opt.step()
    preds = model.predict(test)
    assert all(not p.triples for p in preds)
    assert set(model.labels.entity_types) == {"per", "loc", "org", "misc"}
    from kecpm.evaluate import score

    assert score(test, preds).entity.f1 > 0.1  # learned something from 40 posts
