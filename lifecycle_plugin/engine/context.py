"""What hooks receive: a view of the customer and idempotent ways to act."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pluggy
from django.db import IntegrityError, transaction

from ..hooks import HookError
from ..host import CustomerRef, Host
from ..models import ActionLedgerEntry, ActionStatus, CustomerProfile, ScheduledAction
from ..rules import LifecycleConfig
from .transactions import AfterCommit

#: Returned by a `lifecycle_run_action` implementation to mark an entry skipped.
SKIP = {"skipped": True}


def skip(reason: str) -> dict[str, Any]:
    """Like `SKIP`, with a reason that is kept as the ledger entry's result (why nothing was sent)."""
    return {"skipped": True, "reason": reason}


def is_skip(result: Any) -> bool:
    return isinstance(result, Mapping) and result.get("skipped") is True


@dataclass(frozen=True)
class Delivery:
    """Returned by ``lifecycle_run_action`` for work that leaves the database, such as a message.

    Whatever happens outside the database cannot be rolled back, so it must not run
    inside the entry's transaction: a worker that died after the mail server took the
    message, but before the commit, would leave the entry pending and it would be sent
    again. Instead the engine stores `result` with the entry in state *sending* and
    commits; then, outside any transaction and under the hook time limit, it calls
    `send`, whose return value (the channel's receipt) is added to the result of the
    entry, now *done*. An entry found *sending* later was interrupted in between: it is
    never run again, and the owner is shown it (``lifecycle_deliveries``).

    `send` runs under the hook time limit (``hook_timeout_seconds``) unless it says it
    limits its own parts (`own_time_limits`, as ``send_message`` does: each delivery
    channel has the limit). Running out of time, or raising `DeliveryUncertain`, marks the
    entry *uncertain* (shown too, not retried); any other exception marks it *failed*,
    and it is retried: raise that only when nothing went out.
    """

    result: Mapping[str, Any]
    send: Callable[[], Mapping[str, Any]]
    own_time_limits: bool = False


@dataclass(frozen=True)
class Hold:
    """Returned by ``lifecycle_run_action``: not now, run it again at `until` (quiet hours).

    A ledger entry stays pending with `reason` and `until` as its result and is not
    run before `until` (the retry task picks it up then); a scheduled action's due time
    moves to `until`. Waiting does not count as a failed attempt.
    """

    until: datetime
    reason: str


def hold(until: datetime, reason: str) -> Hold:
    return Hold(until, reason)


class DeliveryUncertain(RuntimeError):
    """Delivery broke off at a point where the message may or may not have gone out."""


@dataclass(frozen=True)
class ProfileView:
    """A read-only snapshot of a profile as hooks see it."""

    id: int
    customer: CustomerRef
    stage: str
    stage_since: datetime
    tier: str | None
    orders_count: int
    lifetime_spend: Mapping[str, str]
    window_spend: Mapping[str, str]
    first_order_at: datetime | None
    last_order_at: datetime | None
    extra_facts: Mapping[str, Any]

    @classmethod
    def of(cls, profile: CustomerProfile) -> ProfileView:
        return cls(
            id=profile.pk,
            customer=CustomerRef(profile.email, profile.user_id),
            stage=profile.stage,
            stage_since=profile.stage_since,
            tier=profile.tier,
            orders_count=profile.orders_count,
            lifetime_spend=dict(profile.lifetime_spend),
            window_spend=dict(profile.window_spend),
            first_order_at=profile.first_order_at,
            last_order_at=profile.last_order_at,
            extra_facts=dict(profile.extra_facts),
        )


@dataclass(frozen=True)
class StageChange:
    from_stage: str | None
    to_stage: str
    occurred_at: datetime
    reason: str
    rule: str
    event: str = ""


@dataclass(frozen=True)
class TierChange:
    from_tier: str | None
    to_tier: str | None
    occurred_at: datetime
    upgrade: bool
    window_spend: Mapping[str, str] = field(default_factory=dict)
    #: Why, as `StageTransition.REASON_*` (``settings_change``: the owner's new thresholds).
    reason: str = ""


@dataclass(frozen=True)
class ActionEntry:
    """A ledger entry or scheduled action handed to `lifecycle_run_action`."""

    id: int
    kind: str  # "ledger" or "scheduled"
    action: str
    dedupe_key: str
    payload: Mapping[str, Any]
    attempts: int


class ScheduledInBatch:
    """Which customers of the batch whose hooks are running have pending scheduled actions.

    Loaded with one query for the whole batch on first use, and kept up to date by
    `ActionContext.schedule`, so that `ActionContext.cancel_scheduled` sends no query
    for a customer who has none. Every writer of scheduled actions holds the
    customer's lock or profile row but the daily tick, which could add one meanwhile;
    a reminder it adds is still skipped when it runs if the customer is no longer
    silent (see `ActionContext.cancel_scheduled`).
    """

    def __init__(self) -> None:
        self._profiles: Collection[int] | None = None
        self._pending: set[tuple[int, str]] | None = None

    @contextmanager
    def batch(self, profile_ids: Collection[int]) -> Iterator[None]:
        """While the hooks of these profiles run."""
        self._profiles, self._pending = profile_ids, None
        try:
            yield
        finally:
            self._profiles = self._pending = None

    def may_have(self, profile_id: int, action: str) -> bool:
        """False when the profile had no pending scheduled `action` at the batch's look,
        and none was scheduled since; True outside a batch (unknown)."""
        if self._profiles is None or profile_id not in self._profiles:
            return True
        if self._pending is None:
            self._pending = set(
                ScheduledAction.objects.filter(status=ActionStatus.PENDING, profile_id__in=self._profiles)
                .values_list("profile_id", "action").distinct()
            )
        return (profile_id, action) in self._pending

    def note(self, profile_id: int, action: str) -> None:
        """`action` was just scheduled for the profile."""
        if self._pending is not None:
            self._pending.add((profile_id, action))


class ActionServices(Protocol):
    """What an `ActionContext` uses of the engine that made it; `LifecycleEngine` provides it."""

    #: The thresholds in force.
    config: LifecycleConfig
    #: The store (Saleor, the sandbox, the in-memory test host).
    host: Host
    #: The hooks in force.
    pm: pluggy.PluginManager
    #: The plugin's settings (action switches and parameters).
    settings: Mapping[str, Any]
    #: Seconds one hook implementation may run.
    hook_timeout: float
    #: Ledger entries to run once the deciding transaction commits.
    after_commit: AfterCommit
    #: Which customers of the running batch have pending scheduled actions.
    scheduled: ScheduledInBatch

    def record_hook_error(self, error: HookError, profile_id: int | None = None) -> None:
        """Keep a hook implementation's failure as a ``HookFailure`` row (not retried)."""


class ActionContext:
    """Given to every action hook; writes go to the transaction that made the decision."""

    def __init__(self, engine: ActionServices, profile: CustomerProfile, now: datetime):
        self._engine = engine
        self._profile_row = profile
        self.profile = ProfileView.of(profile)
        self.now = now

    def for_profile(self, profile: CustomerProfile) -> ActionContext:
        """The same engine and clock for another customer, for an action whose decision about
        one customer acts for another (a referee's order rewards the referrer). Its writes
        go to the same transaction, keyed by the other customer's profile."""
        return ActionContext(self._engine, profile, self.now)

    @property
    def config(self) -> LifecycleConfig:
        return self._engine.config

    @property
    def host(self) -> Host:
        return self._engine.host

    @property
    def plugin_manager(self):
        """The hooks in force, for an action that calls another hook (`lifecycle_deliver_message`)."""
        return self._engine.pm

    @property
    def settings(self) -> Mapping[str, Any]:
        """The plugin's settings (action switches and parameters)."""
        return self._engine.settings

    @property
    def hook_timeout(self) -> float:
        """Seconds one hook implementation may run (``hook_timeout_seconds``), for a hook that calls another."""
        return self._engine.hook_timeout

    def record_hook_error(self, error: HookError) -> None:
        """Keep a hook implementation's failure as a ``HookFailure`` row for this customer."""
        self._engine.record_hook_error(error, self.profile.id)

    def enqueue(self, action: str, key: str, payload: Mapping[str, Any] | None = None) -> bool:
        """Record that `action` must happen once for this customer and `key`.

        The ledger row is written in the deciding transaction; the action itself runs
        after the commit through `lifecycle_run_action`. Returns False when an entry
        with the same key already exists (a replay), so nothing happens twice.
        """
        dedupe_key = f"{action}:{self.profile.id}:{key}"
        try:
            with transaction.atomic():
                entry = ActionLedgerEntry.objects.create(
                    dedupe_key=dedupe_key, action=action, profile_id=self.profile.id, payload=dict(payload or {})
                )
        except IntegrityError:
            return False
        self._engine.after_commit.add(entry.pk)
        return True

    def schedule(self, action: str, key: str, due_at: datetime, payload: Mapping[str, Any] | None = None) -> bool:
        """Run `action` at `due_at` (stored, not a Celery countdown); once per key."""
        dedupe_key = f"{action}:{self.profile.id}:{key}"
        try:
            with transaction.atomic():
                ScheduledAction.objects.create(
                    dedupe_key=dedupe_key,
                    action=action,
                    profile_id=self.profile.id,
                    due_at=due_at,
                    payload=dict(payload or {}),
                )
        except IntegrityError:
            return False
        self._engine.scheduled.note(self.profile.id, action)
        return True

    def cancel_scheduled(self, action: str) -> int:
        """Cancel this customer's pending scheduled `action`s (for example reminders after an order).

        While the engine calls the hooks of a batch of customers it knows, from one
        query for the whole batch, which of them have pending actions (plus what was
        scheduled through `schedule` since); for the others this sends no query.
        """
        if not self._engine.scheduled.may_have(self.profile.id, action):
            return 0
        return ScheduledAction.objects.filter(
            profile_id=self.profile.id, action=action, status=ActionStatus.PENDING
        ).update(status=ActionStatus.CANCELLED, updated_at=self.now)

    def already_done(self, action: str, key: str) -> bool:
        return ActionLedgerEntry.objects.filter(dedupe_key=f"{action}:{self.profile.id}:{key}").exists()
