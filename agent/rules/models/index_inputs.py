"""Model inputs that are indices: those a custom layer passes straight to its Embedding.

Keras's Embedding casts a float input to int, so ``Input(shape=(n,))`` (float) feeding a
custom layer whose ``call`` looks its argument up in an Embedding works in Keras; torch's
``nn.Embedding`` only takes integer tensors. Such an input is marked ``long`` like one that
feeds an Embedding layer directly (codegen): the example input and the data fed to ``fit``
are then integer. The classes are read as written (Keras layers) or already converted
(``nn.Embedding`` sub-modules).
"""

from __future__ import annotations

import libcst as cst

from agent.rules import walk
from agent.rules.imports import ImportTable
from agent.rules.models.graph import ModelIR
from agent.rules.values import code_of

_EMBEDDINGS = frozenset({"keras.layers.Embedding", "nn.Embedding", "torch.nn.Embedding"})
_CALLS = ("call", "forward")


def embedding_layers(module: cst.Module, imports: ImportTable) -> frozenset[str]:
    """Top-level classes whose ``call``/``forward`` passes its first argument as it is to an
    Embedding sub-layer (``self.emb = Embedding(...)`` in ``__init__``)."""
    found: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.ClassDef):
            continue
        methods = {s.name.value: s for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
        init = methods.get("__init__")
        call = next((methods[n] for n in _CALLS if n in methods), None)
        if init is None or call is None or len(call.params.params) < 2:
            continue
        embeddings = _embedding_attrs(init, imports)
        if embeddings and _looks_up(call, call.params.params[1].name.value, embeddings):
            found.add(stmt.name.value)
    return frozenset(found)


def mark_index_inputs(ir: ModelIR, classes: frozenset[str]) -> None:
    """The model's inputs that a call of one of ``classes`` takes first: ``long``."""
    for call in ir.calls:
        if call.layer.spec is None and call.layer.keras_name in classes and call.inputs:
            first = call.inputs[0]
            if any(first is t for t in ir.inputs):
                first.dtype = "long"


def _embedding_attrs(init: cst.FunctionDef, imports: ImportTable) -> set[str]:
    attrs: set[str] = set()
    for node in walk.nodes(init):  # read-only: no visitor rebuilding the method
        if type(node) is not cst.Assign:
            continue
        target = node.targets[0].target if len(node.targets) == 1 else None
        if (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                and target.value.value == "self" and isinstance(node.value, cst.Call)):
            func = code_of(node.value.func)
            if func in _EMBEDDINGS or imports.resolve(node.value.func) in _EMBEDDINGS:
                attrs.add(target.attr.value)
    return attrs


def _indexes(arg: cst.BaseExpression, param: str) -> bool:
    """``param`` or a slice of it (``inputs[:, 0]``: one column of index pairs)."""
    while isinstance(arg, cst.Subscript):
        arg = arg.value
    return isinstance(arg, cst.Name) and arg.value == param


def _looks_up(call: cst.FunctionDef, param: str, embeddings: set[str]) -> bool:
    """``self.<embedding>(param)`` (or of a slice of it) in the method before ``param`` is
    rebound (a cast first, ``x = ops.cast(x, "float32")``, is not an index)."""

    class Walk(cst.CSTVisitor):
        hit = False
        rebound = False

        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if (not self.rebound and isinstance(func, cst.Attribute)
                    and isinstance(func.value, cst.Name) and func.value.value == "self"
                    and func.attr.value in embeddings and node.args
                    and _indexes(node.args[0].value, param)):
                self.hit = True

        def leave_Assign(self, node: cst.Assign) -> None:
            for t in node.targets:
                self._bind(t.target)

        def leave_AugAssign(self, node: cst.AugAssign) -> None:
            self._bind(node.target)

        def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
            self._bind(node.target)

        def _bind(self, target: cst.BaseExpression) -> None:
            if isinstance(target, cst.Name) and target.value == param:
                self.rebound = True

    walk = Walk()
    call.visit(walk)
    return walk.hit
