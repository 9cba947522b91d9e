"""Op rows for CTC: Keras 2's ``keras.backend.ctc_batch_cost`` / ``ctc_decode`` (softmax
outputs, blank = last class) and Keras 3's ``keras.ops.ctc_loss`` / ``ctc_decode`` (logits,
blank = ``mask_index``, 0 by default).

``ctc_batch_cost`` feeds ``log(y_pred + epsilon)`` to TF1's ``ctc_loss``, which applies a
softmax of its own: hence the ``log_softmax`` after the log. Decoding has no torch function:
the rows call ``training/runtime/ctc.py``'s decoders, copied into the converted script.
"""

from __future__ import annotations

from agent.rules.ops.spec import Bound, Op, atom
from agent.rules.spec import Unsupported

K, KOPS = "keras.backend", "keras.ops"

ROWS: list[tuple[list[str], Op]] = []


def _lengths(code: str) -> str:
    return f"{atom(code)}.reshape(-1).long()"


def _batch_cost(b: Bound) -> str:
    y_true, y_pred = b.code("y_true"), atom(b.code("y_pred"))
    return (f"F.ctc_loss(torch.log({y_pred}.transpose(0, 1) + 1e-07).log_softmax(-1), "
            f"{atom(y_true)}.long(), {_lengths(b.code('input_length'))}, "
            f"{_lengths(b.code('label_length'))}, blank={y_pred}.size(-1) - 1, "
            'reduction="none").unsqueeze(1)')


def _ops_loss(b: Bound) -> str:
    output = atom(b.code("output"))
    return (f"F.ctc_loss(F.log_softmax({output}.float(), dim=-1).transpose(0, 1), "
            f"{atom(b.code('target'))}.long(), {_lengths(b.code('output_length'))}, "
            f"{_lengths(b.code('target_length'))}, blank={b.code('mask_index', '0')}, "
            'reduction="none")')


def _k_decode(b: Bound) -> str:
    if b.lit("greedy", True) is not True:
        raise Unsupported(f"{b.op}(greedy=False): beam search has no torch counterpart here")
    return f"ctc_decode_softmax({b.code('y_pred')}, {b.code('input_length')})"


def _ops_decode(b: Bound) -> str:
    if b.lit("strategy", "greedy") != "greedy":
        raise Unsupported(f"{b.op}(strategy=\"beam_search\") has no torch counterpart here")
    extra = "".join(f", {name}={b.code(name)}" for name in ("merge_repeated",)
                    if b.has(name))
    return (f"ctc_greedy_decode({b.code('inputs')}, {b.code('sequence_lengths')}{extra}, "
            f"mask_index={b.code('mask_index', '0')})")


ROWS.append(([f"{K}.ctc_batch_cost"], Op(
    "", ("y_true", "y_pred", "input_length", "label_length"), pos=4, handler=_batch_cost)))
ROWS.append(([f"{KOPS}.ctc_loss", f"{KOPS}.nn.ctc_loss"], Op(
    "", ("target", "output", "target_length", "output_length", "mask_index"), pos=4,
    handler=_ops_loss)))
ROWS.append(([f"{K}.ctc_decode"], Op(
    "", ("y_pred", "input_length", "greedy", "beam_width", "top_paths"), pos=2,
    handler=_k_decode)))
ROWS.append(([f"{KOPS}.ctc_decode", f"{KOPS}.nn.ctc_decode"], Op(
    "", ("inputs", "sequence_lengths", "strategy", "beam_width", "top_paths",
         "merge_repeated", "mask_index"), pos=2, handler=_ops_decode)))
