"""Normalisation and embedding layers: where Keras's eps/momentum defaults differ from torch's.

BatchNormalization: Keras momentum 0.99 weighs the *old* running value, torch's 0.1 the *new*
one, so ``momentum = 1 - keras_momentum``; Keras eps is 1e-3 vs torch's 1e-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from agent.rules.initializers import init_statement
from agent.rules.layers.common import dim_code, keras_axis
from agent.rules.models.lazy import LAZY
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported
from agent.rules.values import code_of


def _batch_norm(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    rank = len(shape)
    if keras_axis(a.get("axis"), rank) != rank:
        raise Unsupported("BatchNormalization over an axis other than the channel axis")
    for arg, default in (("beta_initializer", "zeros"), ("gamma_initializer", "ones"),
                         ("moving_mean_initializer", "zeros"),
                         ("moving_variance_initializer", "ones")):
        if a.get(arg) != default:
            raise Unsupported(f"BatchNormalization({arg}={a.code(arg)})")
    momentum = round(1.0 - float(a.get("momentum")), 10)
    eps = a.code("epsilon") if a.has("epsilon") else "1e-3"
    center, scale = bool(a.get("center")), bool(a.get("scale"))
    dim = {1: 1, 2: 1, 3: 2, 4: 3}.get(rank)
    if dim is None:
        raise Unsupported(f"BatchNormalization on rank-{rank} inputs")
    args = [dim_code(shape[-1]), f"eps={eps}", f"momentum={momentum}"]
    init: tuple[str, ...] = ()
    if not center and not scale:
        args.append("affine=False")
    elif not center:
        init = ("{m}.bias.requires_grad_(False)",)
    elif not scale:
        init = ("{m}.weight.requires_grad_(False)",)
    if a.get("synchronized"):
        raise Unsupported("BatchNormalization(synchronized=True): use nn.SyncBatchNorm")
    return Built(out=shape, forward="{m}({x})", layout="cf" if rank > 1 else "any",
                 modules=(("", f"nn.BatchNorm{dim}d({', '.join(args)})"),), init=init)


def _layer_norm(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    rank = len(shape)
    axis = a.get("axis")
    axes = sorted(keras_axis(x, rank) for x in (axis if isinstance(axis, (list, tuple)) else [axis]))
    if axes != list(range(rank - len(axes) + 1, rank + 1)):
        raise Unsupported("LayerNormalization over axes that are not the trailing ones")
    if a.get("rms_scaling"):
        raise Unsupported("LayerNormalization(rms_scaling=True): use nn.RMSNorm")
    normalized = [dim_code(shape[i - 1]) for i in axes]
    eps = a.code("epsilon") if a.has("epsilon") else "1e-3"
    center, scale = bool(a.get("center")), bool(a.get("scale"))
    if normalized == [LAZY]:  # size unknown here: the lazy form copied into the script
        if center and not scale:
            raise Unsupported("LayerNormalization(scale=False) with an unknown input size")
        flags = ["elementwise_affine=False"] if not center and not scale else \
            ["bias=False"] if not center else []
        return Built(out=shape, forward="{m}({x})", layout="keras", lazy=True,
                     modules=(("", f"LazyLayerNorm({', '.join([f'eps={eps}', *flags])})"),))
    norm = normalized[0] if len(normalized) == 1 else "(" + ", ".join(normalized) + ")"
    args = [norm, f"eps={eps}"]
    if not center and not scale:
        args.append("elementwise_affine=False")
    elif not center:
        args.append("bias=False")
    init: tuple[str, ...] = ()
    if center and not scale:
        init = ("{m}.weight.requires_grad_(False)",)
    return Built(out=shape, forward="{m}({x})", layout="keras",
                 modules=(("", f"nn.LayerNorm({', '.join(args)})"),), init=init)


def _embedding(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    w: list[str] = []
    if a.get("mask_zero"):
        w.append("Embedding(mask_zero=True): torch has no implicit masks; padded steps are "
                 "processed by later layers (use pack_padded_sequence where it matters)")
    # the torch weight is (input_dim, output_dim), Keras's own layout: fans and arrays carry over
    init = [init_statement(a, "embeddings_initializer", "{m}.weight", w, layout="keras")]
    if a.has("weights"):  # Keras 2: weights=[matrix] sets the table after building
        matrix = a.code("weights")
        node = a.values["weights"].node
        if not isinstance(node, (cst.List, cst.Tuple)) or len(node.elements) != 1:
            raise Unsupported(f"Embedding(weights={matrix}) is not a one-element list")
        first = code_of(node.elements[0].value)
        init.append(f"{{m}}.weight.data.copy_(torch.as_tensor({first}, dtype=torch.float32))")
    if a.has("trainable"):
        trainable = a.get("trainable")
        if trainable is False:
            init.append("{m}.weight.requires_grad_(False)")
        elif trainable is not True:
            raise Unsupported(f"Embedding(trainable={a.code('trainable')}) must be a literal")
    out = tuple(ins[0]) + (a.value("output_dim"),)
    return Built(
        out=out, forward="{m}({x})", layout="keras",
        modules=(("", f"nn.Embedding({a.code('input_dim')}, {a.code('output_dim')})"),),
        init=tuple(init), warnings=tuple(w),
    )


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "BatchNormalization", ("axis", "momentum", "epsilon", "center", "scale"),
        {"axis": -1, "momentum": 0.99, "epsilon": 1e-3, "center": True, "scale": True,
         "beta_initializer": "zeros", "gamma_initializer": "ones",
         "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones",
         "synchronized": False},
        _batch_norm, torch=("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d"),
        torch_kwargs={f"torch.nn.BatchNorm{i}d": ("num_features", "eps", "momentum", "affine")
                      for i in (1, 2, 3)},
        port="batch_norm", stateful=True,
        examples=(
            Example("layers.BatchNormalization()", (4,),
                    ("nn.BatchNorm1d(4, eps=1e-3, momentum=0.01)",)),
            Example("layers.BatchNormalization(momentum=0.9, epsilon=1e-5)", (5, 5, 3),
                    ("nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)",)),
            Example("layers.BatchNormalization(center=False)", (6, 2),
                    ("nn.BatchNorm1d(2", "requires_grad_(False)")),
        ),
    ),
    LayerSpec(
        "LayerNormalization", ("axis", "epsilon", "center", "scale"),
        {"axis": -1, "epsilon": 1e-3, "center": True, "scale": True, "rms_scaling": False},
        _layer_norm, torch=("torch.nn.LayerNorm",),
        torch_kwargs={"torch.nn.LayerNorm": ("normalized_shape", "eps", "elementwise_affine",
                                             "bias")},
        port="layer_norm", stateful=True,
        examples=(
            Example("layers.LayerNormalization()", (4,), ("nn.LayerNorm(4, eps=1e-3)",)),
            Example("layers.LayerNormalization(epsilon=1e-6)", (3, 4), ("eps=1e-6",)),
            Example("layers.LayerNormalization(axis=[-2, -1])", (3, 4), ("nn.LayerNorm((3, 4)",)),
        ),
    ),
    LayerSpec(
        "Embedding", ("input_dim", "output_dim", "embeddings_initializer"),
        {"embeddings_initializer": "uniform", "mask_zero": False, "trainable": True},
        _embedding, torch=("torch.nn.Embedding", "torch.nn.init.uniform_"),
        torch_kwargs={"torch.nn.Embedding": ("num_embeddings", "embedding_dim")},
        port="embedding", stateful=True,
        ignorable=("name", "dtype", "input_shape", "input_length", "batch_size"),
        examples=(Example("layers.Embedding(50, 8)", (6,),
                          ("nn.Embedding(50, 8)", "nn.init.uniform_(", "-0.05, 0.05")),
                  Example('layers.Embedding(20, 4, embeddings_initializer="he_normal")', (6,),
                          ("nn.init.trunc_normal_(", "[..., 0].numel()")),),
    ),
)
