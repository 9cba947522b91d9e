"""The product's own yardstick for real code: how much Keras/TF a migration removed.

Per file, before vs after: uses of names bound by keras/tensorflow imports (aliases
included; the figure PaConvert reports), whether the output still imports keras/tensorflow,
whether it defines a LightningModule, and ``smoke``: its definitions load without TensorFlow
and every LightningModule buildable without arguments runs forward on its
``example_input_array`` (in a subprocess, ``agent.tools.smoke``). The rules are the same as
``shared/tools/corpus_score.py``'s, so both tools agree on which files pass.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import sandbox

BANNED = ("keras", "tensorflow", "tf_keras")
TOP_NAMES = 30
_PREFIXES = (("tensorflow.keras.", "keras."), ("tensorflow.", "tf."), ("tf_keras.", "keras."))


@dataclass
class FileRefs:
    path: str
    refs_before: int = 0
    refs_after: int = 0
    parse: bool = False
    torch: bool = False  # imports no keras/tensorflow
    lmodule: bool = False
    smoke: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _bound(tree: ast.AST) -> dict[str, str]:
    """Local name -> the qualified name it was imported as."""
    out: dict[str, str] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] in BANNED:
                    local = (a.asname or a.name).split(".")[0]
                    out[local] = a.name if a.asname else local
        elif isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] in BANNED:
            for a in n.names:
                out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out


def imports_banned(tree: ast.AST) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, ast.Import) and any(a.name.split(".")[0] in BANNED for a in n.names):
            return True
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] in BANNED:
            return True
    return False


def has_lmodule(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.ClassDef)
               and any(ast.unparse(b).endswith("LightningModule") for b in n.bases)
               for n in ast.walk(tree))


def keras_refs(tree: ast.AST) -> int:
    bound = _bound(tree)
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in bound)


def qualified_refs(tree: ast.AST) -> Counter[str]:
    """``tf.shape``, ``keras.layers.Dense``...: every keras/tf reference, fully qualified."""
    bound = _bound(tree)
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    out: Counter[str] = Counter()
    for n in ast.walk(tree):
        if not (isinstance(n, ast.Name) and n.id in bound):
            continue
        parts = [bound[n.id]]
        cur: ast.AST = n
        while isinstance(parent := parents.get(id(cur)), ast.Attribute) \
                and parent.value is cur:
            parts.append(parent.attr)
            cur = parent
        name = ".".join(parts)
        for old, new in _PREFIXES:
            if name.startswith(old):
                name = new + name[len(old):]
                break
        out[name] += 1
    return out


def _parse(path: Path) -> ast.AST | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None


def smoke(path: Path, timeout_s: float = 120.0) -> tuple[bool, str]:
    """Definitions load and each argument-free LightningModule runs forward (in the sandbox:
    this executes the converted code)."""
    proc = sandbox.run([sys.executable, "-m", "agent.tools.smoke", str(path.resolve())],
                       timeout_s=timeout_s, read_paths=[path.resolve().parent])
    if proc.limit:
        return False, f"smoke: {proc.why}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("SMOKE")]
    if proc.returncode == 0 and line:
        return " ran=0" not in line[0], line[0]
    tail = (proc.stderr.strip().splitlines() or ["smoke failed"])[-1]
    return False, tail[-160:]


def score_refs(src_root: Path, out_root: Path, files: list[str], *, run_smoke: bool = True,
               jobs: int = 1) -> tuple[list[FileRefs], Counter[str]]:
    """One FileRefs per Python file (paths relative to both roots), plus the unconverted
    qualified names left in the outputs."""
    rows: list[FileRefs] = []
    left: Counter[str] = Counter()
    for rel in sorted(files):
        row = FileRefs(rel)
        before = _parse(src_root / rel)
        row.refs_before = keras_refs(before) if before is not None else 0
        out = out_root / rel
        after = _parse(out) if out.exists() else None
        if after is None:
            row.note = "no output file" if not out.exists() else "output does not parse"
        else:
            row.parse = True
            row.refs_after = min(row.refs_before, keras_refs(after))
            row.torch = not imports_banned(after)
            row.lmodule = has_lmodule(after)
            left += qualified_refs(after)
        rows.append(row)
    if run_smoke:
        todo = [r for r in rows if r.parse and r.lmodule]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for r, (ok, note) in zip(todo, pool.map(lambda r: smoke(out_root / r.path), todo),
                                     strict=True):
                r.smoke, r.note = ok, note
    return rows, left


def summarize(rows: list[FileRefs]) -> dict[str, Any]:
    before = sum(r.refs_before for r in rows)
    after = sum(r.refs_after for r in rows)
    return {"files": len(rows), "refs_before": before, "refs_converted": before - after,
            "refs_converted_pct": round(100.0 * (1 - after / before), 1) if before else 0.0,
            "no_keras_import": sum(r.torch for r in rows),
            "lightning_module": sum(r.lmodule for r in rows),
            "smoke": sum(r.smoke for r in rows)}


def by_directory(rows: list[FileRefs]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[FileRefs]] = {}
    for r in rows:
        top = r.path.split("/", 1)[0] if "/" in r.path else "."
        groups.setdefault(top, []).append(r)
    out = {k: summarize(v) for k, v in sorted(groups.items())}
    out["all"] = summarize(rows)
    return out


def render(doc: dict[str, Any]) -> list[str]:
    """Markdown: the reference metric per subdirectory, then the most frequent names left."""
    lines = ["## Keras/TF references converted", "",
             "| directory | files | refs converted | no keras import | LightningModule | "
             "smoke |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, s in doc["directories"].items():
        lines.append(f"| {key} | {s['files']} | {s['refs_converted_pct']}% "
                     f"({s['refs_converted']}/{s['refs_before']}) | {s['no_keras_import']} | "
                     f"{s['lightning_module']} | {s['smoke']} |")
    lines += ["", f"## The {TOP_NAMES} most frequent unconverted names", "",
              "| name | uses left |", "| --- | ---: |"]
    lines += [f"| `{n}` | {c} |" for n, c in doc["unconverted_names"]]
    return lines + [""]
