"""Structured-data models over a dict of named Inputs (issue 9).

A helper makes one Input per feature name, another loops over that dict and returns the
list of encoded features, a custom layer concatenates the list (``layers.concatenate`` in
its ``call``) and is sized by ``len(features)``; the feature names come from a dict
comprehension whose values are read from the data (only its keys are known statically),
and categorical features go through a ``StringLookup`` before their ``Embedding``.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
import textwrap
from typing import Any

import keras
import pytest
import torch

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from tests.test_models_graphs import KERAS

pytestmark = pytest.mark.slow



def check(src: str, builder: str) -> str:
    """tests.test_models_graphs.check, where a custom layer's generated ``keras_init``
    (Keras's initializers of its lazy sub-layers) is the one name allowed to say keras."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    rest = re.sub(r"\bkeras_init\b", "", code)
    assert "keras" not in rest and "tensorflow" not in rest, code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    ns: dict[str, Any] = exec_source(src, "k2l_original")
    keras_model = eval(builder, ns)
    module = eval(builder, exec_source(code, "k2l_converted"))
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    return code


SELECTION = """

class Selection(layers.Layer):
    def __init__(self, num_features, units):
        super().__init__()
        self.scores = layers.Dense(units=num_features, activation="softmax")
        self.project = layers.Dense(units)

    def call(self, inputs):
        v = layers.concatenate(inputs)
        v = keras.ops.expand_dims(self.scores(v), axis=-1)
        x = keras.ops.stack([self.project(t) for t in inputs], axis=1)
        return keras.ops.sum(v * x, axis=1)
"""


def test_helper_loops_over_the_dict_of_inputs_and_returns_a_list() -> None:
    code = check(KERAS + """
NUMERIC = ["age", "height", "weight"]
""" + SELECTION + """

def make_inputs():
    inputs = {}
    for name in NUMERIC:
        inputs[name] = layers.Input(name=name, shape=(1,))
    return inputs


def encode(inputs, size):
    encoded = []
    for name in inputs:
        encoded.append(layers.Dense(units=size)(inputs[name]))
    return encoded


def create_model(size=4):
    inputs = make_inputs()
    features = encode(inputs, size)
    count = len(features)
    selected = Selection(count, size)(features)
    return keras.Model(inputs=inputs, outputs=layers.Dense(1)(selected))


model = create_model()
""", "model")
    assert "Selection(3, size)" in code
    assert "torch.cat(inputs, dim=-1)" in code
    assert "count = " not in code and "features = encode(" not in code


STRINGS = KERAS + """
import numpy as np
from keras.layers import StringLookup

HEADER = ["age", "color", "shape", "income"]
NUMERIC = ["age"]
data = {"color": np.array(["red", "blue", "red", "green"]),
        "shape": np.array(["round", "square", "round", "round"])}
VOCABULARIES = {
    name: sorted(set(data[name].tolist())) for name in HEADER if name not in NUMERIC + ["income"]
}
FEATURES = NUMERIC + list(VOCABULARIES.keys())


def make_inputs():
    inputs = {}
    for name in FEATURES:
        if name in NUMERIC:
            inputs[name] = layers.Input(name=name, shape=(), dtype="float32")
        else:
            inputs[name] = layers.Input(name=name, shape=(), dtype="string")
    return inputs


def encode(inputs, size):
    encoded = []
    for name in inputs:
        if name in VOCABULARIES:
            vocabulary = VOCABULARIES[name]
            index = StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
            value_index = index(inputs[name])
            encoded_feature = layers.Embedding(input_dim=len(vocabulary), output_dim=size)(
                value_index)
        else:
            encoded_feature = keras.ops.expand_dims(inputs[name], -1)
            encoded_feature = layers.Dense(units=size)(encoded_feature)
        encoded.append(encoded_feature)
    return encoded


def create_model(size=4):
    inputs = make_inputs()
    features = encode(inputs, size)
    return keras.Model(inputs=inputs, outputs=layers.Dense(1)(layers.concatenate(features)))


model = create_model()
"""


def test_string_features_from_a_vocabulary_dict_read_from_data() -> None:
    result = convert_source(textwrap.dedent(STRINGS), "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "pl.LightningModule" in code
    # each Embedding sized by its own vocabulary, read when the class is built from the
    # dict the script computed (a parameter: a definitions-only import has no VOCABULARIES)
    assert "nn.Embedding(len(vocabularies['color']), size)" in code
    assert "nn.Embedding(len(vocabularies['shape']), size)" in code
    assert "(size=size, vocabularies=VOCABULARIES)" in code
    forward = " ".join(code.split("def forward(")[1].split(")")[0].split())
    assert forward == ("self, age: torch.Tensor, color_value_index: torch.Tensor, "
                       "shape_value_index: torch.Tensor,"), forward
    ns = exec_source(code.replace("import keras\n", ""), "k2l_converted")
    module = ns["model"]
    out = module(torch.tensor([1.0, 2.0]), torch.tensor([0, 2]), torch.tensor([1, 0]))
    assert out.shape == (2, 1)
    sizes = [m.num_embeddings for m in module.modules() if isinstance(m, torch.nn.Embedding)]
    assert sizes == [3, 2]


def test_module_constants_keep_the_keys_of_a_dict_read_from_data() -> None:
    import libcst as cst

    from agent.rules.models.inline import static_value
    from agent.rules.values import UNKNOWN, module_constants

    env = module_constants(cst.parse_module(textwrap.dedent("""
        NUMERIC = ["age"]
        HEADER = ["age", "color", "shape", "income"]
        VOCAB = {f: sorted(data[f].unique()) for f in HEADER if f not in NUMERIC + ["income"]}
        NAMES = NUMERIC + list(VOCAB.keys())
        COUNT = len(NAMES)
        ODD = {f: 1 for f in HEADER if f in unknown_list}
    """)))
    assert list(env["VOCAB"]) == ["color", "shape"]
    assert env["VOCAB"]["color"] is UNKNOWN  # the values come from the data
    assert env["NAMES"] == ["age", "color", "shape"]
    assert env["COUNT"] == 3
    assert "ODD" not in env  # a test the rules cannot decide: nothing is assumed
    # a loop over the keys unrolls; one over the (unknown) values does not
    assert static_value(cst.parse_expression("VOCAB.keys()"), env) == ["color", "shape"]
    assert static_value(cst.parse_expression("VOCAB.items()"), env) is UNKNOWN


def test_custom_layers_appended_in_a_loop_are_registered() -> None:
    """``self.grns = list()`` filled with custom layers in a loop (one per feature): an
    ``nn.ModuleList``, or torch would not see (train, move, save) their parameters."""
    result = convert_source(textwrap.dedent(KERAS + """
class Part(layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.dense = layers.Dense(units)

    def call(self, x):
        return self.dense(x)


class Many(layers.Layer):
    def __init__(self, count, units):
        super().__init__()
        self.parts = list()
        for idx in range(count):
            part = Part(units)
            self.parts.append(part)
        self.others = []
        for idx in range(count):
            self.others.append(Part(units))

    def call(self, inputs):
        return [self.parts[i](x) + self.others[i](x) for i, x in enumerate(inputs)]
"""), "model.py")
    code = result.source
    assert "self.parts = nn.ModuleList()" in code and "self.others = nn.ModuleList()" in code
    ns = exec_source(code.replace("import keras\n", ""), "k2l_converted")
    many = ns["Many"](2, 3)
    outs = many([torch.zeros(4, 5), torch.ones(4, 5)])
    assert [tuple(o.shape) for o in outs] == [(4, 3), (4, 3)]
    assert len(list(many.parameters())) == 8  # 4 Dense layers, weight and bias each
