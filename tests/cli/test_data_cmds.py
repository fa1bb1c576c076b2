"""``kecpm build-splits``, ``evaluate``, ``data stats`` and ``data fetch`` through the typer app."""

from __future__ import annotations

import hashlib
import json
import socket
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.mnre import read_mnre_split

runner = CliRunner()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built_splits(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """K=5 splits of the real MNRE data for the three default seeds, built once for this module."""
    out = tmp_path_factory.mktemp("splits")
    result = runner.invoke(app, ["build-splits", "--k", "5", "--data", str(shared_data / "mnre"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "total variation distance" in result.output
    return out


@pytest.mark.realdata
def test_build_splits_on_real_data(built_splits: Path, shared_data: Path) -> None:
    source = Counter(t.relation for p in read_mnre_split(shared_data / "mnre", "train") for t in p.triples)
    for seed in (17, 67, 97):
        folder = built_splits / "mnre" / "K5" / f"seed{seed}"
        test, train = read_jsonl(folder / "test.jsonl"), read_jsonl(folder / "train.jsonl")
        assert len(test) == 460
        counts = Counter(t.relation for p in train for t in p.triples)
        assert set(counts) == set(source) and min(counts.values()) >= 5
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["splits"]["train"]["ids"] == [p.id for p in train]
        assert manifest["splits"]["train"]["sha256"] == _sha(folder / "train.jsonl")
        assert json.loads((folder / "config.json").read_text())["seed"] == seed
    seeds = [read_jsonl(built_splits / "mnre" / "K5" / f"seed{s}" / "train.jsonl") for s in (17, 67)]
    assert {p.id for p in seeds[0]} != {p.id for p in seeds[1]}


@pytest.mark.realdata
def test_same_bytes_on_second_run_and_check(built_splits: Path, shared_data: Path) -> None:
    folder = built_splits / "mnre" / "K5" / "seed67"
    before = {p.name: _sha(p) for p in folder.iterdir()}
    args = ["build-splits", "--seeds", "67", "--data", str(shared_data / "mnre"), "--out", str(built_splits)]
    assert runner.invoke(app, [*args, "-q"]).exit_code == 0
    assert {p.name: _sha(p) for p in folder.iterdir()} == before

    ok = runner.invoke(app, [*args, "--check"])
    assert ok.exit_code == 0, ok.output
    assert "match manifest.json" in ok.output

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["splits"]["train"]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    bad = runner.invoke(app, [*args, "--check"])
    assert bad.exit_code == 1
    assert "train: rebuilt sha256" in bad.output and "split check failed" in bad.output


@pytest.mark.realdata
def test_evaluate_prints_and_writes_json(built_splits: Path, tmp_path: Path) -> None:
    gold = built_splits / "mnre" / "K5" / "seed17" / "test.jsonl"
    posts = read_jsonl(gold)
    posts[0].triples = []  # one post predicted empty
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, posts)
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("entity", "rel-strict", "rel-boundary", "macro F1", "per relation", "peer"):
        assert word in result.output
    scores = json.loads(out.read_text())
    n0 = len(read_jsonl(gold)[0].triples)
    assert scores["rel_strict"]["precision"] == 1.0
    assert scores["rel_strict"]["tp"] == 640 - n0 and scores["rel_strict"]["n_gold"] == 640
    assert scores["match"] == "span" and "per_relation" in scores

    by_name = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(gold), "--match", "name",
                                  "--out", str(out)])
    assert by_name.exit_code == 0 and json.loads(out.read_text())["rel_strict"]["f1"] == 1.0


def test_evaluate_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"tokens": ["a"], "img_id": "x"}\n{"tokens": \n', encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(gold)])
    assert result.exit_code == 1
    assert "gold.jsonl:2: not valid JSON" in result.output and "Traceback" not in result.output
    skipped = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(gold), "--skip-bad",
                                  "--out", str(tmp_path / "r.json")])
    assert skipped.exit_code == 0 and "skipped 1 bad line" in skipped.output


def test_build_splits_skip_bad_reports_count(tmp_path: Path) -> None:
    folder = tmp_path / "mnre"
    folder.mkdir()
    line = ("{{'token': ['A{i}', 'and', 'B{i}'], 'h': {{'name': 'A{i}', 'pos': [0, 1]}}, 't': {{'name': 'B{i}', "
            "'pos': [2, 3]}}, 'img_id': '{i}.jpg', 'relation': '/per/per/peer'}}\n")
    for name in ("mnre_train.txt", "mnre_val .txt", "mnre_test.txt"):
        (folder / name).write_text("".join(line.format(i=i) for i in range(8)) + "garbage\n", encoding="utf-8")
    args = ["build-splits", "--k", "2", "--seeds", "1,2", "--data", str(folder), "--out", str(tmp_path / "s")]
    strict = runner.invoke(app, args)
    assert strict.exit_code == 1 and "mnre_train.txt:9" in strict.output
    result = runner.invoke(app, [*args, "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 bad line(s) in mnre_train.txt" in result.output
    assert (tmp_path / "s" / "mnre" / "K2" / "seed2" / "train.jsonl").exists()


@pytest.mark.realdata
def test_data_stats(shared_data: Path) -> None:
    result = runner.invoke(app, ["data", "stats", str(shared_data / "mnre" / "mnre_test.txt"),
                                 str(shared_data / "fs-jmere" / "seed_17" / "train_ofa_knowledge.json")])
    assert result.exit_code == 0, result.output
    assert "460" in result.output and "640" in result.output and "246" in result.output
    assert "triples per relation" in result.output


def test_data_fetch_offline_is_one_readable_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, ["data", "fetch", "--out", str(tmp_path), "--base-url", f"http://127.0.0.1:{port}",
                                 "--timeout", "5"])
    assert result.exit_code == 1
    assert "offline?" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one message, wrapped at most by the terminal width


def test_evaluate_name_only_predictions(tmp_path: Path) -> None:
    from kecpm.data.schema import Entity, Post, Triple

    tokens = ["Alice", "joins", "Acme"]
    gold = Post("g", tokens, "a.jpg", triples=[Triple(Entity(0, 1, "per", "Alice"), "member_of",
                                                      Entity(2, 3, "org", "Acme"))]).with_entities_from_triples()
    pred = Post("g", tokens, "a.jpg", triples=[Triple(Entity(0, 0, "per", "ALICE"), "member_of",
                                                      Entity(0, 0, "org", "acme"))])
    write_jsonl(tmp_path / "gold.jsonl", [gold])
    write_jsonl(tmp_path / "pred.jsonl", [pred])
    args = ["evaluate", "--gold", str(tmp_path / "gold.jsonl"), "--pred", str(tmp_path / "pred.jsonl"),
            "--out", str(tmp_path / "r.json")]
    by_name = runner.invoke(app, [*args, "--match", "name"])
    assert by_name.exit_code == 0, by_name.output
    assert json.loads((tmp_path / "r.json").read_text())["rel_strict"]["f1"] == 1.0
    by_span = runner.invoke(app, args)
    assert by_span.exit_code == 1 and "pred.jsonl:1" in by_span.output and "out of range" in by_span.output


@pytest.mark.realdata
def test_committed_manifests_rebuild_byte_identical(shared_data: Path, tmp_path: Path) -> None:
    """The manifests in fewshot_splits/ (as in a fresh clone, without .jsonl files) pass --check."""
    import shutil

    root = Path(__file__).resolve().parents[2] / "fewshot_splits"
    manifests = sorted(root.glob("mnre/K5/seed*/manifest.json"))
    assert [m.parent.name for m in manifests] == ["seed17", "seed67", "seed97"]
    for m in manifests:
        dest = tmp_path / m.relative_to(root)
        dest.parent.mkdir(parents=True)
        shutil.copy(m, dest)
    result = runner.invoke(app, ["build-splits", "--check", "--data", str(shared_data / "mnre"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("match manifest.json") == 3


def _gold_and_pred(tmp_path: Path, pred_triples: list) -> tuple[Path, Path]:
    from kecpm.data.schema import Entity, Post, Triple

    tokens = ["Alice", "joins", "Acme", "with", "Bob"]
    gold = Post("g", tokens, "a.jpg", triples=[
        Triple(Entity(0, 1, "per", "Alice"), "member_of", Entity(2, 3, "org", "Acme")),
        Triple(Entity(0, 1, "per", "Alice"), "peer", Entity(4, 5, "per", "Bob"))]).with_entities_from_triples()
    write_jsonl(tmp_path / "gold.jsonl", [gold])
    write_jsonl(tmp_path / "pred.jsonl", [Post("g", tokens, "a.jpg", triples=pred_triples)])
    return tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"


def test_evaluate_name_mode_out_of_schema_predictions_are_false_positives(tmp_path: Path) -> None:
    """Free-form output with a relation and an entity type outside the schema: scored, not dropped."""
    from kecpm.data.schema import Entity, Triple

    gold, pred = _gold_and_pred(tmp_path, [
        Triple(Entity(0, 0, "per", "alice"), "member_of", Entity(0, 0, "org", "acme")),
        Triple(Entity(0, 0, "per", "alice"), "works_for", Entity(0, 0, "org", "acme")),
        Triple(Entity(0, 0, "person", "alice"), "peer", Entity(0, 0, "per", "bob"))])
    out = tmp_path / "r.json"
    for extra in ([], ["--skip-bad"]):
        result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--match", "name",
                                     "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        assert "skipped" not in result.output
        r = json.loads(out.read_text())
        assert (r["rel_strict"]["tp"], r["rel_strict"]["n_pred"], r["rel_strict"]["n_gold"]) == (1, 3, 2)
        assert r["per_relation"]["works_for"]["n_pred"] == 1 and "works_for" in result.stdout
    # spans mode still checks labels: our own model's output never leaves the schema
    by_span = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--out", str(out)])
    assert by_span.exit_code == 1


def test_evaluate_tables_on_stdout_and_macro_choice(tmp_path: Path) -> None:
    from kecpm.data.schema import Entity, Triple

    gold, pred = _gold_and_pred(tmp_path, [
        Triple(Entity(0, 1, "per", "Alice"), "member_of", Entity(2, 3, "org", "Acme"))])
    out = tmp_path / "r.json"
    args = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--out", str(out)]
    default = runner.invoke(app, args)
    assert default.exit_code == 0, default.output
    # member_of F1 100, peer 0: 50.00 over the 2 gold relations, 100/21 = 4.76 over the schema
    assert "macro F1 over the 2 relations present in gold (rel-strict, %): 50.00" in default.stdout
    assert "scores (micro, %)" in default.stdout and "per relation" in default.stdout
    assert "wrote" in default.stderr and "scores (micro" not in default.stderr
    r = json.loads(out.read_text())
    assert r["macro_printed"] == "gold" and r["macro_f1"] == 0.5 and abs(r["macro_f1_all"] - 1 / 21) < 1e-12
    for value in ("all", "over=all"):
        by_all = runner.invoke(app, [*args, "--macro", value])
        assert by_all.exit_code == 0, by_all.output
        assert "macro F1 over all 21 relations of the schema (rel-strict, %): 4.76" in by_all.stdout
        assert json.loads(out.read_text())["macro_printed"] == "all"
    bad = runner.invoke(app, [*args, "--macro", "some"])
    assert bad.exit_code == 2 and "gold, all" in bad.output


def test_data_stats_tables_on_stdout(tmp_path: Path) -> None:
    gold, _ = _gold_and_pred(tmp_path, [])
    result = runner.invoke(app, ["data", "stats", str(gold)])
    assert result.exit_code == 0, result.output
    assert "triples per relation" in result.stdout and "member_of" in result.stdout
    assert result.stderr == ""


def test_data_stats_reads_text_posts_stdin_and_counts_images(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"text": "Obama visits Paris!", "img_id": "a.jpg"}\n{"text": "Messi joins PSG", "img_id": "b.jpg"}\n')
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "a.jpg").write_bytes(b"not looked at")
    result = runner.invoke(app, ["data", "stats", str(posts), "--image-dir", str(imgs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "posts.jsonl" in line)
    assert [c.strip() for c in row.split("│")[2:-1]] == ["jsonl", "2", "0", "0", "0", "0", "0", "1"]  # 1 image found
    assert "1 post(s) have no image file" in result.stderr and "b.jpg" in result.stderr
    text = runner.invoke(app, ["data", "stats", "-"], input="Obama visits Paris!\nMessi joins PSG\n\nRT @x: hi\n")
    assert text.exit_code == 0, text.output
    assert "│ -    │ stdin  │     3 │" in text.stdout
