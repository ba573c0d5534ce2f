# Two entry points that do all set-up themselves on a fresh machine:
#   make run    the main job (a default comparison on an embedded local Ray)
#   make test   lint, then the test suite
#   make lint   the linter (ruff) and the type checker (mypy), configured in pyproject.toml
#   make test-fast  the suite less its slow and Ray tests (markers in pyproject.toml), under a minute
#   make docs-figures  regenerate docs/ figures and generated tables (PARTS=traces,scaling,speedups,long-context,gpu-pim,presets,od-controls,anchors,window-cost,window-cost-sheet,llm-scale,anchors-sheet)
#   make nest-venv / brian2-venv  the other simulators' own virtualenvs (.venv-nest, .venv-brian2) for the speed anchors
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint typecheck-links bench docs-figures nest-venv brian2-venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lolpim run --out results/main

# lint first: a type or lint error fails `make test` (and so CI) before the suite runs
test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# mypy finds modules by folder and lolpim's are mapped (lolpim.core -> core/: pyproject.toml's
# [tool.setuptools.package-dir]); a link per mapped folder gives mypy the lolpim/ folder it looks for,
# and a link per file of api/ (lolpim itself, the public API) its top level
TYPECHECK_LINKS := core actors models hardware orchestration
typecheck-links:
	mkdir -p .typecheck/lolpim
	for d in $(TYPECHECK_LINKS); do ln -sfn ../../$$d .typecheck/lolpim/$$d; done
	for f in api/*.py; do ln -sfn ../../$$f .typecheck/lolpim/$${f#api/}; done

lint: $(STAMP) typecheck-links
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not ray"

bench: $(STAMP)
	$(BIN)/python benchmarks/kernel.py

PARTS ?= scaling,traces,speedups,long-context,gpu-pim,presets,od-controls,anchors,window-cost,window-cost-sheet,llm-scale,anchors-sheet
docs-figures: $(STAMP)
	$(BIN)/python benchmarks/docs_figures.py --parts $(PARTS)

# NEST 3.10 and Brian2 2.9 each in a virtualenv of its own, never in the project's (Brian2 2.9 needs
# numpy < 2; neither is a dependency of lolpim): benchmarks/nest_sheet.py and sheet_anchors.py find them
NEST_VENV   ?= .venv-nest
BRIAN2_VENV ?= .venv-brian2

nest-venv: $(NEST_VENV)/.installed
$(NEST_VENV)/.installed:
	$(PYTHON) -m venv $(NEST_VENV)
	$(NEST_VENV)/bin/pip install --quiet "nest-simulator==3.10.*"
	touch $@

brian2-venv: $(BRIAN2_VENV)/.installed
$(BRIAN2_VENV)/.installed:
	$(PYTHON) -m venv $(BRIAN2_VENV)
	$(BRIAN2_VENV)/bin/pip install --quiet "brian2==2.9.*" "numpy<2" cython
	touch $@

clean:
	rm -rf $(VENV) $(NEST_VENV) $(BRIAN2_VENV) results .typecheck .mypy_cache .ruff_cache
