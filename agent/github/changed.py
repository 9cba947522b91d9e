"""The Python files a pull request changed, so the bot converts only those on big repositories.

``BASE...HEAD`` (three dots) diffs against the merge base, i.e. what the PR itself changed,
not what happened on the base branch since. Deleted files are left out (nothing to convert);
a renamed file counts under its new name.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PYTHON_SUFFIXES = (".py", ".ipynb")
GIT_TIMEOUT_S = 120


class ChangedFilesError(Exception):
    """git could not say what changed; the message tells the user how to fix it."""


def changed_python_files(repo: Path, base_ref: str,
                         suffixes: tuple[str, ...] = PYTHON_SUFFIXES) -> list[Path]:
    """Files under ``repo`` added, copied, modified or renamed since ``base_ref``, sorted.

    Paths are ``repo / relative`` (``--relative`` keeps a subdirectory ``repo`` working and
    limits the answer to it). Raises :class:`ChangedFilesError` with a readable message.
    """
    if base_ref.startswith("-"):
        raise ChangedFilesError(f"base ref {base_ref!r} looks like an option, not a ref")
    cmd = ["git", "-C", str(repo), "diff", "--relative", "--name-only", "--diff-filter=ACMR",
           "-z", f"{base_ref}...HEAD", "--"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ChangedFilesError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ChangedFilesError(f"git diff took longer than {GIT_TIMEOUT_S}s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        hint = ""
        if "unknown revision" in err or "bad revision" in err or "no merge base" in err:
            hint = (f" Is {base_ref!r} fetched? In GitHub Actions check out with "
                    "`fetch-depth: 0` (a shallow clone has no merge base).")
        raise ChangedFilesError(f"git diff against {base_ref!r} failed: {err}.{hint}")
    names = [os.fsdecode(n) for n in proc.stdout.split(b"\0") if n]
    return sorted(repo / n for n in names if n.endswith(suffixes))
