"""The functions a converted ``TextVectorization`` calls (``standardize=fn``), converted
with it.

runtime/lookup_layers.py hands such a function a NumPy array of str (as Keras 3 does off
the TensorFlow backend), so its ``tf.strings`` calls take the rows that act on Python
strings (ops/image_io.py ``PIPELINE_OPS``, as a tf.data map function does). The function and
every top-level function it calls convert, or the layer keeps its Keras form with one
report line naming what blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.functions import called_names, closure, uses_framework
from agent.rules.training import pipeline_maps

LAYERS = ("keras.layers.TextVectorization",)
CALLABLE_ARGS = ("standardize", "split")


@dataclass
class Plan:
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)  # converted
    blocked: dict[int, str] = field(default_factory=dict)  # id(layer call) -> why it stays


def _callables(call: cst.Call) -> list[cst.BaseExpression]:
    """The function values passed as ``standardize``/``split`` (positional 2nd and 3rd)."""
    out = []
    for k, arg in enumerate(call.args):
        name = arg.keyword.value if arg.keyword is not None else (
            CALLABLE_ARGS[k - 1] if 1 <= k <= len(CALLABLE_ARGS) else "")
        value = arg.value
        if name in CALLABLE_ARGS and not isinstance(value, cst.SimpleString) \
                and not (isinstance(value, cst.Name) and value.value == "None"):
            out.append(value)
    return out


class _Find(cst.CSTVisitor):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if self.imports.resolve(node.func) in LAYERS and _callables(node):
            self.calls.append(node)


def plan(module: cst.Module, imports: ImportTable, taken: set[str],
         helpers: frozenset[str]) -> Plan:
    """Convert the functions the layers of ``module`` call; ``taken``: names the script
    binds itself, ``helpers``: the runtime functions the rows call (a clash blocks)."""
    finder = _Find(imports)
    module.visit(finder)
    out = Plan()
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    problems_of: dict[str, list[str]] = {}

    def convert(name: str) -> list[str]:
        if name not in problems_of:
            fn = functions[name]
            if not uses_framework(fn, imports):
                problems_of[name] = []
            else:
                new, problems = pipeline_maps.rewrite(fn, imports)
                problems += pipeline_maps.clashes(new, taken, helpers)
                problems_of[name] = problems
                if isinstance(new, cst.FunctionDef) and not problems:
                    out.functions[name] = new
        return problems_of[name]

    reached: dict[int, set[str]] = {}
    for call in finder.calls:
        problems: list[str] = []
        names: set[str] = set()
        for value in _callables(call):
            if isinstance(value, cst.Name) and value.value in functions:
                names |= closure(module, {value.value}) & functions.keys()
            elif isinstance(value, cst.Lambda) and not uses_framework(value, imports):
                names |= closure(module, called_names(value)) & functions.keys()
            else:
                problems.append(f"{cst.Module([]).code_for_node(value)}: not a top-level "
                                "function of the script")
        for name in sorted(names):
            problems += convert(name)
        reached[id(call)] = names
        if problems:
            out.blocked[id(call)] = ("its standardize/split function does not convert: "
                                     + "; ".join(dict.fromkeys(problems)))
    kept = set().union(*(reached[k] for k in out.blocked))
    for call in finder.calls:  # a function a kept layer calls stays for every layer
        if id(call) not in out.blocked and reached[id(call)] & kept:
            out.blocked[id(call)] = (f"{', '.join(sorted(reached[id(call)] & kept))}: also "
                                     "called by a TextVectorization that stays Keras")
    converted = set().union(*(reached[id(c)] for c in finder.calls if id(c) not in out.blocked))
    out.functions = {n: f for n, f in out.functions.items() if n in converted}
    return out


class _Apply(cst.CSTTransformer):
    def __init__(self, functions: dict[str, cst.FunctionDef]) -> None:
        self.functions = functions
        self.depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                          ) -> cst.BaseStatement:
        self.depth -= 1
        if self.depth == 0 and original.name.value in self.functions:
            return self.functions[original.name.value]
        return updated

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def apply(module: cst.Module, done: Plan) -> cst.Module:
    """``module`` with the planned functions converted."""
    return module.visit(_Apply(done.functions)) if done.functions else module
