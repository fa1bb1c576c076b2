"""Data model, readers and writers."""

from kecpm.data.errors import BadLines, DataError
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Entity, Post, Triple, post_id

__all__ = ["BadLines", "DataError", "ENTITY_TYPES", "RELATIONS", "Entity", "Post", "Triple", "post_id"]
