"""Which statements may convert alone: TF and torch tensors must never meet.

Every statement of data code (a module-level statement, a statement of a plain function, the
header of a compound statement) is a unit with the names it reads and writes. A unit is
``torch`` (the op table converted it), ``tf`` (it keeps a framework name) or ``plain`` (no
framework name: it passes on whatever it reads). Taint follows the names, flow-insensitively
(any write anywhere counts), through plain units and into the parameters of the script's own
functions. A ``torch`` unit that reads a TF value, or a TF value that a ``tf`` unit computes
from a torch one, is a mix: the torch units involved stay as written, one by one (the other
converted statements of their function stay converted: statement granularity), and the
check runs again until nothing mixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLAIN, TORCH, TF = "plain", "torch", "tf"
ARRAY = "#numpy"  # read by a unit that calls NumPy: what it writes may be an array


@dataclass
class Unit:
    key: int
    reads: set[str]
    writes: set[str]
    status: str
    group: str = ""  # the function holding it ("" at module level)
    line: int = 0
    reason: str = ""  # why a torch unit was kept as written
    # binary operations: names read on the left and on the right (``array - tensor`` fails
    # in torch where TF converted the array)
    pairs: list[tuple[set[str], set[str]]] = field(default_factory=list)


@dataclass
class _Taint:
    tf: set[str] = field(default_factory=set)
    array: set[str] = field(default_factory=lambda: {ARRAY})
    torch: dict[str, set[int]] = field(default_factory=dict)  # name -> torch units it comes from


def _spread(units: list[Unit]) -> _Taint:
    taint = _Taint()
    changed = True
    while changed:
        changed = False
        for u in units:
            if u.status == TF or (u.status == PLAIN and u.reads & taint.tf):
                if not u.writes <= taint.tf:
                    taint.tf |= u.writes
                    changed = True
            if u.status == PLAIN and u.reads & taint.array and not u.writes <= taint.array:
                taint.array |= u.writes
                changed = True
            if u.status == TORCH:
                sources = {u.key}
            elif u.status == PLAIN:
                sources = set().union(*(taint.torch.get(r, set()) for r in u.reads))
            else:
                continue
            for w in u.writes:
                have = taint.torch.setdefault(w, set())
                if not sources <= have:
                    have |= sources
                    changed = True
    return taint


def _at(u: Unit) -> str:
    """Where a unit is, for a record: its line, else its function."""
    if u.line:
        return f"at line {u.line}"
    return f"in function {u.group}" if u.group else "in a module-level statement"


def settle(units: list[Unit]) -> None:
    """Turn ``torch`` units whose values would meet TF values back into ``tf`` (in place),
    with the reason in ``Unit.reason``."""
    by_key = {u.key: u for u in units}
    while True:
        taint = _spread(units)
        revert: dict[int, str] = {}
        for u in units:
            if u.status == TORCH and u.reads & taint.tf:
                names = ", ".join(sorted(u.reads & taint.tf))
                revert.setdefault(u.key, f"reads {names}, which TF code computes")
            elif u.status == TF:
                for name in sorted(u.reads):
                    for k in taint.torch.get(name, set()):
                        revert.setdefault(k, f"feeds TF code {_at(u)}")
            for left, right in u.pairs if u.status != TF else ():
                if left & taint.array:  # ndarray - tensor raises in torch
                    for name in sorted(right):
                        for k in taint.torch.get(name, set()):
                            revert.setdefault(k, "is the right operand of a NumPy array "
                                                 f"{_at(u)}")
        if not revert:
            return
        for k, why in revert.items():  # only these: the rest of a function stays converted
            by_key[k].status, by_key[k].reason = TF, why
