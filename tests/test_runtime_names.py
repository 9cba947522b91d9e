"""The runtime files copied into converted scripts share one namespace (utilities.py collects
their top-level definitions by name): a name defined in two files would copy one file's
definition where the other's callers expect theirs."""

from __future__ import annotations

import ast

from agent.rules.training.utilities import RUNTIME


def test_no_top_level_name_is_defined_in_two_runtime_files() -> None:
    owner: dict[str, str] = {}
    clashes: list[str] = []
    for path in RUNTIME:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if name in owner and owner[name] != path.name:
                    clashes.append(f"{name}: {owner[name]} and {path.name}")
                owner.setdefault(name, path.name)
    assert not clashes, clashes
