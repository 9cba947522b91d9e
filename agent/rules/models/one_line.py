"""A user call the source wrapped over several lines (``Involution(\\n    channel=3, ...\\n)``)
printed on one line, as generated code is written: pasted as written it keeps the source's
indentation inside ``__init__``, which reads as a formatting error (the line wrapper breaks
it again where it is too long)."""

from __future__ import annotations

import libcst as cst


class _OneLine(cst.CSTTransformer):
    def leave_Comma(self, original_node: cst.Comma, updated_node: cst.Comma) -> cst.Comma:
        if isinstance(original_node.whitespace_after, cst.ParenthesizedWhitespace):
            return updated_node.with_changes(whitespace_after=cst.SimpleWhitespace(" "))
        return updated_node

    def leave_ParenthesizedWhitespace(self, original_node: cst.ParenthesizedWhitespace,
                                      updated_node: cst.ParenthesizedWhitespace
                                      ) -> cst.SimpleWhitespace:
        return cst.SimpleWhitespace("")


def one_line(call: cst.Call) -> cst.Call:
    """``call`` without line breaks (and without a trailing comma they made room for); a
    call holding a comment is left as written (the comment would be lost)."""
    code = cst.Module([]).code_for_node(call)
    if "\n" not in code or "#" in code:
        return call
    flat = call.visit(_OneLine())
    assert isinstance(flat, cst.Call)
    if flat.args and not isinstance(flat.args[-1].comma, cst.MaybeSentinel):
        flat = flat.with_changes(args=[*flat.args[:-1], flat.args[-1].with_changes(
            comma=cst.MaybeSentinel.DEFAULT)])
    return flat
