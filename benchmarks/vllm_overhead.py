"""Stage 1 overhead: tokens/s of vLLM inside ``kecpm gen-knowledge`` against raw vLLM on the same prompts.

The prompts are the ones gen-knowledge builds for a K-shot split folder (its default config, or the
options given). Three timings on the same conversations, same sampling, same JSON mode:

1. ``gen-knowledge``: the whole ``generate_knowledge`` call on an empty answer cache (prompts,
   cache look-ups and writes, the worker process and its pipe, parsing), the vLLM start-up excluded;
2. ``backend``: our vLLM backend's ``generate`` on all conversations at once (worker + pipe only), run
   second in the same engine, so its prompts' prefixes are cached (a lower bound of the overhead);
3. ``raw``: ``vllm.LLM(**the same engine args).chat(conversations, the same SamplingParams)`` in this
   process, no kecpm code around it.

    .venv/bin/python benchmarks/vllm_overhead.py fewshot_splits/mnre/K5/seed17 --posts 128 [--set json_mode=prefix]

Prints one JSON line per timing and the ratios gen-knowledge / raw and backend / raw (tokens/s).
Run it on an idle machine: it starts vLLM twice.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Capture:
    """A backend stand-in that records what gen-knowledge would send and answers nothing useful."""

    name, model_id, weights, structured = "vllm", "capture", "capture", True

    def __init__(self) -> None:
        self.batches: list[Any] = []
        self.sampling: Any = None
        self.schema: Any = None

    def generate(self, batch, sampling, schema):  # noqa: ANN001, ANN201
        from kecpm.knowledge.backends.base import Answer

        self.batches.extend(batch)
        self.sampling, self.schema = sampling, schema
        return [Answer('{"sentences": []}', 1) for _ in batch]

    def close(self) -> None:
        pass


def capture(split: Path, posts: int, cfg: Any) -> Capture:
    """What ``generate_knowledge`` with ``cfg`` sends for the first ``posts`` posts of ``split`` (an empty
    answer cache, nothing generated): its conversations, sampling and JSON schema."""
    from kecpm.knowledge.cache import AnswerCache
    from kecpm.knowledge.inputs import load_inputs
    from kecpm.knowledge.pipeline import generate_knowledge

    items, pool = load_inputs(split, (), None)
    cap = Capture()
    with AnswerCache(Path(tempfile.mkdtemp(prefix="kecpm-capture-")) / "capture") as cache:
        generate_knowledge(items[:posts], pool, cfg, backend=cap, cache=cache, progress=False)
    return cap


def parse_value(text: str) -> Any:
    """A JSON value, or the text itself (``json_mode=prefix``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def row(label: str, n: int, tokens: int, seconds: float) -> dict[str, Any]:
    out = {"run": label, "prompts": n, "tokens": tokens, "seconds": round(seconds, 2),
           "tokens_per_s": round(tokens / seconds, 1), "prompts_per_s": round(n / seconds, 3)}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    from kecpm.knowledge.backends import make_backend
    from kecpm.knowledge.cache import AnswerCache
    from kecpm.knowledge.config import KnowledgeConfig
    from kecpm.knowledge.inputs import load_inputs
    from kecpm.knowledge.pipeline import generate_knowledge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path, help="a K-shot split folder (train/val/test.jsonl)")
    ap.add_argument("--posts", type=int, default=128, help="the first N posts of the folder")
    ap.add_argument("--n-demos", type=int, default=0, help="demonstrations per prompt (make run: 0)")
    ap.add_argument("--set", dest="options", action="append", default=[], help="vllm backend option, e.g. json_mode=prefix")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    options = {k: parse_value(v) for k, v in (o.split("=", 1) for o in args.options)}

    posts, pool = load_inputs(args.split, (), None)
    posts = posts[: args.posts]
    cfg = KnowledgeConfig(backend="vllm", reflect=False, k=args.n_demos, batch_size=len(posts))
    tmp = Path(tempfile.mkdtemp(prefix="kecpm-overhead-"))
    cap = capture(args.split, args.posts, cfg)
    convs, sampling, schema = cap.batches, cap.sampling, cap.schema

    rows: list[dict[str, Any]] = []
    backend = make_backend("vllm", cfg, options)
    t0 = time.perf_counter()
    backend.start()
    startup = time.perf_counter() - t0
    try:
        with AnswerCache(tmp / "run") as cache:
            t0 = time.perf_counter()
            _, s = generate_knowledge(posts, pool, cfg, backend=backend, cache=cache, progress=False)
            rows.append(row("gen-knowledge (whole call, empty cache)", len(convs), s.tokens, time.perf_counter() - t0))
        t0 = time.perf_counter()
        answers = backend.generate(convs, sampling, schema if backend.structured else None)
        rows.append(row("kecpm vllm backend.generate (2nd pass: prefix cache warm)", len(convs), sum(a.tokens for a in answers), time.perf_counter() - t0))
        engine_args, prefix = dict(backend.engine_args), backend.prefix
    finally:
        backend.close()

    from vllm import LLM

    from kecpm.knowledge.backends.vllm_backend import chat, engine_environment, sampling_params

    engine_environment()  # what the backend's worker sets
    llm = LLM(**engine_args)
    params = sampling_params(sampling.to_dict(), None if prefix else schema)  # what the backend's worker sends
    t0 = time.perf_counter()
    answers = chat(llm, convs, params, prefix)  # one llm.chat call, nothing around it
    rows.append(row("raw vLLM LLM.chat", len(convs), sum(n for _, n in answers), time.perf_counter() - t0))
    llm.llm_engine.engine_core.shutdown()

    raw = rows[-1]["tokens_per_s"]
    summary = {"split": str(args.split), "prompts": len(convs), "n_demos": args.n_demos, "options": options,
               "vllm_startup_s": round(startup, 1), "runs": rows,
               "gen_knowledge_vs_raw": round(rows[0]["tokens_per_s"] / raw, 3),
               "backend_vs_raw": round(rows[1]["tokens_per_s"] / raw, 3)}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
