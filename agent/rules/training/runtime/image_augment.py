"""Keras 3's RandomRotation/RandomZoom/RandomTranslation, copied into converted scripts.

Each takes channels_last batches as Keras does, draws one transform per image while
training and is the identity in eval mode (Keras applies them only in training). The
transform maps every output pixel to an input point as Keras's ``affine_transform`` does;
``grid_sample`` then reads it with Keras's fill modes ("reflect" mirrors with the edge
repeated, "wrap" tiles the image, "nearest" repeats the edge, "constant" fills
``fill_value``). Nearest interpolation at a point exactly between two pixels may pick the
other one than Keras (float rounding of the coordinate).
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def _bounds(factor: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(factor, (int, float)):
        return -abs(float(factor)), abs(float(factor))
    lower, upper = sorted(float(f) for f in factor)
    return lower, upper


def _uniform(n: int, bounds: tuple[float, float], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(n, 1, 1, device=like.device).uniform_(bounds[0], bounds[1])


def _affine_images(images: torch.Tensor, x_src: torch.Tensor, y_src: torch.Tensor,
                   interpolation: str, fill_mode: str, fill_value: float) -> torch.Tensor:
    """Samples channels_last ``images`` at input pixel coordinates (x_src, y_src)."""
    height, width = images.shape[1], images.shape[2]
    pixels = images.permute(0, 3, 1, 2)
    if fill_mode == "wrap":  # Keras wraps each neighbour's index: one wrapped row/column more
        grid = torch.stack((2 * torch.remainder(x_src, width) / width - 1,
                            2 * torch.remainder(y_src, height) / height - 1), dim=-1)
        wrapped = F.pad(pixels.float(), (0, 1, 0, 1), mode="circular")
        return F.grid_sample(wrapped, grid.float(), mode=interpolation, padding_mode="border",
                             align_corners=True).permute(0, 2, 3, 1).to(images.dtype)
    grid = torch.stack(((2 * x_src + 1) / width - 1, (2 * y_src + 1) / height - 1), dim=-1)
    padding = {"reflect": "reflection", "nearest": "border", "constant": "zeros"}[fill_mode]
    out = F.grid_sample(pixels.float(), grid.float(), mode=interpolation,
                        padding_mode=padding, align_corners=False)
    if fill_mode == "constant" and fill_value != 0:
        inside = F.grid_sample(torch.ones_like(pixels[:, :1]).float(), grid.float(),
                               mode=interpolation, padding_mode="zeros", align_corners=False)
        out = out + (1 - inside) * fill_value
    return out.permute(0, 2, 3, 1).to(images.dtype)


def _pixel_grid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(images.shape[1], device=images.device, dtype=torch.float32)
    cols = torch.arange(images.shape[2], device=images.device, dtype=torch.float32)
    y, x = torch.meshgrid(rows, cols, indexing="ij")
    return x[None], y[None]


class _Augment(nn.Module):
    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0) -> None:
        super().__init__()
        if fill_mode not in ("reflect", "wrap", "nearest", "constant"):
            raise ValueError(f"Unsupported fill_mode: {fill_mode!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"Unsupported interpolation: {interpolation!r}")
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value, self.seed = fill_value, seed

    def sources(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return images
        x_src, y_src = self.sources(images)
        return _affine_images(images, x_src, y_src, self.interpolation, self.fill_mode,
                              self.fill_value)


class RandomImageRotation(_Augment):
    """Rotation by a fraction of 2π drawn per image, about the image centre."""

    def __init__(self, factor: float | tuple[float, float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bounds = _bounds(factor)

    def sources(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angle = _uniform(images.shape[0], self.bounds, images) * (2 * math.pi)
        x, y = _pixel_grid(images)
        cx, cy = (images.shape[2] - 1) / 2, (images.shape[1] - 1) / 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        return (cos * (x - cx) - sin * (y - cy) + cx, sin * (x - cx) + cos * (y - cy) + cy)


class RandomImageZoom(_Augment):
    """Zoom by 1 + a factor drawn per image (positive: out); width follows height unless
    a width_factor is given."""

    def __init__(self, height_factor: float | tuple[float, float],
                 width_factor: float | tuple[float, float] | None = None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.height_bounds = _bounds(height_factor)
        self.width_bounds = None if width_factor is None else _bounds(width_factor)

    def sources(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zy = 1 + _uniform(images.shape[0], self.height_bounds, images)
        zx = zy if self.width_bounds is None else 1 + _uniform(images.shape[0],
                                                               self.width_bounds, images)
        x, y = _pixel_grid(images)
        cx, cy = (images.shape[2] - 1) / 2, (images.shape[1] - 1) / 2
        return zx * x + cx * (1 - zx), zy * y + cy * (1 - zy)


class RandomImageTranslation(_Augment):
    """Shift by fractions of the height and width drawn per image."""

    def __init__(self, height_factor: float | tuple[float, float],
                 width_factor: float | tuple[float, float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.height_bounds, self.width_bounds = _bounds(height_factor), _bounds(width_factor)

    def sources(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = images.shape[0]
        dy = _uniform(n, self.height_bounds, images) * images.shape[1]
        dx = _uniform(n, self.width_bounds, images) * images.shape[2]
        x, y = _pixel_grid(images)
        return x - dx, y - dy
