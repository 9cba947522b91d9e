"""Shortcuts of the rules stage (issue 9, speed) give what the long way gives: a prefix's
parse the whole text's statements, the import sort the same text."""

from __future__ import annotations

import ast

from agent.rules import parsed
from agent.rules.fix_imports import sort_import_block

DOC = '"""A module docstring\n' + "".join(f"line {k}: import os\n" for k in range(40)) + '"""\n'
IMPORTS = "import sys\nimport numpy as np\nimport os\nfrom torch import nn\nimport torch\n"
BODY = "".join(f"\n\ndef f{k}(x):\n    return x + {k}\n" for k in range(80))


def _dump(stmts: list[ast.stmt]) -> list[str]:
    return [ast.dump(s, include_attributes=True) for s in stmts]


def test_head_statements_are_those_of_the_whole_parse() -> None:
    # the 16-line cut falls inside the docstring (no parse), the 64-line one after it
    text = DOC + IMPORTS + "X = 1\n" + BODY
    body = parsed.head(text, lambda stmts: len(stmts) > 7)
    assert body is not None and len(body) > 7
    whole = ast.parse(text).body
    assert _dump(body) == _dump(whole[:len(body)])


def test_head_leaves_out_a_last_statement_that_may_go_on() -> None:
    # the cut falls inside f's body: f is not returned, though its first lines parse
    text = "import os\n\n\ndef f(x):\n" + "".join(f"    y{k} = {k}\n" for k in range(60))
    body = parsed.head(text, lambda stmts: True)
    assert body is not None and [type(s) for s in body] == [ast.Import]


def test_head_gives_none_for_a_short_text_or_when_no_prefix_holds_enough() -> None:
    assert parsed.head("import os\n", lambda stmts: True) is None
    assert parsed.head(DOC + IMPORTS + BODY, lambda stmts: False) is None


def test_sorted_import_block_is_the_same_from_a_prefix_and_from_the_whole_text() -> None:
    text = DOC + IMPORTS + "X = 1\n" + BODY
    done = sort_import_block(text)
    assert done.startswith(DOC + "import os\nimport sys\n\nimport numpy as np\nimport torch\n"
                           "from torch import nn\n")
    assert done.endswith(BODY)
    assert sort_import_block(done) == done


def test_a_text_that_does_not_parse_past_its_import_block_is_left_as_it_is() -> None:
    broken = IMPORTS + "X = 1\n" + BODY + "def broken(:\n    pass\n"
    assert sort_import_block(broken) == broken


TRICKY = '''\
x = model.get_layer("conv").output
y = [l.output for l in model.layers]
z = f(a,  # the get_layer of the base
      b)
w = "see model.layers"
v = f"{m}.layers"
u = f"{m.layers_by_name}"
t = model . layers
s = layers.Dense(3)(x)
from .layers import Dense
from . import layers
r = getattr(model, "get_layer")("x")
q = keras.layers.Dense(4)
p = layersish + 1.5
'''


def test_the_layer_word_search_without_codegen_misses_no_statement() -> None:
    import libcst as cst

    from agent.rules.models.views import may_read, view_hints

    seen = 0
    for line in cst.parse_module(TRICKY).body:
        assert isinstance(line, cst.SimpleStatementLine)
        small = line.body[0]
        code = cst.Module([]).code_for_node(small)
        # the same walk answers may_read too
        assert view_hints(small)[1] == view_hints(small, comments=False)[1] == may_read(small)
        if "get_layer" in code or ".layers" in code:
            seen += 1
            assert view_hints(small)[0], code
            # without comments searched: found unless a comment holds the word
            assert view_hints(small, comments=False)[0] or "#" in code, code
    assert seen == 9
    # those that cannot name them are told apart (the point of the search)
    plain = cst.parse_module("s = layers.Dense(3)(x)\np = layersish + 1.5\n"
                             "y = model.output\n").body
    hints = [view_hints(s.body[0]) for s in plain]  # type: ignore[attr-defined]
    assert hints == [(False, False), (False, False), (False, True)]


MODULES = [
    "# header comment\n\nimport os\n\n\n# about f\n@dec  # why\n# between\n@other(1)\ndef f():\n"
    "    return 1\n    # end of f\n\n\nclass C:\n    x = 1\n\nX = 2; Y = 3\n# footer\n",
    "import os\r\n\r\ndef f():\r\n    pass\r\n\r\n\r\nx = f()\r\n",
    "x = 1\ny = 2",  # no final line end
    "\ufeffx = 1\ny = 2\n",  # a BOM, which libcst does not write back
    "if True:\n    a = 1\nelse:\n    a = 2\nb = (1,\n     2)\n",
]


def test_module_code_from_source_slices_is_the_generated_code() -> None:
    import libcst as cst

    from agent.rules.lines import LineIndex
    from agent.rules.source_slices import SourceSlices

    for source in MODULES:
        module = cst.parse_module(source)
        slices = SourceSlices(module, source, LineIndex(module, source).stmt_ast)
        assert slices.code(module) == module.code
        # the last statement rebuilt, one inserted: generated; the others from the source
        body = list(module.body)
        body[-1] = body[-1].with_changes()
        body.insert(1, cst.parse_statement("inserted = True\n"))
        changed = module.with_changes(body=body)
        assert slices.code(changed) == changed.code
    # the statements are taken from the source where it lines up
    module = cst.parse_module(MODULES[0])
    slices = SourceSlices(module, MODULES[0], LineIndex(module, MODULES[0]).stmt_ast)
    assert len(slices.slices) == len(module.body)
