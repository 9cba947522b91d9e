"""A loop whose bound is known only at run time → one ``nn.Sequential`` built by that loop.

``for units in hidden_units: x = Dense(units)(x); x = Dropout(rate)(x)`` in a builder whose
``hidden_units`` has no default and whose calls pass values the rules cannot read (a grid
search, a config dict) cannot be unrolled. When every statement of the body is one layer
call on the tensor the loop rebinds (or one ``model.add`` of a Sequential), and every layer
is a plain module that acts on the last axis, the loop becomes one module whose constructor
is the same loop::

    nn.Sequential(*(m for units in hidden_units
                    for m in (nn.LazyLinear(units), nn.Dropout(p=rate))))

Sizes inside the loop depend on the previous iteration, so the sized layers are the
``nn.Lazy*`` forms (the model's dry call sizes them when its input size is known; Keras's
initializers are then not reproduced, which the report says). Anything else leaves the loop
to the extractor as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import libcst as cst

from agent.rules.models import inline, lazy
from agent.rules.models.graph import Layer
from agent.rules.models.sequential import Step, plain_modules
from agent.rules.models.shapes import Shape
from agent.rules.naming import NameCounter
from agent.rules.spec import BuildContext, NotStatic, Unsupported
from agent.rules.values import code_of

IND = "    "
_TORCH_CLASS = re.compile(r"nn\.\w+\(")
# layers that act on the last axis whatever the rank, with a plain-module torch form
_LAST_AXIS = ("Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
              "AlphaDropout", "GaussianNoise", "GaussianDropout", "Identity")
KERAS_NAME = "Loop"
ATTR = "loop_layers"  # agent/weights/engine.py ports its modules flat, in order
# reported only when no dry call sizes the modules (codegen: lazy.SIZED_BY_DRY_CALL); after
# one, the Keras initializers run on them
LOOP_WARNINGS = ("over {it}, a bound known only at run time: one nn.Sequential built by the "
                 "same loop; input size unknown: nn.Lazy module, Keras initializers not "
                 "reproduced",)

MakeLayer = Callable[[cst.Call, int, NameCounter], "Layer | None"]


def body_calls(loop: cst.For, tensors: set[str], seqs: set[str]
               ) -> tuple[str, str, list[cst.Call]] | None:
    """("tensor" | "seq", the name the loop rebinds or adds to, the layer constructors) when
    the loop body is only a chain of layer calls on one name; None otherwise."""
    body = inline.loop_body(loop)
    if not body or not _target_names(loop.target):
        return None
    kind, name, ctors = "", "", []
    for stmt in body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        got = _tensor_step(small, tensors) or _seq_step(small, seqs)
        if got is None or (kind and got[:2] != (kind, name)):
            return None
        kind, name = got[0], got[1]
        ctors.append(got[2])
    return (kind, name, ctors) if ctors else None


def _target_names(target: cst.BaseAssignTargetExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out: set[str] = set()
        for el in target.elements:
            inner = _target_names(el.value)  # type: ignore[arg-type]
            if not inner:
                return set()
            out |= inner
        return out
    return set()


def _tensor_step(small: cst.BaseSmallStatement, tensors: set[str]
                 ) -> tuple[str, str, cst.Call] | None:
    """``x = Dense(u)(x)``."""
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target, value = small.targets[0].target, small.value
    if not isinstance(target, cst.Name) or target.value not in tensors \
            or not isinstance(value, cst.Call) or not isinstance(value.func, cst.Call) \
            or len(value.args) != 1 or value.args[0].keyword or value.args[0].star \
            or not isinstance(value.args[0].value, cst.Name) \
            or value.args[0].value.value != target.value:
        return None
    return "tensor", target.value, value.func


def _seq_step(small: cst.BaseSmallStatement, seqs: set[str]
              ) -> tuple[str, str, cst.Call] | None:
    """``model.add(Dense(u))``."""
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return None
    call = small.value
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value != "add" \
            or not isinstance(func.value, cst.Name) or func.value.value not in seqs \
            or len(call.args) != 1 or call.args[0].keyword or call.args[0].star \
            or not isinstance(call.args[0].value, cst.Call):
        return None
    return "seq", func.value.value, call.args[0].value


@dataclass
class _Made:
    modules: list[str]
    templates: tuple[str, ...]
    lazy: bool
    free: set[str]


def _made(ctor: cst.Call, make_layer: MakeLayer, line: int) -> _Made | None:
    """One body layer as plain modules (its sized ones lazy), with its init templates."""
    layer = make_layer(ctor, line, NameCounter())
    if layer is None or layer.spec is None or layer.args is None or layer.error \
            or layer.spec.keras not in _LAST_AXIS:
        return None
    try:
        built = lazy.lazify(layer.keras_name, layer.spec.build(
            layer.args, [(lazy.LAZY,)], BuildContext()), keep_init=True)
    except (Unsupported, NotStatic, KeyError, TypeError, ValueError, IndexError,
            AttributeError):
        return None
    resizes = built.lazy
    built.lazy = False  # plain_modules refuses lazy steps of a flat Sequential; here all are
    templates = built.init or built.lazy_init
    built.init, built.lazy_init = (), ()
    mods = plain_modules(Step(built, layer.attr, False))
    if mods is None:
        return None
    return _Made(mods, templates, resizes, set(layer.free))


def _choice(ctor: cst.Call, make_layer: MakeLayer, line: int) -> _Made | None:
    """``Dense(u, activation="gelu" if idx == 0 else None)``: the layer for each branch of
    a test on the loop's names, chosen per module (``nn.Identity()`` where one branch has
    no module)."""
    ifs = [(k, a) for k, a in enumerate(ctor.args) if isinstance(a.value, cst.IfExp)]
    if len(ifs) != 1:
        return _made(ctor, make_layer, line) if not ifs else None
    k, arg = ifs[0]
    test = cast(cst.IfExp, arg.value)

    def variant(value: cst.BaseExpression) -> _Made | None:
        args = [*ctor.args[:k], arg.with_changes(value=value), *ctor.args[k + 1:]]
        return _made(ctor.with_changes(args=args), make_layer, line)

    yes, no = variant(test.body), variant(test.orelse)
    if yes is None or no is None or yes.templates != no.templates:
        return None
    n = max(len(yes.modules), len(no.modules))
    pad = ["nn.Identity()"] * n
    mods = []
    for a, b in zip([*yes.modules, *pad][:n], [*no.modules, *pad][:n], strict=True):
        mods.append(a if a == b else f"({a} if {code_of(test.test)} else {b})")
    if not mods or "(" in mods[0][:1]:  # the sized module itself must not change
        return None
    return _Made(mods, yes.templates, yes.lazy or no.lazy,
                 yes.free | no.free | _names(test.test))


def loop_layer(loop: cst.For, ctors: list[cst.Call], make_layer: MakeLayer, attr: str,
               line: int) -> Layer | None:
    """The loop as one layer (its constructor the loop itself), or None when a layer of the
    body has no plain-module form."""
    modules: list[str] = []
    # module offset in one iteration, its torch class, its init templates
    inits: list[tuple[int, str, tuple[str, ...]]] = []
    resizes = False
    free: set[str] = set()
    for ctor in ctors:
        made = _choice(ctor, make_layer, line)
        if made is None:
            return None
        resizes |= made.lazy
        kind = _TORCH_CLASS.match(lazy.materialized(made.modules[0])) if made.modules else None
        if made.templates and kind is not None:
            inits.append((len(modules), kind.group(0)[:-1], made.templates))
        modules += made.modules
        free |= made.free
    if not modules:
        return None
    targets = _target_names(loop.target)
    free = (free | _names(loop.iter)) - targets
    inner = ", ".join(modules) + ("," if len(modules) == 1 else "")
    code = (f"nn.Sequential(*(module for {code_of(loop.target)} in {code_of(loop.iter)} "
            f"for module in ({inner})))")

    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        if shape is None or not shape:
            return None
        return tuple(shape[:-1]) + (None,) if resizes else tuple(shape)

    return Layer(attr, line, custom_ctor=code, keras_name=KERAS_NAME, written=code,
                 free=free, shape_rule=rule, lazy_ctor=resizes,
                 lazy_init=_init(inits, len(modules)) if resizes else (),
                 warnings=(LOOP_WARNINGS[0].format(it=code_of(loop.iter)),) if resizes else ())


def _init(inits: list[tuple[int, str, tuple[str, ...]]], per_iteration: int
          ) -> tuple[str, ...]:
    """One template initialising the loop's modules: each as its Keras layer is (the body's
    k-th module is every per_iteration-th module from k)."""
    if not inits:
        return ()
    lines = ["for index, layer in enumerate({m}):"] if per_iteration > 1 \
        else ["for layer in {m}:"]
    for offset, cls, templates in inits:
        body = [line for t in templates for line in t.replace("{m}", "layer").split("\n")]
        at = f"index % {per_iteration} == {offset} and " if per_iteration > 1 else ""
        lines.append(f"{IND}if {at}isinstance(layer, {cls}):")
        lines += [2 * IND + line for line in body]
    return ("\n".join(lines),)


def _names(node: cst.BaseExpression) -> set[str]:
    out: set[str] = set()

    class _V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            out.add(n.value)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)
            return False

    node.visit(_V())
    return out
