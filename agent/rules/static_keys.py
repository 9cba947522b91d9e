"""Module constants built by a call, a test or a dict comprehension, read statically.

``FEATURES = NUMERIC + list(VOCABULARIES.keys())`` over
``VOCABULARIES = {name: sorted(data[name].unique()) for name in HEADER if name not in NUMERIC}``:
the names are known though each vocabulary comes from the data. Such a dict keeps its keys
with unknown values, so loops over its keys unroll and a lookup of one value stays unknown.
Never runs user code: only ``list``/``tuple``/``sorted``/``len`` of known values, a dict's
``keys()``, and ``in``/``==``/``<`` tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst

Eval = Callable[[cst.BaseExpression, dict[str, Any]], Any]

_CALLS: dict[str, Callable[[Any], Any]] = {"list": list, "tuple": tuple, "sorted": sorted,
                                           "len": len}
_TESTS: dict[type, Callable[[Any, Any], bool]] = {
    cst.In: lambda a, b: a in b, cst.NotIn: lambda a, b: a not in b,
    cst.Equal: lambda a, b: bool(a == b), cst.NotEqual: lambda a, b: bool(a != b),
    cst.LessThan: lambda a, b: bool(a < b), cst.LessThanEqual: lambda a, b: bool(a <= b),
    cst.GreaterThan: lambda a, b: bool(a > b),
    cst.GreaterThanEqual: lambda a, b: bool(a >= b)}


def evaluate(node: cst.BaseExpression, env: dict[str, Any], ev: Eval, unknown: Any) -> Any:
    """The value of ``node`` (a call, comparison or dict comprehension), or ``unknown``."""
    try:
        if isinstance(node, cst.Call):
            return _call(node, env, ev, unknown)
        if isinstance(node, cst.Comparison):
            return _compare(node, env, ev, unknown)
        if isinstance(node, cst.DictComp):
            return _dict_comp(node, env, ev, unknown)
    except (TypeError, ValueError, KeyError):
        return unknown
    return unknown


def _known(value: Any, unknown: Any) -> bool:
    return value is not unknown and isinstance(value, (str, int, float, bool, list, tuple, dict))


def _call(node: cst.Call, env: dict[str, Any], ev: Eval, unknown: Any) -> Any:
    if any(a.keyword is not None or a.star for a in node.args):
        return unknown
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "keys" and not node.args:
        base = ev(func.value, env)
        return list(base) if isinstance(base, dict) else unknown
    if isinstance(func, cst.Name) and func.value in _CALLS and len(node.args) == 1:
        arg = ev(node.args[0].value, env)
        if not _known(arg, unknown) or isinstance(arg, (str, int, float, bool)) \
                or isinstance(arg, dict) and func.value not in ("list", "len"):
            return unknown
        if isinstance(arg, (list, tuple)) and any(v is unknown for v in arg):
            return unknown
        return _CALLS[func.value](arg)
    return unknown


def _compare(node: cst.Comparison, env: dict[str, Any], ev: Eval, unknown: Any) -> Any:
    left = ev(node.left, env)
    for target in node.comparisons:
        right = ev(target.comparator, env)
        test = _TESTS.get(type(target.operator))
        if test is None or not _known(left, unknown) or not _known(right, unknown):
            return unknown
        if not test(left, right):
            return False
        left = right
    return True


def _dict_comp(node: cst.DictComp, env: dict[str, Any], ev: Eval, unknown: Any) -> Any:
    """``{k: f(k) for k in NAMES if ...}``: the keys known, each value known or not."""
    comp = node.for_in
    if comp.inner_for_in is not None or comp.asynchronous is not None \
            or not isinstance(comp.target, cst.Name):
        return unknown
    items = ev(comp.iter, env)
    if not isinstance(items, (list, tuple)) or any(v is unknown for v in items):
        return unknown
    out: dict[Any, Any] = {}
    for item in items:
        local = {**env, comp.target.value: item}
        tests = [ev(test.test, local) for test in comp.ifs]
        if any(t is not True and t is not False for t in tests):
            return unknown
        if not all(tests):
            continue
        key = ev(node.key, local)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            return unknown
        out[key] = ev(node.value, local)
    return out
