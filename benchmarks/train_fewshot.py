"""Stage 2 benchmark: `kecpm train` on few-shot splits with ablations; prints a markdown table.

Each variant is one `kecpm train` run (one model per seed, in its own process) under
``runs/bench/<splits>-<variant>``; finished seeds are reused, so the script can be re-run after a kill.
Figures: test rel-strict F1 mean ± std over seeds (and entity F1, macro F1), mean |tanh| of the
knowledge gates after training (0 = knowledge unused), seconds per epoch
(training + validation), prediction posts/s on the test split, peak resident memory.

    python benchmarks/train_fewshot.py --splits paper --variants full,noknow --threads 1
    python benchmarks/train_fewshot.py --splits ours --variants full,noknow,noimg,nosp
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from kecpm.results import aggregate, collect

VARIANTS = {"full": [], "noknow": ["--no-knowledge"], "noimg": ["--no-image"], "nosp": ["--no-soft-prompt"],
            "text": ["--no-knowledge", "--no-image", "--no-soft-prompt"]}
SPLITS = {"paper": ["--splits-dir", "../shared/data/fs-jmere"], "ours": ["--shots", "5", "--dataset", "mnre"]}


def run_variant(splits: str, variant: str, seeds: str, threads: int, extra: list[str], out: Path) -> Path:
    name = f"{splits}-{variant}"
    cmd = [str(Path(sys.executable).parent / "kecpm"), "train", *SPLITS[splits], *VARIANTS[variant], "--seeds", seeds,
           "--threads", str(threads), "--out", str(out), "--name", name, *extra]
    print("$ kecpm", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    return out / name


def row(run: Path) -> str:
    rows = collect(run)
    agg = aggregate(rows)
    pct = {m: f"{100 * a['mean']:.1f} ± {100 * a['std']:.1f}" for m, a in agg.items()}
    spe = statistics.fmean(r["seconds_per_epoch"] for r in rows)
    pps = statistics.fmean(r["predict_posts_per_second"] for r in rows)
    mem = max(r["peak_rss_mb"] for r in rows)
    seeds = ",".join(str(r["seed"]) for r in rows)
    gates = [r.get("gate_openness") or {} for r in rows]
    gate = " / ".join(f"{statistics.fmean(g[k] for g in gates):.2f}" for k in ("gate", "pair_gate")
                      if all(k in g for g in gates)) or "–"
    return (f"| {run.name} | {seeds} | {pct['rel_strict_f1']} | {pct['entity_f1']} | {pct['rel_boundary_f1']} | "
            f"{pct['macro_f1']} | {gate} | {spe:.0f} | {pps:.0f} | {mem:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", choices=sorted(SPLITS), default="paper")
    ap.add_argument("--variants", default="full,noknow", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--seeds", default="17,67,97")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bench"))
    ap.add_argument("--table-only", action="store_true", help="only print the table of finished runs")
    args, extra = ap.parse_known_args()
    runs = []
    for v in args.variants.split(","):
        run = args.out / f"{args.splits}-{v}"
        if not args.table_only:
            run = run_variant(args.splits, v, args.seeds, args.threads, extra, args.out)
        if collect(run):
            runs.append(run)
    print("| run | seeds | rel-strict F1 | entity F1 | rel-boundary F1 | macro F1 | gate open (fusion / pair) "
          "| s/epoch | predict posts/s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(run))


if __name__ == "__main__":
    main()
