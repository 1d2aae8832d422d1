"""Compose subgraph SDLs with Apollo's own libraries (``compose.mjs``, run by Node).

Used by the tests here (against a stand-in Saleor subgraph) and by tests/saleor (against
Saleor's real ``_service { sdl }``). Node and npm are the only requirements: without them
the tests skip, except under CI (``CI=true``), where a skipped gateway test would hide
exactly the failure it exists to catch, so they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FOLDER = Path(__file__).parent
SALEOR_STAND_IN = FOLDER / "saleor_subgraph.graphql"
SALEOR_URL = "https://shop.example.com/graphql/"
LIFECYCLE_URL = "https://shop.example.com/plugins/global/saleor.lifecycle/graphql/"
#: The query of docs/graphql.md's gateway section, cut down: Saleor's `me`, the plugin's `lifecycle`.
GATEWAY_QUERY = "query { me { email lifecycle { stage { code label } tier { code } } } }"


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"the federation composition test needs {' and '.join(missing)} (Node 20+)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run it, not skip it")
    pytest.skip(reason)


def _install() -> None:
    """`npm ci` from the checked-in lock file, once per checkout (.ci/run does it up front)."""
    if (FOLDER / "node_modules").is_dir():
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=FOLDER, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        pytest.fail(f"npm ci in {FOLDER} failed:\n{done.stdout}\n{done.stderr}")


def compose(subgraphs: dict[str, tuple[str, str]], query: str | None = None) -> dict:
    """``{name: (routing url, sdl)}`` -> ``{"errors", "hints", "supergraphSdl", "fetches"}``.

    ``fetches`` is the query plan of ``query`` (when given): each fetch's subgraph, the
    response path it fills and its operation, in execution order.
    """
    _require_node()
    _install()
    request = {
        "subgraphs": [{"name": name, "url": url, "sdl": sdl} for name, (url, sdl) in subgraphs.items()],
        "query": query,
    }
    done = subprocess.run(
        ["node", "compose.mjs"], cwd=FOLDER, input=json.dumps(request), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
