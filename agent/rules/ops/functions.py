"""Module-level functions on tensors (``Lambda(fn)`` targets, VAE sampling, distance
functions): converted as a whole with the op table, or left exactly as written.

A function is converted only when every framework reference in it has a mapping, so a
converted function never mixes TF and torch. Functions handed to ``tf.data`` (``.map(fn)``,
lambdas' callees included, and the functions they call) are left to the tf.data rule
(agent/rules/training/pipeline_maps.py): they become torch only with their pipeline.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import libcst as cst

from agent.rules import parsed, walk
from agent.rules.imports import ImportTable
from agent.rules.ops.rewrite import rewrite_node

_PIPELINE_METHODS = ("map", "filter", "flat_map", "interleave", "py_function", "numpy_function")
_PIPELINE_WORDS = re.compile(r"\b(?:" + "|".join(_PIPELINE_METHODS) + r")\b")


class _PipelineArgs(cst.CSTVisitor):
    """Names passed to tf.data-style methods (``ds.map(fn)``), or called by a lambda passed."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _PIPELINE_METHODS:
            for a in node.args:
                if isinstance(a.value, cst.Name):
                    self.names.add(a.value.value)
                elif isinstance(a.value, cst.Lambda):
                    self.names |= called_names(a.value)


class _Called(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):
            self.names.add(node.func.value)


def called_names(node: cst.CSTNode) -> set[str]:
    """Plain names called anywhere in ``node`` (``f(x)``, not ``obj.f(x)``)."""
    visitor = _Called()
    node.visit(visitor)
    return visitor.names


def closure(module: cst.Module, roots: set[str]) -> set[str]:
    """``roots`` and the top-level functions they call, transitively."""
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    seen = set(roots)
    todo = [n for n in roots if n in functions]
    while todo:
        for name in called_names(functions[todo.pop()]) & functions.keys():
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def pipeline_functions(module: cst.Module) -> set[str]:
    """Functions that run inside tf.data pipelines: callbacks and what they call."""
    pipeline = _PipelineArgs()
    module.visit(pipeline)
    return closure(module, pipeline.names)


def uses_framework(node: cst.CSTNode, imports: ImportTable) -> bool:
    """A name or attribute chain under ``node`` resolves to Keras/TF (an attribute's own
    name is not read: ``torch.optim.AdamW`` is no imported ``AdamW``)."""
    stack = [node]
    while stack:
        current = stack.pop()
        kind = type(current)  # libcst's node classes are final (and ABC checks are slow)
        if kind is cst.Attribute or kind is cst.Name:
            if imports.resolve(current) is not None:  # type: ignore[arg-type]
                return True
            if kind is cst.Attribute:
                stack.append(current.value)  # type: ignore[attr-defined]
            continue
        stack += walk.children(current)
    return False


def convert_function(fn: cst.FunctionDef, imports: ImportTable
                     ) -> tuple[cst.FunctionDef | None, list[str]]:
    """The function with every framework op rewritten, or None and the problems.

    ``@tf.function`` only asks TF to trace the function into a graph: dropped.
    """
    decorators = [d for d in fn.decorators
                  if imports.resolve(d.decorator.func if isinstance(d.decorator, cst.Call)
                                     else d.decorator) != "tensorflow.function"]
    if len(decorators) != len(fn.decorators):
        fn = fn.with_changes(decorators=decorators)
    new, problems = rewrite_node(fn, imports, {})
    if problems or not isinstance(new, cst.FunctionDef):
        return None, problems
    return new, []


@dataclass
class Converted:
    module: cst.Module
    names: list[str] = field(default_factory=list)


def candidates(module: cst.Module, imports: ImportTable, source: str | None = None
               ) -> list[str]:
    """Top-level functions that use the framework and do not run inside tf.data.

    ``source``: the module's text, when at hand; without a tf.data method's name in it
    no function runs inside tf.data (a cheap word search saves a whole-module visit)."""
    defs = [s for s in module.body if isinstance(s, cst.FunctionDef)]
    spelled = _names_imports(defs, imports, source) if source is not None else None
    names = [s.name.value for k, s in enumerate(defs)
             if (spelled is None or spelled[k]) and uses_framework(s, imports)]
    if not names or (source is not None and not _PIPELINE_WORDS.search(source)):
        return names
    inside = pipeline_functions(module)
    return [n for n in names if n not in inside]


def _names_imports(defs: list[cst.FunctionDef], imports: ImportTable, source: str
                   ) -> list[bool] | None:
    """Per top-level function of ``source``: whether its text has an imported name (or a
    functional subclass) as a word; a function without one cannot resolve to the
    framework. None when the text and ``defs`` do not line up."""
    try:
        tree = parsed.parse(source)
    except (SyntaxError, ValueError):
        return None
    spans = [(min([n.lineno, *(d.lineno for d in n.decorator_list)]), n.end_lineno or n.lineno)
             for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            ] != [d.name.value for d in defs]:
        return None
    words = sorted(w for w in {*imports.names, *imports.subclasses} if w.isidentifier())
    if not words:
        return [False] * len(defs)
    found = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")
    lines = re.split(r"\r\n|\r|\n", source)  # the tokenizer's line ends, as ast counts
    return [found.search("\n".join(lines[a - 1:b])) is not None for a, b in spans]


def named_again(names: list[str], source: str) -> bool:
    """Whether one of the functions ``names`` is written anywhere but its ``def`` (a call
    needs its name twice): none is, none is a data function, no visit needed."""
    return any(source.count(n) > 1  # written once even as a part of words: no regex
               and len(re.findall(rf"\b{re.escape(n)}\b", source)) > 1 for n in names)


class _References(cst.CSTVisitor):
    """Where each name is used: called directly at module level, or anything else."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.depth = 0
        self.called: set[int] = set()
        self.other: set[str] = set()
        self.module_calls: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.depth -= 1

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in self.names:
            self.called.add(id(node.func))
            if self.depth == 0:
                self.module_calls.add(node.func.value)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.names and (id(node) not in self.called or self.depth):
            self.other.add(node.value)


def data_functions(module: cst.Module) -> set[str]:
    """Top-level functions only ever called from module-level statements (never from a
    model, a layer, or passed as a value to ``Lambda``/``compile``): their arguments are
    the script's data, which may be NumPy arrays."""
    defs = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    refs = _References(set(defs))
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            refs.depth = 1
            stmt.body.visit(refs)  # its own name (the def) is not a use
            refs.depth = 0
        else:
            stmt.visit(refs)
    return refs.module_calls - refs.other


def convert_functions(module: cst.Module, imports: ImportTable, names: list[str]) -> Converted:
    """Rewrite the named top-level functions that convert completely."""
    wanted = set(names)
    body: list[cst.BaseStatement] = []
    done: list[str] = []
    for stmt in module.body:
        if (isinstance(stmt, cst.FunctionDef) and stmt.name.value in wanted
                and uses_framework(stmt, imports)):
            new, _ = convert_function(stmt, imports)
            if new is not None:
                body.append(new)
                done.append(stmt.name.value)
                continue
        body.append(stmt)
    return Converted(module.with_changes(body=body) if done else module, done)


def lambda_function(name: str, fn: cst.FunctionDef, imports: ImportTable) -> str | None:
    """Why ``Lambda(name)`` cannot call the converted function, or None when it can.

    The function is converted in place by :func:`convert_functions`; the layer calls it.
    """
    params = fn.params
    extra = [p for p in params.params[1:] if p.default is None]
    if not params.params or extra or params.star_arg not in (None, cst.MaybeSentinel.DEFAULT) \
            or params.kwonly_params:
        return f"Lambda({name}): the function must take the tensor as its one required argument"
    _, problems = convert_function(fn, imports)
    if problems:
        return f"Lambda({name}): " + "; ".join(problems)
    return None
