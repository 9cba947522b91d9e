"""``from six.moves import range``: Python 2 shims that came with Keras 2, as Python 3 names.

Keras 2 depended on ``six``, so its scripts import ``six.moves`` names freely; once Keras is
gone, nothing installs ``six`` and the converted script fails at its first import. On Python 3
(the only Python torch runs on) each ``six.moves`` name below *is* the builtin or standard
library object written on its right, so the rewrite changes nothing the script computes. Only
``from six.moves import ...`` statements whose every name is in the table are rewritten;
anything else (``import six``, ``six.iteritems``) is left as written.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

# six.moves name -> (module to import it from, or None for a builtin; its Python 3 name)
MOVES: dict[str, tuple[str | None, str]] = {
    "range": (None, "range"), "xrange": (None, "range"), "zip": (None, "zip"),
    "map": (None, "map"), "filter": (None, "filter"), "input": (None, "input"),
    "reduce": ("functools", "reduce"), "cPickle": (None, "pickle"),
    "zip_longest": ("itertools", "zip_longest"), "StringIO": ("io", "StringIO"),
    "urllib": (None, "urllib"), "queue": (None, "queue"), "configparser": (None, "configparser"),
}
_MODULES = frozenset({"pickle", "urllib", "queue", "configparser"})  # six.moves modules


@dataclass
class Moved:
    code: str
    lines: list[tuple[int, str]]  # (line, what the import became)


def _replacement(node: cst.ImportFrom) -> list[str] | None:
    """The Python 3 statements for one ``from six.moves import ...``; None to leave it."""
    if isinstance(node.names, cst.ImportStar) or node.relative:
        return None
    out: list[str] = []
    for alias in node.names:
        if not isinstance(alias.name, cst.Name) or alias.name.value not in MOVES:
            return None
        name = alias.name.value
        bound = alias.asname.name.value if alias.asname is not None and isinstance(
            alias.asname.name, cst.Name) else name
        module, target = MOVES[name]
        if module is not None:
            out.append(f"from {module} import {target}" + (f" as {bound}" if bound != target
                                                           else ""))
        elif target in _MODULES:
            out.append(f"import {target}" + (f" as {bound}" if bound != target else ""))
        elif bound != target:
            out.append(f"{bound} = {target}")  # xrange -> range; a builtin needs no import
    return out


def _is_six_moves(node: cst.ImportFrom) -> bool:
    mod = node.module
    return (isinstance(mod, cst.Attribute) and isinstance(mod.value, cst.Name)
            and mod.value.value == "six" and mod.attr.value == "moves")


class _Rewrite(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine
                                  ) -> (cst.SimpleStatementLine | cst.RemovalSentinel
                                        | cst.FlattenSentinel[cst.BaseStatement]):
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.ImportFrom):
            return updated_node
        node = updated_node.body[0]
        if not _is_six_moves(node):
            return updated_node
        new = _replacement(node)
        if new is None:
            return updated_node
        line = self.get_metadata(PositionProvider, original_node).start.line
        self.lines.append((line, "; ".join(new) or "Python 3 builtins"))
        if not new:
            return cst.RemoveFromParent()
        first, *rest = [cst.parse_statement(code) for code in new]
        assert isinstance(first, cst.SimpleStatementLine)
        return cst.FlattenSentinel([first.with_changes(leading_lines=updated_node.leading_lines),
                                    *rest])


def without_six_moves(code: str) -> Moved:
    """``code`` with its ``from six.moves import ...`` statements in Python 3 spelling."""
    if "six.moves" not in code:
        return Moved(code, [])
    try:
        wrapper = MetadataWrapper(cst.parse_module(code))
    except cst.ParserSyntaxError:
        return Moved(code, [])
    rewrite = _Rewrite()
    module = wrapper.visit(rewrite)
    return Moved(module.code, rewrite.lines)
