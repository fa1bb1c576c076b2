"""CLI command ``predict``: posts in (JSONL, plain text, stdin), JSONL out (a file or stdout)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kecpm.cli.common import friendly_errors, one_line, say
from kecpm.config import ConfigError
from kecpm.device import DEVICE_HELP

IMAGE_DIR_HELP = ("Folder of the posts' images: each post's img_id names its file there. A missing or "
                  "unreadable image is a warning naming the post, and the model's no-image vector.")


def _report_skipped(bad) -> None:  # noqa: ANN001 - a BadLines
    for e in bad.errors[:10]:
        say(e, "yellow", "skipped:")
    if bad.count > 10:
        say(f"… and {bad.count - 10} more bad lines", "yellow")


@friendly_errors
def predict(
    model_dir: str = typer.Argument(..., help="A model folder written by `kecpm train` (…/seed<s>/model), "
                                              "or the Hugging Face hub id of one."),
    inputs: str = typer.Argument("-", help="Posts: a .jsonl file (records with \"text\" or \"tokens\"; optional "
                                           "img_id, image_path, caption, knowledge), a text file with one post per "
                                           "line (.txt or any other extension), any file `kecpm` reads, a split "
                                           "folder (its test file), or - for stdin."),
    out: Path | None = typer.Option(None, "--out", "--output", "-o", help="Output JSONL file (written atomically); "
                                                              "default: stdout."),
    knowledge: str | None = typer.Option(
        None, "--knowledge", help="Knowledge for the posts: a knowledge file (JSONL id -> knowledge), or 'auto' to "
                                  "generate it now with the configured backend and the answer cache."),
    knowledge_config: Path | None = typer.Option(
        None, "--knowledge-config", help="With --knowledge auto: a knowledge.config.json (default: the one beside "
                                         "the knowledge the model was trained with, else the defaults)."),
    backend: str | None = typer.Option(None, "--backend", help="With --knowledge auto: the backend "
                                                               "(vllm | transformers | openai | dummy)."),
    demos: Path | None = typer.Option(None, "--demos", help="With --knowledge auto: demonstration posts (default: "
                                                            "the train file of the model's split, if found)."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Answer cache folder (default: $KECPM_CACHE "
                                                                    "or ~/.cache/kecpm)."),
    overrides: list[str] = typer.Option([], "--set", help="With --knowledge auto: any knowledge option, "
                                                          "<knowledge|backend>.<option>=<value>."),
    image_dir: Path | None = typer.Option(None, "--image-dir", help=IMAGE_DIR_HELP),
    batch_size: int = typer.Option(32, help="Posts per batch."),
    threads: int = typer.Option(0, help="torch threads (0 = torch default)."),
    device: str = typer.Option("auto", help=f"Where to run: {DEVICE_HELP}."),
    precision: str = typer.Option("fp32", help="Inference precision: fp32 (exact), bf16 (autocast) or int8 "
                                               "(CPU; ~2.5x faster, accuracy cost in docs/benchmarks.md)."),
    min_triples: int | None = typer.Option(
        None, "--min-triples", help="At least this many triples per post (default: the model's own, set at training: "
                                    "1 when every training post had one, as in MNRE); 0 for posts that may hold none."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars (on a terminal)."),
) -> None:
    """Extract triples (with confidences) from posts with a trained model.

    Predictions go to stdout as JSON Lines unless -o is given; messages and the summary to stderr.

    Posts given as text get their text and each entity's character offsets (char_start, char_end).

    Bad input lines are reported and skipped, not fatal.

    Examples:

      echo "Elon Musk, CEO of @Tesla, visits Berlin!" | kecpm predict runs/mnre-K5/seed17/model

      kecpm predict runs/mnre-K5/seed17/model tweets.txt -o predictions.jsonl --knowledge auto

      kecpm predict MODEL posts.jsonl --image-dir mnre_image/img_org --device cuda

      kecpm predict MODEL posts.jsonl --precision int8 --threads 2   # fastest on a CPU

      kecpm predict MODEL tweets.txt --min-triples 0   # posts that may hold no relation
    """
    import torch

    from kecpm.data.errors import BadLines
    from kecpm.data.folders import part_file
    from kecpm.data.inputs import read_inputs
    from kecpm.device import resolve_device
    from kecpm.evaluate import score
    from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, read_records
    from kecpm.knowledge.backends.base import BackendError
    from kecpm.knowledge.prompts import TemplateError
    from kecpm.model.config import ModelConfig
    from kecpm.model.model import PromptModel
    from kecpm.packaged import model_folder
    from kecpm.predict import predict_posts, unreadable_images, write_predictions

    if threads:
        torch.set_num_threads(threads)
    if inputs == "-" and sys.stdin.isatty():
        raise ConfigError("no posts: give a file of posts, or pipe them in (e.g. echo \"text\" | kecpm predict MODEL)")
    source: str | Path = inputs
    if inputs != "-" and Path(inputs).is_dir():  # a split folder: its test file
        source = part_file(Path(inputs), "test") or Path(inputs)
    bad = BadLines(skip=True)
    read = read_inputs(source, bad, labels=False, image_dir=image_dir)
    posts = read.posts
    _report_skipped(bad)
    folder = model_folder(model_dir)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder}: not a saved model (no config.json)")
    if knowledge and not ModelConfig.load(folder / "config.json").use_knowledge:
        say(f"{folder} was trained without knowledge (model.use_knowledge=false); --knowledge is not used", "yellow")
        knowledge = None
    if knowledge == "auto":
        from kecpm.knowledge.auto import knowledge_for

        try:
            mapping, hints, ks = knowledge_for(posts, folder, knowledge_config, overrides, {"backend": backend},
                                               demos, cache_dir, progress)
        except (TemplateError, BackendError) as e:
            say(one_line(e), "bold red", "error:")
            raise typer.Exit(1) from e
        say(f"{ks.posts} posts, {ks.cache_hits} cached answers, {ks.model_calls} model calls, "
            f"{ks.invalid_answers} invalid answers, {ks.no_knowledge} posts without knowledge", label="knowledge:")
        posts = attach_knowledge(posts, mapping, hints=hints)
    elif knowledge:
        records = read_records(knowledge)
        posts = attach_knowledge(posts, knowledge_map(records), hints=hints_map(records))
    model = PromptModel.load(folder, device=resolve_device(device)).set_precision(precision)
    if min_triples is not None:
        if min_triples < 0:
            raise ConfigError(f"--min-triples must be >= 0, got {min_triples}")
        model.update_config(min_triples=min_triples)
    if image_dir is not None and model.encoder.visual is None:
        say(f"{folder} was trained without images (model.use_image=false); --image-dir is not used", "yellow")
    preds, rep = predict_posts(model, posts, batch_size)
    write_predictions(preds, out, read.texts)
    n_trip = sum(len(p.triples) for p in preds)
    unreadable = unreadable_images(model)
    say(f"{rep.n_posts} posts -> {n_trip} triples in {out or 'stdout'} ({rep.posts_per_second:.1f} posts/s; "
        f"{bad.count} bad lines skipped; {len(unreadable)} images missing or unreadable)")
    if any(p.triples for p in posts):
        s = score(posts, preds)
        say(f"against the input's gold triples: rel-strict F1 {100 * s.rel_strict.f1:.1f}, "
            f"entity F1 {100 * s.entity.f1:.1f}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("predict")(predict)
