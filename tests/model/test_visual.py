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
