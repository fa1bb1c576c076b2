"""Tasks: which heads a model has and which validation score selects its best epoch.

Adding a task is one line in ``TASKS`` (and a member of ``Task``); its heads come from
``kecpm.model.heads.HEADS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Task(str, Enum):
    """What the model extracts."""

    JMERE = "jmere"  # entities and the relations between them, from text (+ image)
    MNER = "mner"  # entities only (multimodal NER)
    MRE = "mre"  # relations between given (gold) entities (multimodal relation extraction)


@dataclass(frozen=True)
class TaskSpec:
    heads: tuple[str, ...]  # names in HEADS, run in this order (a later head may use an earlier one's output)
    metric: str  # key of ``kecpm.train.summary`` used for model selection and threshold tuning
    help: str


TASKS: dict[Task, TaskSpec] = {
    Task.JMERE: TaskSpec(("span", "relation"), "rel_strict_f1", "entities and triples (span + relation heads)"),
    Task.MNER: TaskSpec(("span",), "entity_f1", "typed entity spans only (span head)"),
    Task.MRE: TaskSpec(("relation",), "rel_strict_f1", "the relation of every pair of the post's gold entities"),
}
