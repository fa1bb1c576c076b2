"""A small trained model for the prediction tests: the packaged all-MiniLM-L6-v2, eight posts, four steps."""

from __future__ import annotations

from pathlib import Path

import torch

from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel

TINY = Path(__file__).parent / "model" / "tiny_posts.jsonl"


def train_tiny_model(path: Path, steps: int = 4, **decoding: float) -> Path:
    """Train on the tiny posts, change decoding settings (e.g. ``entity_threshold=0.999``: nearly every
    span an entity, so the outputs are never empty), save to ``path``."""
    posts = read_jsonl(TINY)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        model.loss(posts).backward()
        opt.step()
    if decoding:
        model.update_config(**decoding)
    model.save(path)
    return path
