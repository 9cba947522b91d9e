"""Keras 2's ``K.gradients`` + ``K.function`` over a model's symbolic output (gradient ascent
on the input, filter visualization) → an eager function over a tape, then torch autograd;
forms the rewrite does not cover stay as written with a precise report line."""

from __future__ import annotations

import os
import re
import textwrap
import types
from pathlib import Path

import numpy as np
import torch
from without_tf import run_without_tf

from agent.rules.convert import convert_source

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent('''\
    """Gradient ascent on the input of a small model, Keras 2 style."""
    from __future__ import print_function

    import numpy as np
    from keras import backend as K
    from keras.layers import Dense, Input
    from keras.models import Model

    UNIT = 2

    inp = Input(shape=(6,))
    hidden = Dense(8, activation="tanh")(inp)
    model = Model(inp, Dense(4)(hidden))
    input_vec = model.input

    # the mean activation of one output unit
    loss = K.mean(model.output[:, UNIT])
    grads = K.gradients(loss, input_vec)[0]
    grads /= K.sqrt(K.mean(K.square(grads))) + 1e-5
    iterate = K.function([input_vec], [loss, grads])


    def ascend(x, steps):
        for _ in range(steps):
            loss_value, grads_value = iterate([x])
            x += grads_value * 0.1
        return loss_value, x


    if __name__ == "__main__":
        start = np.random.rand(3, 6)
        value, end = ascend(start, 4)
        print("DONE", end.shape, type(value).__name__)
    ''')


def _converted() -> str:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert not res.unmapped, res.unmapped
    assert ("training.backend_function" in {c.rule for c in res.changes}), res.changes
    return res.source


def test_backend_function_converts_and_runs_without_tensorflow(tmp_path: Path) -> None:
    code = _converted()
    assert "def iterate(inputs):" in code and "tape_gradient(loss, graph_input)" in code
    assert code.index("from __future__") < code.index("import numpy"), code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + code
    assert "DONE (3, 6) ndarray" in run.stdout, run.stdout


def test_backend_function_matches_keras() -> None:
    """iterate([x]) against the Keras model's own gradient (Keras 3 on torch, weights
    ported), normalized as the script does; arrays out, float32 as K.function's input."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from agent.weights import port_weights

    module = types.ModuleType("converted_backend_function")
    code = _converted().split('if __name__ == "__main__":')[0]
    exec(compile(code, "converted_backend_function.py", "exec"), module.__dict__)
    inp = keras.Input(shape=(6,))
    kmodel = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Dense(8, activation="tanh")(
        inp)))
    module.model = [c for c in vars(module).values()
                    if isinstance(c, type) and c.__name__.endswith("Model")][0]()
    port_weights(kmodel, module.model)
    x = np.random.default_rng(1).uniform(size=(3, 6))
    loss_value, grads_value = module.iterate([x])
    assert isinstance(loss_value, np.ndarray) and isinstance(grads_value, np.ndarray)
    xt = torch.tensor(x.astype("float32"), requires_grad=True)
    want_loss = kmodel(xt)[:, 2].mean()
    (grad,) = torch.autograd.grad(want_loss, [xt])
    g = grad.numpy()
    g = g / (np.sqrt(np.mean(np.square(g))) + 1e-5)
    np.testing.assert_allclose(loss_value, float(want_loss.detach()), rtol=1e-5)
    np.testing.assert_allclose(grads_value, g, rtol=1e-5, atol=1e-6)


def test_learning_phase_input_stays_with_its_reason() -> None:
    """Two inputs (``K.learning_phase()``): not this form; the report says why it stays."""
    code = SCRIPT.replace("iterate = K.function([input_vec], [loss, grads])",
                          "iterate = K.function([input_vec, K.learning_phase()], [loss, grads])")
    res = convert_source(code)
    assert "K.function([input_vec, K.learning_phase()]" in res.source
    assert any("differentiates a symbolic graph" in u.reason for u in res.unmapped) \
        or any("runs a symbolic Keras graph" in u.reason for u in res.unmapped), res.unmapped


def test_symbolic_name_read_after_the_function_stays() -> None:
    code = SCRIPT.replace("iterate = K.function([input_vec], [loss, grads])\n",
                          "iterate = K.function([input_vec], [loss, grads])\nprint(loss)\n")
    res = convert_source(code)
    assert "K.function([input_vec], [loss, grads])" in res.source
    assert not any(c.rule == "training.backend_function" for c in res.changes)
