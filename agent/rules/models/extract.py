"""Read Keras model definitions out of a block of statements into :class:`ModelIR`.

Handles ``Sequential([...])``, ``Sequential()`` + ``.add`` chains, functional graphs
(``Input`` → layer calls → ``Model``), shared layers, layers bound to names, merge functions,
models used as layers (a converted builder's too: ``create_ffn(units)(x)``), and the
containers builders fill in loops: lists of layers (``Sequential(blocks)``), lists and dicts
of tensors (``concatenate(encoded)``, ``inputs = {f: Input(...) for f in FEATURES}``). Statements that only build a model are recorded so the file
transformer can replace them with one instantiation of the generated class.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
import libcst.matchers as m

from agent.rules import walk
from agent.rules.activations import ACTIVATION_FUNCTIONS
from agent.rules.imports import ImportTable
from agent.rules.layers import lookup
from agent.rules.layers.cells import CELLS
from agent.rules.layers.merge import FUNCTIONAL_MERGES
from agent.rules.layers.symbolic import RunTimeShape
from agent.rules.lines import LineIndex
from agent.rules.models import (
    applications,
    blocks,
    class_args,
    constants,
    freezing,
    inline,
    list_helpers,
    loops,
    model_inputs,
    rolled_loops,
    runtime_loops,
    shape_reads,
    signature,
    size_calls,
    string_inputs,
    views,
)
from agent.rules.models.data_shapes import data_shape
from agent.rules.models.expr_shapes import lambda_rule
from agent.rules.models.fed_inputs import Fed
from agent.rules.models.graph import Call, CtorParam, Layer, ModelIR, RolledLoop, Tensor
from agent.rules.models.list_returns import ListReturn
from agent.rules.models.one_line import one_line
from agent.rules.models.op_shapes import shape_rule
from agent.rules.models.seq_build import seq_build, token_sequence_input
from agent.rules.models.shapes import Shape
from agent.rules.naming import NameCounter, class_name_for, identifier, keras_snake
from agent.rules.ops.functions import lambda_function
from agent.rules.spec import Unsupported, bind
from agent.rules.training import activity, custom_regularizers
from agent.rules.training.regularizers import REGULARIZED
from agent.rules.training.regularizers import parse as parse_regularizer
from agent.rules.values import (
    BY_VALUE,
    REBOUND,
    UNKNOWN,
    LocalInt,
    Value,
    by_name,
    code_of,
    evaluate,
    names_read,
)
from agent.rules.values import local as local_value

SEQUENTIAL = "keras.Sequential"
MODEL = "keras.Model"
INPUT = "keras.Input"
_BUILTINS = set(dir(builtins))

# Converts a Lambda / tensor expression: (expression node, {local name: tensor var}) →
# (forward expression code, elementwise?) or raises Unsupported.
LambdaConverter = Callable[[cst.BaseExpression, dict[str, str]], tuple[str, bool]]


class KnockOn(Unsupported):
    """A statement that fails only because an earlier one did (reported there)."""


@dataclass
class ViewState:
    """What the tracer knows of models over other models' tensors (views.py)."""

    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)  # layer = m.get_layer
    alias_stmt: dict[str, int] = field(default_factory=dict)
    source: dict[int, str] = field(default_factory=dict)  # id(tensor) -> its model's variable
    stmts: set[int] = field(default_factory=set)  # statements that read such tensors
    deps: dict[str, set[int]] = field(default_factory=dict)  # name -> statements making it
    dicts: set[str] = field(default_factory=set)  # dicts of them (outputs=dict)
    named_inputs: dict[str, Tensor] = field(default_factory=dict)  # Input(name=...)
    env: dict[str, Any] = field(default_factory=dict)  # the block's constants, as it began


class NotGraph(Unsupported):
    """A layer called on something no graph produced (data, a helper's parameter): no model
    is being built here, so nothing is reported unless a model later reads the result."""


@dataclass
class Found:
    ir: ModelIR
    owned: set[int]  # statement indices (in the block) that only build this model
    at: int  # statement index replaced by the instantiation
    is_return: bool = False
    # statements rewritten for the converted model (`for l in stem: l.trainable = False`)
    rewritten: dict[int, cst.BaseStatement] = field(default_factory=dict)


@dataclass
class _Seq:
    var: str
    start: int
    layers: list[Layer] = field(default_factory=list)
    input_shape: tuple[Any, ...] | None = None
    input_dtype: str = "float"
    owned: set[int] = field(default_factory=set)
    keras_name: str | None = None
    free: set[str] = field(default_factory=set)
    failed: str = ""  # why this model cannot be converted: it is then left as written
    # attribute names of its layers: its own class's, or the block's for a list of layers
    # that a functional model may call (its names must not clash with the model's)
    counter: NameCounter = field(default_factory=NameCounter)
    rewritten: dict[int, cst.BaseStatement] = field(default_factory=dict)


class BlockExtractor:
    """Extracts the models of one block (module body or one function body)."""

    def __init__(self, imports: ImportTable, env: dict[str, Any], *, function: str | None,
                 params: dict[str, str | None], custom_layers: set[str],
                 models_in_scope: dict[str, ModelIR], lambda_converter: LambdaConverter | None,
                 module_names: set[str], lines: Sequence[int],
                 index: LineIndex | None = None,
                 builders: dict[str, ModelIR] | None = None,
                 helpers: dict[str, cst.FunctionDef] | None = None,
                 call_values: dict[str, Any] | None = None,
                 class_args: dict[str, list[str] | None] | None = None,
                 varying: set[str] | None = None) -> None:
        self.builders = builders or {}
        self.call_values = call_values or {}  # parameter -> the value every call passes
        self.varying = varying or set()  # parameters the calls set to different values
        self.class_args = class_args or {}  # parameter -> every value reaching it (code)
        self.class_params: dict[str, str] = {}  # a layer-class parameter -> its torch default
        self.helpers = dict(helpers or {})  # tensor helper functions that can be inlined
        self.inlined: set[str] = set()  # helpers inlined into at least one model
        self.inlining: list[str] = []  # helpers being inlined (recursion guard)
        self.model_ctor: dict[str, str] = {}  # model variable -> its constructor code
        # module models a function reads by the same name (transform.py's deferred functions)
        self.outer_models: frozenset[str] = frozenset()
        self.model_stmt: dict[str, int] = {}
        self.lines = lines
        self.index = index
        self.cur_stmt: cst.CSTNode | None = None
        self.cur_index = 0
        self.data_shaped: set[str] = set()  # arrays whose shape sized a layer (data_shapes.py)
        self.indexed: set[int] = set()
        self.unlined: set[int] = set()  # calls whose statement shape_reads would have rebuilt
        self.layer_comments = True  # a comment may name model.layers (views.view_hints)
        self.cur_line = 0
        self.imports = imports
        # + constants of inlined helpers and unrolled loops; a builder's parameters shadow
        self.env = {k: v for k, v in env.items() if k not in params}
        self.constants = by_name(env)  # module constants a definitions-only import binds
        self.module_env = env  # their values (a builder's defaults read them)
        self.function = function
        self.fn_params = params  # name -> default code
        self.kwonly: frozenset[str] = frozenset()  # the builder's keyword-only parameters
        self.annotations: dict[str, str] = {}  # the builder's parameter -> its builtin type
        # module-level names the script computes (not constants): a class reading one takes
        # it as a parameter (a definitions-only import lacks it; a reviewer sees the input)
        self.script_names: frozenset[str] = frozenset()
        self.custom_layers = custom_layers
        # custom layers whose forward returns a list of known length (list_returns.py)
        self.list_returns: dict[str, ListReturn] = {}
        self.regularizer_classes: frozenset[str] = frozenset()  # user Regularizer subclasses
        self.models = models_in_scope
        self.convert_lambda = lambda_converter
        self.module_names = module_names
        self.tensors: dict[str, Tensor] = {}
        # constants (constants.py) and values computed from them: graph nodes only once the
        # graph reads them (eager code keeps its own): name -> (statement, value)
        self.constant_defs: dict[str, tuple[int, cst.BaseExpression]] = {}
        self.poisoned: dict[str, int] = {}  # name -> line where it was rebound
        self.failed_at: dict[str, int] = {}  # name -> line of the failed statement binding it
        self.tensor_stmt: dict[int, int] = {}  # id(tensor) -> stmt index
        self.string_inputs: dict[int, int] = {}  # id(integer input) -> its string Input's stmt
        self.producer: dict[int, Call] = {}
        self.probe = shape_reads.ShapeProbe(self.producer)  # x.shape[-1] -> its static size
        self.wrapped: dict[int, str] = {}  # id(layer) -> the wrapper sharing its weights
        self.size_stmts: dict[int, list[Tensor]] = {}  # stmt -> tensors its sizes come from
        self.size_code: dict[str, cst.BaseExpression] = {}  # local -> its parameters' code
        self.tuple_stmts: dict[int, str] = {}  # stmt -> the local tuple of sizes it binds
        self.layer_vars: dict[str, Layer] = {}
        self.layer_stmt: dict[int, int] = {}
        self.also_owned: dict[int, set[int]] = {}  # id(layer) -> `base.trainable = False`
        self.aliases: dict[str, tuple[cst.BaseExpression, int]] = {}  # name -> (function, stmt)
        self.backbone_io: dict[str, tuple[str, str]] = {}  # base -> base.input, base.output
        self.extractors: dict[str, Layer] = {}  # base -> its feature extractor
        self.extractor_calls: dict[str, Call] = {}  # base -> the one call of its extractor
        self.backbone_nodes: dict[tuple[str, str], str] = {}  # (base, layer name) -> tensor
        self.seqs: dict[str, _Seq] = {}
        self.fed: dict[str, Fed] = {}  # model variable -> the input the script feeds it
        # lists built by appends: of layers (``Sequential(blocks)``), of tensors
        # (``concatenate(encoded)``); ``blocks = []`` waits for its first append to say which
        self.layer_lists: dict[str, _Seq] = {}
        self.tensor_lists: dict[str, list[Tensor]] = {}
        # a tensor list of nested lists (``[m.get_layer(n).output for n in names]`` over
        # layers with several outputs): the sizes of its items (graph.ModelIR.output_groups)
        self.tensor_groups: dict[str, list[int | None]] = {}
        self.empty_lists: dict[str, int] = {}
        # ``wheres = [None] * n`` (statement, n), then ``wheres[k] = t``: filled slots
        self.none_lists: dict[str, tuple[int, int]] = {}
        self.slot_lists: dict[str, list[Tensor | None]] = {}
        self.none_assumed: dict[str, tuple[str, dict[str, Any]]] = {}  # its count's params
        self.list_of_layer: dict[int, _Seq] = {}  # id(layer) -> the list a loop read it from
        self.input_names: set[str] = set()  # forward parameters taken so far
        self._input_makers: dict[str, bool] = {}  # helper -> does it create Inputs?
        self.list_stmt: dict[str, int] = {}  # tensor list -> the statement creating it
        # ``inputs = {"age": Input(...), ...}`` / ``{f: Input(...) for f in FEATURES}`` /
        # ``inputs[f] = Input(...)`` in a loop: key -> tensor, in insertion order
        self.tensor_dicts: dict[str, dict[str, Tensor]] = {}
        self.empty_dicts: dict[str, int] = {}
        self.views = ViewState(env=dict(self.env))  # models over other models' tensors
        self.found: list[Found] = []
        self._locals: set[str] | None = None
        self.body: Sequence[cst.BaseStatement] = ()
        self.pending_calls: list[tuple[Call, int]] = []
        self.errors: list[tuple[int, str, str]] = []
        self.eager = 0  # layer calls on values no graph produced (see NotGraph)
        self.eager_at: dict[str, int] = {}  # name -> line of such a call that bound it
        self.warnings: list[tuple[int, str]] = []
        self.assumed: dict[str, Any] = {}  # builder parameter -> the value loops assumed
        self.assumed_warnings: list[tuple[str, int, str]] = []  # name, line, text: reported
        self.rolled: list[RolledLoop] = []  # loops over a parameter codegen may write as loops
        self.pinned: set[str] = set()  # assumed parameters some other use needs asserted
        # by the model that asserts the name
        self.sized: set[str] = set()  # those of them that gave an Input its shape
        self.configured: set[str] = set()  # those of them that chose a layer option
        self.branched: set[str] = set()  # those of them that chose an `if` branch
        # local -> (its value, the parameter values it assumes): `blocks = (depth - 2) // 6`
        self.maybe: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.tracked: set[str] = set()  # block constants followed statement by statement
        self.unrolling = 0
        self.resolved: dict[int, list[cst.BaseStatement]] = {}  # if image_data_format(): ...
        self.counter = NameCounter()
        self.stem = ""  # the file's name without suffix: the class name of last resort
        self.fresh_names = inline.FreshNames()

    def fresh(self, base: str) -> str:
        """A name for an inlined local that no local, tensor or parameter here has."""
        return self.fresh_names(base, self._scan_locals() | set(self.tensors)
                                | set(self.fn_params))

    # ---------------------------------------------------------------- resolution helpers
    def qual(self, node: cst.BaseExpression) -> str | None:
        return self.imports.resolve(node)

    def value(self, node: cst.BaseExpression) -> Value:
        modules = set()
        if "prod" in code_of(node):  # Dense(tf.math.reduce_prod(shape)) -> math.prod(shape)
            node = size_calls.python_products(node, self.qual, self._mentions_tensor)
            modules = {"math", "np", "numpy"}
        v = evaluate(node, self.env)
        if not v.known:  # len(vocabulary) of a constant list bound in an inlined helper
            known = inline.static_value(node, self.env)
            if isinstance(known, (bool, int, float, str)):
                v = Value(repr(known), known, node)
        if v.known:
            if _names_in(node) - self.constants - self.fn_params.keys() - _BUILTINS - modules:
                # a local of the builder (``rnn_size = 512``): the class cannot see it
                return Value(repr(v.value), v.value, node)
            return v
        q = self.qual(node)
        if q is not None and q in ACTIVATION_FUNCTIONS:
            name = ACTIVATION_FUNCTIONS[q]
            return Value(repr(name), name, node)
        return v

    # ---------------------------------------------------------------- layers
    def make_layer(self, call: cst.Call, line: int, counter: NameCounter) -> Layer | None:
        """A layer object from its constructor call; None if this is not a layer."""
        self._free = set()
        saved = self.cur_line
        if self.tensor_lists or self.tensor_dicts:  # Selection(len(features)): the count
            call = call.visit(_ContainerLens(self))  # type: ignore[assignment]
        if self.index is not None and self.cur_stmt is not None:
            if id(self.cur_stmt) not in self.indexed:
                self.indexed.add(id(self.cur_stmt))
                self.index.index_calls(self.cur_stmt)
            self.cur_line = (0 if id(call) in self.unlined else self.index.line(call)) or saved
        layer = self._make_layer(call, line, counter)
        self.cur_line = saved
        if layer is not None:
            name_arg = next((a for a in call.args if a.keyword and a.keyword.value == "name"),
                            None)
            given = evaluate(name_arg.value, self.env).value if name_arg else None
            layer.given_name = given if isinstance(given, str) else ""
            layer.free = set(self._free)
            if layer.custom_ctor is not None:
                self._note_free_names(call)
                layer.free = set(self._free)
        return layer

    def _make_layer(self, call: cst.Call, line: int, counter: NameCounter) -> Layer | None:
        q = self.qual(call.func)
        name_arg = next((a for a in call.args if a.keyword and a.keyword.value == "name"), None)
        explicit = evaluate(name_arg.value, self.env).value if name_arg else UNKNOWN
        if q is None:
            fname = call.func.value if isinstance(call.func, cst.Name) else None
            if fname in self.custom_layers:
                call = self._local_constants(call)
                attr = counter.claim(explicit) if isinstance(explicit, str) else counter.next(
                    keras_snake(fname))
                code = code_of(one_line(call))
                return Layer(attr, self.cur_line, custom_ctor=code, keras_name=fname,
                             written=code)
            if fname in self.fn_params and fname not in self.env and self._layer_class(fname):
                return self._passed_class(call, fname, counter, explicit)  # dropout(rate)
            if fname in self.builders:  # make_block(64)(x): the converted builder's model
                sub = self.builders[fname]
                attr = counter.claim(explicit) if isinstance(explicit, str) else counter.next(
                    identifier(fname))
                code = code_of(call)
                return Layer(attr, self.cur_line, submodel=sub, custom_ctor=code,
                             keras_name=sub.class_name, written=code,
                             shape_rule=self._builder_shape(fname, sub, call))
            return None
        app = applications.is_application(q)
        if not app and (not q.startswith("keras.layers.") or q.count(".") != 2):
            return None
        kname = q.rsplit(".", 1)[1]
        attr = counter.claim(explicit) if isinstance(explicit, str) else counter.next(
            keras_snake(kname))
        layer = Layer(attr, self.cur_line, keras_name=kname, source_node=call)
        if kname == "Lambda":
            self._lambda(layer, call)
            return layer
        spec = applications.spec_for(q) if app else lookup(q)
        if spec is None:
            layer.error = applications.missing(q) if app else \
                f"keras.layers.{kname} has no table entry yet"
            return layer
        try:
            args, kwargs = self._args(call, kname)
            read = shape_reads.unresolved(call, self.tensors, self.probe, self.qual)
            if read is not None:
                raise Unsupported(f"{kname} is sized by {read}, a size unknown statically")
            if spec.keras in ("Bidirectional", "TimeDistributed") and args:
                inner_node = args[0].node
                if isinstance(inner_node, cst.Call):
                    inner_q = self.qual(inner_node.func)
                    inner_spec = lookup(inner_q) if inner_q else None
                    if inner_spec is None:
                        raise Unsupported(f"{kname} around {code_of(inner_node.func)}")
                    ia, ik = self._args(inner_node)
                    layer.inner_spec = inner_spec
                    layer.inner_args = bind(inner_spec, ia, ik)
                elif isinstance(inner_node, cst.Name) and inner_node.value in self.layer_vars:
                    self._wrap_bound(layer, inner_node.value)
            if spec.keras == "RNN" and args and isinstance(args[0].node, cst.Name) \
                    and args[0].node.value in self.layer_vars:
                args = [self._bound_cell(layer, args[0].node.value), *args[1:]]
            layer.spec = spec
            layer.args = bind(spec, args, kwargs)
            layer.args.runtime_names = True
        except Unsupported as exc:
            layer.error = str(exc)
        return layer

    def _layer_class(self, param: str) -> bool:
        """Whether a Keras layer class is among the values reaching builder parameter
        ``param`` (another value, a function, leaves its calls to the other rules)."""
        return any((q := self.imports.resolve_dotted(code)) is not None and q.startswith(
            "keras.layers.") and q.count(".") == 2 for code in self.class_args.get(param) or [])

    def _passed_class(self, call: cst.Call, param: str, counter: NameCounter,
                      explicit: Any) -> Layer:
        """``dropout(rate)`` with ``dropout`` a builder parameter holding a layer class: the
        class's own parameter when every class reaching it has a torch class taking the
        call's arguments the same way (class_args.py), else one report line."""
        attr = counter.claim(explicit) if isinstance(explicit, str) else counter.next(
            keras_snake(param))
        layer = Layer(attr, self.cur_line, keras_name=param, source_node=call)
        codes = self.class_args.get(param)
        quals = [self.imports.resolve_dotted(c) for c in codes or []]
        passable = [class_args.PASSABLE.get(q or "") for q in quals]
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if not codes or any(t is None for t in passable) or len(positional) != len(
                call.args) or any(t is not None and t[1] < len(positional) for t in passable):
            seen = ", ".join(dict.fromkeys(codes or [])) or "a value the rules cannot read"
            layer.error = (f"{param}(...) builds the layer class its callers pass ({seen}): "
                           "converted only when each is a class whose torch module takes the "
                           "call's arguments the same way (Dropout, AlphaDropout)")
            return layer
        spec = lookup(quals[0] or "")
        assert spec is not None
        try:
            args, kwargs = self._args(call, spec.keras)
        except Unsupported as exc:
            layer.error = str(exc)
            return layer
        self._note_free_names(call)
        passed = ", ".join(code_of(a.value) for a in call.args)
        layer.spec = class_args.passed_spec(spec, f"{param}({passed})")
        layer.args = bind(spec, args, kwargs)
        layer.args.runtime_names = True
        first = passable[0]
        assert first is not None
        self.class_params[param] = first[0] if self.fn_params.get(param) is not None else ""
        return layer

    def _local_constants(self, call: cst.Call) -> cst.Call:
        """``Selection(num_features, units)`` after ``num_features = len(features)``: a
        builder's local known statically is written as its value (the class cannot see it)."""
        local = {n: v for n, v in self.env.items() if n not in self.constants
                 and n not in self.fn_params and isinstance(v, (bool, int, float, str))}
        names = {n.value for n in names_read(call)} & local.keys()
        if not names:
            return call
        new = inline.substitute(call, {n: inline.literal(local[n]) for n in names})
        return new if isinstance(new, cst.Call) else call

    def _wrap_bound(self, wrapper: Layer, var: str) -> None:
        """``Bidirectional(rnn)`` / ``TimeDistributed(dense)`` of a layer bound earlier: the
        wrapper is built from that layer's constructor call. Bidirectional copies the layer
        (Keras builds its forward and backward layers from its config), TimeDistributed
        wraps the object itself: then the layer must not be used anywhere else."""
        inner = self.layer_vars[var]
        if inner.spec is None or inner.args is None or inner.error:
            raise Unsupported(f"{wrapper.keras_name} around {var}, a layer the rules do not "
                              "convert")
        if wrapper.keras_name == "TimeDistributed":
            used = id(inner) in self.wrapped or any(c.layer is inner
                                                    for c, _ in self.pending_calls)
            if used:
                raise Unsupported(f"TimeDistributed({var}) shares {var}'s weights with "
                                  "another use of it: not converted")
            self.wrapped[id(inner)] = wrapper.keras_name
        wrapper.inner_spec = inner.spec
        wrapper.inner_args = inner.args
        self._free.discard(var)
        self._free |= inner.free
        if id(inner) in self.layer_stmt:  # `rnn = GRU(...)` only serves the wrapper
            self.also_owned.setdefault(id(wrapper), set()).add(self.layer_stmt[id(inner)])

    def _bound_cell(self, rnn: Layer, var: str) -> Value:
        """``RNN(cell)`` of a Keras cell bound earlier (``cell = LSTMCell(8)``): the RNN is
        built from that constructor call, whose statement then only serves the RNN."""
        inner = self.layer_vars[var]
        if inner.keras_name not in CELLS or not inner.source:
            raise Unsupported(f"RNN({var}): {var} is a layer the rules do not convert as a cell")
        if id(inner) in self.wrapped:
            raise Unsupported(f"RNN({var}) shares {var}'s weights with another RNN: not "
                              "converted")
        self.wrapped[id(inner)] = rnn.keras_name
        self._free.discard(var)
        self._free |= inner.free
        if id(inner) in self.layer_stmt:
            self.also_owned.setdefault(id(rnn), set()).add(self.layer_stmt[id(inner)])
        return evaluate(cst.parse_expression(inner.source))

    def _builder_shape(self, fname: str, sub: ModelIR, call: cst.Call
                       ) -> Callable[[Sequence[Shape | None]], Shape | None]:
        """The output shape of ``block(64)(x)``: the builder model's, its parameters
        replaced by this call's arguments (unknown when they cannot be bound)."""
        fn = self.helpers.get(fname)
        try:
            args = inline.bind_args(fn, call) if fn is not None else None
        except Unsupported:
            args = None

        def rule(_: Sequence[Shape | None]) -> Shape | None:
            out = sub.outputs[0].shape if sub.outputs else None
            if out is None or args is None:
                return None
            return tuple(inline.rename_dim(d, args) for d in out)

        return rule

    def _configured(self, v: Value, layer: str) -> Value:
        """A builder parameter holding a layer option (``activation=act``, ``padding=pad``,
        ``Reshape(shape)``) that every call passes the same string (a target shape's tuple):
        the layer is built for that value, which the class asserts. Numbers stay symbolic."""
        node = v.node
        if v.known or not isinstance(node, cst.Name) or node.value not in self.fn_params:
            return v
        called = self.call_values.get(node.value, UNKNOWN)
        if layer == "Reshape" and called is UNKNOWN:
            rank = self._reaching_rank(node.value)
            return v if rank is None else Value(v.code, RunTimeShape(rank), node)
        if not isinstance(called, str) and not (layer == "Reshape" and isinstance(
                called, (tuple, list)) and all(type(d) is int for d in called)):
            return v
        self._note_assumed({node.value: called}, "layer option")
        self.configured.add(node.value)
        return Value(v.code, tuple(called) if isinstance(called, list) else called, node)

    def _reaching_rank(self, param: str) -> int | None:
        """The length every tuple that can reach builder parameter ``param`` has (its
        default and the calls' values, read statically), else None."""
        ranks = set()
        codes = self.class_args.get(param)
        if not codes:
            return None
        for code in codes:
            node = cst.parse_expression(code)
            if isinstance(node, (cst.Tuple, cst.List)) and node.elements and not any(
                    isinstance(el, cst.StarredElement) for el in node.elements):
                ranks.add(len(node.elements))  # ``(NUM_ATOMS, ATOM_DIM)``: sizes known later
                continue
            value = inline.static_value(node, self.env)
            if not isinstance(value, (tuple, list)) or not all(
                    type(d) is int for d in value):
                return None
            ranks.add(len(value))
        return ranks.pop() if len(ranks) == 1 else None

    def _args(self, call: cst.Call, kname: str = "") -> tuple[list[Value], dict[str, Value]]:
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for a in call.args:
            if a.star:
                raise Unsupported(f"*args/**kwargs in {code_of(call.func)}(...)")
            v = self.value(a.value)
            if a.keyword is None or a.keyword.value not in _NOT_OPTIONS:
                v = self._configured(v, kname)
            if a.keyword is not None and (a.keyword.value in REGULARIZED
                                          or a.keyword.value == activity.ARG):
                penalty = parse_regularizer(a.value, self.qual(getattr(a.value, "func", a.value)),
                                            self.env)
                custom = custom_regularizers.parse(a.value, self.regularizer_classes)
                if penalty is not None or custom is not None:
                    v = Value(v.code, penalty or custom, a.value)
            self._note_free_names(a.value)
            if a.keyword is None:
                args.append(v)
            else:
                kwargs[a.keyword.value] = v
        return args, kwargs

    def _lambda(self, layer: Layer, call: cst.Call) -> None:
        fn = call.args[0].value if call.args else None
        others = {a.keyword.value if a.keyword else "" for a in call.args[1:]}
        if isinstance(fn, cst.Name) and fn.value in self.helpers and others <= {
                "name", "output_shape"}:
            layer.error = lambda_function(fn.value, self.helpers[fn.value], self.imports)
            layer.lambda_expr = None if layer.error else f"{fn.value}({{xin}})"
            return
        if not isinstance(fn, cst.Lambda) or self.convert_lambda is None:
            layer.error = "Lambda with a function reference: convert the function by hand"
            return
        params = [p.name.value for p in fn.params.params]
        if len(params) != 1:
            layer.error = "Lambda with several parameters"
            return
        try:
            # {xin}: the tensor for one input, the list of tensors for several (t[0], t[1])
            expr, elementwise = self.convert_lambda(fn.body, {params[0]: "{xin}"})
        except Unsupported as exc:
            layer.error = f"Lambda body: {exc}"
            return
        layer.lambda_expr = expr
        layer.lambda_elementwise = elementwise
        if not elementwise:
            layer.shape_rule = lambda_rule(fn.body, params[0], self.qual, self.env)

    def _note_free_names(self, node: cst.BaseExpression) -> None:
        collector = _Names()
        collector.collect(node)
        self._free.update(collector.names)

    _free: set[str] = set()

    # ---------------------------------------------------------------- shapes
    def _shape_of(self, node: cst.BaseExpression | None) -> tuple[Any, ...] | None:
        if node is None:
            return None
        read = data_shape(node, self.body[: self.cur_index], self.value)
        if read is not None:  # input_shape=x_train.shape[1:] after a literal reshape
            self.data_shaped |= {n.value for n in names_read(node)}
            return read
        v = self.value(node)
        self._note_free_names(node)
        if v.known and isinstance(v.value, (tuple, list)):
            return tuple(v.value)
        if isinstance(node, cst.Name) and node.value in self.fn_params:
            called = self.call_values.get(node.value, UNKNOWN)
            if isinstance(called, (tuple, list)):  # Input(shape=input_shape): every call's
                self._note_assumed({node.value: tuple(called)}, "input shape")
                self.sized.add(node.value)
                return tuple(called)
        if isinstance(node, (cst.Tuple, cst.List)):
            out: list[Any] = []
            for el in node.elements:
                ev = self.value(el.value)
                out.append(ev.value if ev.known else ev.code)
            return tuple(out)
        return None

    # ---------------------------------------------------------------- statements
    def run(self, body: Sequence[cst.BaseStatement]) -> list[Found]:
        self._free = set()
        self.body = body
        for i, stmt in enumerate(body):
            self.cur_line = self.lines[i]
            self.cur_index = i
            self.cur_stmt = stmt
            try:
                self.process(i, stmt)
            except NotGraph:
                self.eager += 1
                self._poison(stmt)
                collector = _Targets()
                collector.collect(stmt)
                for name in collector.names - set(self.tensors):
                    self.eager_at[name] = self.cur_line
            except Unsupported as exc:
                if not isinstance(exc, KnockOn):  # the first failure is the one reported
                    self.errors.append((self.cur_line, "model", str(exc)))
                self._poison(stmt, failed=True)
        for var, seq in list(self.seqs.items()):
            del self.seqs[var]
            if not seq.failed and var:
                try:
                    self.finish_seq(seq, seq.start, is_return=False)
                except Unsupported as exc:  # (an inlined builder's local in its layers)
                    self.errors.append((self.lines[seq.start], "model", str(exc)))
        for var, layer in list(self.layer_vars.items()):
            self._standalone_backbone(var, layer)
        return self.found

    def _standalone_backbone(self, var: str, layer: Layer) -> None:
        """``model = ResNet50(weights="imagenet")`` used as a whole model (predict, calls on
        data, feature extraction through views), never as a layer of a graph: the class of
        ``keras.Model(x, model(x))``, as for ``input_tensor=``."""
        if not applications.is_backbone(layer.spec) or var in self.backbone_io \
                or var in self.extractors or id(layer) not in self.layer_stmt \
                or any(c.layer is layer for c, _ in self.pending_calls):
            return
        at = self.layer_stmt[id(layer)]
        if not views.model_uses_only(self.body, var, at):
            return
        self.cur_index, self.cur_line, self.cur_stmt = at, self.lines[at], self.body[at]
        try:
            out = self._backbone_io(var, "output")
            self.functional(at, var, applications.as_model(
                cst.Name(self.backbone_io[var][0]), out), is_return=False)
        except Unsupported:
            return

    def process(self, i: int, stmt: cst.BaseStatement) -> None:
        """One statement of the block (or of an inlined helper / unrolled loop body)."""
        if isinstance(stmt, cst.FunctionDef) and not self.inlining:
            self.helpers[stmt.name.value] = stmt  # a nested helper, usable after this point
            return
        if isinstance(stmt, cst.For) and (self._unroll(i, stmt) or self._runtime_loop(i, stmt)):
            return
        if (self.unrolling or self.inlining) and isinstance(stmt, cst.SimpleStatementLine):
            stmt = loops.fold_choices(stmt, self.env)  # `"gelu" if 0 == 0 else None`
        if isinstance(stmt, cst.If):
            branch = self._static_branch(stmt)
            if branch is not None:
                if not self.inlining and self._is_format_test(stmt.test):
                    self.resolved[i] = branch
                for inner in branch:
                    if not self._constant_assign(inner):
                        self.process(i, inner)
                return
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            if self.inlining:
                raise Unsupported(f"helper {self.inlining[-1]}() has a "
                                  f"{type(stmt).__name__.lower()} the rules do not follow")
            self._poison(stmt)  # a loop or branch may rebind tensors we cannot follow
            self._adds_unfollowed(stmt)
            return
        small = stmt.body[0]
        if self.tensor_dicts or self.tensor_lists:  # inputs["age"], encoded[0]: the tensor
            small = small.visit(_ContainerReads(self))  # type: ignore[assignment]
            lens = _ContainerLens(self)
            small = small.visit(lens)  # type: ignore[assignment]
            if lens.read:  # `count = len(features)` goes with the model made from them
                self.size_stmts.setdefault(i, []).extend(lens.read)
        small = self._view_reads(i, small)
        if isinstance(small, cst.Pass):
            return
        if (self.tensors or self.probe.named) and self._shape_reads(i, small):
            return
        if self.size_code:  # `channels` computed from the builder's parameters: its code
            for name in _assigned(small):
                self.size_code.pop(name, None)
            small = inline.substitute(small, self.size_code)
        read: list[Tensor] = []
        if self.tensors or self.probe.named:  # sizes read off Keras tensors: known ints
            calls = shape_reads.untouched_calls(small)
            if calls is None:
                small, read = shape_reads.resolve(small, self.tensors, self.probe,  # type: ignore[assignment]
                                                  self.qual)
            else:  # as when the transformer rebuilt them: their layers get the statement's line
                self.unlined.update(id(c) for c in calls)
        if self._dict_statement(i, small) or self._list_statement(i, small) \
                or self._slot_statement(i, small):
            if isinstance(small, cst.Assign) and i in self.views.stmts:
                self.views.dicts.update(n for n in _assigned(small) if n in self.tensor_dicts)
            return
        if self._track_constant(small) or (read or self.inlining) and self._size_code(small) \
                or self._size_tuple(i, small):
            if read:  # `channels = x.shape[-1]` only serves the models built from x
                self.size_stmts.setdefault(i, []).extend(read)
            return
        bound = {n: self.tensors.get(n) for n in _assigned(small)}
        self.statement(i, small, i)
        for name, old in bound.items():
            if name in self.tensors and self.tensors[name] is old:
                self._forget(name)  # rebound by code that is not a layer call

    def _size_code(self, small: cst.BaseSmallStatement) -> bool:
        """``channels = (units * 2)`` (a size read off a tensor sized by a builder parameter)
        or ``k = filters * 2`` in an inlined helper: later statements read the expression,
        which the class can compute from its own parameters."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)):
            return False
        name = small.targets[0].target.value
        calls = _Calls()
        calls.collect(small.value)
        visible = self.fn_params.keys() | self.constants | self.env.keys() | _BUILTINS
        if name in self.tensors or self._mentions_tensor(small.value) or not (
                _names_in(small.value) <= visible) or not _arithmetic(small.value) or any(
                not isinstance(c.func, cst.Name) or c.func.value not in inline.STATIC_CALLS
                for c in calls.found):
            return False
        self.size_code[name] = inline.parenthesized(small.value)
        return True

    def _size_tuple(self, i: int, small: cst.BaseSmallStatement) -> bool:
        """``dims = (h // 4, w * c)`` in a builder, from its parameters and locals: a target
        shape later statements read (``Reshape(dims)``) as the tuple itself, the locals'
        values written in, since the class cannot see them."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, (cst.Tuple, cst.List)) and small.value.elements):
            return False
        name = small.targets[0].target.value
        elements = [el.value for el in small.value.elements
                    if not isinstance(el, cst.StarredElement)]
        calls = _Calls()
        calls.collect(small.value)
        visible = self.fn_params.keys() | self.constants | self.env.keys() | _BUILTINS
        if name in self.tensors or len(elements) != len(small.value.elements) \
                or self._mentions_tensor(small.value) \
                or not _names_in(small.value) <= visible \
                or not all(_arithmetic(el) for el in elements) or any(
                    not isinstance(c.func, cst.Name) or c.func.value not in inline.STATIC_CALLS
                    for c in calls.found):
            return False
        local = {n: inline.literal(v) for n, v in self.env.items()
                 if n not in self.constants and n not in self.fn_params
                 and isinstance(v, (bool, int, float))}
        value = inline.substitute(small.value, {n: local[n] for n in _names_in(small.value)
                                                if n in local})
        self.size_code[name] = value if isinstance(value, cst.Tuple) else value.with_changes(
            lpar=[], rpar=[])
        self.tuple_stmts[i] = name
        return True

    def _shape_reads(self, i: int, small: cst.BaseSmallStatement) -> bool:
        """``_, h, w, c = K.int_shape(x)``: one followed constant per size."""
        for name in _assigned(small):
            self.probe.named.pop(name, None)
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
            return False
        t = shape_reads.bound_shape(small.targets[0].target, small.value, self.tensors,
                                    self.probe, self.qual)
        if t is not None:
            self.size_stmts.setdefault(i, []).append(t)
            return True
        pairs = shape_reads.unpacked(small.targets[0].target, small.value, self.tensors,
                                     self.probe, self.qual)
        if pairs is None:
            return False
        for name, size in pairs:
            self._track_constant(cst.Assign([cst.AssignTarget(cst.Name(name))],
                                            cst.Integer(str(size))))
        t = shape_reads.unpacked_source(small.value, self.tensors, self.probe, self.qual)
        if t is not None:
            self.size_stmts.setdefault(i, []).append(t)
        return True

    # ---------------------------------------------------------------- static branches
    def _static_branch(self, node: cst.If) -> list[cst.BaseStatement] | None:
        """The statements of the branch a statically known test takes (None: unknown)."""
        taken = self._static_test(node.test, assume=self._touches_tensors([node]))
        if taken is None or not isinstance(node.body, cst.IndentedBlock):
            return None
        if taken:
            return list(node.body.body)
        orelse = node.orelse
        if orelse is None:
            return []
        if isinstance(orelse, cst.If):
            return self._static_branch(orelse)
        return list(orelse.body.body) if isinstance(orelse.body, cst.IndentedBlock) else None

    def _is_format_test(self, test: cst.BaseExpression) -> bool:
        return (isinstance(test, cst.Comparison) and isinstance(test.left, cst.Call)
                and (self.qual(test.left.func) or "").endswith(".image_data_format"))

    def _static_test(self, test: cst.BaseExpression, *, assume: bool = False) -> bool | None:
        if self._is_format_test(test):
            assert isinstance(test, cst.Comparison)
            if len(test.comparisons) != 1:
                return None
            cmp = test.comparisons[0]
            other = evaluate(cmp.comparator, self.env).value
            if not isinstance(other, str):
                return None
            self.warnings.append((self.cur_line, "image_data_format() resolved to "
                                  "'channels_last' (Keras's default): the converted model takes "
                                  "channels-last input, as the Keras one did by default"))
            if isinstance(cmp.operator, cst.Equal):
                return other == "channels_last"
            if isinstance(cmp.operator, cst.NotEqual):
                return other != "channels_last"
            return None
        value = inline.static_value(test, self.env)
        if value is not UNKNOWN and isinstance(value, (bool, int, float, str, type(None))):
            return bool(value)
        # `if use_bn:` on a builder parameter: the branch its default (or the value every
        # call passes) takes, asserted by the class like an unrolled loop
        assumed = self._assumable(test) if assume else {}
        if not assumed or set(self._commit_assumed(assumed)) & self.varying:
            return None  # (calls that set it differently would fail the assert)
        value = inline.static_value(test, {**self.env, **assumed})
        if value is UNKNOWN or not isinstance(value, (bool, int, float, str, type(None))):
            return None
        committed = self._commit_assumed(assumed)
        self.branched |= committed.keys() - self.assumed.keys()
        self._note_assumed(committed, f"branch `if {code_of(test)}` "
                           f"{'taken' if value else 'skipped'}")
        return bool(value)

    def _unroll(self, i: int, loop: cst.For) -> bool:
        """``for f in [32, 64]: x = block(x, f)``: the body once per known value."""
        if isinstance(loop.iter, cst.Name) and loop.iter.value in self.layer_lists:
            return self._over_layers(i, loop, self.layer_lists[loop.iter.value])
        values = inline.unroll_values(loop, self.env)
        if values is None and isinstance(loop.iter, cst.Name) \
                and loop.iter.value in self.tensor_dicts:  # `for name in inputs`: its keys
            values = list(self.tensor_dicts[loop.iter.value])
        body = inline.loop_body(loop)
        assumed: dict[str, Any] = {}
        rolled = None
        if values is None and body is not None:
            # a bound from a builder parameter: unrolled for its default (or the value every
            # call passes), which the generated class then asserts (another value fails
            # loudly instead of building a wrong model)
            assumed = self._assumable(loop.iter)
            if assumed:
                rolled = rolled_loops.candidate(loop, body, self.tensors, self.helpers,
                                                assumed, self.fn_params)
                if rolled is None and set(assumed) <= set(self.fn_params) \
                        and m.matches(loop.iter, m.Call(func=m.Name("range"))) \
                        and self._sized_for(loop) and self._runtime_loop(i, loop):
                    return True  # a chain of layers: one module built by the same loop
                if rolled is None and set(self._commit_assumed(assumed)) & self.varying:
                    return False  # unrolled for one value, the other calls would fail
                values = inline.unroll_values(loop, {**self.env, **assumed})
                if values is not None and rolled is None:
                    # the body's tests may read it too (a rolled loop's body reads none of
                    # it, and a later read must be asserted by its own use)
                    self.env.update(assumed)
                    assumed = self._commit_assumed(assumed)
        if values is None and body is not None and not assumed:
            return self._unroll_items(i, loop, body)
        if values is None or body is None:
            return False
        bindings = [inline.loop_bindings(loop.target, v) for v in values]
        if any(b is None for b in bindings) or not self._touches_tensors(body):
            return False
        mark = len(self.pending_calls)
        self._unrolled(i, body, bindings)
        if rolled is not None and not rolled_loops.take(
                rolled, [c for c, _ in self.pending_calls[mark:]], len(values)):
            rolled = None
        if rolled is not None:
            self.rolled.append(rolled)
        self._note_assumed(assumed, f"loop over {code_of(loop.iter)} unrolled", rolled)
        return True

    def _sized_for(self, loop: cst.For) -> bool:
        """Whether the model a chain loop feeds has a known input size, so the dry call
        sizes its lazy modules and the Keras initializers run on them (else the loop over
        a parameter stays unrolled for its default, exactly initialised, and asserted)."""
        found = runtime_loops.body_calls(loop, set(self.tensors), set(self.seqs))
        if found is None:
            return False
        if found[0] == "seq":
            shape = self.seqs[found[1]].input_shape
            return shape is not None and None not in shape
        inputs = [self.tensors[n] for n in self.input_names if n in self.tensors]
        return bool(inputs) and all(t.shape is not None and None not in t.shape
                                    for t in inputs)

    def _runtime_loop(self, i: int, loop: cst.For) -> bool:
        """A loop with a run-time bound over a chain of layers: one module (runtime_loops)."""
        found = runtime_loops.body_calls(loop, set(self.tensors), set(self.seqs))
        if found is None or self.unrolling:
            return False
        kind, name, ctors = found
        seq = self.seqs.get(name) if kind == "seq" else None
        if seq is not None and (seq.failed or not seq.layers and seq.input_shape is None):
            return False
        counter = seq.counter if seq is not None else self.counter
        layer = runtime_loops.loop_layer(loop, ctors, lambda c, n, _: self.make_layer(
            c, n, NameCounter()), counter.next(runtime_loops.ATTR), self.cur_line)
        if layer is None:
            return False
        if seq is not None:
            seq.owned.add(i)
            seq.layers.append(layer)
        else:
            self._record_call(i, layer, [self.tensors[name]], [name], {})
        return True

    def _unrolled(self, i: int, body: list[cst.BaseStatement],
                  bindings: Sequence[dict[str, cst.BaseExpression] | None]) -> None:
        """The loop body once per iteration, each with its own bindings substituted."""
        self.unrolling += 1
        try:
            for mapping in bindings:
                assert mapping is not None
                for stmt in body:
                    self.process(i, inline.substitute(stmt, mapping))
        finally:
            self.unrolling -= 1

    def _unroll_items(self, i: int, loop: cst.For, body: list[cst.BaseStatement]) -> bool:
        """``for size in (list(HIDDEN) + [n_out])[:-1]``, ``for e in embeddings``: a loop
        over items known by position, each bound to its expression."""
        nodes = loops.item_nodes(loop.iter, self.env, self._list_items(loop.iter))
        if nodes is None or not self._touches_tensors(body):
            return False
        if {n.value for item in nodes for n in names_read(item)} & inline.assigned_names(body):
            return False  # `for s in [n, 2 * n]: n += 1`: an item would read the new n
        bindings = [loops.bindings(loop.target, n) for n in nodes]
        if any(b is None for b in bindings):
            return False
        self._unrolled(i, body, bindings)
        return True

    def _list_items(self, node: cst.BaseExpression) -> dict[str, list[cst.BaseExpression]]:
        """The tensor lists ``node`` reads, each item by a name that reads its tensor."""
        out: dict[str, list[cst.BaseExpression]] = {}
        for name in {n.value for n in names_read(node)} & self.tensor_lists.keys():
            tensors = self.tensor_lists[name]
            items: list[cst.BaseExpression] = []
            for t in tensors:
                if self.tensors.get(t.name) is not t:
                    alias = self.fresh(t.name)
                    self.tensors[alias] = t
                    items.append(cst.Name(alias))
                else:
                    items.append(cst.Name(t.name))
            out[name] = items
        return out

    def _over_layers(self, i: int, loop: cst.For, seq: _Seq) -> bool:
        """``for block in blocks: x = block(x)`` over a list of layers: each in turn."""
        body = inline.loop_body(loop)
        if body is None or seq.failed or seq.input_shape is not None \
                or not isinstance(loop.target, cst.Name):
            return False
        var = loop.target.value
        self.unrolling += 1
        try:
            for layer in seq.layers:
                self.layer_vars[var] = layer
                self.layer_stmt.setdefault(id(layer), seq.start)
                self.list_of_layer[id(layer)] = seq
                for stmt in body:
                    self.process(i, stmt)
        finally:
            self.unrolling -= 1
        return True

    def _note_assumed(self, assumed: dict[str, Any], what: str,
                      rolled: RolledLoop | None = None) -> None:
        for name, value in assumed.items():
            if rolled is None:
                self.pinned.add(name)
            else:
                rolled.names.add(name)
            if name in self.assumed:
                continue
            self.assumed[name] = value
            origin = "the value every call passes" if name in self.call_values \
                else "its default"
            # reported by the model that asserts it (a training loop unrolled for nothing
            # that a model keeps asserts nothing)
            self.assumed_warnings.append((name, self.cur_line, f"{what} for {name}={value!r} "
                                          f"({origin}): the converted model asserts that value"))

    def _track_constant(self, small: cst.BaseSmallStatement) -> bool:
        """``filters = 16`` / ``filters *= 2`` in the block: a value layers may read (loops
        change it per iteration, so it must be followed, not read once at the end)."""
        if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            name = small.target.value
            self.maybe.pop(name, None)
            if name in self.tensors:
                return False
            value = inline.static_value(cst.BinaryOperation(
                small.target, _BINARY_OF[type(small.operator)](), small.value)
                if type(small.operator) in _BINARY_OF else small.value, self.env) \
                if name in self.env else UNKNOWN
        elif isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
                small.targets[0].target, cst.Name):
            name = small.targets[0].target.value
            self.maybe.pop(name, None)
            plain = not isinstance(small.value, cst.Call) or (
                isinstance(small.value.func, cst.Name)
                and small.value.func.value in inline.STATIC_CALLS)
            # ``CHARS = ast.literal_eval(CHARS)``: a pure function of known values
            folded = UNKNOWN if plain or name in self.tensors else evaluate(
                small.value, self.env).value
            if name in self.tensors or not (plain or folded is not UNKNOWN) \
                    or self._mentions_tensor(small.value):
                if name in self.tracked:
                    self.env.pop(name, None)
                    self.tracked.discard(name)
                return False
            value = inline.static_value(small.value, self.env) if folded is UNKNOWN \
                else folded
            if value is UNKNOWN and self._module_constant(name):
                return True  # read where the tracer cannot (a dataset's shape): values.py
            if value is UNKNOWN:
                self._static_assuming(name, small.value)
        else:
            return False
        if value is UNKNOWN or not isinstance(value, (bool, int, float, str, tuple, list)):
            if self.unrolling and name in self.tracked | set(self.env):
                raise Unsupported(f"{name} changes inside a loop in a way the rules cannot "
                                  "follow")
            self.env.pop(name, None)
            self.tracked.discard(name)
            return False
        self.env[name] = self._bind(name, value)
        self.tracked.add(name)
        return True

    def _mentions_tensor(self, node: cst.BaseExpression) -> bool:
        names = _Names()
        names.collect(node)
        return any(n in self.tensors or n in self.layer_vars for n in names.names)

    def _static_assuming(self, name: str, node: cst.BaseExpression) -> None:
        """``blocks = (depth - 2) // 6`` from a builder parameter: the value it has for the
        parameter's default (or call value), kept aside until a loop bound needs it."""
        assumed = self._assumable(node)
        if not assumed:
            return
        value = inline.static_value(node, {**self.env, **assumed})
        if value is not UNKNOWN and isinstance(value, (bool, int, float, str, tuple, list)):
            self.maybe[name] = (value, assumed)

    def _assumable(self, node: cst.BaseExpression) -> dict[str, Any]:
        """Builder parameters (and values derived from them) ``node`` reads, with the value
        the loops would assume for each."""
        defaults = self._param_defaults()
        used = _Names()
        used.collect(node)
        out: dict[str, Any] = {}
        for n in used.names:
            if n in self.env:
                continue
            if n in self.maybe:
                out[n] = self.maybe[n][0]
            elif n in defaults:
                out[n] = defaults[n]
        return out

    def _commit_assumed(self, assumed: dict[str, Any]) -> dict[str, Any]:
        """The builder parameters behind ``assumed`` (derived names replaced by theirs)."""
        out: dict[str, Any] = {}
        for n, v in assumed.items():
            if n in self.maybe:
                out.update(self.maybe[n][1])
            else:
                out[n] = v
        return out

    def _param_defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, default in self.fn_params.items():
            if name in self.call_values:
                out[name] = self.call_values[name]
                continue
            if default is None:
                continue
            try:
                out[name] = ast.literal_eval(default)
            except (ValueError, SyntaxError):
                continue
        return out

    def _touches_tensors(self, body: Sequence[cst.BaseStatement]) -> bool:
        names = _Names()
        for stmt in body:
            names.collect(stmt)
        return any(n in self.tensors or n in self.helpers or n in self.layer_vars
                   or n in self.seqs or n in self.layer_lists or n in self.tensor_lists
                   or n in self.empty_lists or n in self.builders or n in self.tensor_dicts
                   or n in self.empty_dicts for n in names.names)

    # ---------------------------------------------------------------- lists of layers/tensors
    def _list_statement(self, i: int, small: cst.BaseSmallStatement) -> bool:
        """``blocks = []``, ``blocks.append(layers.Dense(u))``, ``parts = [a, b]``: lists
        a Sequential or a merge reads later. True when the statement was taken here."""
        if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                and isinstance(small.targets[0].target, cst.Tuple) \
                and isinstance(small.value, cst.Tuple) and all(
                    isinstance(t.value, cst.Name) and isinstance(v.value, cst.List)
                    and not v.value.elements for t, v in zip(
                        small.targets[0].target.elements, small.value.elements, strict=False)) \
                and len(small.targets[0].target.elements) == len(small.value.elements):
            for el in small.targets[0].target.elements:  # inputs, embeddings = [], []
                assert isinstance(el.value, cst.Name)
                self._drop_list(el.value.value)
                self.empty_lists[el.value.value] = i
            return False
        if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                and isinstance(small.targets[0].target, cst.Name):
            name = small.targets[0].target.value
            self._drop_list(name)
            value = small.value
            if isinstance(value, cst.List) and not value.elements:
                self.empty_lists[name] = i
                return False  # also a constant: `sizes = []` may hold numbers
            self._none_list(i, name, value)
            if isinstance(value, cst.List) and all(
                    self._is_layer_item(el.value) for el in value.elements):
                seq = self.layer_lists[name] = _Seq(name, i, owned={i}, counter=self.counter)
                self._list_add(seq, i, value.elements)
                return True
            if self._input_list(i, name, value):
                return True
            made = self._comprehension(value)
            if made:
                seq = self.layer_lists[name] = _Seq(name, i, owned={i}, counter=self.counter)
                self._list_add(seq, i, [cst.Element(e) for e in made])
                return True
            nested = self._nested_tensors(value)
            if nested is not None:
                self.tensor_lists[name], self.tensor_groups[name] = nested
                self.list_stmt[name] = i
                return True
            if isinstance(value, (cst.List, cst.Tuple)) and value.elements and all(
                    self._is_tensor_expr(el.value) for el in value.elements):
                self.tensor_lists[name] = [self._tensor(el.value) for el in value.elements]
                self.list_stmt[name] = i
                return True
            items = self._comp_items(value) if self.tensor_lists or self.tensors else None
            if items and all(self._is_tensor_expr(item) for item in items):
                self.tensor_lists[name] = [self._tensor(item) for item in items]
                self.list_stmt[name] = i
                return True
            return False
        if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
            return False
        call = small.value
        func = call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.attr.value == "append" and len(call.args) == 1
                and call.args[0].keyword is None and not call.args[0].star):
            return False
        name, item = func.value.value, call.args[0].value
        if name in self.empty_lists and self._is_layer_item(item):
            start = self.empty_lists.pop(name)
            self.layer_lists[name] = _Seq(name, start, owned={start}, counter=self.counter)
            self.env.pop(name, None)
            self.tracked.discard(name)
        elif name in self.empty_lists and self._is_tensor_expr(item):
            self.list_stmt[name] = self.empty_lists.pop(name)
            self.tensor_lists[name] = []
            self.env.pop(name, None)
            self.tracked.discard(name)
        if name in self.layer_lists:
            self._list_add(self.layer_lists[name], i, [call.args[0]])
            return True
        if name in self.tensor_lists:
            tensor = self._tensor(item)
            if self.unrolling and tensor.name not in self.input_names:
                # `embeddings.append(e)` in a loop that rebinds `e`: forward keeps each
                tensor.name = self.fresh(tensor.name)
                self.tensors[tensor.name] = tensor
            self.tensor_lists[name].append(tensor)
            return True
        return False

    def _input_list(self, i: int, name: str, value: cst.BaseExpression) -> bool:
        """``inputs = [Input((d,)) for _ in range(n)]``: one model input per item; a count
        from a builder parameter is assumed as loops assume it (the class asserts it)."""
        if not isinstance(value, cst.ListComp) or not isinstance(value.elt, cst.Call) \
                or self.qual(value.elt.func) != INPUT:
            return False
        items = self._comp_items(value)
        assumed: dict[str, Any] = {}
        if items is None:
            assumed = self._assumable(value.for_in.iter)
            if not assumed:
                return False
            saved = dict(self.env)
            self.env.update(assumed)
            items = self._comp_items(value)
            self.env = saved
            if items is None:
                return False
            self.env.update(assumed)  # the body's reads of it, as for an unrolled loop
            self._note_assumed(self._commit_assumed(assumed),
                               f"inputs {code_of(value.for_in.iter)} made")
        if not items or not all(isinstance(item, cst.Call) and self.qual(item.func) == INPUT
                                for item in items):
            return False
        made: list[str] = []
        for item in items:
            assert isinstance(item, cst.Call)
            made.append(self.fresh(f"{name}_{len(made)}"))
            self.input(i, made[-1], item)
        self.tensor_lists[name] = [self.tensors[n] for n in made]
        self.list_stmt[name] = i
        return True

    def _dict_statement(self, i: int, small: cst.BaseSmallStatement) -> bool:
        """Dicts of Keras tensors (model inputs by feature name). True when taken here."""
        if not isinstance(small, cst.Assign) or len(small.targets) != 1:
            return False
        target, value = small.targets[0].target, small.value
        if isinstance(target, cst.Name):
            name = target.value
            self.tensor_dicts.pop(name, None)
            self.empty_dicts.pop(name, None)
            if isinstance(value, cst.Dict) and not value.elements:
                self.empty_dicts[name] = i
                return False
            pairs = self._static_pairs(value)
            if pairs is None or not pairs or not all(
                    self._is_dict_item(v) for _, v in pairs):
                return False
            self.tensor_dicts[name] = {}
            self.list_stmt[name] = i
            for key, item in pairs:
                self.tensor_dicts[name][key] = self._dict_item(i, key, item)
            return True
        if not (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
                and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index)):
            return False
        name = target.value.value
        key = inline.static_value(target.slice[0].slice.value, self.env)
        if not isinstance(key, str) or not self._is_dict_item(value):
            return False
        if name in self.empty_dicts:
            self.list_stmt[name] = self.empty_dicts.pop(name)
            self.tensor_dicts[name] = {}
        if name not in self.tensor_dicts:
            return False
        self.tensor_dicts[name][key] = self._dict_item(i, key, value)
        return True

    def _static_pairs(self, node: cst.BaseExpression
                      ) -> list[tuple[str, cst.BaseExpression]] | None:
        """(key, value) of a dict display or comprehension with keys known statically."""
        if isinstance(node, cst.Dict):
            out: list[tuple[str, cst.BaseExpression]] = []
            for el in node.elements:
                if not isinstance(el, cst.DictElement):
                    return None
                key = inline.static_value(el.key, self.env)
                if not isinstance(key, str):
                    return None
                out.append((key, el.value))
            return out
        if not isinstance(node, cst.DictComp) or node.for_in.ifs \
                or node.for_in.inner_for_in is not None or node.for_in.asynchronous:
            return None
        values = inline.static_value(node.for_in.iter, self.env)
        if not isinstance(values, (list, tuple, range)) or len(values) > inline.MAX_UNROLL:
            return None
        out = []
        for v in values:
            mapping = inline.loop_bindings(node.for_in.target, v)
            if mapping is None:
                return None
            key = inline.static_value(inline.substitute(node.key, mapping), self.env)
            if not isinstance(key, str):
                return None
            out.append((key, inline.substitute(node.value, mapping)))
        return out

    def _is_dict_item(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and self.qual(node.func) == INPUT \
            or self._is_tensor_expr(node)

    def _dict_item(self, i: int, key: str, node: cst.BaseExpression) -> Tensor:
        if isinstance(node, cst.Call) and self.qual(node.func) == INPUT:
            var = self.fresh(identifier(key))
            self.input(i, var, node)
            return self.tensors[var]
        return self._tensor(node)

    def _comprehension(self, node: cst.BaseExpression) -> list[cst.BaseExpression]:
        """``[layers.Dense(u) for u in UNITS]`` over values known statically: the layer
        constructors it makes, in order (empty when it is anything else)."""
        if not isinstance(node, cst.ListComp) or node.for_in.ifs \
                or node.for_in.inner_for_in is not None or node.for_in.asynchronous:
            return []
        values = inline.static_value(node.for_in.iter, self.env)
        if not isinstance(values, (list, tuple, range)) or len(values) > inline.MAX_UNROLL:
            return []
        out: list[cst.BaseExpression] = []
        for v in values:
            mapping = inline.loop_bindings(node.for_in.target, v)
            if mapping is None:
                return []
            item = inline.substitute(node.elt, mapping)
            if not self._is_layer_item(item):
                return []
            out.append(item)
        return out

    def name_reused(self, tensor: Tensor) -> bool:
        """Whether another tensor made so far has ``tensor``'s name: ``forward`` then
        rebinds it, and reading ``tensor`` by that name would read the other one."""
        made = [*self.tensors.values(), *(t for c, _ in self.pending_calls for t in c.outputs)]
        return any(t.name == tensor.name and t is not tensor for t in made)

    def _list_add(self, seq: _Seq, i: int, items: Sequence[cst.BaseElement | cst.Arg]
                  ) -> None:
        """Layers into a list; a layer the rules cannot read fails the list (said where
        a Sequential reads it), never the statement."""
        for item in items:
            if seq.failed:
                return
            try:
                self._seq_add(seq, i, item.value)
            except Unsupported as exc:
                seq.failed = str(exc)

    def _is_layer_item(self, node: cst.BaseExpression) -> bool:
        """A layer object: a Keras layer constructor, a layer variable, a model, a converted
        builder's model (``create_block(64)``) or a script's own layer class."""
        if isinstance(node, cst.Name):
            return node.value in self.layer_vars or node.value in self.models
        if not isinstance(node, cst.Call) or self._calls_tensor(node):
            return False
        q = self.qual(node.func)
        if q is not None:
            return q == INPUT or q.startswith("keras.layers.") and q.count(".") == 2 \
                and q.rsplit(".", 1)[1] not in FUNCTIONAL_MERGES
        return isinstance(node.func, cst.Name) and (
            node.func.value in self.builders or node.func.value in self.custom_layers)

    def _drop_list(self, name: str) -> None:
        self.layer_lists.pop(name, None)
        self.tensor_lists.pop(name, None)
        self.tensor_groups.pop(name, None)
        self.empty_lists.pop(name, None)
        self.none_lists.pop(name, None)
        self.slot_lists.pop(name, None)

    def _slot_statement(self, i: int, small: cst.BaseSmallStatement) -> bool:
        """``wheres[k] = t`` with ``k`` known (an unrolled loop's index) into a list made as
        ``wheres = [None] * n``: a list of tensors once every slot holds one (Keras reads
        them by index later, ``wheres[n - 1 - k]``). True when the statement was taken."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
            return False
        target = small.targets[0].target
        if not (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
                and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index)):
            return False
        name = target.value.value
        if name not in self.none_lists and name not in self.slot_lists \
                and name not in self.tensor_lists or not self._is_tensor_expr(small.value):
            return False
        k = inline.static_value(target.slice[0].slice.value, self.env)
        size = self.none_lists[name][1] if name in self.none_lists else len(
            self.slot_lists.get(name) or self.tensor_lists[name])
        if not isinstance(k, int) or isinstance(k, bool) or not -size <= k < size:
            return False
        if name in self.none_lists:
            start, _ = self.none_lists.pop(name)
            count, assumed = self.none_assumed.pop(name)
            if assumed:
                self._note_assumed(self._commit_assumed(assumed), f"list [None] * {count} made")
            self.slot_lists[name] = [None] * size
            self.list_stmt[name] = start
            self.env.pop(name, None)
            self.tracked.discard(name)
        tensor = self._tensor(small.value)
        if not isinstance(small.value, cst.Name):  # a layer's output: named after its slot
            tensor.name = self.fresh(f"{name}_{int(k) % size}")
            self.tensors[tensor.name] = tensor
        elif self.unrolling and tensor.name not in self.input_names:
            tensor.name = self.fresh(tensor.name)  # forward keeps each slot's tensor
            self.tensors[tensor.name] = tensor
        if name in self.tensor_lists:
            self.tensor_lists[name][int(k)] = tensor
            return True
        slots = self.slot_lists[name]
        slots[int(k)] = tensor
        filled = [t for t in slots if t is not None]
        if len(filled) == len(slots):
            self.tensor_lists[name] = filled
            del self.slot_lists[name]
        return True

    def _none_list(self, i: int, name: str, value: cst.BaseExpression) -> None:
        """``wheres = [None] * n`` (n known): slots a loop may fill with tensors."""
        if not (isinstance(value, cst.BinaryOperation)
                and isinstance(value.operator, cst.Multiply)):
            return
        for items, count in ((value.left, value.right), (value.right, value.left)):
            if isinstance(items, cst.List) and len(items.elements) == 1 \
                    and isinstance(items.elements[0].value, cst.Name) \
                    and items.elements[0].value.value == "None":
                assumed = self._assumable(count)  # `[None] * levels`: as loops assume it
                n = inline.static_value(count, {**self.env, **assumed})
                if isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 4096:
                    self.none_lists[name] = (i, int(n))
                    self.none_assumed[name] = (code_of(count), assumed)

    # ---------------------------------------------------------------- helper functions
    def _is_helper_call(self, node: cst.BaseExpression) -> bool:
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)):
            return False
        name = node.func.value
        if name not in self.helpers or name in self.layer_vars or name in self.models \
                or name in self.custom_layers or name in self.builders:
            return False
        return any(self._is_tensor_expr(a.value) or self._is_container(a.value)
                   for a in node.args) or self._makes_inputs(name)

    def _is_container(self, node: cst.BaseExpression) -> bool:
        """A dict or list of Keras tensors (``encode_inputs(inputs)`` over a dict of Inputs)."""
        return isinstance(node, cst.Name) and (node.value in self.tensor_dicts
                                               or node.value in self.tensor_lists)

    def _makes_inputs(self, helper: str) -> bool:
        """A helper that creates ``keras.Input``s (``create_model_inputs()``)."""
        if helper not in self._input_makers:
            calls = _Calls()
            calls.collect(self.helpers[helper])
            self._input_makers[helper] = any(self.qual(c.func) == INPUT for c in calls.found)
        return self._input_makers[helper]

    def _is_tensor_expr(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.tensors
        if isinstance(node, (cst.List, cst.Tuple)):
            return any(self._is_tensor_expr(el.value) for el in node.elements)
        if isinstance(node, cst.Call):
            return self._calls_tensor(node) or self._is_merge(node) or \
                self._is_helper_call(node)
        return False

    def inline_call(self, i: int, names: list[str], call: cst.Call) -> None:
        """``y = helper(x, 64)``: the helper's statements read as if written here."""
        assert isinstance(call.func, cst.Name)
        name = call.func.value
        fn = self.helpers[name]
        if name in self.inlining or len(self.inlining) > 8:
            raise Unsupported(f"helper {name}() calls itself")
        stmts, returned = inline.helper_parts(fn)
        args = inline.bind_args(fn, call)
        rebound = inline.assigned_names(stmts)
        mapping: dict[str, cst.BaseExpression] = {}
        for param, node in args.items():
            if self._is_tensor_expr(node):
                fresh = self.fresh(param)
                if isinstance(node, (cst.List, cst.Tuple)):
                    tensors = [self._tensor(el.value) for el in node.elements]
                    alias = [self.fresh(f"{param}_{k}") for k in range(len(tensors))]
                    for a, t in zip(alias, tensors, strict=True):
                        self.tensors[a] = t
                    mapping[param] = node.with_changes(elements=[
                        el.with_changes(value=cst.Name(a))
                        for el, a in zip(node.elements, alias, strict=True)])
                    continue
                self.tensors[fresh] = self._tensor(node)
                mapping[param] = cst.Name(fresh)
            elif param in rebound:
                value = evaluate(node, self.env)
                if not value.known:
                    raise Unsupported(f"helper {name}() rebinds its argument {param} "
                                      f"({value.code}), which is not known statically")
                fresh = self.fresh(param)
                self.env[fresh] = local_value(value.value)
                mapping[param] = cst.Name(fresh)
            else:
                mapping[param] = inline.parenthesized(node)
        for local in sorted(rebound - set(args)):
            mapping[local] = cst.Name(self.fresh(local))
        block = None if self.inlining else blocks.start(
            fn, args, mapping, self.tensors, len(self.pending_calls))
        self.inlining.append(name)
        try:
            for stmt in stmts:
                stmt = inline.substitute(stmt, mapping)
                if not self._constant_assign(stmt):
                    self.process(i, stmt)
            result = inline.substitute(returned, mapping)
            outs = (list(result.elements) if isinstance(result, (cst.Tuple, cst.List))
                    else None)
            if isinstance(result, cst.Name) and result.value in self.tensor_dicts \
                    and len(names) == 1:  # inputs = create_model_inputs(): a dict of Inputs
                self.tensor_dicts[names[0]] = self.tensor_dicts[result.value]
                self.list_stmt[names[0]] = i
                tensors = []
                names = []
            elif isinstance(result, cst.Name) and result.value in self.tensor_lists \
                    and len(names) == 1:  # encoded = encode_inputs(inputs): a list of tensors
                self.tensor_lists[names[0]] = list(self.tensor_lists[result.value])
                self.list_stmt[names[0]] = i
                tensors = []
                names = []
            elif outs is not None and len(names) == len(outs) > 1:
                tensors = [self._tensor(el.value) for el in outs]
            elif len(names) == 1:
                tensors = [self._tensor(result)]
            else:
                raise Unsupported(f"helper {name}() returns {len(outs or [1])} values, "
                                  f"{len(names)} names bound")
        finally:
            self.inlining.pop()
        for n, t in zip(names, tensors, strict=True):
            self.tensors[n] = t
        if block is not None:
            blocks.finish(block, tensors, names, [c for c, _ in self.pending_calls])
        self.inlined.add(name)

    def _constant_assign(self, stmt: cst.BaseStatement) -> bool:
        """``k = filters * 2`` inside an inlined helper: a constant of the unrolled code."""
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1
                and isinstance(stmt.body[0].targets[0].target, cst.Name)):
            return False
        value = inline.static_value(stmt.body[0].value, self.env)
        if value is UNKNOWN or not isinstance(value, (bool, int, float, str, tuple, list)) \
                or value == []:  # `encoded = []` may collect tensors: the list rules read it
            return False
        name = stmt.body[0].targets[0].target.value
        self.env[name] = self._bind(name, value)
        return True

    def _adds_unfollowed(self, stmt: cst.BaseStatement) -> None:
        """``for size in sizes: model.add(Dense(size))`` over a list the rules cannot
        unroll: the Sequential would miss those layers, so it is not converted."""
        for var, seq in self.seqs.items():
            if var and not seq.failed and _adds_to(stmt, var):
                seq.failed = (f"{var}.add(...) inside a {type(stmt).__name__.lower()} the "
                              "rules cannot unroll (its bound is not known statically)")
                self.models.pop(var, None)
                raise Unsupported(seq.failed)

    def _module_constant(self, name: str) -> bool:
        """A module-level name assigned once whose value module_constants() knows (by name
        or, where a definitions-only import lacks it, by value)."""
        return self.function is None and not self.unrolling and name in self.env \
            and (name in self.constants or name in self.module_env.get(BY_VALUE, ())) \
            and name not in self.module_env.get(REBOUND, ())

    def _bind(self, name: str, value: Any) -> Any:
        """A module constant (assigned once, read outside loops) keeps printing as its name;
        anything else the generated class could not see, or that changes, as its value."""
        if self.function is None and not self.unrolling and name in self.constants:
            return value
        return local_value(value)

    def _poison(self, stmt: cst.CSTNode, *, failed: bool = False) -> None:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return  # a def/class body binds its own scope
        collector = _Targets()
        collector.collect(stmt)
        for name in collector.names | collector.mutated:  # lists changed where not followed
            if name in self.layer_lists or name in self.tensor_lists:
                self.poisoned[name] = self.cur_line
            self._drop_list(name)
        for name in collector.names & set(self.tracked):
            self.env.pop(name, None)  # a constant rebound where the rules cannot follow
            self.tracked.discard(name)
        for name in collector.names & set(self.maybe):
            del self.maybe[name]
        if failed:  # names the failed statement bound: later uses point back to it
            for name in collector.names - set(self.tensors):
                self.poisoned[name] = self.cur_line
                self.failed_at[name] = self.cur_line
        if not self.tensors:
            return
        for name in collector.names:
            if name in self.tensors:
                self._forget(name)

    def _forget(self, name: str) -> None:
        """A tensor name rebound by code the rules do not follow: using it later is an error,
        never a silent use of the stale tensor (that would drop layers from the model)."""
        del self.tensors[name]
        self.poisoned[name] = self.cur_line

    def _temp(self) -> str:
        """A name for an intermediate tensor the source left unnamed (``h``, ``h_1``...),
        never one the block binds itself (``seq, h, c = LSTM(...)(x)``)."""
        taken = self._scan_locals() | set(self.tensors) | set(self.fn_params)
        while True:
            name = self.counter.next("h")
            if name not in taken:
                return name

    def _scan_locals(self) -> set[str]:
        """Names assigned anywhere in the block: computed only when a model needs them."""
        if self._locals is None:
            collector = _Targets()
            for stmt in self.body:
                collector.collect(stmt)
            self._locals = collector.names
        return self._locals

    def statement(self, i: int, small: cst.BaseSmallStatement, line: int) -> None:
        small = applications.io_names(small, self.layer_vars, self._backbone_io)
        frozen = applications.freeze(small, self.layer_vars)
        if frozen is not None:
            self.also_owned.setdefault(id(frozen), set()).add(i)
        elif isinstance(small, cst.Assign) and len(small.targets) == 1:
            self.assign(i, small.targets[0].target, small.value)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self.expr_call(i, small.value)
        elif isinstance(small, cst.Return) and isinstance(small.value, cst.Call):
            self.returned(i, small.value)

    def assign(self, i: int, target: cst.BaseAssignTargetExpression, value: cst.BaseExpression
               ) -> None:
        names = _target_names(target)
        for name in names or ():
            self.constant_defs.pop(name, None)  # rebound
        if names is None or not isinstance(value, cst.Call):
            self._maybe_tensor_expr(i, names, value)
            return
        if self._is_helper_call(value):
            self.inline_call(i, names, value)
            return
        if names is not None and len(names) == 1 and self._constant_kind(value) is not None:
            self.constant_defs[names[0]] = (i, value)
            return
        if (isinstance(value.func, cst.Name) and value.func.value in self.builders
                and names is not None and len(names) == 1):
            # encoder = build_encoder(): an instance of a converted model, usable as a layer
            self.models[names[0]] = self.builders[value.func.value]
            self.model_ctor[names[0]] = code_of(value)
            self.model_stmt[names[0]] = i
            return
        q = self.qual(value.func)
        if q == SEQUENTIAL and len(names) == 1:
            self.sequential(i, names[0], value)
        elif q == INPUT and len(names) == 1:
            self.input(i, names[0], value)
        elif q == MODEL and len(names) == 1:
            self.functional(i, names[0], value, is_return=False)
        elif applications.is_application(q) and len(names) == 1:
            self.application(i, names[0], value)
        elif q is not None and q.startswith("keras.layers.") and not self._calls_tensor(value):
            if q.rsplit(".", 1)[1] in FUNCTIONAL_MERGES:
                self.merge_call(i, names, value)
                return
            if q.rsplit(".", 1)[1] == "InputLayer":
                return
            layer = self.make_layer(value, i, self.counter)
            if layer is not None and len(names) == 1:
                self._bind_layer(names[0], layer, value, i)
        elif value.func is not None and self._calls_tensor(value):
            self.layer_call(i, names, value)
        elif isinstance(value.func, cst.Name) and value.func.value in self.custom_layers:
            layer = self.make_layer(value, i, self.counter)
            if layer is not None and len(names) == 1:
                self._bind_layer(names[0], layer, value, i)
        elif q is None or not q.startswith("keras.layers."):
            # tf.reduce_mean(x), keras.ops.concatenate([a, b]), helper(x) the rules do not
            # know...: an op node through the op table, or an error naming the call
            self._maybe_tensor_expr(i, names, value)

    def application(self, i: int, var: str, call: cst.Call) -> None:
        """``base = keras.applications.VGG16(...)``: a layer; with ``input_tensor=t`` a whole
        model, as ``keras.Model(t, base(t))`` would be."""
        layer = self.make_layer(call, i, self.counter)
        assert layer is not None
        self._bind_layer(var, layer, call, i)
        tensor = applications.input_tensor(call)
        if tensor is None:
            return
        out = self.fresh(f"{var}_output")
        self._record_call(i, layer, [self._tensor(tensor)], [out], {})
        if isinstance(tensor, cst.Name):
            self.backbone_io[var] = (tensor.value, out)  # base.input / base.output
        if not applications.reads_layers(self.body, var):  # else a Keras model's API is used
            self.functional(i, var, applications.as_model(tensor, out), is_return=False)

    def _backbone_io(self, var: str, what: str) -> str:
        """``base.input`` / ``base.output``: an Input of the backbone's ``input_shape`` (Keras's
        default (None, None, 3) without one), and the backbone called on it;
        ``base.get_layer(name).output`` ("layer:<name>"): its feature extractor's node."""
        layer = self.layer_vars[var]
        if what.startswith("layer:"):
            return self._backbone_node(var, layer, what.removeprefix("layer:"))
        output = what == "output"
        at = self.layer_stmt[id(layer)]
        if var not in self.backbone_io:
            given = layer.args.values.get("input_shape") if layer.args is not None else None
            shape = tuple(given.value) if given is not None and given.known else \
                applications.default_input(layer)
            t = Tensor(self.fresh(f"{var}_input"), shape,
                       example=applications.example_size(layer))  # any size: an ImageNet one
            self.tensors[t.name] = t
            self.tensor_stmt[id(t)] = at
            out = self.fresh(f"{var}_output")
            saved = self.cur_line
            self.cur_line = self.lines[at]
            self._record_call(at, layer, [t], [out], {})
            self.cur_line = saved
            self.backbone_io[var] = (t.name, out)
        return self.backbone_io[var][1 if output else 0]

    def _backbone_node(self, var: str, layer: Layer, name: str) -> str:
        if (var, name) not in self.backbone_nodes:
            ext = self.extractors.get(var)
            if ext is None:
                ext = applications.extractor(layer, self.counter.next(f"{var}_features"),
                                             self.cur_line)
                self.extractors[var] = ext
                self.layer_stmt[id(ext)] = self.layer_stmt[id(layer)]
            applications.add_node(ext, name)
            source = self.tensors[self._backbone_io(var, "input")]
            out = self.fresh(identifier(name))
            call = self.extractor_calls.get(var)
            if call is not None:  # one pass of the extractor computes every node
                t = Tensor(out, None)
                self.tensors[out] = t
                self.tensor_stmt[id(t)] = self.layer_stmt[id(layer)]
                self.producer[id(t)] = call
                call.outputs.append(t)
                call.call_kwargs["node"].value.append(name)
            else:
                self._record_call(self.layer_stmt[id(layer)], ext, [source], [out],
                                  {"node": Value(repr([name]), [name])})  # the backbone's line
                self.extractor_calls[var] = self.pending_calls[-1][0]
            self.backbone_nodes[(var, name)] = out
        return self.backbone_nodes[(var, name)]

    def _bind_layer(self, var: str, layer: Layer, call: cst.Call, i: int) -> None:
        """``shared = layers.Dense(8)``: the module is called ``shared`` unless ``name=`` says
        otherwise (Keras's auto name was still counted, so later auto names stay aligned)."""
        self.layer_vars[var] = layer
        self.layer_stmt[id(layer)] = i
        if not any(a.keyword is not None and a.keyword.value == "name" for a in call.args):
            self.counter.taken.discard(layer.attr)
            layer.attr = self.counter.claim(var)

    def _read_constants(self, node: cst.BaseExpression) -> None:
        """The constants ``node`` reads become graph nodes, when it reads a graph tensor."""
        used = _Names()
        used.collect(node)
        pending = sorted((self.constant_defs[n][0], n) for n in used.names
                         if n in self.constant_defs)
        if pending and any(n in self.tensors for n in used.names) or isinstance(
                node, cst.Name) and pending:
            for _, name in pending:
                self._constant_node(name)

    def _constant_node(self, name: str) -> None:
        """The graph node of constant ``name`` (the constants it is computed from first)."""
        if name not in self.constant_defs:
            return
        i, value = self.constant_defs.pop(name)
        if isinstance(value, cst.Call) and self._constant_kind(value) is not None:
            self.constant(i, name, value)
            return
        used = _Names()
        used.collect(value)
        for dep in sorted(used.names & self.constant_defs.keys()):
            self._constant_node(dep)
        self._maybe_tensor_expr(i, [name], value, forced=True)

    def _framework_ops(self, node: cst.BaseExpression) -> bool:
        """Only Keras/TF ops (the op table converts them) and arithmetic: no script function,
        no comprehension (eager code the graph does not read)."""
        if self.convert_lambda is None or m.findall(node, m.ListComp() | m.GeneratorExp()
                                                    | m.DictComp() | m.SetComp() | m.Lambda()):
            return False
        calls = _Calls()
        calls.collect(node)
        return all((self.qual(c.func) or "").split(".")[0] in ("keras", "tensorflow")
                   for c in calls.found)

    def _array_constant(self, call: cst.Call) -> bool:
        """A constant with elements (not ``tf.constant(0.5)``, which torch broadcasts from
        any device): inside a tensor expression, a buffer on the module's device."""
        kind = self._constant_kind(call)
        if kind is None:
            return False
        first = call.args[0].value if call.args else None
        return kind != "literal" or first is None or isinstance(
            evaluate(first, self.env).value, (list, tuple))

    def _constant_kind(self, call: cst.Call) -> str | None:
        """``tf.range(maxlen)``, ``tf.constant([...])``: a tensor of Python values only."""
        if self.convert_lambda is None or self._mentions_tensor(call):
            return None
        return constants.kind_of(call, self.qual(call.func))

    def constant(self, i: int, name: str, call: cst.Call, *, attr: str | None = None) -> None:
        """A constant tensor (constants.py): a node without inputs, a buffer once converted."""
        assert self.convert_lambda is not None
        kind = constants.kind_of(call, self.qual(call.func))
        assert kind is not None
        used = _Names()
        used.collect(call)
        local = self._scan_locals() | set(self.fn_params)
        free = {n for n in used.names if n in local and n not in self.env}  # module names
        for read in sorted(free & (self.poisoned.keys() | self.eager_at.keys())):
            line = self.poisoned.get(read) or self.eager_at[read]
            raise Unsupported(f"{read} comes from line {line}, which the rules do not "
                              f"follow: the constant {code_of(call)} cannot be built")
        code, _ = self.convert_lambda(call, {})
        shape, dtype = constants.shape_and_dtype(call, kind, self.env)
        attr = attr or self.counter.next(identifier(name))
        layer = Layer(attr, self.cur_line, keras_name="constant",
                      source_node=call, free=free, constant=constants.buffer_code(code))
        self._record_call(i, layer, [], [name], {})
        t = self.tensors[name]
        t.shape, t.dtype, t.constant = shape, dtype, True

    def _calls_tensor(self, call: cst.Call) -> bool:
        """``<layer>(tensor)``: the callee is a layer expression and an argument a tensor."""
        func = call.func
        if isinstance(func, cst.Call):
            return True
        if isinstance(func, cst.Name) and (func.value in self.layer_vars or func.value in self.models):
            return True
        return False

    def _maybe_tensor_expr(self, i: int, names: list[str] | None, value: cst.BaseExpression,
                           *, forced: bool = False) -> None:
        """``y = x * 2`` on symbolic tensors: an op node (through the op table)."""
        if names is None or len(names) != 1:
            return
        self._read_constants(value)
        used = _Names()
        used.collect(value)
        if not any(n in self.tensors for n in used.names) and not forced:
            if any(n in self.constant_defs for n in used.names) and self._framework_ops(value):
                self.constant_defs[names[0]] = (i, value)  # `scale = positions / maxlen`
                return
            alias = applications.function_alias(names[0], value, self.qual)
            if alias is not None:  # `preprocess_input = keras.applications.x.preprocess_input`
                self.aliases[names[0]] = (value, i)
            return
        owned = {self.aliases[n][1] for n in used.names if n in self.aliases
                 and applications.used_once(self.body, n)}  # the alias serves this call only
        value = inline.substitute(value, {n: self.aliases[n][0] for n in used.names
                                          if n in self.aliases})
        reads = _TensorReads(self.tensors, self.qual)
        value.visit(reads)
        if not reads.values:
            return  # `shape = K.int_shape(x)`, `n = x.shape[-1]`: a size, not a graph node
        traced = value.visit(_LayerCalls(self))  # `layers.Dense(4)(x) * 0.5`: the call first
        assert isinstance(traced, cst.BaseExpression)
        value = traced
        used = _Names()
        used.collect(value)
        tensors = [n for n in used.names if n in self.tensors]
        if self.convert_lambda is None:
            raise Unsupported(f"tensor expression {code_of(value)}")
        mapping = {n: "{x" + str(k) + "}" for k, n in enumerate(tensors)}
        unknown = _unknown_callee(value, self.qual, set(self.tensors))
        if unknown is not None and isinstance(value, cst.Call) and isinstance(value.func, cst.Name) \
                and value.func.value in self._scan_locals() | set(self.fn_params) \
                and value.func.value not in self.helpers and value.args \
                and all(a.keyword is None and not a.star and self._is_tensor_expr(a.value)
                        for a in value.args):
            layer = self._opaque_layer(value.func, value.func)  # `x = backbone(x)`
            self._record_call(i, layer, self._tensor_args(value), names, {})
            return
        if unknown is not None:
            raise Unsupported(f"{unknown}(...) on a Keras tensor: {unknown} is no layer, op or "
                              "helper the rules know")
        free = self._free_in_forward(used.names, mapping)
        kept = ""
        try:
            expr, elementwise = self.convert_lambda(value, mapping)
        except Unsupported as exc:
            if unknown is not None or not self._keepable(value):
                raise Unsupported(f"tensor expression {code_of(value)}: {exc}") from exc
            # statement granularity: this op stays as written (TODO), the model converts
            expr, elementwise, kept = _as_written(value, mapping), False, str(exc)
        rule = None if kept else shape_rule(
            self.qual(value.func) if isinstance(value, cst.Call) else None, value, self.env)
        if rule is None and not kept and not elementwise and len(tensors) == 1:
            # `(a + tf.transpose(a, (0, 1, 3, 2))) / 2`: ops and arithmetic on one tensor
            rule = lambda_rule(value, tensors[0], self.qual, self.env)
        layer = Layer(self.counter.next("lambda"), self.cur_line, lambda_expr=expr,
                      lambda_elementwise=elementwise, keras_name="op", source_node=value,
                      free=free, kept=kept, shape_rule=rule)
        if owned:
            self.also_owned[id(layer)] = owned
        self._record_call(i, layer, [self.tensors[n] for n in tensors], names, {})

    def _keepable(self, value: cst.BaseExpression) -> bool:
        """An op without a torch mapping can stay as written in ``forward`` when it is a
        framework function called on tensors (its output a tensor of the graph)."""
        return isinstance(value, cst.Call) and (self.qual(value.func) or "").split(".")[0] in (
            "keras", "tensorflow")

    def _free_in_forward(self, names: list[str], mapping: dict[str, str]) -> set[str]:
        """Names a tensor expression reads besides tensors, made readable in ``forward``:
        a constant the rules follow becomes its value, a builder parameter or local stays its
        name (a constructor parameter, which ``forward_params.keep_in_forward`` turns into a
        ``self.<name>`` attribute: typed, unlike ``self.hparams``); module names stay."""
        free: set[str] = set()
        local = self._scan_locals() | set(self.fn_params)
        for name in names:
            if name in mapping or name in _BUILTINS:
                continue
            known = self.env.get(name, UNKNOWN)
            if name in self.constants and name not in local:
                continue  # a module constant: the generated class sees it too
            if known is not UNKNOWN and isinstance(known, (bool, int, float, str, tuple)):
                mapping[name] = repr(known if type(known) is not LocalInt else int(known))
            elif name in self.poisoned or name in self.eager_at:
                line = self.poisoned.get(name) or self.eager_at[name]
                raise Unsupported(f"{name} comes from line {line}, which the rules do not "
                                  "follow: it cannot be read in forward")
            elif name in local:
                mapping[name] = name
                free.add(name)
        return free

    def expr_call(self, i: int, call: cst.Call) -> None:
        func = call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            var, method = func.value.value, func.attr.value
            seq = self.seqs.get(var)
            if seq is not None and method == "add" and call.args:
                self.seq_add(seq, i, call.args[0].value)
            elif seq is not None and method == "build" and seq.input_shape is None:
                seq_build(self, seq, call)

    def returned(self, i: int, call: cst.Call) -> None:
        q = self.qual(call.func)
        if q == SEQUENTIAL:
            self.sequential(i, "", call)
            seq = self.seqs.pop("")
            if not seq.failed:
                self.finish_seq(seq, i, is_return=True)
        elif q == MODEL:
            self.functional(i, "", call, is_return=True)

    # ---------------------------------------------------------------- Sequential
    def sequential(self, i: int, var: str, call: cst.Call) -> None:
        seq = _Seq(var, i, owned={i})
        for a in call.args:
            if a.keyword is not None and a.keyword.value == "name":
                name = evaluate(a.value, self.env).value
                seq.keras_name = name if isinstance(name, str) else None
        items = call.args[0].value if call.args and call.args[0].keyword is None else None
        if items is None:
            for a in call.args:
                if a.keyword is not None and a.keyword.value == "layers":
                    items = a.value
        self.seqs[var] = seq
        raw = loops.summands(items) if items is not None else []
        self.inlined |= {list_helpers.called(p, self.helpers) for p in raw} - {""}
        parts = [list_helpers.expand(p, self.helpers) or p for p in raw]  # conv_block(16)
        if items is not None and all(isinstance(p, (cst.List, cst.Tuple)) or isinstance(
                p, cst.Name) and p.value in self.layer_lists for p in parts):
            for part in parts:  # Sequential(stem + head): each list in turn
                if isinstance(part, cst.Name):
                    self._from_list(seq, self.layer_lists[part.value])
                    continue
                assert isinstance(part, (cst.List, cst.Tuple))
                for el in part.elements:
                    self.seq_add(seq, i, el.value)
        elif items is not None:
            seq.failed = "Sequential(layers) from a variable: list the layers inline"
            raise Unsupported(seq.failed)
        if var:
            self.models[var] = ModelIR(class_name_for(var, self.function, seq.keras_name,
                                                      self.stem), var, "Sequential", i,
                                       [], [], [], [])  # placeholder: finished on first use

    def _from_list(self, seq: _Seq, items: _Seq) -> None:
        """``Sequential(blocks)`` with ``blocks`` built by appends (loops unrolled)."""
        frozen = self._freeze_loops(seq, items)
        if not items.failed and self._read_elsewhere(items.var,
                                                     items.owned | {seq.start} | set(frozen)):
            items.failed = (f"{items.var} is also read outside the model (its layers frozen, "
                            "reused...): that code would see no torch module")
        if items.failed:
            seq.failed = items.failed
            self.models.pop(seq.var, None)
            raise Unsupported(f"Sequential({items.var}): {items.failed}")
        first = not seq.layers
        seq.rewritten |= {k: freezing.set_trainable(self.body[k], seq.var, [
            la.attr for la in items.layers], value) for k, value in frozen.items()}
        for k in frozen:
            self.warnings.append((self.lines[k], f"`for ... in {items.var}: ....trainable = ...` "
                                  f"-> set_trainable({seq.var}, ...) on the converted modules "
                                  "of those layers, at the same place (frozen: no gradients, "
                                  "BatchNorm in inference mode)"))
        seq.layers += items.layers
        seq.owned |= items.owned
        seq.free |= items.free
        if seq.input_shape is None and first:
            seq.input_shape, seq.input_dtype = items.input_shape, items.input_dtype

    def _freeze_loops(self, seq: _Seq, items: _Seq) -> dict[int, bool]:
        """Statements after ``seq`` that set ``trainable`` on every layer of ``items``
        (rewritten on the converted model): index -> the value set."""
        if not seq.var or self.inlining or self.unrolling:
            return {}
        out: dict[int, bool] = {}
        for k in range(seq.start + 1, len(self.body)):
            value = freezing.freeze_value(self.body[k], items.var)
            if value is not None:
                out[k] = value
        return out

    def _read_elsewhere(self, name: str, owned: set[int]) -> bool:
        """Whether a statement of the block other than ``owned`` mentions ``name``."""
        for k, stmt in enumerate(self.body):
            if k in owned:
                continue
            names = _Names()
            names.collect(stmt)
            if name in names.names:
                return True
        return False

    def _finish_pending(self, var: str) -> None:
        """A Sequential used as a layer is complete at that point: build its IR now."""
        seq = self.seqs.pop(var, None)
        if seq is not None:
            if seq.failed:
                raise Unsupported(f"submodel {var} was not converted: {seq.failed}")
            self.finish_seq(seq, seq.start, is_return=False)

    def seq_add(self, seq: _Seq, i: int, node: cst.BaseExpression) -> None:
        """Add one item; an item that cannot be converted fails the whole model."""
        try:
            self._seq_add(seq, i, node)
        except Unsupported as exc:
            seq.failed = str(exc)
            self.models.pop(seq.var, None)
            raise

    def _seq_add(self, seq: _Seq, i: int, node: cst.BaseExpression) -> None:
        seq.owned.add(i)
        if isinstance(node, cst.Call):
            q = self.qual(node.func)
            if q in (INPUT, "keras.layers.InputLayer"):
                self._free = set()
                seq.input_shape, seq.input_dtype = self._input_spec(node)
                seq.free = set(self._free)
                return
            if seq.input_shape is None and not seq.layers:
                self._free = set()
                shape = self._kw_shape(node)
                seq.free = set(self._free)
                if shape is not None:
                    seq.input_shape = shape
                    if q == "keras.layers.Embedding":
                        seq.input_dtype = "long"
            layer = self.make_layer(node, i, seq.counter)
            if layer is None:
                raise Unsupported(f"Sequential item {code_of(node)} is not a known layer")
            if not seq.layers and seq.input_shape is None:  # the shape kwarg sized nothing
                layer.free -= seq.free - _names_outside_shape_kwargs(node)
            layer.free -= self.data_shaped - _names_outside_shape_kwargs(node)
            seq.layers.append(layer)
        elif isinstance(node, cst.Name) and node.value in self.layer_vars:
            layer = self.layer_vars[node.value]
            seq.owned.add(self.layer_stmt[id(layer)])
            seq.owned |= self.also_owned.get(id(layer), set())
            given = layer.args.values.get("input_shape") if layer.args is not None else None
            if seq.input_shape is None and not seq.layers and given is not None and given.known:
                seq.input_shape = tuple(given.value)  # `base = VGG16(input_shape=...)` first
            seq.layers.append(layer)
        elif isinstance(node, cst.Name) and node.value in self.models:
            self._finish_pending(node.value)
            seq.layers.append(self._shared_submodel(node.value, self.models[node.value]))
        else:
            raise Unsupported(f"Sequential item {code_of(node)} is not a layer")

    def _kw_shape(self, call: cst.Call) -> tuple[Any, ...] | None:
        for a in call.args:
            if a.keyword is None:
                continue
            if a.keyword.value == "input_shape":
                return self._shape_of(a.value)
            if a.keyword.value == "batch_input_shape":
                s = self._shape_of(a.value)
                return s[1:] if s else None
            if a.keyword.value == "input_dim":
                v = self.value(a.value)
                extra = self._kw_value(call, "input_length")
                base = v.value if v.known else v.code
                return (extra, base) if extra is not None else (base,)
            if a.keyword.value == "input_length":
                v = self.value(a.value)
                return (v.value if v.known else v.code,)
        return None

    def _kw_value(self, call: cst.Call, name: str) -> Any:
        for a in call.args:
            if a.keyword is not None and a.keyword.value == name:
                v = self.value(a.value)
                return v.value if v.known else v.code
        return None

    def finish_seq(self, seq: _Seq, at: int, *, is_return: bool) -> None:
        shape = tuple(seq.input_shape) if seq.input_shape is not None else \
            token_sequence_input(seq.layers)
        if seq.input_shape is None and shape is not None:
            seq.input_dtype = "long"
        fed = self.fed.get(seq.var) if shape is None else None
        if fed is not None:  # no input shape in the source: what the script feeds it
            shape = fed.shape
            first = seq.layers[0] if seq.layers else None
            if fed.dtype == "long" or getattr(first, "keras_name", "") == "Embedding":
                seq.input_dtype = "long"
        # a shape the script feeds replaces an unread shape argument (input_shape=
        # x_train.shape[1:]): that argument's names are written nowhere, not constructor args
        free = set() if fed is not None else seq.free
        inputs = [Tensor("x", shape, seq.input_dtype, free=free)]
        calls: list[Call] = []
        cur = inputs[0]
        for layer in seq.layers:
            out = Tensor("x", None)
            calls.append(Call(layer, [cur], [out], layer.line))
            cur = out
        ir = ModelIR(class_name_for(seq.var, self.function, seq.keras_name, self.stem), seq.var,
                     "Sequential",
                     self.lines[seq.start],
                     inputs, list(seq.layers), calls, [cur], keras_name=seq.keras_name)
        ir.params = self.ctor_params(ir)
        ir.fed = fed is not None
        late = self._built_after(ir, seq, at)
        if late is None:
            return
        at = late
        if seq.var and seq.var in self.models:
            placeholder = self.models[seq.var]
            placeholder.__dict__.update(ir.__dict__)  # submodel references see the result
            ir = placeholder
        if seq.var and self.function:  # in a builder, a parent that calls it owns its
            self.model_stmt[seq.var] = at  # instantiation (at module level the class stays)
        if seq.rewritten:
            ir.named = True  # set_trainable reads its modules by attribute name
        self.found.append(Found(ir, seq.owned, at, is_return, rewritten=seq.rewritten))

    def _built_after(self, ir: ModelIR, seq: _Seq, at: int) -> int | None:
        """Where the class can be made: ``at``, or after the statements between the adds
        that compute what a layer takes (``w = np.load(..)`` then ``Dense(.., weights=w)``);
        None (reported) when such a statement reads the model being built: its value needs
        Keras's half-built model, which the class does not go through."""
        read: set[str] = set()
        for p in ir.params:
            try:
                read |= _names_in(cst.parse_expression(p.passed or p.name))
            except cst.ParserSyntaxError:
                continue
        last = max(seq.owned | {at})
        between = [k for k in range(at + 1, last + 1) if k not in seq.owned]
        binders = []
        for k in between:
            collector = _Targets()
            collector.collect(self.body[k])
            if collector.names & read:
                binders.append(k)
        if not binders:
            return at
        if seq.var and any(seq.var in _names_under(self.body[k]) for k in between):
            k = binders[0]
            self.errors.append((self.lines[k], "model", (
                f"{seq.var}: a layer takes a value computed from {seq.var} while it is being "
                f"built ({seq.var}.get_layer/get_weights/output_shape between its add() "
                "calls): the class builds every layer at once")))
            return None
        return last

    # ---------------------------------------------------------------- functional
    def _input_spec(self, call: cst.Call) -> tuple[tuple[Any, ...] | None, str]:
        shape_node = None
        dtype = "float"
        for k, a in enumerate(call.args):
            key = a.keyword.value if a.keyword else ("shape" if k == 0 else "")
            if key in ("shape", "input_shape"):
                shape_node = a.value
            elif key in ("batch_shape", "batch_input_shape"):
                s = self._shape_of(a.value)
                return (s[1:] if s else None), dtype
            elif key == "dtype":
                d = evaluate(a.value, self.env).value
                if isinstance(d, str) and ("int" in d):
                    dtype = "long"
        return self._shape_of(shape_node), dtype

    def input(self, i: int, var: str, call: cst.Call) -> None:
        self._free = set()
        shape, dtype = self._input_spec(call)
        # an Input made in an unrolled loop: each its own forward parameter
        name = self.fresh(var) if self.unrolling and var in self.input_names else var
        self.input_names.add(name)
        t = Tensor(name, shape, dtype, free=set(self._free))
        for a in call.args:  # ``Input(name="image")``: ``model.get_layer("image").output``
            keras_name = evaluate(a.value, self.env).value
            if a.keyword is not None and a.keyword.value == "name" and isinstance(keras_name,
                                                                                   str):
                self.views.named_inputs[keras_name] = t
                t.keras_name = keras_name  # fit's dict inputs are keyed by it
        self.tensors[var] = self.tensors[name] = t
        self.tensor_stmt[id(t)] = i

    def layer_call(self, i: int, names: list[str], call: cst.Call) -> None:
        """``y = Dense(4)(x)``, ``y = dense(x)``, ``y = encoder(x)``, nested calls too."""
        func = call.func
        # the layer first: Python builds `Dense(3)` before evaluating its argument, and
        # Keras numbers layer names in that order (weights are ported by name)
        if isinstance(func, cst.Name) and func.value in self.layer_vars:
            layer = self.layer_vars[func.value]
            if self._string_step(i, layer, func.value, names, call):
                return
            if id(layer) in self.wrapped:
                raise Unsupported(f"{func.value} is called and also wrapped in "
                                  f"{self.wrapped[id(layer)]} (shared weights): not converted")
        elif isinstance(func, cst.Name) and func.value in self.models:
            self._finish_pending(func.value)
            layer = self._shared_submodel(func.value, self.models[func.value])
        elif isinstance(func, cst.Call):
            made = self.make_layer(func, i, self.counter)
            layer = made if made is not None else self._opaque_layer(func, func.func)
        else:
            raise Unsupported(f"call of {code_of(func)}")
        if not self.inlining and not any(self._in_graph(a.value) for a in call.args):
            raise NotGraph(f"{code_of(func)} called on values no Keras graph produced")
        inputs = self._tensor_args(call)
        kwargs = {a.keyword.value: self.value(a.value) for a in call.args
                  if a.keyword is not None and a.keyword.value not in self._TENSOR_KEYWORDS}
        if "initial_state" in kwargs:
            node = kwargs["initial_state"].node
            if isinstance(node, (cst.List, cst.Tuple)):
                inputs += [self._tensor(el.value) for el in node.elements]
            elif isinstance(node, cst.Name) and node.value == "None":
                pass
            else:  # encoder_states = [h, c]; one state of a GRU; never dropped (zeros then)
                states = (list(self.tensor_lists[node.value]) if isinstance(node, cst.Name)
                          and node.value in self.tensor_lists else [self._tensor(node)]
                          if isinstance(node, cst.Name) and node.value in self.tensors else [])
                if len(states) != _STATE_COUNTS.get(layer.keras_name, 0):
                    written = code_of(node) if node is not None else "..."
                    raise Unsupported(f"initial_state={written}: states the rules do not "
                                      f"follow for {layer.keras_name or 'this layer'}")
                inputs += states
        positional = [a.value for a in call.args if a.keyword is None]
        listed = bool(positional) and (
            isinstance(positional[0], (cst.List, cst.Tuple, cst.ListComp))
            or isinstance(positional[0], cst.Name) and positional[0].value in self.tensor_lists)
        returned = self.list_returns.get(layer.keras_name) if layer.custom_ctor else None
        count = returned.count(len(inputs) if listed else None) if returned else None
        # several items (a one-item list would need ``[a] = ...``: left one value, as before)
        var = names[0] if len(names) == 1 and count is not None and count > 1 else None
        if var is not None and count is not None:  # ``alpha = Scores()(embeddings)``: a list
            names = [self.fresh(f"{var}_{k}") for k in range(count)]
        self._record_call(i, layer, inputs, names, kwargs)
        if var is not None:
            self.tensor_lists[var] = [self.tensors[n] for n in names]
            self.list_stmt[var] = i
        if listed:
            self.pending_calls[-1][0].listed = True
        elif len(positional) == len(call.args) == len(inputs) > 1:
            self.pending_calls[-1][0].positional = True  # call(a, b): forward(a, b)

    def _string_step(self, i: int, layer: Layer, var: str, names: list[str],
                     call: cst.Call) -> bool:
        """``x = vectorizer(text_input)`` on a model Input: ``x`` is the model's input."""
        arg = call.args[0].value if len(call.args) == 1 and len(names) == 1 else None
        source = self.tensors.get(arg.value) if isinstance(arg, cst.Name) else None
        if source is None or source.name not in self.input_names:
            return False
        name = names[0]
        if any(t is source for items in self.tensor_dicts.values() for t in items.values()):
            name = self.fresh(f"{source.name}_{name}")  # `lookup(inputs[f])` once per feature
        made = string_inputs.integer_input(layer, var, source, name, self.env)
        if made is None:
            return False
        self.input_names.discard(source.name)
        self.input_names.add(made.name)
        for key in [k for k, t in self.tensors.items() if t is source]:
            self.tensors[key] = made
        for items in self.tensor_dicts.values():  # keras.Model(inputs=inputs): a dict
            for key in [k for k, t in items.items() if t is source]:
                items[key] = made
        for listed in self.tensor_lists.values():
            listed[:] = [made if t is source else t for t in listed]
        self.tensors[made.name] = made
        self.tensors[names[0]] = made
        self.tensor_stmt[id(made)] = i
        if id(source) in self.tensor_stmt:
            self.string_inputs[id(made)] = self.tensor_stmt[id(source)]
        self.warnings.append((self.cur_line, string_inputs.STRING_STEP_WARNINGS.format(var=var)))
        return True

    def _in_graph(self, node: cst.BaseExpression) -> bool:
        """Whether ``node`` reads a Keras tensor, or a name a failed statement bound."""
        names = _Names()
        names.collect(node)
        known = self.tensors.keys() | self.poisoned.keys() | self.tensor_lists.keys() \
            | self.tensor_dicts.keys() | self.constant_defs.keys()
        return any(n in known for n in names.names) or isinstance(node, cst.Call) and (
            self._calls_tensor(node) or self._is_merge(node)
            or self._constant_kind(node) is not None)

    def _opaque_layer(self, ctor: cst.BaseExpression, callee: cst.BaseExpression) -> Layer:
        """``MyKerasLayer(8)(x)`` / ``backbone(x)``: a layer object the rules do not know.
        Statement granularity: it stays as written inside the converted class (marked
        TODO(k2l), reported); the rest of the model converts around it."""
        name = code_of(callee)
        root = callee
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name) or self._mentions_tensor(ctor):
            raise Unsupported(f"{code_of(ctor)} is not a known layer")
        base = name.rsplit(".", 1)[-1]
        attr = self.counter.next(keras_snake(base) if base[:1].isupper() else identifier(base))
        self._free = set()
        self._note_free_names(ctor)
        return Layer(attr, self.cur_line, keras_name=name, source_node=ctor,
                     free=set(self._free),
                     error=f"{name} is not a layer the rules know")

    def _shared_submodel(self, var: str, sub: ModelIR) -> Layer:
        """One Layer per model variable, so ``encoder(a)`` and ``encoder(b)`` share weights."""
        layer = self.layer_vars.get(var)
        if (layer is None or layer.submodel is not sub) and self._instance_outside(var):
            # Keras calls that very object: its trained weights are the ones used
            layer = Layer(identifier(var), self.cur_line, submodel=sub,
                          keras_name=sub.class_name, custom_ctor=var, passed_in=True)
            layer.seq -= 1 << 30
            self.layer_vars[var] = layer
        if layer is None or layer.submodel is not sub:
            # a model built in this block (``base = Sequential([...])``) has no constructor
            # code: the class is made with its parameters, read from the parent's names
            ctor = self.model_ctor.get(var)
            layer = Layer(identifier(var), self.cur_line, submodel=sub,
                          keras_name=sub.class_name, custom_ctor=ctor,
                          free=set() if ctor is not None else {p.name for p in sub.params})
            layer.seq -= 1 << 30  # the model object exists before any layer made here
            self.layer_vars[var] = layer
            if var in self.model_stmt:
                self.layer_stmt[id(layer)] = self.model_stmt[var]
        return layer

    def _instance_outside(self, var: str) -> bool:
        """``base`` built by its own module-level statement before this model: the script
        holds (and may train) that instance, so the new model must receive it, not a copy."""
        return self.function is None and var in self.models and not self.unrolling

    def _record_call(self, i: int, layer: Layer, inputs: list[Tensor], names: list[str],
                     kwargs: dict[str, Value]) -> None:
        outputs = [Tensor(n, None, "float", constant=bool(inputs) and all(
            t.constant for t in inputs)) for n in names]  # Keras computed it when building
        call = Call(layer, inputs, outputs, self.cur_line, {k: v for k, v in kwargs.items()
                                                if k != "initial_state"})
        for t in outputs:
            self.tensors[t.name] = t
            self.tensor_stmt[id(t)] = i
            self.producer[id(t)] = call
        self.pending_calls.append((call, i))

    def merge_call(self, i: int, names: list[str], call: cst.Call) -> None:
        q = self.qual(call.func)
        assert q is not None
        spec_name = FUNCTIONAL_MERGES[q.rsplit(".", 1)[1]]
        first = call.args[0].value if call.args else None
        items = self._tensor_items(first) if first is not None else None
        if items is None:
            raise Unsupported(f"{code_of(call.func)} needs a literal list of tensors")
        inputs = items
        spec = lookup(f"keras.layers.{spec_name}")
        assert spec is not None
        _, kwargs = self._args(call.with_changes(args=call.args[1:]))
        layer = Layer(self.counter.next(keras_snake(spec_name)), self.cur_line, spec=spec,
                      args=bind(spec, [], kwargs), keras_name=spec_name, source_node=call)
        self._record_call(i, layer, inputs, names, {})

    _TENSOR_KEYWORDS = ("inputs", "query", "value", "key")

    def _tensor_args(self, call: cst.Call) -> list[Tensor]:
        """Every leading positional tensor, then tensor keywords (``mha(q, v, key=k)``)."""
        positional = [a.value for a in call.args if a.keyword is None]
        named = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        if positional and isinstance(positional[0], (cst.List, cst.Tuple)):
            return [self._tensor(el.value) for el in positional[0].elements]
        if positional and (isinstance(positional[0], cst.Name)
                           and positional[0].value in self.tensor_lists
                           or isinstance(positional[0], (cst.ListComp, cst.BinaryOperation))):
            items = self._tensor_items(positional[0])
            if items is not None:
                return items
        nodes: list[cst.BaseExpression] = []
        for node in positional:
            if not (isinstance(node, cst.Name) and node.value in self.tensors
                    or isinstance(node, cst.Call) and (self._calls_tensor(node)
                                                       or self._is_merge(node)
                                                       or self._is_helper_call(node))):
                break
            nodes.append(node)
        nodes += [named[k] for k in self._TENSOR_KEYWORDS if k in named]
        if not nodes and positional:
            return [self._tensor(positional[0])]  # raises, saying why it is no tensor
        if not nodes:
            raise Unsupported(f"layer call without inputs: {code_of(call)}")
        if len(nodes) == 1 and isinstance(nodes[0], (cst.List, cst.Tuple)):
            return [self._tensor(el.value) for el in nodes[0].elements]
        return [self._tensor(n) for n in nodes]

    def _is_merge(self, node: cst.Call) -> bool:
        q = self.qual(node.func)
        return q is not None and q.startswith("keras.layers.") and \
            q.rsplit(".", 1)[1] in FUNCTIONAL_MERGES

    def _tensor(self, node: cst.BaseExpression) -> Tensor:
        if isinstance(node, cst.Name):
            self._constant_node(node.value)  # `Embedding(n, d)(positions)`
        if isinstance(node, cst.Name) and node.value in self.tensors:
            return self.tensors[node.value]
        if isinstance(node, cst.Call) and self._is_helper_call(node):
            tmp = self._temp()
            self.inline_call(self.cur_index, [tmp], node)
            return self.tensors[tmp]
        if isinstance(node, cst.Call) and self._constant_kind(node) is not None:
            tmp = self.counter.next("constant")  # `Embedding(n, d)(tf.range(n))`
            self.constant(self.cur_index, tmp, node, attr=tmp)
            return self.tensors[tmp]
        if isinstance(node, cst.Call) and (self._calls_tensor(node) or self._is_merge(node)):
            # nested call: give the intermediate a fresh name
            tmp = self._temp()
            if self._is_merge(node):
                self.merge_call(self.cur_index, [tmp], node)
            else:
                self.layer_call(self.cur_index, [tmp], node)
            return self.tensors[tmp]
        if not isinstance(node, cst.Name) and self._mentions_tensor(node):
            # `Dense(4)(x + y)`, `return a * b` from a helper: an op node of its own
            tmp = self._temp()
            self._maybe_tensor_expr(self.cur_index, [tmp], node)
            if tmp in self.tensors:
                return self.tensors[tmp]
        if isinstance(node, cst.Name) and self.failed_at.get(node.value, -1) == \
                self.poisoned.get(node.value):
            raise KnockOn(f"{node.value} comes from line {self.failed_at[node.value]}, "
                          "which the rules could not convert (reported there)")
        if isinstance(node, cst.Name) and node.value in self.eager_at:
            raise Unsupported(f"{node.value} comes from line {self.eager_at[node.value]}, a "
                              "layer called on values no Keras graph produced")
        if isinstance(node, cst.Name) and node.value in self.poisoned:
            raise Unsupported(f"{node.value} is rebound at line {self.poisoned[node.value]} by "
                              "code the rules do not follow (a loop, branch or helper "
                              "function): the model needs a person or the LLM stage")
        if isinstance(node, cst.Dict):  # returned by an inlined `create_model_inputs()`
            keys = [k for k in (evaluate(el.key, self.env).value for el in node.elements
                                if isinstance(el, cst.DictElement)) if isinstance(k, str)]
            shown = ", ".join(repr(k) for k in keys[:4]) + (", ..." if len(keys) > 4 else "")
            raise Unsupported(f"a dict of tensors ({{{shown}}}) returned by a helper function "
                              "is not followed: the model needs a person or the LLM stage")
        raise Unsupported(f"{code_of(node)} is not a Keras tensor here")

    def functional(self, i: int, var: str, call: cst.Call, *, is_return: bool) -> None:
        ins_node = outs_node = None
        name = None
        for k, a in enumerate(call.args):
            key = a.keyword.value if a.keyword else ("inputs" if k == 0 else "outputs")
            if key == "inputs":
                ins_node = a.value
            elif key == "outputs":
                outs_node = a.value
            elif key == "name":
                n = evaluate(a.value, self.env).value
                name = n if isinstance(n, str) else None
        if ins_node is None or outs_node is None:
            raise Unsupported("keras.Model(...) without inputs/outputs: a subclassed model?")
        inputs = self._tensor_list(ins_node)
        outputs = self._tensor_list(outs_node)
        outputs_are_list = isinstance(outs_node, (cst.List, cst.Tuple)) or isinstance(
            outs_node, cst.Name) and outs_node.value in self.tensor_lists
        keys = None
        if isinstance(outs_node, cst.Name) and outs_node.value in self.views.dicts:
            keys = sorted(self.tensor_dicts[outs_node.value])  # Keras returns them sorted
            outputs = [self.tensor_dicts[outs_node.value][k] for k in keys]
        groups = self._output_groups(outs_node)
        if self._view(i, var, name, inputs, outputs, keys, outputs_are_list, groups):
            return
        if groups is not None:
            raise Unsupported("a model whose outputs nest lists of tensors (a layer's "
                              "several outputs): converted only over another model's layers")
        why = model_inputs.not_inputs(ins_node, inputs, outputs, self.producer)
        if why is not None:
            raise Unsupported(why)
        # calls reachable from the outputs, in source order
        needed: set[int] = set()
        stack = list(outputs)
        while stack:
            t = stack.pop()
            c = self.producer.get(id(t))
            if c is None or id(c) in needed:
                continue
            needed.add(id(c))
            stack.extend(c.inputs)
        calls = [c for c, _ in self.pending_calls if id(c) in needed]
        owned = {i} | {s for c, s in self.pending_calls if id(c) in needed}
        owned |= {self.tensor_stmt[id(t)] for t in inputs}
        owned |= {self.string_inputs[id(t)] for t in inputs if id(t) in self.string_inputs}
        if self.cur_stmt is not None:  # ``outputs_dict = ...`` of a backbone's points
            owned |= self._view_deps(self.cur_stmt)
        made = {id(t) for c in calls for t in c.outputs} | {id(t) for t in inputs}
        owned |= {k for k, ts in self.size_stmts.items() if all(id(t) in made for t in ts)}
        owned |= {self.list_stmt[n] for n, ts in self.tensor_lists.items()
                  if n in self.list_stmt and any(id(t) in made for t in ts)}
        owned |= {k for k, n in self.tuple_stmts.items()  # `dims = (h, w)` read only here
                  if not self._read_elsewhere(n, owned | {k})}
        layers: list[Layer] = []
        for c in calls:
            if c.layer not in layers:
                layers.append(c.layer)
                if id(c.layer) in self.layer_stmt:
                    owned.add(self.layer_stmt[id(c.layer)])
                owned |= self.also_owned.get(id(c.layer), set())
        for seq in {id(s): s for s in (self.list_of_layer.get(id(la)) for la in layers)
                    if s is not None}.values():
            if self._read_elsewhere(seq.var, seq.owned | owned):
                raise Unsupported(f"{seq.var} is also read outside the model (its layers "
                                  "frozen, reused...): that code would see no torch module")
            owned |= seq.owned
        ir = ModelIR(class_name_for(var, self.function, name, self.stem), var, "Functional",
                     self.cur_line,
                     inputs, layers,
                     calls, outputs, outputs_are_list=outputs_are_list, keras_name=name)
        ir.params = self.ctor_params(ir)
        ir.output_keys = keys
        ir.named_inputs = {n: t for n, t in self.views.named_inputs.items()
                           if any(t is u for u in inputs)}
        if isinstance(call.func, cst.Name) and call.func.value in self.imports.subclasses:
            ir.base = call.func.value
        if var:
            self.models[var] = ir
            if self.function:
                self.model_stmt[var] = i
        self.found.append(Found(ir, owned, i, is_return))

    # ---------------------------------------------------------------- views (views.py)
    def _viewable(self, var: str) -> bool:
        return self._own_model(var) or var in self.seqs and not self.seqs[var].failed or var in self.layer_vars and applications.is_backbone(
            self.layer_vars[var].spec)

    def _own_model(self, var: str) -> bool:
        """A model this block binds to ``var``: built here, or a converted builder's instance
        (``self.models`` also sees other blocks' names, which are not this ``var``)."""
        ir = self.models.get(var)
        return ir is not None and (var in self.model_ctor or any(f.ir is ir for f in self.found)
                                   or var in self.outer_models)

    def _layer_names(self, var: str) -> list[str] | None:
        if var in self.seqs or self._own_model(var):
            self._finish_pending(var)
            return views.layer_names(self.models[var])
        layer = self.layer_vars.get(var)
        if layer is not None and layer.spec is not None:
            return applications.layer_names(layer.spec.keras)
        return None

    def _view_reads(self, i: int, small: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
        """``model.output``, ``model.get_layer(n).output``, comprehensions of them: the
        tensors they name (``cst.Pass``: ``layer = model.get_layer(n)``, taken here)."""
        if not (self.models or self.layer_vars or self.seqs):
            return small
        alias = views.layer_alias(small, self._viewable)
        if alias is not None:
            self.views.aliases[alias[0]] = alias[1]
            self.views.alias_stmt[alias[0]] = i
            return cst.Pass()
        names, may_read = views.view_hints(small, self.layer_comments)
        if names:  # may name layers: both expansions
            env = {**self.call_values, **self.views.env, **self.env}
            expanded, notes = views.expand_all(views.named_layers(small, env), env,
                                               self._layer_names)
            self.warnings += [(self.cur_line, note) for note in notes]
            if expanded is not small:
                small, may_read = expanded, views.may_read(expanded)
        if not may_read:
            return small
        reads = views.Reads(self._viewable, self._view_point, self.views.aliases,
                            self._layer_names)
        new = small.visit(reads)
        assert isinstance(new, cst.BaseSmallStatement)
        if not reads.replaced:
            return small
        self.views.stmts.add(i)
        deps = {i} | self._view_deps(small)
        for name in _assigned(small):
            self.views.deps[name] = deps
        return new

    def _view_deps(self, node: cst.CSTNode) -> set[int]:
        """The statements (``layer = model.get_layer(n)``, ``outputs_dict = ...``) whose
        names ``node`` reads: they belong to the model built from them."""
        out: set[int] = set()
        for name in {n.value for n in names_read(node)}:
            if name in self.views.alias_stmt:
                out.add(self.views.alias_stmt[name])
            out |= self.views.deps.get(name, set())
        return out

    def _view_point(self, var: str, what: str) -> cst.BaseExpression:
        if not (self._own_model(var) or var in self.seqs):  # a keras.applications backbone
            if what.startswith("layer_input:"):
                raise Unsupported(f"{var}.get_layer(...).input of a keras.applications model")
            return cst.Name(self._backbone_io(var, what.removesuffix("s")))
        self._finish_pending(var)  # a Sequential is complete once another model reads it
        found = views.point(self.models[var], what)
        if isinstance(found, list) and len(found) == 1:
            found = found[0]  # ``[model.inputs]``: Keras flattens the nesting
        ts = found if isinstance(found, list) else [found]
        names: list[cst.BaseExpression] = []
        for t in ts:
            alias = self.fresh(t.name)
            self.tensors[alias] = t
            self.views.source[id(t)] = var
            names.append(cst.Name(alias))
        if isinstance(found, list):
            return cst.List([cst.Element(n) for n in names])
        return names[0]

    def _view(self, i: int, var: str, name: str | None, inputs: list[Tensor],
              outputs: list[Tensor], keys: list[str] | None, outputs_are_list: bool,
              groups: list[int | None] | None) -> bool:
        """``keras.Model(model.inputs, model.get_layer(n).output)`` over a converted model:
        a class sharing its modules. False when no tensor comes from such a model."""
        sources = {self.views.source[id(t)] for t in (*inputs, *outputs)
                   if id(t) in self.views.source}
        if not sources:
            return False
        if len(sources) > 1:
            raise Unsupported("a model over the tensors of several models: not converted")
        source_var = sources.pop()
        ir = views.view(self.models[source_var], source_var, var,
                        class_name_for(var, self.function, name, self.stem), self.cur_line,
                        inputs, outputs, keys, outputs_are_list, groups)
        owned = {i} | self._view_deps(self.cur_stmt) if self.cur_stmt is not None else {i}
        if var:
            self.models[var] = ir
        self.found.append(Found(ir, owned, i, False))
        return True

    def _tensor_items(self, node: cst.BaseExpression) -> list[Tensor] | None:
        """The tensors of a list expression: a display, a list of tensors built by appends,
        ``[inputs[f] for f in NUMERIC]`` over static values, and ``+`` of those."""
        if isinstance(node, (cst.List, cst.Tuple)):
            return [self._tensor(el.value) for el in node.elements]
        if isinstance(node, cst.Name) and node.value in self.tensor_lists:
            return list(self.tensor_lists[node.value])
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            left, right = self._tensor_items(node.left), self._tensor_items(node.right)
            return left + right if left is not None and right is not None else None
        items = self._comp_items(node)
        return None if items is None else [self._tensor(item) for item in items]

    def _comp_items(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """``[inputs[f] for f in NUMERIC]``, ``[multiply([a[i], b[i]]) for i in
        range(len(b))]``: the items of a comprehension over items known by position."""
        if not isinstance(node, cst.ListComp) or node.for_in.ifs \
                or node.for_in.inner_for_in is not None or node.for_in.asynchronous:
            return None
        lists = self._list_items(node.for_in.iter)
        nodes = loops.item_nodes(node.for_in.iter, self.env, lists)
        if nodes is None:
            return None
        out: list[cst.BaseExpression] = []
        for v in nodes:
            mapping = loops.bindings(node.for_in.target, v)
            if mapping is None:
                return None
            item = loops.with_lengths(inline.substitute(node.elt, mapping), lists)
            read = loops.fold_choices(item, self.env).visit(_ContainerReads(self))
            assert isinstance(read, cst.BaseExpression)
            out.append(read)
        return out

    def _nested_tensors(self, node: cst.BaseExpression
                        ) -> tuple[list[Tensor], list[int | None]] | None:
        """``[[a, k], [b, k2]]`` (the ``.output`` lists of layers with several outputs, or
        tensors beside them): its tensors in order and the size of each nested item (None:
        a tensor); None unless some item is a list of tensors."""
        if not isinstance(node, (cst.List, cst.Tuple)) or not any(
                isinstance(el.value, (cst.List, cst.Tuple)) for el in node.elements):
            return None
        flat: list[Tensor] = []
        sizes: list[int | None] = []
        for el in node.elements:
            inner = el.value
            parts = [e.value for e in inner.elements] \
                if isinstance(inner, (cst.List, cst.Tuple)) else [inner]
            if isinstance(el, cst.StarredElement) or not parts or not all(
                    isinstance(p, cst.Name) and p.value in self.tensors for p in parts):
                return None
            flat += [self.tensors[p.value] for p in parts if isinstance(p, cst.Name)]
            sizes.append(len(parts) if isinstance(inner, (cst.List, cst.Tuple)) else None)
        return flat, sizes

    def _output_groups(self, node: cst.BaseExpression) -> list[int | None] | None:
        if isinstance(node, cst.Name):
            return self.tensor_groups.get(node.value)
        nested = self._nested_tensors(node)
        return nested[1] if nested is not None else None

    def _tensor_list(self, node: cst.BaseExpression) -> list[Tensor]:
        nested = self._nested_tensors(node)
        if nested is not None:
            return nested[0]
        if isinstance(node, cst.Name) and node.value in self.tensor_lists:
            return list(self.tensor_lists[node.value])
        if isinstance(node, cst.Name) and node.value in self.tensor_dicts:
            # Keras flattens a dict of inputs in key order: model.inputs, positional calls
            items = self.tensor_dicts[node.value]
            return [items[k] for k in sorted(items)]
        if isinstance(node, (cst.List, cst.Tuple)):
            return [self._tensor(el.value) for el in node.elements]
        return [self._tensor(node)]

    # ---------------------------------------------------------------- ctor params
    def ctor_params(self, ir: ModelIR) -> list[CtorParam]:
        """Free names used in layer arguments that only exist inside the function."""
        ir.graph_names = set(self.tensors) | set(self.layer_vars) | set(self.poisoned)
        free: set[str] = set(self.assumed)
        mine = {id(c.block) for c in ir.calls if c.block is not None}
        ir.rolled = [r for r in self.rolled if all(id(b) in mine for b in r.blocks)]
        loose = {n for r in ir.rolled for n in r.names} - self.pinned  # only rolled loops read
        notes = {n: f"assert {n} {'is' if isinstance(v, bool) else '=='} {_code(v)}, \"k2l: layers "
                    f"were {_assumed_by(n in self.sized, n in self.branched, n in self.configured)} "
                    f"for {n}={v!r}\""
                 for n, v in sorted(self.assumed.items())}
        ir.notes += [note for n, note in notes.items() if n not in loose]
        self.warnings += [(line, text) for n, line, text in self.assumed_warnings
                          if n in self.assumed and n not in loose]
        for r in ir.rolled:  # written by codegen unless the loop becomes a loop again
            r.notes = [notes[n] for n in sorted(r.names & loose)]
            r.warnings = [(line, text) for n, line, text in self.assumed_warnings
                          if n in r.names & loose]
        self.assumed_warnings = [w for w in self.assumed_warnings if w[0] not in self.assumed]
        for layer in ir.layers:
            free |= layer.free
        for t in ir.inputs:  # an unknown input shape is written nowhere (lazy sizes)
            free |= t.free if t.shape is not None else set()
        hidden = sorted(n for n in free & self.fresh_names.used if n not in self.env)
        if hidden:  # a local of an inlined helper: the class could not see it
            raise Unsupported(f"{hidden[0]} is computed inside an inlined helper by code the "
                              "rules do not follow (e.g. from a tensor's shape)")
        out: list[CtorParam] = []
        partly = {n for n in self.script_names if n in self.env
                  and not signature.fully_known(self.env[n])}  # keys known, not the values
        holders = {k.split(".", 1)[0] for k in self.env if "." in k}  # config.DEPTH: values.py
        skip = (self.env.keys() - partly) | holders | self.module_names | _BUILTINS \
            | self.tensors.keys() | self.layer_vars.keys()
        for name, default in self.fn_params.items():  # the builder's order and defaults
            if name in free and (name in self.assumed or name not in skip):
                called = self.call_values.get(name, UNKNOWN)
                from_calls = default is None and called is not UNKNOWN
                if from_calls:
                    default = repr(called)  # what every call passes: the class builds alone
                annotation = self.annotations.get(name) or _annotation(default) or (
                    _annotation(repr(self.module_env[default])) if default in self.constants
                    else None)  # max_words=max_words: the constant's type
                if name in self.class_params:  # a layer class: its torch class
                    default, annotation = self.class_params[name] or None, class_args.PASSED
                out.append(CtorParam(name, default, annotation, kwonly=name in self.kwonly,
                                     called=from_calls))
        for name in sorted(free - self.fn_params.keys() - skip):
            if name in self._scan_locals():
                out.append(CtorParam(name, None))  # keyword-only when after defaults
            elif name in self.script_names:  # the builder passes it on
                out.append(CtorParam(name, None, script=True))
        out += [CtorParam(layer.attr, None, f'"{layer.submodel.class_name}"')  # may follow
                for layer in ir.layers if layer.passed_in and layer.submodel is not None]
        return out


# recurrent layer -> how many state tensors its ``initial_state`` holds (a list or one name)
_STATE_COUNTS = {"LSTM": 2, "CuDNNLSTM": 2, "GRU": 1, "CuDNNGRU": 1, "SimpleRNN": 1}


def _code(value: Any) -> str:
    """A literal as the generated code writes it: strings in double quotes."""
    if isinstance(value, str) and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return repr(value)


# layer arguments that configure nothing the conversion needs (no value to assert)
_NOT_OPTIONS = frozenset({"name", "dtype", "trainable"})
_ASSUMED_BY = ("unrolled", "sized", "chosen", "sized")  # by loops, an Input, a branch


def _assumed_by(sized: bool, branched: bool, configured: bool) -> str:
    return "configured" if configured and not (sized or branched) else \
        _ASSUMED_BY[sized + 2 * branched]


def _arithmetic(node: cst.BaseExpression) -> bool:
    """Names, numbers and + - * / // % ** of them, and calls (checked by the caller)."""
    if isinstance(node, (cst.Name, cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.BinaryOperation):
        return _arithmetic(node.left) and _arithmetic(node.right)
    if isinstance(node, cst.UnaryOperation):
        return _arithmetic(node.expression)
    if isinstance(node, cst.Call):
        return all(_arithmetic(a.value) for a in node.args)
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) \
            and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        # VOCABULARIES["color"] (a constant's item, by a key an unrolled loop wrote)
        return isinstance(node.slice[0].slice.value, (cst.SimpleString, cst.Integer))
    return False


def _names_under(node: cst.CSTNode) -> set[str]:
    names = _Names()
    names.collect(node)
    return set(names.names)


def _names_in(node: cst.BaseExpression) -> set[str]:
    """Every name an expression reads (attribute heads included, attribute names not)."""
    return {n.value for n in names_read(node)}


_SHAPE_KWARGS = ("input_shape", "batch_input_shape", "input_dim", "input_length")


def _names_outside_shape_kwargs(call: cst.Call) -> set[str]:
    """Names a layer call reads in its other arguments (``Dense(n, input_shape=s)``: n)."""
    return {n.value for a in call.args
            if a.keyword is None or a.keyword.value not in _SHAPE_KWARGS
            for n in names_read(a.value)}


_BINARY_OF: dict[type, type] = {
    cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
    cst.FloorDivideAssign: cst.FloorDivide, cst.DivideAssign: cst.Divide}


def _as_written(value: cst.BaseExpression, mapping: dict[str, str]) -> str:
    """The expression's own code with ``mapping``'s names replaced (tensors by their
    ``{x0}`` placeholders, builder names by what ``forward`` reads)."""
    markers = {name: f"__k2l_as_written_{k}__" for k, name in enumerate(mapping)}
    code = code_of(inline.substitute(value, {n: cst.Name(m) for n, m in markers.items()}))
    for name, marker in markers.items():
        code = code.replace(marker, mapping[name])
    return code


def _unknown_callee(node: cst.BaseExpression, qual: Callable[[cst.BaseExpression], str | None],
                    tensors: set[str]) -> str | None:
    """The first callee in a tensor expression that is neither a framework name (the op
    table decides on those) nor a builtin nor a method of a tensor: its code, else None."""
    calls = _Calls()
    calls.collect(node)
    for call in calls.found:
        func = call.func
        if qual(func) is not None:
            continue
        if isinstance(func, cst.Name) and func.value in _BUILTINS:
            continue
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.value.value in tensors:
            continue
        return code_of(func)
    return None


class _LayerCalls(cst.CSTTransformer):
    """Layer, merge and helper calls nested in a tensor expression, traced in evaluation
    order and replaced by the names of their output tensors."""

    def __init__(self, extractor: BlockExtractor) -> None:
        super().__init__()
        self.x = extractor

    def visit_Call(self, node: cst.Call) -> bool:
        x = self.x
        return not (x._calls_tensor(node) or x._is_merge(node) or x._is_helper_call(node)
                    or x._array_constant(node))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call
                   ) -> cst.BaseExpression:
        x = self.x
        if x._calls_tensor(original_node) or x._is_merge(original_node) \
                or x._is_helper_call(original_node) or x._array_constant(original_node):
            return cst.Name(x._tensor(original_node).name)  # `x + tf.range(n)`: a buffer
        return updated_node

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


_SHAPE_QUERIES = frozenset({"keras.backend.int_shape", "keras.ops.shape", "tensorflow.shape",
                            "keras.backend.shape", "tensorflow.keras.backend.int_shape"})


class _ContainerLens(cst.CSTTransformer):
    """``len(features)`` of a list or dict of Keras tensors: its item count, a literal."""

    def __init__(self, extractor: BlockExtractor) -> None:
        super().__init__()
        self.x = extractor
        self.read: list[Tensor] = []  # the tensors of the containers counted

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call
                   ) -> cst.BaseExpression:
        if isinstance(updated_node.func, cst.Name) and updated_node.func.value == "len" \
                and len(updated_node.args) == 1 and not updated_node.args[0].keyword \
                and isinstance(updated_node.args[0].value, cst.Name):
            name = updated_node.args[0].value.value
            items = self.x.tensor_lists.get(name, self.x.tensor_dicts.get(name))
            if items is not None:
                self.read += list(items.values() if isinstance(items, dict) else items)
                return cst.Integer(str(len(items)))
        return updated_node


class _ContainerReads(cst.CSTTransformer):
    """``inputs["age"]`` / ``encoded[0]`` (a key or index known statically) replaced by
    the name of the tensor the dict or list holds there."""

    def __init__(self, extractor: BlockExtractor) -> None:
        super().__init__()
        self.x = extractor

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript
                        ) -> cst.BaseExpression:
        x = self.x
        base = updated_node.value
        if not (isinstance(base, cst.Name) and len(updated_node.slice) == 1
                and isinstance(updated_node.slice[0].slice, cst.Index)):
            return updated_node
        key = inline.static_value(updated_node.slice[0].slice.value, x.env)
        found: Tensor | None = None
        if base.value in x.tensor_dicts and isinstance(key, str):
            found = x.tensor_dicts[base.value].get(key)
        elif base.value in x.tensor_lists and isinstance(key, int) and not isinstance(key, bool):
            items = x.tensor_lists[base.value]
            found = items[key] if -len(items) <= key < len(items) else None
        if found is None:
            return updated_node
        if x.tensors.get(found.name) is found:
            return cst.Name(found.name)
        if x.name_reused(found):  # forward rebinds its name before this read
            return updated_node
        alias = x.fresh(found.name)  # a key for the extractor; forward reads found.name
        x.tensors[alias] = found
        return cst.Name(alias)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
        return False  # `wheres[k] = t` stores into the list: not a read


class _TensorReads(cst.CSTVisitor):
    """Whether an expression reads a tensor's values, not only its shape."""

    def __init__(self, tensors: dict[str, Tensor],
                 qual: Callable[[cst.BaseExpression], str | None]) -> None:
        self.tensors = tensors
        self.qual = qual
        self.values = False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value in ("shape", "dtype", "name"):
            return False
        return True

    def visit_Call(self, node: cst.Call) -> bool:
        return self.qual(node.func) not in _SHAPE_QUERIES

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.tensors:
            self.values = True

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class _Calls:
    """The calls under a node in source order, lambdas' bodies left out."""

    def __init__(self) -> None:
        self.found: list[cst.Call] = []

    def collect(self, node: cst.CSTNode) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            kind = type(current)  # libcst's node classes are final (ABC checks are slow)
            if kind is cst.Lambda:
                continue
            if kind is cst.Call:
                self.found.append(current)  # type: ignore[arg-type]
            stack += walk.children(current)[::-1]


def _annotation(default: str | None) -> str | None:
    if default is None:
        return None
    try:
        import ast

        value = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, (tuple, list)) and value:  # as written: a list stays a list
        kinds = {_annotation(repr(v)) for v in value}
        item = kinds.pop() if len(kinds) == 1 else None
        if item is None:
            return None
        return f"tuple[{item}, ...]" if isinstance(value, tuple) else f"list[{item}]"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str"}.get(type(value))


def _assigned(small: cst.BaseSmallStatement) -> list[str]:
    if isinstance(small, cst.Assign):
        return [n for t in small.targets for n in (_target_names(t.target) or [])]
    if isinstance(small, (cst.AugAssign, cst.AnnAssign)) and isinstance(small.target, cst.Name):
        return [small.target.value]
    return []


def _target_names(target: cst.BaseAssignTargetExpression) -> list[str] | None:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        names = []
        for el in target.elements:
            if not isinstance(el.value, cst.Name):
                return None
            names.append(el.value.value)
        return names
    return None


class _Names:
    """The names read under nodes, first reads first: attribute heads, not attribute names
    nor keywords; lambdas left out."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def collect(self, node: cst.CSTNode) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            kind = type(current)  # libcst's node classes are final (ABC checks are slow)
            if kind is cst.Name:
                if current.value not in self.names:  # type: ignore[attr-defined]
                    self.names.append(current.value)  # type: ignore[attr-defined]
            elif kind is cst.Attribute or kind is cst.Arg:
                stack.append(current.value)  # type: ignore[attr-defined]
            elif kind is not cst.Lambda:
                stack += walk.children(current)[::-1]


def bound_names(stmt: cst.CSTNode) -> set[str]:
    """Names a statement binds or mutates (``blocks.append(...)`` counts for ``blocks``)."""
    collector = _Targets()
    collector.collect(stmt)
    return collector.names | collector.mutated


def _adds_to(stmt: cst.BaseStatement, var: str) -> bool:
    """Whether ``stmt`` calls ``var.add(...)`` anywhere inside."""
    return bool(m.findall(stmt, m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name("add")))))


class _Targets:
    """Names bound (assignment and loop targets) and lists mutated under nodes."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.mutated: set[str] = set()  # `blocks.append(...)`, `parts.extend(...)`

    def collect(self, node: cst.CSTNode) -> None:
        for current in walk.nodes(node):
            if isinstance(current, cst.Call):
                func = current.func
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                        and func.attr.value in ("append", "extend", "insert", "pop", "remove",
                                                "clear", "reverse", "sort"):
                    self.mutated.add(func.value.value)
            elif isinstance(current, (cst.AssignTarget, cst.For)):
                for n in _target_names(current.target) or []:
                    self.names.add(n)
