"""Convolutions. Inputs arrive channels-first (the converter permutes once at the boundary).

``padding="same"`` with stride 1 is symmetric (odd kernels) and maps to an int padding;
with stride > 1 TensorFlow pads asymmetrically (extra pixel after), which we reproduce with an
explicit ``F.pad`` computed from the static input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.rules.arith import binop
from agent.rules.layers.common import DENSE_LIKE_DEFAULTS, activation, dim_code, weight_inits
from agent.rules.layers.symbolic import groups_arg, symbolic_conv
from agent.rules.models.shapes import Dim, Shape, conv_out, same_padding
from agent.rules.spec import (
    Args,
    BuildContext,
    Built,
    Example,
    LayerSpec,
    NotStatic,
    Unsupported,
    tuple_n,
)

CONV_DEFAULTS: dict[str, Any] = DENSE_LIKE_DEFAULTS | {
    "strides": 1, "padding": "valid", "data_format": None, "dilation_rate": 1, "groups": 1,
}


def _pads(spatial: Sequence[Dim], k: Sequence[int], s: Sequence[int], d: Sequence[int],
          padding: str) -> tuple[list[tuple[Any, Any]], bool]:
    """Per-axis (before, after) padding and whether it is symmetric everywhere; an entry is
    an expression string where the input size is only known at run time."""
    if padding == "valid":
        return [(0, 0)] * len(k), True
    if padding == "causal":
        return [(d[0] * (k[0] - 1), 0)], False
    pads: list[tuple[Any, Any]] = []
    for j, (size, kk, ss, dd) in enumerate(zip(spatial, k, s, d, strict=True)):
        if ss == 1:
            total = dd * (kk - 1)
            pads.append((total // 2, total - total // 2))
        elif isinstance(size, int):
            pads.append(same_padding(size, kk, ss, dd))
        else:  # size known only at run time: TF's rule computed there (inputs are NCHW)
            n = "{x}.shape[" + str(2 + j) + "]"
            tot = f"max((-(-{n} // {ss}) - 1) * {ss} + {dd * (kk - 1) + 1} - {n}, 0)"
            pads.append((f"{tot} // 2", f"{tot} - {tot} // 2"))
    return pads, all(b == a and isinstance(b, int) for b, a in pads)


def pad_arg(pads: Sequence[tuple[Any, Any]]) -> str:
    """F.pad's argument: last axis first."""
    flat: list[str] = []
    for before, after in reversed(pads):
        flat += [str(before), str(after)]
    return "(" + ", ".join(flat) + ")"


def spatial_out(spatial: Sequence[Dim], k: Sequence[int], s: Sequence[int], d: Sequence[int],
                padding: str) -> tuple[Dim, ...]:
    mode = "same" if padding == "causal" else padding
    if padding == "causal":
        return tuple(spatial)
    return tuple(conv_out(n, kk, ss, mode, dd) for n, kk, ss, dd in zip(spatial, k, s, d, strict=True))


def window_args(spatial: Sequence[Dim], k: tuple[int, ...], s: tuple[int, ...],
                d: tuple[int, ...], padding: str) -> tuple[list[str], str]:
    """Stride/padding/dilation constructor arguments and the forward template.

    Symmetric padding goes into the constructor; TF's asymmetric "same" (stride > 1, even
    kernels) and "causal" padding become an explicit ``F.pad`` before the convolution.
    """
    pads, symmetric = _pads(spatial, k, s, d, padding)
    args: list[str] = []
    if set(s) != {1}:
        args.append(f"stride={_one(s)}")
    forward = "{m}({x})"
    if symmetric and any(p for p, _ in pads):
        args.append(f"padding={_one(tuple(p for p, _ in pads))}")
    elif not symmetric:
        forward = "{m}(F.pad({x}, " + pad_arg(pads) + "))"
    if set(d) != {1}:
        args.append(f"dilation={_one(d)}")
    return args, forward


def _geometry(a: Args, rank: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    k = tuple_n(a.get("kernel_size"), rank)
    s = tuple_n(a.get("strides"), rank)
    d = tuple_n(a.get("dilation_rate"), rank)
    padding = str(a.get("padding")).lower()
    if padding not in ("valid", "same", "causal"):
        raise Unsupported(f"padding={padding!r}")
    if a.get("data_format") not in (None, "channels_last"):
        raise Unsupported("data_format='channels_first' (convert the data layout first)")
    return k, s, d, padding


def _one(t: tuple[int, ...]) -> str:
    return str(t[0]) if len(set(t)) == 1 else str(t)


def conv_builder(rank: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = ins[0]
        w: list[str] = []
        try:
            k, s, d, padding = _geometry(a, rank)
        except NotStatic:  # kernel_size=kernel_size: written as the source wrote it
            return symbolic_conv(a, shape, rank)
        spatial, cin = shape[:-1], shape[-1]
        filters = a.value("filters")
        window, forward = window_args(spatial, k, s, d, padding)
        args = [dim_code(cin), str(filters), f"kernel_size={_one(k)}", *window, *groups_arg(a)]
        if not a.get("use_bias"):
            args.append("bias=False")
        out = spatial_out(spatial, k, s, d, padding) + (filters,)
        return Built(
            out=out, forward=forward, layout="cf",
            modules=(("", f"nn.Conv{rank}d({', '.join(args)})"),),
            init=weight_inits(a, w, optional_bias=True), activation=activation(a, w), warnings=tuple(w),
        )

    return build


def transpose_builder(rank: int):  # type: ignore[no-untyped-def]
    """Conv{1,2,3}DTranspose. Keras sizes: valid = n*s + max(k - s, 0), same = n*s."""

    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = ins[0]
        w: list[str] = []
        k, s, d, padding = _geometry(a, rank)
        name = f"Conv{rank}DTranspose"
        if a.get("output_padding") is not None:
            raise Unsupported(f"{name}(output_padding=...)")
        if set(d) != {1}:
            raise Unsupported(f"{name} with dilation")
        if padding == "causal":
            raise Unsupported(f'{name}(padding="causal")')
        filters = a.value("filters")
        args = [dim_code(shape[-1]), str(filters), f"kernel_size={_one(k)}"]
        if set(s) != {1}:
            args.append(f"stride={_one(s)}")
        out_sp: list[Dim] = []
        forward = "{m}({x})"
        if padding == "valid":
            # torch gives (n - 1) * s + k; Keras pads up to n * s when k < s
            extra = tuple(max(ss - kk, 0) for kk, ss in zip(k, s, strict=True))
            if any(extra):
                args.append(f"output_padding={_one(extra)}")
            for n, kk, ss in zip(shape[:-1], k, s, strict=True):
                out_sp.append(n * ss + max(kk - ss, 0) if isinstance(n, int) else None)
        else:
            # Keras "same": output = input * stride; crop (k - s) in total, the extra at the end.
            crops = []
            for n, kk, ss in zip(shape[:-1], k, s, strict=True):
                total = kk - ss
                crops.append((total // 2, total - total // 2))
                out_sp.append(n * ss if isinstance(n, int) else None)
            if any(b < 0 for b, _ in crops) or any(e < 0 for _, e in crops):
                extra = tuple(max(-(b + e), 0) for b, e in crops)
                if any(b > 0 or e > 0 for b, e in crops):
                    raise Unsupported(f'{name}(padding="same") with kernels both below and '
                                      "above the stride")
                args.append(f"output_padding={_one(extra)}")
            elif all(b == e for b, e in crops):
                if any(b for b, _ in crops):
                    args.append(f"padding={_one(tuple(b for b, _ in crops))}")
            else:
                slices = ", ".join(f"{b}:{'-' + str(e) if e else ''}" for b, e in crops)
                forward = "{m}({x})[:, :, " + slices + "]"
        if not a.get("use_bias"):
            args.append("bias=False")
        return Built(
            out=tuple(out_sp) + (filters,), forward=forward, layout="cf",
            modules=(("", f"nn.ConvTranspose{rank}d({', '.join(args)})"),),
            init=weight_inits(a, w, optional_bias=True), activation=activation(a, w),
            warnings=tuple(w),
        )

    return build


def _depthwise(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    w: list[str] = []
    k, s, d, padding = _geometry(a, 2)
    mult = a.get("depth_multiplier")
    cin = dim_code(shape[-1])
    window, forward = window_args(shape[:-1], k, s, d, padding)
    args = [cin, binop(cin, "*", mult) if mult != 1 else cin, f"kernel_size={_one(k)}", *window,
            f"groups={cin}"]
    if not a.get("use_bias"):
        args.append("bias=False")
    inits = ["nn.init.xavier_uniform_({m}.weight)"] if a.get(
        "depthwise_initializer") == "glorot_uniform" else []
    if not inits:
        raise Unsupported("depthwise_initializer other than glorot_uniform")
    w.append("depthwise kernel init uses torch's fan (kh*kw, kh*kw*mult): bound differs from Keras")
    if a.get("use_bias"):
        inits += ["assert {m}.bias is not None", "nn.init.zeros_({m}.bias)"]
    cout: Dim = shape[-1] if mult == 1 else (shape[-1] * mult if isinstance(shape[-1], int) else None)
    out = spatial_out(shape[:-1], k, s, d, padding) + (cout,)
    return Built(out=out, forward=forward, layout="cf",
                 modules=(("", f"nn.Conv2d({', '.join(args)})"),), init=tuple(inits),
                 activation=activation(a, w), warnings=tuple(w))


def _conv_spec(rank: int, examples: tuple[Example, ...]) -> LayerSpec:
    return LayerSpec(
        f"Conv{rank}D", ("filters", "kernel_size", "strides", "padding", "data_format",
                         "dilation_rate", "groups", "activation", "use_bias"),
        CONV_DEFAULTS, conv_builder(rank),
        torch=(f"torch.nn.Conv{rank}d", "torch.nn.functional.pad"),
        torch_kwargs={f"torch.nn.Conv{rank}d": ("in_channels", "out_channels", "kernel_size",
                                                "stride", "padding", "dilation", "groups",
                                                "bias")},
        port="conv", stateful=True, examples=examples,
    )


def _transpose_spec(rank: int, examples: tuple[Example, ...]) -> LayerSpec:
    target = f"torch.nn.ConvTranspose{rank}d"
    return LayerSpec(
        f"Conv{rank}DTranspose", ("filters", "kernel_size", "strides", "padding",
                                  "output_padding", "data_format", "dilation_rate",
                                  "activation", "use_bias"),
        CONV_DEFAULTS | {"output_padding": None}, transpose_builder(rank), torch=(target,),
        port="conv", stateful=True, examples=examples,
        torch_kwargs={target: ("in_channels", "out_channels", "kernel_size", "stride",
                               "padding", "output_padding", "bias")},
    )


SPECS: tuple[LayerSpec, ...] = (
    _conv_spec(1, (
        Example("layers.Conv1D(4, 3)", (10, 2), ("nn.Conv1d(2, 4, kernel_size=3)",)),
        Example('layers.Conv1D(4, 3, padding="same", activation="relu")', (10, 2),
                ("padding=1", "F.relu(")),
        Example('layers.Conv1D(4, 3, padding="causal", dilation_rate=2)', (10, 2),
                ("F.pad(", "dilation=2")),
        Example('layers.Conv1D(4, 4, strides=2, padding="same")', (9, 3), ("F.pad(", "stride=2")),
    )),
    _conv_spec(2, (
        Example("layers.Conv2D(8, 3)", (10, 10, 3), ("nn.Conv2d(3, 8, kernel_size=3)",)),
        Example('layers.Conv2D(8, (3, 3), padding="same", activation="relu")', (9, 9, 3),
                ("padding=1",)),
        Example('layers.Conv2D(4, 3, strides=2, padding="same")', (10, 10, 3),
                ("F.pad(", "stride=2")),
        Example('layers.Conv2D(4, 3, strides=2, padding="same")', (9, 9, 3),
                ("padding=1", "stride=2")),
        Example('layers.Conv2D(4, (2, 3), strides=(1, 2), dilation_rate=1, use_bias=False)',
                (8, 9, 2), ("kernel_size=(2, 3)", "bias=False")),
        Example('layers.Conv2D(4, 2, padding="same")', (6, 6, 2), ("F.pad(",)),
        Example("layers.Conv2D(4, 3, dilation_rate=2)", (9, 9, 2), ("dilation=2",)),
        Example("layers.Conv2D(4, 3, groups=2)", (9, 9, 4), ("groups=2",)),
    )),
    _conv_spec(3, (
        Example('layers.Conv3D(4, 3, padding="same")', (6, 6, 6, 2), ("nn.Conv3d(2, 4",)),
    )),
    _transpose_spec(1, (
        Example("layers.Conv1DTranspose(4, 3)", (5, 2), ("nn.ConvTranspose1d(2, 4",)),
        Example('layers.Conv1DTranspose(4, 4, strides=2, padding="same")', (5, 2),
                ("stride=2", "padding=1")),
        Example("layers.Conv1DTranspose(3, 2, strides=3)", (4, 2), ("output_padding=1",)),
    )),
    _transpose_spec(2, (
        Example("layers.Conv2DTranspose(4, 3)", (5, 5, 2), ("nn.ConvTranspose2d(2, 4",)),
        Example('layers.Conv2DTranspose(4, 3, strides=2, padding="same")', (5, 5, 2),
                ("stride=2",)),
        Example('layers.Conv2DTranspose(4, 4, strides=2, padding="same")', (5, 5, 2),
                ("stride=2", "padding=1")),
        Example('layers.Conv2DTranspose(4, 2, strides=3, padding="same")', (4, 4, 2),
                ("output_padding=1",)),
    )),
    _transpose_spec(3, (
        Example('layers.Conv3DTranspose(4, 3, strides=2, padding="same", activation="relu")',
                (3, 4, 5, 2), ("nn.ConvTranspose3d(2, 4", "stride=2", "F.relu(")),
        Example("layers.Conv3DTranspose(2, (2, 3, 2))", (3, 3, 3, 2),
                ("kernel_size=(2, 3, 2)",)),
    )),
    LayerSpec(
        "DepthwiseConv2D", ("kernel_size", "strides", "padding", "depth_multiplier",
                            "data_format", "dilation_rate", "activation", "use_bias"),
        CONV_DEFAULTS | {"depth_multiplier": 1, "depthwise_initializer": "glorot_uniform"},
        _depthwise, torch=("torch.nn.Conv2d",), port="depthwise", stateful=True,
        examples=(
            Example('layers.DepthwiseConv2D(3, padding="same")', (6, 6, 3), ("groups=3",)),
            Example("layers.DepthwiseConv2D(3, depth_multiplier=2)", (6, 6, 3), ("3 * 2",)),
        ),
    ),
)
