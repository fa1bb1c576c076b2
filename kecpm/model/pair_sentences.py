"""The sentences about a pair (or a span): each reads the knowledge sentences that name it.

With ``model.knowledge_mentions`` the relation head learns only *that* a sentence names both entities of a
pair (a flag). On the paper's splits 59 % of the gold test pairs are named together in one of their post's
ChatGPT sentences, which often state the relation outright ("jack and dani are a couple", "hudaida is a port
city in yemen"). With ``model.pair_sentences`` the pair also reads *what* those sentences say: attention with
the pair as the query over the side encoder's states of exactly those sentences' tokens, and their mean,
projected and added to the pair's context through a per-dimension gate that starts at 0 (a warm start or a
post whose knowledge names no pair is read as without it).

With ``model.span_sentences`` the span head does the same for each candidate span named in a sentence
(``kecpm.model.heads.span``): "jack and dani are a couple" says both are people, "hudaida is a port city"
that one is a place.

Which side token belongs to which sentence comes from the tokenizer's character offsets over the joined
knowledge (``sentence_index``), so the side sequence itself is unchanged.
"""

from __future__ import annotations

from bisect import bisect_right

import torch
from torch import nn


def sentence_index(tokenizer, sentences: list[str], n_tokens: int) -> list[int]:  # noqa: ANN001 - any HF tokenizer
    """For the first ``n_tokens`` subwords of ``" ".join(sentences)`` (how the side sequence holds the knowledge),
    the index of the sentence each comes from."""
    if not sentences or n_tokens <= 0:
        return []
    starts, pos = [], 0
    for s in sentences:
        starts.append(pos)
        pos += len(s) + 1
    enc = tokenizer(" ".join(sentences), add_special_tokens=False, return_offsets_mapping=True)
    return [bisect_right(starts, a) - 1 for a, _ in enc["offset_mapping"][:n_tokens]]


def sentence_keys(keys: torch.Tensor, side_sentence: torch.Tensor, named: list[set[int]]) -> torch.Tensor:
    """(P, Ls) bool: for each pair (or span), the visible side tokens (``keys`` (Ls,)) of its sentences (``named``:
    sentence indices per pair, ``mentions.co_named``, or per span, ``mentions.named_in``); ``side_sentence`` (Ls,)
    is each side token's sentence, -1 outside the knowledge."""
    n = max((max(s) for s in named if s), default=-1) + 1
    if n == 0:
        return keys.new_zeros(len(named), len(keys), dtype=torch.bool)
    table = torch.zeros(len(named), n + 1, dtype=torch.bool, device=keys.device)  # column n: "no sentence"
    for p, s in enumerate(named):
        table[p, list(s)] = True
    col = torch.where((side_sentence >= 0) & (side_sentence < n), side_sentence, torch.full_like(side_sentence, n))
    return table[:, col] & keys.bool().unsqueeze(0)


class SentenceReader(nn.Module):
    """A pair (or span) reads its own sentences: [attention with it as query; mean] over the tokens ``keys`` marks
    for it, projected to ``out_dim``, through a per-dimension gate (zero at first); rows with no such token get
    zeros. Queries are ``query_dim`` wide (default 2H: a pair's two entities), outputs ``out_dim`` (default H)."""

    def __init__(self, hidden: int, query_dim: int | None = None, out_dim: int | None = None) -> None:
        super().__init__()
        out_dim = out_dim or hidden
        self.query = nn.Linear(query_dim or 2 * hidden, hidden)
        self.value = nn.Linear(2 * hidden, out_dim)
        self.gate = nn.Parameter(torch.zeros(out_dim))

    def forward(self, pair: torch.Tensor, side: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """pair (P, query_dim), side (Ls, H), keys (P, Ls) bool -> (P, out_dim)."""
        out = pair.new_zeros(len(pair), self.gate.numel())
        rows = keys.any(-1)
        if not bool(rows.any()):
            return out
        k = keys[rows]
        scores = self.query(pair[rows]) @ side.t() / side.size(-1) ** 0.5
        att = scores.masked_fill(~k, float("-inf")).softmax(-1)
        kf = k.to(side.dtype)
        mean = kf @ side / kf.sum(-1, keepdim=True)
        out[rows] = torch.tanh(self.gate) * self.value(torch.cat([att @ side, mean], dim=-1))
        return out
