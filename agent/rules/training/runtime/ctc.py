"""CTC decoding as Keras computes it, copied into converted scripts that decode.

``F.ctc_loss`` covers the loss; torch has no greedy CTC decoder. Keras's (and TF's) greedy
decoder takes the best class per step within each sequence's length, merges repeats, drops
the blank and left-packs what is left, padding with -1; the score is minus the sum of the
best per-step values.
"""

import torch
import torch.nn.functional as F  # noqa: N812


def ctc_greedy_decode(inputs: torch.Tensor, sequence_lengths: torch.Tensor,
                      merge_repeated: bool = True, mask_index: int | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """keras.ops.ctc_decode(strategy="greedy"): ((1, batch, time) labels, (batch, 1) scores).

    ``inputs`` (batch, time, classes); ``mask_index`` is the blank (None: the last class)."""
    batch, steps, classes = inputs.shape
    blank = classes - 1 if mask_index is None else mask_index
    lengths = torch.as_tensor(sequence_lengths, device=inputs.device).reshape(-1)
    scores, labels = inputs.max(dim=-1)
    beyond = torch.arange(steps, device=inputs.device)[None, :] >= lengths[:, None]
    labels = torch.where(beyond, torch.full_like(labels, blank), labels)
    scores = torch.where(beyond, torch.zeros_like(scores), scores)
    if merge_repeated:
        repeat = F.pad(labels[:, 1:] == labels[:, :-1], (1, 0))
        labels = torch.where(repeat, torch.full_like(labels, blank), labels)
    dropped = labels == blank
    labels = torch.where(dropped, torch.full_like(labels, -1), labels)
    order = torch.where(dropped, steps, torch.arange(steps, device=inputs.device)[None, :])
    labels = labels.gather(1, order.argsort(dim=-1, stable=True))
    return labels.unsqueeze(0), -scores.sum(dim=1, keepdim=True)


def ctc_decode_softmax(y_pred: torch.Tensor, input_length: torch.Tensor
                     ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """keras.backend.ctc_decode(greedy=True) of Keras 2: softmax outputs, blank = last class;
    ([(batch, time) labels padded with -1], (batch, 1) log-probabilities)."""
    labels, scores = ctc_greedy_decode(torch.log(y_pred + 1e-07), input_length)
    return [labels[0]], scores
