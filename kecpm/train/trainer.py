"""A small SetFit-like trainer: ``Trainer(model, args, train, val, metric).train()`` then ``.evaluate(posts)``.

Each epoch: shuffled mini-batches (order fixed by the seed), AdamW with one learning rate per
parameter group of the model (encoder, knowledge gates, the rest) and linear warm-up/decay, then
validation; the epoch with the best val ``metric`` is kept. A checkpoint is written atomically after
an epoch that is the best so far, that ends training, or that comes ``checkpoint_minutes`` after the
last one, so a killed run resumes from there with the same result.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kecpm.data.jsonl import atomic_write
from kecpm.data.schema import Post
from kecpm.device import resolve_device
from kecpm.evaluate import Scores, score
from kecpm.model.model import PromptModel
from kecpm.progress import progress
from kecpm.results import summary
from kecpm.train.config import TrainConfig
from kecpm.train.ema import WeightAverage

log = logging.getLogger(__name__)


def set_seed(seed: int, threads: int = 0) -> None:
    """Seed python and torch; deterministic kernels."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)


def _schedule(steps: int, warmup: float, start: int = 0) -> Callable[[int], float]:
    """Learning-rate factor at step ``s``: 0 before ``start``, then linear warm-up over ``warmup`` of the
    remaining steps and linear decay to 0 at ``steps``."""
    span = steps - start
    warm = max(1, int(span * warmup))
    return lambda s: 0.0 if s < start else min((s - start + 1) / warm, max(0.0, (steps - s) / max(1, span - warm)))


def length_grouped(order: list[int], lengths: list[int], batch_size: int, gen: torch.Generator,
                   group: int = 50) -> list[list[int]]:
    """Batches of similar ``lengths`` from the shuffled ``order``: each run of ``group`` batches' worth of
    indices is sorted by length (longest first), cut into batches, and the batch order is shuffled."""
    span = group * batch_size
    ordered = [i for k in range(0, len(order), span) for i in sorted(order[k:k + span], key=lambda i: -lengths[i])]
    batches = [ordered[k:k + batch_size] for k in range(0, len(ordered), batch_size)]
    return [batches[j] for j in torch.randperm(len(batches), generator=gen).tolist()]


class Trainer:
    """Trains ``model`` on ``train``, selecting the epoch by val ``metric`` (default: ``args.metric``,
    else the model's task's). ``out_dir`` (optional) receives ``checkpoint.pt`` (see above) and
    ``model/`` (best so far)."""

    def __init__(self, model: PromptModel, args: TrainConfig, train: list[Post], val: list[Post],
                 out_dir: str | Path | None = None, metric: str | None = None) -> None:
        if not train:
            raise ValueError("no training posts")
        self.device = resolve_device(args.device)
        self.model = model.to(self.device)
        self.args, self.train_posts, self.val_posts = args, train, val
        self.metric = metric or args.metric or model.config.task_spec.metric
        self.out_dir = Path(out_dir) if out_dir else None
        lrs = {"head": args.lr_head, "gate": args.lr_gate, "encoder": args.lr_encoder}
        named = [(name, ps) for name, ps in model.parameter_groups().items() if ps and lrs[name] > 0]
        self._encoder_params = dict(named).get("encoder", [])
        groups = [{"params": ps, "lr": lrs[name], **({"weight_decay": 0.0} if name == "gate" else {})}
                  for name, ps in named]
        self.optimizer = torch.optim.AdamW(groups, weight_decay=args.weight_decay, fused=args.fused_adamw or None)
        per_epoch = -(-len(train) // args.batch_size)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, [
            _schedule(args.epochs * per_epoch, args.warmup, args.head_only_epochs * per_epoch if name == "encoder" else 0)
            for name, _ in named])
        self.state: dict[str, Any] = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "metric": self.metric,
                                      "history": [], "seconds": 0.0, "stopped": ""}
        self._best_state: dict[str, torch.Tensor] | None = None
        self._last_checkpoint = time.monotonic()
        self.ema = WeightAverage(self.model, args.ema) if args.ema else None

    # ---- checkpoints -------------------------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir else None

    def _save_checkpoint(self) -> None:
        if self.ckpt_path is None:
            return
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        with atomic_write(self.ckpt_path, "wb") as fh:
            torch.save({"model": self.model.checkpoint_state(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "state": self.state, "rng": rng,
                        **({"ema": self.ema.state_dict()} if self.ema else {})}, fh)
        self._last_checkpoint = time.monotonic()

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        _, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"checkpoint does not match the model: {', '.join(unexpected[:5])}")

    def _resume(self) -> bool:
        if self.ckpt_path is None or not self.ckpt_path.exists():
            return False
        ck = torch.load(self.ckpt_path, map_location=self.device, weights_only=False)
        self._load_state(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.state = ck["state"]
        if self.ema is not None and "ema" in ck:
            self.ema.load_state_dict(ck["ema"])
        torch.set_rng_state(ck["rng"]["cpu"].cpu())
        if "cuda" in ck["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(ck["rng"]["cuda"].cpu(), self.device)
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
            with self.ema.swapped() if self.ema else contextlib.nullcontext():  # validate and keep the average
                with self.model.plain_decoding():
                    val = self.evaluate() if self.val_posts else {self.metric: 0.0}
                secs = time.monotonic() - t0
                val.update(self.model.gate_openness())
                self.state["history"].append({"epoch": epoch, "loss": loss, "seconds": secs, **val})
                log.info("epoch %d: loss %.4f, %s (%.1f s)", epoch, loss,
                         f"val {self.metric} {val[self.metric]:.4f}" if self.val_posts else "no val posts", secs)
                score = self._selection_score()
                if score > self.state["best_score"] or epoch == args.select_window:  # the first full window
                    # replaces whatever the shorter ones at the start chose
                    self.state["best_score"], self.state["best_epoch"] = score, epoch
                    if self.out_dir:  # the best model lives on disk only, so checkpoints stay small
                        self.model.save(self.out_dir / "model")
                    else:
                        self._best_state = {k: v.clone() for k, v in self.model.checkpoint_state().items()}
            self.state["epoch"] = epoch
            self.state["seconds"] = time.monotonic() - start
            if args.patience and epoch >= args.min_epochs and epoch - self.state["best_epoch"] >= args.patience:
                self.state["stopped"] = f"early stop: no better val {self.metric} for {args.patience} epochs"
            elif args.max_minutes and self.state["seconds"] > args.max_minutes * 60:
                self.state["stopped"] = f"time budget of {args.max_minutes} min used"
            # a new best model/ always gets its checkpoint: a resumed run never starts behind the model it keeps
            if (self.state["best_epoch"] == epoch or self.state["stopped"] or epoch == args.epochs
                    or time.monotonic() - self._last_checkpoint >= args.checkpoint_minutes * 60):
                self._save_checkpoint()
        if self.out_dir and (self.out_dir / "model").exists():
            self._best_state = PromptModel.load(self.out_dir / "model").checkpoint_state()
        if self._best_state is not None:
            self._load_state(self._best_state)
        if args.tune_thresholds and self.val_posts and "thresholds" not in self.state:
            self.state["thresholds"] = self.tune_thresholds()
            if self.out_dir:
                self.model.save(self.out_dir / "model")
                self._save_checkpoint()
        return dict(self.state)

    @property
    def selected_on(self) -> str:
        """What selects the best epoch, in words (results.json's "selected_on")."""
        window = self.args.select_window
        return self.metric + (f" (mean of the last {window} epochs)" if window > 1 else "")

    def _selection_score(self) -> float:
        """The score that selects the best epoch: the val metric's mean over the last ``select_window`` epochs
        (fewer at the start), recorded in the epoch's history entry as "selection" when the window is > 1. An epoch
        before the window is full is kept only until it is (a run shorter than the window keeps its best one):
        one lucky first reading must not outrank every later stretch of n epochs."""
        recent = [h[self.metric] for h in self.state["history"][-self.args.select_window:]]
        score = sum(recent) / len(recent)
        if self.args.select_window > 1:
            self.state["history"][-1]["selection"] = score
        return score

    def tune_thresholds(self) -> dict[str, float]:
        """Coordinate search of each head's no-class threshold (heads in task order, over the head's
        grid) by the val metric; sets them in the model's config. The current values win ties."""
        views = self.model.encode_posts(self.val_posts, self.args.eval_batch_size)
        chosen = self.model.thresholds()

        def value(th: dict[str, float]) -> float:
            preds = self.model.predict(self.val_posts, views=views, thresholds=th)
            return summary(score(self.val_posts, preds))[self.metric]

        with self.model.plain_decoding():
            best = before = value(chosen)
            for head in self.model.heads.values():
                for cand in head.threshold_grid:
                    if (v := value({**chosen, head.threshold: cand})) > best:
                        best, chosen = v, {**chosen, head.threshold: cand}
        self.model.update_config(**chosen)
        log.info("thresholds: %s (val %s %.4f -> %.4f)", ", ".join(f"{k} {v:.2f}" for k, v in chosen.items()),
                 self.metric, before, best)
        return {**chosen, "val_before": before, "val_after": best}

    def _epoch(self, epoch: int) -> float:
        self.model.train()
        head_only = epoch <= self.args.head_only_epochs
        for p in self._encoder_params:  # no gradient, no AdamW moments for the encoder while it waits
            p.requires_grad_(not head_only)
        try:
            return self._steps(epoch)
        finally:
            for p in self._encoder_params:
                p.requires_grad_(True)

    def _steps(self, epoch: int) -> float:
        gen = torch.Generator().manual_seed(self.args.seed * 1000 + epoch)
        order = torch.randperm(len(self.train_posts), generator=gen).tolist()
        bs = self.args.batch_size
        if self.args.group_by_length:
            chunks = length_grouped(order, [len(p.tokens) for p in self.train_posts], bs, gen)
        else:
            chunks = [order[k:k + bs] for k in range(0, len(order), bs)]
        batches = [[self.train_posts[i] for i in chunk] for chunk in chunks]
        total, bar = 0.0, progress(batches, enabled=self.args.progress, desc=f"epoch {epoch}", leave=False)
        for k, posts in enumerate(bar, 1):
            loss = self.model.loss(posts)
            self.optimizer.zero_grad()
            loss.backward()
            if self.args.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update()
            total += loss.item()
            bar.set_postfix(loss=f"{total / k:.4f}", best_val=f"{max(self.state['best_score'], 0):.3f}")
        bar.close()
        return total / max(1, len(batches))

    def predict(self, posts: list[Post]) -> list[Post]:
        return self.model.predict(posts, self.args.eval_batch_size)

    def evaluate_scores(self, posts: list[Post]) -> Scores:
        return score(posts, self.predict(posts))

    def evaluate(self, posts: list[Post] | None = None) -> dict[str, float]:
        """Entity, rel-strict, rel-boundary and macro F1 on ``posts`` (default: val)."""
        return summary(self.evaluate_scores(self.val_posts if posts is None else posts))
