# Two commands do everything on a fresh machine with Python 3.11 (no conda, no Docker):
#   make lab    install the course into .venv and open JupyterLab on the start-here notebook
#   make test   install the course into .venv (if needed) and run the whole test suite
#   make site   build the executed lessons into a static web site under build/site/ (after make test)
#   make stress N=10   (maintainers) the notebook suite N times beside bursty CPU load, failures per cell
#   make course-map   (maintainers) the lesson headers and README's course map, regenerated from the notebooks' metadata
# With CI=true, `make lab` does not open a browser; nothing here waits for input.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Extra options for `jupyter lab`, e.g. make lab LAB_ARGS="--port 8899 --no-browser"
LAB_ARGS ?=
# Extra options for the site build, e.g. make site SITE_ARGS=--execute (see python -m course_tools.site --help)
SITE_ARGS ?=
# make test LOAD=0: no bursty CPU load beside the tests and no one-CPU pass (a quick look; CI never does this)
LOAD ?= 1
# make stress: how many runs, and extra options (STRESS_ARGS=--one-core pins the runs to one CPU)
N ?= 10
STRESS_ARGS ?=

.PHONY: lab test install exercises course-map site stress clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "The course needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Lab serves the whole repository (as Binder does), so the course map's links to exercises/
# work; without root_dir, Jupyter would serve only the opened notebook's folder.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(CI),--no-browser,) $(if $(filter 0,$(shell id -u)),--allow-root,) \
		$(LAB_ARGS) notebooks/00_start_here.ipynb

test: $(STAMP)
	$(BIN)/python -m course_tools.suite $(if $(filter 0,$(LOAD)),--no-load,) $(PYTEST_ARGS)

course-map: $(STAMP)
	$(BIN)/python -m course_tools.course_views

site: $(STAMP)
	$(BIN)/python -m course_tools.site $(SITE_ARGS)

stress: $(STAMP)
	$(BIN)/python -m course_tools.stress --runs $(N) $(STRESS_ARGS)

exercises: $(STAMP)
	$(BIN)/course-exercises

clean:
	rm -rf $(VENV) build
