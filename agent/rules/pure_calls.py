"""Pure functions the static evaluator may run on values it already knows.

Scripts compute constants from constants: ``CHARSET = ast.literal_eval('["C", "N"]')`` then
``ATOM_DIM = len(CHARSET)``; a model sized by ``ATOM_DIM`` keeps real sizes (and an example
input) only if the rules know that value. Listed here are functions of their arguments'
values alone: nothing that reads files, the environment, the clock or a random state, and
nothing that runs user code (no ``key=`` callables, no objects but plain data). Results are
capped in size, so ``range(10**9)`` or ``"x" * 10**9`` stays unknown instead of filling memory.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from typing import Any

import libcst as cst

MAX_ITEMS = 10_000  # elements of a container the evaluator builds
MAX_CHARS = 100_000  # characters of a string it builds or parses


class NotPure(Exception):
    """The call is not one of these functions, or its arguments are not plain data."""


def _plain(value: Any, depth: int = 0) -> bool:
    """Plain data of bounded size: what a literal could write."""
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_CHARS
    if isinstance(value, range):
        return len(value) <= MAX_ITEMS
    if isinstance(value, (list, tuple, set, frozenset)):
        return len(value) <= MAX_ITEMS and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= MAX_ITEMS and all(
            _plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def checked(value: Any) -> Any:
    """``value`` when it is plain data of bounded size; raises NotPure otherwise."""
    if not _plain(value):
        raise NotPure("not plain data")
    return value


def _literal_eval(text: Any) -> Any:
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise NotPure("literal_eval of a non-string")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise NotPure("not a literal") from exc


def _json_loads(text: Any) -> Any:
    if not isinstance(text, (str, bytes)) or len(text) > MAX_CHARS:
        raise NotPure("json.loads of a non-string")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotPure("not JSON") from exc


def _range(*args: Any) -> range:
    if not all(isinstance(a, int) for a in args):
        raise NotPure("range of non-ints")
    out = range(*args)
    if len(out) > MAX_ITEMS:
        raise NotPure("long range")
    return out


def _sorted(items: Any, reverse: bool = False) -> list[Any]:
    return sorted(items, reverse=bool(reverse))


# functions of importable modules, by qualified name
MODULE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ast.literal_eval": _literal_eval,
    "json.loads": _json_loads,
}

# builtins (by bare name, where the module does not rebind the name)
BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "sorted": _sorted, "list": list, "tuple": tuple, "set": set,
    "frozenset": frozenset, "dict": dict, "min": min, "max": max, "sum": sum, "range": _range,
    "abs": abs, "round": round, "int": int, "float": float, "str": str, "bool": bool,
    "enumerate": lambda items, start=0: list(enumerate(items, start)),
    "zip": lambda *items: list(zip(*items, strict=False)),
    "reversed": lambda items: list(reversed(items)), "any": any, "all": all, "ord": ord,
    "chr": chr,
}
_KEYWORDS: dict[str, frozenset[str]] = {"sorted": frozenset({"reverse"}),
                                        "enumerate": frozenset({"start"}),
                                        "split": frozenset({"sep", "maxsplit"}),
                                        "rsplit": frozenset({"sep", "maxsplit"})}

# methods of known values, by the value's type
METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper",
                    "replace", "join", "startswith", "endswith", "splitlines", "count",
                    "index", "find", "title", "capitalize"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
    dict: frozenset({"keys", "values", "items", "get"}),
}


def call_builtin(name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``name(*args, **kwargs)`` for a builtin of BUILTINS; raises NotPure otherwise."""
    fn = BUILTINS.get(name)
    if fn is None or not kwargs.keys() <= _KEYWORDS.get(name, frozenset()):
        raise NotPure(name)
    return _run(fn, args, kwargs)


def call_function(qualified: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """A function of MODULE_FUNCTIONS, by its qualified name; raises NotPure otherwise."""
    fn = MODULE_FUNCTIONS.get(qualified)
    if fn is None or kwargs:
        raise NotPure(qualified)
    return _run(fn, args, kwargs)


def call_method(value: Any, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``value.method(*args, **kwargs)`` for the methods of METHODS; raises NotPure
    otherwise. ``"".join(parts)`` needs strings only; dict views come back as lists."""
    allowed = next((names for kind, names in METHODS.items() if type(value) is kind), None)
    if allowed is None or method not in allowed \
            or not kwargs.keys() <= _KEYWORDS.get(method, frozenset()):
        raise NotPure(method)
    out = _run(getattr(value, method), args, kwargs)
    return list(out) if method in ("keys", "values", "items") else out


def _run(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    for value in [*args, *kwargs.values()]:
        checked(value)
    try:
        return checked(fn(*args, **kwargs))
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError,
            MemoryError, RecursionError) as exc:
        raise NotPure(str(exc)) from exc


def spellings(module: cst.Module) -> dict[str, str]:
    """How the module's top-level imports name MODULE_FUNCTIONS: ``import ast`` ->
    {"ast.literal_eval": "ast.literal_eval"}; ``from json import loads as parse`` ->
    {"parse": "json.loads"}."""
    out: dict[str, str] = {}
    modules = {q.split(".")[0] for q in MODULE_FUNCTIONS}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if isinstance(alias.name, cst.Name) and alias.name.value in modules:
                        local = alias.asname.name if alias.asname is not None else alias.name
                        if isinstance(local, cst.Name):
                            out.update({f"{local.value}.{q.split('.', 1)[1]}": q
                                        for q in MODULE_FUNCTIONS
                                        if q.startswith(alias.name.value + ".")})
            elif isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name) \
                    and not small.relative and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    qualified = f"{small.module.value}.{cst.Module([]).code_for_node(alias.name)}"
                    as_name = alias.asname.name if alias.asname is not None else alias.name
                    if qualified in MODULE_FUNCTIONS and isinstance(as_name, cst.Name):
                        out[as_name.value] = qualified
    return out
