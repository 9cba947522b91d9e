"""Expressions that are Python strings by their form: torch has no string tensors.

``tf.constant("[start] " + text)`` makes a TF string tensor; in converted code strings stay
NumPy string arrays (what the runtime's text layers and ``tf.strings`` rows take), so the
op rows must know, without running anything, that a value is a string.
"""

from __future__ import annotations

import libcst as cst

_STRING_METHODS = ("join", "format", "lower", "upper", "strip", "replace")


def is_string(node: cst.BaseExpression | None) -> bool:
    """A string literal, an f-string, a ``+`` with a string operand, ``str(...)``, a string
    method's result, or a list/tuple whose elements all are."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return not (isinstance(node, cst.SimpleString) and "b" in node.prefix.lower())
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return is_string(node.left) or is_string(node.right)
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Name):
            return func.value == "str"
        return isinstance(func, cst.Attribute) and func.attr.value in _STRING_METHODS \
            and is_string(func.value)
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        return all(isinstance(e, cst.Element) and is_string(e.value) for e in node.elements)
    return False
