"""Keras weight access on converted models → runtime/layer_weights.py.

``model.get_weights()``, ``model.set_weights(w)``, ``model.get_layer("conv1").get_weights()``,
``model.layers[2].set_weights([kernel, bias])``: the arrays are in Keras's layout (a Dense
kernel ``(in, out)``, a convolution's ``(k..., in, out)``), and scripts do NumPy surgery on
them (widening a kernel along its last axis). They become ``layer_weights(...)`` /
``set_layer_weights(..., w)`` on the module the layer became: its attribute when the name
or index is in the source (``model.conv1``, ``model.layers[3]`` of a generated
``nn.Sequential``), ``layer_named(model, name)`` for a name known only at run time. A layer
that became part of ``forward`` (Flatten) has no weights: ``[]``, as in Keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from agent.rules.models.graph import ModelIR
from agent.rules.models.views import layer_names
from agent.rules.naming import identifier

WEIGHT_CALLS = {"get_weights": "layer_weights", "set_weights": "set_layer_weights"}
RUNTIME_NAMES = ("layer_weights", "set_layer_weights", "layer_named", "layer_weight")
# Keras weight attributes read as values (``layer.kernel.numpy()``)
WEIGHT_ATTRS = frozenset({"kernel", "bias", "recurrent_kernel", "depthwise_kernel",
                          "embeddings", "gamma", "beta", "moving_mean", "moving_variance"})
WEIGHTLESS = "None"  # the module of a layer that became an expression of forward


@dataclass
class Access:
    """What one weight call became: its code, or why it stays as written."""
    code: cst.BaseExpression | None
    reason: str = ""


def init_attrs(module: cst.Module, cls: str) -> set[str]:
    """Attributes the generated class ``cls`` assigns in ``__init__`` (``self.conv1 = ...``)."""
    out: set[str] = set()
    for stmt in module.body:
        if not (isinstance(stmt, cst.ClassDef) and stmt.name.value == cls):
            continue
        for node in stmt.body.body:
            if isinstance(node, cst.FunctionDef) and node.name.value == "__init__":
                out |= _self_targets(node)
    return out


def _self_targets(fn: cst.FunctionDef) -> set[str]:
    found: set[str] = set()

    class Find(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            t = node.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) \
                    and t.value.value == "self":
                found.add(t.attr.value)

    fn.visit(Find())
    return found


def _layer_path(ir: ModelIR, attrs: set[str], attr: str) -> str | None:
    """The module path of layer ``attr`` (``conv1``, ``layers[3]``), WEIGHTLESS for a layer
    with no module, None for no layer of that name."""
    if attr in ir.module_paths:
        return ir.module_paths[attr]
    if attr in attrs:
        return attr
    if any(layer.attr == attr for layer in ir.layers):
        return WEIGHTLESS
    return None


def _by_name(ir: ModelIR, attrs: set[str], name: str) -> str | None:
    base = identifier(name)
    for attr in (base, f"{base}_layer"):
        path = _layer_path(ir, attrs, attr)
        if path is not None:
            return path
    if name in ir.named_inputs:
        return WEIGHTLESS  # an Input's InputLayer
    return None


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def layer_ref(node: cst.BaseExpression, models: Mapping[str, ModelIR],
              attrs: Mapping[str, set[str]]) -> tuple[cst.BaseExpression | None, str] | None:
    """``V.get_layer(n)`` / ``V.get_layer(name=n)`` / ``V.layers[k]`` of a converted model
    ``V``: (the module's code, or None for a layer without weights; "") or (None, why it
    cannot be read); None for any other expression."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value == "get_layer" and isinstance(node.func.value, cst.Name) \
            and node.func.value.value in models and len(node.args) == 1 \
            and not node.args[0].star and (node.args[0].keyword is None
                                          or node.args[0].keyword.value == "name"):
        var = node.func.value.value
        name = _string(node.args[0].value)
        if name is None:  # known at run time only
            return cst.Call(cst.Name("layer_named"), [
                cst.Arg(cst.Name(var), comma=_comma()), cst.Arg(node.args[0].value)]), ""
        path = _by_name(models[var], attrs[var], name)
        if path is None:
            return None, (f"{var}.get_layer({name!r}): the converted model has no layer the "
                          "rules know by that name")
        return _module(var, path), ""
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) \
            and node.value.attr.value == "layers" and isinstance(node.value.value, cst.Name) \
            and node.value.value.value in models and len(node.slice) == 1 \
            and isinstance(node.slice[0].slice, cst.Index):
        var = node.value.value.value
        index = node.slice[0].slice.value
        k = _int(index)
        names = layer_names(models[var])
        if k is None or not -len(names) <= k < len(names):
            return None, f"{var}.layers[{cst.Module([]).code_for_node(index)}]: not an index " \
                         "the rules can read"
        attr = names[k]
        path = _layer_path(models[var], attrs[var], attr) if attr else WEIGHTLESS
        if path is None:
            return None, f"{var}.layers[{k}]: no module of the converted model"
        return _module(var, path), ""
    return None


def _int(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, cst.Integer):
        return -int(node.expression.evaluated_value)
    return None


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _module(var: str, path: str) -> cst.BaseExpression | None:
    return None if path == WEIGHTLESS else cst.parse_expression(f"{var}.{path}")


def weight_call(call: cst.Call, models: Mapping[str, ModelIR],
                attrs: Mapping[str, set[str]], layer_vars: Mapping[str, str]) -> Access | None:
    """``X.get_weights()`` / ``X.set_weights(w)`` with ``X`` a converted model, one of its
    layers (``get_layer``/``layers[k]``) or a variable bound to one (``layer_vars``: name ->
    its module's code): the runtime call; None when ``call`` is none of those."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value in WEIGHT_CALLS):
        return None
    wanted = 0 if func.attr.value == "get_weights" else 1
    if len(call.args) != wanted or any(a.keyword is not None or a.star for a in call.args):
        return None
    target = func.value
    module: cst.BaseExpression | None
    if isinstance(target, cst.Name) and target.value in models:
        module = target
    elif isinstance(target, cst.Name) and target.value in layer_vars:
        module = target if layer_vars[target.value] != WEIGHTLESS else None
    else:
        ref = layer_ref(target, models, attrs)
        if ref is None:
            return None
        module, why = ref
        if why:
            return Access(None, why)
    helper = WEIGHT_CALLS[func.attr.value]
    if module is None and not wanted:
        return Access(cst.List([]))  # Keras's get_weights() of a layer without weights
    first = module if module is not None else cst.Name("None")
    args = [cst.Arg(first, comma=_comma() if wanted else cst.MaybeSentinel.DEFAULT)]
    args += [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in call.args]
    return Access(cst.Call(cst.Name(helper), args))


def weight_value(call: cst.Call, models: Mapping[str, ModelIR],
                 attrs: Mapping[str, set[str]], layer_vars: Mapping[str, str]
                 ) -> Access | None:
    """``X.kernel.numpy()`` (any name of WEIGHT_ATTRS) of a layer of a converted model:
    ``layer_weight(X, "kernel")``, the NumPy value in Keras's layout; None otherwise."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "numpy" and not call.args
            and isinstance(func.value, cst.Attribute)
            and func.value.attr.value in WEIGHT_ATTRS):
        return None
    target = func.value.value
    module: cst.BaseExpression | None
    if isinstance(target, cst.Name) and target.value in layer_vars:
        module = target if layer_vars[target.value] != WEIGHTLESS else None
    else:
        ref = layer_ref(target, models, attrs)
        if ref is None:
            return None
        module, why = ref
        if why:
            return Access(None, why)
    if module is None:
        return Access(None, f"{func.value.attr.value} of a layer without weights")
    return Access(cst.Call(cst.Name("layer_weight"), [
        cst.Arg(module, comma=_comma()),
        cst.Arg(cst.SimpleString(f'"{func.value.attr.value}"'))]))
