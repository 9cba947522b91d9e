# Two entry points, each self-contained on a fresh machine (see README "Quick start").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE_OUT ?= /tmp/k2l-example-out

TF_VENV := .tf-venv

.PHONY: setup demo test tf-venv

$(BIN)/k2l-agent: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,scripts]"
	touch $@

setup: $(BIN)/k2l-agent

demo: setup
	rm -rf $(EXAMPLE_OUT)
	$(BIN)/k2l-agent migrate examples/keras_project --out $(EXAMPLE_OUT) --no-llm; \
	  status=$$?; echo "converted tree: $(EXAMPLE_OUT) (exit $$status)"; [ $$status -le 1 ]

# TensorFlow in a venv of its own (the equivalence check's real-TensorFlow reference, issue 11);
# without network the TensorFlow tests skip instead of failing the build.
$(TF_VENV)/bin/python:
	$(PY) -m venv $(TF_VENV)
	$(TF_VENV)/bin/pip install --quiet tensorflow-cpu tf-keras || \
	  (echo "tensorflow-cpu not installable here: the TensorFlow tests will skip"; \
	   rm -rf $(TF_VENV))

tf-venv: $(TF_VENV)/bin/python

test: setup tf-venv
	$(BIN)/ruff check agent cli.py tests eval
	$(BIN)/mypy
	KERAS_BACKEND=torch K2L_TEST_TF_PYTHON=$$([ -x $(TF_VENV)/bin/python ] && \
	  echo $(CURDIR)/$(TF_VENV)/bin/python) $(BIN)/pytest -n 2 -p no:cacheprovider
