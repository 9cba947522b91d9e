"""A Keras/TF import nothing reads still makes the file need TensorFlow: the converter drops
it and says so, unless the name may be needed (``__all__``, a star import, an ``__init__``)."""

from __future__ import annotations

from agent.rules.convert import convert_source


def test_an_unused_tensorflow_import_is_removed_and_reported() -> None:
    done = convert_source("import os\nimport tensorflow as tf\n\nprint(os.sep)\n", "util.py")
    assert done.source == "import os\n\nprint(os.sep)\n"
    assert [(c.line, c.rule, c.message) for c in done.changes] == [
        (2, "imports.unused", "unused import of tensorflow removed")]


def test_only_the_unused_names_of_a_from_import_go() -> None:
    source = ("from tensorflow.keras.layers import Conv2D, Dense\n"
              '__all__ = ["Dense"]\n')
    done = convert_source(source, "layers_api.py")
    assert done.source == 'from tensorflow.keras.layers import Dense\n__all__ = ["Dense"]\n'
    assert [c.message for c in done.changes] == [
        "unused import of tensorflow.keras.layers.Conv2D removed"]
    assert [(d.line, d.name) for d in done.keras_deps] == [(1, "keras.layers.Dense")]


def test_used_imports_star_imports_and_packages_stay() -> None:
    used = "import tensorflow as tf\n\nprint(tf.__version__)\n"
    star = "from keras.layers import *\nimport tensorflow as tf\n\nx = 1\n"
    for source, path in ((used, "v.py"), (star, "star.py"),
                         ("import tensorflow as tf\n", "pkg/__init__.py")):
        done = convert_source(source, path)
        assert done.source == source and not done.changes, path


def test_an_import_guarded_by_import_error_stays() -> None:
    source = "try:\n    import tensorflow as tf\nexcept ImportError:\n    tf = None\n"
    assert convert_source(source, "opt.py").source == source
