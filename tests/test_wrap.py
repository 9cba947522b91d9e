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


@pytest.mark.parametrize("line", LINES)
def test_wrapped_line_is_the_same_code(line: str) -> None:
    wrapped = wrap_line("        " + line, limit=60)
    assert len(wrapped) > 1
    body = "\n".join(w[8:] for w in wrapped)
    assert ast.dump(ast.parse(body)) == ast.dump(ast.parse(line))
