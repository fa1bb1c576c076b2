"""Knowledge backends: ``vllm``, ``openai``, ``transformers``, ``dummy`` (and ``import``, in the pipeline)."""

from __future__ import annotations

import importlib.util

from kecpm.knowledge.backends.base import Answer, Backend, BackendError, Messages, Sampling
from kecpm.knowledge.config import KnowledgeConfig

__all__ = ["Answer", "Backend", "BackendError", "Messages", "Sampling", "choose_backend", "make_backend"]


def choose_backend(name: str) -> str:
    """``auto`` becomes ``vllm`` when vLLM is installed, else ``transformers``."""
    if name != "auto":
        return name
    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def make_backend(cfg: KnowledgeConfig) -> Backend:
    """Build the backend ``cfg`` names (models are resolved and loaded here)."""
    name = choose_backend(cfg.backend)
    if name == "dummy":
        from kecpm.knowledge.backends.dummy import DummyBackend

        return DummyBackend(delay=cfg.dummy_delay, bad_every=cfg.dummy_bad_every)
    if name == "openai":
        from kecpm.knowledge.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env, revision=cfg.revision,
                             concurrency=cfg.concurrency, timeout=cfg.timeout, retries=cfg.retries)
    from kecpm.knowledge.smollm import resolve_model

    ref = resolve_model(cfg.model, cfg.revision)
    if name == "vllm":
        from kecpm.knowledge.backends.vllm_backend import VLLMBackend

        return VLLMBackend(ref, max_model_len=cfg.max_model_len, memory=cfg.vllm_memory, json_mode=cfg.json_mode)
    if name == "transformers":
        from kecpm.knowledge.backends.hf_backend import HFBackend

        return HFBackend(ref, dtype=cfg.dtype, threads=cfg.threads)
    raise BackendError(f"backend {name!r} does not generate text")
