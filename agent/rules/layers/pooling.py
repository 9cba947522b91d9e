"""Pooling layers. Keras's pool ``strides`` default to ``pool_size``, as torch's do."""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.layers.common import torch_axis
from agent.rules.layers.conv import _pads, pad_arg, spatial_out
from agent.rules.layers.symbolic import symbolic_pool
from agent.rules.models.shapes import Shape
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


def _one(t: tuple[int, ...]) -> str:
    return str(t[0]) if len(set(t)) == 1 else str(t)


def pool_builder(kind: str, rank: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = ins[0]
        try:
            k = tuple_n(a.get("pool_size"), rank)
            strides = a.get("strides")
        except NotStatic:  # pool_size=pool_size: written as the source wrote it
            return symbolic_pool(a, shape, kind, rank)
        s = k if strides is None else tuple_n(strides, rank)
        padding = str(a.get("padding")).lower()
        if a.get("data_format") not in (None, "channels_last"):
            raise Unsupported("data_format='channels_first'")
        ones = (1,) * rank
        pads, symmetric = _pads(shape[:-1], k, s, ones, padding)
        args = [f"kernel_size={_one(k)}"]
        if s != k:
            args.append(f"stride={_one(s)}")
        forward = "{m}({x})"
        if any(p for pair in pads for p in pair):
            if symmetric and all(p <= kk // 2 for (p, _), kk in zip(pads, k, strict=True)):
                args.append(f"padding={_one(tuple(p for p, _ in pads))}")
                if kind == "Avg":
                    args.append("count_include_pad=False")
            elif kind == "Max":
                forward = "{m}(F.pad({x}, " + pad_arg(pads) + ', value=float("-inf")))'
            else:
                # TF averages over the real cells only: divide by the pooled padding mask.
                p = pad_arg(pads)
                forward = ("{m}(F.pad({x}, " + p + ")) / {m}(F.pad(torch.ones_like({x}), " + p
                           + "))")
        out = spatial_out(shape[:-1], k, s, ones, padding) + (shape[-1],)
        return Built(out=out, forward=forward, layout="cf",
                     modules=(("", f"nn.{kind}Pool{rank}d({', '.join(args)})"),))

    return build


def global_builder(kind: str, rank: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = ins[0]
        if a.get("data_format") not in (None, "channels_last"):
            raise Unsupported("data_format='channels_first'")
        keep = bool(a.get("keepdims"))
        layout = ctx.layout_of_input
        dims = tuple(torch_axis(i, len(shape), layout) for i in range(1, rank + 1))
        dim = str(dims[0]) if rank == 1 else str(dims)
        op = "mean" if kind == "Average" else "amax"
        keep_code = ", keepdim=True" if keep else ""
        out: Shape = ((1,) * rank + (shape[-1],)) if keep else (shape[-1],)
        return Built(out=out, forward=f"{{x}}.{op}(dim={dim}{keep_code})")

    return build


def _pool_spec(kind: str, rank: int, examples: tuple[Example, ...]) -> LayerSpec:
    keras_kind = "MaxPooling" if kind == "Max" else "AveragePooling"
    return LayerSpec(
        f"{keras_kind}{rank}D", ("pool_size", "strides", "padding", "data_format"),
        {"pool_size": 2, "strides": None, "padding": "valid", "data_format": None},
        pool_builder(kind, rank), torch=(f"torch.nn.{kind}Pool{rank}d",),
        torch_kwargs={f"torch.nn.{kind}Pool{rank}d": ("kernel_size", "stride", "padding")},
        stateful=True, examples=examples,
    )


def _global_spec(kind: str, rank: int) -> LayerSpec:
    op = "mean" if kind == "Average" else "amax"
    return LayerSpec(
        f"Global{kind}Pooling{rank}D", ("data_format", "keepdims"),
        {"data_format": None, "keepdims": False}, global_builder(kind, rank),
        examples=(Example(f"layers.Global{kind}Pooling{rank}D()", (5,) * rank + (3,),
                          (f".{op}(dim=",)),
                  Example(f"layers.Global{kind}Pooling{rank}D(keepdims=True)", (4,) * rank + (3,),
                          ("keepdim=True",))),
    )


SPECS: tuple[LayerSpec, ...] = (
    _pool_spec("Max", 1, (Example("layers.MaxPooling1D(2)", (8, 3), ("nn.MaxPool1d(kernel_size=2)",)),
                          Example('layers.MaxPooling1D(3, strides=2, padding="same")', (8, 3),
                                  ('float("-inf")',)))),
    _pool_spec("Max", 2, (Example("layers.MaxPooling2D()", (8, 8, 3), ("nn.MaxPool2d(kernel_size=2)",)),
                          Example("layers.MaxPooling2D((3, 3), strides=(2, 2))", (9, 9, 2),
                                  ("stride=2",)),
                          Example('layers.MaxPooling2D(2, padding="same")', (7, 7, 2),
                                  ('float("-inf")',)),
                          Example('layers.MaxPooling2D(3, strides=1, padding="same")', (6, 6, 2),
                                  ("padding=1",)))),
    _pool_spec("Max", 3, (Example("layers.MaxPooling3D(2)", (4, 4, 4, 2), ("nn.MaxPool3d(",)),)),
    _pool_spec("Avg", 1, (Example("layers.AveragePooling1D(2)", (8, 3), ("nn.AvgPool1d(",)),)),
    _pool_spec("Avg", 2, (Example("layers.AveragePooling2D(2)", (8, 8, 3), ("nn.AvgPool2d(",)),
                          Example('layers.AveragePooling2D(3, strides=1, padding="same")',
                                  (6, 6, 2), ("count_include_pad=False",)),
                          Example('layers.AveragePooling2D(2, padding="same")', (7, 7, 2),
                                  ("torch.ones_like(",)))),
    _pool_spec("Avg", 3, (Example("layers.AveragePooling3D(2)", (4, 4, 4, 2), ("nn.AvgPool3d(",)),
                          # Keras's torch backend pads this one unlike TF (which averages the
                          # real cells only); tests/test_layers_more.py checks it against TF's rule
                          Example('layers.AveragePooling3D((2, 2, 3), padding="same")',
                                  (3, 4, 5, 2), ("torch.ones_like(",), equivalence=False))),
    _global_spec("Average", 1),
    _global_spec("Average", 2),
    _global_spec("Average", 3),
    _global_spec("Max", 1),
    _global_spec("Max", 2),
    _global_spec("Max", 3),
)
