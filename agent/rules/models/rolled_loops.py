"""A builder loop over a parameter bound, written as a loop again in the generated class.

``def build(width=32, depth=3): ... for _ in range(depth): x = block(x, width)``: the extractor
unrolls the loop for the default (or the value every call passes) to trace shapes. When every
iteration is one call of the same helper on the tensor the loop rebinds, with arguments that
read neither the loop's names nor the bound, and ``block_class.py`` turns those calls into one
chain of identical modules, the class builds them with the same loop::

    self.blocks = nn.Sequential(*(Block(width) for _ in range(depth)))

so another ``depth`` builds another model, as Keras does, instead of the assert an unrolled
loop needs (which stays, with its report warning, whenever the chain is not rolled).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import libcst as cst

from agent.rules.models.graph import BlockCall, Call, ModelIR, RolledLoop
from agent.rules.values import code_of, names_read


def candidate(loop: cst.For, body: Sequence[cst.BaseStatement], tensors: Collection[str],
              helpers: Collection[str], assumed: Collection[str],
              params: Collection[str]) -> RolledLoop | None:
    """The loop's record when its body is ``x = helper(x, ...)`` and its bound reads builder
    parameters only (a derived name such as ``n = depth // 2`` has no place in the class)."""
    if not assumed or set(assumed) - set(params) or len(body) != 1 \
            or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return None
    small = body[0].body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target, value = small.targets[0].target, small.value
    if not isinstance(target, cst.Name) or target.value not in tensors \
            or not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name) \
            or value.func.value not in helpers or not value.args:
        return None
    first, rest = value.args[0], value.args[1:]
    if first.keyword is not None or first.star or not isinstance(first.value, cst.Name) \
            or first.value.value != target.value:
        return None
    fixed = {n.value for n in names_read(loop.target)} | set(assumed) | {target.value}
    if any(a.star or {n.value for n in names_read(a.value)} & fixed for a in rest):
        return None  # a per-iteration argument: the blocks differ, or read the bound
    return RolledLoop(code_of(loop.target), code_of(loop.iter), 0)


def take(rolled: RolledLoop, calls: Sequence[Call], count: int) -> bool:
    """Records the helper call of each iteration; False unless the unrolled calls are exactly
    ``count`` (at least two) calls of one helper."""
    blocks: list[BlockCall] = []
    for call in calls:
        if call.block is None:
            return False
        if all(b is not call.block for b in blocks):
            blocks.append(call.block)
    if count < 2 or len(blocks) != count or len({b.helper for b in blocks}) != 1:
        return False
    rolled.blocks, rolled.count = blocks, count
    return True


def loop_of(blocks: Sequence[BlockCall], ir: ModelIR) -> RolledLoop | None:
    """The loop that made exactly these chained helper calls, marked written."""
    for rolled in ir.rolled:
        if len(rolled.blocks) == len(blocks) and all(
                a is b for a, b in zip(rolled.blocks, blocks, strict=True)):
            rolled.done = True
            return rolled
    return None


def entry_paths(ir: ModelIR) -> dict[str, str]:
    """A moved layer attribute -> its init path over every block (``blocks[*].dense``), or
    "" for the same module of a later block (initialised by that path already)."""
    return {old: new for rolled in ir.rolled if rolled.done for old, new in rolled.paths.items()}


def settle(ir: ModelIR, warnings: list[tuple[int, str]]) -> None:
    """The asserts and warnings of the loops codegen could not write as loops."""
    for rolled in ir.rolled:
        if rolled.done:
            continue
        ir.notes += [n for n in rolled.notes if n not in ir.notes]
        warnings += [w for w in rolled.warnings if w not in warnings]
