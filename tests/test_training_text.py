"""keras.preprocessing.text (Tokenizer, text_to_word_sequence) → runtime/keras_text.py.

Keras defines the numbers: every method is compared with Keras 3's own legacy Tokenizer on
the same texts, and a converted script that tokenizes, pads and fits is run in a process
where keras and tensorflow cannot be imported, its arrays checked against Keras's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.rules.training.runtime import keras_text as rt

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

TEXTS = ["The cat sat on the mat.", "A dog, a cat; and THE bird!", "", "dog dog dog ran",
         "the end\tof\nlines"]


@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 4}, {"oov_token": "<unk>"}, {"num_words": 5, "oov_token": "<unk>"},
    {"char_level": True}, {"lower": False, "filters": ""}, {"split": ","},
])
def test_tokenizer_matches_keras(kwargs: dict[str, Any]) -> None:
    from keras.src.legacy.preprocessing.text import Tokenizer

    want, got = Tokenizer(**kwargs), rt.Tokenizer(**kwargs)
    want.fit_on_texts(TEXTS)
    got.fit_on_texts(TEXTS)
    assert got.word_index == want.word_index
    assert dict(got.word_counts) == dict(want.word_counts)
    assert dict(got.index_docs) == dict(want.index_docs)
    probe = [*TEXTS, "unseen words and the cat"]
    seqs = want.texts_to_sequences(probe)
    assert got.texts_to_sequences(probe) == seqs
    assert got.sequences_to_texts(seqs) == want.sequences_to_texts(seqs)
    for mode in ("binary", "count", "freq", "tfidf"):
        w, g = want.texts_to_matrix(probe, mode=mode), got.texts_to_matrix(probe, mode=mode)
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w)


def test_fit_on_sequences_and_errors_match_keras() -> None:
    from keras.src.legacy.preprocessing.text import Tokenizer

    want, got = Tokenizer(num_words=6), rt.Tokenizer(num_words=6)
    for tok in (want, got):
        tok.fit_on_sequences([[1, 2, 2], [3], [1, 5, 9]])
    assert got.document_count == want.document_count == 3
    assert dict(got.index_docs) == dict(want.index_docs)
    np.testing.assert_allclose(got.sequences_to_matrix([[1, 2, 2, 7]], mode="tfidf"),
                               want.sequences_to_matrix([[1, 2, 2, 7]], mode="tfidf"))
    with pytest.raises(ValueError):
        rt.Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError):
        got.sequences_to_matrix([[1]], mode="bogus")


def test_text_to_word_sequence_matches_keras() -> None:
    from keras.src.legacy.preprocessing.text import text_to_word_sequence

    for text in TEXTS:
        for kwargs in ({}, {"lower": False}, {"split": "a"}, {"filters": "."}):
            assert rt.text_to_word_sequence(text, **kwargs) == text_to_word_sequence(
                text, **kwargs)


def test_converted_tokenizer_script_runs_without_keras(tmp_path: Path) -> None:
    """Tokenize, pad, vectorize, fit: same arrays as Keras, no keras/tensorflow imported."""
    src = textwrap.dedent("""\
        import json
        import numpy as np
        from tensorflow import keras
        from keras.preprocessing.text import Tokenizer, text_to_word_sequence
        from keras.preprocessing.sequence import pad_sequences

        texts = ["good movie, great plot", "bad movie", "great great fun", "bad plot, bad end"]
        labels = np.array([1, 0, 1, 0])
        tokenizer = Tokenizer(num_words=8, oov_token="?")
        tokenizer.fit_on_texts(texts)
        x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=5)
        bag = tokenizer.texts_to_matrix(texts, mode="count")
        model = keras.Sequential([
            keras.Input(shape=(8,)),
            keras.layers.Dense(4, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(bag, labels, batch_size=2, epochs=1)
        print("ARRAYS", json.dumps([x.tolist(), bag.tolist(), text_to_word_sequence(texts[0])]))
        """)
    res = convert_source(src)
    assert res.keras_deps == [], res.keras_deps
    assert "\nclass Tokenizer:" in res.source and "import keras" not in res.source \
        and "from keras" not in res.source
    assert {"data.Tokenizer", "data.text_to_word_sequence"} <= {c.rule for c in res.changes}
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("ARRAYS "))
    x, bag, words = json.loads(line[len("ARRAYS "):])

    import keras
    from keras.src.legacy.preprocessing.text import Tokenizer, text_to_word_sequence

    texts = ["good movie, great plot", "bad movie", "great great fun", "bad plot, bad end"]
    tok = Tokenizer(num_words=8, oov_token="?")
    tok.fit_on_texts(texts)
    assert x == keras.utils.pad_sequences(tok.texts_to_sequences(texts), maxlen=5).tolist()
    assert bag == tok.texts_to_matrix(texts, mode="count").tolist()
    assert words == text_to_word_sequence(texts[0])
