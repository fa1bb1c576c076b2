"""The prompt model: one post encoder, the heads of its task, save and load.

``PromptModel.create(config)`` builds a new model (soft prompt and label vectors initialised from
words), ``PromptModel.load(dir)`` a saved one. ``loss(posts)`` and ``predict(posts)`` encode a batch
once and let every head of the task (``config.task``) add its loss terms or decode, post by post.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from kecpm.atomic_folder import replace_folder
from kecpm.config import ConfigError
from kecpm.data.schema import Post
from kecpm.model import folder
from kecpm.model.config import ModelConfig
from kecpm.model.definitions import subject
from kecpm.model.encoder import PostEncoder
from kecpm.model.heads import HEADS, Head, Labels, PostView, SpanFeatures
from kecpm.model.heads.base import Terms
from kecpm.model.sentence_dropout import vary_sentences

log = logging.getLogger(__name__)


def length_batches(posts: Sequence[Post], batch_size: int) -> list[list[int]]:
    """Indices of ``posts`` in prediction batches: posts of similar length (words) together, less padding."""
    order = sorted(range(len(posts)), key=lambda i: len(posts[i].tokens))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


class PromptModel(nn.Module):
    """Extracts entities and/or triples from posts. Build with ``create`` (new) or ``load`` (saved)."""

    def __init__(self, config: ModelConfig, encoder_path: str | None = None, side_path: str | None = None) -> None:
        super().__init__()
        if not config.entity_types or ("relation" in config.task_spec.heads and not config.relations):
            raise ConfigError(f"task {config.task.value}: the training posts give no entity types"
                              f"{'' if config.task_spec.heads == ('span',) else ' or no relations'} "
                              "(see kecpm.data.schema.schema_from_posts)")
        if config.retrieval:  # MoRe: record the corpus's hash (its cached index is found by it)
            from kecpm.model.experts import with_corpus_hash

            config = with_corpus_hash(config)
        self.config = config
        self.encoder = PostEncoder(config, encoder_path, side_path)
        self.labels = Labels(list(config.entity_types), list(config.relations))
        self.spans = SpanFeatures(self.encoder.hidden, config.max_span_width, config.knowledge_mentions,
                                  config.entity_types if config.knowledge_hints else None)
        self.heads = nn.ModuleDict({name: HEADS[name](config, self.encoder.hidden, self.spans, self.labels)
                                    for name in config.task_spec.heads})
        self.warm_start_info: dict[str, object] | None = None  # what a warm start copied (set by create)
        self.precision = "fp32"  # inference precision (kecpm.model.precision); set_precision changes it
        self.inference_only = False  # int8 encoders cannot be trained or saved
        # where the frozen side reader was loaded from (None: a model folder's own copy; kecpm.model.folder)
        self.side_source: str | None = side_path or encoder_path or config.encoder_path

    # ---- parts -------------------------------------------------------------------------------------
    def head(self, name: str) -> Head | None:
        return self.heads[name] if name in self.heads else None

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def knowledge_gates(self) -> dict[str, nn.Parameter]:
        """The tanh gates through which caption + knowledge enter: fusion ("gate"), pair reader, the pair's own
        sentences (``pair_sentences``) and the spans' (``span_sentences``); with MoRe's experts their readers
        ("text_gate", "visual_gate") instead of the fusion."""
        rel = self.head("relation")
        gates = {"gate": self.encoder.fusion, "pair_gate": getattr(rel, "reader", None),
                 "sentence_gate": getattr(rel, "sentences", None),
                 "span_sentence_gate": getattr(self.head("span"), "sentences", None)}
        if self.encoder.experts is not None:
            gates.update({f"{n}_gate": m for n, m in self.encoder.experts.readers.items()})
        return {k: m.gate for k, m in gates.items() if m is not None}

    def gate_openness(self) -> dict[str, float]:
        """Mean |tanh(gate)| of each knowledge gate (0 = knowledge unused)."""
        return {k: float(torch.tanh(g.detach()).abs().mean()) for k, g in self.knowledge_gates().items()}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by role: "encoder" (the pretrained text encoder), "gate" (knowledge
        gates) and "head" (everything else: soft prompt, visual prefix, fusion, heads)."""
        gate_ids = {id(g) for g in self.knowledge_gates().values()}
        enc_ids = {id(p) for p in self.encoder.text.parameters()}
        groups: dict[str, list[nn.Parameter]] = {"head": [], "gate": [], "encoder": []}
        for p in self.parameters():
            if p.requires_grad:
                groups["encoder" if id(p) in enc_ids else "gate" if id(p) in gate_ids else "head"].append(p)
        return groups

    def _state_without(self, modules: list[nn.Module | None]) -> dict[str, torch.Tensor]:
        """The state dict minus the tensors of ``modules`` (found by identity, not by name)."""
        skip = {id(t) for m in modules if m is not None for t in m.state_dict(keep_vars=True).values()}
        return {k: v.detach() for k, v in self.state_dict(keep_vars=True).items() if id(v) not in skip}

    def own_state(self) -> dict[str, torch.Tensor]:
        """State without the Hugging Face models inside the encoder (saved by ``save_pretrained``)."""
        return self._state_without(list(self.encoder.pretrained().values()))

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Everything that training changes (the frozen side encoder left out)."""
        return self._state_without([self.encoder.side])

    # ---- construction, saving, loading -------------------------------------------------------------
    @classmethod
    def create(cls, config: ModelConfig) -> PromptModel:
        """A new model: soft prompt from the task description, label vectors from the label words."""
        model = cls(config)
        enc = model.encoder
        if enc.soft is not None:
            enc.soft.init_from_text(enc.text.get_input_embeddings(), enc.tokenizer, config.task_description)
        for head in model.heads.values():
            head.init_labels(enc.embed_texts)
        if config.init_from:
            from kecpm.model.warm_start import warm_start

            model.warm_start_info = warm_start(model, config.init_from, config.init_type_map)
        return model

    def save(self, directory: str | Path, card: dict[str, object] | None = None, copy_side: bool = False) -> None:
        """Write config.json, schema.json, encoder/ (weights + tokenizer), side_encoder.json (a reference to
        the pretrained side reader; its weights in side_encoder/ when its source cannot be found again, or
        with ``copy_side``), heads.safetensors and README.md (the model card, with the ``card`` facts of
        ``kecpm.model.card``) into a temporary sibling folder, then swap it in (a crash leaves the old
        folder intact). See kecpm.model.folder."""
        from kecpm.model.card import write_card

        if self.inference_only:
            raise ConfigError("this model runs with int8 encoders (set_precision): load it again to save it")
        directory = Path(directory)
        with replace_folder(directory, carry_over=False) as tmp:
            self.config.save(tmp / "config.json")
            (tmp / "schema.json").write_text(json.dumps(
                {k: getattr(self.config, k) for k in ("entity_types", "relations", "allowed_pairs")}, indent=2))
            side = self.encoder.side
            ref = None if side is None or copy_side else folder.side_reference(
                side, [(self.side_source, True), (self.config.encoder_path, False)], directory)
            for name, m in self.encoder.pretrained().items():
                if not (name == folder.SIDE_DIR and ref is not None):
                    m.save_pretrained(tmp / name)  # safetensors (transformers >= 5 writes nothing else)
            if ref is not None:
                folder.write_side_reference(ref, tmp)
            self.encoder.tokenizer.save_pretrained(tmp / "encoder")
            folder.write_heads(self.own_state(), tmp / folder.HEADS)
            write_card(tmp, card)

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> PromptModel:
        """A saved model (also one saved by an earlier build), in eval mode on ``device``; for a pipeline folder
        (``kecpm.model.pipeline``) the ``PipelineModel`` of its two models."""
        directory = Path(directory)
        from kecpm.model.pipeline import PipelineModel, is_pipeline

        if is_pipeline(directory):
            return PipelineModel.load(directory, device)  # type: ignore[return-value]
        if not (directory / "config.json").exists():
            raise FileNotFoundError(f"{directory}: not a saved model (no config.json)")
        ref = folder.read_side_reference(directory)  # (reference, source, local folder) or None
        side = directory / folder.SIDE_DIR
        model = cls(ModelConfig.load(directory / "config.json"), encoder_path=str(directory / "encoder"),
                    side_path=ref[2] if ref else str(side) if side.exists() else None)
        if ref is not None and model.encoder.side is not None:
            folder.check_side(model.encoder.side, ref[0], directory, ref[1])
        model.side_source = ref[1] if ref else None
        state, heads_file = folder.read_heads(directory)
        missing, unexpected = model.load_state_dict(state, strict=False)
        own = set(model.own_state())
        bad = [k for k in missing if k in own] + list(unexpected)
        if bad:
            raise ConfigError(f"{heads_file} does not match config.json: {', '.join(bad[:5])}")
        return model.to(device).eval()

    # ---- training and prediction -------------------------------------------------------------------
    def views(self, posts: Sequence[Post]) -> list[PostView]:
        """Encode ``posts`` as one batch: one view per post."""
        return self._encode(posts)[0]

    def _encode(self, posts: Sequence[Post]) -> tuple[list[PostView], dict[str, torch.Tensor]]:
        """``views`` and the encoder's weighted regulariser terms (``Encoded.aux``: MMIB's, if on)."""
        batch = self.encoder.batch(list(posts))
        enc = self.encoder(batch)
        views = [PostView(p, *enc.post(b)) for b, p in enumerate(posts)]
        if batch.side_sentence is not None:  # pair/span sentences: which side tokens belong to which sentence
            for b, view in enumerate(views):
                view.side_sentence = batch.side_sentence[b].to(self.device)
        if enc.know_visible is not None:  # mention sentences, hints, definitions only of posts whose knowledge is seen
            for view, visible in zip(views, enc.know_visible, strict=True):
                if self.config.knowledge_mentions:
                    view.sentences = self.encoder.layout.sentences(view.post) if visible else []
                if self.config.knowledge_hints:
                    view.hints = list(view.post.hints or []) if visible else []
                if self.config.knowledge_definitions and visible:
                    sentences = self.encoder.layout.knowledge_sentences(view.post)
                    view.definitions = ([subject(s) for s in sentences], self.encoder.sentence_embeddings(sentences))
        return views, enc.aux

    def loss(self, posts: Sequence[Post]) -> torch.Tensor:
        """Sum of the heads' losses on a batch of gold posts, plus the encoder's regularisers (MMIB)."""
        if self.training:  # inline_knowledge_sentence_dropout: a random subset and order of the sentences (0: as given)
            posts = vary_sentences(posts, self.config.inline_knowledge_sentence_dropout)
        views, aux = self._encode(posts)
        terms: dict[str, list[Terms]] = {name: [] for name in self.heads}
        for view in views:  # post by post, head by head (the order dropout draws its masks in)
            if view.n == 0:
                continue
            for name, head in self.heads.items():
                t = head.loss_terms(view)
                if t is not None:
                    terms[name].append(t)
        total = views[0].words.sum() * 0.0  # a zero that keeps the graph when no head has terms
        for name, head in self.heads.items():
            if terms[name]:
                total = total + head.loss(terms[name])
        for term in aux.values():  # empty unless model.ib_weight or model.align_weight is on
            total = total + term
        return total

    def set_precision(self, precision: str) -> PromptModel:
        """Predict in ``precision`` (fp32, bf16 or int8; kecpm.model.precision); int8 is for inference only."""
        from kecpm.model.precision import prepare

        prepare(self, precision)
        if precision != self.precision:
            self.encoder.clear_side_cache()  # states computed in the other precision
        self.precision = precision
        return self

    def update_config(self, **changes: object) -> None:
        """Change decoding settings (thresholds, prior shift) of the model and its heads."""
        self.config = self.config.replace(**changes)
        for head in self.heads.values():
            head.config = self.config

    @contextlib.contextmanager
    def plain_decoding(self) -> Iterator[None]:
        """Inside the block posts decode by the thresholds alone (``min_triples`` off): how the trainer selects the
        epoch and the thresholds on val. With the constraint on there, a model that finds nothing still scores
        through the pairs it adds, and with 55 val posts that picked undertrained epochs (docs/benchmarks.md)."""
        kept = self.config.min_triples
        self.update_config(min_triples=0)
        try:
            yield
        finally:
            self.update_config(min_triples=kept)

    def thresholds(self) -> dict[str, float]:
        """The no-class threshold of every head that has one, from the config."""
        return {h.threshold: getattr(self.config, h.threshold) for h in self.heads.values() if h.threshold}

    @torch.no_grad()
    def encode_posts(self, posts: Sequence[Post], batch_size: int = 32) -> list[PostView]:
        """Views of every post in eval mode and the prediction precision (reusable across ``predict`` calls)."""
        from kecpm.model.precision import autocast

        was = self.training
        self.eval()
        by_post: dict[int, PostView] = {}
        with autocast(self.precision, self.device):
            for chunk in length_batches(posts, batch_size):
                by_post.update(zip(chunk, self.views([posts[j] for j in chunk]), strict=True))
        self.train(was)
        return [by_post[i] for i in range(len(posts))]

    @torch.no_grad()
    def predict(self, posts: Sequence[Post], batch_size: int = 32, views: list[PostView] | None = None,
                thresholds: dict[str, float] | None = None) -> list[Post]:
        """Copies of ``posts`` with predicted entities and triples (with scores); gold is dropped.

        ``views`` (from ``encode_posts``) skips encoding; ``thresholds`` overrides the config's no-class
        thresholds by field name (e.g. ``{"entity_threshold": 0.7}``)."""
        from kecpm.model.precision import autocast

        with autocast(self.precision, self.device):
            return self._predict(posts, batch_size, views, thresholds)

    def _predict(self, posts: Sequence[Post], batch_size: int, views: list[PostView] | None,
                 thresholds: dict[str, float] | None) -> list[Post]:
        was = self.training
        self.eval()
        views = views if views is not None else self.encode_posts(posts, batch_size)
        th = {**self.thresholds(), **(thresholds or {})}
        out = []
        for post, view in zip(posts, views, strict=True):
            pred = Post(post.id, post.tokens, post.img_id, post.image_path, post.caption, post.knowledge,
                        hints=post.hints)
            if view.n:
                view = replace(view, post=post, entities=None)  # fresh: decoding writes entities
                for head in self.heads.values():
                    head.decode(view, pred, th.get(head.threshold or "", 0.5))
            out.append(pred)
        self.train(was)
        return out
