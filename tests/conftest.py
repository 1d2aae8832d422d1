"""Shared test set-up. The database is DATABASE_URL, or an embedded PostgreSQL
started by the sandbox settings (see lifecycle_plugin/sandbox/embedded_pg.py)."""

from datetime import datetime, timezone

import pytest

from lifecycle_plugin.testing import Clock

#: Where the test clock starts unless a folder or module overrides `clock_start`.
CLOCK_START = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def clock_start() -> datetime:
    """When `clock` starts: override this fixture in a conftest or module for another moment."""
    return CLOCK_START


@pytest.fixture
def clock(clock_start) -> Clock:
    """The engine's clock for a test: set `clock.now` or `clock.advance(days=...)`."""
    return Clock(clock_start)


@pytest.fixture
def break_decisions(monkeypatch):
    """`break_decisions(engine, email)`: the engine's decision for that customer raises ValueError("bad data")."""

    def breaker(engine, broken_email):
        decide = engine.decide

        def decide_or_fail(facts, now):
            if facts.email == broken_email:
                raise ValueError("bad data")
            return decide(facts, now)

        monkeypatch.setattr(engine, "decide", decide_or_fail)

    return breaker
