"""The documented path for plugin authors works: pip-install the example package and run its tests.

The example is installed with pip into a temporary directory (``--target``) rather
than into this virtualenv, so the rest of this test session (and anyone sharing the
virtualenv) does not start loading the example through its entry point. Its tests
then run in a subprocess with that directory on the path and pytest's importlib
mode, so they import the *installed* package (code, templates and entry point) and
the engine finds the action through the ``lifecycle_plugin`` entry-point group, as
after a plain ``pip install``. They use a database of their own.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "birthday-reward"


def database_url_for_the_example() -> str:
    db = connection.settings_dict
    name = db["NAME"].removeprefix("test_") + "_example"  # pytest-django adds test_ again
    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = quote(db["HOST"] or "", safe="")  # an embedded server's socket directory is a path
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


def test_example_package_installs_and_its_tests_pass(tmp_path):
    # A copy, because setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(EXAMPLE, tmp_path / "birthday-reward")
    target = tmp_path / "site-packages"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check"]
    if importlib.util.find_spec("setuptools") is not None:
        install.append("--no-build-isolation")  # the build backend is here already: offline and faster
    installed = subprocess.run([*install, "--target", str(target), str(source)],
                               capture_output=True, text=True, timeout=240)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert list(target.glob("lifecycle_birthday_reward-*.dist-info")), "pip installed no distribution metadata"
    assert (target / "birthday_reward" / "templates" / "lifecycle_plugin" / "birthday_reward.txt").exists()

    env = {
        **os.environ,
        # The installed example, then this checkout's lifecycle_plugin (CI installs it
        # into the virtualenv; a developer may run from the source tree).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(target), str(ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": database_url_for_the_example(),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--import-mode=importlib", "-c", str(source / "setup.cfg"),
         "--rootdir", str(source), str(source / "tests")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout
