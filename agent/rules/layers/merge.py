"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

Inputs are brought to one layout by the converter; the concatenation axis is mapped to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.layers.common import keras_axis, signed_axis
from agent.rules.models.shapes import Shape, total
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _concatenate(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    rank = len(ins[0])
    axis = keras_axis(a.get("axis"), rank)
    if axis == 0:
        raise Unsupported("Concatenate over the batch axis")
    size = ins[0][axis - 1]
    for s in ins[1:]:
        size = total(size, s[axis - 1])
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


def _dot_axes(a: Args, ins: Sequence[Shape]) -> tuple[int, int]:
    """Keras's ``axes`` (batch axis counted, negatives allowed) as positive axes."""
    axes = a.get("axes")
    pair = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
    if len(pair) != 2 or not all(isinstance(x, int) for x in pair):
        raise Unsupported(f"Dot(axes={a.code('axes')}) must be literal axes")
    out = tuple(x % (len(s) + 1) for x, s in zip(pair, ins, strict=True))
    if 0 in out:
        raise Unsupported("Dot over the batch axis")
    return out[0], out[1]


def _dot(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    """Keras's batch_dot of two inputs of rank 1 or 2 (batch excluded): a matmul with the
    contracted axes moved into place. ``normalize``: Keras's l2_normalize divides by
    sqrt(max(sum(x**2), 1e-12)), i.e. F.normalize with eps=1e-6."""
    if len(ins) != 2 or not all(1 <= len(s) <= 2 for s in ins):
        raise Unsupported("Dot of inputs with more than two axes besides the batch")
    a0, a1 = _dot_axes(a, ins)
    x, y = "{x0}", "{x1}"
    if a.get("normalize"):
        x, y = f"F.normalize({x}, dim={a0}, eps=1e-6)", f"F.normalize({y}, dim={a1}, eps=1e-6)"
    r0, r1 = len(ins[0]), len(ins[1])
    if r0 == 1 and r1 == 1:
        return Built(out=(1,), forward=f"({x} * {y}).sum(dim=-1, keepdim=True)",
                     layout="keras", out_layout="keras")
    left = x if r0 == 1 or a0 == 2 else f"{x}.transpose(1, 2)"  # (B, rest, K)
    right = y if r1 == 1 or a1 == 1 else f"{y}.transpose(1, 2)"  # (B, K, rest)
    rest0 = () if r0 == 1 else (ins[0][2 - a0],)
    rest1 = () if r1 == 1 else (ins[1][2 - a1],)
    if r0 == 1:
        forward = f"torch.matmul({left}.unsqueeze(1), {right}).squeeze(1)"
    elif r1 == 1:
        forward = f"torch.matmul({left}, {right}.unsqueeze(-1)).squeeze(-1)"
    else:
        forward = f"torch.matmul({left}, {right})"
    return Built(out=(*rest0, *rest1), forward=forward, layout="keras", out_layout="keras")


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
              torch=("torch.matmul", "torch.nn.functional.normalize"),
              examples=(Example("layers.Dot(axes=1)", (4,), (".sum(dim=-1, keepdim=True)",)),
                        Example("layers.Dot(axes=[2, 2])", (5, 3),
                                ("torch.matmul(a, b.transpose(1, 2))",)),
                        Example("layers.Dot(axes=(1, 1), normalize=True)", (5, 3),
                                ("F.normalize(a, dim=1, eps=1e-6).transpose(1, 2)",)))),
)

# The functional spellings: keras.layers.concatenate([a, b], axis=-1) etc.
FUNCTIONAL_MERGES = {"concatenate": "Concatenate", "add": "Add", "subtract": "Subtract",
                     "multiply": "Multiply", "average": "Average", "maximum": "Maximum",
                     "minimum": "Minimum", "dot": "Dot"}
