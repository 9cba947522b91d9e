"""The generated class's constructor as a reviewer expects it.

A required parameter the rules made (a builder's untyped argument, a value the script
computes) says nothing of what it takes: ``def __init__(self, train_features)`` may hold the
whole training set when the class reads only ``train_features.shape[-1]``. After the class
is assembled, each required parameter without a type is read off the class's own code:

* read only as one size (``x.shape[-1]``, ``len(chars)``, a lookup's vocabulary size): the
  class takes that size (``num_features: int``) and the call passes
  ``train_features.shape[-1]``;
* a module-level name in capitals (``VOCABULARIES``, computed by the script): a lowercase
  parameter, the call passes the global;
* read only where torch takes sizes (module constructors, ``torch.zeros``): ``int``; only
  as a module's rate or epsilon: ``float``; read as an array (``.shape``,
  ``torch.as_tensor(...)``): ``np.ndarray``.

Names read in ``forward`` (kept as attributes) or anywhere else are left as they are. Only
the class's text is read (``ast``); a builder's own annotations come first (extract.py).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.rules.models.graph import CtorParam, ModelIR
from agent.rules.models.scopes import own_scope
from agent.rules.values import UNKNOWN

# annotations a builder may carry that the generated class can write as they are
_BUILTIN_TYPES = frozenset({"int", "float", "str", "bool", "tuple", "list", "dict", "None"})
# torch callables whose arguments are sizes, but for the float options named here
_SIZED_CALLS = frozenset({"zeros", "ones", "empty", "rand", "randn"})
_FLOAT_FIRST = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                          "FeatureAlphaDropout", "LeakyReLU", "ELU", "CELU", "Softplus",
                          "Hardtanh", "Threshold", "RReLU"})
_FLOAT_KEYWORDS = frozenset({"p", "eps", "momentum", "negative_slope", "alpha", "dropout",
                             "lambd", "value", "beta", "threshold", "min_val", "max_val",
                             "lower", "upper"})
_INT_KEYWORDS = frozenset({"in_features", "out_features", "in_channels", "out_channels",
                           "kernel_size", "stride", "dilation", "groups", "num_embeddings",
                           "embedding_dim", "input_size", "hidden_size", "num_layers",
                           "num_features", "normalized_shape", "output_size", "num_heads",
                           "embed_dim", "kdim", "vdim", "dim", "padding_idx", "proj_size"})
_ARRAY_READ = r"(?<![\w.]){0}\.shape\b|(?:as_tensor|from_numpy|asarray|tensor)\({0}\b"
_AFFIXES = re.compile(r"^(?:train_|x_|X_)|(?:_train|_data|_array)$")


def builtin_annotations(fn: Any) -> dict[str, str]:
    """A libcst builder's parameter -> its annotation, where only builtin types spell it
    (``num_points: int``; ``Tuple[int]`` or a Keras type would need the source's imports)."""
    import libcst as cst

    out: dict[str, str] = {}
    for p in [*fn.params.params, *fn.params.kwonly_params]:
        if p.annotation is None:
            continue
        code = cst.Module([]).code_for_node(p.annotation.annotation)
        if set(re.findall(r"[A-Za-z_]\w*", code)) <= _BUILTIN_TYPES:
            out[p.name.value] = code
    return out


def script_names(statements: Sequence[ast.stmt], constants: dict[str, Any]) -> frozenset[str]:
    """Module-level names the script binds to values the rules cannot know statically
    (``num_classes = len(df["label"].unique())``, also under ``if __name__ == "__main__":``;
    a dict whose keys only are known): not constants, functions, classes, imports or
    lambdas."""
    bound: set[str] = set()
    other: set[str] = set()
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                             ast.Import, ast.ImportFrom)):
            continue
        for node in own_scope(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                other.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                other |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                other |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return frozenset(n for n in bound - other if n not in constants
                     or not fully_known(constants[n]))


def fully_known(value: Any) -> bool:
    """A constant with no unknown part (``{name: sorted(data[name].unique()) ...}`` keeps
    its keys, not its values: the class cannot read those without the script)."""
    if value is UNKNOWN:
        return False
    if isinstance(value, dict):
        return all(fully_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(fully_known(v) for v in value)
    return True


@dataclass
class Refined:
    params: list[CtorParam]
    rewrite: Callable[[str], str]  # applied to every generated line of the class body


def refine(params: list[CtorParam], code: str) -> Refined | None:
    """New parameters (and the rewrite of the class's lines they need) for the required,
    untyped parameters of the assembled class ``code``; None when nothing changes."""
    open_params = [p for p in params if p.default is None and p.annotation is None
                   and p.passed is None]
    if not open_params:
        return None
    head, sep, body = code.partition(") -> None:\n")  # the body: after the signature
    taken = set(re.findall(r"[A-Za-z_]\w*", body)) | {p.name for p in params}
    subs: list[tuple[re.Pattern[str], str]] = []
    out: list[CtorParam] = []
    tree: ast.Module | None = None
    for p in params:
        if p not in open_params:
            out.append(p)
            continue
        new = _as_size(p, body, taken) or _lowercase(p, taken)
        if new is not None:
            pattern, p = new
            subs.append((pattern, p.name))
            taken.add(p.name)
            body = pattern.sub(p.name, body)
            tree = None
        if p.annotation is None:
            tree = tree or _parse(head + sep + body)
            annotation = _annotation(p.name, body, tree)
            if annotation is not None:
                p = replace(p, annotation=annotation)
        out.append(p)
    if all(a is b for a, b in zip(out, params, strict=True)):
        return None

    def rewrite(line: str) -> str:
        for pattern, name in subs:
            line = pattern.sub(name, line)
        return line

    return Refined(out, rewrite)


def _reads(name: str) -> re.Pattern[str]:
    """``name`` read as a variable: not an attribute, a keyword or a string's text."""
    return re.compile(rf"(?<![\w.\"']){re.escape(name)}\b(?!\s*=[^=])")


def _as_size(p: CtorParam, body: str, taken: set[str]
             ) -> tuple[re.Pattern[str], CtorParam] | None:
    """``train_features`` read only as ``train_features.shape[-1]`` -> ``num_features``."""
    name = re.escape(p.name)
    forms = re.findall(rf"(?<![\w.\"'])({name}\.shape\[-?\d+\]|len\({name}\)|"
                       rf"len\({name}\.get_vocabulary\(\)\)|{name}\.vocabulary_size\(\))", body)
    if not forms or len(set(forms)) != 1 or len(forms) != len(_reads(p.name).findall(body)):
        return None
    form = forms[0]
    new = _size_name(p.name, form)
    if new in taken:
        return None
    pattern = re.compile(rf"(?<![\w.\"']){re.escape(form)}")
    return pattern, replace(p, name=new, annotation="int", passed=form)


def _size_name(name: str, form: str) -> str:
    """``len(chars)`` -> num_chars, ``len(vocab)`` -> vocab_size; the last axis
    (``train_features.shape[-1]``, ``x_train.shape[-1]``) -> num_features (num_channels for
    ``channels``); another axis -> ``input_dim1`` (``x_train.shape[1]``)."""
    if "vocabulary" in form:  # a lookup layer's
        return f"{name}_vocabulary_size"
    if form.startswith("len("):
        return f"num_{name}" if name.endswith("s") else f"{name}_size"
    stem = _AFFIXES.sub("", _AFFIXES.sub("", name)) or "input"
    stem = "input" if stem in ("x", "X", "data", "inputs") else stem
    axis = form.rsplit("[", 1)[1].rstrip("]")
    if axis != "-1":
        return f"{stem}_dim{axis}"
    return f"num_{stem}" if stem.endswith(("features", "channels")) else "num_features"


def _lowercase(p: CtorParam, taken: set[str]) -> tuple[re.Pattern[str], CtorParam] | None:
    """A global in capitals the class now takes: a parameter is written in lowercase."""
    if p.name != p.name.upper() or not re.search("[A-Z]", p.name) or p.name.lower() in taken:
        return None
    return _reads(p.name), replace(p, name=p.name.lower(), passed=p.name)


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _annotation(name: str, body: str, tree: ast.Module | None) -> str | None:
    """``int`` where every read is a size torch takes; ``np.ndarray`` for array reads."""
    if re.search(_ARRAY_READ.format(re.escape(name)), body):
        return "np.ndarray"
    if tree is None:
        return None
    parents: dict[int, ast.AST] = {}
    reads: list[ast.Name] = []
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            reads.append(node)
    kinds = {_kind(r, parents) for r in reads}
    return kinds.pop() if len(kinds) == 1 and None not in kinds else None


def _kind(node: ast.AST, parents: dict[int, ast.AST]) -> str | None:
    """``int`` where ``node``'s value reaches a size argument of a torch module or factory
    (through ``+ - * //`` arithmetic and tuples only), ``float`` where it reaches a rate or
    an epsilon of a torch module, None elsewhere."""
    child, parent = node, parents.get(id(node))
    while isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List)):
        if isinstance(parent, ast.BinOp) and not isinstance(
                parent.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)) or isinstance(
                parent, ast.UnaryOp) and not isinstance(parent.op, (ast.USub, ast.UAdd)):
            return None
        child, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.keyword):
        keyword, call = parent.arg, parents.get(id(parent))
    else:
        keyword, call = None, parent
    if not isinstance(call, ast.Call) or child is call.func:
        return None
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    if func.value.id == "torch" and func.attr in _SIZED_CALLS:
        return "int" if keyword is None else None
    if func.value.id != "nn":
        return None
    if keyword in _FLOAT_KEYWORDS or (keyword is None and func.attr in _FLOAT_FIRST
                                      and child is call.args[0]):
        return "float" if child is node else None
    if keyword is not None:
        return "int" if keyword in _INT_KEYWORDS else None
    return None if func.attr in _FLOAT_FIRST else "int"


def signature_changes(ir: ModelIR) -> list[tuple[int, str, str]]:
    """Report lines for the parameters a reviewer would not expect from the source."""
    out: list[tuple[int, str, str]] = []
    for p in ir.params:
        if p.called:
            out.append((ir.line, "model.call_default", f"{ir.class_name}: {p.name}={p.default} "
                        "by default, the value every call passes (the class builds alone)"))
        if p.passed is not None and p.annotation == "int" and p.passed.endswith(("]", ")")):
            out.append((ir.line, "model.size_param", f"{ir.class_name} takes the size "
                        f"{p.name} (the call passes {p.passed}): the model read nothing else"))
        elif p.script or p.passed is not None:
            out.append((ir.line, "model.script_param", f"{ir.class_name} takes {p.name}: the "
                        f"script computes {p.passed or p.name}, the model read it"))
    if ir.fed:
        out.append((ir.line, "model.fed_input", f"{ir.class_name}: example_input_array of the "
                    "shape the script feeds it (the source gives none)"))
    if ir.shares is None and not all(t.shape is not None for t in ir.inputs):
        out.append((ir.line, "model.example_input", f"{ir.class_name}: no example_input_array, "
                    "the source gives no input shape (the data sets it at the first call)"))
    return out
