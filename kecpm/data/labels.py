"""Label words: the one owner of how each entity type and relation is described in words.

Stage 1 shows these words to the LLM (types and relations of the demonstrations) and stage 2
initialises its verbalizers' label vectors from the encoder's embedding of them. A label without an
entry is described by its name with ``_`` and ``/`` turned into spaces. ``type_code`` reads an entity
type back from an LLM's answer (the code, its words, or a common synonym).
"""

from __future__ import annotations

from kecpm.config import ConfigError

TYPE_WORDS: dict[str, str] = {"per": "person", "org": "organization", "loc": "location", "misc": "other named thing"}
RELATION_WORDS: dict[str, str] = {
    "alternate_names": "alternate name", "alumi": "alumni of school", "awarded": "awarded prize",
    "charges": "charged with", "contain": "contains", "couple": "married couple", "held_on": "event held on",
    "locate_at": "located at", "member_of": "member of", "nationality": "nationality",
    "neighbor": "neighbor", "parent": "parent of", "part_of": "part of", "peer": "peer colleague",
    "place_of_birth": "place of birth", "place_of_residence": "place of residence",
    "present_in": "present in", "race": "race", "religion": "religion", "siblings": "siblings",
    "subsidiary": "subsidiary of",
}
# Other words an LLM uses for an entity type (besides the code and its TYPE_WORDS).
TYPE_SYNONYMS: dict[str, str] = {
    "people": "per", "organisation": "org", "company": "org", "place": "loc", "other": "misc",
    "miscellaneous": "misc",
}


def _words(label: str, table: dict[str, str]) -> str:
    return table.get(label, label.replace("_", " ").replace("/", " "))


def type_words(entity_type: str) -> str:
    """Words describing an entity type ("per" -> "person")."""
    return _words(entity_type, TYPE_WORDS)


def relation_words(relation: str) -> str:
    """Words describing a relation ("member_of" -> "member of")."""
    return _words(relation, RELATION_WORDS)


def type_code(word: str) -> str | None:
    """The entity type code (per/org/loc/misc) an answer's type word means, case-insensitive: the code
    itself, its ``type_words`` or a ``TYPE_SYNONYMS`` entry ("Person" -> "per"); None if unknown."""
    key = " ".join(word.lower().replace("_", " ").replace("-", " ").split())
    if key in TYPE_WORDS:
        return key
    words = {w: code for code, w in TYPE_WORDS.items()}
    return words.get(key) or TYPE_SYNONYMS.get(key)

# Entity types of other data sets (public NER: Twitter-2015/2017, CoNLL) -> ours; used by warm starts and by
# mention pools (kecpm.data.augment).
DEFAULT_TYPE_MAP = {"PER": "per", "LOC": "loc", "ORG": "org", "OTHER": "misc", "MISC": "misc"}
DROP = "none"


def map_type(source: str, targets: list[str], overrides: dict[str, str]) -> str | None:
    """The target type of ``source`` (None if the type map drops it); ConfigError if it has no match."""
    name = overrides.get(source) or DEFAULT_TYPE_MAP.get(source.upper()) or source.lower()
    if name == DROP:
        return None
    if name not in targets:
        raise ConfigError(f"source entity type {source!r} (warm start or mention pool) has no match among "
                          f"{', '.join(targets)}; map it with --set model.init_type_map='{{\"{source}\": \"<type>\"}}' "
                          f"(or \"{DROP}\" to drop it)")
    return name
