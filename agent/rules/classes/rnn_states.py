"""A recurrent layer's Keras return convention, where a custom layer's code calls it.

Keras returns the last step unless ``return_sequences``, and ``[output, *states]`` with
``return_state``; torch's module returns ``(output, state(s))``. The layer table writes the
selection as the layer's ``forward`` template (``{m}({x})[0][:, -1]``); ``call()``'s code is
converted through it. ``as_expression`` makes a ``return_state`` layer's statements one
expression (``rnn_state_outputs``, training/runtime/recurrent_cells.py, turns torch's
``(output, state(s))`` into Keras's list). ``HelperCalls`` applies the same template to the
layer's calls in the class's other methods (a GNN's ``update()``, a decoder's ``step()``),
which are not converted statement by statement.
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from agent.rules.spec import Built
from agent.rules.values import code_of

_RNNS = ("LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "RNN")
_LAST_STEP = "{y0} = {y0}[:, -1]"
_TRAINING = ("training",)
_FOLLOWS_MODE = ("training", "None", "self.training")  # the module's train()/eval() mode


def as_expression(keras_name: str, built: Built) -> Built:
    """``built`` with its ``return_state`` statements as one ``forward`` expression."""
    if keras_name not in _RNNS or not built.stmts or " = " not in built.stmts[0]:
        return built
    call = built.stmts[0].split(" = ", 1)[1]
    if any(ctor.startswith("CellRNN(") for _, ctor in built.modules):
        # CellRNN returns Keras's (output, *states) already
        return replace(built, stmts=(), forward=call)
    sequences = _LAST_STEP not in built.stmts
    return replace(built, stmts=(),
                   forward=f"rnn_state_outputs({call}, return_sequences={sequences})")


def raw_call_differs(keras_name: str, built: Built) -> bool:
    """A recurrent layer called where the forward template is not applied (a helper
    method, a branch): ``self.rnn(x)`` there returns torch's ``(output, state)``."""
    return keras_name in (*_RNNS, "Bidirectional") and (bool(built.stmts)
                                                        or built.forward != "{m}({x})")


def helper_form(keras_name: str, built: Built) -> bool:
    """Whether the template can be written at any call ``self.rnn(x)``: one expression of
    the module and its one input, in Keras's layout."""
    return keras_name in _RNNS and not built.stmts and built.layout == "keras" \
        and not built.activation and "{x" not in built.forward.replace("{x}", "")


def rebound(cls: cst.ClassDef, attrs: set[str]) -> list[str]:
    """The ``attrs`` that the class's ``__init__`` assigns more than once (``if gru:
    self.update = GRU(n) else: self.update = make_ffn(n)``)."""
    counts: dict[str, int] = {}

    class Count(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node.name.value == "__init__"

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            t = node.target
            if isinstance(t, cst.Attribute) and code_of(t.value) == "self" \
                    and t.attr.value in attrs:
                counts[t.attr.value] = counts.get(t.attr.value, 0) + 1

    cls.visit(Count())
    return sorted(a for a, n in counts.items() if n > 1)


class HelperCalls(cst.CSTTransformer):
    """``self.<attr>(x)`` → the layer's template at each call; ``refused`` lists the calls
    it cannot be written at (another argument, an initial state)."""

    def __init__(self, forms: dict[str, Built], rebound: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.forms = forms  # attr -> the layer's build
        # attrs __init__ binds to another object in another branch: the template only
        # where the attribute holds the recurrent module
        self.rebound = rebound
        self.refused: list[str] = []
        self.rewritten = 0

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        f = updated_node.func
        if not (isinstance(f, cst.Attribute) and code_of(f.value) == "self"
                and f.attr.value in self.forms):
            return updated_node
        built = self.forms[f.attr.value]
        template = built.forward
        # training=training follows the module's mode; a fixed mode only where nothing drops
        dropout = "dropout" in template or "Dropout" in repr(built.modules)
        args = [a for a in updated_node.args
                if not (a.keyword is not None and a.keyword.value in _TRAINING and (
                    not dropout or code_of(a.value) in _FOLLOWS_MODE))]
        if len(args) != 1 or args[0].keyword is not None or args[0].star:
            self.refused.append(code_of(original_node))
            return updated_node
        x = code_of(args[0].value)
        if template.count("{x}") > 1 and not isinstance(args[0].value, cst.Name):
            self.refused.append(code_of(original_node))  # the input would run twice
            return updated_node
        if not isinstance(args[0].value, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            x = f"({x})"
        self.rewritten += 1
        new = template.replace("{m}", code_of(f)).replace("{x}", x)
        if f.attr.value in self.rebound:
            raw = code_of(updated_node.with_changes(args=args))
            new = f"({new} if isinstance({code_of(f)}, nn.RNNBase) else {raw})"
        return cst.parse_expression(new)
