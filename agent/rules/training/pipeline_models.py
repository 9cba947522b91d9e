"""Converted Keras models called inside a tf.data map function (augmentation Sequentials).

Keras runs ``augment(x, training=True)`` in a ``.map`` before ``.batch`` on one element as
on a batch of one, and its random layers act only when ``training`` is True (the default
outside ``fit`` is inference). The converted module wants the batch axis and has one mode
for all calls, so each call sets the mode Keras would use and adds the batch axis per
element: ``augment.train(True)(x[None])[0]``. ``Module.train`` returns the module. A
module the script also uses outside its pipelines is not touched (the map would switch the
mode of a layer being trained): that callback is reported and tf.data stays.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.values import code_of, names_read

_BATCHING = ("batch", "padded_batch")


def instances(module: cst.Module) -> set[str]:
    """Module-level names bound to an instance of a torch module class of the script."""
    classes = {s.name.value for s in module.body if isinstance(s, cst.ClassDef) and any(
        code_of(b.value).endswith(("LightningModule", "Module")) for b in s.bases)}
    out: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                    and isinstance(small.targets[0].target, cst.Name) \
                    and isinstance(small.value, cst.Call) \
                    and isinstance(small.value.func, cst.Name) \
                    and small.value.func.value in classes:
                out.add(small.targets[0].target.value)
    return out


def per_element(call: cst.Call, assigns: dict[str, list[cst.BaseExpression]]) -> bool:
    """Whether the ``.map`` ``call`` runs before any ``.batch`` of its pipeline: its
    receiver chain, and the chains bound to the name it starts from (but the one holding
    ``call``: ``ds = ds.map(f).batch(4)``), have none."""
    seen: set[str] = set()

    def batched(node: cst.BaseExpression) -> bool:
        cur = node
        while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
            if cur.func.attr.value in _BATCHING:
                return True
            if cur.func.attr.value == "unbatch":
                return False
            if _batching_loader(cur):
                return True
            cur = cur.func.value
        if isinstance(cur, cst.Call) and _batching_loader(cur):
            return True
        if isinstance(cur, cst.Name) and cur.value not in seen:
            seen.add(cur.value)
            return any(batched(v) for v in assigns.get(cur.value, []) if not _holds(v, call))
        return False

    func = call.func
    return not (isinstance(func, cst.Attribute) and batched(func.value))


def _batching_loader(call: cst.Call) -> bool:
    """``image_dataset_from_directory(...)`` and the other Keras loaders that yield
    batches (32 by default) unless given ``batch_size=None``; named as Keras or as their
    inlined runtime functions."""
    name = code_of(call.func).rsplit(".", 1)[-1]
    if not (name.endswith(("_from_directory", "_from_array")) or name == "make_csv_dataset"):
        return False
    return not any(a.keyword is not None and a.keyword.value == "batch_size"
                   and code_of(a.value) == "None" for a in call.args)


def _holds(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    class _Find(cst.CSTVisitor):
        found = False

        def on_visit(self, n: cst.CSTNode) -> bool:
            self.found = self.found or n is target
            return not self.found

    finder = _Find()
    node.visit(finder)
    return finder.found


def assignments(module: cst.Module) -> dict[str, list[cst.BaseExpression]]:
    """Every ``name = value`` of the module, in any scope."""
    out: dict[str, list[cst.BaseExpression]] = {}

    class _Find(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            for t in node.targets:
                if isinstance(t.target, cst.Name):
                    out.setdefault(t.target.value, []).append(node.value)
                elif isinstance(t.target, cst.Tuple) and isinstance(node.value, cst.Call):
                    for e in t.target.elements:  # train, val = loader(..., subset="both")
                        if isinstance(e.value, cst.Name):
                            out.setdefault(e.value.value, []).append(node.value)

    module.visit(_Find())
    return out


class ModelCalls(cst.CSTTransformer):
    """Calls of converted model instances in one callback, with Keras's mode written."""

    def __init__(self, models: set[str], element: bool) -> None:
        self.models = models
        self.element = element
        self.problems: list[str] = []

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (isinstance(func, cst.Name) and func.value in self.models):
            return updated
        mode = "False"
        args: list[cst.Arg] = []
        for a in updated.args:
            if a.keyword is not None and a.keyword.value == "training":
                mode = code_of(a.value)
            else:
                args.append(a)
        if len(args) != 1 or args[0].keyword is not None or args[0].star:
            self.problems.append(f"{func.value}(...): a converted model called with "
                                 "arguments other than one tensor")
            return updated
        x = code_of(args[0].value)
        call = f"{func.value}.train({mode})"
        return cst.parse_expression(f"{call}({x}[None])[0]" if self.element
                                    else f"{call}({x})")


def used_outside(module: cst.Module, models: set[str], callbacks: list[cst.CSTNode],
                 assigns: dict[str, list[cst.BaseExpression]]) -> set[str]:
    """Model instances the script reads outside the map callbacks (and their binding)."""
    inside: dict[str, int] = {}
    for node in callbacks:
        for n in names_read(node):
            inside[n.value] = inside.get(n.value, 0) + 1
    total: dict[str, int] = {}
    for n in names_read(module):
        total[n.value] = total.get(n.value, 0) + 1
    return {m for m in models
            if total.get(m, 0) > inside.get(m, 0) + len(assigns.get(m, []))}
