"""Pipeline runs (``kecpm train --pipeline``) decoded again with the relation threshold tuned on val through
the pipeline (the relation model reading the entity model's entities, ``kecpm.train.pipeline.
tune_relation_threshold``), written as a new run that ``kecpm compare`` reads beside the old one.

Runs trained before that tuning existed used the threshold tuned on gold entities; the models are loaded,
not retrained, so the difference is the threshold alone, paired post by post.

    python benchmarks/pipeline_retune.py runs/bench-v14/ours-warm-shapes-mentions-min1-pipe-t{1,2} --out-suffix=-tuned
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
from pathlib import Path

import torch

from kecpm.compare import seed_runs
from kecpm.data.folders import part_file
from kecpm.data.jsonl import read_json, write_jsonl
from kecpm.data.readers import read_posts
from kecpm.evaluate import score
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, read_records
from kecpm.model.model import PromptModel
from kecpm.model.pipeline import PipelineModel
from kecpm.results import summary, write_results, write_summary
from kecpm.train.pipeline import tune_relation_threshold

log = logging.getLogger("pipeline_retune")


def retune_seed(seed_dir: Path, out: Path) -> dict:
    res = read_json(seed_dir / "results.json")
    model = PipelineModel(*(PromptModel.load(seed_dir / name / "model") for name in ("entity", "relation")))
    split = Path(res["split_dir"])
    val, test = (read_posts(part_file(split, part)) for part in ("val", "test"))
    if res.get("knowledge_file") and model.config.use_knowledge:  # as kecpm.train.run.train_splits reads it
        rows = read_records(res["knowledge_file"])
        val, test = (attach_knowledge(ps, knowledge_map(rows), hints=hints_map(rows)) for ps in (val, test))
    decoding = tune_relation_threshold(model, val)
    model.update_config(**decoding)
    preds = model.predict(test)
    scores = score(test, preds)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", preds)
    shutil.copyfile(seed_dir / "config.json", out / "config.json")
    record = {**res, "test": summary(scores), "test_scores": scores.to_dict(),
              "thresholds": {**(res.get("thresholds") or {}), **decoding}, "redecoded": {"from": str(seed_dir), "changes": decoding}}
    write_results(out / "results.json", record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished pipeline run folders (holding seed*/ folders)")
    ap.add_argument("--out-suffix", required=True, help="the new run is the old one's name + this suffix (before "
                                                         "a training seed's -tN)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    for run in args.runs:
        stem, tseed = re.fullmatch(r"(.*?)(-t\d+)?", run.name).groups()
        new = run.with_name(stem + args.out_suffix + (tseed or ""))
        for seed in seed_runs(run):
            rec = retune_seed(seed.dir, new / seed.dir.name)
            log.info("%s: rel-strict %.1f, entity %.1f (relation_threshold %s)", new / seed.dir.name,
                     100 * rec["test"]["rel_strict_f1"], 100 * rec["test"]["entity_f1"], rec["redecoded"]["changes"])
        write_summary(new)


if __name__ == "__main__":
    main()
