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
        self.inside = False  # following the calls inside functions

    def follow_functions(self) -> None:
        """Calls inside module-level functions, with what their arguments' names hold: a
        module-level variable bound once to a converted class (``run(teacher)`` in an
        ``experiment()`` function run after ``teacher = Teacher()``), a local bound once to
        one, a parameter every call passes one class (twice over: a function's calls reach
        the functions it calls)."""
        once = {name for name in self.vars if self.assigned.get(name, 0) == 1}
        module_vars = {name: cls for name, cls in self.vars.items() if name in once}
        self.inside = True
        at_module = {fn: {p: set(c) for p, c in params.items()}
                     for fn, params in self.seen.items()}
        known = self.seen
        for _ in range(2):  # each pass from the module's calls, with the last pass's classes
            self.seen = {fn: {p: set(c) for p, c in params.items()}
                         for fn, params in at_module.items()}
            for fn in self.inner:
                own = {p.name.value for p in fn.params.params} | _locals(fn)
                params = {p: cls for p, c in known.get(fn.name.value, {}).items()
                          if len(c) == 1 and (cls := next(iter(c))) is not None}
                self.vars = {**{n: c for n, c in module_vars.items() if n not in own},
                             **params, **_local_classes(fn, self.class_of)}
                fn.body.visit(self)
            known = self.seen
        self.inside = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.inner.append(node)  # followed once the module's own bindings are all known
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_Assign(self, node: cst.Assign) -> None:
        if self.inside:
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
            return self.vars.get(value.value)
        return self.class_of(value)


def _local_classes(fn: cst.FunctionDef, class_of: ClassOf) -> dict[str, str]:
    """Locals of ``fn`` bound once, to a converted class (``model = Net()``)."""
    counts: dict[str, int] = {}
    classes: dict[str, str] = {}

    class V(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                for n in _names(target.target):
                    counts[n.value] = counts.get(n.value, 0) + 1
            if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                cls = class_of(node.value)
                if cls is not None:
                    classes[node.targets[0].target.value] = cls

    fn.body.visit(V())
    return {n: c for n, c in classes.items() if counts.get(n) == 1}


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
    visitor = _Calls(functions, class_of)  # every function: one's calls reach another
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
