"""Keras 2's ``layers.experimental.RandomFourierFeatures``, copied into converted scripts.

Keras 3 dropped the layer and torch never had it. It maps inputs to
``cos(x @ (kernel / scale) + bias)`` with a fixed random kernel (normal for the Gaussian
kernel, Cauchy for the Laplacian one), a bias uniform in [0, 2π) and a scale whose default
depends on the kernel, so a linear model on top approximates a kernel machine. With the
layer's default ``trainable=False`` nothing here is trained: all three are buffers.
"""

import math

import numpy as np
import torch
from torch import nn


class RandomFourierFeatureMap(nn.Module):
    """Random Fourier features of a (batch, input_dim) input, as Keras 2 computes them."""

    unscaled_kernel: torch.Tensor
    bias: torch.Tensor
    kernel_scale: torch.Tensor

    def __init__(self, input_dim: int, output_dim: int, kernel_initializer: str = "gaussian",
                 scale: float | None = None) -> None:
        super().__init__()
        kind = kernel_initializer.lower()
        if kind == "gaussian":
            kernel = torch.randn(input_dim, output_dim)
        elif kind == "laplacian":  # Keras draws Cauchy samples with NumPy's global generator
            probs = np.random.uniform(low=0.0, high=1.0, size=(input_dim, output_dim))
            kernel = torch.as_tensor(np.tan(np.pi * (probs - 0.5)), dtype=torch.float32)
        else:
            raise ValueError(f"Unsupported kernel_initializer: {kernel_initializer!r}")
        if scale is None:
            scale = math.sqrt(input_dim / 2.0) if kind == "gaussian" else 1.0
        self.register_buffer("unscaled_kernel", kernel)
        self.register_buffer("bias", torch.rand(output_dim) * (2 * math.pi))
        self.register_buffer("kernel_scale", torch.full((1,), float(scale)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        kernel = (1.0 / self.kernel_scale) * self.unscaled_kernel
        return torch.cos(inputs.float() @ kernel + self.bias)
