"""Module transformer: Keras training code around converted models → Lightning.

Runs after the model transformer. Walks every block in source order, tracking which
variables hold which generated class (``model = Net()``, ``model = build_model()``), and
rewrites ``compile`` (into methods of that class: see training_methods), ``fit`` /
``evaluate`` (DataLoaders + ``pl.Trainer``), ``predict``, ``save*``/``load_weights``,
``summary``, Keras callbacks, ``tf.data`` chains, ``Sequence`` and ``Callback`` subclasses.
What it cannot convert stays as written under a ``# TODO(k2l):`` line, with an Unmapped
record. Line numbers are positions in the module it receives.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from agent.records import Change, Unmapped, Warning_
from agent.rules import parsed
from agent.rules.imports import ImportTable
from agent.rules.models.graph import ModelIR
from agent.rules.training import activity, callback_predict, custom_step, layer_access
from agent.rules.training.callbacks import CallbackSpec, lookup_callback
from agent.rules.training.compile import (
    NO_LOSS,
    REDUCTION_TODO,
    CompileConfig,
    bind,
    output_names,
    read_compile,
)
from agent.rules.training.data import class_kind, convert_class, sequence_inputs, tf_data_chain
from agent.rules.training.fit import (
    EVAL_ARGS,
    FIT_ARGS,
    Names,
    checkpoint_path,
    dict_inputs,
    evaluate_code,
    fit_code,
    indexed_inputs,
)
from agent.rules.training.generators import (
    LEGACY,
    generator_functions,
    generator_inputs,
    keras3_call,
    legacy_inputs,
)
from agent.rules.training.logits import output_activation, output_activations
from agent.rules.training.methods import (
    ClassPlan,
    Splice,
    methods_code,
    per_sample_loss,
    splice_all,
)
from agent.rules.training.model_params import parameter_classes
from agent.rules.training.pipeline_flow import (
    bound_kinds,
    continued,
    pipeline_inputs,
    returned_kinds,
    simple_statements,
)
from agent.rules.training.recompile import attribute, changed_settings, parameterized
from agent.rules.training.utilities import GENERATOR, PIPELINE_LOADERS
from agent.rules.values import code_of, names_read

# what a layer's add_loss (classes rules) or activity penalty (activity.py) became
ADDED_MARKS = ("self.added_losses.append(", activity.MARK)


@dataclass
class TrainingResult:
    module: cst.Module
    changes: list[Change] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    bridged: list[str] = field(default_factory=list)  # classes whose Keras steps now run


@dataclass
class Scope:
    vars: dict[str, str] = field(default_factory=dict)  # variable -> generated class
    assigns: dict[str, cst.BaseExpression] = field(default_factory=dict)
    where: dict[str, tuple[list[cst.BaseStatement | None], int]] = field(default_factory=dict)
    params: dict[str, str | None] | None = None  # function parameters (None at module level)
    loaders: dict[str, str] = field(default_factory=dict)  # name -> "loader" | "dataset"
    cb_kind: dict[str, str] = field(default_factory=dict)  # name -> callback|logger|plateau|list
    plateaus: dict[str, tuple[str, str]] = field(default_factory=dict)
    list_loggers: dict[str, bool] = field(default_factory=dict)
    has_trainer: bool = False
    predict_trainer: bool = False  # a trainer bound for predict() at the scope's top level
    layers: dict[str, str] = field(default_factory=dict)  # layer = model.get_layer(n): code

    def child(self, params: dict[str, str | None] | None) -> Scope:
        return Scope(vars=dict(self.vars), assigns=dict(self.assigns), params=params,
                     loaders=dict(self.loaders), cb_kind=dict(self.cb_kind),
                     plateaus=dict(self.plateaus), list_loggers=dict(self.list_loggers),
                     layers=dict(self.layers))


def _arguments(call: cst.Call) -> str:
    """A call's arguments as text, keywords in any order, spacing ignored."""
    parts = [f"{a.keyword.value if a.keyword else k}={code_of(a.value)}"
             for k, a in enumerate(call.args)]
    return "|".join(sorted(parts))


def _defines(cls: cst.ClassDef, method: str) -> bool:
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return any(isinstance(s, cst.FunctionDef) and s.name.value == method for s in body)


def _todo(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(k2l): {text}"))


class _Rename(cst.CSTTransformer):
    """Function parameters used in compile() → ``self.hparams["<name>"]`` inside the class."""

    def __init__(self, params: set[str]) -> None:
        self.params = params
        self.hit: set[str] = set()

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if updated.value in self.params:
            self.hit.add(updated.value)
            return cst.parse_expression(f'self.hparams["{updated.value}"]')  # typed for mypy
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)


class _Training:
    def __init__(self, module: cst.Module, imports: ImportTable, models: list[ModelIR],
                 path: str, line_of: Callable[[cst.CSTNode], int] | None = None) -> None:
        self.module = module
        self.imports = imports
        self.path = path
        self.plans: dict[str, ClassPlan] = {ir.class_name: ClassPlan(ir) for ir in models}
        self.result = TrainingResult(module)
        self.line_of = line_of  # lines in the user's original file, when known
        self._positions: Mapping[cst.CSTNode, CodeRange] | None = None
        self.custom = {cls: custom_step.custom_steps(module, cls) for cls in self.plans}
        self.builders = self._builders()
        # run_experiment(model): parameters that hold one converted class at every call
        self.param_classes, self.mixed_params = parameter_classes(
            module, lambda value: self._class_of_call(value, self.builders))
        self.generators = generator_functions(module)
        self.continued = continued(module)  # chains bound to these stay DataPipelines
        self.returns = returned_kinds(module, imports, self.continued)
        self.keep_chain = False  # the statement's target is continued: no DataLoader
        self.globals = _module_names(module) | set(dir(builtins))
        self.counts = _name_counts(module)
        self.added: bool | None = None  # _adds_losses, read once
        self.assignments: dict[str, int] | None = None  # name -> assignments, when needed
        self.names = self._names()
        self.sequences: set[str] = set()
        self.epoch_end_sequences: set[str] = set()  # Sequence classes defining on_epoch_end
        self.callback_classes: set[str] = set()
        self.callback_nodes: dict[str, cst.ClassDef] = {}  # name -> the source's class
        self.checkpoints: dict[str, str] = {}  # path code model.save wrote -> its class
        self.qual = ""
        self.carry: list[cst.EmptyLine] = []  # comments for the next emitted statement
        self.before: list[cst.BaseStatement] = []  # the last statement's statements to run first
        self.depth = 0  # inside a loop, branch, with or try: a name bound here may not exist later
        self.attrs: dict[str, set[str]] = {}  # class -> its __init__'s attributes

    def weight_models(self, scope: Scope) -> tuple[dict[str, ModelIR], dict[str, set[str]]]:
        """The converted models in ``scope`` by variable, and their classes' attributes."""
        models = {var: self.plans[cls].ir for var, cls in scope.vars.items()}
        for cls in scope.vars.values():
            if cls not in self.attrs:
                self.attrs[cls] = layer_access.init_attrs(self.module, cls)
        return models, {var: self.attrs[cls] for var, cls in scope.vars.items()}

    # ---- records -------------------------------------------------------------------
    def line(self, node: cst.CSTNode) -> int:
        """The line in the original file; nodes the rules created fall back to this module."""
        if self.line_of is not None:
            found = self.line_of(node)
            if found:
                return found
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        pos = self._positions.get(node)
        return pos.start.line if pos is not None else 0

    def change(self, node: cst.CSTNode, rule: str, msg: str) -> None:
        self.result.changes.append(Change(self.line(node), rule, msg))

    def warn(self, node: cst.CSTNode, msg: str) -> None:
        self.result.warnings.append(Warning_(self.line(node), msg))

    def unmapped(self, node: cst.CSTNode, keras: str, reason: str) -> None:
        snippet = code_of(node).strip().splitlines()[0][:200] if code_of(node).strip() else ""
        self.result.unmapped.append(Unmapped(self.path, self.line(node), keras, reason,
                                             self.qual, snippet))

    # ---- set-up --------------------------------------------------------------------
    def _builders(self) -> dict[str, str]:
        """``def build_model(...): ... return Net(...)`` → {"build_model": "Net"}."""
        out: dict[str, str] = {}
        for stmt in self.module.body:
            if not isinstance(stmt, cst.FunctionDef):
                continue
            local: dict[str, str] = {}
            for node in simple_statements(stmt.body):
                for small in node.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        cls = self._class_of_call(small.value, {})
                        if cls and isinstance(small.targets[0].target, cst.Name):
                            local[small.targets[0].target.value] = cls
                    if isinstance(small, cst.Return) and small.value is not None:
                        value = small.value
                        cls = (local.get(value.value) if isinstance(value, cst.Name)
                               else self._class_of_call(value, {}))
                        if cls:
                            out[stmt.name.value] = cls
        return out

    def _class_of_call(self, node: cst.BaseExpression, builders: dict[str, str]) -> str | None:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            name = node.func.value
            if name in self.plans:
                return name
            return builders.get(name)
        if isinstance(node, cst.Call) and node.args and len(self.plans) == 1 and (
                self.imports.resolve(node.func) == "keras.saving.load_model"):
            return next(iter(self.plans))  # what _load_model loads: fit/evaluate follow it
        return None

    def _names(self) -> Names:
        taken = set(self.counts)
        chosen = {}
        for fld, default in vars(Names()).items():
            name, n = default, 1
            while name in taken:
                n += 1
                name = f"{default}_{n}"
            chosen[fld] = name
        return Names(**chosen)

    # ---- walking -------------------------------------------------------------------
    def run(self) -> TrainingResult:
        footer: list[cst.EmptyLine] = []
        top = Scope()
        body = self.block(list(self.module.body), top, footer)
        body = [self._callback_predicts(s, top) for s in body]
        module = self.module.with_changes(body=body, footer=[*footer, *self.module.footer])
        edits: dict[str, Splice] = {}
        added = any(m in module.code for m in ADDED_MARKS)
        for cls, plan in self.plans.items():
            if plan.compile is None and not plan.predict:
                continue
            plan.added_losses = added
            if plan.compile is not None and len(plan.ir.outputs) == 1:
                plan.logits = output_activation(module, cls, plan.compile)
            elif plan.compile is not None:
                plan.heads = output_activations(module, cls, plan.compile) or ()
            init, methods = methods_code(plan, cls, output_names(plan.ir))
            steps = self.custom.get(cls, set())
            if "train_step" in steps and plan.compile is not None:
                left: list[str] = []
                self.result.bridged += custom_step.family(module, cls)
                module = custom_step.merge_bases(module, cls)
                targets = custom_step.optimizer_targets(module, cls)
                module = custom_step.prepare(module, cls, left)
                for reason in left:
                    self.unmapped(self.module, f"{cls}.compile", reason)
                loss = per_sample_loss(plan, 0, "y_pred", "y")
                used = custom_step.uses(module, cls)
                loss_object = None
                own = per_sample_loss(plan, 0, "y_pred", "y_true") if "loss" in used else None
                if own is not None and len(plan.ir.outputs) == 1:
                    reduction = plan.compile.losses[0].reduction  # type: ignore[union-attr]
                    if reduction in custom_step.OWN_REDUCTIONS:
                        loss_object = custom_step.own_loss(own, reduction)
                metric_objects = custom_step.compiled_metric_objects(
                    [(u.name, u.spec.batch_mean) for u in plan.compile.metrics[0]]
                    if plan.compile.metrics else [])
                if "compiled_metrics" in used and metric_objects is None:
                    self.unmapped(self.module, f"{cls}.compiled_metrics", "compile() metric "
                                  "without a per-sample form: compiled_metrics not built")
                more, methods = custom_step.bridge(methods, steps, loss,
                                                   len(plan.ir.outputs), targets, used,
                                                   metric_objects, plan.ir.regularized,
                                                   plan.validates or not plan.fitted,
                                                   loss_object)
                init = init + more
                self.change(self.module, "training.custom_step", f"{cls}.train_step -> "
                            "training_step (manual optimization)")
            edits[cls] = Splice(init, methods, plan.new_params, logits=plan.logits is not None,
                                heads=plan.heads)
        self.result.module = splice_all(module, edits)
        return self.result

    def _callback_predicts(self, stmt: cst.BaseStatement, top: Scope) -> cst.BaseStatement:
        """``model.predict`` in a callback's hooks: after the whole module, so the script's
        model variables bound below the class are known (callback_predict.py)."""
        if not (isinstance(stmt, cst.ClassDef) and stmt.name.value in self.callback_nodes):
            return stmt
        original = self.callback_nodes[stmt.name.value]
        new, done, left = callback_predict.convert(stmt, top.vars)
        if done:
            self.change(original, "training.predict", f"{stmt.name.value}: predict() in a "
                        "hook -> keras_predict (inference pass, no second Trainer)")
        for reason in left:
            self.unmapped(original, "keras.Model.predict", reason)
        return new

    def block(self, body: list[cst.BaseStatement], scope: Scope,
              footer: list[cst.EmptyLine] | None = None) -> list[cst.BaseStatement]:
        """``body`` converted; comments of dropped statements join the next statement, or
        ``footer`` (the block's trailing comments) after the last one, not a ``pass``."""
        out: list[cst.BaseStatement | None] = []
        pending: list[cst.EmptyLine] = []
        for stmt in body:
            new = self.statement(stmt, scope, out)
            if not new:
                pending += [ln for ln in getattr(stmt, "leading_lines", ())
                            if ln.comment is not None]
                pending += self.carry
                self.carry = []
                continue
            if pending:
                first = new[0]
                assert isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
                new[0] = first.with_changes(leading_lines=[*pending, *first.leading_lines])
                pending = []
            out.extend(new)
        result = [s for s in out if s is not None]
        if pending and result and footer is not None:
            footer.extend(pending)
        elif pending:
            result.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=pending))
        return result

    def _sub_block(self, block: cst.BaseSuite, scope: Scope) -> cst.BaseSuite:
        if isinstance(block, cst.IndentedBlock):
            footer: list[cst.EmptyLine] = []
            body = self.block(list(block.body), scope, footer)
            return block.with_changes(body=body, footer=[*footer, *block.footer])
        return block

    def statement(self, stmt: cst.BaseStatement, scope: Scope,
                  out: list[cst.BaseStatement | None]) -> list[cst.BaseStatement]:
        if isinstance(stmt, cst.FunctionDef):
            params = {p.name.value: (code_of(p.default) if p.default is not None else None)
                      for p in (*stmt.params.params, *stmt.params.kwonly_params)}
            saved, self.qual = self.qual, stmt.name.value
            new_fn = stmt.with_changes(body=self._function_body(stmt, scope, params))
            self.qual = saved
            return [new_fn]
        if isinstance(stmt, cst.ClassDef):
            return [self.class_def(stmt)]
        if isinstance(stmt, (cst.If, cst.For, cst.While, cst.With)):
            inside = not (isinstance(stmt, cst.If) and _is_main(stmt))
            self.depth += inside
            new = stmt.with_changes(body=self._sub_block(stmt.body, scope))
            orelse = getattr(new, "orelse", None)
            if orelse is not None and hasattr(orelse, "body"):
                if isinstance(orelse, cst.If):
                    orelse = self.statement(orelse, scope, out)[0]
                else:
                    orelse = orelse.with_changes(body=self._sub_block(orelse.body, scope))
                new = new.with_changes(orelse=orelse)
            self.depth -= inside
            return [new]
        if isinstance(stmt, cst.Try):
            self.depth += 1
            new_try = stmt.with_changes(body=self._sub_block(stmt.body, scope))
            self.depth -= 1
            return [new_try]
        if isinstance(stmt, cst.SimpleStatementLine):
            return self.simple(stmt, scope, out)
        return [stmt]

    def _function_body(self, stmt: cst.FunctionDef, scope: Scope,
                       params: dict[str, str | None]) -> cst.BaseSuite:
        """The body with its model parameters bound (model_params.py). A parameter passed
        different converted classes: the body is converted once per class and kept when
        every class gives the same code (compile() then reaches each class)."""
        name = stmt.name.value
        bound = self.param_classes.get(name, {})
        mixed = self.mixed_params.get(name, {})
        classes = next(iter(mixed.values())) if len(mixed) == 1 else []
        if mixed and not all(c in self.plans for c in classes):
            for param, kinds in mixed.items():
                self.unmapped(stmt, f"{name}({param})", f"{param} receives "
                              f"{', '.join(kinds)} at different calls: the class its "
                              "compile()/fit() would convert into cannot be chosen")
            classes = []
        if not classes:
            inner = scope.child(params)
            inner.vars.update(bound)
            return self._sub_block(stmt.body, inner)
        param = next(iter(mixed))
        plans = {c: replace(self.plans[c], new_params=list(self.plans[c].new_params))
                 for c in classes}
        records: tuple[list[Any], ...] = (self.result.changes, self.result.warnings,
                                          self.result.unmapped)
        sizes = [len(r) for r in records]
        bodies = []
        for cls in classes:
            inner = scope.child(params)
            inner.vars.update({**bound, param: cls})
            bodies.append(self._sub_block(stmt.body, inner))
            if len(bodies) == 1:
                sizes = [len(r) for r in records]  # later passes repeat these records
            for r, n in zip(records, sizes, strict=True):
                del r[n:]
        if len({cst.Module([]).code_for_node(b) for b in bodies}) == 1:
            return bodies[0]
        self.plans.update(plans)  # the classes need different code: as written, reported
        self.unmapped(stmt, f"{name}({param})", f"{param} receives {', '.join(classes)} at "
                      "different calls, whose training code differs: kept as written")
        inner = scope.child(params)
        inner.vars.update(bound)
        inner.vars.pop(param, None)
        return self._sub_block(stmt.body, inner)

    def class_def(self, stmt: cst.ClassDef) -> cst.ClassDef:
        kind = class_kind(stmt, self.imports)
        if kind is None:
            return stmt
        saved, self.qual = self.qual, stmt.name.value
        new, warnings, todos = convert_class(stmt, kind, self.imports)
        (self.sequences if kind == "sequence" else self.callback_classes).add(stmt.name.value)
        if kind == "callback":
            self.callback_nodes[stmt.name.value] = stmt
        if kind == "sequence" and _defines(stmt, "on_epoch_end"):
            self.epoch_end_sequences.add(stmt.name.value)
        self.change(stmt, f"training.{kind}", f"{stmt.name.value}: keras "
                    f"{'Sequence -> torch Dataset' if kind == 'sequence' else 'Callback -> pl.Callback'}")
        for w in warnings:
            self.warn(stmt, w)
        lines = list(new.leading_lines)
        for t in todos:
            self.unmapped(stmt, "keras.callbacks.Callback" if kind == "callback"
                          else "keras.utils.Sequence", t)
            lines.append(_todo(t))
        self.qual = saved
        return new.with_changes(leading_lines=lines)

    # ---- simple statements ---------------------------------------------------------
    def simple(self, stmt: cst.SimpleStatementLine, scope: Scope,
               out: list[cst.BaseStatement | None]) -> list[cst.BaseStatement]:
        if len(stmt.body) != 1:
            new = self.expressions(stmt, scope)
            return [*self._first(self.before, new), new.with_changes(
                leading_lines=[] if self.before else new.leading_lines)]
        small = stmt.body[0]
        target: cst.BaseAssignTargetExpression | None = None
        value: cst.BaseExpression | None = None
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
        elif isinstance(small, cst.Expr):
            value = small.value
        if value is not None and isinstance(value, cst.Call) and isinstance(
                value.func, cst.Attribute) and isinstance(value.func.value, cst.Name):
            var, method = value.func.value.value, value.func.attr.value
            cls = scope.vars.get(var)
            if cls is not None:
                handled = self.model_call(stmt, var, cls, method, value, target, scope)
                if handled is not None:
                    return handled
            elif method == "compile" and self.plans and scope.params is not None \
                    and var in scope.params and any(
                        a.keyword is not None and a.keyword.value in ("optimizer", "loss")
                        for a in value.args):
                return self._keep(stmt, "keras.Model.compile", [
                    f"compile() of {var}, a model passed in: which converted class it holds is "
                    "not known here (the class has no compile/fit); train it with a "
                    "pl.Trainer"])
        frozen = self._trainable(stmt, small, scope)
        if frozen is not None:
            return [frozen]
        hoisted, stmt = self._hoist_evaluate(stmt, scope)
        self.keep_chain = isinstance(target, cst.Name) and target.value in self.continued
        new = self.expressions(stmt, scope)
        self.keep_chain = False
        if isinstance(target, cst.Name) and value is not None:
            self.record_assign(target.value, value, new, scope, out)
            if scope.cb_kind.get(target.value) == "list" and not scope.list_loggers.get(
                    target.value) and self._assigned_once(target.value):
                new = _typed_callbacks(new)
        if target is not None and value is not None:
            scope.loaders.update(bound_kinds(target, value, self.returns))
            scope.loaders.update(self._both_subsets(target, value))
        if _only_pass(new) and not _only_pass(stmt):  # moved elsewhere (a plateau scheduler)
            self.carry += [ln for ln in new.leading_lines if ln.comment is not None]
            return hoisted
        if self.before and not hoisted:
            return [*self._first(self.before, new), new.with_changes(leading_lines=[])]
        return [*hoisted, *self.before, new]

    def _trainable(self, stmt: cst.SimpleStatementLine, small: cst.BaseSmallStatement,
                   scope: Scope) -> cst.SimpleStatementLine | None:
        """``base.trainable = False`` on a converted model → ``set_module_trainable``: an
        attribute torch's modules do not read would freeze nothing."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
            return None
        target = small.targets[0].target
        if not (isinstance(target, cst.Attribute) and target.attr.value == "trainable"
                and isinstance(target.value, cst.Name) and target.value.value in scope.vars
                and isinstance(small.value, cst.Name)
                and small.value.value in ("True", "False")):
            return None
        var = target.value.value
        self.change(stmt, "training.trainable", f"{var}.trainable = {small.value.value} -> "
                    "set_module_trainable: requires_grad, BatchNorm in inference mode "
                    "while frozen")
        return stmt.with_changes(body=[cst.Expr(cst.parse_expression(
            f"set_module_trainable({var}, {small.value.value})"))])

    @staticmethod
    def _first(before: list[cst.BaseStatement], stmt: cst.SimpleStatementLine
               ) -> list[cst.BaseStatement]:
        """``before`` with ``stmt``'s leading lines (blank lines, comments) moved onto it."""
        if not before:
            return []
        first = before[0]
        assert isinstance(first, cst.SimpleStatementLine)
        return [first.with_changes(leading_lines=stmt.leading_lines), *before[1:]]

    def _hoist_evaluate(self, stmt: cst.SimpleStatementLine, scope: Scope
                        ) -> tuple[list[cst.BaseStatement], cst.SimpleStatementLine]:
        """``print(model.evaluate(x, y))``: evaluate as a statement before, its result here."""
        finder = _EvaluateFinder(scope)
        new = stmt.visit(finder)
        if not finder.calls or not isinstance(new, cst.SimpleStatementLine):
            return [], stmt
        hoisted: list[cst.BaseStatement] = []
        for name, var, call in finder.calls:
            target = cst.Name(name)
            fake = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], call)])
            method = code_of(call.func).rsplit(".", 1)[1]  # evaluate / evaluate_generator
            handled = self.model_call(fake, var, scope.vars[var], method, call, target, scope)
            if handled is None:
                return [], stmt
            hoisted += handled
        if hoisted:
            hoisted[0] = hoisted[0].with_changes(leading_lines=stmt.leading_lines)
        return hoisted, new.with_changes(leading_lines=[])

    def _loaded_class(self, value: cst.BaseExpression, stmt: cst.BaseStatement) -> str | None:
        """``m = load_model(path)`` converted to ``<Class>.load_from_checkpoint``: ``m`` is
        that class's model, so its predict/evaluate convert too."""
        if not (isinstance(value, cst.Call)
                and self.imports.resolve(value.func) == "keras.saving.load_model"):
            return None
        found = re.match(r"\s*\w+\s*=\s*(\w+)\.load_from_checkpoint\(", code_of(stmt))
        return found.group(1) if found and found.group(1) in self.plans else None

    def record_assign(self, name: str, value: cst.BaseExpression, stmt: cst.BaseStatement,
                      scope: Scope, out: list[cst.BaseStatement | None]) -> None:
        scope.assigns[name] = value
        scope.where[name] = (out, len(out))
        cls = self._class_of_call(value, self.builders) or self._loaded_class(value, stmt)
        if cls is not None:
            scope.vars[name] = cls
        else:
            scope.vars.pop(name, None)
        if isinstance(value, cst.Call):
            callee = code_of(value.func)
            if callee in self.sequences:
                scope.loaders[name] = "dataset"
            elif callee in self.callback_classes:
                scope.cb_kind[name] = "callback"
            qual = self.imports.resolve(value.func) or ""
            spec = lookup_callback(qual)
            if spec is not None:
                scope.cb_kind[name] = spec.kind
        chain = tf_data_chain(value, self.imports)
        if chain is not None and chain.code is not None and name not in self.continued:
            scope.loaders[name] = "loader"
        elif self._is_pipeline(value, scope):
            scope.loaders[name] = "pipeline"
        elif self._is_generator_flow(value, scope):
            scope.loaders[name] = "dataset"
        if isinstance(value, cst.List):
            kinds = [self._element_kind(e.value, scope) for e in value.elements]
            if any(k in ("callback", "logger", "plateau") for k in kinds):
                scope.cb_kind[name] = "list"
                scope.list_loggers[name] = "logger" in kinds

    def _assigned_once(self, name: str) -> bool:
        """``name`` is bound by one assignment in the module (an annotation on a second
        one is a mypy error)."""
        if self.assignments is None:
            self.assignments = {}
            for node in ast.walk(parsed.parse(self.module.code)):
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign,
                                                       ast.For)) else [])
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            self.assignments[n.id] = self.assignments.get(n.id, 0) + 1
        return self.assignments.get(name, 0) == 1

    def _both_subsets(self, target: cst.BaseAssignTargetExpression, value: cst.BaseExpression
                      ) -> dict[str, str]:
        """``train_ds, val_ds = image_dataset_from_directory(..., subset="both")``: two
        pipelines."""
        if not (isinstance(target, cst.Tuple) and len(target.elements) == 2
                and isinstance(value, cst.Call)
                and self.imports.resolve(value.func) in PIPELINE_LOADERS
                and any(a.keyword is not None and a.keyword.value == "subset"
                        and code_of(a.value) in ('"both"', "'both'") for a in value.args)):
            return {}
        return {e.value.value: "pipeline" for e in target.elements
                if isinstance(e.value, cst.Name)}

    def _is_generator_flow(self, value: cst.BaseExpression, scope: Scope) -> bool:
        """``gen.flow(...)`` / ``gen.flow_from_directory(...)`` on an ImageDataGenerator:
        a dataset whose items are whole batches (utilities.py inlines the generator)."""
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value in ("flow", "flow_from_directory")):
            return False
        base = value.func.value
        if isinstance(base, cst.Name):
            made = scope.assigns.get(base.value)
            base = made if made is not None else base
        return isinstance(base, cst.Call) and self.imports.resolve(base.func) in GENERATOR

    def _is_pipeline(self, value: cst.BaseExpression, scope: Scope) -> bool:
        """A tf.data expression (utilities.py turns it into a DataPipeline): a chain on
        ``tf.data.Dataset.*`` or on a name that already holds one."""
        cur = value
        if isinstance(cur, cst.Call) and self.imports.resolve(cur.func) in PIPELINE_LOADERS:
            return True
        while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
            qual = self.imports.resolve(cur.func) or ""
            if qual.startswith("tensorflow.data.") or qual in PIPELINE_LOADERS:
                return True
            cur = cur.func.value
        return isinstance(cur, cst.Name) and cur is not value and \
            scope.loaders.get(cur.value) == "pipeline"

    # ---- model.method(...) ---------------------------------------------------------
    def model_call(self, stmt: cst.SimpleStatementLine, var: str, cls: str, method: str,
                   call: cst.Call, target: cst.BaseAssignTargetExpression | None,
                   scope: Scope) -> list[cst.BaseStatement] | None:
        plan = self.plans[cls]
        if method in LEGACY:
            legacy = method
            modern = keras3_call(call, method)
            if modern is None:
                return None
            call, method = modern
            self.change(stmt, f"training.{legacy}", f"{legacy} -> {method} (Keras 3 form)")
            scope.loaders = {**scope.loaders, **legacy_inputs(call, scope.loaders)}
        if method == "compile":
            return self.compile(stmt, var, plan, call, scope)
        if method == "build" and target is None:
            self.change(stmt, "training.build", "build() dropped: the shape is in the class")
            return self._drop(stmt, [])
        if method == "fit":
            return self.fit(stmt, var, plan, call, target, scope)
        if method == "evaluate":
            unpack = len(target.elements) if isinstance(target, cst.Tuple) else 0
            tcode = code_of(target) if target is not None else None
            loaders = {**scope.loaders, **generator_inputs(call, EVAL_ARGS, self.generators,
                                                           scope.assigns),
                       **pipeline_inputs(call, EVAL_ARGS, self.returns),
                       **sequence_inputs(call, EVAL_ARGS, self.sequences)}
            call = indexed_inputs(call, len(plan.ir.inputs), scope.assigns)
            em = evaluate_code(var, call, tcode, unpack, plan.ir, plan.compile, self.names,
                               scope.has_trainer, loaders)
            if not em.code:
                return self._keep(stmt, "keras.Model.evaluate", em.todos)
            if plan.compile is None:
                em.todos.append("evaluate() on a model whose compile() was not converted")
            plan.tests = True
            plan.weighted |= em.weighted
            plan.foreign |= em.foreign
            scope.has_trainer = True
            self.change(stmt, "training.evaluate", "evaluate -> trainer.test")
            return self._emit(stmt, em.code, em.todos, em.warnings, "keras.Model.evaluate")
        if method in ("save", "save_weights", "load_weights"):
            return self.save(stmt, var, method, call, scope, cls)
        return None

    def compile(self, stmt: cst.SimpleStatementLine, var: str, plan: ClassPlan, call: cst.Call,
                scope: Scope) -> list[cst.BaseStatement]:
        if {"compile", "train_step"} <= self.custom.get(plan.ir.class_name, set()):
            # the class's own compile(d_optimizer=..., ...): a plain method, called as written
            plan.compile = plan.compile or read_compile(cst.Call(call.func), self.imports,
                                                        lambda n: n, plan.ir, code_of)
            self.change(stmt, "training.compile", f"{plan.ir.class_name}.compile is the "
                        "class's own method: kept, its optimizers in configure_optimizers")
            return self._hoist_objects(stmt, call)
        if plan.compile is not None and _arguments(call) == plan.compile_args and plan.held:
            return self._set_held(stmt, var, plan, dict(plan.held), "the first compile's")
        if plan.compile is not None:
            if _arguments(call) == plan.compile_args:  # fine-tuning scripts recompile so
                self.change(stmt, "training.compile", f"{plan.ir.class_name} compiled again "
                            "with the same settings: dropped (each Trainer.fit builds a fresh "
                            "optimizer, as Keras's compile() does)")
                return self._drop(stmt, [])
            again = read_compile(call, self.imports, lambda n: self._bound(n, scope), plan.ir,
                                 code_of)
            keys = changed_settings(plan.compile, again, plan.held)
            if keys == {}:  # other arguments only (run_eagerly=True): the same training
                self.change(stmt, "training.compile", f"{plan.ir.class_name} compiled again "
                            "with the same training settings: dropped")
                return self._drop(stmt, [])
            if keys is not None:
                plan.held.update({k: v for k, v in parameterized(plan.compile, keys).items()
                                  if k not in plan.held})
                return self._set_held(stmt, var, plan, keys, "its")
            return self._keep(stmt, "keras.Model.compile", [
                f"{plan.ir.class_name} is compiled again with another loss, metrics or "
                "optimizer class; only the first compile() converted"])
        consumed: list[str] = []
        lists: list[str] = []

        def resolve(node: cst.BaseExpression) -> cst.BaseExpression:
            if isinstance(node, cst.Name) and node.value in scope.assigns:
                value = scope.assigns[node.value]
                if isinstance(value, cst.Call) and (self.imports.resolve(value.func) or ""
                                                    ).startswith("keras."):
                    consumed.append(node.value)
                    return value
                if isinstance(value, cst.Call) and code_of(value.func) in \
                        self.imports.schedules:  # read, not consumed: the object stays
                    return value
                if isinstance(value, (cst.List, cst.Tuple)) and _keras_objects(value, self.imports):
                    lists.append(node.value)  # METRICS = [keras.metrics.X(...), ...]
                if isinstance(value, (cst.List, cst.Dict, cst.SimpleString)):
                    return value
            return node

        params = set(scope.params or {})
        local = {n for n in scope.assigns if n not in self.globals} if scope.params else set()
        renamer = _Rename(params)
        problems: list[str] = []

        def rename(node: cst.BaseExpression) -> str:
            names = {n.value for n in _names_in(node)}
            bad = names & (local - params)
            if bad:
                problems.append(f"compile() uses local names {sorted(bad)}: pass them to "
                                f"{plan.ir.class_name}.__init__")
            renamed = node.visit(renamer)
            assert isinstance(renamed, cst.CSTNode)
            return code_of(renamed)

        cfg: CompileConfig = read_compile(call, self.imports, resolve, plan.ir, rename)
        cfg.todos += problems
        if "train_step" in self.custom.get(plan.ir.class_name, set()) or (
                cfg.no_loss and self._adds_losses()):  # the step / the add_loss terms have it
            cfg.todos = [t for t in cfg.todos if t != NO_LOSS]
        if "train_step" in self.custom.get(plan.ir.class_name, set()) and "loss" in \
                custom_step.uses(self.module, plan.ir.class_name) and all(
                    loss is not None and loss.reduction in custom_step.OWN_REDUCTIONS
                    for loss in cfg.losses[:1]) and len(plan.ir.outputs) == 1:
            cfg.todos = [t for t in cfg.todos if not t.startswith(REDUCTION_TODO)]
        plan.compile = cfg
        plan.compile_args = _arguments(call)
        for name in sorted(renamer.hit):
            assert scope.params is not None
            plan.new_params.append((name, scope.params.get(name)))
            self._pass_param(scope, var, name)
        if not cfg.todos:  # a list of Keras objects all converted: nothing reads it now
            consumed += lists
        for name in consumed:
            if self.counts.get(name, 0) <= 2 and name in scope.where:
                lst, idx = scope.where[name]
                if idx < len(lst) and lst[idx] is not None:
                    lst[idx] = None
        for w in cfg.warnings:
            self.warn(stmt, w)
        for t in cfg.todos:
            self.unmapped(stmt, "keras.Model.compile", t)
        self.change(stmt, "training.compile", f"compile -> {plan.ir.class_name}."
                    "configure_optimizers / training_step")
        return self._drop(stmt, [_todo(t) for t in cfg.todos])

    def _bound(self, node: cst.BaseExpression, scope: Scope) -> cst.BaseExpression:
        """A name bound to a Keras object or a literal (``opt = Adam(1e-5)``): that value."""
        if isinstance(node, cst.Name) and node.value in scope.assigns:
            value = scope.assigns[node.value]
            if isinstance(value, (cst.Call, cst.List, cst.Dict, cst.SimpleString)):
                return value
        return node

    def _set_held(self, stmt: cst.SimpleStatementLine, var: str, plan: ClassPlan,
                  values: dict[str, str], whose: str) -> list[cst.BaseStatement]:
        """A recompile → its optimizer settings assigned to the module (the next fit's
        ``configure_optimizers`` reads them)."""
        attrs = ", ".join(f"{var}.{attribute(k)}" for k in values)
        self.change(stmt, "training.compile", f"{plan.ir.class_name} compiled again with "
                    f"other optimizer settings: {attrs} set to {whose} values, read by "
                    "configure_optimizers at the next fit")
        lines: list[cst.BaseStatement] = [cst.parse_statement(f"{var}.{attribute(k)} = {v}")
                                          for k, v in values.items()]
        first = lines[0]
        assert isinstance(first, cst.SimpleStatementLine)
        lines[0] = first.with_changes(leading_lines=stmt.leading_lines)
        return lines

    def _adds_losses(self) -> bool:
        """Layers of the file call ``add_loss`` (or carry activity penalties): their terms
        are the loss of a model compiled without one."""
        if self.added is None:
            code = self.module.code
            self.added = any(m in code for m in ADDED_MARKS)
        return self.added

    def _hoist_objects(self, stmt: cst.SimpleStatementLine, call: cst.Call
                       ) -> list[cst.BaseStatement]:
        """``gan.compile(d_optimizer=keras.optimizers.Adam(...), ...)``: each Keras object
        bound to a variable named like its keyword first (their torch forms are long)."""
        before: list[cst.BaseStatement] = []
        args = []
        for a in call.args:
            name = a.keyword.value if a.keyword is not None else ""
            if (name and isinstance(a.value, cst.Call) and name not in self.globals
                    and (self.imports.resolve(a.value.func) or "").startswith("keras.")):
                before.append(cst.parse_statement(f"{name} = {code_of(a.value)}\n"))
                a = a.with_changes(value=cst.Name(name))
            args.append(a)
        if not before:
            return [stmt]
        new_call = call.with_changes(args=args)

        class Swap(cst.CSTTransformer):
            def leave_Call(self, o: cst.Call, u: cst.Call) -> cst.Call:
                return new_call if o is call else u

        new = stmt.visit(Swap())
        assert isinstance(new, cst.SimpleStatementLine)
        first = before[0]
        assert isinstance(first, cst.SimpleStatementLine)
        before[0] = first.with_changes(leading_lines=stmt.leading_lines)
        return [*before, new.with_changes(leading_lines=[])]

    def _drop(self, stmt: cst.SimpleStatementLine, lines: list[cst.EmptyLine]
              ) -> list[cst.BaseStatement]:
        """Remove ``stmt``; its comments and ``lines`` move to the next statement."""
        self.carry += lines
        return []

    def _pass_param(self, scope: Scope, var: str, name: str) -> None:
        """``model = Net(n=n)`` → ``Net(n=n, lr=lr)`` for a compile hyperparameter."""
        if var not in scope.where:
            return
        lst, idx = scope.where[var]
        stmt = lst[idx] if idx < len(lst) else None
        if not isinstance(stmt, cst.SimpleStatementLine):
            return
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
            call = small.value
            args = [*call.args[:-1], call.args[-1].with_changes(
                comma=cst.MaybeSentinel.DEFAULT)] if call.args else []
            args.append(cst.Arg(cst.Name(name), keyword=cst.Name(name), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""))))
            lst[idx] = stmt.with_changes(body=[small.with_changes(
                value=call.with_changes(args=args))])

    def _sequence_epoch_end(self, x: cst.BaseExpression | None, scope: Scope) -> str | None:
        """Keras calls a training Sequence's ``on_epoch_end`` after every epoch (reshuffling,
        typically); Lightning knows no such hook on a Dataset: a callback makes the call."""
        made = scope.assigns.get(x.value) if isinstance(x, cst.Name) else x
        if not (isinstance(made, cst.Call) and code_of(made.func) in self.epoch_end_sequences):
            return None
        data = x.value if isinstance(x, cst.Name) else f"{self.names.train_loader}.dataset"
        return ("pl.callbacks.LambdaCallback(on_train_epoch_end=lambda trainer, pl_module: "
                f"{data}.on_epoch_end())")

    def fit(self, stmt: cst.SimpleStatementLine, var: str, plan: ClassPlan, call: cst.Call,
            target: cst.BaseAssignTargetExpression | None, scope: Scope
            ) -> list[cst.BaseStatement]:
        args, _ = bind(call, ("x", "y", "batch_size", "epochs", "verbose", "callbacks"))
        callbacks, loggers, todos = self.callbacks(args.get("callbacks"), plan, scope)
        history = target.value if isinstance(target, cst.Name) else None
        if history is not None:  # Keras's History: a callback that records each epoch
            listed = callbacks is not None and isinstance(cst.parse_expression(callbacks),
                                                          cst.List)
            callbacks = f"[{history}]" if callbacks is None else (
                f"{callbacks[:-1]}, {history}]" if listed else f"[*{callbacks}, {history}]")
        epoch_end = self._sequence_epoch_end(args.get("x"), scope)
        if epoch_end is not None:
            callbacks = f"[{epoch_end}]" if callbacks is None else (
                f"{callbacks[:-1]}, {epoch_end}]" if isinstance(
                    cst.parse_expression(callbacks), cst.List) else f"[*{callbacks}, {epoch_end}]")
        loaders = {**scope.loaders, **generator_inputs(call, FIT_ARGS, self.generators,
                                                       scope.assigns),
                   **pipeline_inputs(call, FIT_ARGS, self.returns),
                   **sequence_inputs(call, FIT_ARGS, self.sequences)}
        call = indexed_inputs(call, len(plan.ir.inputs), scope.assigns)
        em = fit_code(var, call, plan.ir, plan.compile, self.names, callbacks, loggers,
                      loaders)
        em.todos = todos + em.todos
        if not em.code:
            return self._keep(stmt, "keras.Model.fit", em.todos)
        if plan.compile is None:
            em.todos.append(f"fit() on {plan.ir.class_name} without a converted compile(): "
                            "the class has no training_step")
        plan.fitted = True
        plan.validates |= em.validates
        plan.weighted |= em.weighted
        plan.foreign |= em.foreign
        code = em.code
        if history is not None:
            code = f"{history} = KerasHistory()\n" + code
        scope.has_trainer = True
        self.change(stmt, "training.fit", "fit -> DataLoader + pl.Trainer.fit")
        return self._emit(stmt, code, em.todos, em.warnings, "keras.Model.fit")

    def callbacks(self, node: cst.BaseExpression | None, plan: ClassPlan, scope: Scope
                  ) -> tuple[str | None, str | None, list[str]]:
        """(callbacks code, logger code, todos) for Trainer()."""
        if node is None or code_of(node) in ("None", "[]"):
            return None, None, []
        todos: list[str] = []
        if isinstance(node, cst.Name) and scope.cb_kind.get(node.value) == "list":
            plateau = scope.plateaus.get(node.value)
            if plateau is not None:
                plan.plateau, plan.plateau_monitor = plateau
            if scope.list_loggers.get(node.value):
                return (f"[c for c in {node.value} if isinstance(c, pl.Callback)]",
                        f"[c for c in {node.value} if isinstance(c, pl.loggers.Logger)]",
                        todos)
            return node.value, None, todos
        if not isinstance(node, (cst.List, cst.Tuple)):
            return code_of(node), None, todos
        cbs: list[str] = []
        logs: list[str] = []
        for el in node.elements:
            value = el.value
            kind = self._element_kind(value, scope)
            code = code_of(self._convert_callbacks(value, scope))
            if isinstance(value, cst.Name) and value.value in scope.plateaus:
                plan.plateau, plan.plateau_monitor = scope.plateaus[value.value]
                continue
            if isinstance(value, cst.Call):
                spec = lookup_callback(self.imports.resolve(value.func) or "")
                if spec is not None and spec.kind == "scheduler":
                    built = self._built(value, spec)
                    if built is not None:
                        plan.plateau = built[0]
                        plan.plateau_monitor = built[1]
                    continue
                if spec is not None and spec.kind == "drop" or code == "None":
                    continue
            (logs if kind == "logger" else cbs).append(code)
        return ("[" + ", ".join(cbs) + "]" if cbs else None,
                "[" + ", ".join(logs) + "]" if logs else None, todos)

    def _element_kind(self, value: cst.BaseExpression, scope: Scope) -> str:
        if isinstance(value, cst.Name):
            return scope.cb_kind.get(value.value, "unknown")
        if isinstance(value, cst.Call):
            spec = lookup_callback(self.imports.resolve(value.func) or "")
            if spec is not None:
                return spec.kind
            if code_of(value.func) in self.callback_classes:
                return "callback"
        return "unknown"

    def _built(self, call: cst.Call, spec_: CallbackSpec) -> tuple[str, str] | None:
        args, ok = bind(call, spec_.positional)
        vals = dict(spec_.defaults)
        for k, v in args.items():
            vals[k] = code_of(v)
        if any(v is None for v in vals.values()) or not ok:
            return None
        if spec_.keras == "LearningRateScheduler":
            vals["_schedule_nargs"] = str(_arity(args.get("schedule"), self.module))
        built = spec_.build({k: str(v) for k, v in vals.items()})
        return built.code, str(vals.get("monitor", '"val_loss"'))

    def save(self, stmt: cst.SimpleStatementLine, var: str, method: str, call: cst.Call,
             scope: Scope, cls: str) -> list[cst.BaseStatement]:
        if not call.args:
            return self._keep(stmt, f"keras.Model.{method}", [f"{method}() without a path"])
        path = call.args[0].value
        if method == "save":
            if scope.has_trainer:
                self.checkpoints[checkpoint_path(path, ".ckpt")] = cls
                code = f"{self.names.trainer}.save_checkpoint({checkpoint_path(path, '.ckpt')})"
                msg = "model.save -> trainer.save_checkpoint (a Lightning .ckpt, not .keras)"
            else:
                code = f"torch.save({var}.state_dict(), {checkpoint_path(path, '.pt')})"
                msg = "model.save -> torch.save(state_dict) (load with load_state_dict)"
        elif method == "save_weights":
            code = f"torch.save({var}.state_dict(), {checkpoint_path(path, '.pt')})"
            msg = "save_weights -> torch.save(state_dict) (.pt, not Keras .h5)"
        else:
            code = f"{var}.load_state_dict(torch.load({checkpoint_path(path, '.pt')}))"
            msg = "load_weights -> load_state_dict(torch.load(...)) (expects the .pt this " \
                  "conversion's save_weights writes)"
        self.change(stmt, f"training.{method}", msg)
        return self._emit(stmt, code + "\n", [], [msg], f"keras.Model.{method}")

    # ---- emitting ------------------------------------------------------------------
    def _emit(self, stmt: cst.SimpleStatementLine, code: str, todos: list[str],
              warnings: list[str], keras: str) -> list[cst.BaseStatement]:
        for w in warnings:
            self.warn(stmt, w)
        for t in todos:
            self.unmapped(stmt, keras, t)
        body: list[cst.BaseStatement] = list(cst.parse_module(code).body)
        lead = [*stmt.leading_lines, *[_todo(t) for t in todos]]
        first = body[0]
        assert isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        body[0] = first.with_changes(leading_lines=lead)
        return body

    def _keep(self, stmt: cst.SimpleStatementLine, keras: str, todos: list[str]
              ) -> list[cst.BaseStatement]:
        for t in todos:
            self.unmapped(stmt, keras, t)
        return [stmt.with_changes(leading_lines=[*stmt.leading_lines,
                                                 *[_todo(t) for t in todos]])]

    # ---- expressions anywhere in a statement ---------------------------------------
    def expressions(self, stmt: cst.SimpleStatementLine, scope: Scope) -> cst.SimpleStatementLine:
        new = self._convert_callbacks(stmt, scope)
        assert isinstance(new, cst.SimpleStatementLine)
        rewriter = _ExprRewriter(self, scope)
        new = new.visit(rewriter)  # type: ignore[assignment]
        self.before = [cst.parse_statement(f"{name} = {code}")
                       for code, name in rewriter.before.items()]
        lines = list(new.leading_lines)
        for keras_name, reason in rewriter.todos:
            self.unmapped(stmt, keras_name, reason)
            lines.append(_todo(reason))
        for w in rewriter.warnings:
            self.warn(stmt, w)
        for rule, text in rewriter.changes:
            self.change(stmt, rule, text)
        # plateau assignment: moved into configure_optimizers
        if len(new.body) == 1 and isinstance(new.body[0], cst.Assign):
            assign = new.body[0]
            t = assign.targets[0].target
            if isinstance(t, cst.Name) and t.value in scope.plateaus and rewriter.plateau_here:
                self.change(stmt, "callbacks.ReduceLROnPlateau",
                            f"{t.value} (ReduceLROnPlateau) moved into configure_optimizers")
                return cst.SimpleStatementLine([cst.Pass()], leading_lines=lines)
        return new.with_changes(leading_lines=lines)

    def _convert_callbacks(self, node: cst.CSTNode, scope: Scope) -> cst.CSTNode:
        new = node.visit(_CallbackRewriter(self, scope))
        assert isinstance(new, cst.CSTNode)
        return new


class _EvaluateFinder(cst.CSTTransformer):
    """Replaces ``model.evaluate(...)`` (or Keras 2's ``evaluate_generator``) nested in an
    expression by a name bound before."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.calls: list[tuple[str, str, cst.Call]] = []

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.attr.value in ("evaluate", "evaluate_generator")
                and func.value.value in self.scope.vars):
            name = "evaluation" if not self.calls else f"evaluation_{len(self.calls)}"
            self.calls.append((name, func.value.value, updated))
            return cst.Name(name)
        return updated


class _CallbackRewriter(cst.CSTTransformer):
    """Keras callback constructors → Lightning callbacks/loggers, in place."""

    def __init__(self, owner: _Training, scope: Scope) -> None:
        self.owner = owner
        self.scope = scope

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        qual = self.owner.imports.resolve(updated.func) or ""
        spec = lookup_callback(qual)
        if spec is None or spec.kind == "scheduler":
            return updated
        args, ok = bind(updated, spec.positional)
        vals: dict[str, str | None] = dict(spec.defaults)
        for k, v in args.items():
            vals[k] = code_of(v)
        unknown = set(args) - set(spec.defaults)
        if not ok or any(v is None for v in vals.values()):
            return updated
        if spec.keras == "LearningRateScheduler":
            vals["_schedule_nargs"] = str(_arity(args.get("schedule"), self.owner.module))
        built = spec.build({k: str(v) for k, v in vals.items()})
        for w in built.warnings:
            self.owner.warn(original, w)
        for t in [*built.todo, *[f"{spec.keras}({k}=...) not converted" for k in
                                 sorted(unknown)]]:
            self.owner.unmapped(original, qual, t)
        self.owner.change(original, f"callbacks.{spec.keras}",
                          f"{spec.keras} -> {built.code.split('(')[0] or 'dropped'}")
        return cst.parse_expression(built.code) if built.code else cst.Name("None")


class _ExprRewriter(cst.CSTTransformer):
    """predict / summary / count_params / load_model / tf.data chains, wherever they occur."""

    def __init__(self, owner: _Training, scope: Scope) -> None:
        self.owner = owner
        self.scope = scope
        self.todos: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.changes: list[tuple[str, str]] = []
        self.plateau_here = False
        self.inner: set[cst.Call] = set()
        self.before: dict[str, str] = {}  # statements to run first: code -> variable it binds
        self.nested = 0  # inside a lambda or comprehension: nothing can run before it

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.nested += 1

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self.nested -= 1
        return updated

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self.nested += 1

    def leave_ListComp(self, original: cst.ListComp, updated: cst.ListComp
                       ) -> cst.BaseExpression:
        self.nested -= 1
        return updated

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.nested += 1

    def leave_GeneratorExp(self, original: cst.GeneratorExp, updated: cst.GeneratorExp
                           ) -> cst.BaseExpression:
        self.nested -= 1
        return updated

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self.nested += 1

    def leave_DictComp(self, original: cst.DictComp, updated: cst.DictComp
                       ) -> cst.BaseExpression:
        self.nested -= 1
        return updated

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self.nested += 1

    def leave_SetComp(self, original: cst.SetComp, updated: cst.SetComp) -> cst.BaseExpression:
        self.nested -= 1
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        target = updated.targets[0].target if len(updated.targets) == 1 else None
        value = updated.value
        if isinstance(target, cst.Name) and self.scope.vars and isinstance(
                value, (cst.Call, cst.Subscript)):
            models, attrs = self.owner.weight_models(self.scope)
            ref = layer_access.layer_ref(value, models, attrs)
            if ref is not None and not ref[1]:
                module = ref[0]
                self.scope.layers[target.value] = (layer_access.WEIGHTLESS if module is None
                                                   else code_of(module))
                self.changes.append(("training.get_layer", "get_layer -> the module the "
                                     "layer became"))
                return updated.with_changes(value=module or cst.Name("None"))
            self.scope.layers.pop(target.value, None)
        if isinstance(target, cst.Name) and isinstance(value, cst.Call):
            spec = lookup_callback(self.owner.imports.resolve(value.func) or "")
            if spec is not None and spec.kind == "scheduler":
                built = self.owner._built(value, spec)
                if built is not None:
                    self.scope.plateaus[target.value] = built
                    self.scope.cb_kind[target.value] = "plateau"
                    self.plateau_here = True
        if isinstance(target, cst.Name) and isinstance(value, cst.List):
            kept = []
            for el in value.elements:
                v = el.value
                if isinstance(v, cst.Name) and v.value in self.scope.plateaus:
                    self.scope.plateaus[target.value] = self.scope.plateaus[v.value]
                    continue
                if isinstance(v, cst.Call):
                    spec = lookup_callback(self.owner.imports.resolve(v.func) or "")
                    if spec is not None and spec.kind == "scheduler":
                        built = self.owner._built(v, spec)
                        if built is not None:
                            self.scope.plateaus[target.value] = built
                            continue
                kept.append(el)
            if len(kept) != len(value.elements):
                if kept:
                    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                return updated.with_changes(value=value.with_changes(elements=kept))
        return updated

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Call):
            self.inner.add(node.func.value)  # part of a longer chain: convert it whole
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "adapt":
            self.inner.update(a.value for a in node.args  # strings: utilities' DataPipeline
                              if isinstance(a.value, cst.Call))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        chain = None if original in self.inner or self.owner.keep_chain \
            else tf_data_chain(updated, self.owner.imports)
        if chain is not None:
            if chain.code is None:  # utilities.py makes it a DataPipeline
                return updated
            self.warnings += chain.warnings
            self.changes.append(("data.tf_data", "tf.data chain -> DataLoader(TensorDataset)"))
            return cst.parse_expression(chain.code)
        func = updated.func
        qual = self.owner.imports.resolve(func) or ""
        if qual == "keras.saving.load_model":
            return self._load_model(updated)
        weights = self._weights(updated)
        if weights is not None:
            return weights
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
            return updated
        var, method = func.value.value, func.attr.value
        cls = self.scope.vars.get(var)
        if cls is None:
            return updated
        plan = self.owner.plans[cls]
        if method == "predict":
            return self._predict(updated, var, plan)
        if method == "summary":
            self.changes.append(("training.summary", "summary -> ModelSummary"))
            return cst.parse_expression(
                f"print(pl.utilities.model_summary.model_summary.ModelSummary({var}, max_depth=-1))")
        if method == "count_params":
            self.changes.append(("training.count_params", "count_params -> numel sum"))
            return cst.parse_expression(f"sum(p.numel() for p in {var}.parameters())")
        if method in ("fit", "evaluate", "compile", "save", "save_weights", "load_weights",
                      "train_on_batch", "test_on_batch", "predict_on_batch", "fit_generator",
                      "evaluate_generator", "predict_generator"):
            self.todos.append((f"keras.Model.{method}", f"{var}.{method}(...) inside an "
                               "expression is not converted: use it as a statement"))
        return updated

    def _weights(self, call: cst.Call) -> cst.BaseExpression | None:
        """Keras-layout get_weights/set_weights of a converted model or one of its layers,
        and ``layer.kernel.numpy()``."""
        if not (isinstance(call.func, cst.Attribute) and call.func.attr.value in (
                *layer_access.WEIGHT_CALLS, "numpy")) or not self.scope.vars:
            return None
        models, attrs = self.owner.weight_models(self.scope)
        if call.func.attr.value == "numpy":
            value = layer_access.weight_value(call, models, attrs, self.scope.layers)
            if value is None:
                return None
            if value.code is None:
                self.todos.append(("keras.layers.Layer.weights", value.reason))
                return call
            self.changes.append(("training.layer_weight", "layer.<weight>.numpy() -> "
                                 "layer_weight: the NumPy value in Keras's layout"))
            return value.code
        access = layer_access.weight_call(call, models, attrs, self.scope.layers)
        if access is None:
            return None
        if access.code is None:
            self.todos.append((f"keras.Model.{call.func.attr.value}", access.reason))
            return call
        self.changes.append((f"training.{call.func.attr.value}", f"{call.func.attr.value} -> "
                             f"{layer_access.WEIGHT_CALLS[call.func.attr.value]}: NumPy "
                             "arrays in Keras's layout and order"))
        return access.code

    def _predict(self, call: cst.Call, var: str, plan: ClassPlan) -> cst.BaseExpression:
        args, ok = bind(call, ("x", "batch_size", "verbose", "steps", "callbacks"))
        x = args.get("x")
        extra = set(args) - {"x", "batch_size", "verbose"}
        if x is None or not ok or extra:
            self.todos.append(("keras.Model.predict", "predict() arguments not converted"))
            return call
        if plan.ir.output_groups is not None:  # a view over layers' several outputs
            if isinstance(x, cst.Name) and x.value in self.scope.loaders:
                self.todos.append(("keras.Model.predict", "predict() on a dataset of a model "
                                   "whose outputs nest: not converted"))
                return call
            return self._predict_nested(x, args, var)
        if isinstance(x, cst.Name) and self.scope.loaders.get(x.value) in ("dataset",
                                                                           "pipeline"):
            return self._predict_dataset(x.value, var, plan)
        if isinstance(x, cst.Call) and code_of(x.func) in self.owner.sequences:
            return self._predict_dataset(code_of(x), var, plan)  # a Sequence built in place
        if isinstance(x, cst.Name) and x.value in self.scope.loaders:
            self.todos.append(("keras.Model.predict", "predict() on a dataset not converted"))
            return call
        ir = plan.ir
        n_in = len(ir.inputs)
        if n_in > 1 and isinstance(x, (cst.List, cst.Tuple)):
            inputs = [code_of(e.value) for e in x.elements]
        elif isinstance(x, cst.Dict):  # Keras feeds a dict by the Inputs' names
            keyed = dict_inputs(x, ir.inputs)
            if keyed is None:
                self.todos.append(("keras.Model.predict", "predict() on a dict whose keys are "
                                   "not the model's Input names: not converted"))
                return call
            inputs = keyed
        elif n_in > 1:
            inputs = [f"{code_of(x)}[{k}]" for k in range(n_in)]
        else:
            inputs = [code_of(x)]
        inputs = [f"{t.prepared_by}({v})" if t.prepared_by else v  # models/string_inputs.py
                  for v, t in zip(inputs, ir.inputs, strict=False)]
        tensors = ", ".join(
            f"torch.as_tensor(np.asarray({v}), dtype=torch.{'long' if t.dtype == 'long' else 'float32'})"
            for v, t in zip(inputs, ir.inputs, strict=False))
        bs = code_of(args["batch_size"]) if "batch_size" in args else "32"  # Keras's default
        trainer = "pl.Trainer(logger=False, enable_checkpointing=False)"
        if self.scope.has_trainer or self.scope.predict_trainer:
            trainer = self.owner.names.trainer
        elif not self.nested and not self.owner.depth:  # one trainer for the scope's predicts
            self.before[trainer] = self.owner.names.trainer
            self.scope.predict_trainer = True
            trainer = self.owner.names.trainer
        loader = f"DataLoader(TensorDataset({tensors}), batch_size={bs})"
        batches = f"{trainer}.predict({var}, {self._predict_loader(loader)})"
        plan.predict = True
        self.changes.append(("training.predict", "predict -> predict_step + trainer.predict"))
        if ir.output_keys is not None:  # one array per key, as Keras's dict
            return cst.parse_expression(  # the one-item outer loop runs predict once
                f"{{k: np.concatenate([b[k] for b in outs]) for outs in [{batches} or []] "
                f"for k in {ir.output_keys!r}}}")
        if len(ir.outputs) == 1:  # "or []": Lightning types the result Optional
            return cst.parse_expression(f"np.concatenate({batches} or [])")
        return cst.parse_expression(f"[np.concatenate(out) for out in zip(*({batches} or []))]")

    def _predict_nested(self, x: cst.BaseExpression, args: dict[str, cst.BaseExpression],
                        var: str) -> cst.BaseExpression:
        """``view.predict(x)`` of a view whose outputs nest (a layer's several outputs):
        ``keras_predict`` runs Keras's inference pass (eval mode, no gradients, batch by
        batch) and returns arrays nested as Keras's lists; a Trainer's ``predict`` gives one
        flat tuple per batch."""
        size = f", batch_size={code_of(args['batch_size'])}" if "batch_size" in args else ""
        self.changes.append(("training.predict", "predict of nested outputs -> keras_predict "
                             "(arrays nested as Keras's)"))
        return cst.parse_expression(f"keras_predict({var}, {code_of(x)}{size})")

    def _predict_loader(self, loader: str) -> str:
        """The loader a predict reads; outside nested expressions a statement of its own
        before this one (``predict_loader``, ``predict_loader_2``, ...) reads better."""
        if self.nested:
            return loader
        if loader not in self.before:
            name = self.owner.names.predict_loader
            n = sum(code.startswith("DataLoader(") for code in self.before)
            self.before[loader] = f"{name}_{n + 1}" if n else name
        return self.before[loader]

    def _predict_dataset(self, data: str, var: str, plan: ClassPlan) -> cst.BaseExpression:
        """``model.predict(dataset)``: each batch's inputs (its targets dropped, as Keras
        does) through ``predict_step``, one array of every batch's outputs."""
        trainer = self.owner.names.trainer
        if not (self.scope.has_trainer or self.scope.predict_trainer):
            if self.nested or self.owner.depth:
                trainer = "pl.Trainer(logger=False, enable_checkpointing=False)"
            else:
                self.before["pl.Trainer(logger=False, enable_checkpointing=False)"] = trainer
                self.scope.predict_trainer = True
        loader = f"DataLoader({data}, batch_size=None, collate_fn=keras_predict_inputs)"
        batches = f"{trainer}.predict({var}, {self._predict_loader(loader)})"
        plan.predict = True
        self.changes.append(("training.predict", "predict(dataset) -> trainer.predict over "
                             "its batches' inputs"))
        if plan.ir.output_keys is not None:
            return cst.parse_expression(
                f"{{k: np.concatenate([b[k] for b in outs]) for outs in [{batches} or []] "
                f"for k in {plan.ir.output_keys!r}}}")
        if len(plan.ir.outputs) == 1:
            return cst.parse_expression(f"np.concatenate({batches} or [])")
        return cst.parse_expression(f"[np.concatenate(out) for out in zip(*({batches} or []))]")

    def _load_model(self, call: cst.Call) -> cst.BaseExpression:
        """The class whose ``model.save`` wrote that path before (any number of classes), or
        the file's one class."""
        path = checkpoint_path(call.args[0].value, ".ckpt") if call.args else ""
        cls = self.owner.checkpoints.get(path) or (
            next(iter(self.owner.plans)) if len(self.owner.plans) == 1 else None)
        if cls is None or not call.args:
            self.todos.append(("keras.saving.load_model", "load_model: load the converted "
                               "class with <Class>.load_from_checkpoint(path)"))
            return call
        self.changes.append(("training.load_model", f"load_model -> {cls}.load_from_checkpoint"))
        self.warnings.append("load_model -> load_from_checkpoint: expects the .ckpt this "
                             "conversion's model.save writes")
        return cst.parse_expression(
            f"{cls}.load_from_checkpoint({checkpoint_path(call.args[0].value, '.ckpt')})")


def _keras_objects(value: cst.List | cst.Tuple, imports: ImportTable) -> bool:
    """Every element a Keras object (``keras.metrics.Precision(...)``) or a string."""
    return bool(value.elements) and all(
        isinstance(e.value, cst.SimpleString) or (
            isinstance(e.value, cst.Call)
            and (imports.resolve(e.value.func) or "").startswith("keras."))
        for e in value.elements)


def _only_pass(stmt: cst.SimpleStatementLine) -> bool:
    return len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Pass)


def _arity(node: cst.BaseExpression | None, module: cst.Module) -> int:
    if isinstance(node, cst.Lambda):
        return len(node.params.params)
    if isinstance(node, cst.Name):
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == node.value:
                return len(stmt.params.params)
    return 2


def _names_in(node: cst.CSTNode) -> list[cst.Name]:
    return names_read(node)


def _typed_callbacks(stmt: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
    """``callbacks = [pl.callbacks.X(...)]`` -> ``callbacks: list[pl.Callback] = [...]``: a
    list of one callback class is ``list[X]`` to mypy, which ``Trainer(callbacks=...)``
    (``list[Callback]``, invariant) rejects."""
    small = stmt.body[0] if len(stmt.body) == 1 else None
    if not (isinstance(small, cst.Assign) and len(small.targets) == 1
            and isinstance(small.value, cst.List)):
        return stmt
    annotated = cst.AnnAssign(
        target=small.targets[0].target,
        annotation=cst.Annotation(cst.parse_expression("list[pl.Callback]")),
        value=small.value)
    return stmt.with_changes(body=[annotated])


def _name_counts(module: cst.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in _names_in(module):
        counts[n.value] = counts.get(n.value, 0) + 1
    return counts


def _module_names(module: cst.Module) -> set[str]:
    """Names bound at module level (assignments, defs, imports), outside functions."""
    names: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            for n in _names_in(node.target):
                names.add(n.value)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            for n in _names_in(node.target):
                names.add(n.value)

        def visit_For(self, node: cst.For) -> None:
            for n in _names_in(node.target):
                names.add(n.value)

        def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
            local = node.asname.name if node.asname else node.name
            head = code_of(local).split(".")[0]
            names.add(head)

    module.visit(V())
    return names


def convert_training(module: cst.Module, imports: ImportTable, models: list[ModelIR],
                     path: str, line_of: Callable[[cst.CSTNode], int] | None = None
                     ) -> TrainingResult:
    """Convert compile/fit/evaluate/predict/save and friends for the generated classes.

    ``line_of`` maps nodes kept from the user's file to their original lines.
    """
    return _Training(module, imports, models, path, line_of).run()


def _is_main(node: cst.If) -> bool:
    code = code_of(node.test).replace("'", '"')
    return "__name__" in code and '"__main__"' in code
