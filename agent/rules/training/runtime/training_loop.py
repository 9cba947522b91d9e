"""Keras's eager training API on torch autograd, copied into converted scripts that wrote
their own loops (``GradientTape``, ``apply_gradients``, metric and loss objects).

torch records gradients without a tape, so ``with tf.GradientTape() as tape:`` goes and
``tape.gradient(target, sources)`` becomes ``tape_gradient``: the gradient of the *sum* of
the target (TF's rule for non-scalar targets), ``None`` for unconnected sources, the graph
kept (a persistent tape can be asked twice). A Keras optimizer exists before its variables;
``KerasOptimizer`` builds the torch optimizer (Keras's defaults written out by the
converter) on the first ``apply_gradients``, over the variables it is given.
"""

from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch


def trainable_weights(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """``model.trainable_weights``: the parameters that get gradients."""
    return [p for p in module.parameters() if p.requires_grad]


def tape_gradient(target: Any, sources: Any, output_gradients: Any = None,
                  unconnected_gradients: Any = None, create_graph: bool = False) -> Any:
    """``tape.gradient``: d(sum target)/d(source) for each source, the nesting kept;
    ``create_graph`` when an outer tape records the gradient itself (a gradient penalty);
    an unconnected source gives None, or zeros with ``unconnected_gradients="zero"``."""
    if isinstance(sources, dict):
        grads = tape_gradient(target, list(sources.values()), output_gradients,
                              unconnected_gradients, create_graph)
        return dict(zip(sources, grads, strict=True))
    single = isinstance(sources, torch.Tensor)
    flat = [sources] if single else list(sources)
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    total = sum((t * output_gradients).sum() if output_gradients is not None else t.sum()
                for t in targets)
    # a target no source reaches (a constant) records nothing: every gradient is None
    connected = isinstance(total, torch.Tensor) and total.requires_grad
    wanted = [s for s in flat if s.requires_grad and connected]
    found = iter(torch.autograd.grad(total, wanted, retain_graph=True, allow_unused=True,
                                     create_graph=create_graph) if wanted else [])
    grads = [next(found) if s.requires_grad and connected else None for s in flat]
    if str(unconnected_gradients).lower() == "zero":
        grads = [torch.zeros_like(s) if g is None else g for g, s in zip(grads, flat, strict=True)]
    return grads[0] if single else grads


def tape_watch(tensor: Any) -> Any:
    """``x = tape_watch(x)`` (``tape.watch(x)``): ``x`` as a tensor that records gradients.
    One that records already is returned as is; any other becomes a new leaf over the same
    storage, so the caller's tensor keeps ``requires_grad=False`` (TF's watch leaves the
    watched tensor a constant outside the tape). Lists and tuples watch each element."""
    if isinstance(tensor, (list, tuple)):
        return type(tensor)(tape_watch(t) for t in tensor)
    if not isinstance(tensor, torch.Tensor):  # TF had made it a tensor by then
        tensor = torch.as_tensor(tensor)
    if tensor.requires_grad:
        return tensor
    return tensor.detach().requires_grad_(True)


def tape_variable(initial_value: Any, trainable: bool = True, name: str | None = None,
                  dtype: Any = None) -> torch.Tensor:
    """``tf.Variable(value)``: a leaf tensor of its own (a copy: TF copies the value) that
    records gradients when trainable, as TF's tape watches trainable variables. Python
    floats give float32 and NumPy arrays keep their dtype, in both."""
    value = torch.as_tensor(initial_value, dtype=dtype).detach().clone()
    return value.requires_grad_(trainable and value.is_floating_point())


def variable_assign(variable: torch.Tensor, value: Any) -> torch.Tensor:
    """``v.assign(value)``: the variable's values replaced in place, unrecorded."""
    with torch.no_grad():
        variable.copy_(torch.as_tensor(value, dtype=variable.dtype, device=variable.device))
    return variable


def variable_assign_add(variable: torch.Tensor, delta: Any) -> torch.Tensor:
    """``v.assign_add(delta)``: in place, unrecorded."""
    with torch.no_grad():
        variable.add_(torch.as_tensor(delta, dtype=variable.dtype, device=variable.device))
    return variable


def variable_assign_sub(variable: torch.Tensor, delta: Any) -> torch.Tensor:
    """``v.assign_sub(delta)``: in place, unrecorded."""
    with torch.no_grad():
        variable.sub_(torch.as_tensor(delta, dtype=variable.dtype, device=variable.device))
    return variable


def module_variables(module: torch.nn.Module) -> list[torch.Tensor]:
    """``model.variables`` / ``model.weights``: every parameter, then the floating-point
    buffers (Keras counts BatchNormalization's moving statistics as weights too)."""
    return [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]


def _clipped(grads: list[torch.Tensor], clipnorm: float | None, clipvalue: float | None,
             global_clipnorm: float | None) -> list[torch.Tensor]:
    """Keras's gradient clipping: ``g * c / max(||g||, c)`` per gradient (clipnorm) or over
    all of them (global_clipnorm), then ``clip(g, -c, c)`` (clipvalue)."""
    if clipnorm is not None:
        grads = [g * clipnorm / torch.clamp(g.norm(), min=clipnorm) for g in grads]
    if global_clipnorm is not None and grads:
        total = torch.sqrt(torch.stack([(g * g).sum() for g in grads]).sum())
        grads = [g * global_clipnorm / torch.clamp(total, min=global_clipnorm) for g in grads]
    if clipvalue is not None:
        grads = [g.clamp(-clipvalue, clipvalue) for g in grads]
    return grads


class KerasOptimizer:
    """A Keras optimizer: ``apply_gradients(zip(grads, vars))`` and ``minimize``. ``lr``
    may be a schedule (a callable of the step count, as Keras's ``learning_rate``): the
    torch learning rate is set to ``lr(iterations)`` before each step, as Keras reads it
    (the step an int64 tensor, as Keras's ``iterations``);
    ``clipnorm``/``clipvalue``/``global_clipnorm`` clip the gradients first."""

    def __init__(self, optimizer_class: type[torch.optim.Optimizer],
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, **kwargs: Any) -> None:
        self.optimizer_class = optimizer_class
        self.schedule: Callable[[Any], Any] | None = None
        if callable(kwargs.get("lr")):
            self.schedule = kwargs["lr"]
            kwargs["lr"] = float(self.schedule(torch.tensor(0)))
        self.clipping = (clipnorm, clipvalue, global_clipnorm)
        self.kwargs = kwargs
        self.optimizer: torch.optim.Optimizer | None = None
        self.iterations = 0

    @classmethod
    def wrap(cls, optimizer: Any) -> "KerasOptimizer":
        """An existing torch (or Lightning) optimizer, e.g. ``self.optimizers()``."""
        out = cls(type(optimizer))
        out.optimizer = optimizer
        return out

    def build(self, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
        """The torch optimizer over ``params`` (a LightningModule's configure_optimizers
        returns it, so Lightning owns its state); later apply_gradients step it."""
        if self.optimizer is None:
            self.optimizer = self.optimizer_class(list(params), **self.kwargs)
        return self.optimizer

    @property
    def learning_rate(self) -> float:
        if self.schedule is not None:
            return float(self.schedule(torch.tensor(self.iterations)))
        if self.optimizer is None:
            return float(self.kwargs["lr"])
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.schedule = None
        self.kwargs["lr"] = float(value)
        for group in self.optimizer.param_groups if self.optimizer is not None else []:
            group["lr"] = float(value)

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, torch.Tensor]]) -> None:
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        params = [v for _, v in pairs]
        if self.optimizer is None:
            self.optimizer = self.optimizer_class(params, **self.kwargs)
        else:
            known = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
            new = [p for p in params if id(p) not in known]
            if new:
                self.optimizer.add_param_group({"params": new})
        grads = _clipped([g.detach() for g, _ in pairs], *self.clipping)
        for g, v in zip(grads, params, strict=True):
            v.grad = g
        if self.schedule is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = float(self.schedule(torch.tensor(self.iterations)))
        self.optimizer.step()
        for _, v in pairs:
            v.grad = None
        self.iterations += 1

    def minimize(self, loss: Any, var_list: Any, tape: Any = None) -> None:
        if callable(loss):
            loss = loss()
        variables = list(var_list() if callable(var_list) else var_list)
        self.apply_gradients(zip(tape_gradient(loss, variables), variables, strict=True))


class KerasLoss:
    """A Keras loss object: per-sample losses, optionally weighted per sample, reduced as
    Keras's ``reduction`` says: ``"sum_over_batch_size"`` (the default: the sum over every
    element divided by their number), ``"sum"``, ``"none"`` (the weighted per-sample values),
    ``"mean_with_sample_weight"`` (the sum divided by the weights' sum)."""

    def __init__(self, per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 reduction: str = "sum_over_batch_size") -> None:
        self.per_sample = per_sample
        self.reduction = reduction

    def __call__(self, y_true: Any, y_pred: torch.Tensor, sample_weight: Any = None
                 ) -> torch.Tensor:
        values = self.per_sample(torch.as_tensor(y_true, device=y_pred.device), y_pred)
        weight = None
        if sample_weight is not None:
            weight = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
            values = values * weight.reshape(weight.shape + (1,) * (values.dim() - weight.dim()))
        if self.reduction == "none" or values.dim() == 0:
            return values
        if self.reduction == "sum":
            return values.sum()
        if self.reduction == "mean_with_sample_weight" and weight is not None:
            total = weight.sum()
            return values.sum() / total if bool(total != 0) else values.sum() * 0
        return values.mean()


class KerasMetric:
    """A Keras metric object: ``update_state``, ``result``, ``reset_state``, ``name``; a
    weighted mean of per-sample values (what Keras's Mean-based metrics compute)."""

    def __init__(self, per_sample: Callable[..., torch.Tensor] | None = None,
                 name: str = "mean", reduce_sum: bool = False) -> None:
        self.per_sample = per_sample
        self.name = name
        self.reduce_sum = reduce_sum
        self.reset_state()

    def reset_state(self) -> None:
        self.total = torch.zeros(())
        self.count = torch.zeros(())

    def update_state(self, *args: Any, sample_weight: Any = None) -> None:
        with torch.no_grad():
            tensors = [torch.as_tensor(a).detach() for a in args]
            values = (self.per_sample(*tensors) if self.per_sample is not None
                      else tensors[0]).float().cpu()
            weight = torch.ones_like(values) if sample_weight is None else torch.as_tensor(
                sample_weight, dtype=torch.float32).cpu().expand_as(values)
            self.total = self.total + (values * weight).sum()
            self.count = self.count + weight.sum()

    def result(self) -> torch.Tensor:
        if self.reduce_sum:
            return self.total
        return self.total / self.count if self.count > 0 else torch.zeros(())

    def __call__(self, *args: Any, sample_weight: Any = None) -> torch.Tensor:
        self.update_state(*args, sample_weight=sample_weight)
        return self.result()


class KerasCompiledMetrics:
    """``self.compiled_metrics`` of a model whose own ``compile`` passed ``metrics=`` on:
    the metric objects, updated together."""

    def __init__(self, metrics: Iterable[Any] | None) -> None:
        self.metrics = list(metrics or [])

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        for metric in self.metrics:
            metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()


class KerasHistory(pl.Callback):
    """``history = model.fit(...)``: ``history.history["loss"]`` etc., one value per epoch
    (the epoch-level values the converted steps log, under Keras's names)."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.epoch.append(trainer.current_epoch)
        for key, value in trainer.callback_metrics.items():
            if not key.startswith("test_"):
                self.history.setdefault(key, []).append(float(value))
