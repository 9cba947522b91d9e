"""``s = tf.strings.reduce_join(...)`` followed by ``s = s.numpy().decode("utf-8")``: the
eager read split over two statements (the OCR scripts' idiom) joined into one,
``s = tf.strings.reduce_join(...).numpy().decode("utf-8")``, which ops/eager_strings.py
converts. The second statement only rebinds the name from its own ``.numpy()``, so the
joined statement binds the same value; anything else is left as written.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.eager_strings import SCALAR_RESULTS, numpy_call_value


def _assigned(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    """(name, value) of a one-line ``name = value``."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1 \
            or not isinstance(small.targets[0].target, cst.Name):
        return None
    return small.targets[0].target.value, small.value


def _read_of(value: cst.BaseExpression, name: str) -> cst.BaseExpression | None:
    """``value`` with its one ``name.numpy()`` (at the start of a call chain) taken out:
    ``name.numpy().decode("utf-8")`` -> ``.decode("utf-8")`` applied later; None when
    ``value`` is not such a chain."""
    node: cst.BaseExpression = value
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        inner = numpy_call_value(node)
        if inner is not None:
            return value if isinstance(inner, cst.Name) and inner.value == name else None
        node = node.func.value
    return None


class _Join(cst.CSTTransformer):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports

    def _scalar_join(self, value: cst.BaseExpression) -> bool:
        return isinstance(value, cst.Call) and self.imports.resolve(value.func) in \
            SCALAR_RESULTS and not any(a.keyword is not None and a.keyword.value == "keepdims"
                                       for a in value.args)

    def _body(self, body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        out: list[cst.BaseStatement] = []
        changed = False
        k = 0
        while k < len(body):
            first, second = _assigned(body[k]), \
                _assigned(body[k + 1]) if k + 1 < len(body) else None
            if first is not None and second is not None and first[0] == second[0] \
                    and self._scalar_join(first[1]) and _uncommented(body[k + 1]) \
                    and _read_of(second[1], first[0]) is not None:
                joined = second[1].deep_replace(_numpy_base(second[1]), first[1])
                line = body[k]
                assert isinstance(line, cst.SimpleStatementLine)
                small = line.body[0]
                assert isinstance(small, cst.Assign)
                out.append(line.with_changes(body=[small.with_changes(value=joined)]))
                changed = True
                k += 2
                continue
            out.append(body[k])
            k += 1
        return out if changed else None

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        body = self._body(updated.body)
        return updated if body is None else updated.with_changes(body=body)

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = self._body(updated.body)
        return updated if body is None else updated.with_changes(body=body)


def _uncommented(stmt: cst.BaseStatement) -> bool:
    """No comment or blank line above ``stmt`` (joining would drop them)."""
    return isinstance(stmt, cst.SimpleStatementLine) and not stmt.leading_lines


def _numpy_base(value: cst.BaseExpression) -> cst.BaseExpression:
    """The ``name`` node of the ``name.numpy()`` a chain starts from."""
    node = value
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if numpy_call_value(node) is not None:
            return node.func.value
        node = node.func.value
    raise ValueError("no .numpy() read")


def join_eager_reads(module: cst.Module, imports: ImportTable) -> cst.Module:
    """``module`` with each split ``reduce_join`` + ``.numpy()`` read joined."""
    if "reduce_join" not in module.code:
        return module
    return module.visit(_Join(imports))
