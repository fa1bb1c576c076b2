"""`kecpm train --image-dir`: images found by img_id; a missing or unreadable one is a warning, not a stop."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jsonl import read_jsonl, write_jsonl

TINY = Path(__file__).parents[1] / "model" / "tiny_posts.jsonl"


def test_train_with_an_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    posts = read_jsonl(TINY)
    split = tmp_path / "splits" / "seed1"
    for part, chunk in (("train", posts[:4]), ("val", posts[4:6]), ("test", posts[6:])):
        write_jsonl(split / f"{part}.jsonl", chunk)
    imgs = tmp_path / "img_org" / "train"  # MNRE keeps one subfolder per part
    imgs.mkdir(parents=True)
    Image.new("RGB", (32, 32), (10, 200, 30)).save(imgs / posts[0].img_id, format="PNG")
    (imgs / posts[1].img_id).write_bytes(b"not an image")
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(tmp_path / "splits"), "--epochs", "1", "--threads", "1",
                                   "--no-knowledge", "--out", str(tmp_path / "runs"), "--name", "t",
                                   "--image-dir", str(tmp_path / "img_org")])
    assert res.exit_code == 0, res.output
    packed = "".join(res.stderr.split())  # the log handler may wrap a long line
    assert f"post{posts[1].id}:{imgs / posts[1].img_id}:notareadableimage" in packed
    assert packed.count("notareadableimage") == 1  # once per post, not once per epoch or pass
    assert f"images: {len(posts) - 2} of {len(posts)} posts have no image file" in res.stderr
    assert f"post{posts[0].id}:" not in packed
