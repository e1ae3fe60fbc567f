# The two Quick start commands are `make run` and `make test`; each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_OUT ?= runs/quickstart

.PHONY: setup browser offline-data run test lint docs bench clean

# The virtual environment, and (as root, with apt) the headless Chromium of the browser tests.
setup: $(STAMP) browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Debian's chromium + chromium-driver for the review page's browser tests (tests/
# test_review_browser.py, scripts/screenshots.py): installed as root with apt-get, else a note
# and those tests skip with the reason. Quick when already there.
browser:
	@scripts/install-browser.sh

# Offline dataset sources where the package manager has them, then fetch + verify both
# datasets into the cache (about 0.2 s each once cached). `make run` and `make test` depend
# on it, and so on `browser` too.
offline-data: $(STAMP) browser
	@scripts/install-offline-data.sh
	@$(VENV)/bin/robustloss data fetch fashion-mnist --split all || echo "robustloss setup: warning: Fashion-MNIST not fetched (see above)" >&2
	@$(VENV)/bin/robustloss data fetch mnist --split all || echo "robustloss setup: warning: MNIST not fetched (see above)" >&2

# The main job: corrupt MNIST (20% symmetric), train with Blurry Loss, find the wrong labels.
# About 10-12 minutes on 2 CPU cores without native bf16 (fp32): all 60,000
# training images, the paper CNN, 10 epochs.
run: $(STAMP) offline-data
	$(VENV)/bin/robustloss run --dataset mnist --noise 0.2 --loss blurry --gamma 0.4 \
		--out $(RUN_OUT) --overwrite

# Lint (ruff and the layer contracts of .importlinter), build the documentation site strictly
# (a broken link or a missing reference fails), then the whole test suite (slow end-to-end
# tests included). pytest's exit status 5 means no test was collected: for this project that
# is a broken suite, so it fails with a message rather than passing silently.
test: $(STAMP) offline-data lint docs
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): the suite is missing or filtered away" >&2; fi; \
	exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

# The documentation site (MkDocs + Material + mkdocstrings) into site/, strictly (a broken
# link, anchor or reference fails). The two variables silence the theme's and a plugin's
# banners about MkDocs' future, printed on every build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)
	$(PY) benchmarks/bench_losses.py
	$(PY) benchmarks/train_throughput.py --samples 4096 --rounds 3

clean:
	rm -rf $(VENV) runs site .pytest_cache
