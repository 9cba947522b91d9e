"""TF / Keras dtype names → torch dtypes, shared by the op rows that take a ``dtype``."""

from __future__ import annotations

import libcst as cst

from agent.rules.ops.spec import Bound
from agent.rules.spec import Unsupported

DTYPES: dict[str, str] = {
    name: f"torch.{name}" for name in (
        "float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
        "uint8", "bool", "complex64", "complex128")
} | {"float": "torch.float32", "int": "torch.int64", "double": "torch.float64",
     "half": "torch.float16"}


def dtype(b: Bound, name: str) -> str:
    """The torch dtype for argument ``name``: a string literal or an already-converted tf.X."""
    code = b.code(name)
    value = b.lit(name)
    if isinstance(value, str):
        if value not in DTYPES:
            raise Unsupported(f"{b.op}: dtype {value!r} has no torch mapping")
        return DTYPES[value]
    if code.startswith("torch."):
        return code  # tf.float32 was already rewritten as a constant
    node = b.nodes.get(name)
    if isinstance(node, cst.Attribute) and node.attr.value == "dtype":
        return code  # another tensor's dtype: a torch dtype once that tensor is torch's
    raise Unsupported(f"{b.op}: dtype {code} has no torch mapping")


def is_int(torch_dtype: str) -> bool:
    return "int" in torch_dtype
