"""``tf.signal.stft`` as TensorFlow computes it, on torch tensors (copied into converted
scripts by utilities.py when a converted line calls it).

``torch.stft`` is not the same transform: it centres each window inside ``n_fft`` (TF pads
the frame at its end up to ``fft_length``) and pads the signal by default. Framing with
``unfold``, windowing and ``torch.fft.rfft(n=fft_length)`` is TF's definition step by step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def signal_stft(signals: Any, frame_length: int, frame_step: int, fft_length: int | None = None,
                window_fn: Any = torch.hann_window, pad_end: bool = False) -> torch.Tensor:
    """tf.signal.stft: frames of ``frame_length`` every ``frame_step`` samples along the last
    axis, times ``window_fn(frame_length, dtype=...)`` (TF's periodic Hann window by
    default; None: no window), each zero-padded at its end to ``fft_length`` (default: the
    smallest power of 2 not below ``frame_length``); complex64, shape [..., frames, bins]."""
    x = torch.as_tensor(signals)
    frame_length, frame_step = int(frame_length), int(frame_step)
    if fft_length is None:
        fft_length = 1 << (frame_length - 1).bit_length()
    if pad_end:  # TF: enough zeros that every sample starts a frame's worth of steps
        frames = -(-x.shape[-1] // frame_step)
        extra = max(0, (frames - 1) * frame_step + frame_length - x.shape[-1])
        x = F.pad(x, (0, extra))
    if x.shape[-1] < frame_length:  # TF gives zero frames (unfold and the FFT would fail)
        return torch.zeros((*x.shape[:-1], 0, int(fft_length) // 2 + 1), dtype=torch.complex128
                           if x.dtype == torch.float64 else torch.complex64)
    frames_of = x.unfold(-1, frame_length, frame_step)
    if window_fn is not None:
        frames_of = frames_of * torch.as_tensor(window_fn(frame_length, dtype=x.dtype)).to(x)
    spectra: torch.Tensor = torch.fft.rfft(frames_of, n=int(fft_length))
    return spectra
