# Two entry points, each self-contained on a fresh machine (see README "Quick start").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE_OUT ?= /tmp/k2l-example-out

.PHONY: setup demo test

$(BIN)/k2l-agent: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

setup: $(BIN)/k2l-agent

demo: setup
	rm -rf $(EXAMPLE_OUT)
	$(BIN)/k2l-agent migrate examples/keras_project --out $(EXAMPLE_OUT) --no-llm; \
	  status=$$?; echo "converted tree: $(EXAMPLE_OUT) (exit $$status)"; [ $$status -le 1 ]

test: setup
	$(BIN)/ruff check agent cli.py tests eval
	$(BIN)/mypy
	KERAS_BACKEND=torch $(BIN)/pytest -n 2 -p no:cacheprovider
