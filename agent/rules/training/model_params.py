"""Helper functions that train a model passed as a parameter (``run_experiment(model, ...)``).

``def train(model, data): model.compile(...); model.fit(...)`` called with converted models:
the training rules follow a variable's class, and a parameter has none of its own. When every
call of the function in the module passes the same converted class for a parameter, that
parameter holds that class inside the function; when the calls pass different classes, the
class of one ``compile``/``fit`` cannot be chosen and the function is reported.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

ClassOf = Callable[[cst.BaseExpression], "str | None"]
_TRAINING = frozenset({"compile", "fit", "evaluate", "predict", "fit_generator",
                       "evaluate_generator", "predict_generator",
                       # weights in Keras's layout (layer_access.py) read the class's layers
                       "get_weights", "set_weights", "get_layer"})


class _Calls(cst.CSTVisitor):
    """Module-level statements in order: variables bound to classes, calls of ``functions``."""

    def __init__(self, functions: dict[str, cst.FunctionDef], class_of: ClassOf) -> None:
        self.functions = functions
        self.class_of = class_of
        self.vars: dict[str, str] = {}
        self.seen: dict[str, dict[str, set[str | None]]] = {}
        self.inner: list[cst.FunctionDef] = []
        self.assigned: dict[str, int] = {}
        self.local: set[str] = set()  # inside a function: its parameters and locals

    def follow_functions(self) -> None:
        """Calls inside module-level functions, with what their arguments' names hold: a
        module-level variable bound once to a converted class (``run(teacher)`` in an
        ``experiment()`` function run after ``teacher = Teacher()``); a parameter or local
        of the function holds no known class."""
        once = {name for name in self.vars if self.assigned.get(name, 0) == 1}
        self.vars = {name: cls for name, cls in self.vars.items() if name in once}
        for fn in self.inner:
            self.local = {p.name.value for p in fn.params.params} | _locals(fn)
            fn.body.visit(self)
        self.local = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.inner.append(node)  # followed once the module's own bindings are all known
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_Assign(self, node: cst.Assign) -> None:
        if self.local:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self.assigned[target.target.value] = self.assigned.get(target.target.value, 0) + 1
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                cls = self.class_of(node.value)
                if cls is None:
                    self.vars.pop(target.target.value, None)
                else:
                    self.vars[target.target.value] = cls

    def visit_Call(self, node: cst.Call) -> None:
        if not isinstance(node.func, cst.Name) or node.func.value not in self.functions:
            return
        params = [p.name.value for p in self.functions[node.func.value].params.params]
        seen = self.seen.setdefault(node.func.value, {})
        for i, arg in enumerate(node.args):
            if arg.star:
                return
            name = arg.keyword.value if arg.keyword is not None else (
                params[i] if i < len(params) else None)
            if name is not None:
                seen.setdefault(name, set()).add(self._class(arg.value))

    def _class(self, value: cst.BaseExpression) -> str | None:
        if isinstance(value, cst.Name):
            return None if value.value in self.local else self.vars.get(value.value)
        return None if self.local else self.class_of(value)


def _locals(fn: cst.FunctionDef) -> set[str]:
    """Names a function binds (assignments, loops, imports, nested defs): not the module's."""
    names: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            pass

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            names.update(n.value for n in _names(node.target))

        def visit_For(self, node: cst.For) -> None:
            names.update(n.value for n in _names(node.target))

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            names.add(node.name.value)
            return False

        def visit_Global(self, node: cst.Global) -> None:
            names.difference_update(n.name.value for n in node.names)

    fn.body.visit(V())
    return names


def _names(node: cst.CSTNode) -> list[cst.Name]:
    out: list[cst.Name] = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            out.append(n)

    node.visit(V())
    return out


def _trained(fn: cst.FunctionDef) -> set[str]:
    """Parameters the function calls ``compile``/``fit``/... on."""
    params = {p.name.value for p in fn.params.params}
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            f = node.func
            if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) \
                    and f.value.value in params and f.attr.value in _TRAINING:
                found.add(f.value.value)

    fn.visit(V())
    return found


def parameter_classes(module: cst.Module, class_of: ClassOf
                      ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, list[str]]]]:
    """({function: {parameter: class}}, {function: {parameter: classes}}): the parameters
    trained inside module-level functions whose calls all pass one converted class, and those
    whose calls pass several (or a converted model at some calls only)."""
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    trained = {name: _trained(fn) for name, fn in functions.items()}
    visitor = _Calls({n: f for n, f in functions.items() if trained[n]}, class_of)
    module.visit(visitor)
    visitor.follow_functions()
    bound: dict[str, dict[str, str]] = {}
    mixed: dict[str, dict[str, list[str]]] = {}
    for fn, params in visitor.seen.items():
        for param, classes in params.items():
            if param not in trained[fn] or classes == {None}:
                continue
            if len(classes) == 1:
                bound.setdefault(fn, {})[param] = next(iter(classes))  # type: ignore[assignment]
            else:
                mixed.setdefault(fn, {})[param] = sorted(c or "another value" for c in classes)
    return bound, mixed
