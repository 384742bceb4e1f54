# `make demo` screens the news-case fixtures on the embedded default ruleset;
# `make test` runs lint, type checks and the test suite. Both build .venv from scratch when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/compliance screen fixtures/transactions/news --format table --fail-on never

lint: $(STAMP)
	$(PY) -m ruff check compliance tests benchmarks
	$(PY) -m ruff format --check compliance tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest -q --compliance-coverage --compliance-coverage-fail-under 100

test: lint typecheck unit

bench: $(STAMP)
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
