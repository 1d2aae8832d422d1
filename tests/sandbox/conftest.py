from datetime import datetime, timezone

import pytest

from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.hooks import make_plugin_manager
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.store import SandboxStore, ensure_channels

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def clock_start():
    return NOW


@pytest.fixture
def host():
    return SandboxHost()


@pytest.fixture
def engine(host, clock):
    return LifecycleEngine(host, clock=clock, plugin_manager=make_plugin_manager(load_entry_points=False))


@pytest.fixture
def store(engine, db):
    ensure_channels()
    return SandboxStore(engine)
