"""Generated LightningModule methods for a compiled model, spliced into its class with libcst.

The converted class already has ``__init__`` and ``forward``; compile() adds what a Lightning
user writes: ``training_step`` (plus ``validation_step`` / ``test_step`` only where the file
validates or evaluates), metrics as torchmetrics objects under Keras's names, and
``configure_optimizers``. A softmax/sigmoid output trained with the matching crossentropy
gets a ``logits`` method: the loss reads it, as TF-Keras does, and ``forward`` still returns
the probabilities the Keras model returned.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.models.graph import ModelIR
from agent.rules.naming import identifier
from agent.rules.training import epoch_means
from agent.rules.training.compile import CompileConfig, MetricUse
from agent.rules.training.logits import split_forward, split_heads
from agent.rules.training.recompile import attribute
from agent.rules.values import code_of

IND = "    "


@dataclass
class ClassPlan:
    """Everything training code asks of one generated class."""

    ir: ModelIR
    compile: CompileConfig | None = None
    compile_args: str = ""  # the converted compile()'s arguments, to recognise a same recompile
    plateau: str | None = None  # ReduceLROnPlateau ctor code with {optimizer}
    plateau_monitor: str = '"val_loss"'
    predict: bool = False
    new_params: list[tuple[str, str | None]] = field(default_factory=list)  # (name, default)
    fitted: bool = False  # the file calls fit(): the flags below are then known
    validates: bool = False  # some fit() validates: validation_step
    tests: bool = False  # evaluate(): test_step
    weighted: bool = False  # batches may carry sample weights
    foreign: bool = False  # batches from the user's datasets: cast them in the step
    logits: str | None = None  # the output activation over {x} when the loss reads logits
    heads: tuple[str | None, ...] = ()  # the same per output of a multi-output model
    added_losses: bool = False  # layers of the file call add_loss: the step adds their terms
    # optimizer keywords later compiles change: {torch keyword: the first compile's value}
    held: dict[str, str] = field(default_factory=dict)


def _targets(n: int) -> list[str]:
    return ["y"] if n == 1 else [f"y{k}" for k in range(n)]


def _preds(n: int) -> list[str]:
    return ["y_hat"] if n == 1 else [f"y_hat{k}" for k in range(n)]


def _fill(template: str, p: str, y: str) -> str:
    return template.replace("{p}", p).replace("{y}", y)


def _rank(ir: ModelIR, k: int) -> int | None:
    shape = ir.outputs[k].shape
    if shape is None or (ir.masked_output and len(shape) == 1):
        return None  # a masked output has a time axis, whatever the size inference said
    return len(shape)


def _for_rank(template: str, rank: int | None) -> str:
    """Templates are written for any rank; (batch, classes) outputs need no axis moves."""
    if rank != 1:
        return template
    for long, short in ((".movedim(-1, 1)", ""), (".reshape({p}.shape[:-1])", ".reshape(-1)"),
                        (".reshape(-1, {p}.shape[-1])", ""), (".argmax(-1).reshape(-1)",
                                                               ".argmax(-1)")):
        template = template.replace(long, short)
    return template


_NONE = ', reduction="none")'
# metric inputs over probabilities → the same over logits (sigmoid(z) > 0.5 iff z > 0)
_ON_LOGITS = {"({p} > 0.5).int()": "({p} > 0).int()",
              "(({p} > 0.5).float() == {y}.reshape({p}.shape)).float().mean()":
              "(({p} > 0).float() == {y}.reshape({p}.shape)).float().mean()"}


def _mean(per_sample: str) -> str:
    """A per-sample loss template averaged over the batch (Keras's sum_over_batch_size)."""
    for tail in (_NONE + ".mean(-1)", _NONE):
        if per_sample.endswith(tail) and per_sample.count(_NONE) == 1:
            return per_sample[: -len(tail)] + ")"
    return f"{per_sample}.mean()" if per_sample.isidentifier() else f"({per_sample}).mean()"


def per_sample_loss(plan: ClassPlan, k: int, p: str, y: str) -> str | None:
    """compile()'s loss of output ``k`` per sample, over the predictions ``p`` (what the
    model returns, not its logits) and targets ``y``; None when it was not converted."""
    cfg = plan.compile
    loss = cfg.losses[k] if cfg is not None and k < len(cfg.losses) else None
    if loss is None:
        return None
    cast = ".long()" if loss.target == "long" else ".float()"
    return _fill(_for_rank(loss.template, _rank(plan.ir, k)), p, f"{y}{cast}")


def methods_code(plan: ClassPlan, cls: str, names: list[str]) -> tuple[list[str], str]:
    """(statements to append to __init__, methods source at class-body indentation)."""
    cfg = plan.compile
    out: list[str] = []
    init: list[str] = []
    if cfg is not None:
        init, body = _compiled(plan, cfg, cls, names)
        out.append(body)
    if plan.predict:
        out.append(_predict(plan.ir))
    return init, "\n".join(out)


def _stages(plan: ClassPlan) -> list[str]:
    return ["train"] + (["val"] if plan.validates else []) + (["test"] if plan.tests else [])


def _metrics_init(plan: ClassPlan, cfg: CompileConfig) -> list[str]:
    n_out = len(plan.ir.outputs)
    init: list[str] = []
    if not any(_objects(uses) for uses in cfg.metrics):
        return init
    init.append("# Keras compile(metrics=...): one collection per stage, under Keras's names")
    for k, all_uses in enumerate(cfg.metrics):
        uses = _objects(all_uses)
        if not uses:
            continue
        items = [f'"{u.name}": {_no_checks(u.spec.ctor.format(c=u.classes))}' for u in uses]
        mixed = len({(u.spec.preds, u.spec.target) for u in uses}) > 1
        extra = ", compute_groups=False" if mixed else ""
        var = "metrics" if n_out == 1 else f"metrics{k}"
        one_line = f"{var} = torchmetrics.MetricCollection({{{', '.join(items)}}}{extra})"
        if len(one_line) + 8 <= 100:
            init.append(one_line)
        else:
            init.append(f"{var} = torchmetrics.MetricCollection(")
            init.append("    {")
            init += [f"        {item}," for item in items]
            init.append(f"    }}{extra},")
            init.append(")")
        for stage in _stages(plan):
            prefix = {"train": "", "val": "val_", "test": "test_"}[stage]
            init.append(f'self.{_metric_attr(stage, k, n_out)} = {var}.clone(prefix="{prefix}")')
    return init


def _held_init(plan: ClassPlan) -> list[str]:
    if not plan.held:
        return []
    return [f"self.{attribute(k)} = {v}  # set by each compile(), read at each fit"
            for k, v in plan.held.items()]


def _objects(uses: list[MetricUse]) -> list[MetricUse]:
    """The metrics that need a torchmetrics object (the others are batch means)."""
    return [u for u in uses if u.spec.batch_mean is None]


def _no_checks(ctor: str) -> str:
    """torchmetrics validates every update's inputs (slow per step): the step's are ours."""
    if "task=" not in ctor:  # only the classification metrics take it
        return ctor
    return ctor[:-1] + ", validate_args=False)"


def _step_body(plan: ClassPlan, cfg: CompileConfig, cls: str, names: list[str],
               stage: str | None) -> list[str]:
    """The statements of one step; ``stage`` None: a shared step over a ``stage`` argument."""
    ir = plan.ir
    n_in, n_out = len(ir.inputs), len(ir.outputs)
    xs, ys, ps = [t.name for t in ir.inputs], _targets(n_out), _preds(n_out)
    lines: list[str] = []
    w = lines.append
    weights = "weights" if plan.weighted else ""
    # compile() without a loss, the add_loss terms alone: Keras reads no targets (fit may
    # pass none, or some it ignores)
    targetless = cfg.no_loss and plan.added_losses and not any(cfg.metrics)
    unpacked = ", ".join(xs + (["*_"] if targetless else ys)) + (
        f", *{weights}" if weights and not targetless else "")
    if n_in == 1 and n_out == 1 and not targetless:
        w(f"{xs[0]}, {ys[0]}" + (f", *{weights}" if weights else "") + " = batch")
    elif _flat_batches(plan):
        w(f"{unpacked} = batch")
    else:
        w(f"{unpacked} = {cls}.flat_batch(batch)")
    if plan.foreign or not plan.fitted:  # the data's dtypes are not known here
        for k, name in enumerate(xs):
            w(f"{name} = {name}{_cast(ir.inputs[k].dtype)}")
        for k, y in enumerate([] if targetless else ys):
            loss = cfg.losses[k]
            w(f"{y} = {y}{_cast('long' if loss is not None and loss.target == 'long' else '')}")
    acts = [plan.logits] if n_out == 1 else list(plan.heads or [None] * n_out)
    splits = [a is not None for a in acts]  # the loss reads output k's logits
    lgs = ["logits"] if n_out == 1 else [f"logits{k}" for k in range(n_out)]
    if any(splits):
        outs = [lg if sp else p for lg, sp, p in zip(lgs, splits, ps, strict=True)]
        w(f"{', '.join(outs)} = self.logits({', '.join(xs)})")
    else:
        w(f"{', '.join(ps)} = self({', '.join(xs)})")
    loss_vars = ["loss"] if n_out == 1 else [f"{y}_loss" for y in ys]
    # forward stored its output's Keras mask: the loss and mean metrics weigh steps by it
    masked = ir.masked_output and n_out == 1 and bool(cfg.losses) and cfg.losses[0] is not None
    if masked:
        w("assert self.output_mask is not None  # forward stored the mask Keras attaches")
        w("step_weight = self.output_mask.float()  # Keras's loss skips the masked steps")
    for k, loss in enumerate(cfg.losses):
        var = loss_vars[k]
        split = splits[k]
        if loss is not None and masked:  # Keras: sum over the unmasked steps / their count
            per_sample = _fill(_for_rank(loss.logits if split and loss.logits else loss.template,
                                         _rank(ir, k)), lgs[k] if split else ps[k], ys[k])
            w(f"{var} = {per_sample} * step_weight")
            if weights:
                w(f"if {weights}:  # Keras class_weight / sample_weight: one weight per sample")
                w(f"{IND}{var} = {var} * {weights}[0].reshape(-1, *[1] * ({var}.dim() - 1))")
            w(f"{var} = {var}.sum() / step_weight.sum().clamp(min=1)")
            continue
        if loss is None:
            out = lgs[k] if split else ps[k]  # read, so the output's variable is used
            w(f"{var} = torch.zeros((), device={out}.device)  " + (
                "# compile() without a loss: the add_loss terms are the loss"
                if cfg.no_loss and plan.added_losses else
                f"# TODO(k2l): loss for output {k} not converted"))
            continue
        p = lgs[k] if split else ps[k]
        template = loss.logits if split and loss.logits else loss.template
        per_sample = _fill(_for_rank(template, _rank(ir, k)), p, ys[k])
        if not weights:
            w(f"{var} = {_mean(per_sample)}")
            continue
        w(f"{var} = {per_sample}")
        w(f"if {weights}:  # Keras class_weight / sample_weight: one weight per sample")
        w(f"{IND}{var} = {var} * {weights}[0]" + ("" if _rank(ir, k) == 1 else
                                                ".reshape(-1, *[1] * ({var}.dim() - 1))"))
        w(f"{var} = {var}.mean()")
    if n_out > 1:
        wts = [loss.weight if loss is not None else "1.0" for loss in cfg.losses]
        w("loss = " + " + ".join(f"{wt} * {v}" if wt != "1.0" else v
                                 for wt, v in zip(wts, loss_vars, strict=True)))
    if ir.regularized:
        w("loss = loss + self.regularization_loss()  # Keras adds the regularizer terms")
    if plan.added_losses:
        w('added = [t for m in self.modules() for t in getattr(m, "added_losses", [])]')
        w("if added:  # Keras adds the terms its layers passed to add_loss in this call")
        w(f"{IND}loss = loss + torch.stack([t.sum() for t in added]).sum()")
    taken = {*xs, *ys, *ps, *lgs, *loss_vars, "loss", "batch", "stage", "weights", "means",
             "step_weight"}
    size = "batch_size" if "batch_size" not in taken else "n_samples"
    logged = [("loss", "loss")]
    by_steps: list[tuple[str, str]] = []
    if n_out > 1:
        logged += [(f"{name}_loss", loss_vars[k]) for k, name in enumerate(names)]
    for k, all_uses in enumerate(cfg.metrics):
        split, act = splits[k], acts[k] or ""
        for u in all_uses:
            if u.spec.batch_mean is None:
                continue
            template = u.spec.batch_mean
            if split and (u.spec.needs_classes or template in _ON_LOGITS):
                template, p = _ON_LOGITS.get(template, template), lgs[k]
            else:
                p = act.replace("{x}", lgs[k]) if split else ps[k]
            var = identifier(u.name)
            if var in taken | {size} or f"{var}(" in template:  # a metric function's own name
                var += "_value"
            value = _fill(_for_rank(template, _rank(ir, k)), p, ys[k])
            if masked and value.endswith(".mean()"):  # Keras weighs each step by the mask
                w(f"{var} = ({value[:-len('.mean()')]} * step_weight).sum() / "
                  "step_weight.sum().clamp(min=1)")
                by_steps.append((u.name, var))
                continue
            w(f"{var} = {value}")
            logged.append((u.name, var))
    w(f"{size} = len({xs[0]})  # Keras's epoch means count each sample once")
    if stage is None:
        w("means = {" + ", ".join(f'"{s}": self.{epoch_means.attr(s)}' for s in _stages(plan))
          + "}[stage]")
        means = "means"
    else:
        means = f"self.{epoch_means.attr(stage)}"
    w(epoch_means.add(means, logged, size))
    if by_steps:  # a masked metric's epoch mean counts the unmasked steps, as Keras's does
        w(epoch_means.add(means, by_steps, "int(step_weight.sum())"))
    for k, all_uses in enumerate(cfg.metrics):
        split, act = splits[k], acts[k] or ""
        uses = _objects(all_uses)
        if not uses:
            continue
        pred = ps[k]
        on_logits = split and all(u.spec.needs_classes or u.spec.preds in _ON_LOGITS
                                  for u in uses)
        if split:  # argmax and 0.5 thresholds read the logits directly
            pred = lgs[k] if on_logits else act.replace("{x}", lgs[k])
        groups: dict[tuple[str, str], list[str]] = {}
        for u in uses:
            groups.setdefault((u.spec.preds, u.spec.target), []).append(u.name)
        if stage is None:
            attrs = {s: _metric_attr(s, k, n_out) for s in _stages(plan)}
            w(f"metrics = {{{', '.join(f'{s!r}: self.{a}' for s, a in attrs.items())}}}"
              "[stage]".replace("'", '"'))
            target = "metrics"
        else:
            target = f"self.{_metric_attr(stage, k, n_out)}"
        for (preds, tgt), metric_names in groups.items():
            preds = _ON_LOGITS.get(preds, preds) if on_logits else preds
            pc = _fill(_for_rank(preds, _rank(ir, k)), pred, ys[k])
            # a target template reads {p} for its shape, except a Metric subclass's: y_pred
            yc = _fill(_for_rank(tgt, _rank(ir, k)), pred if tgt == "{p}" or not split
                       else lgs[k], ys[k])
            if len(groups) == 1:
                w(f"{target}.update({pc}, {yc})")
            else:
                keys = ", ".join(f'"{n}"' for n in metric_names)
                w(f"for key in ({keys},):")
                w(f"{IND}{target}[key].update({pc}, {yc})")
    w("return loss")
    return lines


def _logged(cfg: CompileConfig, names: list[str]) -> list[str]:
    """The keys the step averages over each epoch (without the stage prefix), Keras's."""
    keys = ["loss"]
    if len(cfg.losses) > 1:
        keys += [f"{name}_loss" for name in names]
    keys += [u.name for uses in cfg.metrics for u in uses if u.spec.batch_mean is not None]
    return keys


def _flat_batches(plan: ClassPlan) -> bool:
    """Every loader of the class is a ``TensorDataset`` the rules wrote (inputs, targets,
    weights in order): the step unpacks its batch as it is, no ``flat_batch`` helper."""
    return plan.fitted and not plan.foreign


def _cast(dtype: str) -> str:
    return ".long()" if dtype == "long" else ".float()"


def _compiled(plan: ClassPlan, cfg: CompileConfig, cls: str, names: list[str]
              ) -> tuple[list[str], str]:
    ir = plan.ir
    n_in, n_out = len(ir.inputs), len(ir.outputs)
    stages = _stages(plan)
    init = _held_init(plan) + _metrics_init(plan, cfg) + epoch_means.init_lines(
        _logged(cfg, names), stages)
    src: list[str] = []
    w = src.append
    if plan.logits is not None or plan.heads:
        w(_forward_from_logits(plan))
    batch = "batch: list[torch.Tensor]"
    hooks = {"train": "training_step", "val": "validation_step", "test": "test_step"}
    labels = ", ".join(loss.label for loss in cfg.losses if loss is not None) or (
        "its layers' add_loss terms" if cfg.no_loss and plan.added_losses else "none")
    labels = f" ({labels})" if len(labels) <= 30 else ""
    if len(stages) == 1:
        w(f"def training_step(self, {batch}, batch_idx: int) -> torch.Tensor:")
        w(f'{IND}"""The Keras loss{labels} and metrics of one batch."""')
        src.extend(IND + line for line in _step_body(plan, cfg, cls, names, "train"))
        w("")
    else:
        w(f"def _step(self, {batch}, stage: str) -> torch.Tensor:")
        w(f'{IND}"""The Keras loss{labels} and metrics of one batch in ``stage``."""')
        src.extend(IND + line for line in _step_body(plan, cfg, cls, names, None))
        w("")
        for stage in stages:
            w(f"def {hooks[stage]}(self, {batch}, batch_idx: int) -> torch.Tensor:")
            w(f'{IND}return self._step(batch, "{stage}")')
            w("")
    objects = [_metric_attr("{stage}", k, n_out) for k, uses in enumerate(cfg.metrics)
               if _objects(uses)]
    src.extend(epoch_means.hooks(stages, objects))
    if (n_in > 1 or n_out > 1) and not _flat_batches(plan):
        w("@staticmethod")
        w("def flat_batch(batch: object) -> list[torch.Tensor]:")
        w(f'{IND}"""Inputs and targets in order, from nested (x, y), dicts or flat '
          'TensorDataset batches."""')
        keys = [t.keras_name or t.name for t in plan.ir.inputs] + list(names)
        if len(set(keys)) == len(keys) and any(t.keras_name for t in plan.ir.inputs):
            w(f"{IND}if isinstance(batch, dict):  # Keras reads a dict by the inputs'/outputs' "
              "names")
            w(f"{IND * 2}keys = ({', '.join(json.dumps(k) for k in keys)})")
            w(f"{IND * 2}batch = [batch[key] for key in keys if key in batch]")
        w(f"{IND}if isinstance(batch, (list, tuple)):")
        w(f"{IND * 2}return [t for item in batch for t in {cls}.flat_batch(item)]")
        w(f"{IND}assert isinstance(batch, torch.Tensor)")
        w(f"{IND}return [batch]")
        w("")
    w(_optimizers(plan, cfg))
    if cfg.clipping:
        w("def configure_gradient_clipping(")
        w(f"{IND}self,")
        w(f"{IND}optimizer: torch.optim.Optimizer,")
        w(f"{IND}gradient_clip_val: int | float | None = None,")
        w(f"{IND}gradient_clip_algorithm: str | None = None,")
        w(") -> None:")
        w(f'{IND}"""Keras optimizer clipnorm/clipvalue (clipnorm clips each gradient on '
          'its own)."""')
        for stmt in cfg.clipping:
            for line in stmt.splitlines():
                w(IND + line)
        w("")
    return init, "\n".join(src)


def _forward_from_logits(plan: ClassPlan) -> str:
    """``forward`` = activation(logits): the loss reads the logits, as TF-Keras does."""
    ir = plan.ir
    args = ", ".join(f"{t.name}: torch.Tensor" for t in ir.inputs)
    call = f"self.logits({', '.join(t.name for t in ir.inputs)})"
    if plan.logits is not None:
        return "\n".join([f"def forward(self, {args}) -> torch.Tensor:",
                          f"{IND}return {plan.logits.replace('{x}', call)}", ""])
    names = [t.name for t in ir.outputs]
    outs = [act.replace("{x}", n) if act else n for act, n in zip(plan.heads, names, strict=True)]
    ret = "tuple[" + ", ".join("torch.Tensor" for _ in names) + "]"
    return "\n".join([f"def forward(self, {args}) -> {ret}:",
                      f"{IND}{', '.join(names)} = {call}",
                      f"{IND}return {', '.join(outs)}", ""])


def _metric_attr(stage: str, k: int, n_out: int) -> str:
    return f"{stage}_metrics" if n_out == 1 else f"{stage}_metrics{k}"


def _optimizers(plan: ClassPlan, cfg: CompileConfig) -> str:
    lines = ["def configure_optimizers(self) -> pl.utilities.types.OptimizerLRScheduler:",
             f'{IND}"""Keras optimizer {cfg.optimizer_label} with Keras\'s defaults written '
             'out."""']
    if cfg.by_name is not None:  # Keras's optimizers by the names its get() reads
        lines.append(f"{IND}optimizers = {{")
        lines += [f'{IND * 2}"{name}": lambda: {ctor},' for name, ctor in cfg.by_name[1].items()]
        lines.append(f"{IND}}}")
    lines.append(f"{IND}optimizer = {cfg.optimizer}")
    if cfg.schedule is not None:
        lines.append(f"{IND}# {cfg.schedule_note}, stepped per batch")
        lines.append(f"{IND}scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: "
                     f"{cfg.schedule})")
        lines.append(f'{IND}return {{"optimizer": optimizer, "lr_scheduler": {{"scheduler": '
                     'scheduler, "interval": "step"}}')
    elif plan.plateau is not None:
        sched = plan.plateau.replace("{optimizer}", "optimizer")
        lines.append(f"{IND}scheduler = {sched}")
        lines.append(f'{IND}return {{"optimizer": optimizer, "lr_scheduler": {{"scheduler": '
                     f'scheduler, "monitor": {plan.plateau_monitor}}}}}')
    else:
        lines.append(f"{IND}return optimizer")
    return "\n".join(lines) + "\n"


def _predict(ir: ModelIR) -> str:
    """``predict_step`` for ``trainer.predict``; outputs go to the CPU because Keras's predict
    returns host arrays and Lightning keeps every batch until the loop ends."""
    batch = "batch: list[torch.Tensor]"
    if ir.output_keys is not None:  # outputs=dict: Keras's predict returns a dict of arrays
        head = (f"def predict_step(self, {batch}, batch_idx: int) "
                "-> dict[str, torch.Tensor]:")
        ret = "{k: t.cpu() for k, t in self(*batch).items()}"
    elif len(ir.outputs) == 1:
        head = f"def predict_step(self, {batch}, batch_idx: int) -> torch.Tensor:"
        ret = "self(*batch).cpu()"
    else:
        head = f"def predict_step(self, {batch}, batch_idx: int) -> tuple[torch.Tensor, ...]:"
        ret = "tuple(t.cpu() for t in self(*batch))"
    return "\n".join([head, f'{IND}"""Keras predict(): the outputs of one batch, on the CPU."""',
                      f"{IND}return {ret}"]) + "\n"


@dataclass(frozen=True)
class Splice:
    """What one class gets: lines appended to ``__init__``, methods, new constructor params."""

    init: list[str]
    methods: str
    new_params: list[tuple[str, str | None]]
    logits: bool = False  # rename forward to logits first (the methods bring a new forward)
    heads: tuple[str | None, ...] = ()  # multi-output: the activation each output loses


def splice(module: cst.Module, cls: str, init: list[str], methods: str,
           new_params: list[tuple[str, str | None]]) -> cst.Module:
    """Append ``init`` lines to ``cls.__init__`` and ``methods`` to the class body."""
    return splice_all(module, {cls: Splice(init, methods, new_params)})


def splice_all(module: cst.Module, edits: dict[str, Splice]) -> cst.Module:
    """Every class's :class:`Splice` in one pass: top-level classes (where the model rules
    put theirs) directly, a full visit only for the rest. One visit per class would make a
    file with many models quadratic."""
    edits = {cls: e for cls, e in edits.items()
             if e.init or e.methods.strip() or e.new_params or e.logits or e.heads}
    if not edits:
        return module
    body = list(module.body)
    for k, stmt in enumerate(body):
        if isinstance(stmt, cst.ClassDef) and stmt.name.value in edits:
            body[k] = _splice_class(stmt, edits.pop(stmt.name.value))
    module = module.with_changes(body=body)
    if not edits:
        return module

    class Splicer(cst.CSTTransformer):
        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            edit = edits.get(updated.name.value)
            return updated if edit is None else _splice_class(updated, edit)

    return module.visit(Splicer())


def _splice_class(cls: cst.ClassDef, edit: Splice) -> cst.ClassDef:
    if not isinstance(cls.body, cst.IndentedBlock):
        return cls
    if edit.heads:
        cls = split_heads(cls, edit.heads)
    elif edit.logits:
        cls = split_forward(cls)
    block = cls.body
    assert isinstance(block, cst.IndentedBlock)
    body: list[cst.BaseStatement] = list(block.body)
    for k, stmt in enumerate(body):
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
            body[k] = _extend_init(stmt, edit.init, edit.new_params)
    parsed = cst.parse_module(edit.methods) if edit.methods.strip() else cst.Module([])
    extra = [s.with_changes(leading_lines=[
        cst.EmptyLine(indent=False), *[ln for ln in s.leading_lines if ln.comment]])
        for s in parsed.body]
    return cls.with_changes(body=block.with_changes(body=body + extra))


def _extend_init(fn: cst.FunctionDef, init: list[str],
                 new_params: list[tuple[str, str | None]]) -> cst.FunctionDef:
    assert isinstance(fn.body, cst.IndentedBlock)
    stmts = list(fn.body.body)
    if new_params:
        params = list(fn.params.params)
        for name, default in new_params:
            params.append(_param(name, default))
        kwonly = list(fn.params.kwonly_params)
        star = fn.params.star_arg
        for k, p in enumerate(params):  # a required one after defaults becomes keyword-only
            if k and p.default is None and any(q.default is not None for q in params[:k]):
                kwonly = [*params[k:], *kwonly]
                params = params[:k]
                star = cst.ParamStar() if isinstance(star, cst.MaybeSentinel) else star
                break
        fn = fn.with_changes(params=fn.params.with_changes(params=params, kwonly_params=kwonly,
                                                           star_arg=star))
        has_save = any("save_hyperparameters" in code_of(stmt) for stmt in stmts)
        if not has_save:
            stmts.insert(1, cst.parse_statement("self.save_hyperparameters()\n"))
    if init:
        stmts += list(cst.parse_module("\n".join(init) + "\n").body)
    return fn.with_changes(body=fn.body.with_changes(body=stmts))


def _param(name: str, default: str | None) -> cst.Param:
    """``name: float = 0.01`` (the annotation read off a literal default)."""
    annotation = None
    if default is not None:
        try:
            kind = type(ast.literal_eval(default)).__name__
        except (ValueError, SyntaxError):
            kind = ""
        if kind in ("int", "float", "str", "bool"):
            annotation = cst.Annotation(cst.Name(kind))
    tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(" "),
                            whitespace_after=cst.SimpleWhitespace(" "))
    if default is None:
        return cst.Param(cst.Name(name), annotation=annotation)
    if annotation is None:
        tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                whitespace_after=cst.SimpleWhitespace(""))
    return cst.Param(cst.Name(name), annotation=annotation, equal=tight,
                     default=cst.parse_expression(default))
