"""``keras.layers.RNN(cell)`` → the copied ``CellRNN`` loop (training/runtime/cell_loops.py)
over the cell's torch module: a converted custom cell class (``state_size``,
``call(inputs, states)``), made in the call or passed in by name. Keras's built-in cells
(``LSTMCell``...) are not torch modules; their RNN stays, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, NotStatic, Unsupported
from agent.rules.values import code_of

_KERAS_CELLS = ("SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "ConvLSTM2DCell")


def _rnn(a: Args, ins: Sequence[object], ctx: BuildContext) -> Built:
    node = a.values["cell"].node
    func = node.func if isinstance(node, cst.Call) else None
    if isinstance(node, (cst.List, cst.Tuple)) or (
            func is not None and code_of(func).rsplit(".", 1)[-1] in _KERAS_CELLS):
        raise Unsupported(f"RNN({a.code('cell')}) over a Keras cell or a list of cells")
    if not (isinstance(node, cst.Name) or isinstance(func, cst.Name)):
        raise Unsupported(f"RNN({a.code('cell')}): the cell must be a custom cell class or a "
                          "name bound to one")
    for name in ("stateful", "time_major"):
        if a.get(name):
            raise Unsupported(f"RNN({name}=True)")
    a.get("unroll")  # an implementation choice: same function
    a.get("zero_output_for_mask")  # only read with a mask, which the call does not take
    flags = []
    for name in ("return_sequences", "return_state", "go_backwards"):
        try:
            if a.get(name):
                flags.append(f"{name}=True")
        except NotStatic:  # a constructor parameter: the source's name, read at run time
            flags.append(f"{name}={a.code(name)}")
    ctor = f"CellRNN({', '.join([a.code('cell'), *flags])})"
    return Built(out=(), forward="{m}({x})", layout="keras", modules=(("", ctor),))


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "RNN", ("cell", "return_sequences", "return_state", "go_backwards", "stateful",
                "unroll", "zero_output_for_mask"),
        {"return_sequences": False, "return_state": False, "go_backwards": False,
         "stateful": False, "unroll": False, "zero_output_for_mask": False,
         "time_major": False},
        _rnn,
        examples=(Example("layers.RNN(MinimalCell(4), return_sequences=True)", (5, 3),
                          ("CellRNN(MinimalCell(4), return_sequences=True)",),
                          equivalence=False),),
    ),
)
