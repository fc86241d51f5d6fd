# The same targets serve the README, developers and CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= index
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test run ingest test fuzz lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned to the CPU build: any other spec pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

# The browser test drives Debian's chromium (Playwright's own browser download cannot work
# offline), and the Word tests convert the shipped policies with LibreOffice; install them
# when missing and we are root, as on CI machines.
# The browser test injects axe-core (accessibility checks) into the pages it visits; the app
# never serves it.
AXE_CORE := axe-core@4.14.1
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="chromium"; \
	[ -x /usr/bin/soffice ] || missing="$$missing libreoffice-writer-nogui"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if command -v npm >/dev/null; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/npm $(AXE_CORE); \
	fi
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The model `kb tune` fits to the corpus's own rulings, the moderator questions' dev split and
# the training questions (KB_MODEL=auto uses it; it is kept only if it beats the bundled one on
# held-out rulings, as questions cannot judge a model trained on them); MODEL=base keeps the
# bundled one.
MODEL ?= auto
KB := HF_HUB_OFFLINE=1 KB_MODEL=$(subst base,,$(MODEL)) $(BIN)/kb --data-dir $(DATA_DIR)

ingest: install
	$(KB) ingest corpus
ifeq ($(MODEL),auto)
	$(KB) tune --questions corpus/eval/moderator:dev --questions corpus/eval/train:train
	$(KB) ingest corpus
endif

run: ingest
	$(KB) stats
	$(KB) search -k 2 --filter type=policy \
		"streamer hands a lit sparkler to a toddler while chat cheers"
	$(KB) search -k 2 --filter type=ruling \
		"streamer hands a lit sparkler to a toddler while chat cheers"
	$(KB) serve --host $(HOST) --port $(PORT)

test: install-test
	HF_HUB_OFFLINE=1 $(BIN)/ruff check kb tests benchmarks
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Property tests and API fuzzing with new random examples (KB_FUZZ_SCALE times as many as in
# `make test`, which always draws the same ones): run before resolving an issue.
FUZZ_TESTS := tests/ingest/test_properties.py tests/search/test_query_properties.py \
	tests/search/test_intent.py \
	tests/search/test_keyword_post_filter.py \
	tests/web/test_schemathesis.py
fuzz: install-test
	HF_HUB_OFFLINE=1 KB_FUZZ=1 $(BIN)/python -m pytest $(FUZZ_TESTS)

lint: install-test
	$(BIN)/ruff check kb tests benchmarks
	$(BIN)/ruff format --check kb tests benchmarks

format: install-test
	$(BIN)/ruff format kb tests benchmarks
	$(BIN)/ruff check --fix kb tests benchmarks

clean:
	rm -rf $(DATA_DIR) .pytest_cache
