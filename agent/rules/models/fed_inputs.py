"""A model's input shape from what the script feeds it, when the source gives none.

A Keras model without ``Input``/``input_shape`` learns its input on the first call; the
converted class then has no ``example_input_array`` and nothing (Lightning's summary, the
checks) can run it. The script's own feeding often fixes that shape statically:

* ``model.build((None, 32))`` / ``model.build(input_shape=...)``;
* ``model(x)``, ``model.fit/predict/evaluate(x, ...)`` (and ``*_on_batch``) on an array of
  known shape (array_shapes.py: a ``keras.datasets`` loader, a literal, ``np.zeros`` /
  ``tf.random.normal`` / ``keras.random.*`` of a literal shape, then slices of the first
  axis, ``astype``, scalar arithmetic, ``reshape``/``expand_dims`` with literal sizes);
* a ``tf.data.Dataset.from_tensor_slices(x or (x, y))`` pipeline: a ``.map(fn)`` whose
  function (a lambda or a module function) passes an element to the model, or ``fit`` on
  the batched pipeline;
* a ``keras.utils.Sequence`` whose ``__getitem__`` array is made from constants
  (sequence_items.py).

Only the module's own statements are read, in order (and those under
``if __name__ == "__main__":`` / ``with``); a name a loop or branch rebinds is forgotten.
Every feed of a model must agree, or its shape stays unknown: a size is never guessed.
The shape is per sample (the batch axis dropped); dtype "long" for integer arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules.datasets import loaded_arrays
from agent.rules.imports import ImportTable
from agent.rules.models.array_shapes import Arr, ArrayEval, numpy_names, qualified
from agent.rules.models.sequence_items import SequenceReader, sequence_classes
from agent.rules.values import code_of, evaluate

_FEEDING = frozenset({"fit", "predict", "evaluate", "predict_on_batch", "train_on_batch",
                      "test_on_batch"})
_KEEPS = frozenset({"shuffle", "prefetch", "cache", "repeat", "take", "skip",
                    "with_options", "apply_options"})
_FROM_SLICES = frozenset({"tensorflow.data.Dataset.from_tensor_slices"})


@dataclass(frozen=True)
class Fed:
    """The input a model is fed: per-sample shape (no batch axis) and dtype."""

    shape: tuple[int, ...]
    dtype: str = "float"


@dataclass(frozen=True)
class _Pipeline:
    """A tf.data pipeline of known elements: one array or a tuple of them (None: unknown);
    ``batched``: each element has the batch axis first (None)."""

    parts: tuple[Arr | None, ...]
    single: bool
    batched: bool


@dataclass(frozen=True)
class _Batches:
    """A ``keras.utils.Sequence`` instance: the array its batches start with."""

    first: Arr


@dataclass
class FedInputs:
    """Per model variable, and per callee of ``var = callee()`` (a class or a builder
    function called without arguments: the class the checks build with its defaults must
    take that input), the input the script feeds it."""

    by_name: dict[str, Fed]
    by_callee: dict[str, Fed]


def _sample(arr: Arr | None, batched: bool = True) -> tuple[int, ...] | None:
    if arr is None:
        return None
    shape = arr.shape[1:] if batched else arr.shape
    if batched and not arr.shape:
        return None
    if any(d is None for d in shape):
        return None
    return tuple(int(d) for d in shape if d is not None)


class _Walker:
    def __init__(self, module: cst.Module, imports: ImportTable, env: dict[str, Any]) -> None:
        self.imports = imports
        self.env = env
        self.numpy = numpy_names(module)
        self.functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
        self.sequences = sequence_classes(module, imports)
        self.values: dict[str, Any] = {}  # name -> Arr | _Pipeline | _Batches
        self.made: dict[str, str] = {}  # var -> the callee that made it
        self.with_args: set[str] = set()  # vars made by a call with arguments
        self.feeds: dict[str, list[Fed | None]] = {}
        self.callee_feeds: dict[str, list[Fed | None]] = {}
        self.ev = ArrayEval(imports, self.numpy, env, self.values.get)

    # ------------------------------------------------------------------ statements
    def block(self, body: Sequence[cst.BaseStatement]) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self.small(small)
            elif isinstance(stmt, cst.If) and _is_main(stmt) or isinstance(stmt, cst.With):
                assert isinstance(stmt.body, cst.IndentedBlock)
                self.block(stmt.body.body)
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                self.forget({stmt.name.value})
            else:  # loops, branches, try: what they bind is not known after them
                self.forget(_bound(stmt))
                for call in _calls(stmt):
                    self.call(call)

    def forget(self, names: set[str]) -> None:
        for name in names:
            self.values.pop(name, None)
            self.made.pop(name, None)
            self.with_args.discard(name)

    def small(self, small: cst.BaseSmallStatement) -> None:
        for call in _calls(small):  # feeds first: `out = model(x)` reads x before binding
            self.call(call)
        if isinstance(small, cst.Assign):
            for t in small.targets:
                self.bind(t.target, small.value)
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            arr = self.values.get(small.target.value)
            scalar = evaluate(small.value, self.env).value
            keeps = isinstance(arr, Arr) and isinstance(scalar, (int, float)) \
                and not isinstance(scalar, bool)
            if keeps and isinstance(arr, Arr):
                floats = isinstance(scalar, float) or isinstance(small.operator, cst.DivideAssign)
                self.values[small.target.value] = Arr(arr.shape, "float" if floats
                                                      else arr.dtype)
            else:
                self.forget({small.target.value})
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self.bind(small.target, small.value)

    def bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        loaded = loaded_arrays(target, value, self.imports)
        if loaded:
            self.forget(_names_in(target))
            self.values.update({k: Arr(a.shape) for k, a in loaded.items()})
            return
        if isinstance(target, (cst.Tuple, cst.List)):
            items = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            if items is None or len(items) != len(target.elements) or any(
                    isinstance(e, cst.StarredElement) for e in items):
                self.forget(_names_in(target))
                return
            news = [(el.value, item.value) for el, item in zip(target.elements, items,
                                                               strict=True)]
            for t, v in news:  # (a, b) = (b, a): every value read before any binding
                self.bind_value(t, self.value(v), v)
            return
        self.bind_value(target, self.value(value), value)

    def bind_value(self, target: cst.BaseExpression, got: Any,
                   node: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            if isinstance(node, (cst.Tuple, cst.List)):
                self.bind(target, node)
            else:
                self.forget(_names_in(target))
            return
        if not isinstance(target, cst.Name):
            return
        name = target.value
        self.forget({name})
        if got is not None:
            self.values[name] = got
        elif isinstance(node, cst.Call):  # model = Net(...) / build_model(...) / Sequential
            self.made[name] = code_of(node.func)
            if node.args:  # the class built with its defaults may take another input
                self.with_args.add(name)

    # ------------------------------------------------------------------ values
    def value(self, node: cst.BaseExpression) -> Any:
        if isinstance(node, cst.Call):
            pipeline = self.pipeline(node)
            if pipeline is not None:
                return pipeline
            batches = self.batches(node)
            if batches is not None:
                return batches
        if isinstance(node, cst.Name) and node.value in self.made:
            return None
        return self.ev.value(node)

    def pipeline(self, call: cst.Call) -> _Pipeline | None:
        func = call.func
        q = qualified(func, self.imports, self.numpy)
        if q in _FROM_SLICES and len(call.args) == 1 and call.args[0].keyword is None:
            arg = call.args[0].value
            if isinstance(arg, cst.Tuple):
                parts = tuple(self._slices(self.value(e.value)) for e in arg.elements)
                return _Pipeline(parts, False, False)
            return _Pipeline((self._slices(self.value(arg)),), True, False)
        if not isinstance(func, cst.Attribute):
            return None
        inner = self.value(func.value)
        if not isinstance(inner, _Pipeline):
            return None
        method = func.attr.value
        if method in _KEEPS:
            return inner
        padded_to = method == "padded_batch" and (_arg(call, 1, "padded_shapes") is not None)
        if method in ("batch", "padded_batch") and not inner.batched and not padded_to:
            return _Pipeline(tuple(Arr((None, *p.shape), p.dtype) if p is not None else None
                                   for p in inner.parts), inner.single, True)
        if method == "map" and call.args and call.args[0].keyword is None:
            return self.mapped(inner, call.args[0].value)
        return None

    @staticmethod
    def _slices(arr: Any) -> Arr | None:
        return Arr(arr.shape[1:], arr.dtype) if isinstance(arr, Arr) and arr.shape else None

    def batches(self, call: cst.Call) -> _Batches | None:
        if not isinstance(call.func, cst.Name) or call.func.value not in self.sequences:
            return None
        reader = SequenceReader(self.sequences[call.func.value], self.imports, self.numpy,
                                self.env)

        def value_of(node: cst.BaseExpression) -> Any:  # dim=(H, W): sizes, not an array
            known = evaluate(node, self.env)
            return known.value if known.known else self.ev.value(node)

        first = reader.batch(call, value_of)
        return _Batches(first) if first is not None else None

    def mapped(self, inner: _Pipeline, fn: cst.BaseExpression) -> _Pipeline | None:
        """``pipeline.map(fn)``: the models ``fn`` calls on the element are fed it; the new
        element is known where ``fn`` returns arrays it can follow."""
        params, returned, statements = _function_parts(fn, self.functions)
        if params is None:
            return None
        names = [p.name.value for p in params]
        if inner.single and len(names) == 1:
            local: dict[str, Any] = {names[0]: inner.parts[0]}
        elif not inner.single and len(names) == len(inner.parts):
            local = dict(zip(names, inner.parts, strict=True))
        else:
            return None
        outer = self.values
        scope: dict[str, Any] = {**{k: v for k, v in outer.items() if k not in names},
                                 **{k: v for k, v in local.items() if v is not None}}
        ev = ArrayEval(self.imports, self.numpy, self.env, scope.get)
        for small in statements:
            for call in _calls(small):
                self.model_call(call, ev, inner.batched)
            if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                    and isinstance(small.targets[0].target, cst.Name):
                got = ev.value(small.value)
                scope.pop(small.targets[0].target.value, None)
                if got is not None:
                    scope[small.targets[0].target.value] = got
        if returned is None:
            return None
        for call in _calls(returned):
            self.model_call(call, ev, inner.batched)
        if isinstance(returned, cst.Tuple):
            return _Pipeline(tuple(ev.array(e.value) for e in returned.elements), False,
                             inner.batched)
        return _Pipeline((ev.array(returned),), True, inner.batched)

    # ------------------------------------------------------------------ feeds
    def call(self, call: cst.Call) -> None:
        func = call.func
        if isinstance(func, cst.Name) and func.value in self.made:
            self.model_call(call, self.ev, True)
            return
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value in self.made):
            return
        var, method = func.value.value, func.attr.value
        if method == "build":
            node = _arg(call, 0, "input_shape")
            shape = evaluate(node, self.env).value if node is not None else None
            dims = list(shape) if isinstance(shape, (tuple, list)) else []
            ok = len(dims) >= 2 and all(
                isinstance(d, int) and not isinstance(d, bool) for d in dims[1:])
            self.feed(var, Fed(tuple(int(d) for d in dims[1:])) if ok else None)
        elif method in _FEEDING:
            self.feed(var, self.fed_by(self.value(node) if (node := _arg(call, 0, "x"))
                                       is not None else None, True))

    def model_call(self, call: cst.Call, ev: ArrayEval, batched: bool) -> None:
        """``model(x)``: the model sees ``x`` (a batch, or in an unbatched pipeline one
        element, to which the converted call adds the batch axis)."""
        if not (isinstance(call.func, cst.Name) and call.func.value in self.made):
            return
        node = _arg(call, 0, "inputs")
        self.feed(call.func.value, self.fed_by(ev.value(node) if node is not None else None,
                                                batched))

    def fed_by(self, value: Any, batched: bool) -> Fed | None:
        arr: Arr | None = None
        if isinstance(value, Arr):
            arr = value
        elif isinstance(value, _Batches):
            arr = value.first
        elif isinstance(value, _Pipeline) and value.batched:
            arr = value.parts[0]
        shape = _sample(arr, batched)
        return Fed(shape, arr.dtype) if shape is not None and arr is not None else None

    def feed(self, var: str, fed: Fed | None) -> None:
        self.feeds.setdefault(var, []).append(fed)
        callee = self.made.get(var)
        if callee is not None and var not in self.with_args:
            self.callee_feeds.setdefault(callee, []).append(fed)

    def result(self) -> FedInputs:
        return FedInputs(_agreed(self.feeds), _agreed(self.callee_feeds))


def _agreed(feeds: dict[str, list[Fed | None]]) -> dict[str, Fed]:
    """Only names every feed of which is known and the same."""
    out: dict[str, Fed] = {}
    for name, seen in feeds.items():
        if seen and all(f is not None for f in seen) and len(set(seen)) == 1:
            fed = seen[0]
            assert fed is not None
            out[name] = fed
    return out


def _arg(call: cst.Call, k: int, keyword: str) -> cst.BaseExpression | None:
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if k < len(positional):
        return positional[k]
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a.value
    return None


def _function_parts(fn: cst.BaseExpression, functions: dict[str, cst.FunctionDef]
                    ) -> tuple[list[cst.Param] | None, cst.BaseExpression | None,
                               list[cst.BaseSmallStatement]]:
    """(parameters, returned expression, statements before the return) of a lambda or a
    module function made only of simple statements."""
    if isinstance(fn, cst.Lambda):
        return list(fn.params.params), fn.body, []
    if not isinstance(fn, cst.Name) or fn.value not in functions:
        return None, None, []
    node = functions[fn.value]
    if isinstance(node.params.star_arg, (cst.Param, cst.ParamStar)) or node.params.kwonly_params \
            or not isinstance(node.body, cst.IndentedBlock):
        return None, None, []
    statements: list[cst.BaseSmallStatement] = []
    for stmt in node.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return None, None, []
        for small in stmt.body:
            if isinstance(small, cst.Return):
                return list(node.params.params), small.value, statements
            statements.append(small)
    return None, None, []


def _is_main(stmt: cst.If) -> bool:
    return code_of(stmt.test).replace("'", '"') == '__name__ == "__main__"'


def _names_in(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in _names_in(e.value)}
    return set()


def _bound(node: cst.CSTNode) -> set[str]:
    out: set[str] = set()
    for cur in _walk(node):
        if isinstance(cur, cst.Assign):
            for t in cur.targets:
                out |= _names_in(t.target)
        elif isinstance(cur, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
            out |= _names_in(cur.target)
        elif isinstance(cur, cst.AsName) and isinstance(cur.name, (cst.Name, cst.Tuple)):
            out |= _names_in(cur.name)
        elif isinstance(cur, (cst.FunctionDef, cst.ClassDef)):
            out.add(cur.name.value)
    return out


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        stack += reversed(cur.children)


def _calls(node: cst.CSTNode) -> list[cst.Call]:
    """Calls under ``node`` in source order, not inside lambdas or nested functions."""
    out: list[cst.Call] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (cst.Lambda, cst.FunctionDef, cst.ClassDef)) and cur is not node:
            continue
        if isinstance(cur, cst.Call):
            out.append(cur)
        stack += reversed(cur.children)
    return out


def fed_inputs(module: cst.Module, imports: ImportTable, env: dict[str, Any]) -> FedInputs:
    """What the script feeds each model it makes (see the module docstring)."""
    walker = _Walker(module, imports, env)
    walker.block(module.body)
    return walker.result()


def returned_names(fn: cst.FunctionDef) -> set[str]:
    """The names a builder returns (``return model``; "" for ``return Sequential(...)``),
    not those of functions nested in it."""
    out: set[str] = set()
    stack: list[cst.CSTNode] = [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack += node.children
        if isinstance(node, cst.Return) and node.value is not None:
            if isinstance(node.value, cst.Name):
                out.add(node.value.value)
            elif isinstance(node.value, cst.Call):
                out.add("")
    return out


def block_feeds(fed: FedInputs, function: cst.FunctionDef | None) -> dict[str, Fed]:
    """The feeds a block's models get: the module's variables for the module's own
    statements; for a builder function, what the script feeds the models it returns."""
    if function is None:
        return fed.by_name
    got = fed.by_callee.get(function.name.value)
    return {name: got for name in returned_names(function)} if got is not None else {}
