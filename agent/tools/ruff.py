"""ruff over a batch of converted files, with a fixed rule set.

The rules are the error classes a conversion can introduce (see docs/validation.md):
``F`` (pyflakes: undefined names, unused imports, redefinitions, ...) and ``E9`` (syntax and
I/O errors). ``--isolated`` makes ruff ignore every configuration file, so the user's
``pyproject.toml`` neither adds style rules nor silences these.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from agent.records import CheckResult, CheckStatus, Diagnostic

TOOL = "ruff"
RULES: tuple[str, ...] = ("F", "E9")
TIMEOUT_S = 120.0


def ruff_command() -> list[str] | None:
    """How to call ruff: the one installed next to this interpreter, else the one on PATH."""
    if find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    return [found] if found else None


def _diagnostic(item: dict[str, Any], path: Path) -> Diagnostic:
    location = item.get("location") or {}
    return Diagnostic(
        tool=TOOL,
        line=int(location.get("row") or 0),
        col=int(location.get("column") or 0),
        code=str(item.get("code") or "syntax"),  # ruff reports syntax errors with code null
        message=str(item.get("message", "")),
        file=str(path),
    )


def run_ruff(
    paths: Sequence[Path], *, timeout_s: float = TIMEOUT_S
) -> dict[Path, CheckResult]:
    """One ``ruff check`` call for all paths; every path gets a result, never raises."""
    started = time.perf_counter()
    if not paths:
        return {}
    resolved = {p.resolve(): p for p in paths}

    def same_for_all(status: CheckStatus, message: str) -> dict[Path, CheckResult]:
        took = time.perf_counter() - started
        return {p: CheckResult(TOOL, status, message, seconds=took) for p in paths}

    command = ruff_command()
    if command is None:
        return same_for_all("not_run", "ruff is not installed")
    args = [
        *command, "check", "--isolated", "--no-cache", "--output-format", "json",
        "--select", ",".join(RULES), *[str(p) for p in resolved],
    ]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return same_for_all("not_run", f"ruff could not run: {exc}")
    try:
        items = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout)[-500:]
        return same_for_all("not_run", f"ruff failed (exit {proc.returncode}): {tail}")
    found: dict[Path, list[Diagnostic]] = {p: [] for p in paths}
    for item in items:
        original = resolved.get(Path(str(item.get("filename", ""))).resolve())
        if original is not None:
            found[original].append(_diagnostic(item, original))
    took = time.perf_counter() - started
    results: dict[Path, CheckResult] = {}
    for path, diagnostics in found.items():
        if diagnostics:
            message = f"{len(diagnostics)} ruff finding(s): " + ", ".join(
                sorted({d.code for d in diagnostics})
            )
            results[path] = CheckResult(TOOL, "failed", message, tuple(diagnostics), took)
        else:
            results[path] = CheckResult(TOOL, "passed", "", (), took)
    return results

