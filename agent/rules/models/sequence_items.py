"""The batch a ``keras.utils.Sequence`` subclass yields, read from its methods statically.

``model.fit(DataGenerator(dim=(H, W)))`` feeds the model what ``__getitem__`` returns; when
that array is made from constants (``np.empty((self.batch_size, *self.dim, self.n_channels))``
with ``self.dim`` a constructor argument of the call or its default), its shape is the
model's input. ``__getitem__`` and the methods it calls on ``self`` are read statement by
statement; an attribute any method but ``__init__`` rebinds, a name a loop or branch binds,
or a return inside a loop or branch leaves the value unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.models.array_shapes import Arr, ArrayEval
from agent.rules.values import UNKNOWN, evaluate

_BASES = frozenset({"keras.utils.Sequence", "keras.utils.PyDataset"})
_DEPTH = 4  # methods calling methods


def sequence_classes(module: cst.Module, imports: ImportTable) -> dict[str, cst.ClassDef]:
    """Top-level ``class X(keras.utils.Sequence)`` (or ``PyDataset``) by name."""
    return {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)
            and any(imports.resolve(b.value) in _BASES for b in s.bases)}


def _methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


def _params(fn: cst.FunctionDef) -> list[cst.Param]:
    return list(fn.params.params)[1:]  # without self


def _self_attr(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) \
            and node.value.value == "self":
        return f"self.{node.attr.value}"
    return None


def _targets(node: cst.CSTNode) -> tuple[set[str], set[str], bool]:
    """(names, self attributes) bound anywhere under ``node``, and whether it returns."""
    names: set[str] = set()
    attrs: set[str] = set()
    returns = False
    stack: list[cst.CSTNode] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Return):
            returns = True
        targets: list[cst.BaseExpression] = []
        if isinstance(cur, cst.Assign):
            targets = [t.target for t in cur.targets]
        elif isinstance(cur, (cst.AugAssign, cst.AnnAssign)):
            targets = [cur.target]
        elif isinstance(cur, (cst.For, cst.CompFor)):
            targets = [cur.target]
        elif isinstance(cur, cst.AsName):
            targets = [cur.name]
        while targets:
            t = targets.pop()
            if isinstance(t, cst.Name):
                names.add(t.value)
            elif isinstance(t, (cst.Tuple, cst.List)):
                targets += [e.value for e in t.elements]
            elif (attr := _self_attr(t)) is not None:
                attrs.add(attr)
        stack += list(cur.children)
    return names, attrs, returns


class SequenceReader:
    """What ``Cls(args)[k]`` returns, for one Sequence class and one construction."""

    def __init__(self, cls: cst.ClassDef, imports: ImportTable, numpy: dict[str, str],
                 env: dict[str, Any]) -> None:
        self.methods = _methods(cls)
        self.imports = imports
        self.numpy = numpy
        self.env = env
        self.rebound: set[str] = set()  # attributes a method other than __init__ binds
        for name, fn in self.methods.items():
            if name != "__init__":
                self.rebound |= _targets(fn)[1]

    def batch(self, call: cst.Call, value_of: Callable[[cst.BaseExpression], Any]
              ) -> Arr | None:
        """The first array ``__getitem__`` returns for the instance ``call`` makes
        (``value_of``: an argument's value in the calling scope)."""
        init = self.methods.get("__init__")
        if init is None or "__getitem__" not in self.methods:
            return None
        bound = self._bind(init, call, value_of)
        if bound is None:
            return None
        attrs = self._run(init, bound, {}, _DEPTH, attrs_out=True)
        if not isinstance(attrs, dict):
            return None
        attrs = {k: v for k, v in attrs.items() if k not in self.rebound}
        item = self._run(self.methods["__getitem__"], {}, attrs, _DEPTH)
        first = item[0] if isinstance(item, tuple) and item else item
        return first if isinstance(first, Arr) else None

    def _bind(self, fn: cst.FunctionDef, call: cst.Call,
              value_of: Callable[[cst.BaseExpression], Any]) -> dict[str, Any] | None:
        params = _params(fn)
        values: dict[str, Any] = {}
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in call.args) or len(positional) > len(params):
            return None
        for p, a in zip(params, positional, strict=False):
            values[p.name.value] = value_of(a.value)
        for a in call.args:
            if a.keyword is not None:
                values[a.keyword.value] = value_of(a.value)
        for p in params:
            if p.name.value not in values and p.default is not None:
                values[p.name.value] = evaluate(p.default, self.env).value
        return values

    def _run(self, fn: cst.FunctionDef, args: dict[str, Any], attrs: dict[str, Any],
             depth: int, attrs_out: bool = False) -> Any:
        """Run ``fn``'s top-level statements on values: its return value (None when not
        known), or with ``attrs_out`` the ``self.x`` attributes it binds."""
        scalars: dict[str, Any] = {**self.env, **attrs}
        arrays: dict[str, Any] = {}
        for name, v in args.items():
            (arrays if isinstance(v, (Arr, tuple)) and _holds_array(v) else scalars)[name] = v
        own: dict[str, Any] = {}
        ev = ArrayEval(self.imports, self.numpy, scalars, arrays.get)

        def value(node: cst.BaseExpression) -> Any:
            if isinstance(node, cst.Call) and (attr := _self_attr(node.func)) is not None:
                method = self.methods.get(attr[5:])
                return self._run(method, {}, attrs, depth - 1) \
                    if method is not None and depth > 0 else None
            if isinstance(node, cst.Tuple):
                return tuple(value(e.value) for e in node.elements)
            got = ev.value(node)
            if got is not None:
                return got
            v = evaluate(node, scalars).value
            return None if v is UNKNOWN else v

        def bind(target: cst.BaseExpression, v: Any) -> None:
            if isinstance(target, cst.Name):
                arrays.pop(target.value, None)
                scalars.pop(target.value, None)
                if isinstance(v, Arr) or isinstance(v, tuple) and _holds_array(v):
                    arrays[target.value] = v
                elif v is not None:
                    scalars[target.value] = v
            elif isinstance(target, (cst.Tuple, cst.List)):
                parts = v if isinstance(v, tuple) and len(v) == len(target.elements) else \
                    (None,) * len(target.elements)
                for el, part in zip(target.elements, parts, strict=True):
                    bind(el.value, part)
            elif (attr := _self_attr(target)) is not None:
                scalars.pop(attr, None)
                if v is not None and not isinstance(v, Arr):
                    scalars[attr] = v
                    own[attr] = v

        body = fn.body.body if isinstance(fn.body, cst.IndentedBlock) else []
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign):
                        v = value(small.value)
                        for t in small.targets:
                            bind(t.target, v)
                    elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
                        bind(small.target, None)
                    elif isinstance(small, cst.Return):
                        return own if attrs_out else (
                            value(small.value) if small.value is not None else None)
                continue
            names, bound_attrs, returns = _targets(stmt)
            if returns:
                return own if attrs_out else None
            for name in names:
                arrays.pop(name, None)
                scalars.pop(name, None)
            for attr in bound_attrs:
                scalars.pop(attr, None)
                own.pop(attr, None)
        return own if attrs_out else None


def _holds_array(v: Any) -> bool:
    return isinstance(v, Arr) or isinstance(v, tuple) and any(_holds_array(e) for e in v)
