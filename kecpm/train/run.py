"""Training runs: one model per few-shot seed (``train_splits``), each written by ``train_seed``.

Per seed under ``<run>/seed<s>/``: ``config.json`` (the model, train and run sections: pass it back
with ``kecpm train --config``), ``model/``, ``predictions.jsonl`` and ``results.json``. A seed whose
``results.json`` exists is skipped and an interrupted one resumes from its checkpoint, so a killed
run is restarted with the same command.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

from kecpm.config import ConfigError
from kecpm.data.augment import MentionPool, augment
from kecpm.data.folders import PARTS, SeedSplit
from kecpm.data.jsonl import atomic_write, read_json, write_jsonl
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post, schema_from_posts
from kecpm.device import resolve_device
from kecpm.evaluate import score
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, knowledge_sources, read_records
from kecpm.model.card import run_facts, write_card
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.model.prior import relation_accuracy
from kecpm.model.tasks import Task
from kecpm.results import LABELS, summary, write_results
from kecpm.train.adapt import AdaptConfig, adapt, read_unlabelled
from kecpm.train.config import RUNTIME_OPTIONS, TrainConfig
from kecpm.train.knowledge_posts import knowledge_posts
from kecpm.train.parallel import Job, run_jobs, threads_per_worker
from kecpm.train.trainer import Trainer, set_seed

log = logging.getLogger(__name__)


NOT_COMPARED = (*RUNTIME_OPTIONS, "retrieval_sha256")  # the corpus hash is compared through the corpus path


def check_same_run(out: Path, model_config: ModelConfig, args: TrainConfig, adapt_config: AdaptConfig) -> None:
    """ConfigError when ``out`` holds a run (finished or to resume) made with other options than these:
    reusing it would report scores of another configuration. Options an older build did not have are
    not compared (they were off)."""
    path = out / "config.json"
    if not path.exists():
        return
    stored = read_json(path)
    now = {"model": model_config.to_dict(), "train": args.to_dict(), "adapt": adapt_config.to_dict()}
    diff = [f"{sec}.{k}: {stored[sec][k]!r} -> {v!r}" for sec, d in now.items() for k, v in d.items()
            if k not in NOT_COMPARED and k in stored.get(sec, {}) and stored[sec][k] != v]
    if diff:
        raise ConfigError(f"{out} holds a run made with other options ({'; '.join(diff[:4])}): give the new run "
                          "another --name (or --out), or remove that folder")


def train_seed(train: list[Post], val: list[Post], test: list[Post], model_config: ModelConfig,
               args: TrainConfig, out_dir: str | Path, extra: dict[str, Any] | None = None,
               adapt_config: AdaptConfig | None = None, unlabelled: list[Post] | None = None) -> dict[str, Any]:
    """Train one model and write ``config.json``, ``model/``, ``predictions.jsonl`` and ``results.json``
    to ``out_dir``; resumes from ``checkpoint.pt`` there, skips if ``results.json`` exists. With
    ``unlabelled`` posts the trained model is adapted to them (``adapt_config``) before it is scored."""
    out = Path(out_dir)
    model_config = model_config.replace(**schema_from_posts(train)).resolve_min_triples(train)
    if (out / "results.json").exists() or (out / "checkpoint.pt").exists():
        check_same_run(out, model_config, args, adapt_config or AdaptConfig())
    if (out / "results.json").exists():
        log.info("%s: already done, skipping", out)
        return read_json(out / "results.json")
    copies = augmented(train, args, model_config)  # a bad pool file fails here, before anything is written
    copies += sentence_posts(train, args, model_config)
    set_seed(args.seed, args.threads)
    with atomic_write(out / "config.json") as fh:
        json.dump({"model": model_config.to_dict(), "train": args.to_dict(),
                   "adapt": (adapt_config or AdaptConfig()).to_dict(), "run": extra or {}}, fh, indent=2)
    acfg = adapt_config or AdaptConfig()
    rounds = acfg.self_train_rounds if unlabelled and acfg.active else 0
    model = PromptModel.create(model_config)
    trainer = Trainer(model, args, train + copies, val, out_dir=out / "round0" if rounds else out)
    state = trainer.train()
    adapted: dict[str, Any] = {}
    if acfg.active and unlabelled:
        before = {**summary(score(test, trainer.predict(test))), "rel_acc_gold_entities": relation_accuracy(model, test)}
        adapted = {**adapt(model, acfg, train, val, unlabelled), "test_before_adapt": before}
    if rounds:
        from kecpm.train.selftrain import self_train

        adapted["test_round0"] = summary(score(test, trainer.predict(test)))
        model, state, adapted["self_train"] = self_train(model, state, model_config, args, acfg, train, val, test,
                                                         unlabelled or [], out)
    if adapted:
        model.save(out / "model")
    t0 = time.perf_counter()
    views = model.encode_posts(test, args.eval_batch_size)  # read again for the relation accuracy below
    preds = model.predict(test, args.eval_batch_size, views=views)
    pred_secs = time.perf_counter() - t0
    scores = score(test, preds)
    write_jsonl(out / "predictions.jsonl", preds)
    if not (out / "model").exists():
        model.save(out / "model")
    history = state["history"]
    record = {"seed": (extra or {}).get("seed", args.seed), "train_seed": args.seed, "task": model_config.task.value,
              "test": summary(scores) if test else None, "test_scores": scores.to_dict() if test else None,
              "best_epoch": state["best_epoch"], "selected_on": trainer.selected_on,
              "best_val": state["best_score"],
              "epochs_run": state["epoch"], "stopped": state["stopped"], "history": history,
              "train_seconds": state["seconds"], "predict_posts_per_second": len(test) / max(pred_secs, 1e-9),
              "seconds_per_epoch": sum(h["seconds"] for h in history) / max(1, len(history)),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "thresholds": state.get("thresholds"), "device": str(trainer.device),
              "rel_acc_gold_entities": relation_accuracy(model, test, views), **adapted,
              "gate_openness": model.gate_openness(), "warm_start": model.warm_start_info, "n_train": len(train), "n_augmented": len(copies), "n_val": len(val), "n_test": len(test),
              **(extra or {})}
    record = write_results(out / "results.json", record)
    write_card(out / "model", run_facts(record))  # the model card, now with the data and test scores
    for ckpt in [out / "checkpoint.pt", *out.glob("round*/checkpoint.pt")]:
        ckpt.unlink(missing_ok=True)
    return record


def augmented(train: list[Post], args: TrainConfig, model_config: ModelConfig) -> list[Post]:
    """The mention-replaced copies of the training posts (``args.augment``; none when 0)."""
    if not args.augment:
        return []
    source = read_posts(args.augment_pool) if args.augment_pool else train
    pool = MentionPool.from_posts(source, model_config.entity_types, model_config.init_type_map)
    copies = augment(train, args.augment, pool, args.seed)
    log.info("augment: %d mention-replaced copies of %d training posts (pool: %d mentions from %s)", len(copies),
             len(train), len(pool), args.augment_pool or "the training posts")
    return copies


def sentence_posts(train: list[Post], args: TrainConfig, model_config: ModelConfig) -> list[Post]:
    """The training posts' knowledge sentences as entity-training posts (``args.knowledge_posts``; none when off)."""
    if args.knowledge_posts == "off":
        return []
    if model_config.task is not Task.MNER:
        raise ConfigError("train.knowledge_posts trains entity models only: use it with --pipeline (its entity model) "
                          "or --task mner")
    posts = knowledge_posts(train, args.knowledge_posts, model_config.filter_knowledge)
    log.info("knowledge posts (%s): %d sentences of %d training posts' knowledge, %d names projected",
             args.knowledge_posts, len(posts), len(train), sum(len(p.entities) for p in posts))
    return posts


def train_splits(splits: list[SeedSplit], model_config: ModelConfig, args: TrainConfig, run_dir: str | Path,
                 knowledge: str | Path | None = None, fixed_seed: int | None = None,
                 limit: int = 0, adapt_config: AdaptConfig | None = None) -> list[dict[str, Any]]:
    """Train and score one model per seed split under ``run_dir/seed<s>/``; returns the results.

    Knowledge: ``knowledge`` (a file) or the split folder's own ``knowledge.jsonl``, else the posts'
    own; none with ``model_config.use_knowledge`` off. ``fixed_seed``: the training seed of every split (None: each split's own seed).
    ``limit``: only the first N posts of each part (quick checks). ``adapt_config.unlabelled``: posts to
    adapt each model to (the split's own posts left out)."""
    resolve_device(args.device)  # no CUDA where CUDA is asked for: one error line before any model loads
    if model_config.pipeline and adapt_config is not None and adapt_config.active:
        raise ConfigError("model.pipeline does not combine with --unlabelled (prior shift, self-training) yet")
    if args.workers > 1:  # each worker process: its share of the cores, no progress bars side by side
        args = args.replace(threads=threads_per_worker(args.workers, args.threads), progress=False)
    calls: list[Job] = []
    for sp in splits:
        know = knowledge or sp.knowledge
        rows = read_records(know) if know and model_config.use_knowledge else None
        mapping = knowledge_map(rows) if rows is not None else None
        hints = hints_map(rows) if rows is not None else None
        sources = knowledge_sources(rows) if rows is not None else {}
        if any(k.startswith("dummy:") for k in sources):
            log.warning("%s: %d knowledge records come from the dummy backend (a test stand-in, not an LLM); "
                        "regenerate them with kecpm gen-knowledge", know, sum(v for k, v in sources.items()
                                                                                 if k.startswith("dummy:")))
        parts = {p: attach_knowledge(sp.read(p)[: limit or None], mapping, hints=hints) for p in PARTS}
        seed_args = args.replace(seed=sp.seed if fixed_seed is None else fixed_seed)
        log.info("seed %d: %d train, %d val, %d test posts from %s; knowledge: %s", sp.seed, len(parts["train"]),
                 len(parts["val"]), len(parts["test"]), sp.dir,
                 know if mapping is not None else ("posts" if model_config.use_knowledge else "off"))
        unlabelled = None
        if adapt_config is not None and adapt_config.active:
            unlabelled = read_unlabelled(adapt_config.unlabelled, [p for ps in parts.values() for p in ps],
                                         adapt_config.max_unlabelled, keep_entities="span" not in model_config.task_spec.heads)
        extra = {"seed": sp.seed, "split_dir": str(sp.dir), "knowledge_file": str(know) if know else None,
                 "knowledge_sources": sources, "encoder": model_config.encoder_path}
        data = (parts["train"], parts["val"], parts["test"], model_config, seed_args, Path(run_dir) / f"seed{sp.seed}")
        if model_config.pipeline:
            from kecpm.train.pipeline import train_pipeline_seed

            calls.append((train_pipeline_seed, (*data, extra)))
        else:
            calls.append((train_seed, (*data, extra, adapt_config, unlabelled)))
    records = run_seed_jobs(calls, args)
    for rec in records:
        t = rec["test"]
        shown = ("entity_f1",) if model_config.task_spec.metric == "entity_f1" else ("rel_strict_f1", "entity_f1")
        log.info("seed %d: test %s (best epoch %d, %.0f s)", rec["seed"],
                 ", ".join(f"{LABELS[m]} {100 * t[m]:.1f}" for m in shown), rec["best_epoch"], rec["train_seconds"])
    return records


def run_seed_jobs(calls: list[Job], args: TrainConfig) -> list[dict[str, Any]]:
    """The seeds' training calls, in ``args.workers`` processes of ``args.threads`` torch threads when more than one
    (kecpm.train.parallel); a pipeline seed's two models are then two jobs of their own, and the seed's call, once
    both are done, only joins them."""
    if args.workers <= 1:
        return [fn(*a) for fn, a in calls]
    from kecpm.train.pipeline import pipeline_part_jobs, train_pipeline_seed

    before = [pipeline_part_jobs(*a) if fn is train_pipeline_seed else [] for fn, a in calls]
    return run_jobs(calls, args.workers, args.threads, before)
