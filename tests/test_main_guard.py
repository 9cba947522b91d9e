"""The main-guard layout pass (agent/rules/layout/main_guard.py): script statements of a
converted file move under one ``if __name__ == "__main__":`` block, definitions stay.

Every layout case is checked three ways: the exact text, the file imported in a fresh
process (no script code runs: its marker is not printed), and the file run as a program
(it prints what the original printed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.rules.convert import convert_source
from agent.rules.layout.main_guard import guard_script


def _run(path: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          timeout=60, cwd=path.parent)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _imported(path: Path) -> str:
    code = f"import sys; sys.path.insert(0, {str(path.parent)!r}); import {path.stem}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=path.parent)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _check(tmp_path: Path, before: str, after: str, *args: str) -> None:
    """``before`` lays out as ``after``; imported it runs no script code, run it prints the
    same as ``before``."""
    before, after = textwrap.dedent(before), textwrap.dedent(after)
    assert guard_script(before).code == after
    old, new = tmp_path / "old_script.py", tmp_path / "new_script.py"
    old.write_text(before)
    new.write_text(after)
    printed = _run(old, *args)
    assert "SCRIPT RAN" in printed  # the marker the script code prints
    assert _run(new, *args) == printed
    assert "SCRIPT RAN" not in _imported(new)


def test_script_code_moves_under_one_guard_definitions_stay(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        """Doc."""
        import math

        UNITS = 4
        SHAPE = (UNITS, 2)
        # the data
        data = list(map(math.sqrt, range(UNITS)))
        data = [round(v, 3) for v in data]


        def total(scale=UNITS):
            """Reads the script's global ``data`` when called."""
            return scale * sum(data)


        class Net:
            size = UNITS * 2

            def shape(self, s=SHAPE):
                return s


        print("SCRIPT RAN", total(),
              Net().shape())
        for i in range(2):
            # each one
            print(i)
        ''', '''\
        """Doc."""
        import math

        UNITS = 4
        SHAPE = (UNITS, 2)


        def total(scale=UNITS):
            """Reads the script's global ``data`` when called."""
            return scale * sum(data)


        class Net:
            size = UNITS * 2

            def shape(self, s=SHAPE):
                return s


        if __name__ == "__main__":
            # the data
            data = list(map(math.sqrt, range(UNITS)))
            data = [round(v, 3) for v in data]

            print("SCRIPT RAN", total(),
                  Net().shape())
            for i in range(2):
                # each one
                print(i)
        ''')


def test_definitions_reading_script_names_at_definition_time_move_too(tmp_path: Path) -> None:
    """Defaults, decorators, base classes, annotations and class bodies are evaluated when
    the def/class runs: what reads a script name there stays after it, in order."""
    _check(tmp_path, '''\
        import functools
        import statistics

        rate = statistics.mean([0.25, 0.75])
        base = type("Base", (), {})


        def scaled(x, r=rate):
            return x * r


        @functools.lru_cache(maxsize=int(rate * 4))
        def cached(x):
            return x + 1


        class Child(base):
            pass


        class Table:
            factor = rate * 2


        def annotated(x: base) -> int:
            return 1


        def free(x):
            return x - 1


        print("SCRIPT RAN", scaled(2), cached(1), Child.__mro__[1].__name__, Table.factor,
              free(3))
        ''', '''\
        import functools
        import statistics


        def free(x):
            return x - 1


        if __name__ == "__main__":
            rate = statistics.mean([0.25, 0.75])
            base = type("Base", (), {})

            def scaled(x, r=rate):
                return x * r

            @functools.lru_cache(maxsize=int(rate * 4))
            def cached(x):
                return x + 1

            class Child(base):
                pass

            class Table:
                factor = rate * 2

            def annotated(x: base) -> int:
                return 1

            print("SCRIPT RAN", scaled(2), cached(1), Child.__mro__[1].__name__, Table.factor,
                  free(3))
        ''')


def test_postponed_annotations_do_not_hold_a_definition_back() -> None:
    code = textwrap.dedent('''\
        from __future__ import annotations

        Kind = type("Kind", (), {})


        def f(x: Kind) -> Kind:
            return x
        ''')
    assert guard_script(code).code.split("\n\n\n")[1].startswith("def f(x: Kind)")
    eager = code.replace("from __future__ import annotations\n", "")
    assert "    def f(x: Kind)" in guard_script(eager).code


def test_a_rebinding_stays_in_the_script_and_so_does_what_reads_it(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        n = 2
        print("SCRIPT RAN", n)
        n = 3


        def f(k=n):
            return k


        def g():
            return "first"


        def g():
            return "second"


        print(f(), g())
        ''', '''\
        n = 2


        def g():
            return "first"


        if __name__ == "__main__":
            print("SCRIPT RAN", n)
            n = 3

            def f(k=n):
                return k

            def g():
                return "second"

            print(f(), g())
        ''')


def test_an_existing_guard_gets_the_script_statements_in_front(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        import sys

        args = list(sys.argv[1:])


        def main():
            print("SCRIPT RAN", args)


        if __name__ == "__main__":
            main()
        ''', '''\
        import sys


        def main():
            print("SCRIPT RAN", args)


        if __name__ == "__main__":
            args = list(sys.argv[1:])
            main()
        ''', "--flag")


def test_files_already_laid_out_or_ambiguous_are_left_as_written() -> None:
    done = 'import os\n\n\ndef f():\n    return 1\n\n\nif __name__ == "__main__":\n    f()\n'
    assert guard_script(done).code == done
    after = done + "print(f())\n"  # script code after the guard: which order was meant?
    assert guard_script(after).code == after
    two = done + 'if __name__ == "__main__":\n    print(2)\n'
    assert guard_script(two).code == two
    only_defs = "import os\n\nX = 1\n\n\ndef f():\n    return X\n"
    assert guard_script(only_defs).code == only_defs
    bad = "def f(:\n"
    assert guard_script(bad).code == bad


def test_module_level_global_inside_a_block_leaves_the_file_as_written() -> None:
    """``global x`` in the guard after a kept ``x = ...`` would not compile."""
    code = "x = 1\nfor i in range(2):\n    global x\n    x += i\n"
    assert guard_script(code).code == code


def test_a_global_rebound_by_a_function_stays_script(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        count = 0


        def bump():
            global count
            count += 1


        bump()
        print("SCRIPT RAN", count)
        ''', '''\
        def bump():
            global count
            count += 1


        if __name__ == "__main__":
            count = 0

            bump()
            print("SCRIPT RAN", count)
        ''')


def test_import_guards_and_setup_before_imports_stay_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "helpers_dir").mkdir()
    (tmp_path / "helpers_dir" / "local_helper.py").write_text("VALUE = 7\n")
    _check(tmp_path, '''\
        import os
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers_dir"))
        from local_helper import VALUE

        try:
            import not_installed_anywhere
        except ImportError:
            not_installed_anywhere = None
        if VALUE > 3:
            big = True
        else:
            big = False
        del big
        print("SCRIPT RAN", VALUE, not_installed_anywhere)
        ''', '''\
        import os
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers_dir"))
        from local_helper import VALUE

        try:
            import not_installed_anywhere
        except ImportError:
            not_installed_anywhere = None


        if __name__ == "__main__":
            if VALUE > 3:
                big = True
            else:
                big = False
            del big
            print("SCRIPT RAN", VALUE, not_installed_anywhere)
        ''')


def test_argparse_at_module_level_moves_and_still_parses(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=1)
        args = parser.parse_args()


        def epochs():
            return args.epochs


        print("SCRIPT RAN", epochs())
        ''', '''\
        import argparse


        def epochs():
            return args.epochs


        if __name__ == "__main__":
            parser = argparse.ArgumentParser()
            parser.add_argument("--epochs", type=int, default=1)
            args = parser.parse_args()

            print("SCRIPT RAN", epochs())
        ''', "--epochs", "5")


def test_line_records_follow_the_statements_that_moved() -> None:
    layout = guard_script("x = f()\nY = 1\n")
    assert layout.code == 'Y = 1\n\n\nif __name__ == "__main__":\n    x = f()\n'
    assert (layout.line(1), layout.line(2)) == (5, 1)
    layout = guard_script("x = f()\n\n\n@deco(x)\ndef g():\n    pass\n")
    assert layout.code.splitlines()[layout.line(4) - 1] == "    @deco(x)"


KERAS_SCRIPT = '''\
import numpy as np
from tensorflow import keras

x_train = np.random.rand(32, 8).astype("float32")
y_train = np.random.randint(0, 3, size=(32,))
model = keras.Sequential([
    keras.layers.Dense(16, activation="relu", input_shape=(8,)),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=1, batch_size=8)
print("SCRIPT RAN")
'''


def test_only_files_the_rules_converted_get_the_guard() -> None:
    plain = "import numpy as np\n\nx = np.ones(2)\nprint(x)\n"
    assert convert_source(plain, "p.py", main_guard=True).source == plain
    conv = convert_source(KERAS_SCRIPT, "k.py", main_guard=True)
    assert conv.changed and 'if __name__ == "__main__":\n    x_train = np.random' in conv.source
    assert "if __name__" not in convert_source(KERAS_SCRIPT, "k.py").source
    body = conv.source.split('if __name__ == "__main__":\n')[1]
    assert body.startswith("    x_train") and "class " not in body


def test_migrate_default_and_keep_script_layout(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(KERAS_SCRIPT)
    for flag, guarded in (([], True), (["--keep-script-layout"], False)):
        out = tmp_path / f"out{len(flag)}"
        result = CliRunner().invoke(app, ["migrate", str(tmp_path / "src"), "--out", str(out),
                                          "--no-llm", "--no-validate", *flag])
        assert result.exit_code in (0, 1), result.output
        text = (out / "train.py").read_text()
        assert ('if __name__ == "__main__":' in text) is guarded
        report = json.loads((out / "report.json").read_text())
        assert report["files"][0]["path"] == "train.py"


def test_the_script_check_runs_the_guarded_body(tmp_path: Path) -> None:
    """The script check runs a converted file as ``__main__``: a failure inside the guard is
    a failure of the check, not a pass because the body was skipped."""
    from agent.tools.script_run import run_script

    good = tmp_path / "good.py"
    good.write_text('X = 1\n\n\nif __name__ == "__main__":\n    print(X)\n')
    bad = tmp_path / "bad.py"
    bad.write_text('X = 1\n\n\nif __name__ == "__main__":\n    raise ValueError("guarded")\n')
    assert run_script(good, 120.0, 0)["status"] == "passed"
    verdict = run_script(bad, 120.0, 0)
    assert verdict["status"] == "failed" and "guarded" in json.dumps(verdict)


@pytest.mark.parametrize("code", [
    "import keras\nx = 1; y = g(x)\n",  # one line, two statements: one unit, moved whole
    "a = 1\n# trailing comment\n",
])
def test_odd_shapes_keep_every_statement(code: str) -> None:
    new = guard_script(code).code
    import ast

    def stmts(text: str) -> list[str]:
        found = []
        for node in ast.parse(text).body:
            body = node.body if isinstance(node, ast.If) and "__main__" in ast.unparse(
                node.test) else [node]
            found += [ast.dump(s) for s in body]
        return sorted(found)

    assert stmts(new) == stmts(code)


def test_with_an_llm_stage_the_layout_follows_it(tmp_path: Path) -> None:
    """The LLM stage splices its pieces by top-level name: it sees the file before the
    layout pass, which runs on what it leaves."""
    from agent.pipeline import Options, migrate

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(KERAS_SCRIPT)
    seen: list[str] = []

    def stage(items: list, out: Path) -> list[str]:
        seen.extend(item.text or "" for item in items)
        return []

    opts = Options(out=tmp_path / "out", validate=False, llm=True, sandbox="none")
    report, items, _ = migrate(tmp_path / "src", opts, llm_stage=stage)
    assert seen and "if __name__" not in seen[0]
    text = (tmp_path / "out" / "train.py").read_text()
    assert 'if __name__ == "__main__":\n    x_train = np.random' in text
    assert "+if __name__" in report.files[0].diff


def test_command_line_and_environment_reads_are_script_input(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        import os
        import sys

        DEFAULT = "x"
        name = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
        home = os.environ["HOME"][:0]
        print("SCRIPT RAN", name, home)
        ''', '''\
        import os
        import sys

        DEFAULT = "x"


        if __name__ == "__main__":
            name = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
            home = os.environ["HOME"][:0]
            print("SCRIPT RAN", name, home)
        ''', "given")


@pytest.mark.parametrize(("code", "laid_out"), [
    ("x = f()\nY = 1", 'Y = 1\n\n\nif __name__ == "__main__":\n    x = f()\n'),
    ("x = f()\r\nY = 1\r\n", 'Y = 1\r\n\r\n\r\nif __name__ == "__main__":\r\n    x = f()\r\n'),
    ("# licence\n\nx = f()\nY = 1\n# end\n",
     '# licence\n\nY = 1\n\n\nif __name__ == "__main__":\n    x = f()\n# end\n'),
])
def test_line_endings_header_and_footer(code: str, laid_out: str) -> None:
    assert guard_script(code).code == laid_out


def test_an_import_rebinding_a_script_name_keeps_its_place(tmp_path: Path) -> None:
    _check(tmp_path, '''\
        import math

        pi = sum(map(float, "3"))
        print("SCRIPT RAN", pi)
        from math import pi
        import math
        print(pi)
        ''', '''\
        import math
        import math


        if __name__ == "__main__":
            pi = sum(map(float, "3"))
            print("SCRIPT RAN", pi)
            from math import pi
            print(pi)
        ''')


def test_values_computed_only_from_their_arguments_stay_definitions(tmp_path: Path) -> None:
    """A compiled pattern, a joined path, a table built by a comprehension over a range and an
    array of literals read nothing of the run: they stay at module level, so functions that
    read them work when the file is imported; a value loaded from a file is script."""
    _check(tmp_path, '''\
        import os
        import re

        import numpy as np

        ROOT = "data"
        _SPACES = re.compile(r"\\s+")
        _UPPER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
        IMAGES = os.path.join(ROOT, "images")
        MEAN = np.array([0.5, 0.25])
        counts = np.bincount([1, 1, 2])


        def clean(text):
            return _SPACES.sub(" ", text).translate(_UPPER)


        print("SCRIPT RAN", clean("A  B"), IMAGES, MEAN.sum(), counts.max())
        ''', '''\
        import os
        import re

        import numpy as np

        ROOT = "data"
        _SPACES = re.compile(r"\\s+")
        _UPPER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
        IMAGES = os.path.join(ROOT, "images")
        MEAN = np.array([0.5, 0.25])


        def clean(text):
            return _SPACES.sub(" ", text).translate(_UPPER)


        if __name__ == "__main__":
            counts = np.bincount([1, 1, 2])

            print("SCRIPT RAN", clean("A  B"), IMAGES, MEAN.sum(), counts.max())
        ''')
    new = tmp_path / "new_script.py"
    probe = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import new_script; "
             "print(new_script.clean('X  Y'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x y" and new.exists()


def test_values_read_after_script_code_could_change_stay_in_order(tmp_path: Path) -> None:
    """Keeping a statement hoists it over the script code above it: a list that code fills
    must be read after it, as written; what reads only numbers and strings is hoisted. An
    empty list only script code uses stays with that code."""
    _check(tmp_path, '''\
        UNITS = 4
        history = []
        for i in range(3):
            history.append(i)
        last = history[-1]
        seen = len(history)
        HIDDEN = UNITS * 2
        LABEL = f"units={UNITS}"


        def describe():
            return LABEL, HIDDEN


        print("SCRIPT RAN", last, seen, describe())
        ''', '''\
        UNITS = 4
        HIDDEN = UNITS * 2
        LABEL = f"units={UNITS}"


        def describe():
            return LABEL, HIDDEN


        if __name__ == "__main__":
            history = []
            for i in range(3):
                history.append(i)
            last = history[-1]
            seen = len(history)

            print("SCRIPT RAN", last, seen, describe())
        ''')
