"""Whether a name a converted model's statement bound is read before the code rebinds it.

``logits = mlp(inputs, sizes)`` builds a Keras model's tensor; a later loop rebinds ``logits``
(``logits, action = sample(obs)``) before reading it. Counting every later read as a use keeps
the symbolic statement, and with it the Keras layers and the TF code around them (a tape loop
stays TF while a Keras layer is left). Read in statement order, the Keras tensor is never seen
again. Conservative where the order is not plain: a read in a function body (it may run
later), a ``try``, a branch that does not rebind on every path, or a loop body that may run no
times all count as reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import libcst as cst

from agent.rules import walk

Use = Literal["read", "store", ""]


def _mentions(node: cst.CSTNode, name: str) -> bool:
    """Any ``Name`` ``name`` under ``node`` (loads and stores alike: conservative)."""
    return any(isinstance(n, cst.Name) and n.value == name for n in walk.nodes(node))


def _target_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for el in target.elements:
            out |= _target_names(el.value)
        return out
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def _small(small: cst.BaseSmallStatement, name: str) -> Use:
    if isinstance(small, cst.Assign):
        if _mentions(small.value, name):
            return "read"
        stores = set().union(*(_target_names(t.target) for t in small.targets))
        plain = all(isinstance(t.target, (cst.Name, cst.Tuple, cst.List)) for t in small.targets)
        if name in stores and plain:
            return "store"
        return "read" if _mentions(small, name) else ""
    return "read" if _mentions(small, name) else ""


def _block(stmts: Sequence[cst.BaseStatement], name: str) -> Use:
    for stmt in stmts:
        use = _statement(stmt, name)
        if use:
            return use
    return ""


def _suite(body: cst.BaseSuite, name: str) -> Use:
    if isinstance(body, cst.IndentedBlock):
        return _block(body.body, name)
    for small in body.body:  # SimpleStatementSuite
        assert isinstance(small, cst.BaseSmallStatement)
        use = _small(small, name)
        if use:
            return use
    return ""


def _statement(stmt: cst.BaseStatement, name: str) -> Use:
    """The first use of ``name`` when ``stmt`` runs: a read, an unconditional store, or none."""
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            use = _small(small, name)
            if use:
                return use
        return ""
    if isinstance(stmt, cst.If):
        if _mentions(stmt.test, name):
            return "read"
        body = _suite(stmt.body, name)
        other: Use = "" if stmt.orelse is None else (
            _statement(stmt.orelse, name) if isinstance(stmt.orelse, cst.If)
            else _suite(stmt.orelse.body, name))
        if "read" in (body, other):
            return "read"
        return "store" if body == other == "store" else ""
    if isinstance(stmt, (cst.For, cst.While)):
        head = stmt.iter if isinstance(stmt, cst.For) else stmt.test
        if _mentions(head, name):
            return "read"
        if isinstance(stmt, cst.For) and name in _target_names(stmt.target):
            return "read"  # rebound only when the loop runs: after it, either value
        parts = [_suite(stmt.body, name)]
        if stmt.orelse is not None:
            parts.append(_suite(stmt.orelse.body, name))
        return "read" if "read" in parts else ""  # a store in a loop that may not run
    if isinstance(stmt, cst.With):
        if any(_mentions(item, name) for item in stmt.items):
            return "read"
        return _suite(stmt.body, name)
    return "read" if _mentions(stmt, name) else ""  # defs, try, match, ...: any mention


def read_before_rebound(body: Sequence[cst.BaseStatement], at: int, name: str,
                        gone: set[int]) -> bool:
    """Whether the statements of ``body`` other than those in ``gone`` may read the value
    ``body[at]`` bound to ``name``: a function or class defined anywhere in ``body`` that
    mentions it counts (it may run after), later statements in order."""
    for k, stmt in enumerate(body):
        if k != at and k not in gone and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) \
                and _free_read(stmt, name):
            return True
    later = [s for k, s in enumerate(body) if k > at and k not in gone
             and not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    return _block(later, name) == "read"


def _free_read(stmt: cst.FunctionDef | cst.ClassDef, name: str) -> bool:
    """A definition reading ``name`` as a global: mentioned, and not assigned in a function
    body (an assignment anywhere makes it local to that function)."""
    if not _mentions(stmt, name):
        return False
    if isinstance(stmt, cst.FunctionDef):
        local = any(isinstance(n, cst.AssignTarget) and name in _target_names(n.target)
                    for n in walk.nodes(stmt.body)) or any(
            isinstance(p, cst.Param) and p.name.value == name for p in walk.nodes(stmt.params))
        declared = any(isinstance(n, (cst.Global, cst.Nonlocal))
                       and any(g.name.value == name for g in n.names)
                       for n in walk.nodes(stmt.body))
        nested = any(isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda))
                     for n in walk.nodes(stmt.body))
        params = any(_mentions(p, name) for p in walk.nodes(stmt.params)
                     if isinstance(p, cst.Param) and p.default is not None)
        return not local or declared or nested or params
    heads = [*stmt.decorators, *stmt.bases, *stmt.keywords]
    if any(_mentions(h, name) for h in heads) or not isinstance(stmt.body, cst.IndentedBlock):
        return True
    # a class: its methods each by the function rule (``(_, w) = input_shape`` in build()
    # binds its own ``_``), any other statement of its body by mention
    return any(_free_read(s, name) if isinstance(s, (cst.FunctionDef, cst.ClassDef))
               else _mentions(s, name) for s in stmt.body.body)


_POINTS = ("input", "inputs", "output", "outputs")


_POINT_WORDS = re.compile(r"\b(?:inputs?|outputs?)\b")


def uses_model_tensors(fn: cst.FunctionDef, text: str | None = None) -> bool:
    """A function that reads another model's tensors (``model.inputs``,
    ``model.get_layer(n).output``: a Grad-CAM helper) without returning a model of its own:
    converted after the module's models, whose layers its view models share. ``text``: the
    function's source when known (without one of those names as a word, no walk)."""
    if text is not None and not _POINT_WORDS.search(text):
        return False
    reads = any(isinstance(n, cst.Attribute) and n.attr.value in _POINTS
                and isinstance(n.value, (cst.Name, cst.Call)) for n in walk.nodes(fn.body))
    if not reads:
        return False
    for n in walk.nodes(fn.body):
        if isinstance(n, cst.Return) and n.value is not None and any(
                isinstance(c, cst.Call) and isinstance(c.func, (cst.Name, cst.Attribute))
                and (c.func.value if isinstance(c.func, cst.Name) else c.func.attr.value)
                in ("Model", "Sequential") for c in walk.nodes(n.value)):
            return False
    returned = {n.value.value for n in walk.nodes(fn.body)
                if isinstance(n, cst.Return) and isinstance(n.value, cst.Name)}
    for n in walk.nodes(fn.body):  # `m = keras.Model(...)` ... `return m`: a builder
        if isinstance(n, cst.Assign) and isinstance(n.value, cst.Call) and any(
                isinstance(t.target, cst.Name) and t.target.value in returned
                for t in n.targets):
            func = n.value.func
            name = func.value if isinstance(func, cst.Name) else (
                func.attr.value if isinstance(func, cst.Attribute) else "")
            if name in ("Model", "Sequential"):
                return False
    return True


def outer_models(fn: cst.FunctionDef, models: set[str], module: cst.Module) -> frozenset[str]:
    """The module models ``fn`` reads as themselves: a name it does not bind, or a parameter
    every call of ``fn`` in the module passes that very name to (``heatmap(img, model)``)."""
    params = [p.name.value for p in fn.params.params]
    bound = {t for n in walk.nodes(fn.body) if isinstance(n, cst.AssignTarget)
             for t in _target_names(n.target)}
    calls = [n for n in walk.nodes(module) if isinstance(n, cst.Call)
             and isinstance(n.func, cst.Name) and n.func.value == fn.name.value]
    out: set[str] = set()
    for name in models - bound:
        if name not in params and name not in {p.name.value for p in fn.params.kwonly_params}:
            out.add(name)
            continue
        if name not in params or not calls:
            continue
        at = params.index(name)

        def passes(call: cst.Call, name: str = name, at: int = at) -> bool:
            for i, a in enumerate(call.args):
                if a.star:
                    return False
                if (a.keyword is not None and a.keyword.value == name) or (
                        a.keyword is None and i == at):
                    return isinstance(a.value, cst.Name) and a.value.value == name
            return False

        if all(passes(c) for c in calls):
            out.add(name)
    return frozenset(out)
