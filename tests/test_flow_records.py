"""Flow records name a place (agent/rules/ops/flow.py), and the flow check leaves k2l's own
runtime code copied into a script out (agent/rules/training/utilities.py runtime_copies)."""

from __future__ import annotations

import libcst as cst

from agent.rules.ops.flow import TF, TORCH, Unit, settle
from agent.rules.training.utilities import _runtime, runtime_copies


def test_a_unit_without_a_source_line_is_named_by_its_function() -> None:
    """A statement an earlier rule rewrote has no line in the user's source: the record
    names its function instead of an unusable ``line ?``."""
    units = [
        Unit(0, set(), {"a"}, TORCH, line=2),
        Unit(1, {"a"}, set(), TF, group="helper"),  # no line: rewritten before the check
        Unit(2, set(), {"b"}, TORCH, line=4),
        Unit(3, {"b"}, set(), TF),  # module level, no line
        Unit(4, set(), {"k::c"}, TORCH, group="k", line=6),
        Unit(5, set(), {"k::d"}, TORCH, group="k"),
        Unit(6, {"k::d"}, set(), TF, group="k", line=8),
    ]
    settle(units)
    assert [u.status for u in units] == [TF, TF, TF, TF, TORCH, TF, TF]
    assert units[0].reason == "feeds TF code in function helper"
    assert units[2].reason == "feeds TF code in a module-level statement"
    assert units[5].reason == "feeds TF code at line 8"
    assert all("?" not in u.reason for u in units)


def test_runtime_copies_are_the_verbatim_runtime_functions_only() -> None:
    functions = _runtime().functions
    copied = functions["to_categorical"]
    module = cst.parse_module(
        f"import numpy as np\n\n\n{copied}\n\n\n"
        "def pad_sequences(seqs):\n    return seqs  # the user's own, same name\n\n\n"
        "def helper(x):\n    return x\n")
    assert "pad_sequences" in functions
    assert runtime_copies(module) == {"to_categorical"}
