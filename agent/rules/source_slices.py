"""A module's code without generating the top-level statements the rules left alone.

libcst writes a parsed module back byte for byte, each top-level statement as its leading
blank/comment lines and its own text; a statement still the parsed object (the rules
rebuild what they change) is written as the same slice of the source. Generating the code
of a whole module costs about half a parse; most statements of a file are plain code the
rules never touch. Slices come from ``ast`` line numbers and are checked against the
leading lines libcst holds; anything that does not line up is generated as before.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

import libcst as cst

_LINE_END = re.compile(r"\r\n|\r|\n")  # the tokenizer's line ends, as ast counts lines
_NOT_CODE = ("", " ", "\t", "\f", "#", "\r", "\n", "\ufeff")  # a top-level statement's first line


class SourceSlices:
    """The source text of each top-level statement of ``module`` parsed from ``source``
    (``stmt_ast``: id of a statement -> its ast node, for its first line)."""

    def __init__(self, module: cst.Module, source: str,
                 stmt_ast: Mapping[int, ast.stmt]) -> None:
        self.module = module
        self.slices: dict[int, str] = {}
        self.header = self.footer = ""
        if source.startswith("\ufeff"):  # libcst writes the module without its BOM
            return
        starts = [0] + [m.end() for m in _LINE_END.finditer(source)]  # offset of each line
        if starts[-1] == len(source):
            starts.pop()  # no line after a final line end
        lines = [source[a:b] for a, b in zip(starts, [*starts[1:], len(source)], strict=True)]
        first: list[int] = []  # per statement: index of its first line (leading lines included)
        for stmt in module.body:
            node = stmt_ast.get(id(stmt))
            line = _first_line(stmt, node, lines, module)
            if line is None:
                return
            first.append(line)
        tail = len(lines) - len(module.footer)
        if not module.body or not module.has_trailing_newline or first != sorted(first) \
                or len(module.header) != first[0] or first[-1] > tail \
                or not _same(module.footer, lines[tail:], module) \
                or not _same(module.header, lines[:first[0]], module):
            return
        bounds = [*first, tail]
        offset = [*starts, len(source)]
        self.header = source[:offset[first[0]]]
        self.footer = source[offset[tail]:]
        for k, stmt in enumerate(module.body):
            self.slices[id(stmt)] = source[offset[bounds[k]]:offset[bounds[k + 1]]]

    def code(self, module: cst.Module) -> str:
        """``module.code``, taking the statements of the parsed module from the source."""
        own = self.module
        if not self.slices or module.header is not own.header \
                or module.footer is not own.footer \
                or module.default_indent != own.default_indent \
                or module.default_newline != own.default_newline \
                or not module.has_trailing_newline or not module.body:
            return module.code
        parts = [self.header]
        for stmt in module.body:
            text = self.slices.get(id(stmt))
            parts.append(text if text is not None else module.code_for_node(stmt))
        parts.append(self.footer)
        return "".join(parts)


def _first_line(stmt: cst.BaseStatement, node: ast.stmt | None, lines: list[str],
                module: cst.Module) -> int | None:
    """Index of the first line of ``stmt``'s code (its leading lines), when they match."""
    if node is None:
        return None
    leading = list(getattr(stmt, "leading_lines", ()))
    decorators = getattr(stmt, "decorators", ())
    if decorators:
        leading += decorators[0].leading_lines
        listed = getattr(node, "decorator_list", None)
        own = min(d.lineno for d in listed) - 1 if listed else -1
        if not 0 <= own < len(lines) or not lines[own].startswith("@"):
            return None
    else:
        own = node.lineno - 1
    start = own - len(leading)
    if start < 0 or own >= len(lines) or lines[own][:1] in _NOT_CODE \
            or not _same(leading, lines[start:own], module):
        return None
    return start


def _same(empties: Sequence[cst.EmptyLine], lines: list[str], module: cst.Module) -> bool:
    """Whether these blank/comment lines (top level: no indent) are ``lines``."""
    if len(empties) != len(lines):
        return False
    for line, text in zip(empties, lines, strict=True):
        expected = line.whitespace.value + (line.comment.value if line.comment else "") + (
            line.newline.value if line.newline.value is not None else module.default_newline)
        if expected != text:
            return False
    return True
