"""Keras's built-in learning-rate schedules as plain callables, copied into converted
scripts that create one outside ``compile`` (``lr_schedule(step)``, an optimizer's
``learning_rate=``).

A Keras schedule is a function of the optimizer's step count; the converter writes its
formula (``optimizers.py``'s ``ScheduleSpec.factor``, Keras's defaults filled in) as
``factor`` and the initial learning rate apart, as the compile path's ``LambdaLR`` does.
"""

from collections.abc import Callable
from typing import Any


class KerasSchedule:
    """``schedule(step)`` = ``initial_learning_rate * factor(step)``, a Python float."""

    def __init__(self, initial_learning_rate: float, factor: Callable[[Any], Any]) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.factor = factor

    def __call__(self, step: Any) -> float:
        return float(self.initial_learning_rate * self.factor(float(step)))
