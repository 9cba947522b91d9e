"""Keras layers created in a subclass's ``__init__`` → torch modules, built from the table.

The table's build functions need the input shape; a subclass only reveals it through the
order of ``self.<layer>(...)`` calls in ``call()`` (see agent.rules.classes.forward). Where the
shape is unknown, the layer is built against a marker input size and the constructor is
turned into its ``nn.Lazy*`` form; a layer without a Lazy form is unsupported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import libcst as cst

from agent.rules.classes import identity_choice, rnn_states
from agent.rules.imports import ImportTable
from agent.rules.layers import lookup
from agent.rules.models import lazy
from agent.rules.models.lazy import LAZY
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, LayerSpec, NotStatic, Unsupported, bind
from agent.rules.training import activity, regularizers
from agent.rules.values import UNKNOWN, Value, code_of, evaluate


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
    choice: identity_choice.Choice | None = None  # made only when its test holds
    inner: SubLayer | None = None  # the layer a Bidirectional wraps


def runtime_activation(call: cst.Call, imports: ImportTable, env: dict[str, object]) -> bool:
    """``Activation(act)`` whose one argument is known only at run time (a constructor
    parameter): Keras calls ``activations.get(act)`` on the input, which is what the runtime
    ``activation_by_name(act)`` gives, so the attribute holds that function."""
    if imports.resolve(call.func) != "keras.layers.Activation" or len(call.args) != 1:
        return False
    arg = call.args[0]
    return arg.keyword is None and not arg.star and \
        evaluate(arg.value, dict(env)).value is UNKNOWN


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
    if kname in ("TimeDistributed", "Lambda"):
        raise Unsupported(f"{kname} inside a subclassed model/layer")
    inner: SubLayer | None = None
    if kname == "Bidirectional":  # the wrapped RNN, made in the call: Bidirectional(LSTM(8))
        first = call.args[0].value if call.args and call.args[0].keyword is None else None
        made = make_sublayer(attr, first, imports, env, line) if isinstance(
            first, cst.Call) else None
        if made is None:
            raise Unsupported("Bidirectional around a layer not made in its call")
        inner = made
    args: list[Value] = []
    kwargs: dict[str, Value] = {}
    for a in call.args:
        if a.star:
            raise Unsupported(f"*args/**kwargs in {code_of(call.func)}(...)")
        v = evaluate(a.value, dict(env))
        if a.keyword is not None and (a.keyword.value == activity.ARG
                                      or a.keyword.value in regularizers.REGULARIZED):
            penalty = regularizers.parse(a.value, imports.resolve(
                a.value.func if isinstance(a.value, cst.Call) else a.value), dict(env))
            v = Value(v.code, penalty, a.value) if penalty is not None else v
        if a.keyword is None:
            args.append(v)
        else:
            kwargs[a.keyword.value] = v
    return SubLayer(attr, kname, spec, bind(spec, args, kwargs), line, inner=inner)


def fake_shape(layer: SubLayer) -> Shape:
    """An input of the right rank for a layer whose input shape is unknown."""
    return lazy.fake_shape(layer.keras_name)


def build(layer: SubLayer, shape: Shape | None, layout: str,
          more: Sequence[Shape | None] = (), call_kwargs: dict[str, Value] | None = None
          ) -> Built:
    """Build ``layer`` for input ``shape`` (None: unknown → Lazy modules); ``more``: the
    shapes of its other inputs (attention's value and key), which must be known."""
    # other inputs of unknown size (attention's value/key): the build sees a marker size and
    # only a layer with a lazy form of them survives lazify below
    sized = [m for m in more if m and m[-1] is not None]
    is_lazy = shape is None or not shape or shape[-1] is None or len(sized) < len(more)
    more = [m if m and m[-1] is not None else fake_shape(layer) for m in more]
    rank_unknown = shape is None or not shape
    if shape is None or not shape:
        shape = fake_shape(layer)
    elif shape[-1] is None:
        shape = tuple(shape[:-1]) + (LAZY,)
    ctx = BuildContext(layout_of_input="cf" if layout == "cf" else "keras",
                       names_in_forward=False, call_kwargs=dict(call_kwargs or {}),
                       inner_args=layer.inner.args if layer.inner else None,
                       inner_spec=layer.inner.spec if layer.inner else None)
    try:
        built = layer.spec.build(layer.args, [shape, *(m for m in more if m)], ctx)
    except NotStatic as exc:
        held = _held_target(layer)
        if held is None:
            raise Unsupported(f"{layer.keras_name}: {exc}") from exc
        return held
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        dims = ", ".join("?" if d is None or d == LAZY else str(d) for d in shape)
        raise Unsupported(f"{layer.keras_name}: cannot be built for an input of shape "
                          f"({dims}) (rank {len(shape)})") from exc
    built = rnn_states.as_expression(layer.keras_name, built)
    if built.stmts and layer.keras_name == "Bidirectional":
        built = replace(built, stmts=())  # its one-expression form
    if built.stmts:
        raise Unsupported(f"{layer.keras_name}: needs several statements in forward")
    if is_lazy or LAZY in repr(built.modules):
        built = lazy.lazify(layer.keras_name, built)
        layer.lazy = built.lazy
    return lazy.any_rank(layer.keras_name, built) if rank_unknown else built


def _held_target(layer: SubLayer) -> Built | None:
    """``Reshape(shape)`` / ``Reshape(self.shape)`` in a subclass: the target shape the
    constructor received, kept where the layer is made and read at run time (Keras's -1 is
    torch's in ``unflatten``); the output's rank is unknown to the layers after it."""
    v = layer.args.values.get("target_shape") if layer.keras_name == "Reshape" else None
    if v is None or v.known or not isinstance(v.node, (cst.Name, cst.Attribute)):
        return None
    return Built(out=(), forward="{x}.flatten(1).unflatten(1, {m_shape})",
                 modules=(("shape", v.code),), layout="keras",
                 warnings=("target shape known only at run time: written as in the source",))


def module_lines(layer: SubLayer) -> list[str]:
    """``__init__`` statements creating the layer's modules, its init and TODOs."""
    assert layer.built is not None
    hooks = activity_hooks(layer)
    for n in layer.args.unused():  # a comment is no statement: the class stays Keras
        raise Unsupported(f"{layer.keras_name}({n}={layer.args.values[n].code}) not converted")
    lines: list[str] = []
    for suffix, ctor in layer.built.modules:
        attr = layer.attr if not suffix else f"{layer.attr}_{suffix}"
        if ctor.startswith("torch.") and not ctor.startswith("torch.nn."):
            lines.append(f'self.register_buffer("{attr}", {ctor})')
        else:
            lines.append(f"self.{attr} = {ctor}")
    lines += [t.replace("{m}", f"self.{layer.attr}") for t in layer.built.init]
    if layer.choice is not None:
        return identity_choice.module_lines(layer.attr, layer.choice, layer.built,
                                            lines + hooks)
    return lines + hooks


def weight_penalties(layer: SubLayer) -> list[str]:
    """``kernel_regularizer=l2(..)`` (bias, embeddings) of a sub-layer: the forward statement
    adding its penalty to ``self.added_losses``, once per forward, as Keras adds it once per
    step (an L1/L2 sum is the same on torch's transposed weight)."""
    if layer.built is None or not layer.built.modules or layer.built.modules[0][0]:
        return []
    out = []
    for arg, param in regularizers.REGULARIZED.items():
        value = layer.args.values.get(arg)
        if value is None or not isinstance(value.value, regularizers.Penalty):
            continue
        layer.args.used.add(arg)
        if arg == "bias_regularizer" and layer.args.get("use_bias") is False:
            continue  # Keras regularizes only the weights the layer has
        term = value.value.term(f"self.{layer.attr}.{param}", set())
        out.append(f"self.added_losses.append({term})")
    return out


def activity_hooks(layer: SubLayer) -> list[str]:
    """``activity_regularizer=l2(..)`` of a sub-layer: its hook line (see training.activity)."""
    value = layer.args.values.get(activity.ARG)
    penalty = activity.layer_penalty(layer.args) or (value.value if value is not None else None)
    if (penalty is None or layer.built is None or not isinstance(penalty, regularizers.Penalty)
            or not layer.built.modules or layer.built.modules[0][0]):
        return []
    line = activity.hook(layer.attr, penalty, set(), layer.built.activation)
    if line is None:
        return []
    layer.args.used.add(activity.ARG)
    layer.warnings.append(activity.HOOK_WARNINGS[0])
    return [line]
