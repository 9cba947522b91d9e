"""A Keras mask reaching the model's output: Keras's loss and metrics skip the masked steps.

Keras weighs each step's loss by the output's mask over the number of unmasked steps
(``sum(loss * mask) / sum(mask)``, sample weights multiplied in) and its mean metrics count
the unmasked steps only. The converted ``forward`` stores the mask as ``self.output_mask``
(a sub-model's is read off it) and the generated steps apply it; each program below is our
own and is compared with Keras 3's ``evaluate`` on the same weights and padded batch.
"""

from __future__ import annotations

import json
import os
import subprocess

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.tf_shim import install
from agent.tools.tf_original import tf_python
from agent.weights import port_weights
from tests.test_masks import _convert, _ids, _mask_warnings

HEAD = """\
import keras
from keras import layers, ops

VOCAB, STEPS = 20, 7


class TokensAndPositions(layers.Layer):
    def __init__(self, vocab, steps, dim, **kwargs):
        super().__init__(**kwargs)
        self.tokens = layers.Embedding(vocab, dim)
        self.positions = layers.Embedding(steps, dim)

    def call(self, ids):
        where = ops.arange(0, ops.shape(ids)[-1])
        return self.tokens(ids) + self.positions(where)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

"""
COMPILE = '\nmodel.compile("adam", loss="{loss}", metrics=["accuracy"])\n'

MODELS = {
    # Embedding's mask through an RNN returning sequences to a softmax
    "rnn_tagger": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = layers.Embedding(VOCAB, 8, mask_zero=True)(ids)
x = layers.LSTM(6, return_sequences=True)(x)
x = layers.Dropout(0.1)(x)
model = keras.Model(ids, layers.Dense(VOCAB, activation="softmax")(x))
""",
    # a custom compute_mask straight to the output
    "computed": """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, 6)(ids)
x = layers.Dense(8, activation="relu")(x)
model = keras.Model(ids, layers.Dense(VOCAB, activation="softmax")(x))
""",
    # the mask made inside a sub-model reaches the outer model's output
    "submodel": """
inner_ids = keras.Input(shape=(STEPS,), dtype="int32")
h = TokensAndPositions(VOCAB, STEPS, 6)(inner_ids)
decoder = keras.Model(inner_ids, layers.Dense(VOCAB, activation="softmax")(h))
ids = keras.Input(shape=(STEPS,), dtype="int32")
model = keras.Model(ids, decoder(ids))
""",
    # a subclassed model returning a masked tensor
    "subclassed": """
class Tagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = layers.Embedding(VOCAB, 6, mask_zero=True)
        self.hidden = layers.Dense(5, activation="tanh")
        self.head = layers.Dense(VOCAB, activation="softmax")

    def call(self, ids):
        x = self.embed(ids)
        x = self.hidden(x)
        return self.head(x)


model = Tagger()
""",
}


def _targets(ids: np.ndarray) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 20, size=ids.shape).astype("int64")


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize("form", sorted(MODELS))
def test_the_loss_skips_the_masked_output_steps_as_keras_does(form: str, padding: str) -> None:
    src = HEAD + MODELS[form] + COMPILE.format(loss="sparse_categorical_crossentropy")
    result = _convert(src)
    assert not result.unmapped, result.unmapped
    assert not _mask_warnings(result), _mask_warnings(result)
    code = result.source
    assert "self.output_mask = " in code and "step_weight" in code, code
    ids = _ids(padding).astype("int32")
    y = _targets(ids)
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    keras_model(ids)  # builds a subclassed model's weights
    rng = np.random.default_rng(1)
    for w in keras_model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    ref = keras_model.evaluate(ids, y, batch_size=len(ids), verbose=0, return_dict=True)
    module = exec_source(code, "k2l_converted")["model"]
    module.eval()
    with torch.no_grad():
        module(torch.as_tensor(ids))  # sizes any nn.Lazy module
    port_weights(keras_model, module)
    with torch.no_grad():
        loss = module.training_step((torch.as_tensor(ids), torch.as_tensor(y)), 0)
    means = {k: float(v) for k, v in module.train_means.compute().items()}
    np.testing.assert_allclose(float(loss), ref["loss"], rtol=1e-4, err_msg=code)
    np.testing.assert_allclose(means["accuracy"], ref["accuracy"], rtol=1e-5, err_msg=code)
    # unmasked, the numbers differ: the test can fail
    unmasked = keras.losses.sparse_categorical_crossentropy(
        y, keras.ops.convert_to_numpy(keras_model(ids))).mean()
    assert abs(float(unmasked) - ref["loss"]) > 1e-3


def test_a_mask_reaching_several_outputs_keeps_the_warning() -> None:
    src = HEAD + """
ids = keras.Input(shape=(STEPS,), dtype="int32")
x = TokensAndPositions(VOCAB, STEPS, 6)(ids)
model = keras.Model(ids, [layers.Dense(3)(x), layers.Dense(2)(x)])
"""
    result = _convert(src)
    assert "output_mask" not in result.source
    assert any("compute_mask attaches is not passed on" in w for w in _mask_warnings(result))


WEIGHT_FREE = """\
{imports}

STEPS, CLASSES = 6, 5

x_in = keras.Input(shape=(STEPS, CLASSES))
x = layers.Masking()(x_in)
model = keras.Model(x_in, layers.Activation("softmax")(x))
model.compile("adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
"""
TF_EVALUATE = """
import json, sys
import numpy as np
args = json.loads(sys.argv[1])
scope = {}
exec(args["src"], scope)
x, y = np.asarray(args["x"], "float32"), np.asarray(args["y"], "int64")
print(json.dumps(scope["model"].evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)))
"""


def _padded_features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6, 5)).astype("float32")
    x[0, :2] = 0.0
    x[1, 4:] = 0.0
    x[2, 3] = 0.0
    return x, rng.integers(0, 5, size=(3, 6)).astype("int64")


@pytest.mark.parametrize("keras_2", [False, True])
def test_the_masked_loss_is_keras_2s_and_keras_3s(keras_2: bool) -> None:
    """Weight-free, so tf_keras (Keras 2) runs the same model in TensorFlow's interpreter:
    both Kerases divide by the unmasked steps."""
    imports = ("from tensorflow import keras\nfrom tensorflow.keras import layers" if keras_2
               else "import keras\nfrom keras import layers")
    src = WEIGHT_FREE.format(imports=imports)
    x, y = _padded_features()
    if keras_2:
        python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
        if not python:
            pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
        done = subprocess.run(
            [python, "-c", TF_EVALUATE, json.dumps({"src": src, "x": x.tolist(),
                                                    "y": y.tolist()})],
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                 "CUDA_VISIBLE_DEVICES": ""})
        if done.returncode != 0 and "tf_keras" in done.stderr:
            pytest.skip("TensorFlow there has no tf_keras (Keras 2)")
        assert done.returncode == 0, done.stderr[-3000:]
        ref = json.loads(done.stdout.strip().splitlines()[-1])
    else:
        keras.backend.clear_session()
        model = exec_source(src, "k2l_original")["model"]
        ref = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    result = _convert(src)
    assert not _mask_warnings(result), _mask_warnings(result)
    module = exec_source(result.source, "k2l_converted")["model"]
    module.eval()
    with torch.no_grad():
        loss = module.training_step((torch.as_tensor(x), torch.as_tensor(y)), 0)
    accuracy = float(module.train_means.compute()["accuracy"])
    np.testing.assert_allclose(float(loss), ref["loss"], rtol=1e-5, err_msg=result.source)
    np.testing.assert_allclose(accuracy, ref["accuracy"], rtol=1e-5, err_msg=result.source)
