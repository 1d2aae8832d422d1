"""Where the sandbox's database lives: DATABASE_URL, or an embedded PostgreSQL server.

The embedded server comes from the `pgserver` wheel (PostgreSQL binaries on the
package registry). It listens only on a unix socket inside its data folder and
stops when the last process that started it exits. As root, pgserver runs the
server as its own unprivileged user, so the data folder's parents must be
readable by others (a checkout under /work or /tmp is; one under /root is not).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

DATA_ENV = "LIFECYCLE_SANDBOX_DATA"
DEFAULT_DATA = Path(".lifecycle-sandbox") / "pgdata"
#: A unix socket path may hold about 107 bytes; keep a margin.
MAX_SOCKET_DIR = 90

_server = None


def data_dir() -> Path:
    """The embedded server's data folder: LIFECYCLE_SANDBOX_DATA, or ./.lifecycle-sandbox/pgdata."""
    configured = os.environ.get(DATA_ENV)
    path = Path(configured).expanduser() if configured else DEFAULT_DATA
    path = path.absolute()
    if len(str(path)) > MAX_SOCKET_DIR and not configured:
        # The socket lives in the data folder; a deep checkout would make its path too long.
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / f"lifecycle-sandbox-{digest}" / "pgdata"
    return path


def start_embedded(path: Path | None = None) -> str:
    """Start (or reuse) the embedded server and return its connection URL."""
    global _server
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver
    except ImportError:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: "
            "pip install 'saleor-lifecycle[sandbox]', or set DATABASE_URL."
        ) from None
    path = path or data_dir()
    if len(str(path)) > MAX_SOCKET_DIR:
        raise RuntimeError(f"{DATA_ENV}={path} is too long for a unix socket path; choose a shorter folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    if _server is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _server = pgserver.get_server(str(path), cleanup_mode="stop")
    print(f"lifecycle-sandbox: embedded PostgreSQL in {path}", file=sys.stderr)
    return _server.get_uri()


def sandbox_database_url() -> str:
    """DATABASE_URL when set, otherwise the embedded server's URL (starting it)."""
    return os.environ.get("DATABASE_URL") or start_embedded()
