"""The array shapes ``keras.datasets`` loaders return, for sizes scripts read off them.

``(x_train, y_train), (x_test, y_test) = mnist.load_data()`` then
``image_size = x_train.shape[1]``: the loaders' shapes are fixed by the published data, so
the size is known without running the script, and a model built from ``image_size`` gets
real layer sizes. Only calls without arguments that change what is loaded (``path=`` only)
are read; the arrays' values are never needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules.imports import ImportTable

# loader -> shapes of ((x_train, y_train), (x_test, y_test)), as Keras publishes them
LOADERS: dict[str, tuple[tuple[int, ...], ...]] = {
    "keras.datasets.mnist.load_data": ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,)),
    "keras.datasets.fashion_mnist.load_data": ((60000, 28, 28), (60000,), (10000, 28, 28),
                                               (10000,)),
    "keras.datasets.cifar10.load_data": ((50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3),
                                         (10000, 1)),
    "keras.datasets.cifar100.load_data": ((50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3),
                                          (10000, 1)),
}
_SAME_DATA = frozenset({"path", "label_mode"})  # arguments that keep the shapes


@dataclass(frozen=True)
class Array:
    """A loaded array of which only the shape is known (``x.shape`` reads it)."""

    shape: tuple[int, ...]


def loaded_arrays(target: cst.BaseExpression, value: cst.BaseExpression,
                  imports: ImportTable) -> dict[str, Array]:
    """``(a, b), (c, d) = <loader>()`` -> the names bound to arrays of known shape."""
    if not isinstance(value, cst.Call) or any(
            a.keyword is None or a.keyword.value not in _SAME_DATA for a in value.args):
        return {}
    shapes = LOADERS.get(imports.resolve(value.func) or "")
    if shapes is None or not isinstance(target, (cst.Tuple, cst.List)) \
            or len(target.elements) != 2:
        return {}
    out: dict[str, Array] = {}
    for k, pair in enumerate(target.elements):
        if not isinstance(pair.value, (cst.Tuple, cst.List)) or len(pair.value.elements) != 2:
            return {}
        for j, el in enumerate(pair.value.elements):
            if isinstance(el.value, cst.Name) and el.value.value != "_":
                out[el.value.value] = Array(shapes[2 * k + j])
    return out


_SAME_SHAPE_METHODS = frozenset({"astype", "copy"})
_SCALAR_OPS = (cst.Multiply, cst.Divide, cst.Add, cst.Subtract, cst.FloorDivide)


def rebound_array(name: str, array: Array, value: cst.BaseExpression,
                  size: Callable[[cst.BaseExpression], Any]) -> Array | None:
    """The loaded array ``name = value`` makes from ``array`` (``name`` itself) when its shape
    is certain: ``x.astype(t)``, ``x / 255`` and other arithmetic with a number, and
    ``x.reshape(...)`` with ``size``-known ints (one ``-1`` inferred, ``x.shape[0]`` read);
    None for anything else."""
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, _SCALAR_OPS):
        left, right = value.left, value.right
        mine = (isinstance(left, cst.Name) and left.value == name
                and isinstance(right, (cst.Integer, cst.Float)))
        return array if mine else None
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and isinstance(value.func.value, cst.Name) and value.func.value.value == name):
        return None
    method = value.func.attr.value
    if method in _SAME_SHAPE_METHODS:
        return array
    if method != "reshape" or any(a.keyword is not None or a.star for a in value.args):
        return None
    args = [a.value for a in value.args]
    if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
        args = [e.value for e in args[0].elements]
    dims = [size(a) for a in args]
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims) or (
            sum(d == -1 for d in dims) > 1 or any(d < -1 or d == 0 for d in dims)):
        return None
    total = math.prod(array.shape)
    known = math.prod(d for d in dims if d != -1)
    if total % known:
        return None
    shape = tuple(total // known if d == -1 else d for d in dims)
    return Array(shape) if math.prod(shape) == total else None
