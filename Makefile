# authserver — the two commands of the README, and a few more.
#   make serve   set up .venv, create the database and a first admin under var/, serve on 127.0.0.1:8000
#   make test    set up .venv with the test extras, run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= var/config.yaml

.PHONY: serve test install install-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "authserver needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(CONFIG):
	mkdir -p $(dir $(CONFIG))
	printf '%s\n' \
	  '# Made by `make serve`; see config.example.yaml for every key.' \
	  'database: sqlite:///authserver.db' \
	  'listen:' \
	  '  host: 127.0.0.1' \
	  '  port: 8000' \
	  'login:' \
	  '  trust_private_networks: true' > $(CONFIG)

serve: $(VENV)/.installed $(CONFIG)
	$(BIN)/authserver --config $(CONFIG) init
	$(BIN)/authserver --config $(CONFIG) serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) var .pytest_cache
