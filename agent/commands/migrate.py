"""The ``migrate`` command: options → pipeline → reports → exit code (0 ok, 1 attention, 2 usage)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from agent.guard.interrupt import Interrupted, signals_held, signals_raise
from agent.guard.paths import OutputRefused, check_report
from agent.pipeline import (
    Options,
    Stopped,
    UsageError,
    _Converted,
    migrate,
    resolve_sandbox,
    unified_diff,
)
from agent.records import CheckResult, Report, Unmapped
from agent.report import exit_code, exit_reasons, headline, render_markdown, write_reports
from agent.rules.convert import Conversion, convert_source
from agent.rules.fix_imports import keras_left
from agent.rules.semantics import changes_semantics
from agent.sandbox import Sandbox


def _progress() -> Any:
    """A rich progress bar on a terminal; nothing on CI or when piped."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True)


def _changed(src: Path, base: str) -> frozenset[str]:
    from agent.github.changed import changed_python_files

    root = src if src.is_dir() else src.parent
    files = changed_python_files(root, base)
    return frozenset(p.resolve().relative_to(root.resolve()).as_posix() for p in files)


def _llm_stage(cli: dict[str, Any], src: Path, report_dir: Path,
               sandbox: Sandbox | None = None) -> tuple[Any, list[str]]:
    """An LLM stage callable if an endpoint is configured, else None and why; plus the notes
    on repository settings that were ignored. The LLM's code runs in ``sandbox``."""
    from agent.llm.config import ConfigError, load_llm_settings

    root = src if src.is_dir() else src.parent
    try:
        config, ignored = load_llm_settings(root, cli=cli)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    if not (config.api_key or config.base_url):
        return None, [*ignored, "LLM stage off: no endpoint configured (set OPENAI_API_KEY "
                      "or --base-url)"]
    config = replace(config, cache_dir=report_dir,
                     trajectory_path=config.trajectory_path or report_dir / "trajectory.jsonl")

    def stage(items: list[_Converted], out: Path) -> list[str]:
        from agent.llm.client import LLMClient
        from agent.llm.stage import LLMContext, run_llm_stage
        from agent.validate import validate_source

        client = LLMClient(config)
        notes: list[str] = []
        for k, item in enumerate(items):
            pending = [u for u in item.result.unmapped if u.qualname]
            if pending and item.entry.kind == "notebook":
                notes.append(f"{item.entry.rel}: notebooks go through the rules only; "
                             "the LLM stage works on .py files")
                continue
            name = Path(item.entry.rel).name

            def check(code: str, n: str = name, rel: str = item.entry.rel
                      ) -> tuple[CheckResult, ...]:
                return _check_llm_code(code, n, rel, partial(validate_source, sandbox=sandbox))

            source = item.text if item.text is not None else item.original
            if source is None or not pending:
                continue
            passes: list[Conversion] = []  # the rules passes the stage ran, in order
            outcome = run_llm_stage(
                source, item.result.unmapped, config=config, validate=check,
                context=LLMContext(file=item.entry.rel, repo_root=root, client=client,
                                   module_name=name, lookup=_lookup,
                                   rules=partial(_rules_again, rel=item.entry.rel, log=passes)))
            notes += list(outcome.messages)
            text, changes, recipes = outcome.source, item.result.changes, item.recipes
            left = outcome.unresolved
            for again in passes:  # what the rules changed after the LLM's pieces counts too
                recipes = tuple(again.recipes) or recipes
                changes = tuple(sorted({*changes, *again.changes}, key=lambda c: c.line))
            semantic = any(changes_semantics(w.message) for w in item.result.warnings)
            status = item.result.status if left or semantic else "converted"
            # what is left and what changed must describe the text that is written
            items[k] = replace(item, text=text, recipes=recipes, result=replace(
                item.result, unmapped=left, status=status, llm=outcome.stats, changes=changes,
                keras_deps_left=tuple(keras_left(text)),
                diff=unified_diff(item.entry.rel, item.original or "", text)))
            if outcome.llm_unavailable:
                notes.append("LLM endpoint unreachable: continued with rules only")
                break
        return notes

    return stage, list(ignored)


def _rules_again(text: str, rel: str, log: list[Conversion]
                 ) -> tuple[str, tuple[Unmapped, ...]] | None:
    """The rules over a file the LLM stage changed: what they convert now, what is left."""
    again = convert_source(text, rel)
    if again.error:
        return None
    if again.changed:
        log.append(again)
    return (again.source if again.changed else text), tuple(again.unmapped)


def _check_llm_code(code: str, name: str, rel: str, validate_source: Any
                    ) -> tuple[CheckResult, ...]:
    """Static checks on the spliced file; fast_dev_run after a second rules pass, since the
    models that use the LLM's layer only become torch then. Its diagnostics carry no line
    (they refer to the re-converted file), which the LLM stage reads as the model's."""
    static = tuple(validate_source(code, name, checks=("parse", "ruff", "mypy")))
    if any(c.status == "failed" for c in static):
        return static
    again = convert_source(code, rel)
    run = validate_source(again.source if again.changed else code, name,
                          checks=("fast_dev_run",))
    return static + tuple(replace(c, diagnostics=tuple(replace(d, line=0)
                                                       for d in c.diagnostics)) for c in run)


def _lookup(keras_name: str) -> str | None:
    from agent.rules.layers import lookup

    spec = lookup(keras_name if "." in keras_name else f"keras.layers.{keras_name}")
    if spec is None:
        return None
    examples = "\n".join(f"  {e.keras} on {e.input_shape} -> {', '.join(e.expect)}"
                         for e in spec.examples)
    return (f"keras.layers.{spec.keras}: torch {', '.join(spec.torch) or 'forward expression'}; "
            f"Keras defaults {spec.defaults}\n{examples}")


def _stopped(stop: Stopped, report: Path | None, diff: bool) -> int:
    """Write the partial report (not for --diff: it writes nothing) and say how to resume."""
    if not diff:
        md = report if report is not None else stop.out / "report.md"
        try:
            write_reports(stop.report, md, md.with_suffix(".json"))
            print(f"report of what was done: {md}", file=sys.stderr)
        except OSError as exc:
            print(f"could not write the report: {exc.strerror or exc}", file=sys.stderr)
    print(f"interrupted: {stop.report.notes[0]}", file=sys.stderr)
    return stop.exit_code


def run_migrate(src: Path, *, out: Path | None, in_place: bool, force: bool, diff: bool,
                report: Path | None, jobs: int, no_llm: bool, no_validate: bool,
                changed_only: str | None, llm_cli: dict[str, Any],
                sandbox: str = "auto", keep_script_layout: bool = False) -> int:
    try:
        only = _changed(src, changed_only) if changed_only else None
    except Exception as exc:  # ChangedFilesError and git failures: a usage problem
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = Options(out=out, in_place=in_place, force=force, diff=diff, jobs=jobs,
                   validate=not no_validate, only=only, sandbox=sandbox,
                   keep_script_layout=keep_script_layout)
    with signals_raise():
        try:
            return _run_migrate(src, opts, report, no_llm, diff, llm_cli)
        except Interrupted as exc:  # before the pipeline started: nothing was written
            print(f"interrupted ({exc}): nothing written", file=sys.stderr)
            return exc.exit_code


def _run_migrate(src: Path, opts: Options, report: Path | None, no_llm: bool, diff: bool,
                 llm_cli: dict[str, Any]) -> int:
    stage = None
    notes: list[str] = []
    try:
        from agent.pipeline import output_dir

        if report is not None and not diff:
            try:
                check_report(src, report)
            except OutputRefused as exc:
                raise UsageError(str(exc)) from None
        report_dir = report.parent if report is not None else output_dir(src, opts)
        if not no_llm and not diff:
            stage, notes = _llm_stage(llm_cli, src, report_dir, resolve_sandbox(opts))
        opts = replace(opts, llm=stage is not None)
        progress = _progress()
        if progress is not None:
            with progress:
                task = progress.add_task("converting", total=None)
                result, items, out_dir = migrate(
                    src, opts, lambda rel: progress.update(task, advance=1, description=rel),
                    llm_stage=stage)
        else:
            result, items, out_dir = migrate(src, opts, llm_stage=stage)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Stopped as stop:
        with signals_held():
            return _stopped(stop, report, diff)
    result = replace(result, notes=tuple(notes) + result.notes)
    with signals_held():  # the work is done: the report is written whole
        return _finish(result, items, out_dir, report, diff)


def _finish(result: Report, items: list[_Converted], out_dir: Path, report: Path | None,
            diff: bool) -> int:
    if diff:
        for item in items:
            if item.result.diff:
                sys.stdout.write(item.result.diff)
        print(headline(result), file=sys.stderr)
        return exit_code(result)
    md = report if report is not None else out_dir / "report.md"
    json_path = md.with_suffix(".json")
    write_reports(result, md, json_path)
    print(render_markdown(result))
    print(f"report: {md} and {json_path}", file=sys.stderr)
    if reasons := exit_reasons(result):
        print(f"exit status 1: {', '.join(reasons)}", file=sys.stderr)
    return exit_code(result)

