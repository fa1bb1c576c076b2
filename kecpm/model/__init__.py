"""Stage 2: the cross-modal soft-prompt model (template, soft prompt, visual prefix, verbalizer heads)."""
