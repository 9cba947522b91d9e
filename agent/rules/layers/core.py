"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, ..."""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.arith import binop
from agent.rules.layers.common import (
    DENSE_LIKE_DEFAULTS,
    activation,
    weight_inits,
)
from agent.rules.layers.symbolic import RunTimeShape, symbolic_reshape
from agent.rules.models.shapes import Shape, flat, product
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, NotStatic, Unsupported


def _dense(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    w: list[str] = []
    units = a.value("units")
    act = activation(a, w)
    bias = "" if a.get("use_bias") else ", bias=False"
    if shape[-1] is None:
        w.append("Dense input size unknown statically: nn.LazyLinear infers it on first call")
        # init: run once the first batch sized the layer (models/codegen.py hooks it)
        return Built(out=shape[:-1] + (units,), forward="{m}({x})", layout="keras",
                     modules=(("", f"nn.LazyLinear({units}{bias})"),), activation=act,
                     init=weight_inits(a, w), warnings=tuple(w), lazy=True)
    return Built(
        out=shape[:-1] + (units,),
        forward="{m}({x})",
        modules=(("", f"nn.Linear({shape[-1]}, {units}{bias})"),),
        init=weight_inits(a, w),
        layout="keras",
        activation=act,
        warnings=tuple(w),
    )


def _activation(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    w: list[str] = []
    return Built(out=ins[0], activation=activation(a, w), warnings=tuple(w))


def _dropout(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if a.get("noise_shape") is not None:
        raise Unsupported("Dropout(noise_shape=...) has no torch equivalent")
    a.get("seed")
    return Built(out=ins[0], forward="{m}({x})", modules=(("", f"nn.Dropout(p={a.code('rate')})"),))


def _spatial_dropout(kind: str, rank: int) -> LayerSpec:
    def build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
        a.get("seed")
        return Built(out=ins[0], forward="{m}({x})", layout="cf",
                     modules=(("", f"nn.{kind}(p={a.code('rate')})"),))

    return LayerSpec(
        f"SpatialDropout{rank}D", ("rate",), {"seed": None}, build, torch=(f"torch.nn.{kind}",),
        torch_kwargs={f"torch.nn.{kind}": ("p",)}, stateful=True,
        examples=(Example(f"layers.SpatialDropout{rank}D(0.3)", (6,) * rank + (4,),
                          (f"nn.{kind}(p=0.3)",)),),
    )


def _gaussian_noise(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    a.get("seed")
    std = a.code("stddev")
    return Built(out=ins[0], forward=f"{{x}} + {std} * torch.randn_like({{x}}) if self.training else {{x}}")


def _alpha_dropout(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    # torch's AlphaDropout uses Keras's SELU constants and affine correction
    if a.get("noise_shape") is not None:
        raise Unsupported("AlphaDropout(noise_shape=...) has no torch equivalent")
    a.get("seed")
    return Built(out=ins[0], forward="{m}({x})",
                 modules=(("", f"nn.AlphaDropout(p={a.code('rate')})"),))


def _gaussian_dropout(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    # Keras: x * N(1, sqrt(rate / (1 - rate))) while training, identity otherwise
    a.get("seed")
    rate = a.code("rate")
    std = f"({rate} / (1 - {rate})) ** 0.5"
    return Built(out=ins[0], forward=(f"{{x}} * (1 + {std} * torch.randn_like({{x}})) "
                                      "if self.training else {x}"))


def _masking(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    # Keras zeroes the steps whose features all equal mask_value and passes a mask on;
    # torch layers take no implicit mask, so later layers see the zeroed steps
    value = a.code("mask_value")
    return Built(out=ins[0], layout="keras",
                 forward=f"{{x}} * ({{x}} != {value}).any(dim=-1, keepdim=True)",
                 warnings=("Masking: the zeroed steps are computed as in Keras, but torch layers "
                           "after it do not skip them (no implicit masks)",))


def _flatten(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if a.get("data_format") not in (None, "channels_last"):
        raise Unsupported("Flatten(data_format='channels_first')")
    # Keras flattens in H, W, C order: "keras" layout makes the converter permute back first.
    return Built(out=(flat(ins[0]),), forward="torch.flatten({x}, 1)", layout="keras")


def _reshape(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    try:
        value = a.get("target_shape")
    except NotStatic:
        return symbolic_reshape(a, ins[0], ctx.input_names)
    if isinstance(value, RunTimeShape):
        return symbolic_reshape(a, ins[0], ctx.input_names)
    target = tuple(value)
    total = product(ins[0])
    out = list(target)
    if -1 in target and isinstance(total, int):
        rest = product([d for d in target if d != -1])
        out[target.index(-1)] = total // rest if isinstance(rest, int) and rest else None
    dims = ", ".join(str(d) for d in target)
    return Built(out=tuple(out), forward=f"{{x}}.reshape({{x}}.size(0), {dims})", layout="keras")


def _permute(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    dims = tuple(a.get("dims"))
    out = tuple(ins[0][d - 1] for d in dims)
    return Built(out=out, forward=f"{{x}}.permute(0, {', '.join(map(str, dims))})", layout="keras")


def _repeat_vector(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    n = a.value("n")
    return Built(out=(n,) + tuple(ins[0]), forward=f"{{x}}.unsqueeze(1).repeat(1, {n}, 1)")


def _identity(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    return Built(out=ins[0])


def _rescaling(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    offset = a.get("offset")
    expr = binop("{x}", "*", a.code("scale"))
    if offset:
        expr = binop(expr, "+", a.code("offset"))
    return Built(out=ins[0], forward=expr)


def _normalization(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    # a name is kept (the statistics adapt_normalization computed: training/adapted_norms.py)
    if a.values.get("mean") is None or a.values.get("variance") is None:
        raise Unsupported("Normalization without mean/variance needs adapt(): compute them first")
    axis = a.get("axis")
    if axis not in (-1, len(ins[0]), None):  # None: one mean and variance for every value
        raise Unsupported("Normalization over an axis other than the last")
    mean, var = a.code("mean"), a.code("variance")
    # Keras: (x - mean) / max(sqrt(var), epsilon) with epsilon 1e-7; invert: its inverse.
    scale = "{m_var}.sqrt().clamp_min(1e-7)"
    return Built(
        out=ins[0],
        forward=f"{{m_mean}} + {{x}} * {scale}" if a.get("invert")
        else f"({{x}} - {{m_mean}}) / {scale}",
        modules=(("mean", f"torch.tensor({mean}, dtype=torch.float32)"),
                 ("var", f"torch.tensor({var}, dtype=torch.float32)")),
        layout="keras",
    )


def _input_layer(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    return Built(out=ins[0])


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "Dense",
        ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer"),
        DENSE_LIKE_DEFAULTS,
        _dense,
        torch=("torch.nn.Linear", "torch.nn.LazyLinear", "torch.nn.init.xavier_uniform_",
               "torch.nn.init.zeros_"),
        torch_kwargs={"torch.nn.Linear": ("in_features", "out_features", "bias")},
        port="dense",
        stateful=True,
        examples=(
            Example("layers.Dense(4)", (3,), ("nn.Linear(3, 4)", "nn.init.xavier_uniform_(")),
            Example('layers.Dense(5, activation="relu", use_bias=False)', (7,),
                    ("nn.Linear(7, 5, bias=False)", "F.relu("), forbid=("nn.init.zeros_",)),
            Example('layers.Dense(3, activation="softmax")', (6,), ("F.softmax(", "dim=-1")),
            Example('layers.Dense(2, activation="tanh")', (4, 5), ("nn.Linear(5, 2)", "torch.tanh(")),
            Example('layers.Dense(3, kernel_initializer="he_uniform", bias_initializer="ones")',
                    (4,), ('nn.init.kaiming_uniform_(', 'nn.init.ones_(')),
            Example('layers.Dense(3, kernel_regularizer="l2")', (4,),
                    ("def regularization_loss(self)", "0.01 * self.dense.weight.square().sum()")),
        ),
    ),
    LayerSpec(
        "Activation", ("activation",), {}, _activation,
        examples=(Example('layers.Activation("relu")', (4,), ("F.relu(",)),
                  Example('layers.Activation("softmax")', (5,), ("F.softmax(",)),
                  Example('layers.Activation("gelu")', (5,), ("F.gelu(",)),
                  Example('layers.Activation("selu")', (5,), ("F.selu(",)),
                  Example('layers.Activation("softplus")', (5,), ("F.softplus(",)),
                  Example('layers.Activation("swish")', (5,), ("F.silu(",)),
                  Example('layers.Activation("hard_sigmoid")', (5,), ("F.hardsigmoid(",)),
                  Example('layers.Activation("elu")', (5,), ("F.elu(",)),
                  Example('layers.Activation("sigmoid")', (5,), ("torch.sigmoid(",))),
    ),
    LayerSpec(
        "Dropout", ("rate", "noise_shape", "seed"), {"noise_shape": None, "seed": None}, _dropout,
        torch=("torch.nn.Dropout",), torch_kwargs={"torch.nn.Dropout": ("p",)}, stateful=True,
        examples=(Example("layers.Dropout(0.5)", (4,), ("nn.Dropout(p=0.5)",)),),
    ),
    _spatial_dropout("Dropout1d", 1),
    _spatial_dropout("Dropout2d", 2),
    LayerSpec(
        "GaussianNoise", ("stddev", "seed"), {"seed": None}, _gaussian_noise,
        torch=("torch.randn_like",),
        examples=(Example("layers.GaussianNoise(0.1)", (4,), ("torch.randn_like(",)),),
    ),
    LayerSpec(
        "AlphaDropout", ("rate", "noise_shape", "seed"), {"noise_shape": None, "seed": None},
        _alpha_dropout, torch=("torch.nn.AlphaDropout",),
        torch_kwargs={"torch.nn.AlphaDropout": ("p",)}, stateful=True,
        examples=(Example("layers.AlphaDropout(0.2)", (4,), ("nn.AlphaDropout(p=0.2)",)),),
    ),
    LayerSpec(
        "GaussianDropout", ("rate", "seed"), {"seed": None}, _gaussian_dropout,
        torch=("torch.randn_like",),
        examples=(Example("layers.GaussianDropout(0.3)", (4,),
                          ("(0.3 / (1 - 0.3)) ** 0.5 * torch.randn_like(", "self.training")),),
    ),
    LayerSpec(
        "Masking", ("mask_value",), {"mask_value": 0.0}, _masking,
        examples=(Example("layers.Masking()", (5, 3), ("!= 0.0).any(dim=-1",)),
                  Example("layers.Masking(mask_value=-1.0)", (5, 3), ("!= -1.0)",))),
    ),
    LayerSpec(
        "Flatten", ("data_format",), {"data_format": None}, _flatten, torch=("torch.flatten",),
        examples=(Example("layers.Flatten()", (2, 3), ("torch.flatten(",)),),
    ),
    LayerSpec(
        "Reshape", ("target_shape",), {}, _reshape,
        examples=(Example("layers.Reshape((3, 4))", (12,), (".reshape(",)),
                  Example("layers.Reshape((-1, 2))", (3, 4), (".reshape(",))),
    ),
    LayerSpec(
        "Permute", ("dims",), {}, _permute,
        examples=(Example("layers.Permute((2, 1))", (3, 4), (".permute(0, 2, 1)",)),),
    ),
    LayerSpec(
        "RepeatVector", ("n",), {}, _repeat_vector,
        examples=(Example("layers.RepeatVector(3)", (4,), (".repeat(1, 3, 1)",)),),
    ),
    LayerSpec("Identity", (), {}, _identity,
              examples=(Example("layers.Identity()", (4,), ()),)),
    LayerSpec(
        "Rescaling", ("scale", "offset"), {"offset": 0.0}, _rescaling,
        examples=(Example("layers.Rescaling(1.0 / 255)", (4,), ("* (1.0 / 255)",)),
                  Example("layers.Rescaling(2.0, offset=-1.0)", (4,), ("+ -1.0",))),
    ),
    LayerSpec(
        "Normalization", ("axis", "mean", "variance", "invert"),
        {"axis": -1, "mean": None, "variance": None, "invert": False}, _normalization,
        torch=("torch.tensor",), port=None,
        examples=(Example("layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])",
                          (3,), ("torch.tensor([1.0, 2.0, 3.0]",)),
                  Example("layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.0], "
                          "invert=True)", (2,), ("_mean + inp * ",)),
                  Example("layers.Normalization(axis=None, mean=2.0, variance=9.0)", (3, 2),
                          ("torch.tensor(2.0",))),
    ),
    LayerSpec("InputLayer", (), {}, _input_layer,
              ignorable=("name", "dtype", "shape", "input_shape", "batch_size", "sparse",
                         "batch_shape", "ragged")),
)
