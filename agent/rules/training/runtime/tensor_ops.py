"""TF tensor ops whose torch form is several steps, copied into a converted script that uses
them (rows: agent/rules/ops/tf_direct.py): ``tf.sequence_mask``, ``tf.gather_nd`` and the
channels-last ``depth_to_space``/``space_to_depth`` (torch's pixel shuffle orders channels
otherwise). Lists and NumPy arrays are accepted as TF accepts them.
No ``__future__`` import: the functions are inlined into scripts.
"""

from typing import Any

import torch


def sequence_mask(lengths: Any, maxlen: Any = None, dtype: torch.dtype = torch.bool
                  ) -> torch.Tensor:
    """tf.sequence_mask: ``mask[..., j] = j < lengths[...]``; ``maxlen`` defaults to the
    longest length."""
    limits = torch.as_tensor(lengths)
    size = int(limits.max()) if maxlen is None else int(maxlen)
    steps = torch.arange(size, device=limits.device)
    mask: torch.Tensor = steps < limits.unsqueeze(-1)
    return mask.to(dtype)


def gather_nd(params: Any, indices: Any) -> torch.Tensor:
    """tf.gather_nd (batch_dims=0): the last axis of ``indices`` indexes ``params``'s leading
    axes."""
    index = torch.as_tensor(indices, dtype=torch.long)
    return torch.as_tensor(params)[tuple(index.unbind(-1))]


def depth_to_space(x: torch.Tensor, block_size: int) -> torch.Tensor:
    """tf.nn.depth_to_space on NHWC: channel ``(i * block + j) * C + c`` moves to pixel
    ``(h * block + i, w * block + j)``."""
    n, h, w, c = x.shape
    b = block_size
    blocks = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h * b, w * b, c // (b * b))


def space_to_depth(x: torch.Tensor, block_size: int) -> torch.Tensor:
    """tf.nn.space_to_depth on NHWC, the inverse of ``depth_to_space``."""
    n, h, w, c = x.shape
    b = block_size
    blocks = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h // b, w // b, b * b * c)


def set_shape(x: Any, shape: Any) -> None:
    """``Tensor.set_shape``: TF checks the shape against what it knows and raises on a
    mismatch (None: any size); a torch tensor's shape is known, so only the check is left."""
    dims = list(shape)
    if len(dims) != x.dim() or any(d is not None and d != n
                                   for d, n in zip(dims, x.shape, strict=True)):
        raise ValueError(f"set_shape: shape {tuple(x.shape)} is not compatible with {dims}")


def dynamic_partition(data: Any, partitions: Any, num_partitions: int) -> list[torch.Tensor]:
    """tf.dynamic_partition: output ``k`` holds, in order, the slices of ``data`` whose
    ``partitions`` entry is ``k`` (``partitions`` indexes ``data``'s leading axes)."""
    values = torch.as_tensor(data)
    index = torch.as_tensor(partitions, device=values.device)
    return [values[index == k] for k in range(int(num_partitions))]
