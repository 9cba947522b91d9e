"""The read-only tree walks the rules use instead of libcst visitors (agent/rules/walk.py) and
the shared ast parse (agent/rules/parsed.py): same nodes, same order as what they replace."""

from __future__ import annotations

import ast

import libcst as cst

from agent.rules import parsed, walk
from agent.rules.models.views import may_read

PROGRAM = '''
@decorate(first())
def build(units=size(2), *, act=pick("relu")) -> kind(3):
    a = f(g(1), key=h(2)) if test(x) else other(y)
    try:
        run(a)
    except make_error(4) as err:  # a comment with a call(5)
        handle(err)
    return [m(i) for i in gen(3) if ok(i)], (lambda t: inner(t))(7)


class Net(base(1), metaclass=meta(2)):
    value = compute(
        # inside parentheses
        arg(1),
    )
'''


class _Order(cst.CSTVisitor):
    def __init__(self) -> None:
        self.seen: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.seen.append(node)
        return True


def test_nodes_follow_libcst_visiting_order() -> None:
    module = cst.parse_module(PROGRAM)
    order = _Order()
    module.visit(order)
    code_nodes = {id(n) for n in walk.nodes(module)}
    expected = [n for n in order.seen if id(n) in code_nodes]
    assert [id(n) for n in walk.nodes(module)] == [id(n) for n in expected]
    calls = [n.func.value for n in walk.nodes(module)
             if isinstance(n, cst.Call) and isinstance(n.func, cst.Name)]
    assert calls[:4] == ["decorate", "first", "size", "pick"]  # decorators before the name
    assert calls.index("f") < calls.index("test")  # an IfExp's body is written first


def test_nodes_skip_only_tokens_without_code() -> None:
    module = cst.parse_module(PROGRAM)
    order = _Order()
    module.visit(order)
    walked = {id(n) for n in walk.nodes(module)}
    names = [n for n in order.seen if isinstance(n, (cst.Name, cst.Call, cst.SimpleString))]
    assert names and all(id(n) in walked for n in names)
    assert not any(isinstance(n, (cst.Comment, cst.SimpleWhitespace))
                   for n in walk.nodes(module))


def test_breadth_first_is_ast_walk() -> None:
    tree = ast.parse(PROGRAM)
    assert [id(n) for n in parsed.breadth_first(tree)] == [id(n) for n in ast.walk(tree)]


def test_parse_is_shared_per_text_and_never_stale() -> None:
    one = parsed.parse("x = 1\n")
    assert parsed.parse("x = 1\n") is one
    other = parsed.parse("x = 2\n")
    assert other is not one and isinstance(other.body[0], ast.Assign)
    assert parsed.walk(one) == list(ast.walk(one))
    for k in range(20):  # bounded: old texts are parsed again, never mixed up
        parsed.parse(f"y = {k}\n")
    again = parsed.parse("x = 1\n")
    assert ast.dump(again) == ast.dump(one)


def test_parse_raises_like_ast() -> None:
    try:
        parsed.parse("def (:\n")
    except SyntaxError:
        pass
    else:
        raise AssertionError("a syntax error must propagate")


def test_may_read_needs_a_model_attribute() -> None:
    def small(code: str) -> cst.BaseSmallStatement:
        line = cst.parse_statement(code)
        assert isinstance(line, cst.SimpleStatementLine)
        return line.body[0]

    assert may_read(small("x = base.output"))
    assert may_read(small("x = base.layers[2].weights"))
    assert may_read(small("f(m.get_layer('a').input)"))
    assert not may_read(small("x = layers.Dense(4)(inputs)"))
    assert not may_read(small("y = output + inputs"))  # bare names are no model reads


def test_mentions_reads_names_and_attribute_names() -> None:
    module = cst.parse_module("self.add_loss(f(x))\n")
    assert walk.mentions(module, ("add_loss",))
    assert walk.mentions(module, {"x", "unused"})
    assert not walk.mentions(module, ("add_weight",))
    assert not walk.mentions(cst.parse_module("s = 'add_loss'  # add_loss\n"), ("add_loss",))


def test_rewrite_if_framework_skips_only_trees_without_an_imported_name() -> None:
    from agent.rules.imports import collect_imports
    from agent.rules.ops.rewrite import rewrite_if_framework, rewrite_node

    module = cst.parse_module("import tensorflow as tf\ny = abs(x) + 1\nz = tf.abs(x)\n")
    imports = collect_imports(module)
    plain, framework = module.body[1], module.body[2]
    assert rewrite_if_framework(plain, imports) == (plain, [])  # the node itself, no copy
    new, problems = rewrite_if_framework(framework, imports)
    expected, expected_problems = rewrite_node(framework, imports, {})
    assert new is not framework and problems == expected_problems
    assert module.code_for_node(new) == module.code_for_node(expected) != \
        module.code_for_node(framework)


def test_forget_drops_the_kept_trees() -> None:
    one = parsed.parse("w = 1\n")
    assert parsed.parse("w = 1\n") is one
    parsed.forget()
    again = parsed.parse("w = 1\n")
    assert again is not one and ast.dump(again) == ast.dump(one)
