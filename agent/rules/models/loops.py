"""Loops and list expressions whose items are known by position, not all by value.

``for size in (list(HIDDEN) + [n_actions])[:-1]`` has a length the rules know even though
``n_actions`` is read from data at run time; ``for e in embeddings`` walks a list of Keras
tensors; ``range(len(embeddings))`` counts one. Each item is an expression (a literal, the
source's own code, a tensor's name), so a loop over them unrolls like one over constants.
``"gelu" if idx == 0 else None`` written in an unrolled body is folded to the branch its
now-static test takes. Nothing here runs user code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import libcst as cst

from agent.rules.models.inline import MAX_UNROLL, literal, static_value
from agent.rules.values import UNKNOWN

Items = Mapping[str, Sequence[cst.BaseExpression]]  # list name -> its items, by position


def item_nodes(node: cst.BaseExpression, env: dict[str, Any], lists: Items
               ) -> list[cst.BaseExpression] | None:
    """The items of a list expression as expressions, in order; None when its length is not
    known statically. ``lists`` gives the lists the caller follows (tensors by name)."""
    node = with_lengths(node, lists)
    out = _items(node, env, lists)
    if out is None or len(out) > MAX_UNROLL or not all(_pure(item) for item in out):
        return None
    return out


def _pure(item: cst.BaseExpression) -> bool:
    """An item that reads the same wherever it is substituted: no call (``Dense(8)`` written
    twice would be two layers), no lambda, no assignment expression."""
    found = _Impure()
    item.visit(found)
    return not found.seen


def _items(node: cst.BaseExpression, env: dict[str, Any], lists: Items
           ) -> list[cst.BaseExpression] | None:
    if isinstance(node, cst.Name) and node.value in lists:
        return list(lists[node.value])
    value = static_value(node, env)
    if isinstance(value, (list, tuple, range)):
        return [literal(v) for v in value] if len(value) <= MAX_UNROLL else None
    if isinstance(node, (cst.List, cst.Tuple)):
        if any(isinstance(el, cst.StarredElement) for el in node.elements):
            return None
        return [el.value.with_changes(lpar=[], rpar=[]) if isinstance(el.value, cst.Name)
                else el.value for el in node.elements]
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        left, right = _items(node.left, env, lists), _items(node.right, env, lists)
        return left + right if left is not None and right is not None else None
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and len(node.args) == 1 \
            and node.args[0].keyword is None and not node.args[0].star:
        inner = _items(node.args[0].value, env, lists)
        if inner is None:
            return None
        if node.func.value in ("list", "tuple"):
            return inner
        if node.func.value == "enumerate":
            return [cst.Tuple([cst.Element(literal(k)), cst.Element(v)])
                    for k, v in enumerate(inner)]
        if node.func.value == "reversed":
            return inner[::-1]
        return None
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 \
            and isinstance(node.slice[0].slice, cst.Slice):
        base = _items(node.value, env, lists)
        part = node.slice[0].slice
        bounds = [static_value(b, env) if b is not None else None
                  for b in (part.lower, part.upper, part.step)]
        if base is None or any(b is UNKNOWN or b is not None and type(b) is not int
                               for b in bounds):
            return None
        return base[slice(*bounds)]
    return None


def summands(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """``a + [b] + c`` -> [a, [b], c]; any other expression -> [node]."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return summands(node.left) + summands(node.right)
    return [node]


def bindings(target: cst.BaseAssignTargetExpression, item: cst.BaseExpression
             ) -> dict[str, cst.BaseExpression] | None:
    """``for a, b in ...`` target names -> the expressions of one item."""
    if isinstance(target, cst.Name):
        return {target.value: item}
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(item, (cst.Tuple, cst.List)) \
            and len(target.elements) == len(item.elements):
        out: dict[str, cst.BaseExpression] = {}
        for el, part in zip(target.elements, item.elements, strict=True):
            inner = bindings(el.value, part.value)  # type: ignore[arg-type]
            if inner is None:
                return None
            out.update(inner)
        return out
    return None


def with_lengths(node: cst.CSTNodeT, lists: Items) -> cst.CSTNodeT:
    """``len(embeddings)`` of a followed list replaced by its length."""
    if not lists:
        return node
    new = node.visit(_Lengths(lists))
    return new  # type: ignore[return-value]


def fold_choices(node: cst.CSTNodeT, env: dict[str, Any]) -> cst.CSTNodeT:
    """``A if <test> else B`` whose test is known statically replaced by the branch taken."""
    new = node.visit(_Choices(env))
    return new  # type: ignore[return-value]


class _Impure(cst.CSTVisitor):
    def __init__(self) -> None:
        self.seen = False

    def visit_Call(self, node: cst.Call) -> None:
        self.seen = True

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.seen = True

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.seen = True


class _Lengths(cst.CSTTransformer):
    def __init__(self, lists: Items) -> None:
        super().__init__()
        self.lists = lists

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call
                   ) -> cst.BaseExpression:
        func, args = updated_node.func, updated_node.args
        if isinstance(func, cst.Name) and func.value == "len" and len(args) == 1 \
                and isinstance(args[0].value, cst.Name) and args[0].value.value in self.lists:
            return literal(len(self.lists[args[0].value.value]))
        return updated_node


class _Choices(cst.CSTTransformer):
    def __init__(self, env: dict[str, Any]) -> None:
        super().__init__()
        self.env = env

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # its parameters shadow the block's names

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp
                    ) -> cst.BaseExpression:
        test = static_value(updated_node.test, self.env)
        if test is UNKNOWN or not isinstance(test, (bool, int, float, str, type(None))):
            return updated_node
        chosen = updated_node.body if test else updated_node.orelse
        if not chosen.lpar and not isinstance(chosen, (cst.Name, cst.Attribute, cst.Call,
                                                       cst.Subscript, cst.Integer, cst.Float,
                                                       cst.SimpleString)):
            return chosen.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return chosen
