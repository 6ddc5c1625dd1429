"""No request path calls itself: the route call graph, read from the code, is acyclic.

The estate's service graph has cycles (policy <-> payment, claims <-> payment),
so what must hold is finer: each route calls only routes of other services
that never lead back to it. The graph is derived from the service modules'
source: a route is registered with add_route(router, METHOD, PATH, api.handler,
...); a dependency call is `<calls>.call("dep", "METHOD", path, ...)` or
`<calls>.lookup("dep", path, key)`; a handler's calls include those of every
function or method of the module it refers to, transitively.
"""

import ast
import inspect
import re
from collections.abc import Iterable

import pytest

from mocks.services import service_names, spec_module

# Every service module the estate runs, from the one registry that names them.
MODULES = tuple(spec_module(name) for name in service_names())

Node = tuple[str, str, str]  # (service, METHOD, path template with {} holes)


def _template(path: str) -> str:
    # A query string does not change which route answers.
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def _path_of(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}"
            for part in node.values
        )
    raise AssertionError(f"cannot read a path from {ast.unparse(node)}")


def _string(node: ast.expr, what: str) -> str:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise AssertionError(f"{what} is not a string literal: {ast.unparse(node)}")
    return node.value


class ModuleCalls:
    """The routes of one service module and the dependency calls each makes."""

    def __init__(self, module):
        self.service = module.SPEC.name
        self.tree = ast.parse(inspect.getsource(module))
        self.functions = {
            node.name: node
            for node in ast.walk(self.tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }

    def routes(self) -> dict[Node, str]:
        """(service, METHOD, template) -> handler name."""
        found = {}
        for call in self._calls_named("add_route"):
            method = _string(call.args[1], "route method")
            path = _string(call.args[2], "route path")
            handler = call.args[3]
            name = handler.attr if isinstance(handler, ast.Attribute) else None
            if isinstance(handler, ast.Name):
                name = handler.id
            assert name in self.functions, f"handler {ast.unparse(handler)} not found"
            found[(self.service, method, _template(path))] = name
        return found

    def dependency_calls(self, handler: str) -> set[Node]:
        seen: set[str] = set()
        pending = [handler]
        calls: set[Node] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            function = self.functions[name]
            calls |= self._direct_calls(function)
            pending += [ref for ref in self._references(function) if ref != name]
        return calls

    def _direct_calls(self, function: ast.AST) -> set[Node]:
        calls = set()
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(
                node.func, ast.Attribute
            ):
                continue
            if node.func.attr == "call" and len(node.args) >= 3:
                dependency = _string(node.args[0], "dependency name")
                method = _string(node.args[1], "call method")
                calls.add((dependency, method, _template(_path_of(node.args[2]))))
            elif node.func.attr == "lookup" and len(node.args) >= 2:
                dependency = _string(node.args[0], "dependency name")
                calls.add((dependency, "GET", _template(_path_of(node.args[1]))))
        return calls

    def _references(self, function: ast.AST) -> Iterable[str]:
        for node in ast.walk(function):
            name = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute):
                name = node.attr
            if name in self.functions:
                yield name

    def _calls_named(self, name: str) -> Iterable[ast.Call]:
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == name
            ):
                yield node


def derive_call_graph() -> dict[Node, set[Node]]:
    """Every route of every service, with the routes it calls."""
    graph: dict[Node, set[Node]] = {}
    for module in MODULES:
        calls = ModuleCalls(module)
        for route, handler in calls.routes().items():
            graph[route] = calls.dependency_calls(handler)
    return graph


def find_cycle(graph: dict[Node, set[Node]]) -> list[Node] | None:
    """One cycle as a list of nodes (first repeated at the end), or None."""
    visiting: list[Node] = []
    done: set[Node] = set()

    def visit(node: Node) -> list[Node] | None:
        if node in visiting:
            return visiting[visiting.index(node) :] + [node]
        if node in done:
            return None
        visiting.append(node)
        for callee in sorted(graph.get(node, ())):
            cycle = visit(callee)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> dict[Node, set[Node]]:
    return derive_call_graph()


def test_every_call_reaches_a_route_its_callee_declares(graph):
    for route, callees in graph.items():
        for callee in callees:
            assert callee in graph, f"{route} calls {callee}, which no service serves"


def test_the_derived_graph_holds_the_known_cross_calls(graph):
    payout = ("claims-api", "POST", "/claims/{}/payout")
    disburse = ("payment-api", "POST", "/disbursements")
    create_policy = ("policy-api", "POST", "/policies")

    assert disburse in graph[payout]
    assert ("claims-api", "GET", "/claims/{}") in graph[disburse]
    assert ("payment-api", "POST", "/payment-methods/verify") in graph[create_policy]
    assert ("policy-api", "GET", "/policies/{}") in graph[
        ("payment-api", "POST", "/payments")
    ]


def test_no_request_path_calls_itself(graph):
    cycle = find_cycle(graph)

    assert cycle is None, "request path calls itself: " + " -> ".join(
        " ".join(node) for node in cycle
    )


def test_a_cycle_through_two_services_is_found():
    graph = {
        ("a", "GET", "/x"): {("b", "POST", "/y")},
        ("b", "POST", "/y"): {("c", "GET", "/z"), ("a", "GET", "/x")},
        ("c", "GET", "/z"): set(),
    }

    assert find_cycle(graph) == [
        ("a", "GET", "/x"),
        ("b", "POST", "/y"),
        ("a", "GET", "/x"),
    ]
