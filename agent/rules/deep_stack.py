"""Run the rules on a thread with a deep stack: a long chained expression (``a + b + ...``
with a few hundred terms) or deeply nested brackets recurse once per level in libcst's
visitors, several frames each, and Python's default limit (1000 frames) stops them at about
300 levels. Real code reaches that (generated tables, long sums); the rules should not."""

from __future__ import annotations

import ast
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 256 * 1024 * 1024  # reserved, not committed: pages are touched only when used
RECURSION_LIMIT = 20_000  # about 4,000 nesting levels; the stack above holds them
DEEPEST = 1_000  # levels the rules follow: deeper, some passes grow with the square of it
_state = threading.local()


class _Worker:
    """A deep-stack thread kept for the next file: a fresh thread's stack is fresh memory,
    and the page faults of touching it again cost each file about a tenth of its rules time."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], object], dict[str, object],
                                           threading.Event]] = queue.SimpleQueue()
        previous_stack = threading.stack_size(STACK_BYTES)
        try:
            threading.Thread(target=self._serve, name="k2l-rules", daemon=True).start()
        finally:
            threading.stack_size(previous_stack)

    def _serve(self) -> None:
        _state.deep = True
        while True:
            fn, box, done = self.jobs.get()
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()
                del fn, box, done  # the last file's objects are not kept alive while idle

    def call(self, fn: Callable[[], object]) -> dict[str, object]:
        """``fn``'s "value" or "error", once it has returned (the wait may be interrupted)."""
        box: dict[str, object] = {}
        done = threading.Event()
        self.jobs.put((fn, box, done))
        done.wait()
        return box


_idle: list[_Worker] = []  # one per caller converting at the same time, reused
_idle_lock = threading.Lock()


def _forget_workers() -> None:
    """A forked child (a ``--jobs`` pool) has none of its parent's threads: it starts its own."""
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def on_deep_stack(fn: Callable[[], T]) -> T:
    """``fn()`` on a thread whose stack and recursion limit allow deep nesting; its
    exception, if any, is raised here. A call from that thread runs directly."""
    if getattr(_state, "deep", False):
        return fn()
    with _idle_lock:
        worker = _idle.pop() if _idle else _Worker()
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, RECURSION_LIMIT))
    try:
        box = worker.call(fn)
    finally:
        sys.setrecursionlimit(previous_limit)
    with _idle_lock:  # not after an interrupted wait: that worker may still be busy
        _idle.append(worker)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def deepest(tree: ast.AST, beyond: int = DEEPEST) -> tuple[int, int]:
    """(depth, line) of the most deeply nested node if it lies deeper than ``beyond``, else
    (0, 0); without recursing. A node written on one line nests at most a few levels more
    than its characters, so one-line nodes too short to get there are not entered: most of
    a file is never walked."""
    todo: list[tuple[ast.AST, int]] = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        if depth > beyond:
            return _deepest_of(tree)
        for child in ast.iter_child_nodes(node):
            if (isinstance(child, (ast.expr, ast.stmt)) and child.lineno == child.end_lineno
                    and depth + _SLACK + (child.end_col_offset or 0) - child.col_offset
                    <= beyond):
                continue
            todo.append((child, depth + 1))
    return 0, 0


_SLACK = 8  # levels a node adds beyond its characters (contexts, operators, names)


def _deepest_of(tree: ast.AST) -> tuple[int, int]:
    best, line = 0, 0
    todo: list[tuple[ast.AST, int]] = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        if depth > best:
            best, line = depth, getattr(node, "lineno", line)
        todo.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return best, line
