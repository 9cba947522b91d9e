"""A conversion run on a source rewritten first (strategies removed, adapt() statistics
computed), its records and docstring lines mapped back to the lines the user wrote; the
rewritten text kept only when no Keras model is left after converting it."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

import libcst as cst

from agent.records import Change, Unmapped, Warning_
from agent.rules.imports import ImportTable, collect_imports
from agent.rules.training.utilities import keras_models_left


class Converted(Protocol):
    source: str
    changes: list[Change]
    warnings: list[Warning_]
    unmapped: list[Unmapped]


R = TypeVar("R", bound=Converted)
# the line a generated class's docstring names
_DOC_LINE = re.compile(r'("""Converted by k2l-agent from [^\n]*?)\(line (\d+)\)')


@dataclass
class Rewritten:
    """A pre-rewrite's text and its own records, in the source's lines."""

    code: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    moved: dict[str, list[int]] = field(default_factory=dict)  # a moved statement's first
    # line (stripped, as rewritten) -> its lines in the source, in order


def with_rewrite(source: str, path: str, convert: Callable[[str, str], R],
                 rewrite: Callable[[str, ImportTable], Rewritten]) -> R:
    """``convert`` run on ``rewrite(source)``, records in the source's lines; ``convert(source)``
    as it is when the rewrite changes nothing or a Keras model is left anyway (the rewrite
    served only a conversion that did not happen)."""
    try:
        imports = collect_imports(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return convert(source, path)
    done = rewrite(source, imports)
    if not done.changes:
        return convert(source, path)
    out = convert(done.code, path)
    try:
        left = keras_models_left(ast.parse(out.source), imports)
    except SyntaxError:
        left = True
    if left:
        return convert(source, path)
    lines = line_map(done.code, source)
    moved = {text: sorted(at) for text, at in done.moved.items()}
    for n, text in enumerate(done.code.splitlines(), 1):
        if moved.get(text.strip()):  # the same text moved twice: in order, as in the source
            lines[n] = moved[text.strip()].pop(0)
    return in_source_lines(out, lines, done.changes, done.warnings)


def line_map(new: str, old: str) -> dict[int, int]:
    """Lines of ``new`` → lines of ``old`` (a rewrite that deletes, dedents or moves lines)."""
    matcher = difflib.SequenceMatcher(None, [t.strip() for t in new.splitlines()],
                                      [t.strip() for t in old.splitlines()], autojunk=False)
    out: dict[int, int] = {}
    for a, b, size in matcher.get_matching_blocks():
        out.update({a + k + 1: b + k + 1 for k in range(size)})
    return out


def in_source_lines(out: R, lines: Mapping[int, int],
                    changes: Sequence[tuple[int, str, str]],
                    warnings: Sequence[tuple[int, str]] = ()) -> R:
    """``out`` (converted from the rewritten text) with every line number the user's, plus
    the rewrite's own ``changes``/``warnings`` (already in the user's lines)."""
    out.source = _DOC_LINE.sub(
        lambda m: f"{m.group(1)}(line {lines.get(int(m.group(2)), m.group(2))})", out.source)
    out.changes = sorted([replace(c, line=lines.get(c.line, c.line)) for c in out.changes]
                         + [Change(line, rule, msg) for line, rule, msg in changes],
                         key=lambda c: c.line)
    out.warnings = [replace(w, line=lines.get(w.line, w.line)) for w in out.warnings] \
        + [Warning_(line, msg) for line, msg in warnings]
    out.unmapped = sorted([replace(u, line=lines.get(u.line, u.line)) for u in out.unmapped],
                          key=lambda u: u.line)
    return out
