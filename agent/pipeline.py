"""``migrate``: discover → rules → (LLM) → validate → write → report. Never raises per file.

Conversion runs in worker processes for ``--jobs N``; results are sorted by path, so the
output tree and the report are identical for any N.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import multiprocessing
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.discover import (
    FRAMEWORK,
    Entry,
    Kind,
    display_name,
    encode_source,
    read_bytes,
    read_python,
    walk,
)
from agent.fsutil import copy_atomic, link, write_atomic
from agent.guard import git
from agent.guard.interrupt import Interrupted, ignore_in_worker, signals_held, stop_children
from agent.guard.paths import OutputRefused, check_output, default_output, mark_output
from agent.notebooks.convert import convert_notebook, relocate_checks, write_scripts
from agent.records import CheckResult, FileResult, FileStatus, Report
from agent.rules.convert import Conversion, convert_source
from agent.rules.models.transform import Recipe
from agent.rules.semantics import changes_semantics
from agent.sandbox import Sandbox, SandboxError, resolve
from agent.tools.tf_original import tf_python


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
    sandbox: str = "auto"  # auto | bwrap | none: how executed code is contained (sandbox.py)
    keep_script_layout: bool = False  # no main guard around script code (rules/layout/)


@dataclass(frozen=True)
class _Converted:
    entry: Entry
    result: FileResult
    text: str | None  # converted source to write; None = copy the original bytes
    original: str | None = None
    recipes: tuple[Recipe, ...] = ()
    encoding: str = "utf-8"  # the original's, so the written file round-trips
    # notebooks: the code cells as programs, original and converted; the checks run these
    programs: tuple[str, str] | None = None


def _convert_one(entry: Entry, max_bytes: int, main_guard: bool = False) -> _Converted:
    """Everything that can go wrong with one file ends up in its FileResult."""
    if entry.kind in ("skip", "symlink", "copy"):
        return _Converted(entry, FileResult(entry.name, "skipped", entry.reason), None)
    if entry.kind == "notebook":
        return _convert_notebook(entry, max_bytes)
    src = read_python(entry.path, max_bytes)
    if src.text is None:
        status = "skipped" if src.reason else "unchanged"
        return _Converted(entry, FileResult(entry.rel, status, src.reason), None)  # type: ignore[arg-type]
    try:
        conv = convert_source(src.text, entry.rel, main_guard)
    except Exception as exc:  # a rule bug must not stop the run: report it
        return _Converted(entry, FileResult(entry.rel, "failed",
                                            f"internal error in the rules ({type(exc).__name__}: "
                                            f"{exc}); please report it"), None)
    # a file with only TODO(k2l) markers is written too: the markers are the point
    keep = conv.source if (conv.changed or conv.unmapped) and conv.source != src.text else None
    return _Converted(entry, _file_result(entry, conv, src.text), keep, src.text,
                      tuple(conv.recipes), src.encoding)


def _convert_notebook(entry: Entry, max_bytes: int) -> _Converted:
    raw = read_bytes(entry.path, max_bytes)
    if isinstance(raw, str):
        return _Converted(entry, FileResult(entry.rel, "skipped", raw), None)
    if not FRAMEWORK.search(raw):
        return _Converted(entry, FileResult(entry.rel, "unchanged"), None)
    try:
        nb = convert_notebook(raw, entry.rel)
    except Exception as exc:  # a rule bug must not stop the run: report it
        return _Converted(entry, FileResult(entry.rel, "failed",
                                            f"internal error in the rules ({type(exc).__name__}: "
                                            f"{exc}); please report it"), None)
    programs = (nb.program, nb.script) if nb.text is not None else None
    return _Converted(entry, nb.result, nb.text, raw.decode("utf-8", "replace"), nb.recipes,
                      programs=programs)


def _lay_out(item: _Converted) -> _Converted:
    """The main-guard layout pass over a file the LLM stage has finished with."""
    from agent.rules.layout.main_guard import guard_script

    if item.entry.kind != "python" or item.text is None or not item.result.changes:
        return item
    layout = guard_script(item.text)
    if layout.code == item.text:
        return item
    deps = tuple(sorted((replace(d, line=layout.line(d.line))
                         for d in item.result.keras_deps_left), key=lambda d: d.line))
    return replace(item, text=layout.code, result=replace(
        item.result, keras_deps_left=deps,
        diff=unified_diff(item.entry.rel, item.original or "", layout.code)))


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
    elif conv.keras_deps:  # nothing reported unmapped, yet the script still needs Keras/TF
        status = "partial"
        first = conv.keras_deps[0]
        reason = (f"{len(conv.keras_deps)} Keras/TF reference(s) left, first at line "
                  f"{first.line}: {first.name}")
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


def output_dir(src: Path, opts: Options) -> Path:
    if opts.in_place:
        return src
    if opts.out is not None:
        return opts.out.resolve()
    return default_output(src)


def check_usage(src: Path, opts: Options) -> Path:
    if not src.exists():
        raise UsageError(f"{src}: no such directory or file")
    if not src.is_dir() and not src.is_file():
        raise UsageError(f"{src}: not a directory nor a regular file")
    if opts.in_place and opts.out is not None:
        raise UsageError("--in-place and --out exclude each other")
    root = src if src.is_dir() else src.parent
    if opts.in_place and not opts.force and not opts.diff:
        if not git.in_work_tree(root):
            raise UsageError("--in-place rewrites only files git can restore, and "
                             f"{root} is not in a git work tree; use --out (or --force)")
        if not git.work_tree_clean(root):
            raise UsageError("--in-place needs a clean git work tree (commit first) or --force")
    if opts.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    out = output_dir(src, opts)
    if not opts.in_place and not opts.diff:
        try:
            check_output(src, out, opts.force)
        except OutputRefused as exc:
            raise UsageError(str(exc)) from None
    return out


def _check_in_place(src: Path, items: list[_Converted], opts: Options) -> None:
    """Before the first rewrite: every file to rewrite must be tracked and unmodified."""
    if not opts.in_place or opts.force or opts.diff:
        return
    root = src if src.is_dir() else src.parent
    lost = git.not_restorable(root, [i.entry.rel for i in items if i.text is not None])
    if lost:
        shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
        raise UsageError(f"--in-place would rewrite files git cannot restore (untracked, "
                         f"ignored or modified): {shown}; commit them, use --out, or --force")


@dataclass
class RunState:
    """How far a run got: what an interrupted run's report is made of."""

    phase: str = "starting"
    entries: list[Entry] = field(default_factory=list)
    written: list[_Converted] = field(default_factory=list)
    items: list[_Converted] = field(default_factory=list)  # converted, in path order
    validated: bool = False


def _convert_args(args: tuple[Entry, int, bool]) -> _Converted:
    return _convert_one(*args)


def convert_tree(src: Path, opts: Options, out: Path,
                 progress: Callable[[str], None] | None = None,
                 state: RunState | None = None) -> list[_Converted]:
    state = state if state is not None else RunState()
    state.phase = "converting"
    root = src if src.is_dir() else src.parent
    if src.is_dir():
        entries = list(walk(root, exclude=out if out != root else None))
    else:
        kind: Kind = ("python" if src.suffix == ".py" else
                      "notebook" if src.suffix == ".ipynb" else "other")
        entries = [Entry(src.resolve(), src.name, kind)]
    if opts.only is not None:
        entries = [e for e in entries if e.rel in opts.only or e.kind == "other"]
    state.entries = entries
    work = [e for e in entries if e.kind != "other"]
    # with an LLM stage the layout pass follows it (its pieces are spliced by top-level name)
    guard = not opts.keep_script_layout and (not opts.llm or opts.diff)
    results: list[_Converted] = []
    if opts.jobs > 1 and len(work) > 1:
        # a Pool, not a ProcessPoolExecutor: on an interrupt its workers are terminated
        with multiprocessing.Pool(opts.jobs, initializer=ignore_in_worker) as pool:
            for r in pool.imap(_convert_args, [(e, opts.max_bytes, guard) for e in work]):
                results.append(r)
                if progress:
                    progress(r.entry.rel)
    else:
        for e in work:
            results.append(_convert_one(e, opts.max_bytes, guard))
            if progress:
                progress(e.rel)
    others = [_Converted(e, FileResult(e.name, "unchanged"), None) for e in entries
              if e.kind == "other"]
    return sorted(results + others, key=lambda c: c.entry.rel)


def write_tree(items: list[_Converted], out: Path, in_place: bool,
               written: list[_Converted] | None = None) -> list[_Converted]:
    """Write converted files, copy the rest; a file that cannot be written is reported.

    ``written`` grows as files land, so an interrupted run can say what it wrote.
    """
    written = written if written is not None else []
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
                write_atomic(dst, encode_source(item.text, item.original, item.encoding), mode)
            elif not in_place and not _same_copy(item.entry.path, dst):
                copy_atomic(item.entry.path, dst)
        except OSError as exc:
            status: FileStatus = "failed" if item.text is not None else "skipped"
            item = replace(item, text=None, result=replace(
                item.result, status=status, reason=f"could not write {dst}: {exc.strerror or exc}"))
        written.append(item)
    return written


def _same_copy(src: Path, dst: Path) -> bool:
    """``dst`` is already a copy of ``src`` (copy2 keeps size and mtime): a rerun after an
    interrupt resumes instead of copying every unchanged file again."""
    try:
        a, b = src.stat(), dst.lstat()
    except OSError:
        return False
    return stat.S_ISREG(b.st_mode) and (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


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


def _validate(items: list[_Converted], src: Path, out: Path, opts: Options, sandbox: Sandbox
              ) -> dict[str, tuple[CheckResult, ...]]:
    from agent.validate import validate_files

    scripts = {i.entry.rel: write_scripts(out, i.entry.rel, i.programs)
               for i in items if i.programs is not None}
    targets = [scripts[i.entry.rel][0] if i.entry.rel in scripts else out / i.entry.rel
               for i in items if i.text is not None]
    if not targets:
        return {}
    with tempfile.TemporaryDirectory(prefix="k2l-originals-") as tmp:
        originals = _write_originals([i for i in items if i.programs is None], out, Path(tmp))
        originals.update(scripts.values())  # a notebook's program, converted -> original
        results = validate_files(targets, time_limit_s=opts.time_limit_s, sandbox=sandbox,
                                 originals=originals)
    notebook_of = {converted: rel for rel, (converted, _) in scripts.items()}
    by_rel = {}
    for path, checks in results.items():
        rel = notebook_of.get(path)
        by_rel[rel or path.relative_to(out).as_posix()] = (
            checks if rel is None else relocate_checks(checks, path.read_text(), rel))
    # the model's equivalence does not depend on the code around it: a failed script check
    # (data handling, a call the rules left) does not stop it
    eligible = [i for i in items if i.entry.rel in by_rel
                and not any(c.status == "failed" and c.name != "script"
                            for c in by_rel[i.entry.rel])]
    equivalence = _equivalence(eligible, src, out, opts, scripts, sandbox)
    for rel, checks in by_rel.items():
        failed = next((c.name for c in checks if c.status == "failed" and c.name != "script"),
                      None)
        eq = equivalence.get(rel) or CheckResult(
            "equivalence", "not_run", f"earlier check failed: {failed}" if failed
            else "no model built by the rules in this file")
        by_rel[rel] = (*checks, eq)
    return by_rel


def _equivalence(items: list[_Converted], src: Path, out: Path, opts: Options,
                 scripts: dict[str, tuple[Path, Path]], sandbox: Sandbox
                 ) -> dict[str, CheckResult]:
    """Build each Keras original and its conversion in one sandboxed process; compare."""
    jobs: list[dict[str, str]] = []
    owners: list[tuple[str, Recipe]] = []
    results: dict[str, list[CheckResult]] = {}
    for item in items:
        for recipe in item.recipes:
            if recipe.needs_args:
                results.setdefault(item.entry.rel, []).append(CheckResult(
                    "equivalence", "not_run", f"{recipe.class_name}: its builder needs arguments"))
                continue
            converted, original = scripts.get(item.entry.rel,
                                              (out / item.entry.rel, item.entry.path))
            jobs.append({"original": str(original), "converted": str(converted),
                         "class_name": recipe.class_name, "var": recipe.var,
                         "function": recipe.function, "original_code": recipe.original_code})
            owners.append((item.entry.rel, recipe))
    if jobs:
        root = src if src.is_dir() else src.parent
        jobs = with_tensorflow_reference(jobs, sandbox, read_paths=(root,),
                                         timeout_s=opts.time_limit_s * (1 + len(jobs)))
        answers, why, seconds = run_equivalence_jobs(
            jobs, sandbox, read_paths=(root, out), timeout_s=opts.time_limit_s * (1 + len(jobs)))
        for k, (rel, _) in enumerate(owners):
            if answers is None:
                result = CheckResult("equivalence", "not_run", why, seconds=seconds)
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


class Stopped(Exception):
    """A run stopped by SIGINT/SIGTERM: the report of what was done, and the exit code."""

    def __init__(self, report: Report, out: Path, exit_code: int) -> None:
        super().__init__(f"interrupted ({exit_code})")
        self.report, self.out, self.exit_code = report, out, exit_code


def with_tensorflow_reference(jobs: list[dict[str, Any]], sandbox: Sandbox, *,
                              read_paths: tuple[Path, ...], timeout_s: float
                              ) -> list[dict[str, Any]]:
    """Each job with the original built by real TensorFlow (``tf``), when a Python with
    TensorFlow exists; else with the reason (``tf_why``) the fallback reports."""
    python, why = tf_python()
    if python is None:
        return [{**job, "tf_why": why} for job in jobs]
    venv = Path(python).parent.parent  # a virtual environment must be readable in bwrap
    result = sandbox.run([python, "-m", "agent.tools.tf_original"], input=json.dumps(jobs),
                         timeout_s=timeout_s, read_paths=(*read_paths, venv))
    try:
        answers = json.loads(result.stdout) if result.returncode == 0 else None
    except json.JSONDecodeError:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(jobs):
        return [{**job, "tf_why": f"the TensorFlow process failed: {result.why}"}
                for job in jobs]
    return [{**job, "tf": answer} for job, answer in zip(jobs, answers, strict=True)]


def run_equivalence_jobs(jobs: list[dict[str, str]], sandbox: Sandbox, *,
                         read_paths: tuple[Path, ...], timeout_s: float
                         ) -> tuple[list[dict[str, Any]] | None, str, float]:
    """``agent.tools.equivalence_job`` in the sandbox: its answers, or None and why not."""
    result = sandbox.run([sys.executable, "-m", "agent.tools.equivalence_job"],
                         input=json.dumps(jobs), timeout_s=timeout_s, read_paths=read_paths)
    if result.limit:
        return None, f"equivalence job stopped: {result.why}", result.seconds
    try:
        answers = json.loads(result.stdout) if result.returncode == 0 else None
    except json.JSONDecodeError:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(jobs):
        return None, f"equivalence job crashed: {result.why}", result.seconds
    return answers, "", result.seconds


def resolve_sandbox(opts: Options) -> Sandbox:
    try:
        return resolve(opts.sandbox)
    except SandboxError as exc:
        raise UsageError(str(exc)) from exc


def migrate(src: Path, opts: Options, progress: Callable[[str], None] | None = None,
            llm_stage: Callable[[list[_Converted], Path], list[str]] | None = None
            ) -> tuple[Report, list[_Converted], Path]:
    """The whole run; :class:`Stopped` (with a partial report) on an :class:`Interrupted`."""
    out = check_usage(src, opts)
    state = RunState()
    try:
        return _run(src, opts, out, state, progress, llm_stage)
    except Interrupted as exc:
        with signals_held():
            stop_children()
        raise Stopped(_partial_report(src, out, opts, state, exc), out, exc.exit_code) from None


def _run(src: Path, opts: Options, out: Path, state: RunState,
         progress: Callable[[str], None] | None,
         llm_stage: Callable[[list[_Converted], Path], list[str]] | None
         ) -> tuple[Report, list[_Converted], Path]:
    # code runs in validation and in the LLM stage's checks; the report says how it was held
    sandbox = resolve_sandbox(opts) if (opts.validate or opts.llm) and not opts.diff else None
    items = convert_tree(src, opts, out, progress, state)
    state.items = items
    notes: list[str] = []
    source = display_name(str(src.resolve()))
    if opts.diff:
        return Report(source, "(diff only)", tuple(i.result for i in items)), items, out
    if llm_stage is not None:
        state.phase = "LLM stage"
        notes += llm_stage(items, out)
        if not opts.keep_script_layout:
            items = [_lay_out(item) for item in items]
    _check_in_place(src, items, opts)
    if not opts.in_place:
        try:
            mark_output(src, out, complete=False)
        except OSError as exc:
            raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    state.phase = "writing"
    items = write_tree(items, out, opts.in_place, state.written)
    if sandbox is not None:
        notes.append(sandbox.describe())
    state.phase = "validating"
    if opts.validate and sandbox is not None:
        checks = _validate(items, src, out, opts, sandbox)
        for k, item in enumerate(items):
            if item.entry.rel in checks:
                items[k] = replace(item, result=replace(item.result, checks=checks[item.entry.rel]))
    else:
        notes.append("validation skipped (--no-validate)")
    if not opts.llm:
        notes.append("LLM stage off: unmapped constructs are left for a person (see below)")
    report = Report(source, display_name(str(out)), tuple(i.result for i in items),
                    llm_enabled=opts.llm, notes=tuple(notes))
    if not opts.in_place:
        with contextlib.suppress(OSError):  # the files are written; the report says so
            mark_output(src, out, complete=True)
    return report, items, out


def _partial_report(src: Path, out: Path, opts: Options, state: RunState,
                    exc: Interrupted) -> Report:
    """Every file the run knew of: written ones with their results (checks dropped: they did
    not all run), the rest skipped with the phase the signal stopped."""
    done = {w.entry.rel: w.result for w in state.written}
    known = state.items or [_Converted(e, FileResult(e.name, "skipped"), None)
                            for e in state.entries]
    why = f"not written: interrupted ({exc}) while {state.phase}"
    files = tuple(replace(done[i.entry.rel], checks=()) if i.entry.rel in done else
                  FileResult(i.entry.name, "skipped", why) for i in known)
    where = "in place" if opts.in_place else "into the same --out"
    notes = (f"INTERRUPTED by {exc} while {state.phase}: {len(done)} of {len(known)} files "
             f"written{'' if state.entries else ' (the tree was not fully listed)'}; "
             f"run the same command again to finish {where}",)
    return Report(display_name(str(src.resolve())), display_name(str(out)), files,
                  llm_enabled=opts.llm, notes=notes)
