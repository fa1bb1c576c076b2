"""Multi-file outputs are all-or-nothing, and a full disk is one line naming the file being written.

Split folders are replaced as a whole (a failed rebuild leaves the old folder as it was); the
knowledge file and its config are replaced together. The full-disk cases use a 64 KiB tmpfs
(``small_disk``: root only, skipped otherwise); the others simulate the failure.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from test_bad_inputs import GOOD, check_one_line_error, mnre_line, post_line
from typer.testing import CliRunner

from kecpm import manifest
from kecpm.cli import app
from kecpm.data import jsonl
from kecpm.data.errors import WriteError
from kecpm.data.jsonl import write_files

runner = CliRunner()


def _mnre(folder: Path, n_test: int = 3, first: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("mnre_train.txt", 3), ("mnre_val .txt", 3), ("mnre_test.txt", n_test)):
        (folder / name).write_bytes(b"".join(mnre_line(first + i) for i in range(n)))
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _fill(folder: Path) -> None:
    """Write into ``folder`` until its disk is full."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC


def _build(data: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(app, ["build-splits", "--data", str(data), "--out", str(out), "--seeds", "1", "-q", *extra])


def test_failed_split_rebuild_leaves_the_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_data, new_data, out = _mnre(tmp_path / "a"), _mnre(tmp_path / "b", first=10), tmp_path / "out"
    assert _build(old_data, out).exit_code == 0
    seed = out / "mnre" / "K5" / "seed1"
    (seed / "knowledge.jsonl").write_text('{"id": "x", "knowledge": []}\n')  # generated beside the split
    before = _snapshot(seed)

    real, calls = manifest.atomic_write, []

    @contextmanager
    def disk_full_on_second_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
        calls.append(path)
        with real(path, mode) as fh:
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            yield fh

    monkeypatch.setattr(manifest, "atomic_write", disk_full_on_second_file)
    check_one_line_error(_build(new_data, out), f"{seed}/val.jsonl: cannot write (No space left on device)")
    assert _snapshot(seed) == before  # train.jsonl of the new data was written, but not swapped in
    assert sorted(p.name for p in seed.parent.iterdir()) == ["seed1"]  # no temporary folder left
    assert _build(old_data, out, "--check").exit_code == 0

    monkeypatch.undo()
    assert _build(new_data, out).exit_code == 0
    assert (seed / "knowledge.jsonl").read_bytes() == before["knowledge.jsonl"]  # carried over
    assert (seed / "train.jsonl").read_bytes() != before["train.jsonl"]
    assert _build(new_data, out, "--check").exit_code == 0


def test_full_disk_split_rebuild_names_the_file_and_keeps_the_old_folder(small_disk: Path, tmp_path: Path) -> None:
    out = small_disk / "splits"
    assert _build(_mnre(tmp_path / "a"), out).exit_code == 0
    seed = out / "mnre" / "K5" / "seed1"
    before = _snapshot(seed)
    result = _build(_mnre(tmp_path / "b", n_test=400, first=10), out)  # its test.jsonl is over 64 KiB
    check_one_line_error(result, f"{seed}/test.jsonl: cannot write (No space left on device)")
    assert _snapshot(seed) == before
    assert sorted(p.name for p in seed.parent.iterdir()) == ["seed1"]


def test_full_disk_evaluate_names_the_file_and_keeps_the_old_one(small_disk: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes(GOOD)
    out = small_disk / "scores.json"
    out.write_text("old\n")
    _fill(small_disk)
    result = runner.invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(gold), "--out", str(out)])
    check_one_line_error(result, f"{out}: cannot write (No space left on device); free some disk space")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "scores.json"]


def test_full_disk_gen_knowledge_keeps_both_old_files(small_disk: Path, tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(b"".join(post_line(i) for i in range(100)))  # about 20 KiB of knowledge lines
    out = small_disk / "knowledge.jsonl"
    args = ["gen-knowledge", "-i", str(posts), "--backend", "dummy", "--n-demos", "0", "--no-reflect", "--no-progress",
            "-o", str(out), "--cache-dir", str(tmp_path / "cache")]
    out.write_text("old\n")
    (small_disk / "knowledge.config.json").write_text("old config\n")
    (small_disk / "filler").write_bytes(b"\0" * 48 * 1024)  # 8 KiB left
    check_one_line_error(runner.invoke(app, args), "cannot write (No space left on device)")
    assert out.read_text() == "old\n" and (small_disk / "knowledge.config.json").read_text() == "old config\n"


def test_write_files_renames_none_when_one_cannot_be_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "k.jsonl", tmp_path / "k.config.json"
    a.write_text("old a\n")
    b.write_text("old b\n")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jsonl.os, "fsync", no_space)
    with pytest.raises(WriteError, match=r"k\.jsonl: cannot write \(No space left on device\)"):
        write_files({a: "new a\n", b: "new b\n"})
    assert (a.read_text(), b.read_text()) == ("old a\n", "old b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.config.json", "k.jsonl"]
