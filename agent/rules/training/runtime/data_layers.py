"""Weightless Keras layers a script applies to data outside any model, as torch modules that
take Keras's constructor arguments and Keras's channels-last batches.

Only stdlib, NumPy and torch: copied into converted scripts.
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class KerasUpSampling2D(nn.Module):
    """keras.layers.UpSampling2D on (N, H, W, C) batches (``data_format="channels_first"``:
    (N, C, H, W)). ``nearest`` repeats rows and columns as Keras does; ``bilinear`` samples
    at half-pixel centres (TF's resize = torch's ``align_corners=False``). Floating inputs
    are computed in float32, the layer's dtype."""

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", dtype: Any = None, name: str | None = None
                 ) -> None:
        super().__init__()
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
        self.channels_first = data_format == "channels_first"
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D(interpolation={interpolation!r}) is not supported")
        if dtype not in (None, "float32"):
            raise ValueError(f"UpSampling2D(dtype={dtype!r}) is not supported")

    def forward(self, batch: Any) -> torch.Tensor:
        x = torch.as_tensor(batch)
        if x.is_floating_point():
            x = x.to(torch.float32)
        if not self.channels_first:
            x = x.permute(0, 3, 1, 2)
        if self.interpolation == "nearest":
            x = x.repeat_interleave(self.size[0], dim=2).repeat_interleave(self.size[1], dim=3)
        else:
            x = F.interpolate(x.float(), scale_factor=(float(self.size[0]), float(self.size[1])),
                              mode="bilinear", align_corners=False)
        return x if self.channels_first else x.permute(0, 2, 3, 1)
