# authserver — the two commands of the README, and a few more.
#   make serve   set up .venv, create the database and a first admin under var/, serve on 127.0.0.1:8000
#   make test    set up .venv with the test extras, run the whole suite
#   make docs    regenerate docs/api.md and the golden policy tables policies/*.csv (tests check both are current)
#   make bench   the benchmark suite against a bare baseline (docs/performance.md); BENCH_QUICK=1 for a smoke run
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= var/config.yaml

.PHONY: serve test install install-test browser docs bench clean

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

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
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

# The browser login test drives Debian's chromium (never a downloaded browser build): installed here when it
# is missing and we are root (as in CI); elsewhere the test skips and says how to get it.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser login test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "could not install chromium: the browser login test will skip"; \
	  else \
	    echo "no /usr/bin/chromium: the browser login test will skip (apt-get install chromium)"; \
	  fi; \
	fi

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

docs: $(VENV)/.installed
	$(BIN)/authserver docs api > docs/api.md
	for policy in policies/default.yaml policies/arvados-2.7.yaml; do \
	  $(BIN)/authserver policy table --format csv $$policy > $${policy%.yaml}.csv; done

# Loopback only, bounded in time (about 6 minutes; BENCH_QUICK=1: about 1); installs wrk with apt-get if missing.
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache
