"""Tests generated from the layer table: before/after, noop files, registry, equivalence.

Every ``Example`` of every ``LayerSpec`` becomes a one-layer model (a two-input functional
model for layers that take several tensors); the converted code must contain each
``expect`` string, none of the ``forbid`` strings, no Keras import, and compile. Examples
marked ``equivalence`` are also built in Keras (torch backend), ported and compared.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import importlib
import inspect
import textwrap
import typing
from collections.abc import Callable
from typing import Any

import pytest

import agent.weights.engine
from agent.equivalence import check_sources
from agent.rules.convert import convert_source
from agent.rules.layers import LAYERS, cells, merge
from agent.rules.spec import Example, LayerSpec

pytestmark = pytest.mark.slow


# Layers called on a list of tensors, and layers called with several positional tensors.
LIST_INPUT = {s.keras for s in merge.SPECS} | {"Attention"}
POSITIONAL_INPUTS = {"MultiHeadAttention"}
# Cells, called on one step with their states: stepped over the time axis in a custom layer.
STEPPED = set(cells.CELLS)

# Known converter bugs in code this test does not own: (layer, example index) -> reason.
# Known converter bugs, each a strict xfail so a fix is noticed (none open right now).
XFAIL: dict[tuple[str, int], str] = {}
# Bugs that only show numerically.
XFAIL_EQUIVALENCE: dict[tuple[str, int], str] = {}


def example_source(spec: LayerSpec, ex: Example) -> str:
    """The smallest Keras program that uses the example's layer expression."""
    shape = repr(tuple(ex.input_shape))
    dtype = ', dtype="int32"' if spec.keras == "Embedding" else ""
    head = "import keras\nfrom keras import layers\n\n"
    if spec.keras in LIST_INPUT or spec.keras in POSITIONAL_INPUTS:
        call = "([a, b])" if spec.keras in LIST_INPUT else "(a, b)"
        return head + textwrap.dedent(f"""\
            a = keras.Input(shape={shape})
            b = keras.Input(shape={shape})
            y = {ex.keras}{call}
            model = keras.Model([a, b], y)
            """)
    if spec.keras in STEPPED:
        return head + textwrap.dedent(f"""\
            class Stepper(layers.Layer):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    self.cell = {ex.keras}

                def call(self, x):
                    states = self.cell.get_initial_state(batch_size=keras.ops.shape(x)[0])
                    for t in range({ex.input_shape[0]}):
                        out, states = self.cell(x[:, t], states)
                    return out


            inp = keras.Input(shape={shape})
            model = keras.Model(inp, Stepper()(inp))
            """)
    # functional: a one-layer Sequential would become an nn.Sequential, not the layer's form
    return head + (f"inp = keras.Input(shape={shape}{dtype})\n"
                   f"model = keras.Model(inp, {ex.keras}(inp))\n")


def _cases(only_equivalence: bool = False) -> list[Any]:
    out = []
    for spec in LAYERS.values():
        for k, ex in enumerate(spec.examples):
            if only_equivalence and not ex.equivalence:
                continue
            marks = []
            known = XFAIL | (XFAIL_EQUIVALENCE if only_equivalence else {})
            if (spec.keras, k) in known:
                marks.append(pytest.mark.xfail(reason=known[(spec.keras, k)], strict=True))
            out.append(pytest.param(spec, ex, id=f"{spec.keras}-{k}-{ex.keras}", marks=marks))
    return out


_converted: dict[str, Any] = {}


def convert(source: str) -> Any:
    if source not in _converted:
        _converted[source] = convert_source(source, "example.py")
    return _converted[source]


@pytest.mark.parametrize(("spec", "ex"), _cases())
def test_example_converts(spec: LayerSpec, ex: Example) -> None:
    src = example_source(spec, ex)
    result = convert(src)
    code = result.source
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert result.models == ["KerasModel"]  # never a bare `Model`
    for s in ex.expect:
        assert s in code, f"{s!r} missing from:\n{code}"
    for s in ex.forbid:
        assert s not in code, f"{s!r} should not be in:\n{code}"
    assert "keras" not in code and "tensorflow" not in code, code
    assert not result.keras_deps
    compile(code, "converted.py", "exec")


@pytest.mark.parametrize(("spec", "ex"), _cases(only_equivalence=True))
def test_example_equivalent(spec: LayerSpec, ex: Example) -> None:
    src = example_source(spec, ex)
    result = convert(src)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    eq = check_sources(src, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"


def test_every_spec_has_examples() -> None:
    missing = [q for q, s in LAYERS.items() if not s.examples and s.keras != "InputLayer"]
    assert not missing


# ----------------------------------------------------------------------------- noop files

NOOP_SOURCES = {
    "no_keras": textwrap.dedent("""\
        import os


        def main() -> None:
            print(os.getcwd())  # a comment, kept verbatim
        """),
    "numpy_only": textwrap.dedent("""\
        import numpy as np

        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        y = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-7)
        print(y.sum())
        """),
}

MNIST_ONLY = textwrap.dedent("""\
    from tensorflow import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32")  /  255.0
    """)


@pytest.mark.parametrize("name", sorted(NOOP_SOURCES))
def test_noop_files_unchanged(name: str) -> None:
    src = NOOP_SOURCES[name]
    result = convert_source(src, f"{name}.py")
    assert result.source == src
    assert not result.changes and not result.unmapped and not result.keras_deps


def test_dataset_only_file_loads_without_keras() -> None:
    """keras.datasets becomes a NumPy loader in the script; the user's own lines stay."""
    result = convert_source(MNIST_ONLY, "data.py")
    assert "keras" not in "".join(line for line in result.source.splitlines()
                                  if line.startswith(("import", "from")))
    assert [(c.line, c.rule) for c in result.changes] == [(3, "data.load_mnist")]
    assert "(x_train, y_train), (x_test, y_test) = load_mnist()" in result.source
    assert 'x_test = x_test.astype("float32")  /  255.0' in result.source
    assert not result.keras_deps


# ----------------------------------------------------------------------------- registry

def _resolve(dotted: str) -> Callable[..., Any]:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj  # type: ignore[no-any-return]
    raise ImportError(dotted)


def _registry() -> list[Any]:
    out = []
    for spec in LAYERS.values():
        for target in spec.torch:
            out.append(pytest.param(spec, target, id=f"{spec.keras}:{target}"))
    return out


@pytest.mark.parametrize(("spec", "target"), _registry())
def test_torch_target_resolves(spec: LayerSpec, target: str) -> None:
    assert callable(_resolve(target))


def _kwarg_cases() -> list[Any]:
    return [pytest.param(target, kwargs, id=f"{spec.keras}:{target}")
            for spec in LAYERS.values() for target, kwargs in spec.torch_kwargs.items()]


def accepted_kwargs(target: Any) -> set[str]:
    """Named parameters of a callable, its ``typing.overload`` variants included; a class
    forwarding ``**kwargs`` (nn.LSTM → RNNBase) also accepts its bases' parameters."""
    names: set[str] = set()
    chain = ([c.__dict__["__init__"] for c in inspect.getmro(target) if "__init__" in c.__dict__]
             if inspect.isclass(target) else [target])
    for fn in chain:
        sigs = [inspect.signature(f) for f in (fn, *typing.get_overloads(fn))]
        for sig in sigs:
            names |= {n for n, p in sig.parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in sigs[0].parameters.values()):
            break
    return names


@pytest.mark.parametrize(("target", "kwargs"), _kwarg_cases())
def test_torch_kwargs_in_signature(target: str, kwargs: tuple[str, ...]) -> None:
    names = accepted_kwargs(_resolve(target))
    assert set(kwargs) <= names, set(kwargs) - names


def test_accepted_kwargs_rejects_unknown_keyword() -> None:
    import torch

    assert "negative_slope" not in accepted_kwargs(torch.nn.Linear)
    assert "hidden_size" in accepted_kwargs(torch.nn.LSTM)


def test_every_port_rule_exists() -> None:
    ports = {s.port for s in LAYERS.values() if s.port is not None}
    assert ports <= set(agent.weights.engine.PORTS), ports - set(agent.weights.engine.PORTS)


def test_torch_kwargs_targets_are_listed() -> None:
    for spec in LAYERS.values():
        assert set(spec.torch_kwargs) <= set(spec.torch), spec.keras


# ----------------------------------------------------------------------------- MHA

MHA_CALLS = {
    "query_value": ("mha(q, v)", "[q, v]", 7),
    "query_value_key": ("mha(q, v, k)", "[q, v, k]", 7),
    "keywords": ("mha(query=q, value=v)", "[q, v]", 7),
    "self_attention": ("mha(q, q)", "q", 7),
    "causal": ("mha(q, v, use_causal_mask=True)", "[q, v]", 5),
}


@pytest.mark.parametrize("kv_dim", [8, 6])
@pytest.mark.parametrize("form", sorted(MHA_CALLS))
def test_mha_call_forms(form: str,
                                         kv_dim: int) -> None:
    """MultiHeadAttention is right once the extractor passes every tensor argument."""

    call, inputs, steps = MHA_CALLS[form]
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        q = keras.Input(shape=(5, 8))
        v = keras.Input(shape=({steps}, {kv_dim}))
        k = keras.Input(shape=({steps}, {kv_dim}))
        mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
        y = {call}
        model = keras.Model({inputs}, y)
        """)
    result = convert_source(src, "mha.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "nn.MultiheadAttention(8, num_heads=2" in result.source
    if kv_dim != 8 and form != "self_attention":
        assert "kdim=6, vdim=6" in result.source
    eq = check_sources(src, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"


@pytest.mark.parametrize(("ctor", "why"), [
    ("layers.MultiHeadAttention(num_heads=2, key_dim=3)", "num_heads * key_dim"),
    ("layers.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=2)", "value_dim"),
    ("layers.MultiHeadAttention(num_heads=2, key_dim=4, output_shape=3)", "output_shape"),
])
def test_mha_forms_torch_lacks_use_the_runtime_module(ctor: str, why: str) -> None:
    """What nn.MultiheadAttention cannot express is the copied LazyMultiHeadAttention, with
    the reason in the report, and computes what Keras computes."""
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers

        q = keras.Input(shape=(5, 8))
        y = {ctor}(q, q)
        model = keras.Model(q, y)
        """)
    result = convert_source(src, "mha.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "class LazyMultiHeadAttention(LazyModuleMixin, nn.Module):" in result.source
    assert any(why in w.message for w in result.warnings), result.warnings
    eq = check_sources(src, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"


def test_mha_single_tensor_is_refused_not_guessed() -> None:
    """If only the query reaches the build, refuse rather than compute self-attention."""
    from agent.rules.spec import BuildContext, Unsupported, bind
    from agent.rules.values import Value

    spec = LAYERS["keras.layers.MultiHeadAttention"]
    args = bind(spec, [Value("2", 2, None), Value("4", 4, None)], {})
    with pytest.raises(Unsupported, match="query and value"):
        spec.build(args, [(5, 8)], BuildContext())
    built = spec.build(args, [(5, 8), (7, 8)], BuildContext())
    assert built.forward == "{m}({x0}, {x1}, {x1}, need_weights=False)[0]"
