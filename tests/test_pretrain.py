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


def _tiny_twitter(shared_data, root, n: dict[str, int]):
    """The first posts of each Twitter-2017 part under ``root/twitter2017`` (a temporary folder)."""
    folder = root / "twitter2017"
    folder.mkdir(parents=True)
    for name, k in n.items():
        blocks = (shared_data / "twitter2017" / name).read_text(encoding="utf-8").split("\n\n")[:k]
        (folder / name).write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return root


@pytest.mark.realdata
def test_pretrain_without_test_scores_then_scores_the_cached_model(shared_data, tmp_path):
    import json

    from kecpm.pretrain import default_configs, pretrain_entities

    data = _tiny_twitter(shared_data, tmp_path / "data", {"train.txt": 16, "valid.txt": 6, "test.txt": 6})
    model, args = default_configs()
    args = args.replace(epochs=1, min_epochs=1, threads=1, progress=False, group_by_length=True,
                        tune_thresholds=False)
    path = pretrain_entities(["twitter2017"], data, model, args, tmp_path / "cache", score_test=False)
    record = json.loads((path.parent / "results.json").read_text())
    assert record["test"] is None and record["n_test"] == 0 and "test_by_dataset" not in record
    assert record["n_val"] == 0  # one epoch and no thresholds: val has nothing to choose, it is not read
    saved = (path / "config.json").stat().st_mtime_ns
    again = pretrain_entities(["twitter2017"], data, model, args, tmp_path / "cache")
    record = json.loads((path.parent / "results.json").read_text())
    assert again == path and (path / "config.json").stat().st_mtime_ns == saved  # not trained again
    assert set(record["test_by_dataset"]) == {"twitter2017"} and record["n_test"] == 6
    assert 0 <= record["test_by_dataset"]["twitter2017"]["entity_f1"] <= 1


def test_the_entity_models_cache_key_survives_the_select_window_default() -> None:
    """``train.select_window`` became 3 by default; the entity model keeps 1 (3 epochs leave no window),
    and its cache key is the one it had before the change, so cached entity models stay found."""
    import json

    from kecpm.hashing import sha256_bytes
    from kecpm.pretrain import cache_key, default_configs

    model, args = default_configs()
    files = {"twitter2017": {"train": "a", "val": "b", "test": "c"}}
    assert args.select_window == 1
    before = {"files": files, "model": model.non_default({"word_shapes": False, "knowledge_mentions": False}),
              "train": {"epochs": 3, "batch_size": 16, "min_epochs": 3, "patience": 0}}
    loop = args.replace(fused_adamw=False)  # how every entity model was trained before the fused kernel
    assert cache_key(files, model, loop) == sha256_bytes(json.dumps(before, sort_keys=True).encode())[:16]
    assert cache_key(files, model, loop.replace(select_window=3)) != cache_key(files, model, loop)
    # the fused kernel changes the last bits, so its models get keys of their own
    assert args.fused_adamw and cache_key(files, model, args) != cache_key(files, model, loop)
