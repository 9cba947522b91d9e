"""What a top-level statement binds and what it reads when it runs (``ast``, no execution).

``main_guard.py`` keeps a definition at module level only when everything it reads at
definition time is bound above it; these helpers answer that. Reads over-approximate (a
comprehension's own targets aside, every loaded name counts): a false read only sends a
statement under the guard, a missed one would leave a NameError on import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

# value nodes evaluated without calling user code (operator overloading aside)
_PURE: tuple[type[ast.AST], ...] = (
    ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple,
    ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.JoinedStr, ast.FormattedValue, ast.Starred, ast.unaryop, ast.operator, ast.boolop,
    ast.cmpop, ast.expr_context, ast.keyword)
_COMPREHENSION_PARTS = (*_COMPREHENSIONS, ast.comprehension, ast.Store)
# calls that only declare types: ``T = TypeVar("T")``
_TYPE_FACTORIES = frozenset({"TypeVar", "NewType", "ParamSpec", "TypeVarTuple"})
# calls that compute a value from their arguments and nothing else (no files, no clock, no
# randomness, no environment): ``_PUNCTUATION = re.compile(...)``, ``DIR = os.path.join(ROOT,
# "x")``, ``MEAN = np.array([...])`` stay definitions that functions and classes may read
_PURE_CALLS = frozenset({
    "re.compile", "re.escape", "os.path.join", "os.path.basename", "os.path.dirname",
    "os.path.splitext", "ast.literal_eval", "np.array", "np.asarray", "numpy.array",
    "numpy.asarray", "collections.namedtuple", "namedtuple", "range", "len", "min", "max",
    "sum", "abs", "round", "int", "float", "str", "bool", "bytes", "tuple", "list", "dict",
    "set", "frozenset", "sorted", "reversed", "zip", "enumerate", "ord", "chr", "divmod",
    "pow"})
_PURE_MODULES = ("math.",)  # every function of the module is pure
# pure calls whose result no statement can change in place (the rest build lists, arrays...)
_IMMUTABLE_RESULTS = frozenset({
    "re.compile", "re.escape", "os.path.join", "os.path.basename", "os.path.dirname",
    "os.path.splitext", "len", "abs", "round", "int", "float", "str", "bool", "bytes",
    "tuple", "frozenset", "ord", "chr", "divmod", "pow", "str.join", "str.format",
    "str.lower", "str.upper", "str.strip", "str.replace"})


def binds(stmt: ast.stmt) -> set[str]:
    """Module-level names ``stmt`` binds (or deletes) when it runs."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    out: set[str] = set()
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            out.add(node.rest)
        if isinstance(node, _COMPREHENSIONS):  # their targets are local; a walrus is not
            out |= {n.target.id for n in ast.walk(node)
                    if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)}
            continue
        todo += list(ast.iter_child_nodes(node))
    return out


def declared_global(tree: ast.Module) -> set[str]:
    """Names some function declares ``global``: rebound whenever that function runs."""
    return {name for node in ast.walk(tree) if isinstance(node, ast.Global)
            for name in node.names}


def reads(nodes: Iterable[ast.AST]) -> set[str]:
    """Names loaded when ``nodes`` are evaluated now: lambda bodies run later (their
    defaults now); a comprehension's own targets are not reads."""
    out: set[str] = set()
    local: set[str] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Lambda):
            todo += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            continue
        if isinstance(node, ast.comprehension):
            local |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.add(node.id)
        todo += list(ast.iter_child_nodes(node))
    return out - local


def definition_reads(stmt: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
                     lazy_annotations: bool) -> set[str]:
    """Names a ``def``/``class`` statement reads when it runs (not when called): decorators,
    defaults, annotations (unless ``from __future__ import annotations``), bases, keywords
    and the class body, whose own names shadow module names once bound."""
    if isinstance(stmt, ast.ClassDef):
        found = reads([*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)])
        return found | _class_body_reads(stmt.body, lazy_annotations)
    args = stmt.args
    parts: list[ast.AST] = [*stmt.decorator_list, *args.defaults,
                            *(d for d in args.kw_defaults if d is not None)]
    if not lazy_annotations:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs,
                 *(a for a in (args.vararg, args.kwarg) if a is not None)]
        parts += [a.annotation for a in every if a.annotation is not None]
        parts += [stmt.returns] if stmt.returns is not None else []
    return reads(parts)


def _class_body_reads(body: list[ast.stmt], lazy_annotations: bool) -> set[str]:
    out: set[str] = set()
    local: set[str] = set()
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found = definition_reads(stmt, lazy_annotations)
        elif isinstance(stmt, ast.AnnAssign) and lazy_annotations:
            found = reads([stmt.value] if stmt.value is not None else [])
        else:
            found = reads([stmt])
        out |= found - local
        local |= binds(stmt)
    return out


def pure_value(value: ast.expr) -> bool:
    """Evaluating ``value`` calls nothing of the user's (``TypeVar("T")`` aside) and reads
    no command line or environment."""
    todo: list[ast.AST] = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Lambda):
            todo += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            continue
        if isinstance(node, ast.Call) and (_type_factory(node.func) or _pure_call(node.func)):
            todo += [*node.args, *node.keywords]
            continue
        if not isinstance(node, (*_PURE, *_COMPREHENSION_PARTS)) or _script_input(node):
            return False
        todo += list(ast.iter_child_nodes(node))
    return True


def _script_input(node: ast.AST) -> bool:
    """``sys.argv`` / ``os.environ``: what the program was started with is script input."""
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in (("sys", "argv"), ("os", "environ")))


def immutable_value(value: ast.expr | None, mutable: set[str]) -> bool:
    """``value`` makes an object no statement can change in place (a number, a string, a
    tuple of such, a compiled pattern; a name not in ``mutable``): reading it after script
    code ran reads the same."""
    if isinstance(value, ast.Name):
        return value.id not in mutable
    if value is None or isinstance(value, (ast.Constant, ast.JoinedStr, ast.Compare)):
        return True
    if isinstance(value, ast.Tuple):
        return all(immutable_value(e, mutable) for e in value.elts)
    if isinstance(value, ast.UnaryOp):
        return immutable_value(value.operand, mutable)
    if isinstance(value, ast.BinOp):
        return immutable_value(value.left, mutable) and immutable_value(value.right, mutable)
    if isinstance(value, ast.Call) and _pure_call(value.func):
        return _dotted_name(value.func) in _IMMUTABLE_RESULTS or _pure_module(value.func)
    return False


def _dotted_name(func: ast.expr) -> str:
    """``os.path.join`` of a call's function; "" when it is not a dotted name (a str
    literal's method gives "str.<method>")."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant):
        return "str." + func.attr
    dotted: list[str] = []
    while isinstance(func, ast.Attribute):
        dotted.append(func.attr)
        func = func.value
    return ".".join([func.id, *reversed(dotted)]) if isinstance(func, ast.Name) else ""


def _pure_module(func: ast.expr) -> bool:
    name = _dotted_name(func)
    return name.startswith(_PURE_MODULES) and name.count(".") == 1


def _pure_call(func: ast.expr) -> bool:
    """A function of ``_PURE_CALLS``/``_PURE_MODULES``, or a method of a str/bytes literal."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant):
        return isinstance(func.value.value, (str, bytes))
    return _dotted_name(func) in _PURE_CALLS or _pure_module(func)


def _type_factory(func: ast.expr) -> bool:
    name = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")
    return name in _TYPE_FACTORIES


def is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))
