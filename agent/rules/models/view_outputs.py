"""A view model's output that its later layers also read (Grad-CAM's conv output).

Channels-first inside the converted forward, the output goes back to Keras's order only when
returned. Permuted at the end, the returned tensor is a new node after the layers that read
it: ``tape.gradient(score, conv_output)`` then finds no path and gives None. Permuted where
it is made, and the later layers reading that permuted tensor (permuted back), the returned
tensor is on the path to every other output, as the Keras tensor is.
"""

from __future__ import annotations

from agent.rules.models.graph import ModelIR


def consumed_outputs(ir: ModelIR) -> set[int]:
    """ids of the outputs of ``ir`` that a call of ``ir`` also takes as an input."""
    outputs = {id(t) for t in ir.outputs}
    return {id(t) for c in ir.calls for t in c.inputs if id(t) in outputs}


def returned_name(name: str) -> str:
    return f"{name}_last"  # channels last (no "keras" in generated names)


def routed(name: str, to_keras: str, to_cf: str) -> list[str]:
    """The two lines that make ``name``'s Keras-order tensor the one later layers read."""
    last = returned_name(name)
    return [f"{last} = {name}.permute({to_keras})  # the output, in Keras's order",
            f"{name} = {last}.permute({to_cf})  # later layers read the output"]


def nested_return(ir: ModelIR) -> tuple[str, str]:
    """forward's return annotation and value when the outputs nest (``ir.output_groups``):
    each layer's several outputs as one tuple, where Keras gives that layer's ``.output``
    list (unpacked the same way)."""
    assert ir.output_groups is not None
    types: list[str] = []
    values: list[str] = []
    names = iter(t.name for t in ir.outputs)
    for size in ir.output_groups:
        if size is None:
            types.append("torch.Tensor")
            values.append(next(names))
            continue
        types.append("tuple[" + ", ".join(["torch.Tensor"] * size) + "]")
        values.append("(" + ", ".join(next(names) for _ in range(size)) + ")")
    if len(values) == 1:  # ``outputs=[layer.output]``: still a list around that list
        return f"tuple[{types[0]}]", values[0] + ","
    return "tuple[" + ", ".join(types) + "]", ", ".join(values)
