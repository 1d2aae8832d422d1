"""What-if: the stage and tier distribution other thresholds would produce, writing nothing.

The pure rules run over the store's facts twice per customer, once with the
thresholds in force and once with the candidate ones. Facts come straight from the
host in chunks (a constant number of queries per chunk). Hooks are not called:
`lifecycle_collect_facts` and `lifecycle_classify` implementations may write (their
failures are recorded), and a what-if must not, so the distribution is that of the
built-in ladder.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from ..host import Host
from ..rules import LifecycleConfig, decide

#: Customers read from the host per round trip.
CHUNK_SIZE = 500


@dataclass
class WhatIfResult:
    """Counts by stage code and by tier code (None: no tier), for the same customers."""

    evaluated_at: datetime
    #: The candidate thresholds.
    config: LifecycleConfig
    #: Customers read from the store.
    customers_read: int = 0
    #: Customers with an account, an order or a cart (the others have no stage).
    customers_evaluated: int = 0
    #: False when `sample_limit` stopped the run before the store's last customer.
    complete: bool = True
    stages: Counter = field(default_factory=Counter)
    tiers: Counter = field(default_factory=Counter)
    current_stages: Counter = field(default_factory=Counter)
    current_tiers: Counter = field(default_factory=Counter)
    #: (stage in force, candidate stage) → customers, for those whose stage would change.
    stage_moves: Counter = field(default_factory=Counter)


def what_if(host: Host, in_force: LifecycleConfig, candidate: LifecycleConfig, now: datetime,
            sample_limit: int | None = None) -> WhatIfResult:
    """Decide every customer (or the first `sample_limit` read) under both configurations."""
    if sample_limit is not None and sample_limit < 1:
        raise ValueError("sample_limit must be at least 1")
    result = WhatIfResult(evaluated_at=now, config=candidate)
    chunk_size = min(CHUNK_SIZE, sample_limit or CHUNK_SIZE)
    for chunk in host.customer_chunks(chunk_size):
        if not chunk:
            continue
        if sample_limit is not None:
            remaining = sample_limit - result.customers_read
            if remaining <= 0:  # the sample is full and the store has more customers
                result.complete = False
                break
            if len(chunk) > remaining:
                chunk, result.complete = chunk[:remaining], False
        result.customers_read += len(chunk)
        facts_by_customer = host.read_facts(chunk)
        for customer in chunk:
            facts = facts_by_customer[customer]
            if not facts.known:
                continue  # nobody to classify: the engine keeps no profile for them either
            result.customers_evaluated += 1
            proposed = decide(facts, candidate, now)
            current = decide(facts, in_force, now)
            result.stages[proposed.stage.value] += 1
            result.tiers[proposed.tier] += 1
            result.current_stages[current.stage.value] += 1
            result.current_tiers[current.tier] += 1
            if proposed.stage != current.stage:
                result.stage_moves[(current.stage.value, proposed.stage.value)] += 1
        if not result.complete:
            break
    return result
