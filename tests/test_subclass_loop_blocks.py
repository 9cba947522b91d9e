"""Sub-layers of subclassed layers whose sizes only run time knows: ``keras.Sequential``
blocks made in a loop of ``__init__`` (symbolic padding, grouped convolutions with a
symbolic window), appended to a list; merges on a list of tensors in ``call``."""

from __future__ import annotations

import os
import textwrap

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

HEADER = "import keras\nfrom keras import layers\n"

MIXER = """
class Mixer(layers.Layer):
    def __init__(self, dim, levels, window=3, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.stages = []
        for i in range(levels):
            size = 2 * i + window
            stage = keras.Sequential([
                layers.ZeroPadding2D(padding=(size // 2, size // 2)),
                layers.Conv2D(filters=self.dim, kernel_size=size,
                              activation=keras.activations.gelu, groups=self.dim,
                              use_bias=False),
            ])
            self.stages.append(stage)
        self.mix = layers.Conv2D(self.dim, 1)
        self.join = layers.Add()

    def call(self, x):
        y = x
        for stage in self.stages:
            y = stage(y)
        return self.mix(self.join([x, y]))


mixer = Mixer(4, 2)
"""


def test_loop_sequential_becomes_module_list_of_generated_blocks() -> None:
    from agent.rules.convert import convert_source

    result = convert_source(HEADER + textwrap.dedent(MIXER), "mixer.py")
    code = result.source
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "self.stages = nn.ModuleList()" in code
    assert "stage = MixerStage(dim=self.dim, size=size)" in code
    assert "nn.ZeroPad2d((size // 2, size // 2, size // 2, size // 2))" in code
    assert "nn.LazyConv2d(dim, kernel_size=size, groups=dim, bias=False)" in code
    assert "x + y" in code  # both inputs of Add


def test_symbolic_zero_padding_forms() -> None:
    """Keras's padding spec (an int, one per axis, (before, after) per axis; 1D: before,
    after) in torch's order, last axis first."""
    import libcst as cst

    from agent.rules.layers import LAYERS
    from agent.rules.layers.symbolic import symbolic_zero_padding
    from agent.rules.spec import bind
    from agent.rules.values import Value

    def ctor(name: str, code: str) -> str:
        spec = LAYERS[f"keras.layers.{name}"]
        args = bind(spec, [Value(code, node=cst.parse_expression(code))], {})
        n = int(name[-2])
        return symbolic_zero_padding(args, (None,) * n + (3,), n).modules[0][1]

    assert ctor("ZeroPadding2D", "p") == "nn.ZeroPad2d((p, p, p, p))"
    assert ctor("ZeroPadding2D", "(a, b)") == "nn.ZeroPad2d((b, b, a, a))"
    assert ctor("ZeroPadding2D", "((a, b), (c, d))") == "nn.ZeroPad2d((c, d, a, b))"
    assert ctor("ZeroPadding1D", "(a, b)") == "nn.ZeroPad1d((a, b))"
    assert ctor("ZeroPadding3D", "k") == "nn.ZeroPad3d((k, k, k, k, k, k))"


@pytest.mark.slow
def test_loop_blocks_numerically() -> None:
    import keras
    import torch

    from agent.equivalence import exec_source
    from agent.rules.convert import convert_source
    from agent.weights import port_weights

    source = HEADER + textwrap.dedent(MIXER)
    converted = convert_source(source, "mixer.py")
    k, t = exec_source(source, "orig"), exec_source(converted.source, "conv")
    x = np.random.default_rng(3).standard_normal((2, 7, 6, 4)).astype("float32")
    keras_mixer, torch_mixer = k["mixer"], t["mixer"]
    expected = keras.ops.convert_to_numpy(keras_mixer(x))  # type: ignore[operator]
    torch_mixer.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        torch_mixer(torch.as_tensor(x))  # type: ignore[operator]
    n_params = sum(p.numel() for p in torch_mixer.parameters())  # type: ignore[attr-defined]
    assert n_params == sum(int(np.prod(w.shape)) for w in keras_mixer.weights)  # type: ignore[attr-defined]
    port_weights(keras_mixer, torch_mixer)
    with torch.no_grad():
        got = torch_mixer(torch.as_tensor(x)).numpy()  # type: ignore[operator]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)
