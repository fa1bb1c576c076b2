"""The same trained models, another decoding: re-predict the test posts of finished runs with decoding options
changed (thresholds, ``model.min_triples``, no prior shift) and write them as a new run that ``kecpm compare``,
``benchmarks/train_fewshot.py --table-only`` and ``kecpm report`` read like any other.

Training is untouched (the models are loaded, not retrained), so the difference between the two runs is the
decoding alone, paired post by post. Runs trained with ``--unlabelled`` saved their models after the prior
shift; ``--no-prior-shift`` takes it off again (their "no prior shift" rows).

    python benchmarks/redecode.py runs/bench-v12/ours-warm-shapes-mentions-min1-t{1,2} --no-prior-shift \\
        --set model.min_triples=0 --out-suffix=-as-min0  # ...-min1-as-min0-t1
    python benchmarks/redecode.py runs/bench-v8/paper-warm-shapes-mentions-t{1,2} --set model.min_triples=1 \\
        --out-suffix=-as-min1
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from pathlib import Path

import torch

from kecpm.compare import seed_runs
from kecpm.config import ConfigError, parse_overrides
from kecpm.data.errors import DataError
from kecpm.data.folders import part_file
from kecpm.data.jsonl import read_json, write_jsonl
from kecpm.data.readers import read_posts
from kecpm.evaluate import score
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, read_records
from kecpm.model.model import PromptModel
from kecpm.model.pipeline import PipelineModel
from kecpm.model.prior import relation_accuracy
from kecpm.results import summary, write_results, write_summary

log = logging.getLogger("redecode")
DECODING = ("entity_threshold", "relation_threshold", "min_triples", "relation_prior_shift", "relation_temperature")


def test_posts(res: dict, use_knowledge: bool) -> list:
    """The test posts of a finished seed (its results.json ``res``), with its knowledge file's knowledge attached
    as kecpm.train.run.train_splits attaches it."""
    test = read_posts(part_file(Path(res["split_dir"]), "test"))
    if res.get("knowledge_file") and use_knowledge:
        rows = read_records(res["knowledge_file"])
        test = attach_knowledge(test, knowledge_map(rows), hints=hints_map(rows))
    return test


def write_seed(out: Path, source: Path, preds: list, record: dict) -> None:
    """A new run's seed folder ``out`` from test predictions: ``preds`` (predictions.jsonl), the config.json of the
    seed folder ``source`` it was made from, and ``record`` (results.json)."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", preds)
    (out / "config.json").write_text((source / "config.json").read_text(encoding="utf-8"), encoding="utf-8")
    write_results(out / "results.json", record)


def derive_runs(runs: list[Path], suffix: str, make_seed: Callable[[Path, Path], dict]) -> None:
    """A new run beside each of ``runs``, named the old one's name + ``suffix`` (before a training seed's -tN, which
    stays last as train_fewshot names runs): ``make_seed(seed_dir, out)`` writes and returns each finished seed's
    results (the seed folders as kecpm compare finds them); then its summary."""
    for run in runs:
        stem, tseed = re.fullmatch(r"(.*?)(-t\d+)?", run.name).groups()
        new = run.with_name(stem + suffix + (tseed or ""))
        for seed in seed_runs(run):
            rec = make_seed(seed.dir, new / seed.dir.name)
            log.info("%s: rel-strict %.1f, entity %.1f", new / seed.dir.name, 100 * rec["test"]["rel_strict_f1"],
                     100 * rec["test"]["entity_f1"])
        write_summary(new)


def redecode_seed(seed_dir: Path, out: Path, changes: dict[str, object], threads: int) -> dict:
    """Re-predict one seed folder's test posts with ``changes`` to its model's decoding; write ``out``."""
    res = read_json(seed_dir / "results.json")
    model = PromptModel.load(seed_dir / "model")
    checked = model.config.override(changes)  # validated and typed as a --set would be
    model.update_config(**{k: getattr(checked, k) for k in changes})
    test = test_posts(res, model.config.use_knowledge)
    torch.set_num_threads(threads)
    preds = model.predict(test)
    scores = score(test, preds)
    record = {k: v for k, v in res.items() if k not in ("test_before_adapt", "test_round0")}
    record.update(test=summary(scores), test_scores=scores.to_dict(), rel_acc_gold_entities=relation_accuracy(
                      model.relation if isinstance(model, PipelineModel) else model, test),
                  redecoded={"from": str(seed_dir), "changes": changes})
    write_seed(out, seed_dir, preds, record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished run folders (holding seed*/ folders)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help=f"model.<option>=<value>, decoding options only: {', '.join(DECODING)}")
    ap.add_argument("--no-prior-shift", action="store_true", help="take off the prior shift of --unlabelled runs")
    ap.add_argument("--out-suffix", required=True, help="the new run is the old one's name + this suffix (before "
                                                         "a training seed's -tN)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    changes = parse_overrides(args.overrides, ("model",))["model"]
    if bad := sorted(set(changes) - set(DECODING)):
        ap.error(f"not a decoding option: {', '.join(bad)} (allowed: {', '.join(DECODING)})")
    if args.no_prior_shift:
        changes.update(relation_prior_shift={}, relation_temperature=1.0)
    try:
        derive_runs(args.runs, args.out_suffix, lambda seed_dir, out: redecode_seed(seed_dir, out, changes, args.threads))
    except (ConfigError, DataError, FileNotFoundError) as e:
        ap.error(str(e))


if __name__ == "__main__":
    main()
