"""Arrays vs tensors: outside a model, TF ops take NumPy arrays and Python lists; torch's do not.

Where the op table rewrites data code (module-level statements, plain functions), an argument
that is not known to be a torch tensor goes through ``torch.as_tensor`` first. That keeps TF's
dtypes for what scripts pass: a NumPy array keeps its dtype (float64 stays float64, as
``tf.convert_to_tensor`` does) and a Python float list becomes float32 (torch's default dtype,
TF's too). ``torch.as_tensor`` returns a torch tensor unchanged (same object, same graph), so
a wrapped tensor costs nothing.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.ops.spec import Op

# Parameter names (over every row) that carry a tensor the torch code computes on.
TENSOR_PARAMS = frozenset({
    "x", "y", "a", "b", "x1", "x2", "input", "tensor", "input_tensor", "features", "logits",
    "t", "condition", "params", "reference", "data", "variable", "indices", "then_expression",
    "else_expression", "values", "xs", "tensors", "labels", "segment_ids", "value", "images",
    "image",
})
# Ops that already accept arrays (they make the tensor) or only read ``.shape``.
ACCEPT_ARRAYS = frozenset({
    "tensorflow.constant", "tensorflow.convert_to_tensor", "keras.ops.convert_to_tensor",
    "keras.backend.constant", "tensorflow.shape", "keras.backend.shape", "keras.ops.shape",
    "keras.backend.int_shape", "tensorflow.fill", "keras.ops.full",
})
_SEQUENCE_OPS = ("torch.cat", "torch.stack")  # their first argument is a list of tensors


def _number(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def is_torch(code: str, torch_names: frozenset[str]) -> bool:
    """Code the op table wrote (a torch call) or a name every writer of which is torch."""
    return code.startswith(("torch.", "F.")) or code in torch_names


def as_tensor(node: cst.BaseExpression, code: str, torch_names: frozenset[str]) -> str:
    if _number(node) or is_torch(code, torch_names):
        return code
    return f"torch.as_tensor({code})"


def _sequence(node: cst.BaseExpression, code: str, torch_names: frozenset[str]) -> str:
    """A list of tensors: each literal element wrapped, or every element of a variable."""
    new = cst.parse_expression(code)
    if isinstance(new, (cst.List, cst.Tuple)) and isinstance(node, (cst.List, cst.Tuple)) \
            and len(new.elements) == len(node.elements):
        parts = []
        for old, el in zip(node.elements, new.elements, strict=True):
            text = cst.Module([]).code_for_node(el.value)
            if isinstance(el, cst.StarredElement):
                return f"[torch.as_tensor(v) for v in {code}]"
            parts.append(as_tensor(old.value, text, torch_names))
        inner = ", ".join(parts)
        return f"[{inner}]" if isinstance(new, cst.List) else f"({inner}{',' if len(parts) == 1 else ''})"
    return f"[torch.as_tensor(v) for v in {code}]"


def _root(node: cst.BaseExpression) -> str | None:
    while isinstance(node, cst.Subscript):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def wrap_arguments(op: Op, qualname: str, call: cst.Call, codes: list[str],
                   torch_names: frozenset[str] | None,
                   only: frozenset[str] | None = None) -> list[str]:
    """``codes`` (the converted arguments of ``call``) with every tensor argument that may be
    an array passed through ``torch.as_tensor``: any not known to be torch (``torch_names``),
    or with ``only``, just the variables (and their items) named there."""
    if qualname in ACCEPT_ARRAYS:
        return codes
    if only is not None:
        return [f"torch.as_tensor({code})" if _root(arg.value) in only and not arg.star
                and _tensor_param(op, call, k) else code
                for k, (arg, code) in enumerate(zip(call.args, codes, strict=True))]
    assert torch_names is not None
    out: list[str] = []
    k = 0
    for arg, code in zip(call.args, codes, strict=True):
        if arg.star:
            out.append(code)
            continue
        if arg.keyword is None:
            name = op.params[k] if k < len(op.params) else ("x" if op.varargs else "")
            k += 1
        else:
            name = arg.keyword.value
        if name not in TENSOR_PARAMS:
            out.append(code)
        elif op.torch in _SEQUENCE_OPS and op.params and name == op.params[0]:
            out.append(_sequence(arg.value, code, torch_names))
        else:
            out.append(as_tensor(arg.value, code, torch_names))
    return out


def _tensor_param(op: Op, call: cst.Call, index: int) -> bool:
    """Whether ``call``'s argument ``index`` binds one of the op's tensor parameters."""
    arg = call.args[index]
    if arg.keyword is not None:
        return arg.keyword.value in TENSOR_PARAMS
    k = sum(1 for a in call.args[:index] if a.keyword is None and not a.star)
    name = op.params[k] if k < len(op.params) else ("x" if op.varargs else "")
    return name in TENSOR_PARAMS and op.torch not in _SEQUENCE_OPS
