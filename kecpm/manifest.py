"""Split manifests: the small committed record (config, source and file sha256, post ids) of a split folder.

Anyone with the same source files (MNRE, or the Twitter CoNLL files) can rebuild the ``.jsonl`` files byte for byte and check them
against ``manifest.json`` with ``kecpm build-splits --check``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kecpm.atomic_folder import replace_folder
from kecpm.data.jsonl import atomic_write
from kecpm.data.lines import read_text
from kecpm.hashing import sha256_bytes, sha256_file
from kecpm.splits import BuiltSplit, SplitConfig

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def make_manifest(cfg: SplitConfig, built: dict[str, BuiltSplit]) -> dict[str, Any]:
    """The manifest of one seed folder."""
    return {
        "version": MANIFEST_VERSION,
        "config": cfg.sampling(),
        "sources": {name: {"file": b.source.file, "sha256": b.source.sha256, "skipped_lines": b.source.skipped}
                    for name, b in built.items()},
        "splits": {
            name: {
                "file": f"{name}.jsonl",
                "sha256": sha256_bytes(b.data),
                "posts": len(b.posts),
                b.labels.unit: sum(b.counts.values()),  # "triples" (MNRE) or "mentions" (MNER)
                "below_target": b.short,
                "ids": [p.id for p in b.posts],
            }
            for name, b in built.items()
        },
    }


def write_split_folder(cfg: SplitConfig, built: dict[str, BuiltSplit]) -> Path:
    """Write ``{train,val,test}.jsonl``, ``config.json`` and ``manifest.json`` as one folder, replaced
    as a whole (``replace_folder``): a failure leaves the old folder intact, never a mix of old and new
    files; other files in it (``knowledge.jsonl``) are kept. Returns the folder."""
    with replace_folder(cfg.folder) as tmp:
        for name, b in built.items():
            with atomic_write(tmp / f"{name}.jsonl", "wb") as fh:
                fh.write(b.data)
        cfg.save(tmp / "config.json")
        with atomic_write(tmp / MANIFEST) as fh:  # last: a folder with a manifest is complete
            json.dump(make_manifest(cfg, built), fh, indent=1, ensure_ascii=False)
            fh.write("\n")
    return cfg.folder


def load_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest (build the splits first, without --check)")
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e


def check_split_folder(cfg: SplitConfig, built: dict[str, BuiltSplit]) -> list[str]:
    """Compare splits rebuilt in memory (and any split files on disk) with the manifest; return problems."""
    folder = cfg.folder
    manifest = load_manifest(folder)
    problems = []
    if manifest.get("config") != cfg.sampling():
        problems.append(f"{folder}: manifest was built with {manifest.get('config')}, not {cfg.sampling()}")
    for name, b in built.items():
        src = manifest.get("sources", {}).get(name, {})
        if src.get("sha256") != b.source.sha256:
            problems.append(f"source {b.source.file}: sha256 {b.source.sha256[:12]}… differs from the manifest's "
                            f"{str(src.get('sha256'))[:12]}… (different or edited source data)")
        entry = manifest.get("splits", {}).get(name)
        if entry is None:
            problems.append(f"{folder}: manifest has no {name} split")
            continue
        rebuilt = sha256_bytes(b.data)
        if rebuilt != entry.get("sha256"):
            ids, want = [p.id for p in b.posts], list(entry.get("ids", []))
            added, missing = len(set(ids) - set(want)), len(set(want) - set(ids))
            problems.append(f"{name}: rebuilt sha256 {rebuilt[:12]}… differs from the manifest's "
                            f"{str(entry.get('sha256'))[:12]}… ({added} post(s) added, {missing} missing"
                            f"{', same posts' if not added and not missing else ''})")
        on_disk = folder / entry.get("file", f"{name}.jsonl")
        if on_disk.exists() and sha256_file(on_disk) != entry.get("sha256"):
            problems.append(f"{on_disk}: file differs from the manifest (edited or stale); rebuild it")
    return problems
