"""``python -m agent.tools.smoke FILE``: load a converted file's definitions, run forward.

Only imports, definitions and constant assignments run (no script code); each
LightningModule subclass that can be built without arguments runs forward on its
``example_input_array``. Prints ``SMOKE found=N built=N ran=N``; exits non-zero on an error.
Same rules as ``shared/tools/corpus_score.py``, so ``k2l-agent eval`` agrees with it.
"""

from __future__ import annotations

import ast
import sys
import types
from typing import Any

_CONSTANTS = (ast.Constant, ast.Tuple, ast.List, ast.Name, ast.UnaryOp, ast.BinOp)


def definitions(tree: ast.Module) -> ast.Module:
    keep: list[ast.stmt] = []
    for n in tree.body:
        if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef,
                          ast.AsyncFunctionDef)):
            keep.append(n)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)) and (
                n.value is None or isinstance(n.value, _CONSTANTS)):
            keep.append(n)
    return ast.Module(body=keep, type_ignores=[])


def main(path: str) -> int:
    import torch

    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    mod = types.ModuleType("smoke")
    mod.__file__ = path
    exec(compile(definitions(tree), path, "exec"), mod.__dict__)  # noqa: S102 (the point)
    bases: tuple[type, ...] = ()
    try:
        import lightning.pytorch as lp

        bases += (lp.LightningModule,)
    except ImportError:
        pass
    try:
        import pytorch_lightning as pl

        bases += (pl.LightningModule,)
    except ImportError:
        pass
    found = built = ran = 0
    for obj in list(mod.__dict__.values()):
        if not (isinstance(obj, type) and bases and issubclass(obj, bases)
                and obj not in bases and obj.__module__ == "smoke"):
            continue
        found += 1
        try:
            m: Any = obj()
        except TypeError:
            continue
        built += 1
        x = getattr(m, "example_input_array", None)
        if x is None:
            continue
        m.eval()
        with torch.no_grad():
            m(*x) if isinstance(x, tuple) else (m(**x) if isinstance(x, dict) else m(x))
        ran += 1
    print(f"SMOKE found={found} built={built} ran={ran}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
