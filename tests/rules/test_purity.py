"""rules/ is pure Python: no Django, no database, no network, no I/O, no wall clock.

Imports are checked in fresh interpreters (this test process has already loaded
pytest, hypothesis and maybe Django), and the source is scanned for imports outside
a small standard-library allow-list.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Located from this file, not by importing the rules, so the source scans still run
# (and point at the culprit) when an import in rules/ is broken.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = PROJECT_ROOT / "lifecycle_plugin" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.py"))
RULE_MODULES = sorted(
    "lifecycle_plugin.rules" if p.stem == "__init__" else f"lifecycle_plugin.rules.{p.stem}" for p in RULE_FILES
)

#: Modules that must never be loaded by importing the rules (prefix match on dotted names).
FORBIDDEN = (
    "django",
    "psycopg",
    "psycopg2",
    "celery",
    "kombu",
    "graphene",
    "graphql",
    "socket",
    "_socket",
    "ssl",
    "sqlite3",
    "_sqlite3",
    "requests",
    "urllib.request",
    "http.client",
    "subprocess",
    "asyncio",
)

ALLOWED_IMPORTS = frozenset(
    {
        "datetime",
        "decimal",
        "dataclasses",
        "enum",
        "bisect",
        "statistics",
        "collections.abc",
        "typing",
        "types",
        "re",
        "math",
        "functools",
        "itertools",
        "__future__",
        # a digest is a pure function of its input (the stable holdout's split, rules/holdout.py)
        "hashlib",
    }
)

#: Builtins that read or write the outside world or run code from strings.
FORBIDDEN_CALLS = frozenset({"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"})
#: Attribute calls that read the wall clock or the environment.
FORBIDDEN_ATTRIBUTE_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "getenv", "urandom"})


def _loaded_modules(script: str, *python_flags: str) -> list[str]:
    code = (
        "import sys, importlib\n"
        f"sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        f"{script}\n"
        f"for name in {RULE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(sys.modules)\n"
        "import json\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, *python_flags, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_rules_modules_are_found():
    assert {"lifecycle_plugin.rules.decide", "lifecycle_plugin.rules.config", "lifecycle_plugin.rules.facts",
            "lifecycle_plugin.rules.stages"} <= set(RULE_MODULES)


def test_importing_the_rules_loads_no_framework_or_io_module():
    """As the rest of the project imports them: through the real lifecycle_plugin package,
    with the virtualenv's site-packages (Django, Celery, ... installed) available."""
    modules = _loaded_modules("")
    assert set(RULE_MODULES) <= set(modules)
    assert _forbidden_in(modules) == []


def test_the_rules_need_nothing_but_the_standard_library():
    """Without site-packages (-S -E), with the parent package's __init__ bypassed so that
    only rules/ itself is judged: every rules module still imports."""
    stub_parent = (
        "import types\n"
        "parent = types.ModuleType('lifecycle_plugin')\n"
        f"parent.__path__ = [{str(RULES_DIR.parent)!r}]\n"
        "sys.modules['lifecycle_plugin'] = parent\n"
    )
    modules = _loaded_modules(stub_parent, "-S", "-E")
    assert set(RULE_MODULES) <= set(modules)
    assert _forbidden_in(modules) == []
    outside_stdlib = [
        m for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("lifecycle_plugin")
        and m != "__main__"
    ]
    assert outside_stdlib == []


def _imports(tree: ast.AST) -> list[tuple[int, str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_import_only_the_allow_list(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = []
    for lineno, module, level in _imports(tree):
        if level == 1:
            # A sibling inside rules/ (from .config import ...); it is scanned in its own right.
            if module and not (RULES_DIR / f"{module.split('.')[0]}.py").exists():
                bad.append(f"line {lineno}: from .{module} (no such module in rules/)")
            continue
        if level > 1:
            bad.append(f"line {lineno}: relative import reaching outside rules/ ({'.' * level}{module})")
            continue
        if module not in ALLOWED_IMPORTS:
            bad.append(f"line {lineno}: import {module}")
    assert bad == [], f"{path.name} imports outside the allow-list: {bad}"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_do_no_io_and_read_no_clock(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            bad.append(f"line {node.lineno}: {node.func.id}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_ATTRIBUTE_CALLS:
            bad.append(f"line {node.lineno}: .{node.func.attr}()")
    assert bad == [], f"{path.name}: {bad}"


def test_the_scanners_do_see_a_violation():
    """Guard against a scanner that passes everything."""
    tree = ast.parse("import os\nfrom ..models import X\nfrom django.db import models\nfrom .config import Tier\n")
    assert [(m, lvl) for _, m, lvl in _imports(tree)] == [("os", 0), ("models", 2), ("django.db", 0), ("config", 1)]
    assert _forbidden_in(["django.db", "socket", "sockets", "urllib.parse", "urllib.request", "decimal"]) == [
        "django.db",
        "socket",
        "urllib.request",
    ]
