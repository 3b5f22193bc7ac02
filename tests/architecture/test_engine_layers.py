"""The engine's layers (docs/architecture.md, "The engine as layers"), read from its import statements.

The graph is built with `ast` from every module of jobs/engine (migrations aside), from imports at module level and
inside functions alike, `if TYPE_CHECKING:` ones too: a dependency is a dependency wherever it is written.
Three rules: no cycle; every import goes to the same layer or a lower one, a feature imports no other feature, and
the runtime imports no feature (it reaches them through hooks.py: queue item kinds, the claim gate, timers, ticks);
no private name (`_x`) is imported from, or read off, another module. Every module must be in LAYERS: a new one
fails here until it is given its place.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "jobs.engine"

PROTOCOL, STORE, CORE, FEATURES, RUNTIME, HTTP = range(6)
LAYER_NAMES = ("protocol", "store", "core", "features", "runtime", "http")

# module (without the `jobs.engine.` prefix) -> (layer, feature). Modules of one feature may import each other;
# features never import one another. Lowest layer first.
LAYERS: dict[str, tuple[int, str]] = {
    # protocol and value types: the wire format, ops, call request/response, outcomes, expressions
    "errors": (PROTOCOL, ""),
    "protocol": (PROTOCOL, ""),
    "outcomes": (PROTOCOL, ""),
    "request_checks": (PROTOCOL, ""),
    "expressions": (PROTOCOL, ""),
    "expression_cost": (PROTOCOL, ""),
    "if_index": (PROTOCOL, ""),
    "gate_config": (PROTOCOL, ""),
    # store: models, SQL, queue operations
    "models": (STORE, ""),
    "gate_models": (STORE, ""),
    "held_models": (STORE, ""),
    "queries": (STORE, ""),
    "trace": (STORE, ""),
    "services.rows": (STORE, ""),
    "services.answer_rows": (STORE, ""),
    # core: clock, notification, run start/complete/fail/cancel, the one step-done path, applying an answer
    "clock": (CORE, ""),
    "hooks": (CORE, ""),
    "services.progress": (CORE, ""),
    "services.ledger_feed": (CORE, ""),
    "services.intake": (CORE, ""),
    "services.endings": (CORE, ""),
    "services.answers": (CORE, ""),
    "triggers": (CORE, ""),
    # features, each registering what it handles with the core (hooks.py)
    "pauses": (FEATURES, "pauses and invoke"),
    "pause_resume": (FEATURES, "pauses and invoke"),
    "ai_gateway": (FEATURES, "ai.infer"),
    "cancellation": (FEATURES, "cancel-on"),
    "gates": (FEATURES, "flow gates"),
    "throttle": (FEATURES, "flow gates"),
    "gcra_keys": (FEATURES, "flow gates"),
    "debounce": (FEATURES, "debounce and batching"),
    "batching": (FEATURES, "debounce and batching"),
    "delayed": (FEATURES, "debounce and batching"),
    "timeouts": (FEATURES, "timeouts"),
    "services.cron": (FEATURES, "cron"),
    # runtime: claims, executor, step calls, app sync, dispatcher
    "services.claims": (RUNTIME, ""),
    "services.call_request": (RUNTIME, ""),
    "fence": (RUNTIME, ""),
    "heartbeat": (RUNTIME, ""),
    "in_flight": (RUNTIME, ""),
    "executor": (RUNTIME, ""),
    "answer_batch": (RUNTIME, ""),
    "step_call": (RUNTIME, ""),
    "app_sync": (RUNTIME, ""),
    "dispatcher": (RUNTIME, ""),
    "wakeup": (RUNTIME, ""),
    "management": (RUNTIME, ""),
    "management.commands": (RUNTIME, ""),
    "management.commands.run_engine": (RUNTIME, ""),
    # HTTP: views, registry, GraphQL, selectors, admin; and the entry points Django loads
    "views": (HTTP, ""),
    "registry": (HTTP, ""),
    "rerun": (HTTP, ""),
    "gql": (HTTP, ""),
    "selectors": (HTTP, ""),
    "queue_stats": (HTTP, ""),
    "retention": (STORE, ""),
    "flow_state": (HTTP, ""),
    "auth": (HTTP, ""),
    "admin": (HTTP, ""),
    "gate_admin": (HTTP, ""),
    "urls": (HTTP, ""),
    "apps": (HTTP, ""),
    "services": (HTTP, ""),
    "": (HTTP, ""),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_sources(root: Path = ROOT) -> dict[str, Path]:
    base = root / "jobs" / "engine"
    found = {}
    for path in sorted(base.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name.removeprefix(PACKAGE).removeprefix(".")] = path
    return found


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


class Imports:
    """One module's imports of other engine modules, and the private names it takes from them."""

    def __init__(self, short: str, path: Path, known: set[str]) -> None:
        self.edges: set[str] = set()
        self.private: list[str] = []
        module = f"{PACKAGE}.{short}" if short else PACKAGE
        tree = ast.parse(path.read_text(), filename=str(path))
        bound_modules: set[str] = set()  # local names bound to an engine module (`from . import gates`)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = self._short(alias.name, known)
                    if target is not None:
                        self.edges.add(target)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, path, node)
                source = self._short(base, known)
                for alias in node.names:
                    submodule = self._short(f"{base}.{alias.name}", known)
                    if submodule is not None:  # `from . import gates`: the module gates
                        self.edges.add(submodule)
                        bound_modules.add(alias.asname or alias.name)
                    elif source is not None:
                        self.edges.add(source)
                        if alias.name.startswith("_") and source != short:
                            self.private.append(f"{alias.name} from {source or PACKAGE}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound_modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                self.private.append(f"{node.value.id}.{node.attr}")
        self.edges.discard(short)

    @staticmethod
    def _short(name: str, known: set[str]) -> str | None:
        if name == PACKAGE:
            return ""
        if not name.startswith(PACKAGE + "."):
            return None
        short = name.removeprefix(PACKAGE + ".")
        return short if short in known else None


def import_graph(root: Path = ROOT) -> dict[str, Imports]:
    sources = engine_sources(root)
    return {short: Imports(short, path, set(sources)) for short, path in sources.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        layer, feature = LAYERS[module]
        for target in sorted(targets):
            target_layer, target_feature = LAYERS[target]
            if target_layer > layer:
                wrong.append(f"{module} ({LAYER_NAMES[layer]}) imports {target} ({LAYER_NAMES[target_layer]})")
            elif layer == target_layer == FEATURES and feature != target_feature:
                wrong.append(f"{module} (feature {feature}) imports {target} (feature {target_feature})")
            elif layer == RUNTIME and target_layer == FEATURES:
                wrong.append(f"{module} (runtime) imports {target} (feature {target_feature}): register it in hooks.py")
    return wrong


GRAPH = import_graph()
EDGES = {module: imports.edges for module, imports in GRAPH.items()}


def test_the_graph_is_read_from_the_source():
    assert {"dispatcher", "services.answers", "models", "protocol"} <= set(GRAPH)
    assert "services.answers" in EDGES["dispatcher"]  # a real import is seen
    assert "services.endings" in EDGES["views"]


def test_the_reader_sees_function_level_imports_and_cycles(tmp_path):
    engine = tmp_path / "jobs" / "engine"
    engine.mkdir(parents=True)
    (engine / "__init__.py").write_text("")
    (engine / "a.py").write_text("def f():\n    from .b import thing\n")
    (engine / "b.py").write_text("from . import a\nx = a._hidden\n")
    graph = import_graph(tmp_path)
    assert graph["a"].edges == {"b"} and graph["b"].edges == {"a"}
    assert cycles({name: imports.edges for name, imports in graph.items()}) == [["a", "b"]]
    assert graph["b"].private == ["a._hidden"]


def test_every_engine_module_has_a_layer():
    unplaced = sorted(set(GRAPH) - set(LAYERS))
    assert not unplaced, f"modules with no layer in LAYERS: {unplaced}"
    gone = sorted(set(LAYERS) - set(GRAPH))
    assert not gone, f"LAYERS names modules that are not there: {gone}"  # the map stays true when a module goes


def test_the_engine_has_no_import_cycle():
    found = cycles(EDGES)
    assert not found, "import cycles:\n" + "\n".join(", ".join(cycle) for cycle in found)


def test_every_import_goes_down_the_layers_and_no_feature_imports_another():
    wrong = against_the_layers(EDGES)
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_runtime_rule_is_checked():
    assert against_the_layers({"dispatcher": {"pause_resume"}, "views": {"pause_resume"}}) == [
        "dispatcher (runtime) imports pause_resume (feature pauses and invoke): register it in hooks.py"
    ]


def test_no_private_name_is_imported_across_modules():
    taken = [f"{module}: {name}" for module, imports in sorted(GRAPH.items()) for name in imports.private]
    assert not taken, "private names taken from another module:\n" + "\n".join(taken)
