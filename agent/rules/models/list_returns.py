"""Custom layers whose forward returns a list of tensors that the script binds to one name.

``alpha = Attention(...)(embeddings)`` where the layer returns
``[alpha[i] for i in range(alpha.shape[0])]``: Keras's functional API gives ``alpha`` as a
list of Keras tensors, which the script indexes (``alpha[i]``), measures (``len(alpha)``) and
multiplies or concatenates item by item. The tracer needs the list's length. It is read from
the converted class's ``forward``, where it follows from the code alone: a literal list or
tuple, or a comprehension over the list the layer is called on, over a list made from it, or
over the first axis of ``torch.stack`` of such a list (through shape-keeping functions).
Anything else stays one tensor, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from agent.rules import walk
from agent.rules.values import code_of as code

# torch functions whose result has their first argument's shape (so its first axis too)
_SHAPE_KEEPING = frozenset({
    "F.softmax", "F.log_softmax", "torch.softmax", "torch.log_softmax", "torch.sigmoid",
    "torch.tanh", "torch.exp", "F.relu", "torch.relu", "torch.abs", "F.sigmoid", "F.tanh"})


@dataclass(frozen=True)
class ListReturn:
    """How many tensors a layer's forward returns: ``fixed``, or one per tensor of the list
    it is called on (``per_input``)."""

    fixed: int | None = None
    per_input: bool = False

    def count(self, listed: int | None) -> int | None:
        """The length, given the number of tensors in the list argument (None: not a list)."""
        return self.fixed if self.fixed is not None else listed if self.per_input else None


def list_returns(module: cst.Module) -> dict[str, ListReturn]:
    """Class name -> its forward's list return, for the module's classes where it is known."""
    out: dict[str, ListReturn] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.ClassDef) or not isinstance(stmt.body, cst.IndentedBlock):
            continue
        forward = next((s for s in stmt.body.body if isinstance(s, cst.FunctionDef)
                        and s.name.value in ("forward", "call")), None)
        found = _returned(forward) if forward is not None else None
        if found is not None:
            out[stmt.name.value] = found
    return out


def _returned(fn: cst.FunctionDef) -> ListReturn | None:
    params = [p.name.value for p in fn.params.params]
    if len(params) < 2 or not isinstance(fn.body, cst.IndentedBlock):
        return None
    returns = [n for n in walk.nodes(fn.body) if isinstance(n, cst.Return)]
    if len(returns) != 1 or returns[0].value is None:
        return None
    value = returns[0].value
    if isinstance(value, (cst.List, cst.Tuple)):
        if any(isinstance(el, cst.StarredElement) for el in value.elements):
            return None
        return ListReturn(fixed=len(value.elements))
    if not isinstance(value, cst.ListComp):
        return None
    return _Sizes(fn, params[1]).of_comprehension(value)


class _Sizes:
    """Lengths (first-axis sizes) of the forward's values, as :class:`ListReturn`."""

    def __init__(self, fn: cst.FunctionDef, inputs: str) -> None:
        self.inputs = inputs
        assigned: dict[str, list[cst.BaseExpression]] = {}
        assert isinstance(fn.body, cst.IndentedBlock)
        for n in walk.nodes(fn.body):
            if isinstance(n, (cst.Assign, cst.AugAssign, cst.For, cst.AnnAssign)):
                targets = [t.target for t in n.targets] if isinstance(n, cst.Assign) \
                    else [n.target]
                for t in targets:
                    for name in _names(t):
                        value = n.value if isinstance(n, cst.Assign) and isinstance(
                            t, cst.Name) else None
                        assigned.setdefault(name, []).append(value or cst.Name("None"))
        # bound once, to a known expression (a rebound name has no one length)
        self.bound = {k: v[0] for k, v in assigned.items() if len(v) == 1}
        self.seen: set[str] = set()

    def of_comprehension(self, comp: cst.ListComp) -> ListReturn | None:
        for_in = comp.for_in
        if for_in.ifs or for_in.inner_for_in is not None:
            return None
        return self.of_iterable(for_in.iter)

    def of_iterable(self, node: cst.BaseExpression) -> ListReturn | None:
        if isinstance(node, cst.Call) and code(node.func) == "range" and len(node.args) == 1:
            return self.of_count(node.args[0].value)
        return self.size(node)

    def of_count(self, node: cst.BaseExpression) -> ListReturn | None:
        """``len(e)``, ``e.shape[0]``, ``e.size(0)``, ``int(...)`` of those."""
        if isinstance(node, cst.Call) and code(node.func) in ("len", "int") \
                and len(node.args) == 1:
            inner = node.args[0].value
            return self.size(inner) if code(node.func) == "len" else self.of_count(inner)
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) \
                and node.value.attr.value == "shape" and code(node).endswith("[0]"):
            return self.size(node.value.value)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value == "size" and len(node.args) == 1 \
                and code(node.args[0].value) == "0":
            return self.size(node.func.value)
        return None

    def size(self, node: cst.BaseExpression) -> ListReturn | None:
        if isinstance(node, cst.Name):
            if node.value == self.inputs:
                return ListReturn(per_input=True)
            value = self.bound.get(node.value)
            if value is None or node.value in self.seen:
                return None
            self.seen.add(node.value)
            return self.size(value)
        if isinstance(node, (cst.List, cst.Tuple)):
            starred = any(isinstance(el, cst.StarredElement) for el in node.elements)
            return None if starred else ListReturn(fixed=len(node.elements))
        if isinstance(node, cst.ListComp):
            return self.of_comprehension(node)
        if isinstance(node, cst.Call) and node.args and node.args[0].keyword is None:
            func = code(node.func)
            if func == "torch.stack" and all(
                    a.keyword is None and code(a.value) == "0" or a.keyword is not None
                    and a.keyword.value == "dim" and code(a.value) == "0"
                    for a in node.args[1:]):
                return self.size(node.args[0].value)
            if func in _SHAPE_KEEPING:
                return self.size(node.args[0].value)
        return None


def _names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _names(el.value)]
    return []
