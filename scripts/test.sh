#!/usr/bin/env bash
# Run every test (unit, integration, e2e). Lint first, then the page's node tests (web/test), then
# pytest, whose summary line ends the output.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -rf test-artifacts && mkdir -p test-artifacts
echo "lint: ruff and mypy"
.venv/bin/ruff check . || exit 1
.venv/bin/mypy --no-error-summary || exit 1
echo "unit: the page's pure modules (node --test web/test)"
(cd web && node --test --test-reporter=dot test/) || exit 1
# One process by default. PYTEST_WORKERS=2 splits the run over two pytest-xdist workers, the tests
# that keep Whisper busy on one and the rest beside them (tests/conftest.py groups them): 13.7-14.8
# min instead of ~26 on 2 cores, but each of five such runs on a clean clone had a test fail beside
# the other worker (bench/RESULTS.md).
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${PYTEST_WORKERS:-0}" --dist loadgroup "$@"
