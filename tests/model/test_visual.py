from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kecpm.data.errors import DataError
from kecpm.model.visual import FEATURES, ImageFeatures, VisualPrefix, load_image


@pytest.fixture()
def png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "tiny.png"
    Image.new("RGB", (40, 30), (200, 30, 60)).save(path)
    return path


def test_real_image_gives_cached_features(png, _isolated_cache):
    torch.set_num_threads(1)
    feats = ImageFeatures("", 4)
    f1 = feats(str(png))
    assert f1.shape == (4, FEATURES) and torch.isfinite(f1).all()
    cached = list((_isolated_cache / "image_features").glob("*.pt"))
    assert len(cached) == 1
    feats._net = None  # a second call must be served from the disk cache, without the network
    assert torch.equal(feats(str(png)), f1)
    assert feats._net is None


def test_visual_prefix_uses_no_image_vector_without_file(png):
    vp = VisualPrefix(2, 8)
    out = vp([None, str(png)])
    assert out.shape == (2, 2, 8)
    assert torch.equal(out[0], vp.no_image)
    assert not torch.equal(out[1], vp.no_image)


def test_not_an_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not an image")
    with pytest.raises(DataError, match="photo.jpg.*not a readable image"):
        ImageFeatures("", 4)(str(bad))
    with pytest.raises(DataError, match="missing.png.*not found"):
        load_image(tmp_path / "missing.png")


def test_unreadable_image_is_a_warning_and_the_no_image_vector(png, tmp_path, caplog):
    vp = VisualPrefix(2, 8)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"GIF89a but not really")
    with caplog.at_level("WARNING", logger="kecpm.model.visual"):
        out = vp([str(tmp_path / "missing.jpg"), str(junk), str(png)], ["p1", "p2", "p3"])
        vp([str(tmp_path / "missing.jpg")], ["p1"])  # a post is warned about once
    assert torch.equal(out[0], vp.no_image) and torch.equal(out[1], vp.no_image)
    assert not torch.equal(out[2], vp.no_image)
    assert sorted(vp.unreadable) == ["p1", "p2"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].startswith("post p1: ") and "missing.jpg: image file not found" in warnings[0]
    assert "junk.jpg: not a readable image" in warnings[1] and "no-image vector" in warnings[1]


def test_decompression_bomb_is_a_data_error(png, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 40x30 image is over twice the limit
    with pytest.raises(DataError, match="tiny.png: image too large to read safely"):
        load_image(png)
