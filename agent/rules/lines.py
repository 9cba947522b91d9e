"""Line numbers from Python's own (C) parser instead of libcst's PositionProvider.

libcst's metadata pass walks the whole tree in Python and costs about three parses; the
rules only need the lines of statements and of the layer calls in model definitions, so we
parse once with ``ast`` and pair statements block by block, calls in source order.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import libcst as cst

from agent.rules import parsed, walk


def _ast_calls(node: ast.AST, out: list[ast.Call] | None = None) -> list[ast.Call]:
    """The calls under ``node`` in source order (a module-level recursion: a nested one
    is a cycle through its own cell, left for the garbage collector with what it holds)."""
    out = [] if out is None else out
    if isinstance(node, ast.Call):
        out.append(node)
        _ast_calls(node.func, out)
        # source order: positional and keyword arguments interleaved by position
        args: list[ast.expr | ast.keyword] = [*node.args, *node.keywords]
        for arg in sorted(args, key=lambda a: (a.lineno, a.col_offset)):
            _ast_calls(arg, out)
        return out
    for child in ast.iter_child_nodes(node):
        _ast_calls(child, out)
    return out


class LineIndex:
    def __init__(self, module: cst.Module, source: str) -> None:
        self.stmt_line: dict[int, int] = {}
        self.stmt_ast: dict[int, ast.stmt] = {}
        self.call_line: dict[int, int] = {}
        self.stmts: dict[int, cst.CSTNode] = {}
        self.indexed: set[int] = set()
        self._all_indexed = False
        try:
            tree = parsed.parse(source)
        except SyntaxError:
            return
        self._pair(list(module.body), tree.body)

    def _pair(self, cst_body: Sequence[cst.BaseStatement], ast_body: Sequence[ast.stmt]) -> None:
        k = 0
        for stmt in cst_body:
            if k >= len(ast_body):
                return
            node = ast_body[k]
            self.stmt_line[id(stmt)] = node.lineno
            self.stmt_ast[id(stmt)] = node
            self.stmts[id(stmt)] = stmt
            k += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
            inner = getattr(stmt, "body", None)
            if isinstance(inner, cst.IndentedBlock) and hasattr(node, "body"):
                self._pair(inner.body, node.body)
            orelse = getattr(stmt, "orelse", None)
            if isinstance(stmt, cst.If) and isinstance(orelse, cst.Else) and isinstance(
                    node, ast.If) and isinstance(orelse.body, cst.IndentedBlock):
                self._pair(orelse.body.body, node.orelse)

    def line(self, node: cst.CSTNode) -> int:
        return self.stmt_line.get(id(node), 0) or self.call_line.get(id(node), 0)

    def deep_line(self, node: cst.CSTNode) -> int:
        """Like line(), for any call in the file (indexes every statement on first use)."""
        found = self.line(node)
        if found or self._all_indexed:
            return found
        self._all_indexed = True
        for stmt_id, stmt in list(self.stmts.items()):
            if stmt_id not in self.indexed:
                self.index_calls(stmt)
        return self.line(node)

    def index_calls(self, stmt: cst.CSTNode) -> None:
        """Lines of every call in ``stmt`` (done only for statements that hold layers)."""
        node = self.stmt_ast.get(id(stmt))
        if node is None or id(stmt) in self.indexed:
            return
        self.indexed.add(id(stmt))
        calls = [n for n in walk.nodes(stmt) if isinstance(n, cst.Call)]
        for c, a in zip(calls, _ast_calls(node), strict=False):
            self.call_line[id(c)] = a.lineno
