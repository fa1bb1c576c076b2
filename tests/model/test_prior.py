"""Prior-shift correction: EM recovers a known prior, the correction moves the argmax, not p(none)."""

from __future__ import annotations

import torch

from kecpm.model.prior import PairLogits, em_prior, fit_temperature, relation_accuracy


def _shifted_sample(source: torch.Tensor, target: torch.Tensor, n: int = 6000) -> torch.Tensor:
    """Exact posteriors under ``source`` of samples drawn with prior ``target``: 1-D Gaussians, means 0/2/4."""
    g = torch.Generator().manual_seed(0)
    y = torch.multinomial(target, n, replacement=True, generator=g)
    x = torch.randn(n, generator=g) + 2.0 * y
    lik = torch.exp(-0.5 * (x.unsqueeze(1) - 2.0 * torch.arange(3)) ** 2)
    post = lik * source
    return post / post.sum(1, keepdim=True)


def test_em_recovers_a_known_prior_shift():
    source, target = torch.tensor([1 / 3, 1 / 3, 1 / 3]), torch.tensor([0.7, 0.2, 0.1])
    probs = _shifted_sample(source, target)
    q = em_prior(probs, torch.ones(len(probs)), source)
    assert torch.allclose(q, target, atol=0.03), q
    assert abs(float(probs.mean(0)[0]) - 0.7) > 0.05  # the plain average is off: EM did the work


def test_smoothing_pulls_towards_the_source_prior():
    source = torch.tensor([0.5, 0.5])
    probs = torch.tensor([[0.99, 0.01]] * 10)
    free = em_prior(probs, torch.ones(10), source)
    held = em_prior(probs, torch.ones(10), source, smoothing=100.0)
    assert float(free[1]) < 0.02 < float(held[1])


def test_temperature_fixes_overconfident_logits():
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(1, 4, (400,), generator=g)
    logits = torch.randn(400, 4, generator=g)
    right = torch.rand(400, generator=g) < 0.6  # 60 % right, but with huge margins
    idx = torch.where(right, labels, (labels % 3) + 1)
    logits[torch.arange(400), idx] += 12.0
    t = fit_temperature(PairLogits(logits, torch.ones(400, 4, dtype=torch.bool), labels))
    assert t > 3.0


def test_shift_changes_the_relation_not_the_none_probability(make_model):
    model = make_model(use_image=False, use_knowledge=False)
    rel = model.head("relation")
    logits = torch.tensor([[0.0, 2.0, 1.0] + [0.0] * (len(model.labels.relations) - 2)])
    allowed = torch.ones_like(logits, dtype=torch.bool)
    before = rel.probabilities(logits, allowed)
    second = model.labels.relations[1]
    model.update_config(relation_prior_shift={second: 2.0})
    after = rel.probabilities(logits, allowed)
    assert int(before[0, 1:].argmax()) == 0 and int(after[0, 1:].argmax()) == 1
    assert torch.allclose(before[:, 0], after[:, 0]) and torch.allclose(after.sum(-1), torch.ones(1))
    assert model.config.relation_prior_shift == {second: 2.0} and rel.config is model.config


def test_relation_accuracy_uses_the_gold_pairs(make_model, tiny_posts):
    model = make_model(use_image=False, use_knowledge=False)
    acc = relation_accuracy(model, tiny_posts)
    assert acc is not None and 0.0 <= acc <= 1.0
