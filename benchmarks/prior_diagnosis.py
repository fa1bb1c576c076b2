"""Why the prior shift does (not) help: relation accuracy with gold entities under the plain model, the
estimated prior and the true test prior (an oracle, for scale only), and how the model treats `peer`.

    python benchmarks/prior_diagnosis.py runs/bench-v4/ours-warm-shapes-t1 --splits fewshot_splits/mnre/K5

For each seed folder: the model's relation posteriors on the gold test pairs (gold entities and
direction given), argmax accuracy plain / with the run's estimated shift / with the test prior
(``log(q_test / p_train)``), the share of gold `peer` pairs the model calls `peer`, and its mean
posterior of `peer`. The test labels are read here for diagnosis only, never by training code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from kecpm.data.folders import find_seed_splits
from kecpm.knowledge import attach_knowledge, load_knowledge
from kecpm.model.model import PromptModel
from kecpm.model.prior import PairLogits, pair_logits, relation_probs, source_prior


def accuracy(pl: PairLogits, shift: torch.Tensor | None, temperature: float = 1.0) -> float:
    return 100 * float((relation_probs(pl, temperature, shift).argmax(-1) + 1 == pl.labels).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--splits", type=Path, required=True, help="the runs' split root (seed<s>/ folders)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| seed | plain | estimated shift | oracle test prior | gold peer called peer | mean p(peer) |")
    print("|---|---|---|---|---|---|")
    for res in sorted(args.run.glob("seed*/results.json")):
        rec = json.loads(res.read_text())
        [sp] = find_seed_splits(args.splits, [int(rec["seed"])])
        know = load_knowledge(rec["knowledge_file"]) if rec.get("knowledge_file") else None
        train, test = (attach_knowledge(sp.read(p), know) for p in ("train", "test"))
        model = PromptModel.load(res.parent / "model")
        shift = model.head("relation").shift_vector(torch.zeros(1))
        temp = model.config.relation_temperature
        model.update_config(relation_prior_shift={}, relation_temperature=1.0)
        rels = model.labels.relations
        pl = pair_logits(model, test, gold=True)
        true = torch.bincount(pl.labels - 1, minlength=len(rels)).float()
        true /= true.sum()
        oracle = (true.clamp(min=1e-4) / source_prior(train, rels)).log()

        peer = rels.index("peer")
        probs = relation_probs(pl)
        called = 100 * float((probs[pl.labels - 1 == peer].argmax(-1) == peer).float().mean())
        print(f"| {rec['seed']} | {accuracy(pl, None):.1f} | {accuracy(pl, shift, temp):.1f} | {accuracy(pl, oracle):.1f} | {called:.1f} % "
              f"| {float(probs.mean(0)[peer]):.3f} |")


if __name__ == "__main__":
    main()
