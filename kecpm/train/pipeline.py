"""Training a pipeline seed (``model.pipeline``): the entity model, then the relation model, then the two together.

Under ``<run>/seed<s>/``: ``entity/`` and ``relation/`` are ordinary training runs (task ``mner`` and
``mre``, each with its own ``config.json``, ``model/``, ``results.json``; each resumes or is skipped like
any seed), ``model/`` is the pipeline folder over their two models (``kecpm.model.pipeline``), and
``config.json``, ``predictions.jsonl`` and ``results.json`` are the pipeline's, scored as a JMERE run.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

from kecpm.data.jsonl import atomic_write, read_json, read_jsonl, write_jsonl
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.model.card import run_facts, write_card
from kecpm.model.config import ModelConfig
from kecpm.model.pipeline import PipelineModel, write_pipeline_folder
from kecpm.model.tasks import Task
from kecpm.results import summary, write_results
from kecpm.train.config import TrainConfig
from kecpm.train.parallel import Job

log = logging.getLogger(__name__)
PART_KEYS = ("test", "best_epoch", "selected_on", "best_val", "epochs_run", "stopped", "train_seconds",
             "seconds_per_epoch", "thresholds", "warm_start")
SUMMED = ("epochs_run", "train_seconds", "seconds_per_epoch")  # a pipeline's figure is its two models' sum


def part_configs(model_config: ModelConfig) -> dict[str, ModelConfig]:
    """The entity and relation models' configs of a pipeline config (each without the options only the other's head
    reads, and with the inline knowledge only where ``inline_knowledge_in`` puts it, so that pipelines differing
    only in those train the same entity, or relation, model)."""
    tasks = {"entity": (Task.MNER, {"pair_sentences": False, "relation_negatives": 0}),
             "relation": (Task.MRE, {"span_sentences": False, "knowledge_definitions": False})}
    defaults = ModelConfig.defaults()

    def inline_options(part: str) -> dict[str, Any]:  # the inline knowledge's options, or their defaults
        names = ("inline_knowledge_tokens", "inline_knowledge_dropout", "inline_knowledge_shapes",
                 "inline_knowledge_segment", "inline_knowledge_sentence_dropout")
        return {n: getattr(model_config, n) if part in model_config.inline_parts else defaults[n] for n in names}

    return {name: model_config.replace(pipeline=False, task=task, **off,
                                       inline_knowledge_in=defaults["inline_knowledge_in"], **inline_options(name))
            for name, (task, off) in tasks.items()}


def part_args(args: TrainConfig) -> dict[str, TrainConfig]:
    """The entity and relation models' training settings: ``entity_epochs`` becomes the entity model's ``epochs``
    and is left out of both, ``knowledge_posts`` is the entity model's only (pipelines differing only in them train
    the same relation model)."""
    base = args.replace(entity_epochs=0)
    return {"entity": base.replace(epochs=args.entity_epochs or args.epochs),
            "relation": base.replace(knowledge_posts="off")}


def part_facts(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A pipeline's run-level facts from its two models' results: each model's own (``PART_KEYS``) and their sums."""
    return {"pipeline": {name: {k: r.get(k) for k in PART_KEYS} for name, r in parts.items()},
            **{k: sum(r[k] for r in parts.values()) for k in SUMMED}}


def entity_predictions(run: Path, test: list[Post]) -> list[Post] | None:
    """The entity model's predictions of ``test`` from its run folder (what the pipeline's entity model would
    predict again), or None when the folder holds predictions of other posts."""
    path = run / "predictions.jsonl"
    found = read_jsonl(path) if path.exists() else []
    if [p.id for p in found] != [p.id for p in test]:
        log.info("%s: not the test posts' predictions, predicting them again", path)
        return None
    return found


def _begin(out: Path, model_config: ModelConfig, args: TrainConfig, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """The results of a finished pipeline seed in ``out``, else None after writing its config.json (a
    ConfigError when ``out`` holds a run made with other options)."""
    from kecpm.train.adapt import AdaptConfig
    from kecpm.train.run import check_same_run

    check_same_run(out, model_config, args, AdaptConfig())
    if (out / "results.json").exists():
        log.info("%s: already done, skipping", out)
        return read_json(out / "results.json")
    with atomic_write(out / "config.json") as fh:
        json.dump({"model": model_config.to_dict(), "train": args.to_dict(), "adapt": AdaptConfig().to_dict(),
                   "run": extra or {}}, fh, indent=2)
    return None


def pipeline_part_jobs(train: list[Post], val: list[Post], test: list[Post], model_config: ModelConfig,
                       args: TrainConfig, out_dir: str | Path, extra: dict[str, Any] | None = None) -> list[Job]:
    """The two ``train_seed`` calls of an unfinished pipeline seed, to run apart (``train.workers``); none
    when the seed is done. ``train_pipeline_seed`` then finds both models trained and joins them."""
    from kecpm.train.run import train_seed

    out = Path(out_dir)
    if _begin(out, model_config, args, extra) is not None:
        return []
    targs = part_args(args)
    return [(train_seed, (train, val, test, cfg, targs[name], out / name, extra))
            for name, cfg in part_configs(model_config).items()]


def train_pipeline_seed(train: list[Post], val: list[Post], test: list[Post], model_config: ModelConfig,
                        args: TrainConfig, out_dir: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train both models of a pipeline (or resume them), score the pipeline on ``test``, write ``out_dir``."""
    from kecpm.train.run import train_seed

    out = Path(out_dir)
    done = _begin(out, model_config, args, extra)
    if done is not None:
        return done
    targs = part_args(args)
    parts = {name: train_seed(train, val, test, cfg, targs[name], out / name, extra)
             for name, cfg in part_configs(model_config).items()}
    write_pipeline_folder(out / "model", out / "entity" / "model", out / "relation" / "model")
    model = PipelineModel.load(out / "model")
    found = entity_predictions(out / "entity", test)
    t0 = time.perf_counter()
    preds = model.predict(test, args.eval_batch_size, found=found)
    pred_secs = time.perf_counter() - t0  # the entity model's own when its predictions were reused
    if found is not None:
        pred_secs += len(test) / max(parts["entity"]["predict_posts_per_second"], 1e-9)
    scores = score(test, preds)
    write_jsonl(out / "predictions.jsonl", preds)
    ent, rel = parts["entity"], parts["relation"]
    record = {"seed": (extra or {}).get("seed", args.seed), "train_seed": args.seed, "task": Task.JMERE.value,
              **part_facts(parts),
              "test": summary(scores) if test else None, "test_scores": scores.to_dict() if test else None,
              "best_epoch": rel["best_epoch"], "selected_on": "entity: entity_f1, relation: rel_strict_f1 (gold entities)",
              "best_val": rel["best_val"], "stopped": rel["stopped"], "history": rel["history"],
              "predict_posts_per_second": len(test) / max(pred_secs, 1e-9),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "thresholds": {**(ent.get("thresholds") or {}), **(rel.get("thresholds") or {})},
              "device": rel.get("device"), "rel_acc_gold_entities": rel["rel_acc_gold_entities"],
              "gate_openness": model.gate_openness(), "warm_start": model.warm_start_info,
              "n_train": len(train), "n_val": len(val), "n_test": len(test), **(extra or {})}
    record = write_results(out / "results.json", record)
    write_card(out / "model", run_facts(record))  # the pipeline's card, now with the data and test scores
    return record
