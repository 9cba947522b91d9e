"""Framework products of Python sizes in layer arguments: ``Dense(tf.math.reduce_prod(shape))``.

TF and Keras ops give the product of a tuple of ints as a tensor that Keras reads as an int;
torch wants an int, so the call becomes ``math.prod(shape)`` (same value, no framework), and
values.py folds its value when the tuple is known statically.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

PRODUCTS = frozenset({"tensorflow.math.reduce_prod", "tensorflow.reduce_prod",
                      "keras.ops.prod", "keras.backend.prod"})


class _Products(cst.CSTTransformer):
    def __init__(self, qual: Callable[[cst.BaseExpression], str | None],
                 is_tensor: Callable[[cst.BaseExpression], bool]) -> None:
        self.qual = qual
        self.is_tensor = is_tensor

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.qual(original_node.func) not in PRODUCTS or len(updated_node.args) != 1 \
                or updated_node.args[0].keyword is not None or updated_node.args[0].star \
                or self.is_tensor(original_node.args[0].value):
            return updated_node
        return cst.Call(cst.Attribute(cst.Name("math"), cst.Name("prod")),
                        [cst.Arg(updated_node.args[0].value)])


def python_products(node: cst.BaseExpression,
                    qual: Callable[[cst.BaseExpression], str | None],
                    is_tensor: Callable[[cst.BaseExpression], bool]) -> cst.BaseExpression:
    """``node`` with each framework product of sizes written as ``math.prod(...)``."""
    return node.visit(_Products(qual, is_tensor))  # type: ignore[return-value]

