"""Custom ``keras.layers.Layer`` and subclassed ``keras.Model`` classes → torch classes.

A Layer subclass becomes an ``nn.Module``, a Model subclass a ``pl.LightningModule``; both
keep their name. ``add_weight`` becomes an ``nn.Parameter`` named like the Keras weight
(``name=``) so ``agent.weights.engine`` can port it. Weights whose shape depends on ``build``'s
``input_shape`` use torch's own lazy mechanism (``LazyModuleMixin`` +
``nn.UninitializedParameter``, materialised in ``initialize_parameters`` on the first call):
the converted layer works wherever the Keras one did, without knowing the shape statically.
A class that cannot be converted faithfully stays as written, marked ``TODO(k2l)``, with an
``Unmapped`` record carrying its source for the LLM stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.records import Change, Unmapped, Warning_
from agent.rules import walk
from agent.rules.classes import identity_choice, rnn_states
from agent.rules.classes.containers import (
    appended_custom_layers,
    loop_sequentials,
    module_container,
    nested_sequential,
)
from agent.rules.classes.devices import pin_devices
from agent.rules.classes.forward import TORCH_INPUTS, ForwardConverter
from agent.rules.classes.layer_masks import LOST_MASK_WARNINGS, CustomMask, layer_masks
from agent.rules.classes.layers import (
    SubLayer,
    build,
    make_sublayer,
    module_lines,
    runtime_activation,
    weight_penalties,
)
from agent.rules.classes.shapes import DropBuildCalls, input_shapes_from_usage, keras_input_shape
from agent.rules.classes.variables import VARIABLES, FromInitializer, variable_lines
from agent.rules.imports import ImportTable
from agent.rules.initializers import Layout, init_statement
from agent.rules.keras_generation import keras_generation
from agent.rules.lines import LineIndex
from agent.rules.models.fed_inputs import fed_inputs
from agent.rules.models.shapes import Shape
from agent.rules.ops import packing
from agent.rules.ops.rewrite import rewrite_if_framework, rewrite_node
from agent.rules.spec import Args, Unsupported
from agent.rules.training import regularizers
from agent.rules.training.tape_loop import convert_object
from agent.rules.values import Value, assigned_names, code_of, evaluate, module_constants

SEQUENTIAL = "keras.Sequential"
# keras.<kind>s.get(x) in __init__ -> keras_<kind>(x) (agent/rules/training/runtime/keras_getters)
GETTERS = {"keras.activations.get": "activation", "keras.initializers.get": "initializer",
           "keras.regularizers.get": "regularizer"}
LAYER_BASE = "keras.layers.Layer"
MODEL_BASE = "keras.Model"
LAZY_IMPORT = "from torch.nn.modules.lazy import LazyModuleMixin"  # see fix_imports
_TRAINING_METHODS = ("train_step", "test_step", "predict_step")
# compute_mask converts like any helper method (the op table, kept as written when it cannot)
_KEEP_AS_IS = ("compute_output_shape", "from_config")
_FAN_INITS = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
              "lecun_normal", "orthogonal", "identity")


_N = TypeVar("_N", bound="cst.CSTNode | None")


@dataclass(frozen=True)
class ClassesResult:
    module: cst.Module
    custom_layers: tuple[str, ...] = ()
    changes: list[Change] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    models: tuple[str, ...] = ()  # converted Model subclasses (now LightningModules)
    outputs: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)  # forward's shape
    # custom layers with nn.Lazy sub-layers -> whether they have keras_init() (the Keras
    # initializers of those sub-layers, for a model's dry call to run once they are sized)
    lazy_layers: dict[str, bool] = field(default_factory=dict)
    # custom layers -> how they make, pass on or read Keras's implicit masks (layer_masks.py)
    mask_layers: dict[str, CustomMask] = field(default_factory=dict)
    mask_readers: list[str] = field(default_factory=list)  # ... given their masks, per instance
    masked_outputs: set[str] = field(default_factory=set)  # models storing self.output_mask
    first_call_layers: set[str] = field(default_factory=set)  # build() makes modules on call


@dataclass
class _Weight:
    attr: str  # the attribute add_weight was assigned to
    name: str  # the Keras weight name (= the torch parameter name)
    shape: str  # code
    init: str  # nn.init statement
    trainable: bool
    cond: str = ""  # made only under this condition (``if self.use_bias:`` in build)
    absent: bool = False  # ``else: self.w = None``: a parameter registered as None
    regularizer: cst.BaseExpression | None = None


def _is_super_call(node: cst.BaseExpression, method: str) -> cst.Call | None:
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == method and isinstance(node.func.value, cst.Call)
            and isinstance(node.func.value.func, cst.Name)
            and node.func.value.func.value == "super"):
        return node
    return None


def _self_attr(target: cst.BaseExpression) -> str | None:
    if (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
            and target.value.value == "self"):
        return target.attr.value
    return None


def _empty_list_of(item: cst.BaseStatement | str, attrs: set[str]) -> str | None:
    """``<attr>`` when ``item`` is ``self.<attr> = []`` for one of ``attrs``."""
    if not (isinstance(item, cst.SimpleStatementLine) and len(item.body) == 1
            and isinstance(item.body[0], cst.Assign) and len(item.body[0].targets) == 1):
        return None
    assign = item.body[0]
    attr = _self_attr(assign.targets[0].target)
    empty = isinstance(assign.value, cst.List) and not assign.value.elements or isinstance(
        assign.value, cst.Call) and code_of(assign.value) == "list()"
    return attr if attr in attrs and empty else None


def _creates_self_layers(stmt: cst.If, imports: ImportTable) -> bool:
    """Whether an ``if`` assigns ``self.<attr> = keras.layers.X(...)`` / ``keras.Sequential``
    somewhere in its branches."""
    found = False

    class V(cst.CSTVisitor):
        def visit_Assign(self, n: cst.Assign) -> None:
            nonlocal found
            if (len(n.targets) == 1 and _self_attr(n.targets[0].target) is not None
                    and isinstance(n.value, cst.Call)):
                q = imports.resolve(n.value.func) or ""
                found = found or q.startswith("keras.layers.") or q == SEQUENTIAL

    stmt.visit(V())
    return found


_INIT = cst.ensure_type(cst.parse_statement(
    "def __init__(self, **kwargs: Any) -> None:\n    pass\n"), cst.FunctionDef)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _stmt(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code if code.endswith("\n") else code + "\n")


def _statements(fn: cst.FunctionDef) -> list[cst.BaseStatement]:
    if not isinstance(fn.body, cst.IndentedBlock):
        raise Unsupported(f"one-line method {fn.name.value}()")
    return list(fn.body.body)


def _todo(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(k2l): {text}"))


def _self_reads(node: cst.CSTNode) -> set[str]:
    """The ``self.<attr>`` a statement reads (its assignment targets aside)."""
    targets = {id(t) for n in walk.nodes(node) if isinstance(n, (cst.AssignTarget,
                                                                 cst.AnnAssign))
               for t in [n.target]}
    return {n.attr.value for n in walk.nodes(node) if isinstance(n, cst.Attribute)
            and id(n) not in targets and isinstance(n.value, cst.Name)
            and n.value.value == "self"}


def _self_targets(node: cst.CSTNode) -> set[str]:
    """The ``self.<attr>`` a statement assigns (``self.a = ...``, ``self.a, b = ...``)."""
    out: set[str] = set()
    for n in walk.nodes(node):
        if isinstance(n, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)):
            targets: list[cst.BaseExpression] = [n.target]
            while targets:
                t = targets.pop()
                if isinstance(t, (cst.Tuple, cst.List)):
                    targets += [el.value for el in t.elements]
                elif (attr := _self_attr(t)) is not None:
                    out.add(attr)
    return out


def _uses_name(node: cst.CSTNode, name: str) -> bool:
    class V(cst.CSTVisitor):
        found = False

        def visit_Name(self, n: cst.Name) -> None:
            if n.value == name:
                V.found = True

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)
            return False

    node.visit(V())
    return V.found


class _ClassConverter:
    def __init__(self, cls: cst.ClassDef, kind: str, imports: ImportTable,
                 env: dict[str, Any], input_shape: tuple[Any, ...] | None, line: int,
                 custom: set[str], taken: set[str] | None = None) -> None:
        self.cls = cls
        self.taken = taken if taken is not None else set()
        self.init_params: dict[str, str | None] = {}
        self.nested: list[str] = []  # generated classes for containers, placed before cls
        self.containers: dict[str, tuple[cst.BaseStatement, cst.Call]] = {}  # Sequential attrs
        self.module_lists: set[str] = set()  # self.<list> that loops append generated modules to
        # if statements of __init__ creating layers: (statement, body, else) as markers
        self.branches: list[tuple[cst.If, list[cst.BaseStatement | str],
                                  list[cst.BaseStatement | str] | None]] = []
        self.branches_open = 0
        self.container_inputs: dict[str, Shape | None] = {}  # from call()
        self.kept_layers: dict[str, str] = {}  # attr -> why it stays a Keras layer
        self.layer_stmts: dict[str, cst.BaseStatement] = {}
        self.kind = kind
        self.imports = imports
        self.env = env
        self.input_shape = input_shape
        self.fed_dtype = "float"  # "long": the script feeds it integers (indices)
        self.fed_shape: tuple[Any, ...] | None = None  # the input shape fed_inputs.py gave
        self.output_shape: tuple[Any, ...] | None = None  # what forward returns, if known
        self.line = line
        self.custom = custom
        self.mask_layers: dict[str, CustomMask] = {}  # custom layer classes converted so far
        self.built_alone: set[str] = set()  # sub-layers call()'s straight-line code never calls
        self.custom_classes: dict[str, str] = {}  # self.<attr> -> its custom layer class
        self.mask_readers: list[str] = []  # their classes, where call() passes Keras's masks
        self.masked_output = False  # forward stores its output's Keras mask (a model's)
        self.layers: dict[str, SubLayer] = {}
        self.weights: list[_Weight] = []
        self.lazy_weights: list[_Weight] = []
        self.warnings: list[str] = []
        self.changes: list[str] = []
        self.left: list[tuple[str, str, str]] = []  # method, reason, snippet
        self.example_dtype = ""
        self.methods: set[str] = set()
        self.keras_attrs: dict[str, str] = {}  # self.<attr> left a Keras object, and why
        self.getters: dict[str, str] = {}  # self.<attr> = keras.<kind>s.get(...): attr -> kind
        self.penalties: list[str] = []  # forward statements adding weight regularizers
        self.has_keras_init = False
        # markers of the layers build() makes from the input shape (made on the first call)
        self.build_layers: list[str] = []
        self.build_locals: set[str] = set()  # build's names from the input shape

    # -- entry ---------------------------------------------------------------------------
    def run(self) -> cst.ClassDef:
        body = self.cls.body
        if not isinstance(body, cst.IndentedBlock):
            raise Unsupported("one-line class body")
        methods = {s.name.value: s for s in body.body if isinstance(s, cst.FunctionDef)}
        self.methods = set(methods)
        if "call" not in methods and self.kind == "model" and not (
                set(methods) & set(_TRAINING_METHODS)):
            raise Unsupported("subclassed model without call()")
        for fn in methods.values():
            shape = keras_input_shape(fn, self.imports, self.env)
            if shape is not None and self.input_shape is None:
                self.input_shape = shape
        init_marked = self.init_body(methods.get("__init__"))
        build_fn = methods.get("build")
        lazy_parts: list[cst.BaseStatement | str] | None = None
        eager_build: list[cst.BaseStatement | str] = []
        if build_fn is not None:
            lazy_parts, eager_build = self.build_method(build_fn)
        forward, first_layer = self.forward(methods.get("call"))
        lazy_build = None if build_fn is None or lazy_parts is None else self.lazy_build(
            build_fn, lazy_parts, first_layer)
        new_body: list[cst.BaseStatement] = []
        for stmt in body.body:
            if not isinstance(stmt, cst.FunctionDef):
                new_body.append(stmt)
                continue
            name = stmt.name.value
            if name == "__init__":
                new_body.append(self.assemble_init(stmt, init_marked, eager_build, first_layer))
            elif name == "build":
                if lazy_build is not None:
                    new_body.append(lazy_build)
                else:
                    self.changes.append("build() folded into __init__ (weight shapes are "
                                        "known from the constructor)")
            elif name == "call":
                assert forward is not None
                new_body.append(forward)
            else:
                new_body.append(self.other_method(stmt))
        init_layers = [a for a in self.layers if f"layer:{a}" not in self.build_layers]
        if "__init__" not in methods and (init_layers or eager_build):
            raise Unsupported("weights created without __init__")
        if "__init__" not in methods and (self.lazy_weights or self.build_layers):
            # only build() makes weights (Keras's Layer takes name=/dtype=...): an __init__
            # declares them, materialised on the first call
            init = self.assemble_init(_INIT, [_stmt("super().__init__()")], [], first_layer)
            at = 1 if new_body and _is_docstring(new_body[0]) else 0
            new_body.insert(at, init.with_changes(
                leading_lines=[cst.EmptyLine(indent=False)] if at else []))
            after = new_body[at + 1] if at + 1 < len(new_body) else None
            if isinstance(after, cst.FunctionDef) and not after.leading_lines:
                new_body[at + 1] = after.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        keras_init = self.keras_init()
        if keras_init is not None:
            new_body.append(keras_init)
        new_cls = self.cls.with_changes(bases=self.bases(), body=body.with_changes(body=new_body),
                                        decorators=[d for d in self.cls.decorators
                                                    if not self.registers(d)])
        return self.rename_weights(new_cls)

    def registers(self, decorator: cst.Decorator) -> bool:
        """``@keras.saving.register_keras_serializable(...)``: Keras's deserialisation
        registry, which a torch module is never looked up in."""
        d = decorator.decorator
        q = self.imports.resolve(d.func if isinstance(d, cst.Call) else d) or ""
        return q.endswith(".register_keras_serializable")

    def bases(self) -> list[cst.Arg]:
        out: list[cst.Arg] = []
        target = "nn.Module" if self.kind == "layer" else "pl.LightningModule"
        if self.lazy_weights or self.build_layers:
            out.append(cst.Arg(cst.parse_expression("LazyModuleMixin")))
        for b in self.cls.bases:
            q = self.imports.resolve(b.value)
            if q in (LAYER_BASE, MODEL_BASE):
                out.append(b.with_changes(value=cst.parse_expression(target)))
            else:
                out.append(b)
        return [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in out]

    # -- __init__ ------------------------------------------------------------------------
    def init_body(self, fn: cst.FunctionDef | None) -> list[cst.BaseStatement | str]:
        """__init__ statements, with layer creations replaced by ``"layer:<attr>"`` markers."""
        if fn is None:
            return []
        for p in [*fn.params.params, *fn.params.kwonly_params]:
            self.init_params[p.name.value] = (code_of(p.default) if p.default is not None
                                              else None)
        self.init_params.pop("self", None)
        out: list[cst.BaseStatement | str] = []
        for stmt in _statements(fn):
            try:
                out += self.init_statement(stmt)
            except Unsupported as exc:  # one statement: the rest of the class still converts
                reason = str(exc)
                attr = _keras_object(stmt, self.imports)
                if attr is not None:
                    self.keras_attrs[attr] = reason
                    if f"self.{attr}(" in cst.Module([]).code_for_node(self.cls):
                        reason += f" (a Keras object called in a torch module: {TORCH_INPUTS})"
                out.append(self.keep("__init__", stmt, reason))
        return [_stmt(f"self.{attr} = nn.ModuleList()")
                if (attr := _empty_list_of(item, self.module_lists)) else item for item in out]

    def keep(self, method: str, stmt: cst.BaseStatement, reason: str) -> cst.BaseStatement:
        """A statement left as written, marked, with an Unmapped record (statement
        granularity: one unconvertible line never keeps a whole class in Keras)."""
        src = cst.Module([]).code_for_node(stmt).strip()
        self.left.append((method, reason, src))
        if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return stmt.with_changes(leading_lines=[*stmt.leading_lines,
                                                    _todo(f"not converted: {reason}"[:300])])
        return stmt

    def branch(self, stmt: cst.If) -> str:
        """``if flag: self.head = layers.Dense(n)`` (elif/else too): each branch's statements
        as ``__init__``'s own; a marker that ``unmark`` turns back into the ``if``. A branch
        that fails leaves the whole ``if`` as written and its layers unregistered."""
        before = (set(self.layers), set(self.containers))
        self.branches_open += 1
        try:
            if not isinstance(stmt.body, cst.IndentedBlock):
                raise Unsupported("a one-line if in __init__")
            body = [x for s in stmt.body.body for x in self.init_statement(s)]
            orelse: list[cst.BaseStatement | str] | None = None
            if isinstance(stmt.orelse, cst.If):
                orelse = [self.branch(stmt.orelse)]
            elif isinstance(stmt.orelse, cst.Else) and isinstance(stmt.orelse.body,
                                                                   cst.IndentedBlock):
                orelse = [x for s in stmt.orelse.body.body for x in self.init_statement(s)]
            elif stmt.orelse is not None:
                raise Unsupported("a one-line else in __init__")
        except Unsupported:
            for attr in set(self.layers) - before[0]:
                del self.layers[attr]
            for attr in set(self.containers) - before[1]:
                del self.containers[attr]
            raise
        finally:
            self.branches_open -= 1
        self.branches.append((stmt, body, orelse))
        return f"if:{len(self.branches) - 1}"

    def unbranch(self, index: int, first_layer: str | None) -> cst.If:
        stmt, body, orelse = self.branches[index]
        new_body = self.unmark(body, first_layer) or [_stmt("pass")]
        if orelse is None:
            return stmt.with_changes(body=stmt.body.with_changes(body=new_body))
        rest = self.unmark(orelse, first_layer) or [_stmt("pass")]
        if isinstance(stmt.orelse, cst.If):
            new_else: cst.If | cst.Else = rest[0]  # type: ignore[assignment]
        else:
            assert isinstance(stmt.orelse, cst.Else)
            new_else = stmt.orelse.with_changes(body=stmt.orelse.body.with_changes(body=rest))
        return stmt.with_changes(body=stmt.body.with_changes(body=new_body), orelse=new_else)

    def init_statement(self, stmt: cst.BaseStatement) -> list[cst.BaseStatement | str]:
        if isinstance(stmt, cst.If) and _creates_self_layers(stmt, self.imports):
            return [self.branch(stmt)]
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
            small = stmt.body[0]
            if isinstance(small, cst.Expr):
                sup = _is_super_call(small.value, "__init__")
                if sup is not None:
                    for a in sup.args:
                        if a.keyword is not None and a.keyword.value == "input_shape":
                            v = evaluate(a.value, self.env)
                            if v.known:
                                self.input_shape = tuple(v.value)
                    return [stmt.with_changes(body=[small.with_changes(
                        value=cst.parse_expression("super().__init__()"))]), "example"]
                if (isinstance(small.value, cst.Call)
                        and code_of(small.value.func) == "self.build" and small.value.args):
                    v = evaluate(small.value.args[0].value, self.env)
                    if v.known and isinstance(v.value, (tuple, list)):
                        self.input_shape = tuple(v.value)[1:]
                        self.changes.append("self.build(shape) -> example_input_array")
                        return []
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                attr = _self_attr(small.targets[0].target)
                value = small.value
                alias = _self_attr(value)
                if attr is not None and alias in self.getters:  # self.v_init = self.init
                    self.getters[attr] = self.getters[alias]
                container = module_container(value, self.custom) if attr else None
                if container is not None:
                    self.changes.append(f"self.{attr}: list/dict of layers -> "
                                        + container.split("(")[0])
                    return [_stmt(f"self.{attr} = {container}")]
                chosen = identity_choice.split(value, self.imports) if attr else None
                if chosen is not None:  # `AveragePooling2D(..) if stride > 1 else tf.identity`
                    value = chosen[0]
                if attr is not None and isinstance(value, cst.Call):
                    var = self.variable(attr, value)
                    if var is not None:
                        return [_stmt(s) for s in var]
                    if code_of(value.func) == "self.add_weight":
                        w = self.add_weight(attr, value, None)
                        self.weights.append(w)
                        return [_stmt(s) for s in self.weight_lines(w)]
                    if self.imports.resolve(value.func) == SEQUENTIAL:
                        # generated once call() has told the shape it is fed (see nested())
                        self.containers[attr] = (stmt, value)
                        return [f"nested:{attr}"]
                    if runtime_activation(value, self.imports, self.env):
                        return [self.getter(attr, "activation", value)]
                    layer = make_sublayer(attr, value, self.imports, self.env,
                                          self.line)
                    if layer is not None and attr in self.layers and self.branches_open:
                        raise Unsupported(f"self.{attr} is made in several branches (one "
                                          "module per branch is not followed)")
                    if layer is not None:
                        layer.choice = chosen[1] if chosen is not None else None
                        self.layers[attr] = layer
                        self.layer_stmts[attr] = stmt
                        return [f"layer:{attr}"]
                    if chosen is not None:
                        raise Unsupported(f"self.{attr}: {code_of(value.func)}(...) chosen "
                                          "against an identity is no layer the table knows")
                    q = self.imports.resolve(value.func)
                    if q is not None and q.startswith(("keras.metrics.", "keras.losses.")):
                        obj = convert_object(stmt, self.imports)
                        if obj is not None:
                            self.changes.append(f"self.{attr} = {code_of(value.func)}(...) -> "
                                                "Keras-API object over torch (update_state/"
                                                "result/reset_state)")
                            return [obj]
                    if q in GETTERS:
                        return [self.getter(attr, GETTERS[q], value)]
                    if q is not None and q.startswith("keras."):
                        new, problems = rewrite_node(stmt, self.imports, {})
                        if not problems and new is not stmt and isinstance(
                                new, cst.BaseStatement):  # an op-table object (SeedGenerator)
                            return [new]
                        raise Unsupported(f"self.{attr} = {code_of(value.func)}(...) inside a "
                                          "subclass has no rule yet")
        if isinstance(stmt, cst.BaseCompoundStatement):
            stmt, lists = loop_sequentials(stmt, self.imports, self.local_container)
            self.module_lists |= lists | appended_custom_layers(stmt, self.custom)
        _refuse_layer_api(stmt)
        new, problems = rewrite_if_framework(stmt, self.imports)
        if problems:
            raise Unsupported("; ".join(problems))
        assert isinstance(new, cst.BaseStatement)
        return [new]

    def assemble_init(self, fn: cst.FunctionDef, marked: list[cst.BaseStatement | str],
                      eager_build: list[cst.BaseStatement | str], first_layer: str | None
                      ) -> cst.FunctionDef:
        body = self.unmark(marked, first_layer)
        for w in self.lazy_weights:
            grad = "requires_grad=False" if not w.trainable else ""
            line = (f"self.{w.name} = nn.UninitializedParameter({grad})"
                    "  # created in initialize_parameters")
            absent = f'\nelse:\n    self.register_parameter("{w.name}", None)' if w.absent else ""
            body.append(_stmt(f"if {w.cond}:\n    {line}{absent}" if w.cond else line))
        body += self.unmark(eager_build, first_layer)
        if self.masked_output:
            body.append(_stmt("# the mask Keras attaches to the output: its loss skips those "
                              "steps\nself.output_mask: torch.Tensor | None = None"))
        return fn.with_changes(body=fn.body.with_changes(body=body))

    def unmark(self, marked: list[cst.BaseStatement | str], first_layer: str | None
               ) -> list[cst.BaseStatement]:
        """Statements for the markers ``init_statement`` left (example input, layers)."""
        body: list[cst.BaseStatement] = []
        for item in marked:
            if not isinstance(item, str):
                body.append(item)
            elif item == "example" and self.kind == "model" and self.input_shape:
                dims = ", ".join(["1"] + [str(d if d is not None else 8)
                                          for d in self.input_shape])
                long = first_layer == "Embedding" or self.fed_dtype == "long"
                dtype = ", dtype=torch.long" if long else ""
                body.append(_stmt(f"self.example_input_array = torch.zeros({dims}{dtype})"))
                if self.fed_shape is not None and self.input_shape == self.fed_shape:
                    self.changes.append("example_input_array of the shape the script feeds it "
                                        "(the source gives none)")
            elif item.startswith("layer:") and item[6:] in self.kept_layers:
                body.append(self.keep("__init__", self.layer_stmts[item[6:]],
                                      f"{self.kept_layers[item[6:]]} (a Keras object called in "
                                      f"a torch module: {TORCH_INPUTS})"))
            elif item.startswith("layer:"):
                body += [_stmt(s) for s in module_lines(self.layers[item[6:]])]
            elif item.startswith("nested:"):
                body.append(self.nested_container(item[7:]))
            elif item.startswith("if:"):
                body.append(self.unbranch(int(item[3:]), first_layer))
        return body

    def local_container(self, name: str, call: cst.Call, local: set[str]) -> str:
        """``name = keras.Sequential([...])`` in a loop of ``__init__``: the generated class's
        constructor; the loop's names become its parameters."""
        nested = nested_sequential(self.cls.name.value, name, call, self.imports, self.env,
                                   {**self.init_params, **dict.fromkeys(local)}, self.custom,
                                   self.taken, self.line)
        self.nested.append(nested.code)
        self.warnings += [f"{name}: {w}" for w in nested.warnings]
        self.changes.append(f"{name} = Sequential(...) -> {nested.ctor}")
        return nested.ctor

    def nested_container(self, attr: str) -> cst.BaseStatement:
        """``self.<attr> = Sequential([...])`` -> a generated class sized by the input
        ``call()`` feeds it; a container that cannot convert stays as written, marked."""
        stmt, value = self.containers[attr]
        params = self.init_params  # made in build: its sizes from the input shape passed too
        if f"nested:{attr}" in self.build_layers:
            params = {**params, **dict.fromkeys(self.build_locals)}
        try:
            nested = nested_sequential(self.cls.name.value, attr, value, self.imports,
                                       self.env, params, self.custom, self.taken,
                                       self.line, self.container_inputs.get(attr))
        except Unsupported as exc:
            return self.keep("__init__", stmt, str(exc))
        self.nested.append(nested.code)
        self.warnings += [f"self.{attr}: {w}" for w in nested.warnings]
        self.changes.append(f"self.{attr} = Sequential(...) -> {nested.ctor}")
        return _stmt(f"self.{attr} = {nested.ctor}")

    # -- weights -------------------------------------------------------------------------
    def add_weight(self, attr: str, call: cst.Call, shape_param: str | None) -> _Weight:
        k3 = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
              "constraint", "aggregation", "overwrite_with_gradient", "name")
        k2 = ("name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint")
        pos = [a for a in call.args if a.keyword is None]
        order = k2 if pos and isinstance(pos[0].value, cst.SimpleString) else k3
        args: dict[str, cst.BaseExpression] = {}
        for i, a in enumerate(pos):
            args[order[i]] = a.value
        for a in call.args:
            if a.keyword is not None:
                args[a.keyword.value] = a.value
        if "constraint" in args and code_of(args["constraint"]) != "None":
            raise Unsupported("add_weight(constraint=...) has no torch counterpart here")
        if "regularizer" in args:  # checked before anything is recorded
            reg = _self_attr(args["regularizer"])
            if (code_of(args["regularizer"]) != "None" and self.getters.get(reg or "")
                    != "regularizer" and regularizers.parse(
                        args["regularizer"], self.imports.resolve(args["regularizer"].func)
                        if isinstance(args["regularizer"], cst.Call) else None, self.env)
                    is None):
                raise Unsupported("add_weight(regularizer=...) has no torch counterpart here")
        if "dtype" in args and evaluate(args["dtype"]).value not in (None, "float32") and (
                self.imports.resolve(args["dtype"]) not in ("tensorflow.float32",
                                                            "keras.float32")):
            raise Unsupported(f"add_weight(dtype={code_of(args['dtype'])})")
        if "shape" not in args:
            raise Unsupported("add_weight without shape=")
        name_v = evaluate(args["name"]).value if "name" in args else None
        name = name_v if isinstance(name_v, str) and name_v.isidentifier() else attr
        if name != name_v:
            self.warnings.append(f"add_weight for self.{attr} has no literal name=: the torch "
                                 f"parameter is called {attr!r}; name the Keras weight "
                                 f"{attr!r} to port trained weights")
        shape_node = args["shape"]
        new_shape, problems = rewrite_node(shape_node, self.imports, {})
        if problems:
            raise Unsupported("; ".join(problems))
        shape = code_of(new_shape)
        getter = _self_attr(args["initializer"]) if "initializer" in args else None
        if getter is not None and self.getters.get(getter) == "initializer":
            trainable = evaluate(args["trainable"]).value if "trainable" in args else True
            return _Weight(attr, name, shape, f"self.{getter}(self.{name})",
                           trainable is not False, regularizer=args.get("regularizer"))
        init_v = Value(code_of(args["initializer"]), evaluate(args["initializer"]).value,
                       args["initializer"]) if "initializer" in args else None
        init_args = Args("add_weight", {"initializer": init_v} if init_v else {},
                         {"initializer": "glorot_uniform"})
        init_name = init_v.value if init_v is not None else "glorot_uniform"
        if (isinstance(shape_node, (cst.Tuple, cst.List)) and len(shape_node.elements) == 1
                and init_name in _FAN_INITS):
            raise Unsupported(f"{init_name} on a 1-D weight: Keras and torch compute fans "
                              "differently")
        warns: list[str] = []
        rank = len(shape_node.elements) if isinstance(shape_node, (cst.Tuple, cst.List)) else 0
        layouts: dict[int, Layout] = {1: "vector", 2: "keras2d"}
        layout: Layout = layouts.get(rank, "keras")  # add_weight: Keras's axes
        init = init_statement(init_args, "initializer", f"self.{name}", warns, layout=layout)
        self.warnings += warns
        trainable = evaluate(args["trainable"]).value if "trainable" in args else True
        return _Weight(attr, name, shape, init, trainable is not False,
                       regularizer=args.get("regularizer"))

    def variable(self, attr: str, call: cst.Call) -> list[str] | None:
        """``self.<attr> = tf.Variable(...)``: a parameter, a buffer or an add_weight."""
        var = variable_lines(attr, call, self.imports, self.cls)
        if var is None:
            return None
        if isinstance(var, FromInitializer):
            w = self.add_weight(attr, var.call, None)
            self.weights.append(w)
            self.changes.append(f"self.{attr} = {code_of(call.func)}(initializer(shape)) -> "
                                "nn.Parameter with the Keras initializer")
            return self.weight_lines(w)
        kind = "buffer" if var[0].startswith("self.register_buffer") else "nn.Parameter"
        self.changes.append(f"self.{attr} = {code_of(call.func)}(...) -> {kind}")
        return var

    def getter(self, attr: str, kind: str, call: cst.Call) -> cst.BaseStatement:
        """``self.<attr> = keras.<kind>s.get(x)`` → the runtime counterpart of ``x``."""
        if len(call.args) != 1 or call.args[0].keyword is not None:
            raise Unsupported(f"keras.{kind}s.get with {len(call.args)} arguments")
        arg, problems = rewrite_node(call.args[0].value, self.imports, {})
        if problems:
            raise Unsupported("; ".join(problems))
        self.getters[attr] = kind
        self.changes.append(f"self.{attr} = keras.{kind}s.get(...) -> {kind}_by_name(...) "
                            "(Keras's names at run time, torch math)")
        return _stmt(f"self.{attr} = {kind}_by_name({code_of(arg)})")

    def penalty(self, w: _Weight, node: cst.BaseExpression) -> None:
        """Keras adds ``regularizer(weight)`` to the loss of every step: forward records it
        in ``self.added_losses``, which the training step adds (as for ``add_loss``)."""
        if code_of(node) == "None":
            return
        attr = _self_attr(node)
        if attr is not None and self.getters.get(attr) == "regularizer":
            term = (f"if self.{attr} is not None:\n"
                    f"    self.added_losses.append(self.{attr}(self.{w.name}))")
        else:
            p = regularizers.parse(node, self.imports.resolve(node.func) if isinstance(
                node, cst.Call) else None, self.env)
            if p is None:
                raise Unsupported(f"add_weight(regularizer={code_of(node)}) has no torch "
                                  "counterpart here")
            term = f"self.added_losses.append({p.term(f'self.{w.name}', set())})"
        if w.cond:
            term = f"if {w.cond}:\n" + "\n".join(f"    {t}" for t in term.split("\n"))
        self.penalties.append(term)

    def weight_lines(self, w: _Weight) -> list[str]:
        node = cst.parse_expression(w.shape)
        dims = (", ".join(code_of(e.value) for e in node.elements)
                if isinstance(node, (cst.Tuple, cst.List)) else w.shape)
        grad = ", requires_grad=False" if not w.trainable else ""
        return [f"self.{w.name} = nn.Parameter(torch.empty({dims}){grad})", w.init]

    def build_layer(self, stmt: cst.BaseStatement) -> list[cst.BaseStatement | str]:
        """``self.proj = layers.Dense(channels // 2)`` in build, sized from the input shape:
        made where Keras made it, in the first call (``initialize_parameters``), as the
        torch module ``forward`` sizes; only table layers and Sequentials of them."""
        why = "layer or variable created in build() from the input shape: create it in __init__"
        try:
            made = self.init_statement(stmt)
        except Unsupported as exc:
            raise Unsupported(f"{why} ({exc})") from exc
        if not all(isinstance(m, str) and m.startswith(("layer:", "nested:")) for m in made):
            raise Unsupported(why)
        self.build_layers += [m for m in made if isinstance(m, str)]
        return made

    def build_method(self, fn: cst.FunctionDef
                     ) -> tuple[list[cst.BaseStatement | str] | None,
                                list[cst.BaseStatement | str]]:
        """Keras ``build``: weights from the input shape go to ``initialize_parameters``;
        what does not read the shape (sub-layers, variables, fixed weights) to ``__init__``.
        Each statement alone: one that cannot convert is kept, marked, where it was.
        The lazy body may hold markers for layers sized from the shape (see ``lazy_build``)."""
        params = [p.name.value for p in fn.params.params]
        shape_param = params[1] if len(params) > 1 else "input_shape"
        kept: list[cst.BaseStatement] = []
        for stmt in _statements(fn):
            if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
                small = stmt.body[0]
                if isinstance(small, cst.Expr) and _is_super_call(small.value, "build"):
                    continue
                if isinstance(small, cst.Assign) and code_of(small.targets[0].target) == "self.built":
                    continue
            kept.append(stmt)
        lazy = any(_uses_name(s, shape_param) for s in kept)
        shaped = {shape_param}  # names computed from the input shape
        late: set[str] = set()  # self.<attr>s only initialize_parameters sets
        out: list[cst.BaseStatement | str] = []  # str: a layer's marker (see lazy_build)
        to_init: list[cst.BaseStatement | str] = []
        for stmt in kept:
            # reads what only the first call computes (the shape, or a local or attribute
            # a statement kept in initialize_parameters set): made there too, after it
            from_shape = any(_uses_name(stmt, n) for n in shaped) or bool(
                _self_reads(stmt) & late)
            if from_shape:
                shaped.update(assigned_names(stmt))
            self.build_locals |= shaped
            placed = len(out)
            try:
                weights: list[cst.BaseStatement] = []
                if self.build_weight(stmt, shape_param, lazy, weights):
                    out += weights
                    continue
                first = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
                value = first.value if isinstance(first, cst.Assign) else None
                chosen = identity_choice.split(value, self.imports) if value else None
                value = chosen[0] if chosen is not None else value  # a layer or an identity
                creates = (isinstance(value, cst.Call)
                           and _creates_state(value, self.imports, self.env))
                if creates and from_shape:
                    out += self.build_layer(stmt)
                    continue
                if creates or not lazy:
                    to_init += self.init_statement(stmt)
                    continue
                _refuse_layer_api(stmt)
                new, problems = rewrite_if_framework(stmt, self.imports)
                if problems:
                    raise Unsupported("; ".join(problems))
                assert isinstance(new, cst.BaseStatement)
                out.append(new)
            except Unsupported as exc:
                (out if lazy else to_init).append(self.keep("build", stmt, str(exc)))
            finally:
                if lazy and len(out) > placed:  # what it binds exists after the first call
                    shaped.update(assigned_names(stmt))
                    late |= _self_targets(stmt)
        if not lazy:
            return None, [*out, *to_init]
        self.changes.append("build(input_shape) -> initialize_parameters (LazyModuleMixin)")
        if self.build_layers:
            attrs = ", ".join(f"self.{m.split(':', 1)[1]}" for m in self.build_layers)
            self.warnings.append(f"{attrs} made in build() from the input shape: created on "
                                 "the first call, as Keras creates them; a model holding this "
                                 "layer calls it once before its optimizer is made")
        return out, to_init

    def lazy_build(self, fn: cst.FunctionDef, out: list[cst.BaseStatement | str],
                   first_layer: str | None) -> cst.FunctionDef:
        """``initialize_parameters`` from build's converted statements, once ``forward`` has
        sized the layers build makes (their markers in ``out``)."""
        params = [p.name.value for p in fn.params.params]
        shape_param = params[1] if len(params) > 1 else "input_shape"
        nested = re.search(rf"\b{re.escape(shape_param)}\[[^\]]*\]\s*\[",
                           cst.Module([]).code_for_node(fn))
        # input_shape[0][1]: Keras gave the shapes of a list of inputs
        shapes = "[tuple(t.shape) for t in inputs]" if nested else "tuple(inputs.shape)"
        code = (f"def initialize_parameters(self, inputs: torch.Tensor, *args: object, "
                f"**kwargs: object) -> None:\n"
                f'    """Keras ``build``: creates the weights from the first input\'s shape."""\n'
                f"    {shape_param} = {shapes}\n    pass\n")
        new_fn = cst.parse_statement(code)
        assert isinstance(new_fn, cst.FunctionDef)
        head = _statements(new_fn)[:2]
        body = self.unmark(out, first_layer)
        return new_fn.with_changes(body=new_fn.body.with_changes(body=head + body),
                                   leading_lines=fn.leading_lines)

    def build_weight(self, stmt: cst.BaseStatement, shape_param: str, lazy: bool,
                     out: list[cst.BaseStatement]) -> bool:
        """``self.w = self.add_weight(...)`` in build: appended to ``out``; False otherwise."""
        if (isinstance(stmt, cst.If) and isinstance(stmt.body, cst.IndentedBlock)
                and all(_is_add_weight(s) for s in stmt.body.body)
                and not _uses_name(stmt.test, shape_param)):
            absent = _set_to_none(stmt.orelse)
            if absent is None or not absent <= (_set_to_none(cst.Else(stmt.body), None) or set()):
                return False
            inner: list[cst.BaseStatement] = []
            made = len(self.lazy_weights), len(self.weights)
            for s in stmt.body.body:
                self.build_weight(s, shape_param, lazy, inner)
            new = self.lazy_weights[made[0]:] + self.weights[made[1]:]
            for w in new:
                w.cond = code_of(stmt.test)
                w.absent = w.attr in absent
            orelse = None if lazy or not absent else cst.Else(cst.IndentedBlock([
                _stmt(f'self.register_parameter("{w.name}", None)') for w in new if w.absent]))
            out.append(stmt.with_changes(body=stmt.body.with_changes(body=inner), orelse=orelse))
            return True
        if not _is_add_weight(stmt):
            return False
        assert isinstance(stmt, cst.SimpleStatementLine)
        first = stmt.body[0]
        assert isinstance(first, cst.Assign) and isinstance(first.value, cst.Call)
        attr = _self_attr(first.targets[0].target)
        if attr is None:
            raise Unsupported("add_weight assigned to something other than self.<name>")
        w = self.add_weight(attr, first.value, shape_param)
        if lazy:
            self.lazy_weights.append(w)
            out += [_stmt(f"self.{w.name}.materialize({w.shape})"), _stmt(w.init)]
        else:
            self.weights.append(w)
            out += [_stmt(s) for s in self.weight_lines(w)]
        return True

    def rename_weights(self, cls: cst.ClassDef) -> cst.ClassDef:
        renames = {w.attr: w.name for w in self.weights + self.lazy_weights if w.attr != w.name}
        if not renames:
            return cls

        class R(cst.CSTTransformer):
            def leave_Attribute(self, o: cst.Attribute, u: cst.Attribute) -> cst.Attribute:
                if _self_attr(o) in renames:
                    return u.with_changes(attr=cst.Name(renames[o.attr.value]))
                return u

        new = cls.visit(R())
        assert isinstance(new, cst.ClassDef)
        return new

    def custom_masks(self) -> dict[str, CustomMask]:
        """``self.<attr> = CustomLayer(...)`` in ``__init__`` -> how that layer makes or reads
        Keras's masks (classes converted before this one, layer_masks.py)."""
        found: dict[str, CustomMask] = {}
        init = next((s for s in self.cls.body.body if isinstance(s, cst.FunctionDef)
                     and s.name.value == "__init__"), None)
        for stmt in init.body.body if init is not None else ():
            small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
            if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                    and isinstance(small.value, cst.Call) and isinstance(small.value.func, cst.Name) \
                    and small.value.func.value in self.mask_layers:
                target = small.targets[0].target
                if isinstance(target, cst.Attribute) and code_of(target.value) == "self":
                    found[target.attr.value] = self.mask_layers[small.value.func.value]
                    self.custom_classes[target.attr.value] = small.value.func.value
        return found

    # -- call -> forward -----------------------------------------------------------------
    def forward(self, fn: cst.FunctionDef | None) -> tuple[cst.FunctionDef | None, str | None]:
        if fn is None:
            for layer in self.layers.values():
                self.build_alone(layer)
            return None, None
        params = list(fn.params.params)
        names: dict[str, str] = {}
        kept = []
        for p in params:
            if p.name.value == "training":
                names["training"] = "self.training"
            elif p.name.value == "mask":
                if _uses_name(fn.body, "mask"):  # kept: the rest of the class converts
                    kept.append(p)
                    self.warnings.append("call() reads mask, which Keras passed implicitly "
                                         "(the previous layer's compute_mask); forward gets "
                                         "it only where a caller passes mask=")
            else:
                kept.append(p)
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        fn = packing.stack_lists(fn, self.imports)  # tf.math.softmax(scores): TF stacks a list
        conv = ForwardConverter(self.imports, self.layers, names)
        conv.methods = self.methods
        conv.keras_attrs = {**self.keras_attrs, **self.kept_layers}
        conv.containers = set(self.containers)
        conv.custom_masks = self.custom_masks()
        conv.store_output_mask = self.kind == "model"
        tensor_params = [p.name.value for p in kept[1:]]
        for k, name in enumerate(tensor_params):
            from agent.rules.classes.forward import TVal

            shape = self.input_shape if k == 0 else None
            conv.env[name] = TVal(name, shape, "keras", True)
        body = conv.block(_statements(fn))
        if any(conv.returns) and not all(conv.returns):  # a stale mask for the other returns
            conv.masks.failed = True
        self.masked_output = all(conv.returns) and bool(conv.returns)
        body = conv.masks.finish(body)
        self.warnings += [f"self.{attr}: {LOST_MASK_WARNINGS[0]}" for attr in conv.masks.lost()]
        if not conv.masks.failed:  # each mask-reading custom layer got Keras's mask (or none)
            self.mask_readers = [self.custom_classes[a] for a, f in conv.custom_masks.items()
                                 if f.reads]
        self.container_inputs = conv.container_inputs
        for reason, src in conv.kept:
            self.left.append(("call", reason, src))
        shapes = {s for s in conv.returned}
        self.output_shape = conv.returned[0] if len(shapes) == 1 else None
        for layer in self.layers.values():
            if layer.built is None and layer.attr not in self.kept_layers:
                if self.build_alone(layer):  # never called in straight-line code
                    self.warnings.append(f"self.{layer.attr} is not called in call(): "
                                         "built without an input shape")
        lazy = [a for a, lyr in self.layers.items() if lyr.lazy]
        if lazy:
            self.warnings.append("input shape unknown statically: nn.Lazy modules for "
                                 + ", ".join(f"self.{a}" for a in lazy)
                                 + "; run one batch before creating the optimizer")
        for layer in self.layers.values():
            if layer.built is not None:
                self.warnings += [f"self.{layer.attr}: {w}" for w in layer.built.warnings]
        body = self.added_losses(body)
        new = fn.with_changes(name=cst.Name("forward"),
                              params=self.annotations(fn.params.with_changes(params=kept)),
                              returns=self.annotations(fn.returns),
                              body=fn.body.with_changes(body=body))
        self.changes.append("call() -> forward()")
        return new, conv.first_layer_of_input

    def annotations(self, node: _N) -> _N:
        """Type hints (``x: tf.Tensor``) in torch's names; one without a row stays."""
        if node is None:
            return node
        new, problems = rewrite_if_framework(node, self.imports)
        return node if problems else new  # type: ignore[return-value]

    def added_losses(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """``self.add_loss(t)`` → ``self.added_losses.append(t)``, the list emptied at each
        forward (Keras keeps the last call's losses); the training step adds them."""

        swap = _AddLoss()  # its visit rebuilds every node: only for a body naming add_loss
        new = [s.visit(swap) for s in body] \
            if any(walk.mentions(s, ("add_loss",)) for s in body) else body
        for w in self.weights + self.lazy_weights:
            if w.regularizer is not None:
                self.penalty(w, w.regularizer)
        for layer in self.layers.values():
            self.penalties += weight_penalties(layer)
        if not swap.found and not self.penalties:
            return body
        if swap.found:
            self.changes.append("add_loss(t) -> self.added_losses (added to the step's loss)")
        if self.penalties:
            self.changes.append("add_weight(regularizer=...) -> its penalty in "
                                "self.added_losses at each forward (added to the step's loss)")
        reset = _stmt("self.added_losses: list[torch.Tensor] = []")
        return [reset, *[_stmt(p) for p in self.penalties],
                *[s for s in new if isinstance(s, cst.BaseStatement)]]

    def build_alone(self, layer: SubLayer) -> bool:
        """Build without an input shape; a layer that cannot be stays Keras (marked)."""
        self.built_alone.add(layer.attr)
        try:
            layer.built = build(layer, None, "keras")
        except Unsupported as exc:
            self.kept_layers[layer.attr] = str(exc)
            return False
        if rnn_states.raw_call_differs(layer.keras_name, layer.built) \
                and not rnn_states.helper_form(layer.keras_name, layer.built):
            self.kept_layers[layer.attr] = (
                f"{layer.keras_name} called outside call()'s straight-line code (a helper "
                "method, a branch): the torch module there would return (output, state), "
                "not Keras's output")
            layer.built = None
            return False
        return True

    def lazy_layers(self) -> list[SubLayer]:
        return [lyr for lyr in self.layers.values()
                if lyr.lazy and lyr.attr not in self.kept_layers]

    def keras_init(self) -> cst.FunctionDef | None:
        """``keras_init()``: the Keras initializers of the sub-layers that only the first
        call sizes (nn.Lazy modules), which ``__init__`` cannot run; a converted model that
        holds this layer calls it after its dry call."""
        lines = []
        for lyr in self.lazy_layers():
            inits = list(lyr.built.lazy_init) if lyr.built is not None else []
            if lyr.choice is not None and inits:
                lines.append(identity_choice.guarded(lyr.attr, [
                    t.replace("{m}", f"self.{lyr.attr}") for t in inits]))
            elif lyr.attr in self.built_alone and inits:
                lines.append(_if_sized(lyr.attr, "\n".join(inits)))
            else:
                lines += [t.replace("{m}", f"self.{lyr.attr}") for t in inits]
        if self.kind != "layer" or not lines or "keras_init" in self.taken_methods():
            return None
        code = ("def keras_init(self) -> None:\n"
                '    """Keras initializers of the sub-layers sized by the first call."""\n'
                + "".join(f"    {ln}\n" for t in lines for ln in t.split("\n")))
        fn = cst.parse_statement(code)
        assert isinstance(fn, cst.FunctionDef)
        self.has_keras_init = True
        return fn.with_changes(leading_lines=[cst.EmptyLine(indent=False)])

    def taken_methods(self) -> set[str]:
        body = self.cls.body
        return {s.name.value for s in body.body if isinstance(s, cst.FunctionDef)} \
            if isinstance(body, cst.IndentedBlock) else set()

    # -- other methods -------------------------------------------------------------------
    def other_method(self, fn: cst.FunctionDef) -> cst.FunctionDef:
        name = fn.name.value
        src = cst.Module([]).code_for_node(fn)
        if name in _TRAINING_METHODS or "GradientTape" in src:
            self.left.append((name, "custom training step (GradientTape) needs a "
                              "training_step written by hand", src))
            return fn.with_changes(leading_lines=[
                *fn.leading_lines, _todo(f"{name}: Keras training step kept as written; "
                                         "port it to training_step")])
        if name == "get_config":
            return self.get_config(fn)
        if name in _KEEP_AS_IS:
            return fn
        if keras_input_shape(fn, self.imports, self.env) is not None:
            self.left.append((name, "Keras-only graph helper (keras.Input/keras.Model)", src))
            return fn.with_changes(leading_lines=[
                *fn.leading_lines, _todo(f"{name}: builds a Keras graph; not needed in torch")])
        fn = _objects_made(fn, self.imports)  # a compile override's metric trackers
        new, problems = rewrite_node(fn, self.imports, {})
        new, problems = self.helper_calls(new, problems)
        if problems:
            kept = self.keep(name, fn, f"{name}(): " + "; ".join(problems))
            assert isinstance(kept, cst.FunctionDef)
            return kept
        assert isinstance(new, cst.FunctionDef)
        return new

    def helper_calls(self, fn: cst.CSTNode, problems: list[str]) -> tuple[cst.CSTNode, list[str]]:
        """A recurrent sub-layer called in this method returns what Keras returns there
        (its forward template at the call, see rnn_states)."""
        forms = {a: lyr.built for a, lyr in self.layers.items()
                 if lyr.built is not None and a not in self.kept_layers
                 and rnn_states.raw_call_differs(lyr.keras_name, lyr.built)}
        if not forms:
            return fn, problems
        calls = rnn_states.HelperCalls(forms, frozenset(rnn_states.rebound(self.cls, set(forms))))
        new = fn.visit(calls)
        assert isinstance(new, cst.CSTNode)
        problems = problems + [f"{c}: a recurrent layer called with other arguments than its "
                               "input (torch's module returns (output, state) there)"
                               for c in calls.refused]
        if calls.rewritten:
            self.changes.append("recurrent layer calls in helper methods return Keras's "
                                "outputs (return_sequences/return_state selected at the call)")
        return new, problems

    def get_config(self, fn: cst.FunctionDef) -> cst.FunctionDef:
        imports = self.imports

        class R(cst.CSTTransformer):
            def leave_Call(self, o: cst.Call, u: cst.Call) -> cst.BaseExpression:
                if _is_super_call(o, "get_config"):
                    return cst.parse_expression("{}")
                if imports.resolve(o.func) == "keras.activations.serialize" and len(u.args) == 1:
                    # the attribute holds activation_by_name(...)'s function (GETTERS)
                    return u.with_changes(func=cst.Name("activation_name_of"))
                return u

        new = fn.visit(R())
        assert isinstance(new, cst.FunctionDef)
        if new is not fn:
            self.changes.append("get_config kept as a plain method (super().get_config() -> {})")
        return new


def _set_to_none(orelse: cst.If | cst.Else | None, value: str | None = "None"
                 ) -> set[str] | None:
    """The attributes an ``else:`` of ``self.<attr> = None`` lines sets (empty without an
    else); None for any other ``else``. ``value=None``: whatever they are set to."""
    if orelse is None:
        return set()
    if not isinstance(orelse, cst.Else) or not isinstance(orelse.body, cst.IndentedBlock):
        return None
    attrs = set()
    for s in orelse.body.body:
        first = s.body[0] if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1 \
            else None
        if not (isinstance(first, cst.Assign) and len(first.targets) == 1) or value is not None \
                and not (isinstance(first.value, cst.Name) and first.value.value == value):
            return None
        attr = _self_attr(first.targets[0].target)
        if attr is None:
            return None
        attrs.add(attr)
    return attrs


def _is_add_weight(stmt: cst.BaseStatement) -> bool:
    """``self.<attr> = self.add_weight(...)``."""
    first = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
    return (isinstance(first, cst.Assign) and len(first.targets) == 1
            and isinstance(first.value, cst.Call)
            and code_of(first.value.func) == "self.add_weight")


class _AddLoss(cst.CSTTransformer):
    """``self.add_loss(t)`` → ``self.added_losses.append(t)`` (a class made per call would
    be a cycle, garbage only a collection frees)."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def leave_Call(self, o: cst.Call, u: cst.Call) -> cst.Call:
        if code_of(u.func) == "self.add_loss" and len(u.args) == 1:
            self.found = True
            return u.with_changes(func=cst.parse_expression("self.added_losses.append"))
        return u


_LAYER_API = ("add_weight", "add_variable", "add_loss", "add_metric")


def _refuse_layer_api(stmt: cst.BaseStatement) -> None:
    """Keras Layer methods a torch module lacks, where the rules did not convert them (inside
    an ``if``, say): refused, so the statement is kept visibly instead of failing later."""
    for node in walk.nodes(stmt):  # the first in source order, read without a visit
        if type(node) is cst.Attribute and node.attr.value in _LAYER_API \
                and code_of(node.value) == "self":
            raise Unsupported(f"self.{node.attr.value}(...) in a statement the rules do not "
                              "convert as a whole")


def _keras_object(stmt: cst.BaseStatement, imports: ImportTable) -> str | None:
    """``self.<attr> = keras.X(...)``: the attribute, else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.value, cst.Call)):
            q = imports.resolve(small.value.func)
            attr = _self_attr(small.targets[0].target)
            if attr is not None and q is not None and q.startswith("keras."):
                return attr
    return None


def _creates_state(call: cst.Call, imports: ImportTable, env: dict[str, Any]) -> bool:
    """A Keras layer, Sequential or variable: module state that belongs in __init__."""
    q = imports.resolve(call.func)
    return q is not None and (q == SEQUENTIAL or q in VARIABLES or (
        q.startswith("keras.layers.") and q.count(".") == 2))


def _class_kind(cls: cst.ClassDef, imports: ImportTable, kinds: dict[str, str]) -> str | None:
    for b in cls.bases:
        q = imports.resolve(b.value)
        if q == LAYER_BASE:
            return "layer"
        if q == MODEL_BASE:
            return "model"
        if isinstance(b.value, cst.Name) and b.value.value in kinds:
            return kinds[b.value.value]
    return None


def _usage_scope(module: cst.Module, imports: ImportTable, source: str | None) -> cst.Module:
    """Only the statements that can use a Model subclass (by name): the usage scan is a full
    tree walk, and most of a script never mentions the model class."""
    kinds: dict[str, str] = {}
    names: list[str] = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef):
            kind = _class_kind(stmt, imports, kinds)
            if kind is not None:
                kinds[stmt.name.value] = kind
                if kind == "model":
                    names.append(stmt.name.value)
    if not names:
        return cst.Module(body=[])
    if source is None:
        return module
    index = LineIndex(module, source)
    lines = source.splitlines(keepends=True)
    # ``model = Net()`` then ``model.build((None, 7))``: the variable names the class too
    made = re.compile(r"\b(\w+)\s*=\s*(?:" + "|".join(map(re.escape, names)) + r")\(")
    names += sorted({m.group(1) for m in made.finditer(source)})
    keep = []
    for stmt in module.body:
        node = index.stmt_ast.get(id(stmt))
        text = "".join(lines[node.lineno - 1:node.end_lineno]) if node is not None else ""
        if node is None or any(re.search(rf"\b{re.escape(n)}\b", text) for n in names):
            keep.append(stmt)
    return module.with_changes(body=keep)


def convert_classes(module: cst.Module, imports: ImportTable, path: str,
                    source: str | None = None) -> ClassesResult:
    """Convert every top-level Layer/Model subclass; never raises on user code.

    ``source`` (the module's text) gives line numbers cheaply; without it, a metadata pass.
    """
    if source is not None:
        index = LineIndex(module, source)

        def line_of(node: cst.CSTNode) -> int:
            return index.line(node)
    else:
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)

        def line_of(node: cst.CSTNode) -> int:
            pos = positions.get(node)
            return pos.start.line if pos is not None else 0
    env = module_constants(module, imports, source)
    classes = {s.name.value for s in module.body if isinstance(s, cst.ClassDef)}
    usage, var_class = input_shapes_from_usage(_usage_scope(module, imports, source), imports,
                                               env, classes)
    fed = fed_inputs(module, imports, env).by_callee  # what the script feeds each instance
    models: set[str] = set()
    outputs: dict[str, tuple[Any, ...] | None] = {}
    kinds: dict[str, str] = {}
    result = ClassesResult(module)
    custom: list[str] = []
    body = list(module.body)
    taken = {s.name.value for s in body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    before: dict[int, list[cst.BaseStatement]] = {}  # generated classes, by statement index
    lazy_used = False
    generation: tuple[int | None] | None = None  # the script's Keras, read once when needed
    for k, stmt in enumerate(body):
        if not isinstance(stmt, cst.ClassDef):
            continue
        kind = _class_kind(stmt, imports, kinds)
        if kind is None:
            continue
        kinds[stmt.name.value] = kind
        name = stmt.name.value
        line = line_of(stmt)
        fed_shape = fed[name].shape if name in fed and kind == "model" else None
        conv = _ClassConverter(stmt, kind, imports, env, usage.get(name) or fed_shape, line,
                               set(custom), taken)
        conv.fed_dtype = fed[name].dtype if name in fed else "float"
        conv.fed_shape = fed_shape if usage.get(name) is None else None
        conv.mask_layers = result.mask_layers
        try:
            new = conv.run()
        except (Unsupported, ValueError, KeyError, TypeError, AssertionError) as exc:
            reason = str(exc) or type(exc).__name__
            body[k] = stmt.with_changes(leading_lines=[
                *stmt.leading_lines, _todo(f"class {name} not converted: {reason}")])
            result.unmapped.append(Unmapped(path, line, f"{kind} subclass", reason, name,
                                            cst.Module([]).code_for_node(stmt)))
            continue
        new, pinned = pin_devices(new, own_device=kind != "layer")
        body[k] = new
        if pinned:
            result.changes.append(Change(line, f"classes.{kind}", f"{name}: {pinned} tensor(s) "
                                         "made from Python values on the input's device"))
        if conv.nested:
            before[k] = [_spaced(code) for code in conv.nested]
        lazy_used = lazy_used or bool(conv.lazy_weights or conv.build_layers)
        target = "nn.Module" if kind == "layer" else "pl.LightningModule"
        result.changes.append(Change(line, f"classes.{kind}",
                                     f"{name}: Keras {kind} subclass -> {target}"))
        result.changes.extend(Change(line, f"classes.{kind}", f"{name}: {c}")
                              for c in conv.changes)
        result.warnings.extend(Warning_(line, f"{name}: {w}") for w in conv.warnings)
        for method, reason, src in conv.left:
            result.unmapped.append(Unmapped(path, line, f"{name}.{method}", reason,
                                            f"{name}.{method}", src))
        result.mask_readers.extend(conv.mask_readers)
        if kind == "layer":
            custom.append(name)
            if conv.lazy_layers() or conv.build_layers:  # a model's dry call sizes them
                result.lazy_layers[name] = conv.has_keras_init
            if conv.build_layers:
                result.first_call_layers.add(name)
            own_base = all(imports.resolve(b.value) == LAYER_BASE for b in stmt.bases)
            if own_base and generation is None:
                generation = (keras_generation(source if source is not None else module.code,
                                               imports),)
            facts = layer_masks(stmt, new, generation[0]) \
                if own_base and generation is not None else None
            if facts is not None:
                result.mask_layers[name] = facts
        else:
            models.add(name)
            outputs[name] = conv.output_shape
            if conv.masked_output:
                result.masked_outputs.add(name)
    if before:
        merged: list[Any] = []
        for k, stmt in enumerate(body):
            merged += [*before.get(k, []), stmt]
        body = merged
    new_module = module.with_changes(body=body)
    variables = {v for v, c in var_class.items() if c in models}
    if variables:
        dropper = DropBuildCalls(variables)
        new_module = new_module.visit(dropper)
        result.changes.extend(Change(0, "classes.model", f"{v}.build(...) removed: the input "
                                     "shape is in the converted class") for v in dropper.dropped)
        result.changes.extend(Change(0, "classes.model", f"{v}(array): dry call kept, its "
                                     "NumPy input a tensor") for v in dropper.tensors)
    if lazy_used:
        new_module = _add_import(new_module, LAZY_IMPORT)
    return ClassesResult(new_module, tuple(custom), result.changes, result.warnings,
                         result.unmapped, tuple(sorted(models)), outputs, result.lazy_layers,
                         result.mask_layers, result.mask_readers, result.masked_outputs,
                         result.first_call_layers)


def _if_sized(attr: str, template: str) -> str:
    """A lazy sub-layer no straight-line code of call() sizes: its initializers run once some
    call did (a helper method, a branch); one never called has no weights, as in Keras."""
    body = "".join(f"    {ln}\n" for ln in template.replace("{m}", f"self.{attr}").split("\n"))
    return (f"if not any(nn.parameter.is_lazy(p) for p in self.{attr}.parameters()):\n"
            + body.rstrip("\n"))


def _spaced(code: str) -> cst.BaseStatement:
    stmt = _stmt(code)
    assert isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
    return stmt.with_changes(leading_lines=[cst.EmptyLine()] * 2)


def _add_import(module: cst.Module, line: str) -> cst.Module:
    body = list(module.body)
    at = 0  # after the first block of imports: a script may import again further down,
    for k, stmt in enumerate(body):  # after the classes that need this name
        if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            at = k + 1
        elif at:
            break
    return module.with_changes(body=[*body[:at], _stmt(line), *body[at:]])


def _objects_made(fn: cst.FunctionDef, imports: ImportTable) -> cst.FunctionDef:
    """``self.tracker = keras.metrics.Mean(name=...)`` in any method (not only __init__)
    through the object rules, as :meth:`init_statement` does."""

    class Objects(cst.CSTTransformer):
        def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                      updated: cst.SimpleStatementLine) -> cst.BaseStatement:
            small = original.body[0] if len(original.body) == 1 else None
            if not (isinstance(small, cst.Assign) and isinstance(small.value, cst.Call)
                    and (imports.resolve(small.value.func) or "").startswith(
                        ("keras.metrics.", "keras.losses."))):
                return updated
            return convert_object(original, imports) or updated

    new = fn.visit(Objects())
    assert isinstance(new, cst.FunctionDef)
    return new
