"""``tf.strings`` results read eagerly outside pipelines: ``tf.strings.reduce_join(chars)
.numpy().decode("utf-8")``, the idiom that turns decoded indices back into text.

The ``tf.strings`` rows stay out of the general table (a Keras ``standardize`` function would
call them on TF tensors), but ``.numpy()`` right after the call says the value is read
eagerly, in Python: the row's runtime function gives the joined ``str``, and TF's
``.numpy()`` of a scalar string is its UTF-8 bytes (``.encode()``; a ``.decode()`` of those
bytes gives the ``str`` back, so the pair goes). Encoders and ``read_file`` give bytes
already: their ``.numpy()`` goes. The statement rules still decide, by data
flow, whether its argument can be a TF value (then the statement stays as written).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.ops.image_io import PIPELINE_OPS
from agent.rules.ops.spec import Op
from agent.rules.ops.table import OPS

# ops whose result is one string (no ``keepdims``): ``.numpy()`` of it is bytes
SCALAR_RESULTS = ("tensorflow.strings.reduce_join",)
# rows (general table) that give bytes already: ``.numpy()`` of them is the value itself
BYTES_RESULTS = ("tensorflow.io.encode_jpeg", "tensorflow.image.encode_jpeg",
                 "tensorflow.io.encode_png", "tensorflow.image.encode_png",
                 "tensorflow.io.read_file", "tensorflow.read_file")
_UTF8 = ("'utf-8'", '"utf-8"', "'UTF-8'", '"UTF-8"', "'utf8'", '"utf8"')


def numpy_call_value(node: cst.Call) -> cst.BaseExpression | None:
    """``x`` of ``x.numpy()`` (no arguments), else None."""
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "numpy" and not node.args:
        return func.value
    return None


def eager_op(qualname: str | None, call: cst.Call) -> Op | None:
    """The row for a scalar string op read by ``.numpy()``; None when ``keepdims`` (an
    array, not one string) or no row."""
    if qualname in BYTES_RESULTS:
        return OPS.get(qualname)
    if qualname not in SCALAR_RESULTS or any(
            a.keyword is not None and a.keyword.value == "keepdims" for a in call.args):
        return None
    return PIPELINE_OPS.get(qualname)


def suffix(qualname: str | None) -> str:
    """What ``.numpy()`` of the converted call becomes: TF's bytes of one ``str``, or
    nothing (the runtime function gives bytes)."""
    return "" if qualname in BYTES_RESULTS else ".encode()"


def decoded(node: cst.Call, encoded: set[int]) -> cst.BaseExpression | None:
    """``s`` for ``s.encode().decode()`` / ``.decode("utf-8")`` where ``s.encode()`` is one
    the rewriter wrote (``encoded``: their ids)."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "decode"
            and id(func.value) in encoded and isinstance(func.value, cst.Call)):
        return None
    if node.args and (len(node.args) > 1 or node.args[0].keyword is not None
                      or cst.Module([]).code_for_node(node.args[0].value) not in _UTF8):
        return None
    inner = func.value.func
    assert isinstance(inner, cst.Attribute)
    return inner.value
