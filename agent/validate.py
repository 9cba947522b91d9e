"""Validate converted files: parse → ruff → mypy → fast_dev_run → script, cheapest first.

Each file stops at its first failed check; the checks after it are ``not_run`` with the
reason, so the report and the LLM repair loop see exactly one thing to fix. ruff and mypy run
once for the whole batch (their start-up dominates); fast_dev_run goes file by file through
one warm worker. A check that cannot run (tool missing, tool crash) is ``not_run`` and does
not stop the later checks: it says nothing about the file. See docs/validation.md.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import libcst

from agent.records import CheckResult, Diagnostic
from agent.sandbox import Sandbox, default
from agent.tools.baseline import judge
from agent.tools.fast_dev_run import Worker
from agent.tools.mypy import original_flags, run_mypy
from agent.tools.ruff import run_ruff
from agent.tools.tf_original import tf_python

CHECKS: tuple[str, ...] = ("parse", "ruff", "mypy", "fast_dev_run", "script")


def _syntax_error(source: str, path: Path) -> Diagnostic | None:
    """Python's own parser first (its positions are exact), then libcst's, which the rules and
    the LLM splicer use and which must accept the file too."""
    try:
        ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return Diagnostic("parse", exc.lineno or 0, exc.offset or 0, "syntax", exc.msg, str(path))
    except ValueError as exc:  # null bytes
        return Diagnostic("parse", 0, 0, "syntax", str(exc), str(path))
    try:
        libcst.parse_module(source)
    except libcst.ParserSyntaxError as exc:
        return Diagnostic("parse", exc.raw_line, exc.raw_column + 1, "syntax",
                          f"libcst: {exc.message}", str(path))
    return None


def parse_check(path: Path) -> CheckResult:
    """Does the file parse? Never raises."""
    started = time.perf_counter()
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diagnostic = Diagnostic("parse", 0, 0, "unreadable", str(exc), str(path))
        return CheckResult("parse", "failed", f"cannot read the file: {exc}", (diagnostic,),
                           time.perf_counter() - started)
    error = _syntax_error(source, path)
    if error is not None:
        return CheckResult("parse", "failed", f"syntax error: {error.message}", (error,),
                           time.perf_counter() - started)
    return CheckResult("parse", "passed", seconds=time.perf_counter() - started)


def _failed_originals(results: Mapping[Path, CheckResult],
                      originals: Mapping[Path, Path]) -> list[Path]:
    """The originals worth checking: those whose converted file has findings."""
    return [originals[p] for p, r in results.items() if r.status == "failed" and p in originals]


def _read(path: Path | None) -> str | None:
    try:
        return path.read_text(encoding="utf-8") if path is not None else None
    except (OSError, UnicodeDecodeError):
        return None


def _baseline(result: CheckResult, path: Path, originals: Mapping[Path, Path],
              before: Mapping[Path, CheckResult]) -> CheckResult:
    original = originals.get(path)
    if result.status != "failed" or original is None:
        return result
    return judge(result, before.get(original), _read(original), _read(path))


def blame_original(result: CheckResult, original: Path, time_limit_s: float,
                   memory_limit_mb: int, sandbox: Sandbox) -> CheckResult:
    """A failed script check, unless the original already fails under real TensorFlow (run
    the same way: one step per fit, no network, the same limits); without TensorFlow the
    failure stands, and its message says the original could not be run."""
    python, why = tf_python()
    if python is None:
        return replace(result, message=f"{result.message} (the original was not run: {why})")
    run = sandbox.run([python, "-m", "agent.tools.script_run", str(original),
                       str(time_limit_s), str(memory_limit_mb)],
                      timeout_s=time_limit_s + 30, read_paths=(original.parent,
                                                               Path(python).parent.parent))
    try:
        verdict = json.loads(run.stdout) if run.returncode == 0 else {}
    except json.JSONDecodeError:
        verdict = {}
    if verdict.get("status") == "failed":
        return CheckResult(result.name, "not_run", "the original script fails too under "
                           f"TensorFlow ({verdict.get('message', '')}): not the conversion's "
                           "doing", result.diagnostics, result.seconds + run.seconds)
    ran = ("the original runs under TensorFlow" if verdict.get("status") == "passed" else
           f"the original could not be judged: {verdict.get('message') or run.why}")
    return replace(result, message=f"{result.message} ({ran})")


def _skipped(name: str, failed: str) -> CheckResult:
    return CheckResult(name, "not_run", f"earlier check failed: {failed}")


def validate_files(
    paths: Sequence[Path],
    *,
    checks: Sequence[str] = CHECKS,
    worker: Worker | None = None,
    time_limit_s: float = 60.0,
    memory_limit_mb: int = 4096,
    mypy_cache_dir: Path | None = None,
    sandbox: Sandbox | None = None,
    originals: Mapping[Path, Path] | None = None,
) -> dict[Path, tuple[CheckResult, ...]]:
    """Results per path, in the order of ``CHECKS`` (only the requested ones).

    ``worker`` is reused when given (the caller closes it); otherwise one is started for this
    call, in ``sandbox`` (default: ``agent.sandbox.default()``), and closed at the end.
    ``mypy_cache_dir`` defaults to ``~/.cache/k2l-agent/mypy``.
    ``originals`` maps a converted file to its original: ruff and mypy findings that were
    already there (same code and message on an unchanged line) do not fail the file.
    """
    originals = originals or {}
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {sorted(unknown)}; known: {CHECKS}")
    wanted = [c for c in CHECKS if c in checks]
    done: dict[Path, list[CheckResult]] = {p: [] for p in paths}
    failed: dict[Path, str] = {}

    def record(path: Path, result: CheckResult) -> None:
        done[path].append(result)
        if result.status == "failed":
            failed[path] = result.name

    def pending() -> list[Path]:
        return [p for p in paths if p not in failed]

    own_worker: Worker | None = None
    if {"fast_dev_run", "script"} & set(wanted) and paths:
        if worker is None:
            worker = own_worker = Worker(sandbox=sandbox)
        worker.allow([readable_root(paths)])
        try:
            worker.spawn()  # torch and Lightning import while ruff and mypy run
        except OSError:
            pass  # reported as not_run when the first file asks for it
    try:
        for name in wanted:
            for path in paths:
                if path in failed:
                    done[path].append(_skipped(name, failed[path]))
            todo = pending()
            if name == "parse":
                for path in todo:
                    record(path, parse_check(path))
            elif name == "ruff":
                results = run_ruff(todo)
                before = run_ruff(_failed_originals(results, originals))
                for path, result in results.items():
                    record(path, _baseline(result, path, originals, before))
            elif name == "mypy":
                results = run_mypy(todo, cache_dir=mypy_cache_dir)
                before = run_mypy(_failed_originals(results, originals),
                                  cache_dir=mypy_cache_dir,
                                  extra_flags=original_flags(mypy_cache_dir))
                for path, result in results.items():
                    record(path, _baseline(result, path, originals, before))
            elif name == "fast_dev_run":
                for path in todo:
                    assert worker is not None
                    record(path, worker.validate(
                        path, time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb))
            elif name == "script":
                for path in todo:
                    assert worker is not None
                    result = worker.run_script(
                        path, time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb)
                    if result.status == "failed" and path in originals:
                        result = blame_original(result, originals[path], time_limit_s,
                                                memory_limit_mb, sandbox or default())
                    record(path, result)
    finally:
        if own_worker is not None:
            own_worker.close()
    return {p: tuple(results) for p, results in done.items()}


def readable_root(paths: Sequence[Path]) -> Path:
    """The directory the worker must read: the files' common parent, unless that is a place
    as wide as ``/``, ``/tmp`` or the home directory (then the first file's own directory)."""
    parents = [str(p.resolve().parent) for p in paths]
    common = os.path.commonpath(parents)
    too_wide = {os.sep, os.path.realpath(tempfile.gettempdir()), "/tmp",
                os.path.realpath(os.path.expanduser("~"))}
    return Path(parents[0] if common in too_wide else common)


def validate_source(
    source: str, name: str = "converted.py", **kw: object
) -> tuple[CheckResult, ...]:
    """Validate code held in memory (the LLM stage's replies) under the file name ``name``.

    Keyword arguments go to :func:`validate_files`. Diagnostics name ``name``, not the
    temporary file, so they can go straight back into a prompt.
    """
    # A stable folder per process and name: mypy's cache remembers a module's path, and a new
    # folder each time would hide errors of a reply that repeats an earlier one.
    base = Path(tempfile.gettempdir()) / f"k2l-validate-{os.getpid()}"
    if not base.exists():  # removed when the process ends: nothing is left outside --out
        atexit.register(shutil.rmtree, base, ignore_errors=True)
    tmp = (base / hashlib.sha256(name.encode()).hexdigest()[:12]).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        path = tmp / Path(name).name
        path.write_text(source, encoding="utf-8")
        results = validate_files([path], **kw)  # type: ignore[arg-type]
        return tuple(_renamed(r, str(tmp), name) for r in results[path])
    finally:
        shutil.rmtree(tmp / "__pycache__", ignore_errors=True)


def _renamed(result: CheckResult, tmp: str, name: str) -> CheckResult:
    diagnostics = tuple(
        replace(d, file=name, message=d.message.replace(f"{tmp}/{Path(name).name}", name))
        for d in result.diagnostics
    )
    return replace(result, diagnostics=diagnostics,
                   message=result.message.replace(f"{tmp}/{Path(name).name}", name))
