"""ConvLSTM2D → ``ConvLSTM2d``, Keras's cell copied into the script (training/runtime/conv_lstm.py).

Torch has no convolutional LSTM. The runtime module takes and returns channels_last tensors
(the layer stays in Keras's layout), pads "same" as TensorFlow, and returns (output, h, c) so
``return_state`` needs no second form; an unknown channel count becomes ``None`` (sized on
the first batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.rules.initializers import init_statement
from agent.rules.layers.common import dim_code
from agent.rules.layers.conv import spatial_out
from agent.rules.layers.recurrent import CELL_ACTIVATIONS
from agent.rules.models.lazy import LAZY
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported, tuple_n

DEFAULTS: dict[str, Any] = {
    "strides": 1, "padding": "valid", "data_format": None, "dilation_rate": 1,
    "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
    "kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal",
    "bias_initializer": "zeros", "unit_forget_bias": True, "kernel_regularizer": None,
    "recurrent_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "kernel_constraint": None, "recurrent_constraint": None, "bias_constraint": None,
    "dropout": 0.0, "recurrent_dropout": 0.0, "seed": None, "return_sequences": False,
    "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
}

# arguments that need more than this cell: (name, why)
_REFUSED = (
    ("dropout", "ConvLSTM2D(dropout=...): Keras's per-sequence input mask is not written"),
    ("recurrent_dropout", "ConvLSTM2D(recurrent_dropout=...): no mask on the recurrent state"),
    ("stateful", "ConvLSTM2D(stateful=True): carry the state between batches by hand"),
    ("kernel_regularizer", "ConvLSTM2D(kernel_regularizer=...): add the penalty by hand"),
    ("recurrent_regularizer", "ConvLSTM2D(recurrent_regularizer=...): add the penalty by hand"),
    ("bias_regularizer", "ConvLSTM2D(bias_regularizer=...): add the penalty by hand"),
    ("activity_regularizer", "ConvLSTM2D(activity_regularizer=...): add the penalty by hand"),
    ("kernel_constraint", "ConvLSTM2D(kernel_constraint=...)"),
    ("recurrent_constraint", "ConvLSTM2D(recurrent_constraint=...)"),
    ("bias_constraint", "ConvLSTM2D(bias_constraint=...)"),
)


def _check(a: Args) -> None:
    for name, why in _REFUSED:
        if a.get(name):
            raise Unsupported(why)
    if a.get("data_format") not in (None, "channels_last"):
        raise Unsupported("ConvLSTM2D(data_format='channels_first')")
    for name in ("activation", "recurrent_activation"):
        if a.get(name) not in CELL_ACTIVATIONS:
            raise Unsupported(f"ConvLSTM2D({name}={a.code(name)})")
    a.get("unroll")
    a.get("seed")


def _inits(a: Args, w: list[str]) -> tuple[str, ...]:
    """The module starts with Keras's defaults; only initializers the source set are written."""
    lines = [init_statement(a, name, target, w) for name, target in (
        ("kernel_initializer", "{m}.weight_ih"), ("recurrent_initializer", "{m}.weight_hh"))
        if a.has(name)]
    if a.get("use_bias") and a.has("bias_initializer"):
        lines += ["assert {m}.bias is not None",
                  init_statement(a, "bias_initializer", "{m}.bias", w)]
        if a.get("unit_forget_bias"):
            lines.append("nn.init.ones_({m}.bias[{m}.filters:2 * {m}.filters])  # unit_forget_bias")
    return tuple(lines)


def _build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    _check(a)
    shape = ins[0]
    if len(ins) > 1:
        raise Unsupported("ConvLSTM2D(initial_state=...)")
    if len(shape) != 4:
        raise Unsupported(f"ConvLSTM2D on a rank-{len(shape) + 1} input (expects 5)")
    k, s, d = (tuple_n(a.get(n), 2) for n in ("kernel_size", "strides", "dilation_rate"))
    padding = str(a.get("padding")).lower()
    if padding not in ("valid", "same"):
        raise Unsupported(f"ConvLSTM2D(padding={padding!r})")
    filters = a.value("filters")
    lazy = shape[-1] == LAZY  # channels read from the first batch (a subclass's sub-layer)
    args = ["None" if lazy else dim_code(shape[-1]), str(filters), str(k)]
    if set(s) != {1}:
        args.append(f"strides={s}")
    if padding != "valid":
        args.append(f'padding="{padding}"')
    if set(d) != {1}:
        args.append(f"dilation_rate={d}")
    for name, default in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        if a.get(name) != default:
            args.append(f'{name}="{a.get(name)}"')
    if not a.get("use_bias"):
        args.append("bias=False")
    if not a.get("unit_forget_bias"):
        args.append("unit_forget_bias=False")
    seq = bool(a.get("return_sequences"))
    for flag in ("return_sequences", "go_backwards"):
        if a.get(flag):
            args.append(f"{flag}=True")
    frame: Shape = (*spatial_out(shape[1:3], k, s, d, padding), filters)
    out: Shape = (shape[0], *frame) if seq else frame
    w: list[str] = []
    common = dict(modules=(("", f"ConvLSTM2d({', '.join(args)})"),), init=_inits(a, w),
                  layout="keras", warnings=tuple(w), lazy=lazy)
    if not a.get("return_state"):
        return Built(out=out, forward="{m}({x})[0]", **common)  # type: ignore[arg-type]
    return Built(out=[out, frame, frame], stmts=("{y0}, {y1}, {y2} = {m}({x})",),
                 **common)  # type: ignore[arg-type]


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "ConvLSTM2D", ("filters", "kernel_size"), DEFAULTS, _build, port="conv_lstm",
        stateful=True,
        examples=(
            Example("layers.ConvLSTM2D(4, 3)", (3, 7, 6, 2), ("ConvLSTM2d(2, 4, (3, 3))", ")[0]")),
            Example('layers.ConvLSTM2D(4, (2, 3), strides=2, padding="same", '
                    "return_sequences=True)", (3, 7, 6, 2),
                    ("strides=(2, 2)", 'padding="same"', "return_sequences=True")),
            Example('layers.ConvLSTM2D(3, 3, padding="same", go_backwards=True, '
                    'activation="relu", use_bias=False)', (4, 5, 5, 1),
                    ('activation="relu"', "bias=False", "go_backwards=True")),
        ),
    ),
)
