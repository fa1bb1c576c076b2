"""Split folders: MNRE v2's own folder is a full-data split as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from kecpm.data.folders import FULL_DATA_SEED, find_seed_splits


def test_mnre_file_names_make_a_full_data_split(tmp_path: Path) -> None:
    for name in ("mnre_train.txt", "mnre_val .txt", "mnre_test.txt"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (split,) = find_seed_splits(tmp_path)
    assert split.seed == FULL_DATA_SEED
    assert split.files["val"].name == "mnre_val .txt"
    (tmp_path / "val.jsonl").write_text("", encoding="utf-8")  # a plain name wins over MNRE's
    assert find_seed_splits(tmp_path)[0].files["val"].name == "val.jsonl"


@pytest.mark.realdata
def test_the_shared_mnre_folder_reads_as_one_split(shared_data: Path) -> None:
    (split,) = find_seed_splits(shared_data / "mnre")
    test = split.read("test")
    assert len(test) == 460 and sum(len(p.triples) for p in test) == 640  # MNRE test without its None pairs
