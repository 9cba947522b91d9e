"""Layer classes passed to a builder: ``def make(dropout=layers.AlphaDropout): ...
model.add(dropout(rate))``, called as ``make(**{"dropout": layers.Dropout, ...})``.

Keras builds whichever class arrives. When every value that can reach the parameter (its
default, each call's argument, the item of a literal dict a call unpacks with ``**``) is a
Keras layer class whose torch module class takes the call's arguments the same way
(``Dropout(rate)`` and ``nn.Dropout(rate)``), the generated class keeps the parameter as a
torch class (``dropout: type[nn.Module] = nn.AlphaDropout``) and the script passes torch
classes. Any other value refuses the layer with one report line. Read from the module's
``ast``; never runs user code.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.models.shapes import Shape
from agent.rules.parsed import breadth_first
from agent.rules.spec import Args, BuildContext, Built, LayerSpec, Unsupported

# Keras layer class -> (torch module class, how many positional arguments both take the
# same way). Only shape-preserving layers: one traced shape serves every class.
PASSABLE: dict[str, tuple[str, int]] = {
    "keras.layers.Dropout": ("nn.Dropout", 1),  # rate -> p
    "keras.layers.AlphaDropout": ("nn.AlphaDropout", 1),  # rate -> p, SELU's constants
}

PASSED = "type[nn.Module]"  # the annotation of a class's layer-class parameter
Reaching = dict[str, dict[str, list[str] | None]]  # function -> parameter -> value codes


def class_arguments(statements: Sequence[ast.stmt],
                    walked: Sequence[list[ast.AST]] | None = None) -> Reaching:
    """Function -> parameter -> the code of every value that can reach it (its default
    first), or None when a call passes it something the rules cannot read. ``walked``:
    each statement's ``breadth_first`` nodes, when the caller has them."""
    statements = list(statements)
    functions = {s.name: s for s in statements if isinstance(s, ast.FunctionDef)}
    if not functions:
        return {}
    nodes = [n for found in (walked or [breadth_first(s) for s in statements]) for n in found]
    dicts = _literal_dicts(statements, nodes)
    loops: dict[str, list[str] | None] = {}
    for n in nodes:  # `for net in [network1, network2]: make(**net)`
        if isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            items = n.iter.elts if isinstance(n.iter, (ast.List, ast.Tuple)) else None
            names = [e.id for e in items if isinstance(e, ast.Name)] if items else []
            seen = n.target.id in loops
            loops[n.target.id] = None if seen or items is None or len(names) != len(items) \
                else names
    calls: dict[str, list[ast.Call]] = {}  # one pass over the module, not one a function
    for n in nodes:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions:
            calls.setdefault(n.func.id, []).append(n)
    out: Reaching = {}
    for name, fn in functions.items():
        params = [*fn.args.posonlyargs, *fn.args.args]
        defaults = _defaults(fn)
        reach: dict[str, list[str] | None] = {
            p: [defaults[p]] if p in defaults else [] for p in
            [a.arg for a in params] + [a.arg for a in fn.args.kwonlyargs]}
        for call in calls.get(name, []):
            for p, codes in _call_values(call, params, reach, dicts, loops).items():
                old = reach[p]
                reach[p] = None if old is None or codes is None else old + codes
        out[name] = reach
    return out


def _defaults(fn: ast.FunctionDef) -> dict[str, str]:
    params = [*fn.args.posonlyargs, *fn.args.args]
    out = {p.arg: ast.unparse(d) for p, d in zip(params[len(params) - len(fn.args.defaults):],
                                                 fn.args.defaults, strict=True)}
    out |= {p.arg: ast.unparse(d) for p, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults,
                                                  strict=True) if d is not None}
    return out


def _literal_dicts(statements: list[ast.stmt], nodes: list[ast.AST]
                   ) -> dict[str, dict[str, str]]:
    """Module-level names bound once to a dict literal with string keys: key -> value code
    (``nodes``: every node of the statements)."""
    counts: dict[str, int] = {}
    found: dict[str, dict[str, str]] = {}
    for n in nodes:
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            counts[n.id] = counts.get(n.id, 0) + 1
    for s in statements:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(
                s.targets[0], ast.Name) and isinstance(s.value, ast.Dict) and all(
                isinstance(k, ast.Constant) and isinstance(k.value, str) for k in s.value.keys):
            found[s.targets[0].id] = {k.value: ast.unparse(v)  # type: ignore[union-attr]
                                      for k, v in zip(s.value.keys, s.value.values, strict=True)}
    return {k: v for k, v in found.items() if counts.get(k) == 1}


def _call_values(call: ast.Call, params: list[ast.arg], reach: dict[str, list[str] | None],
                 dicts: dict[str, dict[str, str]], loops: dict[str, list[str] | None]
                 ) -> dict[str, list[str] | None]:
    """Parameter -> the codes one call passes (a parameter it leaves out: nothing, its
    default is already counted); None for every parameter when the call cannot be read."""
    unreadable: dict[str, list[str] | None] = dict.fromkeys(reach)
    if any(isinstance(a, ast.Starred) for a in call.args) or len(call.args) > len(params):
        return unreadable
    out: dict[str, list[str] | None] = {p.arg: [ast.unparse(a)] for p, a in
                                        zip(params, call.args, strict=False)}
    for k in call.keywords:
        if k.arg is not None:
            out[k.arg] = [ast.unparse(k.value)]
            continue
        if not isinstance(k.value, ast.Name):
            return unreadable
        names = loops.get(k.value.id, [k.value.id]) if k.value.id in loops \
            else [k.value.id]
        if names is None or any(n not in dicts for n in names):
            return unreadable
        for n in names:
            for key, code in dicts[n].items():
                if key not in reach:
                    return unreadable
                out[key] = [*(out.get(key) or []), code]
    return {p: codes for p, codes in out.items() if p in reach}


def passed_spec(spec: LayerSpec, ctor: str) -> LayerSpec:
    """``spec`` building the passed class instead: its one module made by ``ctor``
    (``dropout(dropout_rate)``), its shapes and forward as the default class's."""
    inner = spec.build

    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        built = inner(a, ins, ctx)
        if len(built.modules) != 1 or built.modules[0][0] or built.forward != "{m}({x})" \
                or built.init or built.stmts:
            raise Unsupported(f"{ctor}: the passed class is not one plain module")
        return dataclasses.replace(built, modules=(("", ctor),), passed_class=True)

    return dataclasses.replace(spec, build=build)


class TorchClasses(cst.CSTTransformer):
    """The script's Keras classes of :data:`PASSABLE` read as values (a builder's default,
    a config dict's item) → their torch classes, once a class takes them as a parameter.
    Calls and imports are left alone: what builds a layer is converted elsewhere."""

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.called: set[int] = set()
        self.replaced = 0

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        self.called.add(id(node.func))

    def _swap(self, original: cst.BaseExpression, updated: cst.BaseExpression
              ) -> cst.BaseExpression:
        if id(original) in self.called:
            return updated
        target = PASSABLE.get(self.imports.resolve(original) or "")
        if target is None:
            return updated
        self.replaced += 1
        return cst.parse_expression(target[0])

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        return self._swap(original_node, updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name
                   ) -> cst.BaseExpression:
        return self._swap(original_node, updated_node)
