"""tf.cast / keras.ops.cast / K.cast (agent/rules/ops/casts.py): ``torch.as_tensor(x, dtype=d)``
unless ``x`` is surely a tensor, where ``x.to(d)`` stays. TF casts Python numbers and NumPy
values too (a learning-rate schedule's ``step`` and ``self.warmup_steps``); ``.to`` on them
crashed. Both forms are run here against Keras's own cast."""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.ops.casts import known_tensor

SOURCE = textwrap.dedent("""
    import keras
    from keras import ops


    class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, base_lr, warmup_steps):
            super().__init__()
            self.base_lr = base_lr
            self.warmup_steps = warmup_steps

        def __call__(self, step):
            global_step = ops.cast(step, "float32")
            warmup = ops.cast(self.warmup_steps, "float32")
            return self.base_lr * ops.minimum(1.0, (global_step + 1.0) / warmup)


    def halved(count):
        return ops.cast(count, "float32") / 2.0


    def doubled_wide(x):
        return ops.cast(x, "float64") * 2.0


    def rounded_abs(x):
        return ops.cast(ops.abs(x), "int32")
""")


def _converted() -> tuple[str, dict[str, object]]:
    result = convert_source(SOURCE, "casts.py")
    assert "keras" not in result.source, result.source
    return result.source, exec_source(result.source, "k2l_casts")


def _original() -> dict[str, object]:
    ns: dict[str, object] = {}
    exec(compile(SOURCE, "<original>", "exec"), ns)  # noqa: S102 - our own test program
    return ns


def test_known_tensor_is_only_what_surely_is_one() -> None:
    assert known_tensor("torch.abs(x)") and known_tensor("F.relu(x)")
    assert known_tensor("__k2l_0__")  # a model graph value (rewrite.template)
    for code in ("x", "self.warmup_steps", "x > 0", "x.shape[1]", "torch.numel(x)",
                 "torch.sum(x).item()", "3", "[1, 2]"):
        assert not known_tensor(code), code


def test_casts_of_numbers_and_arrays_run_as_keras_casts() -> None:
    source, new = _converted()
    assert "torch.as_tensor(step, dtype=torch.float32)" in source
    assert "torch.as_tensor(self.warmup_steps, dtype=torch.float32)" in source
    old = _original()
    old_schedule = old["WarmupSchedule"](0.01, 10)  # type: ignore[operator]
    new_schedule = new["WarmupSchedule"](0.01, 10)  # type: ignore[operator]
    for step in (0, 4, np.int64(7), 30, torch.tensor(3)):
        want = float(keras.ops.convert_to_numpy(old_schedule(step)))
        got = new_schedule(step)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        assert abs(float(got) - want) < 1e-9, step
    for count in (3, 2.5, np.int32(5), np.array([1, 2, 3]), [4, 6]):
        want_values = keras.ops.convert_to_numpy(old["halved"](count))  # type: ignore[operator]
        got_values = new["halved"](count)  # type: ignore[operator]
        assert got_values.dtype == torch.float32
        np.testing.assert_allclose(got_values.numpy(), want_values)


def test_cast_of_a_tensor_keeps_its_gradient() -> None:
    """``torch.as_tensor`` on a tensor is ``.to``: the float32 → float64 cast stays in the graph."""
    _, new = _converted()
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = new["doubled_wide"](x)  # type: ignore[operator]
    assert y.dtype == torch.float64
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.tensor([2.0, 2.0]))


def test_cast_of_an_op_result_stays_to() -> None:
    source, new = _converted()
    assert "torch.abs(x).to(torch.int32)" in source
    x = np.array([-1.7, 2.2, 0.4], dtype="float32")
    want = keras.ops.convert_to_numpy(_original()["rounded_abs"](x))  # type: ignore[operator]
    got = new["rounded_abs"](torch.as_tensor(x))  # type: ignore[operator]
    assert got.dtype == torch.int32
    np.testing.assert_array_equal(got.numpy(), want)
