"""`LifecycleEngine`: the one object hosts, tasks and commands hold; each job is a module of its own.

The engine's state is here (the host, the thresholds, the hooks, the clock, the
work waiting for a commit); what it does lives in one module per job, and the
methods below hand over to them:

- `planner`: facts → decision → plan of what to write (nothing written);
- `identity`: whom an event is about (profile lookup, owners, merges);
- `runner`: batches of events in one transaction, under the customers' locks;
- `ledger`: actions carried out after the commit, and scheduled ones once due;
- `hook_calls`: isolated hook calls, their failures and retries;
- `sweep`: time-based moves and the daily tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pluggy
from django.utils import timezone

from ..hooks import HookError, process_plugin_manager
from ..host import CustomerRef, Host
from ..isolation import HOOK_TIMEOUT_DEFAULT, parse_hook_timeout
from ..rules import CustomerFacts, Decision, LifecycleConfig
from . import hook_calls, ledger, planner, runner
from . import sweep as sweeping
from .context import ScheduledInBatch
from .deletion import forget
from .ledger import SENDING_STALE_AFTER
from .planner import FIRST_SIGHT_GRACE  # noqa: F401  (the actions import it from here)
from .plans import Outcome
from .retries import LEDGER_RETRY_AFTER
from .sweep import SweepReport
from .transactions import AfterCommit


class LifecycleEngine:
    """Decides and records lifecycle stages for one host.

    :param host: the store (Saleor or sandbox).
    :param config: thresholds; validated here.
    :param plugin_manager: pluggy manager; by default this process's (built-ins plus entry points, built once).
    :param clock: returns "now"; the sandbox replays history with a simulated clock.
    :param settings: plugin settings handed to hooks (action switches and parameters).
    :param dispatch_entries: runs ledger entries after commit; inline by default, a
        Celery task in Saleor.
    """

    def __init__(
        self,
        host: Host,
        config: LifecycleConfig | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Callable[[], datetime] | None = None,
        settings: Mapping[str, Any] | None = None,
        dispatch_entries: Callable[[list[int]], Any] | None = None,
    ):
        self.host = host
        self.config = (config or LifecycleConfig()).validate()
        self.pm = plugin_manager if plugin_manager is not None else process_plugin_manager()
        self.clock = clock or timezone.now
        self.settings = dict(settings or {})
        #: Seconds one hook implementation may run; a hanging plugin must not hold a batch's locks.
        self.hook_timeout = parse_hook_timeout(self.settings.get("hook_timeout_seconds") or HOOK_TIMEOUT_DEFAULT)
        #: Ledger entries enqueued in the open transaction, run (`dispatch_entries`) once it commits.
        self.after_commit = AfterCommit(dispatch_entries or self.run_entries)
        #: While a batch's hooks run: which of its customers have pending scheduled actions.
        self.scheduled = ScheduledInBatch()

    # ------------------------------------------------------------------ deciding

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """The host's facts, without what predates a customer's deletion (`deletion.since_deletion`),
        plus what `lifecycle_collect_facts` implementations add."""
        return planner.read_facts(self, customers)

    def decide(self, facts: CustomerFacts, now: datetime) -> Decision:
        """The built-in rules, then `lifecycle_classify` overrides."""
        return planner.decide(self, facts, now)

    # ------------------------------------------------------------------ customers

    def process(self, customer: CustomerRef, *, event: str = "", recompute: bool = False,
                force_projection: bool = False) -> Outcome | None:
        """Bring one customer's profile up to date with the host's facts and the clock.

        Every event (account, checkout, order) ends here or in `process_many`. Returns
        None when the host knows nothing about the customer (no account, order or cart).
        """
        return self.process_many([(customer, event)], recompute=recompute, force_projection=force_projection)[0]

    def process_many(self, events: Iterable[tuple[CustomerRef, str]], *, recompute: bool = False,
                     force_projection: bool = False) -> list[Outcome | None]:
        """`process` for many customers in one transaction: what a worker draining the event inbox runs.

        The customers' locks are taken together (in one order, so two workers never
        deadlock), their facts and profiles are read with one query per kind, the rules
        run for each, what changed is written with one statement per table, and then
        the hooks of each customer are called in turn. A customer named twice is
        processed once, since facts are re-read anyway; both items get that outcome.
        Returns one outcome per item, in order.
        """
        return runner.process_many(self, events, recompute=recompute, force_projection=force_projection)

    def forget(self, customer: CustomerRef) -> int:
        """Delete everything kept about a customer (GDPR) and keep them from coming back
        (`deletion.forget`)."""
        return forget(customer, host=self.host)

    # ------------------------------------------------------------------ hooks

    def record_hook_error(self, error: HookError, profile_id: int | None = None) -> None:
        """Keep a hook implementation's failure as a ``HookFailure`` row (not retried)."""
        hook_calls.record_hook_error(self, error, profile_id)

    def retry_hook_failures(self, limit: int = 100) -> int:
        """Call failed customer-hook implementations again; how many succeeded this time.

        Only the implementation that raised is called, each in its own transaction under
        the customer's lock, with a context of the customer as they are now. One that
        keeps failing is tried `MAX_ACTION_ATTEMPTS` times in all, with growing delays.
        """
        return hook_calls.retry_hook_failures(self, limit)

    # ------------------------------------------------------------------ actions

    def run_entries(self, entry_ids: Sequence[int]) -> int:
        """Carry out ledger entries; each at most once even with two workers at once.

        Call it outside any transaction (after the deciding commit, in a task): an
        entry whose action returns a `Delivery` is committed as *sending* before the
        message leaves, which only holds if that commit is a real one.
        """
        return ledger.run_entries(self, entry_ids)

    def unsure_deliveries(self, stale_after: timedelta = SENDING_STALE_AFTER):
        """Ledger entries that may or may not have gone out: for the owner to check, never retried.

        *uncertain* ones, and *sending* ones older than `stale_after` (their worker died
        between the commit before the delivery and the one after). Real time, not the
        engine's clock: it is about processes, not about customers.
        """
        return ledger.unsure_deliveries(stale_after)

    def retry_failed_entries(self, older_than: timedelta = LEDGER_RETRY_AFTER, limit: int = 500) -> int:
        """Pick up entries left pending or failed (a crash after commit, a failing action)."""
        return ledger.retry_failed_entries(self, older_than, limit)

    def run_due_actions(self, limit: int = 500) -> int:
        """Run scheduled actions whose due time has come."""
        return ledger.run_due_actions(self, limit)

    # ------------------------------------------------------------------ many customers

    def sweep(self, batch_size: int = 500, max_batches: int | None = None) -> SweepReport:
        """Advance every profile whose next-check time has passed (an indexed range scan)."""
        return sweeping.sweep(self, batch_size, max_batches)

    def daily_tick(self, today: date | None = None, batch_size: int = 1000) -> int:
        """Call `lifecycle_daily_tick` once per profile for `today` (only if a plugin implements it)."""
        return sweeping.daily_tick(self, today, batch_size)
