"""Functions the model may call while it writes a piece (OpenAI function calling).

They let the model check its own code before answering, read the table entry of a layer,
and look at another file of the project. Every call returns text (JSON where structured) and
never raises: a bad argument is an error string the model can read. ``read_file`` is
confined to the repository root: the resolved path (symlinks followed) must stay inside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_FILE_CHARS = 20_000

RunChecks = Callable[[str], str]  # code of the piece -> diagnostics JSON
Lookup = Callable[[str], "str | None"]  # Keras qualified name -> table entry text


def _spec(name: str, description: str, param: str, param_doc: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {param: {"type": "string", "description": param_doc}},
                "required": [param],
                "additionalProperties": False,
            },
        },
    }


TOOL_SPECS: list[dict[str, Any]] = [
    _spec(
        "run_checks",
        "Splice your code for this piece into the converted file and run the checks "
        "(parse, ruff, mypy, one fast_dev_run batch). Returns the diagnostics as JSON.",
        "code",
        "The complete python code of the piece, as you would reply with it.",
    ),
    _spec(
        "lookup_layer",
        "The k2l mapping table entry of a Keras name (torch target, argument renames, defaults).",
        "keras_name",
        "Qualified Keras name, e.g. keras.layers.Conv2D.",
    ),
    _spec(
        "read_file",
        "Read another file of the project being converted (path relative to its root).",
        "path",
        "Relative path inside the project, e.g. models/blocks.py.",
    ),
]


class ToolBox:
    """Dispatches the model's tool calls to the injected implementations."""

    def __init__(self, run_checks: RunChecks, lookup: Lookup | None, repo_root: Path | None) -> None:
        self._run_checks = run_checks
        self._lookup = lookup
        self._root = repo_root.resolve() if repo_root is not None else None

    def specs(self) -> list[dict[str, Any]]:
        return TOOL_SPECS

    def call(self, name: str, arguments: str) -> str:
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            return f"error: arguments are not valid JSON: {arguments[:200]!r}"
        if not isinstance(args, dict):
            return "error: arguments must be a JSON object"
        try:
            if name == "run_checks":
                return self._run_checks(str(args.get("code", "")))
            if name == "lookup_layer":
                return self.lookup_layer(str(args.get("keras_name", "")))
            if name == "read_file":
                return self.read_file(str(args.get("path", "")))
        except Exception as exc:  # a tool must never take the run down
            return f"error: {name} failed: {type(exc).__name__}: {exc}"
        return f"error: unknown tool {name!r}"

    def lookup_layer(self, keras_name: str) -> str:
        if self._lookup is None:
            return "error: no mapping tables available"
        entry = self._lookup(keras_name)
        return entry if entry else f"no table entry for {keras_name!r}"

    def read_file(self, path: str) -> str:
        if self._root is None:
            return "error: no project root to read from"
        if not path or Path(path).is_absolute():
            return "error: give a path relative to the project root"
        try:
            resolved = (self._root / path).resolve(strict=True)
        except (OSError, RuntimeError):
            return f"error: no such file: {path}"
        if not resolved.is_relative_to(self._root):
            return f"error: {path} is outside the project root"
        if not resolved.is_file():
            return f"error: {path} is not a file"
        try:
            text = resolved.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"error: cannot read {path}: {exc}"
        if len(text) > MAX_FILE_CHARS:
            return text[:MAX_FILE_CHARS] + f"\n... [truncated, {len(text)} characters in all]"
        return text
