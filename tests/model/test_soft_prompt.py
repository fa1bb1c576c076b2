from __future__ import annotations

import torch
from transformers import AutoModel, AutoTokenizer

from kecpm.model.soft_prompt import SoftPrompt


def test_soft_prompt_starts_from_task_description_embeddings(minilm_path):
    tok = AutoTokenizer.from_pretrained(minilm_path)
    emb = AutoModel.from_pretrained(minilm_path).get_input_embeddings()
    sp = SoftPrompt(5, emb.embedding_dim)
    sp.init_from_text(emb, tok, "find entities")
    ids = tok.encode("find entities", add_special_tokens=False)
    expected = emb.weight[torch.tensor((ids * 5)[:5])]
    assert torch.equal(sp.vectors.data, expected)
    assert sp(3).shape == (3, 5, emb.embedding_dim)
    assert sp.vectors.requires_grad
