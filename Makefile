# Two entry points that do all set-up themselves on a fresh machine:
#   make run    the main job (a default comparison on an embedded local Ray)
#   make test   the test suite
#   make test-fast  the suite less its slow and Ray tests (markers in pyproject.toml), under a minute
#   make docs-figures  regenerate docs/ figures and generated tables (PARTS=traces,scaling,speedups,long-context,gpu-pim,presets,od-controls,anchors,llm-scale)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench docs-figures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lolpim run --out results/main

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not ray"

bench: $(STAMP)
	$(BIN)/python benchmarks/kernel.py

PARTS ?= scaling,traces,speedups,long-context,gpu-pim,presets,od-controls,anchors,llm-scale
docs-figures: $(STAMP)
	$(BIN)/python benchmarks/docs_figures.py --parts $(PARTS)

clean:
	rm -rf $(VENV) results
