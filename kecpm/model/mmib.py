"""MMIB's two regularisers: stochastic bottlenecks (refinement) and text-visual alignment (InfoNCE).

MMIB (Cui et al., *Enhancing Multimodal Entity and Relation Extraction with Variational Information
Bottleneck*, 2023) encodes each modality stochastically, z = mu(x) + sigma(x) * eps, and adds
beta * KL(N(mu, sigma) || N(0, I)) to the loss, which squeezes out what the task does not need (the
refinement regulariser); and it maximises the mutual information between a post's text and image
representations with InfoNCE, the other posts of the batch as negatives (the alignment regulariser).

What we do, both off by default (``ModelConfig.ib_weight``, ``align_weight``; this module exists only
when one is > 0, so with both 0 the model is exactly the base model, parameters and RNG draws alike):

- ``ib_weight``: a ``Bottleneck`` on the word states after fusion ("text"), on the side states
  (caption + knowledge from the frozen side encoder) before the fusion and the pair reader read them
  ("side"), and on the projected visual prefix vectors before they enter the text encoder ("image").
  Sampled in training, z = mu in eval (deterministic predictions). Each KL term is the mean over
  dimensions and over real units (words, visible side tokens, prefix vectors of posts with an image),
  about 2.5 + mean(mu^2)/2 at the start, weighted by ``ib_weight``.
- ``align_weight``: InfoNCE (``align_temperature``) between each post's text, the mean of its word
  states before fusion (the encoder's own reading of the text), and its visual side: the mean of its
  (bottlenecked) visual prefix vectors when the post has a readable image, else the mean of its
  caption tokens' side states (side tokens that are neither knowledge nor special tokens). Each side
  has a linear projection. Posts with neither image nor caption (or no word) are left out.

How this differs from MMIB: this data comes without image files (MNRE's text files only), so the
image caption stands in for the image on the visual side, and the image features, where present,
enter as prefix vectors of the text encoder rather than as a separate stream. Every layer starts
as the identity (mu) or nearly deterministic (logvar bias -6, sigma ~0.05), and is built without
drawing from the global RNG, so the rest of the model starts as the base model does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kecpm.model.config import ModelConfig
from kecpm.model.contrastive import info_nce
from kecpm.model.layout import Batch
from kecpm.model.visual import VisualPrefix

LOGVAR_INIT = -6.0
Aux = dict[str, torch.Tensor]  # name -> weighted regulariser term


def _identity(hidden: int) -> nn.Linear:
    """A Linear(hidden, hidden) set to the identity, built without drawing from the global RNG."""
    with torch.random.fork_rng(devices=[]):
        layer = nn.Linear(hidden, hidden)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(hidden))
        layer.bias.zero_()
    return layer


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, L, H), mask (B, L) -> (B, H): the mean over the masked positions (0 where none)."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


class Bottleneck(nn.Module):
    """z ~ N(mu(x), diag(exp(logvar(x)))); returns z (mu in eval) and the mean KL to N(0, I)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mu = _identity(hidden)
        self.logvar = _identity(hidden)
        with torch.no_grad():
            self.logvar.weight.zero_()
            self.logvar.bias.fill_(LOGVAR_INIT)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, H), mask (B, L) real units -> z (B, L, H), KL averaged over dimensions and units."""
        mu, logvar = self.mu(x), self.logvar(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(-1)
        m = mask.to(kl.dtype)
        return z, (kl * m).sum() / m.sum().clamp(min=1)


class MMIB(nn.Module):
    """The bottlenecks ("text", "side", "image") of ``ib_weight`` and the alignment projections of
    ``align_weight``; each method adds its weighted term to the ``aux`` dict it is given."""

    def __init__(self, config: ModelConfig, hidden: int, side: bool, image: bool, tokenizer: Any) -> None:
        super().__init__()
        ib = config.ib_weight > 0
        self.ib_weight, self.align_weight = config.ib_weight, config.align_weight
        self.temperature = config.align_temperature
        self.text = Bottleneck(hidden) if ib else None
        self.side = Bottleneck(hidden) if ib and side else None
        self.image = Bottleneck(hidden) if ib and image else None
        align = config.align_weight > 0
        self.align_text = _identity(hidden) if align else None
        self.align_visual = _identity(hidden) if align else None
        self.special_ids = sorted(set(tokenizer.all_special_ids))

    def bottleneck(self, name: str, x: torch.Tensor, mask: torch.Tensor, aux: Aux) -> torch.Tensor:
        """``x`` through bottleneck ``name`` (unchanged without one); weighted KL in ``aux["ib_<name>"]``."""
        layer = getattr(self, name)
        if layer is None:
            return x
        z, kl = layer(x, mask)
        aux[f"ib_{name}"] = self.ib_weight * kl
        return z

    def caption_mask(self, batch: Batch) -> torch.Tensor | None:
        """(B, Ls) bool: the caption tokens of the side sequence (not knowledge, not special tokens)."""
        if batch.side_ids is None or batch.side_mask is None or batch.know_mask is None:
            return None
        special = torch.isin(batch.side_ids, torch.tensor(self.special_ids, device=batch.side_ids.device))
        return batch.side_mask.bool() & ~batch.know_mask.bool() & ~special

    def align(self, words: torch.Tensor, real: torch.Tensor, batch: Batch, side: torch.Tensor | None,
              prefix: torch.Tensor | None, has_image: torch.Tensor | None, aux: Aux) -> None:
        """InfoNCE between text and visual side as ``aux["align"]`` (weighted); nothing without alignment.

        words (B, N, H) word states before fusion, real (B, N) real words, side (B, Ls, H) side states,
        prefix (B, n, H) visual prefix vectors, has_image (B,) bool posts whose prefix is an image's."""
        if self.align_text is None or self.align_visual is None:
            return
        text = masked_mean(words, real)
        visual, keep = torch.zeros_like(text), torch.zeros(len(text), dtype=torch.bool, device=text.device)
        caption = self.caption_mask(batch)
        if side is not None and caption is not None:
            has_caption = caption.any(1)
            visual = torch.where(has_caption.unsqueeze(1), masked_mean(side, caption), visual)
            keep = keep | has_caption
        if prefix is not None and has_image is not None:
            visual = torch.where(has_image.unsqueeze(1), prefix.mean(1), visual)
            keep = keep | has_image
        keep = keep & real.any(1)
        loss = info_nce(self.align_text(text[keep]), self.align_visual(visual[keep]), self.temperature)
        aux["align"] = self.align_weight * loss


def image_mask(visual: VisualPrefix, paths: list[str | None], post_ids: list[str] | None) -> torch.Tensor:
    """(B,) bool: the posts whose visual prefix came from an image (call after ``visual`` ran on them)."""
    ids = post_ids or [None] * len(paths)
    used = [bool(p) and (pid or p) not in visual.unreadable for p, pid in zip(paths, ids, strict=True)]
    return torch.tensor(used, dtype=torch.bool)
