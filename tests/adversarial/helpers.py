"""Shared by the adversarial tests: which sandboxes to try, and processes left behind."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from agent.sandbox import bwrap_status

PROGRAMS = Path(__file__).parent / "programs"
SECRETS = {  # set in the parent's environment; none may reach executed code
    "OPENAI_API_KEY": "sk-k2l-test-openai-0001",
    "GITHUB_TOKEN": "ghp_k2ltesttoken0002",
    "AWS_SECRET_ACCESS_KEY": "aws-k2l-test-0003",
    "AWS_ACCESS_KEY_ID": "AKIAK2LTEST0004",
    "K2L_API_KEY": "k2l-prefixed-but-secret-0005",
    "HF_TOKEN": "hf_k2ltest0006",
}


def bwrap_param() -> object:
    """"bwrap", skipped only where bubblewrap truly cannot run (the reason is shown); a missing
    bwrap fails on CI, where .ci/run installs it."""
    usable, why = bwrap_status()
    if usable:
        return "bwrap"
    if "not found" in why and os.environ.get("CI"):
        return "bwrap"  # runs and fails: CI must install bubblewrap (.ci/run does)
    return pytest.param("bwrap", marks=pytest.mark.skip(reason=f"bubblewrap unusable: {why}"))


KINDS = [bwrap_param(), "none"]


def unique_token() -> str:
    """A sleep duration no other process on the machine uses: our children's fingerprint."""
    return f"{random.randint(700, 899)}.{random.randint(10**8, 10**9 - 1)}"


def alive_with(token: str) -> list[int]:
    """PIDs of live (not zombie) processes whose command line holds ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if token.encode() in argv and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def wait_gone(token: str, timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := alive_with(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
