"""Values read off a shape are tensors in TF and Python ints in torch.

``tf.shape(x)[0]`` is a scalar tensor, so TF code feeds it to tensor ops: the causal-mask idiom
``tf.tile(mask, tf.concat([tf.expand_dims(batch_size, -1), ...], 0))``. Converted, ``x.shape[0]``
is an ``int``: ``torch.unsqueeze(int)`` is a TypeError, and ``torch.tile``/``torch.reshape``
take a tuple of ints, not the tensor ``torch.cat`` made. Within one function, a name bound once
from a shape read is wrapped where a tensor op receives it, and a name bound once from
``torch.cat``/``torch.stack`` is turned into a tuple where a size is expected.
"""

from __future__ import annotations

import re
from collections import Counter

import libcst as cst

from agent.rules.imports import dotted

_GATE = re.compile(r"torch\.(?:unsqueeze|tile|reshape)\(")
_TENSOR_OPS = frozenset({"torch.unsqueeze"})  # first argument must be a tensor
_SIZE_OPS = frozenset({"torch.tile", "torch.reshape"})  # second argument: a tuple of ints
_MAKES_VECTORS = frozenset({"torch.cat", "torch.stack", "torch.concat"})


def tensor_shape_values(code: str) -> str:
    """``code`` with shape-read ints made tensors, and size tensors made tuples, where a
    torch op needs them (``code`` itself when there is nothing to do)."""
    if ".shape" not in code or not _GATE.search(code):
        return code
    module = cst.parse_module(code)
    fixer = _Functions()
    new = module.visit(fixer)
    return new.code if fixer.changed else code


def _is_shape(node: cst.BaseExpression, shapes: set[str]) -> bool:
    """``x.shape``, ``tuple(x.shape)`` (``keras.ops.shape``) or a name bound to one."""
    if (isinstance(node, cst.Call) and dotted(node.func) == "tuple" and len(node.args) == 1
            and not node.args[0].star):
        node = node.args[0].value
    return (isinstance(node, cst.Attribute) and node.attr.value == "shape"
            or isinstance(node, cst.Name) and node.value in shapes)


def _is_shape_item(node: cst.BaseExpression, shapes: set[str]) -> bool:
    """``x.shape[k]``/``shape[k]`` with one plain index (a slice would be a tuple)."""
    return (isinstance(node, cst.Subscript) and len(node.slice) == 1
            and isinstance(node.slice[0].slice, cst.Index)
            and _is_shape(node.value, shapes))


class _Facts(cst.CSTVisitor):
    """Names a function binds exactly once, and what from."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.values: dict[str, cst.BaseExpression] = {}
        self.unpacked: dict[str, cst.BaseExpression] = {}  # ``a, b = <value>``: the value

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # nested functions keep their own facts

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.counts[node.target.value] += 2  # rebound: no fact

    def visit_For(self, node: cst.For) -> None:
        for name in _names(node.target):
            self.counts[name] += 2

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.counts[target.value] += 1
            self.values[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
            for k, el in enumerate(target.elements):
                if items is not None and len(items) == len(target.elements):
                    self._bind(el.value, items[k].value)
                else:
                    for name in _names(el.value):
                        self.counts[name] += 1
                        self.unpacked[name] = value


def _names(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for el in node.elements for n in _names(el.value)]
    if isinstance(node, cst.StarredElement):
        return _names(node.value)
    return []


class _Functions(cst.CSTTransformer):
    def __init__(self) -> None:
        self.changed = False
        self.scopes: list[tuple[set[str], set[str]]] = []  # (shape ints, size vectors)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        facts = _Facts()
        for stmt in node.body.body:
            stmt.visit(facts)
        once = {name for name, n in facts.counts.items() if n == 1}
        shapes = {n for n in once if n in facts.values and _is_shape(facts.values[n], set())}
        ints = {n for n in once if n in facts.values and _is_shape_item(facts.values[n], shapes)}
        ints |= {n for n in once if n in facts.unpacked and _is_shape(facts.unpacked[n], shapes)}
        vectors = {n for n in once if n in facts.values and _makes_vector(facts.values[n])}
        self.scopes.append((ints, vectors))

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                          ) -> cst.FunctionDef:
        self.scopes.pop()
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if not self.scopes or not updated.args:
            return updated
        ints, vectors = self.scopes[-1]
        name = dotted(updated.func)
        args = list(updated.args)
        if name in _TENSOR_OPS and _plain_name(args[0]) in ints:
            args[0] = args[0].with_changes(value=cst.parse_expression(
                f"torch.as_tensor({_plain_name(args[0])})"))
        elif name in _SIZE_OPS and len(args) > 1 and _plain_name(args[1]) in vectors:
            args[1] = args[1].with_changes(value=cst.parse_expression(
                f"tuple({_plain_name(args[1])}.tolist())"))
        else:
            return updated
        self.changed = True
        return updated.with_changes(args=args)


def _plain_name(arg: cst.Arg) -> str | None:
    return arg.value.value if isinstance(arg.value, cst.Name) and not arg.star else None


def _makes_vector(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Call) and dotted(value.func) in _MAKES_VECTORS
