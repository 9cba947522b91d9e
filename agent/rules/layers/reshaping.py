"""Padding, cropping, upsampling and TimeDistributed.

Padding, cropping and nearest upsampling are written against whatever layout the tensor is
in (the spatial axes are looked up with ``torch_axis``), so they never force a permute.
TimeDistributed applies its inner layer directly when that layer only touches the last axis
(Dense, Dropout, activations); otherwise it folds time into the batch, ``flatten(0, 1)`` →
inner layer → ``unflatten``, the way Keras itself runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.rules import activations
from agent.rules.layers.common import torch_axis
from agent.rules.layers.symbolic import symbolic_zero_padding
from agent.rules.models.shapes import Shape, add, mul
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


def _check_format(a: Args) -> None:
    if a.get("data_format") not in (None, "channels_last"):
        raise Unsupported("data_format='channels_first' (convert the data layout first)")


def _pairs(value: Any, rank: int, what: str) -> list[tuple[int, int]]:
    """Keras padding/cropping spec → one (before, after) pair per spatial axis."""
    if isinstance(value, int):
        return [(value, value)] * rank
    if isinstance(value, (tuple, list)):
        if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
            return [(int(value[0]), int(value[1]))]
        if len(value) == rank and all(isinstance(v, int) for v in value):
            return [(int(v), int(v)) for v in value]
        if len(value) == rank and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in value):
            return [(int(v[0]), int(v[1])) for v in value]
    raise Unsupported(f"{what}={value!r}")


def _spatial_dims(rank: int, layout: str) -> list[int]:
    """Torch positions of the spatial axes of a rank-``rank`` (no batch) channels-last tensor."""
    return [torch_axis(i, rank, layout) for i in range(1, rank)]


def _padding(n: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        if n >= 2:
            _check_format(a)
        shape = ins[0]
        rank = len(shape)
        if rank != n + 1:
            raise Unsupported(f"ZeroPadding{n}D expects rank-{n + 2} inputs")
        try:
            pairs = _pairs(a.get("padding"), n, "padding")
        except NotStatic:  # padding=(k // 2, k // 2): the source's code in nn.ZeroPad{n}d
            return symbolic_zero_padding(a, shape, n)
        dims = _spatial_dims(rank, ctx.layout_of_input)
        by_dim = dict(zip(dims, pairs, strict=True))
        flat: list[str] = []
        for d in range(rank, min(dims) - 1, -1):
            before, after = by_dim.get(d, (0, 0))
            flat += [str(before), str(after)]
        out = tuple(add(s, b + e) for s, (b, e) in zip(shape[:-1], pairs, strict=True))
        return Built(out=out + (shape[-1],), forward=f"F.pad({{x}}, ({', '.join(flat)}))")

    return build


def _cropping(n: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        if n >= 2:
            _check_format(a)
        shape = ins[0]
        rank = len(shape)
        if rank != n + 1:
            raise Unsupported(f"Cropping{n}D expects rank-{n + 2} inputs")
        pairs = _pairs(a.get("cropping"), n, "cropping")
        dims = _spatial_dims(rank, ctx.layout_of_input)
        by_dim = dict(zip(dims, pairs, strict=True))
        index = []
        for d in range(1, max(dims) + 1):
            before, after = by_dim.get(d, (0, 0))
            index.append(f"{before or ''}:{-after if after else ''}")
        out = tuple(add(s, -(b + e)) for s, (b, e) in zip(shape[:-1], pairs, strict=True))
        return Built(out=out + (shape[-1],), forward=f"{{x}}[:, {', '.join(index)}]")

    return build


def _upsampling(n: int):  # type: ignore[no-untyped-def]
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        shape = ins[0]
        rank = len(shape)
        if rank != n + 1:
            raise Unsupported(f"UpSampling{n}D expects rank-{n + 2} inputs")
        size = tuple_n(a.get("size"), n)
        mode = "nearest"
        if n >= 2:
            _check_format(a)
        if n == 2:
            mode = str(a.get("interpolation")).lower()
        out = tuple(mul(s, k) for s, k in zip(shape[:-1], size, strict=True)) + (shape[-1],)
        if mode == "nearest":  # Keras repeats rows/columns: exact, and layout-independent
            expr = "{x}"
            for d, k in zip(_spatial_dims(rank, ctx.layout_of_input), size, strict=True):
                if k != 1:
                    expr += f".repeat_interleave({k}, dim={d})"
            return Built(out=out, forward=expr)
        if mode == "bilinear":  # TF half-pixel centres = torch align_corners=False
            scale = ", ".join(f"{float(k)!r}" for k in size)
            return Built(out=out, layout="cf", forward=(
                f'F.interpolate({{x}}, scale_factor=({scale}), mode="bilinear", '
                "align_corners=False)"))
        raise Unsupported(f"UpSampling2D(interpolation={mode!r})")

    return build


# Inner layers that act on the last axis only: TimeDistributed(inner)(x) == inner(x).
_LAST_AXIS = {"Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "ELU", "GaussianNoise",
              "Identity", "Rescaling"}


def _time_distributed(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    inner, spec = ctx.inner_args, ctx.inner_spec
    a.used.add("layer")
    if inner is None or spec is None:
        raise Unsupported("TimeDistributed around a layer that is not a literal table layer")
    if "mask" in ctx.call_kwargs:
        raise Unsupported("TimeDistributed(mask=...) at call time")
    shape = ins[0]
    if len(shape) < 2:
        raise Unsupported("TimeDistributed needs inputs with a time axis")
    steps, rest = shape[0], tuple(shape[1:])
    last_axis = spec.keras in _LAST_AXIS or (spec.keras == "Softmax" and inner.get("axis") == -1)
    built = spec.build(inner, [rest], BuildContext(layout_of_input="keras",
                                                   names_in_forward=ctx.names_in_forward))
    left = inner.unused()
    if left:
        raise Unsupported(f"TimeDistributed({spec.keras}) arguments {left} have no torch mapping")
    if built.stmts or isinstance(built.out, list):
        raise Unsupported(f"TimeDistributed({spec.keras}) with several outputs")
    out: Shape = (steps,) + tuple(built.out)
    common: dict[str, Any] = dict(modules=built.modules, init=built.init,
                                  warnings=built.warnings, lazy=built.lazy,
                                  lazy_init=built.lazy_init)
    if last_axis:
        return Built(out=out, forward=built.forward, layout="keras",
                     activation=built.activation, **common)
    # Fold time into the batch; the inner layer may need channels first for its own input.
    cf = built.layout == "cf" and len(rest) >= 2
    n = len(rest) + 1
    x = "{x}.flatten(0, 1)"
    if cf:
        x += ".permute(" + ", ".join(["0", str(n - 1)] + [str(i) for i in range(1, n - 1)]) + ")"
    expr = built.forward.replace("{x}", x)
    if "{x" in expr.replace("{x}", ""):
        raise Unsupported(f"TimeDistributed({spec.keras}) with several inputs")
    out_rank = len(built.out)
    expr = activations.apply(built.activation, expr, 1 if cf and out_rank >= 2 else -1)
    if cf and out_rank >= 2:
        m = out_rank + 1
        expr = f"({expr}).permute(" + ", ".join(["0"] + [str(i) for i in range(2, m)] + ["1"]) + ")"
    steps_code = str(steps) if isinstance(steps, int) else "-1"
    expr = f"({expr}).unflatten(0, ({{x}}.size(0), {steps_code}))"
    return Built(out=out, forward=expr, layout="keras", **common)


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("ZeroPadding1D", ("padding",), {"padding": 1}, _padding(1),
              torch=("torch.nn.functional.pad",),
              examples=(Example("layers.ZeroPadding1D(2)", (5, 3), ("F.pad(", "2, 2")),
                        Example("layers.ZeroPadding1D((1, 3))", (5, 3), ("F.pad(", "1, 3")))),
    LayerSpec("ZeroPadding2D", ("padding", "data_format"),
              {"padding": (1, 1), "data_format": None}, _padding(2),
              torch=("torch.nn.functional.pad",),
              examples=(Example("layers.ZeroPadding2D()", (4, 4, 2), ("F.pad(",)),
                        Example("layers.ZeroPadding2D(((1, 2), (0, 3)))", (4, 5, 2),
                                ("F.pad(", "0, 3, 1, 2")))),
    LayerSpec("ZeroPadding3D", ("padding", "data_format"),
              {"padding": (1, 1, 1), "data_format": None}, _padding(3),
              torch=("torch.nn.functional.pad",),
              examples=(Example("layers.ZeroPadding3D()", (3, 4, 5, 2), ("F.pad(",)),
                        Example("layers.ZeroPadding3D(((1, 0), (0, 2), (2, 1)))", (3, 4, 5, 2),
                                ("F.pad(", "2, 1, 0, 2, 1, 0")))),
    LayerSpec("Cropping1D", ("cropping",), {"cropping": (1, 1)}, _cropping(1),
              examples=(Example("layers.Cropping1D((1, 2))", (7, 3), ("[:, 1:-2",)),
                        Example("layers.Cropping1D((2, 0))", (7, 3), ("[:, 2:",)))),
    LayerSpec("Cropping2D", ("cropping", "data_format"),
              {"cropping": ((0, 0), (0, 0)), "data_format": None}, _cropping(2),
              examples=(Example("layers.Cropping2D(1)", (6, 6, 2), ("1:-1, 1:-1",)),
                        Example("layers.Cropping2D(((1, 0), (2, 1)))", (6, 7, 2),
                                ("1:, 2:-1",)))),
    LayerSpec("Cropping3D", ("cropping", "data_format"),
              {"cropping": ((1, 1), (1, 1), (1, 1)), "data_format": None}, _cropping(3),
              examples=(Example("layers.Cropping3D()", (4, 5, 6, 2), ("1:-1, 1:-1, 1:-1",)),
                        Example("layers.Cropping3D(((1, 0), (0, 2), (2, 1)))", (4, 5, 6, 2),
                                ("1:, :-2, 2:-1",)))),
    LayerSpec("UpSampling1D", ("size",), {"size": 2}, _upsampling(1),
              examples=(Example("layers.UpSampling1D(3)", (4, 2), (".repeat_interleave(3, dim=1)",)),)),
    LayerSpec("UpSampling2D", ("size", "data_format", "interpolation"),
              {"size": (2, 2), "data_format": None, "interpolation": "nearest"}, _upsampling(2),
              torch=("torch.nn.functional.interpolate",),
              torch_kwargs={"torch.nn.functional.interpolate": ("scale_factor", "mode",
                                                                "align_corners")},
              examples=(Example("layers.UpSampling2D()", (3, 3, 2), (".repeat_interleave(2",)),
                        Example("layers.UpSampling2D((2, 3))", (3, 4, 2),
                                (".repeat_interleave(3",)),
                        Example('layers.UpSampling2D(2, interpolation="bilinear")', (3, 4, 2),
                                ('mode="bilinear"', "align_corners=False")))),
    LayerSpec("UpSampling3D", ("size", "data_format"),
              {"size": (2, 2, 2), "data_format": None}, _upsampling(3),
              examples=(Example("layers.UpSampling3D()", (2, 3, 4, 2), (".repeat_interleave(2",)),
                        Example("layers.UpSampling3D((1, 2, 3))", (2, 3, 4, 2),
                                (".repeat_interleave(3",)))),
    LayerSpec("TimeDistributed", ("layer",), {}, _time_distributed, port="time_distributed",
              call_args=("mask",),
              stateful=True,
              examples=(Example("layers.TimeDistributed(layers.Dense(3))", (4, 5),
                                ("nn.Linear(5, 3)",), forbid=("flatten(0, 1)",)),
                        Example('layers.TimeDistributed(layers.Dense(3, activation="relu"))',
                                (4, 2, 5), ("nn.Linear(5, 3)", "F.relu(")),
                        Example("layers.TimeDistributed(layers.Dropout(0.5))", (4, 5),
                                ("nn.Dropout(p=0.5)",)),
                        Example("layers.TimeDistributed(layers.Conv2D(4, 3))", (3, 6, 6, 2),
                                ("nn.Conv2d(2, 4, kernel_size=3)", ".flatten(0, 1)",
                                 ".unflatten(0,")),
                        Example("layers.TimeDistributed(layers.Flatten())", (3, 2, 4),
                                (".flatten(0, 1)",)))),
)
