"""Keras 2 script forms: builders grid-searched over a list parameter (scikit-learn wrapper
examples), layers added in loops the rules cannot unroll."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

from agent.rules.convert import convert_source


def test_layers_added_in_a_loop_the_rules_cannot_express_fail_the_model_loudly() -> None:
    """``for f in filters: model.add(Conv2D(f, 3))`` with ``filters`` a parameter every call
    may change (a rank-dependent layer has no run-time loop form yet): a class without those
    layers would be a different model."""
    src = textwrap.dedent("""
        from keras.models import Sequential
        from keras.layers import Conv2D, Dense, Flatten

        def make_model(filters, classes):
            model = Sequential()
            model.add(Conv2D(4, 3, input_shape=(8, 8, 1)))
            for f in filters:
                model.add(Conv2D(f, 3, activation='relu'))
            model.add(Flatten())
            model.add(Dense(classes, activation='softmax'))
            return model

        candidates = [[8], [8, 4]]
        models = [make_model(sizes, 3) for sizes in candidates]
    """)
    result = convert_source(src)
    assert "LightningModule" not in result.source
    assert "model.add(Conv2D(f, 3, activation='relu'))" in result.source
    reasons = [u.reason for u in result.unmapped]
    assert any("model.add(...) inside a for the rules cannot unroll" in r for r in reasons), \
        reasons


def test_dense_layers_added_in_a_loop_over_a_parameter_list_build_per_call() -> None:
    """The same loop over last-axis layers is built by the class's own loop: each call's
    list makes its own layers (a class without them would be a different model)."""
    import torch

    src = textwrap.dedent("""
        from keras.models import Sequential
        from keras.layers import Dense, Flatten

        def make_model(hidden_sizes, classes):
            model = Sequential()
            model.add(Flatten(input_shape=(6, 6)))
            for size in hidden_sizes:
                model.add(Dense(size, activation='relu'))
            model.add(Dense(classes, activation='softmax'))
            return model

        candidates = [[8], [8, 4]]
        models = [make_model(sizes, 3) for sizes in candidates]
    """)
    result = convert_source(src)
    assert "for size in hidden_sizes" in result.source, result.source
    namespace: dict[str, object] = {}
    exec(compile(result.source.split("candidates =")[0], "<converted>", "exec"), namespace)
    cls = next(v for k, v in namespace.items() if k.endswith("Model") and isinstance(v, type))
    for sizes in ([8], [8, 4]):
        module = cls(hidden_sizes=sizes, classes=3)  # type: ignore[operator]
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        assert [m.out_features for m in linears] == [*sizes, 3]
        assert module(torch.zeros(2, 6, 6)).shape == (2, 3)


def test_a_loop_over_a_known_list_still_unrolls() -> None:
    src = textwrap.dedent("""
        from keras.models import Sequential
        from keras.layers import Dense, Flatten

        HIDDEN = [8, 4]
        model = Sequential()
        model.add(Flatten(input_shape=(6, 6)))
        for size in HIDDEN:
            model.add(Dense(size, activation='relu'))
        model.add(Dense(3))
    """)
    result = convert_source(src)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "nn.Linear(6 * 6, 8)" in result.source and "nn.Linear(8, 4)" in result.source


ARRAYS = """
import numpy as np
rng = np.random.RandomState(3)
kernel = rng.rand(3, 3, 2, 4).astype('float32')
bias = rng.rand(4).astype('float32')
up_kernel = rng.rand(2, 2, 3, 4).astype('float32')
seq_kernel = rng.rand(2, 2, 5).astype('float32')
dense_kernel = rng.rand(12, 4).astype('float32')
fc = [rng.rand(15 * 5, 7).astype('float32'), rng.rand(7).astype('float32')]
"""

WEIGHTED = ARRAYS + """
from keras.layers import Conv1D, Conv2D, Conv2DTranspose, Dense, Flatten, Input, Reshape
from keras.models import Model


def build(conv_weights):
    inp = Input(shape=(6, 6, 2))
    h = Conv2D(4, 3, padding='same', activation='relu', weights=conv_weights)(inp)
    h = Conv2DTranspose(3, 2, strides=2, use_bias=False, weights=[up_kernel])(h)
    h = Reshape((36, 12))(h)
    h = Dense(4, weights=[dense_kernel, np.zeros(4)])(h)
    h = Reshape((72, 2))(h)
    h = Conv1D(5, 2, strides=5, weights=[seq_kernel, np.ones(5)])(h)
    h = Flatten()(h)
    return Model(inp, Dense(7, weights=fc)(h))


model = build([kernel, bias])
"""

# Keras 2's weights= is set_weights once the layer is built (Keras 3 dropped the argument)
REFERENCE = ARRAYS + """
import keras
from keras import layers

inp = keras.Input(shape=(6, 6, 2))
h = layers.Conv2D(4, 3, padding='same', activation='relu', name='c2')(inp)
h = layers.Conv2DTranspose(3, 2, strides=2, use_bias=False, name='up')(h)
h = layers.Reshape((36, 12))(h)
h = layers.Dense(4, name='d4')(h)
h = layers.Reshape((72, 2))(h)
h = layers.Conv1D(5, 2, strides=5, name='c1')(h)
h = layers.Flatten()(h)
model = keras.Model(inp, layers.Dense(7, name='d7')(h))
for name, arrays in [('c2', [kernel, bias]), ('up', [up_kernel]),
                     ('d4', [dense_kernel, np.zeros(4)]), ('c1', [seq_kernel, np.ones(5)]),
                     ('d7', fc)]:
    model.get_layer(name).set_weights(arrays)
"""


def test_weights_given_to_layer_constructors_are_the_torch_parameters() -> None:
    """Keras 2's ``weights=[kernel, bias]``: the converted model computes what the Keras
    model computes with no weight port in between (the arrays are copied in torch layout)."""
    import keras
    import numpy as np
    import torch

    from agent.equivalence import exec_source

    result = convert_source(WEIGHTED)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "permute(3, 2, 0, 1)" in code and "conv_weights[1]" in code, code
    original = exec_source(REFERENCE, "k2l_original")
    converted = exec_source(code, "k2l_converted")
    x = np.random.RandomState(0).rand(2, 6, 6, 2).astype("float32")
    want = keras.ops.convert_to_numpy(original["model"](x))
    module = converted["model"].eval()
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_data_format_tests_in_code_kept_as_written_take_the_channels_last_side() -> None:
    """A function the rules keep whole (a Keras backend call without mapping) still asks
    Keras for the data format: Keras's default, channels-last, is written in."""
    src = textwrap.dedent("""
        import numpy as np
        from keras import backend as K

        def ascend(model, image, channel):
            if K.image_data_format() == 'channels_first':
                score = K.mean(model.output[:, channel])
            else:
                score = K.mean(model.output[..., channel])
            step = K.function([model.input], [score, K.gradients(score, model.input)[0]])
            axis = 1 if K.image_data_format() == 'channels_first' else -1
            if image.ndim == 4:
                image = image[0]
            return step, axis

        def to_pixels(x):
            if K.image_data_format() != 'channels_last':
                x = x.transpose((1, 2, 0))
            return np.clip(x * 255, 0, 255)
    """)
    result = convert_source(src)
    code = result.source
    assert "image_data_format()" not in code and "# k2l" not in code, code
    assert "score = K.mean(model.output[..., channel])" in code
    assert "model.output[:, channel]" not in code
    assert "axis = -1" in code and "if image.ndim == 4:" in code
    assert "transpose" not in code and "pass" not in code
    lines = sorted(w.line for w in result.warnings
                   if w.message.startswith("image_data_format() resolved to 'channels_last'"))
    assert lines == [6, 11, 17], result.warnings  # one warning per test, at its line


def test_other_layers_weights_argument_keeps_its_own_meaning() -> None:
    """``weights=`` of a keras.applications model (a checkpoint name) or of an Embedding (its
    table) is theirs: only Dense and convolutions take ``[kernel, bias]`` arrays here."""
    src = textwrap.dedent("""
        import numpy as np
        import keras
        from keras import layers

        table = np.zeros((50, 8), dtype='float32')
        tokens = keras.Input(shape=(10,), dtype='int32')
        words = layers.Embedding(50, 8, weights=[table])(tokens)
        text_model = keras.Model(tokens, layers.Dense(2)(layers.Flatten()(words)))

        backbone = keras.applications.MobileNetV2(weights=None, include_top=False,
                                                  input_shape=(96, 96, 3))
        images = keras.Input(shape=(96, 96, 3))
        image_model = keras.Model(images, layers.GlobalAveragePooling2D()(backbone(images)))
    """)
    result = convert_source(src)
    assert not any("arrays for a layer" in u.reason for u in result.unmapped), result.unmapped
    assert "nn.Embedding(50, 8)" in result.source
    assert "torch.as_tensor(table, dtype=torch.float32)" in result.source


def test_a_resolved_test_without_channels_last_branch_leaves_no_statement() -> None:
    """``if image_data_format() == 'channels_first': ...`` with no else, read while tracing a
    model: nothing is left of it (no ``pass``, no comment); the report says it."""
    src = textwrap.dedent("""
        from keras import backend as K
        from keras.layers import Conv2D, Dense, Flatten
        from keras.models import Sequential

        rows, cols = 9, 9
        shape = (rows, cols, 1)
        if K.image_data_format() == "channels_first":
            shape = (1, rows, cols)

        model = Sequential()
        model.add(Conv2D(3, (3, 3), activation="relu", input_shape=shape))
        model.add(Flatten())
        model.add(Dense(2))
    """)
    result = convert_source(src)
    code = result.source
    assert "pass" not in code and "k2l:" not in code and "channels_first" not in code, code
    assert "shape = (rows, cols, 1)" in code
    assert [w.line for w in result.warnings if "image_data_format()" in w.message] == [8]
