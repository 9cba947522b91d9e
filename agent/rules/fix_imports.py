"""After conversion: drop Keras/TF imports nothing uses, add the torch imports the code uses.

Keras imports that are still referenced stay (and are listed as dependencies left); this
never removes a non-framework import.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable

# local name -> import statement, in the order a senior engineer would write them
TORCH_IMPORTS: tuple[tuple[str, str], ...] = (
    ("np", "import numpy as np"),
    ("pl", "import pytorch_lightning as pl"),
    ("torch", "import torch"),
    ("F", "import torch.nn.functional as F"),
    ("torchmetrics", "import torchmetrics"),
    ("callbacks", "from pytorch_lightning import callbacks"),
    ("nn", "from torch import nn"),
    ("DataLoader", "from torch.utils.data import DataLoader"),
    ("Dataset", "from torch.utils.data import Dataset"),
    ("TensorDataset", "from torch.utils.data import TensorDataset"),
)


class _Uses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.imported: set[str] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        for a in node.names:
            local = a.asname.name if a.asname else a.name
            if isinstance(local, cst.Name):
                self.imported.add(local.value)
            elif isinstance(local, cst.Attribute):
                head = local
                while isinstance(head, cst.Attribute):
                    head = head.value  # type: ignore[assignment]
                if isinstance(head, cst.Name):
                    self.imported.add(head.value)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if not isinstance(node.names, cst.ImportStar):
            for a in node.names:
                local = a.asname.name if a.asname else a.name
                if isinstance(local, cst.Name):
                    self.imported.add(local.value)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _framework(module: str) -> bool:
    return module.split(".")[0] in ("keras", "tensorflow", "tf_keras")


class _Remove(cst.CSTTransformer):
    def __init__(self, used: set[str]) -> None:
        self.used = used

    def _keep(self, alias: cst.ImportAlias, from_module: str | None) -> bool:
        full = cst.Module([]).code_for_node(alias.name)
        module = from_module or full
        if not _framework(module):
            return True
        local = alias.asname.name if alias.asname else alias.name
        head = cst.Module([]).code_for_node(local).split(".")[0]
        return head in self.used

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        body: list[cst.BaseSmallStatement] = []
        for small in updated.body:
            if isinstance(small, cst.Import):
                names = [a for a in small.names if self._keep(a, None)]
                if not names:
                    continue
                small = small.with_changes(names=_strip_comma(names))
            elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
                module = cst.Module([]).code_for_node(small.module)
                if isinstance(small.names, cst.ImportStar):
                    if _framework(module):
                        continue
                else:
                    names = [a for a in small.names if self._keep(a, module)]
                    if not names:
                        continue
                    small = small.with_changes(names=_strip_comma(names), lpar=None, rpar=None
                                               ) if len(names) != len(small.names) else small
            body.append(small)
        if not body:
            return cst.RemovalSentinel.REMOVE
        return updated.with_changes(body=body)


def _strip_comma(names: list[cst.ImportAlias]) -> list[cst.ImportAlias]:
    return [*names[:-1], names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def fix(module: cst.Module, imports: ImportTable) -> cst.Module:
    uses = _Uses()
    module.visit(uses)
    module = module.visit(_Remove(uses.names))
    after = _Uses()
    module.visit(after)
    needed = [stmt for name, stmt in TORCH_IMPORTS
              if name in after.names and name not in after.imported]
    if not needed:
        return module
    new = [cst.parse_statement(s + "\n") for s in needed]
    body = list(module.body)
    at = _after_imports(body)
    return module.with_changes(body=body[:at] + new + body[at:])


def _after_imports(body: list[cst.BaseStatement]) -> int:
    """Index after the leading docstring, __future__ imports and import block."""
    at = 0
    for k, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
            isinstance(s, (cst.Import, cst.ImportFrom)) or
            (k == 0 and isinstance(s, cst.Expr) and isinstance(s.value, cst.SimpleString))
            for s in stmt.body
        ):
            at = k + 1
            continue
        break
    return at
