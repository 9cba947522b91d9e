"""Visitor base that reports every name an assignment binds, however the target is spelled.

Rewrites that replace a name's value (a layer list, a named initializer) must know the name is
bound exactly once; ``a, (b, *c) = ...``, ``x += 1``, ``x: int = ...`` and ``(x := ...)`` all bind.
"""

from __future__ import annotations

import libcst as cst


class Bindings(cst.CSTVisitor):
    """Calls ``bound(name)`` for each name an assignment target binds; subclasses decide
    what else binds (parameters, loop targets, ``global``) and what a binding means."""

    def bound(self, name: str) -> None:
        raise NotImplementedError

    def bind_target(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.bound(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self.bind_target(el.value)
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.bind_target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.bind_target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.bind_target(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.bind_target(node.target)
