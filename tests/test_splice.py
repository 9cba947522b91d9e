"""Splicing the LLM's code into a converted file by name (agent/splice.py)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from agent.llm.extract import FormatError
from agent.llm.splice import SpliceError, splice

CONVERTED = textwrap.dedent(
    '''\
    """A converted module."""
    import keras
    import torch
    from torch import nn


    # TODO(k2l): custom layer Scale is not mapped
    class Scale(keras.layers.Layer):
        def call(self, x):
            return x * keras.ops.exp(self.s)


    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = Scale()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale(x)
    '''
)

REPLY_CODE = textwrap.dedent(
    """\
    import torch
    from torch import nn, Tensor


    def _exp(x: Tensor) -> Tensor:
        return torch.exp(x)


    class Scale(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s = nn.Parameter(torch.zeros(()))

        def forward(self, x: Tensor) -> Tensor:
            return x * _exp(self.s)


    class Net(nn.Module):
        pass
    """
)


def lines_of(source: str, needle: str) -> int:
    return next(i for i, ln in enumerate(source.splitlines(), 1) if needle in ln)


def test_splice_replaces_class_merges_imports_and_keeps_rule_code() -> None:
    result = splice(CONVERTED, REPLY_CODE, "Scale")
    out = result.source
    cst.parse_module(out)
    assert "keras" not in out  # the piece was the last user of `import keras`
    assert "TODO(k2l)" not in out
    assert out.count("class Scale(") == 1 and "class Scale(nn.Module)" in out
    # the reply's stub of Net is rule-written code: ignored, the original stays
    assert "self.scale = Scale()" in out and "class Net(nn.Module):\n    pass" not in out
    assert "from torch import Tensor, nn" in out  # merged into the existing import, no duplicate
    assert out.count("import torch\n") == 1
    # the helper goes before the class that uses it, and both are in the LLM's regions
    assert lines_of(out, "def _exp") < lines_of(out, "class Scale")
    for needle in ("def _exp", "class Scale", "return x * _exp", "from torch import Tensor"):
        assert any(a <= lines_of(out, needle) <= b for a, b in result.regions), needle
    assert not any(a <= lines_of(out, "class Net") <= b for a, b in result.regions)


def test_splice_method_into_class_adds_new_method_in_its_place() -> None:
    source = textwrap.dedent(
        """\
        import pytorch_lightning as pl


        class GAN(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()

            # TODO(k2l): train_step uses GradientTape
            def train_step(self, data):
                return {}

            def configure_optimizers(self):
                return None
        """
    )
    reply = textwrap.dedent(
        """\
        import torch


        class GAN:
            def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
                return batch.sum()

            def configure_optimizers(self):
                return 1
        """
    )
    result = splice(source, reply, "GAN.train_step")
    out = result.source
    assert "def train_step" not in out and "TODO(k2l)" not in out
    assert "def training_step(self, batch: torch.Tensor" in out
    assert "return None" in out and "return 1" not in out  # existing method kept
    assert lines_of(out, "def __init__") < lines_of(out, "def training_step") < lines_of(
        out, "def configure_optimizers"
    )
    line = lines_of(out, "return batch.sum()")
    assert any(a <= line <= b for a, b in result.regions)
    assert not any(a <= lines_of(out, "return None") <= b for a, b in result.regions)
    assert "import torch" in out
    cst.parse_module(out)


def test_splice_accepts_a_bare_method_for_a_dotted_qualname() -> None:
    source = "class M:\n    def step(self):\n        return 0\n"
    out = splice(source, "def step(self) -> int:\n    return 1\n", "M.step").source
    assert out == "class M:\n    def step(self) -> int:\n        return 1\n"


def test_splice_reply_without_the_target_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="Scale"):
        splice(CONVERTED, "def other() -> None:\n    pass\n", "Scale")


def test_splice_into_a_missing_class_is_a_splice_error() -> None:
    with pytest.raises(SpliceError, match="no class 'Nope'"):
        splice(CONVERTED, "def step(self):\n    pass\n", "Nope.step")


def test_splice_missing_top_level_definition_goes_after_imports() -> None:
    source = "import torch\n\nx = torch.ones(1)\n"
    out = splice(source, "def f() -> int:\n    return 1\n", "f").source
    assert lines_of(out, "import torch") < lines_of(out, "def f") < lines_of(out, "x = torch")
