"""The bare names an expression reads (its own module: values.py and constant_bindings.py
both need it, and values.py imports constant_bindings)."""

from __future__ import annotations

import libcst as cst

from agent.rules import walk


def names_read(node: cst.CSTNode) -> list[cst.Name]:
    """The bare names an expression reads: attribute heads, not attribute names
    (``x.shape``: x), not keywords (``f(units=n)``: f, n)."""
    found: list[cst.Name] = []
    stack = [node]
    while stack:
        current = stack.pop()
        kind = type(current)  # libcst's node classes are final (and ABC checks are slow)
        if kind is cst.Name:
            found.append(current)  # type: ignore[arg-type]
        elif kind is cst.Attribute or kind is cst.Arg:
            stack.append(current.value)  # type: ignore[attr-defined]
        else:
            stack += walk.children(current)[::-1]
    return found
