"""``tf.image`` ops computed from pixel values, in torch: quality measures (``psnr``,
``ssim``), ``image_gradients`` and the HSV colour adjustments (saturation, hue), copied into
a converted script whose functions used them (rows: agent/rules/ops/image_pixels.py).

Images are channels-last (HWC, or NHWC for a batch) as in TF; integer images are read as
fractions of their maximum (``image_convert_dtype``), and the adjustments return the input's
dtype, as TF's do. Random adjustments draw one factor for the whole tensor, as TF does.
No ``__future__`` import: the functions are inlined into scripts.
"""

import math
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812

from .image_ops import _image_generator, image_convert_dtype


def _pixels_float(image: Any) -> torch.Tensor:
    return image_convert_dtype(torch.as_tensor(image), torch.float32)


def _pixels_peak(max_val: Any, like: torch.Tensor) -> torch.Tensor:
    """TF casts ``max_val`` to the image's dtype, then converts it as an image."""
    value = torch.as_tensor(max_val)
    if not like.dtype.is_floating_point:
        value = value.to(like.dtype)
    return image_convert_dtype(value, torch.float32)


def image_psnr(a: Any, b: Any, max_val: Any) -> torch.Tensor:
    """tf.image.psnr: 20 log10(max) - 10 log10(mse), the mse over each image's H, W, C."""
    x, y = torch.as_tensor(a), torch.as_tensor(b)
    peak = _pixels_peak(max_val, x)
    mse = torch.mean(torch.square(_pixels_float(x) - _pixels_float(y)), dim=(-3, -2, -1))
    return (20.0 / math.log(10.0)) * torch.log(peak) - (10.0 / math.log(10.0)) * torch.log(mse)


def _pixels_window(size: int, sigma: float) -> torch.Tensor:
    """TF's _fspecial_gauss: a size x size Gaussian normalised to sum 1 (a softmax)."""
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
    g = torch.square(coords) * (-0.5 / sigma ** 2)
    return torch.softmax((g[None, :] + g[:, None]).reshape(-1), dim=0).reshape(size, size)


def image_ssim(img1: Any, img2: Any, max_val: Any, filter_size: int = 11,
               filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """tf.image.ssim: Gaussian-window SSIM per channel ("valid" filtering), averaged over
    H, W and then the channels: one value per image."""
    x1 = torch.as_tensor(img1)
    peak = _pixels_peak(max_val, x1)
    x, y = _pixels_float(x1), _pixels_float(img2)
    window = _pixels_window(int(filter_size), float(filter_sigma))
    channels = x.shape[-1]
    kernel = window.expand(channels, 1, *window.shape)

    def reducer(t: torch.Tensor) -> torch.Tensor:
        lead = t.shape[:-3]
        flat = t.reshape(-1, *t.shape[-3:]).permute(0, 3, 1, 2)
        out = F.conv2d(flat, kernel, groups=channels).permute(0, 2, 3, 1)
        return out.reshape(*lead, *out.shape[1:])

    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    mean0, mean1 = reducer(x), reducer(y)
    num0 = mean0 * mean1 * 2.0
    den0 = torch.square(mean0) + torch.square(mean1)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = reducer(x * y) * 2.0
    den1 = reducer(torch.square(x) + torch.square(y))
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return torch.mean(luminance * cs, dim=(-3, -2)).mean(dim=-1)


def image_gradients(image: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """tf.image.image_gradients: forward differences (dy, dx) of an NHWC batch, zero in the
    last row (dy) and column (dx)."""
    x = torch.as_tensor(image)
    if x.dim() != 4:
        raise ValueError("image_gradients expects a 4-D (batch, height, width, depth) tensor")
    dy = F.pad(x[:, 1:] - x[:, :-1], (0, 0, 0, 0, 0, 1))
    dx = F.pad(x[:, :, 1:] - x[:, :, :-1], (0, 0, 0, 1))
    return dy, dx


def image_rgb_to_hsv(images: Any) -> torch.Tensor:
    """tf.image.rgb_to_hsv: float RGB in [0, 1] → HSV, hue in [0, 1)."""
    x = torch.as_tensor(images)
    r, g, b = x.unbind(-1)
    value = torch.amax(x, dim=-1)
    spread = value - torch.amin(x, dim=-1)
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * torch.where(spread > 0, spread, 1.0))
    hue = torch.where(value == r, (g - b) * norm,
                      torch.where(value == g, (b - r) * norm + 2.0 / 6.0,
                                  (r - g) * norm + 4.0 / 6.0))
    hue = torch.where(spread > 0, hue, 0.0)
    hue = torch.where(hue < 0, hue + 1.0, hue)
    return torch.stack([hue, saturation, value], dim=-1)


def image_hsv_to_rgb(images: Any) -> torch.Tensor:
    """tf.image.hsv_to_rgb: HSV (hue in [0, 1]) → RGB, the sextant formula in closed form."""
    x = torch.as_tensor(images)
    h, s, v = x.unbind(-1)
    planes = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + h * 6.0, 6.0)
        planes.append(v - v * s * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0))
    return torch.stack(planes, dim=-1)


def image_adjust_saturation(image: Any, saturation_factor: float) -> torch.Tensor:
    """tf.image.adjust_saturation: S scaled and clipped to [0, 1] in HSV, dtype kept."""
    x = torch.as_tensor(image)
    hsv = image_rgb_to_hsv(_pixels_float(x))
    sat = torch.clamp(hsv[..., 1] * saturation_factor, 0.0, 1.0)
    rgb = image_hsv_to_rgb(torch.stack([hsv[..., 0], sat, hsv[..., 2]], dim=-1))
    return image_convert_dtype(rgb, x.dtype, saturate=True)


def image_adjust_hue(image: Any, delta: float) -> torch.Tensor:
    """tf.image.adjust_hue: the hue turned by ``delta`` (a fraction of the circle)."""
    x = torch.as_tensor(image)
    hsv = image_rgb_to_hsv(_pixels_float(x))
    hue = torch.remainder(hsv[..., 0] + delta, 1.0)
    rgb = image_hsv_to_rgb(torch.stack([hue, hsv[..., 1], hsv[..., 2]], dim=-1))
    return image_convert_dtype(rgb, x.dtype, saturate=True)


def image_random_saturation(image: Any, lower: float, upper: float, seed: Any = None
                            ) -> torch.Tensor:
    """tf.image.random_saturation: one factor in [lower, upper)."""
    if not 0 <= lower < upper:
        raise ValueError("random_saturation needs 0 <= lower < upper")
    draw = float(torch.rand((), generator=_image_generator(seed)))
    return image_adjust_saturation(image, lower + draw * (upper - lower))


def image_random_hue(image: Any, max_delta: float, seed: Any = None) -> torch.Tensor:
    """tf.image.random_hue: one delta in [-max_delta, max_delta), max_delta in [0, 0.5]."""
    if not 0 <= max_delta <= 0.5:
        raise ValueError("random_hue needs 0 <= max_delta <= 0.5")
    draw = float(torch.rand((), generator=_image_generator(seed)))
    return image_adjust_hue(image, draw * 2 * max_delta - max_delta)


def _pixels_pair(value: Any) -> tuple[int, int]:
    """An int, a pair, or TF's four-entry ``[1, rows, cols, 1]`` as (rows, cols)."""
    items = [int(v) for v in value] if isinstance(value, (list, tuple, torch.Tensor)) else [
        int(value)] * 2
    return (items[1], items[2]) if len(items) == 4 else (items[0], items[-1])


def image_extract_patches(images: Any, size: Any, strides: Any = None, dilation_rate: Any = 1,
                          padding: str = "valid") -> torch.Tensor:
    """tf.image.extract_patches / keras.ops.image.extract_patches on channels-last images:
    each output position holds its patch flattened in (row, column, channel) order, TF's
    layout (``F.unfold``'s is channel first); "same" pads as TF does, the odd pixel after."""
    x = torch.as_tensor(images)
    batch = x if x.dim() == 4 else x[None]
    rows, cols = _pixels_pair(size)
    step_r, step_c = _pixels_pair(size if strides is None else strides)
    rate_r, rate_c = _pixels_pair(dilation_rate)
    span_r, span_c = (rows - 1) * rate_r + 1, (cols - 1) * rate_c + 1
    if padding.lower() == "same":
        _, height, width, _ = batch.shape
        pad_r = max((-(-height // step_r) - 1) * step_r + span_r - height, 0)
        pad_c = max((-(-width // step_c) - 1) * step_c + span_c - width, 0)
        batch = F.pad(batch, (0, 0, pad_c // 2, pad_c - pad_c // 2, pad_r // 2, pad_r - pad_r // 2))
    windows = batch.unfold(1, span_r, step_r).unfold(2, span_c, step_c)  # N, H', W', C, r, c
    windows = windows[..., ::rate_r, ::rate_c].permute(0, 1, 2, 4, 5, 3)
    patches = windows.reshape(*windows.shape[:3], -1)
    return patches if x.dim() == 4 else patches[0]
