"""A Keras loss object's ``reduction=`` read as Keras 3's name: compile() and the
standalone training loops both honour it (compile.py, loop_objects.py)."""

from __future__ import annotations

import libcst as cst

from agent.rules.values import code_of

# Keras's reduction spellings → Keras 3's names (Keras 2's AUTO is sum_over_batch_size)
_REDUCTIONS = {"none": "none", "None": "none", "sum": "sum", "auto": "sum_over_batch_size",
               "sum_over_batch_size": "sum_over_batch_size", "mean": "sum_over_batch_size",
               "mean_with_sample_weight": "mean_with_sample_weight"}


def loss_reduction(call: cst.Call) -> tuple[str, cst.Call] | None:
    """A loss object's ``reduction=`` keyword → (Keras 3's name, the call without it);
    ``"none"``/``None``/``Reduction.NONE``, ``"sum"``, ... None for a value not spelled out."""
    for k, arg in enumerate(call.args):
        if arg.keyword is None or arg.keyword.value != "reduction":
            continue
        value = arg.value
        if isinstance(value, cst.SimpleString) and isinstance(value.evaluated_value, str):
            word = value.evaluated_value
        elif isinstance(value, cst.Name):
            word = value.value
        elif isinstance(value, cst.Attribute) and code_of(value.value).endswith("Reduction"):
            word = value.attr.value.lower()
        else:
            return None
        if word not in _REDUCTIONS:
            return None
        rest = [*call.args[:k], *call.args[k + 1:]]
        if rest:
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return _REDUCTIONS[word], call.with_changes(args=rest)
    return "sum_over_batch_size", call
