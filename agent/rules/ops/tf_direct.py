"""Op rows for ``tf.*`` / ``keras.random`` functions found unconverted in real scripts:
``tf.roll``, ``tf.linalg`` inverse/determinant/diagonals/trace, ``tf.math.log_sigmoid``/
``xlogy``, ``tf.boolean_mask``, ``tf.clip_by_norm``, ``tf.image.rot90``, ``tf.sequence_mask``,
``tf.gather_nd``, ``tf.nn.depth_to_space``/``space_to_depth``, ``tf.dynamic_partition``,
``tf.edit_distance`` of ``tf.sparse.from_dense`` tensors (torch sparse tensors) (these call
functions of ``agent/rules/training/runtime/tensor_ops.py``), ``tf.ragged.constant``
(runtime/ragged.py: torch has no ragged tensors), ``keras.random.randint``/``dropout``.

TF's conventions are written out: diagonals are taken over the last two axes, images are
channels-last, ``tf.image.rot90`` turns the H, W plane counter-clockwise as ``torch.rot90``.
"""

from __future__ import annotations

from agent.rules.ops.spec import Bound, Op, atom
from agent.rules.spec import Unsupported

TF, LINALG, MATH, NN, IMG = ("tensorflow", "tensorflow.linalg", "tensorflow.math",
                             "tensorflow.nn", "tensorflow.image")

ROWS: list[tuple[list[str], Op]] = []


def _row(names: list[str], op: Op) -> None:
    ROWS.append((names, op))


_row([f"{TF}.roll"], Op("torch.roll", ("input", "shift", "axis"), pos=2,
                        renames={"axis": "dims"}))
_row([f"{LINALG}.inv"], Op("torch.linalg.inv", ("input", "adjoint"),
                           fixed={"adjoint": "False"}))
_row([f"{LINALG}.det"], Op("torch.linalg.det", ("input",)))
_row([f"{LINALG}.logdet"], Op("torch.logdet", ("matrix",)))
_row([f"{LINALG}.diag_part"], Op("", ("input", "k"), fixed={"k": "0"}, handler=lambda b: (
    f"torch.diagonal({b.code('input')}, dim1=-2, dim2=-1)")))
_row([f"{LINALG}.diag"], Op("torch.diag_embed", ("diagonal", "k"), fixed={"k": "0"}))
_row([f"{LINALG}.trace"], Op("", ("x",), handler=lambda b: (
    f"torch.diagonal({b.code('x')}, dim1=-2, dim2=-1).sum(-1)")))
_row([f"{MATH}.log_sigmoid"], Op("F.logsigmoid", ("x",), elementwise=True))
_row([f"{MATH}.xlogy"], Op("torch.xlogy", ("x", "y"), pos=2, elementwise=True))


def _boolean_mask(b: Bound) -> str:
    """The mask's axes are the tensor's leading ones (``axis`` 0): torch's boolean index."""
    if b.has("axis") and b.code("axis") not in ("0", "None"):
        raise Unsupported(f"{b.op}(axis={b.code('axis')})")
    return f"{atom(b.code('tensor'))}[{b.code('mask')}]"


_row([f"{TF}.boolean_mask"], Op("", ("tensor", "mask", "axis"), pos=2, handler=_boolean_mask,
                                examples=(("tf.boolean_mask(x, m)", "x[m]"),)))


def _clip_by_norm(b: Bound) -> str:
    """``t * clip_norm / max(||t||, clip_norm)``, the L2 norm over ``axes`` (all of them)."""
    t, clip = atom(b.code("t")), atom(b.code("clip_norm"))
    axes = f", dim={b.code('axes')}, keepdim=True" if b.has("axes") and b.code(
        "axes") != "None" else ""
    return (f"{t} * {clip} / torch.clamp(torch.linalg.vector_norm({b.code('t')}{axes}), "
            f"min={clip})")


_row([f"{TF}.clip_by_norm"], Op("", ("t", "clip_norm", "axes"), pos=2, handler=_clip_by_norm))
_row([f"{IMG}.rot90"], Op("", ("image", "k"), handler=lambda b: (
    f"torch.rot90({b.code('image')}, {b.code('k', '1')}, dims=(-3, -2))")))


def _sequence_mask(b: Bound) -> str:
    args = [b.code("lengths")] + ([b.code("maxlen")] if b.has("maxlen") else [])
    if b.has("dtype") and b.code("dtype") != "torch.bool":
        args.append(f"dtype={b.code('dtype')}")
    return f"sequence_mask({', '.join(args)})"


_row([f"{TF}.sequence_mask"], Op("", ("lengths", "maxlen", "dtype"), handler=_sequence_mask,
                                 examples=(("tf.sequence_mask(lengths, 10)",
                                            "sequence_mask(lengths, 10)"),)))


def _gather_nd(b: Bound) -> str:
    if b.has("batch_dims") and b.code("batch_dims") != "0":
        raise Unsupported(f"{b.op}(batch_dims={b.code('batch_dims')})")
    return f"gather_nd({b.code('params')}, {b.code('indices')})"


_row([f"{TF}.gather_nd"], Op("", ("params", "indices", "batch_dims"), pos=2,
                             handler=_gather_nd))


_row([f"{TF}.dynamic_partition"], Op("", ("data", "partitions", "num_partitions"), pos=3,
                                     handler=lambda b: (
    f"dynamic_partition({b.code('data')}, {b.code('partitions')}, "
    f"{b.code('num_partitions')})")))


# a SparseTensor of the non-zero entries: torch's sparse COO tensor drops the same ones
_row([f"{TF}.sparse.from_dense"], Op("", ("tensor",), handler=lambda b: (
    f"torch.as_tensor({b.code('tensor')}).to_sparse()")))
_row([f"{TF}.edit_distance"], Op("", ("hypothesis", "truth", "normalize"), pos=2,
                                  handler=lambda b: "sparse_edit_distance({}, {}{})".format(
    b.code("hypothesis"), b.code("truth"),
    "" if b.is_default("normalize", "True") else f", normalize={b.code('normalize')}")))


def _ragged_constant(b: Bound) -> str:
    """Rows of tensors (runtime/ragged.py); ``inner_shape`` (a dense inner block whose shape
    TF checks) is not reproduced."""
    if b.has("inner_shape") and b.code("inner_shape") != "None":
        raise Unsupported(f"{b.op}(inner_shape={b.code('inner_shape')})")
    args = [b.code("pylist")] + [f"{name}={b.code(name)}" for name in ("dtype", "ragged_rank")
                                 if b.has(name) and b.code(name) != "None"]
    return f"ragged_constant({', '.join(args)})"


_row([f"{TF}.ragged.constant"], Op("", ("pylist", "dtype", "ragged_rank", "inner_shape",
                                         "name", "row_splits_dtype"), handler=_ragged_constant,
                                   examples=(("tf.ragged.constant(rows, dtype=tf.float32)",
                                              "ragged_constant(rows, dtype=torch.float32)"),)))


def _blocks(function: str) -> Op:
    def handler(b: Bound) -> str:
        if b.has("data_format") and b.lit("data_format") not in ("NHWC", "channels_last"):
            raise Unsupported(f"{b.op}(data_format={b.code('data_format')})")
        return f"{function}({b.code('input')}, {b.code('block_size')})"
    return Op("", ("input", "block_size", "data_format"), pos=2, handler=handler)


_row([f"{NN}.depth_to_space", "keras.ops.depth_to_space", "keras.ops.nn.depth_to_space"],
     _blocks("depth_to_space"))
_row([f"{NN}.space_to_depth", "keras.ops.space_to_depth", "keras.ops.nn.space_to_depth"],
     _blocks("space_to_depth"))


def _randint(b: Bound) -> str:
    if b.has("dtype") and b.lit("dtype") not in ("int32", None):
        raise Unsupported(f"{b.op}(dtype={b.code('dtype')})")
    return (f"torch.randint({b.code('minval')}, {b.code('maxval')}, {b.code('shape')}, "
            "dtype=torch.int32)")


_row(["keras.random.randint"], Op("", ("shape", "minval", "maxval", "dtype", "seed"), pos=3,
                                  handler=_randint))
_row(["keras.random.dropout"], Op("F.dropout", ("inputs", "rate", "noise_shape", "seed"),
                                  pos=2, fixed={"noise_shape": "None", "seed": "None"}))
