"""``kecpm compare``: is run B really better than run A? The paired bootstrap over test posts.

The seed folders of A and B are paired by (data seed, training seed) and pooled. Each resample draws,
for every pair, that pair's test posts with replacement (the same draw for A and B) and scores both
sides on the pooled draw: micro F1 from the summed tp / predicted / gold counts. The difference is
B - A in F1 points; the interval is the 2.5-97.5 percentile of the resampled differences; the
two-sided p-value is twice the share of resamples whose difference is zero or of the other sign than
the observed one (at most 1; 1 when the observed difference is 0). A pair whose two sides were warm-started
from different models (their recorded ``warm_start`` sha256) gets a warning: B - A then includes the
difference between those models. ``rel_strict_by_run`` adds the training's variance: a Student-t interval over
the pairs' own rel-strict differences. See docs/evaluate.md.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kecpm.data.errors import DataError
from kecpm.data.folders import find_seed_splits
from kecpm.data.jsonl import read_json, read_jsonl
from kecpm.data.schema import Post
from kecpm.evaluate import score

log = logging.getLogger(__name__)
HEADLINE = ("rel_strict", "entity")
CHUNK = 1000  # resamples drawn at once: bounds memory to CHUNK x posts of a pair
# Student's t 0.975 quantiles for 1-30 degrees of freedom (more: the Cornish-Fisher expansion in t975)
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass
class SeedRun:
    """One ``seed*/`` folder of a run, with what pairs it and where its gold is."""

    run: Path
    dir: Path
    seed: int
    train_seed: int  # -1 when neither results.json nor config.json records it
    split_dir: str | None
    init: tuple[str, ...] = ()  # sha256 of the model(s) it was warm-started from (empty: none or unrecorded)


def init_digests(warm_start: Any) -> tuple[str, ...]:
    """The ``sha256`` values in a results.json's ``warm_start`` (one model's, or a pipeline's per part), sorted."""
    if not isinstance(warm_start, dict):
        return ()
    if isinstance(warm_start.get("sha256"), str):
        return (warm_start["sha256"],)
    return tuple(sorted({d for v in warm_start.values() for d in init_digests(v)}))


def seed_runs(run: Path) -> list[SeedRun]:
    """The finished seed folders of ``run`` (holding results.json and predictions.jsonl)."""
    dirs = [run] if (run / "results.json").is_file() else sorted(d for d in run.glob("seed*") if d.is_dir())
    out = []
    for d in dirs:
        if not (d / "results.json").is_file() or not (d / "predictions.jsonl").is_file():
            log.warning("%s: no results.json or predictions.jsonl (unfinished?); left out", d)
            continue
        res = read_json(d / "results.json")
        if not isinstance(res, dict) or not isinstance(res.get("seed"), int):
            raise DataError(f"{d / 'results.json'}: no integer seed (not the results.json of a kecpm run)")
        cfg = read_json(d / "config.json") if (d / "config.json").is_file() else {}
        train_seed = res.get("train_seed", (cfg.get("train") or {}).get("seed", -1))
        out.append(SeedRun(run, d, res["seed"], int(train_seed),
                           (cfg.get("run") or {}).get("split_dir") or res.get("split_dir"),
                           init_digests(res.get("warm_start"))))
    if not out:
        raise FileNotFoundError(f"{run}: no seed*/ folder with results.json and predictions.jsonl")
    return out


def gold_posts(s: SeedRun, gold_root: Path | None, cache: dict[Path, list[Post]]) -> tuple[Path, list[Post]]:
    """The test file and posts of the seed's split: under ``gold_root`` or beside its recorded split_dir."""
    if gold_root is None:
        if not s.split_dir:
            raise DataError(f"{s.dir}: no split_dir in results.json or config.json; give --gold-root")
        d = Path(s.split_dir)  # relative to where training ran
        gold_root = d.parent if re.fullmatch(r"seed_?\d+", d.name) else d
    try:
        split = find_seed_splits(gold_root, [s.seed])[0]
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{s.dir}: gold test set not found ({e}); give --gold-root") from e
    test = split.files["test"].resolve()
    if test not in cache:
        cache[test] = split.read("test")
    return test, cache[test]


def _predictions(s: SeedRun, gold: list[Post]) -> list[Post]:
    pred = read_jsonl(s.dir / "predictions.jsonl")
    ids, want = [p.id for p in pred], {g.id for g in gold}
    extra, lacking = sorted(set(ids) - want), sorted(want - set(ids))
    if extra or lacking or len(ids) != len(set(ids)):
        raise DataError(f"{s.run} seed {s.seed} (train seed {s.train_seed}): predictions.jsonl does not match the "
                        f"{len(want)} gold test posts: {len(extra)} id(s) not in gold (e.g. {extra[:1]}), "
                        f"{len(lacking)} gold id(s) missing (e.g. {lacking[:1]}), {len(ids) - len(set(ids))} repeated")
    return pred


def _post_counts(gold: list[Post], pred: list[Post]) -> list[dict[str, tuple[int, int, int]]]:
    """tp, n_pred, n_gold of each gold post (in order) for the headline metrics and each relation."""
    by_id, rows = {p.id: p for p in pred}, []
    for g in gold:
        s = score([g], [by_id[g.id]])
        prfs = {"rel_strict": s.rel_strict, "entity": s.entity, **s.per_relation}
        rows.append({k: (v.tp, v.n_pred, v.n_gold) for k, v in prfs.items()})
    return rows


def _annotations(posts: list[Post]) -> dict[str, Any]:
    """What scoring reads of gold posts (two test files alike here are the same test set)."""
    return {p.id: (p.tokens, p.entities, p.triples) for p in posts}


def _pair(runs: list[Path], side: str) -> dict[tuple[int, int], SeedRun]:
    out: dict[tuple[int, int], SeedRun] = {}
    for s in (s for r in runs for s in seed_runs(r)):
        key = (s.seed, s.train_seed)
        if key in out:
            raise DataError(f"{side}: seed {key[0]}, train seed {key[1]} occurs twice: {out[key].dir} and {s.dir}")
        out[key] = s
    return out


def _f1(c: np.ndarray) -> np.ndarray:
    """Micro F1 in points from [..., (tp, n_pred, n_gold)]: 2 tp / (n_pred + n_gold)."""
    den = c[..., 1] + c[..., 2]
    return 100 * np.divide(2 * c[..., 0], den, out=np.zeros(den.shape), where=den > 0)


def bootstrap(counts: list[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Summed counts (n_boot, columns) of ``n_boot`` resamples; ``counts`` holds one (posts, columns) array
    per pair, each resampled with replacement on its own (one draw for all columns: A and B paired)."""
    out = np.zeros((n_boot, counts[0].shape[1]))
    for c in counts:
        n = len(c)
        for lo in range(0, n_boot, CHUNK):
            m = min(CHUNK, n_boot - lo)
            idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
            out[lo:lo + m] += np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(float) @ c
    return out


def t975(df: int) -> float:
    """Student's t 0.975 quantile with ``df`` (>= 1) degrees of freedom."""
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def by_run(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """B - A in rel-strict per paired seed run: mean, sample std, a 95% t-interval over the runs (None with one
    run) and how many runs B wins. The bootstrap over posts holds each trained model fixed; this one varies the
    training (data seed and training seed) too, so it is the wider and the one that says whether a gain survives
    another training run."""
    d = np.array([p["rel_strict_f1_b"] - p["rel_strict_f1_a"] for p in pairs])
    mean, n = float(d.mean()), len(d)
    sd = float(d.std(ddof=1)) if n > 1 else None
    half = t975(n - 1) * sd / np.sqrt(n) if sd is not None else None
    return {"n": n, "mean": mean, "std": sd, "ci_low": None if half is None else mean - half,
            "ci_high": None if half is None else mean + half, "b_better": int((d > 0).sum())}


def compare_runs(a: list[Path], b: list[Path], n_boot: int = 10000, seed: int = 0,
                 gold_root: Path | None = None) -> dict[str, Any]:
    """Paired bootstrap of B - A (F1 points) pooled over the (data seed, training seed) pairs of both sides."""
    sides, cache = (_pair(a, "A"), _pair(b, "B")), dict[Path, list[Post]]()
    keys = sorted(sides[0].keys() & sides[1].keys())
    for name, side in zip("AB", sides, strict=True):
        for k in sorted(side.keys() - set(keys)):
            log.warning("%s: %s has no partner on the other side; left out", name, side[k].dir)
    if not keys:
        raise DataError("no (data seed, training seed) pair common to A and B")
    pairs: list[dict[str, Any]] = []
    rows = []
    for k in keys:
        sa, sb = sides[0][k], sides[1][k]
        (ta, gold), (tb, gold_b) = gold_posts(sa, gold_root, cache), gold_posts(sb, gold_root, cache)
        if ta != tb and _annotations(gold) != _annotations(gold_b):
            raise DataError(f"seed {k[0]}, train seed {k[1]}: A and B have different test sets ({ta} vs {tb})")
        if sa.init and sb.init and sa.init != sb.init:
            log.warning("seed %d, train seed %d: A and B were warm-started from different models (sha256 %s vs %s): "
                        "B - A includes their difference", k[0], k[1], ",".join(d[:12] for d in sa.init),
                        ",".join(d[:12] for d in sb.init))
        rows.append((_post_counts(gold, _predictions(sa, gold)), _post_counts(gold, _predictions(sb, gold))))
        pairs.append({"seed": k[0], "train_seed": k[1], "n_posts": len(gold), "a": str(sa.dir), "b": str(sb.dir),
                      "init_a": list(sa.init), "init_b": list(sb.init)})
    rels = sorted({r for ra, rb in rows for post in ra + rb for r in post} - set(HEADLINE))
    names = [*HEADLINE, *rels]
    counts = [np.array([[x for m in names for post in (pa, pb) for x in post.get(m, (0, 0, 0))]
                        for pa, pb in zip(ra, rb, strict=True)], dtype=float) for ra, rb in rows]
    shape = (len(names), 2, 3)  # metric, side (A, B), (tp, n_pred, n_gold)
    for pair, c in zip(pairs, counts, strict=True):
        pair["rel_strict_f1_a"], pair["rel_strict_f1_b"] = _f1(c.sum(0).reshape(shape)[0]).tolist()
    obs = sum(c.sum(0) for c in counts).reshape(shape)
    boot = bootstrap(counts, n_boot, np.random.default_rng(seed)).reshape(n_boot, *shape)
    f1, f1_boot = _f1(obs), _f1(boot)
    diff, diff_boot = f1[:, 1] - f1[:, 0], f1_boot[..., 1] - f1_boot[..., 0]
    lo, hi = np.percentile(diff_boot, [2.5, 97.5], axis=0)
    against = np.where(diff > 0, diff_boot <= 1e-9, diff_boot >= -1e-9)  # zero or the other sign
    p = np.where(np.abs(diff) <= 1e-9, 1.0, np.minimum(1.0, 2 * against.mean(0)))

    def entry(i: int) -> dict[str, Any]:
        return {"f1_a": float(f1[i, 0]), "f1_b": float(f1[i, 1]), "diff": float(diff[i]), "ci_low": float(lo[i]),
                "ci_high": float(hi[i]), "p_value": float(p[i]), "support": int(obs[i, 0, 2]),
                **{s: dict(zip(("tp", "n_pred", "n_gold"), map(int, obs[i, j]), strict=True))
                   for j, s in enumerate("ab")}}

    per = {names[i]: entry(i) for i in range(2, len(names))}
    return {"a": [str(r) for r in a], "b": [str(r) for r in b], "pairs": pairs, "n_posts": sum(len(c) for c in counts),
           "n_boot": n_boot, "seed": seed, "unit": "F1 points (F1 x 100); diff = B - A",
           "method": "paired bootstrap over test posts, resampled within each (data seed, training seed) pair; "
                     "95% percentile interval; p = 2 x share of resamples with difference 0 or of the other sign",
           "rel_strict": entry(0), "entity": entry(1), "rel_strict_by_run": by_run(pairs),
           "per_relation": dict(sorted(per.items(), key=lambda kv: (-kv[1]["support"], kv[0])))}
