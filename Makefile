# trialsim: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCENARIO ?= scenarios/nct04743739.toml

.PHONY: run test test-fast teach install install-test install-teach install-docs docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs are stamped so repeated runs are quick; pyproject changes reinstall. The package's
# bytecode is compiled as a regular (non-editable) pip install compiles it, so that a command
# started cold does not compile its modules first (a source file edited later is recompiled as
# Python does).
COMPILE := $(BIN)/python -m compileall -q simulate

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(COMPILE)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(COMPILE)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-teach: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[teach]'
	$(COMPILE)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(COMPILE)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-teach: $(VENV)/.installed-teach
install-docs: $(VENV)/.installed-docs

run: install
	$(BIN)/trialsim run $(SCENARIO)

# the whole suite (CI's), on TEST_JOBS processes; the quick lane leaves out the browser tests and
# those marked slow (end-to-end runs in subprocesses, signals, clusters, the long property test)
TEST_JOBS ?= 2
test: install-test
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

test-fast: install-test
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile -m "not browser and not slow"

# the teaching lab in the browser at http://127.0.0.1:$(PORT)/
PORT ?= 8000
teach: install-teach
	$(BIN)/trialsim teach $(SCENARIO) --port $(PORT)

# the documentation site into site/ (open site/index.html): the guide, the API from its docstrings,
# the commands from the command line, the scenario fields from the models, the validation tables
# from the tests' reference values, and the tutorials executed as notebooks (any failing cell or
# broken link fails the build)
docs: install-docs
	@command -v npm >/dev/null && [ ! -f .ci/node/node_modules/iframe-worker/shim/index.js ] && \
	  npm install --silent --no-save --no-audit --no-fund --prefix .ci/node iframe-worker || true
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info site .cache
