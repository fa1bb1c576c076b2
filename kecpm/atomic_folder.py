"""Replace a folder as a whole: write the new content into a hidden sibling folder, then swap it in.

A failure while writing (a full disk, an exception, Ctrl-C) leaves the old folder as it was and
removes the sibling; readers never see a mix of old and new files. Files of the old folder that the
new content does not provide (e.g. a ``knowledge.jsonl`` generated beside a split) are carried over.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kecpm.data.errors import DISK_ERRNOS, WriteError


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry_over(old: Path, new: Path) -> None:
    """Hard-link (or copy) into ``new`` every entry of ``old`` that ``new`` lacks."""
    for entry in old.iterdir():
        target = new / entry.name
        if target.exists() or target.is_symlink():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        else:
            _link_or_copy(str(entry), str(target))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(new: Path, folder: Path) -> None:
    """Put ``new`` at ``folder``'s place; the old folder is renamed aside first and removed after."""
    if not folder.exists():
        os.rename(new, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    os.rename(folder, old / folder.name)
    try:
        os.rename(new, folder)
    except BaseException:
        os.rename(old / folder.name, folder)
        raise
    finally:
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)


def _usual_permissions(new: Path, umask: int) -> None:
    """Owner-only files (mkstemp's, safetensors') get the permissions a plain ``open`` would give."""
    for p in new.rglob("*"):
        if p.is_file() and not p.is_symlink() and not p.stat().st_mode & 0o077:
            os.chmod(p, 0o666 & ~umask)


@contextmanager
def replace_folder(folder: str | Path, carry_over: bool = True) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``folder`` to write the new content into; when the block
    succeeds, carry over the old folder's other files (unless ``carry_over`` is off: the new content
    is the whole folder) and swap the new folder in. A WriteError in the block is raised again naming
    the file at its final place."""
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(new, 0o777 & ~umask)  # mkdtemp makes 0700 folders; give the usual permissions
    except OSError as e:
        raise WriteError(folder, e) from e
    try:
        yield new
        _usual_permissions(new, umask)
        if carry_over and folder.is_dir():
            _carry_over(folder, new)
        _swap(new, folder)
        _fsync_dir(folder.parent)
    except WriteError as e:
        shutil.rmtree(new, ignore_errors=True)
        written = Path(e.filename)
        final = folder / written.relative_to(new) if written.is_relative_to(new) else written
        raise WriteError(final, e) from e
    except OSError as e:
        shutil.rmtree(new, ignore_errors=True)
        if e.errno in DISK_ERRNOS:
            raise WriteError(folder, e) from e
        raise
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
