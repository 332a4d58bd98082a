# Both targets set themselves up: a fresh machine needs only python3 (with venv and pip).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint sim bench screenshots clean

$(STAMP): pyproject.toml setup.py feeds/_bookc.c constraints.txt  # the C loops are rebuilt when they change
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,lint]'
	touch $(STAMP)

run: $(STAMP)  ## the dashboard on the embedded simulated exchange
	$(VENV)/bin/coinm $(ARGS)

test: lint  ## the static checks, then the whole test suite (what CI runs)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)  ## ruff, mypy and the import contract (the layers), as CI runs them
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

sim: $(STAMP)  ## the simulated exchange alone
	$(VENV)/bin/coinm sim $(ARGS)

bench: $(STAMP)  ## benchmarks that print figures (installs the anchors they compare against)
	$(PY) -m pip install -q -c constraints.txt -e '.[test,bench]'
	$(PY) -m compileall -q feeds tui widgets bench  # bytecode, as an installed coinm has (the env may set PYTHONDONTWRITEBYTECODE)
	$(PY) -m bench $(ARGS)

screenshots: $(STAMP)  ## regenerate screenshots/*.svg (deterministic: stepped sim, frozen clock)
	$(PY) -m tui.screenshots $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info feeds/*.so
