"""Integer-output preprocessing layers with static tables: Discretization, CategoryEncoding,
IntegerLookup with a given vocabulary; Hashing (runtime/hashing.py: FarmHash Fingerprint64 in
Python, TF's hash buckets, copied into the script).

Both are pure tensor code, so no runtime helper is copied. Keras 3's ``digitize`` puts a value
equal to a boundary in the upper bucket (``bins[i-1] <= x < bins[i]``), which is
``torch.bucketize(..., right=True)``; torch's default is the other side. IntegerLookup (Keras
3 defaults: one OOV index, no mask token) gives the OOV index 0 (1 after a mask token's 0)
and ``vocabulary[i]`` the index ``i + 1`` past the OOV one.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _discretization(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if a.get("bin_boundaries") is None:
        raise Unsupported("Discretization without bin_boundaries needs adapt(): give the bins")
    if a.get("output_mode") != "int":
        raise Unsupported(f"Discretization(output_mode={a.code('output_mode')})")
    bins = a.code("bin_boundaries")
    return Built(
        out=ins[0],
        forward="torch.bucketize({x}, {m_bins}, right=True)",
        modules=(("bins", f"torch.tensor({bins}, dtype=torch.float32)"),),
    )


def _category_encoding(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    mode = a.get("output_mode")
    n = a.get("num_tokens")
    if not isinstance(n, int):
        raise Unsupported("CategoryEncoding needs num_tokens known at conversion time")
    if a.get("sparse"):
        raise Unsupported("CategoryEncoding(sparse=True)")
    if len(shape) != 1:
        raise Unsupported(f"CategoryEncoding on rank-{len(shape) + 1} inputs")
    hot = f"F.one_hot({{x}}.long(), {n})"
    if mode == "one_hot":
        if shape[0] == 1:  # Keras squeezes a trailing axis of 1 before encoding
            return Built(out=(n,), forward=f"F.one_hot({{x}}.long().squeeze(-1), {n}).float()")
        return Built(out=(shape[0], n), forward=f"{hot}.float()")
    if mode == "multi_hot":
        return Built(out=(n,), forward=f"{hot}.amax(dim=-2).float()")
    if mode == "count":
        return Built(out=(n,), forward=f"{hot}.sum(dim=-2).float()")
    raise Unsupported(f"CategoryEncoding(output_mode={a.code('output_mode')})")


def _integer_lookup(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    given = a.values.get("vocabulary")  # a name is kept: torch.tensor fails loudly on a path
    if given is None or given.known and not isinstance(given.value, (list, tuple)):
        raise Unsupported("IntegerLookup without a vocabulary list (adapt(), a file)")
    vocab = a.value("vocabulary")
    for arg, keep in (("num_oov_indices", 1), ("output_mode", "int"), ("invert", False),
                      ("sparse", False), ("idf_weights", None), ("max_tokens", None),
                      ("pad_to_max_tokens", False)):
        if a.get(arg) != keep:
            raise Unsupported(f"IntegerLookup({arg}={a.code(arg)})")
    mask = a.get("mask_token")
    if isinstance(vocab, (list, tuple)) and mask is not None and mask in vocab:
        raise Unsupported("IntegerLookup with the mask token inside its vocabulary")
    oov = 0 if mask is None else 1
    vocab_code = a.code("vocabulary")
    hits = f"(({{x}}.unsqueeze(-1) == {{m_vocab}}).long() * {{m_ranks}}).sum(-1) + {oov}"
    forward = hits if mask is None else f"torch.where({{x}} == {mask!r}, 0, {hits})"
    return Built(
        out=ins[0], forward=forward,
        modules=(("vocab", f"torch.tensor({vocab_code})"),
                 ("ranks", f"torch.arange(1, len({vocab_code}) + 1)")),
    )


def _hashing(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    for arg, keep in (("output_mode", "int"), ("sparse", False)):
        if a.get(arg) != keep:
            raise Unsupported(f"Hashing({arg}={a.code(arg)})")
    mask = f", mask_value={a.code('mask_value')}" if a.get("mask_value") is not None else ""
    salt = f", salt={a.code('salt')}" if a.code("salt") != "None" else ""  # SipHash-2-4
    return Built(out=ins[0], forward="{m}({x})",
                 modules=(("", f"HashingBins({a.code('num_bins')}{mask}{salt})"),),
                 warnings=("string inputs go in as NumPy arrays or lists of str "
                           "(HashingBins hashes them as Keras; integer tensors as their digits)",))


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "Discretization", ("bin_boundaries", "num_bins", "epsilon", "output_mode"),
        {"bin_boundaries": None, "num_bins": None, "epsilon": 0.01, "output_mode": "int"},
        _discretization, torch=("torch.bucketize", "torch.tensor"), port=None,
        examples=(Example("layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])", (4,),
                          ("torch.bucketize(", "right=True")),),
    ),
    LayerSpec(
        "CategoryEncoding", ("num_tokens", "output_mode", "sparse"),
        {"num_tokens": None, "output_mode": "multi_hot", "sparse": False},
        _category_encoding, torch=("torch.nn.functional.one_hot",), port=None,
        # integer inputs: tests/test_encoding_layers.py compares them numerically
        examples=(Example("layers.CategoryEncoding(num_tokens=5)", (3,), (".amax(dim=-2)",),
                          equivalence=False),
                  Example('layers.CategoryEncoding(5, output_mode="count")', (3,),
                          (".sum(dim=-2)",), equivalence=False),
                  Example('layers.CategoryEncoding(5, output_mode="one_hot")', (1,),
                          (".squeeze(-1)",), equivalence=False)),
    ),
    LayerSpec(
        "IntegerLookup", ("max_tokens", "num_oov_indices", "mask_token", "oov_token",
                          "vocabulary", "vocabulary_dtype", "idf_weights", "invert",
                          "output_mode", "sparse", "pad_to_max_tokens"),
        {"max_tokens": None, "num_oov_indices": 1, "mask_token": None, "oov_token": -1,
         "vocabulary": None, "vocabulary_dtype": "int64", "idf_weights": None, "invert": False,
         "output_mode": "int", "sparse": False, "pad_to_max_tokens": False},
        _integer_lookup, torch=("torch.tensor", "torch.arange", "torch.where"), port=None,
        ignorable=("name", "dtype", "trainable", "input_shape", "oov_token", "vocabulary_dtype"),
        # Keras 3's IntegerLookup needs TensorFlow: tests/test_encoding_layers.py checks the
        # indices Keras documents (checked once against Keras 3 on TensorFlow)
        examples=(Example("layers.IntegerLookup(vocabulary=[12, 36, 7])", (4,),
                          ("torch.arange(1, len([12, 36, 7]) + 1)",), equivalence=False),
                  Example("layers.IntegerLookup(vocabulary=[12, 36, 7], mask_token=0)", (4,),
                          ("torch.where(",), equivalence=False)),
    ),
    LayerSpec(
        "Hashing", ("num_bins", "mask_value", "salt", "output_mode", "sparse"),
        {"mask_value": None, "salt": None, "output_mode": "int", "sparse": False},
        _hashing, port=None, ignorable=("name", "dtype", "trainable", "input_shape"),
        # Keras 3's Hashing needs TensorFlow: tests/test_hashing.py compares the bins
        examples=(Example("layers.Hashing(num_bins=5, mask_value=0)", (4,),
                          ("HashingBins(5, mask_value=0)",), equivalence=False),),
    ),
)
