"""Models over another model's tensors: feature extractors, Grad-CAM and inspection models.

``keras.Model(inputs=model.inputs, outputs=model.get_layer("conv").output)`` shares the
layers of ``model``: same objects, same weights. Over a converted model the new class takes
the converted instance and reuses its modules (``self.conv = model.conv``), and its forward
is the original forward up to the requested points. The expressions that name those points
(``model.input``, ``model.output``, ``model.get_layer(n).output``, ``layer.output`` of
``layer = model.get_layer(n)``, ``model.layers[k].output``) and the comprehensions that
collect them (``dict([(layer.name, layer.output) for layer in model.layers])``,
``{n: model.get_layer(n).output for n in names}``) are read here; the tracer binds them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import libcst as cst

from agent.rules import walk
from agent.rules.models import inline
from agent.rules.models.graph import CtorParam, Layer, ModelIR, Tensor
from agent.rules.spec import Unsupported
from agent.rules.values import evaluate

VIEW_WARNINGS = {
    "inputs": "the InputLayer entries of model.layers are left out of the converted dict "
              "(their Keras names depend on the Keras version)"}

# how ``M.layers`` is known: the Keras layer names of model ``M`` in order (None: unknown)
LayerNames = Callable[[str], "list[str] | None"]


def _get_layer(model: str, name: str) -> cst.Call:
    return cst.Call(cst.Attribute(cst.Name(model), cst.Name("get_layer")),
                    args=[cst.Arg(cst.SimpleString(repr(name)))])


def _layer_ref(node: cst.BaseExpression) -> tuple[str, str] | None:
    """``M.get_layer("n")`` / ``M.get_layer(name="n")`` -> (M, n)."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "get_layer" and isinstance(node.func.value, cst.Name)
            and len(node.args) == 1):
        return None
    arg = node.args[0]
    name = evaluate(arg.value).value
    if not isinstance(name, str) or arg.keyword is not None and arg.keyword.value != "name":
        return None
    return node.func.value.value, name


class _Put(cst.CSTTransformer):
    """The comprehension variable replaced by one item; ``M.get_layer("n").name`` -> "n"."""

    def __init__(self, mapping: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.mapping = mapping

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name
                   ) -> cst.BaseExpression:
        return self.mapping.get(original_node.value, updated_node)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        ref = _layer_ref(updated_node.value)
        if ref is not None and updated_node.attr.value == "name":
            return cst.SimpleString(repr(ref[1]))
        return updated_node.with_changes(attr=original_node.attr)  # ``x.name`` stays

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


def _items(node: cst.BaseExpression, env: dict[str, Any], layer_names: LayerNames,
           skipped: list[str]) -> list[cst.BaseExpression] | None:
    """The items a comprehension iterates over, as expressions: ``M.layers`` -> the
    ``M.get_layer("n")`` of each layer; a list comprehension -> its expanded items; a
    static sequence (``names``, ``settings.keys()``) -> its literals."""
    if isinstance(node, cst.Attribute) and node.attr.value == "layers" \
            and isinstance(node.value, cst.Name):
        names = layer_names(node.value.value)
        if names is None:
            return None
        # an InputLayer Keras names by itself: a placeholder, left out after slicing
        return [_get_layer(node.value.value, n) if n else cst.Name("None") for n in names]
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) \
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Slice):
        whole = _items(node.value, env, layer_names, skipped)  # ``model.layers[1:]``
        sl = node.slice[0].slice
        bounds = [inline.static_value(b, env) if b is not None else None
                  for b in (sl.lower, sl.upper)]
        if whole is None or sl.step is not None or not all(
                b is None or type(b) is int for b in bounds):
            return None
        return whole[bounds[0]:bounds[1]]
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        return _expand(node.for_in, [node.elt], env, layer_names, lambda parts: parts[0],
                       skipped)
    values = inline.static_value(node, env)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value == "keys" and not node.args:  # ``settings.keys()``
        mapping = inline.static_value(node.func.value, env)
        values = list(mapping) if isinstance(mapping, dict) else values
    if not isinstance(values, (list, tuple, range)) or len(values) > inline.MAX_UNROLL:
        return None
    return [inline.literal(v) for v in values]


def _expand(for_in: cst.CompFor, parts: Sequence[cst.BaseExpression], env: dict[str, Any],
            layer_names: LayerNames,
            make: Callable[[list[cst.BaseExpression]], cst.BaseExpression],
            skipped: list[str]) -> list[cst.BaseExpression] | None:
    if for_in.ifs or for_in.inner_for_in is not None or for_in.asynchronous \
            or not isinstance(for_in.target, cst.Name):
        return None
    items = _items(for_in.iter, env, layer_names, skipped)
    if items is None:
        return None
    var = for_in.target.value
    out: list[cst.BaseExpression] = []
    for item in items:
        if isinstance(item, cst.Name) and item.value == "None":
            skipped.append(VIEW_WARNINGS["inputs"])
            continue
        put = _Put({var: item})
        out.append(make([p.visit(put) for p in parts]))  # type: ignore[misc]
    return out


def expand(node: cst.BaseExpression, env: dict[str, Any], layer_names: LayerNames,
           skipped: list[str]) -> cst.BaseExpression | None:
    """A comprehension that collects layers' outputs, as a display with literal keys
    (``{"block1_conv1": M.get_layer("block1_conv1").output, ...}``); None for anything
    else. Only comprehensions over ``M.layers`` / ``M.get_layer`` are taken."""
    if "get_layer" not in _code(node) and ".layers" not in _code(node):
        return None
    pairs: list[cst.BaseExpression] | None = None
    if isinstance(node, cst.DictComp):
        pairs = _expand(node.for_in, [node.key, node.value], env, layer_names,
                        lambda parts: cst.Tuple([cst.Element(p) for p in parts]), skipped)
    elif isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
            and node.func.value == "dict" and len(node.args) == 1 \
            and node.args[0].keyword is None \
            and isinstance(node.args[0].value, (cst.ListComp, cst.GeneratorExp)):
        comp = node.args[0].value
        pairs = _expand(comp.for_in, [comp.elt], env, layer_names, lambda parts: parts[0],
                        skipped)
    elif isinstance(node, cst.ListComp):
        items = _expand(node.for_in, [node.elt], env, layer_names, lambda parts: parts[0],
                        skipped)
        return cst.List([cst.Element(e) for e in items]) if items is not None else None
    if pairs is None:
        return None
    elements: list[cst.BaseDictElement] = []
    for pair in pairs:
        if not (isinstance(pair, cst.Tuple) and len(pair.elements) == 2):
            return None
        key = inline.static_value(pair.elements[0].value, env)
        if not isinstance(key, str):
            return None
        elements.append(cst.DictElement(cst.SimpleString(repr(key)), pair.elements[1].value))
    return cst.Dict(elements)


class _ExpandAll(cst.CSTTransformer):
    def __init__(self, env: dict[str, Any], layer_names: LayerNames) -> None:
        super().__init__()
        self.env = env
        self.layer_names = layer_names
        self.skipped: list[str] = []

    def leave_ListComp(self, original_node: cst.ListComp, updated_node: cst.ListComp
                       ) -> cst.BaseExpression:
        return expand(original_node, self.env, self.layer_names, self.skipped) or updated_node

    def leave_DictComp(self, original_node: cst.DictComp, updated_node: cst.DictComp
                       ) -> cst.BaseExpression:
        return expand(original_node, self.env, self.layer_names, self.skipped) or updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call
                   ) -> cst.BaseExpression:
        if isinstance(original_node.func, cst.Name) and original_node.func.value == "dict":
            return expand(original_node, self.env, self.layer_names, self.skipped) or updated_node
        return updated_node


def expand_all(small: cst.BaseSmallStatement, env: dict[str, Any], layer_names: LayerNames
               ) -> tuple[cst.BaseSmallStatement, list[str]]:
    """:func:`expand` applied to every comprehension of ``small``, and the warnings. The
    caller has found that ``small`` may name layers (:func:`view_hints`)."""
    code = _code(small)
    if "get_layer" not in code and ".layers" not in code:
        return small, []
    expander = _ExpandAll(env, layer_names)
    new = small.visit(expander)
    assert isinstance(new, cst.BaseSmallStatement)
    return new, sorted(set(expander.skipped))


LAYER_WORDS = re.compile(r"get_layer|\.layers")


def view_hints(node: cst.CSTNode, comments: bool = True) -> tuple[bool, bool]:
    """(whether ``node`` may name layers, :func:`may_read`), from one walk (most statements
    hold neither). It names none when its code holds neither "get_layer" nor ".layers",
    found without generating it: a word is inside one of its strings (keywords and
    operators hold neither), a dot before "layers" is an attribute's or a relative
    import's. Without ``comments``, whitespace and comments (all its tokens) are not
    searched for those words."""
    names = reads = False
    for n in walk.every(node) if comments else walk.nodes(node):
        kind = type(n)
        if kind is cst.Attribute:
            attr = cast(cst.Attribute, n).attr.value
            reads = reads or attr in _READ_ATTRS
            names = names or attr.startswith("layers")
        elif kind is cst.ImportFrom and cast(cst.ImportFrom, n).relative:
            names = True
        names = names or any("get_layer" in text or ".layers" in text
                             for text in walk.strings(n))
        if names and reads:
            break
    return names, reads


class _NamedLayers(cst.CSTTransformer):
    def __init__(self, env: Mapping[str, Any]) -> None:
        super().__init__()
        self.env = env

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = updated_node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "get_layer"
                and len(updated_node.args) == 1
                and isinstance(updated_node.args[0].value, cst.Name)):
            return updated_node
        value = self.env.get(updated_node.args[0].value.value)
        if not isinstance(value, str):
            return updated_node
        arg = updated_node.args[0].with_changes(value=cst.SimpleString(repr(value)))
        return updated_node.with_changes(args=[arg])


def named_layers(small: cst.BaseSmallStatement, env: Mapping[str, Any]
                 ) -> cst.BaseSmallStatement:
    """``M.get_layer(name)`` with ``name`` a string constant of ``env`` (a parameter every
    call passes the same string, a module constant) → ``M.get_layer("that string")``. The
    caller has found that ``small`` may name layers (:func:`view_hints`)."""
    if "get_layer" not in _code(small):
        return small
    new = small.visit(_NamedLayers(env))
    assert isinstance(new, cst.BaseSmallStatement)
    return new


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


class Reads(cst.CSTTransformer):
    """``M.input`` / ``M.inputs`` / ``M.output`` / ``M.outputs``, ``M.get_layer(n).output``
    and ``.input``, ``M.layers[k].output``, ``layer.output`` (``layer = M.get_layer(n)``) of
    a model ``M`` that ``known(M)`` accepts, replaced by the tensor names ``make(M, what)``
    gives ("input", "inputs", "output", "outputs", "layer:<n>", "layer_input:<n>")."""

    def __init__(self, known: Callable[[str], bool], make: Callable[[str, str], cst.BaseExpression],
                 aliases: Mapping[str, tuple[str, str]], layer_names: LayerNames) -> None:
        super().__init__()
        self.known = known
        self.make = make
        self.aliases = aliases
        self.layer_names = layer_names
        self.replaced = False

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        attr = original_node.attr.value
        base = original_node.value
        ref = _layer_ref(base)
        if ref is None and isinstance(base, cst.Name) and base.value in self.aliases:
            ref = self.aliases[base.value]
        if ref is None and isinstance(base, cst.Subscript) \
                and isinstance(base.value, cst.Attribute) \
                and base.value.attr.value == "layers" \
                and isinstance(base.value.value, cst.Name) and len(base.slice) == 1 \
                and isinstance(base.slice[0].slice, cst.Index):
            k = evaluate(base.slice[0].slice.value).value
            names = self.layer_names(base.value.value.value)
            if type(k) is int and names is not None and -len(names) <= k < len(names) \
                    and names[k]:
                ref = (base.value.value.value, names[k])
        if ref is not None and attr in ("output", "input") and self.known(ref[0]):
            self.replaced = True
            return self.make(ref[0], f"layer:{ref[1]}" if attr == "output"
                             else f"layer_input:{ref[1]}")
        if isinstance(base, cst.Name) and attr in ("input", "inputs", "output", "outputs") \
                and self.known(base.value):
            self.replaced = True
            return self.make(base.value, attr)
        return updated_node


_READ_ATTRS = frozenset({"input", "inputs", "output", "outputs", "layers"})


def may_read(node: cst.CSTNode) -> bool:
    """Whether :class:`Reads` can replace (or look up layer names for) anything in
    ``node``: it acts only on those attributes and on subscripts of ``M.layers``."""
    return any(type(n) is cst.Attribute and n.attr.value in _READ_ATTRS
               for n in walk.nodes(node))  # (libcst's node classes are final)


def layer_alias(small: cst.BaseSmallStatement, known: Callable[[str], bool]
                ) -> tuple[str, tuple[str, str]] | None:
    """``layer = M.get_layer(n)``: (layer, (M, n))."""
    if not (isinstance(small, cst.Assign) and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)):
        return None
    ref = _layer_ref(small.value)
    if ref is None or not known(ref[0]):
        return None
    return small.targets[0].target.value, ref


def point(ir: ModelIR, what: str) -> Tensor | list[Tensor]:
    """The tensor(s) of converted model ``ir`` that ``what`` names (see :class:`Reads`)."""
    if what in ("input", "inputs", "output", "outputs"):
        ts = ir.inputs if what.startswith("input") else ir.outputs
        if not ts:
            raise Unsupported(f"model.{what} of a model without {what}s")
        # several: model.input / model.output is their list, as model.inputs is
        return list(ts) if what.endswith("s") or len(ts) > 1 else ts[0]
    kind, name = what.split(":", 1)
    for t in ir.inputs:
        if ir.named_inputs.get(name) is t:
            return t
    calls = [c for c in ir.calls if keras_name(c.layer) == name]
    if not calls:
        raise Unsupported(f"{ir.var or ir.class_name} has no layer {name!r} the rules know "
                          "by that name")
    if len(calls) > 1:
        raise Unsupported(f"layer {name!r} is called {len(calls)} times in {ir.class_name}: "
                          "Keras's .output of a shared layer is ambiguous")
    ts = calls[0].inputs if kind == "layer_input" else calls[0].outputs
    if not ts:
        raise Unsupported(f"layer {name!r} has no {kind.split('_')[-1]} tensor")
    return ts[0] if len(ts) == 1 else list(ts)  # several: Keras's .output is their list


def layer_names(ir: ModelIR) -> list[str]:
    """Keras's ``model.layers``: a functional model's InputLayers first ("" where Keras
    names it itself), then every layer in first-call order."""
    out: list[str] = []
    if ir.kind != "Sequential":
        by_id = {id(t): n for n, t in ir.named_inputs.items()}
        out += [by_id.get(id(t), "") for t in ir.inputs]
    for c in ir.calls:
        if keras_name(c.layer) not in out:
            out.append(keras_name(c.layer))
    return out


def keras_name(layer: Layer) -> str:
    """The name ``get_layer`` finds ``layer`` by: the script's ``name=``, else the auto name
    the attribute keeps."""
    return layer.given_name or layer.attr


def view(source: ModelIR, source_var: str, var: str, class_name: str, line: int,
         inputs: list[Tensor], outputs: list[Tensor], keys: list[str] | None,
         outputs_are_list: bool, groups: list[int | None] | None = None) -> ModelIR:
    """The class of a model over ``source``'s tensors: its calls up to ``outputs``, sharing
    ``source``'s modules (see ``ModelIR.shares``)."""
    producer = {id(t): c for c in source.calls for t in c.outputs}
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        t = stack.pop()
        c = producer.get(id(t))
        if c is None or id(c) in needed:
            continue
        needed.add(id(c))
        stack.extend(c.inputs)
    given = {id(t) for t in inputs}
    calls = [c for c in source.calls if id(c) in needed]
    made = {id(t) for c in calls for t in c.outputs}
    for c in calls:
        for t in c.inputs:
            if id(t) not in made and id(t) not in given:
                raise Unsupported(f"the model over {source_var} needs its input {t.name}, "
                                  "which its inputs= does not give")
    for t in outputs:
        if id(t) not in made and id(t) not in given:
            raise Unsupported(f"an output of the model over {source_var} is not computed "
                              "from its inputs=")
    # fresh tensors: an output whose name forward rebinds later gets a name of its own
    names: dict[int, str] = {}
    taken = {t.name for c in calls for t in (*c.inputs, *c.outputs)} | {t.name for t in inputs}
    wanted = {id(t) for t in outputs}
    for k, c in enumerate(calls):
        for t in c.outputs:
            later = any(u.name == t.name for c2 in calls[k + 1:] for u in c2.outputs)
            if id(t) in wanted and (later or t.name == "_"):  # ``x, _ = layer(x)``
                base = f"{c.layer.attr}_output"
                name, n = base, 1
                while name in taken:
                    n += 1
                    name = f"{base}_{n}"
                taken.add(name)
                names[id(t)] = name
    copies: dict[int, Tensor] = {}

    def copy(t: Tensor) -> Tensor:
        if id(t) not in copies:
            copies[id(t)] = dataclasses.replace(t, name=names.get(id(t), t.name),
                                                free=set(t.free))
        return copies[id(t)]

    new_inputs = [copy(t) for t in inputs]
    new_calls = [dataclasses.replace(c, inputs=[copy(t) for t in c.inputs],
                                     outputs=[copy(t) for t in c.outputs],
                                     call_kwargs=dict(c.call_kwargs)) for c in calls]
    layers = []
    for c in new_calls:
        if c.layer not in layers:
            layers.append(c.layer)
    ir = ModelIR(class_name, var, "Functional", line, new_inputs, layers, new_calls,
                 [copy(t) for t in outputs], outputs_are_list=outputs_are_list,
                 params=[CtorParam(source_var, None)], shares=source, output_keys=keys,
                 output_groups=groups)
    ir.graph_names = set(source.graph_names)
    return ir


# how a script may use a keras.applications model that becomes a whole converted model
_MODEL_USES = re.compile(r"\.(predict|summary)\(|\.(inputs?|outputs?)\b|\(|"
                         r"\.get_layer\((name=)?['\"][\w/]+['\"]\)\.(output|input)\b")


def model_uses_only(body: Sequence[cst.BaseStatement], var: str, at: int) -> bool:
    """Whether the statements of ``body`` after ``at`` read ``var`` only as a whole model
    (``var.predict(x)``, ``var(x)``, ``var.output``, ``var.get_layer("n").output``) and
    never inside a function or class, nor rebind it."""
    word = re.compile(rf"(?<![\w.]){re.escape(var)}\b")
    for k, stmt in enumerate(body):
        if k <= at:
            continue
        code = cst.Module([]).code_for_node(stmt)
        hits = list(word.finditer(code))
        if hits and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return False
        for m in hits:
            if not _MODEL_USES.match(code, m.end()) or code[m.end():].lstrip().startswith("="):
                return False
    return True
