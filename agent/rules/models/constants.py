"""Constant tensors inside a functional graph: ``positions = tf.range(maxlen)``.

Keras evaluates a tensor made from Python values at once, where the graph is built, and a
layer called on one (``Embedding(maxlen, dim)(positions)``) runs there too: its output is a
constant the model holds, not a step of the graph (the layer's weights are not the model's
and never train; Keras 3 and tf.keras alike). The converted class computes such values once
in ``__init__`` into non-persistent buffers (they follow the module's device, and the
checkpoint keeps only the model's weights), and ``forward`` reads them where Keras's graph
combined them with its tensors. A constant's first axis plays the batch axis for the layers
that see it, as it does in Keras: its shape in the IR leaves that axis out.
"""

from __future__ import annotations

from typing import Any

import libcst as cst
import numpy as np

from agent.rules.imports import dotted
from agent.rules.models.shapes import Shape
from agent.rules.values import UNKNOWN, evaluate

# function -> its kind: a range of numbers, a literal, or a value converted to a tensor
MAKERS: dict[str, str] = {
    "tensorflow.range": "range",
    "keras.ops.arange": "range",
    "keras.backend.arange": "range",
    "tensorflow.experimental.numpy.arange": "range",
    "tensorflow.linspace": "linspace",
    "keras.ops.linspace": "linspace",
    "tensorflow.constant": "literal",
    "tensorflow.convert_to_tensor": "converted",
    "keras.ops.convert_to_tensor": "converted",
}
NUMPY_MAKERS = {"np.arange": "range", "numpy.arange": "range"}

LAYER_ON_CONSTANT_WARNINGS = (
    "ran once on a constant when Keras built the model: its output is a fixed tensor "
    "(computed in __init__), and its weights are not the model's, so they never train, "
    "as in the original",
)


def kind_of(call: cst.Call, qual: str | None) -> str | None:
    """Which kind of constant ``call`` makes, or None when it makes none."""
    if qual is not None:
        return MAKERS.get(qual)
    name = dotted(call.func)
    return NUMPY_MAKERS.get(name or "")


def shape_and_dtype(call: cst.Call, kind: str, env: dict[str, Any]) -> tuple[Shape | None, str]:
    """The IR shape (the first axis left out, as for a batch) and "long"/"float"."""
    args = [a for a in call.args if a.keyword is None]
    dtype_arg = next((a.value for a in call.args
                      if a.keyword is not None and a.keyword.value == "dtype"), None)
    floating = dtype_arg is not None and "float" in cst.Module([]).code_for_node(dtype_arg)
    if kind in ("range", "linspace"):
        values = [evaluate(a.value, env).value for a in call.args
                  if a.keyword is None or a.keyword.value in ("start", "limit", "stop", "delta",
                                                              "step")]
        floating = floating or kind == "linspace" or any(isinstance(v, float) for v in values)
        return (), "float" if floating else "long"
    if kind == "literal" and args:
        value = evaluate(args[0].value, env).value
        if value is not UNKNOWN:
            array = np.asarray(value)
            if array.dtype.kind in "iufb":
                floating = floating or array.dtype.kind == "f"
                return tuple(int(d) for d in array.shape[1:]), "float" if floating else "long"
    return None, "float" if floating or dtype_arg is None else "long"


def buffer_code(code: str) -> str:
    """``code`` as a torch tensor (a NumPy array is converted; torch's ``register_buffer``
    takes tensors only)."""
    return code if code.startswith("torch.") else f"torch.as_tensor({code})"


def buffer_name(preferred: str, taken: set[str]) -> str:
    """The buffer's attribute: the Keras variable's name unless a module has it."""
    name, k = preferred, 1
    while name in taken:
        name, k = f"{preferred}_{k}", k + 1
    return name


# layers whose output does not depend on the training mode
MODELESS = frozenset({"Embedding", "Dense", "Activation", "LayerNormalization", "Rescaling",
                      "Flatten", "Reshape", "Permute", "ReLU", "LeakyReLU", "ELU", "Softmax"})


def init_lines(buffer: str, expr: str, local: str, module: str | None,
               init: tuple[str, ...], keras_name: str = "") -> list[str]:
    """``__init__`` lines computing ``expr`` once into ``buffer``: a layer Keras ran on a
    constant is built as a local module (Keras's initializers or given weights), run once
    without gradients in inference mode (Keras called it with ``training=None``), and
    dropped: Keras kept only its output."""
    if module is None:
        return [f'self.register_buffer("{buffer}", {expr}, persistent=False)']
    given = any(".weight.data.copy_(" in line for line in init)  # the arrays replace a draw
    lines = [f"{local} = {module}", *(line.replace("{m}", local) for line in init
                                      if not (given and line.startswith("nn.init.")))]
    if keras_name not in MODELESS:
        lines.append(f"{local}.eval()")
    return [*lines, "with torch.no_grad():",
            f'    self.register_buffer("{buffer}", {expr}, persistent=False)']
