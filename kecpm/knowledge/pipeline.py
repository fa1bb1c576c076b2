"""Stage 1 pipeline: demonstrations by similarity, prompts, cached generation, self-reflection, output.

``run`` reads a split folder (or explicit files), writes ``knowledge.jsonl`` atomically beside it,
and returns a ``Summary``. Answers go through ``AnswerCache`` so a rerun only generates what is new.
With ``knowledge.format=hints`` the answers are entity hints (``kecpm.knowledge.hints``): records get
``hints`` and one ``knowledge`` sentence per hint, and there is no self-reflection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kecpm.config import Config
from kecpm.data.jsonl import jsonl_text, write_files
from kecpm.data.labels import relation_words, type_words
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Hint, Post
from kecpm.knowledge.backends import Backend, Messages, Sampling, backend_options, make_backend, resolve_name
from kecpm.knowledge.cache import AnswerCache, Entry, cache_key
from kecpm.knowledge.config import KnowledgeConfig, configs_text
from kecpm.knowledge.formats import HINTS
from kecpm.knowledge.hints import ParsedHints, demo_answer, hint_sentence, hints_schema, parse_hints
from kecpm.knowledge.inputs import check_posts, load_inputs
from kecpm.knowledge.parse import Parsed, parse_sentences, schema_for
from kecpm.knowledge.prompts import PromptTemplate
from kecpm.knowledge.retrieval import top_k_demos
from kecpm.knowledge.store import KNOWLEDGE_FILE, final_sentences
from kecpm.progress import progress as progress_bar

log = logging.getLogger(__name__)
BackendOptions = Config | Mapping[str, Any] | None


@dataclass
class Summary:
    """Figures of one run."""

    posts: int = 0
    prompts: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    model_calls: int = 0
    invalid_answers: int = 0
    invalid_items: int = 0
    tokens: int = 0
    no_knowledge: int = 0
    wall: float = 0.0
    output: str = ""
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = self.errors[:20]
        return d


def _demo_vars(p: Post) -> dict[str, Any]:
    triples = [
        {"head": t.head.text or p.span_text(t.head.start, t.head.end), "head_type": type_words(t.head.type),
         "relation": relation_words(t.relation),
         "tail": t.tail.text or p.span_text(t.tail.start, t.tail.end), "tail_type": type_words(t.tail.type)}
        for t in p.triples
    ]
    return {"text": p.text, "caption": p.caption or "", "triples": triples}


def _demos_vars(demos: Sequence[Post], cfg: KnowledgeConfig) -> list[dict[str, Any]]:
    """Template variables of the demonstrations; with format hints each has its gold ``answer`` too."""
    if cfg.format != HINTS:
        return [_demo_vars(d) for d in demos]
    return [{**_demo_vars(d), "answer": demo_answer(d, cfg.max_sentences, cfg.max_chars)} for d in demos]


def answer_schema(cfg: KnowledgeConfig) -> dict[str, Any]:
    """The JSON schema of ``cfg.format``'s answers (what structured backends decode to)."""
    if cfg.format == HINTS:
        return hints_schema(cfg.max_sentences, cfg.max_chars)
    return schema_for(cfg.max_sentences, cfg.max_chars)


class Generator:
    """Cached generation of JSON answers (sentence lists or entity hints) with one backend."""

    def __init__(self, backend: Backend, cache: AnswerCache, cfg: KnowledgeConfig, summary: Summary,
                 progress: bool = True) -> None:
        self.backend, self.cache, self.cfg, self.summary, self.progress = backend, cache, cfg, summary, progress
        self.sampling = Sampling(cfg.temperature, cfg.top_p, cfg.max_new_tokens, cfg.seed, cfg.repetition_penalty)
        self.schema = answer_schema(cfg) if backend.structured else None

    def answers(self, conversations: list[Messages], template: PromptTemplate, desc: str) -> list[Entry]:
        """One answer per conversation, from the cache or the backend (misses in batches, commit per batch)."""
        keys = [
            cache_key(self.backend.name, self.backend.model_id, self.backend.weights, m, self.sampling.to_dict(), self.schema, template.text)
            for m in conversations
        ]
        found = self.cache.get_many(keys)
        todo: dict[str, Messages] = {}
        for k, m in zip(keys, conversations, strict=True):
            if k not in found:
                todo.setdefault(k, m)
        self.summary.prompts += len(keys)
        self.summary.cache_hits += len(keys) - sum(k not in found for k in keys)
        self.summary.cache_misses += len(todo)
        log.info("%s: %d prompts, %d cached, %d to generate", desc, len(keys), len(keys) - len(todo), len(todo))
        items = list(todo.items())
        bs = self.cfg.batch_size
        with progress_bar(total=len(items), desc=desc, unit="post", enabled=self.progress and bool(items)) as bar:
            for i in range(0, len(items), bs):
                chunk = items[i : i + bs]
                outs = self.backend.generate([m for _, m in chunk], self.sampling, self.schema)
                self.summary.model_calls += 1
                self.summary.tokens += sum(a.tokens for a in outs)
                self.cache.put_many(self.backend.model_id, [(k, a.text, a.tokens) for (k, _), a in zip(chunk, outs, strict=True)])
                found.update({k: Entry(a.text, a.tokens) for (k, _), a in zip(chunk, outs, strict=True)})
                bar.update(len(chunk))
        return [found[k] for k in keys]

    def parsed(self, conversations: list[Messages], template: PromptTemplate, desc: str, ids: list[str],
               parse: Callable[[str, int, int], Any]) -> list[Any]:
        """Each answer through ``parse`` (None for an answer that is not valid JSON), invalid parts counted."""
        out = []
        for pid, entry in zip(ids, self.answers(conversations, template, desc), strict=True):
            parsed = parse(entry.text, self.cfg.max_sentences, self.cfg.max_chars)
            self.summary.invalid_items += parsed.invalid_items
            if not parsed.ok:
                self.summary.invalid_answers += 1
                self.summary.errors.append(f"{desc} {pid}: {parsed.error}")
                out.append(None)
            else:
                out.append(parsed)
        return out

    def sentences(self, conversations: list[Messages], template: PromptTemplate, desc: str,
                  ids: list[str]) -> list[list[str] | None]:
        """Parsed sentence lists (None for an answer that is not valid JSON), invalid parts counted."""
        found: list[Parsed | None] = self.parsed(conversations, template, desc, ids, parse_sentences)
        return [p.sentences if p is not None else None for p in found]

    def hints(self, conversations: list[Messages], template: PromptTemplate, desc: str,
              ids: list[str]) -> list[list[Hint] | None]:
        """Parsed entity hints (None for an answer that is not valid JSON), invalid parts counted."""
        found: list[ParsedHints | None] = self.parsed(conversations, template, desc, ids, parse_hints)
        return [p.hints if p is not None else None for p in found]


def generate_knowledge(
    posts: Sequence[Post],
    pool: Sequence[Post],
    cfg: KnowledgeConfig,
    backend: Backend | None = None,
    cache: AnswerCache | None = None,
    progress: bool = True,
    options: BackendOptions = None,
) -> tuple[list[dict[str, Any]], Summary]:
    """Knowledge records for ``posts`` with demonstrations from ``pool`` (the training posts); without
    ``backend``, ``cfg.backend`` is built with ``options`` (its backend options) and closed at the end."""
    t0 = time.perf_counter()
    check_posts(posts)
    summary = Summary(posts=len(posts))
    name = backend.name if backend else resolve_name(cfg.backend)
    template = PromptTemplate.load(cfg.prompt_template)
    as_hints = cfg.format == HINTS
    if as_hints and cfg.reflect:
        log.info("knowledge.format=hints: no self-reflection (it applies to sentences only)")
    reflect = PromptTemplate.load(cfg.reflect_template) if cfg.reflect and not as_hints else None
    labels = {"entity_types": [type_words(t) for t in ENTITY_TYPES],
              "relations": [relation_words(r) for r in RELATIONS], "max_sentences": cfg.max_sentences}
    own_cache = cache is None
    cache = cache or AnswerCache()
    own_backend = backend is None
    try:
        demos = top_k_demos(posts, pool, cfg.k, cfg.embedder, store=cache)
        conversations = [
            template.render(**labels, demos=_demos_vars(ds, cfg), post=_demo_vars(p))
            for p, ds in zip(posts, demos, strict=True)
        ]
        backend = backend or make_backend(name, cfg, options)
        gen = Generator(backend, cache, cfg, summary, progress)
        ids = [p.id for p in posts]
        hints: list[list[Hint] | None] | None = None
        if as_hints:
            hints = gen.hints(conversations, template, "knowledge", ids)
            knowledge = [[hint_sentence(h) for h in hs] if hs is not None else None for hs in hints]
        else:
            knowledge = gen.sentences(conversations, template, "knowledge", ids)
        reflected: list[list[str] | None] = [None] * len(posts)
        if reflect is not None:
            idx = [i for i, k in enumerate(knowledge) if k]
            convs = [reflect.render(post=_demo_vars(posts[i]), knowledge=knowledge[i], max_sentences=cfg.max_sentences)
                     for i in idx]
            for i, r in zip(idx, gen.sentences(convs, reflect, "reflect", [ids[i] for i in idx]), strict=True):
                reflected[i] = r
        model_id = backend.model_id
    finally:
        if own_backend and backend is not None:
            backend.close()
        if own_cache:
            cache.close()
    records = []
    for i, (p, k, r) in enumerate(zip(posts, knowledge, reflected, strict=True)):
        rec: dict[str, Any] = {"id": p.id, "knowledge": k or []}
        if hints is not None:
            rec["hints"] = [h.to_dict() for h in hints[i] or []]
        records.append({**rec, "reflected": r, "model": model_id, "backend": name, "template": template.version,
                        "reflect_template": reflect.version if reflect else None, "invalid": k is None})
    summary.no_knowledge = sum(not final_sentences(rec) for rec in records)
    summary.wall = time.perf_counter() - t0
    return records, summary


def run(cfg: KnowledgeConfig, split_dir: Path | None = None, inputs: Sequence[Path] = (), demos: Path | None = None,
        output: Path | None = None, backend: Backend | None = None, cache: AnswerCache | None = None,
        progress: bool = True, options: BackendOptions = None) -> Summary:
    """Generate knowledge for a split folder (or files) and write ``knowledge.jsonl`` atomically, with
    ``knowledge.config.json`` beside it (the config, its backend resolved, and that backend's options)."""
    posts, pool = load_inputs(split_dir, inputs, demos)
    if output is None:
        output = (split_dir if split_dir else Path(inputs[0]).parent) / KNOWLEDGE_FILE
    records, summary = generate_knowledge(posts, pool, cfg, backend=backend, cache=cache, progress=progress,
                                          options=options)
    name = backend.name if backend else resolve_name(cfg.backend)
    used = getattr(backend, "options", None) if backend is not None else options
    config = configs_text(cfg.replace(backend=name), backend_options(name, used))
    write_files({output: jsonl_text(records), output.with_name(output.stem + ".config.json"): config})  # both or neither
    summary.output = str(output)
    return summary
