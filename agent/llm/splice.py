"""Put the LLM's code into the converted file by name, and remember which lines it wrote.

The code comes from :func:`agent.llm.extract.extract_piece`. Its top-level class or function
with the target's name replaces the original (keeping the original's parameters, or the
callers break: a changed signature is a format error with the parameters named); for a dotted qualname (``GAN.train_step``) the
method is replaced inside its class, and new methods it brings (``training_step``) are added
next to it. Definitions the reply repeats from rule-written code are *not* taken: the LLM
only rewrites code it wrote. Of the rest of the reply only what the piece uses is taken (its
helpers, constants and imports): usage examples, tests and ``__main__`` blocks are dropped.
The spliced line ranges are returned so a failing check can be
attributed to the LLM (repair) or to the rules (a rule bug).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.llm.extract import FormatError

_KERAS_ROOTS = {"keras", "tensorflow", "tf_keras"}
TODO_MARK = "TODO(k2l)"

Def = cst.FunctionDef | cst.ClassDef


class SpliceError(ValueError):
    """The converted file has no place for the piece (a rules problem, not the model's)."""


@dataclass(frozen=True)
class SpliceResult:
    source: str
    regions: tuple[tuple[int, int], ...]  # 1-based inclusive line ranges the LLM wrote
    ignored: tuple[str, ...] = ()  # names in the reply that were not taken, and why


def _name(node: cst.CSTNode) -> str | None:
    return node.name.value if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else None


def _defs(body: Sequence[cst.BaseStatement | cst.BaseSmallStatement]) -> dict[str, Def]:
    return {n.name.value: n for n in body if isinstance(n, (cst.FunctionDef, cst.ClassDef))}


def _strip_todo(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    return [ln for ln in lines if ln.comment is None or TODO_MARK not in ln.comment.value]


def _imports(module: cst.Module) -> list[cst.SimpleStatementLine]:
    return [s for s in module.body if isinstance(s, cst.SimpleStatementLine) and _is_import(s)]


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(x, (cst.Import, cst.ImportFrom)) for x in stmt.body
    )


def _takes_self(node: cst.CSTNode) -> bool:
    """A top-level ``def f(self, ...)`` in a reply for a method piece is meant as a method."""
    params = node.params.params if isinstance(node, cst.FunctionDef) else ()
    return bool(params) and params[0].name.value == "self"


def _new_assignments(stmt: cst.BaseStatement, taken: set[str]) -> list[str] | None:
    """Names a top-level ``X = ...`` of the reply defines, if all are new to the file."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    names: list[str] = []
    for small in stmt.body:
        targets: list[cst.BaseExpression] = []
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
        elif isinstance(small, cst.AnnAssign):
            targets = [small.target]
        else:
            return None
        for t in targets:
            if not isinstance(t, cst.Name) or t.value in taken:
                return None
            names.append(t.value)
    return names


def _queue_imports(ctx: CodemodContext, reply: cst.Module, ignored: list[str], used: set[str]) -> None:
    """The reply's imports that bind a name the file now uses (unused ones would fail ruff)."""
    for stmt in _imports(reply):
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    asname = alias.asname.name if alias.asname else None
                    bound = get_full_name_for_node(asname) if asname else (
                        get_full_name_for_node(alias.name) or "").split(".")[0]
                    if bound not in used:
                        continue
                    AddImportsVisitor.add_needed_import(
                        ctx,
                        get_full_name_for_node(alias.name) or "",
                        asname=get_full_name_for_node(asname) if asname else None,
                    )
            elif isinstance(small, cst.ImportFrom):
                module = get_full_name_for_node(small.module) if small.module else ""
                relative = len(small.relative)
                if isinstance(small.names, cst.ImportStar):
                    ignored.append(f"from {module} import * (star imports are not merged)")
                    continue
                if module == "__future__":
                    continue
                for alias in small.names:
                    asname = alias.asname.name if alias.asname else None
                    bound = get_full_name_for_node(asname) if asname else get_full_name_for_node(alias.name)
                    if bound not in used:
                        continue
                    AddImportsVisitor.add_needed_import(
                        ctx,
                        module or "",
                        get_full_name_for_node(alias.name),
                        get_full_name_for_node(asname) if asname else None,
                        relative,
                    )


class _Names(cst.CSTVisitor):
    """Names a node reads or binds (attribute names after a dot are not names)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False


def _used(node: cst.CSTNode) -> set[str]:
    visitor = _Names()
    node.visit(visitor)
    return visitor.names


def _reachable(reply: cst.Module, top: str, method: str, reply_defs: dict[str, Def]) -> set[str]:
    """Top-level names of the reply the piece needs, transitively (its helpers, constants)."""
    by_name: dict[str, cst.CSTNode] = {}
    for stmt in reply.body:
        name = _name(stmt)
        if name is not None:
            by_name.setdefault(name, stmt)
        else:
            for target in _new_assignments(stmt, set()) or ():
                by_name.setdefault(target, stmt)
    roots: list[cst.CSTNode] = []
    if top in reply_defs:
        roots.append(reply_defs[top])
    if method:
        roots += [d for d in reply_defs.values() if _takes_self(d)]
    seen: set[str] = set()
    while roots:
        for name in _used(roots.pop()) & set(by_name):
            if name not in seen:
                seen.add(name)
                roots.append(by_name[name])
    return seen


def _drop_unused_keras_imports(module: cst.Module) -> cst.Module:
    """The piece the LLM replaced may have been the last user of ``import keras``."""
    ctx = CodemodContext()
    for stmt in _imports(module):
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    name = get_full_name_for_node(alias.name) or ""
                    if name.split(".")[0] in _KERAS_ROOTS:
                        asname = get_full_name_for_node(alias.asname.name) if alias.asname else None
                        RemoveImportsVisitor.remove_unused_import(ctx, name, asname=asname)
            elif isinstance(small, cst.ImportFrom) and small.module and not small.relative:
                mod = get_full_name_for_node(small.module) or ""
                if mod.split(".")[0] in _KERAS_ROOTS and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        asname = get_full_name_for_node(alias.asname.name) if alias.asname else None
                        obj = get_full_name_for_node(alias.name)
                        RemoveImportsVisitor.remove_unused_import(ctx, mod, obj, asname)
    return RemoveImportsVisitor(ctx).transform_module(module)


def _insertion_index(body: Sequence[cst.BaseStatement]) -> int:
    """After the docstring and the last top-level import: where a missing definition goes."""
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(x, (cst.Import, cst.ImportFrom))
            or (isinstance(x, cst.Expr) and isinstance(x.value, cst.SimpleString) and i == 0)
            for x in stmt.body
        ):
            index = i + 1
    return index


def _params(node: Def) -> tuple[list[str], list[str], bool] | None:
    """(parameter names, required ones, takes **kwargs) of a function or a class's __init__."""
    if isinstance(node, cst.ClassDef):
        init = _defs(node.body.body).get("__init__")
        if not isinstance(init, cst.FunctionDef):
            return None
        node = init
    assert isinstance(node, cst.FunctionDef)
    p = node.params
    named = [*p.posonly_params, *p.params, *p.kwonly_params]
    names = [x.name.value for x in named if x.name.value not in ("self", "cls")]
    required = [x.name.value for x in named if x.default is None and x.name.value not in ("self", "cls")]
    return names, required, isinstance(p.star_kwarg, cst.Param)


def _signature_change(old: Def, new: Def) -> str | None:
    """Why ``new`` cannot be called the way the file calls ``old``, if it cannot."""
    before, after = _params(old), _params(new)
    kind = "__init__ of " if isinstance(old, cst.ClassDef) else ""
    if before is None and after is None:
        return None
    old_names, _, _ = before if before is not None else ([], [], True)
    new_names, new_required, new_kwargs = after if after is not None else ([], [], False)
    missing = [n for n in old_names if n not in new_names and not new_kwargs]
    added = [n for n in new_required if n not in old_names]
    if not missing and not added:
        return None
    name = old.name.value
    parts = []
    if missing:
        parts.append(f"drops the parameter(s) {', '.join(missing)}")
    if added:
        parts.append(f"adds the required parameter(s) {', '.join(added)} that callers do not pass "
                     "(give them defaults, or create the weights lazily)")
    return (f"the {kind}`{name}` in the reply {' and '.join(parts)}; the rest of the file calls "
            f"`{name}` with the original parameters ({', '.join(old_names) or 'none'}), so keep them")


def _top_level(lines: int) -> tuple[cst.EmptyLine, ...]:
    return tuple(cst.EmptyLine() for _ in range(lines))


def splice(source: str, code: str, qualname: str) -> SpliceResult:
    """Splice ``code`` (the reply's block) into ``source`` for the piece ``qualname``."""
    try:
        target = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SpliceError(f"the converted file does not parse: {exc}") from None
    try:
        reply = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise FormatError(f"the code block does not parse: {exc}") from None
    top, _, method = qualname.partition(".")
    taken = set(_defs(target.body))
    for stmt in target.body:
        taken.update(_new_assignments(stmt, set()) or ())
    reply_defs = _defs(reply.body)
    ignored: list[str] = []
    helpers: list[cst.BaseStatement] = []
    written_top: set[str] = set()  # top-level names the LLM wrote
    written_methods: set[str] = set()

    # Helpers: new top-level definitions and constants the piece uses go just before it;
    # usage examples, tests, ``__main__`` blocks and code the file already has are dropped.
    wanted = _reachable(reply, top, method, reply_defs)
    for stmt in reply.body:
        name = _name(stmt)
        if name is not None:
            if name == top or (method and top not in reply_defs and _takes_self(stmt)):
                continue
            if name in taken:
                if name in wanted:
                    ignored.append(f"{name} (already in the converted file; rule-written code is kept)")
                continue
            if name not in wanted:
                continue
            helpers.append(stmt.with_changes(leading_lines=_top_level(2)))
            written_top.add(name)
        elif _is_import(stmt):
            continue
        else:
            names = _new_assignments(stmt, taken)
            if names and set(names) & wanted:
                helpers.append(stmt)
                written_top.update(names)

    body: list[cst.BaseStatement] = list(target.body)
    index = next((i for i, s in enumerate(body) if _name(s) == top), None)
    if not method:
        new_def = reply_defs.get(top)
        if new_def is None:
            raise FormatError(f"the reply defines no top-level class or function named {top!r}")
        if index is None:
            index = _insertion_index(body)
            new_def = new_def.with_changes(leading_lines=_top_level(2))
            body[index:index] = [*helpers, new_def]
        else:
            old = body[index]
            assert isinstance(old, (cst.FunctionDef, cst.ClassDef))
            problem = _signature_change(old, new_def)
            if problem:
                raise FormatError(problem)
            new_def = new_def.with_changes(leading_lines=_strip_todo(old.leading_lines))
            body[index : index + 1] = [*helpers, new_def]
        written_top.add(top)
    else:
        if index is None or not isinstance(body[index], cst.ClassDef):
            raise SpliceError(f"the converted file has no class {top!r} to put {qualname} in")
        cls = body[index]
        assert isinstance(cls, cst.ClassDef)
        if top in reply_defs and isinstance(reply_defs[top], cst.ClassDef):
            source_methods = list(_defs(reply_defs[top].body.body).values())
        else:
            source_methods = [d for d in reply_defs.values() if _takes_self(d)]
        existing = _defs(cls.body.body)
        new_methods: list[Def] = []
        for m in source_methods:
            name = m.name.value
            if name != method and name in existing:
                ignored.append(f"{top}.{name} (already in the class; rule-written code is kept)")
                continue
            new_methods.append(m)
            written_methods.add(name)
        if not new_methods:
            raise FormatError(f"the reply defines no method for {qualname} (nor a new method of {top})")
        members = list(cls.body.body)
        at = next((i for i, s in enumerate(members) if _name(s) == method), None)
        old_lines: list[cst.EmptyLine] = [cst.EmptyLine(indent=False)]
        if at is None:
            at = len(members)
            span = 0
        else:
            old_member = members[at]
            assert isinstance(old_member, (cst.FunctionDef, cst.ClassDef))
            old_lines = _strip_todo(old_member.leading_lines)
            span = 1
        placed = [
            m.with_changes(leading_lines=old_lines if i == 0 else [cst.EmptyLine(indent=False)])
            for i, m in enumerate(new_methods)
        ]
        members[at : at + span] = placed
        new_cls = cls.with_changes(body=cls.body.with_changes(body=members))
        body[index : index + 1] = [*helpers, new_cls]

    module = target.with_changes(body=body)
    ctx = CodemodContext()
    _queue_imports(ctx, reply, ignored, _used(module))
    module = AddImportsVisitor(ctx).transform_module(module)
    module = _drop_unused_keras_imports(module)
    regions = _regions(module, target, top, written_top, written_methods)
    return SpliceResult(module.code, regions, tuple(ignored))


def _regions(
    module: cst.Module, before: cst.Module, top: str, names: set[str], methods: set[str]
) -> tuple[tuple[int, int], ...]:
    """Line ranges of everything the LLM wrote, located again in the final text."""
    module = cst.parse_module(module.code)  # fresh nodes, so positions are those of the text
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    old_imports = {before.code_for_node(s).strip() for s in _imports(before)}
    spans: list[tuple[int, int]] = []

    def add(node: cst.CSTNode) -> None:
        pos = positions[node]
        spans.append((pos.start.line, pos.end.line))

    for stmt in module.body:
        name = _name(stmt)
        if name is not None and name in names:
            add(stmt)
        elif name == top and methods and isinstance(stmt, cst.ClassDef):
            for member in stmt.body.body:
                if _name(member) in methods:
                    add(member)
        elif _is_import(stmt) and module.code_for_node(stmt).strip() not in old_imports:
            add(stmt)
        elif name is None and (_new_assignments(stmt, set()) or []) and set(
            _new_assignments(stmt, set()) or []
        ) <= names:
            add(stmt)
    return tuple(sorted(spans))
