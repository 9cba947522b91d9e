"""The values a module's calls pass to its builder functions.

``def get_model(num_layers): ... for _ in range(num_layers): ...`` called once as
``get_model(num_layers=8)``: the loop can be unrolled for 8, as for a default, when every call
in the module passes that same static value (the generated class asserts it). Read from the
``ast`` of the module; never runs user code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from typing import Any

from agent.rules.models.inline import static_ast
from agent.rules.models.scopes import own_scope
from agent.rules.parsed import breadth_first
from agent.rules.values import UNKNOWN

_VARIES = object()  # calls disagree, or one passes a value the rules cannot read


def call_values(statements: Iterable[ast.stmt], env: dict[str, Any],
                varying: dict[str, set[str]] | None = None,
                walked: Sequence[list[ast.AST]] | None = None) -> dict[str, dict[str, Any]]:
    """Function name -> {parameter: the static value every call in the module passes};
    ``varying`` (filled when given): function -> the parameters its calls set differently
    or to values the rules cannot read. ``walked``: each statement's ``breadth_first``
    nodes, when the caller has them."""
    statements = list(statements)
    functions = {s.name: s for s in statements if isinstance(s, ast.FunctionDef)}
    local: dict[str, set[str]] = {}  # filled for the functions that call others
    calls = [[n for n in nodes if isinstance(n, ast.Call)  # once, not a pass
              and isinstance(n.func, ast.Name) and n.func.id in functions]
             for nodes in (walked or [breadth_first(stmt) for stmt in statements])]
    main = {id(stmt): env | _main_constants(stmt, statements, env) for stmt in statements
            if _is_main(stmt)}
    out: dict[str, dict[str, Any]] = {}
    for _ in range(3):  # `build(HIDDEN)` -> `block(hidden)` inside build: one level a pass
        seen: dict[str, dict[str, Any]] = {}
        for stmt, found in zip(statements, calls, strict=True):
            if not found:
                continue
            scope = main.get(id(stmt), env)
            if isinstance(stmt, ast.FunctionDef):  # its own names shadow the module's
                if stmt.name not in local:
                    local[stmt.name] = _locals(functions[stmt.name])
                scope = {k: v for k, v in env.items() if k not in local[stmt.name]}
                scope |= out.get(stmt.name, {})
            for node in found:
                assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                _merge(seen, node.func.id, _bound(functions[node.func.id], node, scope))
        new = {fn: {p: v for p, v in params.items() if v is not _VARIES}
               for fn, params in seen.items()}
        if varying is not None:
            varying.clear()
            varying.update({fn: {p for p, v in params.items() if v is _VARIES}
                            for fn, params in seen.items()})
        if new == out:
            break
        out = new
    return out


def _is_main(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``"""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
        and test.left.id == "__name__" and len(test.comparators) == 1 \
        and isinstance(test.comparators[0], ast.Constant) \
        and test.comparators[0].value == "__main__"


def _main_constants(main: ast.stmt, statements: list[ast.stmt], env: dict[str, Any]
                    ) -> dict[str, Any]:
    """``num_classes = 5`` directly under ``if __name__ == "__main__":``: static values of
    names the module binds nowhere else (a later rebinding would make the value vary)."""
    counts: dict[str, int] = {}
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in own_scope(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                counts[node.id] = counts.get(node.id, 0) + 1
    found: dict[str, Any] = {}
    assert isinstance(main, ast.If)
    for stmt in main.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name) and counts[stmt.targets[0].id] == 1:
            value = static_ast(stmt.value, env | found)
            if value is not UNKNOWN and isinstance(value, (bool, int, float, str, tuple, list)):
                found[stmt.targets[0].id] = value
    return found


def _locals(fn: ast.FunctionDef) -> set[str]:
    """Parameters and every name the function assigns."""
    args = fn.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return names | {n.id for n in breadth_first(fn) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Store)}


def _merge(seen: dict[str, dict[str, Any]], fn: str, bound: dict[str, Any]) -> None:
    if fn not in seen:
        seen[fn] = bound
        return
    old = seen[fn]
    for p in set(old) | set(bound):
        a, b = old.get(p, _VARIES), bound.get(p, _VARIES)
        old[p] = a if a is not _VARIES and b is not _VARIES and _same(a, b) else _VARIES


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _bound(fn: ast.FunctionDef, call: ast.Call, env: dict[str, Any]) -> dict[str, Any]:
    """Parameter -> static value for one call; every parameter is present (_VARIES if the
    call's value cannot be read)."""
    params = [*fn.args.posonlyargs, *fn.args.args]
    names = [p.arg for p in params] + [p.arg for p in fn.args.kwonlyargs]
    out: dict[str, Any] = {n: _VARIES for n in names}
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords) or len(call.args) > len(params):
        return out
    given: dict[str, ast.expr] = {p.arg: a for p, a in zip(params, call.args, strict=False)}
    given |= {k.arg: k.value for k in call.keywords if k.arg is not None}
    defaults = dict(zip([p.arg for p in params][len(params) - len(fn.args.defaults):],
                        fn.args.defaults, strict=True))
    defaults |= {p.arg: d for p, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults,
                                          strict=True) if d is not None}
    for name in names:
        node = given.get(name, defaults.get(name))
        if node is None:
            continue
        value = static_ast(node, env)
        if value is not UNKNOWN and isinstance(value, (bool, int, float, str, tuple, list)):
            out[name] = value
    return out
