# `make test` and `make up` do all the set-up on a fresh machine.
SHELL := /bin/bash
# uv from PATH, else a private copy installed with pip into .tools/ (no root, no PATH change).
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)
export UV_LINK_MODE = copy

.PHONY: install test lint typecheck up bench clean

$(UV):
	python3 -m pip install --quiet --target .tools/uv uv

install: $(UV)
	$(UV) sync --frozen --all-extras

lint: install
	$(UV) run --frozen ruff check src tests benchmarks examples
	$(UV) run --frozen ruff format --check src tests benchmarks examples

typecheck: install
	$(UV) run --frozen mypy

test: lint typecheck
	$(UV) run --frozen pytest

# The embedded platform (Airflow on SQLite) in ./platform; Ctrl-C stops it.
up: install
	FLOWUI_PROJECT_DIR=$(or $(FLOWUI_PROJECT_DIR),$(CURDIR)/platform) $(UV) run --frozen flowui up

bench: install
	$(UV) run --frozen python benchmarks/organize_many_operators.py
	$(UV) run --frozen python benchmarks/workflow_runs.py
	$(UV) run --frozen python benchmarks/server_api.py

clean:
	rm -rf .venv .tools .pytest_cache .ruff_cache .mypy_cache
