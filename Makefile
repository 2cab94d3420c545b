# One command per job, on a fresh machine:  make lab  |  make test
# Each target creates the virtualenv and installs what is missing (Debian packages included).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Jupyter refuses to start as root unless told (containers, CI machines).
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
PORT ?= 8888

.PHONY: lab test lint unit notebooks browser bench emulator strip git-filter system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@# ipywebrtc (ClipRecorder's front end until 2026-11, unmaintained since 2021) put a JupyterLab
	@# extension on every page that warns about its @jupyter-widgets/base range: an older .venv drops it.
	$(BIN)/python -m pip uninstall -q -y ipywebrtc 2>/dev/null || true
	touch $@

# Chromium for the real-browser tests (Debian's package; no browser download at run time).
system-deps:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }

# JupyterLab on the tutorials, against the embedded emulator (no credentials needed): every variable
# that would select a real service is unset for it (OPENAI_API_KEY alone selects api.openai.com).
# Lab saves outputs into the notebooks; the git filter keeps them out of commits.
lab: $(STAMP) git-filter
	cd notebooks && env -u AZURE_OPENAI_ENDPOINT -u AZURE_OPENAI_API_KEY -u OPENAI_API_KEY -u OPENAI_BASE_URL \
	  ../$(BIN)/jupyter lab --port $(PORT) $(ALLOW_ROOT)

# Everything CI runs: lint, unit and integration tests, real-browser tests, and every notebook executed
# under nbmake (tests/test_notebook_images.py runs them once in a temporary copy and checks their figures).
test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest tests -q -ra

lint: $(STAMP)
	$(BIN)/ruff check realtime_widgets tests bench
	$(BIN)/ruff format --check realtime_widgets tests bench
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not browser"

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbmake notebooks -q

browser: $(STAMP) system-deps
	$(BIN)/python -m pytest tests -q -m browser

bench: $(STAMP) system-deps
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

emulator: $(STAMP)
	$(BIN)/python -m realtime_widgets.emulator --port 8765

# Outputs never enter git. nbstripout, installed as this clone's git filter, strips them from what
# `git add` stores (the working copy keeps them); `make strip` strips the working copy too.
# --keep-id: the committed notebooks' cell ids stay as they are.
NBSTRIPOUT := "$(abspath $(BIN))/python" -m nbstripout --keep-id
git-filter: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean '$(NBSTRIPOUT)' && \
	  git config filter.nbstripout.smudge cat && \
	  git config diff.ipynb.textconv '$(NBSTRIPOUT) -t'; fi

strip: $(STAMP) git-filter
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache .mypy_cache
