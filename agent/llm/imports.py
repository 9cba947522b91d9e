"""Imports a reply forgot: the most common slip of real models, fixed without a repair round.

A name the reply's code uses but neither it nor the converted file defines is looked up in a
table of well-known modules (``torch``, ``nn``, ``F``, ``pl``, ``np``, typing names, ...).
If the file already imports that module under another alias, the reply's uses are renamed to
the file's alias; otherwise the conventional import is added to the reply, and the splice
merges it into the file's import block. Unknown names are left alone: ruff reports them and
that is a real error for the model to repair.
"""

from __future__ import annotations

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, ScopeProvider

_TYPING = ("Any", "Callable", "Dict", "Iterable", "Iterator", "List", "Mapping", "Optional",
           "Sequence", "Tuple", "Union", "cast", "Literal", "TypeVar")

# name as models write it -> (module it binds, the import that binds it)
WELL_KNOWN: dict[str, tuple[str, str]] = {
    "torch": ("torch", "import torch"),
    "nn": ("torch.nn", "from torch import nn"),
    "F": ("torch.nn.functional", "import torch.nn.functional as F"),
    "Tensor": ("torch.Tensor", "from torch import Tensor"),
    "pl": ("pytorch_lightning", "import pytorch_lightning as pl"),
    "L": ("lightning", "import lightning as L"),
    "np": ("numpy", "import numpy as np"),
    "math": ("math", "import math"),
    "functools": ("functools", "import functools"),
    "itertools": ("itertools", "import itertools"),
    "dataclass": ("dataclasses.dataclass", "from dataclasses import dataclass"),
    "LazyModuleMixin": ("torch.nn.modules.lazy.LazyModuleMixin",
                        "from torch.nn.modules.lazy import LazyModuleMixin"),
    **{name: (f"typing.{name}", f"from typing import {name}") for name in _TYPING},
}
# Lightning has two package names; the file's choice wins.
_SAME_MODULE = {"pytorch_lightning": ("lightning.pytorch",), "lightning.pytorch": ("pytorch_lightning",)}


def bindings(module: cst.Module) -> dict[str, str]:
    """Top-level import bindings of a module: bound name -> qualified module or object."""
    out: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = get_full_name_for_node(alias.name) or ""
                    if alias.asname is not None:
                        out[get_full_name_for_node(alias.asname.name) or full] = full
                    else:
                        out[full.split(".")[0]] = full.split(".")[0]
            elif isinstance(small, cst.ImportFrom) and small.module and not small.relative:
                mod = get_full_name_for_node(small.module) or ""
                if isinstance(small.names, cst.ImportStar):
                    continue
                for alias in small.names:
                    name = get_full_name_for_node(alias.name) or ""
                    bound = get_full_name_for_node(alias.asname.name) if alias.asname else name
                    out[bound or name] = f"{mod}.{name}"
    return out


def defined_names(module: cst.Module) -> set[str]:
    """Every name bound at the top level (imports, definitions, assignments)."""
    names = set(bindings(module))
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = small.targets if isinstance(small, cst.Assign) else ()
                for t in targets:
                    if isinstance(t.target, cst.Name):
                        names.add(t.target.value)
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    names.add(small.target.value)
    return names


def free_names(module: cst.Module) -> dict[str, list[cst.Name]]:
    """Names the module reads but never binds (builtins excluded), with their nodes."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    scopes = wrapper.resolve(ScopeProvider)
    out: dict[str, list[cst.Name]] = {}
    for scope in {s for s in scopes.values() if s is not None}:
        for access in scope.accesses:
            node = access.node
            if not access.referents and isinstance(node, cst.Name):
                out.setdefault(node.value, []).append(node)
    return out


class _Rename(cst.CSTTransformer):
    def __init__(self, nodes: dict[int, str]) -> None:
        self.nodes = nodes

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.nodes.get(id(original_node))
        return updated_node.with_changes(value=new) if new else updated_node


def _alias_in(file: dict[str, str], module: str) -> str | None:
    for bound, full in file.items():
        if full == module or full in _SAME_MODULE.get(module, ()):
            return bound
    return None


def complete_imports(code: str, base: str) -> tuple[str, list[str]]:
    """``code`` with imports added (or names renamed to the file's alias) for well-known names
    it uses without importing; and a note per fix."""
    try:
        reply = cst.parse_module(code)
        target = cst.parse_module(base) if base.strip() else cst.Module(body=[])
    except cst.ParserSyntaxError:
        return code, []
    file_binds = bindings(target)
    known = defined_names(target)
    rename: dict[int, str] = {}
    added: list[str] = []
    notes: list[str] = []
    for name, nodes in sorted(free_names(reply).items()):
        if name in known or name not in WELL_KNOWN:
            continue
        module, statement = WELL_KNOWN[name]
        alias = _alias_in(file_binds, module)
        if alias is not None and alias != name:
            rename.update({id(n): alias for n in nodes})
            notes.append(f"{name} renamed to the file's alias {alias}")
            continue
        if name == "pl" and _alias_in(file_binds, "lightning.pytorch") is None and any(
            full.split(".")[0] == "lightning" for full in file_binds.values()
        ):
            statement = "import lightning.pytorch as pl"
        added.append(statement)
        notes.append(f"added `{statement}`")
    if not added and not rename:
        return code, []
    if rename:
        reply = reply.visit(_Rename(rename))
    head = [cst.parse_statement(s + "\n") for s in added]
    return reply.with_changes(body=[*head, *reply.body]).code, notes
