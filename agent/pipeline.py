"""``migrate``: discover → rules → (LLM) → validate → write → report. Never raises per file.

Conversion runs in worker processes for ``--jobs N``; results are sorted by path, so the
output tree and the report are identical for any N.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from agent.discover import Entry, read_python, walk
from agent.fsutil import copy_atomic, link, write_atomic
from agent.records import CheckResult, FileResult, FileStatus, Report
from agent.rules.convert import Conversion, convert_source
from agent.rules.models.transform import Recipe
from agent.rules.semantics import changes_semantics


class UsageError(Exception):
    """Bad command-line use (exit code 2)."""


@dataclass(frozen=True)
class Options:
    out: Path | None = None
    in_place: bool = False
    force: bool = False
    diff: bool = False
    jobs: int = 1
    validate: bool = True
    llm: bool = False
    only: frozenset[str] | None = None  # relative paths (``--changed-only``)
    max_bytes: int = 2_000_000
    time_limit_s: float = 60.0


@dataclass(frozen=True)
class _Converted:
    entry: Entry
    result: FileResult
    text: str | None  # converted source to write; None = copy the original bytes
    original: str | None = None
    recipes: tuple[Recipe, ...] = ()


def _convert_one(entry: Entry, max_bytes: int) -> _Converted:
    """Everything that can go wrong with one file ends up in its FileResult."""
    if entry.kind == "skip":
        return _Converted(entry, FileResult(entry.rel, "skipped", entry.reason), None)
    if entry.kind == "symlink":
        return _Converted(entry, FileResult(entry.rel, "skipped", entry.reason), None)
    src = read_python(entry.path, max_bytes)
    if src.text is None:
        status = "skipped" if src.reason else "unchanged"
        return _Converted(entry, FileResult(entry.rel, status, src.reason), None)  # type: ignore[arg-type]
    try:
        conv = convert_source(src.text, entry.rel)
    except Exception as exc:  # a rule bug must not stop the run: report it
        return _Converted(entry, FileResult(entry.rel, "failed",
                                            f"internal error in the rules ({type(exc).__name__}: "
                                            f"{exc}); please report it"), None)
    # a file with only TODO(k2l) markers is written too: the markers are the point
    keep = conv.source if (conv.changed or conv.unmapped) and conv.source != src.text else None
    return _Converted(entry, _file_result(entry, conv, src.text), keep, src.text,
                      tuple(conv.recipes))


def unified_diff(rel: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))


def _file_result(entry: Entry, conv: Conversion, original: str) -> FileResult:
    if conv.error:
        return FileResult(entry.rel, "failed", conv.error)
    semantic = [w for w in conv.warnings if changes_semantics(w.message)]
    reason = ""
    if not conv.changed and not conv.unmapped:
        status = "unchanged"
    elif conv.unmapped:
        status = "partial"
    elif semantic:  # converted, but it does not do exactly what the original did
        status = "partial"
        reason = (f"{len(semantic)} warned change(s) of behaviour, first at line "
                  f"{semantic[0].line}: {semantic[0].message}")
    else:
        status = "converted"
    diff = unified_diff(entry.rel, original, conv.source)
    return FileResult(
        entry.rel, status, reason,  # type: ignore[arg-type]
        changes=tuple(conv.changes), warnings=tuple(conv.warnings),
        unmapped=tuple(conv.unmapped), keras_deps_left=tuple(conv.keras_deps), diff=diff,
    )


def _git_clean(path: Path) -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=path,
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == ""


def output_dir(src: Path, opts: Options) -> Path:
    if opts.in_place:
        return src
    if opts.out is not None:
        return opts.out.resolve()
    return src.parent / f"{src.name}-k2l"


def check_usage(src: Path, opts: Options) -> Path:
    if not src.exists():
        raise UsageError(f"{src}: no such directory or file")
    if opts.in_place and opts.out is not None:
        raise UsageError("--in-place and --out exclude each other")
    if opts.in_place and not opts.force and not _git_clean(src if src.is_dir() else src.parent):
        raise UsageError("--in-place needs a clean git work tree (commit first) or --force")
    if opts.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    out = output_dir(src, opts)
    if not opts.in_place and not opts.diff:
        if out.exists() and any(out.iterdir()) and not (out / "report.json").exists() \
                and not opts.force:
            raise UsageError(f"{out} exists and is not an earlier k2l-agent output; "
                             "choose another --out or pass --force")
    return out


def convert_tree(src: Path, opts: Options, out: Path,
                 progress: Callable[[str], None] | None = None) -> list[_Converted]:
    root = src if src.is_dir() else src.parent
    if src.is_dir():
        entries = list(walk(root, exclude=out if out != root else None))
    else:
        entries = [Entry(src.resolve(), src.name, "python" if src.suffix == ".py" else "other")]
    if opts.only is not None:
        entries = [e for e in entries if e.rel in opts.only or e.kind == "other"]
    work = [e for e in entries if e.kind != "other"]
    results: list[_Converted] = []
    if opts.jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=opts.jobs) as pool:
            futures = [pool.submit(_convert_one, e, opts.max_bytes) for e in work]
            for f in futures:
                r = f.result()
                results.append(r)
                if progress:
                    progress(r.entry.rel)
    else:
        for e in work:
            results.append(_convert_one(e, opts.max_bytes))
            if progress:
                progress(e.rel)
    others = [_Converted(e, FileResult(e.rel, "unchanged"), None) for e in entries
              if e.kind == "other"]
    return sorted(results + others, key=lambda c: c.entry.rel)


def write_tree(items: list[_Converted], out: Path, in_place: bool) -> list[_Converted]:
    """Write converted files, copy the rest; a file that cannot be written is reported."""
    written: list[_Converted] = []
    for item in items:
        dst = out / item.entry.rel
        try:
            if item.entry.kind == "symlink":
                if not in_place:
                    link(dst, item.entry.link_target)
            elif item.entry.kind == "skip":
                pass
            elif item.text is not None:
                mode = item.entry.path.stat().st_mode & 0o777
                write_atomic(dst, item.text.encode("utf-8"), mode)
            elif not in_place:
                copy_atomic(item.entry.path, dst)
        except OSError as exc:
            status: FileStatus = "failed" if item.text is not None else "skipped"
            item = replace(item, text=None, result=replace(
                item.result, status=status, reason=f"could not write {dst}: {exc.strerror or exc}"))
        written.append(item)
    return written


def _write_originals(items: list[_Converted], out: Path, tmp: Path) -> dict[Path, Path]:
    """Each converted file's original text under ``tmp`` (the source may be rewritten in
    place): checks compare against it so findings already there do not count."""
    found: dict[Path, Path] = {}
    for item in items:
        if item.text is None or item.original is None:
            continue
        copy = tmp / item.entry.rel
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(item.original, encoding="utf-8")
        except OSError:
            continue
        found[out / item.entry.rel] = copy
    return found


def _validate(items: list[_Converted], out: Path, opts: Options
              ) -> dict[str, tuple[CheckResult, ...]]:
    from agent.validate import validate_files

    targets = [out / i.entry.rel for i in items if i.text is not None]
    if not targets:
        return {}
    with tempfile.TemporaryDirectory(prefix="k2l-originals-") as tmp:
        originals = _write_originals(items, out, Path(tmp))
        results = validate_files(targets, time_limit_s=opts.time_limit_s, originals=originals)
    by_rel = {path.relative_to(out).as_posix(): checks for path, checks in results.items()}
    # the model's equivalence does not depend on the code around it: a failed script check
    # (data handling, a call the rules left) does not stop it
    eligible = [i for i in items if i.entry.rel in by_rel
                and not any(c.status == "failed" and c.name != "script"
                            for c in by_rel[i.entry.rel])]
    equivalence = _equivalence(eligible, out, opts)
    for rel, checks in by_rel.items():
        failed = next((c.name for c in checks if c.status == "failed" and c.name != "script"),
                      None)
        eq = equivalence.get(rel) or CheckResult(
            "equivalence", "not_run", f"earlier check failed: {failed}" if failed
            else "no model built by the rules in this file")
        by_rel[rel] = (*checks, eq)
    return by_rel


def _equivalence(items: list[_Converted], out: Path, opts: Options) -> dict[str, CheckResult]:
    """Build each Keras original and its conversion in one subprocess; compare outputs."""
    jobs: list[dict[str, str]] = []
    owners: list[tuple[str, Recipe]] = []
    results: dict[str, list[CheckResult]] = {}
    for item in items:
        for recipe in item.recipes:
            if recipe.needs_args:
                results.setdefault(item.entry.rel, []).append(CheckResult(
                    "equivalence", "not_run", f"{recipe.class_name}: its builder needs arguments"))
                continue
            jobs.append({"original": str(item.entry.path), "converted": str(out / item.entry.rel),
                         "class_name": recipe.class_name, "var": recipe.var,
                         "function": recipe.function, "original_code": recipe.original_code})
            owners.append((item.entry.rel, recipe))
    if jobs:
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "agent.tools.equivalence_job"],
                                  input=json.dumps(jobs), capture_output=True, text=True,
                                  timeout=opts.time_limit_s * (1 + len(jobs)))
            answers = json.loads(proc.stdout) if proc.returncode == 0 else None
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            answers = None
        seconds = time.perf_counter() - started
        for k, (rel, _) in enumerate(owners):
            if answers is None:
                result = CheckResult("equivalence", "not_run",
                                     "equivalence worker crashed or timed out", seconds=seconds)
            else:
                a = answers[k]
                result = CheckResult("equivalence", a["status"], a["message"], seconds=seconds)
            results.setdefault(rel, []).append(result)
    merged: dict[str, CheckResult] = {}
    for rel, parts in results.items():
        status = ("failed" if any(p.status == "failed" for p in parts) else
                  "passed" if all(p.status == "passed" for p in parts) else "not_run")
        merged[rel] = CheckResult("equivalence", status,  # type: ignore[arg-type]
                                  "; ".join(p.message for p in parts),
                                  seconds=max(p.seconds for p in parts))
    return merged


def migrate(src: Path, opts: Options, progress: Callable[[str], None] | None = None,
            llm_stage: Callable[[list[_Converted], Path], list[str]] | None = None
            ) -> tuple[Report, list[_Converted], Path]:
    out = check_usage(src, opts)
    items = convert_tree(src, opts, out, progress)
    notes: list[str] = []
    if opts.diff:
        return Report(str(src), "(diff only)", tuple(i.result for i in items)), items, out
    if llm_stage is not None:
        notes += llm_stage(items, out)
    items = write_tree(items, out, opts.in_place)
    if opts.validate:
        checks = _validate(items, out, opts)
        for k, item in enumerate(items):
            if item.entry.rel in checks:
                items[k] = replace(item, result=replace(item.result, checks=checks[item.entry.rel]))
    else:
        notes.append("validation skipped (--no-validate)")
    if not opts.llm:
        notes.append("LLM stage off: unmapped constructs are left for a person (see below)")
    report = Report(str(src), str(out), tuple(i.result for i in items), llm_enabled=opts.llm,
                    notes=tuple(notes))
    return report, items, out

