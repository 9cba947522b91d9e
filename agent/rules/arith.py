"""Arithmetic on code strings that stays right for every value: parentheses by precedence.

The rules splice argument code into generated expressions (``param[{units}:2 * {units}]``);
pasted as text, ``units // 2`` becomes ``2 * units // 2``, which is ``units`` for even sizes
and off by one for odd ones. Every operand goes through :func:`operand` first.
"""

from __future__ import annotations

import ast

# Python's binding strength of binary operators (higher binds tighter).
_BINARY: dict[type[ast.operator], int] = {
    ast.BitOr: 1, ast.BitXor: 2, ast.BitAnd: 3, ast.LShift: 4, ast.RShift: 4,
    ast.Add: 5, ast.Sub: 5, ast.Mult: 6, ast.Div: 6, ast.FloorDiv: 6, ast.Mod: 6,
    ast.MatMult: 6, ast.Pow: 8,
}
_SYMBOLS: dict[str, int] = {"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6,
                            "/": 6, "//": 6, "%": 6, "@": 6, "**": 8}
_UNARY = 7  # -x, +x, ~x
_ATOM = 9  # names, numbers, calls, subscripts, attributes, parenthesised or displayed forms


def _strength(code: str) -> int:
    """How tightly the top of ``code`` binds; 0 for anything below ``|`` (or unparsable)."""
    try:
        node = ast.parse(code.strip(), mode="eval").body
    except SyntaxError:
        return 0
    stripped = code.strip()
    if stripped.startswith("(") and stripped.endswith(")") and _balanced(stripped[1:-1]):
        return _ATOM
    if isinstance(node, ast.BinOp):
        return _BINARY.get(type(node.op), 0)
    if isinstance(node, ast.UnaryOp):
        return 0 if isinstance(node.op, ast.Not) else _UNARY
    if isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Subscript, ast.Attribute,
                         ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp)):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and stripped.startswith("-"):
            return _UNARY
        return _ATOM
    return 0


def _balanced(inner: str) -> bool:
    """``(a) + (b)`` starts and ends with parentheses that do not pair with each other."""
    depth = 0
    for ch in inner:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def operand(code: str, symbol: str, *, right: bool = False) -> str:
    """``code`` as the left (or ``right``) operand of binary ``symbol``, parenthesised only
    where precedence (or associativity: ``a - (b - c)``, ``a // (b * c)``) needs it."""
    outer = _SYMBOLS[symbol]
    inner = _strength(code)
    if symbol == "**":
        # right-associative, and -x ** 2 is -(x ** 2): a left operand must be an atom
        keep = inner >= (_UNARY if right else _ATOM)
    else:
        keep = inner > outer or (inner == outer and not right)
    return code if keep else f"({code})"


def binop(left: int | str, symbol: str, right: int | str) -> str:
    """``left symbol right`` as code, correct for every value of either side."""
    return f"{operand(str(left), symbol)} {symbol} {operand(str(right), symbol, right=True)}"
