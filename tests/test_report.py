"""``kecpm report`` on a tiny fake run folder: the figures, report.md's numbers, the confusion counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kecpm import plots
from kecpm.cli import app
from kecpm.data import Entity, Post, Triple
from kecpm.data.jsonl import write_jsonl
from kecpm.evaluate import score
from kecpm.report import load_run, relation_confusion, relation_f1, write_report
from kecpm.results import summary

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"
TOKENS = "Ann met Bo at Acme in Rome".split()
ANN, BO, ACME, ROME = (Entity(0, 1, "per", "Ann"), Entity(2, 3, "per", "Bo"), Entity(4, 5, "org", "Acme"),
                       Entity(6, 7, "loc", "Rome"))


def _post(pid: str, *triples: Triple) -> Post:
    return Post(pid, TOKENS, f"{pid}.jpg", triples=list(triples)).with_entities_from_triples()


GOLD = [_post("p1", Triple(ANN, "peer", BO), Triple(ANN, "member_of", ACME)),
        _post("p2", Triple(ACME, "locate_at", ROME))]
# seed 1: peer predicted as couple, member_of right, locate_at missed, one spurious triple: 1/3 right
PRED_1 = [_post("p1", Triple(ANN, "couple", BO), Triple(ANN, "member_of", ACME), Triple(BO, "member_of", ACME)),
          _post("p2")]
# seed 2: everything right
PRED_2 = GOLD


def _seed(run: Path, seed: int, split_dir: str, pred: list[Post]) -> None:
    d = run / f"seed{seed}"
    d.mkdir(parents=True)
    s = score(GOLD, pred)
    history = [{"epoch": e, "loss": 1.0 / e, "rel_strict_f1": 0.1 * e, "entity_f1": 0.2 * e} for e in (1, 2, 3)]
    (d / "results.json").write_text(json.dumps({
        "seed": seed, "test": summary(s), "test_scores": s.to_dict(), "history": history, "best_epoch": 2,
        "epochs_run": 3, "selected_on": "rel_strict_f1", "best_val": 0.2, "stopped": ""}), encoding="utf-8")
    (d / "config.json").write_text(json.dumps({"run": {"seed": seed, "split_dir": split_dir}}), encoding="utf-8")
    write_jsonl(d / "predictions.jsonl", pred)


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    """runs/fake/seed{1,2} whose split folders splits/seed_{1,2} hold the gold test file."""
    for seed in (1, 2):
        write_jsonl(tmp_path / "splits" / f"seed_{seed}" / "test.jsonl", GOLD)
    run = tmp_path / "runs" / "fake"
    _seed(run, 1, str(tmp_path / "splits" / "seed_1"), PRED_1)
    _seed(run, 2, str(tmp_path / "splits" / "seed_2"), PRED_2)
    return run


def test_relation_confusion_counts_by_hand() -> None:
    c = relation_confusion(GOLD, PRED_1)
    assert dict(c.counts) == {("peer", "couple"): 1, ("member_of", "member_of"): 1}
    assert (c.missed, c.spurious) == (1, 1)  # locate_at on Acme->Rome; member_of on Bo->Acme
    assert c.labels() == ["member_of", "peer", "couple"]
    # a pair with two gold relations, one predicted right and one wrong: equal ones pair first
    two = [_post("p1", Triple(ANN, "peer", BO), Triple(ANN, "couple", BO))]
    c2 = relation_confusion(two, [_post("p1", Triple(ANN, "couple", BO), Triple(ANN, "siblings", BO))])
    assert dict(c2.counts) == {("couple", "couple"): 1, ("peer", "siblings"): 1}


def test_report_writes_figures_and_numbers(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    written = write_report(run, out)
    assert set(written) == {"bars", "confusion", "curves", "markdown"}
    for kind in ("bars", "confusion", "curves"):
        assert written[kind].read_bytes().startswith(PNG) and written[kind].stat().st_size > 5000
    assert not (run / "report.md").exists()  # --out leaves the run folder untouched
    md = (out / "report.md").read_text(encoding="utf-8")
    # rel-strict F1: seed 1 P 1/3 R 1/3 -> 33.33; seed 2 100: mean 66.67, sample std 47.14
    assert "| 1 | " in md and "| 33.33 |" in md
    assert "66.67 ± 47.14" in md
    # per relation: peer F1 0 and 100 -> 50.00 ± 70.71; member_of 100 and 100
    assert "| peer | 1 | 0.00 ± 0.00 |" not in md
    assert "| peer | 1 | 50.00 ± 70.71 | 50.00 ± 70.71 | 50.00 ± 70.71 |" in md
    assert "| member_of | 1 | 75.00 ± 35.36 | 100.00 ± 0.00 | 83.33 ± 23.57 |" in md
    # confusion over both seeds: 5 matched (4 right), 1 missed, 1 spurious
    assert "5 gold triples whose entity pair" in md and "4 with the gold relation (80.00 %)" in md
    assert "1 gold triples on pairs with no predicted relation and 1 predicted triples" in md
    assert "gold `peer` predicted as `couple`: 1" in md
    for name in ("per_relation_f1.png", "confusion.png", "learning_curves.png"):
        assert f"]({name})" in md
    # macro over all 21 relations: seed 1 has member_of 0.5... see the per-relation F1s of each seed
    s1 = score(GOLD, PRED_1)
    assert f"{100 * (s1.macro('all') + score(GOLD, GOLD).macro('all')) / 2:.2f} ±" in md


def test_figures_have_the_right_panels(run: Path) -> None:
    seeds = load_run(run)
    assert [s.seed for s in seeds] == [1, 2]
    curves = plots.learning_curves(seeds)
    assert curves is not None and len(curves.axes) == 4  # loss and val F1 for each of 2 seeds
    assert [ax.get_title() for ax in curves.axes[:2]] == ["seed 1", "seed 2"]
    assert max(curves.axes[2].lines[0].get_ydata()) == pytest.approx(30.0)  # val F1 in percent
    per = relation_f1(seeds)
    assert list(per) == ["locate_at", "member_of", "peer"]  # same gold count: by name
    assert per["peer"].f1 == [0.0, 100.0]
    bars = plots.relation_bars(per)
    assert bars is not None
    assert [t.get_text() for t in bars.axes[0].get_yticklabels()] == ["locate_at (1)", "member_of (1)", "peer (1)"]
    assert plots.relation_bars({}) is None


def test_report_cli_stdout_and_splits_dir(run: Path, tmp_path: Path) -> None:
    for seed in (1, 2):  # split_dir as training recorded it, relative to another working folder
        cfg = run / f"seed{seed}" / "config.json"
        cfg.write_text(json.dumps({"run": {"split_dir": f"../elsewhere/seed_{seed}"}}), encoding="utf-8")
    out = tmp_path / "r1"
    result = runner.invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "mean ± std" in result.stdout and "66.7 ± 47.1" in result.stdout
    assert "wrote" in result.stderr and "wrote" not in result.stdout
    assert not (out / "confusion.png").exists() and "try --splits-dir" in (out / "report.md").read_text()
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r2"),
                                 "--splits-dir", str(tmp_path / "splits")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r2" / "confusion.png").read_bytes().startswith(PNG)


def test_report_on_a_folder_without_results(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "no seed*/results.json" in result.output and "Traceback" not in result.output
    (tmp_path / "seed1").mkdir()
    (tmp_path / "seed1" / "results.json").write_text("{", encoding="utf-8")
    broken = runner.invoke(app, ["report", str(tmp_path)])
    assert broken.exit_code == 1 and "results.json:1: not valid JSON" in broken.output
