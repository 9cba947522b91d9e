"""Recurrent cells torch's fused kernels lack: Keras 2's GRU(reset_after=False).

Keras 2 (and tf.keras before 2.0) applied the GRU reset gate before the recurrent matmul of
the candidate; ``nn.GRU`` applies it after, so a converted Keras 2 GRU must run its own cell.
Each program is our own; the converted model is compared with Keras 3 (torch backend) after
porting Keras's weights, including the single bias that reset_after=False layers carry.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import torch

from agent.rules.training.runtime.recurrent_cells import ResetBeforeGRU
from tests.test_lazy_sizes import KERAS, convert, equivalent

GRU_KERAS2 = KERAS + """
model = keras.Sequential([
    keras.Input(shape=(6, 3)),
    layers.GRU(5, reset_after=False, return_sequences=True),
    layers.GRU(4, reset_after=False),
    layers.Dense(2),
])
"""


def test_gru_reset_before_gets_keras_cell() -> None:
    result = convert(GRU_KERAS2)
    code = result.source
    assert "ResetBeforeGRU(3, 5)" in code and "ResetBeforeGRU(5, 4)" in code
    assert code.count("class ResetBeforeGRU(nn.GRU):") == 1  # copied into the script once
    assert "import keras" not in code
    assert not result.unmapped


def test_gru_reset_before_is_numerically_keras() -> None:
    equivalent(GRU_KERAS2)


def test_reset_before_cell_differs_from_nn_gru_only_in_the_candidate() -> None:
    """With a zero state and no recurrent bias (Keras's layout: the port zeroes it), r * h
    is 0 either way: the first step equals nn.GRU's; later ones differ (that difference is
    why the cell exists)."""
    torch.manual_seed(0)
    m = ResetBeforeGRU(3, 4)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        m.bias_hh_l0.zero_()
        ours, h = m(x)
        fused, _ = torch.nn.GRU.forward(m, x)
    torch.testing.assert_close(ours[:, 0], fused[:, 0])
    assert not torch.allclose(ours[:, 1:], fused[:, 1:])
    torch.testing.assert_close(h[0], ours[:, -1])


def test_bidirectional_gru_reset_before_is_still_reported() -> None:
    result = convert(KERAS + """
model = keras.Sequential([keras.Input(shape=(6, 3)),
                          layers.Bidirectional(layers.GRU(5, reset_after=False))])
""")
    assert any("reset_after=False" in u.reason for u in result.unmapped)


# ------------------------------------------------------ recurrent layers of unknown input size

LSTM_FROM_DATA = KERAS + """
import numpy as np

x_train = np.zeros((8, 6, 3), dtype="float32")
model = keras.Sequential([
    keras.Input(shape=x_train.shape[1:]),
    layers.Bidirectional(layers.GRU(4, return_sequences=True)),
    layers.LSTM(5),
    layers.Dense(2),
])
"""


def test_recurrent_layers_of_unknown_input_size_get_lazy_forms() -> None:
    result = convert(LSTM_FROM_DATA)
    code = result.source
    assert "LazyGRU(4, batch_first=True, bidirectional=True)" in code
    assert "nn.LSTM(8, 5, batch_first=True)" in code  # known again after the first
    assert code.count("class LazyGRU(") == 1 and "class _LazyRecurrent(" in code
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "init_on_first_batch(self.bidirectional, init_weights)" in code  # once sized
    assert not any("not reproduced" in w.message for w in result.warnings)


def test_recurrent_layers_of_unknown_input_size_are_numerically_keras() -> None:
    equivalent(LSTM_FROM_DATA, shape=(6, 3))


def test_lazy_recurrent_becomes_the_plain_module_after_the_first_batch() -> None:
    from agent.rules.training.runtime.lazy_modules import LazyLSTM

    m = LazyLSTM(5, batch_first=True, bidirectional=True)
    out, _ = m(torch.randn(2, 7, 3))
    assert type(m) is torch.nn.LSTM and m.input_size == 3 and out.shape == (2, 7, 10)
    plain = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True)
    plain.load_state_dict(m.state_dict())  # checkpoints look like a plain nn.LSTM's
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(plain(x)[0], m(x)[0])


IRNN_FROM_DATA = KERAS + """
import numpy as np

x_train = np.zeros((8, 6, 3), dtype="float32")
model = keras.Sequential()
model.add(layers.SimpleRNN(16, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                           recurrent_initializer=keras.initializers.Identity(gain=1.0),
                           activation="relu", input_shape=x_train.shape[1:]))
model.add(layers.Dense(4))
"""


def test_init_weightsializers_of_lazy_layers_run_after_the_first_batch() -> None:
    """An IRNN (identity recurrent init) whose input size comes from the data: the init is
    the point of the model, so it must survive the lazy form."""
    from agent.equivalence import exec_source

    result = convert(IRNN_FROM_DATA)
    code = result.source
    assert 'LazyRNN(16, batch_first=True, nonlinearity="relu")' in code
    assert "init_on_first_batch(self.simple_rnn, init_weights)" in code
    assert "def init_on_first_batch(" in code  # copied into the script
    assert not any("not reproduced" in w.message for w in result.warnings)
    assert "def __init__(self) -> None:" in code  # x_train sized nothing: no parameter
    module = exec_source(code, "k2l_irnn")["model"]
    module(torch.zeros(2, 6, 3))
    rnn = module.simple_rnn
    assert type(rnn) is torch.nn.RNN
    torch.testing.assert_close(rnn.weight_hh_l0, torch.eye(16))
    assert float(rnn.weight_ih_l0.std()) < 0.01 and float(rnn.bias_ih_l0.abs().sum()) == 0.0
    before = rnn.weight_hh_l0.detach().clone()
    with torch.no_grad():
        rnn.weight_hh_l0.add_(1.0)
    module(torch.zeros(2, 6, 3))  # the hook ran once: a later batch leaves weights alone
    torch.testing.assert_close(rnn.weight_hh_l0, before + 1.0)
