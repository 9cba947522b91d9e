"""Where ``migrate`` may write: never over the sources, only into its own earlier output.

An output directory is recognised as ours by a marker file written before the first file
(so an interrupted run is recognised too) or, for outputs of older versions, by the
``report.json`` beside it. Both record the source they were made from.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.fsutil import write_atomic

MARKER = ".k2l-output.json"


class OutputRefused(Exception):
    """Writing to this output would risk the user's files; the message says why."""


def default_output(src: Path) -> Path:
    """``SRC-k2l`` beside SRC, from the resolved path: ``migrate .`` gives ``../name-k2l``."""
    src = src.resolve()
    return src.parent / f"{src.name}-k2l"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def recorded_source(out: Path) -> Path | None:
    """The source an earlier k2l-agent run wrote ``out`` from, or None when not ours."""
    for name in (MARKER, "report.json"):
        try:
            data = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("source"), str):
            return Path(data["source"]).resolve()
    return None


def check_output(src: Path, out: Path, force: bool) -> None:
    """Raise :class:`OutputRefused` unless writing the converted tree to ``out`` is safe."""
    try:
        _check_output(src, out, force)
    except OSError as exc:  # e.g. a name over the OS limit
        raise OutputRefused(f"cannot use --out {out}: {exc.strerror or exc}") from None


def check_report(src: Path, md: Path) -> None:
    """``--report`` must not overwrite a source file: inside SRC, an existing ``.md`` or
    ``.json`` at the report's paths must be an earlier k2l-agent report."""
    root = (src if src.is_dir() else src.parent).resolve()
    for path in (md, md.with_suffix(".json")):
        try:
            full = path.resolve()
            if not _inside(full, root) or not full.exists():
                continue
            head = full.read_bytes()[:200]
        except OSError as exc:
            raise OutputRefused(f"cannot use --report {path}: {exc.strerror or exc}") from None
        if b'"tool": "k2l-agent"' not in head and not head.startswith(b"# k2l-agent"):
            raise OutputRefused(f"--report would overwrite {path}, a file of the source that "
                                "is not an earlier k2l-agent report")


def _check_output(src: Path, out: Path, force: bool) -> None:
    root = (src if src.is_dir() else src.parent).resolve()
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out} exists and is not a directory")
    if not src.is_dir():  # one file: only its own directory would overwrite it
        if out == root:
            raise OutputRefused(f"--out {out} is the directory of {src.name}: that would "
                                "overwrite it (use --in-place to rewrite a git-tracked file)")
        _check_reuse(out, force)
        return
    if out == root:
        raise OutputRefused(f"--out {out} is the source directory: that would overwrite the "
                            "sources (use --in-place to rewrite git-tracked files)")
    if _inside(root, out):
        raise OutputRefused(f"the source {root} lies inside --out {out}: writing there could "
                            "overwrite the sources; choose an --out outside it")
    empty = not out.exists() or not any(out.iterdir())
    earlier = recorded_source(out) if out.exists() else None
    if _inside(out, root):
        if earlier in (root, src.resolve()) or (force and empty):
            return
        hint = " (or pass --force for a new, empty directory)" if empty else ""
        raise OutputRefused(f"--out {out} lies inside the source {root} and is not an earlier "
                            f"output of it; choose an --out outside the source{hint}")
    _check_reuse(out, force)


def _check_reuse(out: Path, force: bool) -> None:
    """An existing, non-empty --out must be an earlier k2l-agent output (or --force)."""
    if out.exists() and any(out.iterdir()) and recorded_source(out) is None and not force:
        raise OutputRefused(f"{out} exists and is not an earlier k2l-agent output; choose "
                            "another --out or pass --force")


def mark_output(src: Path, out: Path, complete: bool) -> None:
    """Record that ``out`` is the output of ``src`` (before the first write, and when done)."""
    root = (src if src.is_dir() else src.parent).resolve()
    data = {"tool": "k2l-agent", "source": str(root), "complete": complete}
    write_atomic(out / MARKER, (json.dumps(data, indent=2) + "\n").encode())
