"""User regularizer classes (``class R(keras.regularizers.Regularizer)``) → plain Python classes.

Keras only calls a regularizer on a tensor (``R(k)(output)`` or ``R(k)(kernel)``) and reads its
``get_config`` when saving; the base class adds nothing else. The converted class keeps its
methods, their tf/keras ops rewritten with the op table, and no Keras base.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.functions import convert_function, uses_framework
from agent.rules.training.regularizer_devices import on_weight_device

BASES = frozenset({"keras.regularizers.Regularizer", "keras.regularizers.regularizers.Regularizer"})


@dataclass(frozen=True)
class Custom:
    """``R(4)``: a user regularizer, called on the regularized tensor."""

    code: str

    def term(self, param: str, hparams: set[str]) -> str:
        return f"{self.code}({param})"


def class_names(module: cst.Module, imports: ImportTable) -> frozenset[str]:
    """Top-level classes deriving from Keras's Regularizer."""
    return frozenset(s.name.value for s in module.body if isinstance(s, cst.ClassDef)
                     and any(imports.resolve(b.value) in BASES for b in s.bases))


def parse(node: cst.BaseExpression, classes: frozenset[str]) -> Custom | None:
    """``R(3)`` / ``R(n_features=3)`` with constant arguments, else None."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
            and node.func.value in classes):
        return None
    if not all(isinstance(a.value, (cst.Integer, cst.Float, cst.SimpleString, cst.UnaryOperation))
               and not a.star for a in node.args):
        return None
    return Custom(cst.Module(body=[]).code_for_node(node))


def convert_classes(module: cst.Module, imports: ImportTable) -> tuple[cst.Module, list[str]]:
    """The module with each regularizer class converted whole (or left as it was when one of
    its methods does not convert), and the names of those converted."""
    names = class_names(module, imports)
    done: list[str] = []
    body: list[cst.BaseStatement] = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value in names:
            new = _convert(stmt, imports)
            if new is not None:
                body.append(new)
                done.append(stmt.name.value)
                continue
        body.append(stmt)
    return (module.with_changes(body=body) if done else module), done


def _convert(cls: cst.ClassDef, imports: ImportTable) -> cst.ClassDef | None:
    if not isinstance(cls.body, cst.IndentedBlock):
        return None
    stmts: list[cst.BaseStatement] = []
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and uses_framework(stmt, imports):
            new, problems = convert_function(stmt, imports)
            if new is None or problems:
                return None
            stmts.append(new)
        elif isinstance(stmt, cst.FunctionDef) or not uses_framework(stmt, imports):
            stmts.append(stmt)
        else:
            return None
    bases = [b for b in cls.bases if imports.resolve(b.value) not in BASES]
    return on_weight_device(cls.with_changes(bases=bases, lpar=cst.MaybeSentinel.DEFAULT,
                                             rpar=cst.MaybeSentinel.DEFAULT,
                                             body=cls.body.with_changes(body=stmts)))
