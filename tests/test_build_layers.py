"""Layers a custom layer's ``build(input_shape)`` makes from the input shape
(``Dense(input_shape[-1] // 4)``): made where Keras makes them, on the first call, in
``initialize_parameters``; a converted model's dry call sizes them before its optimizer.

Each model is compared with its Keras original (Keras 3, torch backend) after porting the
weights, and the converted script runs one fast_dev_run batch with Keras/TF unimportable.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
import textwrap
from pathlib import Path
from typing import Any

import keras
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from tests.without_tf import run_without_tf

pytestmark = pytest.mark.slow

HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"


def converted(src: str, builder: str) -> tuple[str, Any]:
    """Convert cleanly, build both sides, port the weights, compare the outputs."""
    src = HEAD + textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    # keras_init(): the existing hook a model calls after its dry call (test_lazy_sizes.py)
    assert "keras" not in re.sub(r"\bkeras_init\b", "", code).replace("Keras", ""), code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = eval(builder, exec_source(src, "k2l_original"))
    module = eval(builder, exec_source(code, "k2l_converted"))
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    return code, result


GATE = '''\
class Gate(layers.Layer):
    def __init__(self, ratio, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        self.squeeze = layers.Dense(channels // self.ratio, activation="relu")
        self.expand = layers.Dense(channels, activation="sigmoid")
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale")

    def call(self, x):
        return x * self.expand(self.squeeze(x)) * self.scale


def gated_model(features=12):
    inputs = keras.Input(shape=(features,))
    x = layers.Dense(8)(inputs)
    x = Gate(2)(x)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
'''

FIT = '''
if __name__ == "__main__":
    model = {builder}
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.rand(16, {shape}).astype("float32")
    y = np.eye({classes}, dtype="float32")[np.arange(16) % {classes}]
    model.fit(x, y, epochs=1, batch_size=8)
'''


def test_layers_sized_from_the_input_shape_are_made_on_the_first_call(tmp_path: Path) -> None:
    code, result = converted(GATE, "gated_model()")
    init = code.split("def initialize_parameters", 1)[1].split("def forward", 1)[0]
    assert "self.squeeze = nn.LazyLinear(channels // self.ratio)" in init, code
    assert "self.expand = nn.Linear(channels // self.ratio, channels)" in init, code
    assert "class Gate(LazyModuleMixin, nn.Module):" in code, code
    assert "self.gate.keras_init()" in code, code  # the dry call, then Keras's initializers
    assert any("made in build() from the input shape" in w.message for w in result.warnings)
    script = convert_source(HEAD + GATE + FIT.format(builder="gated_model()", shape="12",
                                                     classes=3), "script.py")
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    run = run_without_tf(script.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]


KERNEL_MIX = '''\
class KernelMix(layers.Layer):
    """Involution-style: a kernel generator and reshapes sized by the input shape."""

    def __init__(self, groups, ratio, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups
        self.ratio = ratio

    def build(self, input_shape):
        (_, height, width, channels) = input_shape
        self.gen = keras.Sequential(
            [
                layers.Conv2D(channels // self.ratio, 1),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.Conv2D(self.groups, 1),
            ]
        )
        self.to_groups = layers.Reshape((height, width, 1, self.groups))
        self.to_channels = layers.Reshape((height, width, channels // self.groups, self.groups))
        self.back = layers.Reshape((height, width, channels))

    def call(self, x):
        k = self.to_groups(self.gen(x))
        v = self.to_channels(x)
        return self.back(k * v)


def mix_model():
    inputs = keras.Input(shape=(8, 8, 4))
    x = layers.Conv2D(6, 3, padding="same")(inputs)
    x = KernelMix(2, 3)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
'''


def test_a_sequential_and_reshapes_sized_in_build_take_the_shape_locals(tmp_path: Path) -> None:
    """The generated Sequential class takes build's size as a parameter; the reshapes keep
    their run-time targets."""
    code, _ = converted(KERNEL_MIX, "mix_model()")
    init = code.split("def initialize_parameters", 1)[1].split("def forward", 1)[0]
    assert "(_, height, width, channels) = input_shape" in init, code
    assert "self.gen = KernelMixGen(groups=self.groups, ratio=self.ratio, channels=channels)" \
        in init, code
    assert "def __init__(self, groups: int, ratio: int, channels: int) -> None:" in code, code
    assert "return (k * v).flatten(1).unflatten(1, self.back_shape)" in code, code
    script = convert_source(HEAD + KERNEL_MIX + FIT.format(
        builder="mix_model()", shape="8, 8, 4", classes=3), "script.py")
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    run = run_without_tf(script.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
