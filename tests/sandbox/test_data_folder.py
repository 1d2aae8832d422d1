"""Where the sandbox writes its files: under the directory it runs from, never inside the installed package."""

from __future__ import annotations

from pathlib import Path

import lifecycle_plugin
from lifecycle_plugin.sandbox import embedded_pg
from lifecycle_plugin.sandbox.secret_key import key_path

PACKAGE = Path(lifecycle_plugin.__file__).resolve().parent


def test_the_default_data_folder_is_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(embedded_pg.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    data = embedded_pg.data_dir()
    assert data == tmp_path / ".lifecycle-sandbox" / "pgdata18"
    assert key_path(data) == tmp_path / ".lifecycle-sandbox" / "pgdata18.secret_key"
    assert not data.is_relative_to(PACKAGE)


def test_a_working_directory_too_deep_for_a_socket_moves_it_to_the_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(embedded_pg.DATA_ENV, raising=False)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    data = embedded_pg.data_dir()
    assert len(str(data)) <= embedded_pg.MAX_SOCKET_DIR and data.name == "pgdata18"
    assert not data.is_relative_to(deep) and not data.is_relative_to(PACKAGE)
    assert data == embedded_pg.data_dir()  # the same folder every time for that directory


def test_lifecycle_sandbox_data_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(embedded_pg.DATA_ENV, str(tmp_path / "mine"))
    assert embedded_pg.data_dir() == tmp_path / "mine"
