# The two commands of the Quick start: `make demo` and `make test`.
.PHONY: bootstrap demo test lint faults fuzz bench migrate services clean

bootstrap:
	@bash scripts/bootstrap.sh

# Runs the whole platform locally (simulated Upbit, no API key needed). Ctrl-C stops it.
demo: bootstrap
	.venv/bin/upbit-llm services up
	.venv/bin/upbit-llm demo

# Installs what the tests need, starts local services, runs lint, the type checker and the whole test suite.
test: bootstrap
	.venv/bin/upbit-llm services up
	.venv/bin/ruff check .
	.venv/bin/python -m mypy
	.venv/bin/python -m pytest -q

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m mypy

faults: bootstrap
	.venv/bin/upbit-llm services up
	.venv/bin/python -m pytest -q -m faults tests/faults

# `make test` fuzzes both decoders with FUZZ_EXAMPLES=300 (a few seconds); this is the longer run.
fuzz: bootstrap
	FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/unit/test_fuzz_decoders.py

bench: bootstrap
	.venv/bin/upbit-llm services up
	.venv/bin/upbit-llm bench

migrate: bootstrap
	.venv/bin/upbit-llm migrate

services: bootstrap
	.venv/bin/upbit-llm services up

clean:
	-.venv/bin/upbit-llm services down
	rm -rf .run artifacts .pytest_cache .ruff_cache .mypy_cache
