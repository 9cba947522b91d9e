"""The checks' back ends: ruff, mypy, and the sandboxed worker that loads, runs and compares converted code."""
