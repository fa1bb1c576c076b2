from __future__ import annotations

import torch

from kecpm.model.heads import Verbalizer, enumerate_spans, schema_mask


def test_enumerate_spans_respects_width():
    spans = enumerate_spans(4, 2)
    assert spans == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]


def test_schema_mask_allows_only_seen_type_pairs():
    m = schema_mask(["member_of", "peer"], ["org", "per"], {"member_of": [["per", "org"]], "peer": [["per", "per"]]})
    org, per = 1, 2
    assert m[per, org, 1] and not m[org, per, 1] and not m[per, per, 1]
    assert m[per, per, 2] and not m[per, org, 2]
    assert m[..., 0].all()  # "none" always allowed


def test_verbalizer_label_vectors_come_from_given_embeddings():
    v = Verbalizer(6, 4, 2, 0.0)
    vecs = torch.tensor([[3.0, 0, 0, 0], [0, 0, 2.0, 0]])
    v.init_labels(vecs)
    assert torch.allclose(v.labels[1:], torch.tensor([[1.0, 0, 0, 0], [0, 0, 1.0, 0]]))
    assert v(torch.randn(5, 6)).shape == (5, 3)
