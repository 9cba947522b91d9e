"""Keras 2's symbolic gradients → an eager function over a tape, before the other rules.

Keras 2 scripts (filter visualization, gradient ascent) build a loss on a model's symbolic
output, differentiate it with ``K.gradients`` and run the graph with ``K.function``::

    loss = K.mean(model.output[:, unit])
    grads = K.gradients(loss, model.input)[0]
    grads /= K.sqrt(K.mean(K.square(grads))) + 1e-5
    iterate = K.function([model.input], [loss, grads])
    loss_value, grads_value = iterate([x])

Torch builds no graph to run later. The same computation as an eager function is::

    def iterate(inputs):
        graph_input = tf.convert_to_tensor(inputs[0], dtype=tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(graph_input)
            graph_output = model(graph_input)
            loss = K.mean(graph_output[:, unit])
        grads = tape.gradient(loss, graph_input)
        grads /= K.sqrt(K.mean(K.square(grads))) + 1e-5
        return [loss.numpy(), grads.numpy()]

which the tape rules then convert (``tape_loop.py``); kept as written when a Keras model is
left anyway (``rewritten_lines.with_rewrite``). K.function's arrays in, arrays out; its input
is cast to float32, the placeholder's dtype.

Only this form: one input, the model's own (``M.input``, ``M.inputs[0]`` or a name bound to
it); outputs that are names computed, statement by statement in the same block, from
``M.output`` and one ``K.gradients(loss, input)[0]``; those names read nowhere else. Anything
else (layer outputs, ``K.learning_phase()``, placeholders, variables) stays as written, with
the op table's report line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules import walk
from agent.rules.imports import ImportTable
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite
from agent.rules.values import code_of

_FUNCTION = ("keras.backend.function", "tensorflow.keras.backend.function")
_GRADIENTS = ("keras.backend.gradients", "tensorflow.keras.backend.gradients")
_CALLS = re.compile(r"\.function\(")  # K.function( / backend.function(: rare, cheap gate
_FRESH = ("graph_input", "graph_output", "tape", "inputs")


def _names(node: cst.CSTNode) -> set[str]:
    return {n.value for n in walk.nodes(node) if isinstance(n, cst.Name)}


def _single(stmt: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _target(small: cst.BaseSmallStatement | None) -> str | None:
    """The name a plain ``n = ...`` / ``n op= ...`` assigns."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1 \
            and isinstance(small.targets[0].target, cst.Name):
        return small.targets[0].target.value
    if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
        return small.target.value
    return None


def _model_input(node: cst.BaseExpression) -> str | None:
    """``M.input`` / ``M.inputs[0]`` → M."""
    if isinstance(node, cst.Attribute) and node.attr.value == "input" \
            and isinstance(node.value, cst.Name):
        return node.value.value
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) \
            and node.value.attr.value == "inputs" and isinstance(node.value.value, cst.Name) \
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and code_of(node.slice[0].slice.value) == "0":
        return node.value.value.value
    return None


def _is_output(node: cst.CSTNode, model: str) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "output" \
        and isinstance(node.value, cst.Name) and node.value.value == model


class _Swap(cst.CSTTransformer):
    """``M.output`` → ``graph_output``; the input (``M.input`` or its alias) → ``graph_input``."""

    def __init__(self, model: str, alias: str | None) -> None:
        self.model = model
        self.alias = alias

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        if _is_output(original, self.model):
            return cst.Name("graph_output")
        if _model_input(original) == self.model:
            return cst.Name("graph_input")
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript
                        ) -> cst.BaseExpression:
        return cst.Name("graph_input") if _model_input(original) == self.model else updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return cst.Name("graph_input") if self.alias and original.value == self.alias \
            else updated


class _Plan:
    def __init__(self, at: int, name: str, model: str, alias: str | None,
                 moved: list[int], grad: int, outs: list[str]) -> None:
        self.at, self.name, self.model, self.alias = at, name, model, alias
        self.moved, self.grad, self.outs = moved, grad, outs


def _plan(body: Sequence[cst.BaseStatement], at: int, imports: ImportTable) -> _Plan | None:
    small = _single(body[at])
    if not isinstance(small, cst.Assign) or _target(small) is None \
            or not isinstance(small.value, cst.Call) \
            or imports.resolve(small.value.func) not in _FUNCTION:
        return None
    name = _target(small)
    call = small.value
    if name is None or len(call.args) != 2 or any(a.keyword or a.star for a in call.args):
        return None
    ins, outs = call.args[0].value, call.args[1].value
    if not isinstance(ins, (cst.List, cst.Tuple)) or len(ins.elements) != 1 \
            or not isinstance(outs, (cst.List, cst.Tuple)) or not outs.elements \
            or not all(isinstance(e.value, cst.Name) for e in outs.elements):
        return None
    out_names = [e.value.value for e in outs.elements if isinstance(e.value, cst.Name)]
    first = ins.elements[0].value
    model, alias, alias_at = _model_input(first), None, -1
    if model is None and isinstance(first, cst.Name):  # input_img = model.input
        alias = first.value
        for k in range(at - 1, -1, -1):
            s = _single(body[k])
            if _target(s) == alias:
                model = _model_input(s.value) if isinstance(s, cst.Assign) else None
                alias_at = k
                break
    if model is None:
        return None
    symbolic: set[str] = set()
    moved: list[int] = []
    grad = -1
    for k in range(at):
        s = _single(body[k])
        target = _target(s)
        mentions = _names(body[k])
        is_grad = isinstance(s, cst.Assign) and _gradient_of(s.value, imports) is not None
        reads_graph = s is not None and any(_is_output(n, model) for n in walk.nodes(s)) \
            or bool(mentions & symbolic) or is_grad
        if target is not None and reads_graph:
            if is_grad:
                if grad >= 0:
                    return None  # two gradients: not this form
                grad = k
            symbolic.add(target)
            moved.append(k)
        elif mentions & symbolic:
            return None  # a symbolic value used by some other statement
    if grad < 0 or not set(out_names) <= symbolic:
        return None
    g = _single(body[grad])
    assert isinstance(g, cst.Assign)
    source = _gradient_of(g.value, imports)
    assert source is not None
    wrt = source[1]
    if not (_model_input(wrt) == model or isinstance(wrt, cst.Name) and wrt.value == alias):
        return None
    if not isinstance(source[0], cst.Name) or source[0].value not in symbolic:
        return None
    if any(_names(body[k]) & symbolic for k in range(at + 1, len(body))):
        return None  # read after K.function: the names would be gone
    if set(_FRESH) & set().union(*(_names(body[k]) for k in moved)):
        return None
    if alias_at >= 0 and not any(alias in _names(body[k]) for k in range(len(body))
                                 if k not in (alias_at, at, *moved)):
        moved.append(alias_at)  # read only by what moves: it goes (the input is a parameter)
    return _Plan(at, name, model, alias, moved, grad, out_names)


def _gradient_of(value: cst.BaseExpression, imports: ImportTable
                 ) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """``K.gradients(loss, x)[0]`` → (loss, x)."""
    if not (isinstance(value, cst.Subscript) and len(value.slice) == 1
            and isinstance(value.slice[0].slice, cst.Index)
            and code_of(value.slice[0].slice.value) == "0"):
        return None
    call = value.value
    if not (isinstance(call, cst.Call) and imports.resolve(call.func) in _GRADIENTS
            and len(call.args) == 2 and not any(a.keyword or a.star for a in call.args)):
        return None
    return call.args[0].value, call.args[1].value


def _function(plan: _Plan, body: Sequence[cst.BaseStatement], tf: str) -> cst.FunctionDef:
    swap = _Swap(plan.model, plan.alias)

    def moved(k: int) -> cst.BaseStatement:  # comments kept above it, blank lines not
        stmt = body[k].visit(swap)
        assert isinstance(stmt, cst.SimpleStatementLine)
        return stmt.with_changes(leading_lines=[ln for ln in stmt.leading_lines if ln.comment])

    alias_at = [k for k in plan.moved if _target(_single(body[k])) == plan.alias]
    inside = [moved(k) for k in plan.moved if k < plan.grad and k not in alias_at]
    after = [moved(k) for k in plan.moved if k > plan.grad]
    g = _single(body[plan.grad])
    assert isinstance(g, cst.Assign)
    loss = code_of(g.value.value.args[0].value)  # type: ignore[attr-defined]
    target = _target(g)
    lines = [f"def {plan.name}(inputs):",
             f"    graph_input = {tf}.convert_to_tensor(inputs[0], dtype={tf}.float32)",
             f"    with {tf}.GradientTape() as tape:",
             "        tape.watch(graph_input)",
             f"        graph_output = {plan.model}(graph_input)"]
    text = "\n".join(lines) + "\n"
    fn = cst.parse_statement(text + "        pass\n")
    assert isinstance(fn, cst.FunctionDef) and isinstance(fn.body, cst.IndentedBlock)
    with_stmt = fn.body.body[1]
    assert isinstance(with_stmt, cst.With) and isinstance(with_stmt.body, cst.IndentedBlock)
    tape_body = [*with_stmt.body.body[:-1], *inside]
    with_stmt = with_stmt.with_changes(body=with_stmt.body.with_changes(body=tape_body))
    grad_stmt = cst.parse_statement(f"{target} = tape.gradient({loss}, graph_input)\n")
    ret = cst.parse_statement(
        f"return [{', '.join(f'{n}.numpy()' for n in plan.outs)}]\n")
    first = body[min(k for k in plan.moved if k not in alias_at)]
    lead = [ln for ln in first.leading_lines if ln.comment] \
        if isinstance(first, cst.SimpleStatementLine) else []
    return fn.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *lead],
                           body=fn.body.with_changes(
        body=[fn.body.body[0], with_stmt, grad_stmt, *after, ret]))


class _Blocks(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, tf: str) -> None:
        self.imports = imports
        self.tf = tf
        self.done: list[tuple[cst.CSTNode, str]] = []

    def _rewrite(self, body: Sequence[cst.BaseStatement], originals: Sequence[cst.BaseStatement]
                 ) -> list[cst.BaseStatement]:
        out = list(body)
        for at in range(len(out) - 1, -1, -1):
            plan = _plan(out, at, self.imports)
            if plan is None:
                continue
            fn = _function(plan, out, self.tf)
            self.done.append((originals[at] if at < len(originals) else out[at],
                              f"K.function {plan.name}: an eager function over a tape "
                              f"(the loss on {plan.model}'s output, the gradient by autograd)"))
            gone = set(plan.moved)
            out = [fn if k == plan.at else s for k, s in enumerate(out) if k not in gone]
            return out  # one per block: the indices moved
        return out

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._rewrite(updated.body, original.body))

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        return updated.with_changes(body=self._rewrite(updated.body, original.body))


def rewrite_backend_functions(code: str, imports: ImportTable) -> Rewritten:
    """``code`` with each K.function of the supported form as an eager tape function."""
    if "gradients" not in code or "function" not in code:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    tf = next((k for k, v in imports.names.items() if v == "tensorflow"), "")
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    blocks = _Blocks(imports, tf or "tf")
    new = wrapper.module.visit(blocks)
    if not blocks.done:
        return Rewritten(code)
    if not tf:
        if "tf" in _names(module):
            return Rewritten(code)
        head = 0  # after the docstring and __future__ imports
        while head < len(new.body) and _leading(new.body[head]):
            head += 1
        new = new.with_changes(body=[*new.body[:head],
                                     cst.parse_statement("import tensorflow as tf\n"),
                                     *new.body[head:]])
    positions = wrapper.resolve(PositionProvider)
    out = Rewritten(new.code)
    for node, msg in blocks.done:
        pos = positions.get(node)
        out.changes.append((pos.start.line if pos is not None else 0,
                            "training.backend_function", msg))
    return out


def _leading(stmt: cst.BaseStatement) -> bool:
    small = _single(stmt)
    return isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString) or (
        isinstance(small, cst.ImportFrom) and isinstance(small.module, cst.Name)
        and small.module.value == "__future__")


def with_backend_functions(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` on the source with its K.function graphs as eager functions; as written
    when there is none, or a Keras model is left anyway."""
    if not _CALLS.search(source) or "gradients(" not in source:
        return convert(source, path)
    return with_rewrite(source, path, convert, rewrite_backend_functions)
