"""Op rows for TF's functional conditionals: ``tf.cond`` / ``keras.ops.cond``.

Both call exactly one of two zero-argument functions, chosen by a scalar predicate; in eager
torch that is Python's conditional expression (only the chosen branch runs, as in TF). A
``lambda: expr`` branch is written as ``expr`` itself; any other branch is called.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from agent.rules.ops.spec import Bound, Op

TF, KOPS = "tensorflow", "keras.ops"


def _branch(code: str) -> str:
    """The value of calling the branch ``code``: a parameterless lambda's body, else a call."""
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError:
        return f"({code})()"
    if isinstance(node, cst.Lambda) and not node.params.params and node.params.star_arg is \
            cst.MaybeSentinel.DEFAULT and not node.params.kwonly_params and \
            node.params.star_kwarg is None:
        body = cst.Module([]).code_for_node(node.body)
        return body if isinstance(node.body, (cst.Name, cst.Attribute, cst.Call, cst.Subscript,
                                              cst.Integer, cst.Float)) else f"({body})"
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
        return f"{code}()"
    return f"({code})()"


def _cond(pred: str, true_fn: str, false_fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        return (f"({_branch(b.code(true_fn))} if {b.code(pred)} "
                f"else {_branch(b.code(false_fn))})")
    return handler


ROWS: list[tuple[list[str], Op]] = [
    ([f"{TF}.cond"], Op("", ("pred", "true_fn", "false_fn"), pos=3,
                        handler=_cond("pred", "true_fn", "false_fn"),
                        examples=(("tf.cond(x < y, lambda: x, lambda: y * 2.0)",
                                   "(x if x < y else (y * 2.0))"),))),
    ([f"{KOPS}.cond"], Op("", ("pred", "true_fn", "false_fn"), pos=3,
                          handler=_cond("pred", "true_fn", "false_fn"))),
]
