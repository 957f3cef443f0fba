# acehub: `make run` serves the API with the bundled ACE sandbox; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(CURDIR)/$(TOOLS)/bin/uv
BACKEND := backend
VENV := $(BACKEND)/.venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LOAD_SECONDS ?= 60
LOAD_USERS ?= 20
SOAK_MINUTES ?= 10

.PHONY: help install run test lint typecheck pytest bench load soak fuzz mutate migrate clean

help:
	@echo "make run    - install, migrate, start the ACE sandbox (unless ACE_API_URL is set) and the API"
	@echo "make test   - ruff, ruff format --check, import contracts, mypy --strict and pytest (PostgreSQL when reachable)"
	@echo "make bench  - the benchmarks (see README)"
	@echo "make load   - a bounded mixed load on real servers, LOAD_SECONDS=$(LOAD_SECONDS) LOAD_USERS=$(LOAD_USERS) (PostgreSQL)"
	@echo "make soak   - the same load for SOAK_MINUTES=$(SOAK_MINUTES), memory/fds/connections every 30 s (PostgreSQL)"
	@echo "make fuzz   - schemathesis over the OpenAPI schema, FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) examples per operation (long)"
	@echo "make mutate - mutation testing, MUTANTS='app.services.sync.mirror.*' by default (long)"
	@echo "make migrate- apply migrations to DATABASE_URL"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): $(UV) $(BACKEND)/pyproject.toml $(BACKEND)/uv.lock
	cd $(BACKEND) && UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --python $(PYTHON)
	touch $@

install: $(STAMP)

migrate: install
	cd $(BACKEND) && .venv/bin/acehub migrate

run: install
	./scripts/run.sh

lint: install
	cd $(BACKEND) && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

typecheck: install
	cd $(BACKEND) && .venv/bin/mypy .

pytest: install
	cd $(BACKEND) && { .venv/bin/pytest $(PYTEST_ARGS); status=$$?; \
		if [ $$status -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$status; }

test: lint typecheck pytest

bench: install
	./scripts/bench.sh

# Load and soak runs (docs/benchmarks.md): PostgreSQL on 127.0.0.1:5432, database acehub_load.
load: install
	cd $(BACKEND) && .venv/bin/python -m load.run --users $(LOAD_USERS) --seconds $(LOAD_SECONDS)

soak: install
	cd $(BACKEND) && .venv/bin/python -m load.run --soak --users $(LOAD_USERS) --minutes $(SOAK_MINUTES)

# The schema fuzz of the suite (tests/fuzz), with many more examples per operation.
FUZZ_EXAMPLES ?= 300
fuzz: install
	cd $(BACKEND) && FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) .venv/bin/pytest tests/fuzz -p no:cacheprovider -q

# Mutation testing (mutmut): which changed lines does the suite fail to notice?
MUTANTS ?= app.services.sync.mirror.*
mutate: install
	cd $(BACKEND) && .venv/bin/mutmut run "$(MUTANTS)"; .venv/bin/mutmut results

clean:
	rm -rf $(TOOLS) $(VENV) $(BACKEND)/.mypy_cache $(BACKEND)/.pytest_cache $(BACKEND)/.ruff_cache
