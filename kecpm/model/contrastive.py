"""InfoNCE: the contrastive mutual-information bound shared by MMIB's alignment term and PROMU's
alignment pre-training."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between rows of ``a`` (B, D) and ``b`` (B, D): row i of each is the positive
    of row i of the other, the other rows of the batch its negatives. 0 for a batch of one (no
    negatives), keeping the graph."""
    if len(a) < 2:
        return (a.sum() + b.sum()) * 0.0
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t() / temperature
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
