"""The script check: run a converted file as a program, ``__main__`` code included.

fast_dev_run proves the classes; only running the script proves the code around them (the
data it builds, how it calls the model, the Trainer it makes). The warm worker forks a child
per script, so the child starts with torch and Lightning imported and whatever the script does
to global state dies with it. In the child:

* every Lightning ``Trainer`` runs one batch: ``PL_TRAINER_FAST_DEV_RUN=1`` and
  ``Trainer.__init__`` called with ``fast_dev_run=1`` whatever the script passes; only
  ``trainer.predict`` sees all its batches (Keras's ``predict`` returned one row per sample);
* the network is off (sockets refuse to connect or resolve), and a time limit (SIGALRM in
  the child, a kill from the worker) and an address-space limit apply;
* the working directory is a scratch directory holding links to the entries next to the
  script, so relative data paths resolve and files the script writes land in scratch.

A script that stops because it needs a download or a file that is not there is ``not_run``
("skipped: needs data/network", with the reason): that says nothing about the conversion.
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

TOOL = "script"
NEEDS_DATA = "skipped: needs data/network"
_TRACEBACK_FRAMES = 4


class NetworkDisabled(OSError):
    """Raised by every socket connect and name lookup in the script check."""


class _ScriptTimeout(BaseException):
    """SIGALRM in the child; a BaseException so ``except Exception`` cannot swallow it."""


# ------------------------------------------------------------------ what an exception means

# Modules and functions whose failure means "a download was needed".
_DOWNLOAD_FRAMES = ("get_file", "load_data", "urlopen", "urlretrieve", "download")
_DOWNLOAD_MODULES = ("urllib", "http/client", "requests", "keras/src/datasets",
                     "keras/datasets", "tensorflow_datasets", "torchvision/datasets",
                     "huggingface_hub", "datasets/load")
_DATA_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def needs_data(exc: BaseException, script: Path) -> str | None:
    """Why ``exc`` means the script needs data or the network, or None."""
    frames = traceback.extract_tb(exc.__traceback__)
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, (NetworkDisabled, socket.gaierror, ConnectionError)) for e in chain):
        return f"network access: {text}"
    if any(type(e).__name__ in ("URLError", "HTTPError", "ConnectionError", "ContentTooShortError")
           for e in chain) or "URL fetch failure" in text:
        return f"download: {text}"
    in_download = any(f.name in _DOWNLOAD_FRAMES or
                      any(m in f.filename.replace("\\", "/") for m in _DOWNLOAD_MODULES)
                      for f in frames)
    if in_download and isinstance(exc, (OSError, ValueError, RuntimeError)):
        return f"download: {text}"
    if isinstance(exc, _DATA_ERRORS):
        return f"missing file: {text}"
    return None


# what the checks themselves run on: missing, they are a broken set-up, not a skipped check
CHECK_PACKAGES = ("torch", "pytorch_lightning", "lightning", "torchmetrics", "numpy")


def _module_missing(exc: BaseException) -> str | None:
    """A ``ModuleNotFoundError`` for a package not installed here (``keras`` for a data loader
    that was kept, an optional plotting library): the environment's fault, not the file's."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return exc.name.split(".")[0]
    return None


def third_party_missing(exc: BaseException) -> str | None:
    """The package a converted file imports that this environment lacks (matplotlib, pandas,
    cv2: the original needs it too), or None. Keras/TensorFlow left in a converted file are
    the conversion's failure, never the environment's."""
    missing = _module_missing(exc)
    if missing is None or missing in CHECK_PACKAGES or missing in (
            "keras", "tensorflow", "tf_keras"):
        return None
    return missing


# ------------------------------------------------------------------ the child


def _no_network() -> None:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise NetworkDisabled("network access is disabled in the script check")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    socket.gethostbyname = refuse


def _one_batch_trainers() -> None:
    """Every Trainer runs one batch, whatever the script passes (or the env var's support)."""
    os.environ["PL_TRAINER_FAST_DEV_RUN"] = "1"
    for name in ("pytorch_lightning", "lightning.pytorch"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name, fromlist=["Trainer"])
            except ImportError:
                continue
        trainer = getattr(module, "Trainer", None)
        if trainer is None or getattr(trainer.__init__, "_k2l_one_batch", False):
            continue
        original = trainer.__init__

        def init(self: Any, *args: Any, _orig: Any = original, **kwargs: Any) -> None:
            kwargs["fast_dev_run"] = 1
            _orig(self, *args, **kwargs)
            # predict (inference only) runs whole: the script reads every prediction next
            self.limit_predict_batches = 1.0

        init._k2l_one_batch = True  # type: ignore[attr-defined]
        trainer.__init__ = init


def _scratch(script: Path) -> Path:
    """A working directory with links to the script's neighbours (reads work, writes stay)."""
    scratch = Path(tempfile.mkdtemp(prefix="k2l-script-"))
    try:
        for entry in script.parent.iterdir():
            if not entry.name.startswith(".") and entry.name != "__pycache__":
                (scratch / entry.name).symlink_to(entry)
    except OSError:
        pass
    return scratch


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _ScriptTimeout


def _diagnostic(exc: BaseException, script: Path, code: str) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    line = 0
    for frame in frames:
        if Path(frame.filename).name == script.name and frame.lineno is not None:
            line = frame.lineno
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    tail = "".join(traceback.format_list(frames[-_TRACEBACK_FRAMES:]))
    return {"line": line, "col": 0, "code": code,
            "message": f"{head}\nlast frames:\n{tail}".rstrip()}


def _child(script: Path, scratch: Path, time_limit_s: float,
           memory_limit_mb: int) -> dict[str, Any]:
    _no_network()
    _one_batch_trainers()
    if memory_limit_mb > 0:
        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * resource.getpagesize()
        cap = size + memory_limit_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or cap <= hard:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    os.chdir(scratch)
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script)]
    sys.dont_write_bytecode = True
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(time_limit_s, 0.01))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return {"status": "failed", "message": f"the script exited with {exc.code!r}",
                    "diagnostics": [_diagnostic(exc, script, "exit")]}
    except _ScriptTimeout as exc:
        return {"status": "failed", "message": f"time limit of {time_limit_s:g} s exceeded",
                "diagnostics": [_diagnostic(exc, script, "timeout")]}
    except BaseException as exc:  # noqa: BLE001 - every way the script ends is a verdict
        return _verdict(exc, script)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"status": "passed", "message": "the script ran to the end (every Trainer: one batch)",
            "diagnostics": []}


def _verdict(exc: BaseException, script: Path) -> dict[str, Any]:
    reason = needs_data(exc, script)
    if reason is not None:
        return {"status": "not_run", "message": f"{NEEDS_DATA}: {reason.splitlines()[0]}",
                "diagnostics": []}
    missing = _module_missing(exc)
    if missing is not None and missing not in CHECK_PACKAGES:
        return {"status": "not_run", "message": f"skipped: needs the {missing!r} package, "
                "not installed where the checks run", "diagnostics": []}
    memory = isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)
    code = "memory" if memory else "crash"
    return {"status": "failed", "message": "the script raised "
            f"{type(exc).__name__}" + (" (memory limit)" if memory else ""),
            "diagnostics": [_diagnostic(exc, script, code)]}


# ------------------------------------------------------------------ the original, under TF


def _one_epoch_fits() -> None:
    """The original's ``fit`` runs one step of one epoch, as the converted Trainers do."""
    try:
        import keras
    except ImportError:
        return
    original = keras.Model.fit

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.update(epochs=1, steps_per_epoch=1)
        kwargs.pop("validation_steps", None)
        if kwargs.get("validation_data") is not None or kwargs.get("validation_split"):
            kwargs["validation_steps"] = 1
        return original(self, *args, **kwargs)

    keras.Model.fit = fit


def run_original(script: Path, time_limit_s: float, memory_limit_mb: int) -> dict[str, Any]:
    """The original program under TensorFlow (``python -m agent.tools.script_run FILE``, in
    the TensorFlow Python, through the sandbox), limited the same way."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _one_epoch_fits()
    scratch = _scratch(script)
    try:
        return _child(script, scratch, time_limit_s, memory_limit_mb)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def original_main() -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the script's prints go to stderr
    script, limit, memory = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    protocol.write(json.dumps(run_original(script, limit, memory)))
    protocol.flush()


# ------------------------------------------------------------------ the worker's side


def run_script(script: Path, time_limit_s: float, memory_limit_mb: int) -> dict[str, Any]:
    """Fork, run ``script`` in the child, and return its verdict; kills a child that hangs."""
    started = time.perf_counter()
    scratch = _scratch(script)
    try:
        return _fork(script, scratch, time_limit_s, memory_limit_mb, started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fork(script: Path, scratch: Path, time_limit_s: float, memory_limit_mb: int,
          started: float) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            verdict = _child(script, scratch, time_limit_s, memory_limit_mb)
        except BaseException as exc:  # noqa: BLE001
            verdict = {"status": "failed", "message": f"script check error: {exc!r}",
                       "diagnostics": []}
        try:
            data = json.dumps(verdict).encode("utf-8")
            while data:
                data = data[os.write(write_end, data):]
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + time_limit_s + 5.0
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - started
    if timed_out:
        return {"status": "failed", "message": f"time limit of {time_limit_s:g} s exceeded "
                "(the script was killed)", "seconds": seconds,
                "diagnostics": [{"line": 0, "col": 0, "code": "timeout",
                                 "message": "no answer; killed"}]}
    try:
        result: dict[str, Any] = json.loads(b"".join(chunks).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit code {os.WEXITSTATUS(status)}")
        result = {"status": "failed", "message": f"the script process died ({how}), e.g. "
                  "os._exit or a crash in native code", "diagnostics": [
                      {"line": 0, "col": 0, "code": "worker-crash", "message": how}]}
    result["seconds"] = seconds
    return result


if __name__ == "__main__":
    original_main()
