"""Options of ``kecpm gen-knowledge``, saved as ``knowledge.config.json`` beside the output."""

from __future__ import annotations

from dataclasses import dataclass

from kecpm.config import Config, ConfigError, option

BACKENDS = ("auto", "vllm", "transformers", "openai", "dummy", "import")


@dataclass
class KnowledgeConfig(Config):
    """How knowledge is generated."""

    backend: str = option("auto", "vllm | transformers | openai | dummy | import; auto = vllm when installed, else transformers")
    model: str = option("smollm2", "LLM: 'smollm2' (the packaged SmolLM2-135M-Instruct), a local folder, or an HF id in the local cache")
    revision: str | None = option(None, "HF revision of a hub model (or the served model's revision, for openai)")
    template: str = option("knowledge.v1", "knowledge prompt: a name in prompts/ or a .jinja path")
    reflect_template: str = option("reflect.v1", "self-reflection prompt: a name in prompts/ or a .jinja path")
    reflect: bool = option(True, "run the self-reflection pass")
    k: int = option(2, "number of similar training posts shown as demonstrations")
    embedder: str | None = option(None, "sentence-transformers model for similarity (default: packaged all-MiniLM-L6-v2)")
    max_sentences: int = option(4, "most sentences asked for per post")
    temperature: float = option(0.0, "sampling temperature (0 = greedy)")
    top_p: float = option(1.0, "nucleus sampling")
    max_new_tokens: int = option(64, "most tokens generated per answer (bounds the run time)")
    seed: int = option(0, "sampling seed")
    repetition_penalty: float = option(1.1, "penalty on repeated tokens (1 = none); small models loop without it")
    batch_size: int = option(64, "prompts per backend call; the cache commits after each")
    dtype: str = option("auto", "transformers: weights dtype (auto = bfloat16 on AVX-512 CPUs, else float32)")
    threads: int = option(0, "transformers: torch threads (0 = torch default)")
    json_mode: str = option("grammar", "vllm: 'grammar' constrains decoding to the JSON schema; 'prefix' only starts the answer as JSON (much faster on CPU)")
    max_model_len: int = option(2048, "vllm: context length")
    vllm_memory: float = option(0.1, "vllm: gpu_memory_utilization (on CPU the share of RAM it reserves)")
    base_url: str = option("http://127.0.0.1:8000/v1", "openai: endpoint")
    api_key_env: str = option("OPENAI_API_KEY", "openai: environment variable holding the key (never stored)")
    concurrency: int = option(4, "openai: requests in flight")
    timeout: float = option(60.0, "openai: seconds per request")
    retries: int = option(3, "openai: retries per request, with exponential backoff")
    import_source: str | None = option(None, "import: folder or file with knowledge (default <data>/fs-jmere)")
    dummy_delay: float = option(0.0, "dummy: seconds slept per backend call (tests)")
    dummy_bad_every: int = option(0, "dummy: about one answer in N is not JSON (tests)")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        for name in ("max_sentences", "max_new_tokens", "batch_size", "concurrency", "max_model_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.json_mode not in ("grammar", "prefix"):
            raise ConfigError(f"json_mode: {self.json_mode!r} is not 'grammar' or 'prefix'")
        if self.k < 0:
            raise ConfigError(f"k: must be >= 0, got {self.k}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")
        if self.repetition_penalty <= 0:
            raise ConfigError(f"repetition_penalty: must be > 0, got {self.repetition_penalty}")
        if not 0 < self.vllm_memory <= 1:
            raise ConfigError(f"vllm_memory: must be in (0, 1], got {self.vllm_memory}")
        if self.retries < 0 or self.timeout <= 0:
            raise ConfigError("retries must be >= 0 and timeout > 0")
