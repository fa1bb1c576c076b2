"""The figures of ``kecpm report`` (matplotlib, Agg canvas, no pyplot state): each function returns a
Figure, or None when there is nothing to draw. Scores are in percent."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kecpm.results import LABELS

if TYPE_CHECKING:
    from kecpm.report import Confusion, RelationF1, SeedRun

FALLBACK_METRICS = ("rel_strict_f1", "entity_f1")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def relation_bars(per: dict[str, RelationF1]) -> Figure | None:
    """Horizontal bars: rel-strict test F1 per relation (mean over seeds, std as error bars), the
    relation with the most gold triples on top; its mean gold count beside its name."""
    if not per:
        return None
    names = list(per)
    means = [statistics.fmean(per[r].f1) for r in names]
    stds = [statistics.stdev(per[r].f1) if len(per[r].f1) > 1 else 0.0 for r in names]
    fig = _figure(7.5, 1.2 + 0.32 * len(names))
    ax = fig.add_subplot()
    ys = range(len(names))
    ax.barh(ys, means, xerr=stds, color="tab:blue", ecolor="0.3", capsize=2)
    ax.set_yticks(list(ys), [f"{r} ({statistics.fmean(per[r].n_gold):g})" for r in names])
    ax.invert_yaxis()
    for y, m, sd in zip(ys, means, stds, strict=True):
        ax.text(m + sd + 1, y, f"{m:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    n_seeds = max(len(per[r].f1) for r in names)
    ax.set_xlabel(f"rel-strict F1 (%), mean ± std over {n_seeds} seed(s)")
    ax.set_title("Test F1 per relation (gold triples per seed in brackets)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def confusion_matrix(conf: Confusion) -> Figure | None:
    """Counts of gold (rows) vs predicted (columns) relation on matched entity pairs, summed over seeds;
    cell colour is the share of the row (recall-like), the number is the count."""
    labels = conf.labels()
    if not labels:
        return None
    idx = {r: i for i, r in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for (g, p), n in conf.counts.items():
        counts[idx[g]][idx[p]] += n
    shares = [[c / max(1, sum(row)) for c in row] for row in counts]
    size = 2.5 + 0.42 * len(labels)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                        color="white" if shares[i][j] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted relation")
    ax.set_ylabel("gold relation")
    ax.set_title(f"Relations on matched entity pairs (seeds {', '.join(map(str, conf.seeds))})")
    fig.colorbar(image, ax=ax, label="share of the gold row")
    return fig


def _val_metric(results: dict[str, Any]) -> str | None:
    history = results.get("history") or []
    keys = set(history[0]) if history else set()
    for m in (results.get("selected_on"), *FALLBACK_METRICS):
        if m and m in keys:
            return m
    return None


def learning_curves(seeds: list[SeedRun]) -> Figure | None:
    """Training loss (top row) and val F1 in percent (bottom row) per epoch, one column per seed, rows
    sharing their y axis; the best epoch is a dashed line."""
    drawn = [s for s in seeds if s.results.get("history")]
    if not drawn:
        return None
    fig = _figure(1.5 + 3.2 * len(drawn), 5.5)
    axes = fig.subplots(2, len(drawn), sharey="row", squeeze=False)
    for col, s in enumerate(drawn):
        history = s.results["history"]
        epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
        metric = _val_metric(s.results)
        top, bottom = axes[0][col], axes[1][col]
        top.plot(epochs, [h.get("loss", float("nan")) for h in history], marker="o", ms=3, color="tab:red")
        if metric:
            bottom.plot(epochs, [100 * h.get(metric, float("nan")) for h in history], marker="o", ms=3, color="tab:blue")
        best = s.results.get("best_epoch")
        for ax in (top, bottom):
            if best:
                ax.axvline(best, ls="--", color="0.5", lw=1)
            ax.grid(alpha=0.3)
        top.set_title(f"seed {s.seed}")
        bottom.set_xlabel("epoch")
        if col == 0:
            top.set_ylabel("training loss")
            bottom.set_ylabel(f"val {LABELS.get(metric or '', 'F1')} (%)")
    fig.suptitle("Learning curves (dashed: best epoch, the model kept)")
    return fig
