"""Eager Keras/TF training code → torch autograd, anywhere in a module: standalone
``GradientTape`` loops, custom ``train_step`` bodies, GAN steps with several optimizers.

* ``with tf.GradientTape() as tape:`` → its body (torch always records);
  ``tape.gradient(t, s)`` → ``tape_gradient(t, s)``; ``tape.watch(x)`` →
  ``x = tape_watch(x)``; ``del tape`` goes; ``tf.Variable`` and augmented assignments of
  watched inputs: tape_inputs.py;
* ``m.trainable_weights`` / ``trainable_variables`` → ``trainable_weights(m)``;
* ``keras.optimizers.Adam(...)`` outside ``compile`` → ``KerasOptimizer(torch.optim.Adam,
  <Keras defaults>)`` whose ``apply_gradients``/``minimize`` step torch;
* loss and metric objects (``keras.losses.X(...)``, ``keras.metrics.X(...)``) → ``KerasLoss``
  / ``KerasMetric`` over the per-sample templates of the compile tables;
* ``model(x, training=True)`` → ``model.train()(x)`` (``False`` → ``.eval()``): Keras's
  per-call mode is torch's module mode; ``@tf.function`` goes; ``t.numpy()`` →
  ``t.detach().cpu().numpy()`` (every ``.numpy()`` in eager TF code is on a tensor);
* outside Keras classes, statements of a file with a tape go through the op table one by
  one.

The runtime names come from ``runtime/training_loop.py`` (inlined by utilities.py).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.classes.devices import pin_devices
from agent.rules.imports import ImportTable
from agent.rules.models.array_shapes import numpy_names
from agent.rules.ops.rewrite import rewrite_node
from agent.rules.training import loop_objects, tape_inputs
from agent.rules.training.accumulators import typed_accumulators
from agent.rules.training.array_names import array_names
from agent.rules.training.compile import CompileReader, bind
from agent.rules.training.losses import lookup_loss
from agent.rules.training.reductions import loss_reduction
from agent.rules.values import code_of

# words TapeLoop acts on ("tf.function" holds "function"); substrings, not whole words
HINT = ("GradientTape", "optimizers", "losses", "metrics", "function", "get_weights",
        "set_weights")


def hinted(code: str) -> bool:
    """Whether ``code`` holds one of :data:`HINT` (a search per literal: one regex of the
    alternatives tries each of them at every position of the text)."""
    return any(word in code for word in HINT)

# Keras metric class -> (per-sample lambda over (y_true, y_pred) or None: a plain mean of
# the values given, default name); Mean and Sum take values, the others (y_true, y_pred).
METRIC_OBJECTS: dict[str, tuple[str | None, str]] = {
    "Mean": (None, "mean"),
    "Sum": (None, "sum"),
    "SparseCategoricalAccuracy": (
        "lambda y, p: (p.argmax(-1) == y.reshape(p.shape[:-1]).long()).float()",
        "sparse_categorical_accuracy"),
    "CategoricalAccuracy": ("lambda y, p: (p.argmax(-1) == y.argmax(-1)).float()",
                            "categorical_accuracy"),
    "BinaryAccuracy": (
        "lambda y, p: ((p > 0.5).float() == y.reshape(p.shape).float()).float().mean(-1)",
        "binary_accuracy"),
    "Accuracy": ("lambda y, p: (y.reshape(p.shape) == p).float()", "accuracy"),
    "MeanSquaredError": ("lambda y, p: ((p - y.reshape(p.shape)) ** 2).mean(-1)",
                         "mean_squared_error"),
    "MeanAbsoluteError": ("lambda y, p: (p - y.reshape(p.shape)).abs().mean(-1)",
                          "mean_absolute_error"),
    "CosineSimilarity": ("lambda y, p: (F.normalize(y.float().reshape(p.shape), dim=-1, "
                         "eps=1e-07) * F.normalize(p, dim=-1, eps=1e-07)).sum(-1)",
                         "cosine_similarity"),
}

_TAPE = "tensorflow.GradientTape"
_TF_FUNCTION = ("tensorflow.function",)
_WEIGHTS = ("trainable_weights", "trainable_variables")


def _recorded_gradients(module: cst.Module, imports: ImportTable) -> set[int]:
    """ids of ``tape.gradient`` calls an outer tape records: inside another tape's ``with``
    body, or in a function or method called there (``self.gradient_penalty(...)`` in a GAN's
    step). TF differentiates through them; torch needs ``create_graph=True``."""
    tapes: set[str] = set()
    called: set[str] = set()
    inside: set[int] = set()

    def tape_items(node: cst.With) -> list[cst.WithItem]:
        return [i for i in node.items if isinstance(i.item, cst.Call)
                and imports.resolve(i.item.func) == _TAPE]

    class Bodies(cst.CSTVisitor):
        depth = 0

        def visit_With(self, node: cst.With) -> None:
            items = tape_items(node)
            tapes.update(i.asname.name.value for i in items if i.asname is not None
                         and isinstance(i.asname.name, cst.Name))
            self.depth += bool(items)

        def leave_With(self, node: cst.With) -> None:
            self.depth -= bool(tape_items(node))

        def visit_Call(self, node: cst.Call) -> None:
            if not self.depth:
                return
            inside.add(id(node))
            func = node.func
            if isinstance(func, cst.Name):
                called.add(func.value)
            elif isinstance(func, cst.Attribute) and code_of(func.value) == "self":
                called.add(func.attr.value)

    module.visit(Bodies())
    out: set[int] = set()

    class Gradients(cst.CSTVisitor):
        depth = 0

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depth += node.name.value in called

        def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depth -= node.name.value in called

        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if (isinstance(func, cst.Attribute) and func.attr.value == "gradient"
                    and isinstance(func.value, cst.Name) and func.value.value in tapes
                    and (self.depth or id(node) in inside)):
                out.add(id(node))

    module.visit(Gradients())
    return out


class TapeLoop(cst.CSTTransformer):
    """One pass over a module; ``used`` lists the runtime names the result needs."""

    def __init__(self, imports: ImportTable, functions: set[str]) -> None:
        self.imports = imports
        self.functions = functions  # the module's own functions (keep their training=)
        self.used: set[str] = set()
        self.tapes: set[str] = set()
        self.changes: list[tuple[cst.CSTNode, str, str]] = []
        self.has_tape = False
        self.class_depth = 0
        self.models: set[str] = set()  # names used as models (their list inputs unpack)
        self.target_depth = 0
        self.schedule_depth = 0  # inside a LearningRateSchedule subclass: its ops convert  # inside an assignment's target: attributes stay
        self.variables: set[str] = set()  # names assigned a tf.Variable
        self.all_tapes: set[str] = set()
        self.rebound: list[set[str]] = [set()]  # per function: augmented assignments rebind
        self.odd: set[str] = set()  # tapes used in ways torch has no form for: all stay TF
        self.arrays: list[frozenset[str]] = [frozenset()]  # per function: may hold NumPy
        self.numpy: dict[str, str] = {}  # local names of NumPy imports

    def visit_Module(self, node: cst.Module) -> None:
        class Find(cst.CSTVisitor):
            found = False

            def __init__(self, imports: ImportTable) -> None:
                self.imports = imports

            def visit_Call(self, call: cst.Call) -> None:
                if self.imports.resolve(call.func) == _TAPE:
                    self.found = True

        finder = Find(self.imports)
        node.visit(finder)
        self.has_tape = finder.found
        self.nested = _recorded_gradients(node, self.imports) if finder.found else set()
        if finder.found:
            self.variables = tape_inputs.variable_names(node, self.imports)
            self.all_tapes = tape_inputs.tape_names(node, self.imports)
            self.odd = tape_inputs.odd_tapes(node, self.all_tapes)
            self.has_tape = not self.odd
            self.rebound = [tape_inputs.rebound_names(node, self.all_tapes)]
            self.models = loop_objects.model_names(node)
            self.numpy = numpy_names(node)
            self.arrays = [array_names(node, self.numpy, frozenset(self.functions))]

    def _keras_class(self, node: cst.ClassDef) -> bool:
        return node.name.value not in self.imports.schedules and any(
            (self.imports.resolve(b.value) or "").startswith("keras.") for b in node.bases)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.class_depth += self._keras_class(node)  # converted classes are torch already
        self.schedule_depth += node.name.value in self.imports.schedules

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.class_depth -= self._keras_class(original)
        if original.name.value in self.imports.schedules:
            self.schedule_depth -= 1
            new = loop_objects.plain_schedule(updated, self.imports)
            if new is not updated:
                self.changes.append((original, "training.schedule_class", "Keras "
                                     "LearningRateSchedule subclass -> a plain callable of "
                                     "the step (the optimizer reads it each step)"))
            return new
        if updated is not original and any(
                code_of(b.value).endswith("LightningModule") for b in updated.bases):
            updated, _ = pin_devices(updated, own_device=True)  # its Keras steps, now torch
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        """Loop code around a tape (``tf.random.normal``, ``tf.ones_like``) through the op
        table, a statement at a time; one that has an op without a rule stays as written."""
        if not self.has_tape and not self.schedule_depth:
            return updated
        kept = self._statements(original, updated)
        if kept is None:
            return cst.RemoveFromParent()
        updated = kept
        if self.class_depth:
            return updated
        new, problems = rewrite_node(updated, self.imports, {}, maybe_arrays=self.arrays[-1])
        if problems or not isinstance(new, cst.SimpleStatementLine) or new is updated \
                or code_of(new) == code_of(updated):
            return updated
        self.changes.append((original, "training.loop_ops", "tf ops in a training loop -> torch"))
        return new

    def _statements(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
                    ) -> cst.SimpleStatementLine | None:
        """``tape_watch(x)`` → ``x = tape_watch(x)``, ``x += g`` → ``x = x + g`` (TF
        rebinds); ``del tape`` and ``f = f`` (once ``tf.function(f)``) dropped; None when
        nothing is left."""
        body: list[cst.BaseSmallStatement] = []
        for small in updated.body:
            new = tape_inputs.rebind(tape_inputs.watch_assign(small), self.rebound[-1])
            if new is not small:
                self.changes.append((original, "training.tape_rebind", "TF rebinds a watched "
                                     "tensor: written as an assignment (torch would write in "
                                     "place into a tensor that records)"))
            if isinstance(new, cst.Del) and self._tape_del(new):
                self.changes.append((original, "training.tape_del", "del tape dropped: no "
                                     "tape object in torch"))
                continue
            if isinstance(new, cst.Assign) and len(new.targets) == 1 \
                    and code_of(new.targets[0].target) == code_of(new.value):
                continue  # `step = tf.function(step)`: nothing left to do
            body.append(new)
        if not body:
            return None
        body[-1] = body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(body=body)

    def _tape_del(self, node: cst.Del) -> bool:
        targets = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) \
            else [cst.Element(node.target)]
        return all(isinstance(t.value, cst.Name) and t.value.value in self.all_tapes
                   for t in targets)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.has_tape:
            self.rebound.append(tape_inputs.rebound_names(node, self.all_tapes))
            self.arrays.append(array_names(node, self.numpy, frozenset(self.functions)))

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                          ) -> cst.FunctionDef:
        """A tape loop's ``total = 0.0`` / ``total += loss``: the sum is a tensor now."""
        if self.has_tape:
            self.rebound.pop()
            self.arrays.pop()
        if not self.has_tape or self.class_depth:
            return updated
        new = typed_accumulators(updated)
        if new is not updated:
            self.changes.append((original, "training.accumulator", "numeric accumulator of "
                                 "tensor terms annotated torch.Tensor | float"))
        return new

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def _use(self, node: cst.CSTNode, name: str, rule: str, msg: str) -> None:
        self.used.add(name)
        self.changes.append((node, rule, msg))

    # ---- the tape ----------------------------------------------------------------------
    def visit_With(self, node: cst.With) -> None:
        if self.odd:
            return
        for item in node.items:
            if (isinstance(item.item, cst.Call) and self.imports.resolve(item.item.func) == _TAPE
                    and item.asname is not None and isinstance(item.asname.name, cst.Name)):
                self.tapes.add(item.asname.name.value)

    def leave_With(self, original: cst.With, updated: cst.With
                   ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        tapes = [i for i in updated.items if isinstance(i.item, cst.Call)
                 and self.imports.resolve(i.item.func) == _TAPE]
        if not tapes or not isinstance(updated.body, cst.IndentedBlock) or self.odd:
            return updated
        self.changes.append((original, "training.gradient_tape",
                             "with tf.GradientTape(): body kept, torch autograd records it"))
        body = list(updated.body.body)
        if len(tapes) < len(updated.items):  # other context managers stay
            return updated.with_changes(items=[i for i in updated.items if i not in tapes])
        first = body[0] if body else None
        if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            body[0] = first.with_changes(leading_lines=[*updated.leading_lines,
                                                        *first.leading_lines])
        return cst.FlattenSentinel(body)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value in self.tapes):
            method = func.attr.value
            if method in ("gradient", "watch"):
                name = f"tape_{method}"
                self._use(original, name, f"training.tape_{method}",
                          f"tape.{method} -> {name} (torch.autograd)")
                if id(original) in self.nested and not any(
                        a.keyword is not None and a.keyword.value == "create_graph"
                        for a in updated.args):
                    self.changes.append((original, "training.tape_nested", "gradient taken "
                                         "under an outer tape: create_graph=True, so the "
                                         "outer gradient flows through it"))
                    args = [*updated.args[:-1], updated.args[-1].with_changes(
                        comma=cst.MaybeSentinel.DEFAULT)] if updated.args else []
                    args.append(cst.Arg(cst.Name("True"), keyword=cst.Name("create_graph"),
                                        equal=cst.AssignEqual(
                                            whitespace_before=cst.SimpleWhitespace(""),
                                            whitespace_after=cst.SimpleWhitespace(""))))
                    return updated.with_changes(func=cst.Name(name), args=args)
                return updated.with_changes(func=cst.Name(name))
        qual = self.imports.resolve(original.func) or ""
        if self.has_tape:
            variable = tape_inputs.variable_call(original, updated) if qual == \
                tape_inputs.VARIABLE else tape_inputs.assign_call(
                    updated, self.variables if qual else None)
            if variable is not None:
                name = code_of(variable.func)
                self._use(original, name, "training.variable",
                          f"{code_of(original.func)} -> {name} (a torch leaf tensor)"
                          if name == "tape_variable" else f"{code_of(original.func)} -> "
                          f"{name} (in place, not recorded)")
                return variable
            if qual in _TF_FUNCTION and len(updated.args) == 1:  # tf.function(step)
                self.changes.append((original, "training.tf_function",
                                     "tf.function(f) -> f: torch runs eagerly"))
                return updated.args[0].value
        if qual.startswith("keras.optimizers.") and qual.count(".") == 2:
            return self._optimizer(original, updated)
        if loop_objects.is_schedule(qual):
            sched = loop_objects.schedule(original, self.imports)
            if sched is None:
                return updated
            self._use(original, "KerasSchedule", "training.schedule_object",
                      f"{code_of(original.func)} -> KerasSchedule (Keras's formula per step)")
            return cst.parse_expression(sched[1])
        weights = loop_objects.weights_call(updated, original, self.imports)
        if weights is not None:
            name = code_of(weights.func)
            self._use(original, name, "training.model_weights",
                      f"{code_of(original.func)} -> {name} (state_dict order)")
            return weights
        if qual.startswith("keras.losses.") and qual.count(".") == 2:
            return self._loss(original, updated, qual)
        if qual.startswith("keras.metrics.") and qual.count(".") == 2:
            return self._metric(original, updated, qual)
        if self.has_tape and isinstance(func, cst.Attribute) and func.attr.value == "numpy" \
                and not updated.args and self.imports.resolve(original.func) is None:
            self.changes.append((original, "training.numpy", ".numpy() -> .detach().cpu()"
                                 ".numpy() (a TF eager tensor converts; a torch one that "
                                 "records gradients must be detached)"))
            return updated.with_changes(func=func.with_changes(value=cst.parse_expression(
                f"{code_of(func.value)}.detach().cpu()")))
        if self.has_tape:
            unpacked = loop_objects.unpacked_inputs(updated, self.models)
            if unpacked is not updated:
                self.changes.append((original, "training.model_inputs", "a list of model "
                                     "inputs -> one forward argument each"))
            return self._training_kwarg(original, unpacked)
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        if self.has_tape and updated.attr.value in _WEIGHTS and \
                self.imports.resolve(original.value) is None:
            self._use(original, "trainable_weights", "training.trainable_weights",
                      f".{updated.attr.value} -> trainable_weights(module)")
            return cst.Call(cst.Name("trainable_weights"), [cst.Arg(updated.value)])
        if self.has_tape and not self.target_depth and updated.attr.value in \
                loop_objects.WEIGHT_LISTS and isinstance(updated.value, cst.Name) \
                and updated.value.value != "self" and self.imports.resolve(original.value) is None:
            self._use(original, "module_variables", "training.model_variables",
                      f".{updated.attr.value} -> module_variables(module)")
            return cst.Call(cst.Name("module_variables"), [cst.Arg(updated.value)])
        return updated

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.target_depth += 1

    def leave_AssignTarget(self, original: cst.AssignTarget, updated: cst.AssignTarget
                           ) -> cst.AssignTarget:
        self.target_depth -= 1
        return updated

    def leave_Decorator(self, original: cst.Decorator, updated: cst.Decorator
                        ) -> cst.Decorator | cst.RemovalSentinel:
        target = updated.decorator.func if isinstance(updated.decorator, cst.Call) \
            else updated.decorator
        if self.imports.resolve(target) in _TF_FUNCTION:
            self.changes.append((original, "training.tf_function",
                                 "@tf.function dropped: torch runs eagerly"))
            return cst.RemovalSentinel.REMOVE
        return updated

    # ---- objects -----------------------------------------------------------------------
    def _optimizer(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        reader = CompileReader(self.imports, lambda n: n, loop_objects.loop_ir(), code_of)
        reader.optimizer(original)
        cfg = reader.cfg
        clips = loop_objects.clip_keywords(original)
        if cfg.todos or clips is None:
            return updated
        ctor, _, rest = cfg.optimizer.partition("(self.parameters(), ")
        if not rest:
            return updated
        if cfg.schedule is not None:  # a built-in schedule written in the call
            lr = loop_objects.learning_rate_arg(original)
            sched = loop_objects.schedule(lr, self.imports) if lr is not None else None
            if sched is None or f"lr={sched[0]}" not in rest:
                return updated
            rest = rest.replace(f"lr={sched[0]}", f"lr={sched[1]}", 1)
            self.used.add("KerasSchedule")
        if clips:
            rest = f"{rest[:-1]}, {', '.join(clips)})"
        self._use(original, "KerasOptimizer", "training.optimizer",
                  f"{code_of(original.func)} -> KerasOptimizer({ctor}) with Keras's defaults")
        if not ctor.startswith("torch."):
            self.used.add(ctor)  # a runtime optimizer (KerasRMSprop): inlined too
        return cst.parse_expression(f"KerasOptimizer({ctor}, {rest}")

    def _loss(self, original: cst.Call, updated: cst.Call, qual: str) -> cst.BaseExpression:
        short = qual.rsplit(".", 1)[-1]
        spec = lookup_loss(short)
        if spec is None:
            return updated
        if short[:1].islower():  # the function form: per-sample values, no reduction
            args, ok = bind(original, ("y_true", "y_pred"))
            if not ok or set(args) != {"y_true", "y_pred"}:
                return updated
            cast = ".long()" if spec.target == "long" else ".float()"
            body = spec.template.replace("{p}", "y_pred").replace("{y}", f"y_true{cast}")
            if "{" in body:
                return updated
            self.changes.append((original, "training.loss_function",
                                 f"{code_of(original.func)} -> per-sample torch expression"))
            return cst.parse_expression(f"(lambda y_true, y_pred: {body})("
                                        f"{code_of(args['y_true'])}, {code_of(args['y_pred'])})")
        reduced = loss_reduction(original)
        if reduced is None:
            return updated
        reduction, call = reduced
        reader = CompileReader(self.imports, lambda n: n, loop_objects.loop_ir(), code_of)
        loss = reader._loss(call, 0)
        if loss is None or reader.cfg.todos:
            return updated
        cast = ".long()" if loss.target == "long" else ".float()"
        body = loss.template.replace("{p}", "y_pred").replace("{y}", f"y_true{cast}")
        how = "mean of the per-sample loss" if reduction == "sum_over_batch_size" else \
            f'reduction="{reduction}"'
        self._use(original, "KerasLoss", "training.loss_object",
                  f"{code_of(original.func)} -> KerasLoss ({how})")
        if reduction != "sum_over_batch_size":
            return cst.parse_expression(f'KerasLoss(reduction="{reduction}", '
                                        f"per_sample=lambda y_true, y_pred: {body})")
        return cst.parse_expression(f"KerasLoss(lambda y_true, y_pred: {body})")

    def _metric(self, original: cst.Call, updated: cst.Call, qual: str) -> cst.BaseExpression:
        entry = METRIC_OBJECTS.get(qual.rsplit(".", 1)[-1])
        if entry is None:
            return updated
        args, ok = bind(original, ("name",))
        if not ok or set(args) - {"name", "dtype"}:
            return updated
        per_sample, default = entry
        name = code_of(args["name"]) if "name" in args else repr(default).replace("'", '"')
        extra = ", reduce_sum=True" if default == "sum" else ""
        self._use(original, "KerasMetric", "training.metric_object",
                  f"{code_of(original.func)} -> KerasMetric (update_state/result/reset_state)")
        return cst.parse_expression(f"KerasMetric({per_sample}, name={name}{extra})")

    def _training_kwarg(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """``model(x, training=True)`` → ``model.train()(x)``: Keras's per-call flag is the
        module's mode in torch."""
        flag = [a for a in updated.args if a.keyword is not None
                and a.keyword.value == "training"]
        func = updated.func
        if len(flag) != 1 or code_of(flag[0].value) not in ("True", "False"):
            return updated
        if not isinstance(func, (cst.Name, cst.Attribute)) or code_of(func) in self.functions:
            return updated
        if self.imports.resolve(original.func) is not None:
            return updated
        mode = "train" if code_of(flag[0].value) == "True" else "eval"
        args = [a for a in updated.args if a is not flag[0]]
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        self.changes.append((original, "training.training_flag",
                             f"training={code_of(flag[0].value)} -> .{mode}() (module mode)"))
        return updated.with_changes(func=cst.Call(cst.Attribute(func, cst.Name(mode))),
                                    args=args)


def convert_object(stmt: cst.BaseStatement, imports: ImportTable) -> cst.BaseStatement | None:
    """``self.tracker = keras.metrics.Mean(name=...)`` (a loss or metric object made in a
    class's ``__init__``) through the object rules; None when one of its calls has no rule."""
    loop = TapeLoop(imports, set())
    new = stmt.visit(loop)
    if not loop.used or not isinstance(new, cst.BaseStatement):
        return None

    class Left(cst.CSTVisitor):
        found = False

        def visit_Call(self, call: cst.Call) -> None:
            if (imports.resolve(call.func) or "").startswith(("keras.", "tensorflow.")):
                Left.found = True

    new.visit(Left())
    return None if Left.found else new

