"""What can sandboxed code see and do? Writes its findings to ./seen.json (its scratch dir).

argv: OUTSIDE_FILE SECRET_FILE PORT TMP_FILE
"""

import json
import os
import socket
import sys
from collections.abc import Callable

outside, secret_file, port, tmp_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def attempt(action: Callable[[], object]) -> str:
    try:
        action()
    except OSError as exc:
        return f"refused: {type(exc).__name__}: {exc}"
    return "ok"


def write(path: str) -> None:
    with open(path, "w") as fh:
        fh.write("escaped")


def read(path: str) -> None:
    with open(path) as fh:
        fh.read()


seen = {
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "home": os.path.expanduser("~"),
    "write_outside": attempt(lambda: write(outside)),
    "write_tmp": attempt(lambda: write(tmp_file)),
    "read_secret": attempt(lambda: read(secret_file)),
    "connect": attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=3).close()),
}
with open("seen.json", "w") as fh:
    json.dump(seen, fh)
