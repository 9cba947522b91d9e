"""Which inlined helper call made each layer and tensor: the raw material of submodules.

The extractor inlines ``def conv_block(x, filters): ...`` at every call (the graph must be
flat to trace shapes); it records each outermost call here as a :class:`BlockCall` so that
code generation (``block_class.py``) can give the calls of one helper one ``nn.Module``
class again, as a PyTorch user writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.models.graph import BlockCall, Call, Tensor, next_seq
from agent.rules.values import code_of


def start(fn: cst.FunctionDef, args: dict[str, cst.BaseExpression],
          mapping: dict[str, cst.BaseExpression], tensors: dict[str, Tensor],
          pending: int) -> BlockCall | None:
    """The record of one helper call about to be inlined (None: no submodule can take it,
    e.g. a list of tensors as one parameter)."""
    params = [p.name.value for p in [*fn.params.posonly_params, *fn.params.params,
                                      *fn.params.kwonly_params]]
    inputs: list[tuple[str, Tensor]] = []
    values: dict[str, str] = {}
    names: dict[str, str] = {}
    for param, new in mapping.items():
        if param not in args:  # a local, renamed
            if isinstance(new, cst.Name):
                names[new.value] = param
        elif isinstance(new, cst.Name) and new.value in tensors:
            inputs.append((param, tensors[new.value]))
            names[new.value] = param  # the parameter rebound inside: ``x = Conv2D(f)(x)``
        elif isinstance(new, (cst.List, cst.Tuple)) and any(
                isinstance(el.value, cst.Name) and el.value.value in tensors
                for el in new.elements):
            return None  # a list of tensors: not one forward argument per parameter
        else:
            values[param] = code_of(args[param])
    return BlockCall(fn.name.value, params, values, inputs, names, new_calls=pending,
                     first_seq=next_seq())


def finish(block: BlockCall, outputs: Sequence[Tensor], targets: Sequence[str],
           pending: Sequence[Call]) -> None:
    """Tags the calls and layers the helper call made; ``outputs``: what it returned, bound
    to the caller's ``targets``."""
    block.outputs = list(outputs)
    block.targets = list(targets)
    for call in pending[block.new_calls:]:
        if call.block is None:
            call.block = block
        if call.layer.seq > block.first_seq and call.layer.block is None:
            call.layer.block = block
