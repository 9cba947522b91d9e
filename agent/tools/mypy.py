"""mypy over a batch of converted files: one run, a cache kept between runs.

The configuration lives here as data (``FLAGS``) and is documented in docs/validation.md.
It is deliberately not strict: converted code keeps the user's (often missing) annotations,
so only real type errors should fail it; ``--check-untyped-defs`` still checks the bodies of
unannotated methods, which is where ``forward`` and ``training_step`` live.
``--config-file=`` (empty) switches off every configuration file, so neither the user's nor
this project's strict ``[tool.mypy]`` changes the result.

The first run analyses torch and Lightning (about 15 s); the cache makes later runs take well
under a second plus the files themselves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agent.records import CheckResult, CheckStatus, Diagnostic

TOOL = "mypy"
TIMEOUT_S = 600.0
FLAGS: tuple[str, ...] = (
    "--config-file=",  # no configuration file: the result must not depend on the user's
    "--ignore-missing-imports",  # converted code may import the user's own packages
    "--follow-imports=silent",  # analyse imported modules, report only the batch's files
    "--check-untyped-defs",
    "--no-error-summary",
    "--show-error-codes",
    "--no-color-output",
    "--no-pretty",
    "--show-column-numbers",
    "--show-absolute-path",
)
# mypy prints "file:line:col: severity: message  [code]" when JSON output is unavailable.
_TEXT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<severity>error|note|warning): "
    r"(?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k2l-agent" / "mypy"


def _supports_json() -> bool:
    """``--output json`` arrived in mypy 1.11."""
    try:
        major, minor = (int(x) for x in version("mypy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (1, 11)


def _groups(paths: Sequence[Path]) -> list[list[Path]]:
    """Split only where two files share a module name, which mypy refuses in one run."""
    groups: list[list[Path]] = []
    for path in paths:
        for group in groups:
            if all(p.stem != path.stem for p in group):
                group.append(path)
                break
        else:
            groups.append([path])
    return groups


def _parse(stdout: str, as_json: bool) -> list[tuple[Path, Diagnostic]]:
    """(file, diagnostic) for every error line; notes are folded into the error above."""
    found: list[tuple[Path, Diagnostic]] = []
    for raw in stdout.splitlines():
        if as_json:
            try:
                item = json.loads(raw)
            except json.JSONDecodeError:
                continue
            fields = {
                "file": str(item.get("file", "")),
                "line": item.get("line") or 0,
                "col": (item.get("column") or 0) + 1,  # mypy's JSON column is 0-based
                "severity": item.get("severity", ""),
                "message": str(item.get("message", "")),
                "code": item.get("code") or "",
            }
        else:
            match = _TEXT_LINE.match(raw)
            if match is None:
                continue
            fields = {**match.groupdict()}
            fields["col"] = match["col"] or 0
        diagnostic = Diagnostic(
            TOOL, int(fields["line"]), int(fields["col"]), str(fields["code"] or "misc"),
            str(fields["message"]),
        )
        path = Path(str(fields["file"]))
        if fields["severity"] == "error":
            found.append((path, diagnostic))
        elif fields["severity"] == "note" and found and found[-1][0] == path:
            prev_path, prev = found[-1]
            found[-1] = (prev_path, Diagnostic(
                prev.tool, prev.line, prev.col, prev.code, f"{prev.message}\n{diagnostic.message}"
            ))
    return found


def _run_group(
    group: list[Path], cache_dir: Path, timeout_s: float, as_json: bool,
    extra: Sequence[str] = (),
) -> tuple[dict[Path, list[Diagnostic]], str]:
    """Diagnostics per resolved path, and an error message when mypy itself failed."""
    command = [
        sys.executable, "-m", "mypy", *FLAGS, *extra, "--cache-dir", str(cache_dir),
        *(["--output", "json"] if as_json else []), *[str(p) for p in group],
    ]
    cwd = os.path.commonpath([str(p.parent) for p in group])
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=cwd)
    found: dict[Path, list[Diagnostic]] = {p: [] for p in group}
    for path, diagnostic in _parse(proc.stdout, as_json):
        resolved = (Path(cwd) / path).resolve()
        if resolved in found:
            found[resolved].append(diagnostic)
    if proc.returncode not in (0, 1) and not any(found.values()):
        return found, f"mypy failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}"
    return found, ""


# For the originals (findings already there): Keras and TensorFlow are not analysed, which
# costs minutes; their names become Any, so fewer findings are excused, never more. Every
# other import (NumPy above all) is analysed as in the converted file: skipping it too made
# ``np.array(...)`` Any in the original only, and the user's own typing slip failed the
# conversion.
ORIGINAL_SKIPPED: tuple[str, ...] = ("keras", "tensorflow", "tf_keras")


def original_flags(cache_dir: Path | None = None) -> tuple[str, ...]:
    """Flags for the originals' run: a configuration file that skips only ORIGINAL_SKIPPED."""
    config = (cache_dir or default_cache_dir()) / "originals.ini"
    text = "[mypy]\n" + "".join(f"\n[mypy-{name}.*]\nfollow_imports = skip\n"
                                 for name in ORIGINAL_SKIPPED)
    try:
        config.parent.mkdir(parents=True, exist_ok=True)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
    except OSError:
        return ("--follow-imports=skip",)  # no cache directory: skip every import, as before
    return (f"--config-file={config}",)  # the last --config-file given wins


def run_mypy(
    paths: Sequence[Path], *, cache_dir: Path | None = None, timeout_s: float = TIMEOUT_S,
    extra_flags: Sequence[str] = (),
) -> dict[Path, CheckResult]:
    """One mypy run for the batch (more only for clashing module names); never raises."""
    started = time.perf_counter()
    if not paths:
        return {}
    cache = cache_dir or default_cache_dir()
    resolved = {p.resolve(): p for p in paths}
    found: dict[Path, list[Diagnostic]] = {}
    errors: dict[Path, str] = {}
    as_json = _supports_json()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for group in _groups(list(resolved)):
            group_found, error = _run_group(group, cache, timeout_s, as_json, extra_flags)
            found.update(group_found)
            errors.update({p: error for p in group if error})
    except (OSError, subprocess.TimeoutExpired) as exc:
        took = time.perf_counter() - started
        return {p: CheckResult(TOOL, "not_run", f"mypy could not run: {exc}", seconds=took)
                for p in paths}
    took = time.perf_counter() - started
    results: dict[Path, CheckResult] = {}
    for real, original in resolved.items():
        diagnostics = tuple(
            Diagnostic(d.tool, d.line, d.col, d.code, d.message, str(original))
            for d in found.get(real, [])
        )
        status: CheckStatus = "failed" if diagnostics else "passed"
        message = f"{len(diagnostics)} mypy error(s)" if diagnostics else ""
        if real in errors:
            status, message = "not_run", errors[real]
        results[original] = CheckResult(TOOL, status, message, diagnostics, took)
    return results
