"""Knowledge backends: ``vllm``, ``openai``, ``transformers``, ``dummy`` and ``import``."""
