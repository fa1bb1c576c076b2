"""A pipeline of one run's entity models and another run's relation models, scored on the test posts.

In a pipeline run (``model.pipeline``) the two models train apart: the relation model on the gold entities, the
entity model on the spans. So the entity models of run A with the relation models of run B are exactly the
pipeline that training with A's options for the entity model and B's for the relation model would give, with no
training. Each seed's pipeline folder references the two saved models; its test predictions, scores and
``results.json`` make a new run that ``kecpm compare`` and ``benchmarks/train_fewshot.py --table-only`` read.

    python benchmarks/recombine.py --entity runs/bench-v19/paper-...-inline-win3-t1 \\
        --relation runs/bench-v16/paper-...-pairsent-win3-t1 --out runs/bench-v19/paper-...-entinline-win3-t1
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from redecode import test_posts, write_seed

from kecpm.compare import seed_runs
from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_json
from kecpm.evaluate import score
from kecpm.model.pipeline import PipelineModel, write_pipeline_folder
from kecpm.results import summary, write_summary
from kecpm.train.pipeline import part_facts

log = logging.getLogger("recombine")


def recombine_seed(entity_seed: Path, relation_seed: Path, out: Path) -> dict:
    """Score the pipeline of ``entity_seed``'s entity model (``entity/``, trained) and ``relation_seed``'s relation
    model (a finished pipeline seed); write ``out``."""
    rel = read_json(relation_seed / "results.json")
    if "pipeline" not in rel:
        raise SystemExit(f"{relation_seed}: not a pipeline run (kecpm train --pipeline), so no relation model of its own")
    ent = read_json(entity_seed / "entity" / "results.json")
    if (ent.get("split_dir"), ent.get("seed")) != (rel.get("split_dir"), rel.get("seed")):
        raise SystemExit(f"{entity_seed} and {relation_seed} were trained on different splits "
                         f"({ent.get('split_dir')} seed {ent.get('seed')} vs {rel.get('split_dir')} seed {rel.get('seed')})")
    write_pipeline_folder(out / "model", entity_seed / "entity" / "model", relation_seed / "relation" / "model")
    model = PipelineModel.load(out / "model")
    test = test_posts(rel, use_knowledge=True)  # each model reads the knowledge only if its config says so
    preds = model.predict(test)
    scores = score(test, preds)
    record = dict(rel)  # the relation model is B's: its accuracy with gold entities is unchanged
    record.update(test=summary(scores), test_scores=scores.to_dict(), gate_openness=model.gate_openness(),
                  **part_facts({"entity": ent, "relation": rel["pipeline"]["relation"]}),
                  recombined={"entity": str(entity_seed), "relation": str(relation_seed)})
    write_seed(out, relation_seed, preds, record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entity", required=True, type=Path, help="pipeline run whose entity models are taken")
    ap.add_argument("--relation", required=True, type=Path, help="pipeline run whose relation models are taken")
    ap.add_argument("--out", required=True, type=Path, help="the new run folder")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    if not args.entity.is_dir():
        ap.error(f"{args.entity}: no such run folder")
    try:
        for seed in seed_runs(args.relation):  # an entity model counts once trained (before its pipeline is scored)
            entity = args.entity / seed.dir.name
            if not (entity / "entity" / "results.json").exists():
                log.warning("%s: no trained entity model in %s, skipped", seed.dir.name, entity)
                continue
            rec = recombine_seed(entity, seed.dir, args.out / seed.dir.name)
            log.info("%s: rel-strict %.1f, entity %.1f", args.out / seed.dir.name, 100 * rec["test"]["rel_strict_f1"],
                     100 * rec["test"]["entity_f1"])
    except (DataError, FileNotFoundError) as e:  # as benchmarks/redecode.py reports them
        ap.error(str(e))
    write_summary(args.out)


if __name__ == "__main__":
    main()
