"""Names in a training loop that may hold NumPy values rather than torch tensors.

TF ops take NumPy arrays and scalars (``tf.expand_dims(ret, 0)`` with ``ret`` a float32 from
an array of discounted returns); torch's do not. In a tape loop the op table writes
``torch.as_tensor(ret)`` for the names found here: results of NumPy calls and of the script's
own functions, and what flows from them through loops (``for a, ret in zip(xs, returns)``),
subscripts and arithmetic. A tensor wrapped by mistake is returned unchanged, so the analysis
may over-approximate; a miss leaves the code as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst

_PASSTHROUGH = ("zip", "enumerate", "reversed", "list", "tuple", "sorted")


class _Flows(cst.CSTVisitor):
    """One pass: the names bound from array values, given those found so far."""

    def __init__(self, numpy: Mapping[str, str], functions: frozenset[str],
                 found: set[str]) -> None:
        self.numpy, self.functions, self.found = numpy, functions, found

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested function has its own names

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def _array(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.found
        if isinstance(node, cst.Subscript):
            return self._array(node.value)
        if isinstance(node, cst.UnaryOperation):
            return self._array(node.expression)
        if isinstance(node, cst.BinaryOperation):
            sides = (node.left, node.right)
            return any(self._array(s) for s in sides) and all(
                self._array(s) or isinstance(s, (cst.Integer, cst.Float)) for s in sides)
        if isinstance(node, cst.Call):
            root = node.func
            while isinstance(root, cst.Attribute):
                root = root.value
            return isinstance(root, cst.Name) and root.value in self.numpy or (
                isinstance(node.func, cst.Name) and node.func.value in self.functions)
        return False

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None,
              whole: bool) -> None:
        """``target`` bound from ``value`` (``whole``: the value itself is an array)."""
        if isinstance(target, cst.Name):
            if whole:
                self.found.add(target.value)
            return
        if not isinstance(target, (cst.Tuple, cst.List)):
            return
        items = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
        for k, el in enumerate(target.elements):
            item = items[k].value if items is not None and k < len(items) else None
            self._bind(el.value, item, whole if item is None else self._array(item))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value, self._array(node.value))

    def visit_For(self, node: cst.For) -> None:
        iterable = node.iter
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) \
                and iterable.func.value in _PASSTHROUGH:
            args = [a.value for a in iterable.args]
            if iterable.func.value == "zip":
                self._bind(node.target, cst.Tuple([cst.Element(a) for a in args]), False)
                return
            if iterable.func.value == "enumerate" and args:
                if isinstance(node.target, cst.Tuple) and len(node.target.elements) == 2:
                    self._bind(node.target.elements[1].value, None, self._array(args[0]))
                return
            iterable = args[0] if args else iterable
        self._bind(node.target, None, self._array(iterable))


def array_names(node: cst.CSTNode, numpy: Mapping[str, str], functions: frozenset[str]
                ) -> frozenset[str]:
    """The names of ``node``'s own body (not nested definitions) that may hold NumPy
    values; ``numpy``: local names of NumPy imports; ``functions``: the script's own."""
    found: set[str] = set()
    body = node.body if isinstance(node, cst.FunctionDef) else node
    while True:
        before = len(found)
        body.visit(_Flows(numpy, functions, found))
        if len(found) == before:
            return frozenset(found)
