import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin


class Gated(LazyModuleMixin, nn.Module):
    """A learned projection followed by a cumulative log-sum-exp over the features."""

    def __init__(self, units, **kwargs):
        super().__init__()
        self.units = units
        self.gate = nn.UninitializedParameter()  # created in initialize_parameters

    def initialize_parameters(self, inputs: torch.Tensor, *args: object, **kwargs: object) -> None:
        """Keras ``build``: creates the weights from the first input's shape."""
        input_shape = tuple(inputs.shape)
        self.gate.materialize((input_shape[-1], self.units))
        nn.init.xavier_uniform_(self.gate)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.logcumsumexp(inputs @ self.gate, dim=-1)


class GatedModel(pl.LightningModule):
    """Converted by k2l-agent from the Keras Sequential model ``model`` (line 25)."""

    def __init__(self) -> None:
        super().__init__()
        self.example_input_array = torch.zeros(1, 6)
        self.dense = nn.Linear(6, 4)
        self.gated = Gated(2)
        # Keras initializers (torch's defaults differ)
        for module in (self.dense,):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense(x)
        x = self.gated(x)
        return x


model = GatedModel()
