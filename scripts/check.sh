#!/usr/bin/env bash
# Static checks (configuration in pyproject.toml): ruff lint and format, mypy, import contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
echo "== mypy (core, db)"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports --no-cache
