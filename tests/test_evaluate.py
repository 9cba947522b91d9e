"""``k2l-agent eval`` scoring: stage by stage, per tier and feature, reproducible.

The unit tests feed hand-made report records to the scorer (each expectation follows from
the scoring rules in agent/evaluate.py's docstring, not from its output). The end-to-end
tests run the real ``migrate`` on tiny case directories: one with validation off (fast), one
with every check on a single small case.
"""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from agent.commands.evaluate import (
    STAGES,
    CaseMeta,
    evaluate,
    read_header,
    render_markdown,
    run_eval,
    score_file,
    tally,
)
from agent.records import (
    CheckResult,
    Diagnostic,
    FileResult,
    KerasDependency,
    Unmapped,
)

PASSED = tuple(CheckResult(n, "passed") for n in ("parse", "ruff", "mypy", "fast_dev_run",
                                                   "script", "equivalence"))
META = CaseMeta(tier="2", features=("cnn", "fit"), builder="build_model", has_header=True)

HEADER_CASE = dedent('''\
    # k2l-eval: tier=1 features=sequential,compile,fit imports=tf.keras builder=build_model
    """A tiny MLP."""
    import numpy as np
    from tensorflow import keras


    def build_model():
        model = keras.Sequential([
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer="adam", loss="mse")
        return model


    if __name__ == "__main__":
        x = np.zeros((16, 4), dtype="float32")
        build_model().fit(x, x[:, :1], epochs=1)
    ''')

# No header; its data lives in a file that is not there (a user's directory, not ours).
OFFLINE_CASE = dedent('''\
    import numpy as np
    import keras
    from keras import layers

    data = np.load("data/train.npz")
    model = keras.Sequential([keras.Input(shape=(6,)), layers.LSTM(4), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data["x"], data["y"], epochs=2)
    ''')

HELPER = "def scale(v):\n    return 2 * v\n"


def _write_cases(root: Path) -> Path:
    cases = root / "cases"
    cases.mkdir()
    (cases / "tier1_tiny.py").write_text(HEADER_CASE)
    (cases / "user_script.py").write_text(OFFLINE_CASE)
    (cases / "helpers.py").write_text(HELPER)
    return cases


def _stages(score: object) -> dict[str, str]:
    return {s.name: s.status for s in score.stages}  # type: ignore[attr-defined]


# -- headers


def test_header_fields_are_read() -> None:
    meta = read_header(HEADER_CASE)
    assert meta == CaseMeta(tier="1", features=("compile", "fit", "sequential"),
                            imports="tf.keras", builder="build_model", has_header=True)


def test_no_header_means_unknown_tier_and_inferred_features() -> None:
    meta = read_header(OFFLINE_CASE)
    assert meta.tier == "unknown" and not meta.has_header
    assert {"sequential", "lstm", "compile", "fit"} <= set(meta.features)
    assert "cnn" not in meta.features


# -- scoring one file


def test_all_stages_passed_is_a_success(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    score = score_file(FileResult("a.py", "converted", checks=PASSED), META, out, True)
    assert _stages(score) == {s: "passed" for s in STAGES}
    assert score.success


def test_partial_fails_the_converted_stage_with_the_unmapped_reason(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    unmapped = (Unmapped("a.py", 3, "Lambda", "function reference"),)
    score = score_file(FileResult("a.py", "partial", unmapped=unmapped, checks=PASSED), META,
                       out, True)
    assert _stages(score)["converted"] == "failed"
    assert "Lambda: function reference" in score.stages[0].reason
    assert not score.success


def test_keras_left_fails_its_stage(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    deps = (KerasDependency(2, "keras.datasets", "data loading"),)
    score = score_file(FileResult("a.py", "converted", checks=PASSED, keras_deps_left=deps),
                       META, out, True)
    assert _stages(score)["no_keras"] == "failed"


def test_unreported_keras_import_in_the_output_still_fails(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\nfrom tensorflow.keras import layers\n")
    score = score_file(FileResult("a.py", "converted", checks=PASSED), META, out, True)
    assert _stages(score)["no_keras"] == "failed"
    assert "tensorflow.keras" in score.stages[1].reason


def test_original_not_buildable_offline_is_excused(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    checks = PASSED[:5] + (CheckResult(
        "equivalence", "not_run", "original not buildable offline: FileNotFoundError: x.npz"),)
    score = score_file(FileResult("a.py", "converted", checks=checks), META, out, True)
    assert _stages(score)["equivalence"] == "excused"
    assert score.success  # scored on the stages that could run


def test_earlier_failure_leaves_later_stages_not_run_and_no_success(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    checks = (CheckResult("parse", "passed"),
              CheckResult("ruff", "failed", "1 ruff finding(s)",
                          (Diagnostic("ruff", 3, 1, "F821", "Undefined name `x`"),)),
              CheckResult("mypy", "not_run", "earlier check failed: ruff"),
              CheckResult("fast_dev_run", "not_run", "earlier check failed: ruff"),
              CheckResult("script", "not_run", "earlier check failed: ruff"),
              CheckResult("equivalence", "not_run", "earlier check failed: ruff"))
    score = score_file(FileResult("a.py", "converted", checks=checks), META, out, True)
    assert _stages(score) == {"converted": "passed", "no_keras": "passed", "ruff": "failed",
                              "mypy": "not_run", "fast_dev_run": "not_run",
                              "script": "not_run", "equivalence": "not_run"}
    assert score.stages[2].reason == "F821: Undefined name `x`"
    assert not score.success


def test_syntax_error_in_the_output_is_not_a_clean_conversion(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("def (:\n")
    checks = (CheckResult("parse", "failed", "syntax error: invalid syntax"),)
    score = score_file(FileResult("a.py", "converted", checks=checks), META, out, True)
    assert _stages(score)["converted"] == "failed"


def test_without_validation_the_checks_are_not_run_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    score = score_file(FileResult("a.py", "converted"), META, out, False)
    assert [s.status for s in score.stages[2:]] == ["not_run"] * 5
    assert all("--no-validate" in s.reason for s in score.stages[2:])


def test_failed_file_has_no_output_stages() -> None:
    score = score_file(FileResult("a.py", "failed", "internal error"), META, None, True)
    assert _stages(score)["converted"] == "failed"
    assert {_stages(score)[s] for s in STAGES[1:]} == {"not_run"}


# -- aggregation


def test_tally_counts_tiers_features_and_groups_reasons(tmp_path: Path) -> None:
    out = tmp_path / "a.py"
    out.write_text("import torch\n")
    good = score_file(FileResult("a.py", "converted", checks=PASSED), META, out, True)

    def partial(line: int) -> object:
        unmapped = (Unmapped("b.py", line, "Dense", f"initializer at line {line}"),)
        return score_file(FileResult("b.py", "partial", unmapped=unmapped, checks=PASSED),
                          CaseMeta(tier="1", features=("fit",)), out, True)

    doc = tally([good, partial(3), partial(14)])  # type: ignore[list-item]
    assert doc["total"]["cases"] == 3 and doc["total"]["success"] == 1
    assert doc["tiers"]["1"]["cases"] == 2 and doc["tiers"]["1"]["success"] == 0
    assert doc["tiers"]["2"]["success_rate"] == 1.0
    assert doc["features"]["fit"]["cases"] == 3 and doc["features"]["cnn"]["cases"] == 1
    assert doc["total"]["stages"]["converted"] == {"passed": 1, "failed": 2, "not_run": 0,
                                                   "excused": 0}
    # the two partial files differ only by a line number: one reason, counted twice
    assert doc["failure_reasons"][0]["count"] == 2
    assert doc["failure_reasons"][0]["stage"] == "converted"


# -- end to end


def test_run_eval_fast_path_writes_schema_and_is_reproducible(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _write_cases(tmp_path)
    assert run_eval(cases, tmp_path / "out", 1, validate=False) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(doc) >= {"schema_version", "tool", "date", "cases_dir", "validated", "stages",
                        "llm", "total", "tiers", "features", "not_run_reasons",
                        "failure_reasons", "cases"}
    assert doc["stages"] == list(STAGES)
    assert doc["llm"] == {"enabled": False}
    paths = [c["path"] for c in doc["cases"]]
    assert paths == ["tier1_tiny.py", "user_script.py"]  # helpers.py has no Keras: not a case
    by_path = {c["path"]: c for c in doc["cases"]}
    assert by_path["tier1_tiny.py"]["tier"] == "1"
    assert by_path["user_script.py"]["tier"] == "unknown"
    assert set(doc["tiers"]) == {"1", "unknown"}
    for case in doc["cases"]:
        assert set(case["stages"]) == set(STAGES)
        assert case["success"] is False  # nothing is validated on this path
    reasons = {(r["stage"], r["reason"]) for r in doc["not_run_reasons"]}
    assert ("mypy", "validation skipped (--no-validate)") in reasons
    assert "LLM: off" in (tmp_path / "out" / "results.md").read_text()
    assert "| tier 1 |" in capsys.readouterr().out
    first = json.loads((tmp_path / "out" / "results.json").read_text())
    assert run_eval(cases, tmp_path / "out", 2, validate=False) == 0
    second = json.loads((tmp_path / "out" / "results.json").read_text())
    first.pop("date"), second.pop("date")
    assert first == second  # same inputs, any --jobs: same numbers


def test_run_eval_refuses_a_missing_directory(tmp_path: Path) -> None:
    assert run_eval(tmp_path / "nope", tmp_path / "out", 1) == 2
    assert not (tmp_path / "out" / "results.json").exists()


def test_markdown_names_the_command_and_date(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path)
    doc = evaluate(cases, tmp_path / "out", 1, validate=False, today="2001-02-03")
    text = render_markdown(doc, "k2l-agent eval cases")
    assert "`k2l-agent eval cases` (date 2001-02-03)" in text
    assert "## Per tier" in text and "## Per feature" in text


@pytest.mark.slow
def test_real_checks_on_one_tiny_case(tmp_path: Path) -> None:
    """Every stage for real: the tiny MLP is within the rules' reach, so each stage has a
    verdict (passed or failed, never "not run" for lack of validation)."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "tier1_tiny.py").write_text(HEADER_CASE)
    doc = evaluate(cases, tmp_path / "out", 1, today="2001-02-03")
    (case,) = doc["cases"]
    statuses = {name: s["status"] for name, s in case["stages"].items()}
    assert statuses["converted"] == "passed"
    assert all(v in ("passed", "failed") for v in statuses.values()), case["stages"]
    assert case["success"] == all(v == "passed" for v in statuses.values())
    assert doc["total"]["success"] == int(case["success"])
    report = json.loads((tmp_path / "out" / "converted" / "report.json").read_text())
    assert report["files"][0]["path"] == "tier1_tiny.py"
