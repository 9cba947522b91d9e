"""``k2l-agent eval``: migrate a directory of Keras scripts and score every stage separately.

One number (the share of cases that pass every stage) hides where the converter fails, so
each case is scored on six stages: converted without errors, no Keras/TensorFlow left, ruff,
mypy, fast_dev_run, equivalence. The tables group cases by tier and by feature, both read
from a ``# k2l-eval: tier=1 features=a,b imports=keras3 builder=build_model`` header (cases
without one are tier "unknown" with roughly inferred features). Everything is sorted and the
numbers carry no timestamps, so the same inputs give the same ``results.json``; the date is
a separate field. A stage that cannot run for a reason outside the converter (the original
cannot be built offline) is excused: the case is scored on the stages that could run.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from agent.commands import eval_refs
from agent.notebooks.convert import source_text
from agent.records import CheckResult, FileResult, Report
from agent.sandbox import Sandbox
from agent.sandbox import default as default_sandbox

SCHEMA_VERSION = 1
STAGES: tuple[str, ...] = ("converted", "no_keras", "ruff", "mypy", "fast_dev_run",
                           "equivalence")
HEADER = re.compile(r"^#\s*k2l-eval:(?P<body>.*)$", re.MULTILINE)
# A not_run reason that says nothing about the converter: the case is scored without it.
EXCUSED = re.compile(r"not buildable offline|keras is not installed")
NO_RECIPE = "no model built by the rules in this file"

# Feature -> source pattern, for scripts without a header (rough on purpose).
INFERRED: dict[str, str] = {
    "sequential": r"\bSequential\(", "functional": r"\bModel\(\s*(inputs|\w+\s*,)",
    "subclassed": r"class \w+\((keras\.|tf\.keras\.)?(models\.)?Model\)",
    "custom_layer": r"class \w+\((keras\.|tf\.keras\.)?(layers\.)?Layer\)",
    "lambda": r"\bLambda\(", "cnn": r"\bConv[123]D\(", "lstm": r"\bLSTM\(", "gru": r"\bGRU\(",
    "embedding": r"\bEmbedding\(", "compile": r"\.compile\(", "fit": r"\.fit\(",
    "callbacks": r"callbacks\.", "tf_data": r"tf\.data\.", "gradient_tape": r"GradientTape",
    "custom_train_step": r"def train_step\(", "attention": r"Attention\(",
    "backend_K": r"backend as K\b", "fit_generator": r"\.fit_generator\(",
}
KNOWN_FEATURES: frozenset[str] = frozenset(INFERRED) | {
    "autoencoder", "batchnorm", "bidirectional", "checkpoint", "class_weight", "conv1d",
    "custom_loss", "custom_metric", "custom_test_step", "channels_last", "evaluate", "gan",
    "initializers", "keras2", "layernorm", "lr_schedule", "masking", "merge_add",
    "merge_concat", "model_add", "multi_input", "multi_output", "numpy_data", "pooling",
    "predict", "regularizers", "rnn", "script", "seq2seq", "shared_layers", "text",
    "tf_ops", "timedistributed", "timeseries", "transformer", "vae", "add_loss",
    "custom_callback", "generator_data", "metric_trackers", "simple_rnn",
}


@dataclass(frozen=True)
class CaseMeta:
    """What a case's header says (or what could be guessed without one)."""

    tier: str = "unknown"
    features: tuple[str, ...] = ()
    imports: str = ""
    builder: str = ""
    has_header: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    status: str  # passed | failed | not_run | excused
    reason: str = ""


@dataclass(frozen=True)
class CaseScore:
    path: str
    meta: CaseMeta
    stages: tuple[Stage, ...]
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_retries: int = 0

    @property
    def success(self) -> bool:
        return all(s.status in ("passed", "excused") for s in self.stages)


@dataclass
class Tally:
    """Counts for one row of a table (a tier, a feature, or everything)."""

    cases: int = 0
    success: int = 0
    stages: dict[str, Counter[str]] = field(
        default_factory=lambda: {s: Counter() for s in STAGES})

    def add(self, case: CaseScore) -> None:
        self.cases += 1
        self.success += case.success
        for stage in case.stages:
            self.stages[stage.name][stage.status] += 1

    def to_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "success": self.success,
                "success_rate": round(self.success / self.cases, 4) if self.cases else 0.0,
                "stages": {name: {k: c[k] for k in ("passed", "failed", "not_run", "excused")}
                           for name, c in self.stages.items()}}


# -- headers


def read_header(text: str, name: str = "") -> CaseMeta:
    """The ``# k2l-eval:`` line's fields; without one, features are inferred from the code."""
    match = HEADER.search(text[:4000])
    if match is None:
        feats = tuple(sorted(f for f, pat in INFERRED.items() if re.search(pat, text)))
        return CaseMeta(features=feats, builder=_guess_builder(text))
    fields = dict(part.split("=", 1) for part in match["body"].split() if "=" in part)
    features = tuple(sorted({f for f in fields.get("features", "").split(",") if f}))
    return CaseMeta(tier=fields.get("tier", "unknown"), features=features,
                    imports=fields.get("imports", ""), builder=fields.get("builder", ""),
                    has_header=True)


def _guess_builder(text: str) -> str:
    for name in ("build_model", "create_model", "get_model", "make_model"):
        if re.search(rf"^def {name}\(\s*\)", text, re.MULTILINE):
            return name
    return ""


# -- scoring


def _imports_framework(path: Path) -> str:
    """A Keras/TensorFlow import the rules did not report, or "" (a second opinion)."""
    try:
        tree = ast.parse(source_text(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""])
        for name in names:
            if name.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
                return f"line {node.lineno}: import of {name}"
    return ""


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


def _check(result: FileResult, name: str) -> CheckResult | None:
    return next((c for c in result.checks if c.name == name), None)


def score_file(result: FileResult, meta: CaseMeta, output: Path | None,
               validated: bool) -> CaseScore:
    """Six stages from one report entry; ``output`` is the converted file (None if absent)."""
    stages: list[Stage] = []
    parse = _check(result, "parse")
    if result.status == "converted" and (parse is None or parse.status != "failed"):
        stages.append(Stage("converted", "passed"))
    elif result.status == "partial":
        first = result.unmapped[0] if result.unmapped else None
        why = f"{first.keras_name}: {first.reason}" if first else "partial"
        stages.append(Stage("converted", "failed", _first_line(f"partial: {why}")))
    elif parse is not None and parse.status == "failed":
        stages.append(Stage("converted", "failed", _first_line(parse.message)))
    else:
        reason = result.reason or ("nothing was converted" if result.status == "unchanged"
                                   else result.status)
        stages.append(Stage("converted", "failed", _first_line(f"{result.status}: {reason}")))
    produced = result.status in ("converted", "partial") and output is not None
    if not produced:
        stages.append(Stage("no_keras", "not_run", "no converted output"))
    elif result.keras_deps_left:
        dep = result.keras_deps_left[0]
        stages.append(Stage("no_keras", "failed", _first_line(f"{dep.name}: {dep.why}")))
    else:
        left = _imports_framework(output) if output is not None else ""
        stages.append(Stage("no_keras", "failed", left) if left else Stage("no_keras", "passed"))
    for name in STAGES[2:]:
        stages.append(_validation_stage(result, name, produced, validated))
    return CaseScore(result.path, meta, tuple(stages), result.llm.calls, result.llm.tokens,
                     result.llm.retries)


def _validation_stage(result: FileResult, name: str, produced: bool, validated: bool) -> Stage:
    if not validated:
        return Stage(name, "not_run", "validation skipped (--no-validate)")
    if not produced:
        return Stage(name, "not_run", "no converted output")
    check = _check(result, name)
    if check is None:
        why = ("not validated: the rules wrote no new code for this file" if not result.checks
               else "check did not report")
        return Stage(name, "not_run", why)
    if check.status == "not_run" and EXCUSED.search(check.message):
        return Stage(name, "excused", _first_line(check.message))
    if check.status == "passed":
        return Stage(name, "passed")
    return Stage(name, check.status, _check_reason(check))


def _check_reason(check: CheckResult) -> str:
    """The first diagnostic says more than the summary ("2 ruff finding(s)")."""
    if check.diagnostics:
        d = check.diagnostics[0]
        return _first_line(f"{d.code}: {d.message}")
    return _first_line(check.message)


# -- the builder named in the header, for files where the rules made no recipe


def header_equivalence(original: Path, converted: Path, builder: str,
                       timeout_s: float = 120.0, sandbox: Sandbox | None = None) -> CheckResult:
    """Equivalence through the case's own builder function (same worker as ``migrate``)."""
    job = {"original": str(original), "converted": str(converted), "class_name": builder,
           "var": "", "function": builder, "original_code": ""}
    from agent.pipeline import run_equivalence_jobs

    try:
        answers, why, _ = run_equivalence_jobs(
            [job], sandbox or default_sandbox(), timeout_s=timeout_s,
            read_paths=(original.resolve().parent, converted.resolve().parent))
    except OSError as exc:
        answers, why = None, f"equivalence job could not start: {exc}"
    if answers is None:
        return CheckResult("equivalence", "not_run", why)
    answer = answers[0]
    return CheckResult("equivalence", answer["status"], f"builder {builder}(): {answer['message']}")


def _fill_equivalence(result: FileResult, meta: CaseMeta, original: Path,
                      converted: Path, sandbox: Sandbox | None = None) -> FileResult:
    eq = _check(result, "equivalence")
    if eq is None or eq.status != "not_run" or NO_RECIPE not in eq.message:
        return result
    if not meta.builder.isidentifier():
        return result
    if any(c.status != "passed" for c in result.checks if c.name != "equivalence"):
        return result
    new = header_equivalence(original, converted, meta.builder, sandbox=sandbox)
    checks = tuple(new if c.name == "equivalence" else c for c in result.checks)
    return replace(result, checks=checks)


# -- aggregation and output


def tally(cases: Iterable[CaseScore]) -> dict[str, Any]:
    everything = Tally()
    tiers: dict[str, Tally] = {}
    features: dict[str, Tally] = {}
    not_run: Counter[tuple[str, str]] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    for case in cases:
        everything.add(case)
        tiers.setdefault(case.meta.tier, Tally()).add(case)
        for feat in case.meta.features:
            features.setdefault(feat, Tally()).add(case)
        for stage in case.stages:
            if stage.status in ("not_run", "excused"):
                not_run[(stage.name, stage.reason)] += 1
            elif stage.status == "failed":
                failures[(stage.name, _reason_key(stage.reason))] += 1
    return {
        "total": everything.to_json(),
        "tiers": {k: tiers[k].to_json() for k in sorted(tiers)},
        "features": {k: features[k].to_json() for k in sorted(features)},
        "not_run_reasons": _counted(not_run),
        "failure_reasons": _counted(failures),
    }


def _reason_key(reason: str) -> str:
    """Group failures that differ only in numbers, names in quotes or line positions."""
    reason = re.sub(r"\b(line|col) \d+", r"\1 N", reason)
    reason = re.sub(r"\d+(\.\d+)?(e-?\d+)?", "N", reason)
    return reason[:120]


def _counted(counter: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"stage": s, "reason": r, "count": n} for (s, r), n in rows]


def llm_summary(report: Report, cases: list[CaseScore]) -> dict[str, Any]:
    """pass@1 = success without a repair round; pass@k = success after repairs."""
    if not report.llm_enabled:
        return {"enabled": False}
    n = len(cases) or 1
    first = sum(1 for c in cases if c.success and c.llm_retries == 0)
    return {"enabled": True, "pass@1": round(first / n, 4),
            "pass@k": round(sum(c.success for c in cases) / n, 4),
            "calls": sum(c.llm_calls for c in cases), "tokens": sum(c.llm_tokens for c in cases),
            "tokens_per_case": round(sum(c.llm_tokens for c in cases) / n, 1)}


def references_json(rows: list[eval_refs.FileRefs], left: Counter[str]) -> dict[str, Any]:
    """The reference metric per subdirectory and overall, and the names most often left."""
    top = sorted(left.items(), key=lambda kv: (-kv[1], kv[0]))[:eval_refs.TOP_NAMES]
    return {"directories": eval_refs.by_directory(rows),
            "unconverted_names": [[n, c] for n, c in top],
            "files": [r.to_json() for r in rows]}


def results_json(cases: list[CaseScore], report: Report, cases_dir: str,
                 validated: bool, today: str,
                 references: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "references": references or {},
        "schema_version": SCHEMA_VERSION,
        "tool": "k2l-agent eval",
        "date": today,
        "cases_dir": cases_dir,
        "validated": validated,
        "stages": list(STAGES),
        "llm": llm_summary(report, cases),
        **tally(cases),
        "cases": [{"path": c.path, "tier": c.meta.tier, "features": list(c.meta.features),
                   "imports": c.meta.imports, "builder": c.meta.builder,
                   "has_header": c.meta.has_header, "success": c.success,
                   "stages": {s.name: {"status": s.status, "reason": s.reason} for s in c.stages}}
                  for c in cases],
    }


def _cell(stages: dict[str, dict[str, int]], name: str) -> str:
    c = stages[name]
    extra = f" ({c['not_run'] + c['excused']} n/r)" if c["not_run"] + c["excused"] else ""
    return f"{c['passed']}/{c['passed'] + c['failed'] + c['not_run'] + c['excused']}{extra}"


def render_table(title: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    head = f"| {title} | cases | success | " + " | ".join(STAGES) + " |"
    lines = [head, "|" + " --- |" * (3 + len(STAGES))]
    for key, row in rows.items():
        rate = f"{row['success']} ({100 * row['success_rate']:.0f}%)"
        cells = " | ".join(_cell(row["stages"], s) for s in STAGES)
        lines.append(f"| {key} | {row['cases']} | {rate} | {cells} |")
    return lines


def render_markdown(doc: dict[str, Any], command: str) -> str:
    lines = [f"# k2l-agent eval: {doc['cases_dir']}", "",
             f"Command: `{command}` (date {doc['date']})", "",
             f"Success (every stage passed): **{doc['total']['success']}/"
             f"{doc['total']['cases']}**. Cells: passed/cases (n/r = not run).", ""]
    llm = doc["llm"]
    lines += ["LLM: off" if not llm["enabled"] else
              f"LLM: pass@1 {llm['pass@1']:.0%}, pass@k {llm['pass@k']:.0%}, "
              f"{llm['tokens']} tokens ({llm['tokens_per_case']} per case)", ""]
    tiers = {f"tier {k}": v for k, v in doc["tiers"].items()} | {"all": doc["total"]}
    if doc.get("references"):
        lines += eval_refs.render(doc["references"])
    lines += ["## Per tier", ""] + render_table("tier", tiers) + [""]
    lines += ["## Per feature", ""] + render_table("feature", doc["features"]) + [""]
    for key, title in (("failure_reasons", "Top failure reasons"),
                       ("not_run_reasons", "Stages not run, and why")):
        lines += [f"## {title}", "", "| stage | count | reason |", "| --- | ---: | --- |"]
        lines += [f"| {r['stage']} | {r['count']} | {r['reason'] or '-'} |"
                  for r in doc[key][:25]]
        lines.append("")
    lines += ["## Cases", "", "| case | tier | success | " + " | ".join(STAGES) + " |",
              "|" + " --- |" * (3 + len(STAGES))]
    mark = {"passed": "ok", "failed": "FAIL", "not_run": "-", "excused": "n/r"}
    for c in doc["cases"]:
        cells = " | ".join(mark[c["stages"][s]["status"]] for s in STAGES)
        lines.append(f"| {c['path']} | {c['tier']} | {'yes' if c['success'] else 'no'} | "
                     f"{cells} |")
    return "\n".join(lines) + "\n"


def _is_case(result: FileResult, text: str) -> bool:
    return result.path.endswith((".py", ".ipynb")) and (HEADER.search(text[:4000]) is not None or
                                            re.search(r"\b(keras|tensorflow)\b", text) is not None)


def score_report(report: Report, cases_dir: Path, out_dir: Path,
                 validated: bool, sandbox: Sandbox | None = None) -> list[CaseScore]:
    root = cases_dir if cases_dir.is_dir() else cases_dir.parent
    scores: list[CaseScore] = []
    for result in sorted(report.files, key=lambda f: f.path):
        original = root / result.path
        try:
            text = source_text(original)
        except OSError:
            continue
        if not _is_case(result, text):
            continue
        meta = read_header(text, result.path)
        converted = out_dir / result.path
        if validated and converted.exists():
            result = _fill_equivalence(result, meta, original, converted, sandbox)
        scores.append(score_file(result, meta, converted if converted.exists() else None,
                                 validated))
    return scores


def evaluate(cases: Path, out: Path, jobs: int, *, validate: bool = True,
             llm_stage: Any = None, today: str | None = None,
             sandbox: str = "auto") -> dict[str, Any]:
    """Migrate ``cases`` into ``out/converted`` and score it; returns the results document."""
    from agent.pipeline import Options, migrate, resolve_sandbox
    from agent.report import write_reports

    converted = out / "converted"
    if (converted / "report.json").exists():  # our own earlier output: start clean
        shutil.rmtree(converted)
    opts = Options(out=converted, force=True, jobs=jobs, validate=validate,
                   llm=llm_stage is not None, sandbox=sandbox)
    report, _items, out_dir = migrate(cases, opts, llm_stage=llm_stage)
    write_reports(report, out_dir / "report.md", out_dir / "report.json")
    scores = score_report(report, cases, out_dir, validate, resolve_sandbox(opts))
    root = cases if cases.is_dir() else cases.parent
    rows, left = eval_refs.score_refs(root, out_dir,
                                      [f.path for f in report.files if f.path.endswith(".py")],
                                      run_smoke=validate, jobs=jobs)
    return results_json(scores, report, cases.name or str(cases), validate,
                        today or date.today().isoformat(), references_json(rows, left))


def run_eval(cases: Path, out: Path, jobs: int, *, validate: bool = True,
             llm_cli: dict[str, Any] | None = None, sandbox: str = "auto") -> int:
    """CLI entry: 0 when it ran (whatever the scores), 2 on bad usage or a crashed migrate."""
    if not cases.exists():
        print(f"error: {cases}: no such directory or file", file=sys.stderr)
        return 2
    if jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    stage = None
    if llm_cli is not None:
        from agent.commands.migrate import _llm_stage
        from agent.sandbox import SandboxError, resolve

        try:
            stage, _notes = _llm_stage(llm_cli, cases, out / "converted", resolve(sandbox))
        except SandboxError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        doc = evaluate(cases, out, jobs, validate=validate, llm_stage=stage, sandbox=sandbox)
    except Exception as exc:  # UsageError and anything the pipeline did not catch
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    command = (f"k2l-agent eval {cases} --out {out} --jobs {jobs}" + (" --llm" if stage else "")
               + ("" if validate else " --no-validate"))
    (out / "results.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")
    markdown = render_markdown(doc, command)
    (out / "results.md").write_text(markdown, encoding="utf-8")
    _print_tables(doc)
    print(f"results: {out / 'results.md'} and {out / 'results.json'}", file=sys.stderr)
    return 0


def _print_tables(doc: dict[str, Any]) -> None:
    """The tier and feature tables on the terminal, as plain Markdown (readable and diffable)."""
    refs = doc.get("references")
    if refs:
        print("\n".join(eval_refs.render(refs)))
    llm = doc["llm"]
    print("LLM: off" if not llm["enabled"] else
          f"LLM: pass@1 {llm['pass@1']:.0%} pass@k {llm['pass@k']:.0%}")
    tiers = {f"tier {k}": v for k, v in doc["tiers"].items()} | {"all": doc["total"]}
    print("\n".join(render_table("tier", tiers)))
    print()
    print("\n".join(render_table("feature", doc["features"])))
