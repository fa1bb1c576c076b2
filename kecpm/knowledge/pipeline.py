"""Stage 1 pipeline: demonstrations by similarity, prompts, cached generation, self-reflection, output.

``run`` reads a split folder (or explicit files), writes ``knowledge.jsonl`` atomically beside it,
and returns a ``Summary``. Answers go through ``AnswerCache`` so a rerun only generates what is new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Post
from kecpm.knowledge.backends import Backend, Messages, Sampling, choose_backend, make_backend
from kecpm.knowledge.cache import AnswerCache, Entry, cache_key
from kecpm.knowledge.config import KnowledgeConfig
from kecpm.knowledge.parse import parse_sentences, schema_for
from kecpm.knowledge.prompts import PromptTemplate
from kecpm.knowledge.retrieval import top_k_demos
from kecpm.knowledge.store import KNOWLEDGE_FILE, write_records
from kecpm.paths import default_data_dir

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
TYPE_NAMES = {"per": "person", "org": "organization", "loc": "location", "misc": "miscellaneous"}


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
        {"head": t.head.text or p.span_text(t.head.start, t.head.end), "head_type": TYPE_NAMES.get(t.head.type, t.head.type),
         "relation": t.relation.replace("_", " "),
         "tail": t.tail.text or p.span_text(t.tail.start, t.tail.end), "tail_type": TYPE_NAMES.get(t.tail.type, t.tail.type)}
        for t in p.triples
    ]
    return {"text": p.text, "caption": p.caption or "", "triples": triples}


def check_posts(posts: Sequence[Post]) -> None:
    """Posts must have text; duplicates by id are an error."""
    seen: set[str] = set()
    for p in posts:
        if not p.tokens or not any(t.strip() for t in p.tokens):
            raise DataError(f"post {p.id}: empty text, cannot ask for knowledge about it")
        if p.id in seen:
            raise DataError(f"post {p.id}: appears twice in the input")
        seen.add(p.id)


class Generator:
    """Cached generation of JSON sentence lists with one backend."""

    def __init__(self, backend: Backend, cache: AnswerCache, cfg: KnowledgeConfig, summary: Summary,
                 progress: bool = True) -> None:
        self.backend, self.cache, self.cfg, self.summary, self.progress = backend, cache, cfg, summary, progress
        self.sampling = Sampling(cfg.temperature, cfg.top_p, cfg.max_new_tokens, cfg.seed, cfg.repetition_penalty)
        self.schema = schema_for(cfg.max_sentences) if backend.structured else None

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
        with tqdm(total=len(items), desc=desc, unit="post", disable=not self.progress or not items) as bar:
            for i in range(0, len(items), bs):
                chunk = items[i : i + bs]
                outs = self.backend.generate([m for _, m in chunk], self.sampling, self.schema)
                self.summary.model_calls += 1
                self.summary.tokens += sum(a.tokens for a in outs)
                self.cache.put_many(self.backend.model_id, [(k, a.text, a.tokens) for (k, _), a in zip(chunk, outs, strict=True)])
                found.update({k: Entry(a.text, a.tokens) for (k, _), a in zip(chunk, outs, strict=True)})
                bar.update(len(chunk))
        return [found[k] for k in keys]

    def sentences(self, conversations: list[Messages], template: PromptTemplate, desc: str,
                  ids: list[str]) -> list[list[str] | None]:
        """Parsed sentence lists (None for an answer that is not valid JSON), invalid parts counted."""
        out: list[list[str] | None] = []
        for pid, entry in zip(ids, self.answers(conversations, template, desc), strict=True):
            parsed = parse_sentences(entry.text)
            self.summary.invalid_items += parsed.invalid_items
            if not parsed.ok:
                self.summary.invalid_answers += 1
                self.summary.errors.append(f"{desc} {pid}: {parsed.error}")
                out.append(None)
            else:
                out.append(parsed.sentences)
        return out


def generate_knowledge(
    posts: Sequence[Post],
    pool: Sequence[Post],
    cfg: KnowledgeConfig,
    backend: Backend | None = None,
    cache: AnswerCache | None = None,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], Summary]:
    """Knowledge records for ``posts`` with demonstrations from ``pool`` (the training posts)."""
    t0 = time.perf_counter()
    check_posts(posts)
    summary = Summary(posts=len(posts))
    name = "import" if cfg.backend == "import" else (backend.name if backend else choose_backend(cfg.backend))
    if name == "import":
        return _imported(posts, cfg, summary, t0)
    template = PromptTemplate.load(cfg.template)
    reflect = PromptTemplate.load(cfg.reflect_template) if cfg.reflect else None
    labels = {"entity_types": [TYPE_NAMES[t] for t in ENTITY_TYPES],
              "relations": [r.replace("_", " ") for r in RELATIONS], "max_sentences": cfg.max_sentences}
    own_cache = cache is None
    cache = cache or AnswerCache()
    own_backend = backend is None
    try:
        demos = top_k_demos(posts, pool, cfg.k, cfg.embedder, store=cache)
        conversations = [
            template.render(**labels, demos=[_demo_vars(d) for d in ds], post=_demo_vars(p))
            for p, ds in zip(posts, demos, strict=True)
        ]
        backend = backend or make_backend(cfg)
        gen = Generator(backend, cache, cfg, summary, progress)
        ids = [p.id for p in posts]
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
    for p, k, r in zip(posts, knowledge, reflected, strict=True):
        final = r if r is not None else k
        summary.no_knowledge += not final
        records.append({
            "id": p.id, "knowledge": k or [], "reflected": r, "model": model_id, "backend": name,
            "template": template.version, "reflect_template": reflect.version if reflect else None,
            "invalid": k is None,
        })
    summary.wall = time.perf_counter() - t0
    return records, summary


def _imported(posts: Sequence[Post], cfg: KnowledgeConfig, summary: Summary, t0: float) -> tuple[list[dict[str, Any]], Summary]:
    from kecpm.knowledge.backends.imported import ImportedKnowledge

    source = Path(cfg.import_source) if cfg.import_source else default_data_dir() / "fs-jmere"
    found, missing = ImportedKnowledge.load(source).lookup(posts)
    summary.no_knowledge = len(missing)
    if missing:
        log.warning("import: %d of %d posts found no knowledge in %s", len(missing), len(posts), source)
    records = [{"id": p.id, "knowledge": found.get(p.id, []), "reflected": None, "model": "import:" + source.name,
                "backend": "import", "template": None, "reflect_template": None, "invalid": False} for p in posts]
    summary.wall = time.perf_counter() - t0
    return records, summary


def load_inputs(split_dir: Path | None, inputs: Sequence[Path], demos: Path | None) -> tuple[list[Post], list[Post]]:
    """Posts to annotate (all splits of the folder, or the given files) and the demonstration pool."""
    files = list(inputs) or [split_dir / f"{s}.jsonl" for s in SPLITS if split_dir and (split_dir / f"{s}.jsonl").exists()]
    if not files:
        raise FileNotFoundError(f"{split_dir}: no train/val/test.jsonl (give a split folder or --input files)")
    posts: dict[str, Post] = {}
    for f in files:
        for p in read_jsonl(f):
            posts.setdefault(p.id, p)
    demo_file = demos or (split_dir / "train.jsonl" if split_dir else None)
    if demos is None and demo_file is not None and not demo_file.exists():
        log.warning("%s: no train.jsonl, so no demonstrations", split_dir)
        demo_file = None
    pool = read_jsonl(demo_file) if demo_file else []
    return list(posts.values()), pool


def run(cfg: KnowledgeConfig, split_dir: Path | None = None, inputs: Sequence[Path] = (), demos: Path | None = None,
        output: Path | None = None, backend: Backend | None = None, cache: AnswerCache | None = None,
        progress: bool = True) -> Summary:
    """Generate knowledge for a split folder (or files) and write ``knowledge.jsonl`` atomically."""
    posts, pool = load_inputs(split_dir, inputs, demos)
    if output is None:
        output = (split_dir if split_dir else Path(inputs[0]).parent) / KNOWLEDGE_FILE
    records, summary = generate_knowledge(posts, pool, cfg, backend=backend, cache=cache, progress=progress)
    write_records(output, records)
    cfg.save(output.with_name(output.stem + ".config.json"))
    summary.output = str(output)
    return summary
