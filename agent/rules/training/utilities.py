"""Keras data utilities → NumPy functions copied into the converted script.

``keras.datasets.mnist.load_data()``, ``keras.utils.get_file``, ``pad_sequences``,
``to_categorical``, ``load_img``/``img_to_array`` and friends have no torch counterpart and
need Keras (hence a backend, hence TensorFlow on most machines) at run time. Each is replaced
by a call to a function of the same behaviour from ``runtime/keras_data.py``, and that
function's source (with the helpers and stdlib imports it needs) is inserted after the
script's imports: the converted script stays one self-contained file that needs NumPy only.
Runs on every file that imports Keras, whether or not a model was converted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import libcst as cst
from libcst.metadata import CodeRange, PositionProvider

from agent.records import KerasDependency, Unmapped
from agent.rules import parsed as shared_ast
from agent.rules.imports import ImportTable
from agent.rules.models.applications_table import DECODE_NAMES, PREPROCESS_NAMES
from agent.rules.training import loader_args, pipeline_maps, tape_loop, text_layers

RUNTIME = tuple(Path(__file__).parent / "runtime" / f for f in (
    "keras_data.py", "keras_text.py", "data_pipeline.py", "training_loop.py", "optimizers.py",
    "lazy_modules.py", "recurrent_cells.py", "recurrent_dropout.py", "keras_loaders.py", "batches.py", "ctc.py",
    "callbacks.py", "image_ops.py", "image_pixels.py", "keras_getters.py", "pretrained.py",
    "random_features.py", "epoch_metrics.py", "lookup_layers.py", "attention_forms.py",
    "keras_metrics.py", "schedules.py", "keras_cells.py", "cell_loops.py", "masked_rnn.py",
    "data_layers.py", "image_augment.py", "conv_lstm.py", "hashing.py", "signal_ops.py",
    "csv_dataset.py", "tfrecord_write.py", "tensor_ops.py", "ragged.py", "re2_patterns.py",
    "same_pooling.py", "layer_weights.py"))

# canonical Keras name -> function in runtime/keras_data.py
UTILITIES: dict[str, str] = {
    "keras.utils.get_file": "get_file",
    "keras.utils.data_utils.get_file": "get_file",
    "keras.utils.to_categorical": "to_categorical",
    "keras.utils.np_utils.to_categorical": "to_categorical",
    "keras.utils.pad_sequences": "pad_sequences",
    "keras.preprocessing.sequence.pad_sequences": "pad_sequences",
    "keras.preprocessing.sequence.skipgrams": "skipgrams",
    "keras.preprocessing.sequence.make_sampling_table": "make_sampling_table",
    "keras.utils.set_random_seed": "set_random_seed",
    "keras.utils.load_img": "load_img",
    "keras.preprocessing.image.load_img": "load_img",
    "keras.utils.img_to_array": "img_to_array",
    "keras.preprocessing.image.img_to_array": "img_to_array",
    "keras.utils.array_to_img": "array_to_img",
    "keras.preprocessing.image.array_to_img": "array_to_img",
    "keras.utils.save_img": "save_img",
    "keras.preprocessing.image.save_img": "save_img",
    "keras.datasets.mnist.load_data": "load_mnist",
    "keras.datasets.fashion_mnist.load_data": "load_fashion_mnist",
    "keras.datasets.cifar10.load_data": "load_cifar10",
    "keras.datasets.cifar100.load_data": "load_cifar100",
    "keras.datasets.imdb.load_data": "load_imdb",
    "keras.datasets.imdb.get_word_index": "imdb_word_index",
    "keras.datasets.reuters.load_data": "load_reuters",
    "keras.datasets.reuters.get_word_index": "reuters_word_index",
    "keras.datasets.boston_housing.load_data": "load_boston_housing",
    # keras.preprocessing.text → runtime/keras_text.py
    "keras.preprocessing.text.Tokenizer": "Tokenizer",
    "keras.preprocessing.text.text_to_word_sequence": "text_to_word_sequence",
    # preprocessing layers used on data → runtime/lookup_layers.py
    "keras.layers.TextVectorization": "TextVectorization",
    "keras.layers.StringLookup": "StringLookup",
    # tf.data → runtime/data_pipeline.py (Dataset.from_tensor_slices → DataPipeline....)
    "tensorflow.data.Dataset": "DataPipeline",
    "tensorflow.data.AUTOTUNE": "AUTOTUNE",
    "tensorflow.data.experimental.AUTOTUNE": "AUTOTUNE",
    "tensorflow.data.Options": "PipelineOptions",
    "tensorflow.data.experimental.make_csv_dataset": "make_csv_dataset",  # runtime/csv_dataset.py
    # tf.io.gfile on local files → runtime/image_ops.py
    **{f"tensorflow.io.gfile.{name}": f"gfile_{fn}" for name, fn in (
        ("glob", "glob"), ("exists", "exists"), ("isdir", "isdir"), ("listdir", "listdir"),
        ("makedirs", "makedirs"), ("GFile", "open"))},
    **{f"tensorflow.gfile.{name}": f"gfile_{fn}" for name, fn in (  # TF 1
        ("Glob", "glob"), ("Exists", "exists"), ("IsDirectory", "isdir"),
        ("ListDirectory", "listdir"), ("MakeDirs", "makedirs"), ("GFile", "open"),
        ("Open", "open"))},
    # TFRecord files and tf.train.Example records → runtime/image_ops.py
    "tensorflow.data.TFRecordDataset": "TFRecordDataset",
    # writing them → runtime/tfrecord_write.py
    **{f"tensorflow.train.{name}": name for name in (
        "Example", "Features", "Feature", "BytesList", "FloatList", "Int64List")},
    **dict.fromkeys(("tensorflow.io.TFRecordWriter", "tensorflow.python_io.TFRecordWriter"),
                    "TFRecordWriter"),
    **pipeline_maps.EXAMPLE_PARSING,
    # directory/array loaders → runtime/keras_loaders.py (DataPipeline / torch Dataset)
    "keras.utils.image_dataset_from_directory": "image_dataset_from_directory",
    "keras.preprocessing.image_dataset_from_directory": "image_dataset_from_directory",
    "keras.utils.text_dataset_from_directory": "text_dataset_from_directory",
    "keras.preprocessing.text_dataset_from_directory": "text_dataset_from_directory",
    "keras.utils.timeseries_dataset_from_array": "timeseries_dataset_from_array",
    "keras.preprocessing.timeseries_dataset_from_array": "timeseries_dataset_from_array",
    "keras.preprocessing.image.ImageDataGenerator": "ImageDataGenerator",
    "keras.src.legacy.preprocessing.image.ImageDataGenerator": "ImageDataGenerator",
    # History as a type (``def plot(history: keras.callbacks.History)``) → runtime/training_loop.py
    "keras.callbacks.History": "KerasHistory",
    # keras.applications' preprocess_input/decode_predictions → runtime/pretrained.py
    **PREPROCESS_NAMES, **dict.fromkeys(DECODE_NAMES, "decode_predictions"),
}

HINT = re.compile(r"KerasHistory|KerasEpochMean|KerasConfusionMetric|KerasOptimizer|"
                  r"KerasRMSprop|KerasSGD|KerasMetric|KerasSchedule|KerasUpSampling2D|KerasSamePool|"
                  r"adapt_normalization|"
                  r"KerasLoss|"
                  r"KerasCompiledMetrics|KerasEarlyStopping|KerasModelCheckpoint|KerasCSVLogger|ctc_greedy_decode|ctc_decode_softmax|"
                  r"LazyLayerNorm|LazyMultiHeadAttention|CellRNN|StackedCells|Keras\w*Cell\b|"
                  r"LazyLSTM|LazyGRU|LazyRNN|init_on_first_batch|ActivatedLSTM|ResetBeforeGRU|masked_rnn|"
                  r"GateDropout|bidirectional_input_dropout|rnn_state_outputs|"
                  r"ConvLSTM2d|HashingBins|"
                  r"RandomFourierFeatureMap|RandomImage|"
                  r"activation_by_name|activation_name_of|KerasActivation|initializer_by_name|"
                  r"regularizer_by_name|"
                  r"KerasBatches|keras_predict_inputs|keras_predict|get_file|"
                  r"to_categorical|pad_sequences|skipgrams|make_sampling_table|set_random_seed|"
                  r"load_img|"
                  r"img_to_array|array_to_img|save_img|load_data|get_word_index|data\.|"
                  r"Tokenizer|text_to_word_sequence|TextVectorization|StringLookup|"
                  r"_dataset_from_|ImageDataGenerator|"
                  r"image_|audio_decode_wav|strings_|gfile|signal_stft|TFRecordWriter|"
                  r"train\.(?:Example|Feature|BytesList|FloatList|Int64List)|"
                  r"applications|preprocess_|FrozenModule|children_until|set_trainable|"
                  r"set_module_trainable|layer_weights|set_layer_weights|layer_named|layer_weight")


_TAPE_NAMES = ("trainable_weights", "tape_gradient", "tape_watch", "tape_variable",
               "variable_assign", "variable_assign_add", "variable_assign_sub",
               "KerasOptimizer", "KerasLoss", "KerasMetric", "KerasSchedule",
               "module_variables", "layer_weights", "set_layer_weights")


# runtime classes the rules write themselves (fit's History, layer forms torch lacks,
# generator batches)
_LAYER_FORMS = ("LazyLayerNorm", "LazyMultiHeadAttention", "CellRNN", "StackedCells",
                "KerasSimpleRNNCell", "KerasGRUCell", "KerasLSTMCell", "LazyLSTM", "LazyGRU",
                "LazyRNN", "LazyActivatedLSTM", "LazyResetBeforeGRU", "init_on_first_batch",
                "GateDropoutLSTM", "GateDropoutGRU", "LazyGateDropoutLSTM", "LazyGateDropoutGRU",
                "bidirectional_input_dropout",
                "rnn_state_outputs",
                "ActivatedLSTM", "ResetBeforeGRU", "masked_rnn", "RandomFourierFeatureMap",
                "ConvLSTM2d", "HashingBins", "KerasSamePool",
                "RandomImageRotation", "RandomImageZoom", "RandomImageTranslation",
                "activation_by_name", "KerasActivation", "activation_name_of",
                "initializer_by_name", "regularizer_by_name", "FrozenModule", "children_until",
                "set_trainable", "set_module_trainable",
                *sorted(set(PREPROCESS_NAMES.values())))
_TRAINING_LOGS = ("KerasEpochMean", "KerasEpochMeans", "KerasHistory", "KerasEarlyStopping",
                  "KerasModelCheckpoint", "KerasCSVLogger", "keras_epoch_logs")
_GENERATED = ("ctc_greedy_decode", "ctc_decode_softmax", "KerasEarlyStopping", "KerasHistory",
              "KerasModelCheckpoint", "KerasCSVLogger",
              "KerasEpochMean", "KerasEpochMeans", "KerasConfusionMetric",
              "KerasOptimizer", "KerasRMSprop", "KerasSGD", "KerasMetric", "KerasLoss",
              "KerasSchedule", "KerasCompiledMetrics", "KerasBatches", "keras_predict_inputs", "keras_predict", "KerasUpSampling2D", "adapt_normalization",
              "layer_weights", "set_layer_weights", "layer_named", "layer_weight",
              *_LAYER_FORMS)


@cache
def op_helpers() -> frozenset[str]:
    """The runtime/image_ops.py, image_pixels.py, signal_ops.py, tensor_ops.py and ragged.py
    functions the tf.io/tf.image/tf.strings/tf.signal/tensor rows call."""
    names: set[str] = set()
    for file in ("image_ops.py", "image_pixels.py", "signal_ops.py", "tensor_ops.py",
                 "ragged.py"):
        tree = ast.parse((Path(__file__).parent / "runtime" / file).read_text("utf-8"))
        names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                  and not n.name.startswith("_")}
    return frozenset(names)


# Cheap gates: a name resolves to its Keras path only when its last word is written in
# the code (the attribute itself, or the name an import statement binds), so a module
# without any of these words has nothing for that pass to do.
# (whole words: sets matched against parsed.words, not a scan of the text per pattern)
_UTILITY_WORDS = frozenset({q.rsplit(".", 1)[-1] for q in UTILITIES} | {"FixedLenFeature"})
_TEXT_LAYER = "TextVectorization"  # text_layers.LAYERS
# what TapeLoop acts on: tf.GradientTape, tf.function, keras.optimizers/losses/metrics
_TAPE_WORDS = frozenset({"GradientTape", "optimizers", "losses", "metrics", "function",
                         "get_weights", "set_weights"})


@dataclass
class Inlined:
    code: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)
    kept: list[tuple[int, str, str]] = field(default_factory=list)  # (line, Keras name, why)
    tf_data: str = ""  # why the tf.data pipelines stay TensorFlow ("" when they convert)
    left: bool | None = None  # keras_models_left(code) when known (code came back as given)


@dataclass(frozen=True)
class _Runtime:
    functions: dict[str, str]  # name -> source
    uses: dict[str, frozenset[str]]  # name -> module-level names it reads
    imports: list[tuple[str, str]]  # (bound name, import statement)
    constants: dict[str, str]  # name -> assignment source


@cache
def _runtime() -> _Runtime:
    functions: dict[str, str] = {}
    uses: dict[str, frozenset[str]] = {}
    imports: list[tuple[str, str]] = []
    constants: dict[str, str] = {}
    for path in RUNTIME:
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                functions[node.name] = "".join(  # the decorators too (``@functools.cache``)
                    f"@{ast.get_source_segment(source, d)}\n" for d in node.decorator_list
                ) + (ast.get_source_segment(source, node) or "")
                uses[node.name] = frozenset(n.id for n in ast.walk(node)
                                            if isinstance(n, ast.Name))
            elif isinstance(node, ast.Import):
                imports += [(a.asname or a.name.split(".")[0],
                             ast.unparse(ast.Import([ast.alias(a.name, a.asname)])))
                            for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__" \
                    and not node.level:  # a relative import names another runtime file
                imports += [(a.asname or a.name, f"from {node.module} import {a.name}")
                            for a in node.names]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if isinstance(target, ast.Name):
                    constants[target.id] = ast.get_source_segment(source, node) or ""
                    uses[target.id] = frozenset(n.id for n in ast.walk(node)
                                                if isinstance(n, ast.Name))
    return _Runtime(functions, uses, imports, constants)


def _closure(names: set[str]) -> list[str]:
    """The functions needed, helpers first, in the runtime file's order."""
    rt = _runtime()
    todo, seen = list(names), set(names)
    while todo:
        for dep in rt.uses[todo.pop()] & (rt.functions.keys() | rt.constants.keys()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return [name for name in [*rt.constants, *rt.functions] if name in seen]


class _Replace(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, taken: set[str], models_left: bool,
                 keep_pipelines: bool = False, text: text_layers.Plan | None = None) -> None:
        self.imports = imports
        self.taken = taken  # names the script binds itself
        self.models_left = models_left
        self.keep_pipelines = keep_pipelines  # a map function stays TF: tf.data stays too
        self.used: set[str] = set()
        self.hits: list[tuple[cst.CSTNode, str, str]] = []
        self.kept: list[tuple[cst.CSTNode, str, str]] = []  # (call, Keras name, why)
        self.blocked: set[int] = set()  # ids of callee nodes whose call keeps its Keras form
        self.callees: set[int] = set()  # ids of every call's callee
        self.text = text or text_layers.Plan()

    def visit_Call(self, node: cst.Call) -> bool:
        self.callees.add(id(node.func))
        qual = self.imports.resolve(node.func) or ""
        helper = UTILITIES.get(qual)
        why = loader_args.unsupported(helper, node) if helper is not None else ""
        why = why or self.text.blocked.get(id(node), "")
        if why:
            self.blocked.add(id(node.func))
            self.kept.append((node, qual, why))
        return True

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def _swap(self, original: cst.BaseExpression, updated: cst.BaseExpression
              ) -> cst.BaseExpression:
        if id(original) in self.blocked:
            return updated
        if id(original) not in self.callees and UTILITIES.get(
                self.imports.resolve(original) or "") in _CONSTRUCTED_ONLY:
            return updated  # tf.train.Example.FromString: the runtime class has no such API
        qual = self.imports.resolve(original) or ""
        helper = UTILITIES.get(qual)
        if helper in _NEEDS_TORCH_MODELS and (self.models_left or self.keep_pipelines):
            return updated  # a Keras model or a TF function still fed by it: tf.data stays
        if helper in _LAYERS_ON_DATA and (self.models_left or self.keep_pipelines):
            return updated  # a Keras model or a tf.data map function left may call it
        if helper == "AUTOTUNE" and helper in self.taken:  # AUTOTUNE = tf.data.AUTOTUNE
            self.hits.append((original, "AUTOTUNE", qual))
            return cst.parse_expression("-1")  # tf.data's own value of the constant
        if helper is None or set(_closure({helper})) & self.taken:
            return updated
        self.used.add(helper)
        self.hits.append((original, helper, qual))
        return cst.Name(helper)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        return self._swap(original, updated)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if isinstance(original.func, cst.Name):  # from keras.utils import get_file
            updated = updated.with_changes(func=self._swap(original.func, updated.func))
        if isinstance(updated.func, cst.Name) and updated.func.value in ("FixedLenFeature",
                                                                          "VarLenFeature"):
            updated = updated.with_changes(args=[  # tf.string / tf.int64 → the runtime's
                a.with_changes(value=cst.parse_expression(pipeline_maps.FEATURE_DTYPES[q]))
                if (q := self.imports.resolve(a.value) or "") in pipeline_maps.FEATURE_DTYPES
                else a for a in updated.args])
        return updated

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if isinstance(original.value, cst.Name):  # the function passed as a value
            return updated.with_changes(value=self._swap(original.value, updated.value))
        return updated


NO_MAPPING = "has no torch mapping"  # the op table's record for a name it does not know
PIPELINE_HINT = re.compile(r"\bdata\.|_dataset_from_")

MAP_KEPT = ("tf.data map function {}: {}; the tf.data pipelines stay TensorFlow (their "
            "functions must all convert)")
_NEEDS_TORCH_MODELS = ("DataPipeline", "AUTOTUNE", "TFRecordDataset", "FixedLenFeature",
                       "VarLenFeature",
                       "parse_single_example", "parse_example", "image_dataset_from_directory",
                       "text_dataset_from_directory", "timeseries_dataset_from_array",
                       "ImageDataGenerator", "PipelineOptions", "make_csv_dataset")
# the runtime's tf.train messages are built and serialized, nothing else: only a call of the
# class converts (``tf.train.Example.FromString(...)`` stays TF)
_CONSTRUCTED_ONLY = ("Example", "Features", "Feature", "BytesList", "FloatList", "Int64List")
# Keras layers replaced on data: a Keras model (on its string inputs) or a tf.data map
# function that stays TF may call them on TF tensors
_LAYERS_ON_DATA = ("TextVectorization", "StringLookup")
# what makes a DataPipeline: its map functions convert with it
PIPELINE_SOURCES = frozenset(_NEEDS_TORCH_MODELS) - {"AUTOTUNE", "ImageDataGenerator",
                                                     "PipelineOptions"}
# loaders whose result is a DataPipeline (fit feeds it with DataLoader(batch_size=None))
PIPELINE_LOADERS = frozenset(q for q, h in UTILITIES.items() if h.endswith("_from_directory")
                             or h.endswith("_from_array") or h == "make_csv_dataset")
GENERATOR = frozenset(q for q, h in UTILITIES.items() if h == "ImageDataGenerator")
_MODEL_PREFIXES = ("keras.Model", "keras.Sequential", "keras.Input", "keras.layers.",
                   "keras.models.", "keras.applications.")


def _pipeline_hint(code: str) -> bool:
    """``PIPELINE_HINT.search(code)``, the regex run only where its literal parts are found
    (a ``\\b`` first defeats the regex engine's fast literal scan)."""
    return ("data." in code or "_dataset_from_" in code) and bool(PIPELINE_HINT.search(code))


def keras_models_left(tree: ast.Module, imports: ImportTable) -> bool:
    """Keras models or layers the rules did not convert: the loops and pipelines that feed
    them must stay Keras/TF too, or the script would mix two frameworks."""
    return first_keras_model(tree, imports) is not None


def first_keras_model(tree: ast.Module, imports: ImportTable) -> str | None:
    """The Keras name of the first Keras model or layer left, None when none is."""
    walked = shared_ast.walk(tree)
    heads = imports.names
    if not any(type(n) is ast.Name and n.id in heads for n in walked):
        return None  # every name below starts with an imported one: most converted files
    nodes = [n for n in walked if isinstance(n, (ast.Name, ast.Attribute))]
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    named: list[tuple[ast.expr, str]] = []  # only a plain a.b.c whose head is imported
    for n in nodes:
        if id(n) not in inner:
            dotted = _dotted(n)  # keras.applications.resnet50 above: a module
            if dotted is not None and dotted.partition(".")[0] in imports.names \
                    and dotted not in imports.subclasses:  # converted with the functional
                named.append((n, dotted))  # model
    seen: dict[str, str | None] = {}
    for _, dotted in sorted(named, key=lambda p: (p[0].lineno, p[0].col_offset)):
        if dotted not in seen:
            seen[dotted] = imports.resolve_dotted(dotted)
        qual = seen[dotted]
        if qual and (qual.startswith(_MODEL_PREFIXES) or qual in ("keras.Model",)) \
                and qual not in UTILITIES:  # preprocess_input: a runtime function
            return qual
    return None


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


_DEFINITIONS = (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the script defines itself (not through a keras/tensorflow import)."""
    out: set[str] = set()
    for node in shared_ast.walk(tree):
        kind = type(node)  # (the parser makes no subclasses: one test per node, names first)
        if kind is ast.Name:
            if type(node.ctx) is ast.Store:  # type: ignore[attr-defined]
                out.add(node.id)  # type: ignore[attr-defined]
        elif kind in _DEFINITIONS:
            out.add(node.name)  # type: ignore[attr-defined]
        elif isinstance(node, ast.Import):
            out.update((a.asname or a.name).split(".")[0] for a in node.names
                       if a.name.split(".")[0] not in ("keras", "tensorflow", "tf_keras"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] not in (
                "keras", "tensorflow", "tf_keras"):
            out.update(a.asname or a.name for a in node.names)
    return out


def _drop_keras_aliases(code: str, helpers: set[str], imports: ImportTable) -> str:
    """``from keras.utils import to_categorical``: the inlined function replaces it."""
    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)),
                       key=lambda n: -n.lineno):
        if not node.module or node.module.split(".")[0] not in ("keras", "tensorflow",
                                                               "tf_keras"):
            continue
        keep = [a for a in node.names if not (
            (a.asname or a.name) in helpers
            and UTILITIES.get(imports.resolve(cst.Name(a.asname or a.name)) or "")
            == (a.asname or a.name))]
        if len(keep) == len(node.names) or node.end_lineno is None:
            continue
        indent = lines[node.lineno - 1][:node.col_offset]
        new = f"{indent}{ast.unparse(ast.ImportFrom(node.module, keep, 0))}\n" if keep else (
            f"{indent}pass\n" if node.col_offset else "")
        lines[node.lineno - 1:node.end_lineno] = [new] if new else []
    return "".join(lines)


def _insert_at(tree: ast.Module, helpers: set[str]) -> tuple[int, set[str]]:
    """(line index, names imported above it): after the last top-level import that comes
    before the first statement using a helper (the docstring when there is none)."""
    at = 0
    have: set[str] = set()
    for k, node in enumerate(tree.body):
        if any(isinstance(n, ast.Name) and n.id in helpers for n in ast.walk(node)):
            break
        if k == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            at = node.end_lineno or node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            at = node.end_lineno or node.lineno
            have |= {(a.asname or a.name).split(".")[0] if isinstance(node, ast.Import)
                     else (a.asname or a.name) for a in node.names}
    return at, have


def _merged(stmts: list[str]) -> list[str]:
    """``import x`` lines first, then one ``from m import a, b`` per module."""
    plain = sorted(s for s in stmts if s.startswith("import "))
    froms: dict[str, list[str]] = {}
    for s in stmts:
        if s.startswith("from "):
            module, _, name = s[5:].partition(" import ")
            froms.setdefault(module, []).append(name)
    return plain + [f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(froms.items())]


def inline_utilities(code: str, imports: ImportTable) -> Inlined:
    """Replace Keras data utilities in ``code`` by inlined NumPy functions.

    Each pass runs only when a word it acts on is in the text (gates below), and positions
    are resolved only for records: most modules come back as the same string, fast."""
    tape_hint = tape_loop.hinted(code)  # most often found, and cheaply
    if not tape_hint and not HINT.search(code):
        return Inlined(code)
    try:
        tree = shared_ast.parse(code)
    except SyntaxError:
        return Inlined(code)
    parsed: list[cst.Module] = []

    def parse() -> cst.Module:
        if not parsed:
            parsed.append(cst.parse_module(code))
        return parsed[0]

    bound: list[set[str]] = []

    def taken() -> set[str]:  # the names the script binds: a walk of the tree, when read
        if not bound:
            bound.append(_bound_names(tree))
        return bound[0]

    left = first_keras_model(tree, imports)
    models_left = left is not None
    written = shared_ast.words(code)
    try:
        maps = pipeline_maps.plan(parse(), imports, taken(), op_helpers()) \
            if not models_left and _pipeline_hint(code) else pipeline_maps.Plan()
        layers = text_layers.plan(parse(), imports, taken(), op_helpers()) \
            if not models_left and maps.ok and _TEXT_LAYER in written else text_layers.Plan()
        swaps = bool(not _UTILITY_WORDS.isdisjoint(written) or layers.blocked or layers.functions)
        replacer = _Replace(imports, taken() if swaps else set(),  # read only by its visit
                            models_left, keep_pipelines=not maps.ok, text=layers)
        tape_words = bool(tape_hint
                          and (not _TAPE_WORDS.isdisjoint(written) or imports.schedules))
        if swaps or maps.callbacks or tape_words:
            parse()
    except cst.ParserSyntaxError:
        return Inlined(code)
    module = parsed[0] if parsed else None
    where: dict[str, Mapping[cst.CSTNode, CodeRange]] = {}

    def line_of(node: cst.CSTNode) -> int:  # position metadata: only for a record
        if "positions" not in where and module is not None:
            where["positions"] = cst.MetadataWrapper(
                module, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = where.get("positions", {}).get(node)
        return pos.start.line if pos is not None else 0

    new = text_layers.apply(module.visit(replacer), layers) \
        if swaps and module is not None else module
    out = Inlined("")
    blocking = list(dict.fromkeys(cb.label for cb in maps.callbacks if cb.problems))
    out.tf_data = (f"{left} is left in this script, and the pipelines feeding Keras/TF code "
                   "must yield TF tensors" if left is not None else
                   f"tf.data map function {', '.join(blocking)} does not convert (see its "
                   "record)" if not maps.ok else "")
    for cb in maps.callbacks:
        if not maps.ok and cb.problems:
            out.kept.append((line_of(cb.node), "tensorflow.data.Dataset.map", MAP_KEPT.format(
                cb.label, "; ".join(cb.problems))))
        elif maps.ok and replacer.used & PIPELINE_SOURCES:
            out.changes.append((line_of(cb.node), "data.map_function", f"{cb.label}: tf ops "
                                "-> torch, run by the DataPipeline like tf.data's map"))
    if maps.ok and maps.callbacks and replacer.used & PIPELINE_SOURCES and new is not None:
        new = pipeline_maps.apply(new, imports, maps)
    for node, helper, qual in replacer.hits:
        out.changes.append((line_of(node), f"data.{helper}",
                            f"{qual} -> {helper}() (NumPy, inlined: no Keras at run time)"))
    for node, qual, why in replacer.kept:
        out.kept.append((line_of(node), qual, why))
    new_code = new.code if new is not None and new is not module else code
    new_tree = shared_ast.parse(new_code) if new_code is not code else tree
    # what counted as a model may have been a utility the replacer swapped (preprocess_input)
    models_left = replacer.models_left and (
        keras_models_left(new_tree, imports) if new_tree is not tree else models_left)
    if tape_words and not set(_closure(set(_TAPE_NAMES))) & taken() \
            and not models_left and new is not None:
        own = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        tape = tape_loop.TapeLoop(imports, own)
        replaced = cst.MetadataWrapper(new, unsafe_skip_copy=True)  # the lines of its nodes
        new = replaced.module.visit(tape)
        replacer.used |= tape.used
        if tape.changes:
            tape_positions = replaced.resolve(PositionProvider)
            for node, rule, msg in tape.changes:
                pos = tape_positions.get(node)
                out.changes.append((pos.start.line if pos is not None else 0, rule, msg))
        new_code = new.code
        new_tree = shared_ast.parse(new_code)
    # runtime names the script reads (each a word of its text first: most have none)
    generated = set(_GENERATED) & written
    helpers_read = op_helpers() & (written if new_tree is tree else shared_ast.words(new_code))
    read = {n.id for n in shared_ast.walk(tree) if isinstance(n, ast.Name)} \
        if generated or (helpers_read and new_tree is tree) else set()
    if generated & read:
        replacer.used |= generated & read - taken()
    if helpers_read:
        replacer.used |= (read if new_tree is tree else {
            n.id for n in shared_ast.walk(new_tree) if isinstance(n, ast.Name)}
        ) & helpers_read - taken()
    if not out.changes and not replacer.used:
        return Inlined(code, kept=out.kept, tf_data=out.tf_data, left=left is not None)
    text = _drop_keras_aliases(new_code, replacer.used, imports)
    out.code = _insert_runtime(text, replacer.used, set())
    return out


def explain_kept(unmapped: list[Unmapped], why: str) -> list[Unmapped]:
    """A tf.data name the op table met says why it stays TensorFlow, not that it "has no
    torch mapping" (the utilities, not the op table, convert tf.data)."""
    return [replace(u, reason=_kept_reason(u.keras_name, why))
            if u.keras_name.startswith("tensorflow.data.") and u.reason.endswith(NO_MAPPING)
            else u for u in unmapped]


def explain_deps(deps: list[KerasDependency], why: str) -> list[KerasDependency]:
    """The same for the Keras/TF uses left in the output (``keras_deps_left``)."""
    return [replace(d, why=_kept_reason(d.name, why)) if d.name.startswith("tensorflow.data.")
            else d for d in deps]


def _kept_reason(name: str, why: str) -> str:
    return f"tf.data stays TensorFlow: {why}" if why else (
        f"{name}: the DataPipeline (runtime/data_pipeline.py) has no counterpart")


def _insert_runtime(text: str, used: set[str], bound: set[str], header: bool = True) -> str:
    """``text`` with the runtime functions ``used`` needs (those ``bound`` already there
    left out) inserted after the imports above their first use."""
    tree = ast.parse(text)
    rt = _runtime()
    functions = [f for f in _closure(used) if f not in bound]
    if not functions:
        return text
    needed = set().union(*(rt.uses[f] for f in functions))
    at, have = _insert_at(tree, used)
    stmts = [stmt for name, stmt in rt.imports if name in needed and (
        name not in have or name == "urllib")]
    above = "".join(text.splitlines(keepends=True)[:at])
    stmts = _merged([s for s in dict.fromkeys(stmts) if f"{s}\n" not in above])
    consts = [rt.constants[n] for n in functions if n in rt.constants]
    defs = [rt.functions[n] for n in functions if n in rt.functions]
    block = "\n".join(stmts) + ("\n\n" if stmts else "") + "\n".join(consts) + (
        "\n" if consts else "")
    block += "\n\n" if not header else (
              "\n\n# Layer forms torch lacks, as Keras computes them (k2l)\n"
              if set(functions) <= set(_LAYER_FORMS) | {
                  "_activation", "_activation_table", "_variance_scaling_presets", "_fans_of",
                  "_snake_case"} else
              "\n\n# CTC decoding as Keras computes it (k2l): torch has no decoder\n"
              if set(functions) <= {"ctc_greedy_decode", "ctc_decode_softmax"} else
              "\n\n# Keras's epoch logs and callbacks, as Lightning lacks them (k2l)\n"
              if set(functions) <= set(_TRAINING_LOGS) else
              "\n\n# Keras data utilities and tf.data in NumPy/torch (k2l): the script "
              "needs no Keras/TensorFlow\n")
    block += "\n\n\n".join(defs) + "\n\n\n"
    lines = text.splitlines(keepends=True)
    lines[at:at] = ["\n", block]
    return "".join(lines)


def copy_missing_runtime(code: str) -> str:
    """Runtime functions a later rule's code calls (an op row used at module level after
    the utilities ran) and the script does not define yet: copied in, once."""
    if _runtime_names().isdisjoint(shared_ast.words(code)):  # none read: nothing to copy
        return code
    try:
        tree = shared_ast.parse(code)
    except SyntaxError:
        return code
    taken = _bound_names(tree)
    read = {n.id for n in shared_ast.walk(tree) if isinstance(n, ast.Name)}
    missing = read & (op_helpers() | set(_GENERATED)) - taken
    # a block copied earlier already has its header comment
    return _insert_runtime(code, missing, taken, header="(k2l)" not in code) if missing \
        else code


@cache
def _runtime_names() -> frozenset[str]:
    """The names ``copy_missing_runtime`` copies."""
    return frozenset(op_helpers() | set(_GENERATED))


def runtime_copies(module: cst.Module) -> set[str]:
    """Top-level functions and classes of ``module`` that are runtime code copied in whole
    (k2l's own NumPy/torch code, tested directly): data-flow checks of converted user code
    leave them out."""
    known = _runtime().functions
    return {s.name.value for s in module.body
            if isinstance(s, (cst.FunctionDef, cst.ClassDef)) and s.name.value in known
            and module.code_for_node(s.with_changes(leading_lines=[])).strip()
            == known[s.name.value].strip()}
