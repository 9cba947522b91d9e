"""Tensors a converted method creates from Python values go on its input's device.

TF places ``tf.range(n)`` / ``keras.ops.arange(n)`` / ``tf.zeros(...)`` on the device its
ops run on; ``torch.arange(n)`` is made on the CPU, so the same line in a converted
``forward`` works in a CPU test and fails on a GPU (``x + positions`` across devices). The
op table already writes ``device=x.device`` when the arguments read a tensor's shape
(``tf.range(tf.shape(x)[1])``); a size first bound to a local (``n = tf.shape(x)[-1]``,
``tf.range(n)``) or a constant carries none. Here each such creation call in a method gets
the device of the method's first parameter that the method reads as a tensor
(``p.shape``, ``p.dtype``, ``p.device``, ``p.size()``, ``p.dim()``, ``p.ndim``): a
parameter that may hold a list (``inputs[0]``) is never guessed at. A LightningModule's
methods (its converted ``train_step`` too) use ``self.device``.
"""

from __future__ import annotations

import libcst as cst

from agent.rules import walk

# torch functions that create a tensor from Python values (no tensor argument to follow)
CREATION = frozenset({
    "arange", "zeros", "ones", "full", "eye", "empty", "rand", "randn", "randint",
    "linspace", "logspace", "tensor", "as_tensor", "tril_indices", "triu_indices",
})
_TENSOR_READS = frozenset({"shape", "dtype", "device", "size", "dim", "ndim"})
_CONTAINERS = (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp)


def _tensor_param(fn: cst.FunctionDef) -> str | None:
    """The first parameter (after ``self``) that ``fn`` reads as a tensor, unless the
    method binds it to a list, tuple or dict (rebinding it to a layer's output keeps a
    tensor, on the same device)."""
    params = [p.name.value for p in fn.params.params]
    if params[:1] == ["self"]:
        params = params[1:]
    read: set[str] = set()
    containers: set[str] = set()
    for node in walk.nodes(fn.body):
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) \
                and node.attr.value in _TENSOR_READS:
            read.add(node.value.value)
        elif isinstance(node, cst.Assign) and isinstance(node.value, _CONTAINERS):
            containers.update(t.target.value for t in node.targets
                              if isinstance(t.target, cst.Name))
    return next((p for p in params if p in read and p not in containers), None)


def _creation(node: cst.CSTNode) -> bool:
    """``torch.<creation>(...)``."""
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
        and func.value.value == "torch" and func.attr.value in CREATION


class _Pin(cst.CSTTransformer):
    def __init__(self, device: str) -> None:
        self.device = device
        self.pinned = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested function's parameters are its own

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if not _creation(updated):
            return updated
        func = updated.func
        assert isinstance(func, cst.Attribute)
        if any(a.keyword is not None and a.keyword.value == "device" for a in updated.args) \
                or any(a.star for a in updated.args):
            return updated
        if func.attr.value in ("tensor", "as_tensor") and updated.args and not isinstance(
                updated.args[0].value, (cst.List, cst.Tuple, cst.Integer, cst.Float)):
            return updated  # as_tensor(t) of a tensor keeps t's device
        self.pinned += 1
        args = list(updated.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(
                whitespace_after=cst.SimpleWhitespace(" ")))
        device = cst.Arg(cst.parse_expression(f"{self.device}.device"),
                         keyword=cst.Name("device"),
                         equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                               cst.SimpleWhitespace("")))
        return updated.with_changes(args=[*args, device])


def pin_devices(cls: cst.ClassDef, own_device: bool = False) -> tuple[cst.ClassDef, int]:
    """``cls`` with the creation calls of its methods (not ``__init__``) on the device of
    each method's tensor parameter, or (``own_device``: a LightningModule, which knows its
    device) on ``self.device``; and how many calls were pinned."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return cls, 0
    body: list[cst.BaseStatement] = []
    pinned = 0
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value != "__init__" \
                and any(_creation(n) for n in walk.nodes(stmt.body)):
            param = "self" if own_device else _tensor_param(stmt)
            if param is not None:
                pin = _Pin(param)
                stmt = stmt.with_changes(body=stmt.body.visit(pin))
                pinned += pin.pinned
        body.append(stmt)
    return cls.with_changes(body=cls.body.with_changes(body=body)), pinned
