"""After conversion: drop Keras/TF imports nothing uses, add the torch imports the code uses,
and list the Keras/TF references left.

Works on the generated text with Python's C parser (``ast``): a libcst visitor over the
whole tree would cost more than the parse itself. Never removes a non-framework import.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable

from agent.records import KerasDependency
from agent.rules import parsed
from agent.rules.imports import canonical

# local name -> import statement, in the order a senior engineer (and isort) writes them
TORCH_IMPORTS: tuple[tuple[str, str], ...] = (
    ("math", "import math"),  # math.prod of sizes (models/size_calls.py)
    ("os", "import os"),  # a checkpoint path split at run time (training/callbacks.py)
    ("np", "import numpy as np"),
    ("pl", "import pytorch_lightning as pl"),
    ("torch", "import torch"),
    ("F", "import torch.nn.functional as F"),
    ("torchmetrics", "import torchmetrics"),
    ("torchvision", "import torchvision"),
    ("callbacks", "from pytorch_lightning import callbacks"),
    ("nn", "from torch import nn"),
    ("LazyModuleMixin", "from torch.nn.modules.lazy import LazyModuleMixin"),
    ("DataLoader", "from torch.utils.data import DataLoader"),
    ("Dataset", "from torch.utils.data import Dataset"),
    ("Subset", "from torch.utils.data import Subset"),
    ("TensorDataset", "from torch.utils.data import TensorDataset"),
    ("create_feature_extractor",
     "from torchvision.models.feature_extraction import create_feature_extractor"),
    ("Any", "from typing import Any"),
)


def _framework(module: str) -> bool:
    return module.split(".")[0] in ("keras", "tensorflow", "tf_keras")


def _filtered(node: ast.Import | ast.ImportFrom, used: set[str]) -> ast.stmt | None:
    """The import with its unused framework aliases removed (None if nothing is left)."""
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module or not _framework(node.module):
            return node
        keep = [a for a in node.names if a.name != "*" and (a.asname or a.name) in used]
        if len(keep) == len(node.names):
            return node
        return ast.ImportFrom(node.module, keep, 0) if keep else None
    keep = [a for a in node.names
            if not _framework(a.name) or (a.asname or a.name).split(".")[0] in used]
    if len(keep) == len(node.names):
        return node
    return ast.Import(keep) if keep else None


def _local(alias: ast.alias, from_import: bool) -> str:
    return alias.asname or (alias.name if from_import else alias.name.split(".")[0])


def finalize(code: str, fix_imports: bool = True) -> tuple[str, list[KerasDependency]]:
    """One ``ast`` parse and walk: fix the imports, then list the framework uses left."""
    try:
        tree = parsed.parse(code)
    except SyntaxError:
        return code, []
    used: set[str] = set()
    first_use: dict[str, int] = {}  # name -> first line that reads it
    imports: list[ast.Import | ast.ImportFrom] = []
    refs: list[ast.expr] = []  # outermost Attribute chains and bare Names
    inner: set[int] = set()
    for node in parsed.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
            first_use[node.id] = min(first_use.get(node.id, node.lineno), node.lineno)
            if id(node) not in inner:
                refs.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            refs.append(node)
            cur: ast.expr = node
            while isinstance(cur, ast.Attribute):
                inner.add(id(cur.value))
                cur = cur.value
    used |= _exported(tree)
    lines = code.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    kept: list[ast.Import | ast.ImportFrom] = []
    for node in imports:
        new = _filtered(node, used) if fix_imports else node
        if new is node or node.end_lineno is None:
            kept.append(node)
            continue
        start, end = node.lineno - 1, node.end_lineno
        text = lines[start]
        after = lines[end - 1][node.end_col_offset or 0:].strip()
        if text[:node.col_offset].strip() or (after and not after.startswith("#")):
            kept.append(node)  # another statement shares the line: leave it alone
            continue
        indent = text[:node.col_offset]
        if new is None:
            only = node.col_offset and _only_statement(tree, node)
            replacement = f"{indent}pass\n" if only else ""
        else:
            replacement = f"{indent}{ast.unparse(new)}\n"
            kept.append(ast.copy_location(new, node))  # type: ignore[arg-type]
        edits.append((start, end, replacement))
    shift = [0] * (len(lines) + 2)  # original line number -> lines removed above it
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start:end] = [replacement] if replacement else []
        delta = (end - start) - (1 if replacement else 0)
        for ln in range(end + 1, len(shift)):
            shift[ln] += delta
    # an import below the first use (e.g. in a runtime block copied further down) binds too late
    have = {_local(a, isinstance(n, ast.ImportFrom)) for n in kept for a in n.names
            if n.lineno < first_use.get(_local(a, isinstance(n, ast.ImportFrom)), n.lineno + 1)}
    mine = _module_bound(tree)  # the script's own ``callbacks = [...]`` needs no import
    needed = [stmt for name, stmt in TORCH_IMPORTS
              if name in used and name not in have and name not in mine]
    end_orig = _import_block_end(tree)  # in original line numbers
    at = end_orig - shift[min(end_orig + 1, len(shift) - 1)] if end_orig else 0
    # the top-level imports of the edited text: the same statements, moved up by the lines
    # removed above them (an edited one is one line or gone), so no second parse
    removed = {start for start, _, replacement in edits if not replacement}
    starts = {n.lineno - shift[min(n.lineno, len(shift) - 1)] - 1 for n in tree.body
              if isinstance(n, (ast.Import, ast.ImportFrom)) and n.lineno - 1 not in removed}
    inserts = _placed(lines, at, _merge_from_imports(needed), starts) if needed else []
    for index, text in sorted(inserts, key=lambda t: -t[0]):
        lines[index:index] = [text]
    code = "".join(lines)

    def moved(ln: int) -> int:
        p = ln - shift[min(ln, len(shift) - 1)]
        return p + sum(text.count("\n") for index, text in inserts if index < p)

    deps = _deps(kept, refs, moved, _exported(tree))
    tidy = code
    if fix_imports and (edits or inserts):
        tidy = sort_import_block(tidy)
        tidy = re.sub(r"\n{4,}", "\n\n\n", tidy)  # at most two blank lines where imports went
    if tidy != code:
        return tidy, finalize(tidy, fix_imports=False)[1]
    return code, deps


def _deps(imports: list[ast.Import | ast.ImportFrom], refs: list[ast.expr],
          line: Callable[[int], int], exported: set[str]) -> list[KerasDependency]:
    names: dict[str, str] = {}
    found: dict[tuple[int, str], KerasDependency] = {}
    for node in imports:
        if isinstance(node, ast.Import):
            for a in node.names:
                if _framework(a.name):
                    names[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0])
        elif node.module and not node.level and _framework(node.module):
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
                if (a.asname or a.name) in exported:  # re-exported: a use nothing else shows
                    full = canonical(names[a.asname or a.name])
                    ln = line(node.lineno)
                    found[(ln, full)] = KerasDependency(ln, full, "re-exported in __all__")
    if not names:
        return []
    for ref in refs:
        parts: list[str] = []
        cur = ref
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            cur = cur.value
        if isinstance(cur, ast.Name) and cur.id in names:
            full = canonical(".".join([names[cur.id], *reversed(parts)]))
            ln = line(ref.lineno)
            found.setdefault((ln, full), KerasDependency(ln, full, _why(full)))
    return sorted(found.values(), key=lambda d: (d.line, d.name))


def fix(code: str) -> str:
    return finalize(code)[0]


def _merge_from_imports(statements: list[str]) -> list[str]:
    """``from m import a`` + ``from m import b`` → ``from m import a, b`` (order kept)."""
    merged: dict[str, list[str]] = {}
    out: list[str] = []
    for stmt in statements:
        if stmt.startswith("from "):
            module, _, name = stmt[5:].partition(" import ")
            if module not in merged:
                merged[module] = []
                out.append(f"from {module} import ")
            merged[module].append(name)
        else:
            out.append(stmt)
    return [s + ", ".join(merged[s[5:-8]]) if s.endswith(" import ") else s for s in out]


_IMPORT_LINE = re.compile(r"(import|from)\s+([\w.]+)")


def _sort_key(statement: str) -> tuple[bool, str]:
    """isort's order inside a section: ``import x`` lines, then ``from x import y``."""
    m = _IMPORT_LINE.match(statement)
    return (m.group(1) == "from", m.group(2).lower()) if m else (True, statement)


def _placed(lines: list[str], at: int, statements: list[str], statements_at: set[int] | None
            ) -> list[tuple[int, str]]:
    """Where each added import goes: sorted into the block's third-party imports, or as a
    new group after the standard-library ones. (index in ``lines``, text to insert there;
    ``statements_at``: the indices where a top-level import starts)."""
    starts: list[tuple[int, bool, tuple[bool, str]]] = []  # line, third party, sort key
    for k in range(at):
        m = _IMPORT_LINE.match(lines[k])
        if m and (statements_at is None or k in statements_at):
            top = m.group(2).split(".")[0]
            third = top not in sys.stdlib_module_names and top != "__future__"
            starts.append((k, third, _sort_key(lines[k])))
    third = [e for e in starts if e[1]]
    if not third:
        group = "".join(s + "\n" for s in statements)
        if at and lines[at - 1].strip():
            group = "\n" + group  # a blank line after the standard-library group
        if at < len(lines) and lines[at].strip():
            group += "\n"  # and one before the code
        return [(at, group)]
    after_last = next((k for k, _, _ in starts if k > third[-1][0]), at)
    by_index: dict[int, str] = {}
    for statement in statements:
        key = _sort_key(statement)
        index = next((k for k, _, other in third if other > key), after_last)
        by_index[index] = by_index.get(index, "") + statement + "\n"
    if at in by_index and at < len(lines) and lines[at].strip():
        by_index[at] += "\n"  # a blank line before the code
    return sorted(by_index.items())


def sort_import_block(code: str) -> str:
    """The leading block of one-line imports in isort's order (``__future__``, standard
    library, third party, relative; ``import x`` before ``from x import y``; one ``from`` line
    per module). A block with comments, continuation lines or code in between is left as is:
    the user's order may matter there."""
    body = parsed.head(code, _run_ended)  # the block only: a prefix's parse, most times
    try:
        nodes = _leading_imports(ast.Module(body if body is not None else parsed.parse(code).body,
                                            []))[0]
    except SyntaxError:
        return code
    if len(nodes) < 2:
        return code
    lines = code.splitlines(keepends=True)
    first, last = nodes[0].lineno, nodes[-1].end_lineno or nodes[-1].lineno
    starts = {n.lineno for n in nodes}
    for ln in range(first, last + 1):
        text = lines[ln - 1]
        if ln in starts:
            node = next(n for n in nodes if n.lineno == ln)
            if node.end_lineno != ln or ";" in text or "#" in text or node.col_offset:
                return code
        elif text.strip():
            return code
    sections: list[list[ast.Import | ast.ImportFrom]] = [[], [], [], []]
    for node in nodes:
        module = node.module or "" if isinstance(node, ast.ImportFrom) else node.names[0].name
        top = module.split(".")[0]
        if isinstance(node, ast.ImportFrom) and node.level:
            sections[3].append(node)
        elif top == "__future__":
            sections[0].append(node)
        elif top in sys.stdlib_module_names:
            sections[1].append(node)
        else:
            sections[2].append(node)
    blocks = ["".join(line + "\n" for line in _section_lines(sec)) for sec in sections if sec]
    out = "".join(lines[: first - 1]) + "\n".join(blocks) + "".join(lines[last:])
    if out != code and body is not None:
        try:  # a text Python cannot parse is left as it is
            parsed.parse(code)
        except SyntaxError:
            return code
    return out


def _run_ended(body: list[ast.stmt]) -> bool:
    """Whether ``body`` holds the statement that ends the leading run of imports (the
    test of :func:`_leading_imports`)."""
    started = False
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            started = True
        elif started or not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                             and isinstance(node.value.value, str)):
            return True
    return False


def _member_key(name: str) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions and variables."""
    bare = name.split(" as ")[0]
    kind = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return kind, bare


def _section_lines(nodes: list[ast.Import | ast.ImportFrom]) -> list[str]:
    plain: list[tuple[str, str]] = []
    froms: dict[str, list[str]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                text = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                plain.append((a.name.lower(), text))
        else:
            module = "." * node.level + (node.module or "")
            for a in node.names:
                member = a.name + (f" as {a.asname}" if a.asname else "")
                if member not in froms.setdefault(module, []):
                    froms[module].append(member)
    out = [text for _, text in sorted(set(plain))]
    for module in sorted(froms, key=lambda m: m.lower()):
        members = sorted(froms[module], key=_member_key)
        line = f"from {module} import {', '.join(members)}"
        if len(line) > 100:
            line = f"from {module} import (\n" + "".join(f"    {m},\n" for m in members) + ")"
        out.append(line)
    return out


def _only_statement(tree: ast.Module, target: ast.stmt) -> bool:
    for node in parsed.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and target in body:
                return len(body) == 1
    return False


def _leading_imports(tree: ast.Module) -> tuple[list[ast.Import | ast.ImportFrom], int]:
    """The first run of top-level imports, and the line after the docstring.

    Notebook-style scripts put prose strings (a "## Setup" string) before their imports:
    the run may follow such strings, never code."""
    nodes: list[ast.Import | ast.ImportFrom] = []
    doc = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            nodes.append(node)
            continue
        if nodes or not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                         and isinstance(node.value.value, str)):
            break
        doc = doc or node.end_lineno or node.lineno
    return nodes, doc


def _import_block_end(tree: ast.Module) -> int:
    """Line index after the leading imports, else after the docstring."""
    nodes, doc = _leading_imports(tree)
    return (nodes[-1].end_lineno or nodes[-1].lineno) if nodes else doc


def keras_left(code: str) -> list[KerasDependency]:
    """Every Keras/TensorFlow reference still in ``code``, with its line."""
    return finalize(code, fix_imports=False)[1]


def _why(name: str) -> str:
    if name.startswith("keras.datasets"):
        return "data loader kept: NumPy arrays are framework-neutral"
    if name.startswith("keras.utils.to_categorical"):
        return "NumPy helper kept"
    return "no rule converts this use yet"


def unused_framework_imports(code: str) -> list[tuple[int, str]]:
    """(line, module) of each Keras/TF import nothing in ``code`` reads, ``__all__`` included.

    A file whose only Keras/TF code is such an import still needs TensorFlow to load; the
    converter drops it and says so (``finalize`` drops it silently when other code changed)."""
    try:
        tree = parsed.parse(code)
    except SyntaxError:
        return []
    used = {n.id for n in parsed.walk(tree) if isinstance(n, ast.Name)} | _exported(tree)
    found: list[tuple[int, str]] = []
    for node in parsed.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept = _filtered(node, used)
            if kept is node:
                continue
            left = {a.name for a in kept.names} if isinstance(kept, (ast.Import,
                                                                      ast.ImportFrom)) else set()
            prefix = f"{node.module}." if isinstance(node, ast.ImportFrom) else ""
            found += [(node.lineno, prefix + a.name) for a in node.names if a.name not in left]
    return [] if any(name.endswith("*") for _, name in found) else found  # it may bind anything


def _module_bound(tree: ast.Module) -> set[str]:
    """Names the module's own statements bind at module scope (assignments, loops, defs,
    classes; not inside functions or classes): an import of that name would be shadowed or
    shadow it."""
    names: set[str] = set()
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo += list(ast.iter_child_nodes(node))
    return names


def _exported(tree: ast.Module) -> set[str]:
    """The names ``__all__`` lists: a module may import a name only to re-export it."""
    names: set[str] = set()
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or not node.value:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            names |= {c.value for c in ast.walk(node.value)
                      if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return names
