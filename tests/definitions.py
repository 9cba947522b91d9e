"""Shared by tests that load a converted script as the checks do: definitions only.

A definitions-only import runs imports, defs, classes and constants, not the script code,
so a model that reads a name only the script binds fails here as it would in the checks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from agent.rules.convert import Conversion, convert_source
from agent.tools.module_loader import load_definitions


def convert_and_load(tmp_path: Path, src: str, name: str = "case.py") -> tuple[Conversion, Any]:
    """Convert ``src`` with no TODO left, write it under ``tmp_path`` and load its definitions."""
    res = convert_source(textwrap.dedent(src), name)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    path = tmp_path / name
    path.write_text(res.source, encoding="utf-8")
    return res, load_definitions(path)
