"""``model.predict(x)`` inside a callback's hooks → ``keras_predict(model, x)``.

A hook runs while ``trainer.fit`` runs: the module has no ``predict`` method, and a second
``pl.Trainer(...).predict`` would attach the module to that trainer in the middle of the fit.
Keras's predict is an inference pass, batch by batch, in inference mode; the runtime's
``keras_predict`` (runtime/batches.py) is exactly that, and restores the module's mode.
"""

from __future__ import annotations

from collections.abc import Collection

import libcst as cst

from agent.rules.training.compile import bind
from agent.rules.values import code_of


class _Predict(cst.CSTTransformer):
    def __init__(self, models: Collection[str]) -> None:
        self.models = models
        self.done = 0
        self.left: list[str] = []

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "predict"
                and isinstance(func.value, cst.Name) and func.value.value in self.models):
            return updated
        args, ok = bind(updated, ("x", "batch_size", "verbose", "steps", "callbacks"))
        if not ok or "x" not in args or set(args) - {"x", "batch_size", "verbose"}:
            self.left.append(f"{code_of(updated)[:80]}: predict() arguments not converted")
            return updated
        size = f", batch_size={code_of(args['batch_size'])}" if "batch_size" in args else ""
        self.done += 1
        return cst.parse_expression(
            f"keras_predict({func.value.value}, {code_of(args['x'])}{size})")


def convert(cls: cst.ClassDef, models: Collection[str]) -> tuple[cst.ClassDef, int, list[str]]:
    """(class, predicts converted, reasons left) for a converted ``pl.Callback`` class:
    ``pl_module`` (was ``self.model``) and the script's model variables in ``models``."""
    rewrite = _Predict({"pl_module", *models})
    new = cls.visit(rewrite)
    assert isinstance(new, cst.ClassDef)
    return new, rewrite.done, rewrite.left
