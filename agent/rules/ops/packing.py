"""A Python list of tensors passed where a TF op takes ONE tensor.

TF converts the list with ``convert_to_tensor``, which stacks it on a new first axis
(``tf.math.softmax(scores, axis=0)`` over a list of ``(batch, 1)`` scores normalises across
the list). torch functions take no list there, so the stack is written:
``F.softmax(torch.stack(scores), dim=0)``. Only the ops below are read this way (their first
argument is one tensor); ops whose first argument IS a list (concat, stack, add_n) are not.
The list is known from the function itself: a name it binds once, to a list display or a
list comprehension.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable

# (not the reductions: ``tf.reduce_max(sizes)`` of a list of shape ints is Python's max,
# shape_ints.py)
_ONE_TENSOR_OPS = ("softmax", "log_softmax", "sigmoid", "tanh", "exp", "relu")
# the modules those names are read from: tf.*, tf.math.*, tf.nn.*, keras.ops.*
_MODULES = ("tensorflow", "tensorflow.math", "tensorflow.nn", "keras.ops")
PACKED = frozenset(f"{m}.{n}" for m in _MODULES for n in _ONE_TENSOR_OPS)


def list_names(fn: cst.FunctionDef) -> frozenset[str]:
    """Names ``fn`` binds exactly once, to a list display or a list comprehension (and
    never as a loop target or another assignment's target)."""
    bound: dict[str, list[cst.BaseExpression | None]] = {}

    class _Bindings(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                value = node.value if isinstance(target.target, cst.Name) else None
                for name in _target_names(target.target):
                    bound.setdefault(name, []).append(value)

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            for name in _target_names(node.target):
                bound.setdefault(name, []).append(None)

        def visit_For(self, node: cst.For) -> None:
            for name in _target_names(node.target):
                bound.setdefault(name, []).append(None)

    fn.body.visit(_Bindings())
    return frozenset(name for name, values in bound.items() if len(values) == 1
                     and isinstance(values[0], (cst.List, cst.ListComp)))


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _target_names(el.value)]
    return []


def stack_lists(fn: cst.FunctionDef, imports: ImportTable) -> cst.FunctionDef:
    """``fn`` with every list of :func:`list_names` passed as the first argument of a
    :data:`PACKED` op written ``torch.stack(name)`` (the op then converts as usual)."""
    lists = list_names(fn)
    if not lists:
        return fn

    class _Stack(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
            if imports.resolve(original_node.func) not in PACKED or not updated_node.args:
                return updated_node
            first = updated_node.args[0]
            if first.keyword is not None or first.star or not (
                    isinstance(first.value, cst.Name) and first.value.value in lists):
                return updated_node
            stacked = cst.Call(cst.Attribute(cst.Name("torch"), cst.Name("stack")),
                               args=[cst.Arg(first.value)])
            return updated_node.with_changes(
                args=[first.with_changes(value=stacked), *updated_node.args[1:]])

    new = fn.visit(_Stack())
    assert isinstance(new, cst.FunctionDef)
    return new
