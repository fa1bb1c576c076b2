"""Options of ``kecpm gen-knowledge``: the common ``knowledge`` section and the chosen backend's own
``backend`` section, saved together as ``knowledge.config.json`` beside the output.

``{"knowledge": {...}, "backend": {...}}``: ``knowledge.backend`` names the backend (resolved, never
``auto``) whose options the ``backend`` section holds, so ``--config`` on that file re-runs the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kecpm.config import Config, ConfigError, merge_sections, option, read_config_file
from kecpm.data.jsonl import atomic_write
from kecpm.knowledge.backends import AUTO, REGISTRY, backend_options, resolve_name
from kecpm.knowledge.formats import FORMATS, SENTENCES, TEMPLATES

SECTIONS = ("knowledge", "backend")


@dataclass
class KnowledgeConfig(Config):
    """How knowledge is generated, whatever the backend."""

    backend: str = option(AUTO, f"{' | '.join(REGISTRY)}; auto = vllm when installed, else transformers")
    model: str = option("smollm2", "LLM: 'smollm2' (the packaged SmolLM2-135M-Instruct), a local folder, or an HF hub id (downloaded once; with HF_HUB_OFFLINE=1 only the local HF cache)")
    revision: str | None = option(None, "HF revision of a hub model (or the served model's revision, for openai)")
    format: str = option(SENTENCES, "answer format: sentences (background sentences) | hints (the post's named "
                                    "entities, each with its type and one fact; no reflection)")
    template: str | None = option(None, "knowledge prompt: a name in prompts/ or a .jinja path; none = the format's "
                                        f"own ({', '.join(f'{t} for {f}' for f, t in TEMPLATES.items())})")
    reflect_template: str = option("reflect.v1", "self-reflection prompt: a name in prompts/ or a .jinja path")
    reflect: bool = option(True, "run the self-reflection pass")
    k: int = option(2, "number of similar training posts shown as demonstrations")
    embedder: str | None = option(None, "sentence-transformers model for similarity (default: packaged all-MiniLM-L6-v2)")
    max_sentences: int = option(4, "most sentences (format hints: entities) asked for and kept per answer")
    max_chars: int = option(200, "longest sentence (format hints: fact about an entity) kept, in characters")
    temperature: float = option(0.0, "sampling temperature (0 = greedy)")
    top_p: float = option(1.0, "nucleus sampling")
    max_new_tokens: int = option(64, "most tokens generated per answer (bounds the run time)")
    seed: int = option(0, "sampling seed")
    repetition_penalty: float = option(1.1, "penalty on repeated tokens (1 = none; hosted OpenAI APIs need 1); small models loop without it")
    batch_size: int = option(64, "prompts per backend call; the cache commits after each")

    def __post_init__(self) -> None:
        if self.backend != AUTO and self.backend not in REGISTRY:
            raise ConfigError(f"backend: {self.backend!r} is not one of {', '.join([AUTO, *REGISTRY])}")
        if self.format not in FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        other = {t: f for f, t in TEMPLATES.items() if f != self.format}
        if self.template in other:
            raise ConfigError(f"template: {self.template} is the {other[self.template]} prompt; with format={self.format} "
                              f"leave it unset (= {TEMPLATES[self.format]}) or give a {self.format} prompt")
        for name in ("max_sentences", "max_chars", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.k < 0:
            raise ConfigError(f"k: must be >= 0, got {self.k}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")
        if self.repetition_penalty <= 0:
            raise ConfigError(f"repetition_penalty: must be > 0, got {self.repetition_penalty}")

    @property
    def prompt_template(self) -> str:
        """The knowledge prompt used: ``template``, or the format's own (``formats.TEMPLATES``)."""
        return self.template or TEMPLATES[self.format]


def load_configs(config_file: str | Path | None, set_items: list[str],
                 flags: dict[str, Any] | None = None) -> tuple[KnowledgeConfig, Config]:
    """The knowledge config (backend resolved) and its backend's options, from a ``--config`` file,
    the command's flags (None = not given) and ``--set`` items, later winning.

    A config file's ``backend`` section belongs to the backend it names: when another backend is
    chosen, only the ``--set backend.*`` items apply.
    """
    sections = merge_sections(config_file, set_items, SECTIONS, {"knowledge": flags or {}})
    cfg = KnowledgeConfig.from_dict(sections["knowledge"])
    name = resolve_name(cfg.backend)
    if config_file:
        saved = read_config_file(config_file, SECTIONS)["knowledge"].get("backend")
        if isinstance(saved, str) and saved in (AUTO, *REGISTRY) and resolve_name(saved) != name:
            sections["backend"] = merge_sections(None, set_items, SECTIONS)["backend"]
    return cfg.replace(backend=name), backend_options(name, sections["backend"])


def save_configs(path: str | Path, cfg: KnowledgeConfig, options: Config) -> None:
    """Write ``{"knowledge": ..., "backend": ...}`` atomically (readable again with ``load_configs``)."""
    with atomic_write(path) as fh:
        fh.write(configs_text(cfg, options))


def configs_text(cfg: KnowledgeConfig, options: Config) -> str:
    """The text ``save_configs`` writes."""
    sections = {s: c.to_dict() for s, c in zip(SECTIONS, (cfg, options), strict=True)}
    return json.dumps(sections, indent=2, sort_keys=True) + "\n"
