"""CLI commands of stage 1: ``gen-knowledge``, ``cache stats``, ``cache clear``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from kecpm.cli.common import console, friendly_errors
from kecpm.config import ConfigError

cache_app = typer.Typer(help="Inspect or clear the LLM answer cache.", no_args_is_help=True)


def _cache(cache_dir: Path | None):  # noqa: ANN202 - lazy import keeps `kecpm --help` fast
    from kecpm.knowledge.cache import AnswerCache

    return AnswerCache(cache_dir)


@friendly_errors
def gen_knowledge(
    split_dirs: list[Path] = typer.Argument(None, help="Split folder(s) with train/val/test.jsonl (e.g. fewshot_splits/mnre/K5/seed17); several share one model start-up."),
    input: list[Path] = typer.Option([], "--input", "-i", help="Canonical JSONL files instead of a split folder (repeatable)."),
    demos: Path | None = typer.Option(None, help="Demonstration pool (default: the split's train.jsonl)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file (default: <split>/knowledge.jsonl)."),
    backend: str = typer.Option("auto", help="vllm | transformers | openai | dummy | import (auto: vllm if installed)."),
    model: str = typer.Option("smollm2", help="'smollm2' (packaged SmolLM2-135M-Instruct), a local folder or an HF id."),
    revision: str | None = typer.Option(None, help="HF revision of a hub model."),
    template: str = typer.Option("knowledge.v1", help="Knowledge prompt: name in prompts/ or a .jinja path."),
    reflect_template: str = typer.Option("reflect.v1", help="Self-reflection prompt: name in prompts/ or a .jinja path."),
    reflect: bool = typer.Option(True, "--reflect/--no-reflect", help="Run the self-reflection pass."),
    k: int = typer.Option(2, "-k", help="Similar training posts shown as demonstrations."),
    embedder: str | None = typer.Option(None, help="sentence-transformers model (default: packaged all-MiniLM-L6-v2)."),
    max_sentences: int = typer.Option(4, help="Most sentences asked for per post."),
    max_new_tokens: int = typer.Option(64, help="Most tokens generated per answer (bounds the run time)."),
    temperature: float = typer.Option(0.0, help="Sampling temperature (0 = greedy)."),
    seed: int = typer.Option(0, help="Sampling seed (part of the cache key)."),
    repetition_penalty: float = typer.Option(1.1, help="Penalty on repeated tokens (1 = none; hosted OpenAI APIs need 1)."),
    batch_size: int = typer.Option(64, help="Prompts per backend call; the cache commits after each."),
    cache_dir: Path | None = typer.Option(None, help="Answer cache folder (default: $KECPM_CACHE or ~/.cache/kecpm)."),
    base_url: str = typer.Option("http://127.0.0.1:8000/v1", help="openai: endpoint."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="openai: env variable holding the API key."),
    concurrency: int = typer.Option(4, help="openai: requests in flight."),
    timeout: float = typer.Option(60.0, help="openai: seconds per request."),
    retries: int = typer.Option(3, help="openai: retries per request (exponential backoff)."),
    import_source: str | None = typer.Option(None, help="import: folder/file with knowledge (default <data>/fs-jmere)."),
    dtype: str = typer.Option("auto", help="transformers: dtype (auto = bfloat16 on AVX-512 CPUs, else float32)."),
    threads: int = typer.Option(0, help="transformers: torch threads (0 = default)."),
    json_mode: str = typer.Option("grammar", help="vllm: 'grammar' (schema-constrained decoding) or 'prefix' (answer started as JSON; faster on CPU)."),
    vllm_memory: float = typer.Option(0.1, help="vllm: gpu_memory_utilization (share of RAM reserved on CPU)."),
    dummy_delay: float = typer.Option(0.0, hidden=True, help="dummy: seconds per backend call (tests)."),
    dummy_bad_every: int = typer.Option(0, hidden=True, help="dummy: about one answer in N is not JSON (tests)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Generate background knowledge for every post of a split and write knowledge.jsonl beside it."""
    from kecpm.knowledge.backends import make_backend
    from kecpm.knowledge.backends.base import BackendError
    from kecpm.knowledge.config import KnowledgeConfig
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
    cfg = KnowledgeConfig(
        backend=backend, model=model, revision=revision, template=template, reflect_template=reflect_template,
        reflect=reflect, k=k, embedder=embedder, max_sentences=max_sentences, max_new_tokens=max_new_tokens,
        temperature=temperature, seed=seed, repetition_penalty=repetition_penalty, batch_size=batch_size, base_url=base_url, api_key_env=api_key_env,
        concurrency=concurrency, timeout=timeout, retries=retries, import_source=import_source,
        dtype=dtype, threads=threads, json_mode=json_mode, vllm_memory=vllm_memory, dummy_delay=dummy_delay, dummy_bad_every=dummy_bad_every,
    )
    summaries = []
    llm = None
    try:
        with _cache(cache_dir) as cache:
            llm = None if cfg.backend == "import" else make_backend(cfg)  # one (lazy) model for all folders
            for d in split_dirs or [None]:
                summaries.append(run(cfg, d, input, demos, output, backend=llm, cache=cache, progress=progress))
    except (TemplateError, BackendError) as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from e
    finally:
        if llm is not None:
            llm.close()
    for s in summaries:
        _print_summary(s)


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
        console.print(f"[yellow]invalid:[/] {err}", highlight=False)


@cache_app.command("stats")
@friendly_errors
def cache_stats(cache_dir: Path | None = typer.Option(None, help="Cache folder (default: $KECPM_CACHE).")) -> None:
    """Entries and size per model."""
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
    """Delete cached answers (asks first)."""
    with _cache(cache_dir) as cache:
        what = f"entries of {model}" if model else "all entries"
        if not yes and not typer.confirm(f"Delete {what} in {cache.path}?"):
            console.print("nothing deleted")
            raise typer.Exit(1)
        n = cache.clear(model)
        console.print(f"deleted {n} entries")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("gen-knowledge")(gen_knowledge)
    app.add_typer(cache_app, name="cache")
