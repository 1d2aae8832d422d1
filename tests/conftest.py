"""Shared test set-up. The database is DATABASE_URL, or an embedded PostgreSQL
started by the sandbox settings (see lifecycle_plugin/sandbox/embedded_pg.py)."""

import pytest


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
