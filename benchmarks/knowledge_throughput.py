"""Stage 1 throughput: posts/s for batched vLLM, one request at a time, transformers, and the cached rerun.

All on the same posts (default: the first 64 test posts of fs-jmere seed 17, with captions; two
demonstrations from its training posts) with the packaged SmolLM2-135M-Instruct, knowledge pass only.

    .venv/bin/python benchmarks/knowledge_throughput.py [--posts 64] [--max-new-tokens 64]

"generation" rates count only the time inside the backend (vLLM start-up reported apart);
"end-to-end" rates are the whole ``generate_knowledge`` call (retrieval, prompts, cache, parsing).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Timed:
    """A backend wrapper that sums the seconds spent in ``generate``."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0
        self.name, self.model_id, self.weights, self.structured = inner.name, inner.model_id, inner.weights, inner.structured

    def generate(self, batch, sampling, schema):  # noqa: ANN001, ANN201
        t0 = time.perf_counter()
        try:
            return self.inner.generate(batch, sampling, schema)
        finally:
            self.seconds += time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    from kecpm.data.jmere import read_jmere
    from kecpm.knowledge.backends import make_backend
    from kecpm.knowledge.cache import AnswerCache
    from kecpm.knowledge.config import KnowledgeConfig
    from kecpm.knowledge.pipeline import generate_knowledge
    from kecpm.paths import default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_dir(), help="data folder (holds fs-jmere/)")
    ap.add_argument("--posts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--hf-batch", type=int, default=16, help="transformers batch size")
    ap.add_argument("--hf-threads", type=int, default=1, help="transformers torch threads (2 threads on a busy 2-core machine spin-wait)")
    ap.add_argument("--hf-posts", type=int, default=None, help="posts for the transformers run (default: all)")
    ap.add_argument("--single-posts", type=int, default=None, help="posts for the one-at-a-time loop (default: all)")
    ap.add_argument("--skip", default="", help="comma list of runs to skip: vllm,prefix,single,transformers,cached")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    skip = set(filter(None, args.skip.split(",")))

    seed = args.data / "fs-jmere" / "seed_17"
    posts = read_jmere(seed / "test_ofa_image_caption.json")[: args.posts]
    pool = read_jmere(seed / "train_ofa_image_caption.json")
    base = KnowledgeConfig(backend="vllm", reflect=False, k=2, max_new_tokens=args.max_new_tokens, batch_size=len(posts))
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="kecpm-bench-"))
    embed_cache = AnswerCache(tmp / "warm")  # embed once so every run times generation, not retrieval
    generate_knowledge(posts, pool, base.replace(backend="dummy"), cache=embed_cache, progress=False)

    def run(label: str, cfg: KnowledgeConfig, backend: Any, cache_dir: Path, n: int) -> dict[str, Any]:
        timed = Timed(backend)
        with AnswerCache(cache_dir) as cache:
            cache.put_vectors(list(embed_cache.db.execute("SELECT key, vector FROM embeddings")))
            t0 = time.perf_counter()
            _, s = generate_knowledge(posts[:n], pool, cfg, backend=timed, cache=cache, progress=False)
            wall = time.perf_counter() - t0
        row = {"run": label, "posts": n, "batch": cfg.batch_size, "model_calls": s.model_calls, "tokens": s.tokens,
               "invalid_answers": s.invalid_answers, "generate_s": round(timed.seconds, 2), "wall_s": round(wall, 3),
               "posts_per_s_generation": round(n / timed.seconds, 3) if timed.seconds else None,
               "posts_per_s_end_to_end": round(n / wall, 3), "tokens_per_s": round(s.tokens / timed.seconds, 1) if timed.seconds else None}
        rows.append(row)
        print(json.dumps(row), flush=True)
        return row

    startup = None
    if not {"vllm", "single"} <= skip:
        vllm = make_backend("vllm", base)
        t0 = time.perf_counter()
        vllm.start()
        startup = time.perf_counter() - t0
        print(f"vLLM start-up: {startup:.1f} s", flush=True)
        try:
            if "vllm" not in skip:
                run("vllm batched", base, vllm, tmp / "vllm", len(posts))
            if "prefix" not in skip:  # same engine, answer started as JSON instead of grammar-constrained
                from kecpm.knowledge.backends.hf_backend import PREFIX

                grammar = (vllm.structured, vllm.prefix)
                vllm.structured, vllm.prefix = False, PREFIX
                run("vllm batched, json_mode=prefix", base, vllm, tmp / "prefix", len(posts))
                vllm.structured, vllm.prefix = grammar
            if "single" not in skip:
                n = args.single_posts or len(posts)
                run("vllm one request at a time", base.replace(batch_size=1), vllm, tmp / "single", n)
                # the same first n posts batched, for a like-for-like ratio
                run("vllm batched, same posts", base.replace(batch_size=n), vllm, tmp / "single-batched", n)
        finally:
            vllm.close()
    if "cached" not in skip and "vllm" not in skip:
        run("all cached rerun (vllm config)", base, make_backend("vllm", base), tmp / "vllm", len(posts))
    if "transformers" not in skip:
        cfg = base.replace(backend="transformers", batch_size=args.hf_batch)
        hf = make_backend("transformers", cfg, {"threads": args.hf_threads})
        try:
            run("transformers batched generate", cfg, hf, tmp / "hf", args.hf_posts or len(posts))
        finally:
            hf.close()

    by = {r["run"]: r for r in rows}
    summary: dict[str, Any] = {"posts": len(posts), "max_new_tokens": args.max_new_tokens, "vllm_startup_s": startup, "runs": rows}
    if "vllm batched, same posts" in by and "vllm one request at a time" in by:
        summary["batched_vs_single"] = round(by["vllm batched, same posts"]["posts_per_s_generation"]
                                             / by["vllm one request at a time"]["posts_per_s_generation"], 1)
    if "vllm batched" in by and "all cached rerun (vllm config)" in by:
        summary["cached_vs_generating_end_to_end"] = round(by["all cached rerun (vllm config)"]["posts_per_s_end_to_end"]
                                                           / by["vllm batched"]["posts_per_s_end_to_end"], 1)
    print("\n| run | batch | posts | posts/s (generation) | posts/s (end to end) | tokens/s | invalid answers |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['batch']} | {r['posts']} | {r['posts_per_s_generation']} | {r['posts_per_s_end_to_end']} "
              f"| {r['tokens_per_s']} | {r['invalid_answers']} |")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
