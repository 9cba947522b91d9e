"""``--in-place`` only rewrites what git can give back: tracked, unmodified files."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60,
                             check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "surrogateescape")


def in_work_tree(path: Path) -> bool:
    return (_git(["rev-parse", "--is-inside-work-tree"], path) or "").strip() == "true"


def work_tree_clean(path: Path) -> bool:
    out = _git(["status", "--porcelain", "--", "."], path)
    return out is not None and out.strip() == ""


def not_restorable(root: Path, rels: Sequence[str]) -> list[str]:
    """Those of ``rels`` (relative to ``root``) that git could not restore if rewritten:
    not in the last commit (untracked, git-ignored) or different from it. Contents are
    compared, so index flags such as ``--assume-unchanged`` cannot hide an edit."""
    if not rels:
        return []
    tree = _git(["--literal-pathspecs", "ls-tree", "-r", "-z", "HEAD", "--", *rels], root)
    hashes = _git(["hash-object", "--", *rels], root)
    if tree is None or hashes is None:
        return list(rels)
    committed = {}
    for entry in tree.split("\0"):
        meta, _, path = entry.partition("\t")
        if path:
            committed[path] = meta.split()[-1]
    now = dict(zip(rels, hashes.split(), strict=False))
    return [r for r in rels if committed.get(r) is None or committed[r] != now.get(r)]
