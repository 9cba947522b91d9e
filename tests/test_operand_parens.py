"""Operands in a converted ``forward`` keep only the parentheses Python needs: the printed
expression parses to the same tree as the Keras source's (checked on random nestings of
every binary operator, unary minus and right-associative ``**``)."""

from __future__ import annotations

import ast
import random

import libcst as cst

from agent.rules.classes.forward import _operand

_OPS = ["+", "-", "*", "/", "//", "%", "**", "@", "|", "^", "&", "<<", ">>"]


def _random(rng: random.Random, depth: int) -> str:
    if depth == 0:
        return rng.choice(["a", "b", "-a", "2", "f(a)"])
    return f"({_random(rng, depth - 1)} {rng.choice(_OPS)} {_random(rng, depth - 1)})"


def _bare(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.with_changes(lpar=[], rpar=[]) if getattr(node, "lpar", None) else node


def _printed(node: cst.BaseExpression) -> str:
    """``node`` printed the way ``binary`` prints it: each operand through ``_operand``."""
    node = _bare(node)
    if isinstance(node, cst.BinaryOperation):
        op = cst.Module([]).code_for_node(node.operator).strip()
        return (f"{_operand(_printed(node.left), node.operator, 'left')} {op} "
                f"{_operand(_printed(node.right), node.operator, 'right')}")
    return cst.Module([]).code_for_node(node)


def test_printed_operands_keep_the_source_tree() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        source = _random(rng, 3)
        printed = _printed(cst.parse_expression(source))
        assert ast.dump(ast.parse(printed, mode="eval")) == \
            ast.dump(ast.parse(source, mode="eval")), (source, printed)


def test_no_parentheses_where_precedence_already_groups() -> None:
    assert _printed(cst.parse_expression("((a * b) + c)")) == "a * b + c"
    assert _printed(cst.parse_expression("((a + b) * c)")) == "(a + b) * c"
    assert _printed(cst.parse_expression("(a - (b - c))")) == "a - (b - c)"
    assert _printed(cst.parse_expression("((-a) ** 2)")) == "(-a) ** 2"
    assert _printed(cst.parse_expression("(a ** (b ** c))")) == "a ** b ** c"
