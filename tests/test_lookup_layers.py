"""runtime/lookup_layers.py (StringLookup, TextVectorization on data) against Keras.

Keras 3's TextVectorization and StringLookup need TensorFlow on every backend, so one program
runs twice: under a Python with TensorFlow (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``, else
that comparison skips) on Keras's layers, here on the runtime classes; vocabularies and
every output must be equal, dtype included. The tests without TensorFlow check the numbers
of Keras's own documentation examples.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.training.runtime.lookup_layers import StringLookup, TextVectorization
from agent.tools.tf_original import tf_python

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent('''\
    import json, re, sys
    import numpy as np

    spec = json.loads(sys.argv[1])
    if spec["tf"]:
        import tensorflow as tf
        from tensorflow import keras
        TV, SL = keras.layers.TextVectorization, keras.layers.StringLookup
        lower, regex_replace, D = tf.strings.lower, tf.strings.regex_replace, tf.data.Dataset
    else:
        sys.path.insert(0, spec["root"])
        from agent.rules.training.runtime.lookup_layers import StringLookup as SL
        from agent.rules.training.runtime.lookup_layers import TextVectorization as TV
        from agent.rules.training.runtime.image_ops import strings_lower as lower
        from agent.rules.training.runtime.image_ops import strings_regex_replace as regex_replace
        from agent.rules.training.runtime.data_pipeline import DataPipeline as D

    texts = ["The cat sat on the mat.", "A dog, a CAT; and the bird!", "zebra apple  apple",
             "tab\\there\\nnew-line", "École\\u00a0naïve café", "b a c b a c", ""]
    probe = np.array(["the cat ran to the zebra", "unknown words only", "", "apple,  DOG"])

    def strip_html(text):
        return regex_replace(lower(text), "<br />|[%s]" % re.escape("!,.;"), " ")

    vectorizers = {
        "default": dict(),
        "short": dict(max_tokens=6, output_sequence_length=4),
        "long": dict(output_sequence_length=9),
        "lower": dict(standardize="lower"),
        "punct": dict(standardize="strip_punctuation"),
        "raw": dict(standardize=None),
        "custom": dict(standardize=strip_html, output_sequence_length=5),
        "chars": dict(split="character", output_sequence_length=12),
        "bigrams": dict(ngrams=2),
        "whole": dict(split=None),
        "multi_hot": dict(output_mode="multi_hot"),
        "count": dict(output_mode="count", max_tokens=8),
        "tf_idf": dict(output_mode="tf_idf"),
        "tf_idf_padded": dict(output_mode="tf_idf", max_tokens=30, pad_to_max_tokens=True),
        "given": dict(vocabulary=["earth", "wind", "and", "fire"], output_sequence_length=3),
    }
    out = {}
    for case, kwargs in vectorizers.items():
        layer = TV(**kwargs)
        if "vocabulary" not in kwargs:
            layer.adapt(texts)
        out[f"{case}_vocab"] = np.array(layer.get_vocabulary(), dtype=str)
        out[f"{case}_inner"] = np.array(layer.get_vocabulary(include_special_tokens=False),
                                        dtype=str)
        out[f"{case}_size"] = np.array(layer.vocabulary_size())
        out[f"{case}_batch"] = np.asarray(layer(probe))
        out[f"{case}_column"] = np.asarray(layer(probe[:, None]))
        out[f"{case}_one"] = np.asarray(layer(probe[0]))

    batched = TV(max_tokens=10, output_sequence_length=6)
    batched.adapt(D.from_tensor_slices(texts).batch(3))
    out["dataset_vocab"] = np.array(batched.get_vocabulary(), dtype=str)
    out["dataset_batch"] = np.asarray(batched(probe))
    unbatched = TV()
    unbatched.adapt(D.from_tensor_slices(texts))
    out["unbatched_vocab"] = np.array(unbatched.get_vocabulary(), dtype=str)
    restored = TV(output_mode="tf_idf")
    restored.set_vocabulary(["cat", "dog", "bird"], idf_weights=[0.5, 1.0, 2.0])
    out["restored_batch"] = np.asarray(restored(probe))

    characters = sorted(set("hello world"))
    lookups = {
        "chars": dict(vocabulary=characters, mask_token=None),
        "empty_oov": dict(vocabulary=characters, oov_token=""),
        "masked": dict(vocabulary=characters, mask_token="#"),
        "multi_hot": dict(vocabulary=characters, output_mode="multi_hot"),
        "adapted": dict(max_tokens=5),
        "adapted_count": dict(output_mode="count"),
    }
    letters = np.array([list("hold"), list("wxyz"), list("ol#e")])
    for case, kwargs in lookups.items():
        layer = SL(**kwargs)
        if "vocabulary" not in kwargs:
            layer.adapt(np.array(list("hello world, hello lookup")))
        out[f"lookup_{case}_vocab"] = np.array(layer.get_vocabulary(), dtype=str)
        out[f"lookup_{case}_size"] = np.array(layer.vocabulary_size())
        out[f"lookup_{case}_ids"] = np.asarray(layer(letters))
        out[f"lookup_{case}_row"] = np.asarray(layer(letters[0]))
        if kwargs.get("output_mode", "int") == "int":
            inverse = SL(vocabulary=layer.get_vocabulary(), invert=True,
                         **{k: v for k, v in kwargs.items() if k in ("mask_token", "oov_token")})
            back = np.asarray(inverse(layer(letters)))
            out[f"lookup_{case}_back"] = np.char.decode(back.astype(bytes)) \\
                if back.dtype.kind in "OS" else back
            out[f"lookup_{case}_past_end"] = np.asarray(
                inverse(np.array([0, 1, len(characters) + 7]))).astype(bytes).astype(str)
    np.savez(spec["out"], **out)
    ''')


def _outputs(python: str, tmp_path: Path, tf: bool) -> dict[str, np.ndarray]:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM, encoding="utf-8")
    out = tmp_path / f"outputs_{int(tf)}.npz"
    spec = json.dumps({"tf": tf, "root": str(ROOT), "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([python, str(program), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.tensorflow
def test_layers_give_keras_vocabularies_and_outputs(tmp_path: Path) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    theirs = _outputs(python, tmp_path, tf=True)
    ours = _outputs(sys.executable, tmp_path, tf=False)
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        got = ours[key]
        if want.dtype.kind in "SO":
            want = want.astype(bytes).astype(str)
        assert got.shape == want.shape, (key, got.shape, want.shape)
        assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=key) \
            if want.dtype.kind == "f" else np.testing.assert_array_equal(got, want, err_msg=key)


def test_documented_examples() -> None:
    """The numbers of Keras's TextVectorization and StringLookup docstrings."""
    layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4,
                              vocabulary=["earth", "wind", "and", "fire"])
    assert layer(np.array([["earth wind and also fire"]])).tolist() == [[2, 3, 4, 1]]
    lookup = StringLookup(vocabulary=["a", "b", "c", "d"])
    ids = lookup(np.array([["a", "c", "d"], ["d", "z", "b"]]))
    assert ids.dtype == torch.int64 and ids.tolist() == [[1, 3, 4], [4, 0, 2]]
    inverse = StringLookup(vocabulary=["a", "b", "c", "d"], invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "d"],
                                                                  ["d", "[UNK]", "b"]]
    adapted = StringLookup()
    adapted.adapt(np.array([["a", "c", "d"], ["d", "z", "b"]]))
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    hot = StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="multi_hot")
    assert hot(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])).tolist() == [
        [0.0, 1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0, 1.0]]


def test_refuses_what_it_does_not_reproduce() -> None:
    with pytest.raises(ValueError, match="num_oov_indices"):
        StringLookup(num_oov_indices=2)
    with pytest.raises(ValueError, match="ragged"):
        TextVectorization(ragged=True)
    lookup = StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="OOV"):
        lookup(np.array(["b"]))


# ------------------------------------------------------------------ converted scripts
SCRIPT = textwrap.dedent('''\
    import re
    import sys

    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    questions = ["How are you?", "What is your name?", "Where do you live?", "Is it raining?"]
    answers = ["I am fine.", "My name is Bot.", "I live in the cloud!", "No, it is sunny."]


    def clean(sentence):
        sentence = tf.strings.lower(sentence)
        sentence = tf.strings.regex_replace(sentence, r"([?.!,])", r" \\1 ")
        sentence = tf.strings.strip(sentence)
        return tf.strings.join(["[start]", sentence, "[end]"], separator=" ")


    vectorizer = layers.TextVectorization(max_tokens=30, output_sequence_length=8,
                                          standardize=clean)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(questions + answers).batch(3))


    def to_ids(question, answer):
        return vectorizer(question), vectorizer(answer)


    pairs = tf.data.Dataset.from_tensor_slices((questions, answers)).map(to_ids).batch(3)
    batches = [(q.numpy(), a.numpy()) for q, a in pairs]

    weather = keras.layers.StringLookup(vocabulary=["cloud", "sunny"])
    words = keras.layers.StringLookup(vocabulary=weather.get_vocabulary(), invert=True)
    tags = weather(np.array(["sunny", "cloud", "rain"])).numpy()
    np.savez(
        sys.argv[1],
        vocab=np.array(vectorizer.get_vocabulary()),
        size=np.array(vectorizer.vocabulary_size()),
        ids=vectorizer(np.array(answers)).numpy(),
        q=np.concatenate([b[0] for b in batches]),
        a=np.concatenate([b[1] for b in batches]),
        tags=tags,
        back=np.asarray(words(tags)),
    )
    ''')
BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def _run(python: str, script: Path, out: Path, blocked: bool) -> dict[str, np.ndarray]:
    argv = [python, "-c", BLOCKED, str(script), str(out)] if blocked else \
        [python, str(script), str(out)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False, cwd=script.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out, allow_pickle=True) as data:
        return {k: data[k].astype(bytes).astype(str) if data[k].dtype.kind in "OS" else data[k]
                for k in data.files}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from agent.rules.convert import convert_source

    res = convert_source(SCRIPT)
    tmp = tmp_path_factory.mktemp("converted")
    (tmp / "original.py").write_text(SCRIPT, encoding="utf-8")
    (tmp / "converted.py").write_text(res.source, encoding="utf-8")
    return tmp, res


def test_converted_script_needs_no_tensorflow(converted: tuple[Path, Any]) -> None:
    tmp, res = converted
    assert not re.search(r"^\s*(import|from) (tensorflow|keras)", res.source, re.M)
    assert not res.keras_deps  # no Keras/TF use left
    assert not res.unmapped
    assert "strings_regex_replace(sentence" in res.source  # the standardize function
    ours = _run(sys.executable, tmp / "converted.py", tmp / "ours.npz", blocked=True)
    # each sentence gives "[start]" and "[end]" once: the most frequent, ties high to low
    assert ours["vocab"][:4].tolist() == ["", "[UNK]", "[start]", "[end]"]
    assert ours["q"].shape == (4, 8) and ours["q"].dtype == np.int64
    assert ours["tags"].tolist() == [2, 1, 0]  # no mask token: "[UNK]" is 0
    assert ours["back"].tolist() == ["sunny", "cloud", "[UNK]"]


@pytest.mark.tensorflow
def test_converted_script_computes_what_keras_does(converted: tuple[Path, Any]) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    tmp, _ = converted
    theirs = _run(python, tmp / "original.py", tmp / "theirs.npz", blocked=False)
    ours = _run(sys.executable, tmp / "converted.py", tmp / "ours.npz", blocked=True)
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        assert ours[key].dtype == want.dtype, key
        np.testing.assert_array_equal(ours[key], want, err_msg=key)


def test_standardize_that_does_not_convert_keeps_the_layer() -> None:
    from agent.rules.convert import convert_source

    source = textwrap.dedent('''\
        import tensorflow as tf
        from tensorflow.keras import layers


        def squash(text):
            return tf.strings.unicode_transcode(text, "UTF-8", "UTF-16-BE")


        vectorizer = layers.TextVectorization(standardize=squash)
        vectorizer.adapt(["a b", "c d"])
        ''')
    res = convert_source(source)
    assert "layers.TextVectorization(standardize=squash)" in res.source
    assert 'tf.strings.unicode_transcode(text, "UTF-8", "UTF-16-BE")' in res.source  # as is
    kept = [u for u in res.unmapped if u.keras_name == "keras.layers.TextVectorization"]
    assert len(kept) == 1 and "tensorflow.strings.unicode_transcode" in kept[0].reason


def test_adapt_data_bound_to_a_name_stays_a_pipeline_of_strings() -> None:
    from agent.rules.convert import convert_source

    source = textwrap.dedent('''\
        import tensorflow as tf
        from tensorflow.keras.layers import TextVectorization

        samples = ["one two", "two three"]
        text_ds = tf.data.Dataset.from_tensor_slices(samples).batch(2)
        vectorizer = TextVectorization(max_tokens=10)
        vectorizer.adapt(text_ds)
        ''')
    res = convert_source(source)
    assert "text_ds = DataPipeline.from_tensor_slices(samples).batch(2)" in res.source
    assert "TensorDataset" not in res.source  # a TensorDataset cannot hold strings


def test_lookup_called_by_a_map_function_that_stays_tensorflow_stays_keras() -> None:
    from agent.rules.convert import convert_source

    source = textwrap.dedent('''\
        import tensorflow as tf
        from tensorflow import keras

        char_to_num = keras.layers.StringLookup(vocabulary=list("abc"))


        def encode(text):
            size = tf.numpy_function(len, [text], tf.int64)  # no torch counterpart
            return char_to_num(tf.strings.unicode_split(text, "UTF-8")), size


        ds = tf.data.Dataset.from_tensor_slices(["ab", "ca"]).map(encode).batch(2)
        ''')
    res = convert_source(source)
    assert "char_to_num = keras.layers.StringLookup(" in res.source
    assert "ds = tf.data.Dataset.from_tensor_slices(" in res.source


END_TO_END = textwrap.dedent('''\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers

    samples = ["the cat sat", "a dog ran off", "the bird flew", "dogs and cats"]
    labels = np.array([0, 1, 0, 1])
    vectorizer = layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    vectorizer.adapt(samples)

    int_input = keras.Input(shape=(None,), dtype="int64")
    h = layers.Embedding(40, 8)(int_input)
    h = layers.GlobalAveragePooling1D()(h)
    out = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(int_input, out)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(vectorizer(np.array(samples)).numpy(), labels, epochs=1)

    string_input = keras.Input(shape=(1,), dtype="string")
    x = vectorizer(string_input)
    preds = model(x)
    end_to_end_model = keras.Model(string_input, preds)
    probabilities = end_to_end_model.predict([["the dog sat"]])
    assert probabilities.shape == (1, 2), probabilities.shape
    ''')


def test_vectorizer_on_a_string_input_moves_to_the_data(tmp_path: Path) -> None:
    """The end-to-end model takes the vectorizer's indices; predict vectorizes its data."""
    from agent.rules.convert import convert_source

    res = convert_source(END_TO_END)
    assert not re.search(r"^\s*(import|from) (tensorflow|keras)", res.source, re.M)
    assert "def forward(self, x: torch.Tensor)" in res.source
    assert "self.vectorizer" not in res.source  # the adapted object, not a fresh layer
    assert "np.asarray(vectorizer([[\"the dog sat\"]]))" in res.source
    assert any("on the model's string input" in w.message for w in res.warnings)
    script = tmp_path / "converted.py"
    script.write_text(res.source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
