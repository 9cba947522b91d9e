"""``fit`` / ``evaluate`` → DataLoaders over the same arrays and a ``pl.Trainer``.

Loader variables come in three kinds: ``loader`` (already a DataLoader), ``dataset`` (a
Sequence: an indexable Dataset of whole batches) and ``pipeline`` (a tf.data chain, now a
``DataPipeline``: an IterableDataset that batches and shuffles itself, as tf.data does).

Keras semantics kept: ``validation_split`` holds out the *last* fraction before shuffling
(``int(n * (1 - f))``, as ``keras.src.trainers.data_adapters.array_slicing``), batch size 32
and one epoch by default, ``shuffle=True`` for arrays, ``class_weight`` as per-sample weights.
Keras writes no checkpoints or log files unless asked, so neither does the Trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.models.graph import ModelIR, Tensor
from agent.rules.training.compile import CompileConfig, bind, output_names
from agent.rules.values import code_of


def _steps(args: dict[str, cst.BaseExpression], name: str) -> str:
    """``, steps=<n>`` for a generator's KerasBatches: each pass stops there itself."""
    given = args.get(name)
    return f", steps={code_of(given)}" if given is not None and code_of(given) != "None" else ""


FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
            "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
            "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq")
EVAL_ARGS = ("x", "y", "batch_size", "verbose", "sample_weight", "steps", "callbacks",
             "return_dict")


@dataclass
class Emitted:
    code: str
    todos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    validates: bool = False  # a validation loader is passed: the class needs validation_step
    weighted: bool = False  # batches carry sample weights (class_weight, sample_weight)
    foreign: bool = False  # batches come from the user's dataset: dtypes are not ours


@dataclass
class Names:
    """Variable names the generated code binds (chosen not to clash with the user's)."""

    trainer: str = "trainer"
    train_loader: str = "train_loader"
    val_loader: str = "val_loader"
    test_loader: str = "test_loader"
    predict_loader: str = "predict_loader"
    dataset: str = "fit_data"
    weights: str = "sample_weights"
    split_at: str = "split_at"
    results: str = "test_results"


def _wrap(code: str, node: cst.BaseExpression) -> str:
    simple = isinstance(node, (cst.Name, cst.Attribute, cst.Subscript, cst.Call))
    return code if simple else f"({code})"


def tensor(node: cst.BaseExpression, dtype: str | None) -> str:
    arr = f"np.asarray({code_of(node)})"
    if dtype is None:
        return f"torch.as_tensor({arr})"
    return f"torch.as_tensor({arr}, dtype=torch.{dtype})"


def _items(node: cst.BaseExpression | None, n: int, names: list[str], what: str,
           out: Emitted, fallback: list[str] | None = None) -> list[cst.BaseExpression] | None:
    """One expression per model input/output (lists, dicts keyed by name, or one array);
    dict keys are Keras's names (an Input's ``name=``), else ``fallback`` (variables)."""
    if node is None:
        return None
    if isinstance(node, (cst.List, cst.Tuple)) and n > 1:
        items = [e.value for e in node.elements if isinstance(e, cst.Element)]
        if len(items) == n:
            return items
    if isinstance(node, cst.Dict):
        found = _by_key(node, names, fallback or names)
        if found is not None:
            return found
        out.todos.append(f"{what} dict keys do not match the model's {what}s ({names})")
        return None
    if n == 1 and isinstance(node, (cst.List, cst.Tuple)) and _arrays(node):
        # [x] is x; [a, b] is what a custom train_step gets as its data: never one stacked
        # array (np.asarray([a, b]) adds a leading axis of 2, or fails on differing shapes)
        return [e.value for e in node.elements]
    if n == 1:
        return [node]
    out.todos.append(f"{what} for a {n}-{what} model is not a list of {n}")
    return None


def indexed_inputs(call: cst.Call, n: int, assigns: Mapping[str, cst.BaseExpression]
                   ) -> cst.Call:
    """``fit(bags, y)`` for an ``n``-input model, ``bags`` last bound to a list or tuple
    (a display of ``n`` items, a comprehension, ``list(...)``): ``fit([bags[0], ...], y)``,
    one array per input as Keras takes the list's items."""
    args = list(call.args)
    at = next((k for k, a in enumerate(args) if a.keyword is not None and a.keyword.value == "x"),
              0 if args and args[0].keyword is None and not args[0].star else None)
    if n < 2 or at is None or not isinstance(args[at].value, cst.Name):
        return call
    name = args[at].value
    assert isinstance(name, cst.Name)
    value = assigns.get(name.value)
    sized = isinstance(value, (cst.List, cst.Tuple)) and len(value.elements) == n and not any(
        isinstance(e, cst.StarredElement) for e in value.elements)
    built = isinstance(value, (cst.ListComp, cst.GeneratorExp)) or (
        isinstance(value, cst.Call) and isinstance(value.func, cst.Name)
        and value.func.value in ("list", "tuple"))
    if not (sized or built):
        return call
    items = ", ".join(f"{name.value}[{k}]" for k in range(n))
    args[at] = args[at].with_changes(value=cst.parse_expression(f"[{items}]"))
    return call.with_changes(args=args)


def _by_key(node: cst.Dict, names: list[str], fallback: list[str]
            ) -> list[cst.BaseExpression] | None:
    """A dict literal's values in the order of ``names`` (else ``fallback``), by string key."""
    by_key: dict[str, cst.BaseExpression] = {}
    for el in node.elements:
        if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString):
            key = el.key.evaluated_value
            if isinstance(key, str):
                by_key[key] = el.value
    for keys in (names, fallback):
        if all(name in by_key for name in keys):
            return [by_key[name] for name in keys]
    return None


def dict_inputs(node: cst.Dict, inputs: list[Tensor]) -> list[str] | None:
    """``predict({name: array, ...})``: the code of each model input in forward's order, by
    the Inputs' ``name=`` (else their variables); None when the keys do not match."""
    found = _by_key(node, [t.keras_name or t.name for t in inputs], [t.name for t in inputs])
    return None if found is None else [code_of(v) for v in found]


def _arrays(node: cst.List | cst.Tuple) -> bool:
    """A list of array variables or expressions, not the literal data of one array."""
    return bool(node.elements) and all(
        isinstance(e, cst.Element) and not isinstance(
            e.value, (cst.List, cst.Tuple, cst.Integer, cst.Float, cst.UnaryOperation))
        for e in node.elements)


def array_tensors(ir: ModelIR, cfg: CompileConfig | None, x: cst.BaseExpression,
                  y: cst.BaseExpression | None, out: Emitted) -> list[str] | None:
    xs = _items(x, len(ir.inputs), [t.keras_name or t.name for t in ir.inputs], "input", out,
                [t.name for t in ir.inputs])
    if xs is None:
        return None
    kinds = [t.dtype for t in ir.inputs] if len(xs) == len(ir.inputs) else [None] * len(xs)
    codes = [tensor(e, "long" if dtype == "long" else "float32") for e, dtype in zip(
        xs, kinds, strict=True)]
    if y is not None:
        ys = _items(y, len(ir.outputs), output_names(ir), "output", out)
        if ys is None:
            return None
        for k, e in enumerate(ys):
            loss = cfg.losses[k] if cfg is not None and k < len(cfg.losses) else None
            codes.append(tensor(e, "long" if loss is not None and loss.target == "long"
                                else "float32"))
    return codes


def _label_expr(y: cst.BaseExpression, kind: str) -> str:
    arr = f"np.asarray({code_of(y)})"
    if kind == "sparse":
        return f"{arr}.reshape(-1)"
    if kind == "binary":
        return f"{arr}.reshape(-1).round()"
    return f"{arr}.argmax(-1)"


def _loader(node: cst.BaseExpression | None, loader_vars: dict[str, str]
            ) -> tuple[str, str] | None:
    """(code, kind) of a data argument that is a loader variable, or a tf.data method chain on
    a pipeline variable (``train_ds.prefetch(AUTOTUNE)``, itself a pipeline)."""
    if isinstance(node, cst.Name):
        kind = loader_vars.get(node.value)
        return (node.value, kind) if kind is not None else None
    if isinstance(node, cst.Call) and code_of(node) in loader_vars:
        # batches(8): a generator function's call; make_dataset(): one returning a pipeline
        return code_of(node), loader_vars[code_of(node)]
    cur = node
    while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
        cur = cur.func.value
    if node is not None and cur is not node and isinstance(cur, cst.Name) \
            and loader_vars.get(cur.value) == "pipeline":
        return code_of(node), "pipeline"
    return None


def fit_code(model: str, call: cst.Call, ir: ModelIR, cfg: CompileConfig | None,
             names: Names, callbacks: str | None, loggers: str | None,
             loader_vars: dict[str, str]) -> Emitted:
    """The statements replacing ``model.fit(...)``; ``loader_vars``: name -> 'loader'|'dataset'."""
    out = Emitted("")
    args, ok = bind(call, FIT_ARGS)
    if not ok:
        out.todos.append("fit() arguments not readable (*args/**kwargs)")
        return out
    known = set(FIT_ARGS)
    for name in args:
        if name not in known:
            out.todos.append(f"fit({name}=...) not converted")
    bs = code_of(args["batch_size"]) if "batch_size" in args else "32"
    if bs == "None":
        bs = "32"
    lines: list[str] = []
    x, y = args.get("x"), args.get("y")
    shuffle = code_of(args["shuffle"]) if "shuffle" in args else "True"
    if shuffle == '"batch"':
        shuffle = "True"
        out.warnings.append('fit(shuffle="batch") shuffles whole samples here')
    val_loader: str | None = None
    if x is None:
        out.todos.append("fit() without x")
        return out
    found = _loader(x, loader_vars)
    if found is not None:
        xname, kind = found
        train = xname if kind == "loader" else f"DataLoader({xname}, batch_size=None" + (
            ")" if kind == "pipeline" else f", shuffle={shuffle})")
        if kind == "generator":
            train = f"DataLoader(KerasBatches({xname}{_steps(args, 'steps_per_epoch')}), " \
                    "batch_size=None)"
        if kind == "dataset":
            out.warnings.append("a keras.utils.Sequence yields whole batches: "
                                "DataLoader(batch_size=None)")
        lines.append(f"{names.train_loader} = {train}")
        out.foreign = True
        if "validation_split" in args:
            out.todos.append("validation_split is not supported for datasets (Keras neither)")
    else:
        tensors = array_tensors(ir, cfg, x, y, out)
        if tensors is None:
            return out
        cw, sw = args.get("class_weight"), args.get("sample_weight")
        split = args.get("validation_split")
        split_code = code_of(split) if split is not None else "0.0"
        given = args.get("validation_data")
        # Keras splits only when no validation_data is given (it overrides validation_split)
        splits = split is not None and split_code not in ("0", "0.0", "0.") and (
            given is None or code_of(given) == "None")
        if cw is not None and code_of(cw) != "None":
            if len(ir.outputs) != 1 or y is None:
                out.todos.append("class_weight for a multi-output model not converted")
            else:
                loss = cfg.losses[0] if cfg is not None and cfg.losses else None
                kind = loss.kind if loss is not None else "categorical"
                lines.append("# Keras class_weight: a per-sample weight from each sample's class")
                lines.append(f"{names.weights} = torch.tensor([{code_of(cw)}[int(c)] for c "
                             f"in {_label_expr(y, kind)}], dtype=torch.float32)")
                tensors.append(names.weights)
                out.weighted = True
        elif sw is not None and code_of(sw) != "None":
            tensors.append(tensor(sw, "float32"))
            out.weighted = True
        data = f"TensorDataset({', '.join(tensors)})"
        if splits:
            pct = ""
            try:
                pct = f"{float(split_code) * 100:g}% "
            except ValueError:
                pass
            lines.append(f"{names.dataset} = {data}")
            lines.append(f"# Keras holds out the last {pct}of the samples, before shuffling")
            lines.append(f"{names.split_at} = int(len({names.dataset}) * (1 - {split_code}))")
            lines.append(f"{names.train_loader} = DataLoader(Subset({names.dataset}, "
                         f"range({names.split_at})), batch_size={bs}, shuffle={shuffle})")
            lines.append(f"{names.val_loader} = DataLoader(Subset({names.dataset}, "
                         f"range({names.split_at}, len({names.dataset}))), batch_size={bs})")
            val_loader = names.val_loader
        else:
            lines.append(f"{names.train_loader} = DataLoader({data}, batch_size={bs}, "
                         f"shuffle={shuffle})")
    vd = args.get("validation_data")
    if vd is not None and code_of(vd) != "None":
        vbs = code_of(args["validation_batch_size"]) if "validation_batch_size" in args else bs
        val = _loader(vd, loader_vars)
        if val is not None:
            source = f"KerasBatches({val[0]}{_steps(args, 'validation_steps')})" \
                if val[1] == "generator" else val[0]
            lines.append(f"{names.val_loader} = " + (source if val[1] == "loader" else
                         f"DataLoader({source}, batch_size=None)"))
            out.foreign = True
        elif isinstance(vd, (cst.Tuple, cst.List)) and len(vd.elements) >= 2:
            vx, vy = vd.elements[0].value, vd.elements[1].value
            tensors = array_tensors(ir, cfg, vx, vy, out)
            if tensors is None:
                return out
            if len(vd.elements) == 3:
                tensors.append(tensor(vd.elements[2].value, "float32"))
                out.weighted = True
            lines.append(f"{names.val_loader} = DataLoader(TensorDataset({', '.join(tensors)}), "
                         f"batch_size={vbs})")
        else:
            lines.append(f"{names.val_loader} = DataLoader(TensorDataset(*(torch.as_tensor("
                         f"np.asarray(a)) for a in {code_of(vd)})), batch_size={vbs})")
            out.foreign = True  # dtypes as the arrays have them
        val_loader = names.val_loader
    lines.append(f"{names.trainer} = pl.Trainer({', '.join(trainer_kwargs(args, callbacks, loggers))})")
    out.validates = val_loader is not None
    fit_args = [model, names.train_loader] + ([val_loader] if val_loader else [])
    lines.append(f"{names.trainer}.fit({', '.join(fit_args)})")
    if "initial_epoch" in args and code_of(args["initial_epoch"]) != "0":
        out.warnings.append("fit(initial_epoch=...): the Trainer runs the epochs - "
                            "initial_epoch epochs Keras runs, counted from 0; the optimizer "
                            "state starts afresh (resume from a checkpoint with "
                            "trainer.fit(ckpt_path=...) to keep it)")
    out.code = "\n".join(lines) + "\n"
    return out


def max_epochs(args: dict[str, cst.BaseExpression]) -> str:
    """Keras runs epochs ``initial_epoch .. epochs - 1``: ``epochs - initial_epoch`` of them."""
    epochs = code_of(args["epochs"]) if "epochs" in args else "1"
    start = code_of(args["initial_epoch"]) if "initial_epoch" in args else "0"
    if start == "0":
        return epochs
    if epochs.isdigit() and start.isdigit():
        return str(max(int(epochs) - int(start), 0))
    return f"{_operand(epochs)} - {_operand(start)}"


def _operand(code: str) -> str:
    return code if code.isidentifier() or code.isdigit() or "." in code and all(
        p.isidentifier() for p in code.split(".")) else f"({code})"


def trainer_kwargs(args: dict[str, cst.BaseExpression], callbacks: str | None,
                   loggers: str | None) -> list[str]:
    kw = [f"max_epochs={max_epochs(args)}"]
    if callbacks:
        kw.append(f"callbacks={callbacks}")
    kw.append(f"logger={loggers}" if loggers else "logger=False")
    # Keras writes no checkpoint unless asked: KerasModelCheckpoint is a plain callback
    kw.append("enable_checkpointing=False")
    verbose = code_of(args["verbose"]) if "verbose" in args else '"auto"'
    if verbose in ("0", "2"):
        kw.append("enable_progress_bar=False")
    if verbose == "0":
        kw.append("enable_model_summary=False")
    if "steps_per_epoch" in args and code_of(args["steps_per_epoch"]) != "None":
        kw.append(f"limit_train_batches={code_of(args['steps_per_epoch'])}")
    if "validation_steps" in args and code_of(args["validation_steps"]) != "None":
        kw.append(f"limit_val_batches={code_of(args['validation_steps'])}")
    if "validation_freq" in args:
        kw.append(f"check_val_every_n_epoch={code_of(args['validation_freq'])}")
    return kw


def result_keys(ir: ModelIR, cfg: CompileConfig | None) -> list[str]:
    """Keras evaluate()'s order: loss, per-output losses, then metrics (Keras names)."""
    keys = ["loss"]
    if len(ir.outputs) > 1:
        keys += [f"{name}_loss" for name in output_names(ir)]
    if cfg is not None:
        keys += [u.name for uses in cfg.metrics for u in uses]
    return keys


def evaluate_code(model: str, call: cst.Call, target: str | None, unpack: int, ir: ModelIR,
                  cfg: CompileConfig | None, names: Names, has_trainer: bool,
                  loader_vars: dict[str, str]) -> Emitted:
    out = Emitted("")
    args, ok = bind(call, EVAL_ARGS)
    if not ok:
        out.todos.append("evaluate() arguments not readable")
        return out
    for name in args:
        if name not in ("x", "y", "batch_size", "verbose", "sample_weight", "return_dict",
                        "steps"):
            out.todos.append(f"evaluate({name}=...) not converted")
    bs = code_of(args["batch_size"]) if "batch_size" in args else "32"
    x = args.get("x")
    if x is None:
        out.todos.append("evaluate() without x")
        return out
    lines: list[str] = []
    found = _loader(x, loader_vars)
    if found is not None:
        source = f"KerasBatches({found[0]}{_steps(args, 'steps')})" \
            if found[1] == "generator" else found[0]
        loader = source if found[1] == "loader" else f"DataLoader({source}, batch_size=None)"
        out.foreign = True
    else:
        tensors = array_tensors(ir, cfg, x, args.get("y"), out)
        if tensors is None:
            return out
        if "sample_weight" in args:
            tensors.append(tensor(args["sample_weight"], "float32"))
            out.weighted = True
        loader = f"DataLoader(TensorDataset({', '.join(tensors)}), batch_size={bs})"
    lines.append(f"{names.test_loader} = {loader}")
    steps = code_of(args["steps"]) if "steps" in args else "None"
    limit = f", limit_test_batches={steps}" if steps != "None" else ""
    if not has_trainer:
        lines.append(f"{names.trainer} = pl.Trainer(logger=False, enable_checkpointing=False"
                     f"{limit})")
    elif limit:  # Keras's steps: that many batches of x
        lines.append(f"{names.trainer}.limit_test_batches = {steps}")
    verbose = code_of(args["verbose"]) if "verbose" in args else '"auto"'
    vkw = ", verbose=False" if verbose == "0" else ""
    keys = result_keys(ir, cfg)
    test = f"{names.trainer}.test({model}, {names.test_loader}{vkw})[0]"
    as_dict = "return_dict" in args and code_of(args["return_dict"]) == "True"
    if target is None:
        lines.append(test)
    elif as_dict:
        lines.append(f"{names.results} = {test}")
        lines.append(f"{target} = {{key: {names.results}[\"test_\" + key] for key in "
                     f"({', '.join(repr(k) for k in keys)},)}}")
    else:
        lines.append(f"{names.results} = {test}")
        if unpack and unpack != len(keys):
            out.todos.append(f"evaluate() unpacked into {unpack} names; Keras returns "
                             f"{len(keys)} values ({', '.join(keys)})")
        if len(keys) == 1:
            lines.append(f"{target} = {names.results}[\"test_loss\"]")
        else:
            parts = [f'{names.results}["test_{k}"]' for k in keys]
            singles = _unpacked_names(target) if unpack == len(keys) else []
            if singles:  # one line per name: no tuple built only to be unpacked
                lines += [f"{n} = {v}" for n, v in zip(singles, parts, strict=True)]
            elif unpack:
                lines.append(f"{target} = {', '.join(parts)}")
            else:  # Keras's list, in its order
                lines.append(f"{target} = [{names.results}[\"test_\" + key] for key in "
                             f"({', '.join(repr(k) for k in keys)},)]")
    out.code = "\n".join(lines) + "\n"
    return out


def _unpacked_names(target: str) -> list[str]:
    """``score, acc`` (plain names only) -> ["score", "acc"]; anything else -> []."""
    try:
        node = cst.parse_expression(target)
    except cst.ParserSyntaxError:
        return []
    if not isinstance(node, (cst.Tuple, cst.List)):
        return []
    elems = [e.value for e in node.elements]
    if not all(isinstance(e, cst.Name) and isinstance(el, cst.Element)
               for e, el in zip(elems, node.elements, strict=True)):
        return []
    return [e.value for e in elems if isinstance(e, cst.Name)]


KERAS_SUFFIXES = (".weights.h5", ".keras", ".h5", ".tf")


def torch_file_name(value: str, suffix: str) -> str:
    """``"best.keras"`` -> ``"best.ckpt"``: a Keras file name with the torch extension."""
    for ext in KERAS_SUFFIXES:
        if value.endswith(ext):
            return value[: -len(ext)] + suffix
    return value


def checkpoint_path(node: cst.BaseExpression, suffix: str) -> str:
    """A literal Keras file name with the torch extension; other expressions as they are."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        if isinstance(value, str):
            return repr(torch_file_name(value, suffix))
    return code_of(node)
