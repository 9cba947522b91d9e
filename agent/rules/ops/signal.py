"""Op rows for ``tf.signal`` FFTs and the parts of complex tensors.

TF's ``fft``/``fft2d``/``fft3d`` transform the innermost 1/2/3 axes, as ``torch.fft.fft``/
``fft2``/``fftn(dim=(-3, -2, -1))`` do by default; the real transforms take no
``fft_length`` here (a padded or cropped length is refused, not guessed). ``stft`` calls
``signal_stft`` (runtime/signal_ops.py: TF pads each frame at its end, ``torch.stft``
centres the window); TF's windows are periodic by default, as torch's are.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.rules.ops.spec import Bound, Op, emit

SIGNAL, MATH, TF = "tensorflow.signal", "tensorflow.math", "tensorflow"
_WINDOW = ("window_length", "periodic", "dtype")
# a runtime function (written by a handler: the table's targets are torch callables)
_STFT = Op("signal_stft", ("signals", "frame_length", "frame_step", "fft_length", "window_fn",
                           "pad_end", "pad_value"), pos=3, fixed={"pad_value": "0"})


def _innermost3(fn: str) -> Callable[[Bound], str]:
    return lambda b: f"torch.fft.{fn}({b.code('input')}, dim=(-3, -2, -1))"


ROWS: list[tuple[list[str], Op]] = [
    ([f"{SIGNAL}.fft"], Op("torch.fft.fft", ("input",),
                           examples=(("tf.signal.fft(x)", "torch.fft.fft(x)"),))),
    ([f"{SIGNAL}.ifft"], Op("torch.fft.ifft", ("input",))),
    ([f"{SIGNAL}.fft2d"], Op("torch.fft.fft2", ("input",),
                             examples=(("tf.signal.fft2d(x)", "torch.fft.fft2(x)"),))),
    ([f"{SIGNAL}.ifft2d"], Op("torch.fft.ifft2", ("input",))),
    ([f"{SIGNAL}.fft3d"], Op("torch.fft.fftn", ("input",), handler=_innermost3("fftn"),
                             examples=(("tf.signal.fft3d(x)",
                                        "torch.fft.fftn(x, dim=(-3, -2, -1))"),))),
    ([f"{SIGNAL}.ifft3d"], Op("torch.fft.ifftn", ("input",), handler=_innermost3("ifftn"))),
    ([f"{SIGNAL}.rfft"], Op("torch.fft.rfft", ("input", "fft_length"),
                            fixed={"fft_length": "None"})),
    ([f"{SIGNAL}.irfft"], Op("torch.fft.irfft", ("input", "fft_length"),
                             fixed={"fft_length": "None"})),
    ([f"{SIGNAL}.stft"], Op(
        "", _STFT.params, pos=3, handler=lambda b: emit(_STFT, b),
        examples=(("tf.signal.stft(x, frame_length=256, frame_step=160, fft_length=384)",
                   "signal_stft(x, 256, 160, fft_length=384)"),))),
    ([f"{SIGNAL}.hann_window"], Op("torch.hann_window", _WINDOW, examples=(
        ("tf.signal.hann_window(8, periodic=False)", "torch.hann_window(8, periodic=False)"),))),
    ([f"{SIGNAL}.hamming_window"], Op("torch.hamming_window", _WINDOW)),
    ([f"{MATH}.real", f"{TF}.real"], Op("torch.real", ("input",), elementwise=True,
                                        examples=(("tf.math.real(z)", "torch.real(z)"),))),
    ([f"{MATH}.imag", f"{TF}.imag"], Op("torch.imag", ("input",), elementwise=True)),
    ([f"{MATH}.conj", f"{TF}.conj"], Op("torch.conj", ("x",), elementwise=True)),
    ([f"{MATH}.angle"], Op("torch.angle", ("input",), elementwise=True)),
    ([f"{TF}.complex", f"{MATH}.complex"], Op(
        "torch.complex", ("real", "imag"), pos=2,
        examples=(("tf.complex(real=x, imag=y)", "torch.complex(x, y)"),))),
]
