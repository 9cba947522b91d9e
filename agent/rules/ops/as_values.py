"""Ops used as values (``activation=tf.nn.gelu``, ``self.act = keras.activations.softmax``,
``{"mean": tf.math.unsorted_segment_mean}``): the torch callable written in their place.

A bare torch function is right only when it takes TF's arguments with TF's defaults; where
the defaults or names differ (softmax's axis, leaky_relu's slope 0.2, gelu's
``approximate``) the value is a lambda with TF's own signature and defaults, so every call
the script makes with TF's arguments gives TF's result.
"""

from __future__ import annotations

TF, NN, MATH, KOPS, K, ACT = ("tensorflow", "tensorflow.nn", "tensorflow.math", "keras.ops",
                             "keras.backend", "keras.activations")

_GELU = 'F.gelu({x}, approximate="tanh" if approximate else "none")'

VALUES: dict[str, str] = {
    f"{NN}.gelu": f"lambda features, approximate=False: {_GELU.format(x='features')}",
    f"{ACT}.gelu": f"lambda x, approximate=False: {_GELU.format(x='x')}",
    f"{KOPS}.gelu": f"lambda x, approximate=True: {_GELU.format(x='x')}",
    f"{NN}.leaky_relu": "lambda features, alpha=0.2: F.leaky_relu(features, negative_slope=alpha)",
    f"{KOPS}.leaky_relu": "lambda x, negative_slope=0.2: F.leaky_relu(x, negative_slope)",
    f"{ACT}.leaky_relu": "lambda x, negative_slope=0.2: F.leaky_relu(x, negative_slope)",
    **{f"{prefix}.{name}": f"lambda logits, axis=None: F.{name}(logits, dim=-1 if axis is None "
       "else axis)" for prefix in (NN, MATH) for name in ("softmax", "log_softmax")},
    **{f"{prefix}.{name}": f"lambda x, axis=-1: F.{name}(x, dim=axis)"
       for prefix in (KOPS, ACT) for name in ("softmax", "log_softmax")},
    f"{K}.softmax": "lambda x, axis=-1: F.softmax(x, dim=axis)",
    # stft's window_fn: TF calls it as window_fn(frame_length, dtype=...)
    **{f"{TF}.signal.{name}_window": f"lambda window_length, periodic=True, dtype=torch.float32: "
       f"torch.{name}_window(window_length, periodic=periodic, dtype=dtype)"
       for name in ("hann", "hamming")},
}
