"""Static shapes of the arrays a script builds, for the input a model is fed (fed_inputs.py).

Only what is fully static: a ``keras.datasets`` loader's arrays, literals, array makers with
a literal shape (``np.zeros((1, 8))``, ``tf.random.normal([2, 4])``, ``keras.random.*``),
and what keeps or rewrites such a shape with literal sizes (slices of the first axis,
``astype``, arithmetic with scalars, ``reshape``, ``expand_dims``). Anything else is None:
a size is never guessed. Shapes are whole (the first axis is the batch, None when only the
data knows it); ``dtype`` is "long" for integer arrays (token ids, indices), else "float".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.values import code_of, evaluate

# maker -> how its shape is given: "shape" (first argument or shape=), "size" (size= only,
# NumPy's distributions), "dims" (one argument per axis: np.random.rand)
_MAKERS: dict[str, str] = {
    "numpy.zeros": "shape", "numpy.ones": "shape", "numpy.empty": "shape",
    "numpy.full": "shape", "numpy.random.random": "shape", "numpy.random.random_sample": "shape",
    "numpy.random.normal": "size", "numpy.random.uniform": "size",
    "numpy.random.randint": "size", "numpy.random.standard_normal": "shape",
    "numpy.random.rand": "dims", "numpy.random.randn": "dims",
    "tensorflow.zeros": "shape", "tensorflow.ones": "shape", "tensorflow.fill": "shape",
    "tensorflow.random.normal": "shape", "tensorflow.random.uniform": "shape",
    "keras.ops.zeros": "shape", "keras.ops.ones": "shape", "keras.ops.full": "shape",
    "keras.random.normal": "shape", "keras.random.uniform": "shape",
    "keras.random.randint": "shape",
}
_INTEGER_MAKERS = frozenset({"numpy.random.randint", "keras.random.randint"})
_WRAPPERS = frozenset({"numpy.array", "numpy.asarray", "tensorflow.constant",
                       "tensorflow.convert_to_tensor", "keras.ops.convert_to_tensor",
                       "keras.ops.array"})
_EXPAND = frozenset({"numpy.expand_dims", "tensorflow.expand_dims", "keras.ops.expand_dims"})
_RESHAPE = frozenset({"numpy.reshape", "tensorflow.reshape", "keras.ops.reshape"})
_CAST = frozenset({"tensorflow.cast", "keras.ops.cast"})
_SCALAR_OPS = (cst.Multiply, cst.Divide, cst.Add, cst.Subtract, cst.FloorDivide, cst.Power)


@dataclass(frozen=True)
class Arr:
    """An array of known shape: every axis but possibly the first (the batch) is an int."""

    shape: tuple[int | None, ...]
    dtype: str = "float"


def numpy_names(module: cst.Module) -> dict[str, str]:
    """Local names bound to NumPy by the module's imports (``np`` -> ``numpy``)."""
    out: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = code_of(alias.name)
                    if full == "numpy" or full.startswith("numpy."):
                        local = code_of(alias.asname.name) if alias.asname else full
                        out[local] = full
            elif isinstance(small, cst.ImportFrom) and small.module is not None \
                    and code_of(small.module).startswith("numpy") \
                    and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    name = code_of(alias.name)
                    local = code_of(alias.asname.name) if alias.asname else name
                    out[local] = f"{code_of(small.module)}.{name}"
    return out


def qualified(func: cst.BaseExpression, imports: ImportTable, numpy: dict[str, str]) -> str:
    """``np.zeros`` -> ``numpy.zeros``, ``tf.zeros`` -> ``tensorflow.zeros``; else ""."""
    q = imports.resolve(func)
    if q is not None:
        return q
    text = code_of(func)
    head, dot, rest = text.partition(".")
    return numpy[head] + dot + rest if head in numpy else ""


def _int_dtype(node: cst.BaseExpression) -> bool:
    text = code_of(node)
    return "int" in text and "uint" not in text


def _dims(node: cst.BaseExpression, env: dict[str, Any]) -> tuple[int | None, ...] | None:
    """A literal shape (tuple, list or one int); ``*t`` of a known tuple is spread; an
    unknown size only first (the batch)."""
    if isinstance(node, (cst.Tuple, cst.List)):
        out: list[int | None] = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                v = evaluate(el.value, env)
                if not (v.known and isinstance(v.value, (tuple, list))):
                    return None
                items = list(v.value)
            else:
                items = [evaluate(el.value, env).value]
            for item in items:
                if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
                    out.append(int(item))
                elif not out:
                    out.append(None)
                else:
                    return None
        return tuple(out)
    v = evaluate(node, env)
    if isinstance(v.value, int) and not isinstance(v.value, bool) and v.value >= 0:
        return (int(v.value),)
    return _dims_value(v.value)


def _dims_value(value: Any) -> tuple[int | None, ...] | None:
    if isinstance(value, (tuple, list)) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        return tuple(int(d) for d in value)
    return None


def literal_array(value: Any) -> Arr | None:
    """A nested list/tuple of numbers (``[1, 10, 100]``) as the array NumPy makes of it."""
    def shape(v: Any) -> tuple[int, ...] | None:
        if isinstance(v, (list, tuple)):
            if not v:
                return (0,)
            inner = [shape(e) for e in v]
            if any(s is None for s in inner) or len(set(inner)) != 1:
                return None
            return (len(v), *inner[0])  # type: ignore[misc]
        return () if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    dims = shape(value)
    if not dims:
        return None

    def leaves(v: Any) -> list[Any]:
        return [x for e in v for x in leaves(e)] if isinstance(v, (list, tuple)) else [v]

    ints = all(isinstance(x, int) for x in leaves(value))
    return Arr(dims, "long" if ints else "float")


def _kwarg(call: cst.Call, *names: str) -> cst.BaseExpression | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value in names:
            return a.value
    return None


def _positional(call: cst.Call, k: int) -> cst.BaseExpression | None:
    args = [a.value for a in call.args if a.keyword is None and not a.star]
    return args[k] if k < len(args) else None


def _made(call: cst.Call, q: str, env: dict[str, Any]) -> Arr | None:
    kind = _MAKERS[q]
    dtype = _kwarg(call, "dtype")
    long = q in _INTEGER_MAKERS or (dtype is not None and _int_dtype(dtype))
    if kind == "dims":
        if any(a.keyword is not None or a.star for a in call.args):
            return None
        dims = [evaluate(a.value, env).value for a in call.args]
        ok = all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
        return Arr(tuple(int(d) for d in dims), "float") if ok and dims else None
    node = (_kwarg(call, "size") or _positional(call, 2)) if kind == "size" else (
        _kwarg(call, "shape") or _positional(call, 0))
    shape = _dims(node, env) if node is not None else None
    return Arr(shape, "long" if long else "float") if shape else None


def reshape(arr: Arr, sizes: list[Any]) -> Arr | None:
    """``arr`` reshaped to ``sizes`` (ints, -1 once, or None first for a size read off the
    array itself: ``x.reshape(x.shape[0], ...)`` / ``len(x)`` keeps the batch)."""
    if not sizes or sizes.count(-1) > 1:
        return None
    sample = arr.shape[1:]
    per_sample = math.prod(d for d in sample if d is not None) \
        if all(d is not None for d in sample) else None
    if sizes[0] is None:  # the batch kept: the sample's sizes are rearranged
        rest = list(sizes[1:])
        known = math.prod(d for d in rest if d != -1)
        if per_sample is None or known == 0 or per_sample % known:
            return None
        if -1 in rest:
            rest = [per_sample // known if d == -1 else d for d in rest]
        elif known != per_sample:
            return None
        return Arr((arr.shape[0], *rest), arr.dtype)
    if sizes[0] == -1 and -1 not in sizes[1:]:  # x.reshape(-1, 28, 28, 1): the batch open
        return Arr((None, *sizes[1:]), arr.dtype)
    if -1 not in sizes:
        return Arr(tuple(sizes), arr.dtype)
    if any(d is None for d in arr.shape):
        return None
    total = math.prod(d for d in arr.shape if d is not None)
    known = math.prod(d for d in sizes if d != -1)
    if known == 0 or total % known:
        return None
    return Arr(tuple(total // known if d == -1 else d for d in sizes), arr.dtype)


class ArrayEval:
    """Shapes of array expressions, given the arrays the script has bound so far."""

    def __init__(self, imports: ImportTable, numpy: dict[str, str], env: dict[str, Any],
                 lookup: Callable[[str], Any]) -> None:
        self.imports = imports
        self.numpy = numpy
        self.env = env
        self.lookup = lookup  # a name -> its tracked value (an Arr, a pipeline, ...) or None

    def array(self, node: cst.BaseExpression | None) -> Arr | None:
        value = self.value(node)
        return value if isinstance(value, Arr) else None

    def value(self, node: cst.BaseExpression | None) -> Any:
        if node is None:
            return None
        if isinstance(node, cst.Name):
            return self.lookup(node.value)
        if isinstance(node, (cst.List, cst.Tuple)):
            v = evaluate(node, self.env)
            return literal_array(v.value) if v.known else None
        if isinstance(node, cst.Subscript):
            return self._subscript(node)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _SCALAR_OPS):
            return self._scalar_op(node)
        if isinstance(node, cst.Call):
            return self._call(node)
        return None

    def _scalar_op(self, node: cst.BinaryOperation) -> Arr | None:
        left, right = self.array(node.left), self.array(node.right)
        arr, other = (left, node.right) if left is not None else (right, node.left)
        if arr is None or (left is not None and right is not None):
            return None
        scalar = evaluate(other, self.env).value
        if not isinstance(scalar, (int, float)) or isinstance(scalar, bool):
            return None
        floats = isinstance(scalar, float) or isinstance(node.operator, cst.Divide)
        return Arr(arr.shape, "float" if floats else arr.dtype)

    def _subscript(self, node: cst.Subscript) -> Arr | None:
        arr = self.array(node.value)
        if arr is None or len(node.slice) != 1 or not arr.shape:
            return None
        index = node.slice[0].slice
        if isinstance(index, cst.Slice):  # x[:n], x[n:]: fewer samples, the same sample shape
            return Arr((None, *arr.shape[1:]), arr.dtype)
        if isinstance(index, cst.Index) and isinstance(evaluate(index.value, self.env).value,
                                                       int):
            return Arr(arr.shape[1:], arr.dtype)  # one sample
        return None

    def _call(self, call: cst.Call) -> Arr | None:
        func = call.func
        q = qualified(func, self.imports, self.numpy)
        if q in _MAKERS:
            return _made(call, q, self.env)
        if q in _WRAPPERS:
            inner = self.array(_positional(call, 0))
            dtype = _kwarg(call, "dtype")
            return inner if inner is None or dtype is None else Arr(
                inner.shape, "long" if _int_dtype(dtype) else "float")
        if q in _EXPAND:
            return self._expand(self.array(_positional(call, 0)),
                                _kwarg(call, "axis") or _positional(call, 1))
        if q in _RESHAPE:
            return self._reshape(self.array(_positional(call, 0)),
                                 _kwarg(call, "newshape", "shape") or _positional(call, 1))
        if q in _CAST:
            inner = self.array(_positional(call, 0))
            dtype = _kwarg(call, "dtype") or _positional(call, 1)
            return None if inner is None or dtype is None else Arr(
                inner.shape, "long" if _int_dtype(dtype) else "float")
        if isinstance(func, cst.Attribute) and not q:
            arr = self.array(func.value)
            if arr is None:
                return None
            method = func.attr.value
            if method == "astype" and call.args:
                return Arr(arr.shape, "long" if _int_dtype(call.args[0].value) else "float")
            if method == "copy" and not call.args:
                return arr
            if method == "reshape" and call.args:
                args = [a.value for a in call.args if a.keyword is None]
                node = args[0] if len(args) == 1 else cst.Tuple(
                    [cst.Element(a) for a in args])
                return self._reshape(arr, node)
        return None

    def _expand(self, arr: Arr | None, axis: cst.BaseExpression | None) -> Arr | None:
        k = evaluate(axis, self.env).value if axis is not None else None
        if arr is None or not isinstance(k, int) or isinstance(k, bool):
            return None
        rank = len(arr.shape) + 1
        if not -rank <= k < rank:
            return None
        k = k % rank
        if k == 0 and arr.shape and arr.shape[0] is None:
            return None  # the open batch axis would move
        return Arr((*arr.shape[:k], 1, *arr.shape[k:]), arr.dtype)

    def _reshape(self, arr: Arr | None, node: cst.BaseExpression | None) -> Arr | None:
        if arr is None or not isinstance(node, (cst.Tuple, cst.List)) or not node.elements:
            return None
        sizes: list[Any] = []
        for k, el in enumerate(node.elements):
            if isinstance(el, cst.StarredElement):
                return None
            v = evaluate(el.value, self.env).value
            if isinstance(v, int) and not isinstance(v, bool) and v >= -1:
                sizes.append(int(v))
            elif k == 0 and self._own_length(el.value, node):
                sizes.append(None)
            else:
                return None
        return reshape(arr, sizes)

    def _own_length(self, node: cst.BaseExpression, _where: cst.BaseExpression) -> bool:
        """``x.shape[0]`` or ``len(x)`` of a tracked array: the batch, kept as it is."""
        if isinstance(node, cst.Call) and code_of(node.func) == "len" and len(node.args) == 1:
            return self.array(node.args[0].value) is not None
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) \
                and node.value.attr.value == "shape" and len(node.slice) == 1:
            index = node.slice[0].slice
            return isinstance(index, cst.Index) and code_of(index.value) == "0" \
                and self.array(node.value.value) is not None
        return False
