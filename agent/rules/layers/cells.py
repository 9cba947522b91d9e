"""Keras's recurrent cells and ``keras.layers.RNN(cell)``.

A built-in cell (``SimpleRNNCell``, ``GRUCell``, ``LSTMCell``) becomes the copied
``KerasSimpleRNNCell``/``KerasGRUCell``/``KerasLSTMCell`` (training/runtime/keras_cells.py):
torch parameters in torch's gate order, Keras's defaults and Keras's call, ``cell(inputs,
states) -> (output, new_states)``, so the code that steps it (a decoder loop, a GNN update in
a helper method) stays as written. ``RNN(cell)`` over one built-in cell is the recurrent
layer it equals (``RNN(LSTMCell(8))`` is ``LSTM(8)``: same table entry, same weights); over a
list of cells or ``StackedRNNCells``, or a cell torch's layers cannot run, it is the copied
``CellRNN`` loop over the cells; over a custom cell class it is ``CellRNN`` over the converted
class (``state_size``, ``call(inputs, states)``), made in the call or passed by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.layers.common import dim_code
from agent.rules.layers.recurrent import CELL_ACTIVATIONS, RNN_DEFAULTS, rnn_builder
from agent.rules.models.lazy import LAZY
from agent.rules.models.shapes import Dim, Shape
from agent.rules.spec import (
    Args,
    BuildContext,
    Built,
    Example,
    LayerSpec,
    NotStatic,
    Unsupported,
    bind,
)
from agent.rules.values import Value, code_of, evaluate

# Keras cell -> (the recurrent layer it makes, the runtime module it becomes)
CELLS = {"SimpleRNNCell": ("SimpleRNN", "KerasSimpleRNNCell"),
         "GRUCell": ("GRU", "KerasGRUCell"), "LSTMCell": ("LSTM", "KerasLSTMCell")}
_STACKED = "StackedRNNCells"
_CELL_DEFAULTS = {k: RNN_DEFAULTS[k] for k in (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "dropout",
    "recurrent_dropout", "reset_after", "kernel_regularizer", "recurrent_regularizer",
    "bias_regularizer")} | {"kernel_constraint": None, "recurrent_constraint": None,
                            "bias_constraint": None, "seed": None}
_INITIALIZERS = {"kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal",
                 "bias_initializer": "zeros"}
# RNN's own arguments that the recurrent layer's table entry reads the same way
_LAYER_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")


def _known_dim(d: Dim | None) -> bool:
    return d is not None and d != LAZY and not (isinstance(d, str) and LAZY in d)


def cell_ctor(kname: str, a: Args, in_dim: Dim | None) -> str:
    """The runtime module for Keras cell ``kname`` with arguments ``a``; ``in_dim`` None: sized
    by its first input."""
    kind, runtime = CELLS[kname]
    for name in ("dropout", "recurrent_dropout"):
        if a.value(name):
            raise Unsupported(f"{kname}({name}={a.code(name)}): Keras's per-call dropout masks "
                              "of a cell are not reproduced")
    for name in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                 "kernel_constraint", "recurrent_constraint", "bias_constraint"):
        if a.get(name) is not None:
            raise Unsupported(f"{kname}({name}=...) not converted")
    for name, default in _INITIALIZERS.items():
        if a.has(name) and a.get(name) != default:
            raise Unsupported(f"{kname}({name}={a.code(name)}): the cell starts from Keras's "
                              "default initializers only")
    a.get("seed")  # only seeds the dropout masks, refused above
    args = [a.code("units")] + ([f"input_size={dim_code(in_dim)}"] if in_dim is not None else [])
    names = ("activation", "recurrent_activation")[:1 if kind == "SimpleRNN" else 2]
    for name in names:
        act = a.get(name)
        if act not in CELL_ACTIVATIONS:
            raise Unsupported(f"{kname}({name}={a.code(name)})")
        if act != _CELL_DEFAULTS[name]:
            args.append(f'{name}="{act}"')
    if not a.get("use_bias"):
        args.append("use_bias=False")
    if kind == "GRU" and not a.get("reset_after"):
        args.append("reset_after=False")
    if kind == "LSTM" and not a.get("unit_forget_bias"):
        args.append("unit_forget_bias=False")
    return f"{runtime}({', '.join(args)})"


def _cell_builder(kname: str):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        in_dim = ins[0][-1] if ins and ins[0] else None
        known = _known_dim(in_dim)
        ctor = cell_ctor(kname, a, in_dim if known else None)
        return Built(out=(), forward="{m}({x0}, {x1})", layout="keras",
                     modules=(("", ctor),), lazy=not known)

    return build


def _keras_cell(node: cst.BaseExpression) -> tuple[str, Args] | None:
    """``layers.GRUCell(8, ...)``: its class name and arguments bound; None: not a Keras cell."""
    if not isinstance(node, cst.Call):
        return None
    kname = code_of(node.func).rsplit(".", 1)[-1]
    if kname not in CELLS:
        return None
    spec = next(s for s in SPECS if s.keras == kname)
    args: list[Value] = []
    kwargs: dict[str, Value] = {}
    for arg in node.args:
        if arg.star:
            raise Unsupported(f"*args/**kwargs in {code_of(node.func)}(...)")
        if arg.keyword is None:
            args.append(evaluate(arg.value))
        else:
            kwargs[arg.keyword.value] = evaluate(arg.value)
    return kname, bind(spec, args, kwargs)


def _stack(node: cst.BaseExpression, in_dim: Dim | None) -> str:
    """``[cell, ...]`` / ``StackedRNNCells([...])`` → ``StackedCells([...])``: each Keras cell
    sized by the one before it, a custom cell kept as written."""
    if isinstance(node, cst.Call) and code_of(node.func).rsplit(".", 1)[-1] == _STACKED:
        if len(node.args) != 1 or node.args[0].keyword is not None:
            raise Unsupported("StackedRNNCells(...) without one list of cells")
        node = node.args[0].value
    if not isinstance(node, (cst.List, cst.Tuple)) or not node.elements:
        raise Unsupported(f"RNN({code_of(node)}): the cells must be a literal list")
    ctors = []
    for el in node.elements:
        if isinstance(el, cst.StarredElement):
            raise Unsupported(f"RNN({code_of(node)}): a starred list of cells")
        cell = _keras_cell(el.value)
        if cell is None:
            if isinstance(el.value, cst.Call) and code_of(el.value.func).rsplit(
                    ".", 1)[-1] in (*CELLS, _STACKED, "ConvLSTM2DCell"):
                raise Unsupported(f"RNN over {code_of(el.value.func)}")
            ctors.append(code_of(el.value))
            in_dim = None  # a custom cell: its output size is not known here
            continue
        kname, a = cell
        ctors.append(cell_ctor(kname, a, in_dim))
        units = a.value("units")
        in_dim = units if isinstance(units, int) else None
    return f"StackedCells([{', '.join(ctors)}])"


def _as_layer(kname: str, cell: Args, a: Args, ins: Sequence[Shape], ctx: BuildContext
              ) -> Built:
    """``RNN(GRUCell(...), flags)`` built as ``GRU(..., flags)``: the cell's arguments and the
    RNN's flags bound to the recurrent layer's table entry; an argument it did not read
    refuses the conversion rather than being dropped."""
    kind = CELLS[kname][0]
    values = {**cell.values, **{k: v for k, v in a.values.items() if k in _LAYER_FLAGS}}
    merged = Args(kind, values, dict(RNN_DEFAULTS))
    merged.used.add("seed")
    built: Built = rnn_builder(kind)(merged, ins, ctx)
    for name in (*_CELL_DEFAULTS, "units"):
        if name in values and name not in merged.used:
            raise Unsupported(f"{kname}({name}={values[name].code}) not converted")
    for name in _LAYER_FLAGS:
        a.used.add(name)
    return built


def _rnn(a: Args, ins: Sequence[object], ctx: BuildContext) -> Built:
    node = a.values["cell"].node
    a.used.add("cell")
    func = node.func if isinstance(node, cst.Call) else None
    shapes = [s for s in ins if isinstance(s, tuple)]
    in_dim = shapes[0][-1] if shapes and shapes[0] else None
    known = _known_dim(in_dim)
    cell = _keras_cell(node) if node is not None else None
    if in_dim is None and not isinstance(node, cst.Name) and not isinstance(func, cst.Name):
        # Keras's cells are sized by the input (the model rules retry with a lazy size)
        raise Unsupported("dimension unknown at conversion time")
    if cell is not None:
        try:
            return _as_layer(*cell, a, shapes, ctx)
        except (Unsupported, NotStatic):
            pass  # a cell torch's layers cannot run: the loop below over Keras's cell
        cell_code = cell_ctor(cell[0], cell[1], in_dim if known else None)
    elif node is not None and (isinstance(node, (cst.List, cst.Tuple)) or (
            func is not None and code_of(func).rsplit(".", 1)[-1] == _STACKED)):
        cell_code = _stack(node, in_dim if known else None)
    elif func is not None and code_of(func).rsplit(".", 1)[-1] == "ConvLSTM2DCell":
        raise Unsupported(f"RNN({a.code('cell')}) over a Keras ConvLSTM2DCell")
    elif isinstance(node, cst.Name) or isinstance(func, cst.Name):
        cell_code = a.code("cell")
        known = True  # a custom cell: sized as its own class says
    else:
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
    ctor = f"CellRNN({', '.join([cell_code, *flags])})"
    out: Shape = ()
    units = _last_units(node)
    if units is not None and flags[:1] in ([], ["return_sequences=True"]):
        # Keras's cells: the last one's units, per step or once
        out = (shapes[0][0], units) if flags and shapes and shapes[0] else (units,)
    if "return_state=True" in flags and cell is not None and units is not None:
        # CellRNN returns Keras's (output, *states): one name each where the model unpacks it
        count = 2 if cell[0] == "LSTMCell" else 1
        names = ", ".join(f"{{y{k}}}" for k in range(count + 1))
        return Built(out=[out, *[(units,)] * count], stmts=(f"{names} = {{m}}({{x}})",),
                     layout="keras", modules=(("", ctor),), lazy=not known)
    if "return_state=True" in flags and cell is None and units is not None:
        raise Unsupported("RNN over stacked Keras cells with return_state=True")
    return Built(out=out, forward="{m}({x})", layout="keras", modules=(("", ctor),),
                 lazy=not known)


def _last_units(node: cst.BaseExpression | None) -> Dim | None:
    """The output size of an RNN over Keras cells (the last cell's units); None: unknown."""
    if isinstance(node, cst.Call) and code_of(node.func).rsplit(".", 1)[-1] == _STACKED \
            and node.args:
        node = node.args[0].value
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        node = node.elements[-1].value
    cell = _keras_cell(node) if node is not None else None
    if cell is None:
        return None
    units = cell[1].value("units")
    return units if isinstance(units, (int, str)) else None


def _cell_spec(kname: str, examples: tuple[Example, ...]) -> LayerSpec:
    kind = CELLS[kname][0]
    params: tuple[str, ...] = ("units", "activation", "recurrent_activation", "use_bias")
    if kind == "SimpleRNN":
        params = ("units", "activation", "use_bias")
    return LayerSpec(kname, params, dict(_CELL_DEFAULTS), _cell_builder(kname),
                     port=f"{kind.lower()}_cell", stateful=True, call_args=("states",),
                     ignorable=("name", "dtype", "trainable"), examples=examples)


# A cell's example runs it in a custom layer stepping over the time axis (tests/
# test_layer_table.py): Keras calls a cell on one step with its states.
SPECS: tuple[LayerSpec, ...] = (
    _cell_spec("SimpleRNNCell", (
        Example("layers.SimpleRNNCell(4)", (5, 3), ("KerasSimpleRNNCell(4)",)),
        Example('layers.SimpleRNNCell(4, activation="relu", use_bias=False)', (5, 3),
                ('KerasSimpleRNNCell(4, activation="relu", use_bias=False)',)),
    )),
    _cell_spec("GRUCell", (
        Example("layers.GRUCell(4)", (5, 3), ("KerasGRUCell(4)",)),
        Example("layers.GRUCell(4, reset_after=False)", (5, 3),
                ("KerasGRUCell(4, reset_after=False)",)),
    )),
    _cell_spec("LSTMCell", (
        Example("layers.LSTMCell(4)", (5, 3), ("KerasLSTMCell(4)",)),
        Example('layers.LSTMCell(4, activation="relu", unit_forget_bias=False)', (5, 3),
                ('KerasLSTMCell(4, activation="relu", unit_forget_bias=False)',)),
    )),
    LayerSpec(
        "RNN", ("cell", "return_sequences", "return_state", "go_backwards", "stateful",
                "unroll", "zero_output_for_mask"),
        {"return_sequences": False, "return_state": False, "go_backwards": False,
         "stateful": False, "unroll": False, "zero_output_for_mask": False,
         "time_major": False},
        _rnn, port="rnn", stateful=True, call_args=("initial_state",),
        examples=(
            Example("layers.RNN(MinimalCell(4), return_sequences=True)", (5, 3),
                    ("CellRNN(MinimalCell(4), return_sequences=True)",), equivalence=False),
            Example("layers.RNN(layers.LSTMCell(4))", (5, 3),
                    ("nn.LSTM(3, 4, batch_first=True)", "[0][:, -1]")),
            Example("layers.RNN(layers.GRUCell(4, reset_after=False), return_sequences=True)",
                    (5, 3), ("ResetBeforeGRU(3, 4)",)),
            Example('layers.RNN(layers.GRUCell(4, activation="relu"))', (5, 3),
                    ('CellRNN(KerasGRUCell(4, input_size=3, activation="relu"))',)),
            Example("layers.RNN([layers.LSTMCell(4), layers.GRUCell(2)], return_sequences=True)",
                    (5, 3), ("StackedCells([KerasLSTMCell(4, input_size=3), "
                             "KerasGRUCell(2, input_size=4)])", "return_sequences=True")),
            Example("layers.RNN(layers.StackedRNNCells([layers.SimpleRNNCell(3), "
                    "layers.SimpleRNNCell(2)]))", (4, 3),
                    ("StackedCells([KerasSimpleRNNCell(3, input_size=3), "
                     "KerasSimpleRNNCell(2, input_size=3)])",)),
        ),
    ),
)
