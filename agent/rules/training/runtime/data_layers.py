"""Weightless Keras layers a script applies to data outside any model, as torch modules that
take Keras's constructor arguments and Keras's channels-last batches.

Only stdlib, NumPy and torch: copied into converted scripts.
"""

import math
from typing import Any

import numpy as np
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


def adapt_normalization(data: Any, axis: Any = -1) -> tuple[Any, Any]:
    """Normalization.adapt(data) of Keras: the mean and the variance (ddof=0) over every
    axis but ``axis`` (None: over all). An array or tensor is reduced whole (NumPy in its own
    precision, as Keras); any other iterable is taken as batches (a tuple/list batch gives
    its first item, the inputs), combined batch by batch in float32 with Keras's
    lack-of-fit formula. Returns float32 arrays of the kept axes' shape."""
    def as_array(batch: Any) -> Any:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        if isinstance(batch, torch.Tensor):
            batch = batch.detach().cpu().numpy()
        return np.asarray(batch)

    def reduced(ndim: int) -> tuple[int, ...]:
        kept = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        kept = tuple(sorted(d % ndim for d in kept))
        return tuple(d for d in range(ndim) if d not in kept)

    if isinstance(data, (np.ndarray, torch.Tensor)):
        array = as_array(data)
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        axes = reduced(array.ndim)
        return (np.mean(array, axis=axes).astype(np.float32),
                np.var(array, axis=axes).astype(np.float32))
    mean: Any = None
    var: Any = None
    count = 0
    for item in data:
        batch = as_array(item).astype(np.float32)
        axes = reduced(batch.ndim)
        batch_mean, batch_var = np.mean(batch, axis=axes), np.var(batch, axis=axes)
        batch_count = math.prod(batch.shape[d] for d in axes) if axes else 1
        if mean is None:
            mean, var = np.zeros_like(batch_mean), np.zeros_like(batch_var)
        count += batch_count
        weight = np.float32(batch_count / count)
        rest = np.float32(1.0) - weight
        new_mean = mean * rest + batch_mean * weight
        var = (var + (mean - new_mean) ** 2) * rest \
            + (batch_var + (batch_mean - new_mean) ** 2) * weight
        mean = new_mean
    if mean is None:
        raise ValueError("adapt() received an empty iterable (no batches)")
    return mean.astype(np.float32), var.astype(np.float32)
