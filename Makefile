# The two commands: `make run` (the whole service on the embedded default) and `make test`.
SHELL := /bin/bash
PORT ?= 5000
export PORT

.PHONY: run test test-fast setup setup-test migrate worker flower bench lint clean

run: setup migrate
	@scripts/run.sh

test: setup-test
	@scripts/test.sh

# The edit loop: lint, then the unit tests that start no service (about a minute).
test-fast: setup-test
	@scripts/test.sh --fast -q

setup:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

migrate: setup
	@.venv/bin/python -m app.migrate

worker: setup
	.venv/bin/celery -A workers.celery_app worker --pool=threads --concurrency=8 --loglevel=INFO

flower: setup
	.venv/bin/celery -A workers.celery_app flower --address=127.0.0.1 --port=5555

bench: setup-test
	.venv/bin/python bench/fanout.py

lint: setup-test
	.venv/bin/ruff check . && .venv/bin/mypy

clean:
	rm -rf .venv var web/node_modules app/static/vendor test-artifacts
