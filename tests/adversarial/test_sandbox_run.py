"""agent/sandbox.py on its own: probe programs report what they could see and do.

Every run is bounded by its own timeout_s (the sandbox kills the job at it)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from agent.sandbox import Limits, Sandbox, resolve

from .helpers import KINDS, PROGRAMS, SECRETS, unique_token, wait_gone


def _python(program: str, *args: str) -> list[str]:
    return [sys.executable, str(PROGRAMS / program), *args]


@pytest.mark.parametrize("kind", KINDS)
def test_probe_sees_no_secret_and_in_bwrap_cannot_escape(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    home.mkdir()
    secret_file = home / "credentials"
    secret_file.write_text("top secret")
    sources = tmp_path / "sources"  # readable to the job, like the repository it checks
    sources.mkdir()
    outside = sources / "outside.txt"
    tmp_file = Path("/tmp") / f"k2l-probe-{unique_token()}"
    scratch = tmp_path / "scratch"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result = resolve(kind).run(
            _python("probe.py", str(outside), str(secret_file), str(server.getsockname()[1]),
                    str(tmp_file)),
            timeout_s=60, workdir=scratch, read_paths=[PROGRAMS, sources])
    assert result.returncode == 0, result.stderr
    seen_text = (scratch / "seen.json").read_text()
    for value in SECRETS.values():
        assert value not in seen_text
    seen = json.loads(seen_text)
    assert seen["home"] == str(scratch.resolve()) and seen["cwd"] == str(scratch.resolve())
    assert not set(seen["env"]) & set(SECRETS)
    if kind == "bwrap":
        assert seen["write_outside"].startswith("refused") and not outside.exists()
        assert seen["read_secret"].startswith("refused"), seen["read_secret"]
        assert seen["connect"].startswith("refused"), seen["connect"]
        assert seen["write_tmp"] == "ok" and not tmp_file.exists()  # its /tmp is private
    else:  # limits only: the report says so; files and network are not contained
        tmp_file.unlink(missing_ok=True)


@pytest.mark.parametrize("kind", KINDS)
def test_20_gb_allocation_hits_the_memory_limit(kind: str) -> None:
    result = resolve(kind).run(_python("allocate.py"), timeout_s=60)
    assert result.returncode != 0 and result.limit == "memory", result
    assert result.why == "memory limit exceeded"
    assert "MemoryError" in result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_cpu_time_limit_stops_a_busy_loop(kind: str) -> None:
    sandbox = Sandbox(resolve(kind).kind, Limits(cpu_s=2))
    result = sandbox.run(_python("spin.py"), timeout_s=60)
    assert result.limit == "time" and result.why == "time limit exceeded", result
    assert result.seconds < 30


@pytest.mark.parametrize("kind", KINDS)
def test_wall_time_limit_stops_a_sleeper(kind: str) -> None:
    result = resolve(kind).run(_python("nap.py"), timeout_s=2)
    assert result.limit == "time" and result.seconds < 20, result


@pytest.mark.parametrize("kind", KINDS)
def test_no_process_survives_the_job(kind: str) -> None:
    token = unique_token()
    result = resolve(kind).run(_python("fork_sleeper.py", token), timeout_s=30)
    assert result.returncode == 0 and "parent done" in result.stdout, result
    assert wait_gone(token) == []


def test_bwrap_mode_is_refused_where_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import sandbox

    monkeypatch.setattr(sandbox, "bwrap_status", lambda: (False, "bwrap not found on PATH"))
    with pytest.raises(sandbox.SandboxError, match="bwrap not found"):
        sandbox.resolve("bwrap")
    fallback = sandbox.resolve("auto")
    assert fallback.kind == "none" and "bwrap not found" in fallback.describe()
    with pytest.raises(sandbox.SandboxError, match="must be one of"):
        sandbox.resolve("docker")
