"""CLI commands: build-splits, evaluate, data fetch, data stats."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import typer
from rich.table import Table

from kecpm.cli.common import friendly_errors, say, stdout
from kecpm.data.errors import BadLines, DataError
from kecpm.data.images import missing_images
from kecpm.data.inputs import INPUT_FORMATS, STDIN, read_inputs, sniff
from kecpm.data.jsonl import atomic_write, read_jsonl
from kecpm.data.readers import detect_format, read_posts, require_posts
from kecpm.data.schema import Post, duplicate_ids, first_of_each_id, relation_counts
from kecpm.evaluate import MACRO, MATCHES, PRF, Scores, free_form_post, score
from kecpm.manifest import check_split_folder, write_split_folder
from kecpm.paths import default_data_dir
from kecpm.splits import CONLL_DATASETS, DEFAULT_SEEDS, BuiltSplit, SplitConfig, build_splits, load_sources

data_app = typer.Typer(help="Fetch and inspect data files.", no_args_is_help=True,
                       epilog="Examples:\n\n  kecpm data fetch\n\n  kecpm data stats fewshot_splits/mnre/K5/seed17/*.jsonl")


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
    unit = b.labels.unit
    table = Table(title=f"seed {seed} · {b.name}: {len(b.posts)} posts, {n} {unit} "
                        f"(source {b.source.file}: {len(b.source.posts)} posts, {n_src} {unit})",
                  caption=f"total variation distance from the source distribution: {b.distance:.3f}",
                  title_justify="left", caption_justify="left")
    for col in (b.labels.name, "split", "share %", "source", "share %", "taken %"):
        table.add_column(col, justify="left" if col == b.labels.name else "right")
    for rel in sorted(source, key=lambda r: (-source[r], r)):
        c = counts.get(rel, 0)
        mark = " *" if rel in b.short else ""
        table.add_row(rel + mark, str(c), _pct(c / n if n else 0), str(source[rel]),
                      _pct(source[rel] / n_src), _pct(c / source[rel]))
    return table


@friendly_errors
def build_splits_cmd(
    k: int = typer.Option(5, "--k", "--shots", "-k", help="At least K triples of every relation present in train and val "
                                         "(twitter2015/2017: K mentions of every entity type)."),
    seeds: list[str] = typer.Option(None, "--seeds", show_default="17 67 97",
                                    help="Sampling seeds: '17 67 97', '17,67' or repeated --seeds."),
    fraction: float = typer.Option(None, "--fraction",
                                   help="Sample this share of each relation's triples instead (e.g. 0.07)."),
    data: Path = typer.Option(None, "--data", show_default="$KECPM_DATA/<dataset> or ../shared/data/<dataset> "
                                                           "(mnre for any other data set)",
                              help="MNRE v2 folder (mnre_train.txt, 'mnre_val .txt', mnre_test.txt), or for "
                                   "twitter2015/2017 the CoNLL folder (train.txt, valid.txt, test.txt)."),
    out: Path = typer.Option(Path("fewshot_splits"), "--out", help="Root folder of the splits."),
    dataset: str = typer.Option("mnre", "--dataset", help="Data set name, the first folder under --out: "
                                                          "twitter2015 or twitter2017 (MNER, CoNLL files), "
                                                          "else MNRE."),
    check: bool = typer.Option(False, "--check", help="Rebuild in memory and verify against manifest.json; "
                                                      "write nothing."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed source lines and count them."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-relation tables."),
) -> None:
    """Build reproducible few-shot splits: fewshot_splits/<dataset>/K<k>/seed<s>/{train,val,test}.jsonl.

    --dataset mnre (default) balances relations; twitter2015/twitter2017 (MNER) balance entity types.

    Examples:

      kecpm build-splits --k 5                       # fewshot_splits/mnre/K5/seed{17,67,97}/

      kecpm build-splits --k 5 --check -q            # verify against the committed manifest.json files

      kecpm build-splits --k 10 --seeds 1,2,3 --data ../shared/data/mnre --out /tmp/splits

      kecpm build-splits --dataset twitter2017 --k 5   # MNER: K mentions of every entity type
    """
    data = data or default_data_dir() / (dataset if dataset in CONLL_DATASETS else "mnre")
    configs = [SplitConfig(data=str(data), out=str(out), dataset=dataset, k=k, fraction=fraction, seed=s,
                           skip_bad=skip_bad) for s in _parse_seeds(seeds)]
    sources = load_sources(data, skip_bad, dataset)
    for src in sources.values():
        if src.skipped:
            say(f"skipped {src.skipped} bad line(s) in {src.file}", "yellow")
    failed = False
    for cfg in configs:
        built = build_splits(cfg, sources)
        if check:
            problems = check_split_folder(cfg, built)
            for p in problems:
                say(p, "bold red", "mismatch:")
            if problems:
                failed = True
            else:
                say(f"{cfg.folder}: rebuilt splits match manifest.json", "green", "ok")
            continue
        folder = write_split_folder(cfg, built)
        if not quiet:
            for b in built.values():
                stdout.print(_split_table(cfg.seed, b))
        for b in built.values():
            if b.short:
                say(f"{b.name}: {len(b.short)} {b.labels.name}(s) have fewer {b.labels.unit} in {b.source.file} "
                    f"than asked, all taken{'' if quiet else ' (* above)'}: {', '.join(b.short)}", "yellow")
            if not b.posts:
                say(f"{b.name}: 0 posts: {Path(data) / b.source.file} holds no post with a {b.labels.name}; "
                    f"check the source files (the {b.name} split is empty)", "yellow", "warning:")
        sizes = ", ".join(f"{b.name} {len(b.posts)} posts/{sum(b.counts.values())} {b.labels.unit} "
                          f"(TV {b.distance:.3f})" for b in built.values())
        say(f"{folder}: {sizes}", "green", "wrote")
    if failed:
        say("split check failed; rebuild with the same data and options, or regenerate the manifests",
            "bold red", "error:")
        raise typer.Exit(1)


def macro_caption(s: Scores, over: str) -> str:
    """The printed macro F1 (percent) and what it averages over."""
    if over == "all":
        return f"macro F1 over all {len(s.relations)} relations of the schema (rel-strict, %): {_pct(s.macro(over))}"
    n = sum(1 for p in s.per_relation.values() if p.n_gold)
    return f"macro F1 over the {n} relations present in gold (rel-strict, %): {_pct(s.macro(over))}"


def _scores_table(s: Scores, over: str = "gold") -> Table:
    table = Table(title="scores (micro, %)", title_justify="left",
                  caption=macro_caption(s, over), caption_justify="left")
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
    if not spans and path.is_file() and detect_format(path) == "jsonl":
        # name-only predictions: labels outside the schema are kept and scored as false positives
        posts = require_posts(read_jsonl(path, bad, parse=free_form_post), path, bad)
    else:
        posts = read_posts(path, fmt, bad)
    if bad.count:
        say(f"{path}: skipped {bad.count} bad line(s); first: {bad.errors[0]}", "yellow")
    return posts


def _unique(posts: list[Post], path: Path) -> list[Post]:
    """``posts`` with no post id twice, else a DataError naming the file."""
    dup = duplicate_ids(posts)
    if dup:
        raise DataError(f"{len(dup)} post id(s) occur more than once, e.g. {dup[0]}; "
                        "merge each post's triples into one record", path)
    return posts


@friendly_errors
def evaluate_cmd(
    gold: Path = typer.Option(..., "--gold", help="Gold posts (canonical JSONL, JMERE JSON or MNRE txt)."),
    pred: Path = typer.Option(..., "--pred", help="Predicted posts, canonical JSONL aligned by post id."),
    match: str = typer.Option("span", "--match", help=f"Entity matching: {' | '.join(MATCHES)} "
                                                      "(name = lower-cased entity text, for outputs "
                                                      "without offsets)."),
    macro: str = typer.Option("gold", "--macro", metavar="gold|all",
                              help="Macro F1 printed: over the relations present in gold, or over all 21 "
                                   "relations of the schema (absent ones count as 0, as in the paper's code). "
                                   "The JSON holds both (macro_f1, macro_f1_all)."),
    out: Path = typer.Option(Path("results.json"), "--out", help="Where to write the scores as JSON "
                                                                 "(fractions in [0, 1], see docs/evaluate.md)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines and count them."),
) -> None:
    """Score predictions: entity, rel-strict and rel-boundary P/R/F1, macro F1, per relation.

    Tables (percent) go to stdout, messages to stderr.

    Examples:

      kecpm evaluate --gold SPLIT/test.jsonl --pred runs/mnre-K5/seed17/predictions.jsonl

      kecpm evaluate --gold GOLD --pred llm_triples.jsonl --match name --macro all --out scores.json
    """
    if match not in MATCHES:
        raise typer.BadParameter(f"{match!r}; expected one of {', '.join(MATCHES)}", param_hint="--match")
    macro = macro.removeprefix("over=")
    if macro not in MACRO:
        raise typer.BadParameter(f"{macro!r}; expected one of {', '.join(MACRO)}", param_hint="--macro")
    s = score(_unique(_read(gold, "auto", skip_bad), gold),
              _unique(_read(pred, "auto", skip_bad, spans=match == "span"), pred), match=match)
    stdout.print(_scores_table(s, macro))
    stdout.print(_relation_table(s.per_relation))
    result = {"gold": str(gold), "pred": str(pred), "match": match, "macro_printed": macro, **s.to_dict()}
    with atomic_write(out) as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    say(out, label="wrote")


@data_app.command("fetch")
@friendly_errors
def fetch_cmd(
    out: Path = typer.Option(None, "--out", show_default="$KECPM_CACHE/data/mnre",
                             help="Folder to download into."),
    base_url: str = typer.Option(None, "--base-url", show_default="the thecharm/MNRE repository at the pinned commit",
                                 help="Fetch from this URL instead (files are <base-url>/<name>)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Network timeout in seconds."),
) -> None:
    """Download the MNRE v2 text files at a pinned commit, verify sha256, resume partial downloads.

    Examples:

      kecpm data fetch                                # into $KECPM_CACHE/data/mnre

      kecpm data fetch --out ../shared/data/mnre && kecpm build-splits --k 5 --data ../shared/data/mnre
    """
    from kecpm.data.fetch import MNRE_BASE_URL, fetch_mnre

    done = fetch_mnre(out, base_url or MNRE_BASE_URL, timeout=timeout, show_progress=sys.stderr.isatty())
    for f in done:
        say(f"{f.status:>10}  {f.path}")
    say(f"sha256 verified; use --data {done[0].path.parent}", "green", "ok")


@data_app.command("stats")
@friendly_errors
def stats_cmd(
    files: list[Path] = typer.Argument(..., help="Files in any readable format (JSONL with text or tokens, "
                                                 "plain text one post per line, MNRE, JMERE, CoNLL), or - for stdin."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(INPUT_FORMATS)}."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip malformed lines and count them."),
    image_dir: Path | None = typer.Option(None, "--image-dir", help="Folder of the posts' images (img_id names "
                                                                    "the file): count the posts whose image is there."),
) -> None:
    """Counts of posts, triples, entities and relations of data files.

    Examples:

      kecpm data stats fewshot_splits/mnre/K5/seed17/*.jsonl

      kecpm data stats ../shared/data/mnre/mnre_test.txt --image-dir mnre_image/img_org/test

      cat tweets.txt | kecpm data stats -
    """
    summary = Table(title="files", title_justify="left")
    cols = ("file", "format", "posts", "triples", "entities", "rels", "caption", "know.", *(("images",) if image_dir else ()))
    for col in cols:
        summary.add_column(col, justify="left" if col in ("file", "format") else "right",
                           overflow="fold" if col == "file" else "ellipsis")
    per_file = []
    for path in files:
        bad = BadLines(skip=skip_bad)
        posts = read_inputs(path, bad, fmt, image_dir=image_dir).posts
        if bad.count:
            say(f"{path}: skipped {bad.count} bad line(s); first: {bad.errors[0]}", "yellow")
        dup = duplicate_ids(posts)
        if dup:
            posts = first_of_each_id(posts)
            say(f"{path}: {len(dup)} post id(s) occur more than once (e.g. {dup[0]}); each counted once "
                "(its first record)", "yellow")
        counts = relation_counts(posts)
        per_file.append((path, counts))
        missing = missing_images(posts) if image_dir else []
        if missing:
            say(f"{path}: {len(missing)} post(s) have no image file in {image_dir} (e.g. post {missing[0].id}: "
                f"{missing[0].image_path})", "yellow", "warning:")
        shown = "stdin" if str(path) == STDIN else sniff(path) if fmt == "auto" else fmt
        summary.add_row("/".join(path.parts[-2:]), "jsonl" if shown == "records" else shown, str(len(posts)),
                        str(sum(counts.values())), str(sum(len(p.entities) for p in posts)), str(len(counts)),
                        str(sum(p.caption is not None for p in posts)),
                        str(sum(p.knowledge is not None for p in posts)),
                        *((str(sum(bool(p.image_path) for p in posts) - len(missing)),) if image_dir else ()))
    stdout.print(summary)
    rels = sorted({r for _, c in per_file for r in c})
    if rels:
        table = Table(title="triples per relation", title_justify="left")
        table.add_column("relation")
        for path, _ in per_file:
            table.add_column("/".join(path.parts[-2:]), justify="right", overflow="fold")
        for rel in rels:
            table.add_row(rel, *(str(c.get(rel, 0)) for _, c in per_file))
        stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("build-splits")(build_splits_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.add_typer(data_app, name="data")
