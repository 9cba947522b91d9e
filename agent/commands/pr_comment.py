"""``k2l-agent pr-comment``: render a report and post it as the PR's one k2l-agent comment.

A plain function (the CLI wires it) that returns an exit code and never raises for bad
input, missing settings or GitHub errors: 0 done, 1 GitHub refused or failed, 2 the input
or settings are wrong. In GitHub Actions the repository, PR and head commit come from the
environment, so the workflow step needs no arguments but the report.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from agent.github.client import DEFAULT_API_URL, GitHubClient, GitHubError
from agent.github.render import LinkTarget, render_comment
from agent.github.suggest import Suggestion, plan_suggestions

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


class InputError(Exception):
    """The report or the settings are unusable; the message says which and why."""


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"report not found: {path} (run `k2l-agent migrate` first)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("tool") != "k2l-agent" or \
            not isinstance(data.get("files"), list):
        raise InputError(f"{path} is not a k2l-agent report.json")
    return data


def _event(env: Mapping[str, str]) -> dict[str, Any]:
    """The Actions event payload, or {} outside Actions or when it cannot be read."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _event_pull(env: Mapping[str, str]) -> dict[str, Any]:
    pull = _event(env).get("pull_request")
    return pull if isinstance(pull, dict) else {}


def pr_from_env(env: Mapping[str, str]) -> int | None:
    number = _event_pull(env).get("number")
    if isinstance(number, int):
        return number
    m = re.match(r"^refs/pull/(\d+)/", env.get("GITHUB_REF", ""))
    return int(m.group(1)) if m else None


def head_sha_from_env(env: Mapping[str, str]) -> str | None:
    """The PR head: the event's head.sha; GITHUB_SHA only as a last resort (a merge commit)."""
    head = _event_pull(env).get("head")
    sha = head.get("sha") if isinstance(head, dict) else None
    return str(sha) if sha else env.get("GITHUB_SHA") or None


def full_report_location(report_path: Path, env: Mapping[str, str]) -> str:
    """The Actions run page (its artifacts hold the report) or else the report's path."""
    server, repo, run = (env.get(k) for k in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return str(report_path)


def pr_comment(
    report_path: Path,
    repo: str | None,
    pr: int | None,
    dry_run: bool,
    suggest: bool,
    *,
    head_sha: str | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Post (or on ``dry_run`` print) the report comment; returns the exit code."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        report = load_report(report_path)
        repo = repo or env.get("GITHUB_REPOSITORY") or None
        pr = pr if pr is not None else pr_from_env(env)
        if repo is not None and not _REPO.match(repo):
            raise InputError(f"--repo must look like OWNER/NAME, not {repo!r}")
        if head_sha is not None and not _SHA.match(head_sha):
            raise InputError(f"--head-sha must be a commit SHA, not {head_sha!r}")
        if pr is not None and pr < 1:
            raise InputError(f"--pr must be a positive number, not {pr}")
        links = LinkTarget(repo, None, env.get("GITHUB_SERVER_URL") or "https://github.com")
        full = full_report_location(report_path, env)
        if dry_run:
            sha = head_sha or head_sha_from_env(env)
            body = render_comment(report, links=LinkTarget(repo, sha, links.server_url),
                                  full_report=full)
            out.write(body)
            if suggest:
                err.write("--suggest: suggestions are only planned against a live PR; "
                          "nothing posted on a dry run\n")
            return 0
        if not repo or pr is None:
            raise InputError("posting needs --repo OWNER/NAME and --pr N (both are read from "
                             "the environment inside a pull_request workflow); or use --dry-run")
        token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
        if not token:
            raise InputError("GITHUB_TOKEN is not set: posting needs a token that can write "
                             "pull-request comments")
    except InputError as e:
        err.write(f"error: {e}\n")
        return 2
    client = GitHubClient(token, env.get("GITHUB_API_URL") or DEFAULT_API_URL, sleep=sleep)
    try:
        pull = client.get_pull(repo, pr)
        head = pull.get("head")
        sha = head_sha or (str(head["sha"]) if isinstance(head, dict) and head.get("sha")
                           else None)
        body = render_comment(report, links=LinkTarget(repo, sha, links.server_url),
                              full_report=full)
        action, url = client.upsert_comment(repo, pr, body)
        err.write(f"{action} the k2l-agent comment on {repo}#{pr}: {url}\n")
        if suggest and sha:
            posted = post_suggestions(client, report, repo, pr, sha)
            err.write(f"posted {posted} suggestion(s)\n")
    except GitHubError as e:
        err.write(f"error: {e}\n")
        return 1
    return 0


def post_suggestions(client: GitHubClient, report: Mapping[str, Any], repo: str, pr: int,
                     sha: str) -> int:
    """One review holding every new suggestion; returns how many were posted."""
    plan: list[Suggestion] = plan_suggestions(
        report, client.pull_files(repo, pr), client.review_comments(repo, pr))
    if plan:
        client.create_review(
            repo, pr, sha,
            "k2l-agent suggests these conversions (files that converted with no failed check).",
            [s.review_comment() for s in plan])
    return len(plan)
