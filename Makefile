# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
# Both create .venv if absent and install everything pinned (scripts/setup.sh).
SHELL := /bin/bash
VENV ?= .venv
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export KECPM_DATA ?= ../shared/data

.PHONY: setup run test lint

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run_pipeline.sh

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
