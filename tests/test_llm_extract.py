"""Reading replies (agent/llm/extract.py) and completing their imports (agent/llm/imports.py)
on small hand-written inputs; tests/test_llm_replay.py runs whole exchanges."""

from __future__ import annotations

import textwrap

import pytest

from agent.llm.extract import FormatError, extract_piece
from agent.llm.imports import complete_imports
from agent.llm.splice import splice

BASE = textwrap.dedent(
    """\
    import keras
    import torch.nn.functional as fn
    from torch import nn


    # TODO(k2l): custom layer Clip is not mapped
    class Clip(keras.layers.Layer):
        def __init__(self, low, high, **kwargs):
            super().__init__(**kwargs)
            self.low, self.high = low, high

        def call(self, x):
            return keras.ops.clip(x, self.low, self.high)


    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = Clip(0.0, 1.0)
    """
)

CLIP = textwrap.dedent(
    """\
    class Clip(nn.Module):
        def __init__(self, low: float, high: float) -> None:
            super().__init__()
            self.low, self.high = low, high

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.hardtanh(x, self.low, self.high) + _ZERO
    """
)


def test_forgotten_imports_are_added_and_the_files_alias_is_kept() -> None:
    code, notes = complete_imports(CLIP + "\n_ZERO = 0.0\n", BASE)
    assert code.startswith("import torch\n")  # torch: not in the file, the usual import
    assert "fn.hardtanh(" in code and "F.hardtanh" not in code  # F: the file calls it fn
    assert "import torch.nn.functional as F" not in code
    assert "from torch import nn" not in code  # nn: the file has it already
    assert any("renamed to the file's alias fn" in n for n in notes)


def test_an_unknown_name_is_left_for_the_checks() -> None:
    code, notes = complete_imports("def f(x):\n    return scipy_thing(x)\n", BASE)
    assert code == "def f(x):\n    return scipy_thing(x)\n" and notes == []


def test_usage_code_is_dropped_and_helpers_the_piece_uses_are_kept() -> None:
    reply = (
        "Usage:\n\n```python\nlayer = Clip(0.0, 1.0)\nprint(layer(torch.ones(2)))\n```\n\n"
        f"```python\nimport torch\n\n_ZERO = 0.0\nUNUSED = 3\n\n\n{CLIP}\n\ndef demo() -> None:\n"
        "    print(Clip(0.0, 1.0))\n\n\nif __name__ == \"__main__\":\n    demo()\n```\n"
    )
    code, _ = complete_imports(extract_piece(reply, "Clip", BASE), BASE)
    out = splice(BASE, code, "Clip").source
    assert "_ZERO = 0.0" in out and "class Clip(nn.Module)" in out
    for dropped in ("UNUSED", "def demo", "__main__", "layer = Clip", "keras"):
        assert dropped not in out, dropped


def test_a_tool_call_in_a_json_block_and_a_diff_are_read() -> None:
    as_json = '```json\n{"name": "run_checks", "arguments": {"code": "class Clip:\\n    pass\\n"}}\n```'
    assert extract_piece(as_json, "Clip", BASE) == "class Clip:\n    pass\n"
    diff = ("```diff\n@@ -12,2 +12,2 @@\n     def call(self, x):\n"
            "-        return keras.ops.clip(x, self.low, self.high)\n"
            "+        return fn.hardtanh(x, self.low, self.high)\n```\n")
    code = extract_piece(diff, "Clip", BASE)
    assert "return fn.hardtanh(x, self.low, self.high)" in code and "keras.ops.clip" not in code


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("```python\nclass TorchClip(nn.Module):\n    pass\n```", "defines `TorchClip` but no `Clip`"),
        ("I would use torch.clamp for this.", "no ```python code block"),
        ("```python\nclass Clip(nn.Module:\n    pass\n```", "code block 1 does not parse"),
    ],
)
def test_unusable_replies_get_a_precise_message(reply: str, message: str) -> None:
    with pytest.raises(FormatError, match=message.replace("(", r"\(")):
        extract_piece(reply, "Clip", BASE)


def test_a_changed_constructor_is_named_in_the_message() -> None:
    code = "class Clip(nn.Module):\n    def __init__(self, bounds: tuple[float, float]) -> None:\n        pass\n"
    with pytest.raises(FormatError, match="drops the parameter\\(s\\) low, high and adds the "
                                          "required parameter\\(s\\) bounds"):
        splice(BASE, code, "Clip")
