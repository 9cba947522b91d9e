"""keras.applications backbones → torchvision.models, as layers of a converted model.

``keras.applications.VGG16(include_top=False, weights="imagenet")`` becomes one module of the
converted class: the torchvision builder (``weights="imagenet"`` → its ImageNet weights enum,
``None`` → none), its feature part for ``include_top=False`` (channels first: the model's
layout policy permutes into it and back where Keras's graph needs channels last), optional
global pooling, and ``FrozenModule`` for ``trainable = False``. torchvision's weights are not
Keras's and several architectures differ in details, so every conversion carries a warning
that says what differs (semantics.py then keeps the file from being called "converted").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import libcst as cst

from agent.rules.models.applications_table import (
    BACKBONES,
    DIFFERS_WARNINGS,
    FULL_TABLES,
    NODE_ROOT,
    NODES,
    PREFIX,
    PREPROCESS_NAMES,
    Backbone,
    spatial,
)
from agent.rules.models.graph import Layer
from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, LayerSpec, Unsupported
from agent.rules.values import Value, evaluate

_PARAMS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
           "classifier_activation")
_DEFAULTS = {"include_top": True, "weights": "imagenet", "input_tensor": None,
             "input_shape": None, "pooling": None, "classes": 1000,
             "classifier_activation": "softmax"}


def is_application(qualname: str | None) -> bool:
    """A keras.applications model constructor (known to the table or not)."""
    return qualname is not None and qualname.startswith("keras.applications.") and \
        qualname.rsplit(".", 1)[1][:1].isupper()


def spec_for(qualname: str) -> LayerSpec | None:
    """The layer spec of a table application; None when the table has no row for it."""
    backbone = BACKBONES.get(qualname)
    if backbone is None or not backbone.builder:
        return None

    def build(args: Args, shapes: Sequence[Shape], ctx: BuildContext) -> Built:
        return _build(backbone, args, shapes)

    return LayerSpec(backbone.keras, _PARAMS, dict(_DEFAULTS), build,
                     torch=(f"torchvision.models.{backbone.builder}",),
                     ignorable=("name", "input_shape", "input_tensor", "trainable"))


def missing(qualname: str) -> str:
    """Why an application has no conversion (one report record)."""
    name = qualname.rsplit(".", 1)[1]
    if qualname in BACKBONES:
        return (f"keras.applications.{name} has no torchvision model: kept as Keras "
                "(choose a torchvision or timm backbone by hand)")
    return f"keras.applications.{name} is not in the applications table yet"


def _weights(backbone: Backbone, args: Args) -> str:
    weights = args.get("weights")
    if weights is None:
        return "None"
    if weights == "imagenet":
        return f"torchvision.models.{backbone.weights}"
    raise Unsupported(f"{backbone.keras}(weights={weights!r}): weights from a file are Keras's "
                      "format; load them with port-weights or by hand")


def _weight_warnings(backbone: Backbone, weights: str) -> list[str]:
    """What differs from Keras's model: the weights (or their init) and the architecture."""
    warnings: list[str] = []
    if weights == "None":
        warnings.append(f"torchvision.models.{backbone.builder} with random weights: "
                        "torchvision initializes them its own way (not Keras's initializers)")
    else:
        warnings.append(f"torchvision.models.{backbone.builder} with torchvision's ImageNet "
                        f"weights ({backbone.weights}), not Keras's: outputs differ, and "
                        "torchvision's weights expect torchvision's preprocessing (RGB in [0, "
                        "1], ImageNet mean/std), not the Keras family's preprocess_input")
    if backbone.differs:
        warnings.append(DIFFERS_WARNINGS[backbone.differs])
    return warnings


def _build(backbone: Backbone, args: Args, shapes: Sequence[Shape]) -> Built:
    weights = _weights(backbone, args)
    include_top = args.get("include_top")
    pooling = args.get("pooling")
    classes = args.get("classes")
    frozen = args.get("trainable") is False
    warnings: list[str] = []
    warnings += _weight_warnings(backbone, weights)
    size = shapes[0] if shapes and shapes[0] else None
    builder, tail = f"torchvision.models.{backbone.builder}", _extra(backbone, weights)
    if include_top:
        if weights != "None" and classes != 1000:
            raise Unsupported(f"{backbone.keras}(weights='imagenet', classes={classes}): Keras "
                              "refuses it too")
        if weights != "None" and not backbone.top_weights:
            raise Unsupported(f"{backbone.keras}(include_top=True, weights='imagenet'): "
                              "torchvision's model returns its auxiliary logits too")
        num = "" if classes == 1000 else f", num_classes={args.code('classes')}"
        ctor = f"{builder}(weights={weights}{num}{tail})"
        activation = args.get("classifier_activation")
        if backbone.top_differs:
            warnings.append(DIFFERS_WARNINGS[backbone.top_differs])
        out: Shape = (classes if isinstance(classes, int) else args.code("classes"),)
    else:
        model = f"{builder}(weights={weights}{tail})"
        ctor = backbone.features.format(m=model)
        activation = None
        if pooling in ("avg", "max"):
            pool = "nn.AdaptiveAvgPool2d(1)" if pooling == "avg" else "nn.AdaptiveMaxPool2d(1)"
            ctor = f"nn.Sequential({ctor}, {pool}, nn.Flatten())"
            out = (backbone.channels,)
        elif pooling is None:
            h = spatial(backbone.spatial, _int(size[0])) if size and len(size) == 3 else None
            w = spatial(backbone.spatial, _int(size[1])) if size and len(size) == 3 else None
            out = (h, w, backbone.channels)
        else:
            raise Unsupported(f"{backbone.keras}(pooling={pooling!r})")
    if backbone.rescales and weights == "None":
        ctor = f"nn.Sequential({PREFIX['None']}, {ctor})"
        warnings.append("the Keras model divides its [0, 255] input by 255 itself (its "
                        "Normalization layer is not adapted without weights): so does the "
                        "converted one")
    elif backbone.rescales:
        ctor = f"nn.Sequential({PREFIX['imagenet']}, {ctor})"
        warnings.append("the Keras model normalizes its [0, 255] input itself: the converted "
                        "one applies the ImageNet mean/std torchvision's weights expect")
    if frozen:
        ctor = f"FrozenModule({ctor})"
        warnings.append("trainable = False -> FrozenModule (requires_grad_"
                     "(False), and its BatchNorm layers stay in eval mode as Keras runs frozen "
                     "BatchNormalization in inference mode)")
    return Built(out=out, forward="{m}({x})", modules=(("", ctor),), layout="cf",
                 out_layout="cf" if len(out) == 3 else None, activation=activation,
                 warnings=tuple(warnings))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def is_backbone(spec: LayerSpec | None) -> bool:
    return spec is not None and spec.torch[:1] != () and spec.torch[0].startswith(
        "torchvision.models.")


def freeze(small: cst.BaseSmallStatement, layer_vars: Mapping[str, Layer]) -> Layer | None:
    """``base.trainable = False`` on a backbone bound to a name: its layer, now frozen
    (the statement belongs to the model from then on); None for any other statement."""
    if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
        return None
    target = small.targets[0].target
    if not (isinstance(target, cst.Attribute) and target.attr.value == "trainable"
            and isinstance(target.value, cst.Name) and target.value.value in layer_vars):
        return None
    layer = layer_vars[target.value.value]
    value = evaluate(small.value)
    if not is_backbone(layer.spec) or layer.args is None or value.value is not False:
        return None
    layer.args.values["trainable"] = value
    return layer


def input_tensor(call: cst.Call) -> cst.BaseExpression | None:
    """The ``input_tensor=`` of an application call (it then builds a whole model)."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == "input_tensor":
            return None if isinstance(a.value, cst.Name) and a.value.value == "None" \
                else a.value
    return None


def as_model(inputs: cst.BaseExpression, output: str) -> cst.Call:
    """``keras.Model(inputs=<inputs>, outputs=<output>)``, for the functional tracer."""
    return cst.Call(cst.Attribute(cst.Name("keras"), cst.Name("Model")), args=[
        cst.Arg(inputs, keyword=cst.Name("inputs")),
        cst.Arg(cst.Name(output), keyword=cst.Name("outputs"))])


def _extra(backbone: Backbone, weights: str) -> str:
    return backbone.extra if weights == "None" else ""


def function_alias(name: str, value: cst.BaseExpression,
                   qual: Callable[[cst.BaseExpression], str | None]) -> str | None:
    """``preprocess_input = keras.applications.x.preprocess_input``: the function's qualified
    name when ``value`` is a keras.applications preprocess function (the tracer reads calls of
    ``name`` as calls of it), else None."""
    if not isinstance(value, (cst.Attribute, cst.Name)):
        return None
    q = qual(value)
    return q if q in PREPROCESS_NAMES else None


def used_once(body: Sequence[cst.BaseStatement], name: str) -> bool:
    """Whether ``name`` is read once in ``body`` (besides being bound)."""
    counter = _Reads(name)
    for stmt in body:
        stmt.visit(counter)
    return counter.count == 1


class _Reads(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.count += node.value == self.name


def io_names(small: cst.BaseSmallStatement, layer_vars: Mapping[str, Layer],
             make: Callable[[str, str], str]) -> cst.BaseSmallStatement:
    """``base.input`` / ``base.output`` (and the plural forms) of a backbone bound to a name,
    and ``base.get_layer("name").output``, read as the names of tensors of a graph:
    ``make(var, what)`` ("input", "output" or the layer's name) creates them (an Input of
    the backbone's ``input_shape``, the backbone or its feature extractor called on it)."""
    if not any(is_backbone(layer.spec) for layer in layer_vars.values()):
        return small  # the node itself: other passes know statements by identity
    io = _Io(layer_vars, make)
    new = small.visit(io)
    assert isinstance(new, cst.BaseSmallStatement)
    return new if io.replaced else small


class _Io(cst.CSTTransformer):
    def __init__(self, layer_vars: Mapping[str, Layer], make: Callable[[str, str], str]
                 ) -> None:
        super().__init__()
        self.layer_vars = layer_vars
        self.make = make
        self.replaced = False

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute
                        ) -> cst.BaseExpression:
        base = original_node.value
        attr = original_node.attr.value
        if isinstance(base, cst.Call) and attr == "output" and isinstance(base.func, cst.Attribute) \
                and base.func.attr.value == "get_layer" and len(base.args) == 1:
            name = evaluate(base.args[0].value).value
            keyword = base.args[0].keyword
            if isinstance(name, str) and (keyword is None or keyword.value == "name"):
                base, attr = base.func.value, f"layer:{name}"
        if not (isinstance(base, cst.Name) and base.value in self.layer_vars
                and is_backbone(self.layer_vars[base.value].spec)
                and (attr in ("input", "inputs", "output", "outputs")
                     or attr.startswith("layer:"))):
            return updated_node
        what = attr if attr.startswith("layer:") else attr.removesuffix("s")
        self.replaced = True
        return cst.Name(self.make(base.value, what))


def extractor(layer: Layer, attr: str, line: int) -> Layer:
    """The feature extractor of backbone ``layer`` (one per backbone: every
    ``get_layer(name).output`` of it is one of its nodes, computed in one pass)."""
    assert layer.spec is not None and layer.args is not None
    backbone = BACKBONES[f"keras.applications.{layer.spec.keras}"]
    nodes: list[str] = []
    args = layer.args

    def build(_: Args, shapes: Sequence[Shape], ctx: BuildContext) -> Built:
        return _build_extractor(backbone, args, nodes, shapes, ctx)

    spec = LayerSpec(backbone.keras, (), {}, build, call_args=("node",),
                     torch=("create_feature_extractor",))
    return Layer(attr, line, spec=spec, args=Args(backbone.keras, {"nodes": Value(
        repr(nodes), nodes)}, {}, used={"nodes"}), keras_name=f"{backbone.keras} features",
                 written=layer.source)


def add_node(extractor_layer: Layer, name: str) -> None:
    """One more Keras layer read from the backbone, or Unsupported when no table maps it."""
    assert extractor_layer.args is not None
    keras = extractor_layer.keras_name.split()[0]
    table = NODES.get(keras)
    if table is None:
        raise Unsupported(f"get_layer({name!r}) of keras.applications.{keras}: no table maps "
                          "its layer names to torchvision nodes yet (feature extraction by hand: "
                          "torchvision.models.feature_extraction.get_graph_node_names)")
    if name not in table:
        raise Unsupported(f"{keras} layer {name!r}: no torchvision node computes that point "
                          "(or Keras has no such layer); extract it by hand")
    nodes = extractor_layer.args.values["nodes"].value
    if name not in nodes:
        nodes.append(name)


def _build_extractor(backbone: Backbone, args: Args, nodes: list[str], shapes: Sequence[Shape],
                     ctx: BuildContext) -> Built:
    weights = _weights(backbone, args)
    table = NODES[backbone.keras]
    pairs = ", ".join(f'"{table[n][0]}": "{n}"' for n in nodes)
    model = (f"torchvision.models.{backbone.builder}(weights={weights}{_extra(backbone, weights)})"
             f"{NODE_ROOT.get(backbone.keras, '')}")
    ctor = f"create_feature_extractor({model}, return_nodes={{{pairs}}})"
    warnings: list[str] = []
    warnings.append(f"get_layer(...).output of {backbone.keras} -> create_feature_extractor on "
                    f"torchvision.models.{backbone.builder}(weights={weights})"
                    f"{NODE_ROOT.get(backbone.keras, '')}")
    warnings += _weight_warnings(backbone, weights)
    if args.values.get("trainable") is not None and args.values["trainable"].value is False:
        ctor = f"FrozenModule({ctor})"
    called: list[str] = ctx.call_kwargs["node"].value
    size = shapes[0] if shapes and shapes[0] and len(shapes[0]) == 3 else (None, None, 3)
    outs: list[Shape] = []
    for node in called:
        _, halvings, channels = table[node]
        h, w = (_halved(d, halvings, backbone.spatial) for d in size[:2])
        outs.append((h, w, channels))
    if len(called) == 1:
        return Built(out=outs[0], forward=f'{{m}}({{x}})["{called[0]}"]',
                     modules=(("", ctor),), layout="cf", out_layout="cf",
                     warnings=tuple(warnings))
    # several nodes: one pass; the extractor returns them in return_nodes's order
    targets = ", ".join(f"{{y{k}}}" for k in range(len(called)))
    targets = f"({targets})" if len(called) > 2 else targets  # the formatter splits it
    stmts = ((f"{targets} = {{m}}({{x}}).values()",) if called == nodes else
             tuple(f'{{y{k}}} = {{m}}({{x}})["{n}"]' for k, n in enumerate(called)))
    return Built(out=outs, forward="", stmts=stmts, modules=(("", ctor),), layout="cf",
                 out_layout="cf", warnings=tuple(warnings))


def _halved(size: object, halvings: int | None, kind: str) -> int | None:
    """A feature map's size after ``halvings`` stride-2 steps (floor: VGG's 2x2 pools;
    otherwise rounded up, as 'same' padding does)."""
    if not isinstance(size, int) or halvings is None:
        return None
    return size // (1 << halvings) if kind == "floor32" else -(-size // (1 << halvings))


def example_size(layer: Layer) -> int:
    """The example input's size of a backbone that takes any size (large enough for its
    strides and 'valid' steps)."""
    return 299 if layer.spec is not None and layer.spec.keras in (
        "InceptionV3", "Xception", "InceptionResNetV2") else 224


def default_input(layer: Layer) -> tuple[int | None, ...]:
    """Keras's input shape without ``input_shape=``: the ImageNet size with the classifier
    (Keras requires it then), any size without."""
    top = layer.args.values.get("include_top") if layer.args is not None else None
    if top is not None and top.value is False or layer.spec is None:
        return (None, None, 3)
    return (example_size(layer), example_size(layer), 3)


def layer_names(keras: str) -> list[str] | None:
    """``base.layers`` of a table application, in Keras's order without its InputLayer;
    None unless the node table names every layer."""
    table = NODES.get(keras)
    return list(table) if table is not None and keras in FULL_TABLES else None


def reads_layers(body: Sequence[cst.BaseStatement], var: str) -> bool:
    """Whether ``body`` reads ``var.get_layer`` or ``var.layers``: the Keras model's own API,
    so ``var`` must not become a converted model class."""
    finder = _LayerReads(var)
    for stmt in body:
        stmt.visit(finder)
    return finder.found


class _LayerReads(cst.CSTVisitor):
    def __init__(self, var: str) -> None:
        self.var = var
        self.found = False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == self.var \
                and node.attr.value in ("get_layer", "layers"):
            self.found = True
