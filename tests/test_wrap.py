"""Wrapping generated lines never changes what they mean."""

from __future__ import annotations

import ast

import pytest

from agent.rules.wrap import wrap_line

LINES = [
    "self.log_dict({key: value for key, value in logs.items()}, on_step=False, on_epoch=True, "
    "prog_bar=True, batch_size=batch_size)",
    "loss_fn = KerasLoss(lambda y_true, y_pred: F.cross_entropy(y_pred, y_true.long(), "
    "reduction='none'), name='sparse_categorical_crossentropy_loss')",
    "total = sum(weight * value for weight, value in zip(self.loss_weights, per_output_losses, "
    "strict=True))",
    "layer = nn.Linear(in_features=NUM_FEATURES * HIDDEN_MULTIPLIER, out_features=num_classes, "
    "bias=True)",
]

# Lines whose widest bracket comes after a long head: a chained call, a lambda in a dict,
# nested size arithmetic, a long list of assignment targets.
HARD = [
    "total = values.new_full((count, *values.shape[1:]), torch.finfo(values.dtype).min)"
    ".scatter_reduce(0, index.long().reshape(-1, *[1] * (values.dim() - 1)).expand_as(values),"
    " values, 'amax', include_self=False)",
    "table = {'mean': lambda data, ids, n: data.new_full((n, *data.shape[1:]), 0).scatter_reduce("
    "0, ids.long().reshape(-1, 1).expand_as(data), data, 'mean', include_self=False)}",
    "layer = nn.Linear(((((SIZE[0] - 2) // 2 + 1 - 2) // 2 + 1 - 2) // 2 + 1) * ((((SIZE[1] - 2) "
    "// 2 + 1 - 2) // 2 + 1 - 2) // 2 + 1) * 256, 512)",
    "first_input, second_input, third_input, y = SomeLongModelClassName.flat_batch(batch)",
]


@pytest.mark.parametrize("line", LINES)
def test_wrapped_line_is_the_same_code(line: str) -> None:
    wrapped = wrap_line("        " + line, limit=60)
    assert len(wrapped) > 1
    body = "\n".join(w[8:] for w in wrapped)
    assert ast.dump(ast.parse(body)) == ast.dump(ast.parse(line))


@pytest.mark.parametrize("line", HARD)
def test_a_long_head_is_split_too(line: str) -> None:
    """Every piece fits, not only the widest bracket's arguments, and the code is the same."""
    wrapped = wrap_line("        " + line, limit=60)
    assert all(len(w) <= 60 for w in wrapped), wrapped
    body = "\n".join(w[8:] for w in wrapped)
    assert ast.dump(ast.parse(body)) == ast.dump(ast.parse(line))


def test_a_long_one_line_docstring_becomes_a_wrapped_docstring() -> None:
    line = ('    """Converted by k2l-agent from the Keras Sequential ``Encoder.projection_block`` '
            '(line 546)."""')
    wrapped = wrap_line(line, limit=60)
    assert all(len(w) <= 60 for w in wrapped), wrapped
    assert wrapped[0].startswith('    """Converted') and wrapped[-1].endswith('."""')
    words = " ".join(w.strip() for w in wrapped)
    assert words == line.strip()
