# Every target sets itself up: on a fresh machine with Python 3.11, `make test` and
# `make demo` create .venv from pyproject.toml first (once; again when it changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo dev lint format bench bench-pipeline data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Three test workers on 2 cores: most tests wait on servers, daemons and sensor ticks, not
# the CPU. A file's tests stay on one worker (the UI tests build on each other in order).
test: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest -n 3 --dist loadfile

# The tutorial's task on the sample emails, then the generation chain: generate emails from
# the seed grid, label them, compare each label with the intended one.
demo: $(STAMP)
	$(BIN)/synth demo
	$(BIN)/synth demo --task synthetic_emails

dev: $(STAMP)
	$(BIN)/synth dev

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	bash bench/setup_instructor.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/server.py
	$(BIN)/python bench/record.py

# The whole chain on one generated ROWS-row day: the real daemon, run processes and local
# server, in a scratch folder under /tmp (deleted afterwards); per stage wall time, rows/s,
# peak RSS per process and bytes written. `make bench-pipeline ROWS=1000000`
ROWS ?= 100000
bench-pipeline: $(STAMP)
	$(BIN)/python bench/pipeline.py --rows $(ROWS)

data: $(STAMP)
	$(BIN)/python scripts/make_sample_emails.py

clean:
	rm -rf data/out data/work data/localbatch .dagster
