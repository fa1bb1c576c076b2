"""``kecpm report RUN``: plots and a markdown summary of a training run, every score in percent.

Reads each ``RUN/seed*/results.json`` (test scores, per-epoch ``history``), ``predictions.jsonl`` and
the gold test file of the split folder recorded in ``config.json`` (``run.split_dir``), and writes:

- ``per_relation_f1.png``: rel-strict test F1 per relation present in gold, mean over seeds (std bars);
- ``confusion.png``: gold vs predicted relation on matched entity pairs, summed over seeds;
- ``learning_curves.png``: training loss and val F1 per epoch, one column per seed;
- ``report.md``: the mean ± std table (as ``summary.csv``), the per-relation table and the figures.

A matched pair is a (head span, tail span) that a gold and a predicted triple of the same post share
(direction kept, entity types ignored). Gold triples whose pair has no predicted relation are counted
as missed, predicted triples whose pair has no gold relation as spurious; neither is in the matrix.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kecpm.data.errors import DataError
from kecpm.data.folders import part_file
from kecpm.data.jsonl import atomic_write, read_json, read_jsonl
from kecpm.data.readers import read_posts
from kecpm.data.schema import RELATIONS, Post
from kecpm.results import LABELS, METRICS, aggregate

log = logging.getLogger(__name__)
FILES = {"bars": "per_relation_f1.png", "confusion": "confusion.png", "curves": "learning_curves.png",
         "markdown": "report.md"}


@dataclass
class SeedRun:
    """One ``seed*/`` folder of a run: its results.json, config.json and folder."""

    seed: int
    dir: Path
    results: dict[str, Any]
    config: dict[str, Any]


@dataclass
class RelationF1:
    """Rel-strict test scores of one relation over the seeds whose gold holds it (percent)."""

    f1: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    n_gold: list[int] = field(default_factory=list)


@dataclass
class Confusion:
    """Counts of (gold relation, predicted relation) on matched entity pairs, plus the unmatched."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    missed: int = 0
    spurious: int = 0
    seeds: list[int] = field(default_factory=list)

    def labels(self) -> list[str]:
        """Relations on either axis, by gold frequency then name."""
        gold: Counter[str] = Counter()
        for (g, p), n in self.counts.items():
            gold[g] += n
            gold[p] += 0  # a relation only ever predicted still gets a column
        return sorted(gold, key=lambda r: (-gold[r], r))


def load_run(run_dir: str | Path) -> list[SeedRun]:
    """The seed folders of a run that hold a results.json, by seed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    seeds = []
    for f in sorted(run_dir.glob("seed*/results.json")):
        rec, conf = read_json(f), f.parent / "config.json"
        seeds.append(SeedRun(int(rec.get("seed", 0)), f.parent, rec, read_json(conf) if conf.exists() else {}))
    seeds.sort(key=lambda s: s.seed)
    if not seeds:
        raise DataError("no seed*/results.json here; give a run folder written by `kecpm train` "
                        "(e.g. runs/mnre-K5)", run_dir)
    return seeds


def relation_f1(seeds: list[SeedRun]) -> dict[str, RelationF1]:
    """Per relation present in gold: rel-strict test P/R/F1 (percent) of each seed whose gold holds it."""
    out: dict[str, RelationF1] = {}
    for s in seeds:
        for rel, prf in (s.results.get("test_scores") or {}).get("per_relation", {}).items():
            if prf.get("n_gold"):
                r = out.setdefault(rel, RelationF1())
                for key in ("f1", "precision", "recall"):
                    getattr(r, key).append(100 * prf[key])
                r.n_gold.append(int(prf["n_gold"]))
    return dict(sorted(out.items(), key=lambda kv: (-statistics.fmean(kv[1].n_gold), kv[0])))


def macro_all(seed: SeedRun, relations: tuple[str, ...] = RELATIONS) -> float | None:
    """A seed's macro F1 (percent) over every relation of the schema (absent ones count as 0)."""
    per = (seed.results.get("test_scores") or {}).get("per_relation")
    if per is None:
        return None
    return 100 * sum(per[r]["f1"] if r in per else 0.0 for r in relations) / len(relations)


def _pairs(post: Post | None) -> dict[tuple[int, int, int, int], list[str]]:
    pairs: dict[tuple[int, int, int, int], list[str]] = {}
    for t in post.triples if post else []:
        rels = pairs.setdefault((t.head.start, t.head.end, t.tail.start, t.tail.end), [])
        if t.relation not in rels:
            rels.append(t.relation)
    return pairs


def relation_confusion(gold: list[Post], pred: list[Post], into: Confusion | None = None) -> Confusion:
    """Gold vs predicted relations on matched entity pairs of ``gold`` posts (see the module doc).
    On a pair with several relations, equal ones pair first, the rest in order."""
    c = into or Confusion()
    by_id = {p.id: p for p in pred}
    for g in gold:
        gp, pp = _pairs(g), _pairs(by_id.get(g.id))
        for pair in gp.keys() | pp.keys():
            gr, pr = gp.get(pair, []), pp.get(pair, [])
            for r in set(gr) & set(pr):
                c.counts[(r, r)] += 1
            rest_g, rest_p = [r for r in gr if r not in pr], [r for r in pr if r not in gr]
            for a, b in zip(rest_g, rest_p, strict=False):  # the longer list's rest: missed or spurious
                c.counts[(a, b)] += 1
            c.missed += max(0, len(rest_g) - len(rest_p))
            c.spurious += max(0, len(rest_p) - len(rest_g))
    return c


def gold_file(seed: SeedRun, splits_dir: Path | None = None) -> Path | None:
    """The test file of the seed's split folder (``run.split_dir`` of config.json or results.json);
    with ``splits_dir``, the folder of that name under it."""
    where = (seed.config.get("run") or {}).get("split_dir") or seed.results.get("split_dir")
    if not where:
        return None
    folder = splits_dir / Path(where).name if splits_dir else Path(where)
    return part_file(folder, "test") if folder.is_dir() else None


def run_confusion(seeds: list[SeedRun], splits_dir: Path | None = None) -> Confusion:
    """The confusion of every seed whose gold test file and predictions.jsonl are found (others logged)."""
    c = Confusion()
    for s in seeds:
        gold_path, pred_path = gold_file(s, splits_dir), s.dir / "predictions.jsonl"
        if gold_path is None or not pred_path.exists():
            log.warning("seed %d: no %s; left out of the confusion matrix (try --splits-dir)", s.seed,
                        "gold test file" if gold_path is None else pred_path)
            continue
        pred = read_jsonl(pred_path)
        ids = {p.id for p in pred}
        relation_confusion([g for g in read_posts(gold_path) if g.id in ids], pred, into=c)
        c.seeds.append(s.seed)
    return c


def _pm(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}"


def markdown(run_dir: Path, seeds: list[SeedRun], per: dict[str, RelationF1], conf: Confusion,
             written: dict[str, Path]) -> str:
    """report.md: scores in percent, mean ± std (sample std) over seeds."""
    agg = aggregate([s.results for s in seeds])
    lines = [f"# Report: {run_dir.name}", "",
             f"Run `{run_dir}`, {len(seeds)} seed(s): {', '.join(str(s.seed) for s in seeds)}. All scores are "
             "percentages (F1 × 100) on the test split; ± is the sample standard deviation over seeds.", "",
             "## Test scores (%)", "",
             "| seed | " + " | ".join(LABELS[m] for m in METRICS) + " | best epoch | epochs |",
             "|---|" + "---:|" * (len(METRICS) + 2)]
    for s in seeds:
        t = s.results.get("test", {})
        lines.append(f"| {s.seed} | " + " | ".join(f"{100 * t[m]:.2f}" if m in t else "" for m in METRICS)
                     + f" | {s.results.get('best_epoch', '')} | {s.results.get('epochs_run', '')} |")
    lines.append("| **mean ± std** | " + " | ".join(
        f"{100 * agg[m]['mean']:.2f} ± {100 * agg[m]['std']:.2f}" if m in agg else "" for m in METRICS) + " | | |")
    alls = [v for v in (macro_all(s) for s in seeds) if v is not None]
    lines += ["", "Macro F1 above is over the relations present in gold (`macro_f1`); over all "
              f"{len(RELATIONS)} relations of the schema, absent ones counting as 0: "
              + (f"{_pm(alls)}." if alls else "not available (no per-relation scores).")]
    lines += ["", "## Per relation (rel-strict, %)", ""]
    if per:
        lines += [f"![per-relation F1]({FILES['bars']})", "",
                  "| relation | gold triples | P | R | F1 |", "|---|---:|---:|---:|---:|"]
        for rel, r in per.items():
            n = statistics.fmean(r.n_gold)
            lines.append(f"| {rel} | {n:g} | {_pm(r.precision)} | {_pm(r.recall)} | {_pm(r.f1)} |")
    else:
        lines.append("No relation in this run's test scores (an entity-only task?).")
    lines += ["", "## Confusion of relations", ""]
    total = sum(conf.counts.values())
    if "confusion" in written:
        right = sum(n for (g, p), n in conf.counts.items() if g == p)
        lines += [f"![confusion matrix]({FILES['confusion']})", "",
                  f"Summed over seed(s) {', '.join(map(str, conf.seeds))}: {total} gold triples whose entity pair "
                  f"(head span → tail span) the model also related: {right} with the gold relation "
                  f"({100 * right / total:.2f} %), {total - right} with another. Besides, {conf.missed} gold "
                  f"triples on pairs with no predicted relation and {conf.spurious} predicted triples on pairs "
                  "with no gold relation."]
        worst = [(n, g, p) for (g, p), n in conf.counts.items() if g != p]
        for n, g, p in sorted(worst, key=lambda x: (-x[0], x[1], x[2]))[:5]:
            lines.append(f"- gold `{g}` predicted as `{p}`: {n}")
    elif conf.seeds:
        lines.append(f"Not drawn: no entity pair related by both gold and predictions ({conf.missed} gold, "
                     f"{conf.spurious} predicted triples, none on a shared pair).")
    else:
        lines.append("Not drawn: no seed with both its gold test file and predictions.jsonl "
                     "(the split folder of config.json's run.split_dir was not found; try --splits-dir).")
    lines += ["", "## Learning curves", ""]
    if "curves" in written:
        lines += [f"![learning curves]({FILES['curves']})", ""]
    for s in seeds:
        r = s.results
        stopped = f"; {r['stopped']}" if r.get("stopped") else ""
        lines.append(f"- seed {s.seed}: best epoch {r.get('best_epoch', '?')} of {r.get('epochs_run', '?')}, "
                     f"val {LABELS.get(r.get('selected_on', ''), r.get('selected_on', '?'))} "
                     f"{100 * r.get('best_val', 0.0):.2f}{stopped}")
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, out: str | Path | None = None,
                 splits_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the figures and report.md of ``run_dir`` into ``out`` (default: ``run_dir``); returns
    what was written, by kind (``bars``, ``confusion``, ``curves``, ``markdown``)."""
    from kecpm import plots

    run_dir = Path(run_dir)
    out_dir = Path(out) if out else run_dir
    seeds = load_run(run_dir)
    per = relation_f1(seeds)
    conf = run_confusion(seeds, Path(splits_dir) if splits_dir else None)
    written: dict[str, Path] = {}
    figures = {"bars": (plots.relation_bars, per), "confusion": (plots.confusion_matrix, conf),
               "curves": (plots.learning_curves, seeds)}
    for kind, (draw, data) in figures.items():
        fig = draw(data)  # type: ignore[operator]
        if fig is None:
            continue
        path = out_dir / FILES[kind]
        with atomic_write(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=120)
        written[kind] = path
    with atomic_write(out_dir / FILES["markdown"]) as fh:
        fh.write(markdown(run_dir, seeds, per, conf, written))
    written["markdown"] = out_dir / FILES["markdown"]
    return written
