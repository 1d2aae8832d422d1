"""The sandbox's SECRET_KEY: random, made once per data folder and kept beside it.

The key signs the sandbox's bearer tokens (sandbox/auth.py). A key that ships
with the package would let anyone, a web page in the developer's browser included,
sign a staff token for themselves. So each data folder gets its own key, written the
first time the settings load, in a file only its owner can read, and read back after
that: the tokens `lifecycle-sandbox serve` prints stay valid across restarts.

The file is ``<data folder>.secret_key`` (by default ``.lifecycle-sandbox/pgdata18.secret_key``),
beside the data folder rather than in it: PostgreSQL's initdb wants an empty folder.
A ``SECRET_KEY`` environment variable still wins over the file.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

SUFFIX = ".secret_key"
#: A key shorter than this was not written by this module: refuse it.
MIN_LENGTH = 50


def key_path(data: Path) -> Path:
    return data.with_name(data.name + SUFFIX)


def sandbox_secret_key(data: Path) -> str:
    """The key of the data folder `data`: created with mode 0600 on first use, then reused."""
    path = key_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: two processes
    # starting at once both read the same complete key, never a half-written one.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: its key is the folder's key
    finally:
        os.unlink(temporary)


def _read(path: Path) -> str:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor) as handle:
        status = os.fstat(handle.fileno())
        # A key file someone else could have written or read (a shared /tmp, a copied
        # folder) signs tokens they could forge: refuse it rather than trust it.
        if hasattr(os, "getuid") and status.st_uid != os.getuid():
            raise RuntimeError(f"{path} belongs to another user; delete it to get a new sandbox key")
        if stat.S_IMODE(status.st_mode) & 0o077:
            raise RuntimeError(f"{path} is readable by other users; delete it to get a new sandbox key")
        key = handle.read().strip()
    if len(key) < MIN_LENGTH:
        raise RuntimeError(f"{path} does not hold a sandbox key; delete it to get a new one")
    return key
