"""The prompt model: encoder + soft prompt + visual prefix + gated knowledge fusion + verbalizer heads."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kecpm.config import ConfigError
from kecpm.data.schema import Entity, Post, Triple
from kecpm.model.config import ModelConfig
from kecpm.model.encoder import Batch, InputLayout
from kecpm.model.heads import (
    RELATION_WORDS,
    TYPE_WORDS,
    RelationHead,
    SpanHead,
    enumerate_spans,
    label_words,
    schema_mask,
)
from kecpm.model.soft_prompt import SoftPrompt
from kecpm.model.visual import VisualPrefix

log = logging.getLogger(__name__)
# One post's encoding: word states (N, H), side states (Ls, H) or None, visible side tokens (Ls,) or None.
PostStates = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]


def schema_from_posts(posts: Sequence[Post]) -> dict:
    """Entity types, relations and allowed (head type, tail type) pairs per relation seen in ``posts``."""
    types, pairs = set(), {}
    for p in posts:
        for e in p.with_entities_from_triples().entities:
            types.add(e.type)
        for t in p.triples:
            pairs.setdefault(t.relation, set()).add((t.head.type, t.tail.type))
    return {"entity_types": sorted(types), "relations": sorted(pairs),
            "allowed_pairs": {r: sorted([list(x) for x in v]) for r, v in sorted(pairs.items())}}


class GatedCrossAttention(nn.Module):
    """Text tokens attend to side (caption + knowledge) tokens; the result is added through a tanh gate
    that starts at 0, so at initialisation the text encoding is exactly the text-only one."""

    def __init__(self, hidden: int, heads: int = 4, per_dimension: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(hidden if per_dimension else 1))

    def forward(self, x: torch.Tensor, side: torch.Tensor, side_mask: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(self.norm(x), side, side, key_padding_mask=~side_mask.bool(), need_weights=False)
        return x + torch.tanh(self.gate) * a


class PromptModel(nn.Module):
    """Extracts entities and triples from posts. Build with ``create`` (new) or ``load`` (saved)."""

    def __init__(self, config: ModelConfig, encoder_path: str | None = None, side_path: str | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        if not config.entity_types or not config.relations:
            raise ConfigError("ModelConfig needs entity_types and relations (see schema_from_posts)")
        self.config = config
        path = encoder_path or config.encoder_path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = AutoModel.from_pretrained(path)
        hidden = self.encoder.config.hidden_size
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
        self.layout = InputLayout(self.tokenizer, config.max_text_tokens, config.max_caption_tokens,
                                  config.max_knowledge_tokens, use_caption=config.use_image,
                                  use_knowledge=config.use_knowledge,
                                  filter_knowledge=config.filter_knowledge)
        self.soft = SoftPrompt(config.soft_prompt_tokens, hidden) if config.soft_prompt_tokens else None
        self.visual = VisualPrefix(config.visual_tokens, hidden, config.image_model) if config.use_image else None
        self.fusion = GatedCrossAttention(hidden, per_dimension=config.gate_per_dimension) if self.layout.has_side else None
        # The side sequence is read by a frozen copy of the pretrained encoder (not a submodule: saved
        # apart), so its states can be cached per post and knowledge never trains the text encoder.
        self._side = [AutoModel.from_pretrained(side_path or path).eval().requires_grad_(False)] if self.fusion else []
        self._side_cache: dict[tuple[int, ...], torch.Tensor] = {}
        n_types, n_rels = len(config.entity_types), len(config.relations)
        self.span_head = SpanHead(hidden, n_types, config.max_span_width, config.head_dropout)
        self.rel_head = RelationHead(self.span_head.in_dim, hidden, n_types, n_rels, config.head_dropout,
                                     read_side=config.pair_knowledge and self.fusion is not None)
        self.register_buffer("allowed", schema_mask(config.relations, config.entity_types, config.allowed_pairs),
                             persistent=False)
        self.type_index = {t: i + 1 for i, t in enumerate(config.entity_types)}
        self.rel_index = {r: i + 1 for i, r in enumerate(config.relations)}

    def knowledge_gates(self) -> dict[str, nn.Parameter]:
        """The tanh gates through which caption + knowledge enter: fusion ("gate") and pair reader."""
        gates = {"gate": self.fusion, "pair_gate": self.rel_head.reader}
        return {k: m.gate for k, m in gates.items() if m is not None}

    def gate_openness(self) -> dict[str, float]:
        """Mean |tanh(gate)| of each knowledge gate (0 = knowledge unused)."""
        return {k: float(torch.tanh(g.detach()).abs().mean()) for k, g in self.knowledge_gates().items()}

    @property
    def side_encoder(self) -> nn.Module | None:
        return self._side[0] if self._side else None

    # ---- construction, saving, loading -------------------------------------------------------------
    @classmethod
    def create(cls, config: ModelConfig) -> PromptModel:
        """A new model: soft prompt from the task description, label vectors from the label words."""
        model = cls(config)
        emb = model.encoder.get_input_embeddings()
        if model.soft is not None:
            model.soft.init_from_text(emb, model.tokenizer, config.task_description)
        model.span_head.verbalizer.init_labels(
            model.embed_texts([label_words(t, TYPE_WORDS) for t in config.entity_types]))
        model.rel_head.verbalizer.init_labels(
            model.embed_texts([label_words(r, RELATION_WORDS) for r in config.relations]))
        return model

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        """Mean-pooled encoder outputs of short texts, (n, H)."""
        enc = self.tokenizer(texts, padding=True, return_tensors="pt")
        was = self.encoder.training
        self.encoder.eval()
        out = self.encoder(**enc).last_hidden_state
        self.encoder.train(was)
        m = enc["attention_mask"].unsqueeze(-1).float()
        return (out * m).sum(1) / m.sum(1)

    def save(self, directory: str | Path) -> None:
        """Write config.json, schema.json, encoder/ (weights + tokenizer) and heads.pt; atomic rename."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            self.config.save(tmp / "config.json")
            (tmp / "schema.json").write_text(json.dumps(
                {k: getattr(self.config, k) for k in ("entity_types", "relations", "allowed_pairs")}, indent=2))
            self.encoder.save_pretrained(tmp / "encoder")
            if self.side_encoder is not None:
                self.side_encoder.save_pretrained(tmp / "side_encoder")
            self.tokenizer.save_pretrained(tmp / "encoder")
            heads = {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}
            torch.save(heads, tmp / "heads.pt")
            old = directory.with_name(f".{directory.name}.old")
            if directory.exists():
                directory.replace(old)
            tmp.replace(directory)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, directory: str | Path) -> PromptModel:
        directory = Path(directory)
        if not (directory / "config.json").exists():
            raise FileNotFoundError(f"{directory}: not a saved model (no config.json)")
        side = directory / "side_encoder"
        model = cls(ModelConfig.load(directory / "config.json"), encoder_path=str(directory / "encoder"),
                    side_path=str(side) if side.exists() else None)
        missing, unexpected = model.load_state_dict(
            torch.load(directory / "heads.pt", map_location="cpu", weights_only=True), strict=False)
        bad = [k for k in missing if not k.startswith("encoder.")] + list(unexpected)
        if bad:
            raise ConfigError(f"{directory}/heads.pt does not match config.json: {', '.join(bad[:5])}")
        return model.eval()

    # ---- encoding ----------------------------------------------------------------------------------
    def word_states(self, batch: Batch) -> torch.Tensor:
        """(B, N, H): contextual vector of every word (mean of its subwords), knowledge fused in."""
        return self.encode(batch)[0]

    def encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Word states (B, N, H), side states (B, Ls, H) and the side tokens visible to the model
        (B, Ls) bool, after knowledge dropout; the side parts are None without a side sequence."""
        emb = self.encoder.get_input_embeddings()(batch.text_ids)
        mask = batch.text_mask
        side = keys = None
        prefix = []
        if self.soft is not None:
            prefix.append(self.soft(len(emb)))
        if self.visual is not None:
            prefix.append(self.visual(batch.image_paths or [None] * len(emb)))
        n_pre = sum(p.size(1) for p in prefix)
        if prefix:
            emb = torch.cat([*prefix, emb], dim=1)
            mask = torch.cat([mask.new_ones(len(mask), n_pre), mask], dim=1)
        states = self.encoder(inputs_embeds=emb, attention_mask=mask).last_hidden_state[:, n_pre:]
        if self.fusion is not None and batch.side_ids is not None:
            side = self.side_states(batch.side_ids, batch.side_mask)
            keys = batch.side_mask.bool()
            if self.training and self.config.knowledge_dropout > 0:
                drop = torch.rand(len(keys)) < self.config.knowledge_dropout
                keys = keys & ~(batch.know_mask.bool() & drop.unsqueeze(1))
            states = self.fusion(states, side, keys)
        n = max(max(batch.n_words), 1)
        onehot = (batch.word_index.unsqueeze(1) == torch.arange(n).view(1, n, 1)).float()  # (B, N, Lt)
        return onehot @ states / onehot.sum(-1, keepdim=True).clamp(min=1), side, keys

    @torch.no_grad()
    def side_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, Ls, H) frozen-encoder states of the side sequences, cached per distinct sequence."""
        keys = [tuple(ids[b, : int(mask[b].sum())].tolist()) for b in range(len(ids))]
        todo = [b for b, k in enumerate(keys) if k not in self._side_cache]
        for b in todo:  # one sequence at a time, unpadded: states independent of batch composition
            seq = torch.tensor([keys[b]])
            self._side_cache[keys[b]] = self.side_encoder(input_ids=seq).last_hidden_state[0]
        states = torch.zeros(*ids.shape, self.side_encoder.config.hidden_size)
        for b, k in enumerate(keys):
            states[b, : len(k)] = self._side_cache[k]
        return states

    # ---- training ----------------------------------------------------------------------------------
    def loss(self, posts: Sequence[Post]) -> torch.Tensor:
        """Weighted cross-entropy of span types plus relation labels of gold entity pairs."""
        batch = self.layout(list(posts), use_image=self.visual is not None)
        words, side, keys = self.encode(batch)
        w = self.config.max_span_width
        span_logits, span_gold, rel_logits, rel_gold = [], [], [], []
        for b, post in enumerate(posts):
            n = batch.n_words[b]
            if n == 0:
                continue
            gold = {(e.start, e.end): self.type_index[e.type]
                    for e in post.with_entities_from_triples().entities
                    if e.end <= n and e.end - e.start <= w and e.type in self.type_index}
            spans = enumerate_spans(n, w)
            reps = self.span_head.represent(words[b, :n], torch.tensor(spans))
            span_logits.append(self.span_head(reps))
            span_gold.append(torch.tensor([gold.get(s, 0) for s in spans]))
            if len(gold) < 2:
                continue
            ents = sorted(gold)
            ix = {s: i for i, s in enumerate(ents)}
            rels = {(ix[(t.head.start, t.head.end)], ix[(t.tail.start, t.tail.end)]): self.rel_index[t.relation]
                    for t in post.triples if (t.head.start, t.head.end) in ix and (t.tail.start, t.tail.end) in ix
                    and t.relation in self.rel_index}
            pairs = [(i, j) for i in range(len(ents)) for j in range(len(ents)) if i != j]
            ent_spans = torch.tensor(ents)
            rel_logits.append(self.rel_head(words[b, :n], self.span_head.represent(words[b, :n], ent_spans),
                                            ent_spans, torch.tensor([gold[s] for s in ents]), torch.tensor(pairs),
                                            *self._side_of(side, keys, b)))
            rel_gold.append(torch.tensor([rels.get(p, 0) for p in pairs]))
        total = words.sum() * 0.0
        if span_logits:
            weight = torch.ones(len(self.type_index) + 1)
            weight[0] = self.config.span_none_weight
            total = total + F.cross_entropy(torch.cat(span_logits), torch.cat(span_gold), weight=weight)
        if rel_logits:
            weight = torch.ones(len(self.rel_index) + 1)
            weight[0] = self.config.rel_none_weight
            total = total + F.cross_entropy(torch.cat(rel_logits), torch.cat(rel_gold), weight=weight)
        return total

    @staticmethod
    def _side_of(side: torch.Tensor | None, keys: torch.Tensor | None, b: int) -> tuple:
        return (side[b], keys[b]) if side is not None and keys is not None else (None, None)

    # ---- prediction --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_posts(self, posts: Sequence[Post], batch_size: int = 32) -> list[PostStates]:
        """Word states (n_words, H) and side states of every post, in eval mode."""
        was = self.training
        self.eval()
        out: list[PostStates] = []
        for i in range(0, len(posts), batch_size):
            chunk = list(posts[i:i + batch_size])
            batch = self.layout(chunk, use_image=self.visual is not None)
            words, side, keys = self.encode(batch)
            out.extend((words[b, :batch.n_words[b]], *self._side_of(side, keys, b)) for b in range(len(chunk)))
        self.train(was)
        return out

    @torch.no_grad()
    def predict(self, posts: Sequence[Post], batch_size: int = 32, words: list[PostStates] | None = None,
                thresholds: tuple[float, float] | None = None) -> list[Post]:
        """Copies of ``posts`` with predicted entities and triples (with scores); gold is dropped.

        ``words`` (from ``encode_posts``) skips encoding; ``thresholds`` overrides the config's
        (entity, relation) no-class probability thresholds."""
        was = self.training
        self.eval()
        words = words if words is not None else self.encode_posts(posts, batch_size)
        te, tr = thresholds or (self.config.entity_threshold, self.config.relation_threshold)
        out = [self._decode(p, w, te, tr) for p, w in zip(posts, words, strict=True)]
        self.train(was)
        return out

    def _decode(self, post: Post, states: PostStates, te: float, tr: float) -> Post:
        words, side, keys = states
        pred = Post(post.id, post.tokens, post.img_id, post.image_path, post.caption, post.knowledge)
        n = len(words)
        if n == 0:
            return pred
        spans = enumerate_spans(n, self.config.max_span_width)
        span_t = torch.tensor(spans)
        reps = self.span_head.represent(words, span_t)
        probs = self.span_head(reps).softmax(-1)
        best_p, best_t = probs[:, 1:].max(-1)
        cand = (probs[:, 0] < te).nonzero().flatten().tolist()
        cand.sort(key=lambda i: -float(best_p[i]))
        taken: list[int] = []
        used = [False] * n
        for i in cand:
            s, e = spans[i]
            if not any(used[s:e]):
                taken.append(i)
                used[s:e] = [True] * (e - s)
        taken.sort(key=lambda i: spans[i])
        types = self.config.entity_types
        ents = [Entity(spans[i][0], spans[i][1], types[int(best_t[i])], post.span_text(*spans[i]),
                       float(best_p[i])) for i in taken]
        pred.entities = ents
        if len(ents) < 2:
            return pred
        tix = torch.tensor([int(best_t[i]) + 1 for i in taken])
        ent_spans = span_t[taken]
        pairs = torch.tensor([(i, j) for i in range(len(ents)) for j in range(len(ents)) if i != j])
        logits = self.rel_head(words, reps[taken], ent_spans, tix, pairs, side, keys)
        allowed = self.allowed[tix[pairs[:, 0]], tix[pairs[:, 1]]]
        rp = logits.masked_fill(~allowed, float("-inf")).softmax(-1)
        best_rp, best_r = rp[:, 1:].max(-1)
        best: dict[tuple[int, int], tuple[float, int, int, int]] = {}
        for k in (rp[:, 0] < tr).nonzero().flatten().tolist():
            i, j = int(pairs[k, 0]), int(pairs[k, 1])
            p, r = best_rp[k], best_r[k]
            if float(p) > 0:
                key = (min(i, j), max(i, j))  # one relation per unordered pair, the likelier direction
                if key not in best or float(p) > best[key][0]:
                    best[key] = (float(p), int(r), i, j)
        rels = self.config.relations
        pred.triples = sorted(Triple(ents[i], rels[r], ents[j], p) for p, r, i, j in best.values())
        return pred
