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

up:
	@echo "'make up' starts the platform once the workflows issue lands; until then see README.md."
	@exit 1

bench: install
	$(UV) run --frozen python benchmarks/organize_many_operators.py

clean:
	rm -rf .venv .tools .pytest_cache .ruff_cache .mypy_cache
