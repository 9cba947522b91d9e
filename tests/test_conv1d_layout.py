"""A channels-first Conv1D followed by a last-axis layer (Dense, LayerNormalization, a global
pooling then Dense): the converted model permutes the channels back last before the layer
reads them, checked numerically against Keras 3 (torch backend) with the weights ported, for
Sequential and functional models, an unknown sequence length and a Conv1D inside a helper.
Where the rules lose a channels-first tensor's rank, the layer is reported, not converted
with a guessed layout."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest

from agent.rules.models.codegen import LOST_LAYOUT, _Emitter
from agent.rules.models.graph import ModelIR, Tensor

pytestmark = pytest.mark.slow

CASES = {
    "sequential_dense": """
model = keras.Sequential([keras.Input(shape=(10, 3)), layers.Conv1D(4, 3, activation="relu"),
                          layers.Dense(2)])
""",
    "sequential_global_pool_dense": """
model = keras.Sequential([keras.Input(shape=(10, 3)), layers.Conv1D(4, 3),
                          layers.GlobalMaxPooling1D(), layers.Dense(2)])
""",
    "sequential_unknown_length": """
model = keras.Sequential()
model.add(layers.Conv1D(4, 3, input_shape=(None, 3)))
model.add(layers.Dropout(0.1))
model.add(layers.Dense(2))
""",
    "functional_dense": """
inp = keras.Input(shape=(10, 3))
x = layers.Conv1D(4, 3, activation="relu")(inp)
out = layers.Dense(2)(x)
model = keras.Model(inp, out)
""",
    "functional_unknown_length": """
inp = keras.Input(shape=(None, 3))
x = layers.Conv1D(4, 3, padding="same")(inp)
x = layers.Dense(5)(x)
x = layers.GlobalMaxPooling1D()(x)
out = layers.Dense(2)(x)
model = keras.Model(inp, out)
""",
    "helper_function": """
def block(x, n):
    x = layers.Conv1D(n, 3, padding="same", activation="relu")(x)
    return layers.Dense(n)(x)

inp = keras.Input(shape=(None, 3))
x = block(inp, 4)
x = block(x, 5)
x = layers.GlobalAveragePooling1D()(x)
model = keras.Model(inp, layers.Dense(2)(x))
""",
    "op_between": """
inp = keras.Input(shape=(None, 3))
x = layers.Conv1D(4, 3)(inp)
x = keras.ops.tanh(x) * 2.0
x = layers.LayerNormalization()(x)
model = keras.Model(inp, layers.Dense(2)(x))
""",
    "subclass": """
class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv1D(4, 3)
        self.fc = layers.Dense(2)

    def call(self, x):
        return self.fc(keras.ops.relu(self.conv(x)))

model = Net()
model.build((None, 10, 3))
""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_last_axis_layer_after_conv1d_matches_keras(name: str) -> None:
    from tests.test_models_equivalence import KERAS, check

    code = check(KERAS + CASES[name])
    assert "nn.Conv1d(" in code and ".permute(0, 2, 1)" in code, code  # ran channels-first


def test_a_channels_first_tensor_of_unknown_rank_is_reported_not_guessed() -> None:
    """A Dense's own rank (1) says nothing about its input's: no permute is written for a
    channels-first tensor whose rank is unknown, and the model is reported instead."""
    t = Tensor("x", None)
    ir = ModelIR("KerasModel", "model", "Functional", 7, [], [], [], [t])
    emitter = _Emitter(ir)
    emitter.layout[id(t)] = "cf"
    gen = emitter.run()
    assert gen.unmapped == [(7, "Model", f"the output x is {LOST_LAYOUT}")]
    assert not any("permute" in line for line in emitter.body)
    emitter.layout[id(t)] = "keras"  # in Keras order already: nothing to do, nothing to say
    assert emitter.convert(t, "keras", 1) and emitter.convert(Tensor("y", (5, 4)), "keras")
