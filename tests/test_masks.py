"""Keras masks (``Embedding(mask_zero=True)``, ``Masking``) in front of recurrent layers.

Keras skips masked steps: the state is carried, the output repeats (or is zero under a
Bidirectional returning sequences), GlobalAveragePooling1D averages unmasked steps only. The
converted model computes the mask in ``forward`` and passes it on; each program below is our
own and is compared with Keras 3 (torch backend), weights ported, on pre-padded
(``pad_sequences``'s default), post-padded and holed batches. Forms the rules do not
reproduce keep the warning, so the file is not called converted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import Conversion, convert_source
from agent.rules.training.runtime.masked_rnn import masked_rnn
from agent.tf_shim import install
from agent.weights import port_weights

KERAS = "import keras\nfrom keras import layers\n\n"
STEPS, VOCAB = 7, 20


def _ids(padding: str, seed: int = 0) -> np.ndarray:
    """Token ids with 0 as padding: lengths 7, 4, 1 and 3, padded on ``padding``'s side
    ("pre", "post") or with zeros inside the sequence ("holes")."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (STEPS, 4, 1, 3):
        tokens = rng.integers(1, VOCAB, size=n)
        pad = np.zeros(STEPS - n, dtype=np.int64)
        if padding == "pre":
            rows.append(np.concatenate([pad, tokens]))
        elif padding == "post":
            rows.append(np.concatenate([tokens, pad]))
        else:
            row = rng.integers(1, VOCAB, size=STEPS)
            row[rng.random(STEPS) < 0.4] = 0
            row[0] = rng.integers(1, VOCAB)
            rows.append(row)
    return np.stack(rows).astype("int64")


def _features(padding: str) -> np.ndarray:
    """(batch, steps, 3) features whose padded steps are all -1.0 (a Masking value)."""
    ids = _ids(padding)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(*ids.shape, 3)).astype("float32")
    x[ids == 0] = -1.0
    return x


def _convert(src: str) -> Conversion:
    return convert_source(textwrap.dedent(src), "model.py")


def _mask_warnings(result: Conversion) -> list[str]:
    return [w.message for w in result.warnings if "mask" in w.message.lower()]


def _equivalent(src: str, inputs: np.ndarray) -> str:
    """Convert, port Keras's (randomized) weights, compare outputs on ``inputs``."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert not _mask_warnings(result), _mask_warnings(result)
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    module = exec_source(result.source, "k2l_converted")["model"]
    ref = keras.ops.convert_to_numpy(keras_model(inputs, training=False))
    rng = np.random.default_rng(1)
    for w in keras_model.weights:  # non-default weights everywhere
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    ref = keras.ops.convert_to_numpy(keras_model(inputs, training=False))
    port_weights(keras_model, module)
    module.eval()
    with torch.no_grad():
        got = module(torch.as_tensor(inputs)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4, err_msg=result.source)
    return result.source


SEQUENTIAL_FORMS = {
    "lstm": "layers.LSTM(5)",
    "gru_sequences_pooled": "layers.GRU(5, return_sequences=True),\n"
                            "    layers.GlobalAveragePooling1D()",
    "stacked": "layers.SimpleRNN(4, return_sequences=True),\n"
               "    layers.Dropout(0.2),\n    layers.LSTM(3)",
    "bidirectional_last": "layers.Bidirectional(layers.LSTM(4))",
    "bidirectional_sequences": 'layers.Bidirectional(layers.GRU(3, return_sequences=True), '
                               'merge_mode="sum"),\n    layers.LSTM(4)',
    "bidirectional_pooled": "layers.Bidirectional(layers.LSTM(3, return_sequences=True)),\n"
                            "    layers.TimeDistributed(layers.Dense(4)),\n"
                            "    layers.GlobalAveragePooling1D()",
    "go_backwards": "layers.GRU(4, go_backwards=True)",
}


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize("form", sorted(SEQUENTIAL_FORMS))
def test_mask_zero_before_recurrent_layers_is_numerically_keras(form: str, padding: str
                                                                ) -> None:
    src = KERAS + f"""
model = keras.Sequential([
    keras.Input(shape=({STEPS},)),
    layers.Embedding({VOCAB}, 6, mask_zero=True),
    {SEQUENTIAL_FORMS[form]},
    layers.Dense(2),
])
"""
    code = _equivalent(src, _ids(padding))
    assert "mask = x != 0" in code and "mask=mask" in code


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
def test_masking_layer_in_a_functional_model_is_numerically_keras(padding: str) -> None:
    src = KERAS + f"""
inputs = keras.Input(shape=({STEPS}, 3))
x = layers.Masking(mask_value=-1.0)(inputs)
x = layers.Dense(8, activation="relu")(x)
x = layers.LSTM(6, return_sequences=True)(x)
pooled = layers.GlobalAveragePooling1D()(x)
last = layers.GRU(5)(x)
outputs = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([pooled, last]))
model = keras.Model(inputs, outputs)
"""
    code = _equivalent(src, _features(padding))
    assert "mask = (inputs != -1.0).any(dim=-1)" in code
    assert "inputs * mask.unsqueeze(-1)" in code


def test_mask_dropped_by_a_layer_without_mask_support_needs_no_mask() -> None:
    """Keras 3 drops the mask at Flatten (with a warning): the plain form is exact."""
    src = KERAS + f"""
model = keras.Sequential([
    keras.Input(shape=({STEPS},)),
    layers.Embedding({VOCAB}, 4, mask_zero=True),
    layers.Flatten(),
    layers.Dense(3),
])
"""
    code = _equivalent(src, _ids("pre"))
    assert "mask" not in code.split("def forward")[-1]


def test_return_state_under_a_mask_is_numerically_keras() -> None:
    src = KERAS + f"""
tokens = keras.Input(shape=({STEPS},))
x = layers.Embedding({VOCAB}, 4, mask_zero=True)(tokens)
seq, h, c = layers.LSTM(5, return_sequences=True, return_state=True)(x)
x = layers.GRU(3)(seq)
model = keras.Model(tokens, layers.Concatenate()([x, h, c]))
"""
    _equivalent(src, _ids("pre"))


def test_a_mask_reaching_the_output_is_stored_for_the_loss() -> None:
    """The loss skips those steps (tests/test_output_masks.py): forward stores the mask."""
    result = _convert(KERAS + f"""
model = keras.Sequential([
    keras.Input(shape=({STEPS},)),
    layers.Embedding({VOCAB}, 4, mask_zero=True),
    layers.LSTM(4, return_sequences=True),
])
""")
    assert not _mask_warnings(result), _mask_warnings(result)
    assert "masked_rnn(" in result.source and "self.output_mask = mask" in result.source


@pytest.mark.parametrize("reader, why", [
    ("layers.MultiHeadAttention(2, 4)", "attention reads the mask"),
    ("layers.BatchNormalization(),\n    layers.LSTM(4)", "BatchNormalization reads the mask"),
])
def test_forms_not_reproduced_keep_the_warning(reader: str, why: str) -> None:
    if "MultiHead" in reader:
        body = f"""
tokens = keras.Input(shape=({STEPS},))
x = layers.Embedding({VOCAB}, 4, mask_zero=True)(tokens)
x = {reader}(x, x)
model = keras.Model(tokens, layers.GlobalMaxPooling1D()(x))
"""
    else:
        body = f"""
model = keras.Sequential([
    keras.Input(shape=({STEPS},)),
    layers.Embedding({VOCAB}, 4, mask_zero=True),
    {reader},
])
"""
    result = _convert(KERAS + body)
    assert any("mask_zero=True): torch has no implicit masks" in w for w in
               _mask_warnings(result)), why
    assert "masked_rnn(" not in result.source, why


def test_masked_rnn_without_padding_is_the_module_itself() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 6, 4)
    everything = torch.ones(3, 6, dtype=torch.bool)
    for rnn in (torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True),
                torch.nn.GRU(4, 5, batch_first=True), torch.nn.GRU(4, 3, batch_first=True,
                                                                  bidirectional=True),
                torch.nn.RNN(4, 2, batch_first=True, nonlinearity="relu", bias=False)):
        with torch.no_grad():
            want, want_state = rnn(x)
            got, state = masked_rnn(rnn, x, mask=everything)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(state, want_state)


def test_masked_rnn_on_right_padding_matches_packed_sequences() -> None:
    """torch's own packed sequences are exact for right padding: the final states agree."""
    torch.manual_seed(1)
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 4)
    mask = torch.arange(6) < lengths[:, None]
    rnn = torch.nn.LSTM(4, 5, batch_first=True, bidirectional=True)
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                         enforce_sorted=False)
        _, (h_packed, c_packed) = rnn(packed)
        _, (h, c) = masked_rnn(rnn, x, mask=mask)
    torch.testing.assert_close(h, h_packed)
    torch.testing.assert_close(c, c_packed)


def test_a_keras_cell_under_a_mask_keeps_the_warning() -> None:
    """``LSTM(activation="relu")`` runs Keras's cell (ActivatedLSTM), not nn.LSTM."""
    result = _convert(KERAS + f"""
model = keras.Sequential([
    keras.Input(shape=({STEPS},)),
    layers.Embedding({VOCAB}, 4, mask_zero=True),
    layers.LSTM(4, activation="relu"),
])
""")
    assert "ActivatedLSTM(" in result.source and "masked_rnn(" not in result.source
    assert any("torch has no implicit masks" in w for w in _mask_warnings(result))


def test_unknown_input_size_under_a_mask_is_reported() -> None:
    """Without an input shape the recurrent layer is lazy: masked_rnn cannot run it, and the
    report says the masked steps are computed."""
    result = _convert(KERAS + """
model = keras.Sequential([layers.Masking(mask_value=-1.0), layers.GRU(3), layers.Dense(1)])
""")
    assert "masked_rnn(" not in result.source
    assert any("runs the masked steps that Keras skips" in w for w in _mask_warnings(result))


SCRIPT = KERAS + """\
import numpy as np

rng = np.random.default_rng(0)
seqs = [rng.integers(1, 50, size=k) for k in rng.integers(2, 9, size=64)]
x = keras.utils.pad_sequences(seqs, maxlen=9)
y = np.array([float((s < 10).any()) for s in seqs], dtype="float32")
model = keras.Sequential([
    keras.Input(shape=(9,), dtype="int32"),
    layers.Embedding(50, 8, mask_zero=True),
    layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
    layers.GlobalAveragePooling1D(),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=1, batch_size=16)
print("scores", model.predict(x[:4]).shape)
"""


def test_converted_masked_script_trains_and_predicts_without_keras(tmp_path: Path) -> None:
    result = _convert(SCRIPT)
    assert not result.unmapped and not _mask_warnings(result)
    assert "import keras" not in result.source and "def masked_rnn(" in result.source
    script = tmp_path / "train.py"
    script.write_text(result.source)
    blocked = ("import sys, runpy; sys.modules['keras'] = None; "
               "sys.modules['tensorflow'] = None; runpy.run_path(sys.argv[1], run_name='__main__')")
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", blocked, str(script)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "scores (4, 1)" in run.stdout


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
def test_masks_in_a_subclassed_model_are_numerically_keras(padding: str) -> None:
    src = KERAS + f"""
class Tagger(keras.Model):
    def __init__(self, units):
        super().__init__()
        self.embed = layers.Embedding({VOCAB}, 6, mask_zero=True)
        self.rnn = layers.GRU(units, return_sequences=True)
        self.back = layers.LSTM(2, go_backwards=True)
        self.pool = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(2)

    def call(self, tokens):
        x = self.embed(tokens)
        x = self.rnn(x)
        return self.head(self.pool(x)) + self.back(x)


model = Tagger(4)
"""
    code = _equivalent(src, _ids(padding))
    assert "mask = tokens != 0" in code and "masked_rnn(self.rnn, x, mask=mask)" in code


def test_a_subclass_returning_a_masked_tensor_stores_its_mask() -> None:
    result = _convert(KERAS + f"""
class Encoder(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = layers.Embedding({VOCAB}, 6, mask_zero=True)
        self.rnn = layers.GRU(3, return_sequences=True)

    def call(self, tokens):
        return self.rnn(self.embed(tokens))


model = Encoder()
""")
    assert not _mask_warnings(result), _mask_warnings(result)
    assert "self.output_mask = mask" in result.source, result.source
