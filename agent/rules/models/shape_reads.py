"""Sizes read off Keras tensors while a graph is traced: ``channels = x.shape[-1]``.

Builders and helpers size layers from the tensors they receive (``Dense(x.shape[-1])``,
``K.int_shape(x)[-1] // 8``, ``Reshape((1, 1, channels))``). A Keras functional graph has
static shapes, so where the tracer knows a tensor's shape these reads are ints at
conversion time: :class:`ShapeProbe` infers a traced tensor's shape from the layers that
produced it (the same ``LayerSpec.build`` the code generator runs), and :func:`resolve`
writes the known sizes into a statement before the tracer reads it. The batch axis is never
replaced: it is a run-time size (``tf.shape(x)[0]`` stays a read of the torch tensor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import libcst as cst

from agent.rules import walk
from agent.rules.models.graph import Call, Tensor
from agent.rules.models.shapes import Shape
from agent.rules.spec import BuildContext, NotStatic, Unsupported

# calls that give a tensor's whole shape, batch axis first (static or run-time)
SHAPE_FUNCTIONS = frozenset({"keras.backend.int_shape", "keras.backend.shape", "keras.ops.shape",
                             "tensorflow.shape"})
_LIST_CALLS = ("list", "tuple")

Qual = Callable[[cst.BaseExpression], str | None]


class ShapeProbe:
    """The static Keras shapes (batch axis excluded) of traced tensors, inferred on demand
    from the calls that produced them; None where any size on the way is unknown."""

    def __init__(self, producer: dict[int, Call]) -> None:
        self.producer = producer  # id(tensor) -> the call that made it (the tracer's map)
        self.memo: dict[int, tuple[Tensor, Shape | None]] = {}  # the tensor kept: ids stay
        self.named: dict[str, Tensor] = {}  # `shape = K.int_shape(x)`: shape -> x

    def shape(self, t: Tensor) -> Shape | None:
        if id(t) not in self.memo:
            self.memo[id(t)] = (t, None)  # a cycle (never in a Keras graph) reads as unknown
            self.memo[id(t)] = (t, self._infer(t))
        return self.memo[id(t)][1]

    def _infer(self, t: Tensor) -> Shape | None:
        call = self.producer.get(id(t))
        if call is None:
            return t.shape  # an Input: the shape it was given
        outs = self._outputs(call)
        k = next((n for n, o in enumerate(call.outputs) if o is t), 0)
        return outs[k] if k < len(outs) else None

    def _outputs(self, call: Call) -> list[Shape | None]:
        layer = call.layer
        shapes = [self.shape(t) for t in call.inputs]
        out: object = None
        if layer.error:
            return []
        if layer.submodel is not None:
            sub = layer.submodel
            out = layer.shape_rule(shapes) if layer.shape_rule is not None else (
                sub.outputs[0].shape if sub.outputs else None)
        elif layer.custom_ctor is not None:
            return []  # a user's layer: its output shape is its own code's business
        elif layer.lambda_expr is not None:
            if layer.shape_rule is not None:
                out = layer.shape_rule(shapes)
            elif layer.lambda_elementwise and shapes:
                out = shapes[0]
        elif layer.spec is not None and layer.args is not None and shapes \
                and all(s is not None for s in shapes):
            ctx = BuildContext(inner_args=layer.inner_args, inner_spec=layer.inner_spec,
                               call_kwargs=call.call_kwargs,
                               input_names=tuple(t.name for t in call.inputs))
            try:
                out = layer.spec.build(layer.args, [s for s in shapes if s is not None],
                                       ctx).out
            except (Unsupported, NotStatic, KeyError, TypeError, ValueError, IndexError,
                    AttributeError):
                return []
        outs = out if isinstance(out, list) else [out]
        return [o if isinstance(o, tuple) else None for o in outs]


def resolve(node: cst.CSTNode, tensors: dict[str, Tensor], probe: ShapeProbe, qual: Qual
            ) -> tuple[cst.CSTNode, list[Tensor]]:
    """``node`` with every read of a known static size of a Keras tensor written as its int
    (``x.shape[-1]`` → ``64``, ``x.shape[1:]`` → ``(8, 8, 64)``), and the tensors read."""
    reads = _Reads(tensors, probe, qual)
    out = node.visit(reads)
    return (out if isinstance(out, cst.CSTNode) else node), reads.read


def untouched_calls(node: cst.CSTNode) -> list[cst.Call] | None:
    """The calls in ``node`` when :func:`resolve` has nothing to write in it (no subscript,
    no ``int(...)``), found without its transformer, which rebuilds every node it visits;
    None when it may have."""
    calls: list[cst.Call] = []
    for n in walk.nodes(node):
        kind = type(n)
        if kind is cst.Subscript:
            return None
        if kind is cst.Call:
            func = cast(cst.Call, n).func
            if type(func) is cst.Name and func.value == "int":
                return None
            calls.append(cast(cst.Call, n))
    return calls


def unresolved(node: cst.CSTNode, tensors: dict[str, Tensor], probe: ShapeProbe, qual: Qual
               ) -> str | None:
    """The first shape read of a Keras tensor left in ``node`` (its size unknown statically)."""
    stack = [node]  # depth first in source order: the first read is the one reported
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Lambda):
            continue  # its parameters shadow the tensors' names
        if isinstance(current, (cst.Subscript, cst.Attribute, cst.Call)) and _shape_source(
                current.value if isinstance(current, cst.Subscript) else current, tensors,
                qual, probe.named) is not None:
            return cst.Module([]).code_for_node(current)
        stack += walk.children(current)[::-1]
    return None


def unpacked(target: cst.BaseAssignTargetExpression, value: cst.BaseExpression,
             tensors: dict[str, Tensor], probe: ShapeProbe, qual: Qual
             ) -> list[tuple[str, int]] | None:
    """``_, h, w, c = K.int_shape(x)``: each name with its size, when every name but the
    batch's is known and the batch's is ``_`` (a read batch size is a run-time value)."""
    if not isinstance(target, (cst.Tuple, cst.List)):
        return None
    dims = _full_shape(value, tensors, probe, qual)
    names = [el.value.value if isinstance(el.value, cst.Name) else None
             for el in target.elements]
    if dims is None or len(dims) != len(names) or None in names:
        return None
    out: list[tuple[str, int]] = []
    for k, (name, dim) in enumerate(zip(names, dims, strict=True)):
        if k == 0 and dims[0] is None and name == "_" and _batch_first(value):
            continue
        if not isinstance(dim, int) or name is None:
            return None
        out.append((name, int(dim)))
    return out


def unpacked_source(node: cst.BaseExpression, tensors: dict[str, Tensor], probe: ShapeProbe,
                    qual: Qual) -> Tensor | None:
    """The tensor an unpacked shape expression reads."""
    while isinstance(node, cst.Subscript):
        node = node.value
    return _shape_source(node, tensors, qual, probe.named)


def bound_shape(target: cst.BaseAssignTargetExpression, value: cst.BaseExpression,
                tensors: dict[str, Tensor], probe: ShapeProbe, qual: Qual) -> Tensor | None:
    """``shape = K.int_shape(x)``: remembers ``shape`` as x's static shape (its reads
    ``shape[1]`` resolve like ``K.int_shape(x)[1]``), when x's rank is known.
    ``tf.shape(x)`` is a run-time tensor: not followed."""
    if not isinstance(target, cst.Name) or _dynamic(value, qual):
        return None
    t = _shape_source(value, tensors, qual, probe.named)
    if t is None or probe.shape(t) is None:
        return None
    probe.named[target.value] = t
    return t


def _dynamic(node: cst.BaseExpression, qual: Qual) -> bool:
    return isinstance(node, cst.Call) and qual(node.func) in SHAPE_FUNCTIONS - {
        "keras.backend.int_shape"}


def _batch_first(node: cst.BaseExpression) -> bool:
    """Whether a shape expression still has its batch axis (not ``x.shape[1:]``)."""
    return not isinstance(node, cst.Subscript)


def _full_shape(node: cst.BaseExpression, tensors: dict[str, Tensor], probe: ShapeProbe,
                qual: Qual) -> tuple[int | None, ...] | None:
    """The shape ``node`` reads, batch axis first as None; None unless every size is an int.
    ``x.shape[1:]`` gives the sizes after the batch."""
    if isinstance(node, cst.Subscript):
        whole = _full_shape(node.value, tensors, probe, qual)
        part = _slice(node)
        if whole is None or part is None:
            return None
        return whole[part]
    t = _shape_source(node, tensors, qual, probe.named)
    if t is None:
        return None
    shape = probe.shape(t)
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return (None, *(int(d) for d in shape if isinstance(d, int)))


def _shape_source(node: cst.BaseExpression, tensors: dict[str, Tensor], qual: Qual,
                  named: dict[str, Tensor] | None = None) -> Tensor | None:
    """The tensor whose whole shape ``node`` is: ``x.shape``, ``x.get_shape()``,
    ``x.shape.as_list()``, ``list(x.shape)``, ``K.int_shape(x)``, ``tf.shape(x)``, or a
    name bound to one of those (``shape = K.int_shape(x)``)."""
    if isinstance(node, cst.Name) and named and node.value in named:
        return named[node.value]
    if isinstance(node, cst.Attribute) and node.attr.value == "shape":
        return _named(node.value, tensors)
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Attribute) and not node.args:
        if func.attr.value == "get_shape":
            return _named(func.value, tensors)
        if func.attr.value == "as_list":
            return _shape_source(func.value, tensors, qual, named)
    if isinstance(func, cst.Name) and func.value in _LIST_CALLS and len(node.args) == 1:
        return _shape_source(node.args[0].value, tensors, qual, named)
    if node.args and node.args[0].keyword is None and qual(func) in SHAPE_FUNCTIONS \
            and all(a.keyword is not None and a.keyword.value == "out_type"
                    for a in node.args[1:]):
        return _named(node.args[0].value, tensors)
    return None


def _named(node: cst.BaseExpression, tensors: dict[str, Tensor]) -> Tensor | None:
    return tensors.get(node.value) if isinstance(node, cst.Name) else None


def _index(node: cst.Subscript) -> int | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    return _int(node.slice[0].slice.value)


def _slice(node: cst.Subscript) -> slice | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
        return None
    s = node.slice[0].slice
    bounds = [None if part is None else _int(part) for part in (s.lower, s.upper, s.step)]
    if any(b is None and part is not None for b, part in zip(
            bounds, (s.lower, s.upper, s.step), strict=True)):
        return None
    return slice(*bounds)


def _int(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    return None


def _literal(dims: Sequence[int]) -> cst.BaseExpression:
    return cst.parse_expression(f"({', '.join(str(d) for d in dims)},)" if len(dims) == 1
                                else f"({', '.join(str(d) for d in dims)})")


class _Reads(cst.CSTTransformer):
    def __init__(self, tensors: dict[str, Tensor], probe: ShapeProbe, qual: Qual) -> None:
        self.tensors = tensors
        self.probe = probe
        self.qual = qual
        self.named = probe.named
        self.read: list[Tensor] = []  # tensors whose sizes were written in

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript
                        ) -> cst.BaseExpression:
        whole = _full_shape(updated_node.value, self.tensors, self.probe, self.qual)
        if whole is None:
            return self._partial(updated_node)
        k = _index(updated_node)
        if k is not None:
            if -len(whole) <= k < len(whole) and whole[k] is not None:
                self._note(updated_node.value)
                return cst.Integer(str(whole[k]))  # the batch axis (None) stays a read
            return updated_node
        part = _slice(updated_node)
        if part is None:
            return updated_node
        dims = whole[part]
        if not dims or any(d is None for d in dims):
            return updated_node
        self._note(updated_node.value)
        return _literal([d for d in dims if d is not None])

    def _partial(self, node: cst.Subscript) -> cst.BaseExpression:
        """``x.shape[-1]`` where only some sizes are known (a variable sequence length):
        a known size is still an int, one computed from a builder's parameters its code."""
        t = _shape_source(node.value, self.tensors, self.qual, self.named)
        k = _index(node)
        shape = self.probe.shape(t) if t is not None else None
        if shape is None or k is None or k == 0 or k < -len(shape) or k > len(shape):
            return node
        dim = shape[k - 1] if k > 0 else shape[k]
        if isinstance(dim, str):
            try:
                code = cst.parse_expression(dim if dim.isidentifier() else f"({dim})")
            except cst.ParserSyntaxError:
                return node
            self._note(node.value)
            return code
        if not isinstance(dim, int):
            return node
        self._note(node.value)
        return cst.Integer(str(int(dim)))

    def _note(self, node: cst.BaseExpression) -> None:
        t = _shape_source(node, self.tensors, self.qual, self.named)
        if t is not None:
            self.read.append(t)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call
                   ) -> cst.BaseExpression:
        """``int(x.shape[-1])`` (a TF 1 Dimension made an int): the size itself."""
        if original_node is not updated_node and isinstance(updated_node.func, cst.Name) \
                and updated_node.func.value == "int" and len(updated_node.args) == 1 \
                and updated_node.args[0].keyword is None \
                and isinstance(updated_node.args[0].value, cst.Integer):
            return updated_node.args[0].value
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # its parameters shadow the tensors' names
