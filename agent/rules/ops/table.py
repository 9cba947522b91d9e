"""The op table: ``tf.*``, ``keras.ops.*``, ``keras.backend.*`` and ``keras.activations.*``
functions → torch code, keyed by canonical qualified name (``ImportTable.resolve``).

Data first (``Op`` rows built by the small helpers below); handlers only where the torch
spelling depends on argument values. Defaults that differ are written explicitly
(``tf.nn.leaky_relu``'s slope is 0.2, torch's 0.01; ``tf.argmax`` reduces axis 0 when no
axis is given; ``keras.ops.gelu`` is the tanh approximation). Public entry points:
:func:`convert_expr`, :func:`is_elementwise`, :func:`lambda_converter`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from dataclasses import replace

import libcst as cst

from agent.rules.models.applications_table import PREPROCESS_NAMES
from agent.rules.ops import (
    as_values,
    ctc,
    image_io,
    image_pixels,
    nn_image,
    numpy_like,
    scans,
    signal,
    tensors,
    tf_direct,
)
from agent.rules.ops.casts import cast
from agent.rules.ops.control import ROWS as CONTROL_ROWS
from agent.rules.ops.dtypes import DTYPES
from agent.rules.ops.dtypes import dtype as _dtype
from agent.rules.ops.spec import Bound, Op, atom, literal
from agent.rules.spec import Unsupported
from agent.rules.values import UNKNOWN

TF, MATH, NN, KOPS, K, ACT = ("tensorflow", "tensorflow.math", "tensorflow.nn", "keras.ops",
                             "keras.backend", "keras.activations")
LINALG = "tensorflow.linalg"

# ---------------------------------------------------------------------------- constants
# Framework names used as values (not called): ``tf.float32``, ``tf.newaxis``.
CONSTANTS: dict[str, str] = {
    f"{TF}.{name}": code for name, code in DTYPES.items() if not name.isalpha() or "float" in name
    or "int" in name or name == "bool"
} | {f"{TF}.newaxis": "None", f"{TF}.bool": "torch.bool", f"{TF}.Tensor": "torch.Tensor"
     } | image_io.CONSTANTS | {  # tape.gradient(..., unconnected_gradients=...): TF's strings
    f"{TF}.UnconnectedGradients.ZERO": '"zero"', f"{TF}.UnconnectedGradients.NONE": '"none"'}
# ``tf.dtypes.float32`` is ``tf.float32`` under its module's name
CONSTANTS |= {f"{TF}.dtypes.{name}": code for name, code in DTYPES.items()
              if not name.isalpha() or name == "bool"}

# Functions with no faithful one-line torch counterpart: a specific reason for the report.
NOT_CONVERTED: dict[str, str] = {
    f"{NN}.dropout": "tf.nn.dropout always drops (no training flag): use nn.Dropout / "
                     "F.dropout(x, p, training=self.training) deliberately",
    f"{TF}.py_function": "tf.py_function has no torch counterpart",
    f"{TF}.numpy_function": "tf.numpy_function has no torch counterpart",
    **dict.fromkeys(("keras.backend.gradients", f"{TF}.gradients"),
                    "differentiates a symbolic graph, which torch does not build: compute the "
                    "loss from a tensor that requires grad, then torch.autograd.grad (a "
                    "GradientTape over eager code converts)"),
    "keras.backend.function": "runs a symbolic Keras graph on arrays, which torch does not "
                              "build: a Python function computing the outputs from tensors of "
                              "the arrays (torch.autograd.grad for gradients), returning NumPy",
    "keras.backend.placeholder": "a symbolic graph input, which torch does not have: the "
                                 "function that uses it takes a tensor instead",
}


# ---------------------------------------------------------------------------- handlers
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}
_CST_SYMBOLS = {"Add": "+", "Subtract": "-", "Multiply": "*", "Divide": "/", "FloorDivide": "//",
                "Modulo": "%", "Power": "**"}


def _operand(code: str, symbol: str, right: bool) -> str:
    """``code`` as an operand of ``symbol``: parenthesised only where precedence needs it."""
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError:
        return f"({code})"
    if node.lpar or not isinstance(node, (cst.BinaryOperation, cst.UnaryOperation,
                                          cst.BooleanOperation, cst.Comparison,
                                          cst.IfExp, cst.Lambda)):
        return code
    if isinstance(node, cst.UnaryOperation):
        return f"({code})" if symbol == "**" and not right else code
    if not isinstance(node, cst.BinaryOperation):
        return f"({code})"
    inner = _PRECEDENCE.get(_CST_SYMBOLS.get(type(node.operator).__name__, ""), 0)
    outer = _PRECEDENCE[symbol]
    tighter = inner > outer or (inner == outer and (right == (symbol == "**")))
    return code if tighter else f"({code})"


def _binary(symbol: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        a, c = b.params_pair()
        return f"({_operand(a, symbol, False)} {symbol} {_operand(c, symbol, True)})"

    return handler


def _extreme(fn: str, side: str) -> Callable[[Bound], str]:
    """maximum/minimum: torch.maximum needs two tensors; a number becomes clamp."""

    def handler(b: Bound) -> str:
        a, c = b.params_pair()
        first, second = b.first_two_nodes()
        if _is_number(second):
            return f"torch.clamp({a}, {side}={c})"
        if _is_number(first):
            return f"torch.clamp({c}, {side}={a})"
        return f"{fn}({a}, {c})"

    return handler


def _is_number(node: cst.BaseExpression | None) -> bool:
    if node is None:
        return False
    value = _value(node)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(node: cst.BaseExpression) -> object:
    from agent.rules.values import evaluate

    return evaluate(node).value


def _axes(code: str) -> str:
    """A Keras axis list ``[1, 2]`` as the tuple torch expects."""
    if code.startswith("[") and code.endswith("]"):
        inner = code[1:-1].strip().rstrip(",")
        return f"({inner},)" if "," not in inner else f"({inner})"
    return code


def _reduce(fn: str, axis: str = "axis", keep: str = "keepdims",
            int_axis_only: bool = False) -> Callable[[Bound], str]:
    """tf.reduce_* / keras.ops.* / K.*: axis None reduces everything (keepdim kept)."""

    def handler(b: Bound) -> str:
        x = b.code(b.first())
        ax = b.code(axis, "None")
        keepdims = b.code(keep, "False")
        if b.has("initial") and b.code("initial") != "None":
            raise Unsupported(f"{b.op}(initial=...) has no torch equivalent")
        if b.has("dtype") and b.code("dtype") != "None":
            raise Unsupported(f"{b.op}(dtype=...) : cast the input instead")
        kw: list[str] = []
        if ax == "None":
            if keepdims != "False":
                if int_axis_only:
                    raise Unsupported(f"{b.op}: full reduction with keepdims")
                kw.append("dim=()" if fn in ("torch.amax", "torch.amin") else "dim=None")
                kw.append(f"keepdim={keepdims}")
        else:
            ax = _axes(ax)
            if int_axis_only and ax.startswith("("):
                raise Unsupported(f"{b.op} over several axes: {fn} takes one dim")
            kw.append(f"dim={ax}")
            if keepdims != "False":
                kw.append(f"keepdim={keepdims}")
        return f"{fn}({', '.join([x, *kw])})"

    return handler


def _transpose(perm: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        x = b.code(b.first())
        p = b.code(perm, "None")
        if p == "None":  # TF/NumPy: reverse all axes
            return f"{atom(x)}.permute(*range({atom(x)}.dim() - 1, -1, -1))"
        return f"torch.permute({x}, {_axes(p)})"

    return handler


def _tf_matmul(b: Bound) -> str:
    a, c = b.code("a"), b.code("b")
    for flag in ("adjoint_a", "adjoint_b", "a_is_sparse", "b_is_sparse"):
        if not b.is_default(flag, "False"):
            raise Unsupported(f"{b.op}({flag}=...) has no torch mapping")
    ta, tb = literal(b, "transpose_a") if b.has("transpose_a") else False, (
        literal(b, "transpose_b") if b.has("transpose_b") else False)
    if ta:
        a = f"{atom(a)}.mT"
    if tb:
        c = f"{atom(c)}.mT"
    return f"torch.matmul({a}, {c})"


def _like(fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        x = b.code(b.first())
        if b.is_default("dtype", "None"):
            return f"{fn}({x})"
        return f"{fn}({x}, dtype={_dtype(b, 'dtype')})"

    return handler


def _tf_where(b: Bound) -> str:
    c = b.code("condition")
    if not b.has("x") and not b.has("y"):
        return f"torch.argwhere({c})"  # TF: (num_true, rank) int64 indices, as argwhere
    return f"torch.where({c}, {b.code('x')}, {b.code('y')})"


def _ops_where(b: Bound) -> str:
    if not b.has("x1") or not b.has("x2"):
        raise Unsupported("keras.ops.where(condition) returns index tuples: use torch.nonzero")
    return f"torch.where({b.code('condition')}, {b.code('x1')}, {b.code('x2')})"


def _tf_split(b: Bound) -> str:
    x, n, axis = b.code("value"), b.code("num_or_size_splits"), b.code("axis", "0")
    if not b.is_default("num", "None"):
        raise Unsupported("tf.split(num=...)")
    value = b.lit("num_or_size_splits")
    if isinstance(value, int):  # TF requires divisibility: equal chunks, as torch.chunk
        return f"torch.chunk({x}, {n}, dim={axis})"
    return f"torch.split({x}, {n}, dim={axis})"  # a list of sizes, as torch.split


def _ops_split(b: Bound) -> str:
    x, n, axis = b.code("x"), b.code("indices_or_sections"), b.code("axis", "0")
    return f"torch.tensor_split({x}, {n}, dim={axis})"  # NumPy semantics on both sides


def _gather(b: Bound) -> str:
    params, idx = b.code(b.first()), b.code("indices")
    if not b.is_default("batch_dims", "0"):
        raise Unsupported(f"{b.op}(batch_dims=...)")
    axis = b.lit("axis", 0)
    if axis is None:
        axis = 0
    if axis is UNKNOWN or not isinstance(axis, int):
        raise Unsupported(f"{b.op}: axis must be a literal")
    if axis == -1:
        return f"{atom(params)}[..., {idx}]"
    if axis < 0:
        return f"{atom(params)}[..., {idx}{', :' * (-axis - 1)}]"
    return f"{atom(params)}[{', '.join([':'] * axis + [idx])}]"


def _take(b: Bound) -> str:
    if b.is_default("axis", "None"):
        return f"{atom(b.code('x'))}.flatten()[{b.code('indices')}]"
    return _gather(b)


def _literal(code: str) -> bool:
    """``[2, 0]``, ``(1, 2)``, ``3``: a Python value, not a tensor."""
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.List, ast.Tuple, ast.Constant, ast.UnaryOp))


def _one_hot(depth: str, dtype_default: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        for p, d in (("on_value", "None"), ("off_value", "None"), ("sparse", "False")):
            if not b.is_default(p, d):
                raise Unsupported(f"{b.op}({p}=...)")
        axis = b.code("axis", "None")
        value = b.lit("axis", -1) if axis != "None" else -1
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise Unsupported(f"{b.op}(axis={axis}): the axis must be an integer literal")
        dtype = _dtype(b, "dtype") if not b.is_default("dtype", "None") else dtype_default
        x = b.code(b.first())
        if _literal(x):  # TF takes Python lists and numbers as indices, F.one_hot tensors
            x = f"torch.as_tensor({x})"
        out = f"F.one_hot({atom(x)}.long(), {b.code(depth)}).to({dtype})"
        return out if value == -1 else f"torch.movedim({out}, -1, {axis})"  # TF: depth at axis

    return handler


def _ops_cumsum(b: Bound) -> str:
    if not b.is_default("dtype", "None"):
        raise Unsupported("keras.ops.cumsum(dtype=...)")
    x, axis = b.code("x"), b.code("axis", "None")
    if axis == "None":  # NumPy: over the flattened array
        return f"torch.cumsum({atom(x)}.flatten(), dim=0)"
    return f"torch.cumsum({x}, dim={axis})"


def _tf_argmax(fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        # output_type is ignored: torch returns int64, TF's default too
        axis = b.code("axis", "None")
        return f"{fn}({b.code('input')}, dim={'0' if axis == 'None' else axis})"  # TF: None → 0

    return handler


def _ops_argmax(fn: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        axis, keep = b.code("axis", "None"), b.code("keepdims", "False")
        args = [b.code("x")]
        if axis != "None":
            args.append(f"dim={axis}")
        if keep != "False":
            args.append(f"keepdim={keep}")
        return f"{fn}({', '.join(args)})"

    return handler


def _norm(ord_param: str, keep: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        x = b.code(b.first())
        order = b.lit(ord_param, None) if b.has(ord_param) else None
        if order in ("euclidean", "fro", None, 2):
            ord_code = ""
        elif order in (1, math.inf) or b.code(ord_param) in ("np.inf", "float('inf')",
                                                            'float("inf")'):
            ord_code = f", ord={b.code(ord_param)}"
        else:
            raise Unsupported(f"{b.op}(ord={b.code(ord_param)})")
        axis = b.code("axis", "None")
        if order not in (None, "euclidean", "fro") and axis.startswith(("(", "[")):
            raise Unsupported(f"{b.op}: matrix norms other than Frobenius")
        out = f"torch.linalg.vector_norm({x}{ord_code}"
        if axis != "None":
            out += f", dim={_axes(axis)}"
        keepdims = b.code(keep, "False")
        if keepdims not in ("False", "None"):
            out += f", keepdim={keepdims}"
        return out + ")"

    return handler


def _l2_normalize(b: Bound) -> str:
    x, axis = b.code("x"), b.code("axis", "None")
    eps = b.lit("epsilon", 1e-12)
    if b.has("epsilon") and eps is UNKNOWN:
        eps_code = f"{atom(b.code('epsilon'))} ** 0.5"
    else:
        eps_code = repr(math.sqrt(float(eps)))
    if axis == "None":  # TF: x / sqrt(max(sum(x²), eps)) over every axis
        return f"{atom(x)} / torch.sqrt(torch.clamp(torch.sum(torch.square({x})), min={eps}))"
    # F.normalize divides by max(‖x‖, eps'): the same as TF with eps' = sqrt(eps)
    return f"F.normalize({x}, p=2.0, dim={_axes(axis)}, eps={eps_code})"


def _relu(slope: str, x_param: str = "x") -> Callable[[Bound], str]:
    """keras.activations.relu / K.relu: slope, max_value and threshold variants."""

    def handler(b: Bound) -> str:
        x = b.code(x_param)
        if not b.is_default("threshold", "0.0") and b.code("threshold") != "0":
            raise Unsupported(f"{b.op}(threshold=...)")
        s = b.code(slope, "0.0")
        out = f"F.relu({x})" if s in ("0.0", "0", "0.") else f"F.leaky_relu({x}, negative_slope={s})"
        if not b.is_default("max_value", "None"):
            out = f"torch.clamp({out}, max={b.code('max_value')})"
        return out

    return handler


def _gelu(default_approximate: bool) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        x = b.code(b.first())
        approx = b.lit("approximate", default_approximate) if b.has("approximate") else (
            default_approximate)
        if approx is UNKNOWN:
            raise Unsupported(f"{b.op}(approximate=...) must be a literal")
        return f'F.gelu({x}, approximate="tanh")' if approx else f"F.gelu({x})"

    return handler


def _silu(b: Bound) -> str:
    x = b.code(b.first())
    if b.is_default("beta", "1.0") or b.code("beta") == "1":
        return f"F.silu({x})"
    return f"{atom(x)} * torch.sigmoid({atom(b.code('beta'))} * {atom(x)})"


def _softmax(fn: str, axis: str, none_means: str = "-1") -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        ax = b.code(axis, "None")
        return f"{fn}({b.code(b.first())}, dim={none_means if ax == 'None' else ax})"

    return handler


def _k_clip(b: Bound) -> str:
    return f"torch.clamp({b.code('x')}, min={b.code('min_value')}, max={b.code('max_value')})"


def _k_sqrt(b: Bound) -> str:
    # tf.keras.backend.sqrt clips negatives to 0 before the square root.
    return f"torch.sqrt(torch.clamp({b.code('x')}, min=0.0))"


def _epsilon(b: Bound) -> str:
    return "1e-07"  # keras.backend.epsilon() default (fuzz factor)


def _batch_dot(b: Bound) -> str:
    x, y = b.code("x"), b.code("y")
    axes = b.lit("axes", None) if b.has("axes") else None
    if axes is None or axes in ((2, 1), [2, 1]):
        return f"torch.matmul({x}, {y})"  # rank-3 inputs: a batched matrix product
    if axes in ((2, 2), [2, 2]):
        return f"torch.matmul({x}, {atom(y)}.mT)"
    if axes in ((1, 1), [1, 1]):
        return f"torch.matmul({atom(x)}.mT, {y})"
    raise Unsupported(f"K.batch_dot(axes={b.code('axes')})")


def _einsum(b: Bound) -> str:
    return f"torch.einsum({', '.join([b.code(b.first()), *b.varargs])})"


def _squeeze(b: Bound) -> str:
    x, axis = b.code(b.first()), b.code("axis", "None")
    return f"torch.squeeze({x})" if axis == "None" else f"torch.squeeze({x}, dim={_axes(axis)})"


def _reshape(shape: str) -> Callable[[Bound], str]:
    def handler(b: Bound) -> str:
        return f"torch.reshape({b.code(b.first())}, {_axes(b.code(shape))})"

    return handler


# ---------------------------------------------------------------------------- the table
OPS: dict[str, Op] = {}


def _add(names: Iterable[str], op: Op) -> None:
    for name in names:
        if name in OPS:
            raise ValueError(f"duplicate op {name}")
        OPS[name] = op


def _unary(torch_fn: str, names: Iterable[str], param: str = "x") -> None:
    _add(names, Op(torch_fn, (param,), elementwise=True))


# Elementwise math: tf.math.X, its tf.X alias, keras.ops.X, keras.backend.X.
_UNARY_MATH = {
    "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan", "exp": "torch.exp",
    "log": "torch.log", "sqrt": "torch.sqrt", "rsqrt": "torch.rsqrt",
    "square": "torch.square", "abs": "torch.abs", "sign": "torch.sign",
    "floor": "torch.floor", "ceil": "torch.ceil", "round": "torch.round",  # both half-to-even
    "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "log1p": "torch.log1p",
    "expm1": "torch.expm1", "negative": "torch.neg", "reciprocal": "torch.reciprocal",
    "erf": "torch.erf", "asin": "torch.asin", "acos": "torch.acos", "atan": "torch.atan",
    "sinh": "torch.sinh", "cosh": "torch.cosh", "asinh": "torch.asinh",
    "acosh": "torch.acosh", "atanh": "torch.atanh",
}
_NO_TF_ALIAS = ("reciprocal", "expm1", "log1p", "erf")  # only under tf.math
_K_UNARY = ("sin", "cos", "exp", "log", "abs", "square", "sign", "round", "sigmoid", "tanh")
for _name, _fn in _UNARY_MATH.items():
    _names = [f"{MATH}.{_name}", f"{KOPS}.{_name}"]
    if _name not in _NO_TF_ALIAS:
        _names.append(f"{TF}.{_name}")
    if _name in _K_UNARY:
        _names.append(f"{K}.{_name}")
    _unary(_fn, _names)
_add([f"{K}.sqrt"], Op("", ("x",), elementwise=True, handler=_k_sqrt,
                       examples=(("K.sqrt(x)", "torch.sqrt(torch.clamp(x, min=0.0))"),)))
_add([f"{MATH}.softplus", f"{NN}.softplus", f"{KOPS}.softplus", f"{ACT}.softplus",
      f"{K}.softplus"], Op("F.softplus", ("x",), elementwise=True))
_add([f"{NN}.softsign", f"{MATH}.softsign", f"{KOPS}.softsign", f"{ACT}.softsign",
      f"{K}.softsign"], Op("F.softsign", ("x",), elementwise=True))

# Activations (tf.nn.X(features), keras.ops.X(x), keras.activations.X(x)).
_unary("F.relu", [f"{NN}.relu", f"{KOPS}.relu"], "features")
_unary("F.relu6", [f"{NN}.relu6", f"{KOPS}.relu6", f"{ACT}.relu6"], "features")
_unary("F.selu", [f"{NN}.selu", f"{KOPS}.selu", f"{ACT}.selu"], "features")
_add([f"{NN}.sigmoid", f"{ACT}.sigmoid"], Op("torch.sigmoid", ("x",), elementwise=True))
_add([f"{NN}.tanh", f"{ACT}.tanh"], Op("torch.tanh", ("x",), elementwise=True))
_add([f"{ACT}.exponential"], Op("torch.exp", ("x",), elementwise=True))
_add([f"{NN}.elu"], Op("F.elu", ("features",), elementwise=True))
_add([f"{KOPS}.elu", f"{ACT}.elu"], Op("F.elu", ("x", "alpha"), renames={"alpha": "alpha"},
                                      defaults={"alpha": "1.0"}, elementwise=True))
_add([f"{NN}.leaky_relu"], Op(
    "F.leaky_relu", ("features", "alpha"), renames={"alpha": "negative_slope"},
    explicit={"alpha": "0.2"}, elementwise=True,  # tf default 0.2, torch 0.01
    examples=(("tf.nn.leaky_relu(x)", "F.leaky_relu(x, negative_slope=0.2)"),
              ("tf.nn.leaky_relu(x, alpha=0.1)", "F.leaky_relu(x, negative_slope=0.1)"))))
_add([f"{KOPS}.leaky_relu", f"{ACT}.leaky_relu"], Op(
    "F.leaky_relu", ("x", "negative_slope"), explicit={"negative_slope": "0.2"},
    elementwise=True,
    examples=(("keras.ops.leaky_relu(x)", "F.leaky_relu(x, negative_slope=0.2)"),)))
_add([f"{NN}.gelu"], Op("", ("features", "approximate"), elementwise=True,
                         handler=_gelu(False),
                         examples=(("tf.nn.gelu(x)", "F.gelu(x)"),
                                   ("tf.nn.gelu(x, approximate=True)",
                                    'F.gelu(x, approximate="tanh")'))))
_add([f"{ACT}.gelu"], Op("", ("x", "approximate"), elementwise=True, handler=_gelu(False),
                         examples=(("keras.activations.gelu(x)", "F.gelu(x)"),)))
_add([f"{KOPS}.gelu"], Op("", ("x", "approximate"), elementwise=True, handler=_gelu(True),
                         examples=(("keras.ops.gelu(x)", 'F.gelu(x, approximate="tanh")'),)))
_add([f"{NN}.silu", f"{NN}.swish"], Op(
    "", ("features", "beta"), elementwise=True, handler=_silu,
    examples=(("tf.nn.silu(x)", "F.silu(x)"),
              ("tf.nn.silu(x, beta=2.0)", "x * torch.sigmoid(2.0 * x)"))))
_unary("F.silu", [f"{KOPS}.silu", f"{KOPS}.swish", f"{ACT}.silu", f"{ACT}.swish"])
_add([f"{ACT}.relu"], Op("", ("x", "negative_slope", "max_value", "threshold"),
                         elementwise=True, handler=_relu("negative_slope"),
                         examples=(("keras.activations.relu(x)", "F.relu(x)"),
                                   ("keras.activations.relu(x, max_value=6.0)",
                                    "torch.clamp(F.relu(x), max=6.0)"))))
_add([f"{K}.relu"], Op("", ("x", "alpha", "max_value", "threshold"), elementwise=True,
                       handler=_relu("alpha"),
                       examples=(("K.relu(x)", "F.relu(x)"),
                                 ("K.relu(x, alpha=0.1)",
                                  "F.leaky_relu(x, negative_slope=0.1)"))))
_add([f"{ACT}.hard_sigmoid", f"{KOPS}.hard_sigmoid"],
     Op("F.hardsigmoid", ("x",), elementwise=True))  # Keras 3: relu6(x + 3) / 6, as torch
_add([f"{ACT}.mish"], Op("F.mish", ("x",), elementwise=True))

# Softmax family: tf's axis=None means the last axis.
_add([f"{NN}.softmax", f"{MATH}.softmax"], Op("", ("logits", "axis"), handler=_softmax(
    "F.softmax", "axis"), examples=(("tf.nn.softmax(x)", "F.softmax(x, dim=-1)"),
                                    ("tf.nn.softmax(x, axis=1)", "F.softmax(x, dim=1)"))))
_add([f"{NN}.log_softmax", f"{MATH}.log_softmax"], Op(
    "", ("logits", "axis"), handler=_softmax("F.log_softmax", "axis"),
    examples=(("tf.nn.log_softmax(x)", "F.log_softmax(x, dim=-1)"),)))
_add([f"{KOPS}.softmax", f"{ACT}.softmax", f"{K}.softmax"], Op(
    "", ("x", "axis"), handler=_softmax("F.softmax", "axis"),
    examples=(("keras.ops.softmax(x)", "F.softmax(x, dim=-1)"),)))
_add([f"{KOPS}.log_softmax", f"{ACT}.log_softmax"], Op(
    "", ("x", "axis"), handler=_softmax("F.log_softmax", "axis")))
_add([f"{NN}.l2_normalize", f"{MATH}.l2_normalize", f"{K}.l2_normalize"], Op(
    "", ("x", "axis", "epsilon"), handler=_l2_normalize,
    examples=(("tf.nn.l2_normalize(x, axis=-1)", "F.normalize(x, p=2.0, dim=-1, eps=1e-06)"),)))

# Binary arithmetic: operators read best and accept Python numbers on either side.
for _sym, _names2 in (("+", ("add",)), ("-", ("subtract",)), ("*", ("multiply",)),
                      ("/", ("divide", "truediv")), ("//", ("floordiv",)),
                      ("**", ("pow",))):
    for _n in _names2:
        _add([f"{MATH}.{_n}"] + ([f"{TF}.{_n}"] if _n not in ("floordiv",) else []),
             Op("", ("x", "y"), pos=2, elementwise=True, handler=_binary(_sym)))
_add([f"{MATH}.floormod", f"{MATH}.mod"], Op("", ("x", "y"), pos=2, elementwise=True,
                                            handler=_binary("%")))
for _sym, _n in (("+", "add"), ("-", "subtract"), ("*", "multiply"), ("/", "divide"),
                 ("**", "power")):
    _add([f"{KOPS}.{_n}"], Op("", ("x1", "x2"), pos=2, elementwise=True, handler=_binary(_sym)))
_add([f"{MATH}.maximum", f"{TF}.maximum"], Op("", ("x", "y"), pos=2, elementwise=True,
                                              handler=_extreme("torch.maximum", "min")))
_add([f"{MATH}.minimum", f"{TF}.minimum"], Op("", ("x", "y"), pos=2, elementwise=True,
                                              handler=_extreme("torch.minimum", "max")))
_add([f"{KOPS}.maximum"], Op("", ("x1", "x2"), pos=2, elementwise=True,
                            handler=_extreme("torch.maximum", "min")))
_add([f"{KOPS}.minimum"], Op("", ("x1", "x2"), pos=2, elementwise=True,
                            handler=_extreme("torch.minimum", "max")))
_add([f"{K}.maximum"], Op("", ("x", "y"), pos=2, elementwise=True,
                          handler=_extreme("torch.maximum", "min")))
_add([f"{K}.minimum"], Op("", ("x", "y"), pos=2, elementwise=True,
                          handler=_extreme("torch.minimum", "max")))
_add([f"{K}.pow"], Op("", ("x", "a"), pos=2, elementwise=True, handler=_binary("**")))

# Reductions.
for _tf_name, _torch in (("sum", "torch.sum"), ("mean", "torch.mean"), ("max", "torch.amax"),
                         ("min", "torch.amin"), ("any", "torch.any"), ("all", "torch.all"),
                         ("prod", "torch.prod"), ("logsumexp", "torch.logsumexp")):
    _one = _tf_name in ("prod", "logsumexp")
    _add([f"{TF}.reduce_{_tf_name}", f"{MATH}.reduce_{_tf_name}"], Op(
        "", ("input_tensor", "axis", "keepdims"), handler=_reduce(_torch, int_axis_only=_one)))
    if _tf_name != "logsumexp":
        _extra = {"max": ("initial",), "min": ("initial",), "prod": ("dtype",)}.get(_tf_name, ())
        _add([f"{KOPS}.{_tf_name}"], Op("", ("x", "axis", "keepdims", *_extra),
                                       handler=_reduce(_torch, int_axis_only=_one)))
    if _tf_name in ("sum", "mean", "max", "min", "prod", "any", "all"):
        _add([f"{K}.{_tf_name}"], Op("", ("x", "axis", "keepdims"),
                                     handler=_reduce(_torch, int_axis_only=_one)))
_add([f"{KOPS}.logsumexp"], Op("", ("x", "axis", "keepdims"),
                              handler=_reduce("torch.logsumexp", int_axis_only=True)))

# Shape and layout.
_add([f"{TF}.reshape"], Op("", ("tensor", "shape"), pos=2, handler=_reshape("shape")))
_add([f"{KOPS}.reshape"], Op("", ("x", "newshape"), pos=2, handler=_reshape("newshape")))
_add([f"{K}.reshape"], Op("", ("x", "shape"), pos=2, handler=_reshape("shape")))
_add([f"{TF}.transpose"],
     Op("", ("a", "perm", "conjugate"), handler=_transpose("perm"),
        fixed={"conjugate": "False"},
        examples=(("tf.transpose(x, perm=[0, 2, 1])", "torch.permute(x, (0, 2, 1))"),
                  ("tf.transpose(x)", "x.permute(*range(x.dim() - 1, -1, -1))"))))
_add([f"{KOPS}.transpose"], Op("", ("x", "axes"), handler=_transpose("axes")))
_add([f"{K}.permute_dimensions"], Op("", ("x", "pattern"), handler=_transpose("pattern")))
_add([f"{K}.transpose"], Op("", ("x",), handler=_transpose("perm")))
_add([f"{TF}.concat"], Op("torch.cat", ("values", "axis"), renames={"axis": "dim"},
                           explicit={"axis": "0"}))
_add([f"{KOPS}.concatenate"], Op("torch.cat", ("xs", "axis"), renames={"axis": "dim"},
                                explicit={"axis": "0"}))
_add([f"{K}.concatenate"], Op("torch.cat", ("tensors", "axis"), renames={"axis": "dim"},
                              explicit={"axis": "-1"},
                              examples=(("K.concatenate([x, y])", "torch.cat([x, y], dim=-1)"),)))
# the functional merge inside a custom layer's call (graphs read it as a merge layer)
_add(["keras.layers.concatenate"], Op("torch.cat", ("inputs", "axis"), renames={"axis": "dim"},
                                      explicit={"axis": "-1"},
                                      examples=(("keras.layers.concatenate(inputs)",
                                                 "torch.cat(inputs, dim=-1)"),)))
_add([f"{TF}.stack"], Op("torch.stack", ("values", "axis"), renames={"axis": "dim"},
                          explicit={"axis": "0"}))
_add([f"{KOPS}.stack"], Op("torch.stack", ("x", "axis"), renames={"axis": "dim"},
                          explicit={"axis": "0"}))
_add([f"{K}.stack"], Op("torch.stack", ("x", "axis"), renames={"axis": "dim"},
                        explicit={"axis": "0"}))
_add([f"{TF}.squeeze", f"{KOPS}.squeeze", f"{K}.squeeze"],
     Op("", ("input", "axis"), handler=_squeeze))
_add([f"{TF}.expand_dims"], Op("torch.unsqueeze", ("input", "axis"), renames={"axis": "dim"}))
_add([f"{KOPS}.expand_dims"], Op("torch.unsqueeze", ("x", "axis"), renames={"axis": "dim"}))
_add([f"{K}.expand_dims"], Op("torch.unsqueeze", ("x", "axis"), renames={"axis": "dim"},
                              explicit={"axis": "-1"}))
_add([f"{TF}.tile"], Op("torch.tile", ("input", "multiples"), pos=2))
_add([f"{KOPS}.tile"], Op("torch.tile", ("x", "repeats"), pos=2))
_add([f"{K}.tile"], Op("torch.tile", ("x", "n"), pos=2))
_add([f"{TF}.split"], Op("", ("value", "num_or_size_splits", "axis", "num"), handler=_tf_split))
_add([f"{KOPS}.split"], Op("", ("x", "indices_or_sections", "axis"), handler=_ops_split))
_add([f"{TF}.gather"], Op("", ("params", "indices", "validate_indices", "axis", "batch_dims"),
                           handler=_gather))
_add([f"{K}.gather"], Op("", ("reference", "indices"), handler=_gather))
_add([f"{KOPS}.take"], Op("", ("x", "indices", "axis"), handler=_take))
_add([f"{K}.flatten"], Op("torch.flatten", ("x",)))
_add([f"{K}.batch_flatten"], Op("torch.flatten", ("x",), explicit={"start_dim": "1"}))

# Linear algebra.
_add([f"{TF}.matmul", f"{LINALG}.matmul"], Op(
    "", ("a", "b", "transpose_a", "transpose_b", "adjoint_a", "adjoint_b", "a_is_sparse",
         "b_is_sparse", "output_type"), pos=2, handler=_tf_matmul,
    examples=(("tf.matmul(x, y, transpose_b=True)", "torch.matmul(x, y.mT)"),)))
_add([f"{KOPS}.matmul"], Op("torch.matmul", ("x1", "x2"), pos=2))
_add([f"{K}.dot"], Op("torch.matmul", ("x", "y"), pos=2))
_add([f"{K}.batch_dot"], Op("", ("x", "y", "axes"), pos=2, handler=_batch_dot))
_add([f"{TF}.einsum", f"{LINALG}.einsum"], Op("", ("equation",), varargs=True, handler=_einsum))
_add([f"{KOPS}.einsum"], Op("", ("subscripts",), varargs=True, handler=_einsum))
_add([f"{TF}.norm", f"{LINALG}.norm"], Op("", ("tensor", "ord", "axis", "keepdims"),
                                           handler=_norm("ord", "keepdims")))
_add([f"{KOPS}.norm"], Op("", ("x", "ord", "axis", "keepdims"), handler=_norm("ord", "keepdims")))

# Selection, casting, construction.
_add([f"{TF}.clip_by_value"], Op("torch.clamp", ("t", "clip_value_min", "clip_value_max"),
                                 pos=1, renames={"clip_value_min": "min",
                                                 "clip_value_max": "max"}, elementwise=True))
_add([f"{KOPS}.clip"], Op("torch.clamp", ("x", "x_min", "x_max"),
                         renames={"x_min": "min", "x_max": "max"}, elementwise=True))
_add([f"{K}.clip"], Op("", ("x", "min_value", "max_value"), elementwise=True, handler=_k_clip))
_add([f"{TF}.where"], Op("", ("condition", "x", "y"), handler=_tf_where))
_add([f"{KOPS}.where"], Op("", ("condition", "x1", "x2"), handler=_ops_where))
_add([f"{K}.switch"], Op("torch.where", ("condition", "then_expression", "else_expression"),
                         pos=3))
_add([f"{TF}.cast", f"{TF}.dtypes.cast"], Op("", ("x", "dtype"), handler=cast("dtype"),
                                             examples=(
    ("tf.cast(x, tf.float32)", "torch.as_tensor(x, dtype=torch.float32)"),
    ("tf.cast(tf.abs(x), tf.int32)", "torch.abs(x).to(torch.int32)"))))
_add([f"{KOPS}.cast", f"{K}.cast"], Op("", ("x", "dtype"), handler=cast("dtype")))
_add([f"{TF}.ones_like", f"{KOPS}.ones_like", f"{K}.ones_like"],
     Op("", ("input", "dtype"), handler=_like("torch.ones_like")))
_add([f"{TF}.zeros_like", f"{KOPS}.zeros_like", f"{K}.zeros_like"],
     Op("", ("input", "dtype"), handler=_like("torch.zeros_like")))
_add([f"{TF}.one_hot"], Op("", ("indices", "depth", "on_value", "off_value", "axis", "dtype"),
                            handler=_one_hot("depth", "torch.float32")))
_add([f"{KOPS}.one_hot"], Op("", ("x", "num_classes", "axis", "dtype", "sparse"),
                            handler=_one_hot("num_classes", "torch.float32")))
_add([f"{K}.one_hot"], Op("", ("indices", "num_classes"),
                          handler=_one_hot("num_classes", "torch.float32")))
_add([f"{KOPS}.cumsum"], Op("", ("x", "axis", "dtype"), handler=_ops_cumsum))
_add([f"{K}.cumsum"], Op("torch.cumsum", ("x", "axis"), renames={"axis": "dim"},
                         explicit={"axis": "0"}))
_add([f"{TF}.argmax", f"{MATH}.argmax"], Op("", ("input", "axis", "output_type"),
                                            handler=_tf_argmax("torch.argmax")))
_add([f"{TF}.argmin", f"{MATH}.argmin"], Op("", ("input", "axis", "output_type"),
                                            handler=_tf_argmax("torch.argmin")))
_add([f"{KOPS}.argmax"], Op("", ("x", "axis", "keepdims"), handler=_ops_argmax("torch.argmax")))
_add([f"{KOPS}.argmin"], Op("", ("x", "axis", "keepdims"), handler=_ops_argmax("torch.argmin")))
_add([f"{K}.argmax"], Op("torch.argmax", ("x", "axis"), renames={"axis": "dim"},
                         explicit={"axis": "-1"}))
_add([f"{K}.epsilon"], Op("", (), pos=0, handler=_epsilon,
                          examples=(("K.epsilon()", "1e-07"),)))
_add([f"{TF}.stop_gradient"], Op("", ("input",), elementwise=True,
                                 handler=lambda b: f"{atom(b.code('input'))}.detach()"))
_add([f"{KOPS}.stop_gradient", f"{K}.stop_gradient"],
     Op("", ("variable",), elementwise=True,
        handler=lambda b: f"{atom(b.code('variable'))}.detach()"))
_add([f"{TF}.identity"], Op("", ("input",), elementwise=True,
                            handler=lambda b: b.code("input")))


for _names3, _op in (tensors.ROWS + nn_image.ROWS + ctc.ROWS + image_io.ROWS + signal.ROWS
                     + image_pixels.ROWS + scans.ROWS + numpy_like.ROWS + tf_direct.ROWS
                     + CONTROL_ROWS):
    _add(_names3, _op)


def _preprocess(function: str) -> Callable[[Bound], str]:
    """``<family>.preprocess_input(x)``: the runtime function with that family's formula
    (runtime/pretrained.py, copied into the script; channels-last input as in Keras);
    ``imagenet_utils.preprocess_input(x, mode=...)`` the function of that mode."""
    def emit(b: Bound) -> str:
        mode = literal(b, "mode") if b.has("mode") else function.rsplit("_", 1)[1]
        if mode not in ("caffe", "tf", "torch", "none") or not b.is_default("data_format",
                                                                          "None"):
            raise Unsupported(f"{b.op}(mode={mode!r}, data_format=...) has no torch mapping")
        return f"preprocess_{mode}({b.code('x')})"
    return emit


for _name, _fn in PREPROCESS_NAMES.items():
    _add([_name], Op("", ("x", "data_format", "mode") if "imagenet_utils" in _name
                     else ("x", "data_format"), elementwise=True, handler=_preprocess(_fn)))


for _name, _as_value in as_values.VALUES.items():
    OPS[_name] = replace(OPS[_name], value=_as_value)
# other spellings of a row, once the row is complete (its value form included)
for _alias, _name in numpy_like.ALIASES.items():
    _add([_alias], OPS[_name])
for _name in numpy_like.NN_ALIASES:
    if f"{KOPS}.{_name}" in OPS and f"{KOPS}.nn.{_name}" not in OPS:
        _add([f"{KOPS}.nn.{_name}"], OPS[f"{KOPS}.{_name}"])


def lookup(qualname: str) -> Op | None:
    return OPS.get(qualname)
