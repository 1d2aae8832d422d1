"""The package as an owner gets it: a wheel built from the project, installed into a
clean virtual environment, running the sandbox's migrations and a small demo.

Everything the code loads at run time that is not Python (migrations, templates, the
schema file) must ship in the wheel; an editable install never shows a file missing
from package_data, this does. The demo runs from a scratch folder with DATABASE_URL
unset, so it also shows that the sandbox writes its files there (its embedded
PostgreSQL included) and never inside the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Local state that is not part of the project; copying it would slow the build down.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "node_modules",
    ".lifecycle-sandbox", ".pgdata", ".hypothesis", ".pytest_cache",
)
#: Non-Python files the package reads at run time, one of each kind.
SHIPPED = [
    "lifecycle_plugin/migrations/0001_initial.py",
    "lifecycle_plugin/sandbox/migrations/0001_initial.py",
    "lifecycle_plugin/graphql/schema.graphql",
    "lifecycle_plugin/graphql/pages_assets/app.js",
    "lifecycle_plugin/graphql/pages_assets/vendor/charts.css/charts.min.css",
    "lifecycle_plugin/sandbox/static/vendor/graphiql/graphiql.min.js",
    "lifecycle_plugin/templates/lifecycle_plugin/repeat_purchase.html",
    "lifecycle_plugin/templates/lifecycle_plugin/winback_reminder.subject.txt",
]

def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command[:4]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "saleor-lifecycle"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the build requirements (setuptools, wheel) are in the test extra,
    # so the build needs no download of its own.
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)])
    (built,) = out.glob("saleor_lifecycle-*.whl")
    return built


def test_the_wheel_ships_what_the_code_loads_at_run_time(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [path for path in SHIPPED if path not in names]
    assert not missing, f"not in the wheel: {missing}"
    migrations = sorted(p.name for p in (ROOT / "lifecycle_plugin" / "migrations").glob("0*.py"))
    assert all(f"lifecycle_plugin/migrations/{name}" in names for name in migrations)
    assert not any(name.startswith("tests/") for name in names), "the tests must not be installed as a package"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "lifecycle_plugin = lifecycle_plugin.plugin:LifecyclePlugin" in text
    assert "lifecycle-sandbox = lifecycle_plugin.sandbox.cli:main" in text


def test_a_clean_install_of_the_wheel_migrates_and_runs_the_demo(wheel, tmp_path, request):
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[sandbox]"])

    # A short folder: the embedded server's socket lives in its data folder, and a
    # path too long for a socket would send the data to the temporary folder instead.
    workdir = Path(tempfile.mkdtemp(prefix="lc-owner-"))
    request.addfinalizer(lambda: shutil.rmtree(workdir, ignore_errors=True))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LIFECYCLE_SANDBOX_DATA", "PYTHONPATH"}}
    result = run(
        [str(environment / "bin" / "lifecycle-sandbox"), "--no-progress", "demo", "--customers", "300",
         "--live-days", "2", "--seed", "5"],
        cwd=workdir, env=env,
    )
    assert "Demo finished" in result.stdout
    assert "migrating" in result.stdout

    # The installed code, not this checkout, ran: and it wrote nothing into itself.
    site = run([str(python), "-c", "import lifecycle_plugin, os; print(os.path.dirname(lifecycle_plugin.__file__))"],
               cwd=workdir, env=env).stdout.strip()
    assert Path(site).is_relative_to(environment)
    assert (workdir / ".lifecycle-sandbox").is_dir(), "the sandbox keeps its data in the folder it runs from"
    assert not list(Path(site).rglob("pgdata*")), "nothing may be written inside the installed package"
