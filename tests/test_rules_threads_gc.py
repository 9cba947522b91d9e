"""The rules' deep-stack thread is kept between files, and the garbage collector's threshold
is raised only while a file converts: both leave the caller as they found it."""

from __future__ import annotations

import gc
import multiprocessing
import sys
import threading

import pytest

from agent.rules import collections_scope
from agent.rules.collections_scope import fewer_collections
from agent.rules.convert import convert_source
from agent.rules.deep_stack import RECURSION_LIMIT, on_deep_stack


def test_files_run_on_one_kept_deep_stack_thread() -> None:
    first = on_deep_stack(threading.get_ident)
    assert first != threading.get_ident()
    assert on_deep_stack(threading.get_ident) == first
    assert on_deep_stack(sys.getrecursionlimit) >= RECURSION_LIMIT
    assert on_deep_stack(lambda: on_deep_stack(threading.get_ident)) == first  # nested: direct


def test_an_error_reaches_the_caller_and_the_thread_is_kept() -> None:
    def fail() -> None:
        raise ValueError("from the worker")

    limit = sys.getrecursionlimit()
    with pytest.raises(ValueError, match="from the worker"):
        on_deep_stack(fail)
    assert sys.getrecursionlimit() == limit
    assert on_deep_stack(threading.get_ident) == on_deep_stack(threading.get_ident)


def test_callers_at_the_same_time_get_their_own_thread() -> None:
    inside = threading.Barrier(2, timeout=30)
    seen: list[int] = []

    def meet() -> int:
        inside.wait()  # both jobs must run at once: one shared worker would deadlock here
        return threading.get_ident()

    callers = [threading.Thread(target=lambda: seen.append(on_deep_stack(meet)))
               for _ in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(60)
    assert len(set(seen)) == 2


def test_the_threshold_is_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], collections_scope.FIRST_THRESHOLD)
        assert gc.get_threshold()[1:] == before[1:]
        with fewer_collections():  # nested: the outer exit restores
            pass
        assert gc.get_threshold()[0] >= collections_scope.FIRST_THRESHOLD
    assert gc.get_threshold() == before


def test_the_threshold_is_restored_after_an_error_and_zero_is_kept() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError
    assert gc.get_threshold() == before
    try:
        gc.set_threshold(0)
        with fewer_collections():
            assert gc.get_threshold()[0] == 0  # collection off stays off
    finally:
        gc.set_threshold(*before)


def test_a_conversion_leaves_the_callers_threshold() -> None:
    before = gc.get_threshold()
    done = convert_source("from tensorflow import keras\n"
                          "model = keras.Sequential([keras.layers.Dense(2)])\n")
    assert done.models and gc.get_threshold() == before


def _convert_in_child(source: str) -> tuple[list[str], tuple[int, ...]]:
    return convert_source(source).models, gc.get_threshold()


def test_a_forked_child_converts_after_its_parent_did() -> None:
    # the parent's kept thread is not in a forked child (multiprocessing's default start)
    source = "from tensorflow import keras\nmodel = keras.Sequential([keras.layers.Dense(2)])\n"
    assert convert_source(source).models
    with multiprocessing.get_context("fork").Pool(1) as pool:
        models, threshold = pool.apply_async(_convert_in_child, (source,)).get(timeout=120)
    assert models and threshold == gc.get_threshold()


_MODEL_AND_LAYER = '''import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


class Twice(keras.layers.Layer):
    def call(self, inputs):
        return tf.math.tanh(inputs) * 2.0


def build(width=8):
    a = keras.Input(shape=(width,))
    x = layers.Dense(16, activation="relu")(a)
    return keras.Model(a, layers.Dense(1)(Twice()(x)))
'''


def test_a_conversion_leaves_nothing_for_the_collector() -> None:
    """No reference cycles (a stored lambda over its owner, a nested recursive function, a
    class made per call) and no kept parse trees: what a file made dies with its conversion,
    not in the young collection that follows once the threshold comes back down."""
    assert convert_source(_MODEL_AND_LAYER).models  # the path is exercised, imports warm
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable lands in gc.garbage
    try:
        convert_source(_MODEL_AND_LAYER)
        young = len(gc.get_objects(generation=0))
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # (ast.literal_eval's own nested functions are a few cells in a cycle, holding no tree)
    modules = {type(o).__module__.split(".")[0] for o in found}
    assert not modules & {"agent", "libcst", "ast"}, sorted(modules)
    assert len(found) < 50
    assert young < 100  # the file's trees (thousands of nodes) are gone
