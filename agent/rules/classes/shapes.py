"""Where a subclassed model's input shape can be read statically.

Keras subclasses learn their input shape on the first call; the converter needs it at
conversion time for explicit ``in_features``. Sources, in the order people write them:
``model.build((None, 784))``, a dry call ``model(np.zeros((1, 784)))`` in the same file, and
``keras.Input(shape=...)`` inside a ``build_graph``-style method of the class.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from agent.rules import walk
from agent.rules.imports import ImportTable
from agent.rules.values import evaluate, local

_ARRAY_MAKERS = ("zeros", "ones", "normal", "uniform", "rand", "randn", "random", "empty",
                 "standard_normal")


def _shape(node: cst.BaseExpression, env: dict[str, Any]) -> tuple[Any, ...] | None:
    v = evaluate(node, env)
    if v.known and isinstance(v.value, (tuple, list)) and all(
            isinstance(d, int) or d is None for d in v.value):
        return tuple(v.value)
    return None


def _array_shape(node: cst.BaseExpression, env: dict[str, Any]) -> tuple[Any, ...] | None:
    """``np.zeros((1, 784))``, ``tf.random.normal([2, 28, 28, 1])``, ``np.random.rand(1, 8)``."""
    if not isinstance(node, cst.Call) or not node.args:
        return None
    func = node.func
    name = func.attr.value if isinstance(func, cst.Attribute) else (
        func.value if isinstance(func, cst.Name) else "")
    if name not in _ARRAY_MAKERS:
        return None
    first = node.args[0]
    if first.keyword not in (None,) and first.keyword.value not in ("shape", "size"):
        return None
    shape = _shape(first.value, env)
    if shape is None and name in ("rand", "randn"):
        dims = [evaluate(a.value, env).value for a in node.args if a.keyword is None]
        shape = tuple(dims) if all(isinstance(d, int) for d in dims) else None
    return shape


def _maker(node: cst.BaseExpression) -> bool:
    """``np.zeros(...)``-like: an array maker, whatever its (possibly unknown) shape."""
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    name = func.attr.value if isinstance(func, cst.Attribute) else (
        func.value if isinstance(func, cst.Name) else "")
    return name in _ARRAY_MAKERS


class _Usage:
    """Read in libcst's visiting order by :meth:`scan` (a ``CSTVisitor`` would rebuild
    every node of the tree it reads)."""

    def __init__(self, env: dict[str, Any], classes: set[str] | None = None) -> None:
        self.env = env
        self.classes = classes  # the class names to follow (None: every call's callee)
        self._outer = env
        self._saved: list[dict[str, Any]] = []
        self.var_class: dict[str, str] = {}
        self.shapes: dict[str, tuple[Any, ...]] = {}

    def scan(self, node: cst.CSTNode) -> None:
        """Every node under ``node``, parents first; a function's own nodes between its
        visit_/leave_FunctionDef."""
        stack = [node]
        while stack:
            current = stack.pop()
            kind = type(current)
            if kind is cst.FunctionDef:
                self.visit_FunctionDef(current)  # type: ignore[arg-type]
                for child in walk.children(current):
                    self.scan(child)
                self.leave_FunctionDef(current)  # type: ignore[arg-type]
                continue
            if kind is cst.Assign:
                self.visit_Assign(current)  # type: ignore[arg-type]
            elif kind is cst.Call:
                self.visit_Call(current)  # type: ignore[arg-type]
            found = walk.children(current)
            found.reverse()
            stack += found

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        """A builder's parameter defaults (``def build_model(n_features=6)``) size the dry
        calls inside it, as they do when the script calls it without arguments."""
        self.env = dict(self.env)
        for p in node.params.params:
            if p.default is not None:
                v = evaluate(p.default, self.env)
                if v.known:
                    self.env[p.name.value] = local(v.value)
        self._saved.append(self.env)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._saved.pop()
        self.env = self._saved[-1] if self._saved else self._outer

    def visit_Assign(self, node: cst.Assign) -> None:
        if (len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
                and isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name)
                and (self.classes is None or node.value.func.value in self.classes)):
            # ``model = Net()``; a later ``model = build_model()`` is the same object
            self.var_class[node.targets[0].target.value] = node.value.func.value

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value == "build" and node.args:
            cls = self.var_class.get(func.value.value)
            shape = _shape(node.args[0].value, self.env)
            if cls is not None and shape is not None:
                self.shapes.setdefault(cls, shape[1:])
        elif isinstance(func, cst.Name) and func.value in self.var_class and node.args:
            shape = _array_shape(node.args[0].value, self.env)
            if shape is not None:
                self.shapes.setdefault(self.var_class[func.value], shape[1:])


def input_shapes_from_usage(module: cst.Module, imports: ImportTable, env: dict[str, Any],
                            classes: set[str] | None = None
                            ) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    """Class name → input shape (no batch axis) from builds and dry calls in the file,
    and variable → class name for the instances seen (of ``classes`` when given)."""
    usage = _Usage(env, classes)
    usage.scan(module)
    return usage.shapes, usage.var_class


class DropBuildCalls(cst.CSTTransformer):
    """``model.build((None, 784))`` statements: Keras-only, their shape went into the class.
    A dry call ``model(np.zeros((1, 784)))`` stays (it materialises lazy modules), its NumPy
    array made a tensor."""

    def __init__(self, variables: set[str]) -> None:
        super().__init__()
        self.variables = variables
        self.dropped: list[str] = []
        self.tensors: list[str] = []  # dry calls whose NumPy input became a tensor

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Expr):
            return updated_node
        call = updated_node.body[0].value
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and isinstance(call.func.value, cst.Name) and call.func.attr.value == "build"
                and call.func.value.value in self.variables):
            self.dropped.append(call.func.value.value)
            return cst.RemovalSentinel.REMOVE
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Name)
                and call.func.value in self.variables and len(call.args) == 1
                and call.args[0].keyword is None and _maker(call.args[0].value)):
            arg = call.args[0].value
            self.tensors.append(call.func.value)
            return updated_node.with_changes(body=[updated_node.body[0].with_changes(
                value=call.with_changes(args=[cst.Arg(cst.parse_expression(
                    f"torch.as_tensor({cst.Module([]).code_for_node(arg)})"))]))])
        return updated_node


def keras_input_shape(fn: cst.FunctionDef, imports: ImportTable, env: dict[str, Any]
                      ) -> tuple[Any, ...] | None:
    """``keras.Input(shape=...)`` inside a method (a ``build_graph`` helper)."""
    for node in walk.nodes(fn):  # read-only, in libcst's visiting order: the first Input
        if type(node) is not cst.Call:
            continue
        if imports.resolve(node.func) != "keras.Input":
            continue
        for k, a in enumerate(node.args):
            key = a.keyword.value if a.keyword else ("shape" if k == 0 else "")
            if key == "shape":
                shape = _shape(a.value, env)
                if shape is not None:
                    return shape
    return None
