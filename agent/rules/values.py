"""Static values of argument expressions: literals, known constants, or symbolic code.

Layer arguments are usually literals (``Dense(128)``) but often names (``Dense(hidden)``)
bound to a constant or to a parameter of ``build_model(hidden=128)``. A :class:`Value` keeps
both the source code and, when it is known statically, the Python value, so shape inference
can fold constants and still print readable expressions (``hidden * 2``) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules import pure_calls, static_keys, walk
from agent.rules.datasets import Array, loaded_arrays, rebound_array
from agent.rules.imports import ImportTable, collect_imports
from agent.rules.name_reads import names_read as names_read

_EMPTY = cst.Module(body=[])


class Unknown:
    """Marker for a value that is not known statically."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = Unknown()


@dataclass(frozen=True)
class Value:
    code: str
    value: Any = UNKNOWN
    node: cst.BaseExpression | None = None

    @property
    def known(self) -> bool:
        return self.value is not UNKNOWN

    def __repr__(self) -> str:
        return f"Value({self.code!r})"


class Sym(int):
    """An int read from a module constant: prints as the constant's name, so generated code
    says ``nn.Linear(NUM_FEATURES, hidden)``. Arithmetic gives plain ints."""

    code: str

    def __new__(cls, value: int, code: str) -> Sym:
        obj = super().__new__(cls, value)
        obj.code = code
        return obj

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return self.code

    def __format__(self, spec: str) -> str:
        return self.code if not spec else format(int(self), spec)


class LocalInt(int):
    """An int bound inside a block (a builder's local, a loop counter, an inlined helper's
    argument): printed as its value, since a generated class cannot see that name."""


def local(value: Any) -> Any:
    """``value`` ready to be stored in a block's env: ints never print as the name."""
    return LocalInt(value) if type(value) is int else value


def code_of(node: cst.CSTNode) -> str:
    """Source of ``node``; literals and names without a codegen pass (the common case)."""
    if isinstance(node, (cst.Name, cst.Integer, cst.Float, cst.SimpleString)):
        return node.value
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        return f"{node.value.value}.{node.attr.value}"
    return _EMPTY.code_for_node(node)


def evaluate(node: cst.BaseExpression, env: dict[str, Any] | None = None) -> Value:
    """Evaluate a literal-ish expression; names are looked up in ``env`` (constants)."""
    code = code_of(node)
    return Value(code, _eval(node, env or {}), node)


def _eval(node: cst.BaseExpression, env: dict[str, Any]) -> Any:
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        value = env.get(node.value, UNKNOWN)
        return Sym(value, node.value) if type(value) is int and node.value not in env.get(
            BY_VALUE, ()) else value
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
        plain = _plain_literal(node)
        if plain is not UNKNOWN:
            return plain
        try:
            value = node.evaluated_value
        except (ValueError, SyntaxError):
            return UNKNOWN
        return UNKNOWN if value is None and isinstance(node, cst.ConcatenatedString) else value
    if isinstance(node, cst.Imaginary):
        return UNKNOWN
    if isinstance(node, cst.FormattedString):  # name=f"block_{i}" in an unrolled loop
        return _formatted(node, env)
    if isinstance(node, (cst.Tuple, cst.List)):
        items = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                return UNKNOWN
            items.append(_eval(el.value, env))
        if any(i is UNKNOWN for i in items):
            return UNKNOWN
        return tuple(items) if isinstance(node, cst.Tuple) else list(items)
    if isinstance(node, cst.UnaryOperation):
        inner = _eval(node.expression, env)
        if inner is UNKNOWN:
            return UNKNOWN
        if isinstance(node.operator, cst.Minus):
            return -inner
        if isinstance(node.operator, cst.Plus):
            return +inner
        if isinstance(node.operator, cst.Not):
            return not inner
        return UNKNOWN
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        # config.NUM_LAYERS: a constant of a constants-only class (see _namespace)
        dotted = f"{node.value.value}.{node.attr.value}"
        if dotted in env:
            value = env[dotted]
            return Sym(value, dotted) if type(value) is int else value
        return UNKNOWN
    if isinstance(node, cst.Subscript):
        found = _shape_read(node, env)
        return found if found is not UNKNOWN or _FOLDING not in env \
            else _subscript(node, env)
    if isinstance(node, (cst.ListComp, cst.SetComp)) and _FOLDING not in env:
        return UNKNOWN
    if PURE_FUNCTIONS in env and isinstance(node, (cst.Call, cst.ListComp, cst.SetComp)):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
                and node.func.value in pure_calls.BUILTINS \
                and node.func.value not in env[PURE_FUNCTIONS]:
            return UNKNOWN  # the module defines its own ``len``
        found = _pure(node, env)
        if found is not UNKNOWN:
            return found
    if isinstance(node, cst.Call) and _is_product(node):
        return _product(_eval(node.args[0].value, env))
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
            and node.func.value == "int" and len(node.args) == 1 and not node.args[0].keyword \
            and not node.args[0].star:  # Dense(int(np.prod(cells))): a size
        inner = _eval(node.args[0].value, env)
        ok = isinstance(inner, (int, float)) and not isinstance(inner, bool)
        return int(inner) if ok and inner == inner and abs(inner) != float("inf") else UNKNOWN
    if isinstance(node, (cst.Call, cst.Comparison, cst.DictComp)):
        return static_keys.evaluate(node, env, _eval, UNKNOWN)
    if isinstance(node, cst.BinaryOperation):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        op = type(node.operator).__name__
        try:
            return _BINOPS[op](left, right)
        except (KeyError, TypeError, ZeroDivisionError, ValueError):
            return UNKNOWN
    return UNKNOWN


def _pure(node: cst.Call | cst.ListComp | cst.SetComp, env: dict[str, Any]) -> Any:
    """A pure function of known values (pure_calls.py), or a list/set comprehension over
    known values; UNKNOWN otherwise."""
    try:
        if isinstance(node, cst.Call):
            return _pure_call(node, env)
        items = _comprehension(node.for_in, node.elt, env)
        return pure_calls.checked(items if isinstance(node, cst.ListComp) else set(items))
    except (pure_calls.NotPure, TypeError):  # an unhashable item of a set
        return UNKNOWN


def _pure_call(node: cst.Call, env: dict[str, Any]) -> Any:
    spelled: dict[str, str] = env[PURE_FUNCTIONS]
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for arg in node.args:
        if arg.star:
            raise pure_calls.NotPure("*args")
        value = _argument(arg.value, env)
        if value is UNKNOWN:
            raise pure_calls.NotPure("unknown argument")
        if arg.keyword is not None:
            kwargs[arg.keyword.value] = value
        else:
            args.append(value)
    func = node.func
    name = code_of(func) if isinstance(func, (cst.Name, cst.Attribute)) else ""
    qualified = spelled.get(name)
    if qualified is not None and name not in env:
        if qualified in pure_calls.MODULE_FUNCTIONS:
            return pure_calls.call_function(qualified, args, kwargs)
        return pure_calls.call_builtin(qualified, args, kwargs)
    if isinstance(func, cst.Attribute):  # a method of a known value: ",".join(CHARS)
        base = _eval(func.value, env)
        if base is not UNKNOWN:
            return pure_calls.call_method(base, func.attr.value, args, kwargs)
    raise pure_calls.NotPure(name)


def _argument(node: cst.BaseExpression, env: dict[str, Any]) -> Any:
    """A call's argument; a generator expression as the list it yields."""
    if isinstance(node, cst.GeneratorExp):
        try:
            return _comprehension(node.for_in, node.elt, env)
        except pure_calls.NotPure:
            return UNKNOWN
    return _eval(node, env)


def _comprehension(comp: cst.CompFor, element: cst.BaseExpression, env: dict[str, Any]
                   ) -> list[Any]:
    """The items of ``[element for ... in ... if ...]`` (nested ``for`` too) over known
    values; raises NotPure when a part is not known or the result grows too long."""
    out: list[Any] = []

    def run(part: cst.CompFor | None, scope: dict[str, Any]) -> None:
        if part is None:
            value = _eval(element, scope)
            if value is UNKNOWN:
                raise pure_calls.NotPure("unknown element")
            out.append(value)
            if len(out) > pure_calls.MAX_ITEMS:
                raise pure_calls.NotPure("long comprehension")
            return
        if part.asynchronous is not None:
            raise pure_calls.NotPure("async")
        items = _argument(part.iter, scope)
        if isinstance(items, dict):
            items = list(items)
        if not isinstance(items, (list, tuple, range, str, set, frozenset)) \
                or isinstance(items, (set, frozenset)) and not all(
                    isinstance(i, (str, int)) for i in items):
            raise pure_calls.NotPure("unknown iterable")
        for item in items:
            local = {**scope, **_unpack(part.target, item)}
            tests = [_eval(test.test, local) for test in part.ifs]
            if any(t is UNKNOWN for t in tests):
                raise pure_calls.NotPure("unknown test")
            if all(tests):
                run(part.inner_for_in, local)

    run(comp, env)
    return out


def _unpack(target: cst.BaseExpression, value: Any) -> dict[str, Any]:
    """``for i, c in ...``: the names one item binds (ints as values, never names)."""
    if isinstance(target, cst.Name):
        return {target.value: local(value)}
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (tuple, list)) \
            and len(target.elements) == len(value) and not any(
                isinstance(el, cst.StarredElement) for el in target.elements):
        out: dict[str, Any] = {}
        for el, item in zip(target.elements, value, strict=True):
            out.update(_unpack(el.value, item))
        return out
    raise pure_calls.NotPure("target")


def _subscript(node: cst.Subscript, env: dict[str, Any]) -> Any:
    """``CHARS[0]``, ``SHAPE[1:]``, ``MAPPING["C"]`` of a known value."""
    base = _eval(node.value, env)
    if not isinstance(base, (list, tuple, str, dict)) or len(node.slice) != 1:
        return UNKNOWN
    index = node.slice[0].slice
    try:
        if isinstance(index, cst.Index):
            key = _eval(index.value, env)
            if key is UNKNOWN or isinstance(key, (list, dict, set)):
                return UNKNOWN
            return base[key]
        if isinstance(index, cst.Slice) and not isinstance(base, dict):
            parts = [None if p is None else _eval(p, env)
                     for p in (index.lower, index.upper, index.step)]
            if any(p is UNKNOWN or p is not None and type(p) not in (int, Sym, LocalInt)
                   for p in parts):
                return UNKNOWN
            return base[slice(*parts)]
    except (IndexError, KeyError, TypeError, ValueError):
        return UNKNOWN
    return UNKNOWN


_FLOAT_CHARS = frozenset("0123456789.eE+-")


def _plain_literal(node: cst.BaseExpression) -> Any:
    """The value of a decimal int (``64``), a float without underscores (``0.2``) or a
    one-quoted string with no prefix and no backslash (``"relu"``) read off its text,
    UNKNOWN for any other literal: libcst's ``evaluated_value`` runs Python's parser on
    each one."""
    text = getattr(node, "value", "")
    if isinstance(node, cst.Integer):
        return int(text) if text.isascii() and text.isdigit() and (
            text[0] != "0" or text == "0") else UNKNOWN
    if isinstance(node, cst.Float):
        return float(text) if text and _FLOAT_CHARS.issuperset(text) else UNKNOWN
    if isinstance(node, cst.SimpleString) and len(text) >= 2 and text[0] in "'\"" \
            and text[-1] == text[0] and text[:3] != text[0] * 3 and "\\" not in text:
        return text[1:-1]
    return UNKNOWN


def _is_product(node: cst.Call) -> bool:
    """``math.prod(t)`` / ``np.prod(t)``: a size computed from a tuple of sizes."""
    func = node.func
    return isinstance(func, cst.Attribute) and func.attr.value == "prod" \
        and isinstance(func.value, cst.Name) and func.value.value in ("math", "np", "numpy") \
        and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star


def _product(items: Any) -> Any:
    if not isinstance(items, (tuple, list)) or not items or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in items):
        return UNKNOWN
    out = 1
    for d in items:
        out *= int(d)
    return out


def _shape_read(node: cst.Subscript, env: dict[str, Any]) -> Any:
    """``x.shape[k]`` / ``x.shape[k:]`` of a loaded dataset array (agent/rules/datasets.py)."""
    base = node.value
    if not (isinstance(base, cst.Attribute) and base.attr.value == "shape"
            and isinstance(base.value, cst.Name) and len(node.slice) == 1):
        return UNKNOWN
    array = env.get(base.value.value)
    if not isinstance(array, Array):
        return UNKNOWN
    index = node.slice[0].slice
    if isinstance(index, cst.Index):
        k = _eval(index.value, env)
        ok = isinstance(k, int) and not isinstance(k, bool) and -len(array.shape) <= k < len(
            array.shape)
        return array.shape[int(k)] if ok else UNKNOWN
    if isinstance(index, cst.Slice) and index.step is None:
        lo = 0 if index.lower is None else _eval(index.lower, env)
        hi = len(array.shape) if index.upper is None else _eval(index.upper, env)
        if isinstance(lo, int) and isinstance(hi, int):
            return array.shape[int(lo):int(hi)]
    return UNKNOWN


def _formatted(node: cst.FormattedString, env: dict[str, Any]) -> Any:
    """An f-string whose parts are known ints and strings (no conversions, no specs)."""
    out = []
    for part in node.parts:
        if isinstance(part, cst.FormattedStringText):
            out.append(part.value)
            continue
        if not isinstance(part, cst.FormattedStringExpression):
            return UNKNOWN
        if part.conversion is not None or part.format_spec is not None:
            return UNKNOWN
        value = _eval(part.expression, env)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return UNKNOWN
        out.append(value if isinstance(value, str) else str(int(value)))
    if "{" in "".join(p.value for p in node.parts if isinstance(p, cst.FormattedStringText)):
        return UNKNOWN  # a doubled brace: the text is not the value
    return "".join(out) if node.prefix.lower() == "f" else UNKNOWN


_BINOPS: dict[str, Any] = {
    "Add": lambda a, b: a + b,
    "Subtract": lambda a, b: a - b,
    "Multiply": lambda a, b: a * b,
    "Divide": lambda a, b: a / b,
    "FloorDivide": lambda a, b: a // b,
    "Modulo": lambda a, b: a % b,
    "Power": lambda a, b: a**b,
}


def _top_level_lines(body: Sequence[cst.BaseStatement]) -> Iterator[cst.SimpleStatementLine]:
    """Top-level simple statements, and those of the channels-last branch of an
    ``if K.image_data_format() == "channels_first": ... else: ...`` (Keras's default, the
    branch the converted code keeps): ``input_shape = (rows, cols, 1)`` is known there."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield stmt
        elif isinstance(stmt, cst.If):
            branch = _channels_last_branch(stmt)
            yield from (s for s in branch if isinstance(s, cst.SimpleStatementLine))


def _channels_last_branch(node: cst.If) -> Sequence[cst.BaseStatement]:
    test = node.test
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.left, cst.Call) and not test.left.args):
        return ()
    func = test.left.func
    name = func.attr.value if isinstance(func, cst.Attribute) else (
        func.value if isinstance(func, cst.Name) else "")
    cmp = test.comparisons[0]
    other = cmp.comparator.evaluated_value if isinstance(cmp.comparator,
                                                         cst.SimpleString) else None
    if name != "image_data_format" or other not in ("channels_first", "channels_last") \
            or not isinstance(cmp.operator, (cst.Equal, cst.NotEqual)):
        return ()
    body_is_last = (other == "channels_last") == isinstance(cmp.operator, cst.Equal)
    if body_is_last:
        block: cst.BaseSuite | None = node.body
    else:
        block = node.orelse.body if isinstance(node.orelse, cst.Else) else None
    return block.body if isinstance(block, cst.IndentedBlock) else ()


def _dict(node: cst.Dict, env: dict[str, Any]) -> Any:
    """``FEATURES = {"color": 5, "shape": 3}``: loops over its keys/items can unroll."""
    out: dict[Any, Any] = {}
    for el in node.elements:
        if not isinstance(el, cst.DictElement):
            return UNKNOWN
        key, value = _eval(el.key, env), _eval(el.value, env)
        if key is UNKNOWN or value is UNKNOWN or not isinstance(key, (str, int)):
            return UNKNOWN
        out[key] = value
    return out


def _namespace(cls: cst.ClassDef, env: dict[str, Any]) -> dict[str, Any] | None:
    """``class Config: NUM_LAYERS = 2`` (a class of constants only, no base, no method;
    ``@dataclass`` too: an instance made without arguments holds the defaults): its names
    and values; None for any other class."""
    if cls.bases or cls.keywords or not all(_is_dataclass(d) for d in cls.decorators) \
            or not isinstance(cls.body, cst.IndentedBlock):
        return None
    out: dict[str, Any] = {}
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return None
        for small in stmt.body:
            if isinstance(small, cst.Pass) or isinstance(small, cst.Expr) and isinstance(
                    small.value, (cst.SimpleString, cst.ConcatenatedString)):
                continue
            target = small.target if isinstance(small, cst.AnnAssign) else (
                small.targets[0].target if isinstance(small, cst.Assign)
                and len(small.targets) == 1 else None)
            value = small.value if isinstance(small, (cst.Assign, cst.AnnAssign)) else None
            if not isinstance(target, cst.Name) or value is None or target.value in out:
                return None
            out[target.value] = _eval(value, {**env, **out})
    return out


def _is_dataclass(decorator: cst.Decorator) -> bool:
    node = decorator.decorator
    node = node.func if isinstance(node, cst.Call) else node
    return code_of(node) in ("dataclass", "dataclasses.dataclass")


def _namespaces(module: cst.Module, env: dict[str, Any]) -> dict[str, Any]:
    """``Config.DEPTH`` and ``config.DEPTH`` (``config = Config()`` at the top level, bound
    once) as dotted constants, where nothing in the module assigns an attribute of either."""
    classes = {s.name.value: ns for s in module.body if isinstance(s, cst.ClassDef)
               and (ns := _namespace(s, env)) is not None}
    if not classes:
        return {}
    holders: dict[str, str] = {name: name for name in classes}
    bound: dict[str, int] = {}
    for stmt in _top_level_lines(module.body):
        for small in stmt.body:
            if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)):
                continue
            name = small.targets[0].target.value
            bound[name] = bound.get(name, 0) + 1
            v = small.value
            if isinstance(v, cst.Call) and not v.args and isinstance(v.func, cst.Name) \
                    and v.func.value in classes:
                holders[name] = v.func.value
    holders = {h: c for h, c in holders.items() if bound.get(h, 0) == (h != c)}
    written: set[str] = set()  # config.LR = 0.1 anywhere: its values may change
    for n in walk.nodes(module):
        target = n.target if isinstance(n, (cst.AssignTarget, cst.AugAssign)) else None
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            written.add(target.value.value)
    return {f"{h}.{k}": v for h, c in holders.items() if h not in written and c not in written
            for k, v in classes[c].items() if v is not UNKNOWN}


# env keys that are no names: the pure functions' spellings (pure_calls.py), and the
# constants a definitions-only import of the converted script lacks (rebound, or moved under
# the main guard): generated code writes their values, never their names
PURE_FUNCTIONS = "<pure functions>"
BY_VALUE = "<by value>"
REBOUND = "<rebound>"  # known names bound more than once: the value after the last binding
# set only while module_constants folds: items of known values (``CFG["units"]``) and
# comprehensions are read there; elsewhere such code stays as written (a class reading
# ``config["size"]`` keeps reading it)
_FOLDING = "<folding>"


def by_name(env: dict[str, Any]) -> frozenset[str]:
    """The constants of ``env`` generated code may read by name."""
    hidden: frozenset[str] = env.get(BY_VALUE, frozenset())
    return frozenset(env) - hidden - {PURE_FUNCTIONS, BY_VALUE, REBOUND}


_AUG_OPS: dict[type, str] = {
    cst.AddAssign: "Add", cst.SubtractAssign: "Subtract", cst.MultiplyAssign: "Multiply",
    cst.DivideAssign: "Divide", cst.FloorDivideAssign: "FloorDivide",
    cst.ModuloAssign: "Modulo", cst.PowerAssign: "Power"}


def module_constants(module: cst.Module, imports: ImportTable | None = None,
                     source: str | None = None) -> dict[str, Any]:
    """Top-level bindings whose values are known statically, usable for shape inference:
    literals and pure functions of known values (pure_calls.py), bound once or rebound in
    source order where nothing else sees another value (constant_bindings.py).
    ``imports``: the module's table as ``collect_imports`` made it, when the caller has it
    (collecting it again costs a walk of every block); ``source``: the module's text, when
    the caller has it (which names a definitions-only import binds is read off it)."""
    from agent.rules import constant_bindings as cb

    imports = imports if imports is not None else collect_imports(module)
    defined = {s.name.value for s in module.body if isinstance(s, (cst.FunctionDef,
                                                                   cst.ClassDef))}
    pure = {name: name for name in pure_calls.BUILTINS if name not in defined}
    pure.update(pure_calls.spellings(module))
    visible = _defined_once(module, source)
    hidden: set[str] = set()  # filled as names are bound: their reads give plain values
    env: dict[str, Any] = {PURE_FUNCTIONS: pure, BY_VALUE: hidden, _FOLDING: True}
    steps = cb.Steps()
    arrays: set[str] = set()
    values: dict[str, list[Any]] = {}  # every value each name was bound to
    links: dict[str, set[str]] = {}  # names whose bindings read each other (aliases)
    in_place: set[str] = set()
    in_functions = cb.changed_in_place(module) - cb.changed_at_top(module)

    def forget(names: set[str]) -> None:
        """From here on these names (and the constants sharing their objects) are unknown:
        later folds must not read a value a loop, branch or in-place change replaced."""
        for name in cb.sharing({n: env.get(n, UNKNOWN) for n in links}, links, names):
            if name in env:
                env[name] = UNKNOWN

    for stmt, simple in _top_level_statements(module.body):
        if not simple:
            steps.unsafe |= cb.bound_inside(stmt)
            forget(cb.bound_inside(stmt) | cb.changed_in_place(stmt))
            steps.steps.append(cb.Step(stmt, mentions=frozenset(cb.mentioned(stmt))))
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body:
            if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name) \
                    and cb.mutable(env.get(small.target.value)):
                in_place.add(small.target.value)  # ``xs += [1]`` changes the list itself
                forget({small.target.value})
            bound = _bind_small(small, env, imports, arrays)
            if bound is None:
                steps.unsafe |= cb.bound_inside(small)
                forget(cb.bound_inside(small) | cb.changed_in_place(small))
                steps.steps.append(cb.Step(small, mentions=frozenset(cb.mentioned(small))))
                continue
            for name in bound.keys() & in_functions:  # a function may change it any time
                env[name] = bound[name] = UNKNOWN
            reads = cb.mentioned(getattr(small, "value", None) or small)
            for name, value in bound.items():
                values.setdefault(name, []).append(value)
                if visible is not None and name not in visible:
                    hidden.add(name)
                if value is UNKNOWN:
                    continue  # not a constant; a user function that returns its argument
                    # and is changed later is as far out of reach as one changing it
                for other in reads - {name}:  # ``B = A``, ``B = [A]``: one object
                    if not cb.shares(value, env.get(other, UNKNOWN)):
                        continue  # ``B = list(A)``, ``B = len(A)``: a new object
                    links.setdefault(name, set()).add(other)
                    links.setdefault(other, set()).add(name)
            steps.steps.append(cb.Step(
                small, frozenset(bound), all(v is not UNKNOWN for v in bound.values()),
                frozenset(reads)))
    readers = cb.function_reads(module)
    finals = {name: env.get(name, UNKNOWN) for name in values}
    changed = cb.sharing(finals, links, cb.changed_in_place(module) | in_place)
    out: dict[str, Any] = {}
    for name, value in finals.items():
        if value is UNKNOWN or name in arrays or name in steps.unsafe or name in changed \
                or not cb.followed(name, steps.steps, readers):
            continue
        out[name] = value
    result = {**_namespaces(module, {**out, BY_VALUE: frozenset(hidden)}), **out}
    if pure:
        result[PURE_FUNCTIONS] = pure
    if hidden & out.keys():
        result[BY_VALUE] = frozenset(hidden & out.keys())
    rebound = frozenset(n for n in out if len(values[n]) > 1)
    if rebound:
        result[REBOUND] = rebound
    return result


def _defined_once(module: cst.Module, source: str | None) -> frozenset[str] | None:
    """Names a definitions-only import of the laid-out script binds, once
    (agent/rules/layout/main_guard.py); None: the layout leaves the file as written."""
    from agent.rules.layout.main_guard import defined_names

    return defined_names(source if source is not None else module.code)


def _top_level_statements(body: Sequence[cst.BaseStatement]
                          ) -> Iterator[tuple[cst.BaseStatement, bool]]:
    """Top-level statements in order, each with whether the evaluator follows it (simple
    lines, and those of the channels-last branch of an image-data-format test; the other
    branch is never kept by the converted code)."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield stmt, True
        elif isinstance(stmt, cst.If) and _channels_last_branch(stmt):
            for inner in _channels_last_branch(stmt):
                yield inner, isinstance(inner, cst.SimpleStatementLine)
        else:
            yield stmt, False


def _bind_small(small: cst.BaseSmallStatement, env: dict[str, Any], imports: ImportTable,
                arrays: set[str]) -> dict[str, Any] | None:
    """The names ``small`` binds and their new values (UNKNOWN where not known), ``env``
    updated; None for a statement that binds nothing the evaluator follows."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        loaded = loaded_arrays(target, small.value, imports)
        if loaded:  # only their shapes are read
            env.update(loaded)
            arrays.update(loaded)
            return dict(loaded)
        held = env.get(target.value) if isinstance(target, cst.Name) else None
        if isinstance(held, Array) and isinstance(target, cst.Name):
            # x_train = x_train.astype("float32") / reshape(...): the shape stays known
            rebound = rebound_array(target.value, held, small.value,
                                    lambda node: _eval(node, env))
            env[target.value] = rebound if rebound is not None else UNKNOWN
            return {target.value: env[target.value]}
        if isinstance(target, cst.Name):
            value = _eval(small.value, env) if not isinstance(small.value, cst.Dict) \
                else _dict(small.value, env)
            env[target.value] = value
            return {target.value: value}
        if isinstance(target, (cst.Tuple, cst.List)):  # rows, cols = 28, 28
            value = _eval(small.value, env)
            names = [el.value.value if isinstance(el.value, cst.Name) else None
                     for el in target.elements]
            if None in names:
                return None
            ok = isinstance(value, (tuple, list)) and len(value) == len(names)
            out = {str(name): value[k] if ok else UNKNOWN for k, name in enumerate(names)}
            env.update(out)
            return out
        return None
    if isinstance(small, cst.AnnAssign) and small.value is not None \
            and isinstance(small.target, cst.Name):
        value = _eval(small.value, env)
        env[small.target.value] = value
        return {small.target.value: value}
    if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
        name = small.target.value
        old, right = env.get(name, UNKNOWN), _eval(small.value, env)
        op = _AUG_OPS.get(type(small.operator))
        if isinstance(old, Array) and isinstance(right, (int, float)):
            return {name: old}  # x_train /= 255: the array's shape stays
        value = UNKNOWN
        if old is not UNKNOWN and right is not UNKNOWN and op is not None:
            try:
                value = pure_calls.checked(_BINOPS[op](old, right))
            except (TypeError, ZeroDivisionError, ValueError, OverflowError,
                    pure_calls.NotPure):
                value = UNKNOWN
        env[name] = value
        return {name: value}
    return None


def assigned_names(stmt: cst.BaseStatement, augmented: bool = True) -> set[str]:
    """Names a simple statement assigns (``a = ...``, ``a, b = ...``; with ``augmented``
    also ``a: T = ...`` and ``a += ...``)."""
    out: set[str] = set()
    if not isinstance(stmt, cst.SimpleStatementLine):
        return out
    for small in stmt.body:
        if isinstance(small, cst.Assign):
            for t in small.targets:
                if isinstance(t.target, cst.Name):
                    out.add(t.target.value)
                elif isinstance(t.target, (cst.Tuple, cst.List)):
                    out |= {e.value.value for e in t.target.elements
                            if isinstance(e.value, cst.Name)}
        elif augmented and isinstance(small, (cst.AnnAssign, cst.AugAssign)) and isinstance(
                small.target, cst.Name):
            out.add(small.target.value)
    return out
