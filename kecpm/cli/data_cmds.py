"""CLI commands: build-splits, evaluate, data fetch, data stats."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from kecpm.cli.common import console, friendly_errors
from kecpm.data.errors import BadLines
from kecpm.data.jsonl import atomic_write, read_jsonl
from kecpm.data.readers import FORMATS, detect_format, read_posts
from kecpm.data.schema import Post, relation_counts
from kecpm.evaluate import MATCHES, PRF, Scores, score
from kecpm.manifest import check_split_folder, write_split_folder
from kecpm.paths import default_data_dir
from kecpm.splits import DEFAULT_SEEDS, BuiltSplit, SplitConfig, build_splits, load_sources

data_app = typer.Typer(help="Fetch and inspect data files.", no_args_is_help=True)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _parse_seeds(values: list[str] | None) -> list[int]:
    seeds = []
    for v in values or [" ".join(map(str, DEFAULT_SEEDS))]:
        for s in re.split(r"[,\s]+", v.strip()):
            if not s:
                continue
            if not re.fullmatch(r"-?\d+", s):
                raise typer.BadParameter(f"{s!r} is not an integer seed", param_hint="--seeds")
            seeds.append(int(s))
    return list(dict.fromkeys(seeds))


def _split_table(seed: int, b: BuiltSplit) -> Table:
    counts, source = b.counts, b.source_counts
    n, n_src = sum(counts.values()), sum(source.values())
    table = Table(title=f"seed {seed} · {b.name}: {len(b.posts)} posts, {n} triples "
                        f"(source {b.source.file}: {len(b.source.posts)} posts, {n_src} triples)",
                  caption=f"total variation distance from the source distribution: {b.distance:.3f}",
                  title_justify="left", caption_justify="left")
    for col in ("relation", "split", "share %", "source", "share %", "taken %"):
        table.add_column(col, justify="left" if col == "relation" else "right")
    for rel in sorted(source, key=lambda r: (-source[r], r)):
        c = counts.get(rel, 0)
        mark = " *" if rel in b.short else ""
        table.add_row(rel + mark, str(c), _pct(c / n if n else 0), str(source[rel]),
                      _pct(source[rel] / n_src), _pct(c / source[rel]))
    return table


@friendly_errors
def build_splits_cmd(
    k: int = typer.Option(5, "--k", help="At least K triples of every relation present in train and val."),
    seeds: list[str] = typer.Option(None, "--seeds", show_default="17 67 97",
                                    help="Sampling seeds: '17 67 97', '17,67' or repeated --seeds."),
    fraction: float = typer.Option(None, "--fraction",
                                   help="Sample this share of each relation's triples instead (e.g. 0.07)."),
    data: Path = typer.Option(None, "--data", show_default="$KECPM_DATA/mnre or ../shared/data/mnre",
                              help="MNRE v2 folder (mnre_train.txt, 'mnre_val .txt', mnre_test.txt)."),
    out: Path = typer.Option(Path("fewshot_splits"), "--out", help="Root folder of the splits."),
    dataset: str = typer.Option("mnre", "--dataset", help="Data set name, the first folder under --out."),
    check: bool = typer.Option(False, "--check", help="Rebuild in memory and verify against manifest.json; "
                                                      "write nothing."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed source lines and count them."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-relation tables."),
) -> None:
    """Build reproducible few-shot splits: fewshot_splits/<dataset>/K<k>/seed<s>/{train,val,test}.jsonl."""
    data = data or default_data_dir() / "mnre"
    configs = [SplitConfig(data=str(data), out=str(out), dataset=dataset, k=k, fraction=fraction, seed=s,
                           skip_bad=skip_bad) for s in _parse_seeds(seeds)]
    sources = load_sources(data, skip_bad)
    for src in sources.values():
        if src.skipped:
            console.print(f"[yellow]skipped {src.skipped} bad line(s) in {escape(src.file)}[/]",
                          highlight=False, soft_wrap=True)
    failed = False
    for cfg in configs:
        built = build_splits(cfg, sources)
        if check:
            problems = check_split_folder(cfg, built)
            for p in problems:
                console.print(f"[bold red]mismatch:[/] {escape(p)}", highlight=False, soft_wrap=True)
            if problems:
                failed = True
            else:
                console.print(f"[green]ok[/] {escape(str(cfg.folder))}: rebuilt splits match manifest.json",
                              highlight=False, soft_wrap=True)
            continue
        folder = write_split_folder(cfg, built)
        if not quiet:
            for b in built.values():
                console.print(_split_table(cfg.seed, b))
        for b in built.values():
            if b.short:
                console.print(f"[yellow]{b.name}: {len(b.short)} relation(s) have fewer triples in "
                              f"{escape(b.source.file)} than asked, all taken{'' if quiet else ' (* above)'}: "
                              f"{', '.join(b.short)}[/]",
                              highlight=False, soft_wrap=True)
        sizes = ", ".join(f"{b.name} {len(b.posts)} posts/{sum(b.counts.values())} triples "
                          f"(TV {b.distance:.3f})" for b in built.values())
        console.print(f"[green]wrote[/] {folder}: {sizes}", highlight=False, soft_wrap=True)
    if failed:
        console.print("[bold red]error:[/] split check failed; rebuild with the same data and options, "
                      "or regenerate the manifests", soft_wrap=True)
        raise typer.Exit(1)


def _scores_table(s: Scores) -> Table:
    table = Table(title="scores (micro, %)", title_justify="left",
                  caption=f"macro F1 over gold relations (rel-strict): {_pct(s.macro_f1)}", caption_justify="left")
    for col in ("level", "P", "R", "F1", "correct", "predicted", "gold"):
        table.add_column(col, justify="left" if col == "level" else "right")
    for name, prf in (("entity", s.entity), ("rel-strict", s.rel_strict), ("rel-boundary", s.rel_boundary)):
        table.add_row(name, _pct(prf.precision), _pct(prf.recall), _pct(prf.f1),
                      str(prf.tp), str(prf.n_pred), str(prf.n_gold))
    return table


def _relation_table(per: dict[str, PRF]) -> Table:
    table = Table(title="per relation (rel-strict, %)", title_justify="left")
    for col in ("relation", "P", "R", "F1", "correct", "predicted", "gold"):
        table.add_column(col, justify="left" if col == "relation" else "right")
    for rel, prf in sorted(per.items(), key=lambda kv: (-kv[1].n_gold, kv[0])):
        table.add_row(rel, _pct(prf.precision), _pct(prf.recall), _pct(prf.f1),
                      str(prf.tp), str(prf.n_pred), str(prf.n_gold))
    return table


def _read(path: Path, fmt: str, skip_bad: bool, spans: bool = True) -> list[Post]:
    bad = BadLines(skip=skip_bad)
    if not spans and path.exists() and detect_format(path) == "jsonl":
        posts = read_jsonl(path, bad, spans=False)
    else:
        posts = read_posts(path, fmt, bad)
    if bad.count:
        console.print(f"[yellow]{path}: skipped {bad.count} bad line(s); first: {escape(str(bad.errors[0]))}[/]",
                      highlight=False, soft_wrap=True)
    return posts


@friendly_errors
def evaluate_cmd(
    gold: Path = typer.Option(..., "--gold", help="Gold posts (canonical JSONL, JMERE JSON or MNRE txt)."),
    pred: Path = typer.Option(..., "--pred", help="Predicted posts, canonical JSONL aligned by post id."),
    match: str = typer.Option("span", "--match", help=f"Entity matching: {' | '.join(MATCHES)} "
                                                      "(name = lower-cased entity text, for outputs "
                                                      "without offsets)."),
    out: Path = typer.Option(Path("results.json"), "--out", help="Where to write the scores as JSON."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines and count them."),
) -> None:
    """Score predictions: entity, rel-strict and rel-boundary P/R/F1, macro F1, per relation."""
    if match not in MATCHES:
        raise typer.BadParameter(f"{match!r}; expected one of {', '.join(MATCHES)}", param_hint="--match")
    s = score(_read(gold, "auto", skip_bad), _read(pred, "auto", skip_bad, spans=match == "span"), match=match)
    console.print(_scores_table(s))
    console.print(_relation_table(s.per_relation))
    result = {"gold": str(gold), "pred": str(pred), "match": match, **s.to_dict()}
    with atomic_write(out) as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    console.print(f"wrote {out}", highlight=False, soft_wrap=True)


@data_app.command("fetch")
@friendly_errors
def fetch_cmd(
    out: Path = typer.Option(None, "--out", show_default="$KECPM_CACHE/data/mnre",
                             help="Folder to download into."),
    base_url: str = typer.Option(None, "--base-url", show_default="the thecharm/MNRE repository at the pinned commit",
                                 help="Fetch from this URL instead (files are <base-url>/<name>)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Network timeout in seconds."),
) -> None:
    """Download the MNRE v2 text files at a pinned commit, verify sha256, resume partial downloads."""
    from kecpm.data.fetch import MNRE_BASE_URL, fetch_mnre

    done = fetch_mnre(out, base_url or MNRE_BASE_URL, timeout=timeout, show_progress=sys.stderr.isatty())
    for f in done:
        console.print(f"{f.status:>10}  {f.path}", highlight=False, soft_wrap=True)
    console.print(f"[green]ok[/] sha256 verified; use --data {escape(str(done[0].path.parent))}",
                  highlight=False, soft_wrap=True)


@data_app.command("stats")
@friendly_errors
def stats_cmd(
    files: list[Path] = typer.Argument(..., help="Files in any readable format."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines and count them."),
) -> None:
    """Counts of posts, triples, entities and relations of data files."""
    summary = Table(title="files", title_justify="left")
    for col in ("file", "format", "posts", "triples", "entities", "rels", "caption", "know."):
        summary.add_column(col, justify="left" if col in ("file", "format") else "right",
                           overflow="fold" if col == "file" else "ellipsis")
    per_file = []
    for path in files:
        posts = _read(path, fmt, skip_bad)
        counts = relation_counts(posts)
        per_file.append((path, counts))
        summary.add_row("/".join(path.parts[-2:]), detect_format(path) if fmt == "auto" else fmt, str(len(posts)),
                        str(sum(counts.values())), str(sum(len(p.entities) for p in posts)), str(len(counts)),
                        str(sum(p.caption is not None for p in posts)),
                        str(sum(p.knowledge is not None for p in posts)))
    console.print(summary)
    rels = sorted({r for _, c in per_file for r in c})
    if rels:
        table = Table(title="triples per relation", title_justify="left")
        table.add_column("relation")
        for path, _ in per_file:
            table.add_column("/".join(path.parts[-2:]), justify="right", overflow="fold")
        for rel in rels:
            table.add_row(rel, *(str(c.get(rel, 0)) for _, c in per_file))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("build-splits")(build_splits_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.add_typer(data_app, name="data")
