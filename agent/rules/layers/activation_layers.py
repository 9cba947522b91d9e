"""Advanced activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax.

Defaults differ (LeakyReLU slope 0.3 vs torch's 0.01; PReLU alpha starts at 0 vs torch's
0.25), so every value is written explicitly. Elementwise layers work in any layout; PReLU's
per-channel alpha needs channels first, and Softmax's axis is mapped to the layout.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.layers.common import keras_axis, signed_axis
from agent.rules.models.shapes import Shape, product
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _relu(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    mv, s, t = a.get("max_value"), float(a.get("negative_slope")), float(a.get("threshold"))
    if mv is not None and mv < 0 or s < 0 or t < 0:
        raise Unsupported("ReLU with a negative max_value/negative_slope/threshold")
    if t == 0 and s == 0:
        if mv is None:
            return Built(out=ins[0], forward="F.relu({x})")
        if mv == 6:
            return Built(out=ins[0], forward="F.relu6({x})")
        return Built(out=ins[0], forward=f"torch.clamp({{x}}, 0.0, {a.code('max_value')})")
    if t == 0 and mv is None:
        return Built(out=ins[0], forward=f"F.leaky_relu({{x}}, negative_slope={s!r})")
    # Keras: x above the threshold (clipped to max_value), slope * (x - threshold) below it.
    pos = "{x}" if mv is None else f"{{x}}.clamp(max={a.code('max_value')})"
    neg = f"{s!r} * ({{x}} - {t!r})" if t else f"{s!r} * {{x}}"
    return Built(out=ins[0], forward=f"torch.where({{x}} > {t!r}, {pos}, {neg})")


def _leaky_relu(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    name = "alpha" if a.has("alpha") and not a.has("negative_slope") else "negative_slope"
    a.used.update(("alpha", "negative_slope"))
    value = a.get(name) if name == "negative_slope" or a.values[name].known else None
    code = a.code(name) if value is None else repr(float(value))
    return Built(out=ins[0], forward=f"F.leaky_relu({{x}}, negative_slope={code})")


def _elu(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    alpha = a.get("alpha")
    extra = "" if alpha == 1.0 else f", alpha={a.code('alpha')}"
    return Built(out=ins[0], forward=f"F.elu({{x}}{extra})")


def _softmax(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    axis = a.get("axis")
    if "mask" in ctx.call_kwargs:
        raise Unsupported("Softmax(mask=...) at call time")
    if not isinstance(axis, int):
        raise Unsupported(f"Softmax(axis={axis!r}): only a single axis")
    rank = len(ins[0])
    if keras_axis(axis, rank) == 0:  # attention over a bag's instances: Keras does the same
        return Built(out=ins[0], forward="F.softmax({x}, dim=0)")
    dim = signed_axis(axis, rank, ctx.layout_of_input)
    return Built(out=ins[0], forward=f"F.softmax({{x}}, dim={dim})")


def _prelu(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    rank = len(shape)
    if a.get("alpha_initializer") not in ("zeros", "Zeros"):
        raise Unsupported(f"PReLU(alpha_initializer={a.code('alpha_initializer')})")
    for arg in ("alpha_regularizer", "alpha_constraint"):
        if a.get(arg) is not None:
            raise Unsupported(f"PReLU({arg}=...)")
    shared = a.get("shared_axes")
    shared_set = set() if shared is None else {
        keras_axis(int(i), rank) for i in (shared if isinstance(shared, (list, tuple)) else [shared])}
    alpha_shape = tuple(1 if i + 1 in shared_set else d for i, d in enumerate(shape))
    if any(d is None for d in alpha_shape):
        raise Unsupported("PReLU over an axis of unknown size")
    init = ("nn.init.zeros_({m}.weight)",)  # Keras alpha starts at 0, torch's at 0.25
    if all(d == 1 for d in alpha_shape):
        return Built(out=shape, forward="{m}({x})", modules=(("", "nn.PReLU(1)"),), init=init)
    if all(d == 1 for d in alpha_shape[:-1]):
        # one alpha per channel: nn.PReLU indexes channels on dim 1 (channels first)
        return Built(out=shape, forward="{m}({x})", layout="cf" if rank > 1 else "any",
                     modules=(("", f"nn.PReLU({alpha_shape[-1]})"),), init=init)
    if not shared_set:
        # one alpha per element: flatten in Keras order so the ported alpha lines up
        n = product(shape)
        return Built(out=shape, forward="{m}({x}.flatten(1)).reshape_as({x})", layout="keras",
                     modules=(("", f"nn.PReLU({n})"),), init=init)
    raise Unsupported(f"PReLU(shared_axes={shared!r}) leaving several non-channel axes")


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "ReLU", ("max_value", "negative_slope", "threshold"),
        {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}, _relu,
        torch=("torch.nn.functional.relu", "torch.nn.functional.relu6", "torch.clamp",
               "torch.nn.functional.leaky_relu", "torch.where"),
        torch_kwargs={"torch.nn.functional.leaky_relu": ("negative_slope",)},
        examples=(
            Example("layers.ReLU()", (5,), ("F.relu(",)),
            Example("layers.ReLU(max_value=6.0)", (5,), ("F.relu6(",)),
            Example("layers.ReLU(max_value=1.5)", (5,), ("torch.clamp(", "1.5")),
            Example("layers.ReLU(negative_slope=0.1)", (5,), ("F.leaky_relu(", "negative_slope=0.1")),
            Example("layers.ReLU(threshold=0.5)", (5,), ("torch.where(", "> 0.5")),
            Example("layers.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.1)", (3, 4),
                    ("torch.where(", "clamp(max=2.0)", "0.2 * (")),
        ),
    ),
    LayerSpec(
        "LeakyReLU", ("negative_slope",), {"negative_slope": 0.3}, _leaky_relu,
        torch=("torch.nn.functional.leaky_relu",),
        torch_kwargs={"torch.nn.functional.leaky_relu": ("negative_slope",)},
        examples=(
            Example("layers.LeakyReLU()", (5,), ("negative_slope=0.3",),
                    forbid=("negative_slope=0.01",)),
            Example("layers.LeakyReLU(negative_slope=0.1)", (4, 3), ("negative_slope=0.1",)),
            Example("layers.LeakyReLU(alpha=0.2)", (5,), ("negative_slope=0.2",),
                    forbid=("alpha",)),
        ),
    ),
    LayerSpec(
        "PReLU", ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"),
        {"alpha_initializer": "zeros", "alpha_regularizer": None, "alpha_constraint": None,
         "shared_axes": None}, _prelu,
        torch=("torch.nn.PReLU", "torch.nn.init.zeros_"),
        torch_kwargs={"torch.nn.PReLU": ("num_parameters",)},
        port="prelu", stateful=True,
        examples=(
            Example("layers.PReLU()", (5,), ("nn.PReLU(5)", "nn.init.zeros_(")),
            Example("layers.PReLU(shared_axes=[1, 2])", (4, 4, 3), ("nn.PReLU(3)",)),
            Example("layers.PReLU(shared_axes=[1])", (6, 3), ("nn.PReLU(3)",)),
            Example("layers.PReLU()", (3, 4), ("nn.PReLU(12)", ".flatten(1)")),
            Example("layers.PReLU(shared_axes=[1, 2, 3])", (2, 2, 3), ("nn.PReLU(1)",)),
        ),
    ),
    LayerSpec(
        "ELU", ("alpha",), {"alpha": 1.0}, _elu, torch=("torch.nn.functional.elu",),
        torch_kwargs={"torch.nn.functional.elu": ("alpha",)},
        examples=(Example("layers.ELU()", (5,), ("F.elu(",), forbid=("alpha=",)),
                  Example("layers.ELU(alpha=0.5)", (5,), ("F.elu(", "alpha=0.5"))),
    ),
    LayerSpec(
        "Softmax", ("axis",), {"axis": -1}, _softmax, torch=("torch.nn.functional.softmax",),
        call_args=("mask",),
        torch_kwargs={"torch.nn.functional.softmax": ("dim",)},
        examples=(Example("layers.Softmax()", (5,), ("F.softmax(", "dim=-1")),
                  Example("layers.Softmax(axis=1)", (4, 3), ("dim=1",)),
                  Example("layers.Softmax(axis=-2)", (4, 3), ("dim=1",)),
                  Example("layers.Softmax(axis=0)", (3,), ("dim=0",)),
                  Example("layers.Softmax(axis=-3)", (4, 3), ("dim=0",))),
    ),
)
