"""``tf.cast`` / ``keras.ops.cast`` / ``K.cast``: ``x.to(dtype)`` only where ``x`` is surely a
tensor, ``torch.as_tensor(x, dtype=...)`` everywhere else.

TF casts Python numbers, NumPy values, lists and ``TensorShape``s as well as tensors;
``.to`` exists only on tensors (``self.warmup_steps.to(...)`` in a learning-rate schedule
crashes). ``torch.as_tensor`` takes all of them and, given a tensor, is ``.to``: same device,
gradients kept. The shorter form is kept for what the rewriter knows is a tensor: a model
graph value (a template placeholder) or a call the op table wrote (``torch.*``/``F.*``
returning a tensor).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from agent.rules.imports import dotted
from agent.rules.ops.dtypes import dtype as _dtype
from agent.rules.ops.spec import Bound, atom

_PLACEHOLDER = re.compile(r"__k2l_\d+__")  # rewrite.template's names for graph tensors
_NOT_TENSORS = frozenset({  # torch callables whose result is not a tensor
    "torch.numel", "torch.is_tensor", "torch.is_floating_point", "torch.is_complex",
    "torch.get_default_dtype", "torch.Size", "torch.finfo", "torch.iinfo",
})


def known_tensor(code: str) -> bool:
    """``code`` (converted) is a tensor whatever the program's values are."""
    if _PLACEHOLDER.fullmatch(code):
        return True
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError:
        return False
    if not isinstance(node, cst.Call):
        return False
    name = dotted(node.func)
    return name is not None and name.startswith(("torch.", "F.")) and name not in _NOT_TENSORS


def _wrapped(code: str) -> str | None:
    """The argument of ``torch.as_tensor(v)`` (data code wraps arrays so), else None."""
    node = cst.parse_expression(code)
    if isinstance(node, cst.Call) and dotted(node.func) == "torch.as_tensor" \
            and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star:
        return cst.Module([]).code_for_node(node.args[0].value)
    return None


def cast(dtype_param: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        x = b.code(b.first())
        dtype = _dtype(b, dtype_param)
        inner = _wrapped(x) if known_tensor(x) else None
        if inner is not None:
            return f"torch.as_tensor({inner}, dtype={dtype})"
        if known_tensor(x):
            return f"{atom(x)}.to({dtype})"
        return f"torch.as_tensor({x}, dtype={dtype})"

    return handler
