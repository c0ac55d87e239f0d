"""The house's layering, from the imports parsed out of the code: folders and the driver's sub-packages
import only downwards and never in a cycle, and the layout page (docs/layout.md) names every module.

import-linter cannot follow this project's package-dir mapping (``bdlsweep.sweeps`` lives in
``sweeps/``), so the imports are read here with ``ast`` from the folders setuptools installs.
"""

import ast
import re
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
from repo_paths import ROOT

# Each list is a stack, highest first: a unit may import its own layer's modules' units only when
# named in the same entry (siblings are independent) and anything in a lower entry.
FOLDER_LAYERS = [
    ["bdlsweep"],
    ["sweeps"],
    ["analysis"],
    ["trainables", "search_spaces"],
    ["metrics"],
    ["storage"],
]
SWEEPS_LAYERS = [
    ["sweeps.pipeline", "sweeps.probe", "sweeps.mlflow_sync"],
    ["sweeps.studies"],
    ["sweeps.running", "sweeps.cost"],
    ["sweeps.evaluation", "sweeps.tracking", "sweeps.cluster"],
    ["sweeps.spec"],
    ["sweeps.reading"],
]
TRAINABLES_LAYERS = [
    ["trainables.registry"],
    ["trainables.methods"],
    ["trainables.method", "trainables.runtime"],
    ["trainables.posteriors"],
    ["trainables.inference"],
    ["trainables.models"],
    ["trainables.data", "trainables.settings"],
]
TOP_MODULES = {"sweeps.pipeline", "sweeps.probe", "sweeps.mlflow_sync"}  # may import each other


def _package_dirs() -> dict[str, Path]:
    """Installed package name → folder, as pyproject.toml's setuptools tables say."""
    tables = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = tables["package-dir"]
    dirs = {}
    for package in tables["packages"]:
        base = max((name for name in roots if package == name or package.startswith(name + ".")), key=len)
        dirs[package] = (
            ROOT / roots[base] / Path(*package[len(base) + 1 :].split(".") if package != base else ())
        )
    return dirs


def _modules() -> dict[str, Path]:
    """Every installed module (``bdlsweep.sweeps.running.stage``) and its file."""
    modules = {}
    for package, folder in _package_dirs().items():
        for path in folder.glob("*.py"):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def _imports(path: Path, module: str) -> set[str]:
    """The project modules a file imports (``from x import y`` counts as ``x.y`` when that is a module)."""
    found = set()
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("bdlsweep")}


MODULES = _modules()
EDGES = {
    (module, target)
    for module, path in MODULES.items()
    for target in _imports(path, module)
    if target in MODULES and target != module
}


def _unit(module: str, layers: list[list[str]]) -> str | None:
    """The layer unit (``sweeps.running``) a module belongs to, if any."""
    name = module.removeprefix("bdlsweep.").removeprefix("bdlsweep")
    name = name or "bdlsweep"
    units = [unit for layer in layers for unit in layer]
    matches = [unit for unit in units if name == unit or name.startswith(unit + ".")]
    if not matches and name.split(".")[0] in {"cli", "submit", "__main__", "bdlsweep"}:
        matches = [unit for unit in units if unit == "bdlsweep"]
    return max(matches, key=len) if matches else None


def _violations(layers: list[list[str]], allowed_within: set[str] = frozenset()) -> list[str]:
    rank = {unit: depth for depth, layer in enumerate(layers) for unit in layer}
    found = []
    for source, target in sorted(EDGES):
        a, b = _unit(source, layers), _unit(target, layers)
        if a is None or b is None or a == b:
            continue
        if rank[a] > rank[b] or (rank[a] == rank[b] and not {a, b} <= allowed_within):
            found.append(f"{source} imports {target} ({a} may not import {b})")
    return found


def _cycles(units_of: dict[str, str]) -> list[list[str]]:
    """Cycles in the graph of units (strongly connected components of more than one unit)."""
    graph = defaultdict(set)
    for source, target in EDGES:
        a, b = units_of.get(source), units_of.get(target)
        if a and b and a != b:
            graph[a].add(b)
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in graph[node]:
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return components


def test_the_imports_are_read_from_the_installed_packages():
    assert "bdlsweep.sweeps.running.stage" in MODULES and "bdlsweep.cli" in MODULES
    assert ("bdlsweep.sweeps.pipeline", "bdlsweep.sweeps.running.stage") in EDGES
    assert ("bdlsweep.sweeps.running.stage", "bdlsweep.sweeps.spec.models") in EDGES


def test_folders_import_only_downwards():
    assert _violations(FOLDER_LAYERS) == []


def test_the_drivers_sub_packages_import_only_downwards_and_have_no_cycle():
    assert _violations(SWEEPS_LAYERS, TOP_MODULES) == []
    units = {module: _unit(module, SWEEPS_LAYERS) for module in MODULES if ".sweeps." in module}
    assert _cycles({module: unit for module, unit in units.items() if unit}) == []


def test_the_trainables_sub_packages_import_only_downwards_and_have_no_cycle():
    assert _violations(TRAINABLES_LAYERS) == []
    units = {module: _unit(module, TRAINABLES_LAYERS) for module in MODULES if ".trainables." in module}
    assert _cycles({module: unit for module, unit in units.items() if unit}) == []


def test_the_maths_has_no_ray_and_no_storage():
    """``trainables/inference/`` is pure maths: no Ray, no storage, nothing that runs a trial."""
    for module, path in MODULES.items():
        if ".trainables.inference" in module:
            tree = ast.parse(path.read_text())
            imported = {
                alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
            }
            imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            assert not {name for name in imported if name.split(".")[0] == "ray"}, module
            assert not {
                name
                for name in imported
                if name.startswith(("bdlsweep.storage", "bdlsweep.trainables.runtime"))
            }, module


def test_no_method_module_imports_another():
    methods = [(a, b) for a, b in EDGES if ".trainables.methods." in a and ".trainables.methods." in b]
    assert methods == []


def test_no_sub_package_of_the_driver_holds_more_than_twelve_modules():
    sizes = defaultdict(int)
    for module in MODULES:
        if module.startswith("bdlsweep.sweeps.") and module.count(".") == 3:
            sizes[module.rsplit(".", 1)[0]] += 1
    assert sizes and max(sizes.values()) <= 12, dict(sizes)


def test_a_layering_breach_is_found():
    """The checks can fail: an edge from the lowest unit upwards is reported, and a two-unit cycle too."""
    EDGES.add(("bdlsweep.sweeps.reading.errors", "bdlsweep.sweeps.pipeline"))
    try:
        assert _violations(SWEEPS_LAYERS, TOP_MODULES)
        units = {"bdlsweep.sweeps.reading.errors": "reading", "bdlsweep.sweeps.pipeline": "top"}
        EDGES.add(("bdlsweep.sweeps.pipeline", "bdlsweep.sweeps.reading.errors"))
        assert _cycles(units) == [["reading", "top"]]
    finally:
        EDGES.discard(("bdlsweep.sweeps.reading.errors", "bdlsweep.sweeps.pipeline"))


def _layout_section() -> str:
    return (ROOT / "docs" / "layout.md").read_text()


@pytest.mark.parametrize("package", sorted(_package_dirs()), ids=str)
def test_the_layout_page_names_every_module(package):
    folder = _package_dirs()[package]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _layout_section()))
    missing = sorted(
        path.stem for path in folder.glob("*.py") if path.stem != "__init__" and path.stem not in words
    )
    assert missing == [], f"docs/layout.md does not name {missing} of {folder.relative_to(ROOT)}"
    relative = folder.relative_to(ROOT).as_posix()
    assert relative in _layout_section() or folder.name + "/" in _layout_section(), relative
