"""A notebook's code cells as one Python program, and the way back to cells.

A model defined in one cell and trained in another is one conversion, so the rules see the
code cells joined in order. Each cell starts with a marker comment; IPython-only lines
(magics, shell escapes, ``x = !cmd``, help ``?``) become a ``pass`` statement carrying an
index, so the rules never parse them, and are restored byte for byte afterwards. Cells that
are IPython all through (a ``%%`` cell magic) are left out of the program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = "\"k2l-notebook-cell {}\""
_MARKER_RE = re.compile(r"^\"k2l-notebook-cell (\d+)\"$")
_PLACEHOLDER = "pass  # k2l-notebook-ipython {}"
_PLACEHOLDER_RE = re.compile(r"^(\s*)pass  # k2l-notebook-ipython (\d+)$")
# IPython syntax that is not Python: line magics, shell escapes, their assignment forms,
# and help requests (``obj?``, ``?obj``).
_IPYTHON = re.compile(r"^\s*(?:[%!?]|[\w.]+\s*=\s*[%!]|.*\?\s*$)")


@dataclass(frozen=True)
class Program:
    """The joined source plus what is needed to split a converted version back."""

    source: str
    cells: tuple[int, ...]  # indices (in the notebook) of the code cells in the program
    ipython: tuple[str, ...]  # original IPython-only lines, by placeholder index


class CellsLost(Exception):
    """The converted program no longer has one marker per cell, in order."""


def is_cell_magic(source: str) -> bool:
    return source.lstrip().startswith("%%")


def build(cell_sources: list[tuple[int, str]]) -> Program:
    """``cell_sources`` are ``(notebook index, source)`` of the code cells, in order."""
    lines: list[str] = []
    ipython: list[str] = []
    cells: list[int] = []
    for index, source in cell_sources:
        if is_cell_magic(source):
            continue
        cells.append(index)
        lines.append(_MARKER.format(index))
        continuing = False
        for line in source.split("\n"):
            if continuing or _IPYTHON.match(line):
                indent = line[: len(line) - len(line.lstrip())] if not continuing else ""
                if continuing:
                    ipython[-1] += "\n" + line
                    lines.append("")  # keep the line count: one program line per cell line
                else:
                    ipython.append(line)
                    lines.append(indent + _PLACEHOLDER.format(len(ipython) - 1))
                continuing = line.rstrip().endswith("\\")
            else:
                lines.append(line)
    return Program("\n".join(lines) + "\n", tuple(cells), tuple(ipython))


def split(program: Program, converted: str) -> dict[int, str]:
    """Converted program → ``{notebook cell index: new source}``, IPython lines restored."""
    chunks: dict[int, list[str]] = {}
    current: list[str] | None = None
    head: list[str] = []  # code the rules put before the first marker (added imports)
    order: list[int] = []
    for line in converted.split("\n"):
        m = _MARKER_RE.match(line)
        if m:
            index = int(m.group(1))
            if index in chunks:
                raise CellsLost(f"cell {index} appears twice")
            chunks[index] = current = []
            order.append(index)
            continue
        p = _PLACEHOLDER_RE.match(line)
        if p:
            line = program.ipython[int(p.group(2))]
        (current if current is not None else head).append(line)
    if tuple(order) != program.cells:
        raise CellsLost(f"cell markers {order} do not match cells {list(program.cells)}")
    out: dict[int, str] = {}
    for k, index in enumerate(order):
        body = chunks[index]
        if k == 0 and any(h.strip() for h in head):
            body = head + body
        out[index] = "\n".join(_drop_continuation_padding(body)).strip("\n")
    return out


def _drop_continuation_padding(lines: list[str]) -> list[str]:
    """Remove the blank lines ``build`` added after a multi-line IPython line."""
    result: list[str] = []
    skip = 0
    for line in lines:
        if skip and line == "":
            skip -= 1
            continue
        skip = 0
        result.append(line)
        skip = line.count("\n")
    return result


def locate(source: str, line: int) -> tuple[int, int] | None:
    """Line of a program (original or converted: both carry the cell markers) → (notebook
    cell index, 1-based line in that cell); None above the first marker."""
    where: tuple[int, int] | None = None
    for number, text in enumerate(source.split("\n")[:line], start=1):
        m = _MARKER_RE.match(text)
        if m:
            where = (int(m.group(1)), number)
    if where is None:
        return None
    cell, marker = where
    return cell, max(line - marker, 1)
