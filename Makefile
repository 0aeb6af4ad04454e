# Two entry points: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck layers unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,webhook,generate,report]'
	touch $(STAMP)

test: lint typecheck layers unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

demo: $(STAMP)
	@$(BIN)/python -m knargo.local.demo

bench: $(STAMP)
	$(BIN)/python bench/all.py
	$(BIN)/python bench/parser.py
	$(BIN)/python bench/artifacts.py
	$(BIN)/python bench/matrix.py
	$(BIN)/python bench/depends.py
	$(BIN)/python bench/checkout.py
	$(BIN)/python bench/masking.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
