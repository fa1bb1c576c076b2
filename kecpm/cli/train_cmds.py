"""CLI commands: train (one model per few-shot seed, summary table) and predict."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import typer

from kecpm.cli.common import console, friendly_errors

log = logging.getLogger(__name__)


def _seeds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError as e:
        raise ValueError(f"--seeds: expected integers like 17,67,97, got {text!r}") from e


@friendly_errors
def train(
    shots: int = typer.Option(5, "--shots", "-k", help="K of the K-shot splits under --splits-root."),
    dataset: str = typer.Option("mnre", help="Dataset folder under --splits-root."),
    splits_root: Path = typer.Option(Path("fewshot_splits"), help="Root of `kecpm build-splits` output."),
    splits_dir: Path | None = typer.Option(
        None, "--splits-dir", "--paper-splits",
        help="A folder of seed<s>/ or seed_<s>/ folders with train/val/test files (e.g. ../shared/data/fs-jmere, "
             "whose *_ofa_knowledge.json files are picked); overrides --shots/--dataset."),
    seeds: str | None = typer.Option(None, help="Seeds to train, e.g. 17,67,97 (default: every seed folder)."),
    out: Path = typer.Option(Path("runs"), help="Output root: <out>/<name>/seed<s>/."),
    name: str | None = typer.Option(None, help="Run name (default: derived from the data and ablations)."),
    knowledge: Path | None = typer.Option(
        None, help="Knowledge file (JSONL id -> knowledge); default: the split folder's knowledge.jsonl if "
                   "present, else the posts' own knowledge."),
    no_knowledge: bool = typer.Option(False, "--no-knowledge", help="Ablation: ignore knowledge sentences."),
    no_image: bool = typer.Option(False, "--no-image", help="Ablation: no visual prefix and no caption."),
    no_soft_prompt: bool = typer.Option(False, "--no-soft-prompt", help="Ablation: no soft prompt vectors."),
    encoder: str = typer.Option("", help="HF encoder id or path (default: packaged all-MiniLM-L6-v2)."),
    freeze_encoder: bool = typer.Option(False, help="Freeze the encoder (pure prompt tuning)."),
    epochs: int = typer.Option(20, help="Maximum epochs per seed (early stopping on val rel-strict F1)."),
    batch_size: int = typer.Option(8, help="Training batch size."),
    patience: int = typer.Option(5, help="Early-stopping patience in epochs (0 = off)."),
    min_epochs: int = typer.Option(10, help="No early stopping before this many epochs."),
    max_minutes: float = typer.Option(0.0, help="Training time budget per seed in minutes (0 = none)."),
    train_seed: int | None = typer.Option(None, help="Training seed (default: the split's seed)."),
    threads: int = typer.Option(0, help="torch threads (0 = torch default)."),
    limit: int = typer.Option(0, help="Use only the first N posts of each split (quick checks)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Any other model or training option, repeatable: model.<option>=<value> or "
                          "train.<option>=<value> (JSON values), e.g. --set model.span_none_weight=0.5. "
                          "The options and their help: config.json of any run."),
) -> None:
    """Train one model per seed, score its test split, and print mean ± std over seeds."""
    from kecpm.config import parse_overrides
    from kecpm.data.folders import find_seed_splits
    from kecpm.knowledge import attach_knowledge as attach
    from kecpm.knowledge import load_knowledge
    from kecpm.model.config import ModelConfig
    from kecpm.results import summary_table, write_summary
    from kecpm.train import TrainConfig
    from kecpm.train import train_seed as run_seed

    root = splits_dir or splits_root / dataset / f"K{shots}"
    splits = find_seed_splits(root, _seeds(seeds))
    abl = [s for s, on in (("noknow", no_knowledge), ("noimg", no_image), ("nosp", no_soft_prompt)) if on]
    where = [root.parent.name, root.name] if re.fullmatch(r"K\d+", root.name) else [root.name]
    run = out / (name or "-".join([*where, *abl]))
    mcfg = ModelConfig(encoder=encoder, freeze_encoder=freeze_encoder, use_knowledge=not no_knowledge,
                       use_image=not no_image, soft_prompt_tokens=0 if no_soft_prompt else 8)
    sets = parse_overrides(overrides, ("model", "train"))
    mcfg = mcfg.override(sets["model"])
    for sp in splits:
        know_path = knowledge or sp.knowledge
        mapping = load_knowledge(know_path) if know_path and not no_knowledge else None
        parts = {p: attach(sp.read(p)[: limit or None], mapping) for p in ("train", "val", "test")}
        args = TrainConfig(epochs=epochs, batch_size=batch_size, patience=patience, min_epochs=min_epochs,
                           max_minutes=max_minutes,
                           seed=sp.seed if train_seed is None else train_seed, threads=threads).override(sets["train"])
        console.print(f"[bold]seed {sp.seed}[/]: {len(parts['train'])} train, {len(parts['val'])} val, "
                      f"{len(parts['test'])} test posts from {sp.dir}; knowledge: "
                      f"{know_path or ('posts' if not no_knowledge else 'off')}")
        rec = run_seed(parts["train"], parts["val"], parts["test"], mcfg, args, run / f"seed{sp.seed}",
                         extra={"seed": sp.seed, "split_dir": str(sp.dir),
                                "knowledge_file": str(know_path) if know_path else None})
        t = rec["test"]
        console.print(f"seed {sp.seed}: test rel-strict F1 {100 * t['rel_strict_f1']:.1f}, entity F1 "
                      f"{100 * t['entity_f1']:.1f} (best epoch {rec['best_epoch']}, {rec['train_seconds']:.0f} s)")
    csv_path = write_summary(run)
    console.print(summary_table(run))
    console.print(f"summary: {csv_path}")


@friendly_errors
def predict(
    model_dir: Path = typer.Argument(..., help="A model directory written by `kecpm train` (…/seed<s>/model)."),
    inputs: Path = typer.Argument(..., help="Posts: JSONL with tokens or text (optional image_path, caption, "
                                            "knowledge), or any split file `kecpm` reads."),
    out: Path = typer.Option(Path("predictions.jsonl"), "--out", "-o", help="Output canonical JSONL."),
    knowledge: Path | None = typer.Option(None, help="Knowledge file (JSONL id -> knowledge) to attach."),
    batch_size: int = typer.Option(32, help="Posts per batch."),
    threads: int = typer.Option(0, help="torch threads (0 = torch default)."),
) -> None:
    """Extract triples (with confidences) from posts with a trained model; bad lines are reported, not fatal."""
    import torch

    from kecpm.data.errors import BadLines
    from kecpm.evaluate import score
    from kecpm.knowledge import attach_knowledge as attach
    from kecpm.knowledge import load_knowledge
    from kecpm.model.model import PromptModel
    from kecpm.predict import predict_file, read_inputs

    if threads:
        torch.set_num_threads(threads)
    bad = BadLines(skip=True)
    posts = read_inputs(inputs, bad)
    for e in bad.errors[:10]:
        console.print(f"[yellow]skipped:[/] {e}", highlight=False)
    if bad.count > 10:
        console.print(f"[yellow]… and {bad.count - 10} more bad lines[/]")
    if knowledge:
        posts = attach(posts, load_knowledge(knowledge))
    model = PromptModel.load(model_dir)
    preds, rep = predict_file(model, posts, out, batch_size)
    n_trip = sum(len(p.triples) for p in preds)
    console.print(f"{rep.n_posts} posts -> {n_trip} triples in {out} ({rep.posts_per_second:.1f} posts/s; "
                  f"{bad.count} bad lines skipped)")
    if any(p.triples for p in posts):
        s = score(posts, preds)
        console.print(f"against the input's gold triples: rel-strict F1 {100 * s.rel_strict.f1:.1f}, "
                      f"entity F1 {100 * s.entity.f1:.1f}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("train")(train)
    app.command("predict")(predict)
