# Two commands do all set-up (README): `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
MODEL ?= ARGUS
DATASET ?= ml-100k
ARGS ?=

.PHONY: run test install clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25"
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) run.py --model=$(MODEL) --dataset=$(DATASET) $(ARGS)

test: install
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) saved log log_tensorboard
