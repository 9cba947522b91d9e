"""``tf.strings.regex_replace`` with RE2's meanings (runtime/re2_patterns.py): ASCII
``\\w``/``\\d``/``\\b``, ``\\s`` without ``\\v`` or no-break space, ``$`` at the very end,
``\\0`` as the whole match, no empty match right after a match. Each case against
TensorFlow when a Python with it exists (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``)."""

from __future__ import annotations

import json
import os
import re
import string
import subprocess

import pytest

from agent.rules.training.runtime.image_ops import strings_regex_replace
from agent.rules.training.runtime.re2_patterns import re2_compile, re2_sub
from agent.tools.tf_original import tf_python

PUNCTUATION = f"[{re.escape(string.punctuation)}]"  # the standardize idiom
CASES = [
    ("baac", "a*", "-"), ("abc", "x*", "-"), ("xx", "x*", "-"),
    ("a\vb c\xa0d\te\r\nf", r"\s", "_"), ("a\vb  c", r"\S+", "<\\0>"),
    ("é1٣ x_", r"\w", "#"), ("é1٣ x_", r"\W", "#"), ("é1٣", r"\d", "#"),
    ("é1 ٣x", r"[\w\s]", "."), ("é1 ٣x", r"[^\d]", "."), ("a]b^c", r"[]^]", "!"),
    ("line\n", "$", "!"), ("a\nb\n", "(?m)$", "!"), ("end\n", r"d\z", "D"),
    ("Ünïcode É", "(?i)é", "e"), ("café bar", r"\bbar\b", "X"), ("éa", r"\ba", "X"),
    ("éa xa", r"\Ba", "X"), ("ab ab", r"(a)(b)", r"\2\1\0"), ("ab", r"(a)|(b)", r"[\2]"),
    ("ab", "b", r"\\x"), ("a b", " ", r"\n"),
    ("x.y, it's A-OK!", PUNCTUATION, ""), ("<br />Hi, YOU!", "<br />", " "),
    ("aaa", "a", "b"), ("hello", "l+", "L"), ("Tab\there", r"\t", " "),
]


def _ours() -> list[list[str]]:
    return [[re2_sub(re2_compile(p), r, s, True), re2_sub(re2_compile(p), r, s, False)]
            for s, p, r in CASES]


def test_known_re2_meanings() -> None:
    ours = dict(zip([c[:2] for c in CASES], _ours(), strict=True))
    assert ours[("baac", "a*")] == ["-b-c-", "-baac"]  # re.sub gives -b--c-
    assert ours[("a\vb c\xa0d\te\r\nf", r"\s")][0] == "a\vb_c\xa0d_e__f"
    assert ours[("é1٣ x_", r"\w")][0] == "é#٣ ##"
    assert ours[("line\n", "$")][0] == "line\n!"  # re.sub gives line!\n!
    assert ours[("éa", r"\ba")][0] == "éX"
    assert ours[("ab ab", r"(a)(b)")][0] == "baab baab"  # \0: the whole match, not NUL
    assert strings_regex_replace(["A-b.", "c,d"], PUNCTUATION, "").tolist() == ["Ab", "cd"]


def test_cases_against_tensorflow() -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    program = ("import json, sys, tensorflow as tf\n"
               "cases = json.load(sys.stdin)\n"
               "print(json.dumps([[tf.strings.regex_replace(s, p, r, replace_global=g).numpy()"
               ".decode('utf-8') for g in (True, False)] for s, p, r in cases]))\n")
    done = subprocess.run([python, "-c", program], input=json.dumps(CASES), capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    mismatches = [(case, o, t) for case, o, t in zip(CASES, _ours(), theirs, strict=True)
                  if o != t]
    assert not mismatches, mismatches
