"""Inference precision: fp32 (exact), bf16 (autocast) or int8 (dynamic quantisation of the encoders'
linear layers), for ``kecpm predict --precision`` and ``Extractor(precision=...)``.

Prediction is compute-bound in the two encoder passes (text, and caption + knowledge); on a CPU with
AVX-512 VNNI / BF16 the reduced precisions run those passes 1.8x (bf16) and 2.5x (int8) faster, at
the cost measured in docs/benchmarks.md (benchmarks/predict_speed.py). Training always runs in fp32.
int8 applies to CPU models only (``torch.ao`` dynamic quantisation); on CUDA use bf16.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
from torch import nn

from kecpm.config import ConfigError

PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    return precision


def quantize_int8(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose ``nn.Linear`` layers run in int8 (weights quantised once, activations
    per batch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice: the API still works in torch 2.x
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


def prepare(model: nn.Module, precision: str) -> None:
    """Make a loaded (eval) model ready for ``precision``: int8 swaps its encoders for quantised copies
    (for inference only: the model cannot be trained or saved afterwards)."""
    if check_precision(precision) != "int8":
        return
    enc = model.encoder
    if enc.device.type != "cpu":
        raise ConfigError("precision int8 runs on the CPU only; use bf16 on a GPU")
    enc.text = quantize_int8(enc.text)
    if enc.side is not None:
        enc.side = quantize_int8(enc.side)
    model.inference_only = True


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The context prediction runs in: bf16 autocast for ``bf16``, nothing otherwise."""
    if check_precision(precision) == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
