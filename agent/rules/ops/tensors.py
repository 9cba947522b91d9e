"""Op rows for shape queries, tensor creation, random draws, comparisons and restructuring.

Shapes: ``tf.shape(x)`` / ``K.shape(x)`` become ``x.shape`` (a ``torch.Size``: indexing gives
ints, and torch accepts it wherever TF accepts a shape tensor). Created tensors follow the
device of a tensor named in their shape (``tf.random.normal((tf.shape(z)[0], 2))`` →
``torch.randn(..., device=z.device)``) so converted code also runs on a GPU.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from agent.rules.ops.dtypes import dtype, is_int
from agent.rules.ops.spec import Bound, Op, atom, literal
from agent.rules.ops.string_values import is_string
from agent.rules.spec import Unsupported
from agent.rules.values import code_of, evaluate

TF, MATH, KOPS, K, RAND, KRAND, LINALG = (
    "tensorflow", "tensorflow.math", "keras.ops", "keras.backend", "tensorflow.random",
    "keras.random", "tensorflow.linalg")

ROWS: list[tuple[list[str], Op]] = []


def _row(names: list[str], op: Op) -> None:
    ROWS.append((names, op))


_SHAPE_OF = re.compile(r"([A-Za-z_][\w.]*(?:\[[^\[\]]*\])*)\.shape\b")


def _device(*codes: str) -> str:
    """``, device=t.device`` for the first tensor whose shape the arguments read."""
    for code in codes:
        m = _SHAPE_OF.search(code)
        if m:
            return f", device={m.group(1)}.device"
    return ""


def _dtype_kw(b: Bound, name: str = "dtype", default: str = "torch.float32") -> str:
    if b.is_default(name, "None"):
        return ""
    d = dtype(b, name)
    return "" if d == default else f", dtype={d}"


def _shape(code: str) -> str:
    """A Keras shape argument as torch's size argument (lists become tuples)."""
    if code.startswith("[") and code.endswith("]"):
        inner = code[1:-1].strip().rstrip(",")
        return f"({inner},)" if inner and "," not in inner else f"({inner})"
    return code


# ---------------------------------------------------------------------------- shapes
def _attr(suffix: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        return f"{atom(b.code(b.first()))}{suffix}"

    return handler


_row([f"{TF}.shape", f"{K}.shape"], Op("", ("input", "out_type"), handler=_attr(".shape"),
                                      examples=(("tf.shape(x)[0]", "x.shape[0]"),)))
_row([f"{KOPS}.shape", f"{K}.int_shape"], Op(
    "", ("x",), handler=lambda b: f"tuple({atom(b.code('x'))}.shape)",
    examples=(("K.int_shape(x)[-1]", "tuple(x.shape)[-1]"),)))
# a static shape (a recurrent cell's state_size): torch's tuple of sizes
_row([f"{TF}.TensorShape"], Op("torch.Size", ("dims",),
                               examples=(("tf.TensorShape([4, n])", "torch.Size([4, n])"),)))
_row([f"{TF}.rank", f"{K}.ndim", f"{KOPS}.ndim"], Op("", ("input",), handler=_attr(".dim()")))
_row([f"{TF}.size", f"{KOPS}.size"], Op("", ("input",), handler=_attr(".numel()")))


# Keras's global settings, as converted code has them: channels-last tensors, float32.
_row([f"{K}.image_data_format", "keras.config.image_data_format"], Op(
    "", (), pos=0, handler=lambda b: '"channels_last"',
    examples=(("K.image_data_format()", '"channels_last"'),)))
_row([f"{K}.floatx", "keras.config.floatx"], Op("", (), pos=0, handler=lambda b: '"float32"'))


# ---------------------------------------------------------------------------- creation
def _ints(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_ints(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def _arange(start: str, stop: str, step: str, int32: bool = False) -> Callable[[Bound], str]:
    """TF infers the dtype: int literals give int32 (torch: int64); ``int32``: always
    int32 unless a dtype is given (``K.arange``)."""

    def handler(b: Bound) -> str:
        args = [b.code(start)]
        if b.has(stop) and b.code(stop) != "None":
            args.append(b.code(stop))
        if b.has(step) and b.code(step) not in ("1", "None"):
            if len(args) == 1:
                args = ["0", args[0]]
            args.append(b.code(step))
        d = "" if b.is_default("dtype", "None") else f", dtype={dtype(b, 'dtype')}"
        if not d and (int32 or all(_ints(b.lit(p)) for p in (start, stop, step) if b.has(p))):
            d = ", dtype=torch.int32"
        return f"torch.arange({', '.join(args)}{d}{_device(*args)})"

    return handler


_row([f"{TF}.range"], Op("", ("start", "limit", "delta", "dtype"),
                         handler=_arange("start", "limit", "delta"),
                         examples=(("tf.range(n)", "torch.arange(n)"),
                                   ("tf.range(0, tf.shape(x)[1], 2)",
                                    "torch.arange(0, x.shape[1], 2, device=x.device)"))))
_row([f"{KOPS}.arange"], Op("", ("start", "stop", "step", "dtype"),
                           handler=_arange("start", "stop", "step")))
_row([f"{K}.arange"], Op("", ("start", "stop", "step", "dtype"),
                         handler=_arange("start", "stop", "step", int32=True)))


def _meshgrid(b: Bound) -> str:
    """TF's default indexing is "xy" (torch's is "ij"): always written out."""
    indexing = b.lit("indexing", "xy")
    if indexing not in ("xy", "ij"):  # a third tensor bound to ``indexing``
        raise Unsupported(f"{b.op}: more than two tensors")
    return f'torch.meshgrid({b.code("x")}, {b.code("y")}, indexing="{indexing}")'


_row([f"{TF}.meshgrid", f"{KOPS}.meshgrid"], Op(
    "", ("x", "y", "indexing"), pos=2, handler=_meshgrid,
    examples=(("tf.meshgrid(a, b)", 'torch.meshgrid(a, b, indexing="xy")'),)))
_row([f"{TF}.linspace", f"{KOPS}.linspace"], Op(
    "torch.linspace", ("start", "stop", "num", "axis"), pos=3, fixed={"axis": "0"},
    examples=(("tf.linspace(near, far, n)", "torch.linspace(near, far, n)"),)))


def _filled(fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        shape = _shape(b.code(b.first()))
        return f"{fn}({shape}{_dtype_kw(b)}{_device(shape)})"

    return handler


for _fn in ("ones", "zeros"):
    _row([f"{TF}.{_fn}", f"{KOPS}.{_fn}", f"{K}.{_fn}"],
         Op("", ("shape", "dtype"), handler=_filled(f"torch.{_fn}")))
_row([f"{TF}.fill"], Op("", ("dims", "value"), handler=lambda b: (
    f"torch.full({_shape(b.code('dims'))}, {b.code('value')}{_device(b.code('dims'))})")))
_row([f"{KOPS}.full"], Op("", ("shape", "fill_value", "dtype"), handler=lambda b: (
    f"torch.full({_shape(b.code('shape'))}, {b.code('fill_value')}{_dtype_kw(b, default='')}"
    f"{_device(b.code('shape'))})")))
_row([f"{TF}.eye", f"{LINALG}.eye"], Op("", ("num_rows", "num_columns"), handler=lambda b: (
    f"torch.eye({b.code('num_rows')}" + (f", {b.code('num_columns')}" if b.has("num_columns")
                                          else "") + ")")))
_row([f"{KOPS}.eye"], Op("", ("N", "M"), handler=lambda b: (
    f"torch.eye({b.code('N')}" + (f", {b.code('M')}" if b.has("M") else "") + ")")))


def _as_tensor(b: Bound) -> str:
    """TF makes Python ints int32 (torch: int64); floats float32 and arrays keep theirs."""
    if b.has("shape") and b.code("shape") != "None":
        raise Unsupported(f"{b.op}(shape=...)")
    if is_string(b.nodes.get(b.first())):  # a string tensor: a NumPy string array
        if not b.is_default("dtype", "None"):  # tf.string itself has no torch mapping
            raise Unsupported(f"{b.op} of a string to dtype {b.code('dtype')}")
        return f"np.asarray({b.code(b.first())})"
    dtype = _dtype_kw(b, default="")
    if not dtype and _ints(b.lit(b.first())):
        dtype = ", dtype=torch.int32"
    return f"torch.as_tensor({b.code(b.first())}{dtype})"


_row([f"{TF}.constant"], Op("", ("value", "dtype", "shape"), handler=_as_tensor,
                            examples=(("tf.constant([1.0, 2.0])", "torch.as_tensor([1.0, 2.0])"),
                                      ("tf.constant([[1, 2]])",
                                       "torch.as_tensor([[1, 2]], dtype=torch.int32)"),
                                      ('tf.constant("[start] " + s)',
                                       'np.asarray("[start] " + s)'))))
_row([f"{TF}.convert_to_tensor", f"{KOPS}.convert_to_tensor"],
     Op("", ("value", "dtype"), handler=_as_tensor))


def _k_constant(b: Bound) -> str:
    """keras.backend.constant: floatx() (float32) unless a dtype is given."""
    if b.has("shape") and b.code("shape") != "None":
        raise Unsupported(f"{b.op}(shape=...)")
    d = dtype(b, "dtype") if not b.is_default("dtype", "None") else "torch.float32"
    return f"torch.as_tensor({b.code(b.first())}, dtype={d})"


_row([f"{K}.constant"], Op(
    "", ("value", "dtype", "shape"), handler=_k_constant,
    examples=(("K.constant([1, 2])", "torch.as_tensor([1, 2], dtype=torch.float32)"),)))


# ---------------------------------------------------------------------------- random
def _uniform(lo: str, hi: str, lo_default: str, hi_default: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        shape = _shape(b.code(b.first()))
        a, c = b.code(lo, lo_default), b.code(hi, hi_default)
        d = "torch.float32" if b.is_default("dtype", "None") else dtype(b, "dtype")
        dev = _device(shape)
        if is_int(d):  # TF: integers in [minval, maxval)
            if c == "None":
                raise Unsupported(f"{b.op}: integer draws need maxval")
            return f"torch.randint({a}, {c}, {shape}{'' if d == 'torch.int64' else f', dtype={d}'}{dev})"
        dk = "" if d == "torch.float32" else f", dtype={d}"
        if a in ("0", "0.0") and c in ("1", "1.0", "None"):
            return f"torch.rand({shape}{dk}{dev})"
        return f"torch.empty({shape}{dk}{dev}).uniform_({a}, {c})"

    return handler


def _normal(mean: str, std: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        shape = _shape(b.code(b.first()))
        dk = _dtype_kw(b)
        out = f"torch.randn({shape}{dk}{_device(shape)})"
        s, m = b.code(std, "1.0"), b.code(mean, "0.0")
        if s not in ("1", "1.0"):
            out += f" * {atom(s)}"
        if m not in ("0", "0.0"):
            out += f" + {atom(m)}"
        return out

    return handler


def _truncated(b: Bound) -> str:
    """TF/Keras truncate at 2 stddev around the mean."""
    shape = _shape(b.code(b.first()))
    base = (f"nn.init.trunc_normal_(torch.empty({shape}{_dtype_kw(b)}{_device(shape)}), "
            "std=1.0, a=-2.0, b=2.0)")
    s, m = b.code("stddev", "1.0"), b.code("mean", "0.0")
    out = base + (f" * {atom(s)}" if s not in ("1", "1.0") else "")
    return out + (f" + {atom(m)}" if m not in ("0", "0.0") else "")


_row([f"{RAND}.uniform"], Op("", ("shape", "minval", "maxval", "dtype", "seed"),
                             handler=_uniform("minval", "maxval", "0", "None"),
                             examples=(("tf.random.uniform((2, 3))", "torch.rand((2, 3))"),
                                       ("tf.random.uniform([4], 1, 5, dtype=tf.int32)",
                                        "torch.randint(1, 5, (4,), dtype=torch.int32)"))))
_row([f"{KRAND}.uniform"], Op("", ("shape", "minval", "maxval", "dtype", "seed"),
                             handler=_uniform("minval", "maxval", "0.0", "1.0")))
_row([f"{K}.random_uniform"], Op("", ("shape", "minval", "maxval", "dtype", "seed"),
                                 handler=_uniform("minval", "maxval", "0.0", "1.0")))
_row([f"{RAND}.normal", f"{KRAND}.normal"], Op(
    "", ("shape", "mean", "stddev", "dtype", "seed"), handler=_normal("mean", "stddev"),
    examples=(("tf.random.normal(shape=(tf.shape(z)[0], 8))",
               "torch.randn((z.shape[0], 8), device=z.device)"),)))
_row([f"{K}.random_normal"], Op("", ("shape", "mean", "stddev", "dtype", "seed"),
                                handler=_normal("mean", "stddev")))
_row([f"{RAND}.truncated_normal", f"{KRAND}.truncated_normal"],
     Op("", ("shape", "mean", "stddev", "dtype", "seed"), handler=_truncated))


def _gamma(b: Bound) -> str:
    """TF draws ``shape`` samples per (alpha, beta) pair: shape + alpha's shape, as
    torch.distributions' sample(); beta is the rate (inverse scale), 1 when omitted."""
    d = "torch.float32" if b.is_default("dtype", "None") else dtype(b, "dtype")
    alpha, beta = b.code("alpha"), b.code("beta", "None")
    rate = "1.0" if beta == "None" else beta
    return (f"torch.distributions.Gamma(torch.as_tensor({alpha}, dtype={d}), "
            f"torch.as_tensor({rate}, dtype={d})).sample({_shape(b.code('shape'))})")


_row([f"{RAND}.gamma"], Op("", ("shape", "alpha", "beta", "dtype", "seed"), handler=_gamma,
                           examples=(("tf.random.gamma([10], [0.5, 1.5])",
                                      "torch.distributions.Gamma(torch.as_tensor([0.5, 1.5], "
                                      "dtype=torch.float32), torch.as_tensor(1.0, "
                                      "dtype=torch.float32)).sample((10,))"),)))
_row([f"{RAND}.shuffle", f"{KRAND}.shuffle"], Op("", ("value", "seed"), handler=lambda b: (
    f"{atom(b.code('value'))}[torch.randperm({atom(b.code('value'))}.shape[0], "
    f"device={atom(b.code('value'))}.device)]")))
# draws above ignore ``seed=`` (torch's global generator draws, as Keras's unseeded ones do);
# a SeedGenerator made for them becomes a seeded torch.Generator, unused by those draws
_row([f"{KRAND}.SeedGenerator"], Op("", ("seed",), handler=lambda b: (
    f"torch.Generator().manual_seed({b.code('seed')})" if b.code("seed", "None") != "None"
    else "torch.Generator()"), examples=(("keras.random.SeedGenerator(1337)",
                                         "torch.Generator().manual_seed(1337)"),)))
_row([f"{RAND}.categorical", f"{KRAND}.categorical"], Op(
    "", ("logits", "num_samples", "dtype", "seed"), handler=lambda b: (
        f"torch.multinomial(F.softmax({b.code('logits')}, dim=-1), {b.code('num_samples')}, "
        "replacement=True)")))


# ---------------------------------------------------------------------------- comparisons
def _compare(fn: str) -> Op:
    return Op(fn, ("x", "y"), pos=2, elementwise=True)


for _tf, _torch in (("equal", "torch.eq"), ("not_equal", "torch.ne"), ("greater", "torch.gt"),
                    ("greater_equal", "torch.ge"), ("less", "torch.lt"),
                    ("less_equal", "torch.le")):
    _row([f"{TF}.{_tf}", f"{MATH}.{_tf}", f"{KOPS}.{_tf}", f"{K}.{_tf}"], _compare(_torch))
for _tf in ("logical_and", "logical_or", "logical_xor"):
    _row([f"{TF}.{_tf}", f"{MATH}.{_tf}", f"{KOPS}.{_tf}"], _compare(f"torch.{_tf}"))
_row([f"{TF}.logical_not", f"{MATH}.logical_not", f"{KOPS}.logical_not"],
     Op("torch.logical_not", ("x",), elementwise=True))
for _tf, _torch in (("is_nan", "isnan"), ("is_inf", "isinf"), ("is_finite", "isfinite")):
    _row([f"{MATH}.{_tf}"], Op(f"torch.{_torch}", ("x",), elementwise=True))
for _k in ("isnan", "isinf", "isfinite"):
    _row([f"{KOPS}.{_k}"], Op(f"torch.{_k}", ("x",), elementwise=True))
_row([f"{MATH}.squared_difference", f"{TF}.squared_difference"], Op(
    "", ("x", "y"), pos=2, elementwise=True,
    handler=lambda b: f"torch.square({b.code('x')} - {atom(b.code('y'))})"))
_row([f"{MATH}.divide_no_nan", f"{KOPS}.divide_no_nan"], Op(
    "", ("x", "y"), pos=2, elementwise=True, handler=lambda b: (
        f"torch.where({atom(b.code(b.params[1]))} == 0, torch.zeros_like({b.code(b.params[0])}),"
        f" {atom(b.code(b.params[0]))} / {atom(b.code(b.params[1]))})")))


# ---------------------------------------------------------------------------- restructuring
def _pad_pairs(b: Bound, param: str) -> list[tuple[str, str]]:
    """``[[before, after], ...]`` as code pairs: a list literal whose entries may be
    expressions (``[[0, MAX_LEN - n]]``; converted code), or a literal value."""
    node = b.nodes.get(param)
    if isinstance(node, (cst.List, cst.Tuple)) and node.elements:
        pairs = [_pair(e.value) for e in node.elements]
        if all(pairs):
            return [p for p in pairs if p]
    pads = literal(b, param)
    try:
        return [(str(int(p[0])), str(int(p[1]))) for p in pads]
    except (TypeError, ValueError, IndexError) as exc:
        raise Unsupported(f"{b.op}: paddings must be a list [[before, after], ...]") from exc


def _pair(node: cst.BaseExpression) -> tuple[str, str] | None:
    """One ``[before, after]`` entry as code (integer literals normalised), else None."""
    if not isinstance(node, (cst.List, cst.Tuple)) or len(node.elements) != 2:
        return None
    codes = []
    for el in node.elements:
        if isinstance(el, cst.StarredElement) or isinstance(
                el.value, (cst.List, cst.Tuple, cst.Dict, cst.Set)):
            return None
        value = evaluate(el.value).value
        codes.append(str(value) if isinstance(value, int) and not isinstance(value, bool)
                     else code_of(el.value))
    return codes[0], codes[1]


def _pad(param: str, mode_param: str, value_param: str) -> Callable[[Bound], str]:
    """tf.pad's [[before, after], ...] (first axis first) → F.pad's flat last-axis-first."""

    def handler(b: Bound) -> str:
        mode = b.lit(mode_param, "CONSTANT") if b.has(mode_param) else "CONSTANT"
        if not isinstance(mode, str) or mode.upper() != "CONSTANT":
            raise Unsupported(f"{b.op}(mode={b.code(mode_param)}): only constant padding converts")
        pairs = _pad_pairs(b, param)
        while len(pairs) > 1 and pairs[0] == ("0", "0"):
            pairs = pairs[1:]  # F.pad pads the last axes: leading zero pairs are dropped
        flat = [v for pair in reversed(pairs) for v in pair]
        value = b.code(value_param, "0")
        tail = "" if value in ("0", "0.0", "None") else f", value={value}"
        return f"F.pad({b.code(b.first())}, ({', '.join(flat)}){tail})"

    return handler


_row([f"{TF}.pad"], Op("", ("tensor", "paddings", "mode", "constant_values"),
                       handler=_pad("paddings", "mode", "constant_values"),
                       examples=(("tf.pad(x, [[0, 0], [1, 2], [0, 0]])",
                                  "F.pad(x, (0, 0, 1, 2))"),)))
_row([f"{KOPS}.pad"], Op("", ("x", "pad_width", "mode", "constant_values"),
                        handler=_pad("pad_width", "mode", "constant_values")))


def _repeat(b: Bound) -> str:
    axis = b.code("axis", "None")
    dim = "" if axis == "None" else f", dim={axis}"
    return f"torch.repeat_interleave({b.code(b.first())}, {b.code('repeats')}{dim})"


_row([f"{TF}.repeat"], Op("", ("input", "repeats", "axis"), handler=_repeat))
_row([f"{KOPS}.repeat", f"{K}.repeat_elements"], Op("", ("x", "repeats", "axis"),
                                                     handler=_repeat))
_row([f"{TF}.tensordot", f"{LINALG}.tensordot"], Op(
    "torch.tensordot", ("a", "b", "axes"), pos=2, renames={"axes": "dims"}))
_row([f"{KOPS}.tensordot"], Op("torch.tensordot", ("x1", "x2", "axes"), pos=2,
                              renames={"axes": "dims"}, explicit={"axes": "2"}))
_row([f"{TF}.broadcast_to", f"{KOPS}.broadcast_to"], Op(
    "", ("input", "shape"), handler=lambda b: (
        f"torch.broadcast_to({b.code(b.first())}, {_shape(b.code('shape'))})")))


def _flip(b: Bound) -> str:
    axis = b.code("axis", "None")
    x = b.code(b.first())
    if axis == "None":  # NumPy/Keras: every axis
        return f"torch.flip({x}, dims=tuple(range({atom(x)}.dim())))"
    value = b.lit("axis")
    dims = f"({axis},)" if isinstance(value, int) else _shape(axis)
    return f"torch.flip({x}, dims={dims})"


_row([f"{TF}.reverse"], Op("", ("tensor", "axis"), handler=_flip,
                           examples=(("tf.reverse(x, axis=[1])", "torch.flip(x, dims=(1,))"),)))
_row([f"{KOPS}.flip"], Op("", ("x", "axis"), handler=_flip))


def _sort(values: bool) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        direction = b.lit("direction", "ASCENDING") if b.has("direction") else "ASCENDING"
        if direction not in ("ASCENDING", "DESCENDING"):
            raise Unsupported(f"{b.op}(direction={b.code('direction')})")
        desc = ", descending=True" if direction == "DESCENDING" else ""
        call = "torch.sort" if values else "torch.argsort"
        out = f"{call}({b.code(b.first())}, dim={b.code('axis', '-1')}{desc}"
        return out + (")[0]" if values else ", stable=True)")

    return handler


_row([f"{TF}.sort"], Op("", ("values", "axis", "direction"), handler=_sort(True)))
_row([f"{TF}.argsort"], Op("", ("values", "axis", "direction", "stable"), handler=_sort(False)))
_row([f"{KOPS}.sort"], Op("", ("x", "axis"), handler=_sort(True)))
_row([f"{MATH}.top_k", f"{TF}.nn.top_k"], Op(
    "torch.topk", ("input", "k", "sorted"), pos=2, explicit={"k": "1"},
    examples=(("tf.math.top_k(x, k=3)", "torch.topk(x, 3)"),)))
_row([f"{KOPS}.top_k"], Op("torch.topk", ("x", "k", "sorted"), pos=2))


def _band_part(b: Bound) -> str:
    lower, upper = literal(b, "num_lower"), literal(b, "num_upper")
    if not isinstance(lower, int) or not isinstance(upper, int):
        raise Unsupported(f"{b.op}: num_lower/num_upper must be integer literals")
    out = b.code("input")
    if lower >= 0:
        out = f"torch.triu({out}, diagonal={-lower})"
    if upper >= 0:
        out = f"torch.tril({out}, diagonal={upper})"
    return out


_row([f"{LINALG}.band_part", f"{TF}.matrix_band_part"], Op(
    "", ("input", "num_lower", "num_upper"), handler=_band_part,
    examples=(("tf.linalg.band_part(m, -1, 0)", "torch.tril(m, diagonal=0)"),)))
_row([f"{KOPS}.tril"], Op("torch.tril", ("x", "k"), renames={"k": "diagonal"}))
_row([f"{KOPS}.triu"], Op("torch.triu", ("x", "k"), renames={"k": "diagonal"}))


def _segment_sum(b: Bound) -> str:
    data, ids = b.code("data"), b.code("segment_ids")
    if not b.has("num_segments"):
        raise Unsupported(f"{b.op} without num_segments")
    n = b.code("num_segments")
    return (f"{atom(data)}.new_zeros(({n}, *{atom(data)}.shape[1:]))"
            f".index_add_(0, {atom(ids)}.long(), {data})")


_row([f"{MATH}.unsorted_segment_sum"], Op("", ("data", "segment_ids", "num_segments"), pos=3,
                                          handler=_segment_sum))
_row([f"{KOPS}.segment_sum"], Op("", ("data", "segment_ids", "num_segments", "sorted"),
                                handler=_segment_sum))
_row([f"{MATH}.count_nonzero", f"{KOPS}.count_nonzero"], Op(
    "torch.count_nonzero", ("input", "axis"), renames={"axis": "dim"}))


def _moments(b: Bound) -> str:
    x, axes = b.code("x"), _shape(b.code("axes"))
    keep = b.code("keepdims", "False")
    k = "" if keep == "False" else f", keepdim={keep}"
    return (f"(torch.mean({x}, dim={axes}{k}), "
            f"torch.var({x}, dim={axes}, correction=0{k}))")  # TF: (mean, population variance)


_row([f"{TF}.nn.moments"], Op("", ("x", "axes", "shift", "keepdims"), handler=_moments))
_row([f"{KOPS}.moments"], Op("", ("x", "axes", "keepdims"), handler=_moments))


def _spread(fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        axis = b.code("axis", "None")
        keep = b.code("keepdims", "False")
        dim = "" if axis == "None" else f", dim={_shape(axis)}"
        k = "" if keep == "False" else f", keepdim={keep}"
        return f"{fn}({b.code(b.first())}{dim}, correction=0{k})"  # population statistics

    return handler


for _tfn, _fn in (("reduce_std", "torch.std"), ("reduce_variance", "torch.var")):
    _row([f"{MATH}.{_tfn}", f"{TF}.{_tfn}"] if _tfn == "reduce_std" else [f"{MATH}.{_tfn}"],
         Op("", ("input_tensor", "axis", "keepdims"), handler=_spread(_fn)))
_row([f"{KOPS}.std", f"{K}.std"], Op("", ("x", "axis", "keepdims"), handler=_spread("torch.std")))
_row([f"{KOPS}.var", f"{K}.var"], Op("", ("x", "axis", "keepdims"), handler=_spread("torch.var")))
