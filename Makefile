# Guichet — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
export GUICHET_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup train run run-scaled test test-fast lint nlu-eval bench-chat voice-model lock clean

setup:
	@bash scripts/setup.sh

train: setup
	@$(PY) -m tools.launcher train

run: train
	@$(PY) -m tools.launcher run

# Two app instances and two Rasa servers behind nginx, with PostgreSQL, Redis and a
# Chroma server, all on 127.0.0.1 (docs/operations.md); state in $(GUICHET_DATA_DIR)/scaled.
run-scaled: train
	@$(PY) -m tools.scaled run

# The whole suite: unit, integration (real Rasa + app) and browser tests.
# pytest exits 5 when it collected no test: that is a failure here.
test: train
	@$(PY) -m pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-fast: setup
	@$(PY) -m pytest tests/unit

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

nlu-eval: train
	@$(PY) benchmarks/nlu_eval.py

bench-chat: train
	@$(PY) benchmarks/chat_latency.py

# The French speech model of the callbot (needs internet; see scripts/voice_model.sh).
voice-model:
	@bash scripts/voice_model.sh

# Re-resolve the lock files after editing requirements/*.in.
lock: setup
	.venv/bin/uv pip compile -q --python-version 3.11 --python-platform x86_64-unknown-linux-gnu requirements/app.in -o requirements/app.lock
	.venv/bin/uv pip compile -q --python-version 3.10 --python-platform x86_64-unknown-linux-gnu requirements/rasa.in -o requirements/rasa.lock

clean:
	rm -rf .venv .venv-rasa data
