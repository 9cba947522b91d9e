"""Initializer objects bound to a name before the layers that take them.

``last_init = tf.random_uniform_initializer(minval=-0.003, maxval=0.003)`` then
``Dense(1, kernel_initializer=last_init)``: the layer table reads an initializer argument
from its own text, so a name leaves the layer (and its model) in Keras. The call is written
into each ``*_initializer=`` argument that reads the name and the assignment goes, before the
model rules run; all kept as written when a Keras model is left anyway
(``rewritten_lines.with_rewrite``).

Only where that cannot change what the layers draw: the name is bound once in its scope, every
read is an ``*_initializer=`` argument, the call's arguments are literals, and a call with a
``seed`` is read once (two layers sharing a seeded Keras initializer object is not two
objects with that seed).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.bindings import Bindings
from agent.rules.imports import ImportTable
from agent.rules.initializers import initializer_name
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite
from agent.rules.values import code_of, evaluate

# `name = <...>initializers.X(` or `name = <...>x_initializer(` on a line of its own
_BOUND = re.compile(r"^[ \t]*\w+[ \t]*=[ \t]*[\w.]*(?:initializers\.\w+|_initializer|"
                    r"(?:Normal|Uniform|Constant|Orthogonal|Zeros|Ones|Identity|Scaling))\(",
                    re.M)
_PREFIXES = ("keras.initializers.", "tensorflow.keras.initializers.",
             "tensorflow.initializers.", "tensorflow.")


def _is_initializer(call: cst.BaseExpression, imports: ImportTable) -> bool:
    if not isinstance(call, cst.Call):
        return False
    qual = imports.resolve(call.func) or ""
    prefix, _, head = qual.rpartition(".")
    if f"{prefix}." not in _PREFIXES or not initializer_name(head):
        return False
    return all(a.star == "" and evaluate(a.value).known for a in call.args)


def _seeded(call: cst.Call) -> bool:
    return any(a.keyword is not None and a.keyword.value == "seed" for a in call.args) or \
        len(call.args) >= 3  # seed is the third positional parameter of the random ones


class _Scope(Bindings):
    """Per scope (the module, each function): bindings of the candidate names, their
    ``*_initializer=`` reads, and any other use."""

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.stack: list[int] = [0]
        self.binds: dict[tuple[int, str], list[cst.SimpleStatementLine]] = {}
        self.calls: dict[tuple[int, str], cst.Call] = {}
        self.stores: dict[tuple[int, str], int] = {}
        self.reads: dict[tuple[int, str], list[cst.Name]] = {}
        self.other: set[tuple[int, str]] = set()
        self.arg_names: set[int] = set()  # ids of Names that are an *_initializer= value

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.append(id(node))
        for p in node.params.params:
            self.stores[(id(node), p.name.value)] = 2  # a parameter is no binding of ours

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) == 1 and isinstance(node.body[0], cst.Assign):
            a = node.body[0]
            if len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name) \
                    and _is_initializer(a.value, self.imports):
                key = (self.stack[-1], a.targets[0].target.value)
                self.binds.setdefault(key, []).append(node)
                assert isinstance(a.value, cst.Call)
                self.calls[key] = a.value

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None and node.keyword.value.endswith("initializer") \
                and isinstance(node.value, cst.Name):
            self.arg_names.add(id(node.value))

    def visit_Name(self, node: cst.Name) -> None:
        key = (self.stack[-1], node.value)
        if id(node) in self.arg_names:
            self.reads.setdefault(key, []).append(node)

    def bound(self, name: str) -> None:
        key = (self.stack[-1], name)
        self.stores[key] = self.stores.get(key, 0) + 1

    def visit_For(self, node: cst.For) -> None:
        self.bind_target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self.bind_target(node.asname.name)

    def visit_Global(self, node: cst.Global) -> None:
        for n in node.names:
            self.other.add((self.stack[-1], n.name.value))

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for n in node.names:
            self.other.add((self.stack[-1], n.name.value))


def _all_loads(module: cst.Module) -> dict[str, int]:
    """How often each name is read anywhere (a read from another scope keeps the binding)."""
    counts: dict[str, int] = {}

    class Count(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            counts[node.value] = counts.get(node.value, 0) + 1

    module.visit(Count())
    return counts


class _Apply(cst.CSTTransformer):
    def __init__(self, drop: set[int], put: dict[int, cst.Call]) -> None:
        self.drop = drop
        self.put = put

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        return cst.RemoveFromParent() if id(original) in self.drop else updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        call = self.put.get(id(original))
        return call.deep_clone() if call is not None else updated


def rewrite_initializer_names(code: str, imports: ImportTable) -> Rewritten:
    """``code`` with its named initializer objects written into the layers that read them."""
    if "nitializer" not in code:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    scope = _Scope(imports)
    wrapper.visit(scope)
    loads = _all_loads(wrapper.module)
    drop: set[int] = set()
    put: dict[int, cst.Call] = {}
    done: list[tuple[cst.CSTNode, str]] = []
    for key, stmts in scope.binds.items():
        reads = scope.reads.get(key, [])
        call = scope.calls[key]
        if len(stmts) != 1 or scope.stores.get(key, 0) != 1 or key in scope.other \
                or not reads or loads.get(key[1], 0) != len(reads) + 1 \
                or (_seeded(call) and len(reads) > 1):
            continue
        drop.add(id(stmts[0]))
        put.update({id(n): call for n in reads})
        done.append((stmts[0], f"{key[1]} = {code_of(call)}: written into the "
                               f"{len(reads)} layer argument(s) that read it"))
    if not done:
        return Rewritten(code)
    positions = wrapper.resolve(PositionProvider)
    new = wrapper.module.visit(_Apply(drop, put))
    out = Rewritten(new.code)
    for node, msg in done:
        out.changes.append((positions[node].start.line, "models.initializer_name", msg))
    return out


def with_named_initializers(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` run on the source with its named initializers written into the layers,
    records in the source's lines; ``convert(source)`` when there is none, or a Keras model
    is left anyway."""
    if not _BOUND.search(source):  # cheap: most files bind no initializer to a name
        return convert(source, path)
    return with_rewrite(source, path, convert, rewrite_initializer_names)
