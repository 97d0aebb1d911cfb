# Two commands do everything on a fresh machine with Python 3.11 (no conda, no Docker):
#   make lab    install the course into .venv and open JupyterLab on the start-here notebook
#   make test   install the course into .venv (if needed) and run the whole test suite
# With CI=true, `make lab` does not open a browser; nothing here waits for input.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: lab test install exercises clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "The course needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(CI),--no-browser,) notebooks/00_start_here.ipynb

test: $(STAMP)
	$(BIN)/python tests/run_suite.py $(PYTEST_ARGS)

exercises: $(STAMP)
	$(BIN)/course-exercises

clean:
	rm -rf $(VENV) build
