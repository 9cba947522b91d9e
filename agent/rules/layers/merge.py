"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

Inputs are brought to one layout by the converter; the concatenation axis is mapped to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.layers.common import keras_axis, signed_axis
from agent.rules.models.shapes import Shape, add
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _concatenate(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    rank = len(ins[0])
    axis = keras_axis(a.get("axis"), rank)
    if axis == 0:
        raise Unsupported("Concatenate over the batch axis")
    size = ins[0][axis - 1]
    for s in ins[1:]:
        size = add(size, s[axis - 1])
    out = list(ins[0])
    out[axis - 1] = size
    dim = signed_axis(a.get("axis"), rank, ctx.layout_of_input)
    return Built(out=tuple(out), forward=f"torch.cat({{xs}}, dim={dim})")


def _elementwise(op: str):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        n = len(ins)
        if op == "sub":
            if n != 2:
                raise Unsupported("Subtract takes exactly two inputs")
            return Built(out=ins[0], forward="{x0} - {x1}")
        if op in ("add", "mul"):
            sym = " + " if op == "add" else " * "
            return Built(out=ins[0], forward=sym.join(f"{{x{i}}}" for i in range(n)))
        if op == "avg":
            return Built(out=ins[0], forward="(" + " + ".join(f"{{x{i}}}" for i in range(n))
                         + f") / {n}")
        fn = "torch.maximum" if op == "max" else "torch.minimum"
        expr = "{x0}"
        for i in range(1, n):
            expr = f"{fn}({expr}, {{x{i}}})"
        return Built(out=ins[0], forward=expr)

    return build


def _dot(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    axes = a.get("axes")
    if a.get("normalize"):
        raise Unsupported("Dot(normalize=True)")
    if len(ins) != 2 or len(ins[0]) != 1 or len(ins[1]) != 1 or axes not in (1, -1, [1, 1]):
        raise Unsupported("Dot beyond two vectors along the last axis")
    return Built(out=(1,), forward="({x0} * {x1}).sum(dim=-1, keepdim=True)")


def _merge_spec(name: str, op: str, expect: str) -> LayerSpec:
    return LayerSpec(name, (), {}, _elementwise(op),
                     examples=(Example(f"layers.{name}()", (4,), (expect,)),))


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("Concatenate", ("axis",), {"axis": -1}, _concatenate, torch=("torch.cat",),
              examples=(Example("layers.Concatenate()", (4,), ("torch.cat(",)),
                        Example("layers.Concatenate(axis=1)", (3, 4), ("dim=1",)))),
    _merge_spec("Add", "add", " + "),
    _merge_spec("Subtract", "sub", " - "),
    _merge_spec("Multiply", "mul", " * "),
    _merge_spec("Average", "avg", ") / 2"),
    _merge_spec("Maximum", "max", "torch.maximum("),
    _merge_spec("Minimum", "min", "torch.minimum("),
    LayerSpec("Dot", ("axes", "normalize"), {"normalize": False}, _dot,
              examples=(Example("layers.Dot(axes=1)", (4,), (".sum(dim=-1, keepdim=True)",)),)),
)

# The functional spellings: keras.layers.concatenate([a, b], axis=-1) etc.
FUNCTIONAL_MERGES = {"concatenate": "Concatenate", "add": "Add", "subtract": "Subtract",
                     "multiply": "Multiply", "average": "Average", "maximum": "Maximum",
                     "minimum": "Minimum", "dot": "Dot"}
