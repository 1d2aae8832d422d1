"""The engine's what-if: both configurations over the host's facts, counted; nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lifecycle_plugin.engine.what_if import what_if
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.rules import CustomerFacts, LifecycleConfig, OrderFact

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


class FactsHost:
    def __init__(self, facts):
        self.facts = {f.email: f for f in facts}
        self.chunk_sizes = []

    def customer_chunks(self, chunk_size, start_after=None):
        self.chunk_sizes.append(chunk_size)
        emails = sorted(self.facts)
        for i in range(0, len(emails), chunk_size):
            yield [CustomerRef(e) for e in emails[i:i + chunk_size]]

    def read_facts(self, customers):
        return {c: self.facts[c.email] for c in customers}


def bought(email, days_ago):
    return CustomerFacts(email=email, orders=(OrderFact(email, NOW - timedelta(days=days_ago), "USD", 50),))


@pytest.fixture
def host():
    return FactsHost([
        bought("a@example.com", 100),  # at risk at 90 days; new at 120
        bought("b@example.com", 10),   # new either way
        CustomerFacts(email="c@example.com"),  # unknown: read, not evaluated
    ])


def test_counts_both_configurations_and_the_moves_between_them(host):
    in_force = LifecycleConfig().validate()
    candidate = LifecycleConfig(at_risk_days=120).validate()
    result = what_if(host, in_force, candidate, NOW)
    assert (result.customers_read, result.customers_evaluated, result.complete) == (3, 2, True)
    assert result.current_stages == {"at_risk": 1, "new": 1}
    assert result.stages == {"new": 2}
    assert result.stage_moves == {("at_risk", "new"): 1}
    assert result.config is candidate and result.evaluated_at == NOW


def test_a_sample_limit_stops_early_and_says_so(host):
    config = LifecycleConfig().validate()
    result = what_if(host, config, config, NOW, sample_limit=2)
    assert (result.customers_read, result.complete) == (2, False)
    assert host.chunk_sizes == [2]
    with pytest.raises(ValueError):
        what_if(host, config, config, NOW, sample_limit=0)
