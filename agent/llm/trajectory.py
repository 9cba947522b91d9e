"""Every LLM exchange as one JSON line, so a run can be audited and replayed after the fact.

The file sits next to the report; appends are line-buffered writes of whole records, so a
crash leaves every earlier record readable.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class Trajectory:
    """Append-only JSON-lines log; ``path=None`` records nothing (LLM stage off or not wanted)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, kind: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"t": round(time.time(), 3), "kind": kind, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError:
                pass  # losing the log must not lose the conversion
