"""Generated LightningModule methods for a compiled model, spliced into its class with libcst.

The converted class already has ``__init__`` and ``forward``; compile() adds the loss
(``compute_loss``), the steps, metrics as torchmetrics objects with Keras's names and
``configure_optimizers``. Batches may be flat (``TensorDataset``: inputs then targets, then
optional sample weights) or nested (a ``Sequence``'s ``(x, y)``); both unpack the same way.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.models.graph import ModelIR
from agent.rules.training.compile import CompileConfig
from agent.rules.values import code_of

IND = "    "


@dataclass
class ClassPlan:
    """Everything training code asks of one generated class."""

    ir: ModelIR
    compile: CompileConfig | None = None
    plateau: str | None = None  # ReduceLROnPlateau ctor code with {optimizer}
    plateau_monitor: str = '"val_loss"'
    predict: bool = False
    new_params: list[tuple[str, str | None]] = field(default_factory=list)  # (name, default)


def _input_cast(ir: ModelIR, k: int) -> str:
    return ".long()" if ir.inputs[k].dtype == "long" else ".float()"


def _unpack(plan: ClassPlan, cls: str) -> list[str]:
    ir, cfg = plan.ir, plan.compile
    assert cfg is not None
    n_in, n_out = len(ir.inputs), len(ir.outputs)
    lines: list[str] = []
    if n_in == 1 and n_out == 1:
        lines.append("tensors = list(batch)")
    else:
        lines.append(f"tensors = {cls}.flat_batch(batch)")
    names = [t.name for t in ir.inputs]
    for k, name in enumerate(names):
        lines.append(f"{name} = tensors[{k}]{_input_cast(ir, k)}")
    ys = _targets(n_out)
    for k, y in enumerate(ys):
        loss = cfg.losses[k]
        cast = ".long()" if loss is not None and loss.target == "long" else ".float()"
        lines.append(f"{y} = tensors[{n_in + k}]{cast}")
    outs = _preds(n_out)
    lines.append(f"{', '.join(outs)} = self({', '.join(names)})"
                 if n_out > 1 else f"{outs[0]} = self({', '.join(names)})")
    return lines


def _targets(n: int) -> list[str]:
    return ["y"] if n == 1 else [f"y{k}" for k in range(n)]


def _preds(n: int) -> list[str]:
    return ["y_hat"] if n == 1 else [f"y_hat{k}" for k in range(n)]


def _fill(template: str, p: str, y: str) -> str:
    return template.replace("{p}", p).replace("{y}", y)


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


def _compiled(plan: ClassPlan, cfg: CompileConfig, cls: str, names: list[str]
              ) -> tuple[list[str], str]:
    ir = plan.ir
    n_in, n_out = len(ir.inputs), len(ir.outputs)
    init: list[str] = []
    has_metrics = any(cfg.metrics)
    if has_metrics:
        init.append("# Keras compile(metrics=...): one collection per stage, Keras's names")
        for k, uses in enumerate(cfg.metrics):
            if not uses:
                continue
            items = ", ".join(f'"{u.name}": {u.spec.ctor.format(c=u.classes)}' for u in uses)
            var = "metrics" if n_out == 1 else f"metrics{k}"
            mixed = len({(u.spec.preds, u.spec.target) for u in uses}) > 1
            extra = ", compute_groups=False" if mixed else ""
            init.append(f"{var} = torchmetrics.MetricCollection({{{items}}}{extra})")
            for stage, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
                attr = _metric_attr(stage, k, n_out)
                init.append(f"self.{attr} = {var}.clone(prefix=\"{prefix}\")")
    src: list[str] = []
    w = src.append
    # compute_loss
    ys, ps = _targets(n_out), _preds(n_out)
    sig = ", ".join(f"{p}: torch.Tensor" for p in ps) + ", " + ", ".join(
        f"{y}: torch.Tensor" for y in ys)
    w(f"def compute_loss(self, {sig}) -> list[torch.Tensor]:")
    labels = ", ".join(loss.label for loss in cfg.losses if loss is not None) or "none"
    w(f'{IND}"""Keras compile(loss={labels}): per-sample losses, one per output."""')
    terms = []
    for k, loss in enumerate(cfg.losses):
        if loss is None:
            terms.append(f"torch.zeros(len({ps[k]}), device=self.device)  # TODO(k2l): loss "
                         f"for output {k} not converted")
        else:
            terms.append(_fill(loss.template, ps[k], ys[k]))
    w(f"{IND}return [")
    for t in terms:
        w(f"{IND * 2}{t},")
    w(f"{IND}]")
    w("")
    # shared step
    w("def shared_step(self, batch: list[torch.Tensor], stage: str) -> torch.Tensor:")
    w(f'{IND}"""One Keras train/test step: weighted sum of output losses, then metrics."""')
    for line in _unpack(plan, cls):
        w(IND + line)
    w(f"{IND}per_sample = self.compute_loss({', '.join(ps)}, {', '.join(ys)})")
    w(f"{IND}if len(tensors) > {n_in + n_out}:  # sample weights (Keras class_weight)")
    w(f"{IND * 2}per_sample = [s * tensors[{n_in + n_out}].reshape(-1, *[1] * (s.dim() - 1)) "
      "for s in per_sample]")
    weights = [loss.weight if loss is not None else "0.0" for loss in cfg.losses]
    if n_out == 1:
        w(f"{IND}loss = per_sample[0].mean()")
    else:
        total = " + ".join(f"{wt} * per_sample[{k}].mean()" if wt != "1.0"
                           else f"per_sample[{k}].mean()" for k, wt in enumerate(weights))
        w(f"{IND}loss = {total}")
    if ir.regularized:
        w(f"{IND}loss = loss + self.regularization_loss()  # Keras adds regularizer terms")
    w(f'{IND}prefix = "" if stage == "train" else stage + "_"')
    w(f"{IND}batch_size = len({ir.inputs[0].name})")
    w(f'{IND}self.log(prefix + "loss", loss, on_step=False, on_epoch=True, prog_bar=True, '
      "batch_size=batch_size)")
    if n_out > 1:
        out_names = names
        for k, name in enumerate(out_names):
            w(f'{IND}self.log(prefix + "{name}_loss", per_sample[{k}].mean(), on_step=False, '
              "on_epoch=True, batch_size=batch_size)")
    for k, uses in enumerate(cfg.metrics):
        if not uses:
            continue
        groups: dict[tuple[str, str], list[str]] = {}
        for u in uses:
            groups.setdefault((u.spec.preds, u.spec.target), []).append(u.name)
        attrs = {s: _metric_attr(s, k, n_out) for s in ("train", "val", "test")}
        w(f"{IND}metrics = {{\"train\": self.{attrs['train']}, \"val\": self.{attrs['val']}, "
          f"\"test\": self.{attrs['test']}}}[stage]")
        for (preds, target), metric_names in groups.items():
            p, y = _fill(preds, ps[k], ys[k]), _fill(target, ps[k], ys[k])
            keys = ", ".join(f'"{prefix_free}"' for prefix_free in metric_names)
            if len(groups) == 1:
                w(f"{IND}metrics.update({p}, {y})")
            else:
                w(f"{IND}for key in ({keys},):")
                w(f"{IND * 2}metrics[key].update({p}, {y})")
        w(f"{IND}self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=True, "
          "batch_size=batch_size)")
    w(f"{IND}return loss")
    w("")
    for stage, hook in (("train", "training_step"), ("val", "validation_step"),
                        ("test", "test_step")):
        w(f"def {hook}(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:")
        w(f'{IND}return self.shared_step(batch, "{stage}")')
        w("")
    if n_in > 1 or n_out > 1:
        w("@staticmethod")
        w("def flat_batch(batch: object) -> list[torch.Tensor]:")
        w(f'{IND}"""Keras batches nest inputs/targets in lists; a TensorDataset\'s are flat."""')
        w(f"{IND}if isinstance(batch, (list, tuple)):")
        w(f"{IND * 2}return [t for item in batch for t in {cls}.flat_batch(item)]")
        w(f"{IND}assert isinstance(batch, torch.Tensor)")
        w(f"{IND}return [batch]")
        w("")
    w(_optimizers(plan, cfg))
    if cfg.clipping:
        w("def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, "
          "gradient_clip_val: int | float | None = None, "
          "gradient_clip_algorithm: str | None = None) -> None:")
        w(f'{IND}"""Keras optimizer clipnorm/clipvalue (clipnorm clips each gradient on '
          'its own)."""')
        for stmt in cfg.clipping:
            for line in stmt.splitlines():
                w(IND + line)
        w("")
    return init, "\n".join(src)


def _metric_attr(stage: str, k: int, n_out: int) -> str:
    return f"{stage}_metrics" if n_out == 1 else f"{stage}_metrics{k}"


def _optimizers(plan: ClassPlan, cfg: CompileConfig) -> str:
    lines = ["def configure_optimizers(self) -> pl.utilities.types.OptimizerLRScheduler:",
             f'{IND}"""Keras optimizer {cfg.optimizer_label} with Keras\'s defaults written '
             'out."""',
             f"{IND}optimizer = {cfg.optimizer}"]
    if cfg.schedule is not None:
        lines.append(f"{IND}# Keras LearningRateSchedule: lr(step) = initial lr * factor(step), "
                     "stepped per batch")
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
    names = [t.name for t in ir.inputs]
    params = ", ".join(f"{n}: object" for n in names)
    tensors = ", ".join(
        f"torch.as_tensor(np.asarray({n}), dtype=torch.{'long' if t.dtype == 'long' else 'float32'})"
        for n, t in zip(names, ir.inputs, strict=True))
    n_out = len(ir.outputs)
    ret = "np.ndarray" if n_out == 1 else "list[np.ndarray]"
    lines = [f"def predict_numpy(self, {params}, batch_size: int = 32) -> {ret}:",
             f'{IND}"""Keras predict(): batched inference in eval mode, NumPy out."""',
             f"{IND}loader = DataLoader(TensorDataset({tensors}), batch_size=batch_size)",
             f"{IND}self.eval()",
             f"{IND}outputs = []",
             f"{IND}with torch.no_grad():",
             f"{IND * 2}for batch in loader:",
             f"{IND * 3}outputs.append(self(*(t.to(self.device) for t in batch)))"]
    if n_out == 1:
        lines.append(f"{IND}return torch.cat(outputs).cpu().numpy()")
    else:
        lines.append(f"{IND}return [torch.cat(list(o)).cpu().numpy() for o in zip(*outputs)]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Splice:
    """What one class gets: lines appended to ``__init__``, methods, new constructor params."""

    init: list[str]
    methods: str
    new_params: list[tuple[str, str | None]]


def splice(module: cst.Module, cls: str, init: list[str], methods: str,
           new_params: list[tuple[str, str | None]]) -> cst.Module:
    """Append ``init`` lines to ``cls.__init__`` and ``methods`` to the class body."""
    return splice_all(module, {cls: Splice(init, methods, new_params)})


def splice_all(module: cst.Module, edits: dict[str, Splice]) -> cst.Module:
    """Every class's :class:`Splice` in one pass: top-level classes (where the model rules
    put theirs) directly, a full visit only for the rest. One visit per class would make a
    file with many models quadratic."""
    edits = {cls: e for cls, e in edits.items()
             if e.init or e.methods.strip() or e.new_params}
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
    body: list[cst.BaseStatement] = list(cls.body.body)
    for k, stmt in enumerate(body):
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__":
            body[k] = _extend_init(stmt, edit.init, edit.new_params)
    parsed = cst.parse_module(edit.methods) if edit.methods.strip() else cst.Module([])
    extra = [s.with_changes(leading_lines=[
        cst.EmptyLine(indent=False), *[ln for ln in s.leading_lines if ln.comment]])
        for s in parsed.body]
    return cls.with_changes(body=cls.body.with_changes(body=body + extra))


def _extend_init(fn: cst.FunctionDef, init: list[str],
                 new_params: list[tuple[str, str | None]]) -> cst.FunctionDef:
    assert isinstance(fn.body, cst.IndentedBlock)
    stmts = list(fn.body.body)
    if new_params:
        params = list(fn.params.params)
        for name, default in new_params:
            params.append(_param(name, default))
        params.sort(key=lambda p: p.default is not None and p.name.value != "self")
        fn = fn.with_changes(params=fn.params.with_changes(params=params))
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
