"""MultiHeadAttention → nn.MultiheadAttention; Attention (dot-product) → torch ops.

Keras's MHA allows ``key_dim * num_heads != query dim``, a separate ``value_dim``, unknown
input sizes, ``output_shape``, ``attention_axes``, an ``attention_mask`` tensor and
``return_attention_scores``; torch's module does not, so those become the copied runtime
module ``LazyMultiHeadAttention`` (training/runtime/attention_forms.py). Keras calls
``mha(query, value[, key])`` (key defaults to value); torch's order is (query, key, value).
Keras computes glorot fans from its (D, heads, key_dim) kernels, so the bounds are written
out rather than left to torch's xavier on the packed (3E, E) weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.rules.arith import binop
from agent.rules.layers.common import dim_code
from agent.rules.models.lazy import LAZY
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported
from agent.rules.values import Value

MHA_DEFAULTS = {
    "value_dim": None, "dropout": 0.0, "use_bias": True, "output_shape": None,
    "attention_axes": None, "sliding_window": None, "flash_attention": None,
    "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
    "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None, "use_gate": False, "seed": None,
}

_MASKS = ("attention_mask", "query_mask", "value_mask", "key_mask", "mask")

# call arguments that are tensors, passed to the runtime module as converted code
TENSOR_CALL_ARGS = {"MultiHeadAttention": ("attention_mask",)}


@dataclass(frozen=True)
class TensorArg(Value):
    """A tensor call argument whose ``code`` is already written in forward's terms."""


def _sized(d: object) -> bool:
    return isinstance(d, int) or (isinstance(d, str) and LAZY not in d)


def _lazy_mha(a: Args, ins: Sequence[Shape], ctx: BuildContext, why: str) -> Built:
    """The runtime module: projections built on the first call, Keras's own call."""
    args = [f"num_heads={a.code('num_heads')}", f"key_dim={a.code('key_dim')}"]
    for name in ("value_dim", "dropout", "output_shape", "attention_axes"):
        if a.get(name):
            args.append(f"{name}={a.code(name)}")
    if not a.get("use_bias"):
        args.append("use_bias=False")
    call = ["{x0}", "{x1}"] + (["{x2}"] if len(ins) > 2 else [])
    mask = ctx.call_kwargs.get("attention_mask")
    if mask is not None:
        if not isinstance(mask, TensorArg):
            raise Unsupported("MultiHeadAttention call with attention_mask=: pass it as "
                              "attn_mask by hand")
        call.append(f"attention_mask={mask.code}")
    scores = _flag(ctx, "return_attention_scores")
    if scores:
        call.append("return_attention_scores=True")
    if _flag(ctx, "use_causal_mask"):
        call.append("use_causal_mask=True")
    query = ins[0]
    out_dim = a.get("output_shape")
    tail = (tuple(out_dim) if isinstance(out_dim, (list, tuple)) else (out_dim,)) \
        if out_dim is not None else (query[-1],)
    out: Shape = (*query[:-1], *tail)
    return Built(out=[out, ()] if scores else out, forward="{m}(" + ", ".join(call) + ")",
                 layout="keras", lazy=True,
                 modules=(("", f"LazyMultiHeadAttention({', '.join(args)})"),),
                 warnings=(f"MultiHeadAttention ({why}): runtime attention module sized on its "
                           "first call, with Keras's initializers and call",))


def _flag(ctx: BuildContext, name: str) -> bool:
    v = ctx.call_kwargs.get(name)
    if v is None:
        return False
    if not v.known:
        raise Unsupported(f"{name}={v.code} must be a literal")
    return bool(v.value)


def _bound(fan: str) -> str:
    return f"(6 / {fan}) ** 0.5"


def _uniform(target: str, fan: str) -> str:
    return f"nn.init.uniform_({target}, -{_bound(fan)}, {_bound(fan)})"


def _fan(dim: int | str, heads: int, per_head: int | str) -> str:
    if isinstance(dim, int) and isinstance(per_head, int):
        return str(dim * (heads + per_head))
    return binop(dim, "*", binop(heads, "+", per_head))


def _torch_form_refused(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> str:
    """Why nn.MultiheadAttention cannot be this layer ("" when it can)."""
    if any(not shape or not _sized(shape[-1]) for shape in ins):
        return "input sizes unknown statically"
    for name in ("output_shape", "attention_axes", "value_dim"):
        if a.get(name) is not None and not (name == "value_dim"
                                            and a.get(name) == a.get("key_dim")):
            return f"{name}={a.code(name)}"
    if "attention_mask" in ctx.call_kwargs or _flag(ctx, "return_attention_scores"):
        return "attention_mask / attention scores"
    if any(len(shape) != 2 for shape in ins):
        return "inputs other than (batch, seq, features)"
    heads, key_dim = int(a.get("num_heads")), a.get("key_dim")
    if not isinstance(ins[0][-1], int) or heads * int(key_dim) != ins[0][-1]:
        return f"num_heads * key_dim = {heads} * {key_dim} != query size"
    return ""


def _mha(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if len(ins) < 2:
        raise Unsupported("MultiHeadAttention needs query and value tensors; only one reached "
                          "the converter (call it as mha(query, value[, key]))")
    for name in ("sliding_window", "kernel_regularizer",
                 "bias_regularizer", "activity_regularizer", "kernel_constraint",
                 "bias_constraint"):
        if a.get(name) is not None:
            raise Unsupported(f"MultiHeadAttention({name}={a.code(name)})")
    if a.get("use_gate"):
        raise Unsupported("MultiHeadAttention(use_gate=True)")
    for name in _MASKS[1:]:
        if name in ctx.call_kwargs:
            raise Unsupported(f"MultiHeadAttention call with {name}=: pass it as attn_mask by hand")
    if a.get("kernel_initializer") != "glorot_uniform":
        raise Unsupported(f"MultiHeadAttention(kernel_initializer={a.code('kernel_initializer')})")
    if a.get("bias_initializer") != "zeros":
        raise Unsupported(f"MultiHeadAttention(bias_initializer={a.code('bias_initializer')})")
    a.get("flash_attention")  # an implementation choice; same function
    a.get("seed")
    why = _torch_form_refused(a, ins, ctx)
    if why:
        return _lazy_mha(a, ins, ctx, why)
    causal = _flag(ctx, "use_causal_mask")
    query, value = ins[0], ins[1]
    key = ins[2] if len(ins) > 2 else value
    heads, key_dim = int(a.get("num_heads")), a.get("key_dim")
    embed = query[-1]
    assert isinstance(embed, int)  # _torch_form_refused: a literal size
    kdim, vdim = key[-1], value[-1]
    args = [str(embed), f"num_heads={heads}"]
    dropout = a.get("dropout")
    if dropout:
        args.append(f"dropout={a.code('dropout')}")
    use_bias = bool(a.get("use_bias"))
    if not use_bias:
        args.append("bias=False")
    separate = kdim != embed or vdim != embed
    if separate:
        args += [f"kdim={dim_code(kdim)}", f"vdim={dim_code(vdim)}"]
    args.append("batch_first=True")
    if separate:
        inits = [_uniform("{m}.q_proj_weight", _fan(embed, heads, key_dim)),
                 _uniform("{m}.k_proj_weight", _fan(dim_code(kdim), heads, key_dim)),
                 _uniform("{m}.v_proj_weight", _fan(dim_code(vdim), heads, key_dim))]
    else:
        inits = [_uniform("{m}.in_proj_weight", _fan(embed, heads, key_dim))]
    inits.append(_uniform("{m}.out_proj.weight", _fan(heads, key_dim, embed)))  # (H, vd, D)
    if use_bias:
        inits += ["nn.init.zeros_({m}.in_proj_bias)", "nn.init.zeros_({m}.out_proj.bias)"]
    k = "{x2}" if len(ins) > 2 else "{x1}"
    mask = ""
    if causal:  # Keras: query i attends to keys j <= i; torch's True means "masked out"
        mask = (", attn_mask=torch.ones({x0}.size(1), {x1}.size(1), dtype=torch.bool, "
                "device={x0}.device).triu(1)")
    forward = "{m}({x0}, " + k + ", {x1}, need_weights=False" + mask + ")[0]"
    return Built(out=query, forward=forward, layout="keras",
                 modules=(("", f"nn.MultiheadAttention({', '.join(args)})"),),
                 init=tuple(inits))


def _attention(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if len(ins) not in (2, 3):
        raise Unsupported("Attention takes [query, value] or [query, value, key]")
    if a.get("use_scale"):
        raise Unsupported("Attention(use_scale=True) has a trainable scale: write it by hand")
    if a.get("score_mode") != "dot":
        raise Unsupported(f"Attention(score_mode={a.code('score_mode')})")
    if "mask" in ctx.call_kwargs or _flag(ctx, "return_attention_scores") or _flag(
            ctx, "use_causal_mask"):
        raise Unsupported("Attention with mask/use_causal_mask/return_attention_scores")
    a.get("seed")
    query, value = ins[0], ins[1]
    if len(query) != 2 or len(value) != 2:
        raise Unsupported("Attention on inputs other than (batch, seq, features)")
    key = "{x2}" if len(ins) == 3 else "{x1}"
    weights = f"F.softmax({{x0}} @ {key}.transpose(1, 2), dim=-1)"
    dropout = a.get("dropout")
    if dropout:
        weights = f"F.dropout({weights}, p={a.code('dropout')}, training=self.training)"
    return Built(out=(query[0], value[1]), forward=f"{weights} @ {{x1}}", layout="keras")


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "MultiHeadAttention", ("num_heads", "key_dim", "value_dim", "dropout", "use_bias"),
        MHA_DEFAULTS, _mha,
        torch=("torch.nn.MultiheadAttention", "torch.nn.init.uniform_", "torch.nn.init.zeros_"),
        torch_kwargs={"torch.nn.MultiheadAttention": ("embed_dim", "num_heads", "dropout",
                                                      "bias", "kdim", "vdim", "batch_first")},
        port="multi_head_attention", stateful=True,
        call_args=("query", "value", "key", "use_causal_mask", "return_attention_scores",
                   *_MASKS),
        examples=(
            Example("layers.MultiHeadAttention(num_heads=2, key_dim=4)", (5, 8),
                    ("nn.MultiheadAttention(8, num_heads=2, batch_first=True)",
                     "need_weights=False")),
            Example("layers.MultiHeadAttention(2, 3, use_bias=False)", (4, 6),
                    ("bias=False",)),
        ),
    ),
    LayerSpec(
        "Attention", ("use_scale", "score_mode", "dropout", "seed"),
        {"use_scale": False, "score_mode": "dot", "dropout": 0.0, "seed": None}, _attention,
        torch=("torch.nn.functional.softmax", "torch.nn.functional.dropout"),
        torch_kwargs={"torch.nn.functional.softmax": ("dim",),
                      "torch.nn.functional.dropout": ("p", "training")},
        examples=(Example("layers.Attention()", (5, 4), ("F.softmax(", ".transpose(1, 2)")),),
        call_args=("mask", "return_attention_scores", "use_causal_mask"),
    ),
)
