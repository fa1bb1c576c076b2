"""Knowledge backends: a registry from name to ``"module:Class"``, imported only when used.

Each backend lives in its own module with an options dataclass (``Class.Options``, a
``kecpm.config.Config``) and a classmethod ``from_config(model, common, options)``; ``model`` is a
resolved ``ModelRef`` when the class sets ``local_model = True`` (it loads weights), else the model
name of the knowledge config. Backend modules keep their top-level imports light: heavy packages
(vllm, torch, httpx) are imported inside methods or the worker, so reading ``Options`` is cheap.
Adding a backend = its own module plus one line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kecpm.config import Config, ConfigError
from kecpm.knowledge.backends.base import Answer, Backend, BackendError, Messages, Sampling

if TYPE_CHECKING:
    from kecpm.knowledge.config import KnowledgeConfig

__all__ = ["REGISTRY", "Answer", "Backend", "BackendError", "Messages", "Sampling", "backend_class", "options_help",
           "backend_options", "make_backend", "resolve_name"]

REGISTRY: dict[str, str] = {
    "vllm": "kecpm.knowledge.backends.vllm_backend:VLLMBackend",
    "transformers": "kecpm.knowledge.backends.hf_backend:HFBackend",
    "openai": "kecpm.knowledge.backends.openai_backend:OpenAIBackend",
    "dummy": "kecpm.knowledge.backends.dummy:DummyBackend",
}
AUTO = "auto"


def resolve_name(name: str) -> str:
    """A registered backend name; ``auto`` becomes ``vllm`` when vLLM is installed, else ``transformers``."""
    if name == AUTO:
        return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"
    if name not in REGISTRY:
        raise ConfigError(f"backend: {name!r} is not one of {', '.join([AUTO, *REGISTRY])}")
    return name


def backend_class(name: str) -> Any:
    """The class registered as ``name`` (``auto`` resolved); imports its module, never vllm or torch."""
    module, _, cls = REGISTRY[resolve_name(name)].partition(":")
    return getattr(importlib.import_module(module), cls)


def backend_options(name: str, options: Config | Mapping[str, Any] | None = None) -> Config:
    """``options`` as backend ``name``'s validated ``Options`` (defaults for what is not given); an
    unknown option is one ConfigError line listing that backend's options."""
    cls = backend_class(name).Options
    if isinstance(options, cls):
        return options
    data = options.to_dict() if isinstance(options, Config) else dict(options or {})
    known = list(cls.defaults())
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"backend {resolve_name(name)!r} has no option {', '.join(unknown)}; "
                          f"its options: {', '.join(known) or 'none'}")
    return cls.from_dict(data)


def make_backend(name: str, common: KnowledgeConfig, options: Config | Mapping[str, Any] | None = None) -> Backend:
    """Build backend ``name`` (``auto`` resolved) from the common knowledge config and its options;
    models of backends that load weights are resolved here (nothing is loaded until first use)."""
    cls = backend_class(name)
    opts = backend_options(name, options)
    if getattr(cls, "local_model", False):
        from kecpm.knowledge.smollm import resolve_model

        return cls.from_config(resolve_model(common.model, common.revision), common, opts)
    return cls.from_config(common.model, common, opts)


def options_help() -> str:
    """Every backend's options with their defaults and help, as paragraphs (for ``--help``)."""
    parts = ["Backend options (--set backend.<option>=<value>):"]
    for name in REGISTRY:
        opts = backend_class(name).Options
        helps, defaults = opts.help(), opts.defaults()
        parts.append(f"{name} -- " + "; ".join(f"{k}={defaults[k]!r}: {helps[k]}" for k in defaults))
    return "\n\n".join(parts)
