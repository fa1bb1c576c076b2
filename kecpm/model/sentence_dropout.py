"""Knowledge sentence dropout: a different subset and order of a post's knowledge sentences at every training step.

``knowledge_dropout`` hides a post's knowledge whole, and an inline entity model that never trains without it
learns less from the post's own words (-2.5 rel-strict, docs/benchmarks.md). With
``model.inline_knowledge_sentence_dropout`` each training step also hides each sentence with that probability and
shuffles the order of the rest, so that the model cannot lean on one sentence or on where a sentence stands, as
word dropout does for words. Draws come from the torch CPU generator (seeded by the trainer); prediction always
reads every sentence in the LLM's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from kecpm.data.schema import Post


def vary_sentences(posts: Sequence[Post], rate: float) -> list[Post]:
    """Copies of ``posts`` whose knowledge keeps each sentence with probability ``1 - rate``, in a random order
    (posts without knowledge, and every post when ``rate`` is 0, unchanged)."""
    if rate <= 0:
        return list(posts)
    out = []
    for post in posts:
        sentences = post.knowledge or []
        if not sentences:
            out.append(post)
            continue
        keep = (torch.rand(len(sentences)) >= rate).nonzero().squeeze(-1)
        order = keep[torch.randperm(len(keep))].tolist()
        out.append(replace(post, knowledge=[sentences[i] for i in order]))
    return out
