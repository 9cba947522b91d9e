"""Loss accumulators of converted training code: ``total = 0.0`` then ``total += loss``.

Under TensorFlow the added terms are untyped, so the original type-checks; once they are
torch tensors, mypy infers ``float`` from the literal and rejects the tensor sum. The
accumulator is annotated ``torch.Tensor | float`` (what it holds at run time: a number
before the first term, a tensor after), which changes nothing when the script runs.
"""

from __future__ import annotations

import libcst as cst

_NUMBER_CALLS = ("float", "int", "len", "round", "abs")
_NUMBER_METHODS = ("item", "numpy", "tolist")
ANNOTATION = "torch.Tensor | float"


def _number(node: cst.BaseExpression) -> bool:
    """An expression that is a Python number, not a tensor (``1``, ``float(x)``,
    ``loss.item()``)."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.UnaryOperation):
        return _number(node.expression)
    if isinstance(node, cst.Call):
        f = node.func
        if isinstance(f, cst.Name) and f.value in _NUMBER_CALLS:
            return True
        if isinstance(f, cst.Attribute) and f.attr.value in _NUMBER_METHODS:
            return True
    return False


def _literal_zero(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.Integer, cst.Float))


class _Sums(cst.CSTVisitor):
    """Names that get ``+=``/``-=`` a term that may be a tensor."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name) and isinstance(
                node.operator, (cst.AddAssign, cst.SubtractAssign)) and not _number(node.value):
            self.names.add(node.target.value)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested function's names are its own


def _split(stmt: cst.SimpleStatementLine, sums: set[str]) -> list[cst.SimpleStatementLine]:
    """``a, b = 0.0, 0.0`` / ``a = 0.0`` with a summed name -> one annotated line per name."""
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
        return [stmt]
    assign = stmt.body[0]
    if len(assign.targets) != 1:
        return [stmt]
    target, value = assign.targets[0].target, assign.value
    pairs: list[tuple[cst.Name, cst.BaseExpression]] = []
    if isinstance(target, cst.Name):
        pairs = [(target, value)]
    elif isinstance(target, cst.Tuple) and isinstance(value, cst.Tuple) \
            and len(target.elements) == len(value.elements):
        pairs = [(t.value, v.value) for t, v in zip(target.elements, value.elements, strict=True)
                 if isinstance(t.value, cst.Name)]
        if len(pairs) != len(target.elements):
            return [stmt]
    if not pairs or not all(_literal_zero(v) for _, v in pairs) \
            or not any(n.value in sums for n, _ in pairs):
        return [stmt]
    out: list[cst.SimpleStatementLine] = []
    for name, v in pairs:
        small: cst.BaseSmallStatement = cst.Assign([cst.AssignTarget(name)], v)
        if name.value in sums:
            small = cst.AnnAssign(name, cst.Annotation(cst.parse_expression(ANNOTATION)), v)
        out.append(cst.SimpleStatementLine([small]))
    out[0] = out[0].with_changes(leading_lines=stmt.leading_lines)
    return out


def typed_accumulators(fn: cst.FunctionDef) -> cst.FunctionDef:
    """``fn`` with its numeric accumulators of tensor terms annotated (top-level statements
    of its body, where ``total = 0.0`` starts a loop's sum)."""
    if not isinstance(fn.body, cst.IndentedBlock):
        return fn
    sums = _Sums()
    for stmt in fn.body.body:
        stmt.visit(sums)
    if not sums.names:
        return fn
    body: list[cst.BaseStatement] = []
    for stmt in fn.body.body:
        body += _split(stmt, sums.names) if isinstance(stmt, cst.SimpleStatementLine) \
            else [stmt]
    return fn.with_changes(body=fn.body.with_changes(body=body))
