"""The one place that starts processes running user or LLM code.

Validation executes code from the repository being migrated (class bodies, decorators,
default arguments, builder functions) and code an LLM wrote. Every such process is started
here, so that it gets, whatever the caller:

* **bubblewrap** (``bwrap``) when usable: the system, the Python installation and the paths
  the job must read are mounted read-only, ``/tmp`` is a private tmpfs, the job's scratch
  directory (also ``HOME`` and the working directory) is the only other writable place, and
  the network, PIDs, IPC and host name are private. ``--die-with-parent`` and the PID
  namespace take every process of the job down with it.
* **resource limits** in every mode (``preexec_fn``): address space, CPU time, processes,
  file size, no core files; a new session whose process group is killed at the end, plus a
  sweep for processes that carry the job's marker variable (a child that left the group).
* **an allow-listed environment**: ``PATH``, locale, ``HOME`` = scratch, Python and Keras
  settings and ``K2L_*``; nothing that looks like a credential, ever.

One function for one-shot programs: :func:`run` (``run([python, "-m", "pkg.job"], input=...,
timeout_s=60, read_paths=[dir])`` → :class:`Result` with ``limit`` = ``"memory"``/``"time"``
when a limit ended it). Long-lived processes (the warm worker) use :meth:`Sandbox.start`.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

Kind = Literal["bwrap", "none"]
MODES: tuple[str, ...] = ("auto", "bwrap", "none")
MARKER = "K2L_SANDBOX_JOB"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the directory that holds ``agent/``

# Environment variables passed through (exact names, then prefixes); HOME/TMPDIR are set.
_ENV_NAMES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED",
                        "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING",
                        "KERAS_BACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES"})
_ENV_PREFIXES = ("LC_", "K2L_")
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")

# Read-only system paths inside bwrap; a top-level symlink (merged /usr) stays a symlink.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
_MASKED = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")  # readable by root otherwise
_BWRAP_FLAGS = ("--die-with-parent", "--new-session", "--unshare-net", "--unshare-ipc",
                "--unshare-pid", "--unshare-uts", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp")
_MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "Cannot allocate memory",
                 "std::bad_alloc", "out of memory")


class SandboxError(Exception):
    """``--sandbox bwrap`` was asked for and bubblewrap cannot run here (usage error)."""


@dataclass(frozen=True)
class Limits:
    """Per-process ceilings; the warm worker also limits each file (see worker.py)."""

    memory_mb: int = 12_288  # RLIMIT_AS: torch + Lightning + Keras map ~3 GB before any model
    cpu_s: int = 1800  # RLIMIT_CPU of the whole process (a warm worker serves many files)
    processes: int = 512  # RLIMIT_NPROC headroom over the user's current tasks (threads count)
    file_mb: int = 1024  # RLIMIT_FSIZE: the largest file the job may write


@dataclass(frozen=True)
class Result:
    """How a one-shot job ended. ``limit`` is "memory", "time" or "" (none hit)."""

    returncode: int
    stdout: str
    stderr: str
    limit: str
    seconds: float

    @property
    def why(self) -> str:
        """One line for a report: the limit hit, else the exit status and stderr's last line."""
        if self.limit == "memory":
            return "memory limit exceeded"
        if self.limit == "time":
            return "time limit exceeded"
        tail = self.stderr.strip().splitlines()[-1:] or [""]
        return f"exit status {self.returncode}: {tail[0][:300]}".rstrip(": ")


def memory_hit(text: str) -> bool:
    """Does an error text say an allocation failed (RLIMIT_AS, torch's allocator)?"""
    return any(sign in text for sign in _MEMORY_SIGNS)


def clean_env(extra: Mapping[str, str] | None = None, *, home: str,
              environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment: nothing else from ``environ`` reaches executed code."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items()
           if (k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)) and not _secret(k)}
    env.setdefault("PATH", os.defpath)
    env.update({k: v for k, v in (extra or {}).items() if not _secret(k)})
    env["HOME"] = home
    return env


def _secret(name: str) -> bool:
    upper = name.upper()
    return upper not in _ENV_NAMES and any(word in upper for word in _SECRET_WORDS)


def python_path(*roots: str | Path) -> str:
    """``PYTHONPATH`` with the package root first, so ``python -m agent.tools...`` works."""
    parts = [str(PACKAGE_ROOT), *(str(r) for r in roots), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(dict.fromkeys(p for p in parts if p))


# ---------------------------------------------------------------- limits and killing


def _user_tasks() -> int:
    """Tasks (threads included: RLIMIT_NPROC counts them) of this user right now."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return count


def _preexec(limits: Limits, nproc: int) -> Any:
    mib = 1024 * 1024
    table = [(resource.RLIMIT_AS, limits.memory_mb * mib), (resource.RLIMIT_CPU, limits.cpu_s),
             (resource.RLIMIT_FSIZE, limits.file_mb * mib), (resource.RLIMIT_CORE, 0),
             (resource.RLIMIT_NPROC, nproc)]

    def apply() -> None:  # runs in the child between fork and exec: setrlimit only
        for which, value in table:
            if value <= 0:
                continue
            _, hard = resource.getrlimit(which)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            soft = cap
            if which == resource.RLIMIT_CPU and hard == resource.RLIM_INFINITY:
                cap += 10  # SIGXCPU at the soft limit (reported), SIGKILL 10 s later
            resource.setrlimit(which, (soft, cap))

    return apply


def _kill_marked(marker: str) -> int:
    """SIGKILL every process whose environment carries ``marker`` (left its group or not)."""
    needle = f"{MARKER}={marker}".encode()
    killed = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
        except (OSError, ValueError):
            continue
    return killed


# ---------------------------------------------------------------- bubblewrap


def _bind_args(read_paths: Iterable[str | Path], scratch: str) -> list[str]:
    args: list[str] = list(_BWRAP_FLAGS)
    for top in _SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for masked in _MASKED:
        if os.path.exists(masked):
            args += ["--ro-bind", "/dev/null", masked]
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(PACKAGE_ROOT),
              os.path.dirname(os.path.realpath(sys.executable)),
              *(p for p in sys.path[1:] if p and os.path.isdir(p))}  # [0]: the caller's dir
    tmp = os.path.realpath(tempfile.gettempdir())
    for path in sorted({os.path.realpath(p) for p in [*python, *map(str, read_paths)]}):
        # "/" or the temp dir itself would undo the read-only root or the private /tmp
        if path not in ("/", "/tmp", tmp) and os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--bind", scratch, scratch, "--chdir", scratch]
    return args


@lru_cache(maxsize=1)
def bwrap_status() -> tuple[bool, str]:
    """Can bubblewrap run a job here? Probed once per process, with the real flag set."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bwrap not found on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
    scratch = tempfile.mkdtemp(prefix="k2l-probe-")
    try:
        proc = subprocess.run([exe, *_bind_args((), scratch), "--", sys.executable, "-c", ""],
                              capture_output=True, text=True, timeout=30,
                              env=clean_env(home=scratch))
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap does not start: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return False, f"bwrap cannot create its namespaces here: {last}"
    return True, f"bubblewrap ({exe})"


# ---------------------------------------------------------------- jobs


@dataclass
class Job:
    """A started sandboxed process; :meth:`kill` ends it and everything it started."""

    proc: subprocess.Popen[Any]
    scratch: str
    marker: str
    own_scratch: bool
    started: float = field(default_factory=time.monotonic)

    def kill(self) -> None:
        """SIGKILL the process group and any marked stragglers, reap, remove scratch."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        _kill_marked(self.marker)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL ignored: kernel bug
            pass
        if self.own_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass(frozen=True)
class Sandbox:
    """A resolved sandbox: ``kind`` "bwrap" (namespaces + limits) or "none" (limits only)."""

    kind: Kind
    limits: Limits = Limits()
    reason: str = ""  # why bwrap is not used (auto fell back), for the report

    def describe(self) -> str:
        limits = (f"address space {self.limits.memory_mb} MB, CPU {self.limits.cpu_s} s, "
                  f"file size {self.limits.file_mb} MB, clean environment")
        if self.kind == "bwrap":
            return (f"sandbox: bubblewrap (read-only system, private /tmp and scratch, "
                    f"no network) + limits ({limits})")
        why = f"; {self.reason}" if self.reason else ""
        return f"sandbox: none, resource limits only ({limits}){why}"

    def start(self, argv: Sequence[str], *, read_paths: Iterable[str | Path] = (),
              workdir: Path | None = None, env: Mapping[str, str] | None = None,
              stdin: int | IO[Any] | None = None, stdout: int | IO[Any] | None = None,
              stderr: int | IO[Any] | None = None, text: bool = False) -> Job:
        """Start ``argv`` in the sandbox. ``workdir`` (made if missing, kept) is the scratch
        directory, else a temporary one removed by :meth:`Job.kill`."""
        own = workdir is None
        scratch = tempfile.mkdtemp(prefix="k2l-job-") if workdir is None else str(workdir)
        os.makedirs(scratch, exist_ok=True)
        scratch = os.path.realpath(scratch)
        marker = uuid.uuid4().hex
        extra = {"PYTHONPATH": python_path(), "TMPDIR": "/tmp" if self.kind == "bwrap"
                 else scratch, "PYTHONDONTWRITEBYTECODE": "1", **(env or {}), MARKER: marker}
        command = list(argv)
        if self.kind == "bwrap":
            command = [shutil.which("bwrap") or "bwrap", *_bind_args(read_paths, scratch),
                       "--", *command]
        nproc = _user_tasks() + self.limits.processes if self.limits.processes > 0 else 0
        try:
            proc = subprocess.Popen(  # noqa: S603 - the whole point of this module
                command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=scratch,
                env=clean_env(extra, home=scratch), text=text,
                encoding="utf-8" if text else None, errors="replace" if text else None,
                start_new_session=True, preexec_fn=_preexec(self.limits, nproc))
        except BaseException:
            if own:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        return Job(proc, scratch, marker, own)

    def run(self, argv: Sequence[str], *, input: str = "", timeout_s: float = 60.0,
            read_paths: Iterable[str | Path] = (), workdir: Path | None = None,
            env: Mapping[str, str] | None = None) -> Result:
        """Run to completion (or ``timeout_s`` wall time); nothing it started survives."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            job = self.start(argv, read_paths=read_paths, workdir=workdir, env=env,
                             stdin=subprocess.PIPE, stdout=out, stderr=err)
            timed_out = False
            try:
                assert job.proc.stdin is not None
                try:
                    job.proc.stdin.write(input.encode("utf-8"))
                    job.proc.stdin.close()
                except OSError:
                    pass  # it exited without reading: the exit status says why
                job.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                job.kill()
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
        code = job.proc.returncode
        limit = ("time" if timed_out or code in (-signal.SIGXCPU, 128 + signal.SIGXCPU)
                 else "memory" if code != 0 and memory_hit(stderr) else "")
        return Result(code, stdout, stderr, limit, time.monotonic() - job.started)


def resolve(mode: str = "auto", limits: Limits | None = None) -> Sandbox:
    """``auto``: bwrap when it works here, else limits only; ``bwrap``: or SandboxError."""
    if mode not in MODES:
        raise SandboxError(f"--sandbox must be one of {', '.join(MODES)}, not {mode!r}")
    limits = limits or Limits()
    if mode == "none":
        return Sandbox("none", limits, "--sandbox none")
    usable, why = bwrap_status()
    if usable:
        return Sandbox("bwrap", limits)
    if mode == "bwrap":
        raise SandboxError(f"--sandbox bwrap: {why}")
    return Sandbox("none", limits, why)


@lru_cache(maxsize=1)
def default() -> Sandbox:
    """What callers that were not given a sandbox use: ``resolve("auto")``, once."""
    return resolve("auto")


def run(argv: Sequence[str], *, input: str = "", timeout_s: float = 60.0,
        read_paths: Iterable[str | Path] = (), sandbox: Sandbox | None = None,
        workdir: Path | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run one program on untrusted code, sandboxed: THE launcher for one-shot checks.

    ``argv`` is the command (``[sys.executable, "-m", "agent.tools.x"]``); ``input`` goes to
    its stdin; ``read_paths`` are the files or directories it may read (read-only inside
    bwrap; the Python installation and this package are always readable); ``workdir`` is a
    scratch directory to keep (else a temporary one). Never raises for what the program
    does: look at ``returncode`` and ``limit``.
    """
    return (sandbox or default()).run(argv, input=input, timeout_s=timeout_s,
                                      read_paths=read_paths, workdir=workdir, env=env)
