"""The ``vllm`` backend: offline batched ``LLM.chat`` with structured JSON output, in its own process.

vLLM runs in a spawned worker process (started on the first ``generate``, so an all-cached run
never starts it) that reads requests from a pipe and answers them; ``close`` stops it and frees its
memory. The worker leads its own process group, which vLLM's engine-core process joins: ``close``
kills that group, so a worker that was killed (SIGKILL, out of memory) cannot leave the engine
behind holding its reserved RAM; if the parent dies, the worker notices and shuts the engine down.
On CPU, ``VLLM_CPU_KVCACHE_SPACE`` (GiB, default 2 here) sizes the KV cache.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from kecpm.config import Config, ConfigError, option
from kecpm.knowledge.backends.base import Answer, BackendError, Messages, Sampling
from kecpm.knowledge.backends.hf_backend import DTYPES, PREFIX, resolve_dtype
from kecpm.knowledge.formats import PREFIXES

if TYPE_CHECKING:
    from kecpm.knowledge.config import KnowledgeConfig
    from kecpm.knowledge.smollm import ModelRef

log = logging.getLogger(__name__)
START_TIMEOUT = float(os.environ.get("KECPM_VLLM_START_TIMEOUT", "1200"))
JSON_MODES = ("grammar", "prefix")


@dataclass
class VLLMOptions(Config):
    """Options of the ``vllm`` backend."""

    json_mode: str = option("grammar", "'grammar' constrains decoding to the JSON schema; 'prefix' only starts "
                                       "the answer as JSON (much faster on CPU)")
    max_model_len: int = option(2048, "context length")
    memory: float = option(0.1, "gpu_memory_utilization (on CPU the share of RAM it reserves)")
    dtype: str = option("auto", f"weights dtype: {' | '.join(DTYPES)} (auto = the model's own on a GPU; on a CPU "
                                "bfloat16 with AVX-512, else float32: without AVX-512 vLLM's bfloat16 linear "
                                "layers fall back to a path about 4x slower)")
    block_size: int = option(0, "KV-cache block in tokens, the unit the prefix cache reuses (0 = auto: 32 on a CPU, "
                                "vLLM's own on a GPU). vLLM's CPU default of 128 caches only whole 128-token blocks "
                                "of the shared instructions, so every prompt recomputed 65 of their 193 tokens: 32 "
                                "made gen-knowledge's prefill 3x faster here (docs/benchmarks.md)")

    def __post_init__(self) -> None:
        if self.block_size < 0 or self.block_size % 16:
            raise ConfigError(f"vllm: block_size must be 0 (auto) or a multiple of 16, got {self.block_size}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"vllm: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.json_mode not in JSON_MODES:
            raise ConfigError(f"vllm: json_mode {self.json_mode!r} is not 'grammar' or 'prefix'")
        if self.max_model_len < 1:
            raise ConfigError(f"vllm: max_model_len must be at least 1, got {self.max_model_len}")
        if not 0 < self.memory <= 1:
            raise ConfigError(f"vllm: memory must be in (0, 1], got {self.memory}")


def stdout_to_stderr() -> None:
    """Send this process's stdout (file descriptor 1, so also that of the processes it starts: vLLM's
    engine core) to stderr: vLLM logs to stdout, where ``kecpm predict`` writes its predictions."""
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr


def engine_environment() -> None:
    """The environment our engines run with (values already set win): a 2 GiB CPU KV cache, warnings
    only, and no CPU binding (vLLM's auto binding pins every engine to core 0, core 1 "reserved": on a
    shared machine two engines, or an engine and a training job, then fight over one core)."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")


def engine_dtype(name: str) -> str:
    """vLLM's ``dtype`` for our option: ``auto`` is vLLM's own choice (the model's dtype) on a GPU, and
    on a CPU bfloat16 only with AVX-512 (``resolve_dtype``), float32 otherwise."""
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        return "auto"
    return str(resolve_dtype("auto")).removeprefix("torch.")


def engine_block_size(size: int) -> int | None:
    """vLLM's ``block_size`` for our option: ``0`` (auto) is 32 on a CPU and vLLM's own choice (None) on a GPU."""
    if size:
        return size
    import torch

    return None if torch.cuda.is_available() else 32


def _worker(conn: Connection, engine_args: dict[str, Any], parent: int) -> None:
    """Child process: build the engine, then answer ("generate", ...) requests until ("stop",) or EOF."""
    stdout_to_stderr()
    engine_environment()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the engine shutdown below runs
    os.setpgid(0, 0)  # own process group: the parent can kill the engine with it (see close)
    try:
        from vllm import LLM

        llm = LLM(**engine_args)
    except Exception as e:  # noqa: BLE001 - reported to the parent as a clear message
        conn.send(("error", f"vLLM failed to start: {type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    try:
        _serve(conn, llm, parent)
    finally:  # a multiprocessing child ends with os._exit: stop the engine process explicitly
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001, S110
            pass


def sampling_params(sampling: dict[str, Any], schema: dict[str, Any] | None) -> Any:
    """vLLM ``SamplingParams`` for our ``Sampling`` (as a dict) and JSON schema (None: unconstrained)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    return SamplingParams(
        temperature=sampling["temperature"], top_p=sampling["top_p"], max_tokens=sampling["max_new_tokens"],
        seed=sampling["seed"], repetition_penalty=sampling["repetition_penalty"],
        structured_outputs=StructuredOutputsParams(json=schema) if schema else None,
    )


def chat(llm: Any, convs: list[Messages], params: Any, prefix: str = "") -> list[tuple[str, int]]:
    """(answer text, tokens generated) per conversation from ``llm.chat``; with ``prefix`` the answer is
    started for the model (``json_mode=prefix``) and the text includes it."""
    if prefix:  # start the answer for the model instead of constraining it
        convs = [[*m, {"role": "assistant", "content": prefix}] for m in convs]
        outs = llm.chat(convs, params, use_tqdm=False, add_generation_prompt=False, continue_final_message=True)
    else:
        outs = llm.chat(convs, params, use_tqdm=False)
    return [(prefix + o.outputs[0].text, len(o.outputs[0].token_ids)) for o in outs]


def _serve(conn: Connection, llm: Any, parent: int) -> None:
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent:  # parent died (e.g. SIGKILL): stop
                return
            continue
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "stop":
            return
        _, convs, sampling, schema, prefix = msg
        try:
            conn.send(("ok", chat(llm, convs, sampling_params(sampling, schema), prefix)))
        except Exception as e:  # noqa: BLE001
            conn.send(("error", f"vLLM generation failed: {type(e).__name__}: {e}"))


class VLLMBackend:
    """Batched chat generation with vLLM in a worker process.

    ``json_mode="grammar"`` constrains decoding to the JSON schema (vLLM structured outputs);
    ``"prefix"`` starts the answer with ``{"sentences": ["`` instead (the answer format's prefix,
    ``kecpm.knowledge.formats.PREFIXES``), which is several times faster on CPU (the grammar's
    per-token work dominates with a 135M model) and is left to the parser.
    """

    Options = VLLMOptions
    name = "vllm"
    local_model = True

    def __init__(self, ref: ModelRef, max_model_len: int = 2048, memory: float = 0.1, enforce_eager: bool = True,
                 json_mode: str = "grammar", prefix: str = PREFIX, dtype: str = "auto", block_size: int = 0) -> None:
        self.options = VLLMOptions(json_mode=json_mode, max_model_len=max_model_len, memory=memory, dtype=dtype,
                                   block_size=block_size)
        self.structured = json_mode == "grammar"
        self.prefix = "" if self.structured else prefix
        self.ref = ref
        self.model_id = ref.model_id
        self.weights = ref.weights
        self.engine_args = {
            "model": ref.path, "max_model_len": max_model_len, "gpu_memory_utilization": memory,
            "enforce_eager": enforce_eager, "seed": 0, "dtype": engine_dtype(dtype),
        }
        if (block := engine_block_size(block_size)) is not None:
            self.engine_args["block_size"] = block
        self._proc: Any = None
        self._conn: Connection | None = None
        self.startup_seconds = 0.0

    @classmethod
    def from_config(cls, ref: ModelRef, common: KnowledgeConfig, options: VLLMOptions) -> VLLMBackend:
        return cls(ref, **options.to_dict(), prefix=PREFIXES[common.format])

    def start(self) -> None:
        """Start the worker and wait (bounded) until the engine is ready."""
        if self._proc is not None:
            return
        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child_conn, self.engine_args, os.getpid()), name="kecpm-vllm")
        proc.start()
        child_conn.close()
        self._proc, self._conn = proc, parent_conn
        log.info("starting vLLM for %s (about 20-60 s on CPU)", self.model_id)
        kind, payload = self._receive(START_TIMEOUT, "start")
        if kind != "ready":
            self.close()
            raise BackendError(payload)
        self.startup_seconds = time.perf_counter() - t0
        log.info("vLLM ready in %.0f s", self.startup_seconds)

    def _receive(self, timeout: float, what: str) -> tuple[str, Any]:
        assert self._conn is not None and self._proc is not None
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.5):
            if not self._proc.is_alive():
                raise self._gone(what)
            if time.monotonic() > deadline:
                self.close()
                raise BackendError(f"vLLM worker: no answer to {what} within {timeout:.0f} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError) as e:  # EOF or connection reset: the worker is gone
            raise self._gone(what) from e

    def _gone(self, what: str) -> BackendError:
        """Close after a worker that died (or is dying) and describe it."""
        assert self._proc is not None
        self._proc.join(5)
        code = self._proc.exitcode
        self.close()
        return BackendError(f"vLLM worker died during {what} (exit code {code}); see its log above")

    def generate(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        self.start()
        assert self._conn is not None and self._proc is not None
        try:
            self._conn.send(("generate", batch, sampling.to_dict(), schema if self.structured else None, self.prefix))
        except OSError as e:  # broken pipe / reset: the worker is gone
            raise self._gone("generate") from e
        kind, payload = self._receive(START_TIMEOUT, "generate")
        if kind != "ok":
            raise BackendError(payload)
        return [Answer(text, n) for text, n in payload]

    def close(self) -> None:
        """Stop the worker (politely, then by force) and release its memory."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return
        try:
            if conn is not None and proc.is_alive():
                conn.send(("stop",))
        except (BrokenPipeError, OSError):
            pass
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
            proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        try:  # whatever is left of the worker's group: the engine core of a killed worker
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if conn is not None:
            conn.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110
            pass
