"""MultiHeadAttention → nn.MultiheadAttention; Attention (dot-product) → torch ops.

Keras's MHA allows ``key_dim * num_heads != query dim`` and a separate ``value_dim``;
torch's module does not, so those stay unconverted (with the reason). Keras calls
``mha(query, value[, key])`` (key defaults to value); torch's order is (query, key, value).
Keras computes glorot fans from its (D, heads, key_dim) kernels, so the bounds are written
out rather than left to torch's xavier on the packed (3E, E) weight.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.arith import binop
from agent.rules.layers.common import dim_code
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported

MHA_DEFAULTS = {
    "value_dim": None, "dropout": 0.0, "use_bias": True, "output_shape": None,
    "attention_axes": None, "sliding_window": None, "flash_attention": None,
    "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
    "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None, "use_gate": False, "seed": None,
}

_MASKS = ("attention_mask", "query_mask", "value_mask", "key_mask", "mask")


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


def _mha(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if len(ins) < 2:
        raise Unsupported("MultiHeadAttention needs query and value tensors; only one reached "
                          "the converter (call it as mha(query, value[, key]))")
    for name in ("output_shape", "attention_axes", "sliding_window", "kernel_regularizer",
                 "bias_regularizer", "activity_regularizer", "kernel_constraint",
                 "bias_constraint"):
        if a.get(name) is not None:
            raise Unsupported(f"MultiHeadAttention({name}={a.code(name)})")
    if a.get("use_gate"):
        raise Unsupported("MultiHeadAttention(use_gate=True)")
    for name in _MASKS:
        if name in ctx.call_kwargs:
            raise Unsupported(f"MultiHeadAttention call with {name}=: pass it as attn_mask by hand")
    if _flag(ctx, "return_attention_scores"):
        raise Unsupported("MultiHeadAttention(return_attention_scores=True)")
    causal = _flag(ctx, "use_causal_mask")
    a.get("flash_attention")  # an implementation choice; same function
    a.get("seed")
    query, value = ins[0], ins[1]
    key = ins[2] if len(ins) > 2 else value
    if len(query) != 2 or len(value) != 2 or len(key) != 2:
        raise Unsupported("MultiHeadAttention on inputs other than (batch, seq, features)")
    heads, key_dim = int(a.get("num_heads")), a.get("key_dim")
    value_dim = a.get("value_dim")
    if value_dim is not None and value_dim != key_dim:
        raise Unsupported("MultiHeadAttention(value_dim != key_dim): nn.MultiheadAttention "
                          "has one head size")
    embed = query[-1]
    if not isinstance(embed, int) or heads * int(key_dim) != embed:
        raise Unsupported(f"MultiHeadAttention with num_heads * key_dim = {heads} * {key_dim} "
                          f"!= query dim {embed}: nn.MultiheadAttention needs them equal")
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
    if a.get("kernel_initializer") != "glorot_uniform":
        raise Unsupported(f"MultiHeadAttention(kernel_initializer={a.code('kernel_initializer')})")
    if a.get("bias_initializer") != "zeros":
        raise Unsupported(f"MultiHeadAttention(bias_initializer={a.code('bias_initializer')})")
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
