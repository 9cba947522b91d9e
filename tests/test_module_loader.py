"""The loader keeps a script's definitions and never runs its top-level code."""

from __future__ import annotations

import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from agent.tools.module_loader import load_definitions, strip_top_level, unload

SCRIPT = textwrap.dedent(
    '''\
    """A converted script."""
    import os
    from pathlib import Path as P

    BATCH = 32
    SHAPE = (28, 28, 1)
    HIDDEN = 2 * BATCH
    NAMES: list = ["a", "b"]

    try:
        import json
    except ImportError:
        json = None

    def helper(x=HIDDEN):
        return x + 1

    class Model:
        units = BATCH

    data = P(os.environ["K2L_MARKER"]).write_text("ran")
    SCALED = data * 2
    while True:
        pass
    if __name__ == "__main__":
        raise SystemExit("main ran")
    '''
)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_strip_keeps_definitions_and_constants_only() -> None:
    stripped = strip_top_level(SCRIPT)
    kinds = [type(s).__name__ for s in stripped.tree.body]
    assert kinds == [
        "Expr", "Import", "ImportFrom", "Assign", "Assign", "Assign", "AnnAssign", "Try",
        "FunctionDef", "ClassDef",
    ]
    dropped = {(d.line, d.kind) for d in stripped.dropped}
    # the call, the constant that depends on it, the loop and the __main__ block
    assert dropped == {(21, "Assign"), (22, "Assign"), (23, "While"), (25, "If")}


def test_loaded_module_has_definitions_and_top_level_did_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker.txt"
    monkeypatch.setenv("K2L_MARKER", str(marker))
    path = _write(tmp_path, "script.py", SCRIPT)
    module = load_definitions(path)
    try:
        assert module.helper() == 65
        assert module.Model.units == 32
        assert module.SHAPE == (28, 28, 1)
        assert module.json is not None
        assert not hasattr(module, "data") and not hasattr(module, "SCALED")
        assert not marker.exists()
    finally:
        unload(module)
    assert module.__name__ not in sys.modules
    assert not (tmp_path / "__pycache__").exists()


def test_tracebacks_point_at_the_original_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "lines.py",
        """\
        import math
        print("dropped")
        print("dropped too")


        def boom():
            return 1 / 0
        """,
    )
    module = load_definitions(path)
    with pytest.raises(ZeroDivisionError) as info:
        module.boom()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (frame.filename, frame.lineno) == (str(path.resolve()), 7)
    unload(module)


def test_sibling_imports_are_filtered_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "sibling-ran.txt"
    monkeypatch.setenv("K2L_MARKER", str(marker))
    _write(
        tmp_path,
        "k2l_sibling_helper.py",
        """\
        import os
        from pathlib import Path
        WIDTH = 8
        Path(os.environ["K2L_MARKER"]).write_text("ran")
        """,
    )
    path = _write(
        tmp_path,
        "main_script.py",
        """\
        from k2l_sibling_helper import WIDTH

        def width():
            return WIDTH
        """,
    )
    module = load_definitions(path)
    assert module.width() == 8
    assert not marker.exists()
    assert "k2l_sibling_helper" not in sys.modules
    unload(module)


def test_two_loads_of_one_file_are_independent(tmp_path: Path) -> None:
    path = _write(tmp_path, "counter.py", "COUNT = 1\n")
    first = load_definitions(path)
    path.write_text("COUNT = 2\n", encoding="utf-8")
    second = load_definitions(path)
    assert (first.COUNT, second.COUNT) == (1, 2)
    unload(first)
    unload(second)


def test_syntax_error_is_raised_not_swallowed(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.py", "def f(:\n")
    with pytest.raises(SyntaxError):
        load_definitions(path)


def test_a_table_of_lambdas_is_kept_its_bodies_run_only_when_called(tmp_path: Path) -> None:
    """``_ACTIVATIONS = {"relu": lambda t: torch.relu(t)}`` (a runtime table copied into
    converted scripts) defines functions, calls nothing; a lambda default that calls is
    still dropped."""
    path = tmp_path / "m.py"
    path.write_text(
        "import math\n\n"
        "TABLE = {'sqrt': lambda t: math.sqrt(t), 'id': lambda t: t}\n"
        "BAD = {'x': lambda t=open('f'): t}\n"
        "def use(name, x):\n    return TABLE[name](x)\n", encoding="utf-8")
    module = load_definitions(path)
    try:
        assert module.use("sqrt", 9.0) == 3.0
        assert not hasattr(module, "BAD")
    finally:
        unload(module)
