# Fresh machine: `make train` sets up .venv and runs the default training;
# `make test` sets up .venv and runs the whole test suite (CI); `make test-fast` the tier
# without processes of seglab's or a SLURM cluster (`-m "not slow"`), before a commit.
# All need only python3 >= 3.10.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
# two xdist workers: much of a test's time is one core's (imports, process start, W&B);
# tests sharing a module fixture carry an xdist_group mark (--dist loadgroup)
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=25

.PHONY: install train test test-fast lint docs docs-serve clean

$(BIN)/seglab-train: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,docs,crf,sweeps,cityscapes,export]'
	touch $@

install: $(BIN)/seglab-train

train: install
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/seglab-train $(ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow"

# the documentation site: the generated reference pages and diagrams first, then mkdocs
# in strict mode (a broken link, a missing page or an unknown anchor fails) into site/
docs: install
	$(BIN)/python -m seglab.dev.config_reference
	$(BIN)/python -m seglab.dev.diagrams
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

lint: install
	$(BIN)/pre-commit run --all-files

clean:
	rm -rf $(VENV) outputs multirun site
