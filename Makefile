# `make demo` screens the news-case fixtures on the embedded default ruleset;
# `make test` runs lint, type checks and the test suite. Both build .venv from scratch when missing, and
# compile the engine's, the screener's and the batch runner's modules with mypyc (compliance/native.py; docs/engine.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean test-py312 native

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The compiled build, in place beside the sources; rebuilt only when a compiled module's source changed.
native: $(STAMP)
	$(PY) compliance/native.py build

demo: native
	$(VENV)/bin/compliance screen fixtures/transactions/news --format table --fail-on never

lint: $(STAMP)
	$(PY) -m ruff check compliance tests benchmarks
	$(PY) -m ruff format --check compliance tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy

unit: native
	$(PY) -m pytest -q --compliance-coverage --compliance-coverage-fail-under 100

test: lint typecheck unit

# The second supported Python: the core, the shipped cases, the differential test and the screening tests on
# 3.12, when the machine has it (the C extension of durable_rules builds from source on both). Nothing is
# compiled there, so this run is also what tests the pure-Python modules of the compiled build.
PY312 ?= $(firstword $(foreach p,$(wildcard /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 \
           /usr/local/bin/python3.12),$(shell $(p) -c "" 2>/dev/null && echo $(p))))
test-py312:
	@if [ -z "$(PY312)" ]; then echo "python3.12 not found: skipping the 3.12 run"; exit 0; fi; \
	test -x .venv312/bin/python || $(PY312) -m venv .venv312; \
	.venv312/bin/python -m pip install --quiet -e . pytest hypothesis && \
	DIFFERENTIAL_EXAMPLES=200 .venv312/bin/python -m pytest -q -p no:cacheprovider tests/test_loader.py \
	  tests/test_determinism.py tests/test_differential.py tests/test_catalogue_doc.py tests/screening rulesets

bench: native
	$(PY) benchmarks/engine.py

clean:
	find compliance -name '*.so' -delete
	rm -rf $(VENV) .venv312 .pytest_cache .mypy_cache .ruff_cache build *.egg-info
