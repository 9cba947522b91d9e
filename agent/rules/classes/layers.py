"""Keras layers created in a subclass's ``__init__`` → torch modules, built from the table.

The table's build functions need the input shape; a subclass only reveals it through the
order of ``self.<layer>(...)`` calls in ``call()`` (see agent.rules.classes.forward). Where the
shape is unknown, the layer is built against a marker input size and the constructor is
turned into its ``nn.Lazy*`` form; a layer without a Lazy form is unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.layers import lookup
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, LayerSpec, NotStatic, Unsupported, bind
from agent.rules.values import Value, code_of, evaluate

LAZY = "__k2l_lazy__"
_LAZY_CTOR = re.compile(
    r"nn\.(Linear|Conv[123]d|ConvTranspose[123]d|BatchNorm[123]d|InstanceNorm[123]d)"
    r"\(" + LAZY + r"(, )?")
_RANK = re.compile(r"([123])D$")


@dataclass
class SubLayer:
    """One ``self.<attr> = keras.layers.X(...)`` of ``__init__``."""

    attr: str
    keras_name: str
    spec: LayerSpec
    args: Args
    line: int
    built: Built | None = None  # from the first call (or a lazy build if never called)
    lazy: bool = False
    warnings: list[str] = field(default_factory=list)


def make_sublayer(attr: str, call: cst.Call, imports: ImportTable, env: dict[str, object],
                  line: int) -> SubLayer | None:
    """A table layer from its constructor call; None when ``call`` is not a Keras layer."""
    q = imports.resolve(call.func)
    if q is None or not q.startswith("keras.layers.") or q.count(".") != 2:
        return None
    spec = lookup(q)
    kname = q.rsplit(".", 1)[1]
    if spec is None:
        raise Unsupported(f"keras.layers.{kname} has no table entry yet")
    if kname in ("Bidirectional", "TimeDistributed", "Lambda"):
        raise Unsupported(f"{kname} inside a subclassed model/layer")
    args: list[Value] = []
    kwargs: dict[str, Value] = {}
    for a in call.args:
        if a.star:
            raise Unsupported(f"*args/**kwargs in {code_of(call.func)}(...)")
        v = evaluate(a.value, dict(env))
        if a.keyword is None:
            args.append(v)
        else:
            kwargs[a.keyword.value] = v
    return SubLayer(attr, kname, spec, bind(spec, args, kwargs), line)


def fake_shape(layer: SubLayer) -> Shape:
    """An input of the right rank for a layer whose input shape is unknown."""
    m = _RANK.search(layer.keras_name)
    rank = int(m.group(1)) + 1 if m else 1
    return (None,) * (rank - 1) + (LAZY,)


def build(layer: SubLayer, shape: Shape | None, layout: str) -> Built:
    """Build ``layer`` for input ``shape`` (None: unknown → Lazy modules)."""
    lazy = shape is None or not shape or shape[-1] is None
    if shape is None or not shape:
        shape = fake_shape(layer)
    elif shape[-1] is None:
        shape = tuple(shape[:-1]) + (LAZY,)
    ctx = BuildContext(layout_of_input="cf" if layout == "cf" else "keras")
    try:
        built = layer.spec.build(layer.args, [shape], ctx)
    except (NotStatic, KeyError, TypeError, ValueError) as exc:
        raise Unsupported(f"{layer.keras_name}: {exc}") from exc
    if built.stmts:
        raise Unsupported(f"{layer.keras_name}: needs several statements in forward")
    if lazy or LAZY in repr(built.modules):
        built = _lazify(layer, built)
    return built


def _lazify(layer: SubLayer, built: Built) -> Built:
    modules = tuple((sfx, _LAZY_CTOR.sub(lambda m: f"nn.Lazy{m.group(1)}(", ctor))
                    for sfx, ctor in built.modules)
    out = built.out if isinstance(built.out, tuple) else None
    out_shape = tuple(None if d == LAZY or (isinstance(d, str) and LAZY in d) else d
                      for d in out) if out is not None else ()
    if LAZY in repr(modules) or LAZY in built.forward:
        raise Unsupported(f"{layer.keras_name}: input size unknown statically and torch has "
                          "no Lazy form of it; give the model an input shape "
                          "(e.g. self.build((None, ...)))")
    layer.lazy = any("nn.Lazy" in c for _, c in modules)
    warnings = tuple(w for w in built.warnings if "Lazy" not in w)
    init = () if layer.lazy else built.init  # nn.init cannot touch an uninitialized parameter
    if layer.lazy and built.init:
        warnings += ("input size unknown: nn.Lazy module, Keras initializers not reproduced",)
    return Built(out=out_shape, forward=built.forward, modules=modules, init=init,
                 layout=built.layout, out_layout=built.out_layout, activation=built.activation,
                 warnings=warnings, lazy=layer.lazy)


def module_lines(layer: SubLayer) -> list[str]:
    """``__init__`` statements creating the layer's modules, its init and TODOs."""
    assert layer.built is not None
    lines = [f"# TODO(k2l): {layer.keras_name}({n}={layer.args.values[n].code}) not converted"
             for n in layer.args.unused()]
    for suffix, ctor in layer.built.modules:
        attr = layer.attr if not suffix else f"{layer.attr}_{suffix}"
        if ctor.startswith("torch.") and not ctor.startswith("torch.nn."):
            lines.append(f'self.register_buffer("{attr}", {ctor})')
        else:
            lines.append(f"self.{attr} = {ctor}")
    lines += [t.replace("{m}", f"self.{layer.attr}") for t in layer.built.init]
    return lines
