# Linja: `make run` sets everything up and runs the service; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LINJA := $(VENV)/bin/linja
STAMP := $(VENV)/.installed
# Parallel test workers (pytest-xdist), each with its own stack (ivr/stack/workers.py); the
# tests mostly wait on SIP calls, so more workers than cores pay off. 0 runs serially.
TEST_WORKERS ?= 4
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

.PHONY: run test unit integration lint stack stack-down status bench-storage clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## Set up whatever is missing, run Asterisk + Postgres + controller + HTTP console (Ctrl-C stops all).
run: $(STAMP)
	$(LINJA) run

## Set up whatever is missing and run every test (unit, integration, lint). The lint runs
## beside pytest (its CPU fits in the first minutes, while SIPp calls wait), its output shown
## after pytest's; either failing fails the target.
test: $(STAMP) stack
	@lintlog=$$(mktemp); $(MAKE) --no-print-directory lint >"$$lintlog" 2>&1 & lintpid=$$!; \
	$(PY) -m pytest -q -ra --durations=30 $(PYTEST_WORKERS) tests; rc=$$?; \
	wait $$lintpid; lintrc=$$?; echo "--- make lint (ran beside pytest): exit $$lintrc"; \
	cat "$$lintlog"; rm -f "$$lintlog"; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$lintrc

unit: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_WORKERS) tests/unit

integration: $(STAMP) stack
	$(PY) -m pytest -q -ra $(PYTEST_WORKERS) tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

stack: $(STAMP)
	$(LINJA) stack up

stack-down: $(STAMP)
	$(LINJA) stack down

status: $(STAMP)
	$(LINJA) stack status

## Benchmarks print figures and ratios against a baseline measured in the same run.
bench-storage: $(STAMP) stack
	$(PY) -m ivr.storage_bench

.PHONY: bench-retention
bench-retention: $(STAMP) stack
	$(PY) -m retention.bench

.PHONY: bench-callout
bench-callout: $(STAMP) stack
	$(PY) -m ivr.callout.bench

.PHONY: bench-export
bench-export: $(STAMP) stack
	$(PY) -m retention.bench_export

.PHONY: bench-calls bench-soak bench-faults
## Call-rate benchmark: the bulletin through the controller vs the pure dialplan (~10 min;
## LINJA_BENCH_QUICK=1 for a short run).
bench-calls: $(STAMP) stack
	$(PY) -m ivr.bench.calls

## The bulletin through one node, then through Kamailio and two nodes (issue 19): ceilings,
## concurrent listeners, per-node CPU per call (~10 min; LINJA_BENCH_QUICK=1 for a short run).
.PHONY: bench-nodes
bench-nodes: $(STAMP) stack
	$(PY) -m ivr.bench.nodes

## Callers through the menu into a queue (highest zero-failure rate), then SIPp agents serving.
.PHONY: bench-queue
bench-queue: $(STAMP) stack
	$(PY) -m ivr.bench.queue

## 100,000 calls at a steady rate below the ceiling: RSS at 10k and 100k, failures, channels.
bench-soak: $(STAMP) stack
	$(PY) -m ivr.bench.soak

## Faults under 100 calls/s: kill -9 the controller, restart Asterisk, restart Postgres.
bench-faults: $(STAMP) stack
	$(PY) -m ivr.bench.faults

.PHONY: bench-transcripts
bench-transcripts: $(STAMP) stack
	$(PY) -m ivr.transcripts.bench

.PHONY: bench-auth
bench-auth: $(STAMP)
	$(PY) -m ivr.auth_bench

clean:
	rm -rf $(VENV) .run
