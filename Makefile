# The two commands of the README's quick start: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zhifu demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Packages mypy reports on (mypy.ini); the import contracts are in .importlinter.
MYPY_PACKAGES := zhifu.core zhifu.ledger zhifu.fees zhifu.settlement

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy $(addprefix -p ,$(MYPY_PACKAGES))

bench: $(STAMP)
	$(BIN)/python benchmarks/ledger.py --quick

clean:
	rm -rf $(VENV) zhifu.db zhifu.db-wal zhifu.db-shm
