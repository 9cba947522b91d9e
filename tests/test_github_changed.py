"""changed_python_files against a real temporary git repository built by the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.github.changed import ChangedFilesError, changed_python_files


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main has a.py, b.py, gone.py, old.py, notes.txt; branch `pr` changes them."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    git(r, "config", "commit.gpgsign", "false")
    for name in ("a.py", "b.py", "gone.py", "old.py", "notes.txt"):
        (r / name).write_text(f"# {name}\nx = 1\n")
    (r / "pkg").mkdir()
    (r / "pkg" / "mod.py").write_text("y = 2\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "base")
    git(r, "checkout", "-q", "-b", "pr")
    (r / "a.py").write_text("# a.py\nx = 2\n")  # modified
    (r / "new.py").write_text("z = 3\n")  # added
    (r / "pkg" / "mod.py").write_text("y = 3\n")  # modified, in a subdirectory
    (r / "notes.txt").write_text("changed\n")  # not Python
    git(r, "rm", "-q", "gone.py")  # deleted: nothing to convert
    git(r, "mv", "old.py", "renamed.py")  # renamed: counts under its new name
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "pr work")
    return r


def test_lists_added_modified_renamed_python_files_only(repo: Path) -> None:
    got = changed_python_files(repo, "main")
    assert got == [repo / "a.py", repo / "new.py", repo / "pkg" / "mod.py", repo / "renamed.py"]


def test_ignores_base_branch_changes_after_the_fork(repo: Path) -> None:
    """Three dots: b.py changed on main after the PR branched is not the PR's change."""
    git(repo, "checkout", "-q", "main")
    (repo / "b.py").write_text("changed on main\n")
    git(repo, "commit", "-q", "-am", "main moves on")
    git(repo, "checkout", "-q", "pr")
    assert repo / "b.py" not in changed_python_files(repo, "main")


def test_subdirectory_repo_gets_paths_under_it(repo: Path) -> None:
    assert changed_python_files(repo / "pkg", "main") == [repo / "pkg" / "mod.py"]


def test_no_changes_gives_empty_list(repo: Path) -> None:
    assert changed_python_files(repo, "pr") == []


def test_unknown_base_ref_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ChangedFilesError, match="fetch-depth: 0"):
        changed_python_files(repo, "origin/nope")


def test_not_a_git_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChangedFilesError, match="git diff against 'main' failed"):
        changed_python_files(tmp_path, "main")


def test_option_like_ref_is_refused(repo: Path) -> None:
    with pytest.raises(ChangedFilesError, match="looks like an option"):
        changed_python_files(repo, "--output=/tmp/x")
