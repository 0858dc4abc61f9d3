#!/usr/bin/env bash
# Run every test (unit, integration, e2e). Lint first, then pytest, whose summary line ends the output.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -rf test-artifacts && mkdir -p test-artifacts
echo "lint: ruff and mypy"
.venv/bin/ruff check . || exit 1
.venv/bin/mypy --no-error-summary || exit 1
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
