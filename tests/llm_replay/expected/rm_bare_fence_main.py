import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn


class RunningMax(nn.Module):
    """Running maximum over the time axis, computed with tf.scan."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.cummax(inputs, dim=1).values


class RunningMaxModel(pl.LightningModule):
    """Converted by k2l-agent from the Keras Functional model (line 19)."""

    def __init__(self, units: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.example_input_array = torch.zeros(1, 10, 4)
        self.dense = nn.Linear(4, units)
        self.running_max = RunningMax()
        # Keras initializers (torch's defaults differ)
        for module in (self.dense,):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.dense(inputs))
        outputs = self.running_max(x)
        return outputs


def build_model(units=16):
    return RunningMaxModel(units=units)
