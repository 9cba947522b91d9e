"""``model.compile(...)`` → a :class:`CompileConfig` (optimizer code, per-output losses, metrics).

Reads strings, ``keras.optimizers``/``keras.losses``/``keras.metrics`` objects and names bound
to them earlier in the block (``opt = Adam(1e-3)``; ``model.compile(optimizer=opt)``). What it
cannot read becomes a ``todo`` (TODO(k2l) comment + Unmapped) and a safe stand-in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.models.graph import ModelIR
from agent.rules.training.losses import LossSpec, lookup_loss, smoothed_target
from agent.rules.training.metrics import MetricSpec, logged_name, lookup_metric, with_params
from agent.rules.training.optimizers import (
    COMMON_DEFAULTS,
    EXTRA_KWARGS,
    LEGACY_KWARGS,
    OPTIMIZERS,
    OptimizerSpec,
    ScheduleSpec,
    lookup_optimizer,
    lookup_schedule,
)
from agent.rules.training.reductions import loss_reduction
from agent.rules.values import code_of

NO_LOSS = "compile() without a loss: training_step cannot train"
Resolver = Callable[[cst.BaseExpression], cst.BaseExpression]  # follows names to their values


@dataclass
class OutputLoss:
    template: str  # per-sample expression over {p} and {y}
    target: str  # "float" | "long"
    kind: str
    label: str  # what the user wrote, for docstrings
    weight: str = "1.0"
    logits: str | None = None  # the same loss from pre-activation outputs (softmax/sigmoid)
    reduction: str = "sum_over_batch_size"  # Keras 3's name of the loss object's reduction


# compile(loss=<object with reduction="none"/"sum">): fit's loss stays the mean; a train_step
# reading ``self.loss(...)`` gets the object's own reduction (custom_step.own_loss)
REDUCTION_TODO = "loss reduction="


@dataclass
class MetricUse:
    name: str  # logged name without stage prefix ("accuracy", "out_a_accuracy")
    spec: MetricSpec
    classes: str  # code for {c}


@dataclass
class CompileConfig:
    optimizer: str  # torch optimizer ctor over self.parameters()
    optimizer_label: str
    schedule: str | None = None  # LambdaLR factor lambda body over ``step``
    schedule_note: str = "Keras LearningRateSchedule: lr(step) = initial lr * factor(step)"
    clipping: list[str] = field(default_factory=list)  # statements in configure_gradient_clipping
    losses: list[OutputLoss | None] = field(default_factory=list)  # one per model output
    metrics: list[list[MetricUse]] = field(default_factory=list)
    todos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    used: list[cst.BaseExpression] = field(default_factory=list)  # names consumed (opt = ...)
    no_loss: bool = False  # compile() without a loss: add_loss terms alone may train it
    # a builder parameter names the optimizer: (its code in the class, {Keras name: ctor})
    by_name: tuple[str, dict[str, str]] | None = None


def output_names(ir: ModelIR) -> list[str]:
    """Keras output names: the layer that produced each output tensor."""
    names: list[str] = []
    for t in ir.outputs:
        name = t.name
        for call in ir.calls:
            if any(o.name == t.name for o in call.outputs):
                name = call.layer.attr
                given = call.layer.args.values.get("name") if call.layer.args else None
                if given is not None and isinstance(given.value, str):
                    name = given.value
        names.append(name)
    return names


def last_dim(ir: ModelIR, k: int) -> int | str | None:
    shape = ir.outputs[k].shape
    if not shape:
        return None
    d = shape[-1]
    return d if isinstance(d, (int, str)) else None


def _str(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        v = node.evaluated_value
        return v if isinstance(v, str) else None
    return None


def bind(call: cst.Call, positional: tuple[str, ...]) -> tuple[dict[str, cst.BaseExpression], bool]:
    """Arguments by parameter name; False when *args/**kwargs make that impossible."""
    out: dict[str, cst.BaseExpression] = {}
    ok = True
    for k, arg in enumerate(call.args):
        if arg.star:
            ok = False
        elif arg.keyword is not None:
            out[arg.keyword.value] = arg.value
        elif k < len(positional):
            out[positional[k]] = arg.value
        else:
            ok = False
    return out, ok


class CompileReader:
    def __init__(self, imports: ImportTable, resolve: Resolver, ir: ModelIR,
                 rename: Callable[[cst.BaseExpression], str]) -> None:
        self.imports = imports
        self.resolve = resolve
        self.ir = ir
        self.code = rename  # expression -> code valid inside the class
        self.cfg = CompileConfig("", "")
        self.legacy = False  # keras.optimizers.legacy.* (optimizers.LEGACY_KWARGS)

    # ---- optimizer -------------------------------------------------------------------
    def optimizer(self, node: cst.BaseExpression | None) -> None:
        if node is None:
            self._optimizer_from(lookup_optimizer("rmsprop"), {}, "Keras's default rmsprop")
            return
        node = self.resolve(node)
        s = _str(node)
        if s is not None:
            spec = lookup_optimizer(s)
            if spec is None:
                self._unknown_optimizer(f'"{s}"')
                return
            self._optimizer_from(spec, {}, f'"{s}"')
            return
        if isinstance(node, cst.Name) and self.code(node).startswith("self.hparams["):
            self._optimizer_by_name(self.code(node), node.value)
            return
        if isinstance(node, cst.Call):
            qual = self.imports.resolve(node.func) or ""
            spec = lookup_optimizer(qual) if qual.startswith("keras.optimizers.") else None
            self.legacy = qual.startswith("keras.optimizers.legacy.")
            if spec is None:
                self._unknown_optimizer(code_of(node))
                return
            args, ok = bind(node, spec.positional)
            if not ok:
                self.cfg.todos.append(f"optimizer arguments not readable: {code_of(node)}")
            if "lr" in args:  # Keras 2 spelling
                args.setdefault("learning_rate", args.pop("lr"))
            self._optimizer_from(spec, args, f"{spec.keras}(...)")
            return
        self._unknown_optimizer(code_of(node))

    def _optimizer_by_name(self, code: str, param: str) -> None:
        """``compile(optimizer=optimizer)`` with a builder's parameter: a string names one
        of Keras's optimizers (its defaults), looked up at run time as Keras's ``get`` does
        (any case); the calls' values are not known here."""
        table: dict[str, str] = {}
        for spec in OPTIMIZERS:
            one = CompileReader(self.imports, self.resolve, self.ir, self.code)
            one._optimizer_from(spec, {}, spec.keras)
            table.update({name: one.cfg.optimizer for name in spec.strings})
        self.cfg.by_name = (code, table)
        self.cfg.optimizer = f"optimizers[{code}.lower()]()"
        self.cfg.optimizer_label = f"named by the parameter {param}"
        self.cfg.warnings.append(f"optimizer named by the parameter {param}: a Keras name "
                                 "(Keras's defaults) at run time; an optimizer object passed "
                                 "there fails the lookup")

    def _unknown_optimizer(self, what: str) -> None:
        self.cfg.todos.append(f"optimizer {what} not converted; Adam with Keras defaults "
                              "stands in")
        self._optimizer_from(lookup_optimizer("adam"), {}, what)

    def _optimizer_from(self, spec: OptimizerSpec | None, args: dict[str, cst.BaseExpression],
                        label: str) -> None:
        assert spec is not None
        vals: dict[str, str] = {k: repr(v) for k, v in spec.defaults.items()}
        torch_cls = spec.torch
        decay = None
        for name, node in args.items():
            if name == "learning_rate":
                lr_node = self.resolve(node)
                sched = self._schedule(lr_node)
                if sched is not None:
                    vals["learning_rate"] = sched
                    continue
                if isinstance(lr_node, cst.Call) and code_of(lr_node.func) in \
                        self.imports.schedules:  # the script's own schedule: lr = its value
                    vals["learning_rate"] = "1.0"
                    self.cfg.schedule = f"float({self.code(node)}(torch.tensor(step)))"
                    continue
            if name in spec.renames or name in spec.defaults:
                vals[name] = self.code(node)
            elif name in ("clipnorm", "clipvalue", "global_clipnorm"):
                v = self.code(node)
                if v != "None":
                    self.cfg.clipping.append({
                        "clipnorm": "for p in self.parameters():\n    if p.grad is not None:\n"
                                    f"        torch.nn.utils.clip_grad_norm_(p, {v})",
                        "clipvalue": f"torch.nn.utils.clip_grad_value_(self.parameters(), {v})",
                        "global_clipnorm": "torch.nn.utils.clip_grad_norm_(self.parameters(), "
                                           f"{v})"}[name])
            elif name == "decay":  # Keras 2: lr / (1 + decay * iterations), per update
                decay = self.code(node)
            elif name == "weight_decay":
                v = self.code(node)
                if v != "None":
                    vals["weight_decay"] = v
                    if spec.keras == "Adam":
                        torch_cls = "torch.optim.AdamW"
                        self.cfg.warnings.append("Keras Adam(weight_decay) is decoupled: "
                                                 "written as torch.optim.AdamW")
                    elif spec.keras not in ("AdamW", "SGD"):
                        self.cfg.warnings.append(f"Keras {spec.keras} decays weights "
                                                 "decoupled; torch's weight_decay is L2 on "
                                                 "the gradient")
            elif name in COMMON_DEFAULTS:
                if code_of(node) not in (repr(COMMON_DEFAULTS[name]), "None", "False"):
                    self.cfg.todos.append(f"optimizer argument {name}={code_of(node)} not "
                                          "converted")
            else:
                self.cfg.todos.append(f"optimizer argument {name}={code_of(node)} not converted")
        if decay is not None and decay not in ("0", "0.0", "0.", "None"):
            inverse = f"1 / (1 + {decay} * step)"
            self.cfg.schedule_note = "Keras 2 decay: lr / (1 + decay * iterations)" \
                if self.cfg.schedule is None else f"{self.cfg.schedule_note}, Keras 2 decay"
            self.cfg.schedule = inverse if self.cfg.schedule is None else \
                f"({self.cfg.schedule}) * {inverse}"
        kwargs: list[str] = []
        betas: dict[int, str] = {}
        for name, torch_kw in spec.renames.items():
            if name not in vals:
                continue
            if torch_kw.startswith("betas["):
                betas[int(torch_kw[6])] = vals[name]
                if len(betas) == 2:
                    kwargs.append(f"betas=({betas[0]}, {betas[1]})")
            else:
                kwargs.append(f"{torch_kw}={vals[name]}")
        if "weight_decay" in vals and "weight_decay" not in spec.renames:
            kwargs.append(f"weight_decay={vals['weight_decay']}")
        if spec.keras in EXTRA_KWARGS:
            kwargs.append((LEGACY_KWARGS if self.legacy else EXTRA_KWARGS).get(
                spec.keras, EXTRA_KWARGS[spec.keras]))
        if spec.keras == "SGD" and vals.get("momentum") not in ("0", "0.0", "0."):
            torch_cls = "KerasSGD"  # Keras's velocity holds lr: exact when the rate changes
        self.cfg.optimizer = f"{torch_cls}(self.parameters(), {', '.join(kwargs)})"
        self.cfg.optimizer_label = label

    def _schedule(self, node: cst.BaseExpression) -> str | None:
        """A LearningRateSchedule → the initial lr code; the factor goes to cfg.schedule."""
        if not isinstance(node, cst.Call):
            return None
        qual = self.imports.resolve(node.func) or ""
        if not qual.startswith("keras.optimizers.schedules."):
            return None
        spec: ScheduleSpec | None = lookup_schedule(qual)
        if spec is None:
            self.cfg.todos.append(f"learning-rate schedule {code_of(node)} not converted")
            return None
        args, ok = bind(node, spec.positional)
        vals = {k: self.code(v) for k, v in args.items()}
        for k, v in spec.defaults.items():
            if k not in vals:
                if v is None:
                    self.cfg.todos.append(f"{spec.keras}: missing {k}")
                    return None
                vals[k] = repr(v)
        extra = set(args) - set(spec.defaults) - {"name"}
        if extra or not ok:
            self.cfg.todos.append(f"{spec.keras} arguments {sorted(extra)} not converted")
        staircase = vals.get("staircase", "False")
        if "decay_steps" in vals:
            vals["step_ratio"] = (f"(step // {vals['decay_steps']})" if staircase == "True"
                                  else f"step / {vals['decay_steps']}")
        if staircase not in ("True", "False"):
            self.cfg.todos.append(f"{spec.keras}: staircase={staircase} not literal")
        self.cfg.schedule = spec.factor.format(**vals)
        return spec.initial.format(**vals)

    # ---- losses ----------------------------------------------------------------------
    def losses(self, node: cst.BaseExpression | None, weights: cst.BaseExpression | None) -> None:
        n = len(self.ir.outputs)
        names = output_names(self.ir)
        self.cfg.losses = [None] * n
        if node is None:
            self.cfg.no_loss = True
            self.cfg.todos.append(NO_LOSS)
            return
        node = self.resolve(node)
        per_output = self._per_output(node, names, "loss")
        if per_output is None:
            per_output = [node] * n
        for k, item in enumerate(per_output):
            if item is not None:
                self.cfg.losses[k] = self._loss(item, k)
        if weights is not None:
            w = self._per_output(self.resolve(weights), names, "loss_weights")
            for k, item in enumerate(w or []):
                loss = self.cfg.losses[k]
                if item is not None and loss is not None:
                    loss.weight = self.code(item)

    def _per_output(self, node: cst.BaseExpression, names: list[str], what: str
                    ) -> list[cst.BaseExpression | None] | None:
        """A list/dict of one value per output, in output order; None for a single value."""
        n = len(names)
        if isinstance(node, (cst.List, cst.Tuple)):
            items = [e.value for e in node.elements if isinstance(e, cst.Element)]
            if len(items) != n:
                if n == 1 and what == "loss" and len(items) == 1:
                    return [items[0]]
                self.cfg.todos.append(f"{what} has {len(items)} entries for {n} outputs")
                return [None] * n
            return list(items)
        if isinstance(node, cst.Dict):
            out: list[cst.BaseExpression | None] = [None] * n
            for el in node.elements:
                if not isinstance(el, cst.DictElement):
                    continue
                key = _str(el.key)
                if key in names:
                    out[names.index(key)] = el.value
                else:
                    self.cfg.todos.append(f"{what} key {code_of(el.key)} matches no output "
                                          f"(outputs: {', '.join(names)})")
            return out
        return None

    def _loss(self, node: cst.BaseExpression, k: int) -> OutputLoss | None:
        node = self.resolve(node)
        label = code_of(node)
        s = _str(node)
        params: dict[str, cst.BaseExpression] = {}
        spec: LossSpec | None = None
        if s is not None:
            spec = lookup_loss(s)
        else:
            target = node.func if isinstance(node, cst.Call) else node
            qual = self.imports.resolve(target) or ""
            if qual.startswith("keras.losses.") or qual.startswith("keras.metrics."):
                spec = lookup_loss(qual)
                if isinstance(node, cst.Call):
                    params, ok = bind(node, ("reduction", "name"))
                    if not ok:
                        self.cfg.todos.append(f"loss arguments not readable: {label}")
            elif isinstance(node, cst.Name) and not qual:
                self.cfg.warnings.append(f"custom loss {node.value}(y_true, y_pred) called on "
                                         "torch tensors: check it uses no Keras/TF ops")
                return OutputLoss(f"{node.value}({{y}}, {{p}})", "float", "regression", label)
            elif (isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and not qual
                  and "{" not in label):
                # a loss factory, contrastive_loss(margin=1.0): the function it returns
                self.cfg.warnings.append(f"custom loss {node.func.value}(y_true, y_pred) called "
                                         "on torch tensors: check it uses no Keras/TF ops")
                return OutputLoss(f"{self.code(node)}({{y}}, {{p}})", "float", "regression",
                                  label)
        if spec is None and _returns_prediction(node):  # the model's output is its loss
            return OutputLoss("{p}", "float", "regression", label)
        if spec is None:
            self.cfg.todos.append(f"loss {label} not converted")
            return None
        vals = {k2: repr(v) for k2, v in spec.params.items()}
        reduction = "sum_over_batch_size"
        for name, arg in params.items():
            if name in vals:
                vals[name] = self.code(arg)
            elif name == "reduction" and _str(arg) not in ("sum_over_batch_size", "auto"):
                read = loss_reduction(node) if isinstance(node, cst.Call) else None
                reduction = read[0] if read is not None else reduction
                self.cfg.todos.append(f"{REDUCTION_TODO}{code_of(arg)} not converted (mean used)")
            elif name not in ("name", "reduction"):
                self.cfg.todos.append(f"loss argument {name}={code_of(arg)} not converted")
        from_logits = vals.pop("from_logits", "False")
        if from_logits not in ("True", "False"):
            self.cfg.todos.append(f"from_logits={from_logits} is not a literal")
        template = spec.logits if from_logits == "True" and spec.logits else spec.template
        logits = spec.logits if from_logits == "False" else None
        smoothing = vals.pop("label_smoothing", "0.0")
        if smoothing not in ("0.0", "0", "0.") and not _num(smoothing):
            self.cfg.todos.append(f"label_smoothing={smoothing} not literal")

        def finish(text: str) -> str:
            if smoothing not in ("0.0", "0", "0."):
                text = text.replace("{y}", smoothed_target(
                    spec, float(smoothing) if _num(smoothing) else 0.0, "{p}.shape[-1]"))
            text = text.replace("{p}", "\0p").replace("{y}", "\0y")
            return text.format(**vals).replace("\0p", "{p}").replace("\0y", "{y}")

        return OutputLoss(finish(template), spec.target, spec.kind, label,
                          logits=finish(logits) if logits else None, reduction=reduction)

    # ---- metrics ---------------------------------------------------------------------
    def metrics(self, node: cst.BaseExpression | None) -> None:
        n = len(self.ir.outputs)
        names = output_names(self.ir)
        self.cfg.metrics = [[] for _ in range(n)]
        if node is None:
            return
        node = self.resolve(node)
        per_output: list[cst.BaseExpression | None] | None = None
        if isinstance(node, cst.Dict):
            per_output = self._per_output(node, names, "metrics")
        elif (isinstance(node, (cst.List, cst.Tuple)) and n > 1 and node.elements
              and all(isinstance(e.value, (cst.List, cst.Tuple)) for e in node.elements)):
            per_output = self._per_output(node, names, "metrics")
        for k in range(n):
            item = per_output[k] if per_output is not None else node
            if item is None:
                continue
            item = self.resolve(item)
            elements = ([e.value for e in item.elements]
                        if isinstance(item, (cst.List, cst.Tuple)) else [item])
            for el in elements:
                self._metric(self.resolve(el), k, names[k] if n > 1 else "")

    def _metric(self, node: cst.BaseExpression, k: int, prefix: str) -> None:
        loss = self.cfg.losses[k] if k < len(self.cfg.losses) else None
        kind = loss.kind if loss is not None else "regression"
        dim = last_dim(self.ir, k)
        s = _str(node)
        is_object = s is None
        given_name: str | None = None
        args: dict[str, cst.BaseExpression] = {}
        if s is not None:
            name = s
        else:
            target = node.func if isinstance(node, cst.Call) else node
            name = self.imports.resolve(target) or code_of(node)
            if isinstance(node, cst.Call):
                args, ok = bind(node, ())
                if not ok:
                    self.cfg.todos.append(f"metric {code_of(node)}: positional arguments not "
                                          "converted")
                    return
                if "name" in args:
                    given_name = _str(args["name"])
        own = isinstance(node, cst.Name) and not self.imports.resolve(node)
        # the script's own function, even one named like a Keras metric (``def accuracy``)
        spec = lookup_metric(name, kind, dim) if not own else None
        if spec is not None and args:
            known = {p for p, _ in spec.params}
            extra = set(args) - {"name"} - known
            values = {p: code_of(args[p]) for p in known & set(args)}
            odd = sorted(p for p, v in values.items() if not _num(v))
            if extra or odd:
                self.cfg.todos.append(f"metric arguments {sorted(extra | set(odd))} of "
                                      f"{code_of(node)} not converted")
                return
            spec = with_params(spec, values)
        elif spec is not None:
            spec = with_params(spec, {})
        if (spec is None and isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                and node.func.value in self.imports.metric_classes):
            # the script's Metric subclass (metric_classes.py): Keras calls
            # update_state(y_true, y_pred), so {y} comes first; its name is the logged key
            code = self.code(node).replace("{", "{{").replace("}", "}}")
            spec = MetricSpec(self.imports.metric_classes[node.func.value], (), code,
                              preds="{y}", target="{p}")
            if given_name is None and "name" in args:
                self.cfg.todos.append(f"metric {code_of(node)}: name= is not a literal")
                return
        if spec is None and own:
            assert isinstance(node, cst.Name)
            # the script's metric function fn(y_true, y_pred): Keras averages what it returns
            # (MeanMetricWrapper); its tf/K ops go through the op table with the function
            spec = MetricSpec(node.value, (), "", batch_mean=f"({node.value}({{y}}, {{p}}))"
                                                             ".float().mean()")
            is_object = False
        if spec is None:
            self.cfg.todos.append(f"metric {code_of(node)} not converted")
            return
        if spec.needs_classes and dim is None:
            self.cfg.todos.append(f"metric {code_of(node)}: number of classes unknown")
            return
        logged = given_name or logged_name(name.rsplit(".", 1)[-1], spec, is_object)
        if prefix:
            logged = f"{prefix}_{logged}"
        self.cfg.metrics[k].append(MetricUse(logged, spec, str(dim)))


def _returns_prediction(node: cst.BaseExpression) -> bool:
    """``lambda y_true, y_pred: y_pred``: Keras 2's idiom for a model whose output is the loss
    (a CTC or add-on loss layer); Keras averages that output over the batch like any loss."""
    if not isinstance(node, cst.Lambda):
        return False
    params = node.params
    names = [p.name.value for p in params.params]
    return (len(names) == 2 and not params.posonly_params and not params.kwonly_params
            and isinstance(params.star_arg, cst.MaybeSentinel) and params.star_kwarg is None
            and isinstance(node.body, cst.Name) and node.body.value == names[1])


def _num(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True


def read_compile(call: cst.Call, imports: ImportTable, resolve: Resolver, ir: ModelIR,
                 rename: Callable[[cst.BaseExpression], str]) -> CompileConfig:
    """Read one compile() call for the model ``ir``."""
    args, ok = bind(call, ("optimizer", "loss", "loss_weights", "metrics"))
    reader = CompileReader(imports, resolve, ir, rename)
    if not ok:
        reader.cfg.todos.append("compile() arguments not readable (*args/**kwargs)")
    reader.optimizer(args.get("optimizer"))
    reader.losses(args.get("loss"), args.get("loss_weights"))
    reader.metrics(args.get("metrics"))
    for name in args:
        if name not in ("optimizer", "loss", "loss_weights", "metrics", "run_eagerly",
                        "jit_compile", "steps_per_execution", "auto_scale_loss"):
            reader.cfg.todos.append(f"compile({name}=...) not converted")
    return reader.cfg
