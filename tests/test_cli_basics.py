"""What every CLI has: --version, an installable wheel, a progress bar only on a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import sysconfig
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "k2l-agent"
MODEL = "import keras\n\nmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"


def test_version_flag_prints_the_installed_version() -> None:
    proc = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"k2l-agent {version('k2l-agent')}"


@pytest.mark.slow
def test_wheel_carries_the_prompts_and_runs_in_a_clean_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = wheels.glob("k2l_agent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prompts = {n for n in names if n.startswith("agent/prompts/") and n.endswith(".md")}
    shipped = {f"agent/prompts/{p.name}" for p in (ROOT / "agent" / "prompts").glob("*.md")}
    assert shipped and shipped <= prompts, shipped - prompts
    assert "cli.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300, capture_output=True)
    # Third-party dependencies come from our environment's site-packages, appended after the
    # clean venv's own (a path in a .pth file: its own .pth files, our editable install
    # among them, are not processed), so `agent` can only be imported from the wheel.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(py), "-c", "import agent.prompts, importlib.resources as r;"
         "print(agent.prompts.__file__);"
         "print(len(r.files('agent.prompts').joinpath('system.md').read_text()))"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env).stdout.split()
    assert where[0].startswith(str(venv)), where
    assert int(where[1]) > 0
    helped = subprocess.run([str(venv / "bin" / "k2l-agent"), "--help"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=120)
    assert helped.returncode == 0, helped.stderr
    assert "migrate" in helped.stdout


def _run_on_pty(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, bytes]:
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(argv[0], argv, env)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif os.waitpid(pid, os.WNOHANG)[0]:
            break
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    src = tmp_path / "proj"
    src.mkdir()
    for k in range(3):
        (src / f"m{k}.py").write_text(MODEL)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TERM"] = "xterm"
    argv = [str(CLI), "migrate", str(src), "--out", str(tmp_path / "tty"), "--no-validate"]
    code, screen = _run_on_pty(argv, env, timeout=120)
    assert code in (0, 1), screen[-2000:]
    # rich's live display hides the cursor and redraws a "converting" bar in place
    assert b"\x1b[?25l" in screen and b"converting" in screen, screen[-2000:]

    piped = subprocess.run([*argv[:4], str(tmp_path / "pipe"), "--no-validate"], env=env,
                           capture_output=True, timeout=120)
    assert piped.returncode in (0, 1)
    assert b"converting" not in piped.stderr and b"\x1b[?25l" not in piped.stderr
