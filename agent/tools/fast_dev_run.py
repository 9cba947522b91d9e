"""Parent side of the fast_dev_run check: starts the warm worker and talks to it.

The worker (``agent/tools/worker.py``) is started lazily on the first file, reused for every
later file, and restarted after it crashes or is killed for a hang. Start-up (importing torch
and Lightning) is paid once; see ``eval/bench_validate.py`` for the cold and warm figures.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from agent import sandbox as sandboxes
from agent.records import CheckResult, CheckStatus, Diagnostic

TOOL = "fast_dev_run"
# Room on top of the time limit for the worker's own SIGALRM to answer before we kill it.
KILL_GRACE_S = 10.0
STARTUP_TIMEOUT_S = 180.0
STDERR_TAIL_CHARS = 2000
_STATUSES: dict[str, CheckStatus] = {"passed": "passed", "failed": "failed", "not_run": "not_run"}


class WorkerError(Exception):
    """The worker died, hung past the grace period, or could not start."""


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


class Worker:
    """One warm validation process; not thread-safe (one request at a time)."""

    def __init__(
        self,
        *,
        python: str = sys.executable,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        kill_grace_s: float = KILL_GRACE_S,
        sandbox: sandboxes.Sandbox | None = None,
    ) -> None:
        self.python = python
        self.startup_timeout_s = startup_timeout_s
        self.kill_grace_s = kill_grace_s
        self.sandbox = sandbox or sandboxes.default()
        self.starts = 0
        self._job: sandboxes.Job | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[bytes] | None = None
        self._readable: set[str] = set()  # directories the sandboxed worker may read
        self._next_id = 0
        self._ready = False
        self._cpu_s = 0.0

    # -- life cycle

    @property
    def _proc(self) -> subprocess.Popen[Any] | None:
        return None if self._job is None else self._job.proc

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def allow(self, directories: Iterable[Path]) -> None:
        """Make ``directories`` readable to the worker; a running bwrap worker that cannot see
        one is stopped and restarts (lazily) with it mounted. Give the common root of many
        files at once (``validate_files`` does) so the worker stays warm across them."""
        wanted = {os.path.realpath(d) for d in directories}
        new = {d for d in wanted if not any(d == r or d.startswith(r + os.sep)
                                            for r in self._readable)}
        if not new:
            return
        self._readable |= new
        if self.sandbox.kind == "bwrap" and self.alive:
            self._kill()

    def spawn(self) -> None:
        """Launch the process without waiting, so its imports overlap ruff and mypy."""
        if self.alive:
            return
        self._discard()
        self._ready = False
        self._cpu_s = 0.0
        self._stderr = tempfile.TemporaryFile()
        env = {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self._job = self.sandbox.start(
            [self.python, "-m", "agent.tools.worker"],
            read_paths=sorted(self._readable),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.starts += 1
        self._lines = queue.Queue()
        assert self._job.proc.stdout is not None
        threading.Thread(
            target=_pump, args=(self._job.proc.stdout, self._lines), daemon=True
        ).start()

    def start(self) -> None:
        """Start the process (if needed) and wait for its ready line."""
        if self.alive and self._ready:
            return
        self.spawn()
        try:
            ready = self._read(self.startup_timeout_s, want_id=None)
        except WorkerError:
            self._kill()
            raise
        if not ready.get("ready"):
            self._kill()
            raise WorkerError(f"worker did not start: {ready}")
        self._ready = True

    def close(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        if self.alive:
            try:
                self._send({"op": "shutdown"})
                assert self._proc is not None
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()
        self._discard()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._kill()

    def _kill(self) -> None:
        """End the worker and every process it started (see agent/sandbox.py)."""
        if self._job is not None:
            self._job.kill()
        self._job = None
        self._ready = False

    def _discard(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_tail(self) -> str:
        """The end of the worker's stderr, for messages about crashes."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL_CHARS))
        return self._stderr.read().decode("utf-8", "replace")

    # -- protocol

    def _send(self, obj: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(obj) + "\n")
        self._proc.stdin.flush()

    def _read(self, timeout_s: float, want_id: int | None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"no answer within {timeout_s:g} s")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self._proc.wait() if self._proc is not None else None
                raise WorkerError(f"worker exited (code {code}): {self.stderr_tail()[-500:]}")
            try:
                reply: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                continue  # not ours; the protocol stream is private, but be tolerant
            if want_id is None or reply.get("id") == want_id:
                return reply

    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its answer; kills the worker on a hang."""
        self.start()
        self._next_id += 1
        rid = self._next_id
        try:
            self._send({**payload, "id": rid})
            return self._read(timeout_s, want_id=rid)
        except (WorkerError, OSError) as exc:
            self._kill()  # restarted lazily by the next request
            raise WorkerError(str(exc)) from exc

    def ping(self, timeout_s: float = 30.0) -> bool:
        return bool(self.request({"op": "ping"}, timeout_s).get("ok"))

    # -- the check

    def validate(
        self, path: Path, *, time_limit_s: float = 60.0, memory_limit_mb: int = 4096
    ) -> CheckResult:
        """Run the fast_dev_run check on one file; never raises."""
        started = time.perf_counter()
        shown = str(path)
        self.allow([path.parent])
        try:
            self.start()
        except (WorkerError, OSError) as exc:
            return CheckResult(TOOL, "not_run", f"validation worker could not start: {exc}",
                               seconds=time.perf_counter() - started)
        payload = {
            "op": "validate",
            "path": str(path.resolve()),
            "time_limit_s": time_limit_s,
            "memory_limit_mb": memory_limit_mb,
        }
        try:
            reply = self.request(payload, time_limit_s + self.kill_grace_s)
        except WorkerError as exc:
            hung = "no answer" in str(exc) or f"code -{signal.SIGXCPU})" in str(exc)
            memory = not hung and sandboxes.memory_hit(str(exc))
            code = "timeout" if hung else "memory" if memory else "worker-crash"
            message = (
                f"time limit of {time_limit_s:g} s exceeded; the worker was killed"
                if hung
                else f"memory limit exceeded; the worker died: {exc}"
                if memory
                else f"the validation worker crashed: {exc}"
            )
            diagnostic = Diagnostic(TOOL, 0, 0, code, message, shown)
            return CheckResult(TOOL, "failed", message, (diagnostic,),
                               time.perf_counter() - started)
        # a warm worker's CPU time adds up; restart it well before RLIMIT_CPU ends it
        if float(reply.get("cpu_s", 0.0)) > self.sandbox.limits.cpu_s / 2 > 0:
            self._kill()
        if "error" in reply:
            return CheckResult(TOOL, "not_run", f"worker error: {reply['error']}",
                               seconds=time.perf_counter() - started)
        diagnostics = tuple(
            Diagnostic(TOOL, int(d.get("line", 0)), int(d.get("col", 0)), str(d.get("code", "")),
                       str(d.get("message", "")), shown)
            for d in reply.get("diagnostics", [])
        )
        status: CheckStatus = _STATUSES.get(str(reply.get("status")), "not_run")
        return CheckResult(TOOL, status, str(reply.get("message", "")), diagnostics,
                           time.perf_counter() - started)


def run_fast_dev_run(
    path: Path,
    *,
    worker: Worker | None = None,
    time_limit_s: float = 60.0,
    memory_limit_mb: int = 4096,
    sandbox: sandboxes.Sandbox | None = None,
) -> CheckResult:
    """One file through a worker; a private worker is started and closed when none is given."""
    if worker is not None:
        return worker.validate(path, time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb)
    with Worker(sandbox=sandbox) as own:
        return own.validate(path, time_limit_s=time_limit_s, memory_limit_mb=memory_limit_mb)
