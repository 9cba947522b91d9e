
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn


# Keras data utilities and tf.data in NumPy/torch (k2l): the script needs no Keras/TensorFlow
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


class Regressor(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.example_input_array = torch.zeros(1, 4)
        self.hidden = nn.Linear(4, 8)
        nn.init.xavier_uniform_(self.hidden.weight)
        nn.init.zeros_(self.hidden.bias)
        self.out = nn.Linear(8, 1)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        pred = self(x)
        loss = torch.mean(torch.abs(pred - y))
        self.log("loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3, eps=1e-7)
