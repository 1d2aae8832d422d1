"""predict/ is pure: numpy, scipy and a little of the standard library; no Django, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

PREDICT_DIR = Path(__file__).resolve().parents[2] / "lifecycle_plugin" / "predict"
ALLOWED = {"__future__", "collections", "dataclasses", "typing", "numpy", "scipy"}


def test_predict_imports_only_numpy_scipy_and_plain_python():
    found = {}
    for path in sorted(PREDICT_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.name)
    assert set(found) <= ALLOWED, {name: files for name, files in found.items() if name not in ALLOWED}
