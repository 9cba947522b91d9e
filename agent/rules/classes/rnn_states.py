"""A ``return_state`` LSTM/GRU/SimpleRNN inside a custom layer, as one expression.

Keras returns ``[output, *states]`` and the layer's ``call`` unpacks or passes on that list;
the model rules write the unpacking as statements, which a sub-layer's ``forward`` template
cannot hold. ``rnn_state_outputs`` (training/runtime/recurrent_cells.py, copied into the
script) turns torch's ``(output, state(s))`` into Keras's list.
"""

from __future__ import annotations

from dataclasses import replace

from agent.rules.spec import Built

_RNNS = ("LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU")
_LAST_STEP = "{y0} = {y0}[:, -1]"


def as_expression(keras_name: str, built: Built) -> Built:
    """``built`` with its ``return_state`` statements as one ``forward`` expression."""
    if keras_name not in _RNNS or not built.stmts or " = " not in built.stmts[0]:
        return built
    call = built.stmts[0].split(" = ", 1)[1]
    sequences = _LAST_STEP not in built.stmts
    return replace(built, stmts=(),
                   forward=f"rnn_state_outputs({call}, return_sequences={sequences})")


def raw_call_differs(keras_name: str, built: Built) -> bool:
    """A recurrent layer called where the forward template is not applied (a helper
    method, a branch): ``self.rnn(x)`` there returns torch's ``(output, state)``."""
    return keras_name in (*_RNNS, "Bidirectional") and (bool(built.stmts)
                                                        or built.forward != "{m}({x})")
