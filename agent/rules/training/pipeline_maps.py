"""Functions handed to a tf.data pipeline's ``.map``/``.filter``, converted with the pipeline.

When utilities.py turns ``tf.data`` into the runtime ``DataPipeline``, the callbacks run on
torch tensors (and Python strings): each one (a function of the script, or a lambda) and
every function of the script it calls is rewritten with the op table plus ``tf.strings``
rows (right on Python strings, so only here). All of them convert, or none does and the
pipelines stay tf.data: the report names each callback that blocks, once. The map runs
where tf.data runs it (per element before ``.batch``, per batch after): DataPipeline keeps
the chain's order. ``num_parallel_calls``/``deterministic`` go (DataLoader workers do that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.functions import called_names, closure, uses_framework
from agent.rules.ops.image_io import PIPELINE_OPS
from agent.rules.ops.rewrite import OpRewriter
from agent.rules.ops.spec import bind, emit
from agent.rules.ops.table import CONSTANTS
from agent.rules.spec import Unsupported
from agent.rules.training import pipeline_models
from agent.rules.values import code_of, names_read

CALLBACK_METHODS = ("map", "filter")  # the DataPipeline methods that take a function
_DROPPED = ("num_parallel_calls", "deterministic")
# tf.train.Example parsing → runtime/image_ops.py (utilities.py swaps them outside callbacks)
EXAMPLE_PARSING = {"tensorflow.io.FixedLenFeature": "FixedLenFeature",
                   "tensorflow.io.VarLenFeature": "VarLenFeature",
                   "tensorflow.io.parse_single_example": "parse_single_example",
                   "tensorflow.io.parse_example": "parse_example"}
# a FixedLenFeature's dtype: torch's, or "string" (the feature's bytes)
STRING_DTYPES = ("tensorflow.string", "tensorflow.dtypes.string")
FEATURE_DTYPES = dict.fromkeys(STRING_DTYPES, '"string"') | {
    q: code for q, code in CONSTANTS.items() if q.startswith("tensorflow.") and "torch." in code}


class _PipelineRewriter(OpRewriter):
    """The op table, and the rows for map functions only (image_io.PIPELINE_OPS)."""

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        q = self.imports.resolve(original_node.func)
        if q in EXAMPLE_PARSING:
            return updated_node.with_changes(func=cst.Name(EXAMPLE_PARSING[q]))
        func = updated_node.func
        if q is None and isinstance(func, cst.Attribute) and func.attr.value == "set_shape" \
                and len(updated_node.args) == 1 and updated_node.args[0].keyword is None:
            # a TF tensor's method (map functions receive tensors): the check alone is left
            return cst.parse_expression(f"set_shape({code_of(func.value)}, "
                                        f"{code_of(updated_node.args[0].value)})")
        if q == "tensorflow.cast" and self._to_string(original_node):
            return cst.parse_expression(f"strings_cast({code_of(updated_node.args[0].value)})")
        op = PIPELINE_OPS.get(q) if q is not None else None
        if op is None or q is None:
            return super().leave_Call(original_node, updated_node)
        try:
            code = emit(op, bind(op, q, updated_node, [code_of(a.value)
                                                       for a in updated_node.args]))
        except Unsupported as exc:
            self._problem(str(exc))
            return updated_node
        return cst.parse_expression(code)


    def _to_string(self, call: cst.Call) -> bool:
        """``tf.cast(x, tf.string)``: TF returns strings as they are (and cannot cast
        numbers), the runtime's ``strings_cast`` too."""
        args = [a for a in call.args if a.keyword is None]
        dtype = next((a.value for a in call.args if a.keyword is not None
                      and a.keyword.value == "dtype"), args[1].value if len(args) > 1 else None)
        return bool(args) and dtype is not None and self.imports.resolve(dtype) in STRING_DTYPES

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        if self.imports.resolve(original_node) in STRING_DTYPES:
            return cst.parse_expression(FEATURE_DTYPES["tensorflow.string"])
        return super().leave_Attribute(original_node, updated_node)


def rewrite(node: cst.CSTNode, imports: ImportTable) -> tuple[cst.CSTNode, list[str]]:
    rewriter = _PipelineRewriter(imports, {})
    new = node.visit(rewriter)
    assert isinstance(new, cst.CSTNode)
    return new, rewriter.problems


@dataclass
class Callback:
    node: cst.Call  # the .map/.filter call
    label: str  # the function's name, or "lambda"
    problems: list[str] = field(default_factory=list)


@dataclass
class Plan:
    callbacks: list[Callback] = field(default_factory=list)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)  # converted

    @property
    def ok(self) -> bool:
        return all(not c.problems for c in self.callbacks)


def _callback_arg(call: cst.Call) -> cst.Arg | None:
    for k, a in enumerate(call.args):
        if (a.keyword is None and k == 0) or (a.keyword is not None and a.keyword.value in (
                "map_func", "predicate")):
            return a
    return None


class _Find(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: list[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in CALLBACK_METHODS \
                and _callback_arg(node) is not None:
            self.calls.append(node)


def _strip_tf_function(fn: cst.FunctionDef, imports: ImportTable) -> cst.FunctionDef:
    keep = [d for d in fn.decorators
            if imports.resolve(d.decorator.func if isinstance(d.decorator, cst.Call)
                               else d.decorator) != "tensorflow.function"]
    return fn.with_changes(decorators=keep) if len(keep) != len(fn.decorators) else fn


def plan(module: cst.Module, imports: ImportTable, taken: set[str],
         helpers: frozenset[str]) -> Plan:
    """What converting the callbacks of ``module`` takes. ``taken``: names the script binds
    itself; ``helpers``: the runtime functions the rows call (a clash blocks)."""
    finder = _Find()
    module.visit(finder)
    out = Plan()
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    converted: dict[str, tuple[cst.FunctionDef | None, list[str]]] = {}
    models, assigns = _models(module)
    reached: list[cst.CSTNode] = []  # the callbacks and the functions they call

    def convert(name: str, element: bool) -> list[str]:
        if name not in converted:
            fn = functions[name]
            reached.append(fn)
            calls = pipeline_models.ModelCalls(models, element)
            fn = fn.visit(calls)  # type: ignore[assignment]
            if not uses_framework(fn, imports) and not calls.problems and fn is functions[name]:
                converted[name] = (None, [])
            else:
                new, problems = rewrite(_strip_tf_function(fn, imports), imports)
                problems += calls.problems + clashes(new, taken, helpers)
                converted[name] = (new if isinstance(new, cst.FunctionDef) else None, problems)
        return converted[name][1]

    for call in finder.calls:
        arg = _callback_arg(call)
        assert arg is not None
        value = arg.value
        problems: list[str] = []
        element = pipeline_models.per_element(call, assigns)
        if isinstance(value, cst.Name):
            label = value.value
            if imports.resolve(value) is not None:
                problems.append(f"{label}: a TF/Keras function")
            elif label in functions:
                for name in sorted(closure(module, {label}) & functions.keys()):
                    problems += convert(name, element)
            elif label in taken:  # a local function or an object: not followed
                problems.append(f"{label} is not a top-level function of the script")
        else:
            label = "lambda" if isinstance(value, cst.Lambda) else code_of(value)
            reached.append(value)
            new, problems = rewrite(_model_calls(value, models, element, problems), imports)
            problems += clashes(new, taken, helpers)
            for name in sorted(closure(module, called_names(value)) & functions.keys()):
                problems += convert(name, element)
        out.callbacks.append(Callback(call, label, list(dict.fromkeys(problems))))
    shared = pipeline_models.used_outside(module, models, reached, assigns)
    for cb in out.callbacks:
        used = shared & {n.value for n in names_read(cb.node)}
        cb.problems += [f"{m}: a converted model the script also uses outside its pipelines"
                        for m in sorted(used)]
    out.functions = {n: fn for n, (fn, _) in converted.items() if fn is not None}
    return out


def _models(module: cst.Module) -> tuple[set[str], dict[str, list[cst.BaseExpression]]]:
    """Converted model instances a callback may call, and the module's assignments."""
    models = pipeline_models.instances(module)
    return models, pipeline_models.assignments(module) if models else {}


def _model_calls(node: cst.BaseExpression, models: set[str], element: bool,
                 problems: list[str]) -> cst.BaseExpression:
    if not models:
        return node
    calls = pipeline_models.ModelCalls(models, element)
    new = node.visit(calls)
    problems += calls.problems
    assert isinstance(new, cst.BaseExpression)
    return new


def clashes(node: cst.CSTNode, taken: set[str], helpers: frozenset[str]) -> list[str]:
    clash = called_names(node) & helpers & taken
    return [f"{name}: the script defines this name itself" for name in sorted(clash)]


class _Apply(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, functions: dict[str, cst.FunctionDef],
                 module: cst.Module) -> None:
        self.imports = imports
        self.functions = functions
        self.depth = 0
        self.models, self.assigns = _models(module)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth += 1

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.depth -= 1
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                          ) -> cst.BaseStatement:
        self.depth -= 1
        if self.depth == 0 and original.name.value in self.functions:
            return self.functions[original.name.value]
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in CALLBACK_METHODS):
            return updated
        arg = _callback_arg(updated)
        if arg is None:
            return updated
        args = []
        for k, a in enumerate(updated.args):
            if (a.keyword is not None and a.keyword.value in _DROPPED) or (
                    a.keyword is None and k == 1 and func.attr.value == "map"):
                continue  # num_parallel_calls (second positional of map): DataLoader's job
            if a is arg and not isinstance(a.value, cst.Name):
                element = pipeline_models.per_element(original, self.assigns)
                new, _ = rewrite(_model_calls(a.value, self.models, element, []), self.imports)
                assert isinstance(new, cst.BaseExpression)
                a = a.with_changes(value=new)
            args.append(a)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(args=args)


def apply(module: cst.Module, imports: ImportTable, done: Plan) -> cst.Module:
    """``module`` with the planned callbacks converted (``done.ok`` must hold)."""
    return module.visit(_Apply(imports, done.functions, module))
