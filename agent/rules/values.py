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

from agent.rules import static_keys, walk
from agent.rules.datasets import Array, loaded_arrays, rebound_array
from agent.rules.imports import ImportTable, collect_imports

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
        return Sym(value, node.value) if type(value) is int else value
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
        return _shape_read(node, env)
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


def module_constants(module: cst.Module, imports: ImportTable | None = None
                     ) -> dict[str, Any]:
    """Top-level ``NAME = <literal>`` bindings (assigned once), usable for shape inference.
    ``imports``: the module's table as ``collect_imports`` made it, when the caller has it
    (collecting it again costs a walk of every block)."""
    env: dict[str, Any] = {}
    seen: dict[str, int] = {}
    imports = imports if imports is not None else collect_imports(module)
    for stmt in _top_level_lines(module.body):
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                arrays = loaded_arrays(target, small.value, imports)
                for loaded, array in arrays.items():  # only their shapes are read
                    seen[loaded] = seen.get(loaded, 0) + 1
                    env[loaded] = array
                if arrays:
                    continue
                held = env.get(target.value) if isinstance(target, cst.Name) else None
                if isinstance(held, Array) and isinstance(target, cst.Name):
                    # x_train = x_train.astype("float32") / reshape(...): the shape stays known
                    rebound = rebound_array(target.value, held, small.value,
                                            lambda node: _eval(node, env))
                    env[target.value] = rebound if rebound is not None else UNKNOWN
                    seen[target.value] += 1
                    continue
                if isinstance(target, cst.Name):
                    seen[target.value] = seen.get(target.value, 0) + 1
                    env[target.value] = _eval(small.value, env) if not isinstance(
                        small.value, cst.Dict) else _dict(small.value, env)
                elif isinstance(target, (cst.Tuple, cst.List)):  # rows, cols = 28, 28
                    value = _eval(small.value, env)
                    names = [el.value.value if isinstance(el.value, cst.Name) else None
                             for el in target.elements]
                    ok = isinstance(value, (tuple, list)) and len(value) == len(names)
                    for k, name in enumerate(names):
                        if name is not None:
                            seen[name] = seen.get(name, 0) + 1
                            env[name] = value[k] if ok else UNKNOWN
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                if isinstance(small.target, cst.Name):
                    seen[small.target.value] = seen.get(small.target.value, 0) + 1
                    env[small.target.value] = _eval(small.value, env)
    env = {k: v for k, v in env.items()
           if v is not UNKNOWN and seen[k] == 1 and not isinstance(v, Array)}
    return {**_namespaces(module, env), **env}


def names_read(node: cst.CSTNode) -> list[cst.Name]:
    """The bare names an expression reads: attribute heads, not attribute names
    (``x.shape``: x), not keywords (``f(units=n)``: f, n)."""
    found: list[cst.Name] = []
    stack = [node]
    while stack:
        current = stack.pop()
        kind = type(current)  # libcst's node classes are final (and ABC checks are slow)
        if kind is cst.Name:
            found.append(current)  # type: ignore[arg-type]
        elif kind is cst.Attribute or kind is cst.Arg:
            stack.append(current.value)  # type: ignore[attr-defined]
        else:
            stack += walk.children(current)[::-1]
    return found


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
