"""Plain frozen records passed between the pipeline's stages.

Every stage takes and returns these; none reaches back into an earlier stage. They are
serialised as-is into ``report.json`` (see the README's schema), so field names are API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FileStatus = Literal["converted", "partial", "failed", "skipped", "unchanged"]
CheckStatus = Literal["passed", "failed", "not_run"]


@dataclass(frozen=True)
class Change:
    """One rewrite the rules made: where, by which rule, and what."""

    line: int
    rule: str
    message: str
    cell: int | None = None  # notebooks: the code cell ``line`` counts in


@dataclass(frozen=True)
class Warning_:
    """Something the user must know although the code converted (semantics, cost, Lazy*)."""

    line: int
    message: str
    cell: int | None = None  # notebooks: the code cell ``line`` counts in


@dataclass(frozen=True)
class Unmapped:
    """A construct the rules could not map; the LLM stage and the report consume these.

    ``qualname`` is the class or function that holds it (``MyLayer``, ``MyModel.train_step``)
    so the LLM stage can splice a replacement in by name.
    """

    file: str
    line: int
    keras_name: str
    reason: str
    qualname: str = ""
    snippet: str = ""
    cell: int | None = None  # notebooks: the code cell ``line`` counts in


@dataclass(frozen=True)
class KerasDependency:
    """A Keras/TensorFlow use left in the output on purpose (e.g. ``keras.datasets``)."""

    line: int
    name: str
    why: str
    cell: int | None = None  # notebooks: the code cell ``line`` counts in


@dataclass(frozen=True)
class Diagnostic:
    """One finding of a check, in the shape every tool wrapper returns."""

    tool: str
    line: int
    col: int
    code: str
    message: str
    file: str = ""
    cell: int | None = None  # notebooks: the code cell ``line`` counts in


@dataclass(frozen=True)
class CheckResult:
    name: str  # "parse" | "ruff" | "mypy" | "fast_dev_run" | "equivalence"
    status: CheckStatus
    message: str = ""
    diagnostics: tuple[Diagnostic, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class LLMStats:
    calls: int = 0
    tokens: int = 0
    retries: int = 0
    cache_hits: int = 0


@dataclass(frozen=True)
class FileResult:
    path: str  # relative to the source root, POSIX separators
    status: FileStatus
    reason: str = ""  # one line, for skipped/failed files
    changes: tuple[Change, ...] = ()
    warnings: tuple[Warning_, ...] = ()
    unmapped: tuple[Unmapped, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    keras_deps_left: tuple[KerasDependency, ...] = ()
    llm: LLMStats = field(default_factory=LLMStats)
    diff: str = ""

    @property
    def needs_attention(self) -> bool:
        if self.status in ("partial", "failed"):
            return True
        return any(c.status == "failed" for c in self.checks)


@dataclass(frozen=True)
class Report:
    source: str
    output: str
    files: tuple[FileResult, ...]
    llm_enabled: bool = False
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, int]:
        counts = {s: 0 for s in ("converted", "partial", "failed", "skipped", "unchanged")}
        for f in self.files:
            counts[f.status] += 1
        counts["files"] = len(self.files)
        counts["need_attention"] = sum(1 for f in self.files if f.needs_attention)
        return counts


SCHEMA_VERSION = 1


def report_to_json(report: Report) -> dict[str, Any]:
    """The ``report.json`` document (schema documented in the README)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "k2l-agent",
        "source": report.source,
        "output": report.output,
        "llm_enabled": report.llm_enabled,
        "notes": list(report.notes),
        "summary": report.summary(),
        "files": [_plain(asdict(f)) | {"needs_attention": f.needs_attention}
                  for f in report.files],
    }


def _plain(value: Any) -> Any:
    """Tuples become lists, so the dict equals what ``json.loads`` gives back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
