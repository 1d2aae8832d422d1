"""graphql/ serves every host and knows none: the sandbox and the Saleor binding plug their auth into its view."""

from __future__ import annotations

import ast
from pathlib import Path

import lifecycle_plugin

PACKAGE = Path(lifecycle_plugin.__file__).resolve().parent
HOSTS = ("lifecycle_plugin.sandbox", "lifecycle_plugin.saleor")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(part for part in (base, node.module) if part)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def test_no_graphql_module_imports_a_host_binding():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(name for name in imported_modules(path) if name.startswith(HOSTS))
        for path in (PACKAGE / "graphql").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_sandboxs_auth_lives_in_the_sandbox():
    assert not (PACKAGE / "graphql" / "sandbox_auth.py").exists()
    assert "lifecycle_plugin.graphql.views" in imported_modules(PACKAGE / "sandbox" / "auth.py")
