"""Keras optimizers whose update torch's built-in ones cannot express, copied into converted
scripts that use them.

Keras's RMSprop divides by ``sqrt(v + epsilon)``; torch's by ``sqrt(v) + eps``. With small
gradients (``v`` near ``epsilon``) the two steps differ by orders of magnitude, so the
converter writes ``KerasRMSprop`` (torch's keyword names, Keras's update) instead.
"""

from collections.abc import Iterable
from typing import Any

import torch


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras 3 computes it: ``v = alpha v + (1 - alpha) g^2`` (minus the squared
    gradient mean when centered), step ``lr g / sqrt(v + eps)``, plain momentum on the step."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, alpha: float = 0.9,
                 momentum: float = 0.0, eps: float = 1e-7, centered: bool = False) -> None:
        defaults = {"lr": lr, "alpha": alpha, "momentum": momentum, "eps": eps,
                    "centered": centered}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                    state["grad_avg"] = torch.zeros_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                square_avg = state["square_avg"]
                square_avg.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
                denominator = square_avg + group["eps"]
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg.mul_(group["alpha"]).add_(grad, alpha=1 - group["alpha"])
                    denominator = denominator - grad_avg * grad_avg
                increment = group["lr"] * grad / denominator.sqrt()
                if group["momentum"] > 0:
                    buffer = state["momentum_buffer"]
                    buffer.mul_(group["momentum"]).add_(increment)
                    p.sub_(buffer)
                else:
                    p.sub_(increment)
        return loss


class KerasSGD(torch.optim.Optimizer):
    """SGD with momentum as Keras computes it: the learning rate inside the velocity,
    ``v = momentum v - lr g``, then ``p += v`` (nesterov: ``p += momentum v - lr g``).
    torch's SGD keeps ``v = momentum v + g`` and steps ``p -= lr v``: the same only while
    the rate stays constant; under a schedule, Keras 2 ``decay`` or a callback changing
    the rate, past gradients keep the rate they were taken at. ``weight_decay`` is Keras's
    decoupled ``p -= lr wd p`` before the step."""

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                    "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["weight_decay"]:
                    p.mul_(1 - lr * group["weight_decay"])
                increment = p.grad * -lr
                if momentum == 0:
                    p.add_(increment)
                    continue
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                velocity = state["velocity"]
                velocity.mul_(momentum).add_(increment)
                if group["nesterov"]:
                    p.add_(velocity * momentum + increment)
                else:
                    p.add_(velocity)
        return loss
