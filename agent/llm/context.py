"""The part of a long file a prompt shows: the piece, what it uses, what uses it.

Small context windows (local servers started with 4k or 8k tokens) cannot take a whole
file. What the model needs to write a piece is its imports, the top-level definitions and
constants it reads (transitively), and the code that calls it (to keep the signature);
everything else is left out, marked ``# ...``. Sizes are counted in tokens estimated from
characters (``CHARS_PER_TOKEN``), the same estimate the client uses when a server reports none.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

CHARS_PER_TOKEN = 4


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False


def _names(node: cst.CSTNode) -> set[str]:
    visitor = _Names()
    node.visit(visitor)
    return visitor.names


def _binds(stmt: cst.CSTNode) -> set[str]:
    if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
        return {stmt.name.value}
    out: set[str] = set()
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else (
                [small.target] if isinstance(small, cst.AnnAssign) else [])
            out.update(t.value for t in targets if isinstance(t, cst.Name))
    return out


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(x, (cst.Import, cst.ImportFrom)) for x in stmt.body)


def piece_context(source: str, qualname: str, limit: int) -> str:
    """Imports, the piece's dependencies, the piece and its callers, in file order, cut to
    ``limit`` characters (callers are dropped first, then dependencies)."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return source[:limit]
    positions = wrapper.resolve(PositionProvider)
    body = wrapper.module.body
    top = qualname.partition(".")[0]
    index = next((i for i, s in enumerate(body) if top in _binds(s)), None)
    if index is None:
        return source[:limit]
    bound = {name: i for i, s in enumerate(body) for name in _binds(s)}
    deps: list[int] = []
    todo = [index]
    while todo:
        for name in sorted(_names(body[todo.pop()])):
            i = bound.get(name)
            if i is not None and i != index and i not in deps:
                deps.append(i)
                todo.append(i)
    callers = [i for i, s in enumerate(body) if i != index and i not in deps and top in _names(s)]
    imports = [i for i, s in enumerate(body) if _is_import(s)]
    lines = source.splitlines()

    def text(chosen: set[int]) -> str:
        out: list[str] = []
        previous = -1
        for i in sorted(chosen):
            pos = positions[body[i]]
            if previous >= 0 and i != previous + 1:
                out.append("# ...")
            out.extend(lines[pos.start.line - 1 : pos.end.line])
            previous = i
        if previous != len(body) - 1:
            out.append("# ...")
        return "\n".join(out)

    chosen = {*imports, index, *deps, *callers}
    for dropped in (list(reversed(callers)), list(reversed(deps))):
        for i in dropped:
            if len(text(chosen)) <= limit:
                return text(chosen)
            chosen.discard(i)
    return text(chosen)[:limit]
