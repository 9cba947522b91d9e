"""Which Keras a script was written for (2 or 3), read off its imports and the APIs it uses.

Keras 2 and 3 differ where a behaviour is implicit, e.g. the mask a layer called on several
tensors receives (Keras 2: the first input's as ``mask``; Keras 3: each input's as
``<arg>_mask`` only). ``tensorflow.keras``/``tf_keras`` mean Keras 2 (tf.keras was Keras 2
before TensorFlow 2.16), unless the script uses an API only Keras 3 has (``keras.ops``,
``KERAS_BACKEND``); a plain ``import keras`` is Keras 3 only with such an API and Keras 2
only with a module path Keras 3 removed. Anything else is unknown (None): a rule that
depends on it keeps its warning.
"""

from __future__ import annotations

import re

from agent.rules.imports import ImportTable

# spellings only Keras 3 has
_KERAS3 = re.compile(r"\bkeras\.(?:ops|random|config|saving|src|Variable)\b|\bKERAS_BACKEND\b"
                     r"|\bfrom\s+keras\s+import\s+[^\n]*\bops\b")
# module paths Keras 3 removed
_KERAS2_PATHS = ("keras.engine", "keras.layers.core", "keras.layers.recurrent",
                 "keras.layers.convolutional", "keras.layers.merge", "keras.layers.embeddings",
                 "keras.layers.advanced_activations", "keras.layers.wrappers",
                 "keras.layers.normalization", "keras.layers.noise", "keras.layers.pooling",
                 "keras.utils.np_utils", "keras.wrappers", "keras.legacy")
_TF_KERAS = ("tensorflow.keras", "tensorflow.python.keras", "tf_keras")


def keras_generation(source: str, imports: ImportTable) -> int | None:
    """2, 3, or None when the script does not say."""
    modules = set(imports.keras_modules) | set(imports.names.values())
    if _KERAS3.search(source):
        return 3
    if any(m == p or m.startswith(p + ".") for m in modules for p in _TF_KERAS):
        return 2
    tf_aliases = [local for local, full in imports.names.items() if full == "tensorflow"]
    if any(re.search(rf"\b{re.escape(a)}\.keras\b", source) for a in tf_aliases):
        return 2
    if any(m == p or m.startswith(p + ".") for m in modules for p in _KERAS2_PATHS):
        return 2
    return None
