"""Output shapes of tf / keras.ops calls between layers, for the layers after them.

``tf.reduce_mean(x, axis=-1)`` then ``Concatenate()``: the concatenation needs the rank the
reduction left. Only ranks and sizes that follow from literal arguments are given; anything
else is None (rank unknown: later layers fall back to their lazy forms or stay as written).
Axes count the batch axis, as in TF; shapes here do not (Keras order, no batch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from agent.rules.models.shapes import Shape
from agent.rules.values import evaluate

ShapeRule = Callable[[Sequence[Shape | None]], Shape | None]

_REDUCTIONS = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod",
               "reduce_any", "reduce_all", "reduce_logsumexp", "sum", "mean", "max", "min",
               "prod", "any", "all", "logsumexp"}
_FRAMEWORK = ("tensorflow.", "tensorflow.math.", "keras.ops.", "keras.backend.")


def shape_rule(qual: str | None, call: cst.BaseExpression, env: dict[str, Any]
               ) -> ShapeRule | None:
    """How the call ``qual(...)`` maps input shapes to its output shape, when its arguments
    say so statically; None otherwise."""
    if qual is None or not isinstance(call, cst.Call):
        return None
    module, _, name = qual.rpartition(".")
    if f"{module}." not in _FRAMEWORK:
        return None
    args = [evaluate(a.value, env).value for a in call.args if a.keyword is None]
    kwargs = {a.keyword.value: evaluate(a.value, env).value
              for a in call.args if a.keyword is not None}

    def arg(k: int, *names: str, default: Any = None) -> Any:
        for n in names:
            if n in kwargs:
                return kwargs[n]
        return args[k] if len(args) > k else default

    if name == "norm":  # tf.norm(tensor, ord, axis, keepdims): a reduction over axis
        return _reduction(arg(2, "axis"), bool(arg(3, "keepdims", "keep_dims", default=False)))
    if name in _REDUCTIONS:
        return _reduction(arg(1, "axis"), arg(2, "keepdims", "keep_dims", default=False))
    if name == "expand_dims":
        return _expand(arg(1, "axis"))
    if name == "squeeze":
        return _squeeze(arg(1, "axis"))
    if name in ("concat", "concatenate"):
        return _concat(arg(1, "axis", default=-1 if name == "concatenate" else None))
    if name == "reshape":
        return _reshape(arg(1, "shape", "newshape"))
    if name == "tile":
        return _tile(call, env)
    if name == "transpose":
        return _transpose(arg(1, "perm", "axes"))
    return None


def _transpose(perm: Any) -> ShapeRule | None:
    """``tf.transpose(x, (0, 1, 3, 2))``: a literal permutation that keeps the batch first."""
    if not isinstance(perm, (tuple, list)) or not perm or perm[0] != 0 or sorted(
            perm) != list(range(len(perm))) or any(type(p) is not int for p in perm):
        return None

    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None or len(shape) + 1 != len(perm):
            return None
        return tuple(shape[p - 1] for p in perm[1:])
    return rule


def _axis(axis: Any, rank: int) -> int | None:
    """A TF axis (batch counted) as an index into a batch-less shape of ``rank``."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        return None
    k = axis + rank + 1 if axis < 0 else axis
    return k - 1 if 1 <= k <= rank else None


def _reduction(axis: Any, keepdims: Any) -> ShapeRule | None:
    if not isinstance(keepdims, bool):
        return None
    axes = list(axis) if isinstance(axis, (tuple, list)) else [axis]

    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None or axis is None:
            return None  # over every axis (batch too): a scalar
        idx = [_axis(a, len(shape)) for a in axes]
        if any(k is None for k in idx):
            return None
        if keepdims:
            return tuple(1 if k in idx else d for k, d in enumerate(shape))
        return tuple(d for k, d in enumerate(shape) if k not in idx)
    return rule


def _expand(axis: Any) -> ShapeRule:
    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None:
            return None
        k = _axis(axis, len(shape) + 1)
        return None if k is None else (*shape[:k], 1, *shape[k:])
    return rule


def _squeeze(axis: Any) -> ShapeRule:
    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None:
            return None
        k = _axis(axis, len(shape))
        return None if k is None or shape[k] not in (1, None) else (*shape[:k], *shape[k + 1:])
    return rule


def _concat(axis: Any) -> ShapeRule:
    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        if not shapes or any(s is None for s in shapes):
            return None
        ranks = {len(s) for s in shapes if s is not None}
        first = shapes[0]
        if len(ranks) != 1 or first is None:
            return None
        k = _axis(axis, len(first))
        if k is None:
            return None
        sizes = [s[k] for s in shapes if s is not None]
        ints = [d for d in sizes if isinstance(d, int)]
        total = sum(ints) if len(ints) == len(sizes) else None
        return (*first[:k], total, *first[k + 1:])
    return rule


def _reshape(shape: Any) -> ShapeRule | None:
    if not isinstance(shape, (tuple, list)) or not shape or shape[0] not in (-1, None) \
            or not all(isinstance(d, int) for d in shape[1:]):
        return None
    out = tuple(None if d == -1 else d for d in shape[1:])
    return lambda shapes: out


def _tile(call: cst.Call, env: dict[str, Any]) -> ShapeRule | None:
    """``tf.tile(x, [1, n, 1])``: the rank kept, each size times its literal multiple (the
    rank follows from the list's length even where a multiple is unknown)."""
    node = next((a.value for a in call.args if a.keyword is not None
                 and a.keyword.value in ("multiples", "repeats")), None)
    positional = [a.value for a in call.args if a.keyword is None]
    if node is None and len(positional) > 1:
        node = positional[1]
    if not isinstance(node, (cst.List, cst.Tuple)) or any(
            isinstance(el, cst.StarredElement) for el in node.elements):
        return None
    multiples = [evaluate(el.value, env).value for el in node.elements]

    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None or len(multiples) != len(shape) + 1:
            return None
        return tuple(d * m if isinstance(d, int) and isinstance(m, int)
                     and not isinstance(m, bool) else None
                     for d, m in zip(shape, multiples[1:], strict=True))
    return rule
