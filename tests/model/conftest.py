"""Fixtures for model tests: eight small hand-labelled posts and a fresh model over them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kecpm.data.jsonl import read_jsonl
from kecpm.data.schema import Post

TINY = Path(__file__).with_name("tiny_posts.jsonl")


@pytest.fixture()
def tiny_posts() -> list[Post]:
    return read_jsonl(TINY)


@pytest.fixture()
def make_model(tiny_posts: list[Post]):
    """Factory: a new PromptModel over the tiny posts' schema, seeded, with config overrides."""
    from kecpm.data.schema import schema_from_posts
    from kecpm.model.config import ModelConfig
    from kecpm.model.model import PromptModel

    def make(**overrides):
        torch.manual_seed(0)
        torch.set_num_threads(1)
        return PromptModel.create(ModelConfig(**schema_from_posts(tiny_posts), **overrides))

    return make
