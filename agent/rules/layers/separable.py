"""SeparableConv1D/2D: a depthwise conv (groups = in_channels) then a 1x1 pointwise conv.

Both live in one ``nn.Sequential`` so the Keras layer maps to one torch child (the weight
port pairs layers with children); the initializers reach the two convs' tensors with
``get_parameter`` (a typed ``Parameter``: an index into a Sequential is a plain ``Module`` to
mypy). Keras's glorot bound for the depthwise kernel uses fans
computed from its (kh, kw, in, mult) shape, which torch's xavier on (in*mult, 1, kh, kw)
would get wrong, so the bound is written out.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.arith import binop
from agent.rules.initializers import init_statement
from agent.rules.layers.common import activation, dim_code
from agent.rules.layers.conv import CONV_DEFAULTS, _geometry, spatial_out, window_args
from agent.rules.models.shapes import Dim, Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported

SEPARABLE_DEFAULTS = CONV_DEFAULTS | {
    "depth_multiplier": 1, "depthwise_initializer": "glorot_uniform",
    "pointwise_initializer": "glorot_uniform", "depthwise_regularizer": None,
    "pointwise_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "depthwise_constraint": None, "pointwise_constraint": None, "bias_constraint": None,
}


def _one(t: tuple[int, ...]) -> str:
    return str(t[0]) if len(set(t)) == 1 else str(t)


def _depthwise_init(a: Args, k: tuple[int, ...], cin: Dim, mult: int, w: list[str]) -> str:
    if a.has("depthwise_initializer") and not a.values["depthwise_initializer"].known or \
            a.get("depthwise_initializer") != "glorot_uniform":
        w.append("depthwise initializer fans follow torch's weight shape, not Keras's")
        return init_statement(a, "depthwise_initializer", '{m}[0].get_parameter("weight")', w)
    area = 1
    for kk in k:
        area *= kk
    fans = f"{area * (cin + mult)}" if isinstance(cin, int) else f"{area} * ({cin} + {mult})"
    bound = f"(6 / {fans}) ** 0.5"
    return f'nn.init.uniform_({{m}}[0].get_parameter("weight"), -{bound}, {bound})'


def separable_builder(rank: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        return _separable(rank, a, ins)

    return build


def _separable(rank: int, a: Args, ins: Sequence[Shape]) -> Built:
    shape = ins[0]
    name = f"SeparableConv{rank}D"
    if len(shape) != rank + 1:
        raise Unsupported(f"{name} expects rank-{rank + 2} inputs")
    for reg in ("depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                "activity_regularizer", "depthwise_constraint", "pointwise_constraint",
                "bias_constraint"):
        if a.get(reg) is not None:
            raise Unsupported(f"{name}({reg}=...)")
    w: list[str] = []
    k, s, d, padding = _geometry(a, rank)
    if padding == "causal":
        raise Unsupported(f'{name}(padding="causal")')
    mult = int(a.get("depth_multiplier"))
    cin = shape[-1]
    cin_code = dim_code(cin)
    mid = cin_code if mult == 1 else binop(cin_code, "*", mult)
    filters = a.value("filters")
    window, forward = window_args(shape[:-1], k, s, d, padding)
    dw = [cin_code, mid, f"kernel_size={_one(k)}", *window, f"groups={cin_code}", "bias=False"]
    pw = [mid, str(filters), "kernel_size=1"]
    use_bias = bool(a.get("use_bias"))
    if not use_bias:
        pw.append("bias=False")
    conv = f"nn.Conv{rank}d"
    ctor = f"nn.Sequential({conv}({', '.join(dw)}), {conv}({', '.join(pw)}))"
    inits = [_depthwise_init(a, k, cin, mult, w),
             init_statement(a, "pointwise_initializer", '{m}[1].get_parameter("weight")', w)]
    if use_bias:
        inits.append(init_statement(a, "bias_initializer", '{m}[1].get_parameter("bias")', w))
    if a.get("groups") != 1:
        raise Unsupported(f"{name}(groups=...)")
    out = spatial_out(shape[:-1], k, s, d, padding) + (filters,)
    return Built(out=out, forward=forward, layout="cf", modules=(("", ctor),),
                 init=tuple(inits), activation=activation(a, w), warnings=tuple(w))


def _spec(rank: int, examples: tuple[Example, ...]) -> LayerSpec:
    conv = f"torch.nn.Conv{rank}d"
    return LayerSpec(
        f"SeparableConv{rank}D", ("filters", "kernel_size", "strides", "padding", "data_format",
                                  "dilation_rate", "depth_multiplier", "activation", "use_bias",
                                  "depthwise_initializer", "pointwise_initializer",
                                  "bias_initializer"),
        SEPARABLE_DEFAULTS, separable_builder(rank),
        torch=("torch.nn.Sequential", conv, "torch.nn.init.uniform_"),
        torch_kwargs={conv: ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                             "dilation", "groups", "bias")},
        port="separable", stateful=True, examples=examples,
    )


SPECS: tuple[LayerSpec, ...] = (
    _spec(1, (
        Example("layers.SeparableConv1D(4, 3)", (7, 3),
                ("nn.Conv1d(3, 3, kernel_size=3, groups=3, bias=False)",
                 "nn.Conv1d(3, 4, kernel_size=1)", "(6 / 12) ** 0.5")),
        Example('layers.SeparableConv1D(5, 3, padding="same", depth_multiplier=2, '
                'activation="relu")', (6, 2), ("nn.Conv1d(2, 2 * 2", "F.relu(")),
    )),
    _spec(2, (
        Example("layers.SeparableConv2D(4, 3)", (6, 6, 3),
                ("nn.Conv2d(3, 3, kernel_size=3, groups=3, bias=False)",
                 "nn.Conv2d(3, 4, kernel_size=1)", "(6 / 36) ** 0.5")),
        Example('layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2, '
                'activation="relu")', (5, 5, 2),
                ("nn.Conv2d(2, 2 * 2, kernel_size=3, padding=1, groups=2, bias=False)",
                 "F.relu(")),
        Example('layers.SeparableConv2D(4, 3, strides=2, padding="same", use_bias=False)',
                (8, 8, 3), ("F.pad(", "stride=2"), forbid=("nn.init.zeros_",)),
    )),
)
