"""A converted script's script statements under one ``if __name__ == "__main__":`` block.

A ported script is a module others import (``from train import MyModule``): importing it must
not load data or train. Its top-level statements split into definitions (imports, defs and
classes, docstrings, ``__all__``, assignments of pure values over names already bound, type
aliases) that stay where they are, in order, and script statements, which move, in their
order, into one guard at the end. A def/class or assignment stays only when everything it
reads at definition time is bound above it by statements that stay (and bind that name only
once) and it binds its names first (hoisting a first binding changes nothing that ran before
it; hoisting a rebinding would); otherwise it is script too.

Because the guard is at module scope, every name it binds is still a module global: running
the file as a program executes the same statements in an order whose only change is that
definitions which read nothing of the script's run before it. Statements that prepare the
imports (``sys.path``, ``os.environ``, ``warnings`` set before an import) keep everything up
to that import in place. A file that already ends in a guard gets the statements outside it
in front of its body; script code after an existing guard, two guards or a guard with an
``else`` leave the file as written. Notebooks are cell-based and never reach this pass.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections import Counter
from dataclasses import dataclass

import libcst as cst

from agent.rules import parsed
from agent.rules.layout.names import (
    binds,
    declared_global,
    definition_reads,
    immutable_value,
    is_main_guard,
    pure_value,
    reads,
)

_MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__package__",
                           "__loader__", "__builtins__", "__annotations__"})
# calls and assignments that prepare later imports: what precedes such an import stays put
_SETUP_ROOTS = ("sys.path", "sys.modules", "sys.setrecursionlimit", "os.environ", "os.putenv",
                "os.chdir", "warnings.", "matplotlib.use", "mpl.use", "site.")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # lines as ast counts them
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Layout:
    """The new text, and how far each moved statement's lines moved (for line records)."""

    code: str
    moves: tuple[tuple[int, int, int], ...] = ()  # (first line, last line, offset)

    def line(self, old: int) -> int:
        for first, last, offset in self.moves:
            if first <= old <= last:
                return old + offset
        return old


def guard_script(code: str) -> Layout:
    """``code`` with its script statements under a main guard (``code`` itself when there
    are none, or when the layout cannot be changed without changing what runs)."""
    try:
        return _guard(code)
    except (RecursionError, MemoryError):  # nested past what the parsers follow
        return Layout(code)


def _guard(code: str) -> Layout:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return Layout(code)
    units = _units(tree.body)
    kinds = _classify(tree, units)
    if kinds is None or "script" not in kinds:
        return Layout(code)
    try:
        new = _rewrite(code, units, kinds)
    except cst.ParserSyntaxError:
        return Layout(code)
    order = ([s for u, k in zip(units, kinds, strict=True) if k == "keep" for s in u]
             + [s for u, k in zip(units, kinds, strict=True) if k == "script" for s in u]
             + [s for u, k in zip(units, kinds, strict=True) if k == "main"
                for guard in u if isinstance(guard, ast.If) for s in guard.body])
    moves = _moves(order, new)
    return Layout(new, moves) if moves is not None else Layout(code)


def defined_names(code: str) -> frozenset[str] | None:
    """Names the statements this layout keeps at module level bind, each only once: what a
    definitions-only import of the laid-out ``code`` binds. None when the layout would leave
    the file as written (every name is then bound as the script runs)."""
    try:
        tree = parsed.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    units = _units(tree.body)
    try:
        kinds = _classify(tree, units)
    except (RecursionError, MemoryError):
        return None
    if kinds is None:
        return None
    bound = [set().union(*(binds(s) for s in u)) for u in units]
    count = Counter(name for names in bound for name in names)
    return frozenset(n for names, kind in zip(bound, kinds, strict=True) if kind == "keep"
                     for n in names if count[n] == 1)


def _units(body: list[ast.stmt]) -> list[list[ast.stmt]]:
    """Top-level statements grouped as libcst sees them (``a = 1; b = 2`` is one line)."""
    units: list[list[ast.stmt]] = []
    for stmt in body:
        prev = units[-1][-1] if units else None
        if prev is not None and prev.end_lineno == stmt.lineno and _simple(prev):
            units[-1].append(stmt)
        else:
            units.append([stmt])
    return units


def _simple(stmt: ast.stmt) -> bool:
    return not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If,
                                 ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith,
                                 ast.Try, ast.Match))


def _classify(tree: ast.Module, units: list[list[ast.stmt]]) -> list[str] | None:
    """"keep", "script" or "main" (an existing guard) per unit; None: leave the file."""
    mains = [i for i, u in enumerate(units) if len(u) == 1 and is_main_guard(u[0])]
    if len(mains) > 1 or any(isinstance(s, ast.If) and s.orelse for i in mains
                             for s in units[i]):
        return None
    lazy = any(isinstance(s, ast.ImportFrom) and s.module == "__future__"
               and any(a.name == "annotations" for a in s.names) for s in tree.body)
    bound = [set().union(*(binds(s) for s in u)) for u in units]
    count = Counter(name for names in bound for name in names)
    importing = {i for i, u in enumerate(units) if all(_import_like(s) for s in u)}
    by_import_only = {n for n in count
                      if all(i in importing for i, b in enumerate(bound) if n in b)}
    rebound = declared_global(tree)  # also bound whenever some function runs
    first_unit: dict[str, int] = {}
    for i, names in enumerate(bound):
        for name in names:
            first_unit.setdefault(name, i)
    known = set(dir(builtins)) | _MODULE_NAMES
    kinds: list[str] = []
    prefix = _setup_prefix(units, importing)
    mutable: set[str] = set()  # kept names whose object script code could change
    for i, unit in enumerate(units):
        if i in mains:
            kinds.append("main")
            continue
        first = all(first_unit[n] == i and n not in rebound
                    or i in importing and n in by_import_only for n in bound[i])
        keep = i <= prefix or (first and all(
            _definition(s, known | set().union(*(binds(p) for p in unit[:k])), lazy)
            for k, s in enumerate(unit)))
        if keep and i > prefix and "script" in kinds and _definition_time_reads(
                unit, lazy) & mutable:
            keep = False  # hoisted over script code that may have filled or changed it
        kinds.append("keep" if keep else "script")
        if keep:
            known |= {n for n in bound[i] if count[n] == 1 or n in by_import_only}
            mutable |= {n for s in unit if isinstance(s, (ast.Assign, ast.AnnAssign))
                        and not immutable_value(s.value, mutable) for n in binds(s)}
    _fill_in_script(units, kinds)
    if mains and "script" in kinds[mains[0]:]:
        return None  # script code after the guard: which order was meant is not clear
    if any(k != "keep" and _module_global(u) for u, k in zip(units, kinds, strict=True)):
        return None  # ``global x`` in the block after a kept ``x = ...``: a SyntaxError
    return kinds


def _fill_in_script(units: list[list[ast.stmt]], kinds: list[str]) -> None:
    """An empty list/dict/set that only script code fills stays with that code: hoisted
    alone it would read as a definition it is not."""
    used = [{n.id for s in u for n in ast.walk(s) if isinstance(n, ast.Name)} for u in units]
    for i, unit in enumerate(units):
        name = _empty_container(unit)
        if kinds[i] != "keep" or name is None:
            continue
        others = [j for j in range(len(units)) if j != i and name in used[j]]
        if others and all(kinds[j] == "script" for j in others):
            kinds[i] = "script"


def _empty_container(unit: list[ast.stmt]) -> str | None:
    stmt = unit[0] if len(unit) == 1 else None
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)):
        return None
    value = stmt.value
    empty = (isinstance(value, (ast.List, ast.Set)) and not value.elts
             or isinstance(value, ast.Dict) and not value.keys
             or isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
             and value.func.id in ("list", "dict", "set") and not value.args
             and not value.keywords)
    return stmt.targets[0].id if empty else None


def _definition_time_reads(unit: list[ast.stmt], lazy: bool) -> set[str]:
    out: set[str] = set()
    for stmt in unit:
        if isinstance(stmt, _DEFS):
            out |= definition_reads(stmt, lazy)
        elif not _import_like(stmt):
            out |= reads([stmt])
    return out


def _module_global(unit: list[ast.stmt]) -> bool:
    todo: list[ast.AST] = list(unit)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Global):
            return True
        if not isinstance(node, (*_DEFS, ast.Lambda)):
            todo += list(ast.iter_child_nodes(node))
    return False


def _import_like(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(stmt, ast.Try):
        return _keep_try(stmt)
    return isinstance(stmt, ast.If) and _type_checking(stmt)


def _setup_prefix(units: list[list[ast.stmt]], importing: set[int]) -> int:
    """Index of the last import that follows a statement preparing imports, else -1."""
    first = next((i for i, u in enumerate(units) if any(_prepares(s) for s in u)), None)
    if first is None:
        return -1
    return max((i for i in importing if i > first), default=-1)


def _prepares(stmt: ast.stmt) -> bool:
    """``sys.path.insert(...)``, ``os.environ["X"] = ...``, ``warnings.filterwarnings(...)``."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        heads = [stmt.value.func]
    elif isinstance(stmt, ast.Assign):
        heads = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        heads = [stmt.target]
    else:
        return False
    return any(_dotted(h).startswith(_SETUP_ROOTS) for h in heads)


def _dotted(node: ast.expr) -> str:
    """``sys.path`` of ``sys.path.insert`` / ``os.environ[...]``, as dots."""
    parts: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts)) + "."


def _definition(stmt: ast.stmt, known: set[str], lazy: bool) -> bool:
    """``stmt`` may run on import: it defines, and reads only what ``known`` binds (the
    caller checks that it binds names first: a hoisted first binding changes nothing that
    ran before it, a hoisted rebinding would)."""
    if _import_like(stmt) or isinstance(stmt, (ast.Pass, ast.Global, ast.Nonlocal)):
        return True
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Constant)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return definition_reads(stmt, lazy) <= known
    if isinstance(stmt, ast.Assign):
        targets, parts = stmt.targets, [stmt.value]
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
        parts = [stmt.value] if stmt.value is not None else []
        parts += [] if lazy else [stmt.annotation]
    else:
        return False
    return (all(_names_only(t) for t in targets) and all(pure_value(p) for p in parts)
            and reads(parts) <= known)


def _names_only(target: ast.expr) -> bool:
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_names_only(e) for e in target.elts)
    return isinstance(target, ast.Name)


def _imports_only(body: list[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in body)


def _keep_try(node: ast.Try) -> bool:
    """``try: import x / except ImportError: x = None`` declares what is importable."""
    def fallback(body: list[ast.stmt]) -> bool:
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Raise)) or (
            isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant)) for s in body)

    return (_imports_only(node.body) and all(fallback(h.body) for h in node.handlers)
            and not node.orelse and not node.finalbody)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    name = test.id if isinstance(test, ast.Name) else (
        test.attr if isinstance(test, ast.Attribute) else "")
    return name == "TYPE_CHECKING" and _imports_only(node.body) and _imports_only(node.orelse)


def _rewrite(code: str, units: list[list[ast.stmt]], kinds: list[str]) -> str:
    """Kept statements as written (text); the moved ones parsed by libcst as one block, which
    re-indents them, continuation lines and comments included (only that part is parsed and
    written again: the whole module through libcst costs as much as a rules pass)."""
    lines = _LINE.findall(code)
    spans, start = [], _first_line(units[0]) - 1
    for unit in units:  # a statement owns the comments and blank lines above it
        spans.append((start, unit[-1].end_lineno or unit[-1].lineno))
        start = spans[-1][1]
    head, foot = lines[:spans[0][0]], lines[spans[-1][1]:]
    kept: list[str] = []
    last_kept: ast.stmt | None = None
    for unit, kind, (a, b) in zip(units, kinds, spans, strict=True):
        if kind != "keep":
            continue
        text = lines[a:b]
        while not (head or kept) and text and not text[0].strip():
            text = text[1:]  # the file does not start with blank lines
        if isinstance(last_kept, _DEFS) and text and text[0].strip():
            text = ["\n", "\n", *text]  # a def/class that a hoisted statement now follows
        kept += text
        last_kept = unit[-1]
    if kept and not kept[-1].endswith(("\n", "\r")):
        kept[-1] += "\r\n" if code.count("\r\n") > code.count("\n") / 2 else "\n"
    moved = cst.parse_module("".join(
        line for kind, (a, b) in zip(kinds, spans, strict=True) if kind != "keep"
        for line in lines[a:b]))
    old_guard = "main" in kinds  # an existing guard, last: its own blank lines stay two
    body = [_unindented_blanks(s) for s in moved.body[:-1]] + [
        moved.body[-1] if old_guard else _unindented_blanks(moved.body[-1])]
    first = [*moved.header, *_leading(body[0])]
    while first and first[0].comment is None:  # the block starts with its first line
        first.pop(0)
    body[0] = body[0].with_changes(leading_lines=first)
    old = body[-1] if old_guard else None
    if isinstance(old, cst.If) and isinstance(old.body, cst.IndentedBlock):
        block = old.body
        guard = old.with_changes(body=block.with_changes(body=[*body[:-1], *block.body]))
    else:
        guard = cst.If(test=cst.parse_expression('__name__ == "__main__"'),
                       body=cst.IndentedBlock(body=body))
    if kept and "main" not in kinds:
        guard = guard.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    block_code = moved.with_changes(header=[], body=[guard], footer=[]).code
    return "".join([*head, *kept, block_code, *foot])


def _first_line(unit: list[ast.stmt]) -> int:
    stmt = unit[0]
    decorators = stmt.decorator_list if isinstance(stmt, _DEFS) else []
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _leading(stmt: cst.BaseStatement) -> list[cst.EmptyLine]:
    if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        return list(stmt.leading_lines)
    return []


def _unindented_blanks(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """Blank lines above a statement that moves into the block stay empty (libcst writes the
    block's indentation on them otherwise; those inside nested blocks are already right), and
    one at most in a row: the two around a definition that stayed above read as a gap."""
    lines: list[cst.EmptyLine] = []
    for line in _leading(stmt):
        if line.comment is None:
            if lines and lines[-1].comment is None:
                continue
            line = line.with_changes(indent=False)
        lines.append(line)
    return stmt.with_changes(leading_lines=lines)


def _moves(order: list[ast.stmt], new: str) -> tuple[tuple[int, int, int], ...] | None:
    """Where each statement is in the new text (None: the new text does not hold the same
    statements). The kept ones are copied text; the moved ones are compared as trees."""
    try:
        tree = ast.parse(new)
    except SyntaxError:
        return None
    guard = tree.body[-1]
    if not isinstance(guard, ast.If):
        return None
    after = [*tree.body[:-1], *guard.body]
    if len(after) != len(order):
        return None
    moves = []
    kept = len(tree.body) - 1
    for k, (old, now) in enumerate(zip(order, after, strict=True)):
        if type(old) is not type(now) or (k >= kept and ast.dump(old) != ast.dump(now)):
            return None
        if now.lineno != old.lineno:  # decorators move with their def
            first = _first_line([old])
            moves.append((first, old.end_lineno or old.lineno, now.lineno - old.lineno))
    return tuple(moves)
