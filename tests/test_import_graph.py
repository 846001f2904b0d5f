"""The layering of zoo/: no import cycles, no upward imports, AIMET only in the recipe layer.

Every import counts, also those inside functions (a lazy import is still a dependency). Layers, bottom up:
utilities and metrics, data, registry and task scorers, the AIMET recipe layer, the framework backends,
the model families, the catalogue of cases, the pipeline and its bookkeeping, then reports and the pytest
plugins. A module may import its own layer or those below; an import cycle is refused in any layer.
"""
import ast
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[1] / "zoo"
LAYERS = (
    ("zoo.paths", "zoo.fileio", "zoo.memory", "zoo.devices", "zoo.checkpoints", "zoo.metrics"),
    ("zoo.data",),
    ("zoo.registry", "zoo.tasks"),
    ("zoo.recipes",),
    ("zoo.backends",),
    ("zoo.families",),
    ("zoo.catalog",),
    ("zoo.expected", "zoo.known_issues", "zoo.cache", "zoo.results", "zoo.availability", "zoo.pipeline", "zoo.session"),
    ("zoo.reports", "zoo.runguard", "zoo.xdist_recovery", "zoo.release", "zoo.__main__", "zoo"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ZOO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ZOO.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The zoo modules (and external top-level packages) a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                         for a in node.names)
    return found


EDGES = {name: {m for m in imported(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def layer_or_none(module: str) -> int | None:
    matches = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    return max(matches)[1] if matches else None


def layer(module: str) -> int:
    rank = layer_or_none(module)
    if rank is None:
        raise AssertionError(f"{module} is in no layer of tests/test_import_graph.py LAYERS; add it")
    return rank


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once, as the list of modules along it (depth-first search, colours)."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(module for module in MODULES if layer_or_none(module) is None)
    assert not unplaced, f"{unplaced} are in no layer of tests/test_import_graph.py LAYERS; add them"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    upward = sorted(target for target in EDGES[module] if layer(target) > layer(module))
    assert not upward, (f"{module} (layer {layer(module)}) imports {upward} from a layer above "
                        f"(tests/test_import_graph.py LAYERS): move the shared code down or invert the call")


def test_there_are_no_import_cycles():
    found = cycles(EDGES)
    assert not found, "import cycles in zoo/: " + "; ".join(" -> ".join(c) for c in found)


def test_only_the_recipe_layer_imports_aimet():
    importers = sorted(name for name, path in MODULES.items()
                       if any(m.split(".")[0].startswith("aimet") for m in imported(path))
                       and not name.startswith("zoo.recipes"))
    assert not importers, f"{importers} import aimet_*: only zoo/recipes/ may (the recipe layer)"


def test_the_cycle_finder_names_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(planted) == [["a", "b", "c", "a"]]


def test_the_layer_check_catches_a_planted_upward_import():
    assert layer("zoo.families.pose.torch") > layer("zoo.backends.keras") > layer("zoo.recipes.onnx_ptq")
    assert layer("zoo.data.real.voc") < layer("zoo.families.deeplab.tiny")
