"""``uses_framework``: an imported Keras name is a framework use, the same word as the
attribute of another object (``torch.optim.AdamW`` beside ``from keras.optimizers import
AdamW``) is not: a converted class once kept every data statement of a script as TF."""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import collect_imports
from agent.rules.ops.functions import uses_framework

IMPORTS = collect_imports(cst.parse_module(
    "import tensorflow as tf\nfrom tensorflow.keras.optimizers import AdamW\n"))


def test_attribute_named_like_an_import_is_not_the_import() -> None:
    assert not uses_framework(cst.parse_expression("torch.optim.AdamW(params, lr=1e-3)"),
                              IMPORTS)
    assert not uses_framework(cst.parse_expression("self.AdamW.tf"), IMPORTS)


def test_imported_names_and_their_attributes_are_framework_uses() -> None:
    assert uses_framework(cst.parse_expression("AdamW(learning_rate=1e-3)"), IMPORTS)
    assert uses_framework(cst.parse_expression("tf.concat([a, b], axis=0)"), IMPORTS)
    assert uses_framework(cst.parse_expression("torch.as_tensor(tf.ones(3)).sum()"), IMPORTS)
