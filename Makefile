# The two commands of the README's quick start: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
PORT ?= 8000
DEMO_DB ?= zhifu-demo.db

.PHONY: demo test install lint bench clean screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo needs only the package itself (no test tools): a fresh clone answers sooner.
$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

install: $(STAMP)

# `make demo PORT=8010`: the port (and the fake rails' port after it) is checked before anything is built.
demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	@$(BIN)/python -c "import socket,sys; p=int('$(PORT)'); [socket.create_server(('127.0.0.1',q)).close() for q in (p,p+1)]" 2>/dev/null \
	  || { echo "port $(PORT) or $$(( $(PORT) + 1 )) is in use: make demo PORT=8010"; exit 2; }
	$(BIN)/zhifu demo --port $(PORT) --db-file $(DEMO_DB)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Packages mypy reports on (mypy.ini); the import contracts are in .importlinter.
MYPY_PACKAGES := zhifu.core zhifu.ledger zhifu.fees zhifu.settlement zhifu.payments zhifu.incentives zhifu.recon zhifu.bills zhifu.webhooks zhifu.risk

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy $(addprefix -p ,$(MYPY_PACKAGES))

# PNGs of every main page of every demo login at 1366 px, the API reference and the cashier at phone size.
screenshots: $(STAMP)
	$(BIN)/python benchmarks/screenshots.py --out screenshots

bench: $(STAMP)
	$(BIN)/python benchmarks/ledger.py --quick

# What the demo made: its database, the fake rails' folder beside it, the payout files and the screenshots.
clean:
	rm -rf $(VENV) zhifu.db zhifu.db-wal zhifu.db-shm $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm \
	  $(basename $(DEMO_DB)).rails $(basename $(DEMO_DB)).payouts .zhifu-rails settlement screenshots
