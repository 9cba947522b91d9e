"""A Keras ``train_step``/``test_step`` override in a converted class → Lightning hooks.

The Keras method stays as the user wrote it (its tape, ``apply_gradients`` and metric
objects are converted by tape_loop.py); Lightning runs it under manual optimization:

* ``training_step`` calls ``self.train_step(batch)`` and logs the dict it returns;
* ``self.optimizer`` is compile()'s optimizer (``configure_optimizers``) seen through
  ``KerasOptimizer``, so ``self.optimizer.apply_gradients(...)`` steps it;
* a Keras ``test_step`` is renamed ``keras_test_step`` (Lightning owns ``test_step``) and
  backs ``validation_step``/``test_step`` with Keras's ``val_`` prefix;
* ``self.compiled_loss(y, y_pred)`` is compile()'s loss averaged over the batch;
* a ``metrics`` property's trackers are reset at each epoch start, as ``fit`` does;
* a class that overrides ``compile`` (GANs: ``compile(d_optimizer, g_optimizer, loss_fn)``)
  keeps it as a plain method, called where the script called it, minus
  ``super().compile()``; ``configure_optimizers`` returns the optimizers it stored, each
  built over the weights the step applies it to (``self.d_optimizer.apply_gradients(
  zip(grads, self.discriminator.trainable_weights))``), so Lightning owns them;
* a batch of one tensor (``fit(x)`` without targets) reaches the Keras step as that tensor.
"""

from __future__ import annotations

import re

import libcst as cst

from agent.rules.training import epoch_means
from agent.rules.training.methods import IND
from agent.rules.values import code_of

STEPS = ("train_step", "test_step")
_KEPT_STEP = "Keras training step kept as written"  # the class rules' TODO on tape methods


def _class(module: cst.Module, name: str) -> cst.ClassDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == name:
            return stmt
    return None


def family(module: cst.Module, cls: str) -> list[str]:
    """``cls`` and the script's own classes it derives from (a functional model built with
    ``CustomModel(inputs, outputs)`` inherits that class's ``train_step``)."""
    out: list[str] = []
    todo = [cls]
    while todo:
        name = todo.pop()
        node = _class(module, name)
        if node is None or name in out:
            continue
        out.append(name)
        todo += [b.value.value for b in node.bases if isinstance(b.value, cst.Name)]
    return out


def merge_bases(module: cst.Module, cls: str) -> cst.Module:
    """A script class only ``cls`` derives from (``CustomModel`` with the ``train_step`` of a
    functional model built as ``CustomModel(inputs, outputs)``) folds into ``cls``: its
    methods then see the attributes the bridge defines (type checkers too), and the file has
    one class per model."""
    node = _class(module, cls)
    if node is None or not isinstance(node.body, cst.IndentedBlock):
        return module
    names = [b.value.value for b in node.bases if isinstance(b.value, cst.Name)]
    if len(names) != 1:
        return module
    base = _class(module, names[0])
    if base is None or not isinstance(base.body, cst.IndentedBlock) or any(
            isinstance(b.value, cst.Name) and _class(module, b.value.value) is not None
            for b in base.bases):
        return module

    class Count(cst.CSTVisitor):
        n = 0

        def visit_Name(self, name: cst.Name) -> None:
            if name.value == names[0]:
                Count.n += 1

    module.visit(Count())
    if Count.n != 2:  # its own definition and cls's base: nothing else uses it
        return module
    methods = [s for s in base.body.body if isinstance(s, cst.FunctionDef)]
    if len(methods) != len(base.body.body):
        return module
    merged = node.with_changes(
        bases=[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in base.bases],
        body=node.body.with_changes(body=[*node.body.body, *methods]))
    body = [merged if s is node else s for s in module.body if s is not base]
    return module.with_changes(body=body)


def custom_steps(module: cst.Module, cls: str) -> set[str]:
    """Which Keras step methods (and a ``metrics`` property, a ``compile`` override) the
    class (or a base class of the script's) defines."""
    out: set[str] = set()
    for name in family(module, cls):
        node = _class(module, name)
        if node is not None and isinstance(node.body, cst.IndentedBlock):
            out |= {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef)
                    and s.name.value in (*STEPS, "metrics", "compile")}
    return out


_WEIGHTS = (".trainable_weights", ".trainable_variables")


def optimizer_targets(module: cst.Module, cls: str) -> dict[str, str] | None:
    """``self.<opt>.apply_gradients(zip(grads, self.<m>.trainable_weights))`` anywhere in the
    class → {opt: "self.<m>.parameters()"}; None when one optimizer's weights are not such a
    plain attribute, or differ between calls."""
    found: dict[str, str] = {}
    unknown: list[str] = []

    class Visit(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            func = call.func
            if not (isinstance(func, cst.Attribute) and func.attr.value == "apply_gradients"
                    and isinstance(func.value, cst.Attribute)
                    and isinstance(func.value.value, cst.Name)
                    and func.value.value.value == "self"):
                return
            opt = func.value.attr.value
            arg = call.args[0].value if len(call.args) == 1 else None
            weights = (code_of(arg.args[1].value) if isinstance(arg, cst.Call)
                       and code_of(arg.func) == "zip" and len(arg.args) == 2 else "")
            owner = next((weights[:-len(w)] for w in _WEIGHTS if weights.endswith(w)), "")
            if owner != "self" and not (owner.startswith("self.")
                                        and owner[5:].isidentifier()):
                unknown.append(opt)
                return
            params = f"{owner}.parameters()"
            if found.setdefault(opt, params) != params:
                unknown.append(opt)

    for name in family(module, cls):
        node = _class(module, name)
        if node is not None:
            node.visit(Visit())
    return None if unknown or not found else found


def _super_compile(stmt: cst.BaseStatement) -> cst.Call | None:
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)):
        return None
    call = stmt.body[0].value
    if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "compile" and isinstance(call.func.value, cst.Call)
            and code_of(call.func.value.func) == "super"):
        return call
    return None


def own_compile(fn: cst.FunctionDef) -> tuple[cst.FunctionDef, list[str]]:
    """A ``compile`` override as a plain method: ``super().compile()`` goes (torch's
    ``nn.Module.compile`` would compile the module); its ``optimizer=`` is stored as
    ``self.optimizer``, its ``metrics=`` as ``self.compiled_metrics``. Returns the method and
    what it could not keep."""
    if not isinstance(fn.body, cst.IndentedBlock):
        return fn, ["one-line compile()"]
    body: list[cst.BaseStatement] = []
    left: list[str] = []
    for stmt in fn.body.body:
        call = _super_compile(stmt)
        if call is None:
            body.append(stmt)
            continue
        for arg in call.args:
            key = arg.keyword.value if arg.keyword is not None else ""
            if key in ("optimizer", "metrics"):
                target, value = ("self.optimizer", arg.value) if key == "optimizer" else (
                    "self.compiled_metrics", cst.parse_expression(
                        f"KerasCompiledMetrics({code_of(arg.value)})"))
                body.append(stmt.with_changes(body=[cst.Assign(
                    [cst.AssignTarget(cst.Attribute(cst.Name("self"), cst.Name(target[5:])))],
                    value)]))
            else:
                left.append(f"super().compile({code_of(arg).rstrip(', ')}) not converted")
    if not body:
        body.append(cst.SimpleStatementLine([cst.Pass()]))
    return fn.with_changes(body=fn.body.with_changes(body=body)), left


def prepare(module: cst.Module, cls: str, left: list[str] | None = None) -> cst.Module:
    """Rename Keras ``test_step``, drop the class rules' TODO on the step methods (and on
    helpers they call that hold a tape), make a ``compile`` override a plain method; what
    cannot be kept is appended to ``left``."""

    classes = family(module, cls)

    class Rename(cst.CSTTransformer):
        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef
                           ) -> cst.ClassDef:
            if updated.name.value not in classes or not isinstance(updated.body,
                                                                   cst.IndentedBlock):
                return updated
            body = []
            for s in updated.body.body:
                if isinstance(s, cst.FunctionDef) and (s.name.value in STEPS or any(
                        ln.comment is not None and _KEPT_STEP in ln.comment.value
                        for ln in s.leading_lines)):
                    lines = [ln for ln in s.leading_lines if ln.comment is None
                             or "TODO(k2l)" not in ln.comment.value]
                    s = s.with_changes(leading_lines=lines)
                    if s.name.value == "test_step":
                        s = s.with_changes(name=cst.Name("keras_test_step"))
                elif isinstance(s, cst.FunctionDef) and s.name.value == "compile":
                    s, problems = own_compile(s)
                    if left is not None:
                        left.extend(problems)
                body.append(s)
            return updated.with_changes(body=updated.body.with_changes(body=body))

    return module.visit(Rename())


def _drop(methods: str, names: set[str]) -> str:
    parsed = cst.parse_module(methods) if methods.strip() else cst.Module([])
    kept = [s for s in parsed.body if not (isinstance(s, cst.FunctionDef)
                                           and s.name.value in names)]
    return parsed.with_changes(body=kept).code


def _own_optimizers(targets: dict[str, str] | None) -> list[str]:
    """configure_optimizers for a ``compile`` override: what it stored, built over the
    weights each is applied to (None: each builds on its first apply_gradients)."""
    out = ["def configure_optimizers(self) -> pl.utilities.types.OptimizerLRScheduler:"]
    if targets is None:
        out += [f'{IND}"""The optimizers compile() stored build on their first '
                'apply_gradients."""', f"{IND}return None"]
        return out
    out.append(f'{IND}"""The optimizers compile() stored, over the weights the Keras step '
               'applies each to."""')
    built = ", ".join(f"self.{opt}.build({params})" for opt, params in targets.items())
    out.append(f"{IND}return [{built}]")
    return out


def uses(module: cst.Module, cls: str) -> set[str]:
    """Keras Model attributes the step code reads that compile() defines:
    ``compiled_metrics``, ``metrics``, ``losses``, and ``loss`` (the loss object, called)."""
    text = "".join(cst.Module([]).code_for_node(node) for name in family(module, cls)
                   if (node := _class(module, name)) is not None)
    found = {attr for attr in ("compiled_metrics", "metrics", "losses")
             if f"self.{attr}" in text}
    return found | ({"loss"} if re.search(r"\bself\.loss\(", text) else set())


# Keras Loss.__call__'s reductions of the weighted per-sample values (mean_with_sample_weight
# divides by the weights' sum: not written, its TODO stays)
OWN_REDUCTIONS = {"none": "values", "sum": "values.sum()",
                  "sum_over_batch_size": "values.mean()"}


def own_loss(per_sample: str, reduction: str) -> list[str]:
    """``self.loss(y_true, y_pred)`` in a train_step: compile()'s loss object, called as Keras
    calls it (per-sample values over ``y_pred``/``y_true``, weighted, then the object's own
    reduction)."""
    return [
        "def loss(self, y_true: torch.Tensor, y_pred: torch.Tensor, "
        "sample_weight: torch.Tensor | None = None) -> torch.Tensor:",
        f'{IND}"""Keras Model.loss: the loss object compile() was given '
        f'(reduction="{reduction}")."""',
        f"{IND}values = {per_sample}",
        f"{IND}if sample_weight is not None:",
        f"{IND * 2}values = values * torch.as_tensor(sample_weight, dtype=values.dtype)",
        f"{IND}return {OWN_REDUCTIONS[reduction]}",
        "",
    ]


def compiled_metric_objects(uses_: list[tuple[str, str | None]]) -> list[str] | None:
    """compile(metrics=[...]) as KerasMetric objects for ``self.compiled_metrics``: each
    (logged name, per-batch mean template over ``{p}``/``{y}``); None when one has none."""
    out = []
    for name, batch_mean in uses_:
        if batch_mean is None or not batch_mean.endswith(".mean()"):
            return None
        per_sample = batch_mean[:-len(".mean()")].replace("{p}", "p").replace("{y}", "y")
        out.append(f'KerasMetric(lambda y, p: {per_sample}, name="{name}")')
    return out


def _compiled_state(metric_objects: list[str] | None, regularized: bool
                    ) -> tuple[list[str], list[str]]:
    """(``__init__`` lines, methods): Keras's loss tracker, compiled_metrics, ``metrics``
    and ``losses`` for a train_step that reads them."""
    init = ['self.keras_loss_tracker = KerasMetric(None, name="loss")']
    if metric_objects is not None:
        init.append(f"self.compiled_metrics = KerasCompiledMetrics([{', '.join(metric_objects)}])")
    out = ["@property", "def metrics(self) -> list[Any]:",
           f'{IND}"""Keras Model.metrics: the loss tracker, then compile()\'s metrics."""']
    tail = ", *self.compiled_metrics.metrics" if metric_objects is not None else ""
    out += [f"{IND}return [self.keras_loss_tracker{tail}]", ""]
    out += ["@property", "def losses(self) -> list[torch.Tensor]:",
            f'{IND}"""Keras Model.losses: the regularization terms."""',
            f"{IND}return [self.regularization_loss()]" if regularized else f"{IND}return []",
            ""]
    return init, out


def bridge(methods: str, steps: set[str], loss: str | None, n_outputs: int,
           targets: dict[str, str] | None = None, used: set[str] | None = None,
           metric_objects: list[str] | None = None, regularized: bool = False,
           validates: bool = True, loss_object: list[str] | None = None
           ) -> tuple[list[str], str]:
    """(``__init__`` lines, class-body source) replacing the compile-generated steps;
    ``loss``: compile()'s per-sample loss over ``y_pred``/``y`` (see methods.per_sample_loss);
    ``targets`` (a ``compile`` override): see ``optimizer_targets``; ``used``: see ``uses``;
    ``metric_objects``: see ``compiled_metric_objects``; ``validates``: some fit() of the
    file validates (or the file does not fit: unknown), so validation hooks are written."""
    used = used or set()
    has_loss = loss is not None
    tracked = has_loss and n_outputs == 1 and "compile" not in steps and bool(used - {"loss"})
    drop = {"training_step"}
    if "test_step" in steps or not has_loss:
        drop |= {"validation_step", "test_step"}
    if not has_loss:
        drop |= {"compute_loss", "shared_step"}
    if "compile" in steps:
        drop |= {"configure_optimizers"}
    # the epoch-start hooks that log a replaced step's epoch means go with the step; the
    # hooks written below (tracker resets) log the kept validation step's means themselves
    own_hooks = bool(steps & {"metrics", "compile"}) or tracked
    kept_val = "validation_step" not in drop and f"self.{epoch_means.attr('val')}" in methods
    drop |= {"on_train_epoch_start"}
    if "validation_step" in drop or own_hooks:
        drop |= {"on_validation_epoch_start"}
    if "test_step" in drop:
        drop |= {"on_test_epoch_start"}
    out = [_drop(methods, drop).rstrip("\n"), ""]
    w = out.append
    log = ("self.log_dict({key: torch.as_tensor(value, dtype=torch.float32).detach() for key, "
           "value in logs.items()}, on_step=False, on_epoch=True, prog_bar=True)")
    if "compile" in steps:
        out += _own_optimizers(targets)
        if "metrics" not in steps:
            w("")
            w("@property")
            w("def metrics(self) -> list[Any]:")
            w(f'{IND}"""Keras Model.metrics: the metric objects compile() was given."""')
            w(f'{IND}compiled = getattr(self, "compiled_metrics", None)')
            w(f"{IND}return list(compiled.metrics) if compiled is not None else []")
    else:
        if tracked:
            more_init, more = _compiled_state(metric_objects, regularized)
            out += more
        w("@property")
        w("def optimizer(self) -> KerasOptimizer:")
        w(f'{IND}"""compile()\'s optimizer, stepped by the Keras train_step\'s '
          'apply_gradients."""')
        w(f"{IND}return KerasOptimizer.wrap(self.optimizers())")
    w("")
    w("def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:")
    w(f'{IND}"""The Keras train_step under manual optimization (one tensor: as Keras passes '
      'it)."""')
    w(f"{IND}logs = self.train_step(batch[0] if len(batch) == 1 else batch)")
    w(f"{IND}{log}")
    w("")
    if "test_step" in steps:
        for hook, prefix in (("validation_step", "val_"), ("test_step", "test_")):
            w(f"def {hook}(self, batch: list[torch.Tensor], batch_idx: int) -> None:")
            w(f'{IND}"""The Keras test_step; logged under Keras\'s {prefix!r} prefix."""')
            w(f"{IND}data = batch[0] if len(batch) == 1 else batch")
            w(f"{IND}logs = {{\"{prefix}\" + key: value for key, value in "
              "self.keras_test_step(data).items()}")
            w(f"{IND}{log}")
            w("")
    if loss_object is not None:
        out += loss_object
    if loss is not None and n_outputs == 1:
        w("def compiled_loss(self, y: torch.Tensor, y_pred: torch.Tensor, "
          "sample_weight: torch.Tensor | None = None, regularization_losses: object = None"
          ") -> torch.Tensor:")
        w(f'{IND}"""Keras compiled_loss: compile()\'s loss, averaged over the batch."""')
        w(f"{IND}per_sample = {loss}")
        w(f"{IND}if sample_weight is not None:")
        w(f"{IND * 2}per_sample = per_sample * sample_weight.reshape(per_sample.shape)")
        w(f"{IND}loss = per_sample.mean()")
        w(f"{IND}if isinstance(regularization_losses, list) and regularization_losses:")
        w(f"{IND * 2}loss = loss + sum(regularization_losses)")
        if tracked:
            w(f"{IND}self.keras_loss_tracker.update_state(loss)")
        w(f"{IND}return loss")
        w("")
    if own_hooks:
        w("def on_train_epoch_start(self) -> None:")
        w(f'{IND}"""Keras fit resets the metric trackers at each epoch start."""')
        w(f"{IND}for metric in self.metrics:")
        w(f"{IND * 2}metric.reset_state()")
        w("")
        if validates or kept_val:
            w("def on_validation_epoch_start(self) -> None:")
            w(f"{IND}self.on_train_epoch_start()")
            if kept_val:
                w(f"{IND}self.log_dict(self.{epoch_means.attr('val')}, prog_bar=True)")
            w("")
    init = ["self.automatic_optimization = False  # the Keras train_step applies gradients"]
    return (init + more_init if tracked else init), "\n".join(out)
