"""Unlabelled posts: labels dropped when read, the split's own posts left out, bad files named."""

from __future__ import annotations

from pathlib import Path

import pytest

from kecpm.config import ConfigError
from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.train.adapt import AdaptConfig, read_unlabelled, strip_labels

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def test_labels_never_survive_reading(tmp_path):
    posts = read_jsonl(TINY)
    write_jsonl(tmp_path / "u.jsonl", posts)
    got = read_unlabelled(tmp_path / "u.jsonl", exclude=posts[:2], limit=100)
    assert len(got) == len(posts) - 2
    assert all(not p.triples and not p.entities for p in got)
    assert {p.id for p in got}.isdisjoint({p.id for p in posts[:2]})
    given = strip_labels(posts[0], keep_entities=True)
    assert not given.triples and given.entities  # relation extraction keeps its input entities


def test_sample_is_fixed_and_limited(tmp_path):
    posts = read_jsonl(TINY)
    write_jsonl(tmp_path / "u.jsonl", posts)
    a = read_unlabelled(tmp_path / "u.jsonl", [], limit=3)
    assert [p.id for p in a] == [p.id for p in read_unlabelled(tmp_path / "u.jsonl", [], limit=3)]
    assert len(a) == 3


def test_nothing_left_and_malformed_files_are_one_line(tmp_path):
    posts = read_jsonl(TINY)
    write_jsonl(tmp_path / "u.jsonl", posts)
    with pytest.raises(ConfigError, match="no unlabelled post left"):
        read_unlabelled(tmp_path / "u.jsonl", posts, limit=10)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(TINY.read_text().splitlines()[0] + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        read_unlabelled(bad, [], limit=10)


def test_config_is_validated():
    assert not AdaptConfig().active and AdaptConfig(unlabelled="x").active
    with pytest.raises(ConfigError):
        AdaptConfig(max_unlabelled=0)


@pytest.mark.slow
def test_a_run_with_unlabelled_posts_records_the_correction(tmp_path):
    import json

    from kecpm.data.folders import find_seed_splits
    from kecpm.model.config import ModelConfig
    from kecpm.model.model import PromptModel
    from kecpm.train import TrainConfig, train_splits

    posts = read_jsonl(TINY)
    for part, sub in (("train", posts[:6]), ("val", posts[5:]), ("test", posts[4:])):
        write_jsonl(tmp_path / "splits" / "seed1" / f"{part}.jsonl", sub)
    poison = [p.__class__(p.id + "x", p.tokens + ["again"], p.img_id, entities=p.entities, triples=p.triples)
              for p in posts]
    write_jsonl(tmp_path / "unlabelled.jsonl", poison)
    [rec] = train_splits(find_seed_splits(tmp_path / "splits"), ModelConfig(use_image=False, soft_prompt_tokens=2),
                         TrainConfig(epochs=2, batch_size=4, threads=1, progress=False), tmp_path / "run",
                         adapt_config=AdaptConfig(unlabelled=str(tmp_path / "unlabelled.jsonl")))
    assert rec["n_unlabelled"] == len(posts)
    assert set(rec["prior_shift"]["shift"]) == set(rec["prior_shift"]["source"])
    assert "rel_strict_f1" in rec["test_before_adapt"]
    cfg = json.loads((tmp_path / "run" / "seed1" / "config.json").read_text())
    assert cfg["adapt"]["unlabelled"].endswith("unlabelled.jsonl")
    saved = PromptModel.load(tmp_path / "run" / "seed1" / "model")
    assert saved.config.relation_prior_shift == rec["prior_shift"]["shift"]


@pytest.mark.slow
def test_self_training_cannot_see_the_labels_of_unlabelled_posts(tmp_path):
    """Two unlabelled files with the same posts, one with wrong labels: the same pseudo-labels and scores."""
    import random

    from kecpm.data.folders import find_seed_splits
    from kecpm.model.config import ModelConfig
    from kecpm.train import TrainConfig, train_splits

    posts = read_jsonl(TINY)
    for part, sub in (("train", posts[:6]), ("val", posts[5:]), ("test", posts[4:])):
        write_jsonl(tmp_path / "splits" / "seed1" / f"{part}.jsonl", sub)
    fresh = [p.__class__(p.id + "u", p.tokens + ["!"], p.img_id) for p in posts]
    rng = random.Random(0)
    rels = sorted({t.relation for p in posts for t in p.triples})
    poison = [p.__class__(f.id, f.tokens, f.img_id, triples=[t.__class__(t.tail, rng.choice(rels), t.head)
                                                           for t in p.triples]) for f, p in zip(fresh, posts, strict=True)]
    write_jsonl(tmp_path / "clean.jsonl", fresh)
    write_jsonl(tmp_path / "poison.jsonl", poison)
    recs = []
    for name in ("clean", "poison"):
        [rec] = train_splits(find_seed_splits(tmp_path / "splits"),
                             ModelConfig(use_image=False, soft_prompt_tokens=2, entity_threshold=1.0,
                                         relation_threshold=1.0),  # say something, however unsure
                             TrainConfig(epochs=1, batch_size=4, threads=1, progress=False, seed=3,
                                         tune_thresholds=False),
                             tmp_path / name, adapt_config=AdaptConfig(unlabelled=str(tmp_path / f"{name}.jsonl"),
                                                                       self_train_rounds=1, self_train_precision=0.01))
        recs.append(rec)
    assert recs[0]["self_train"][0]["posts"] == recs[1]["self_train"][0]["posts"] > 0
    assert recs[0]["test"] == recs[1]["test"]
    pseudo = [(tmp_path / n / "seed1" / "round1" / "pseudo.jsonl").read_text() for n in ("clean", "poison")]
    assert pseudo[0] == pseudo[1]
    assert (tmp_path / "clean" / "seed1" / "model" / "config.json").exists()
