"""The Python API: ``from kecpm import Extractor`` on raw strings."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_model import train_tiny_model

from kecpm import Extractor, Prediction

TEXT = "Barack Obama, meets @AngelaMerkel in Berlin!!"


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> Extractor:
    path = train_tiny_model(tmp_path_factory.mktemp("api") / "model", entity_threshold=0.999, relation_threshold=0.999)
    return Extractor.from_pretrained(str(path))


def test_predict_a_raw_string_with_punctuation_and_a_mention(extractor: Extractor) -> None:
    pred = extractor.predict(TEXT)
    assert isinstance(pred, Prediction) and pred.text == TEXT
    assert pred.tokens == ["Barack", "Obama", ",", "meets", "@AngelaMerkel", "in", "Berlin", "!!"]
    assert pred.entities and pred.triples
    for e in pred.entities + [s for t in pred.triples for s in (t.head, t.tail)]:
        assert TEXT[e.start:e.end] == e.text
        assert e.text.startswith(pred.tokens[e.token_start]) and e.text.endswith(pred.tokens[e.token_end - 1])
        assert 0.0 < e.score <= 1.0
    for t in pred.triples:
        assert t.head in pred.entities and t.tail in pred.entities and 0.0 < t.score <= 1.0
    assert pred.to_dict()["triples"][0]["head"]["start"] == pred.triples[0].head.start


def test_a_list_gives_one_prediction_per_text(extractor: Extractor, tmp_path: Path) -> None:
    preds = extractor.predict([TEXT, "Messi joins PSG."], images=[None, tmp_path / "gone.jpg"],
                              knowledge=[["Obama met Merkel."], None])
    assert [p.text for p in preds] == [TEXT, "Messi joins PSG."]
    assert preds[0].image_warning is None
    assert "gone.jpg: image file not found" in preds[1].image_warning
    single = extractor.predict(TEXT, knowledge=["Obama met Merkel."])
    # the same entities; scores equal up to float noise (a batch of two pads the shorter text)
    assert [(e.start, e.end, e.type) for e in single.entities] == [(e.start, e.end, e.type) for e in preds[0].entities]
    assert [e.score for e in single.entities] == pytest.approx([e.score for e in preds[0].entities], abs=1e-5)
    with pytest.raises(ValueError, match="images: give one entry per text"):
        extractor.predict([TEXT, TEXT], images=["a.jpg"])


def test_save_and_load_again(extractor: Extractor, tmp_path: Path) -> None:
    extractor.save_pretrained(tmp_path / "copy")
    again = Extractor.from_pretrained(tmp_path / "copy")
    assert again.predict(TEXT) == extractor.predict(TEXT)
    with pytest.raises(FileNotFoundError, match="not a saved model"):
        Extractor.from_pretrained(tmp_path / "nothing")
