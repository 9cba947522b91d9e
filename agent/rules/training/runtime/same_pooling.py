"""Keras's ``padding="same"`` pooling where the window is known only at run time (a
constructor parameter): torch's pooling pads symmetrically and counts the padding in its
averages, TF does neither.

Only stdlib and torch: copied into converted scripts.
"""

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class KerasSamePool(nn.Module):
    """``{Max,Average}Pooling{rank}D(pool_size, strides, padding="same")`` on channels-first
    batches: each spatial axis of size ``n`` is padded by ``max((ceil(n / s) - 1) * s + k - n,
    0)``, the smaller half first (TF's rule), and an average counts only the real cells."""

    def __init__(self, kind: str, rank: int, kernel_size: Any, stride: Any = None) -> None:
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pooling kind {kind!r}")
        self.kind, self.rank = kind, rank
        self.kernel_size = self._sizes(kernel_size)
        self.stride = self._sizes(kernel_size if stride is None else stride)

    def _sizes(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, int):
            return (value,) * self.rank
        return tuple(int(v) for v in value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for n, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size),
                           reversed(self.stride), strict=True):
            total = max((-(-int(n) // s) - 1) * s + k - int(n), 0)
            pads += [total // 2, total - total // 2]
        pool: Callable[..., torch.Tensor] = getattr(F, f"{self.kind}_pool{self.rank}d")
        if self.kind == "max":
            return pool(F.pad(x, pads, value=float("-inf")), self.kernel_size, self.stride)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        return pool(F.pad(x, pads), self.kernel_size, self.stride) / pool(
            F.pad(ones, pads), self.kernel_size, self.stride)
