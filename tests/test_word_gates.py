"""The utilities pass's gates read a text's word set (parsed.words) instead of scanning the
text once per pattern: the same answers as the whole-word searches they replaced."""

from __future__ import annotations

import re

import pytest

from agent.rules import parsed
from agent.rules.training import utilities

GATES = {
    "utility": utilities._UTILITY_WORDS,
    "tape": utilities._TAPE_WORDS,
    "runtime": utilities._runtime_names(),
}
TEXTS = [
    "from keras.utils import to_categorical\ny = to_categorical(labels, 10)\n",
    "y = my_to_categorical_v2(labels)  # to_categoricalX is no word\n",
    "with tf.GradientTape() as tape:\n    loss = losses.mse(a, b)\n",
    "x = 'GradientTapes'\nfunctional = 1\nΔfunction = 2\n",
    "",
]


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_word_is_one_run_of_word_characters(name: str) -> None:
    assert GATES[name] and all(re.fullmatch(r"\w+", w) for w in GATES[name])


@pytest.mark.parametrize("text", TEXTS)
def test_a_set_gate_answers_as_the_whole_word_search(text: str) -> None:
    for words in GATES.values():
        search = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(words))) + r")\b")
        assert (search.search(text) is not None) == (not words.isdisjoint(parsed.words(text)))


def test_words_are_maximal_runs_and_shared_per_text() -> None:
    text = "a.b_c(12) # d-e\n"
    assert parsed.words(text) == {"a", "b_c", "12", "d", "e"}
    assert parsed.words(text) is parsed.words(text)
