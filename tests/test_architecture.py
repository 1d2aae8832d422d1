"""The package's shape: which part imports which, read from the source with `ast`.

Rules checked here: no import cycles between modules; `rules/` depends on nothing of
the package or of Django; `engine/` never imports the hosts, the GraphQL API or the
actions; docs/architecture.md draws exactly the imports between the package's parts,
and names every engine module.

An import counts wherever it is written (a function-local import is a dependency
too), except under ``if TYPE_CHECKING:`` (annotations only, never run). ``from a
import b`` is an edge to the module ``a.b`` when there is one, else to ``a``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "lifecycle_plugin"
PACKAGE = PACKAGE_DIR.name
ARCHITECTURE_DOC = PACKAGE_DIR.parent / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _known(name: str) -> str:
    """The module `name` is, or is inside (an attribute imported from it)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(module: str) -> set[str]:
    """The modules `module` imports (of any package), wherever the import is written.

    ``from a import b`` names ``a.b`` when that is a module of this package, else ``a``.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for branch in child.orelse:
                    visit(branch)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    source = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    source = child.module or ""
                found.update(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                             for alias in child.names)
            visit(child)

    visit(ast.parse(MODULES[module].read_text(), filename=str(MODULES[module])))
    return found


def imports_of(module: str) -> set[str]:
    """The package's modules that `module` imports."""
    names = imported_names(module)
    return {_known(name) for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")} - {module}


GRAPH = {module: imports_of(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def inside(folder: str, module: str) -> bool:
    return module == f"{PACKAGE}.{folder}" or module.startswith(f"{PACKAGE}.{folder}.")


def test_the_graph_sees_imports_of_every_kind():
    """Guards the reader itself: relative, absolute, function-local and `from . import x`."""
    engine = GRAPH[f"{PACKAGE}.engine.service"]
    assert {f"{PACKAGE}.engine.runner", f"{PACKAGE}.engine.sweep", f"{PACKAGE}.hooks"} <= engine
    assert f"{PACKAGE}.engine.inbox" in GRAPH[f"{PACKAGE}.tasks"]  # imported inside functions
    assert f"{PACKAGE}.engine.service" not in GRAPH[f"{PACKAGE}.engine.runner"]  # TYPE_CHECKING only


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_rules_import_nothing_of_the_package_outside_rules_and_nothing_of_django():
    offending = {
        module: sorted(name for name in imported_names(module)
                       if name.split(".")[0] == "django"
                       or (name.split(".")[0] == PACKAGE and not inside("rules", _known(name))))
        for module in MODULES if inside("rules", module)
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_the_engine_imports_no_host_api_or_action():
    forbidden = ("graphql", "saleor", "sandbox", "actions")
    offending = {
        module: sorted(target for target in GRAPH[module] if any(inside(folder, target) for folder in forbidden))
        for module in MODULES if inside("engine", module)
    }
    assert {module: targets for module, targets in offending.items() if targets} == {}


def test_the_core_modules_import_no_action():
    offending = {module: sorted(t for t in GRAPH[module] if inside("actions", t))
                 for module in MODULES if module.count(".") == 1 and not _is_package(module)}
    assert {module: targets for module, targets in offending.items() if targets} == {}


def test_no_module_of_the_package_is_over_400_lines():
    """Migrations are generated, not read; everything else is read in one sitting."""
    paths = [path for path in MODULES.values() if "migrations" not in path.parts]
    long = {str(path.relative_to(PACKAGE_DIR)): n for path in paths if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


# ---------------------------------------------------------------------------- the drawing

def drawing() -> tuple[dict[str, str], dict[str, list[str]], set[tuple[str, str]]]:
    """The mermaid block of docs/architecture.md: node id → folder, id → top-level modules, edges.

    A node is ``id["folder/"]`` or ``id["name: module, module"]`` (top-level modules);
    ``a --> b`` means a imports b.
    """
    block = re.search(r"```mermaid\n(.*?)```", ARCHITECTURE_DOC.read_text(), re.S).group(1)
    folders: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for node, label in re.findall(r'^\s*(\w+)\["([^"]+)"\]', block, re.M):
        if label.endswith("/"):
            folders[node] = label[:-1]
        else:
            groups[node] = [name.strip() for name in label.split(":", 1)[1].split(",")]
    edges = set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", block, re.M))
    return folders, groups, edges


def part_of(module: str, folders: dict[str, str], groups: dict[str, list[str]]) -> str | None:
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else "__init__"
    top = relative.split(".")[0]
    for node, folder in folders.items():
        if top == folder and (relative != top or _is_package(module)):
            return node
    for node, names in groups.items():
        if relative in names:
            return node
    return None


def test_the_drawing_places_every_module():
    folders, groups, _ = drawing()
    unplaced = [module for module in MODULES if part_of(module, folders, groups) is None]
    assert unplaced == [], "add these to a node of the drawing in docs/architecture.md"


def test_the_drawing_has_exactly_the_imports_between_parts():
    folders, groups, drawn = drawing()
    real = set()
    for module, targets in GRAPH.items():
        for target in targets:
            source_part, target_part = part_of(module, folders, groups), part_of(target, folders, groups)
            if source_part != target_part:
                real.add((source_part, target_part))
    assert {"missing from the drawing": sorted(real - drawn), "drawn but not imported": sorted(drawn - real)} == {
        "missing from the drawing": [], "drawn but not imported": []}


def test_the_parts_import_one_way():
    folders, groups, drawn = drawing()
    parts = {node: set() for node in (*folders, *groups)}
    for source, target in drawn:
        parts[source].add(target)
    assert cycles(parts) == []


def test_the_drawing_names_every_engine_module():
    text = ARCHITECTURE_DOC.read_text()
    engine_modules = [path.stem for path in (PACKAGE_DIR / "engine").glob("*.py") if path.stem != "__init__"]
    assert sorted(m for m in engine_modules if f"`{m}.py`" not in text) == []
