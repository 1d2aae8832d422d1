"""What-if: the stage and tier distribution other thresholds would produce, writing nothing.

Three evaluators, the same answer:

- ``sql`` (the default whenever it can run): every profile's ladder digest
  (`rules.digest`, kept by every writer of the profile) decided at `now` under both
  configurations in one scan of the digest table (`engine.sql_digest`, compiled from the
  ladder's one statement). About 2-3 s at 1,000,000 customers (docs/performance.md).
  It covers the customers with a profile, which after the backfill is every customer the
  store knows. It does not run, and the result says why (`evaluator_reason`), when a
  third-party `lifecycle_collect_facts` or `lifecycle_classify` hook is installed (the
  stored profiles then follow rules the digest does not know), a sample was asked for,
  the host has no SQL, a setting cannot be decided exactly in SQL
  (`rules.ladder.sql_unsupported`), or some profiles have no digest yet (written before
  it existed: `lifecycle_digest` or the daily task fills them).
- ``python``: the pure rules over the store's facts twice per customer, facts read from
  the host in chunks (every customer the host lists, with or without a profile).
- ``sql_ladder``: the full set-based evaluator (`sql_ladder`, decisions only) twice over the
  host's orders; slow (it reads every order), kept as the reference the bench compares with.

"Before" is the store decided with the settings in force (not the profiles as stored):
the moves are then those the settings change alone would make, and a what-if of the
settings in force moves nobody, even when a due time move has not been swept yet.

Hooks are not called on either path: `lifecycle_collect_facts` and `lifecycle_classify`
implementations may write (their failures are recorded), and a what-if must not, so the
distribution is that of the built-in ladder.

Messages and vouchers "the change would cause with actions on" (`actions_caused`) are
counted from the moves, given the action settings in force: a customer moving into a
stage of `repeat_purchase_stages` (repeat purchase on) is a message and a voucher; into a
stage of `winback_reminder_stages` (win-back reminder on) the series' first message, and
its voucher with `winback_reminder_voucher`; a tier going up (tier upgrade on) a message,
and a voucher with `tier_upgrade_voucher`. An upper bound: consent, quiet hours, the
frequency cap, a voucher the customer already had and a series' later reminders are not
looked at. Review requests follow fulfilments, not thresholds: none. Welcomes follow new
accounts, not thresholds: none either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from ..host import Host
from ..rules import LifecycleConfig, decide
from ..rules.ladder import sql_unsupported
from .digest_writes import PROFILE_TABLE
from .sql_digest import whole_store_sql

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
    #: (tier in force, candidate tier) → customers, for those whose tier would change.
    tier_moves: Counter = field(default_factory=Counter)
    #: What the moves would send and issue with the actions in force (`actions_caused`).
    messages: int = 0
    vouchers: int = 0
    #: "sql" (the digests), "python" or "sql_ladder", and why not SQL ("" when SQL ran).
    evaluator: str = "python"
    evaluator_reason: str = ""

    def add(self, before_stage: str, before_tier: str | None, after_stage: str, after_tier: str | None,
            count: int = 1) -> None:
        self.customers_evaluated += count
        self.stages[after_stage] += count
        self.tiers[after_tier] += count
        self.current_stages[before_stage] += count
        self.current_tiers[before_tier] += count
        if before_stage != after_stage:
            self.stage_moves[(before_stage, after_stage)] += count
        if before_tier != after_tier:
            self.tier_moves[(before_tier, after_tier)] += count


#: Hooks whose implementations change facts or decisions, which the digest does not know.
DECISION_HOOKS = ("lifecycle_collect_facts", "lifecycle_classify")
EVALUATORS = ("auto", "sql", "python", "sql_ladder")


def why_not_sql(host: Host, configs: tuple[LifecycleConfig, ...], sample_limit: int | None,
                hooks: tuple[str, ...] = ()) -> str | None:
    """Why the digest evaluator cannot answer, as far as can be told before it runs (None: it
    can; whether every profile has a digest is counted by the run itself, `missing_digests`).
    `hooks`: the installed implementations' hook names among `DECISION_HOOKS`."""
    if hooks:
        return "hooks that the SQL evaluator cannot run are installed: " + ", ".join(hooks)
    if sample_limit is not None:
        return "a sample was asked for (sampleLimit)"
    if getattr(host, "ladder_sources", None) is None:
        return f"the {getattr(host, 'name', '')} host offers no SQL (Host.ladder_sources)"
    for config in configs:
        problems = sql_unsupported(config)
        if problems:
            return "settings the SQL evaluator cannot decide exactly: " + ", ".join(problems)
    return None


def missing_digests(missing: int) -> str:
    return (f"{missing} profiles have no ladder digest yet (written before it existed; "
            "`lifecycle_digest` or the daily task fills them)")


def what_if(host: Host, in_force: LifecycleConfig, candidate: LifecycleConfig, now: datetime,
            sample_limit: int | None = None, settings: Mapping[str, Any] | None = None,
            evaluator: str = "auto", hooks: tuple[str, ...] = ()) -> WhatIfResult:
    """Decide every customer (or the first `sample_limit` read) under both configurations;
    `settings`: the action settings in force, for `messages` and `vouchers`; `evaluator`:
    "auto" (SQL whenever it can run), "sql" (refused with the reason when it cannot),
    "python" or "sql_ladder"; `hooks`: installed decision hooks (`DECISION_HOOKS`)."""
    if sample_limit is not None and sample_limit < 1:
        raise ValueError("sample_limit must be at least 1")
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {', '.join(EVALUATORS)}, got {evaluator!r}")
    result = WhatIfResult(evaluated_at=now, config=candidate)
    if evaluator == "sql_ladder":
        from .what_if_sql import decide_twice

        result.evaluator = "sql_ladder"
        _add_counts(result, decide_twice(host, in_force, candidate, now))
    else:
        reason = "asked for" if evaluator == "python" else why_not_sql(host, (in_force, candidate), sample_limit,
                                                                       hooks)
        counts = None
        if reason is None:
            counts, missing = decide_digests(in_force, candidate, now)
            if missing:
                reason = missing_digests(missing)
        if reason is not None and evaluator == "sql":
            raise ValueError(f"the what-if cannot run in SQL: {reason}")
        if reason is None:
            result.evaluator = "sql"
            _add_counts(result, counts)
        else:
            result.evaluator_reason = reason
            _in_python(result, host, in_force, candidate, now, sample_limit)
    result.messages, result.vouchers = actions_caused(result, in_force, candidate, settings or {})
    return result


def _add_counts(result: WhatIfResult, counts: Counter) -> None:
    for (before_stage, before_tier, after_stage, after_tier), count in counts.items():
        result.add(before_stage, before_tier, after_stage, after_tier, count)
    result.customers_read = result.customers_evaluated


def decide_digests(in_force: LifecycleConfig, candidate: LifecycleConfig, now: datetime) -> tuple[Counter, int]:
    """(stage in force, tier in force, candidate stage, candidate tier) → profiles, in one
    scan; and how many profiles have no current digest (counted in the same snapshot)."""
    query = whole_store_sql(in_force, candidate, now)
    with transaction.atomic(), connection.cursor() as cursor:
        # Compiled SQL is long and runs once: planning it for JIT costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        # The planner prices each row's compiled ladder at a few operators, so that gathering
        # the rows from parallel workers can look dearer than evaluating them all in one
        # process, several times slower at 1,000,000 profiles (docs/performance.md).
        cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        cursor.execute(query.sql)
        rows = cursor.fetchall()
        if rows:
            profiles = rows[0][2]
        else:  # no digest at all: count the profiles on their own
            cursor.execute(f"SELECT count(*) FROM {PROFILE_TABLE}")
            profiles = cursor.fetchone()[0]
    counts = Counter()
    for key, count, _ in rows:
        counts[query.decode(key)] += count
    return counts, profiles - sum(counts.values())


def _in_python(result: WhatIfResult, host: Host, in_force: LifecycleConfig, candidate: LifecycleConfig,
               now: datetime, sample_limit: int | None) -> None:
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
            proposed = decide(facts, candidate, now)
            current = decide(facts, in_force, now)
            result.add(current.stage.value, current.tier, proposed.stage.value, proposed.tier)
        if not result.complete:
            break


def actions_caused(result: WhatIfResult, in_force: LifecycleConfig, candidate: LifecycleConfig,
                   settings: Mapping[str, Any]) -> tuple[int, int]:
    """(messages, vouchers) the moves would cause with the built-in actions as `settings` (parsed,
    as `conf.load_settings` gives them; a missing one counts as off) set them."""
    def on(name: str) -> bool:
        return bool(settings.get(name))

    messages = vouchers = 0
    for (_, to_stage), count in result.stage_moves.items():
        if on("repeat_purchase_enabled") and to_stage in (settings.get("repeat_purchase_stages") or ()):
            messages, vouchers = messages + count, vouchers + count
        if on("winback_reminder_enabled") and to_stage in (settings.get("winback_reminder_stages") or ()):
            messages += count
            vouchers += count if on("winback_reminder_voucher") else 0
    if on("tier_upgrade_enabled"):
        ranks = candidate.tier_codes
        for (from_tier, to_tier), count in result.tier_moves.items():
            if to_tier in ranks and ranks.index(to_tier) > (ranks.index(from_tier) if from_tier in ranks else -1):
                messages += count
                vouchers += count if on("tier_upgrade_voucher") else 0
    return messages, vouchers
