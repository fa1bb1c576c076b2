"""The post encoder: the side encoder is a real (frozen) submodule, and everything follows .to()."""

from __future__ import annotations

import pytest
import torch

from kecpm.config import ConfigError
from kecpm.device import resolve_device


def test_side_encoder_is_a_frozen_submodule_that_stays_in_eval_mode(make_model):
    model = make_model()
    side = model.encoder.side
    assert any(m is side for m in model.modules())  # so .to(device) moves it
    model.train()
    assert model.encoder.text.training and not side.training
    assert not any(p.requires_grad for p in side.parameters())
    assert not any(k.startswith("encoder.side.") for k in model.own_state())  # saved as side_encoder/


def test_every_tensor_follows_the_model(make_model, tiny_posts):
    """float64 stands in for a CUDA device here: every tensor the model makes while encoding, computing
    the loss and decoding must follow the model's parameters, or this raises a dtype mismatch."""
    model = make_model().to(torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    loss = model.loss(tiny_posts[:3])
    assert loss.dtype == torch.float64 and torch.isfinite(loss)
    loss.backward()
    [pred] = model.predict(tiny_posts[:1])
    assert pred.id == tiny_posts[0].id


def test_to_clears_the_side_cache(make_model, tiny_posts):
    model = make_model()
    model.loss(tiny_posts[:2])
    assert model.encoder._side_cache
    model.to(torch.float64)
    assert not model.encoder._side_cache


def test_device_choice():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="not one of"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")
