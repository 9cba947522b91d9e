"""Gradients with respect to inputs and ``tf.Variable`` images (tape_loop.py's helpers).

TF tensors are immutable, torch's are not, and that changes three statements of a tape loop
over an input (gradient ascent on an image, a style transfer, a gradient penalty):

* ``tape.watch(x)`` makes ``x`` a recorded constant; torch records a tensor that requires
  grad, and flipping the caller's flag would leak out of the tape, so the statement becomes
  ``x = tape_watch(x)`` (a new leaf over the same storage);
* ``x += lr * grads`` rebinds ``x`` in TF; in torch it writes into a tensor that records
  (an error for a leaf), so augmented assignments of watched names, gradient sources and
  gradients become ``x = x + lr * grads``;
* ``v = tf.Variable(img)`` is a leaf that records (``tape_variable``); ``v.assign(x)``,
  ``assign_add``, ``assign_sub`` write it in place without recording (``variable_assign*``).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.values import code_of

TAPE = "tensorflow.GradientTape"
VARIABLE = "tensorflow.Variable"
ASSIGN = {"assign": "variable_assign", "assign_add": "variable_assign_add",
          "assign_sub": "variable_assign_sub"}
# tf.Variable's parameters in order, and those tape_variable reproduces
_VARIABLE_ARGS = ("initial_value", "trainable", "validate_shape", "caching_device", "name",
                  "variable_def", "dtype")
_KEPT_ARGS = {"initial_value", "trainable", "name", "dtype"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "@": 2, "**": 3}


def tape_names(module: cst.Module, imports: ImportTable) -> set[str]:
    """Names bound by ``with tf.GradientTape(...) as name``."""
    out: set[str] = set()

    class Find(cst.CSTVisitor):
        def visit_WithItem(self, node: cst.WithItem) -> None:
            if isinstance(node.item, cst.Call) and imports.resolve(node.item.func) == TAPE \
                    and node.asname is not None and isinstance(node.asname.name, cst.Name):
                out.add(node.asname.name.value)

    module.visit(Find())
    return out


def variable_names(module: cst.Module, imports: ImportTable) -> set[str]:
    """Names and ``self.x`` attributes assigned a ``tf.Variable(...)`` anywhere."""
    out: set[str] = set()

    class Find(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Call) and imports.resolve(node.value.func) == VARIABLE:
                out.update(code_of(t.target) for t in node.targets
                           if isinstance(t.target, (cst.Name, cst.Attribute)))

    module.visit(Find())
    return out


def rebound_names(scope: cst.CSTNode, tapes: set[str]) -> set[str]:
    """Code of the names whose augmented assignments must rebind in ``scope``: watched
    tensors, gradient sources, and the targets a ``tape.gradient`` result is assigned to."""
    out: set[str] = set()

    def add(expr: cst.BaseExpression) -> None:
        if isinstance(expr, (cst.Name, cst.Attribute)):
            out.add(code_of(expr))
        elif isinstance(expr, (cst.List, cst.Tuple)):
            for el in expr.elements:
                add(el.value)

    def is_tape_call(node: cst.CSTNode, method: str) -> bool:
        return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name) and node.func.value.value in tapes
                and node.func.attr.value == method)

    class Find(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if is_tape_call(node, "watch") and node.args:
                add(node.args[0].value)
            elif is_tape_call(node, "gradient") and len(node.args) > 1:
                add(node.args[1].value)

        def visit_Assign(self, node: cst.Assign) -> None:
            calls: list[cst.Call] = []

            class Calls(cst.CSTVisitor):
                def visit_Call(self, call: cst.Call) -> None:
                    if is_tape_call(call, "gradient"):
                        calls.append(call)

            node.value.visit(Calls())
            if calls:
                for t in node.targets:
                    add(t.target)

    scope.visit(Find())
    return out


def _assignable(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)):
        return True
    return isinstance(expr, (cst.List, cst.Tuple)) and bool(expr.elements) and all(
        not isinstance(el, cst.StarredElement) and _assignable(el.value)
        for el in expr.elements)


def watch_assign(small: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
    """``tape_watch(x)`` as a statement → ``x = tape_watch(x)``."""
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return small
    call = small.value
    if not (isinstance(call.func, cst.Name) and call.func.value == "tape_watch"
            and len(call.args) == 1 and call.args[0].keyword is None
            and _assignable(call.args[0].value)):
        return small
    target = call.args[0].value
    assert isinstance(target, (cst.Name, cst.Attribute, cst.Subscript, cst.List, cst.Tuple))
    if isinstance(target, cst.Tuple):  # `a, b = ...`: no parentheses needed
        target = target.with_changes(lpar=[], rpar=[])
    return cst.Assign([cst.AssignTarget(target)], call, semicolon=small.semicolon)


def rebind(small: cst.BaseSmallStatement, names: set[str]) -> cst.BaseSmallStatement:
    """``x += v`` → ``x = x + v`` where ``x`` or a name ``v`` reads is in ``names``."""
    if not isinstance(small, cst.AugAssign) or not isinstance(
            small.target, (cst.Name, cst.Attribute)):
        return small
    read: set[str] = set()

    class Reads(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            read.add(node.value)

        def visit_Attribute(self, node: cst.Attribute) -> None:
            read.add(code_of(node))

    small.value.visit(Reads())
    if code_of(small.target) not in names and not read & names:
        return small
    op = code_of(small.operator).strip()[:-1]
    if op not in _PRECEDENCE:
        return small
    value = code_of(small.value)
    inner = small.value
    if not (isinstance(inner, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer,
                               cst.Float))
            or (isinstance(inner, cst.BinaryOperation) and _PRECEDENCE.get(
                code_of(inner.operator).strip(), 0) > _PRECEDENCE[op])) \
            or op == "**":
        value = f"({value})"
    target = code_of(small.target)
    return cst.Assign([cst.AssignTarget(small.target)],
                      cst.parse_expression(f"{target} {op} {value}"), semicolon=small.semicolon)


def variable_call(original: cst.Call, updated: cst.Call) -> cst.Call | None:
    """``tf.Variable(value, ...)`` → ``tape_variable(value, ...)`` when only the value,
    ``trainable``, ``name`` and ``dtype`` are given."""
    named: set[str] = set()
    for k, arg in enumerate(original.args):
        if arg.star or (arg.keyword is None and k >= 2):
            return None
        named.add(arg.keyword.value if arg.keyword is not None else _VARIABLE_ARGS[k])
    if "initial_value" not in named or named - _KEPT_ARGS:
        return None
    return updated.with_changes(func=cst.Name("tape_variable"))


def assign_call(updated: cst.Call, variables: set[str] | None) -> cst.Call | None:
    """``v.assign_add(d)`` on a known variable → ``variable_assign_add(v, d)``; ``variables``
    None: on any receiver no import names (a model's weight, ``for a, b in zip(target.
    variables, ...)``: only TF variables have a one-argument ``assign``)."""
    func = updated.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in ASSIGN
            and (variables is None or code_of(func.value) in variables)
            and len(updated.args) == 1
            and updated.args[0].keyword is None and not updated.args[0].star):
        return None
    arg = updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return cst.Call(cst.Name(ASSIGN[func.attr.value]), [
        cst.Arg(func.value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), arg])


def odd_tapes(module: cst.Module, tapes: set[str]) -> set[str]:
    """Tapes used other than by ``gradient``/``watch`` calls and ``del`` (``jacobian``,
    ``stop_recording``, passed on): they stay TF, a torch rewrite would leave the name
    unbound."""
    allowed: set[int] = set()
    seen: dict[str, list[int]] = {}

    class Find(cst.CSTVisitor):
        def visit_WithItem(self, node: cst.WithItem) -> None:
            if node.asname is not None:
                allowed.add(id(node.asname.name))

        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("gradient", "watch"):
                allowed.add(id(func.value))

        def visit_Attribute(self, node: cst.Attribute) -> None:
            allowed.add(id(node.attr))

        def visit_Arg(self, node: cst.Arg) -> None:
            if node.keyword is not None:
                allowed.add(id(node.keyword))

        def visit_Del(self, node: cst.Del) -> None:
            targets = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) \
                else [cst.Element(node.target)]
            allowed.update(id(t.value) for t in targets)

        def visit_Name(self, node: cst.Name) -> None:
            if node.value in tapes:
                seen.setdefault(node.value, []).append(id(node))

    module.visit(Find())
    return {name for name, ids in seen.items() if any(i not in allowed for i in ids)}
