"""``K.image_data_format()`` tests left anywhere in the output, resolved to channels-last.

Model code resolves these branches while it is traced; functions the rules keep whole
(gradient-ascent loops, image pre/post-processing next to TF code) still ask Keras for the
data format. Keras's default is ``channels_last`` (the layout the converted models take too),
so every remaining ``if image_data_format() == 'channels_first': ... else: ...`` statement
becomes its channels-last branch and every conditional expression its channels-last side,
each with one warning at the source line (the report says it; the code carries no comment).
A test the rules cannot read stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.rules.imports import ImportTable

FORMAT_FUNCTIONS = frozenset({"keras.backend.image_data_format",
                              "keras.config.image_data_format"})
NOTE = "# k2l-resolved-format-test"  # marks resolved branches while resolving; then removed
WARNING = ("image_data_format() resolved to 'channels_last' (Keras's default): the code "
           "keeps the channels-last branch")


def resolve_format_tests(code: str, imports: ImportTable, source: str
                         ) -> tuple[str, list[int]]:
    """``code`` with the data-format tests resolved; the source line of each one resolved."""
    if "image_data_format" not in code and '"channels_last" ==' not in code \
            and "\n    pass\n" not in code:
        return code, []
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return code, []
    resolver = _Resolver(imports)
    new = module.visit(resolver)
    if not resolver.tests:
        return code, []
    return _without_notes(new.code), _source_lines(resolver.tests, source, imports)


def _without_notes(code: str) -> str:
    """The marker lines gone: the report, not a comment, says what was resolved."""
    return "".join(line for line in code.splitlines(keepends=True) if line.strip() != NOTE)


def _channels_last(test: cst.BaseExpression, imports: ImportTable) -> bool | None:
    """True/False: the test holds/fails under channels-last; None: not a data-format test."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
        return None
    cmp = test.comparisons[0]
    call, other = test.left, cmp.comparator
    if isinstance(other, cst.Call) or _converted_call(other):
        call, other = other, call
    if not ((_converted_call(call) or isinstance(call, cst.Call) and not call.args
             and imports.resolve(call.func) in FORMAT_FUNCTIONS)
            and isinstance(other, cst.SimpleString)
            and isinstance(cmp.operator, (cst.Equal, cst.NotEqual))):
        return None
    value = other.evaluated_value
    if value not in ("channels_first", "channels_last"):
        return None
    return (value == "channels_last") == isinstance(cmp.operator, cst.Equal)


def _converted_call(node: cst.BaseExpression) -> bool:
    """The op table's rewrite of ``K.image_data_format()`` (its value, double-quoted)."""
    return isinstance(node, cst.SimpleString) and node.value == '"channels_last"'


class _Resolver(cst.CSTTransformer):
    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.tests: list[str] = []  # the code of each resolved statement/expression, in order

    def _note(self, node: cst.CSTNode) -> None:
        self.tests.append(_text(node))

    def leave_If(self, original_node: cst.If, updated_node: cst.If
                 ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        holds = _channels_last(updated_node.test, self.imports)
        if holds is None:
            return updated_node
        if holds:
            branch: Sequence[cst.BaseStatement] = updated_node.body.body \
                if isinstance(updated_node.body, cst.IndentedBlock) else ()
        else:
            rest = updated_node.orelse
            if isinstance(rest, cst.If):  # elif: the rest of the chain decides
                branch = [rest]
            else:
                branch = rest.body.body if isinstance(rest, cst.Else) and isinstance(
                    rest.body, cst.IndentedBlock) else ()
        if not isinstance(updated_node.body, cst.IndentedBlock):
            return updated_node  # `if ...: x = 1` on one line: rare, kept
        self._note(original_node)
        note = cst.EmptyLine(comment=cst.Comment(NOTE))
        lead = [*updated_node.leading_lines, note]
        if not branch:
            return cst.SimpleStatementLine([cst.Pass()], leading_lines=lead)
        first = branch[0]
        if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            first = first.with_changes(leading_lines=[*lead, *first.leading_lines])
        return cst.FlattenSentinel([first, *branch[1:]])

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        return updated_node.with_changes(body=_without_passes(updated_node.body))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return updated_node.with_changes(body=_without_passes(updated_node.body))

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp
                    ) -> cst.BaseExpression:
        holds = _channels_last(updated_node.test, self.imports)
        if holds is None:
            return updated_node
        self._note(original_node)
        chosen = updated_node.body if holds else updated_node.orelse
        return chosen.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar) \
            if updated_node.lpar else chosen


def _without_passes(body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """An empty resolved branch is a ``pass`` only where the block needs a statement; its
    note moves to the next statement."""
    out: list[cst.BaseStatement] = []
    carry: list[cst.EmptyLine] = []
    for stmt in body:
        resolved_pass = isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 \
            and isinstance(stmt.body[0], cst.Pass) and any(
                line.comment is not None and line.comment.value == NOTE
                for line in stmt.leading_lines)
        if resolved_pass and len(body) > 1 and isinstance(stmt, cst.SimpleStatementLine):
            carry += list(stmt.leading_lines)
            continue
        if carry and isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
            carry = []
        out.append(stmt)
    return out


def _text(node: cst.CSTNode) -> str:
    """A node's code without its leading comments and indentation (comparable anywhere)."""
    if isinstance(node, cst.If):
        node = node.with_changes(leading_lines=())
    return " ".join(cst.Module([]).code_for_node(node).split())


class _Tests(cst.CSTVisitor):
    """The data-format tests of the source with their lines."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.found: list[tuple[str, int]] = []

    def _add(self, node: cst.If | cst.IfExp) -> None:
        if _channels_last(node.test, self.imports) is not None:
            line = self.get_metadata(PositionProvider, node).start.line
            self.found.append((_text(node), line))

    def visit_If(self, node: cst.If) -> None:
        self._add(node)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._add(node)


def _as_converted(text: str) -> str:
    """A test's text as the op table leaves it (``K.image_data_format()`` → its value)."""
    return re.sub(r"[\w.]*image_data_format\(\)", '"channels_last"', text)


def _source_lines(resolved: list[str], source: str, imports: ImportTable) -> list[int]:
    """The source line of each resolved statement: the first source statement of the same
    text not matched yet (kept code is the source's own text)."""
    finder = _Tests(imports)
    MetadataWrapper(cst.parse_module(source)).visit(finder)
    left = [(_as_converted(t), line) for t, line in finder.found]
    out: list[int] = []
    for text in resolved:
        text = _as_converted(text)
        k = next((k for k, (t, _) in enumerate(left) if t == text), None)
        out.append(left.pop(k)[1] if k is not None else 0)
    return out
