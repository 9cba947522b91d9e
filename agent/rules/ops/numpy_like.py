"""Op rows for Keras 3's NumPy-style ``keras.ops`` (and ``keras.ops.nn``/``linalg``) functions
that have a direct torch counterpart: element-wise math, binary ops, axis moves, stacking,
reductions that ignore NaN, quantiles, linear algebra, attention.

Written with Keras 3's signatures (``keras.ops.moveaxis(x, source, destination)``); NumPy's
conventions are kept where torch's differ (``outer`` flattens, ``median`` interpolates,
``dot_product_attention`` takes ``(batch, time, heads, dim)``). A Python number given to a
binary op becomes a tensor, as Keras converts it. ``ALIASES`` name the Keras spellings of rows
that exist already (``amax`` is ``max``); ``NN_ALIASES`` the ``keras.ops.nn`` names that are the
same function as ``keras.ops``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from agent.rules.ops.spec import Bound, Op, atom
from agent.rules.spec import Unsupported

KOPS = "keras.ops"

ROWS: list[tuple[list[str], Op]] = []


def _row(names: list[str], op: Op) -> None:
    ROWS.append((names, op))


def _tensor(b: Bound, name: str) -> str:
    """A number literal becomes a tensor (torch's binary functions want one)."""
    node = b.nodes.get(name)
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    if isinstance(node, (cst.Integer, cst.Float)):
        return f"torch.as_tensor({b.code(name)})"
    return b.code(name)


def _binary(fn: str, first: str = "x1", second: str = "x2") -> Op:
    def handler(b: Bound) -> str:
        return f"{fn}({_tensor(b, first)}, {_tensor(b, second)})"
    return Op("", (first, second), pos=2, elementwise=True, handler=handler)


_UNARY = {
    "arccos": "torch.acos", "arccosh": "torch.acosh", "arcsin": "torch.asin",
    "arcsinh": "torch.asinh", "arctan": "torch.atan", "arctanh": "torch.atanh",
    "deg2rad": "torch.deg2rad", "rad2deg": "torch.rad2deg", "exp2": "torch.exp2",
    "log2": "torch.log2", "log10": "torch.log10", "trunc": "torch.trunc",
    "signbit": "torch.signbit", "isneginf": "torch.isneginf", "isposinf": "torch.isposinf",
    "erfinv": "torch.erfinv", "i0": "torch.i0", "sinc": "torch.sinc",
    "log_sigmoid": "F.logsigmoid", "hard_silu": "F.hardswish", "hard_swish": "F.hardswish",
    "hard_tanh": "F.hardtanh", "tanh_shrink": "F.tanhshrink",
    "ravel": "torch.ravel", "fliplr": "torch.fliplr", "flipud": "torch.flipud",
    "copy": "torch.clone", "logdet": "torch.logdet",
}
_AXIS_BOUND = ("ravel", "fliplr", "flipud", "logdet")  # read axes: layout matters
for _name, _fn in _UNARY.items():
    _row([f"{KOPS}.{_name}"], Op(_fn, ("x",), elementwise=_name not in _AXIS_BOUND))

_BINARY = {
    "arctan2": "torch.atan2", "floor_divide": "torch.floor_divide", "mod": "torch.remainder",
    "fmod": "torch.fmod", "true_divide": "torch.true_divide", "hypot": "torch.hypot",
    "logaddexp": "torch.logaddexp", "heaviside": "torch.heaviside", "fmax": "torch.fmax",
    "fmin": "torch.fmin", "kron": "torch.kron", "inner": "torch.inner",
}
for _name, _fn in _BINARY.items():
    _row([f"{KOPS}.{_name}"], _binary(_fn))
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _row([f"{KOPS}.{_name}"], _binary(f"torch.{_name}", "x", "y"))

# activations with a threshold/alpha/axis
_row([f"{KOPS}.soft_shrink"], Op("F.softshrink", ("x", "threshold"),
                                 renames={"threshold": "lambd"}, elementwise=True))
_row([f"{KOPS}.hard_shrink"], Op("F.hardshrink", ("x", "threshold"),
                                 renames={"threshold": "lambd"}, elementwise=True))
_row([f"{KOPS}.celu"], Op("F.celu", ("x", "alpha"), renames={"alpha": "alpha"},
                          elementwise=True))
_row([f"{KOPS}.glu"], Op("F.glu", ("x", "axis"), renames={"axis": "dim"},
                         explicit={"axis": "-1"}))
_row([f"{KOPS}.normalize"], Op(
    "F.normalize", ("x", "axis", "order", "epsilon"),
    renames={"axis": "dim", "order": "p", "epsilon": "eps"},
    explicit={"axis": "-1", "epsilon": "1e-07"}, defaults={"order": "2"},
    examples=(("keras.ops.normalize(x)", "F.normalize(x, dim=-1, eps=1e-07)"),)))

# comparison and selection
_row([f"{KOPS}.isclose"], Op("torch.isclose", ("x1", "x2", "rtol", "atol", "equal_nan"),
                             pos=2))
_row([f"{KOPS}.isin"], Op("torch.isin", ("x1", "x2", "assume_unique", "invert"), pos=2))
_row([f"{KOPS}.nonzero"], Op("", ("x",), handler=lambda b: (
    f"torch.nonzero({b.code('x')}, as_tuple=True)")))  # NumPy's tuple of index arrays
_row([f"{KOPS}.nan_to_num"], Op("torch.nan_to_num", ("x", "nan", "posinf", "neginf")))
_row([f"{KOPS}.take_along_axis"], Op("torch.take_along_dim", ("x", "indices", "axis"), pos=2,
                                     renames={"axis": "dim"}, defaults={"axis": "None"}))
_row([f"{KOPS}.argsort"], Op("torch.argsort", ("x", "axis"), renames={"axis": "dim"},
                             defaults={"axis": "-1"}))

# axes, stacking, diagonals
_row([f"{KOPS}.moveaxis"], Op("torch.movedim", ("x", "source", "destination"), pos=3))
_row([f"{KOPS}.swapaxes"], Op("torch.swapaxes", ("x", "axis1", "axis2"), pos=3))
for _name in ("hstack", "vstack", "dstack"):
    _row([f"{KOPS}.{_name}"], Op(f"torch.{_name}", ("xs",)))
_row([f"{KOPS}.rot90"], Op("torch.rot90", ("array", "k", "axes"), pos=2,
                           renames={"axes": "dims"}, defaults={"k": "1", "axes": "(0, 1)"}))
_row([f"{KOPS}.roll"], Op("torch.roll", ("x", "shift", "axis"), pos=2,
                          renames={"axis": "dims"}, defaults={"axis": "None"}))
_row([f"{KOPS}.diag"], Op("torch.diag", ("x", "k"), pos=2, defaults={"k": "0"}))
_row([f"{KOPS}.diagonal"], Op("torch.diagonal", ("x", "offset", "axis1", "axis2"),
                              renames={"axis1": "dim1", "axis2": "dim2"},
                              defaults={"offset": "0", "axis1": "0", "axis2": "1"}))


def _trace(b: Bound) -> str:
    """NumPy's trace sums the diagonal over ``axis1``/``axis2`` of any rank."""
    args = [b.code("x")] + [f"{torch}={b.code(k)}" for k, torch in (
        ("offset", "offset"), ("axis1", "dim1"), ("axis2", "dim2")) if b.has(k)]
    return f"torch.diagonal({', '.join(args)}).sum(-1)"


_row([f"{KOPS}.trace"], Op("", ("x", "offset", "axis1", "axis2"), handler=_trace,
                           examples=(("keras.ops.trace(m)", "torch.diagonal(m).sum(-1)"),)))


def _outer(b: Bound) -> str:
    """NumPy's outer flattens both operands; torch's wants vectors."""
    return f"torch.outer({atom(b.code('x1'))}.flatten(), {atom(b.code('x2'))}.flatten())"


_row([f"{KOPS}.outer"], Op("", ("x1", "x2"), pos=2, handler=_outer))


# statistics
def _reduce(fn: str) -> Op:
    return Op(fn, ("x", "axis", "keepdims"), renames={"axis": "dim", "keepdims": "keepdim"},
              defaults={"axis": "None", "keepdims": "False"})


_row([f"{KOPS}.nanmean"], _reduce("torch.nanmean"))
_row([f"{KOPS}.nansum"], _reduce("torch.nansum"))


def _quantile(q_scale: str) -> Callable[[Bound], str]:
    """``torch.quantile`` takes a float or a tensor (not a list) and floats only."""
    def handler(b: Bound) -> str:
        if b.lit("method", "linear") not in ("linear", "lower", "higher", "midpoint",
                                              "nearest"):
            raise Unsupported(f"{b.op}(method={b.code('method')})")
        node = b.nodes.get("q")
        q = b.code("q", "0.5")
        if isinstance(node, (cst.Integer, cst.Float)):  # a percent literal divided here
            q = repr(float(node.evaluated_value) / 100) if q_scale else q
        elif b.has("q"):  # a list or a tensor: divided where it runs
            q = f"torch.as_tensor({q}, dtype=torch.float32)" + (
                f" / {q_scale}" if q_scale else "")
        args = [b.code("x"), q] + [f"{torch}={b.code(k)}" for k, torch in (
            ("axis", "dim"), ("keepdims", "keepdim"), ("method", "interpolation"))
            if b.has(k) and not b.is_default(k, {"axis": "None", "keepdims": "False",
                                                  "method": '"linear"'}[k])]
        return f"torch.quantile({', '.join(args)})"
    return handler


_row([f"{KOPS}.quantile"], Op("", ("x", "q", "axis", "method", "keepdims"), pos=2,
                              handler=_quantile("")))
_row([f"{KOPS}.percentile"], Op("", ("x", "q", "axis", "method", "keepdims"), pos=2,
                                handler=_quantile("100")))
_row([f"{KOPS}.median"], Op("", ("x", "axis", "keepdims"), handler=_quantile(""),
                            examples=(("keras.ops.median(x, axis=1)",
                                       "torch.quantile(x, 0.5, dim=1)"),)))


def _average(b: Bound) -> str:
    if b.has("weights") and b.code("weights") != "None":
        raise Unsupported(f"{b.op}(weights=...): weighted averages are not converted")
    if b.has("axis") and b.code("axis") != "None":
        return f"torch.mean({b.code('x')}, dim={b.code('axis')})"
    return f"torch.mean({b.code('x')})"


_row([f"{KOPS}.average"], Op("", ("x", "axis", "weights"), handler=_average))

# construction and conversion
_row([f"{KOPS}.identity"], Op("torch.eye", ("n", "dtype"), fixed={"dtype": "None"}))
_row([f"{KOPS}.empty"], Op("torch.empty", ("shape", "dtype"), fixed={"dtype": "None"}))
_row([f"{KOPS}.full_like"], Op("torch.full_like", ("x", "fill_value", "dtype"), pos=2,
                               fixed={"dtype": "None"}))
_row([f"{KOPS}.convert_to_numpy"], Op(
    "", ("x",), handler=lambda b: f"torch.as_tensor({b.code('x')}).detach().cpu().numpy()",
    examples=(("keras.ops.convert_to_numpy(y)", "torch.as_tensor(y).detach().cpu().numpy()"),)))

# linear algebra (keras.ops.X and keras.ops.linalg.X)
_LINALG = {"det": "torch.linalg.det", "inv": "torch.linalg.inv", "eigh": "torch.linalg.eigh",
           "slogdet": "torch.linalg.slogdet"}
for _name, _fn in _LINALG.items():
    _row([f"{KOPS}.{_name}", f"{KOPS}.linalg.{_name}"], Op(_fn, ("x",)))
_row([f"{KOPS}.solve", f"{KOPS}.linalg.solve"], Op("torch.linalg.solve", ("a", "b"), pos=2))
_row([f"{KOPS}.cholesky", f"{KOPS}.linalg.cholesky"],
     Op("torch.linalg.cholesky", ("x", "upper"), defaults={"upper": "False"}))
_row([f"{KOPS}.qr", f"{KOPS}.linalg.qr"], Op("torch.linalg.qr", ("x", "mode"),
                                             defaults={"mode": '"reduced"'}))


def _svd(b: Bound) -> str:
    if b.lit("compute_uv", True) is False:
        return f"torch.linalg.svdvals({b.code('x')})"
    full = f", full_matrices={b.code('full_matrices')}" if b.has("full_matrices") else ""
    return f"torch.linalg.svd({b.code('x')}{full})"


_row([f"{KOPS}.svd", f"{KOPS}.linalg.svd"], Op("", ("x", "full_matrices", "compute_uv"),
                                               handler=_svd))


def _attention(b: Bound) -> str:
    """Keras takes ``(batch, time, heads, dim)``, torch ``(batch, heads, time, dim)``: the
    time and head axes swap on the way in and out. An additive ``bias`` is torch's
    ``attn_mask``; a boolean ``mask`` (True = attend) becomes Keras's additive form."""
    for flag in ("flash_attention", "attn_logits_soft_cap"):
        if b.has(flag) and b.code(flag) != "None":
            raise Unsupported(f"{b.op}({flag}=...)")
    given = [k for k in ("bias", "mask") if b.has(k) and b.code(k) != "None"]
    causal = b.has("is_causal") and b.code("is_causal") != "False"
    if len(given) > 1 or ("mask" in given and causal):
        raise Unsupported(f"{b.op}: {' and '.join(given + ['is_causal'] * causal)} together")
    q, k, v = (f"{atom(b.code(n))}.transpose(1, 2)" for n in ("query", "key", "value"))
    extra = [f"attn_mask={b.code('bias')}"] if given == ["bias"] else []
    if given == ["mask"]:  # Keras's large negative, not -inf: a row masked whole averages
        extra = [f"attn_mask=torch.where({b.code('mask')}, 0.0, "
                 f"torch.finfo({atom(b.code('query'))}.dtype).min * 0.7)"]
    extra += [f"{n}={b.code(n)}" for n in ("scale", "is_causal")
              if b.has(n) and b.code(n) not in ("None", "False")]
    return f"F.scaled_dot_product_attention({', '.join([q, k, v, *extra])}).transpose(1, 2)"


_row([f"{KOPS}.dot_product_attention"], Op(
    "", ("query", "key", "value", "bias", "mask", "scale", "is_causal", "flash_attention",
         "attn_logits_soft_cap"), pos=3, handler=_attention))

# Keras spellings of rows that exist already (alias -> row)
ALIASES: dict[str, str] = {
    f"{KOPS}.absolute": f"{KOPS}.abs", f"{KOPS}.fabs": f"{KOPS}.abs",
    f"{KOPS}.amax": f"{KOPS}.max", f"{KOPS}.amin": f"{KOPS}.min",
    f"{KOPS}.unstack": "tensorflow.unstack",
}
# keras.ops.nn.X is keras.ops.X (the same function object in Keras 3)
NN_ALIASES: tuple[str, ...] = (
    "relu", "relu6", "sigmoid", "softplus", "softsign", "silu", "swish", "log_sigmoid",
    "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish", "elu", "selu", "gelu", "celu",
    "glu", "softmax", "log_softmax", "one_hot", "hard_tanh", "tanh_shrink", "soft_shrink",
    "hard_shrink", "normalize", "dot_product_attention", "ctc_loss", "ctc_decode",
)
