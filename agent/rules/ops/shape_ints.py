"""Values read off a shape are tensors in TF and Python ints in torch.

``tf.shape(x)[0]`` is a scalar tensor, so TF code feeds it to tensor ops: the causal-mask idiom
``tf.tile(mask, tf.concat([tf.expand_dims(batch_size, -1), ...], 0))``. Converted, ``x.shape[0]``
is an ``int``: ``torch.unsqueeze(int)`` is a TypeError, and ``torch.tile``/``torch.reshape``
take a tuple of ints, not the tensor ``torch.cat`` made. Within one function, a name bound once
from a shape read is wrapped where a tensor op receives it, and a name bound once from
``torch.cat``/``torch.stack`` is turned into a tuple where a size is expected.

The same holds for the other ops TF code feeds shape values to: ``torch.stack([b, n])`` of
shape ints (and int literals) is ``torch.as_tensor([b, n])`` (torch stacks tensors only),
``torch.maximum``/``torch.minimum`` get their shape-int arguments as tensors (TF's result is a
tensor too), and a size vector given to ``torch.zeros``/``ones``/``full``/``empty``/``rand``/
``randn`` (or to ``tile``/``reshape``) is a tuple: ``(b, n)`` where the stack is written there.
A list of shape reads (``sizes = [p.shape[0] for p in parts]``) reduced by ``torch.amax``/
``amin`` (TF reduces lists too) is Python's ``max``/``min``: an int, as the pad sizes and
slices it feeds need.
"""

from __future__ import annotations

import re
from collections import Counter

import libcst as cst

from agent.rules.imports import dotted
from agent.rules.values import code_of

_GATE = re.compile(r"torch\.(?:unsqueeze|tile|reshape|stack|maximum|minimum|zeros|ones|full|"
                   r"empty|rand|randn|amax|amin)\(")
_TENSOR_OPS = frozenset({"torch.unsqueeze"})  # first argument must be a tensor
_BOTH_TENSORS = frozenset({"torch.maximum", "torch.minimum"})  # both arguments tensors
# the position of the argument that must be a tuple of ints
_SIZE_OPS = {"torch.tile": 1, "torch.reshape": 1, "torch.zeros": 0, "torch.ones": 0,
             "torch.full": 0, "torch.empty": 0, "torch.rand": 0, "torch.randn": 0}
_MAKES_VECTORS = frozenset({"torch.cat", "torch.stack", "torch.concat"})
_LIST_REDUCTIONS = {"torch.amax": "max", "torch.amin": "min"}  # of a list of shape ints


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
        # (shape ints, size vectors, shape names, lists of shape ints)
        self.scopes: list[tuple[set[str], set[str], set[str], set[str]]] = []
        self.stacked: dict[int, list[cst.BaseExpression]] = {}  # torch.as_tensor made here

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        facts = _Facts()
        for stmt in node.body.body:
            stmt.visit(facts)
        once = {name for name, n in facts.counts.items() if n == 1}
        shapes = {n for n in once if n in facts.values and _is_shape(facts.values[n], set())}
        ints = {n for n in once if n in facts.values and _is_shape_item(facts.values[n], shapes)}
        ints |= {n for n in once if n in facts.unpacked and _is_shape(facts.unpacked[n], shapes)}
        vectors = {n for n in once if n in facts.values and _makes_vector(facts.values[n])}
        int_lists = {n for n in once if n in facts.values
                     and _is_shape_list(facts.values[n], shapes)}
        self.scopes.append((ints, vectors, shapes, int_lists))

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                          ) -> cst.FunctionDef:
        self.scopes.pop()
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if not self.scopes or not updated.args:
            return updated
        ints, vectors, shapes, int_lists = self.scopes[-1]
        name = dotted(updated.func)
        args = list(updated.args)
        if name in _LIST_REDUCTIONS and len(args) == 1 and _plain_name(args[0]) in int_lists:
            self.changed = True  # max(sizes): TF's scalar tensor, an int where torch needs one
            return updated.with_changes(func=cst.Name(_LIST_REDUCTIONS[name]))
        at = _SIZE_OPS.get(name or "", -1)
        if name in _TENSOR_OPS and _plain_name(args[0]) in ints:
            args[0] = args[0].with_changes(value=cst.parse_expression(
                f"torch.as_tensor({_plain_name(args[0])})"))
        elif name == "torch.stack":
            items = _int_items(updated, ints, shapes)
            if items is None:
                return updated
            self.changed = True
            made = cst.Call(cst.parse_expression("torch.as_tensor"), [cst.Arg(cst.List(
                [cst.Element(item) for item in items]))])
            self.stacked[id(made)] = items
            return made
        elif name in _BOTH_TENSORS and len(args) == 2 and not any(a.keyword or a.star
                                                                    for a in args) \
                and any(_is_int(a.value, ints, shapes, literal=False) for a in args):
            args = [a.with_changes(value=cst.Call(cst.parse_expression("torch.as_tensor"),
                                                  [cst.Arg(a.value)]))
                    if _is_int(a.value, ints, shapes, literal=True) else a for a in args]
        elif 0 <= at < len(args) and not args[at].keyword and not args[at].star \
                and (_plain_name(args[at]) in vectors or id(args[at].value) in self.stacked):
            value = args[at].value
            if id(value) in self.stacked:  # torch.zeros(tf.stack([b, n])) -> (b, n)
                items = self.stacked[id(value)]
                new: cst.BaseExpression = cst.Tuple(
                    [cst.Element(item) for item in items]) if len(items) != 1 \
                    else cst.parse_expression(f"({code_of(items[0])},)")
            else:
                new = cst.parse_expression(f"tuple({_plain_name(args[at])}.tolist())")
            args[at] = args[at].with_changes(value=new)
        else:
            return updated
        self.changed = True
        return updated.with_changes(args=args)


def _is_int(node: cst.BaseExpression, ints: set[str], shapes: set[str], *,
            literal: bool) -> bool:
    """A name proven to hold a shape int, ``x.shape[k]`` itself, or (``literal``) an int
    literal such as ``1`` or ``-1``."""
    if isinstance(node, cst.Name) and node.value in ints or _is_shape_item(node, shapes):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    return literal and isinstance(node, cst.Integer)


def _int_items(call: cst.Call, ints: set[str], shapes: set[str]
               ) -> list[cst.BaseExpression] | None:
    """The items of ``torch.stack([b, n, 1], dim=0)`` when all are shape ints or int
    literals, at least one a shape int (None otherwise)."""
    if not call.args or call.args[0].keyword or call.args[0].star \
            or not isinstance(call.args[0].value, (cst.List, cst.Tuple)):
        return None
    for a in call.args[1:]:
        if a.keyword is None or a.keyword.value != "dim" \
                or not isinstance(a.value, cst.Integer) or a.value.value != "0":
            return None
    items = []
    for el in call.args[0].value.elements:
        if not isinstance(el, cst.Element) or not _is_int(el.value, ints, shapes, literal=True):
            return None
        items.append(el.value)
    if not any(_is_int(item, ints, shapes, literal=False) for item in items):
        return None
    return items


def _is_shape_list(node: cst.BaseExpression, shapes: set[str]) -> bool:
    """``[p.shape[0] for p in parts]``: a list of shape ints."""
    return isinstance(node, cst.ListComp) and _is_shape_item(node.elt, shapes)


def _plain_name(arg: cst.Arg) -> str | None:
    return arg.value.value if isinstance(arg.value, cst.Name) and not arg.star else None


def _makes_vector(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Call) and dotted(value.func) in _MAKES_VECTORS
