"""kecpm: few-shot joint multimodal entity-relation extraction with knowledge-enhanced prompts."""

__version__ = "0.1.0"
