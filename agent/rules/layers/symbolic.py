"""Layers whose arguments come from variables (``kernel_size=kernel_size``,
``Reshape((-1, embed_dim))``): the source's code is written into the torch code as it is.

The rules need the numbers only to compute TF's "same" padding and the output size. For a
convolution or pooling window the source's code goes into the torch constructor (names
kept), torch's own ``padding="same"``/``"valid"`` takes the
padding (equal to TF's for stride 1, where torch also puts the odd pixel after), and the
output's spatial sizes become unknown, so later layers take their Lazy forms.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst

from agent.rules.layers.common import activation, dim_code, weight_inits
from agent.rules.models.shapes import Dim, Shape, product
from agent.rules.spec import Args, Built, NotStatic, Unsupported
from agent.rules.values import code_of

_STRIDED_SAME = ('padding="same" with strides known only at run time: torch rejects a strided '
                 '"same" convolution (TF pads asymmetrically); pass literal strides')


def _static(a: Args, name: str) -> tuple[bool, object]:
    try:
        return True, a.get(name)
    except NotStatic:
        return False, None


def _window(a: Args, name: str, torch_name: str, default: object) -> list[str]:
    """``torch_name=<code>`` unless the argument is Keras's default (then nothing)."""
    known, value = _static(a, name)
    if known and value in (default, (default,) * 2, (default,) * 3, [default] * 2):
        return []
    return [f"{torch_name}={a.code(name)}"]


def _padding(a: Args, strided: bool, w: list[str]) -> tuple[str | None, str]:
    """(static padding or None, torch argument)."""
    known, value = _static(a, "padding")
    if not known:
        w.append(f"padding={a.code('padding')} known only at run time: torch's "
                 "padding='same' is TF's only with stride 1")
        return None, f"padding={a.code('padding')}"
    padding = str(value).lower()
    if padding not in ("valid", "same"):
        raise Unsupported(f"padding={padding!r} with a window known only at run time")
    if padding == "same" and strided:
        raise Unsupported(_STRIDED_SAME)
    return padding, f'padding="{padding}"'


def _strided(a: Args, default_from: str | None = None) -> bool:
    """Whether the stride may be other than 1 (unknown counts as strided)."""
    known, value = _static(a, "strides")
    if known and value is None and default_from is not None:
        known, value = _static(a, default_from)
    return not known or value not in (1, (1,), (1, 1), (1, 1, 1), [1, 1])


def groups_arg(a: Args) -> list[str]:
    """``groups=`` for torch: the value, or the source's code when only run time knows it
    (Keras's grouped kernel (*k, in/groups, out) and torch's (out, in/groups, *k) give the
    same glorot fans)."""
    known, groups = _static(a, "groups")
    if known and groups == 1:
        return []
    return [f"groups={groups if known else a.code('groups')}"]


def _pair_codes(node: cst.BaseExpression, n: int) -> list[tuple[str, str]]:
    """Keras's padding spec as (before, after) code per spatial axis: ``p``, ``(p1, p2)``
    (per axis; for 1D: before, after), ``((a, b), (c, d))``."""
    if not isinstance(node, (cst.Tuple, cst.List)):
        return [(code_of(node), code_of(node))] * n
    items = [el.value for el in node.elements]
    if n == 1 and len(items) == 2 and not any(isinstance(i, (cst.Tuple, cst.List))
                                              for i in items):
        return [(code_of(items[0]), code_of(items[1]))]
    if len(items) != n:
        raise Unsupported(f"padding={code_of(node)} for {n} spatial axes")
    pairs = []
    for it in items:
        if isinstance(it, (cst.Tuple, cst.List)):
            if len(it.elements) != 2:
                raise Unsupported(f"padding={code_of(node)}")
            pairs.append((code_of(it.elements[0].value), code_of(it.elements[1].value)))
        else:
            pairs.append((code_of(it), code_of(it)))
    return pairs


def symbolic_zero_padding(a: Args, shape: Shape, n: int) -> Built:
    """``ZeroPadding2D(padding=(k // 2, k // 2))``: ``nn.ZeroPad2d`` with the source's code in
    torch's order (last axis first), on channels-first tensors; spatial sizes unknown."""
    node = a.values["padding"].node
    if node is None:
        raise NotStatic(f"padding={a.code('padding')} must be a literal to convert")
    pairs = _pair_codes(node, n)
    flat = [c for before, after in reversed(pairs) for c in (before, after)]
    return Built(out=(None,) * n + (shape[-1],), forward="{m}({x})", layout="cf",
                 modules=(("", f"nn.ZeroPad{n}d(({', '.join(flat)}))"),))


def symbolic_conv(a: Args, shape: Shape, rank: int) -> Built:
    """``nn.Conv{rank}d`` with the window written as the source wrote it."""
    w: list[str] = []
    if _static(a, "data_format")[1] not in (None, "channels_last"):
        raise Unsupported("data_format='channels_first' (convert the data layout first)")
    padding, pad_arg = _padding(a, _strided(a), w)
    args = [dim_code(shape[-1]), str(a.value("filters")), f"kernel_size={a.code('kernel_size')}",
            *_window(a, "strides", "stride", 1)]
    if padding != "valid":
        args.append(pad_arg)
    args += _window(a, "dilation_rate", "dilation", 1)
    args += groups_arg(a)
    if not a.get("use_bias"):
        args.append("bias=False")
    same = padding == "same"  # stride 1 here: the spatial sizes are kept
    spatial: tuple[Dim, ...] = tuple(shape[:-1]) if same else (None,) * (len(shape) - 1)
    w.append("window size known only at run time: written as in the source, torch pads")
    return Built(out=spatial + (a.value("filters"),), forward="{m}({x})", layout="cf",
                 modules=(("", f"nn.Conv{rank}d({', '.join(args)})"),),
                 init=weight_inits(a, w, optional_bias=True), activation=activation(a, w),
                 warnings=tuple(w))


def symbolic_pool(a: Args, shape: Shape, kind: str, rank: int) -> Built:
    """``nn.{Max,Avg}Pool{rank}d`` with ``pool_size``/``strides`` as the source wrote them."""
    if _static(a, "data_format")[1] not in (None, "channels_last"):
        raise Unsupported("data_format='channels_first'")
    known, padding = _static(a, "padding")
    if not known or str(padding).lower() not in ("valid", "same"):
        raise Unsupported(f"{kind}Pooling{rank}D(padding={a.code('padding')}) with a "
                          "pool size known only at run time")
    args = [f"kernel_size={a.code('pool_size')}"]
    known, strides = _static(a, "strides")
    if not known or strides is not None:
        args.append(f"stride={a.code('strides')}")
    if str(padding).lower() == "same":  # TF's asymmetric padding, averages of real cells
        return Built(out=(None,) * (len(shape) - 1) + (shape[-1],), forward="{m}({x})",
                     layout="cf", modules=(("", f'KerasSamePool("{kind.lower()}", {rank}, '
                                                f'{", ".join(args)})'),),
                     warnings=("pool size known only at run time: TF's \"same\" padding "
                               "computed from each input",))
    return Built(out=(None,) * (len(shape) - 1) + (shape[-1],), forward="{m}({x})",
                 layout="cf", modules=(("", f"nn.{kind}Pool{rank}d({', '.join(args)})"),),
                 warnings=("pool size known only at run time: written as in the source",))


_TENSOR_READ = re.compile(r"\bshape\b|int_shape|\.size\(")  # a size read off a tensor


def _element(node: cst.BaseExpression) -> int | str:
    """A target_shape entry: an int literal (``-1`` too) or the entry's code."""
    code = code_of(node)
    try:
        value = ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return code
    return value if isinstance(value, int) and not isinstance(value, bool) else code


_ARITH: dict[type[ast.operator], Callable[[int, int], int]] = {ast.Add: lambda p, q: p + q, ast.Sub: lambda p, q: p - q,
          ast.Mult: lambda p, q: p * q, ast.FloorDiv: lambda p, q: p // q}


def _arith(node: ast.expr) -> int | None:
    """The value of an int expression of literals and + - * //, else None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _arith(node.operand)
        return None if v is None else -v
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        left, right = _arith(node.left), _arith(node.right)
        if left is None or right is None or (isinstance(node.op, ast.FloorDiv) and not right):
            return None
        return _ARITH[type(node.op)](left, right)
    return None


def _read_off_input(code: str, names: tuple[str, ...], shape: Shape) -> int | str | None:
    """``x.shape[-2] * x.shape[-1]`` where ``x`` is the layer's own input: its sizes put in
    (an int, or an expression of the names the sizes are made of), else None."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return None
    full = (None, *shape)  # Keras's shapes count the batch axis
    left = False

    def size(node: ast.Subscript) -> ast.expr | None:
        v, k = node.value, _arith(node.slice)
        if not (isinstance(v, ast.Attribute) and v.attr == "shape" and isinstance(
                v.value, ast.Name) and v.value.id in names and k is not None
                and -len(full) <= k < len(full)):
            return None
        dim = full[k]
        if isinstance(dim, int):
            return ast.Constant(dim)
        return ast.parse(f"({dim})", mode="eval").body if isinstance(dim, str) else None

    def put(node: ast.expr) -> ast.expr:
        nonlocal left
        if isinstance(node, ast.Subscript):
            found = size(node)
            left = left or found is None
            return found if found is not None else node
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, name, put(value))
        return node

    body = put(tree.body)
    if left:
        return None
    value = _arith(body)
    return value if value is not None else ast.unparse(body)


@dataclass(frozen=True)
class RunTimeShape:
    """A target shape held in a builder parameter that the calls set differently, every
    value of the same rank: the shape is read at run time, only its rank here."""

    rank: int


def symbolic_reshape(a: Args, shape: Shape, input_names: tuple[str, ...] = ()) -> Built:
    """``Reshape((-1, embed_dim))``: the entries written as in the source. One entry read off
    a tensor (``x.shape[-1] * 2``) becomes ``-1``: the other entries fix it, and the forward
    never reads a Keras tensor that is not there in torch. ``Reshape(shape)`` of a
    :class:`RunTimeShape`: ``unflatten`` by the parameter (Keras's -1 is torch's)."""
    v = a.values["target_shape"]
    if isinstance(v.value, RunTimeShape):
        return Built(out=(None,) * v.value.rank, forward="{x}.flatten(1).unflatten(1, {m_shape})",
                     modules=(("shape", v.code),), layout="keras",
                     warnings=("target shape known only at run time: written as in the "
                               "source",))
    if not isinstance(v.node, (cst.Tuple, cst.List)):
        raise NotStatic(f"Reshape(target_shape={v.code}) must be a literal or a tuple to "
                        "convert")
    entries = [_element(el.value) for el in v.node.elements]
    for k, e in enumerate(entries):  # sizes read off the input itself: known here
        if isinstance(e, str) and _TENSOR_READ.search(e):
            found = _read_off_input(e, input_names, shape)
            entries[k] = found if found is not None else e
    read = [k for k, e in enumerate(entries) if isinstance(e, str) and _TENSOR_READ.search(e)]
    if len(read) > 1 or (read and -1 in entries):
        raise NotStatic(f"Reshape(target_shape={v.code}): several sizes read off tensors")
    for k in read:
        entries[k] = -1
    known = [e for e in entries if e != -1]
    out: list[Dim] = [e if e != -1 else None for e in entries]
    if -1 in entries and all(isinstance(e, int) for e in known):
        total, rest = product(shape), product(known)
        if isinstance(total, int) and isinstance(rest, int) and rest:
            out[entries.index(-1)] = total // rest
    w = ("target shape known only at run time: written as in the source"
         + (", the size read off a tensor as -1" if read else ""),)
    dims = ", ".join(str(e) for e in entries)
    target = f"({dims},)" if len(entries) == 1 else f"({dims})"
    # flatten/unflatten reads the input once (it may be a whole expression in a subclass)
    if all(isinstance(e, int) for e in entries):
        return Built(out=tuple(out), forward=f"{{x}}.flatten(1).unflatten(1, {target})",
                     layout="keras", warnings=w)
    # the names live where the layer is made (__init__): the shape is kept there
    return Built(out=tuple(out), forward="{x}.flatten(1).unflatten(1, {m_shape})",
                 modules=(("shape", target),), layout="keras", warnings=w)
