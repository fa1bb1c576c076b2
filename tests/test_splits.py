"""The greedy few-shot sampler, split configs and manifests, on small in-process data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kecpm.config import ConfigError
from kecpm.data.schema import Entity, Post, Triple, post_id, relation_counts
from kecpm.manifest import check_split_folder, make_manifest, write_split_folder
from kecpm.splits import (
    SplitConfig,
    build_splits,
    entity_type_counts,
    fraction_targets,
    greedy_sample,
    kshot_targets,
    load_sources,
    sample_posts,
    split_bytes,
    total_variation,
)


def make_post(i: int, relations: list[str]) -> Post:
    """A post with one (per, relation, per) triple per entry of ``relations``."""
    tokens = [f"w{i}_{j}" for j in range(2 * len(relations) + 1)]
    triples = [Triple(Entity(2 * j, 2 * j + 1, "per", tokens[2 * j]), rel, Entity(2 * j + 1, 2 * j + 2, "per",
                                                                                 tokens[2 * j + 1]))
               for j, rel in enumerate(relations)]
    return Post(post_id(f"{i}.jpg", tokens), tokens, f"{i}.jpg", triples=triples).with_entities_from_triples()


def pool() -> list[Post]:
    """200 posts: 'peer' common, 'couple' medium, 'race' rare (3 triples), some posts with two triples."""
    posts = []
    for i in range(200):
        rels = ["peer"] if i % 4 else ["couple"]
        if i % 10 == 0:
            rels.append("member_of")
        if i in (7, 77, 177):
            rels.append("race")
        posts.append(make_post(i, rels))
    return posts


def test_kshot_has_at_least_k_of_every_relation_and_reports_short() -> None:
    posts = pool()
    sample = greedy_sample(posts, kshot_targets(relation_counts(posts), 5), seed=17)
    counts = relation_counts(sample.posts)
    assert counts["race"] == 3  # all there is
    assert all(counts[r] >= 5 for r in ("peer", "couple", "member_of"))
    assert sample.short == {"race": 5}
    assert sample.targets["race"] == 3 and sample.targets["peer"] == 5
    ids = [p.id for p in sample.posts]
    assert ids == [p.id for p in posts if p.id in set(ids)]  # written in source order
    assert len(set(ids)) == len(ids) < 40


def test_rarest_relation_is_served_first() -> None:
    """Every 'rare' post also has a 'common' triple: serving 'rare' first needs no extra post."""
    posts = [make_post(i, ["peer", "race"] if i < 3 else ["peer"]) for i in range(50)]
    for seed in range(10):
        sample = greedy_sample(posts, kshot_targets(relation_counts(posts), 1), seed)
        assert len(sample.posts) == 1 and relation_counts(sample.posts)["race"] == 1


def test_same_seed_same_choice_whatever_the_input_order() -> None:
    posts = pool()
    a = greedy_sample(posts, kshot_targets(relation_counts(posts), 5), seed=67)
    b = greedy_sample(list(reversed(posts)), kshot_targets(relation_counts(posts), 5), seed=67)
    assert {p.id for p in a.posts} == {p.id for p in b.posts}
    again = greedy_sample(posts, kshot_targets(relation_counts(posts), 5), seed=67)
    assert split_bytes(a.posts) == split_bytes(again.posts)
    others = {frozenset(p.id for p in greedy_sample(posts, a.targets, seed=s).posts) for s in (17, 97, 1, 2)}
    assert frozenset(p.id for p in a.posts) not in others


SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_splits import pool
from kecpm.data.schema import relation_counts
from kecpm.splits import greedy_sample, kshot_targets, split_bytes
posts = pool()
s = greedy_sample(posts, kshot_targets(relation_counts(posts), 5), 97)
print(hashlib.sha256(split_bytes(s.posts)).hexdigest())
"""


def test_bytes_do_not_depend_on_hash_randomisation() -> None:
    script = SCRIPT.format(tests=str(Path(__file__).parent))
    digests = set()
    for hash_seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_fraction_targets_and_sample() -> None:
    assert fraction_targets({"a": 960, "b": 6, "c": 10, "d": 50}, 0.07) == {"a": 67, "b": 1, "c": 1, "d": 4}
    assert fraction_targets({"e": 10}, 0.05) == {"e": 1} and fraction_targets({"f": 30}, 0.05) == {"f": 2}
    posts = pool()
    sample = sample_posts(posts, SplitConfig(fraction=0.2, seed=17))
    counts, source = relation_counts(sample.posts), relation_counts(posts)
    assert all(counts[r] >= t for r, t in fraction_targets(source, 0.2).items())
    assert 0.15 <= len(sample.posts) / len(posts) <= 0.3
    assert total_variation(counts, source) < 0.1


def test_total_variation() -> None:
    assert total_variation({"a": 2, "b": 2}, {"a": 1, "b": 1}) == 0.0
    assert total_variation({"a": 1}, {"b": 5}) == 1.0
    assert total_variation({"a": 1, "b": 1}, {"a": 3, "b": 1}) == pytest.approx(0.25)


def test_split_config_validates_and_names_folders(tmp_path: Path) -> None:
    assert SplitConfig().folder == Path("fewshot_splits/mnre/K5/seed17")
    assert SplitConfig(fraction=0.07, seed=67, dataset="jmere").folder == Path("fewshot_splits/jmere/F0.07/seed67")
    for bad in ({"k": 0}, {"fraction": 0.0}, {"fraction": 1.5}, {"dataset": "../x"}):
        with pytest.raises(ConfigError):
            SplitConfig(**bad)
    cfg = SplitConfig(k=3, seed=5, out=str(tmp_path))
    cfg.save(tmp_path / "config.json")
    assert SplitConfig.load(tmp_path / "config.json") == cfg


# --- a tiny MNRE folder and manifests ------------------------------------------------------------

def _mnre_line(i: int, rel: str) -> str:
    tokens = [f"t{i}", "and", f"u{i}", "."]
    return repr({"token": tokens, "h": {"name": tokens[0], "pos": [0, 1]}, "t": {"name": tokens[2], "pos": [2, 3]},
                 "img_id": f"{i}.jpg", "relation": rel}) + "\n"


@pytest.fixture
def tiny_mnre(tmp_path: Path) -> Path:
    folder = tmp_path / "mnre"
    folder.mkdir()
    rels = ["/per/per/peer", "/per/per/couple", "/per/org/member_of", "None"]
    for name, n in (("mnre_train.txt", 60), ("mnre_val .txt", 30), ("mnre_test.txt", 20)):
        (folder / name).write_text("".join(_mnre_line(i, rels[i % 4]) for i in range(n)), encoding="utf-8")
    return folder


def test_manifest_written_and_checked(tiny_mnre: Path, tmp_path: Path) -> None:
    cfg = SplitConfig(data=str(tiny_mnre), out=str(tmp_path / "splits"), k=2, seed=97)
    built = build_splits(cfg)
    folder = write_split_folder(cfg, built)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "manifest.json", "test.jsonl",
                                                         "train.jsonl", "val.jsonl"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == make_manifest(cfg, built)
    assert manifest["config"] == {"dataset": "mnre", "k": 2, "fraction": None, "seed": 97}
    assert manifest["splits"]["test"]["posts"] == 15 and len(manifest["splits"]["test"]["ids"]) == 15
    assert Counter(t["relation"] for line in (folder / "train.jsonl").read_text().splitlines()
                   for t in json.loads(line)["triples"]) == {"peer": 2, "couple": 2, "member_of": 2}
    assert check_split_folder(cfg, build_splits(cfg)) == []

    # a split file edited on disk
    with open(folder / "val.jsonl", "a") as fh:
        fh.write("\n")
    assert any("val.jsonl: file differs" in p for p in check_split_folder(cfg, build_splits(cfg)))
    write_split_folder(cfg, build_splits(cfg))
    # other source data
    with open(tiny_mnre / "mnre_train.txt", "a") as fh:
        fh.write(_mnre_line(999, "/per/per/peer"))
    problems = check_split_folder(cfg, build_splits(cfg))
    assert any("source mnre_train.txt" in p for p in problems)
    # a manifest edited by hand
    manifest["config"]["seed"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert any("manifest was built with" in p for p in check_split_folder(cfg, build_splits(cfg)))


# --- MNER splits: entity mentions per type, CoNLL sources ----------------------------------------

def test_entity_type_sampler_counts_mentions_not_triples() -> None:
    """Posts with entities and no triples: K mentions of every type, the rare type's posts first."""
    def ner_post(i: int, types: list[str]) -> Post:
        tokens = [f"x{i}_{j}" for j in range(len(types))]
        return Post(post_id(f"{i}.jpg", tokens), tokens, f"{i}.jpg",
                    entities=[Entity(j, j + 1, t, tokens[j]) for j, t in enumerate(types)])

    posts = [ner_post(i, ["per", "misc"] if i < 4 else ["per", "org"] if i % 2 else ["loc"]) for i in range(60)]
    sample = greedy_sample(posts, kshot_targets(entity_type_counts(posts), 3), seed=17, count=entity_type_counts)
    counts = entity_type_counts(sample.posts)
    assert all(counts[t] >= 3 for t in ("per", "misc", "org", "loc")) and sample.short == {}
    assert relation_counts(sample.posts) == Counter()
    assert greedy_sample(posts, kshot_targets(relation_counts(posts), 3), seed=17).posts == []


def _twitter2017_config(shared_data: Path, tmp_path: Path, seed: int) -> SplitConfig:
    return SplitConfig(data=str(shared_data / "twitter2017"), out=str(tmp_path), dataset="twitter2017", k=5, seed=seed)


def test_twitter2017_kshot_has_k_mentions_of_every_type(shared_data: Path, tmp_path: Path) -> None:
    sources = load_sources(shared_data / "twitter2017", dataset="twitter2017")
    assert {n: s.file for n, s in sources.items()} == {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}
    for seed in (17, 67, 97):
        cfg = _twitter2017_config(shared_data, tmp_path, seed)
        built = build_splits(cfg, sources)
        for name in ("train", "val"):
            counts = built[name].counts
            assert set(counts) == {"per", "org", "loc", "misc"} and min(counts.values()) >= 5, (seed, name, counts)
            assert len(built[name].posts) < 30 and not built[name].short
        test = built["test"]
        assert [p.id for p in test.posts] == [p.id for p in sources["test"].posts] and len(test.posts) == 723
        assert sum(test.counts.values()) == 1351
        manifest = make_manifest(cfg, built)
        assert manifest["splits"]["train"]["mentions"] == sum(built["train"].counts.values())
        assert "triples" not in manifest["splits"]["train"]
        assert manifest["config"] == {"dataset": "twitter2017", "k": 5, "fraction": None, "seed": seed}


def test_twitter2017_same_seed_same_ids(shared_data: Path, tmp_path: Path) -> None:
    sources = load_sources(shared_data / "twitter2017", dataset="twitter2017")
    ids = {}
    for seed in (17, 17, 67):
        built = build_splits(_twitter2017_config(shared_data, tmp_path, seed), sources)
        got = {n: [p.id for p in b.posts] for n, b in built.items()}
        assert ids.setdefault(seed, got) == got
    assert ids[17]["train"] != ids[67]["train"]
    again = build_splits(_twitter2017_config(shared_data, tmp_path, 17))  # sources read afresh
    assert {n: [p.id for p in b.posts] for n, b in again.items()} == ids[17]


def test_twitter2017_build_then_check_cli(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kecpm.cli import app

    args = ["build-splits", "--dataset", "twitter2017", "--k", "5", "--seeds", "17,97", "--out", str(tmp_path),
            "--data", str(shared_data / "twitter2017"), "-q"]
    runner = CliRunner()
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    folder = tmp_path / "twitter2017" / "K5" / "seed97"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "manifest.json", "test.jsonl",
                                                         "train.jsonl", "val.jsonl"]
    checked = runner.invoke(app, [*args, "--check"])
    assert checked.exit_code == 0, checked.output
    assert checked.output.count("rebuilt splits match manifest.json") == 2
    (folder / "train.jsonl").write_text("")
    assert runner.invoke(app, [*args, "--check"]).exit_code == 1
