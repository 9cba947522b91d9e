"""CTC: Keras 2's backend loss/decoder and Keras 3's ops, converted and run without Keras.

Our own programs in the shape OCR/speech code takes (a loss function over softmax outputs, a
greedy decode of predictions). Keras 3 on the torch backend is the reference: ``keras.ops``
for the Keras 3 forms, and for Keras 2's ``ctc_batch_cost`` (gone from Keras 3) the same
computation its source does: ``log(y_pred + epsilon)`` fed to a CTC loss that applies a
softmax, blank = last class.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import numpy as np
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.ctc import ctc_decode_softmax, ctc_greedy_decode

BATCH, STEPS, CLASSES = 3, 9, 6


def _batch() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y_pred = rng.random((BATCH, STEPS, CLASSES)).astype("float32")
    y_pred /= y_pred.sum(-1, keepdims=True)
    labels = rng.integers(0, CLASSES - 1, (BATCH, 4)).astype("int64")
    input_length = np.array([[9], [7], [8]], dtype="int64")
    label_length = np.array([[4], [2], [3]], dtype="int64")
    return y_pred, labels, input_length, label_length


SCRIPT = textwrap.dedent("""\
    from tensorflow import keras
    from tensorflow.keras import backend as K


    def ctc_cost(labels, y_pred, input_length, label_length):
        return K.ctc_batch_cost(labels, y_pred, input_length, label_length)


    def decode(y_pred, input_length):
        return keras.backend.ctc_decode(y_pred, input_length=input_length, greedy=True)[0][0]


    def ops_loss(labels, logits, label_length, logit_length):
        return keras.ops.ctc_loss(labels, logits, label_length, logit_length, mask_index=5)
    """)


def _converted() -> dict[str, object]:
    result = convert_source(SCRIPT, "ocr.py")
    code = result.source
    assert "import keras" not in code and "tensorflow" not in code, code
    assert "def ctc_decode_softmax(" in code and not result.unmapped
    return exec_source(code, "k2l_ctc")


def test_keras2_ctc_batch_cost_converts_to_keras_numbers() -> None:
    y_pred, labels, input_length, label_length = _batch()
    fn = _converted()["ctc_cost"]
    got = fn(*(torch.as_tensor(a) for a in (labels, y_pred, input_length, label_length)))
    ref = keras.ops.ctc_loss(labels, np.log(y_pred + 1e-7), label_length[:, 0],
                             input_length[:, 0], mask_index=CLASSES - 1)
    assert tuple(got.shape) == (BATCH, 1)
    np.testing.assert_allclose(got.numpy()[:, 0], keras.ops.convert_to_numpy(ref), rtol=1e-5)


def test_keras3_ctc_loss_converts_to_keras_numbers() -> None:
    y_pred, labels, input_length, label_length = _batch()
    logits = np.log(y_pred) * 1.7
    fn = _converted()["ops_loss"]
    got = fn(torch.as_tensor(labels), torch.as_tensor(logits), torch.as_tensor(label_length[:, 0]),
             torch.as_tensor(input_length[:, 0]))
    ref = keras.ops.ctc_loss(labels, logits, label_length[:, 0], input_length[:, 0],
                             mask_index=5)
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(ref), rtol=1e-5)


def test_greedy_decoders_match_keras() -> None:
    y_pred, _, input_length, _ = _batch()
    y_pred[0, 1] = y_pred[0, 0]  # a repeat to merge
    lengths = input_length[:, 0]
    for blank in (0, CLASSES - 1):
        labels, scores = ctc_greedy_decode(torch.as_tensor(np.log(y_pred)),
                                           torch.as_tensor(lengths), mask_index=blank)
        ref_labels, ref_scores = keras.ops.ctc_decode(np.log(y_pred), lengths, mask_index=blank)
        np.testing.assert_array_equal(labels.numpy(), keras.ops.convert_to_numpy(ref_labels))
        np.testing.assert_allclose(scores.numpy(), keras.ops.convert_to_numpy(ref_scores),
                                   rtol=1e-5)
    decoded, log_prob = ctc_decode_softmax(torch.as_tensor(y_pred), torch.as_tensor(lengths))
    ref_labels, ref_scores = keras.ops.ctc_decode(np.log(y_pred + 1e-7), lengths,
                                                  mask_index=CLASSES - 1)
    np.testing.assert_array_equal(decoded[0].numpy(), keras.ops.convert_to_numpy(ref_labels)[0])
    assert (decoded[0] == -1).any()  # shorter sequences are padded as Keras pads them


def test_converted_decode_returns_the_padded_labels() -> None:
    y_pred, _, input_length, _ = _batch()
    fn = _converted()["decode"]
    got = fn(torch.as_tensor(y_pred), torch.as_tensor(input_length[:, 0]))
    ref, _ = keras.ops.ctc_decode(np.log(y_pred + 1e-7), input_length[:, 0],
                                  mask_index=CLASSES - 1)
    np.testing.assert_array_equal(got.numpy(), keras.ops.convert_to_numpy(ref)[0])


def test_beam_search_is_reported_not_converted() -> None:
    result = convert_source(textwrap.dedent("""\
        from tensorflow.keras import backend as K


        def decode(y_pred, input_length):
            return K.ctc_decode(y_pred, input_length, greedy=False, beam_width=10)
        """), "ocr.py")
    assert "K.ctc_decode" in result.source  # kept as written, and the report names it
    assert [d.name for d in result.keras_deps] == ["keras.backend.ctc_decode"]
