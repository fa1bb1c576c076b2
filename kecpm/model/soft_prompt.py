"""Soft prompt: m learned input vectors, initialised from the embeddings of a task description.

As in PEFT's prompt tuning (``PromptTuningInit.TEXT``) and OpenPrompt's soft templates: the task
description is tokenized, its word embeddings are taken from the encoder, repeated or cut to m
vectors, and become trainable parameters prepended to every input.
"""

from __future__ import annotations

import torch
from torch import nn


def init_vectors(word_embeddings: nn.Embedding, tokenizer, text: str, m: int) -> torch.Tensor:
    """(m, H) initial vectors: the embeddings of ``text``'s subwords, repeated or cut to m."""
    ids = tokenizer.encode(text, add_special_tokens=False) or [tokenizer.unk_token_id]
    reps = -(-m // len(ids))
    ids = (ids * reps)[:m]
    with torch.no_grad():
        return word_embeddings.weight[torch.tensor(ids, dtype=torch.long)].detach().clone()


class SoftPrompt(nn.Module):
    """m trainable vectors prepended to the input embeddings of every post."""

    def __init__(self, m: int, hidden: int) -> None:
        super().__init__()
        self.m = m
        self.vectors = nn.Parameter(torch.zeros(m, hidden))

    def init_from_text(self, word_embeddings: nn.Embedding, tokenizer, text: str) -> None:
        self.vectors.data.copy_(init_vectors(word_embeddings, tokenizer, text, self.m))

    def forward(self, batch_size: int) -> torch.Tensor:
        """(B, m, H): the same vectors for every post."""
        return self.vectors.unsqueeze(0).expand(batch_size, -1, -1)
