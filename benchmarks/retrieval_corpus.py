"""The passage corpus of the MoRe benchmark (``kecpm train --retrieval``).

    python benchmarks/retrieval_corpus.py ../shared/data/fs-jmere/seed_17   # -> runs/retrieval/corpus-fs-jmere-seed_17.jsonl
    python benchmarks/retrieval_corpus.py fewshot_splits/mnre/K5/seed17 -o runs/retrieval/k5-seed17.jsonl

Writes JSONL passages (``{"text", "id"}``, the id being the post a passage comes from, so that post
never retrieves it) and prints how many:

- the texts of MNRE's training posts (``mnre/mnre_train.txt``), one passage per distinct text. Only
  the text: their labels are never read into the file (the few-shot setting forbids MNRE's labels
  beyond the K-shot train split, not its text, as for ``--unlabelled``);
- the knowledge sentences of the TRAIN posts of the split folder(s) given (the folder's
  ``knowledge.jsonl`` when there is one, else the posts' own knowledge, e.g. the paper's
  ``*_ofa_knowledge.json``), each sentence once.

No test post's text or knowledge: an MNRE post (or a train post's knowledge) whose text equals a test
post's (of the folders given, and of ``mnre/mnre_test.txt``), letters and digits compared
(``kecpm.data.overlap``), or whose id is a test post's, is left out, and the written file is checked
again. A split's own train and val posts do stay in the corpus: the retriever never returns a post's
own text or passages with its id.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kecpm.data.folders import find_seed_splits
from kecpm.data.overlap import overlapping, text_key
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post
from kecpm.knowledge import attach_knowledge, load_knowledge
from kecpm.paths import default_data_dir
from kecpm.retrieval import normalise_text


def split_posts(folders: list[Path]) -> tuple[list[Post], list[Post]]:
    """The train posts (with their knowledge) and the test posts of every split folder given."""
    train, test = [], []
    for folder in folders:
        for sp in find_seed_splits(folder):
            mapping = load_knowledge(sp.knowledge) if sp.knowledge else None
            train += attach_knowledge(sp.read("train"), mapping)
            test += sp.read("test")
    return train, test


def _key(text: str) -> str:
    return text_key(Post("", text.split(), ""))


def corpus(mnre_train: list[Post], train: list[Post], test: list[Post]) -> tuple[list[dict[str, str]], int, int]:
    """The passages (MNRE texts, then train knowledge), how many are MNRE texts and how many MNRE posts
    were left out as test posts."""
    test_keys, test_ids = {text_key(p) for p in test}, {p.id for p in test}
    seen: set[str] = set()
    out: list[dict[str, str]] = []

    def add(text: str, pid: str) -> None:
        norm = normalise_text(text)
        if norm and norm not in seen:
            seen.add(norm)
            out.append({"text": text.strip(), "id": pid})

    dropped = 0
    for p in mnre_train:
        if text_key(p) in test_keys or p.id in test_ids:
            dropped += 1
            continue
        add(p.text, p.id)
    n_mnre = len(out)
    for p in train:
        if text_key(p) not in test_keys and p.id not in test_ids:
            for sentence in p.knowledge or []:
                add(sentence, p.id)
    return out, n_mnre, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("splits", nargs="+", type=Path, help="split folder(s) whose train posts' knowledge is added "
                                                         "(e.g. ../shared/data/fs-jmere/seed_17)")
    ap.add_argument("--mnre-train", type=Path, default=default_data_dir() / "mnre" / "mnre_train.txt")
    ap.add_argument("--mnre-test", type=Path, default=default_data_dir() / "mnre" / "mnre_test.txt")
    ap.add_argument("-o", "--out", type=Path, default=None,
                    help="output JSONL (default: runs/retrieval/corpus-<folder>.jsonl, git-ignored)")
    args = ap.parse_args()
    train, test = split_posts(args.splits)
    test += read_posts(args.mnre_test) if args.mnre_test.exists() else []
    mnre = read_posts(args.mnre_train)
    passages, n_mnre, dropped = corpus(mnre, train, test)
    test_keys = {text_key(p) for p in test}
    leaked = [q for q in passages if _key(q["text"]) in test_keys]
    if leaked:
        raise SystemExit(f"{len(leaked)} passage(s) are test texts, e.g. {leaked[0]['text']!r}")
    near = overlapping([Post(q["id"], q["text"].split(), "") for q in passages], test)
    out = args.out or Path("runs/retrieval") / f"corpus-{'-'.join(f'{s.parent.name}-{s.name}' for s in args.splits)}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in passages), encoding="utf-8")
    tmp.replace(out)
    print(f"{len(passages)} passages -> {out}: {n_mnre} MNRE train texts ({len(mnre)} posts, {dropped} left out as "
          f"test posts) + {len(passages) - n_mnre} knowledge sentences of {len(train)} train posts; 0 test texts "
          f"({len(test_keys)} distinct); {len(near)} share only a 40-letter prefix with a test post")


if __name__ == "__main__":
    main()
