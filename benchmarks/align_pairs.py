"""The pairs file of the alignment pre-training benchmark (``kecpm pretrain-align``).

    python benchmarks/align_pairs.py                       # -> runs/align/fs-jmere-pairs.jsonl
    python benchmarks/align_pairs.py ../shared/data/fs-jmere -o runs/align/pairs.jsonl

Writes the posts of the train and val files of every seed of the paper's few-shot splits that have
an (OFA) image caption, each post once, without labels or knowledge, and prints the count. No test
post is taken: the file is checked against the text of every test post of the splits and of MNRE's
test file (``mnre/mnre_test.txt``, the K-shot splits' test set), letters and digits compared
(``kecpm.data.overlap``), and the script fails if one is found. Posts whose first 40 letters merely
match a test post's (retweets of one account's template) are counted and printed, not dropped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kecpm.data.folders import find_seed_splits
from kecpm.data.jsonl import write_jsonl
from kecpm.data.overlap import overlapping, text_key
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post, first_of_each_id
from kecpm.paths import default_data_dir


def pairs(root: Path) -> list[Post]:
    """The captioned train + val posts of every seed under ``root``, label- and knowledge-free, once each."""
    splits = find_seed_splits(root)
    posts = [p for sp in splits for part in ("train", "val") for p in sp.read(part)
             if (p.caption or "").strip()]
    return [Post(p.id, p.tokens, p.img_id, p.image_path, p.caption) for p in first_of_each_id(posts)]


def test_posts(root: Path, mnre_test: Path) -> list[Post]:
    """Every test post of the splits under ``root`` and of MNRE's test file (if present)."""
    posts = [p for sp in find_seed_splits(root) for p in sp.read("test")]
    return posts + (read_posts(mnre_test) if mnre_test.exists() else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", nargs="?", type=Path, default=default_data_dir() / "fs-jmere",
                    help="the paper's split folder (seed_<s>/ with train/val/test)")
    ap.add_argument("--mnre-test", type=Path, default=default_data_dir() / "mnre" / "mnre_test.txt")
    ap.add_argument("-o", "--out", type=Path, default=Path("runs/align/fs-jmere-pairs.jsonl"))
    args = ap.parse_args()
    out = pairs(args.root)
    test = test_posts(args.root, args.mnre_test)
    test_keys, test_ids = {text_key(p) for p in test}, {p.id for p in test}
    leaked = [p for p in out if text_key(p) in test_keys or p.id in test_ids]
    if leaked:
        raise SystemExit(f"{len(leaked)} pair(s) are test posts, e.g. {leaked[0].text!r}")
    near = overlapping(out, test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, out)
    n_seeds = len(find_seed_splits(args.root))
    print(f"{len(out)} posts with captions (train + val of {n_seeds} seeds, each once) "
          f"-> {args.out}; 0 of them among the {len(test_keys)} distinct test texts"
          f"{f' ({args.mnre_test.name} included)' if args.mnre_test.exists() else ''}; "
          f"{len(near)} share only a 40-letter prefix with a test post")
    for p in near:
        print(f"  prefix match, kept: {p.text[:90]}")


if __name__ == "__main__":
    main()
