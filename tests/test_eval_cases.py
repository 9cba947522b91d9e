"""Every benchmark case in eval/cases/ is a working Keras original: it imports, names its tier
and features in the header, and its builder returns a built Keras model.

The equivalence stage of ``k2l-agent eval`` compares against these originals, so a case that
cannot be built would silently turn a converter failure into "not run". Build only: training
is the benchmark's business, not this test's.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest

from agent.commands.evaluate import KNOWN_FEATURES, CaseMeta, read_header

os.environ.setdefault("KERAS_BACKEND", "torch")

CASES = Path(__file__).resolve().parents[1] / "eval" / "cases"
FILES = sorted(CASES.glob("**/*.py"))
TIER_PREFIX = {"1": "tier1", "2": "tier2", "3": "tier3"}


def _meta(path: Path) -> CaseMeta:
    return read_header(path.read_text(encoding="utf-8"), path.name)


def _build(path: Path, builder: str) -> Any:
    """Call the builder function (defaults only), or run the script up to ``builder = ...``."""
    from agent.tools.module_loader import load_definitions

    if builder.isidentifier() and not _assigned_at_top(path, builder):
        module = load_definitions(path)
        return getattr(module, builder)()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    upto: list[ast.stmt] = []
    for stmt in tree.body:
        upto.append(stmt)
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == builder for t in stmt.targets):
            break
    ns: dict[str, Any] = {"__name__": "k2l_case", "__file__": str(path)}
    exec(compile(ast.Module(body=upto, type_ignores=[]), str(path), "exec"), ns)
    return ns[builder]


def _assigned_at_top(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                 for t in s.targets) for s in tree.body)


def test_enough_cases_in_every_tier() -> None:
    tiers = [_meta(p).tier for p in FILES]
    assert len(FILES) >= 60
    for tier in ("1", "2", "3"):
        assert tiers.count(tier) >= 15, f"tier {tier} has {tiers.count(tier)} cases"


def test_import_styles_are_mixed() -> None:
    styles = {_meta(p).imports for p in FILES}
    assert {"tf.keras", "keras3", "keras2"} <= {s.split("-")[0] for s in styles}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_header_is_complete(path: Path) -> None:
    meta = _meta(path)
    assert meta.has_header, "missing '# k2l-eval:' header"
    assert meta.tier in ("1", "2", "3")
    assert path.name.startswith(TIER_PREFIX[meta.tier])
    assert meta.features, "no features listed"
    assert set(meta.features) <= KNOWN_FEATURES, set(meta.features) - KNOWN_FEATURES
    assert meta.builder, "no builder named"
    ast.parse(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_original_builds_with_keras(path: Path) -> None:
    import keras

    from agent.tf_shim import install

    install()
    model = _build(path, _meta(path).builder)
    assert isinstance(model, keras.Model)
    assert model.built, "the builder must return a built model (Input or build())"
    assert model.count_params() > 0
