"""Op rows for scans and segment reductions: ``tf.cumsum`` / ``tf.math.cumprod`` with TF's
``exclusive`` and ``reverse``, ``keras.ops.cumprod``, ``tf.math.unsorted_segment_*``,
``tf.unstack``, ``tf.linalg.set_diag`` and ``tf.math.reduce_euclidean_norm``.

``exclusive`` shifts the scan by one along the axis (a leading 1 for products, 0 for sums),
written with slices, so the axis must be an integer literal; ``reverse`` scans a flipped
tensor. Segment reductions scatter into ``num_segments`` rows; an empty segment holds what
TF gives it (0 for sums and means, the dtype's lowest value for max, its highest for min).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.rules.ops.spec import Bound, Op, atom
from agent.rules.spec import Unsupported

TF, MATH, KOPS, LINALG = "tensorflow", "tensorflow.math", "keras.ops", "tensorflow.linalg"

ROWS: list[tuple[list[str], Op]] = []


def _row(names: list[str], op: Op) -> None:
    ROWS.append((names, op))


def _index(axis: int, part: str) -> str:
    """``x[...]`` subscript selecting ``part`` along ``axis`` (the others whole)."""
    if axis < 0:
        return ", ".join(["...", part, *[":"] * (-axis - 1)])
    return ", ".join([*[":"] * axis, part])


def _scan(fn: str, identity: str) -> Callable[[Bound], str]:
    """tf.cumsum / tf.math.cumprod (x, axis=0, exclusive=False, reverse=False)."""

    def handler(b: Bound) -> str:
        x, axis = b.code("x"), b.code("axis", "0")
        exclusive = not b.is_default("exclusive", "False")
        reverse = not b.is_default("reverse", "False")
        for flag in ("exclusive", "reverse"):
            if b.has(flag) and b.code(flag) not in ("True", "False"):
                raise Unsupported(f"{b.op}({flag}={b.code(flag)}) must be a literal")
        if reverse:
            x = f"torch.flip({x}, dims=({axis},))"
        if exclusive:
            value = b.lit("axis", 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise Unsupported(f"{b.op}(exclusive=True) needs an integer literal axis")
            first = f"torch.{identity}_like({atom(x)}[{_index(value, '0:1')}])"
            x = f"torch.cat([{first}, {atom(x)}[{_index(value, ':-1')}]], dim={axis})"
        out = f"{fn}({x}, dim={axis})"
        return f"torch.flip({out}, dims=({axis},))" if reverse else out

    return handler


_row([f"{TF}.cumsum", f"{MATH}.cumsum"], Op(
    "", ("x", "axis", "exclusive", "reverse"), handler=_scan("torch.cumsum", "zeros"),
    examples=(("tf.cumsum(x, axis=1, exclusive=True)",
               "torch.cumsum(torch.cat([torch.zeros_like(x[:, 0:1]), x[:, :-1]], dim=1), dim=1)"),
              )))
_row([f"{MATH}.cumprod"], Op(
    "", ("x", "axis", "exclusive", "reverse"), handler=_scan("torch.cumprod", "ones"),
    examples=(("tf.math.cumprod(x, axis=-1, exclusive=True)",
               "torch.cumprod(torch.cat([torch.ones_like(x[..., 0:1]), x[..., :-1]], dim=-1), "
               "dim=-1)"),
              ("tf.math.cumprod(x, reverse=True)",
               "torch.flip(torch.cumprod(torch.flip(x, dims=(0,)), dim=0), dims=(0,))"))))


def _ops_cumprod(b: Bound) -> str:
    if not b.is_default("dtype", "None"):
        raise Unsupported("keras.ops.cumprod(dtype=...)")
    x, axis = b.code("x"), b.code("axis", "None")
    if axis == "None":  # NumPy: over the flattened array
        return f"torch.cumprod({atom(x)}.flatten(), dim=0)"
    return f"torch.cumprod({x}, dim={axis})"


_row([f"{KOPS}.cumprod"], Op("", ("x", "axis", "dtype"), handler=_ops_cumprod))


# ---------------------------------------------------------------------------- segments
def _segment(reduce: str, fill: str) -> Callable[[Bound], str]:
    """unsorted_segment_{mean,max,min,prod}: 1-D ``segment_ids`` over the first axis."""

    def handler(b: Bound) -> str:
        data, ids, n = b.code("data"), b.code("segment_ids"), b.code("num_segments")
        d = atom(data)
        index = f"{atom(ids)}.long().reshape(-1, *[1] * ({d}.dim() - 1)).expand_as({d})"
        start = f"{d}.new_full(({n}, *{d}.shape[1:]), {fill.format(d=d)})"
        return f'{start}.scatter_reduce(0, {index}, {data}, "{reduce}", include_self=False)'

    return handler


_SEGMENTS = (("mean", "mean", "0"), ("prod", "prod", "1"),
             ("max", "amax", "torch.finfo({d}.dtype).min"),
             ("min", "amin", "torch.finfo({d}.dtype).max"))
for _name, _reduce, _fill in _SEGMENTS:
    _row([f"{MATH}.unsorted_segment_{_name}"], Op(
        "", ("data", "segment_ids", "num_segments"), pos=3, handler=_segment(_reduce, _fill)))


# ---------------------------------------------------------------------------- others
def _unstack(b: Bound) -> str:
    return f"list(torch.unbind({b.code('value')}, dim={b.code('axis', '0')}))"  # TF: a list


_row([f"{TF}.unstack"], Op("", ("value", "num", "axis"), handler=_unstack,
                          examples=(("tf.unstack(x, axis=1)",
                                     "list(torch.unbind(x, dim=1))"),)))


def _set_diag(b: Bound) -> str:
    if not b.is_default("k", "0"):
        raise Unsupported(f"{b.op}(k={b.code('k')}): only the main diagonal converts")
    return (f"torch.diagonal_scatter({b.code('input')}, {b.code('diagonal')}, dim1=-2, "
            "dim2=-1)")


_row([f"{LINALG}.set_diag", f"{TF}.matrix_set_diag"], Op(
    "", ("input", "diagonal", "k", "align"), pos=2, handler=_set_diag,
    examples=(("tf.linalg.set_diag(m, d)", "torch.diagonal_scatter(m, d, dim1=-2, dim2=-1)"),)))


def _euclidean(b: Bound) -> str:
    x, axis, keep = b.code("input_tensor"), b.code("axis", "None"), b.code("keepdims", "False")
    if axis.startswith("[") and axis.endswith("]"):
        axis = "(" + axis[1:-1].strip().rstrip(",") + ",)"
    out = f"torch.linalg.vector_norm({x}"
    if axis != "None":
        out += f", dim={axis}"
    if keep != "False":
        out += f", keepdim={keep}"
    return out + ")"


_row([f"{MATH}.reduce_euclidean_norm"], Op("", ("input_tensor", "axis", "keepdims"),
                                           handler=_euclidean))
