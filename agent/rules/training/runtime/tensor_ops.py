"""TF tensor ops whose torch form is several steps, copied into a converted script that uses
them (rows: agent/rules/ops/tf_direct.py): ``tf.sequence_mask``, ``tf.gather_nd`` and the
channels-last ``depth_to_space``/``space_to_depth`` (torch's pixel shuffle orders channels
otherwise), ``tf.dynamic_partition`` and ``tf.edit_distance`` (on torch sparse tensors, which
``tf.sparse.from_dense`` becomes). Lists and NumPy arrays are accepted as TF accepts them.
No ``__future__`` import: the functions are inlined into scripts.
"""

from typing import Any

import numpy as np
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


def _sparse_rows(x: torch.Tensor, lead: tuple[int, ...]) -> list[list[Any]]:
    """The values of a sparse tensor per leading index (row-major), in last-axis order."""
    x = x.coalesce()
    rows: list[list[Any]] = [[] for _ in range(int(np.prod(lead)))]
    index, values = x.indices().t().tolist(), x.values().tolist()
    for where, value in zip(index, values, strict=True):  # coalesce sorts the indices
        rows[int(np.ravel_multi_index(tuple(where[:-1]), lead))].append(value)
    return rows


def _levenshtein(a: list[Any], b: list[Any]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def sparse_edit_distance(hypothesis: torch.Tensor, truth: torch.Tensor, normalize: bool = True
                  ) -> torch.Tensor:
    """tf.edit_distance of two sparse tensors (``tf.sparse.from_dense``: zeros dropped):
    Levenshtein distance of each row's values (the last axis), over the truth's length when
    ``normalize`` (an empty truth: inf, or 0 against an empty hypothesis), float32."""
    lead = tuple(max(int(a), int(b)) for a, b in zip(hypothesis.shape[:-1], truth.shape[:-1],
                                                     strict=True))
    pairs = zip(_sparse_rows(hypothesis, lead), _sparse_rows(truth, lead), strict=True)
    out = []
    for hyp, ref in pairs:
        distance = float(_levenshtein(hyp, ref))
        if normalize:
            distance = distance / len(ref) if ref else (float("inf") if hyp else 0.0)
        out.append(distance)
    return torch.tensor(out, dtype=torch.float32).reshape(lead)
