"""Weight regularizers on the sub-layers of a subclassed model (``Embedding(
embeddings_regularizer=l2(..))``, ``Dense(kernel_regularizer=.., bias_regularizer=..)``): the
class converts (it stayed Keras whole), and the step's loss equals Keras 3's, which adds each
weight's penalty once per step however often the layer is called. The model looks its input
up in the Embedding through a slice (``inputs[:, 0]``): fit's data is integer."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights

keras = pytest.importorskip("keras")

SRC = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    class PairScorer(keras.Model):
        def __init__(self, n_items, dim, **kwargs):
            super().__init__(**kwargs)
            self.items = layers.Embedding(
                n_items, dim, embeddings_regularizer=keras.regularizers.l2(1e-2))
            self.head = layers.Dense(1, kernel_regularizer=keras.regularizers.l1(0.05),
                                     bias_regularizer="l2")

        def call(self, inputs):
            first = self.items(inputs[:, 0])
            second = self.items(inputs[:, 1])
            return self.head(first * second)


    model = PairScorer(12, 4)
    model.compile(optimizer="adam", loss="mse")
    pairs = np.random.randint(0, 12, size=(40, 2))
    scores = np.random.rand(40, 1)
    model.fit(pairs, scores, epochs=1, batch_size=8)
    """)


def _models() -> tuple[Any, Any, str]:
    keras.utils.set_random_seed(0)
    res = convert_source(SRC)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    ns: dict[str, Any] = {}
    exec(compile(SRC.split("model = PairScorer")[0], "<keras>", "exec"), ns)
    kmodel = ns["PairScorer"](12, 4)
    kmodel.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).integers(0, 12, size=(8, 2))
    kmodel(x)
    kmodel.head.bias.assign(np.full((1,), 0.5, "float32"))  # a bias term that counts
    tns: dict[str, Any] = {}
    exec(compile(res.source.split("\nmodel = PairScorer")[0], "<converted>", "exec"), tns)
    tmodel = tns["PairScorer"](12, 4)
    tmodel(torch.as_tensor(x))
    port_weights(kmodel, tmodel)
    return kmodel, tmodel, res.source


def test_the_class_converts_and_its_data_is_integer() -> None:
    _, _, code = _models()
    cls = code.split("class PairScorer")[1].split("\n\n\n")[0]
    assert "keras." not in cls and "layers." not in cls and "(pl.LightningModule)" in cls
    assert "torch.as_tensor(np.asarray(pairs), dtype=torch.long)" in code
    assert "self.added_losses.append(0.01 * self.items.weight.square().sum())" in code


def test_the_step_loss_adds_each_penalty_once_as_keras() -> None:
    kmodel, tmodel, _ = _models()
    rng = np.random.default_rng(3)
    x = rng.integers(0, 12, size=(8, 2))
    y = rng.normal(size=(8, 1)).astype("float32")
    expected = float(kmodel.compute_loss(x=x, y=y, y_pred=kmodel(x)).detach().cpu())
    plain = float(keras.losses.mean_squared_error(y, kmodel(x)).detach().cpu().mean())
    assert expected - plain > 1e-3  # the regularizers really count
    tmodel.eval()
    for _ in range(2):  # the terms of the last forward only
        got = float(tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0).detach())
        assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (got, expected)
