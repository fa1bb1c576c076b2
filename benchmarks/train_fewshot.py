"""Stage 2 benchmark: `kecpm train` on few-shot splits with ablations; prints a markdown table.

Each variant is one `kecpm train` run (one model per seed, in its own process) under
``runs/bench/<splits>-<variant>``; finished seeds are reused, so the script can be re-run after a kill.
Figures: test rel-strict F1 mean ± std over seeds (and entity F1, macro F1), mean |tanh| of the
knowledge gates after training (0 = knowledge unused), seconds per epoch
(training + validation), prediction posts/s on the test split, peak resident memory.

    python benchmarks/train_fewshot.py --splits paper --variants full,noknow --threads 1
    python benchmarks/train_fewshot.py --splits ours --variants full,noknow,noimg,nosp
    # warm start from the cached entity model (`kecpm pretrain-entities`), 2 training seeds per data seed:
    python benchmarks/train_fewshot.py --splits paper --variants warm-shapes,warm-shapes-noknow --train-seeds 1,2 \
        --init-from "$(kecpm pretrain-entities)"
    # extra arguments go to `kecpm train`: with --unlabelled each row is shown before and after the prior shift
    python benchmarks/train_fewshot.py --splits ours --variants warm-shapes --train-seeds 1,2 \
        --init-from "$(kecpm pretrain-entities)" --unlabelled ../shared/data/mnre/mnre_train.txt

With ``--train-seeds`` each variant runs once per training seed (run folders ``<splits>-<variant>-t<s>``)
and its row pools them all: mean ± std over data seeds x training seeds.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
from pathlib import Path

from kecpm.results import aggregate, collect

MENTIONS = ["--set", "model.word_shapes=true", "--set", "model.knowledge_mentions=true"]
# word shapes are on by default since session 5, knowledge anchored to mentions since session 6: rows without
# them say so (BLOB: the knowledge read only as one blob by the fusion, as before session 6)
BLOB = ["--set", "model.knowledge_mentions=false"]
NS = ["--set", "model.word_shapes=false", *BLOB]
VARIANTS = {"full": NS, "noknow": ["--no-knowledge", *NS], "noimg": ["--no-image", *NS], "nosp": ["--no-soft-prompt", *NS],
            "text": ["--no-knowledge", "--no-image", "--no-soft-prompt", *NS],
            "shapes": ["--set", "model.word_shapes=true", *BLOB],
            # warm starts add the script's --init-from: an entity model trained with word shapes for the
            # -shapes variants (`kecpm pretrain-entities`), without (`--set model.word_shapes=false`) for the others
            "warm": NS, "warm-noknow": ["--no-knowledge", *NS],
            "warm-shapes": ["--set", "model.word_shapes=true", *BLOB],
            "warm-shapes-noknow": ["--no-knowledge", "--set", "model.word_shapes=true", *BLOB],
            # linear probing then fine-tuning: the warm encoder waits 3 epochs while the new heads settle
            "warm-shapes-lpft": ["--set", "model.word_shapes=true", "--set", "train.head_only_epochs=3", *BLOB],
            "warm-shapes-lpft-noknow": ["--no-knowledge", "--set", "model.word_shapes=true",
                                        "--set", "train.head_only_epochs=3", *BLOB],
            # knowledge anchored to mentions: span / pair features "named in the knowledge"
            "warm-shapes-mentions": MENTIONS,
            # the knowledge only as mention features, not read by the side encoder (caption-only side sequence)
            "warm-shapes-mentions-noside": [*MENTIONS, "--set", "model.knowledge_in_side=false"],
            # a moving average of the weights (train.ema) is validated, selected and kept
            "warm-shapes-mentions-ema": [*MENTIONS, "--set", "train.ema=0.95"],
            # the related systems (#12) on top of warm-shapes-mentions. MoRe: add `--retrieval CORPUS` (extra
            # argument, benchmarks/retrieval_corpus.py); PROMU: --init-from the `kecpm pretrain-align` folder
            "warm-shapes-mentions-more-text": [*MENTIONS, "--experts", "text"],
            "warm-shapes-mentions-more-visual": [*MENTIONS, "--experts", "visual"],
            "warm-shapes-mentions-more-mix": [*MENTIONS, "--experts", "mix"],
            "warm-shapes-mentions-ib": [*MENTIONS, "--set", "model.ib_weight=0.01"],
            "warm-shapes-mentions-align": [*MENTIONS, "--set", "model.align_weight=0.1"],
            "warm-shapes-mentions-mmib": [*MENTIONS, "--set", "model.ib_weight=0.01", "--set", "model.align_weight=0.1"],
            "warm-shapes-mentions-promu": MENTIONS,
            # typed entity hints (#11): knowledge from `gen-knowledge --format hints`, spans get a learned
            # vector per hinted type (use --splits ours-hints: split folders holding hint-format knowledge)
            "warm-shapes-mentions-hints": [*MENTIONS, "--set", "model.knowledge_hints=true"],
            # relation extraction with the gold entities given (the MNRE setting)
            "mre": ["--task", "mre", *NS], "warm-shapes-mre": ["--task", "mre", "--set", "model.word_shapes=true", *BLOB]}
# every row above was measured before decoding kept at least one triple per post (model.min_triples, session 9):
# they say min_triples=0 so that they reproduce; the -min1 rows are the same runs with it (the default since)
MIN0, MIN1 = ["--set", "model.min_triples=0"], ["--set", "model.min_triples=1"]
VARIANTS = {name: [*args, *MIN0] for name, args in VARIANTS.items()}
VARIANTS |= {f"{name}-min1": [*VARIANTS[name][:-len(MIN0)], *MIN1]
             for name in ("warm-shapes-mentions", "warm-shapes-noknow", "warm-shapes-mre")}
# mention replacement (session 10, kecpm.data.augment): 2 extra copies of every training post, names drawn from
# the training posts themselves (-aug2) or from the public Twitter-2017 NER train set (-aug2tw)
AUG2 = [*MENTIONS, *MIN1, "--set", "train.augment=2"]
VARIANTS |= {"warm-shapes-mentions-min1-aug2": AUG2,
             "warm-shapes-mentions-min1-aug2tw": [*AUG2, "--set", "train.augment_pool=../shared/data/twitter2017/train.txt"]}
# the relation head trained also on up to 2 spans per post that the span head wrongly takes for entities
# (every pair with them: no relation), as it meets them when predicting (session 10)
NEG2 = ["--set", "model.relation_negatives=2"]
VARIANTS |= {"warm-shapes-mentions-min1-neg2": [*MENTIONS, *MIN1, *NEG2],
             "warm-shapes-noknow-min1-neg2": [*VARIANTS["warm-shapes-noknow-min1"], *NEG2]}
# epoch and thresholds selected on val by the mean of entity and rel-strict F1 instead of rel-strict alone (session 11)
SEL = ["--set", "train.metric=entity_rel_f1"]
VARIANTS |= {f"{name}-sel": [*VARIANTS[name], *SEL] for name in ("warm-shapes-mentions-min1", "warm-shapes-noknow-min1",
                                                                    "warm-shapes-mentions-min1-neg2")}
# two models, each with its own encoder (PURE): entity model, then relation model over its entities (session 11)
VARIANTS |= {"warm-shapes-mentions-min1-pipe": [*MENTIONS, *MIN1, "--pipeline"],
             "warm-shapes-noknow-min1-pipe": [*VARIANTS["warm-shapes-noknow-min1"], "--pipeline"]}
# the relation model also reads the knowledge sentences naming both entities of a pair (session 12); its entity
# model is the -pipe variant's (same options): copy that run's seed<s>/entity folders in to skip retraining them
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent": [*MENTIONS, *MIN1, "--pipeline",
                                                         "--set", "model.pair_sentences=true"]}
# and its entity model reads the sentences naming each span (session 13): its relation model is the -pairsent
# variant's (same options), copy that run's seed<s>/relation folders in to skip retraining them
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-spansent": [*MENTIONS, *MIN1, "--pipeline", "--set",
                                                                  "model.pair_sentences=true", "--set",
                                                                  "model.span_sentences=true"]}
# the best epoch of each model selected (and early stopping judged) by the mean val score of the last 3 epochs
# (session 13): on training seed 2 the relation models stopped at epoch 10 after one lucky early val reading
WIN3 = ["--set", "train.select_window=3"]
VARIANTS |= {f"{name}-win3": [*VARIANTS[name], *WIN3] for name in ("warm-shapes-mentions-min1-pipe-pairsent",
                                                                     "warm-shapes-noknow-min1-pipe",
                                                                     "warm-shapes-mentions-min1-pipe",
                                                                     "warm-shapes-mentions-min1-pipe-pairsent-spansent")}
# both models read the knowledge with the text in the trainable encoder, [CLS] text [SEP] knowledge [SEP], as the
# paper's template does (session 15, model.inline_knowledge_tokens; the filtered ChatGPT knowledge is <= 119 subwords)
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-inline-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-win3"], "--set", "model.inline_knowledge_tokens=128"]}
# the same, the knowledge inline in the entity model only (session 16, model.inline_knowledge_in): its entity model is
# the -inline one's and its relation model the -pairsent-win3 one's
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-entinline-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-inline-win3"], "--set", "model.inline_knowledge_in=entity"]}
# the entity model's budget raised to 25 epochs, the relation model's left at --epochs (session 17, train.entity_epochs):
# the inline entity models still improved at epoch 15 of 15. Each relation model is the variant's without -ent25 (same
# options): copy that run's seed<s>/relation folders in to reuse them
VARIANTS |= {f"{name}-ent25": [*VARIANTS[name], "--set", "train.entity_epochs=25"]
             for name in ("warm-shapes-mentions-min1-pipe-pairsent-entinline-win3", "warm-shapes-noknow-min1-pipe-win3")}
# the entity model also adds the type evidence of the knowledge sentences that open with a span (session 18,
# model.knowledge_definitions); its relation model is the -entinline-win3 one's (same options): copy it in to reuse it
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-entinline-def-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set", "model.knowledge_definitions=true"]}
# the entity model's inline knowledge with word shapes, as its text has (session 18, model.inline_knowledge_shapes):
# the uncased encoder then sees the LLM's capitals; relation model as -entinline-win3's (copy it in to reuse it)
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-entinline-kshapes-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set", "model.inline_knowledge_shapes=true"]}
# the entity model's inline knowledge hidden in training less or more often (session 19, model.inline_knowledge_dropout; 0.3
# before): relation model as -entinline-win3's (copy it in to reuse it)
VARIANTS |= {f"warm-shapes-mentions-min1-pipe-pairsent-entinline-ikd{p:g}-win3".replace(".", ""): [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set", f"model.inline_knowledge_dropout={p}"]
    for p in (0.0, 0.5)}
# the entity model's inline knowledge as the encoder's segment B, token type 1 (session 19,
# model.inline_knowledge_segment): relation model as -entinline-win3's (copy it in to reuse it)
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-entinline-seg-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set", "model.inline_knowledge_segment=true"]}
# the entity model reads a random subset (each sentence hidden with probability 0.2) of its inline knowledge's sentences
# in a random order at each training step (session 20, model.inline_knowledge_sentence_dropout): relation model as
# -entinline-win3's (copy it in to reuse it)
VARIANTS |= {"warm-shapes-mentions-min1-pipe-pairsent-entinline-ksd02-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set",
    "model.inline_knowledge_sentence_dropout=0.2"]}
# the entity model also trains on the training posts' knowledge sentences that name a gold entity and no other
# capitalised word, the gold names projected onto them (session 21, train.knowledge_posts=clean): relation model as
# -entinline-win3's (the option is the entity model's only; copy it in to reuse it)
# (-kpnamed: every sentence that names a gold entity, other names in it taught as non-entities)
VARIANTS |= {f"warm-shapes-mentions-min1-pipe-pairsent-entinline-kp{mode}-win3": [
    *VARIANTS["warm-shapes-mentions-min1-pipe-pairsent-entinline-win3"], "--set", f"train.knowledge_posts={mode}"]
    for mode in ("clean", "named")}
# the pipeline's relation model also trains on up to 2 runs of name-like words per post that overlap no gold entity,
# with random types, every pair with them labelled no relation (session 23, model.relation_negatives in a pipeline):
# its entity model is the variant's without -neg2 (same options): copy that run's seed<s>/entity folders in to reuse it
VARIANTS |= {name.replace("-win3", "-neg2-win3"): [*VARIANTS[name], *NEG2]
             for name in ("warm-shapes-mentions-min1-pipe-pairsent-entinline-win3", "warm-shapes-noknow-min1-pipe-win3",
                          "warm-shapes-mentions-min1-pipe-win3")}
WARM = tuple(v for v in VARIANTS if v.startswith("warm"))
SPLITS = {"paper": ["--splits-dir", "../shared/data/fs-jmere"], "ours": ["--shots", "5", "--dataset", "mnre"],
          # copies of our K=5 split folders whose knowledge.jsonl is `gen-knowledge --format hints` output
          "ours-hints": ["--splits-dir", "fewshot_splits/mnre/K5-hints"]}


def run_variant(splits: str, variant: str, seeds: str, threads: int, extra: list[str], out: Path,
                train_seed: int | None = None, init_from: str | None = None) -> Path:
    name = f"{splits}-{variant}" + (f"-t{train_seed}" if train_seed is not None else "")
    if variant in WARM:
        if not init_from:
            raise SystemExit(f"variant {variant} needs --init-from (e.g. \"$(kecpm pretrain-entities)\")")
        extra = ["--init-from", init_from, *extra]
    if "--experts" in VARIANTS[variant] and "--retrieval" not in extra:
        raise SystemExit(f"variant {variant} needs --retrieval CORPUS (benchmarks/retrieval_corpus.py)")
    if train_seed is not None:
        extra = ["--train-seed", str(train_seed), *extra]
    # select_window became 3 by default (session 15); the variants without -win3 keep 1, as they were measured
    pin = [] if "train.select_window=3" in VARIANTS[variant] else ["--set", "train.select_window=1"]
    cmd = [str(Path(sys.executable).parent / "kecpm"), "train", *SPLITS[splits], *pin, *VARIANTS[variant], "--seeds", seeds,
           "--threads", str(threads), "--out", str(out), "--name", name, *extra]
    print("$ kecpm", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    return out / name


def row(name: str, runs: list[Path], plain: bool = False) -> str:
    rows = [r for run in runs for r in collect(run)]
    rows = before_adapt(rows) if plain else rows
    agg = aggregate(rows)
    pct = {m: f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f}" for m, a in agg.items()}
    spe = statistics.fmean(r["seconds_per_epoch"] for r in rows)
    pps = statistics.fmean(r["predict_posts_per_second"] for r in rows)
    mem = max(r["peak_rss_mb"] for r in rows)
    seeds = ",".join(sorted({str(r["seed"]) for r in rows})) + f" ({len(rows)} runs)"
    gates = [r.get("gate_openness") or {} for r in rows]
    gate = " / ".join(f"{statistics.fmean(g[k] for g in gates):.2f}" for k in ("gate", "pair_gate", "sentence_gate",
                                                                               "entity_span_sentence_gate")
                      if all(k in g for g in gates)) or "–"
    acc = [r["rel_acc_gold_entities"] for r in rows if r.get("rel_acc_gold_entities") is not None]
    accs = f"{100 * statistics.fmean(acc):.1f} ± {100 * statistics.stdev(acc):.1f}" if len(acc) > 1 else "–"
    return (f"| {name} | {seeds} | {pct['rel_strict_f1']} | {pct['entity_f1']} | {pct['rel_boundary_f1']} | "
            f"{pct['macro_f1']} | {accs} | {gate} | {spe:.0f} | {pps:.0f} | {mem:.0f} |")


def before_adapt(rows: list[dict]) -> list[dict]:
    """The rows of runs trained with --unlabelled as they scored before the prior-shift correction."""
    return [{**r, "test": r["test_before_adapt"], "rel_acc_gold_entities": r["test_before_adapt"].get(
        "rel_acc_gold_entities")} for r in rows if "test_before_adapt" in r]


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM as an exception: ``subprocess.run`` then kills the ``kecpm train`` it waits for (it resumes
    from its checkpoint), instead of leaving it running with no parent."""
    raise SystemExit(f"stopped by signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", choices=sorted(SPLITS), default="paper")
    ap.add_argument("--variants", default="full,noknow", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--seeds", default="17,67,97")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bench"))
    ap.add_argument("--train-seeds", default="", help="comma list: one run per training seed (default: the data seed)")
    ap.add_argument("--init-from", default="", help="entity model folder for the warm-start variants")
    ap.add_argument("--table-only", action="store_true", help="only print the table of finished runs")
    args, extra = ap.parse_known_args()
    tseeds = [int(t) for t in args.train_seeds.split(",") if t] or [None]
    rows = []
    for v in args.variants.split(","):
        runs = []
        for ts in tseeds:
            run = args.out / (f"{args.splits}-{v}" + (f"-t{ts}" if ts is not None else ""))
            if not args.table_only:
                run = run_variant(args.splits, v, args.seeds, args.threads, extra, args.out, ts, args.init_from)
            if collect(run):
                runs.append(run)
        if runs and any("test_before_adapt" in r for run in runs for r in collect(run)):
            rows.append(row(f"{args.splits}-{v}, no prior shift", runs, plain=True))
            rows.append(row(f"{args.splits}-{v}, prior shift (--unlabelled)", runs))
        elif runs:
            rows.append(row(f"{args.splits}-{v}", runs))
    print("| run | seeds | rel-strict F1 | entity F1 | rel-boundary F1 | macro F1 | rel. acc. gold entities "
          "| gate open (fusion / pair [/ sentences] [/ span sentences]) | s/epoch | predict posts/s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
