"""Stage 1's prefill against vLLM's KV-cache block size (``backend.block_size``): the same prompts, a fresh engine per size.

vLLM's prefix cache reuses whole KV blocks only. Its CPU default block is 128 tokens; the zero-shot prompts
gen-knowledge sends share their first 193 tokens (chat template + instructions), so with 128 every prompt
recomputed 65 shared tokens besides its own ~30. For each size this runs the folder's first N prompts on an
empty cache (grammar JSON mode, greedy, as ``make run``) in its own process and prints seconds, tokens and
tokens/s, then whether every size gave the same answers.

    .venv/bin/python benchmarks/vllm_block_size.py fewshot_splits/mnre/K5/seed17 --posts 192 --sizes 128,32

Run it with ``OMP_NUM_THREADS=1`` to measure what ``make run``'s stage 1 gets (one core).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def one(split: Path, posts: int, size: int, out: Path) -> None:
    """Generate the answers of ``posts`` prompts with a ``size``-token block; write figures and texts to ``out``."""
    from vllm_overhead import capture

    from kecpm.knowledge.backends import make_backend
    from kecpm.knowledge.backends.vllm_backend import chat, engine_environment, sampling_params
    from kecpm.knowledge.config import KnowledgeConfig

    cfg = KnowledgeConfig(backend="vllm", reflect=False, k=0)
    cap = capture(split, posts, cfg)
    engine_environment()
    from vllm import LLM

    llm = LLM(**make_backend("vllm", cfg, {"block_size": size}).engine_args)
    params = sampling_params(cap.sampling.to_dict(), cap.schema)
    t0, answers = time.perf_counter(), []
    for k in range(0, len(cap.batches), cfg.batch_size):  # gen-knowledge's batches
        answers += chat(llm, cap.batches[k:k + cfg.batch_size], params)
    secs = time.perf_counter() - t0
    tokens = sum(n for _, n in answers)
    out.write_text(json.dumps({"block_size": size, "prompts": len(answers), "seconds": round(secs, 1), "tokens": tokens,
                               "tokens_per_s": round(tokens / secs, 1), "texts": [t for t, _ in answers]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path, help="a K-shot split folder (train/val/test.jsonl)")
    ap.add_argument("--posts", type=int, default=192, help="the first N posts of the folder")
    ap.add_argument("--sizes", default="128,32", help="block sizes, comma-separated (multiples of 16)")
    ap.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.split, args.posts, args.one, args.out)
        return
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = Path(tempfile.mkdtemp(prefix="kecpm-block-")) / "run.json"
        subprocess.run([sys.executable, __file__, str(args.split), "--posts", str(args.posts), "--one", str(size),
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        runs.append(json.loads(out.read_text()))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "texts"}), flush=True)
    same = all(r["texts"] == runs[0]["texts"] for r in runs)
    print(json.dumps({"same_answers": same, "speedup_vs_first": [round(runs[0]["seconds"] / r["seconds"], 2) for r in runs]}))


if __name__ == "__main__":
    main()
