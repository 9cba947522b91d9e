"""Sub-layers a custom layer's ``build()`` makes from attributes ``build()`` itself sets
(``self.dim = input_shape[-1]``, ``self.pad = max(0, self.units - self.dim)``, then
``GRUCell(self.dim + self.pad)``): made in ``initialize_parameters`` after those lines, where
the values exist, never hoisted into ``__init__`` (an AttributeError when the model is
built). A build that reads no input shape stays one ``__init__`` block, in its order.

Each model is compared with its Keras original (Keras 3, torch backend) after porting the
weights, and the converted script trains one epoch with Keras/TF unimportable.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

from pathlib import Path

import pytest

from agent.rules.convert import convert_source
from tests.test_build_layers import FIT, HEAD, converted
from tests.without_tf import run_without_tf

pytestmark = pytest.mark.slow

MESSENGER = '''\
from keras import ops


class Messenger(layers.Layer):
    """A message-passing step: states padded to ``units``, updated by a GRU cell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.node_dim = input_shape[0][-1]
        self.pad_length = max(0, self.units - self.node_dim)
        self.update = layers.GRUCell(self.node_dim + self.pad_length)
        self.proj = layers.Dense(self.node_dim + self.pad_length)
        self.built = True

    def call(self, inputs):
        nodes, messages = inputs
        h = ops.pad(nodes, [(0, 0), (0, self.pad_length)])
        m = self.proj(messages)
        h, _ = self.update(m, h)
        return h


def messenger_model():
    nodes = keras.Input(shape=(5,))
    messages = keras.Input(shape=(7,))
    x = Messenger(8)([nodes, messages])
    return keras.Model([nodes, messages], layers.Dense(2)(x))
'''

TWO_INPUT_FIT = '''
if __name__ == "__main__":
    model = messenger_model()
    model.compile(optimizer="adam", loss="mse")
    a = np.random.rand(16, 5).astype("float32")
    b = np.random.rand(16, 7).astype("float32")
    y = np.random.rand(16, 2).astype("float32")
    model.fit([a, b], y, epochs=1, batch_size=8)
'''


def _initialize_parameters(code: str, cls: str) -> str:
    body = code.split(f"class {cls}(", 1)[1]
    return body.split("def initialize_parameters", 1)[1].split("def forward", 1)[0]


def test_a_cell_sized_by_attributes_build_sets_is_made_after_them(tmp_path: Path) -> None:
    code, result = converted(MESSENGER, "messenger_model()")
    lazy = _initialize_parameters(code, "Messenger")
    lines = [line.strip() for line in lazy.splitlines()]
    pad = lines.index("self.pad_length = max(0, self.units - self.node_dim)")
    update = next(k for k, line in enumerate(lines) if line.startswith("self.update ="))
    proj = lines.index("self.proj = nn.LazyLinear(self.node_dim + self.pad_length)")
    assert pad < update and pad < proj, code
    init = code.split("class Messenger(", 1)[1].split("def initialize_parameters", 1)[0]
    assert "self.update" not in init and "self.proj" not in init, code
    assert "class Messenger(LazyModuleMixin, nn.Module):" in code, code
    assert "self.messenger.keras_init()" in code, code  # after the model's dry call
    assert any("made in build() from the input shape" in w.message for w in result.warnings)
    script = convert_source(HEAD + MESSENGER + TWO_INPUT_FIT, "script.py")
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    run = run_without_tf(script.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]


WIDEN = '''\
class Widen(layers.Layer):
    """build() sets a width without the input shape, a weight from it, then a Dense of that
    width: the Dense exists only once build ran."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.width = self.factor * 4
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     name="scale")
        self.out = layers.Dense(self.width, activation="relu")

    def call(self, x):
        return self.out(x * self.scale)


def widen_model(features=6):
    inputs = keras.Input(shape=(features,))
    x = Widen(3)(inputs)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
'''


def test_a_dense_reading_an_attribute_the_lazy_build_sets_follows_it(tmp_path: Path) -> None:
    code, _ = converted(WIDEN, "widen_model()")
    lazy = _initialize_parameters(code, "Widen")
    assert lazy.index("self.width = self.factor * 4") < lazy.index("self.out = "), code
    script = convert_source(HEAD + WIDEN + FIT.format(builder="widen_model()", shape="6",
                                                      classes=3), "script.py")
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    run = run_without_tf(script.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]


EAGER = '''\
class Twice(layers.Layer):
    """build() reads no input shape: its statements all run in __init__, in order."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.hidden = self.units * 2
        self.inner = layers.Dense(self.hidden, activation="tanh")
        self.outer = layers.Dense(self.units)

    def call(self, x):
        return self.outer(self.inner(x))


def twice_model():
    inputs = keras.Input(shape=(5,))
    return keras.Model(inputs, Twice(3)(inputs))
'''


def test_a_build_without_the_shape_keeps_its_order_in_init() -> None:
    code, _ = converted(EAGER, "twice_model()")
    init = code.split("class Twice(", 1)[1].split("def forward", 1)[0]
    assert "initialize_parameters" not in init, code
    assert init.index("self.hidden = self.units * 2") < init.index("self.inner = "), code



def test_a_model_that_cannot_call_the_layer_first_says_its_optimizer_misses_them() -> None:
    """Without an input size no dry call makes build()'s modules before the Trainer makes the
    optimizer: the report says so (a change of behaviour); with one, it does not."""
    unsized = convert_source(HEAD + MESSENGER.replace("keras.Input(shape=(5,))",
                                                      "keras.Input(shape=(None,))"), "m.py")
    sized = convert_source(HEAD + MESSENGER, "m.py")
    said = [w.message for w in unsized.warnings if "made after the optimizer" in w.message]
    assert said and said[0].startswith("Messenger: "), unsized.warnings
    assert not any("made after the optimizer" in w.message for w in sized.warnings)
