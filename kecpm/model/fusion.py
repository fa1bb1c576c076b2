"""Gated readers of the side sequence (caption + knowledge).

Both add what they read through a tanh gate that starts at 0, so at initialisation the model is
exactly the text-only model and knowledge cannot disturb the text's own encoding.
"""

from __future__ import annotations

import torch
from torch import nn


def knowledge_drop(rate: float, n: int, training: bool) -> torch.Tensor | None:
    """(n,) bool on the CPU: the posts whose knowledge is hidden this step (knowledge dropout, training
    only, one draw per batch from the CPU RNG); None when nothing is dropped."""
    return torch.rand(n) < rate if training and rate > 0 else None


def visible_keys(mask: torch.Tensor, know: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
    """(B, Ls) bool: the side tokens the model may read: ``mask`` minus the knowledge tokens (``know``)
    of the posts ``drop`` hides."""
    keys = mask.bool()
    return keys if drop is None else keys & ~(know.bool() & drop.to(keys.device).unsqueeze(1))


class GatedCrossAttention(nn.Module):
    """Text tokens attend to side tokens; the result is added through the gate."""

    def __init__(self, hidden: int, heads: int = 4, per_dimension: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(hidden if per_dimension else 1))

    def forward(self, x: torch.Tensor, side: torch.Tensor, side_mask: torch.Tensor) -> torch.Tensor:
        a, _ = self.attn(self.norm(x), side, side, key_padding_mask=~side_mask.bool(), need_weights=False)
        return x + torch.tanh(self.gate) * a


class PairReader(nn.Module):
    """An entity pair reads the side sequence: attention with the pair as query, added to the pair's
    features through a per-dimension gate."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Linear(2 * hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.gate = nn.Parameter(torch.zeros(hidden))

    def forward(self, pair: torch.Tensor, side: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """pair (P, 2H), side (Ls, H), keys (Ls,) bool -> (P, H); zeros when no side token is visible."""
        if not bool(keys.any()):
            return pair.new_zeros(len(pair), side.size(-1))
        scores = self.query(pair) @ side.t() / side.size(-1) ** 0.5
        att = scores.masked_fill(~keys, float("-inf")).softmax(-1)
        return torch.tanh(self.gate) * self.value(att @ side)
