"""A converted Regularizer class computes on its weight's device.

Keras places ``ops.eye(size)`` made in ``__init__`` or in ``__call__`` where the weight is;
torch makes it on the CPU, so ``gram - self.identity`` fails once the model is on a GPU.
In ``__call__(self, x)`` every tensor the class made in ``__init__`` is read as
``self.attr.to(x.device)`` and every creation call without ``device=`` gets ``x``'s device.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.values import code_of

_CREATORS = frozenset({"torch.eye", "torch.zeros", "torch.ones", "torch.full", "torch.arange",
                       "torch.linspace", "torch.rand", "torch.randn", "torch.tensor",
                       "torch.as_tensor"})


def on_weight_device(cls: cst.ClassDef) -> cst.ClassDef:
    """``cls`` with its ``__call__`` reading and making tensors on its argument's device."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return cls
    methods = {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    call = methods.get("__call__")
    if call is None or len(call.params.params) < 2:
        return cls
    weight = call.params.params[1].name.value
    made = _made_in_init(methods.get("__init__"))
    new_call = call.visit(_OnDevice(weight, made))
    body = [new_call if s is call else s for s in cls.body.body]
    return cls.with_changes(body=cls.body.with_changes(body=body))


def _made_in_init(init: cst.FunctionDef | None) -> set[str]:
    """``self.identity = torch.eye(size)``: attributes bound to a torch creation call."""
    found: set[str] = set()
    if init is None:
        return found

    class Find(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            target = node.targets[0].target if len(node.targets) == 1 else None
            if (isinstance(target, cst.Attribute) and code_of(target.value) == "self"
                    and isinstance(node.value, cst.Call)
                    and code_of(node.value.func) in _CREATORS):
                found.add(target.attr.value)

    init.visit(Find())
    return found


class _OnDevice(cst.CSTTransformer):
    def __init__(self, weight: str, made: set[str]) -> None:
        self.weight = weight
        self.made = made

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        if code_of(original.value) == "self" and original.attr.value in self.made:
            return cst.parse_expression(f"self.{original.attr.value}.to({self.weight}.device)")
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if code_of(original.func) not in _CREATORS or any(
                a.keyword is not None and a.keyword.value == "device" for a in updated.args) \
                or any(a.star for a in updated.args):
            return updated
        device = cst.Arg(cst.parse_expression(f"{self.weight}.device"),
                         keyword=cst.Name("device"),
                         equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                               whitespace_after=cst.SimpleWhitespace("")))
        args = list(updated.args)
        if args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(
                whitespace_after=cst.SimpleWhitespace(" ")))
        return updated.with_changes(args=[*args, device])
