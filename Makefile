# Two commands do everything: `make demo` (the main job) and `make test`.
# Both create or reuse .venv and install the project into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test validate bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the local CPU build, so no dependency can pull a CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# two test processes (one per core); a file's tests stay together (module fixtures, notebook order),
# the longest files first (tests/conftest.py: LONGEST_FIRST)
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25

# The main job: characterize l5pc -> fit units -> train dANNs -> report and figures in demo-out/
demo: $(STAMP)
	$(VENV)/bin/bridge demo -o demo-out

validate: $(STAMP)
	$(VENV)/bin/bridge validate l5pc
	$(VENV)/bin/bridge validate ca1

bench: $(STAMP)
	$(PY) benchmarks/simulation_speed.py

clean:
	rm -rf $(VENV) .cache
