"""Names for the intermediate tensors a functional graph leaves unnamed (``h``, ``h_1``...)
never take a name the source binds (``seq, h, c = LSTM(...)(x)``): the generated ``h = ...``
overwrote the user's ``h`` and the model silently computed something else. A multi-output
layer bound to one name is reported instead of generating unfilled output slots."""

from __future__ import annotations

import textwrap
import types

import numpy as np

from agent.rules.convert import convert_source

SOURCE = textwrap.dedent('''
    import keras
    from keras import layers


    def build():
        x = keras.Input(shape=(5, 3))
        seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)
        return keras.Model(x, [seq[:, -1] + c, h * 2])
''')


def test_unnamed_tensors_do_not_overwrite_the_sources_names() -> None:
    import keras
    import torch

    from agent.weights import port_weights

    result = convert_source(SOURCE, "states.py")
    assert not result.error and not result.unmapped, result.unmapped
    module = types.ModuleType("states")
    exec(compile(result.source, "states.py", "exec"), module.__dict__)  # noqa: S102
    ns: dict[str, object] = {}
    exec(compile(SOURCE, "original.py", "exec"), ns)  # noqa: S102 - our own Keras program
    kmodel = ns["build"]()  # type: ignore[operator]
    tmodel = module.build().eval()
    port_weights(kmodel, tmodel)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    want = [np.asarray(keras.ops.convert_to_numpy(t)) for t in kmodel(x)]
    with torch.no_grad():
        got = [t.numpy() for t in tmodel(torch.as_tensor(x))]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_several_outputs_bound_to_one_name_are_reported() -> None:
    source = SOURCE.replace(
        "seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)\n"
        "    return keras.Model(x, [seq[:, -1] + c, h * 2])",
        "out = layers.GRU(4, return_state=True)(x)\n"
        "    return keras.Model(x, out[0] + out[1])")
    assert "GRU(4, return_state=True)" in source
    result = convert_source(source, "states.py")
    assert "{y" not in result.source
    assert any("bound to one name" in u.reason for u in result.unmapped), result.unmapped
