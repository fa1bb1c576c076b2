"""A small SetFit-like trainer: ``Trainer(model, args, train, val).train()`` then ``.evaluate(posts)``.

Each epoch: shuffled mini-batches (order fixed by the seed), AdamW with separate encoder and head
learning rates and linear warm-up/decay, then validation; the model with the best val rel-strict F1
is kept. A checkpoint is written atomically after every epoch, so a killed run resumes from there.
"""

from __future__ import annotations

import json
import logging
import random
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from kecpm.config import Config, ConfigError, option
from kecpm.data.jsonl import atomic_write
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.model.model import PromptModel

log = logging.getLogger(__name__)


@dataclass
class TrainConfig(Config):
    """Optimisation settings of one training run."""

    epochs: int = option(20, "Maximum number of epochs.")
    batch_size: int = option(8, "Posts per training step.")
    eval_batch_size: int = option(32, "Posts per prediction batch.")
    lr_encoder: float = option(5e-5, "Learning rate of the encoder (when not frozen).")
    lr_head: float = option(1e-3, "Learning rate of soft prompt, visual prefix, fusion and heads.")
    lr_gate: float = option(1e-2, "Learning rate of the knowledge gates (no weight decay), so they can open.")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to the knowledge gates).")
    warmup: float = option(0.1, "Fraction of steps with linear warm-up.")
    grad_clip: float = option(1.0, "Gradient norm clip (0 = none).")
    patience: int = option(5, "Stop after this many epochs without a better val rel-strict F1 (0 = never).")
    min_epochs: int = option(10, "No early stopping before this many epochs (small splits need many epochs).")
    max_minutes: float = option(0.0, "Wall-clock budget of one run in minutes (0 = none).")
    seed: int = option(17, "Training seed: init, shuffling, dropout.")
    threads: int = option(0, "torch threads (0 = leave torch's default).")
    progress: bool = option(True, "Show a progress bar per epoch.")
    tune_thresholds: bool = option(True, "After training, pick the entity and relation thresholds on val.")

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.lr_encoder < 0 or self.lr_head <= 0 or self.lr_gate <= 0:
            raise ConfigError("learning rates must be positive")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.max_minutes < 0 or self.patience < 0 or self.min_epochs < 0:
            raise ConfigError("max_minutes, patience and min_epochs must be >= 0")


def set_seed(seed: int, threads: int = 0) -> None:
    """Seed python and torch; deterministic kernels on CPU."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)


def summary(scores: Any) -> dict[str, float]:
    return {"entity_f1": scores.entity.f1, "rel_strict_f1": scores.rel_strict.f1,
            "rel_boundary_f1": scores.rel_boundary.f1, "macro_f1": scores.macro_f1}


class Trainer:
    """Trains ``model`` on ``train``, selecting the epoch by val rel-strict F1.

    ``out_dir`` (optional) receives ``checkpoint.pt`` after each epoch and ``model/`` (best so far).
    """

    def __init__(self, model: PromptModel, args: TrainConfig, train: list[Post], val: list[Post],
                 out_dir: str | Path | None = None) -> None:
        if not train:
            raise ValueError("no training posts")
        self.model, self.args, self.train_posts, self.val_posts = model, args, train, val
        self.out_dir = Path(out_dir) if out_dir else None
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        gate_ids = {id(g) for g in model.knowledge_gates().values()}
        enc = [p for n, p in named if n.startswith("encoder.")]
        gate = [p for _, p in named if id(p) in gate_ids]
        rest = [p for n, p in named if not n.startswith("encoder.") and id(p) not in gate_ids]
        groups = [{"params": rest, "lr": args.lr_head}]
        if gate:
            groups.append({"params": gate, "lr": args.lr_gate, "weight_decay": 0.0})
        if enc and args.lr_encoder > 0:
            groups.append({"params": enc, "lr": args.lr_encoder})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=args.weight_decay)
        steps = args.epochs * -(-len(train) // args.batch_size)
        warm = max(1, int(steps * args.warmup))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
        self.state: dict[str, Any] = {"epoch": 0, "best_f1": -1.0, "best_epoch": 0, "history": [],
                                      "seconds": 0.0, "stopped": ""}
        self._best_state: dict[str, torch.Tensor] | None = None

    # ---- checkpoints -------------------------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir else None

    def _save_checkpoint(self) -> None:
        if self.ckpt_path is None:
            return
        with atomic_write(self.ckpt_path, "wb") as fh:
            torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "state": self.state,
                        "rng": torch.get_rng_state()}, fh)

    def _resume(self) -> bool:
        if self.ckpt_path is None or not self.ckpt_path.exists():
            return False
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.state = ck["state"]
        torch.set_rng_state(ck["rng"])
        log.info("resumed from %s after epoch %d", self.ckpt_path, self.state["epoch"])
        return True

    # ---- loop --------------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Run (or resume) training; leaves the best model loaded and returns the training state."""
        args = self.args
        if not self._resume():
            set_seed(args.seed, args.threads)
        elif args.threads:
            torch.set_num_threads(args.threads)
        start = time.monotonic() - self.state["seconds"]
        while self.state["epoch"] < args.epochs and not self.state["stopped"]:
            epoch = self.state["epoch"] + 1
            t0 = time.monotonic()
            loss = self._epoch(epoch)
            val = summary(self.evaluate_scores(self.val_posts)) if self.val_posts else {"rel_strict_f1": 0.0}
            secs = time.monotonic() - t0
            val.update(self.model.gate_openness())
            self.state["history"].append({"epoch": epoch, "loss": loss, "seconds": secs, **val})
            log.info("epoch %d: loss %.4f, val rel-strict F1 %.4f (%.1f s)", epoch, loss, val["rel_strict_f1"], secs)
            if val["rel_strict_f1"] > self.state["best_f1"]:
                self.state["best_f1"], self.state["best_epoch"] = val["rel_strict_f1"], epoch
                if self.out_dir:  # the best model lives on disk only, so checkpoints stay small
                    self.model.save(self.out_dir / "model")
                else:
                    self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.state["epoch"] = epoch
            self.state["seconds"] = time.monotonic() - start
            if args.patience and epoch >= args.min_epochs and epoch - self.state["best_epoch"] >= args.patience:
                self.state["stopped"] = f"early stop: no better val F1 for {args.patience} epochs"
            elif args.max_minutes and self.state["seconds"] > args.max_minutes * 60:
                self.state["stopped"] = f"time budget of {args.max_minutes} min used"
            self._save_checkpoint()
        if self.out_dir and (self.out_dir / "model").exists():
            self._best_state = PromptModel.load(self.out_dir / "model").state_dict()
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        if args.tune_thresholds and self.val_posts and "thresholds" not in self.state:
            self.state["thresholds"] = self.tune_thresholds()
            if self.out_dir:
                self.model.save(self.out_dir / "model")
                self._save_checkpoint()
        return dict(self.state)

    def tune_thresholds(self) -> dict[str, float]:
        """Coordinate search of the (entity, relation) no-class thresholds by val rel-strict F1; sets them
        in the model's config. Starts from the defaults, which win ties."""
        words = self.model.encode_posts(self.val_posts, self.args.eval_batch_size)
        cfg = self.model.config

        def f1(te: float, tr: float) -> float:
            preds = self.model.predict(self.val_posts, words=words, thresholds=(te, tr))
            return score(self.val_posts, preds).rel_strict.f1

        te, tr = cfg.entity_threshold, cfg.relation_threshold
        best = f1(te, tr)
        before = best
        for cand in (0.6, 0.7, 0.8, 0.9):
            if (v := f1(cand, tr)) > best:
                best, te = v, cand
        for cand in (0.3, 0.4, 0.6, 0.7, 0.8):
            if (v := f1(te, cand)) > best:
                best, tr = v, cand
        self.model.config = cfg.replace(entity_threshold=te, relation_threshold=tr)
        log.info("thresholds: entity %.2f, relation %.2f (val rel-strict F1 %.4f -> %.4f)", te, tr, before, best)
        return {"entity": te, "relation": tr, "val_f1_before": before, "val_f1_after": best}

    def _epoch(self, epoch: int) -> float:
        self.model.train()
        order = torch.randperm(len(self.train_posts), generator=torch.Generator().manual_seed(
            self.args.seed * 1000 + epoch)).tolist()
        bs = self.args.batch_size
        batches = [[self.train_posts[i] for i in order[k:k + bs]] for k in range(0, len(order), bs)]
        total, bar = 0.0, tqdm(batches, desc=f"epoch {epoch}", disable=not self.args.progress, leave=False)
        for k, posts in enumerate(bar, 1):
            loss = self.model.loss(posts)
            self.optimizer.zero_grad()
            loss.backward()
            if self.args.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            total += loss.item()
            bar.set_postfix(loss=f"{total / k:.4f}", best_val_f1=f"{max(self.state['best_f1'], 0):.3f}")
        bar.close()
        return total / max(1, len(batches))

    def predict(self, posts: list[Post]) -> list[Post]:
        return self.model.predict(posts, self.args.eval_batch_size)

    def evaluate_scores(self, posts: list[Post]):
        return score(posts, self.predict(posts))

    def evaluate(self, posts: list[Post] | None = None) -> dict[str, float]:
        """Entity, rel-strict, rel-boundary and macro F1 on ``posts`` (default: val)."""
        return summary(self.evaluate_scores(self.val_posts if posts is None else posts))


def train_seed(train: list[Post], val: list[Post], test: list[Post], model_config: Any,
               args: TrainConfig, out_dir: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one model and write ``config.json``, ``model/``, ``predictions.jsonl`` and ``results.json``
    to ``out_dir``; resumes from ``checkpoint.pt`` there, skips if ``results.json`` exists."""
    from kecpm.data.jsonl import write_jsonl
    from kecpm.model.model import schema_from_posts
    from kecpm.results import write_results

    out = Path(out_dir)
    if (out / "results.json").exists():
        log.info("%s: already done, skipping", out)
        return json.loads((out / "results.json").read_text(encoding="utf-8"))
    set_seed(args.seed, args.threads)
    model_config = model_config.replace(**schema_from_posts(train))
    with atomic_write(out / "config.json") as fh:
        json.dump({"model": model_config.to_dict(), "train": args.to_dict(), **(extra or {})}, fh, indent=2)
    model = PromptModel.create(model_config)
    trainer = Trainer(model, args, train, val, out_dir=out)
    state = trainer.train()
    t0 = time.perf_counter()
    preds = trainer.predict(test)
    pred_secs = time.perf_counter() - t0
    scores = score(test, preds)
    write_jsonl(out / "predictions.jsonl", preds)
    if not (out / "model").exists():
        model.save(out / "model")
    record = {"seed": extra.get("seed") if extra else args.seed, "train_seed": args.seed,
              "test": summary(scores), "test_scores": scores.to_dict(),
              "best_epoch": state["best_epoch"], "best_val_rel_strict_f1": state["best_f1"],
              "epochs_run": state["epoch"], "stopped": state["stopped"], "history": state["history"],
              "train_seconds": state["seconds"], "predict_posts_per_second": len(test) / max(pred_secs, 1e-9),
              "seconds_per_epoch": sum(h["seconds"] for h in state["history"]) / max(1, len(state["history"])),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "thresholds": state.get("thresholds"),
              "gate_openness": model.gate_openness(), "n_train": len(train), "n_val": len(val), "n_test": len(test), **(extra or {})}
    write_results(out / "results.json", record)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return record
