"""CLI commands of stage 1: ``gen-knowledge``, ``import-knowledge``, ``cache stats``, ``cache clear``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from kecpm.cli.common import (
    config_file_option,
    config_flag,
    console,
    friendly_errors,
    one_line,
    say,
    set_option,
)
from kecpm.config import ConfigError
from kecpm.knowledge.config import SECTIONS, KnowledgeConfig

KC = KnowledgeConfig
cache_app = typer.Typer(help="Inspect or clear the LLM answer cache.", no_args_is_help=True,
                        epilog="Examples:\n\n  kecpm cache stats\n\n  kecpm cache clear --model HuggingFaceTB/SmolLM2-135M-Instruct --yes")


def _cache(cache_dir: Path | None):  # noqa: ANN202 - lazy import keeps `kecpm --help` fast
    from kecpm.knowledge.cache import AnswerCache

    return AnswerCache(cache_dir)


class _WithBackendOptions(TyperCommand):
    """A command whose help ends with every backend's options, read from the backends when shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from rich.markup import escape

        from kecpm.knowledge.backends import options_help

        self.epilog = escape(options_help())
        super().format_help(ctx, formatter)


@friendly_errors
def gen_knowledge(
    split_dirs: list[Path] = typer.Argument(None, help="Split folder(s) with train/val/test.jsonl (e.g. fewshot_splits/mnre/K5/seed17); several share one model start-up."),
    input: list[Path] = typer.Option([], "--input", "-i", help="Post files instead of a split folder (repeatable): JSONL with \"text\" or \"tokens\", plain text (one post per line), any file kecpm reads, or - for stdin."),
    demos: Path | None = typer.Option(None, help="Demonstration pool (default: the split's train.jsonl)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file (default: <split>/knowledge.jsonl)."),
    cache_dir: Path | None = typer.Option(None, help="Answer cache folder (default: $KECPM_CACHE or ~/.cache/kecpm)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (on a terminal)."),
    backend: str | None = config_flag(KC, "backend", "--backend"),
    model: str | None = config_flag(KC, "model", "--model"),
    format: str | None = config_flag(KC, "format", "--format"),
    template: str | None = config_flag(KC, "template", "--template"),
    reflect: bool | None = config_flag(KC, "reflect", "--reflect/--no-reflect"),
    k: int | None = config_flag(KC, "k", "--n-demos"),
    max_new_tokens: int | None = config_flag(KC, "max_new_tokens", "--max-new-tokens"),
    config: Path | None = config_file_option(),
    overrides: list[str] = set_option(SECTIONS, "knowledge.max_sentences=3 --set backend.max_model_len=4096"),
) -> None:
    """Generate background knowledge for every post of a split and write knowledge.jsonl beside it.

    Options come from --config (e.g. an earlier run's knowledge.config.json), then the flags, then
    --set: section knowledge (common options, e.g. knowledge.top_p, knowledge.batch_size) and section
    backend (the chosen backend's own options, listed below). The options used are saved beside the
    output as knowledge.config.json. Knowledge shipped with the data: `kecpm import-knowledge`.

    Examples:

      kecpm gen-knowledge fewshot_splits/mnre/K5/seed17 fewshot_splits/mnre/K5/seed67

      kecpm gen-knowledge SPLIT --no-reflect --set backend.json_mode=prefix   # faster on CPU

      kecpm gen-knowledge SPLIT --format hints   # typed entity hints (model.knowledge_hints reads them)

      kecpm gen-knowledge -i tweets.txt --demos SPLIT/train.jsonl --n-demos 4 -o knowledge.jsonl

      kecpm gen-knowledge SPLIT --backend transformers --set backend.threads=2 --set knowledge.batch_size=16

      kecpm gen-knowledge SPLIT --backend openai --model gpt-4o-mini --set backend.base_url=https://api.openai.com/v1 --set knowledge.repetition_penalty=1

      kecpm gen-knowledge SPLIT --config SPLIT/knowledge.config.json   # the same run again (all cached)
    """
    from kecpm.knowledge.backends import make_backend
    from kecpm.knowledge.backends.base import BackendError
    from kecpm.knowledge.config import load_configs
    from kecpm.knowledge.pipeline import run
    from kecpm.knowledge.prompts import TemplateError

    split_dirs = list(split_dirs or [])
    if not split_dirs and not input:
        raise ConfigError("give a split folder or --input files")
    if split_dirs and input:
        raise ConfigError("give split folders or --input files, not both")
    if len(split_dirs) > 1 and output is not None:
        raise ConfigError("--output works with one split folder only")
    for d in split_dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: not a folder")
    flags = {"backend": backend, "model": model, "format": format, "template": template, "reflect": reflect, "k": k,
             "max_new_tokens": max_new_tokens}
    cfg, options = load_configs(config, overrides, flags)
    summaries = []
    llm = None
    try:
        with _cache(cache_dir) as cache:
            llm = make_backend(cfg.backend, cfg, options)  # one (lazy) model for all folders
            for d in split_dirs or [None]:
                summaries.append(run(cfg, d, input, demos, output, backend=llm, cache=cache, progress=progress))
    except (TemplateError, BackendError) as e:
        say(one_line(e), "bold red", "error:")
        raise typer.Exit(1) from e
    finally:
        if llm is not None:
            llm.close()
    for s in summaries:
        _print_summary(s)


@friendly_errors
def import_knowledge(
    split_dirs: list[Path] = typer.Argument(..., help="Split folder(s) with train/val/test.jsonl."),
    source: Path | None = typer.Option(None, "--source", help="Folder with seed_*/*_ofa_knowledge.json (like fs-jmere) or one JMERE file with a knowledge field (default: <data>/fs-jmere, data = $KECPM_DATA or ../shared/data)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file (default: <split>/knowledge.jsonl); one split folder only."),
) -> None:
    """Write knowledge.jsonl for every post of a split folder from knowledge already in the data (the
    paper's ChatGPT knowledge), matched by post id; no LLM.

    Example:

      kecpm import-knowledge fewshot_splits/mnre/K5/seed17 --source ../shared/data/fs-jmere
    """
    from kecpm.knowledge.imported import ImportedKnowledge, default_source
    from kecpm.knowledge.imported import import_knowledge as run_import

    if len(split_dirs) > 1 and output is not None:
        raise ConfigError("--output works with one split folder only")
    source = source or default_source()
    known = ImportedKnowledge.load(source)  # read once for every split folder
    for d in split_dirs:
        s = run_import(d, source, output, known)
        table = Table(title=f"imported knowledge -> {s.output}", show_header=False)
        for name, value in [("source", s.source), ("posts", s.posts), ("posts without knowledge", s.no_knowledge)]:
            table.add_row(name, str(value))
        console.print(table)


def _print_summary(s) -> None:  # noqa: ANN001
    table = Table(title=f"knowledge -> {s.output}", show_header=False)
    rate = s.posts / s.wall if s.wall else 0.0
    for name, value in [("posts", s.posts), ("prompts", s.prompts), ("cache hits", s.cache_hits),
                        ("cache misses", s.cache_misses), ("model calls", s.model_calls),
                        ("invalid answers", s.invalid_answers), ("invalid items", s.invalid_items),
                        ("posts without knowledge", s.no_knowledge), ("tokens generated", s.tokens),
                        ("wall time", f"{s.wall:.1f} s"), ("posts/s", f"{rate:.2f}")]:
        table.add_row(name, str(value))
    console.print(table)
    for err in s.errors[:5]:
        say(one_line(err), "yellow", "invalid:")


@cache_app.command("stats")
@friendly_errors
def cache_stats(cache_dir: Path | None = typer.Option(None, help="Cache folder (default: $KECPM_CACHE).")) -> None:
    """Entries and size per model.

    Examples:

      kecpm cache stats

      kecpm cache stats --cache-dir /tmp/kecpm-cache
    """
    with _cache(cache_dir) as cache:
        rows = cache.stats()
        table = Table(title=str(cache.path))
        for col in ("model", "entries", "answer bytes"):
            table.add_column(col)
        for m, n, b in rows:
            table.add_row(m, str(n), str(b))
        table.add_row("total", str(sum(r[1] for r in rows)), str(cache.path.stat().st_size) + " (file)")
        console.print(table)


@cache_app.command("clear")
@friendly_errors
def cache_clear(
    cache_dir: Path | None = typer.Option(None, help="Cache folder (default: $KECPM_CACHE)."),
    model: str | None = typer.Option(None, help="Clear only this model's entries."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached answers (asks first).

    Examples:

      kecpm cache clear                       # every entry, after a y/N question

      kecpm cache clear --model HuggingFaceTB/SmolLM2-135M-Instruct -y   # a model as `cache stats` names it; no question
    """
    with _cache(cache_dir) as cache:
        what = f"entries of {model}" if model else "all entries"
        if not yes and not typer.confirm(f"Delete {what} in {cache.path}?"):
            say("nothing deleted")
            raise typer.Exit(1)
        n = cache.clear(model)
        say(f"deleted {n} entries")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("gen-knowledge", cls=_WithBackendOptions)(gen_knowledge)
    app.command("import-knowledge")(import_knowledge)
    app.add_typer(cache_app, name="cache")
