"""Every warning the rules can emit is classified, and a change of semantics is never
"converted" (issue 11, item 4).

The warning texts are found by reading ``agent/rules`` (every string appended to a warnings
list, passed as ``warnings=``, given to ``warn()``, or held in a ``*_WARNINGS`` table), so a
new warning fails here until it has a row in ``agent/rules/semantics.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from agent.discover import Entry
from agent.pipeline import _file_result
from agent.records import Change, Warning_
from agent.rules.convert import Conversion
from agent.rules.semantics import WARNINGS, changes_semantics, kind_of

RULES = Path(__file__).resolve().parents[1] / "agent" / "rules"
# Wrappers that forward warnings written elsewhere ("{layer}: {warning}"), not texts of their own.
FORWARDERS = {"{}: {}"}


def _text(node: ast.expr) -> str | None:
    """A string literal, or an f-string with ``{}`` for its holes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def _strings(node: ast.expr) -> list[str]:
    text = _text(node)
    if text is not None:
        return [text]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for e in node.elts for s in _strings(e)]
    if isinstance(node, ast.Dict):
        return [s for v in node.values if v is not None for s in _strings(v)]
    return []


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def _warning_sites(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "append" and node.args and (
                    _name(func.value) in ("w", "warns") or _name(func.value).endswith("warnings")):
                texts += _strings(node.args[0])
            if isinstance(func, ast.Attribute) and func.attr == "warn" and len(node.args) == 2:
                texts += _strings(node.args[1])
            texts += [s for k in node.keywords if k.arg == "warnings" for s in _strings(k.value)]
        elif isinstance(node, ast.AugAssign) and _name(node.target).endswith(("warnings", "warns")):
            texts += _strings(node.value)
        elif isinstance(node, ast.Assign) and _name(node.targets[0]).endswith("_WARNINGS"):
            texts += _strings(node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None \
                and _name(node.target).endswith("_WARNINGS"):
            texts += _strings(node.value)
        found += [(node.lineno, t) for t in texts if t not in FORWARDERS]  # type: ignore[attr-defined]
    return found


def emitted_warnings() -> list[tuple[str, str]]:
    """(file:line, text with ``{}`` holes) for every warning the rules can emit."""
    out = []
    for path in sorted(RULES.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out += [(f"{path.relative_to(RULES)}:{line}", text) for line, text in _warning_sites(tree)]
    return out


SITES = emitted_warnings()


def _example(text: str) -> str:
    """A concrete message for a text with holes, as the rules would write it."""
    return text.replace("{}", "x")


def test_the_scan_finds_the_known_warning_sites() -> None:
    texts = " | ".join(t for _, t in SITES)
    for known in ("mask_zero=True", "Keras History", "Lazy modules used",
                  "nn.Lazy modules for {}; run one batch"):
        assert known in texts
    assert len(SITES) >= 25


@pytest.mark.parametrize(("where", "text"), SITES, ids=[w for w, _ in SITES])
def test_every_emitted_warning_has_exactly_one_row(where: str, text: str) -> None:
    rows = [k for k in WARNINGS if re.search(k.pattern, _example(text))]
    assert len(rows) == 1, f"{where}: {text!r} matches {len(rows)} rows of semantics.WARNINGS"


def test_every_row_matches_some_emitted_warning() -> None:
    examples = [_example(t) for _, t in SITES]
    dead = [k.pattern for k in WARNINGS if not any(re.search(k.pattern, e) for e in examples)]
    assert dead == []


def _status(message: str) -> tuple[str, str]:
    conv = Conversion(source="import torch\n")
    conv.changes.append(Change(1, "imports", "keras -> torch"))
    conv.warnings.append(Warning_(3, f"Net: {message}"))
    result = _file_result(Entry(Path("/x/model.py"), "model.py", "python"), conv, "import keras\n")
    return result.status, result.reason


@pytest.mark.parametrize(("where", "text"), SITES, ids=[w for w, _ in SITES])
def test_status_each_warning_yields(where: str, text: str) -> None:
    kind = kind_of(_example(text))
    assert kind is not None
    status, reason = _status(_example(text))
    if kind.semantic:
        assert status == "partial", where
        assert "line 3" in reason and "change" in reason
    else:
        assert (status, reason) == ("converted", ""), where


def test_unknown_warning_counts_as_a_change_of_semantics() -> None:
    assert changes_semantics("something new the rules started to say")
    assert _status("something new the rules started to say")[0] == "partial"


def test_semantic_rows_include_the_issue_examples() -> None:
    for text in ("Embedding(mask_zero=True): torch has no implicit masks",
                 "input size unknown: nn.Lazy module, Keras initializers not reproduced",
                 "TensorBoard callback dropped: TensorBoardLogger needs it"):
        assert changes_semantics(text), text
    assert not changes_semantics("Keras Adam(weight_decay) is decoupled: written as "
                                 "torch.optim.AdamW")
