# ainkit: two commands do everything.
#   make reproduce   set up (.venv, packages), then regenerate figures/ and reports/; on a fresh
#                    set-up llama-cpp-python compiles in the background meanwhile (bootstrap.py)
#   make test        set up, then run the test suite (all of it; what CI runs)
# Extra: make test-fast (the tests that start no process, server, model, notebook, cluster or browser,
# and a check that they cover every module of ainkit/), make lab (JupyterLab on the kit's kernel), make bench, make clean.
# Pass options through: make reproduce ARGS="--only 06 -p extra_scores my.json"

PYTHON ?= python3
VENV   := .venv
ARGS   ?=
PYTEST_ARGS ?=

FAST   := not (slow or server or notebook or slurm or browser)

.PHONY: setup reproduce test test-fast lab bench clean

setup:
	@$(PYTHON) ainkit/ground/bootstrap.py

# the notebooks that do not use the embedded llama.cpp server run while llama-cpp-python compiles
reproduce:
	@$(PYTHON) ainkit/ground/bootstrap.py --llama-in-background
	$(VENV)/bin/ainkit reproduce $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest --module-coverage $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m "$(FAST)" --module-coverage $(PYTEST_ARGS)

lab: setup
	$(VENV)/bin/python -m ainkit.reproduction.lab $(ARGS)

bench: setup
	@set -e; for f in bench/*.py; do echo "== $$f"; $(VENV)/bin/python $$f; done

clean:
	rm -rf figures/fig* figures/tab* reports/notebooks reports/results reports/tables reports/REPRODUCTION.md reports/REPRODUCTION.html reports/manifest.json
