"""Image files of posts: ``--image-dir DIR`` turns each post's ``img_id`` into ``DIR/img_id``, or
``DIR/<sub>/img_id`` for the first subfolder holding it (MNRE's ``img_org/{train,val,test}``).

Nothing is opened here: a missing or unreadable file is found where the image is read
(``kecpm.model.visual``), which warns, naming the post, and uses the model's no-image vector.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from kecpm.data.schema import Post


def resolve_images(posts: Iterable[Post], image_dir: str | Path) -> list[Post]:
    """Copies of ``posts`` whose ``image_path`` is ``image_dir / img_id``, or the file of that name in a
    subfolder of ``image_dir`` when only there. A post with its own ``image_path`` keeps it (resolved
    against ``image_dir`` when relative); a post without ``img_id`` has no image."""
    root = Path(image_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found (--image-dir)")
    folders = [root, *sorted(d for d in root.iterdir() if d.is_dir())]
    out = []
    for p in posts:
        if p.image_path:
            path = Path(p.image_path).expanduser()
            out.append(replace(p, image_path=str(path if path.is_absolute() else root / path)))
        elif p.img_id:
            found = next((d / p.img_id for d in folders if (d / p.img_id).is_file()), root / p.img_id)
            out.append(replace(p, image_path=str(found)))
        else:
            out.append(p)
    return out


def missing_images(posts: Iterable[Post]) -> list[Post]:
    """The posts whose ``image_path`` names no file (a cheap check; unreadable files are found on reading)."""
    return [p for p in posts if p.image_path and not Path(p.image_path).is_file()]
