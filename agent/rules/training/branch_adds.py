"""Branches between a Sequential's ``add()`` calls that add the same layers with other
weights, as one model built whole, then its weights set (a Keras-to-Keras pre-rewrite).

::

    model.add(Conv2D(64, 3, name="conv2"))
    if init == "copy":
        w, _ = model.get_layer("conv2").get_weights()
        model.add(Conv2D(64, 3, name="conv2-deeper", weights=identity(w)))
    elif init == "fresh":
        model.add(Conv2D(64, 3, name="conv2-deeper"))
    else:
        raise ValueError(init)
    model.add(Dense(10, kernel_initializer="identity" if ... ))   # other branches alike

builds the same layers on every path that goes on; only their first weights differ. The
class rules build every layer at once, so the adds are written once (an initializer that
differs becomes ``"identity" if init == "copy" else "glorot_uniform"``) and, after the last
add, the same ``if`` chain runs what the branches did besides adding: the statements that
read the weights of layers added before the branch, and ``weights=`` as
``model.get_layer(name).set_weights(...)``. This is what Keras computes: the layers read were
added before and nothing changed their weights since, and ``weights=`` is set once the layer
is built. A branch that raises still raises, after the layers are made. Anything else (a
branch reading the half-built model otherwise, layers that differ, a test that calls
something) is left as written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.imports import ImportTable
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite
from agent.rules.values import code_of

_SEQUENTIAL = ("keras.Sequential", "keras.models.Sequential")
# Keras's defaults of the initializers a branch may set differently, by layer
_DEFAULTS = {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
_INITIALIZED = frozenset(f"keras.layers.{n}" for n in (
    "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
    "Conv3DTranspose"))
_HINT = re.compile(r"\.add\(")


@dataclass
class _Branch:
    test: cst.BaseExpression | None  # None: the else
    adds: list[cst.Call]  # the layer calls, in order
    rest: list[cst.BaseStatement]  # the other statements, an add with weights= as a marker
    weights: dict[int, cst.BaseExpression] = field(default_factory=dict)  # add k -> weights=
    raises: bool = False


def _add_call(stmt: cst.BaseStatement, var: str) -> cst.Call | None:
    """The layer call of ``var.add(Layer(...))``."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Call)):
        return None
    call = stmt.body[0].value
    if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "add"
            and isinstance(call.func.value, cst.Name) and call.func.value.value == var
            and len(call.args) == 1 and call.args[0].keyword is None
            and isinstance(call.args[0].value, cst.Call)):
        return None
    return call.args[0].value


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((a.value for a in call.args if a.keyword is not None
                 and a.keyword.value == name), None)


def _without(call: cst.Call, names: Sequence[str]) -> cst.Call:
    args = [a for a in call.args if a.keyword is None or a.keyword.value not in names]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def _shape(node: cst.CSTNode) -> str:
    """The code of ``node`` without its layout (line breaks, spaces, comments)."""
    return ast.dump(ast.parse(code_of(node).strip(), mode="eval"))


def _layer_name(call: cst.Call) -> str | None:
    value = _keyword(call, "name")
    if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
        return value.evaluated_value
    return None


class _Reads(cst.CSTVisitor):
    """How a statement reads the model ``var``: only ``var.get_layer("n").get_weights()`` /
    ``.set_weights(...)`` of layers in ``added``, or otherwise (``other``); the names it
    reads."""

    def __init__(self, var: str, added: set[str]) -> None:
        self.var = var
        self.added = added
        self.other = False
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> bool:
        f = node.func
        if isinstance(f, cst.Attribute) and f.attr.value in ("get_weights", "set_weights") \
                and isinstance(f.value, cst.Call):
            inner = f.value
            if isinstance(inner.func, cst.Attribute) and inner.func.attr.value == "get_layer" \
                    and isinstance(inner.func.value, cst.Name) \
                    and inner.func.value.value == self.var:
                name = inner.args[0].value if len(inner.args) == 1 else None
                if not (isinstance(name, cst.SimpleString) and name.evaluated_value in self.added):
                    self.other = True
                for a in node.args:
                    a.visit(self)
                return False
        return True

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)
        if node.value == self.var:
            self.other = True


def _bound(stmts: Sequence[cst.BaseStatement]) -> set[str]:
    out: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            out.update(n.value for n in _names(node.target))

        def visit_For(self, node: cst.For) -> None:
            out.update(n.value for n in _names(node.target))

    for s in stmts:
        s.visit(V())
    return out


def _names(node: cst.CSTNode) -> list[cst.Name]:
    found: list[cst.Name] = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append(n)

    node.visit(V())
    return found


def _pure_test(test: cst.BaseExpression) -> bool:
    """A test that can be evaluated twice: names, attributes, literals, comparisons."""
    class V(cst.CSTVisitor):
        ok = True

        def visit_Call(self, node: cst.Call) -> None:
            V.ok = False

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            V.ok = False

    test.visit(V())
    return V.ok


def _branches(node: cst.If, var: str, added: set[str]) -> list[_Branch] | None:
    out: list[_Branch] = []
    cur: cst.If | cst.Else | None = node
    while cur is not None:
        test = cur.test if isinstance(cur, cst.If) else None
        if test is not None and not _pure_test(test):
            return None
        if not isinstance(cur.body, cst.IndentedBlock):
            return None
        branch = _Branch(test, [], [])
        here = set(added)  # the layers added so far on this path
        for stmt in cur.body.body:
            call = _add_call(stmt, var)
            if call is not None:
                here.add(_layer_name(call) or "")
                weights = _keyword(call, "weights")
                if weights is not None:
                    if _layer_name(call) is None:
                        return None  # set after the build: the layer is found by its name
                    branch.weights[len(branch.adds)] = weights
                    branch.rest.append(stmt)  # the marker: set_weights goes here
                branch.adds.append(call)
                continue
            reads = _Reads(var, here)
            stmt.visit(reads)
            if reads.other:
                return None
            branch.rest.append(stmt)
        last = cur.body.body[-1] if cur.body.body else None
        branch.raises = isinstance(last, cst.SimpleStatementLine) and isinstance(
            last.body[-1], cst.Raise)
        if branch.raises and branch.adds:
            return None
        out.append(branch)
        cur = cur.orelse if isinstance(cur, cst.If) else None
    if out[-1].test is not None:
        return None  # no else: the path that skips every branch adds nothing
    return out


def _merged_adds(var: str, branches: list[_Branch], imports: ImportTable
                 ) -> list[cst.Call] | None:
    """The layer calls every adding branch makes, written once; None when they differ."""
    adding = [b for b in branches if not b.raises]
    if not adding or not adding[0].adds:
        return None
    first = adding[0].adds
    keys = ("weights", *_DEFAULTS)
    if any(len(b.adds) != len(first) for b in adding):
        return None
    out: list[cst.Call] = []
    for k, call in enumerate(first):
        calls = [b.adds[k] for b in adding]
        if len({_shape(_without(c, keys)) for c in calls}) != 1:
            return None
        merged = _without(call, ("weights",))
        for key, default in _DEFAULTS.items():
            values = [_keyword(c, key) for c in calls]
            codes = {code_of(v) if v is not None else None for v in values}
            if len(codes) == 1:
                continue
            if imports.resolve(call.func) not in _INITIALIZED or any(
                    v is not None and not isinstance(v, cst.SimpleString) for v in values):
                return None
            choice: cst.BaseExpression = values[-1] or cst.SimpleString(f'"{default}"')
            for b, v in zip(reversed(adding[:-1]), reversed(values[:-1]), strict=True):
                assert b.test is not None
                choice = cst.IfExp(b.test, v or cst.SimpleString(f'"{default}"'), choice)
            merged = _without(merged, (key,))
            args = list(merged.args)
            args.append(cst.Arg(choice, keyword=cst.Name(key),
                                equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                      cst.SimpleWhitespace(""))))
            args = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                    for a in args[:-1]] + [args[-1]]
            merged = merged.with_changes(args=args)
        out.append(merged)
    return out


def _after(var: str, node: cst.If, branches: list[_Branch]) -> cst.If:
    """The ``if`` chain run after the build: each branch's other statements, ``weights=`` as
    ``set_weights`` at the add's place."""
    def body(b: _Branch) -> cst.IndentedBlock:
        stmts: list[cst.BaseStatement] = []
        for stmt in b.rest:
            call = _add_call(stmt, var)
            if call is None or not isinstance(stmt, cst.SimpleStatementLine):
                stmts.append(stmt)
                continue
            k = next(i for i, c in enumerate(b.adds) if c is call)
            code = (f"{var}.get_layer({code_of(_keyword(call, 'name') or cst.Name('None'))})"
                    ".set_weights("
                    f"{code_of(b.weights[k])})")
            stmts.append(cst.parse_statement(code).with_changes(
                leading_lines=stmt.leading_lines))
        return cst.IndentedBlock(stmts or [cst.SimpleStatementLine([cst.Pass()])])

    def chain(k: int) -> cst.If | cst.Else | None:
        if k >= len(branches):
            return None
        b = branches[k]
        if b.test is None:
            return cst.Else(body(b))
        rest = chain(k + 1)
        return cst.If(b.test, body(b), orelse=rest)

    first = chain(0)
    assert isinstance(first, cst.If)
    return first.with_changes(leading_lines=node.leading_lines)


@dataclass
class _Plan:
    replaced: dict[int, list[cst.BaseStatement]] = field(default_factory=dict)  # id(If) -> adds
    inserted: dict[int, list[cst.BaseStatement]] = field(default_factory=dict)  # id(stmt) ->
    # the if chains to run after it
    lines: list[tuple[cst.CSTNode, str]] = field(default_factory=list)


def _plan_block(body: Sequence[cst.BaseStatement], imports: ImportTable, plan: _Plan) -> None:
    """Each Sequential built in ``body``: its mergeable branches, all or none of them."""
    local = _Plan()
    _plan_models(body, imports, local)
    plan.replaced.update(local.replaced)
    plan.inserted.update(local.inserted)
    plan.lines += local.lines


def _plan_models(body: Sequence[cst.BaseStatement], imports: ImportTable, plan: _Plan) -> None:
    var = None
    added: set[str] = set()
    pending: list[tuple[cst.If, list[_Branch]]] = []
    last_add: cst.BaseStatement | None = None
    moved_names: set[str] = set()
    waiting: list[cst.BaseStatement] = []
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 \
                and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1 \
                and isinstance(stmt.body[0].targets[0].target, cst.Name) \
                and isinstance(stmt.body[0].value, cst.Call) \
                and imports.resolve(stmt.body[0].value.func) in _SEQUENTIAL \
                and not stmt.body[0].value.args:
            _finish(pending, last_add, plan)
            var, added, pending, last_add = stmt.body[0].targets[0].target.value, set(), [], None
            moved_names, waiting = set(), []
            continue
        if var is None:
            continue
        reads = _Reads(var, added)
        stmt.visit(reads)
        call = _add_call(stmt, var)
        if (call is not None or isinstance(stmt, cst.If)) and waiting:
            _drop(pending, plan)  # a statement before this add reads what the moved
            return  # statements bind: as written
        if call is not None:
            name = _layer_name(call)
            if name:
                added.add(name)
            last_add = stmt
            continue
        if isinstance(stmt, cst.If) and var in reads.names and _adds_in(stmt, var):
            branches = _branches(stmt, var, added)
            merged = _merged_adds(var, branches, imports) if branches else None
            if branches is None or merged is None:
                _drop(pending, plan)
                return
            plan.replaced[id(stmt)] = [cst.parse_statement(f"{var}.add({code_of(c)})")
                                       for c in merged]
            for c in merged:
                name = _layer_name(c)
                if name:
                    added.add(name)
            pending.append((stmt, branches))
            moved_names |= {n for b in branches for n in _bound(b.rest)}
            last_add = stmt
            continue
        if reads.names & moved_names:
            waiting.append(stmt)  # fine after the last add, where the moved code runs first
    _finish(pending, last_add, plan)


def _drop(pending: list[tuple[cst.If, list[_Branch]]], plan: _Plan) -> None:
    for node, _ in pending:
        plan.replaced.pop(id(node), None)
    pending.clear()


def _finish(pending: list[tuple[cst.If, list[_Branch]]], last_add: cst.BaseStatement | None,
            plan: _Plan) -> None:
    if not pending or last_add is None:
        return
    var_of = _add_var(pending[0][0])
    plan.inserted.setdefault(id(last_add), []).extend(
        _after(var_of, node, branches) for node, branches in pending
        if any(b.rest or b.raises for b in branches))  # not a chain of ``pass``
    plan.lines += [(node, f"{var_of}: the layers its branches add alike are built with the "
                          "rest, what the branches do besides adding runs after the last "
                          "add()") for node, _ in pending]
    pending.clear()


def _add_var(node: cst.If) -> str:
    found: list[str] = []

    class V(cst.CSTVisitor):
        def visit_Call(self, n: cst.Call) -> None:
            if isinstance(n.func, cst.Attribute) and n.func.attr.value == "add" \
                    and isinstance(n.func.value, cst.Name):
                found.append(n.func.value.value)

    node.visit(V())
    return found[0]


def _adds_in(node: cst.CSTNode, var: str) -> bool:
    return bool(re.search(rf"\b{re.escape(var)}\.add\(", code_of(node)))


class _Apply(cst.CSTTransformer):
    def __init__(self, plan: _Plan) -> None:
        self.plan = plan

    def leave_If(self, original: cst.If, updated: cst.If
                 ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        adds = self.plan.replaced.get(id(original))
        if adds is None:
            return updated
        adds[0] = adds[0].with_changes(leading_lines=original.leading_lines)
        return cst.FlattenSentinel(adds + self.plan.inserted.get(id(original), []))

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        after = self.plan.inserted.get(id(original))
        if after is None:
            return updated
        return cst.FlattenSentinel([updated, *after])


class _Blocks(cst.CSTVisitor):
    def __init__(self, imports: ImportTable, plan: _Plan) -> None:
        self.imports = imports
        self.plan = plan

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if isinstance(node.body, cst.IndentedBlock):
            _plan_block(node.body.body, self.imports, self.plan)

    def visit_Module(self, node: cst.Module) -> None:
        _plan_block(node.body, self.imports, self.plan)


def rewrite_branch_adds(code: str, imports: ImportTable) -> Rewritten:
    """``code`` with such branches written as one build and the ``if`` chain after it."""
    if not _HINT.search(code):
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    plan = _Plan()
    wrapper.visit(_Blocks(imports, plan))
    if not plan.replaced:
        return Rewritten(code)
    positions = wrapper.resolve(PositionProvider)
    out = Rewritten(wrapper.module.visit(_Apply(plan)).code)
    out.changes += [(positions[node].start.line, "models.branch_adds", msg)
                    for node, msg in plan.lines]
    return out


def with_branch_adds(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` on the source with such branches rewritten, records in the source's lines;
    ``convert(source)`` when there is none, or a Keras model is left anyway."""
    if not _HINT.search(source) or "if " not in source:
        return convert(source, path)
    return with_rewrite(source, path, convert, rewrite_branch_adds)
