"""Keras activity regularizers → a forward hook keeping the penalty on the layer's output.

Keras 3 ``Layer.__call__`` adds ``activity_regularizer(output) / batch_size`` to the model's
losses at each call (TF-Keras 2 divided by the batch size too). The hook stores that term in
the layer's ``added_losses``, which the training and validation steps add, as for ``add_loss``.
"""

from __future__ import annotations

from agent.rules import activations
from agent.rules.spec import Args
from agent.rules.training.custom_regularizers import Custom
from agent.rules.training.regularizers import Penalty

ARG = "activity_regularizer"
# in generated code: tells the training step that layers keep added loss terms
MARK = 'setattr(m, "added_losses"'
HOOK_WARNINGS = ("activity_regularizer: penalty on the layer output divided by the batch size, "
                 "as Keras 3 and TF-Keras 2 do; added to the training/validation loss",)


def hook(attr: str, penalty: Penalty | Custom, hparams: set[str], activation: str | None) -> str | None:
    """The ``__init__`` line registering the hook on ``self.<attr>``; None when the layer's
    activation depends on the channel axis (the hook does not know the layout)."""
    if activation in ("softmax", "log_softmax"):
        return None
    out = activations.apply(activation, "y")  # Keras regularizes the activated output
    term = penalty.term(out if out == "y" else f"({out})", hparams)
    return (f"self.{attr}.register_forward_hook("
            f"lambda m, _, y: {MARK}, [({term}) / y.shape[0]]))")


def layer_penalty(args: Args) -> Penalty | None:
    """``ActivityRegularization(l1, l2)``'s penalty (the layer is only that); None for any
    other layer or when both factors are literal zeros."""
    if args.layer != "ActivityRegularization":
        return None
    coefs: list[str | None] = []
    for name in ("l1", "l2"):
        v = args.values.get(name)
        coefs.append(None if v is None or (v.known and not v.value) else v.code)
    return Penalty(*coefs) if any(coefs) else None
