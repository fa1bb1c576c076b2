"""`kecpm compare`: the paired bootstrap of two runs on small synthetic run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.cli.compare_cmds import split_sides
from kecpm.compare import compare_runs, t975
from kecpm.data.errors import DataError
from kecpm.data.jsonl import write_jsonl
from kecpm.data.schema import Entity, Post, Triple, post_id

N = 10


def gold_posts(n: int = N, tag: str = "") -> list[Post]:
    """``n`` posts "Name<i> joins Org<i>", each with one member_of triple (2 gold entities)."""
    posts = []
    for i in range(n):
        tokens, img = [f"Name{tag}{i}", "joins", f"Org{i}"], f"{tag}{i}.jpg"
        head, tail = Entity(0, 1, "per", tokens[0]), Entity(2, 3, "org", tokens[2])
        posts.append(Post(post_id(img, tokens), tokens, img, entities=[head, tail],
                          triples=[Triple(head, "member_of", tail)]))
    return posts


def predict(gold: list[Post], right: set[int]) -> list[Post]:
    """Gold itself on the posts in ``right``, nothing on the others."""
    return [g if i in right else Post(g.id, g.tokens, g.img_id) for i, g in enumerate(gold)]


def write_split(root: Path, seed: int, gold: list[Post]) -> Path:
    for part in ("train", "val", "test"):
        write_jsonl(root / f"seed{seed}" / f"{part}.jsonl", gold)
    return root / f"seed{seed}"


def write_seed(run: Path, seed: int, train_seed: int, split_dir: Path | str, pred: list[Post],
               warm_start: dict | None = None) -> None:
    d = run / f"seed{seed}"
    write_jsonl(d / "predictions.jsonl", pred)
    (d / "results.json").write_text(json.dumps({"seed": seed, "train_seed": train_seed, "split_dir": str(split_dir),
                                                "knowledge_file": None, "warm_start": warm_start}))
    (d / "config.json").write_text(json.dumps({"run": {"seed": seed, "split_dir": str(split_dir)},
                                               "train": {"seed": train_seed}}))


@pytest.fixture
def split(tmp_path: Path) -> tuple[Path, list[Post]]:
    gold = gold_posts()
    return write_split(tmp_path / "splits", 1, gold), gold


def two_runs(tmp_path: Path, split: tuple[Path, list[Post]], right_a: set[int], right_b: set[int]) -> tuple[Path, Path]:
    d, gold = split
    write_seed(tmp_path / "a", 1, 1, d, predict(gold, right_a))
    write_seed(tmp_path / "b", 1, 1, d, predict(gold, right_b))
    return tmp_path / "a", tmp_path / "b"


def test_identical_runs_give_zero_difference_and_p_one(tmp_path, split):
    a, b = two_runs(tmp_path, split, {0, 2, 5}, {0, 2, 5})
    r = compare_runs([a], [b], n_boot=500)
    for m in ("rel_strict", "entity"):
        assert r[m]["diff"] == 0 and r[m]["p_value"] == 1.0 and r[m]["ci_low"] == r[m]["ci_high"] == 0
    assert r["rel_strict"]["f1_a"] == pytest.approx(100 * 2 * 3 / (3 + N))
    assert r["per_relation"]["member_of"]["support"] == N and r["n_posts"] == N


def test_hand_computable_difference(tmp_path, split):
    """A right on 4 of 10 posts, B on all: F1 2*4/(4+10) vs 1; B is never worse on a post, so the
    resampled difference is never negative and zero only when every drawn post is one of A's 4."""
    a, b = two_runs(tmp_path, split, {0, 1, 2, 3}, set(range(N)))
    r = compare_runs([a], [b], n_boot=2000, seed=3)
    rel = r["rel_strict"]
    assert (rel["f1_a"], rel["f1_b"]) == (pytest.approx(800 / 14), pytest.approx(100))
    assert rel["diff"] == pytest.approx(100 - 800 / 14)
    assert rel["a"] == {"tp": 4, "n_pred": 4, "n_gold": N} and rel["b"] == {"tp": N, "n_pred": N, "n_gold": N}
    assert r["entity"]["diff"] == pytest.approx(100 - 100 * 2 * 8 / (8 + 2 * N))
    assert 0 < rel["ci_low"] < rel["diff"] < rel["ci_high"] and rel["p_value"] < 0.01
    assert r["per_relation"]["member_of"]["diff"] == pytest.approx(rel["diff"])


def test_b_right_where_a_is_wrong_gives_an_interval_above_zero(tmp_path):
    gold = gold_posts(20)
    d = write_split(tmp_path / "splits", 1, gold)
    write_seed(tmp_path / "a", 1, 1, d, predict(gold, {0, 1}))
    write_seed(tmp_path / "b", 1, 1, d, predict(gold, set(range(2, 20))))
    r = compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=2000)["rel_strict"]
    assert r["diff"] > 50 and r["ci_low"] > 0 and r["p_value"] < 0.01


def test_one_post_of_thirty_is_noise(tmp_path):
    gold = gold_posts(30)
    d = write_split(tmp_path / "splits", 1, gold)
    write_seed(tmp_path / "a", 1, 1, d, predict(gold, set(range(10))))
    write_seed(tmp_path / "b", 1, 1, d, predict(gold, set(range(11))))
    r = compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=2000)["rel_strict"]
    assert r["diff"] > 0 and r["ci_low"] <= 0 < r["ci_high"] and r["p_value"] > 0.05


def test_pairs_by_seed_and_training_seed_and_pools_counts(tmp_path):
    """Two data seeds x two training seeds; F1 comes from the pooled counts, not a mean of F1s."""
    golds = {s: gold_posts(N, tag=f"s{s}-") for s in (1, 2)}
    dirs = {s: write_split(tmp_path / "splits", s, g) for s, g in golds.items()}
    for t in (1, 2):
        for s in (1, 2):
            write_seed(tmp_path / f"a-t{t}", s, t, dirs[s], predict(golds[s], set(range(4 if s == 1 else N))))
            write_seed(tmp_path / f"b-t{t}", s, t, dirs[s], predict(golds[s], set(range(N))))
    write_seed(tmp_path / "b-t3", 1, 3, dirs[1], golds[1])  # no partner in A: left out
    r = compare_runs([tmp_path / "a-t1", tmp_path / "a-t2"], [tmp_path / f"b-t{t}" for t in (1, 2, 3)], n_boot=300)
    assert [(p["seed"], p["train_seed"]) for p in r["pairs"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert r["n_posts"] == 4 * N
    assert r["rel_strict"]["a"] == {"tp": 28, "n_pred": 28, "n_gold": 40}
    assert r["rel_strict"]["f1_a"] == pytest.approx(100 * 56 / 68)  # mean of pair F1s would be 78.57
    d = 100 - 800 / 14  # B - A on the two seed-1 runs; 0 on the seed-2 ones (both sides right everywhere)
    runs = r["rel_strict_by_run"]
    assert (runs["n"], runs["b_better"]) == (4, 2) and runs["mean"] == pytest.approx(d / 2)
    assert runs["std"] == pytest.approx(d / 2 * (4 / 3) ** 0.5)  # sample std of (d, d, 0, 0)
    assert runs["ci_low"] == pytest.approx(d / 2 - 3.182 * runs["std"] / 2)
    assert runs["ci_low"] < 0 < runs["ci_high"]  # 2 of 4 runs no better: the runs do not show a gain
    assert compare_runs([tmp_path / "a-t1"], [tmp_path / "b-t1"], n_boot=300, seed=7) == \
        compare_runs([tmp_path / "a-t1"], [tmp_path / "b-t1"], n_boot=300, seed=7)


def test_t_quantiles_from_the_table_and_beyond_it():
    assert t975(1) == 12.706 and t975(11) == 2.201 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.021, abs=5e-4) and t975(120) == pytest.approx(1.980, abs=5e-4)


def test_warns_when_the_sides_were_warm_started_from_different_models(tmp_path, split, caplog):
    """A pipeline records one warm start per model; a plain run one; old runs none (no warning then)."""
    d, gold = split
    same, other = {"entity": {"sha256": "a" * 64}, "relation": {"sha256": "a" * 64}}, {"sha256": "b" * 64}
    write_seed(tmp_path / "a", 1, 1, d, predict(gold, {0, 1}), warm_start=same)
    write_seed(tmp_path / "b", 1, 1, d, predict(gold, {0, 1}), warm_start={"sha256": "a" * 64})
    write_seed(tmp_path / "c", 1, 1, d, predict(gold, {0, 1}), warm_start=other)
    write_seed(tmp_path / "old", 1, 1, d, predict(gold, {0, 1}))
    with caplog.at_level("WARNING", logger="kecpm.compare"):
        assert compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=100)["pairs"][0]["init_a"] == ["a" * 64]
        compare_runs([tmp_path / "a"], [tmp_path / "old"], n_boot=100)
        assert not caplog.records
        r = compare_runs([tmp_path / "a"], [tmp_path / "c"], n_boot=100)
    assert [rec.getMessage() for rec in caplog.records] == [
        "seed 1, train seed 1: A and B were warm-started from different models (sha256 aaaaaaaaaaaa vs bbbbbbbbbbbb): "
        "B - A includes their difference"]
    assert r["pairs"][0]["init_b"] == ["b" * 64]


def test_mismatched_post_ids_are_one_error_line(tmp_path, split):
    d, gold = split
    write_seed(tmp_path / "a", 1, 1, d, gold)
    write_seed(tmp_path / "b", 1, 1, d, gold[:-1])
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b")], env={"COLUMNS": "300"})
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert str(tmp_path / "b") in lines[0] and "seed 1 (train seed 1)" in lines[0] and "1 gold id(s) missing" in lines[0]


@pytest.mark.parametrize("text, message", [('{"seed": 1,\n "train_seed": }', ":2: not valid JSON"),
                                           ('{"train_seed": 1}', ": no integer seed")],
                         ids=["malformed", "no-seed"])
def test_a_bad_results_file_is_one_error_line_naming_it(tmp_path, split, text, message):
    a, b = two_runs(tmp_path, split, {0}, {0})
    (b / "seed1" / "results.json").write_text(text)
    res = CliRunner().invoke(app, ["compare", str(a), str(b)], env={"COLUMNS": "300"})
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{b / 'seed1' / 'results.json'}{message}" in lines[0], res.output


def test_different_test_sets_are_refused(tmp_path, split):
    d, gold = split
    other = gold_posts(tag="x")
    d2 = write_split(tmp_path / "other", 1, other)
    write_seed(tmp_path / "a", 1, 1, d, gold)
    write_seed(tmp_path / "b", 1, 1, d2, other)
    with pytest.raises(DataError, match="different test sets"):
        compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=100)


def test_gold_root_overrides_a_split_dir_that_does_not_resolve(tmp_path, split):
    d, gold = split
    write_seed(tmp_path / "a", 1, 1, "elsewhere/seed1", predict(gold, {1}))
    write_seed(tmp_path / "b", 1, 1, "elsewhere/seed1", gold)
    with pytest.raises(FileNotFoundError, match="--gold-root"):
        compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=100)
    r = compare_runs([tmp_path / "a"], [tmp_path / "b"], n_boot=100, gold_root=d.parent)
    assert r["rel_strict"]["a"]["tp"] == 1 and r["rel_strict"]["b"]["tp"] == N


def test_cli_prints_the_table_and_writes_the_json(tmp_path, split):
    d, gold = split
    for t in (1, 2):
        write_seed(tmp_path / f"a-t{t}", 1, t, d, predict(gold, {0, 1, 2}))
        write_seed(tmp_path / f"b-t{t}", 1, t, d, predict(gold, {0, 1, 2, 3, 4, 5}))
    out = tmp_path / "cmp" / "compare.json"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "a-t*"), str(tmp_path / "b-t*"), "--n-boot", "300",
                                   "--rng-seed", "5", "-o", str(out)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    saved = json.loads(out.read_text())
    assert saved == compare_runs([tmp_path / "a-t1", tmp_path / "a-t2"], [tmp_path / "b-t1", tmp_path / "b-t2"],
                                 n_boot=300, seed=5)
    assert len(saved["pairs"]) == 2 and saved["n_boot"] == 300
    row = next(line for line in res.output.splitlines() if "rel-strict" in line)
    assert f"{saved['rel_strict']['diff']:+.2f}" in row and "member_of" in res.output
    assert "B better in 2 of 2 runs" in res.output and saved["rel_strict_by_run"]["std"] == 0
    assert not list(out.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_sides_from_flags_positionals_and_globs(tmp_path):
    for name in ("x-t1", "x-t2", "y-t1"):
        (tmp_path / name).mkdir()
    x1, x2, y1 = (tmp_path / n for n in ("x-t1", "x-t2", "y-t1"))
    assert split_sides(["--a", str(x1), str(x2), "--b", str(y1)]) == ([x1, x2], [y1])
    assert split_sides([f"--a={x1}", f"--b={y1}"]) == ([x1], [y1])
    assert split_sides([str(tmp_path / "x-*"), str(y1)]) == ([x1, x2], [y1])
    with pytest.raises(ValueError, match="expected two runs"):
        split_sides([str(x1), str(x2), str(y1)])
    with pytest.raises(ValueError, match="unknown option '--nboot'"):
        split_sides(["--a", str(x1), "--b", str(y1), "--nboot"])
    with pytest.raises(ValueError, match="at least one run"):
        split_sides(["--a", str(x1)])
    with pytest.raises(FileNotFoundError, match="no run folder matches"):
        split_sides([str(tmp_path / "z-*"), str(y1)])
