"""Content-addressed cache of LLM replies, so a rerun costs nothing and is reproducible.

The key is the sha256 of the canonical JSON of (model, messages, tools): the same request
always maps to the same file, and any change to the prompt is a new key. Entries live in
``<root>/.k2l-cache/llm/<first two hex>/<key>.json``. A corrupt entry is a miss, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_SUBDIR = Path(".k2l-cache") / "llm"


def cache_key(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    payload = json.dumps(
        {"model": model, "messages": messages, "tools": tools},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class LLMCache:
    """Disk cache; ``enabled=False`` (``--no-cache``) makes every lookup a miss and skips writes."""

    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.dir = root / CACHE_SUBDIR
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        """Write atomically (temp file + rename) so a killed run leaves no half entry."""
        if not self.enabled:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(reply, fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs a future request
