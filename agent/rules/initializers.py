"""Keras initializers (by name or object) → torch ``nn.init`` statements with Keras's math.

Torch's own defaults differ from Keras's (kaiming_uniform(a=√5) vs glorot_uniform, uniform
biases vs zeros), so converted layers re-initialise explicitly to train like the original.
The variance-scaling family is written from Keras's definition: fans computed in Keras's
sense whatever the torch layout, and the normal variants truncated at 2σ with σ rescaled by
0.8796..., as Keras draws them (torch's ``xavier_normal_``/``kaiming_normal_`` do not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import libcst as cst

from agent.rules.spec import Args, Unsupported
from agent.rules.values import UNKNOWN, code_of, evaluate

# Where the weight's axes are: torch's (out, in, *kernel), Keras's (*kernel, in, out), or 1-D.
# "keras2d": a 2-D (in, out) Keras weight, where torch's symmetric xavier bound is exact.
Layout = Literal["torch", "keras", "keras2d", "vector"]

_TRUNC = 0.87962566103423978  # std of a unit normal truncated at ±2, as Keras divides by


@dataclass(frozen=True)
class _Kind:
    params: tuple[str, ...]  # constructor order
    defaults: dict[str, Any]


_KINDS: dict[str, _Kind] = {
    "variance_scaling": _Kind(("scale", "mode", "distribution", "seed"),
                              {"scale": 1.0, "mode": "fan_in",
                               "distribution": "truncated_normal"}),
    "glorot_uniform": _Kind(("seed",), {}), "glorot_normal": _Kind(("seed",), {}),
    "he_uniform": _Kind(("seed",), {}), "he_normal": _Kind(("seed",), {}),
    "lecun_uniform": _Kind(("seed",), {}), "lecun_normal": _Kind(("seed",), {}),
    "zeros": _Kind((), {}), "ones": _Kind((), {}),
    "constant": _Kind(("value",), {"value": 0.0}),
    "random_normal": _Kind(("mean", "stddev", "seed"), {"mean": 0.0, "stddev": 0.05}),
    "random_uniform": _Kind(("minval", "maxval", "seed"), {"minval": -0.05, "maxval": 0.05}),
    "truncated_normal": _Kind(("mean", "stddev", "seed"), {"mean": 0.0, "stddev": 0.05}),
    "orthogonal": _Kind(("gain", "seed"), {"gain": 1.0}),
    "identity": _Kind(("gain",), {"gain": 1.0}),
}

# The variance-scaling presets: (scale, mode, distribution).
_PRESETS: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}

# Every spelling (string, class, Keras 2 alias) → kind.
_NAMES: dict[str, str] = {k: k for k in _KINDS} | {
    "GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal",
    "HeUniform": "he_uniform", "HeNormal": "he_normal", "LecunUniform": "lecun_uniform",
    "LecunNormal": "lecun_normal", "Zeros": "zeros", "Ones": "ones", "Constant": "constant",
    "Orthogonal": "orthogonal", "RandomNormal": "random_normal",
    "RandomUniform": "random_uniform", "TruncatedNormal": "truncated_normal",
    "Identity": "identity", "VarianceScaling": "variance_scaling",
    "uniform": "random_uniform", "normal": "random_normal", "zero": "zeros", "one": "ones",
    "Zero": "zeros", "One": "ones", "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    # TF 2's own spellings (tf.random_uniform_initializer(...)): Keras's math and defaults,
    # except the two random ones, whose TF 1 defaults differ (see _TF_EXPLICIT)
    "random_uniform_initializer": "random_uniform", "random_normal_initializer": "random_normal",
    "constant_initializer": "constant", "zeros_initializer": "zeros",
    "ones_initializer": "ones",
}
# TF's initializers whose TF 1 defaults (uniform 0..1, normal stddev 1) differ from TF 2's:
# converted only with every parameter of the distribution written out
_TF_EXPLICIT: dict[str, tuple[str, ...]] = {
    "random_uniform_initializer": ("minval", "maxval"),
    "random_normal_initializer": ("mean", "stddev"),
}

# For the class transformer: initializers whose math needs fans.
FAN_INITIALIZERS = frozenset(_PRESETS) | {"variance_scaling"}


def initializer_name(name: str) -> bool:
    """Whether ``name`` (a string, or a class or function's last name) is an initializer."""
    return name in _NAMES


def _parse(args: Args, arg: str) -> tuple[str, dict[str, tuple[str, Any]]]:
    """(kind, {param: (code, literal value)}) of a Keras initializer argument."""
    if not args.has(arg) or args.values[arg].known:
        value = args.get(arg)
        if isinstance(value, str) and value in _NAMES:
            return _NAMES[value], {}
        raise Unsupported(f"initializer {value!r} has no torch mapping")
    code = args.code(arg)
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError as exc:
        raise Unsupported(f"initializer {code} has no torch mapping") from exc
    func = node.func if isinstance(node, cst.Call) else node
    head = code_of(func).split(".")[-1]
    kind = _NAMES.get(head)
    if kind is None:
        raise Unsupported(f"initializer {code} has no torch mapping")
    params: dict[str, tuple[str, Any]] = {}
    if isinstance(node, cst.Call):
        spec = _KINDS[kind]
        for i, a in enumerate(node.args):
            if a.star:
                raise Unsupported(f"initializer {code}: *args")
            name = a.keyword.value if a.keyword is not None else (
                spec.params[i] if i < len(spec.params) else "")
            if name not in spec.params:
                raise Unsupported(f"initializer {code}: argument {name or i!r}")
            params[name] = (code_of(a.value), evaluate(a.value).value)
    missing = [p for p in _TF_EXPLICIT.get(head, ()) if p not in params]
    if missing:
        raise Unsupported(f"initializer {code}: TF 1 and TF 2 default {', '.join(missing)} "
                          "differently; write them out to convert")
    return kind, params


def _fans(w: str, layout: Layout) -> tuple[str, str]:
    """Keras's fan_in / fan_out of the weight ``w`` as torch code (receptive field included)."""
    if layout == "vector":
        return f"{w}.numel()", f"{w}.numel()"
    if layout in ("keras", "keras2d"):  # (*kernel, in, out)
        return f"{w}[..., 0].numel()", f"{w}[..., 0, :].numel()"
    return f"{w}[0].numel()", f"{w}[:, 0].numel()"  # (out, in, *kernel), transposed convs too


def _num(value: Any, code: str) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) and value is not UNKNOWN else code


def _variance_scaling(w: str, layout: Layout, scale: str, mode: Any, dist: Any) -> str:
    fan_in, fan_out = _fans(w, layout)
    n = {"fan_in": fan_in, "fan_out": fan_out,
         "fan_avg": f"({fan_in} + {fan_out}) / 2"}.get(mode) if isinstance(mode, str) else None
    if n is None:
        raise Unsupported(f"VarianceScaling(mode={mode!r})")
    if dist in ("truncated_normal", "normal"):  # Keras 2 "normal" meant truncated
        std = f"({scale} / ({n})) ** 0.5 / {_TRUNC!r}"
        return f"nn.init.trunc_normal_({w}.data, std=1.0, a=-2.0, b=2.0).mul_({std})"
    if dist == "untruncated_normal":
        return f"nn.init.normal_({w}, std=({scale} / ({n})) ** 0.5)"
    if dist == "uniform":
        return f"nn.init.uniform_({w}.data, -1.0, 1.0).mul_((3 * {scale} / ({n})) ** 0.5)"
    raise Unsupported(f"VarianceScaling(distribution={dist!r})")


def _statement(kind: str, p: dict[str, tuple[str, Any]], w: str, layout: Layout) -> str:
    spec = _KINDS[kind]

    def code(name: str) -> str:
        if name in p:
            return _num(p[name][1], p[name][0])
        return repr(spec.defaults[name])

    def lit(name: str) -> Any:
        return p[name][1] if name in p else spec.defaults.get(name)

    if kind in _PRESETS:
        scale, mode, dist = _PRESETS[kind]
        if layout in ("torch", "keras2d") and kind == "glorot_uniform":
            return f"nn.init.xavier_uniform_({w})"  # the same bound, symmetric in the fans
        if layout == "torch" and kind in ("he_uniform", "lecun_uniform"):
            gain = "relu" if kind == "he_uniform" else "linear"  # torch's fan_in is Keras's
            return f'nn.init.kaiming_uniform_({w}, nonlinearity="{gain}")'
        return _variance_scaling(w, layout, repr(scale), mode, dist)
    if kind == "variance_scaling":
        mode, dist = lit("mode"), lit("distribution")
        if mode is UNKNOWN or dist is UNKNOWN:
            raise Unsupported("VarianceScaling(mode=..., distribution=...) must be literals")
        return _variance_scaling(w, layout, code("scale"), mode, dist)
    if kind in ("zeros", "ones"):
        return f"nn.init.{kind}_({w})"
    if kind == "constant":
        value = lit("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"nn.init.constant_({w}, {float(value)!r})"
        if layout == "torch":
            raise Unsupported(f"Constant({code('value')}) with an array: the torch weight is "
                              "laid out differently from the Keras one")
        # same layout as Keras (Embedding, add_weight): copy, broadcasting a scalar
        return f"{w}.data.copy_(torch.as_tensor({code('value')}, dtype=torch.float32))"
    if kind == "random_normal":
        mean = "" if lit("mean") == 0 else f"mean={code('mean')}, "
        return f"nn.init.normal_({w}, {mean}std={code('stddev')})"
    if kind == "random_uniform":
        return f"nn.init.uniform_({w}, {code('minval')}, {code('maxval')})"
    if kind == "truncated_normal":  # Keras truncates at mean ± 2 stddev
        mean, std = lit("mean"), lit("stddev")
        if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
            return (f"nn.init.trunc_normal_({w}, mean={float(mean)!r}, std={float(std)!r}, "
                    f"a={float(mean - 2 * std)!r}, b={float(mean + 2 * std)!r})")
        m, s = code("mean"), code("stddev")
        return (f"nn.init.trunc_normal_({w}.data, std=1.0, a=-2.0, b=2.0).mul_({s}).add_({m})")
    if kind == "orthogonal":
        gain = lit("gain")
        return f"nn.init.orthogonal_({w})" if gain == 1.0 else (
            f"nn.init.orthogonal_({w}, gain={code('gain')})")
    if kind == "identity":
        if layout == "vector":
            raise Unsupported("Identity initializer on a 1-D weight")
        gain = lit("gain")
        return f"nn.init.eye_({w})" if gain == 1.0 else (
            f"nn.init.eye_({w}.data).mul_({code('gain')})")
    raise Unsupported(f"initializer {kind} has no torch mapping")  # pragma: no cover


def init_statement(args: Args, arg: str, target: str, warnings: list[str],
                   layout: Layout | None = None) -> str:
    """The init statement for Keras argument ``arg`` (a name or an initializer object).

    ``layout``: how ``target``'s axes are ordered; by default torch's, and 1-D for biases.
    """
    if layout is None:
        layout = "vector" if arg == "bias_initializer" else "torch"
    runtime = _runtime(args, arg, target, layout)
    if runtime is not None:
        return runtime
    kind, params = _parse(args, arg)
    return _statement(kind, params, target, layout)


def _runtime(args: Args, arg: str, target: str, layout: Layout) -> str | None:
    """``kernel_initializer=init``, a builder parameter the calls set differently: the copied
    ``initializer_by_name`` (Keras's ``initializers.get``) fills the weight at run time, seen in
    Keras's axis order (``(*kernel, in, out)``) so the fans are Keras's."""
    if not args.runtime_names or not args.has(arg) or args.values[arg].known \
            or not (args.code(arg).isidentifier() or _named_choice(args.code(arg))):
        return None
    args.used.add(arg)
    weight = f"{target}.permute(*range(2, {target}.dim()), 1, 0)" if layout == "torch" \
        else target
    return f"initializer_by_name({args.code(arg)})({weight})"


def _named_choice(code: str) -> bool:
    """``"identity" if mode == "copy" else "glorot_uniform"``: a test of builder parameters
    choosing between initializers Keras knows by name."""
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError:
        return False
    if not isinstance(node, cst.IfExp):
        return False

    def named(leaf: cst.BaseExpression) -> bool:
        if isinstance(leaf, cst.IfExp):
            return named(leaf.body) and named(leaf.orelse)
        return isinstance(leaf, cst.SimpleString) and leaf.evaluated_value in _BY_NAME_AT_RUN_TIME

    return named(node)


# what runtime/keras_getters.py's initializer_by_name reproduces
_BY_NAME_AT_RUN_TIME = frozenset({
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "zeros", "ones", "random_normal", "random_uniform", "truncated_normal",
    "identity"})


def initializer_kind(args: Args, arg: str) -> str:
    """The canonical kind of an initializer argument (``he_normal``), or raise Unsupported."""
    return _parse(args, arg)[0]
