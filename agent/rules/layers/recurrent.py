"""LSTM / GRU / SimpleRNN and the Bidirectional wrapper (batch_first, Keras gate semantics).

Keras returns the last step unless ``return_sequences``; ``return_state`` adds the final
states. A bidirectional layer's last output is *not* ``out[:, -1]`` for the backward half
(that is its first step), so we read the final states ``h_n`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.rules.initializers import init_statement
from agent.rules.layers.common import dim_code
from agent.rules.models.shapes import Dim, Shape, times
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported

_TORCH = {"LSTM": "nn.LSTM", "GRU": "nn.GRU", "SimpleRNN": "nn.RNN"}

RNN_DEFAULTS: dict[str, Any] = {
    "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
    "kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal",
    "bias_initializer": "zeros", "unit_forget_bias": True, "dropout": 0.0,
    "recurrent_dropout": 0.0, "return_sequences": False, "return_state": False,
    "go_backwards": False, "stateful": False, "unroll": False, "reset_after": True,
    "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
}


# activations ActivatedLSTM (training/runtime/recurrent_cells.py) runs, by Keras name
CELL_ACTIVATIONS = ("tanh", "sigmoid", "relu", "elu", "selu", "softsign", "softplus", "swish",
                    "silu", "gelu", "linear", "hard_sigmoid")


def _activated(kind: str, a: Args) -> bool:
    """An LSTM whose activations nn.LSTM lacks but ActivatedLSTM runs."""
    acts = (a.get("activation"), a.get("recurrent_activation"))
    return kind == "LSTM" and acts != ("tanh", "sigmoid") and all(
        x in CELL_ACTIVATIONS for x in acts)


def _present(a: Args, name: str) -> bool:
    """A rate given as a variable counts as given (the module reads it at run time)."""
    v = a.value(name)
    return isinstance(v, str) or bool(v)


def _gate_dropout(kind: str, a: Args) -> bool:
    """Keras's recurrent dropout on torch's cell (GateDropoutLSTM/GRU, runtime/
    recurrent_dropout.py): default activations, Keras 3's GRU cell."""
    return _present(a, "recurrent_dropout") and kind in ("LSTM", "GRU") \
        and (a.get("activation"), a.get("recurrent_activation")) == ("tanh", "sigmoid") \
        and (kind == "LSTM" or bool(a.get("reset_after")))


def _check(kind: str, a: Args, cell_ok: bool = True) -> None:
    if kind in ("LSTM", "GRU"):
        if (a.get("activation") != "tanh" or a.get("recurrent_activation") != "sigmoid") \
                and not (cell_ok and _activated(kind, a)):
            raise Unsupported(f"{kind} with activation={a.code('activation')}, "
                              f"recurrent_activation={a.code('recurrent_activation')} needs a "
                              f"hand-written cell (nn.{kind} is tanh/sigmoid only)")
    elif a.get("activation") not in ("tanh", "relu"):
        raise Unsupported(f"SimpleRNN(activation={a.code('activation')})")
    if kind == "GRU" and not a.get("reset_after") and not cell_ok:
        raise Unsupported("GRU(reset_after=False) (Keras 2 default) in Bidirectional needs a "
                          "hand-written cell per direction")
    if a.get("stateful"):
        raise Unsupported(f"{kind}(stateful=True): carry the state between batches by hand")
    if _present(a, "recurrent_dropout") and not (cell_ok and _gate_dropout(kind, a)):
        raise Unsupported(f"{kind}(recurrent_dropout=...): nn.{kind} has no mask on the "
                          "recurrent state; needs a hand-written cell")
    for reg in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"):
        if a.get(reg) is not None:
            raise Unsupported(f"{kind}({reg}=...): add the penalty in training_step")
    a.get("unroll")


def _ctor(kind: str, a: Args, in_dim: Dim, bidirectional: bool) -> str:
    if not bidirectional and _gate_dropout(kind, a):  # Keras's masks, step by step
        args = [dim_code(in_dim), a.code("units")]
        if _present(a, "dropout"):
            args.append(f"dropout={a.code('dropout')}")
        args += [f"recurrent_dropout={a.code('recurrent_dropout')}",
                 *([] if a.get("use_bias") else ["bias=False"])]
        return f"GateDropout{kind}({', '.join(args)})"
    if not bidirectional and _activated(kind, a):  # Keras's cell, step by step
        args = [dim_code(in_dim), a.code("units"), f'activation="{a.get("activation")}"',
                f'recurrent_activation="{a.get("recurrent_activation")}"']
        return f"ActivatedLSTM({', '.join(args + ([] if a.get('use_bias') else ['bias=False']))})"
    if not bidirectional and kind == "GRU" and not a.get("reset_after"):  # Keras 2's cell
        bias = [] if a.get("use_bias") else ["bias=False"]
        return f"ResetBeforeGRU({', '.join([dim_code(in_dim), a.code('units'), *bias])})"
    args = [dim_code(in_dim), a.code("units"), "batch_first=True"]
    if kind == "SimpleRNN" and a.get("activation") == "relu":
        args.append('nonlinearity="relu"')
    if not a.get("use_bias"):
        args.append("bias=False")
    if bidirectional:
        args.append("bidirectional=True")
    return f"{_TORCH[kind]}({', '.join(args)})"


_ZEROS = "nn.init.zeros_(param)"


def _inits(kind: str, a: Args, bidirectional: bool, w: list[str]) -> tuple[str, ...]:
    """One loop over named_parameters: nn.LSTM's weights are not typed attributes."""
    kernel = init_statement(a, "kernel_initializer", "param", w)
    recurrent = init_statement(a, "recurrent_initializer", "param", w)
    lines = ["for name, param in {m}.named_parameters():",
             '    if name.startswith("weight_ih"):', f"        {kernel}",
             '    elif name.startswith("weight_hh"):', f"        {recurrent}"]
    if a.get("use_bias"):
        bias = init_statement(a, "bias_initializer", "param", w)
        forget = kind == "LSTM" and a.get("unit_forget_bias")
        if bias != _ZEROS or forget:  # else both biases start at zero: one branch
            lines += ['    elif name.startswith("bias_ih"):', f"        {bias}"]
        if forget:
            # the module's own size: one init text for every LSTM, so they share one loop
            lines.append("        nn.init.ones_(param[{m}.hidden_size:2 * {m}.hidden_size])"
                         "  # unit_forget_bias")
        lines += ["    else:", f"        {_ZEROS}"]
    return ("\n".join(lines),)


def _states(kind: str) -> str:
    return "({s}_h, {s}_c)" if kind == "LSTM" else "{s}_h"


def rnn_builder(kind: str):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        _check(kind, a)
        w: list[str] = []
        shape = ins[0]
        units = a.value("units")
        seq, state = bool(a.get("return_sequences")), bool(a.get("return_state"))
        x = "{x}.flip(1)" if a.get("go_backwards") else "{x}"
        if not _gate_dropout(kind, a) and a.get("dropout"):  # else: the module's masks
            # Keras drops the same input features at every step: Dropout1d over (B, F, T)
            x = (f"F.dropout1d({x}.transpose(1, 2), p={a.code('dropout')}, "
                 "training=self.training).transpose(1, 2)")
        if len(ins) > 1:  # initial_state=[h, c] passed at call time
            x += ", " + ("({x1}.unsqueeze(0), {x2}.unsqueeze(0))" if kind == "LSTM"
                         else "{x1}.unsqueeze(0)")
        call = "{m}(" + x + ")"
        out_shape: Shape = (shape[0], units) if seq else (units,)
        common = dict(modules=(("", _ctor(kind, a, shape[-1], False)),),
                      init=_inits(kind, a, False, w), layout="keras", warnings=tuple(w))
        if not state:
            return Built(out=out_shape, forward=call + ("[0]" if seq else "[0][:, -1]"),
                         **common)  # type: ignore[arg-type]
        stmts: tuple[str, ...]
        if kind == "LSTM":
            stmts = ("{y0}, ({y1}, {y2}) = " + call, "{y1}, {y2} = {y1}[-1], {y2}[-1]")
            outs: list[Shape] = [out_shape, (units,), (units,)]
        else:
            stmts = ("{y0}, {y1} = " + call, "{y1} = {y1}[-1]")
            outs = [out_shape, (units,)]
        if not seq:
            stmts += ("{y0} = {y0}[:, -1]",)
        return Built(out=outs, stmts=stmts, **common)  # type: ignore[arg-type]

    return build


def _bidirectional(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    inner, spec = ctx.inner_args, ctx.inner_spec
    if inner is None or spec is None or spec.keras not in _TORCH:
        raise Unsupported("Bidirectional around a layer other than LSTM/GRU/SimpleRNN")
    if a.get("backward_layer") is not None:
        raise Unsupported("Bidirectional(backward_layer=...)")
    kind = spec.keras
    a.used.add("layer")  # the wrapped layer: converted through inner_args
    _check(kind, inner, cell_ok=False)
    if inner.get("return_state") or inner.get("go_backwards"):
        raise Unsupported("Bidirectional with return_state/go_backwards")
    mode = a.get("merge_mode")
    if mode not in ("concat", "sum", "ave", "mul"):
        raise Unsupported(f"Bidirectional(merge_mode={mode!r})")
    w: list[str] = []
    shape = ins[0]
    units = inner.value("units")
    seq = bool(inner.get("return_sequences"))
    call = "{m}({x})"
    if inner.get("dropout"):  # a mask per direction (runtime/recurrent_dropout.py)
        call = ("bidirectional_input_dropout({m}, {x}, " + inner.code("dropout")
                + ", self.training)")
    merge = {"concat": "torch.cat([{f}, {b}], dim=-1)", "sum": "{f} + {b}",
             "ave": "({f} + {b}) / 2", "mul": "{f} * {b}"}[mode]
    if seq:
        if mode == "concat":
            stmts: tuple[str, ...] = ("{y} = " + call + "[0]",)
        else:
            stmts = ("{y}_f, {y}_b = " + call + "[0].chunk(2, dim=-1)",
                     "{y} = " + merge.format(f="{y}_f", b="{y}_b"))
    else:
        states = _states(kind).format(s="{y}")
        stmts = ("_, " + states + " = " + call,
                 "{y} = " + merge.format(f="{y}_h[-2]", b="{y}_h[-1]"))
    width = times(units, 2) if mode == "concat" else units
    out: Shape = (shape[0], width) if seq else (width,)
    return Built(out=out, stmts=stmts, layout="keras", forward=_one_expression(call, kind, mode,
                                                                                 seq),
                 modules=(("", _ctor(kind, inner, shape[-1], True)),),
                 init=_inits(kind, inner, True, w), warnings=tuple(w))


_REDUCE = {"sum": "sum(0)", "ave": "mean(0)", "mul": "prod(0)"}


def _one_expression(call: str, kind: str, mode: str, seq: bool) -> str:
    """The same output as one expression (a subclass's ``forward`` needs one): the
    directions' halves of the sequence, or the last layer's two final states stacked."""
    if seq:
        return call + "[0]" if mode == "concat" else \
            f"torch.stack({call}[0].chunk(2, dim=-1)).{_REDUCE[mode]}"
    last = call + ("[1][0][-2:]" if kind == "LSTM" else "[1][-2:]")
    return f"torch.cat(tuple({last}), dim=-1)" if mode == "concat" else \
        f"{last}.{_REDUCE[mode]}"


def _rnn_spec(kind: str, examples: tuple[Example, ...]) -> LayerSpec:
    return LayerSpec(
        kind, ("units", "activation", "recurrent_activation", "use_bias"), RNN_DEFAULTS,
        rnn_builder(kind), torch=(f"torch.{_TORCH[kind]}",),
        torch_kwargs={f"torch.{_TORCH[kind]}": ("input_size", "hidden_size", "batch_first",
                                                "bias", "bidirectional")
                      + (("nonlinearity",) if kind == "SimpleRNN" else ())},
        port=kind.lower(), stateful=True, call_args=("initial_state",),
        examples=examples,
    )


SPECS: tuple[LayerSpec, ...] = (
    _rnn_spec("LSTM", (
        Example("layers.LSTM(8)", (5, 3), ("nn.LSTM(3, 8, batch_first=True)", "[0][:, -1]")),
        Example("layers.LSTM(8, return_sequences=True)", (5, 3), ("[0]",)),
        Example("layers.LSTM(4, go_backwards=True)", (5, 3), (".flip(1)",)),
        Example("layers.LSTM(4, return_sequences=True, use_bias=False)", (5, 3), ("bias=False",)),
        Example("layers.LSTM(4, dropout=0.2)", (5, 3), ("F.dropout1d(", "p=0.2")),
        Example("layers.LSTM(4, dropout=0.1, recurrent_dropout=0.2)", (5, 3),
                ("GateDropoutLSTM(3, 4, dropout=0.1, recurrent_dropout=0.2)",)),
    )),
    _rnn_spec("GRU", (
        Example("layers.GRU(6)", (5, 3), ("nn.GRU(3, 6, batch_first=True)",)),
        Example("layers.GRU(6, return_sequences=True)", (4, 2), ("nn.GRU(2, 6",)),
        Example("layers.GRU(3, dropout=0.1)", (4, 2), ("F.dropout1d(",)),
        Example("layers.GRU(3, recurrent_dropout=0.2)", (4, 2),
                ("GateDropoutGRU(2, 3, recurrent_dropout=0.2)",)),
        Example("layers.GRU(4, reset_after=False)", (5, 3), ("ResetBeforeGRU(3, 4)",)),
    )),
    _rnn_spec("SimpleRNN", (
        Example("layers.SimpleRNN(5)", (4, 3), ("nn.RNN(3, 5, batch_first=True)",)),
        Example('layers.SimpleRNN(5, activation="relu", return_sequences=True)', (4, 3),
                ('nonlinearity="relu"',)),
    )),
    LayerSpec(
        "Bidirectional", ("layer", "merge_mode"), {"merge_mode": "concat", "backward_layer": None},
        _bidirectional, torch=("torch.nn.LSTM", "torch.nn.GRU", "torch.cat"),
        port="bidirectional", stateful=True,
        examples=(
            Example("layers.Bidirectional(layers.LSTM(4))", (5, 3),
                    ("bidirectional=True", "torch.cat(")),
            Example("layers.Bidirectional(layers.LSTM(4, return_sequences=True))", (5, 3),
                    ("bidirectional=True",)),
            Example('layers.Bidirectional(layers.GRU(4), merge_mode="sum")', (5, 3),
                    ("nn.GRU(3, 4",)),
            Example('layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="ave")',
                    (5, 3), (".chunk(2, dim=-1)",)),
            Example("layers.Bidirectional(layers.LSTM(4, return_sequences=True, dropout=0.25))",
                    (5, 3), ("bidirectional_input_dropout(", "0.25, self.training)")),
        ),
    ),
)
