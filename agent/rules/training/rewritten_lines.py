"""A conversion run on a source rewritten first (strategies removed, adapt() statistics
computed), its records and docstring lines mapped back to the lines the user wrote."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from agent.records import Change, Unmapped, Warning_


class Converted(Protocol):
    source: str
    changes: list[Change]
    warnings: list[Warning_]
    unmapped: list[Unmapped]


R = TypeVar("R", bound=Converted)
# the line a generated class's docstring names
_DOC_LINE = re.compile(r'("""Converted by k2l-agent from [^\n]*?)\(line (\d+)\)')


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
