"""Static shape arithmetic on dimensions that are ints, code expressions, or unknown.

A dimension is an ``int`` when known, a ``str`` holding a Python expression when it depends on
a constructor argument (``"hidden * 2"``), or ``None`` when it is unknown at conversion time
(a ``None`` in ``Input(shape=(None, 16))``). Expressions stay printable so the generated code
reads ``nn.Linear(hidden * 2, 10)`` rather than a Lazy module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from agent.rules.arith import operand
from agent.rules.values import Sym

Dim = int | str | None
Shape = tuple[Dim, ...]  # without the batch axis, in Keras order


def _wrap(d: str) -> str:
    return d if d.isidentifier() or d.lstrip("-").isdigit() else f"({d})"


def _left(d: Dim) -> str:
    return operand(str(d), "+")


def mul(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1:
        return b
    if b == 1:
        return a
    return f"{_wrap(str(a))} * {_wrap(str(b))}"


def add(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    if isinstance(b, int) and b < 0:
        return f"{_left(a)} - {-b}"
    return f"{_left(a)} + {_wrap(str(b))}"


def floordiv(a: Dim, b: int) -> Dim:
    if a is None:
        return None
    if isinstance(a, int):
        return a // b
    return a if b == 1 else f"{_wrap(a)} // {b}"


def ceildiv(a: Dim, b: int) -> Dim:
    if a is None:
        return None
    if isinstance(a, int):
        return -(-a // b)
    return a if b == 1 else f"-(-{_wrap(a)} // {b})"


class Product(int):
    """A size known as a product of sizes (a Flatten's): computes as its value, prints as the
    product, so the generated code reads ``nn.Linear(7 * 7 * 32, 64)``, not a magic 1568."""

    factors: tuple[int, ...]

    def __new__(cls, factors: Sequence[int]) -> Product:
        out = super().__new__(cls, math.prod(factors))
        out.factors = tuple(factors)
        return out

    def __str__(self) -> str:
        return " * ".join(str(f) for f in self.factors)

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else super().__format__(spec)


class Named(Sym):
    """A size computed from sizes that print as names (``UNITS``, a constructor argument's
    constant): computes as its value, prints as the expression, so a Concatenate of two
    ``UNITS``-wide tensors gives ``nn.Linear(UNITS + OTHER_UNITS, n)``, not a magic 200."""


def _is_named(d: Dim) -> bool:
    return isinstance(d, int) and str(d) != int.__repr__(d)


def total(a: Dim, b: Dim) -> Dim:
    """``add`` that keeps the names of named sizes (a concatenation's width)."""
    if isinstance(a, int) and isinstance(b, int) and (_is_named(a) or _is_named(b)):
        return Named(int(a) + int(b), f"{_left(a)} + {operand(str(b), '+', right=True)}")
    return add(a, b)


def times(a: Dim, k: int) -> Dim:
    """``mul`` by a literal factor that keeps the name of a named size (``UNITS * 2``)."""
    if isinstance(a, int) and _is_named(a) and k != 1:
        return Named(int(a) * k, f"{operand(str(a), '*')} * {k}")
    return mul(a, k)


def flat(dims: Sequence[Dim]) -> Dim:
    """The size of a flattened shape, a ``Product`` when it has several factors."""
    factors = [d for d in dims if d != 1]
    if len(factors) > 1 and all(isinstance(d, int) for d in factors):
        return Product([int(d) for d in factors if d is not None])
    return product(dims)


def product(dims: Sequence[Dim]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out


def conv_out(size: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """Keras output length of a convolution or pooling window along one axis."""
    if padding == "same":
        return ceildiv(size, stride)
    effective = dilation * (kernel - 1) + 1
    return add(floordiv(add(size, -effective), stride), 1)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's asymmetric "same" padding: the extra pixel goes after (bottom/right)."""
    effective = dilation * (kernel - 1) + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def known(dims: Sequence[Dim]) -> bool:
    return all(d is not None for d in dims)
