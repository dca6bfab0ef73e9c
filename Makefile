# The two README commands: `make demo` and `make test`. Both create/update .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is pinned in the same pip command so pip takes the CPU build instead of a CUDA one.
TORCH  := torch==2.13.0

.PHONY: demo test venv browser lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH) -e '.[dev,models]'
	touch $(STAMP)

# Debian's chromium for the browser tests (playwright drives it; it never downloads a browser).
browser:
	@bash scripts/ensure-chromium.sh

demo: venv
	$(PY) -m lookalike demo

test: venv browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy src

clean:
	rm -rf $(VENV) lookalike-data .pytest_cache
