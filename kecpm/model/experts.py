"""MoRe's two experts over retrieved passages, inside one model (``model.retrieval``, ``model.experts``).

MoRe (multi-modal retrieval) retrieves passages related to a post's text and to its image from a
knowledge corpus, feeds them to a textual and a visual model, and mixes the two models' predicted
distributions with a mixture of experts. Here the two experts share the trainable text encoder and
the heads, and each reads its own side sequence through its own ``GatedCrossAttention``:

- text expert: ``[CLS] [SEP] knowledge + passages retrieved by the post's text [SEP]``;
- visual expert: ``[CLS] caption [SEP] passages retrieved by the caption [SEP]`` (the caption stands
  in for the image; the visual prefix enters the shared text sequence as in the base model).

``experts=text`` or ``visual`` uses one expert; ``mix`` mixes the two experts' subword states per post
with softmax weights from a Linear(2H -> 2) on their mean-pooled states (zero at first: 0.5 / 0.5).
Both readers' tanh gates start at 0, so a new model starts as the text-only model. The heads' side
sequence (the pair reader) is the experts' side sequences side by side. Retrieved passages and their
tokens are marked as knowledge: knowledge dropout hides them with the post's knowledge.

Without ``model.retrieval`` this module is never built: the base model, parameters and RNG draws alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import nn

from kecpm.data.schema import Post
from kecpm.hashing import sha256_file
from kecpm.model.config import ModelConfig
from kecpm.model.fusion import GatedCrossAttention, knowledge_drop, visible_keys
from kecpm.model.layout import Batch, InputLayout
from kecpm.retrieval import Retriever

SideStates = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def with_corpus_hash(config: ModelConfig) -> ModelConfig:
    """``config`` with ``retrieval_sha256`` set from the corpus file when retrieval is on and it is unset."""
    if not config.retrieval or config.retrieval_sha256:
        return config
    try:
        return config.replace(retrieval_sha256=sha256_file(config.retrieval))
    except FileNotFoundError:
        raise FileNotFoundError(f"{config.retrieval}: retrieval corpus not found (model.retrieval)") from None


class Experts(nn.Module):
    """The text and/or visual expert readers, the mixing gate and the retriever feeding them."""

    def __init__(self, config: ModelConfig, hidden: int, layout: InputLayout) -> None:
        super().__init__()
        self.config = config
        self.layout = layout
        names = ("text", "visual") if config.experts == "mix" else (config.experts,)
        self.readers = nn.ModuleDict()
        for i, name in enumerate(names):  # the first reader draws what the base model's fusion draws
            with torch.random.fork_rng(devices=[]) if i else contextlib.nullcontext():
                self.readers[name] = GatedCrossAttention(hidden, per_dimension=config.gate_per_dimension)
        self.mix: nn.Linear | None = None
        if len(names) == 2:  # zeros (0.5 / 0.5 at first), the global RNG untouched: every variant's heads start alike
            with torch.random.fork_rng(devices=[]):
                self.mix = nn.Linear(2 * hidden, 2)
            nn.init.zeros_(self.mix.weight)
            nn.init.zeros_(self.mix.bias)
        self.retriever = Retriever(config.retrieval, config.retrieval_top_k, config.retrieval_embedder,
                                   config.retrieval_sha256)
        self.last_weights: torch.Tensor | None = None  # (B, 2) mixing weights of the last batch (diagnostics)

    def passages(self, posts: Sequence[Post], kind: str) -> list[list[str]]:
        """The retrieved passages of each post for ``kind`` ("text" or "visual"), cached per post."""
        return self.retriever.for_posts(posts, kind, use_caption=self.layout.use_caption)

    def add_sides(self, batch: Batch, posts: Sequence[Post]) -> Batch:
        """Put the experts' side sequences into ``batch`` (text expert: ``side_*``; visual: ``visual_*``)."""
        lay = self.layout
        batch.side_ids = batch.side_mask = batch.know_mask = None
        if "text" in self.readers:
            rows = [lay.side_sequence(None, [*lay.knowledge_sentences(p), *found])
                    for p, found in zip(posts, self.passages(posts, "text"), strict=True)]
            batch.side_ids, batch.side_mask, batch.know_mask = lay.pad_sides(rows)
        if "visual" in self.readers:
            rows = [lay.side_sequence(p.caption if lay.use_caption else None, found)
                    for p, found in zip(posts, self.passages(posts, "visual"), strict=True)]
            batch.visual_ids, batch.visual_mask, batch.visual_know = lay.pad_sides(rows)
        return batch

    def weights(self, outs: list[torch.Tensor], words: torch.Tensor) -> torch.Tensor:
        """(B, 2) softmax mixing weights from the two experts' states (B, L, H) mean-pooled over the
        positions ``words`` (B, L) bool marks."""
        if self.mix is None:
            raise ValueError("mixing weights need experts=mix")
        m = words.unsqueeze(-1).to(outs[0].dtype)
        pooled = [(o * m).sum(1) / m.sum(1).clamp(min=1) for o in outs]
        return self.mix(torch.cat(pooled, dim=-1)).softmax(-1)

    def forward(self, states: torch.Tensor, batch: Batch,
                side_states: SideStates) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[bool]]:
        """Text subword states (B, L, H) -> (mixed states, side states, visible side tokens, per post
        whether any knowledge or passage token is visible). ``side_states`` is the frozen side encoder."""
        drop = knowledge_drop(self.config.knowledge_dropout, len(states), self.training)
        outs, sides, keys, knows = [], [], [], []
        for name, reader in self.readers.items():
            ids, mask, know = ((batch.side_ids, batch.side_mask, batch.know_mask) if name == "text"
                               else (batch.visual_ids, batch.visual_mask, batch.visual_know))
            if ids is None or mask is None or know is None:
                raise ValueError(f"the batch has no side sequence for the {name} expert (use PostEncoder.batch)")
            side = side_states(ids, mask)
            k = visible_keys(mask, know, drop)
            outs.append(reader(states, side, k))
            sides.append(side)
            keys.append(k)
            knows.append(know.bool())
        mixed = outs[0]
        if self.mix is not None:
            w = self.weights(outs, batch.word_index >= 0)
            self.last_weights = w.detach()
            mixed = w[:, :1, None] * outs[0] + w[:, 1:, None] * outs[1]
        key = torch.cat(keys, dim=1)
        return mixed, torch.cat(sides, dim=1), key, (key & torch.cat(knows, dim=1)).any(1).tolist()
