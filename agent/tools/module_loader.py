"""Load a converted script's definitions without running its top-level code.

Converted files are scripts: next to the LightningModule they load data, build a Trainer and
call ``fit``. Validation needs the classes only, so the module body is filtered with ``ast``
before it is compiled: imports, class and function definitions and assignments whose value is
a constant expression stay; everything else (calls, loops, ``with``, ``if __name__ ==
"__main__":``) is dropped. The filtered tree keeps its original line numbers, so tracebacks
point at the lines of the converted file. Sibling modules the file imports go through the
same filter (a finder installed only while the file loads), and nothing is written to
``__pycache__``.
"""

from __future__ import annotations

import ast
import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType

# Expression nodes that evaluate without calling user code (operator overloading aside).
_CONSTANT_NODES: tuple[type[ast.AST], ...] = (
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.UnaryOp,
    ast.BinOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.unaryop,
    ast.operator,
    ast.boolop,
    ast.cmpop,
    ast.expr_context,
)


@dataclass(frozen=True)
class Dropped:
    """A top-level statement that was not executed, for messages and tests."""

    line: int
    kind: str


@dataclass(frozen=True)
class StrippedModule:
    """The filtered module tree and what was left out of it."""

    tree: ast.Module
    dropped: tuple[Dropped, ...]


def _bound_by_import(node: ast.Import | ast.ImportFrom) -> set[str]:
    names: set[str] = set()
    for alias in node.names:
        if alias.name == "*":
            continue
        names.add(alias.asname or alias.name.split(".")[0])
    return names


def _target_names(target: ast.expr) -> set[str] | None:
    """Names a target binds, or None when it assigns into another object."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        names: set[str] = set()
        for elt in target.elts:
            sub = _target_names(elt)
            if sub is None:
                return None
            names |= sub
        return names
    return None


def _is_constant_expr(node: ast.expr, bound: set[str]) -> bool:
    """True when evaluating ``node`` calls nothing and reads only names already kept.

    A lambda's body runs only when it is called (a table of activation lambdas): only its
    default values are evaluated with it."""
    todo: list[ast.AST] = [node]
    while todo:
        sub = todo.pop()
        if isinstance(sub, ast.Lambda):
            todo += [d for d in (*sub.args.defaults, *sub.args.kw_defaults) if d is not None]
            continue
        if not isinstance(sub, _CONSTANT_NODES):
            return False
        if isinstance(sub, ast.Name) and sub.id not in bound and not hasattr(builtins, sub.id):
            return False
        todo += list(ast.iter_child_nodes(sub))
    return True


def _keep_assignment(node: ast.Assign | ast.AnnAssign, bound: set[str]) -> set[str] | None:
    """Names bound by a constant assignment worth keeping, or None to drop it."""
    if node.value is None or not _is_constant_expr(node.value, bound):
        return None
    if isinstance(node, ast.AnnAssign):
        if not _is_constant_expr(node.annotation, bound):
            return None
        return _target_names(node.target)
    names: set[str] = set()
    for target in node.targets:
        sub = _target_names(target)
        if sub is None:
            return None
        names |= sub
    return names


def _is_import_only(stmts: Sequence[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in stmts)


def _keep_try(node: ast.Try) -> bool:
    """``try: import x / except ImportError: ...`` guards are definitions too."""
    handlers_ok = all(_is_import_only(h.body) or _only_constants(h.body) for h in node.handlers)
    return _is_import_only(node.body) and handlers_ok and not node.orelse and not node.finalbody


def _only_constants(stmts: Sequence[ast.stmt]) -> bool:
    for s in stmts:
        if isinstance(s, ast.Pass):
            continue
        if isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant):
            continue
        return False
    return True


def _try_bound(node: ast.Try) -> set[str]:
    names: set[str] = set()
    for stmt in [*node.body, *(s for h in node.handlers for s in h.body)]:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names |= _bound_by_import(stmt)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                names |= _target_names(target) or set()
    return names


def strip_top_level(source: str, filename: str = "<converted>") -> StrippedModule:
    """Filter a module's body down to its definitions (raises SyntaxError on bad source)."""
    tree = ast.parse(source, filename=filename)
    bound: set[str] = {"__name__", "__file__", "__doc__", "__spec__", "__package__"}
    kept: list[ast.stmt] = []
    dropped: list[Dropped] = []
    for index, stmt in enumerate(tree.body):
        names: set[str] | None = None
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = _bound_by_import(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = {stmt.name}
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            names = _keep_assignment(stmt, bound)
        elif isinstance(stmt, ast.Try) and _keep_try(stmt):
            names = _try_bound(stmt)
        elif (
            index == 0
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            names = set()  # the module docstring
        if names is None:
            dropped.append(Dropped(stmt.lineno, type(stmt).__name__))
            continue
        bound |= names
        kept.append(stmt)
    return StrippedModule(ast.Module(body=kept, type_ignores=[]), tuple(dropped))


def compile_stripped(source: str, filename: str) -> CodeType:
    """Code object of the filtered module, with the file's own line numbers."""
    return compile(strip_top_level(source, filename).tree, filename, "exec", dont_inherit=True)


class _StrippedLoader(importlib.machinery.SourceFileLoader):
    """A source loader that filters the module body and never reads or writes bytecode."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        source = importlib.util.decode_source(self.get_data(path))
        return compile_stripped(source, path)  # no bytecode cache read or written


class _SiblingFinder(importlib.abc.MetaPathFinder):
    """Finds modules next to the converted file so their top level is filtered too."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.prefix = os.path.join(self.directory, "")
        self.loaded: set[str] = set()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        search = [self.directory] if path is None else [p for p in path if p.startswith(self.prefix)]
        if not search:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        origin = None if spec is None else spec.origin
        if spec is None or origin is None or not origin.endswith(".py"):
            return None  # not a sibling source file: let the normal import system decide
        self.loaded.add(fullname)
        return importlib.util.spec_from_file_location(
            fullname,
            origin,
            loader=_StrippedLoader(fullname, origin),
            submodule_search_locations=spec.submodule_search_locations,
        )


@contextmanager
def _sibling_imports(directory: Path) -> Iterator[_SiblingFinder]:
    finder = _SiblingFinder(directory)
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


_counter = 0


def load_definitions(path: Path) -> ModuleType:
    """Import ``path`` with its top-level code filtered out.

    The module gets a fresh private name so repeated loads of the same file (or of files that
    share a name) never see each other; sibling modules it imported are dropped from
    ``sys.modules`` afterwards for the same reason. Exceptions from the definitions themselves
    (a bad decorator, a NameError on a dropped constant) propagate to the caller.
    """
    global _counter
    _counter += 1
    path = path.resolve()
    name = f"_k2l_validate_{_counter}_{path.stem.replace('-', '_')}"
    loader = _StrippedLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    if spec is None:  # pragma: no cover - only for paths importlib cannot describe
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with _sibling_imports(path.parent) as finder:
        try:
            loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            for sibling in finder.loaded:
                sys.modules.pop(sibling, None)
    return module


def unload(module: ModuleType) -> None:
    """Forget a module loaded by :func:`load_definitions`."""
    sys.modules.pop(module.__name__, None)
