"""The engine service: events in, profiles, history and actions out.

Every write for one customer happens under a transaction-scoped advisory lock on
their e-mail, and facts are read after the lock is taken, so concurrent events
for the same customer are serialised and none is lost. Facts are always re-read
from the host, so a repeated or out-of-order event gives the same result as one
clean event.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pluggy
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..hooks import (
    HOOK_TIMEOUT_DEFAULT,
    HookError,
    UNLIMITED_PLUGINS,
    HookTimeout,
    call_isolated,
    has_implementations,
    lazy_atomic,
    process_plugin_manager,
    parse_hook_timeout,
    time_limit,
)
from ..host import CustomerRef, Host
from ..models import (
    ActionLedgerEntry,
    ActionStatus,
    CustomerProfile,
    HookFailure,
    ScheduledAction,
    StageTransition,
    TierChange as TierChangeRow,
)
from ..rules import CustomerFacts, Decision, LifecycleConfig, counts, decide, is_win_back
from .context import (
    ActionContext,
    ActionEntry,
    Delivery,
    DeliveryUncertain,
    StageChange,
    TierChange,
    call_arguments,
    is_skip,
    retry_arguments,
)
from .deletion import apply_tombstones, forget
from .plans import Plan, mark_once_only, once_only_key, write_plans

logger = logging.getLogger(__name__)

#: Orders placed this long before the engine first sees a customer still fire
#: the order hooks: the event that reports an order arrives after it was placed.
FIRST_SIGHT_GRACE = timedelta(days=1)
#: How often a failing action is tried before it is left as failed.
MAX_ACTION_ATTEMPTS = 5
#: A replay walk never takes more steps than this (hooks could report bad times).
MAX_REPLAY_STEPS = 64
#: Something that failed (a scheduled action, a hook implementation, a customer's
#: inbox events) is tried again after this, then after twice as long each time.
RETRY_DELAY = timedelta(minutes=5)
#: A ledger entry still *sending* after this was interrupted (a delivery takes
#: seconds, `hook_timeout_seconds` at most): it is reported as unsure.
SENDING_STALE_AFTER = timedelta(minutes=10)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: 5, 10, 20, 40 minutes..."""
    return RETRY_DELAY * 2 ** (attempts - 1)


def stage_code(stage: Any) -> str:
    return getattr(stage, "value", stage)


def tier_rank(config: LifecycleConfig, tier: str | None) -> int:
    codes = config.tier_codes
    return codes.index(tier) if tier in codes else -1


def money_json(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in sorted(amounts.items())}


@dataclass
class Outcome:
    """What one `process` call changed."""

    profile_id: int | None
    stage: str | None
    tier: str | None
    stage_changes: list[StageChange] = field(default_factory=list)
    tier_changes: list[TierChange] = field(default_factory=list)
    created: bool = False


@dataclass
class SweepReport:
    profiles: int = 0
    stage_changes: int = 0
    tier_changes: int = 0


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
        self._dispatch = dispatch_entries or self.run_entries
        self._after_commit_entries: list[int] = []
        #: While the hooks of a batch run: its profile ids, and (loaded on first use)
        #: which of them have pending scheduled actions, as (profile id, action).
        self._batch_profiles: set[int] | None = None
        self._batch_scheduled: set[tuple[int, str]] | None = None

    # ------------------------------------------------------------------ decisions

    def read_facts(self, customers: Sequence[CustomerRef]) -> dict[CustomerRef, CustomerFacts]:
        """The host's facts, without what predates a customer's deletion (`deletion.since_deletion`),
        plus what `lifecycle_collect_facts` implementations add."""
        facts = apply_tombstones(self.host.read_facts(customers))
        contributions = call_isolated(
            self.pm,
            "lifecycle_collect_facts",
            customers=list(customers),
            facts=facts,
            host=self.host,
            on_error=self._record_hook_error,
            guard=lazy_atomic,
            timeout=self.hook_timeout,
        )
        for contributed in contributions:
            for customer, extra in contributed.items():
                if customer in facts and extra:
                    facts[customer] = facts[customer].with_extra(extra)
        return facts

    def decide(self, facts: CustomerFacts, now: datetime) -> Decision:
        """The built-in rules, then `lifecycle_classify` overrides."""
        decision = decide(facts, self.config, now)
        # Most installations have no classifier: skip setting up the isolated call,
        # which a backfill would otherwise pay once per customer.
        if has_implementations(self.pm, "lifecycle_classify"):
            overrides = call_isolated(
                self.pm,
                "lifecycle_classify",
                facts=facts,
                decision=decision,
                config=self.config,
                now=now,
                on_error=self._record_hook_error,
                guard=lazy_atomic,
                timeout=self.hook_timeout,
            )
            if overrides and isinstance(overrides[0], Decision):
                decision = overrides[0]
        if decision.next_change_at is not None and decision.next_change_at <= now:
            # A hook reported a change time that is not in the future; ignore it
            # rather than sweep the customer for ever.
            decision = dataclasses.replace(decision, next_change_at=None)
        return decision

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
        items = [(customer, event or "") for customer, event in events]
        if not items:
            return []
        merged: dict[str, tuple[CustomerRef, str]] = {}
        for customer, event in items:
            known = merged.get(customer.email)
            if known is not None:
                customer = CustomerRef(customer.email, customer.user_id or known[0].user_id)
                event = event or known[1]
            merged[customer.email] = (customer, event)
        self._after_commit_entries = []
        with transaction.atomic():
            self._lock(list(merged))
            outcomes = self._process_locked(list(merged.values()), recompute=recompute,
                                            force_projection=force_projection)
            self._register_after_commit()
        return [outcomes[customer.email] for customer, _ in items]

    def forget(self, customer: CustomerRef) -> int:
        """Delete everything kept about a customer (GDPR) and keep them from coming back
        (`deletion.forget`)."""
        return forget(customer, host=self.host)

    def _lock(self, emails: Sequence[str]) -> None:
        """Transaction-scoped advisory locks on the customers' e-mails, taken in key order."""
        with connection.cursor() as cursor:
            if len(emails) == 1:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"lifecycle:{emails[0]}"])
                return
            # OFFSET 0 keeps the sorted subquery from being flattened: the locks are
            # taken in key order, whatever order the batch came in.
            cursor.execute(
                """SELECT count(pg_advisory_xact_lock(key)) FROM (
                       SELECT DISTINCT hashtextextended('lifecycle:' || email, 0) AS key
                       FROM unnest(%s::text[]) AS email ORDER BY 1 OFFSET 0) AS ordered""",
                [list(emails)],
            )

    def _process_locked(self, pairs: Sequence[tuple[CustomerRef, str]], *, recompute: bool,
                        force_projection: bool) -> dict[str, Outcome | None]:
        customers = [customer for customer, _ in pairs]
        facts = self.read_facts(customers)
        now = self.clock()
        # The account is the one the host found: an event can name an account deleted
        # since it was queued (its profile went with it), which must not come back.
        refs = [CustomerRef(c.email, facts[c].user_id if facts[c].has_account else None) for c in customers]
        profiles = self._find_profiles(refs)
        refs, facts_of = self._as_profile_owners(refs, [facts[c] for c in customers], profiles)
        claimed: set[int] = set()
        accounts: set[int] = set()
        plans: list[Plan] = []
        later: list[tuple[CustomerRef, str]] = []
        outcomes: dict[str, Outcome | None] = {}
        for (customer, event), ref, matches in zip(pairs, refs, profiles):
            if any(found.pk in claimed for found in matches) or ref.user_id in accounts:
                # The profile or the account is also another customer's of this batch (an
                # account that changed its e-mail): decided after that one is written.
                later.append((ref, event))
                continue
            claimed.update(found.pk for found in matches)
            customer_facts = facts_of[ref]
            if ref.user_id:
                accounts.add(ref.user_id)
                if not customer_facts.account_confirmed:
                    # Not confirmed: its own profile only; a guest's is not merged into it.
                    matches = [found for found in matches if found.user_id == ref.user_id]
            profile = self._keep_one(ref, matches)
            if profile is None:
                if customer_facts.known:
                    plans.append(self._plan_new(ref, customer_facts, now, event))
                else:
                    outcomes[customer.email] = None
                continue
            linked = bool(ref.user_id and profile.user_id != ref.user_id)
            if linked:
                profile.user_id = ref.user_id
            if profile.email != ref.email and not self._email_taken(ref.email, profile):
                profile.email = ref.email
            plans.append(self._plan_advance(profile, customer_facts, now, event=event, recompute=recompute,
                                            force_projection=force_projection or linked))
        self._carry_out(plans, now)
        outcomes.update((plan.customer.email, plan.outcome) for plan in plans)
        if later:
            outcomes.update(self._process_locked(later, recompute=recompute, force_projection=force_projection))
        return outcomes

    def _as_profile_owners(self, refs: list[CustomerRef], facts: list[CustomerFacts],
                           found: list[list[CustomerProfile]]) -> tuple[list[CustomerRef], dict]:
        """Whom to decide each event as, and their facts: an e-mail has one profile, and
        the event is decided as that profile's owner.

        While an account is not confirmed, the host gives it only its own rows and reads
        the e-mail alone as the guest of that e-mail (`host.Owners`). So an event of the
        account that finds only the guest's profile is decided as the guest (the profile
        stays the guest's until the confirmation), and a guest event that finds the
        account's profile as that account. Both are read again, in one host read.
        """
        chosen = list(refs)
        for index, (ref, customer_facts, matches) in enumerate(zip(refs, facts, found)):
            owners = {profile.user_id for profile in matches}
            if ref.user_id and not customer_facts.account_confirmed and ref.user_id not in owners and None in owners:
                chosen[index] = CustomerRef(ref.email, None)
            elif not ref.user_id and len(owners) == 1 and None not in owners:
                chosen[index] = CustomerRef(ref.email, owners.pop())
        facts_of = {ref: customer_facts for ref, customer_facts in zip(refs, facts)}
        again = [ref for ref, before in zip(chosen, refs) if ref != before]
        if again:
            reread = self.read_facts(again)
            for index, ref in enumerate(chosen):
                if ref in reread:
                    customer_facts = reread[ref]
                    owner = customer_facts.user_id if customer_facts.has_account else None
                    chosen[index] = CustomerRef(ref.email, owner)
                    facts_of[chosen[index]] = customer_facts
        return chosen, facts_of

    @staticmethod
    def _email_taken(email: str, profile: CustomerProfile) -> bool:
        """Whether another profile has `email` (a guest's, which an unconfirmed account keeps apart)."""
        return CustomerProfile.objects.filter(email=email).exclude(pk=profile.pk).exists()

    def _find_profiles(self, customers: Sequence[CustomerRef]) -> list[list[CustomerProfile]]:
        """Each customer's profiles (by e-mail and by account; two when they have to merge), locked."""
        # Two array parameters rather than IN lists of hundreds of placeholders.
        rows = list(CustomerProfile.objects.raw(
            f"""SELECT * FROM {CustomerProfile._meta.db_table}
                WHERE email = ANY(%s::text[]) OR user_id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE""",
            [[c.email for c in customers], [c.user_id for c in customers if c.user_id]],
        ))
        by_email = {row.email: row for row in rows}
        by_user = {row.user_id: row for row in rows if row.user_id}
        found = []
        for customer in customers:
            matches = [row for row in (by_user.get(customer.user_id) if customer.user_id else None,
                                       by_email.get(customer.email)) if row is not None]
            if len(matches) == 2 and matches[0].pk == matches[1].pk:
                matches = matches[:1]
            found.append(sorted(matches, key=lambda row: row.pk))
        return found

    def _keep_one(self, customer: CustomerRef, found: list[CustomerProfile]) -> CustomerProfile | None:
        if len(found) <= 1:
            return found[0] if found else None
        # An account took the e-mail of a guest profile (or changed e-mail): keep the
        # account's profile and fold the other one's history into it.
        keep = next((p for p in found if p.user_id == customer.user_id), found[0])
        for other in found:
            if other.pk != keep.pk:
                self._merge_into(keep, other)
        return keep

    def _merge_into(self, keep: CustomerProfile, other: CustomerProfile) -> None:
        for model in (StageTransition, TierChangeRow, ScheduledAction, HookFailure):
            model.objects.filter(profile=other).update(profile=keep)
        for entry in ActionLedgerEntry.objects.filter(profile=other):
            entry.profile = keep
            try:
                with transaction.atomic():
                    entry.save(update_fields=["profile"])
            except IntegrityError:
                entry.delete()
        keep.history_cutoff = min(keep.history_cutoff, other.history_cutoff)
        other.delete()

    # ------------------------------------------------------------------ deciding (nothing written)

    def _plan_new(self, customer: CustomerRef, facts: CustomerFacts, now: datetime, event: str) -> Plan:
        decision = self.decide(facts, now)
        profile = CustomerProfile(
            user_id=customer.user_id,
            email=customer.email,
            stage_since=now,
            tier_since=now if decision.tier else None,
            history_cutoff=now - FIRST_SIGHT_GRACE,
            decided_at=now,
        )
        self._apply(profile, decision, facts, now)
        profile.stage = stage_code(decision.stage)
        profile.tier = decision.tier
        plan = Plan(customer, profile, facts, Outcome(None, profile.stage, profile.tier, created=True),
                     project=True)
        plan.outcome.stage_changes.append(
            self._record_stage(plan, None, decision, now, StageTransition.REASON_EVENT, event))
        if decision.tier:
            plan.outcome.tier_changes.append(
                self._record_tier(plan, None, decision, now, StageTransition.REASON_EVENT))
        return plan

    def _plan_advance(self, profile: CustomerProfile, facts: CustomerFacts, now: datetime, *, event: str = "",
                      recompute: bool = False, force_projection: bool = False) -> Plan:
        """Replay time-based moves at the exact moments they took effect, then decide for now."""
        plan = Plan(CustomerRef(profile.email, profile.user_id), profile, facts,
                     Outcome(profile.pk, profile.stage, profile.tier))
        outcome = plan.outcome
        stage, tier = profile.stage, profile.tier
        moment = profile.next_check_at
        # An order the profile has not seen yet may be reported after a check fell due.
        # Replaying time past it would record the order's effect as a time move (and
        # hide a win-back); stop there and let the decision for now record it as an event.
        unseen_from = min(
            (o.placed_at for o in facts.orders
             if counts(o, self.config) and (profile.last_order_at is None or o.placed_at > profile.last_order_at)),
            default=None,
        )
        steps = 0
        while (moment is not None and moment <= now and steps < MAX_REPLAY_STEPS
               and (unseen_from is None or moment < unseen_from)):
            steps += 1
            replayed = self.decide(facts.as_of(moment), moment)
            if stage_code(replayed.stage) != stage:
                outcome.stage_changes.append(
                    self._record_stage(plan, stage, replayed, moment, StageTransition.REASON_TIME, ""))
                stage = stage_code(replayed.stage)
            if replayed.tier != tier:
                outcome.tier_changes.append(
                    self._record_tier(plan, tier, replayed, moment, StageTransition.REASON_TIME))
                tier = replayed.tier
            moment = replayed.next_change_at

        decision = self.decide(facts, now)
        if stage_code(decision.stage) != stage:
            if is_win_back(stage, decision.stage):
                reason = StageTransition.REASON_WIN_BACK
            elif recompute:
                reason = StageTransition.REASON_RECOMPUTE
            else:
                reason = StageTransition.REASON_EVENT
            outcome.stage_changes.append(self._record_stage(plan, stage, decision, now, reason, event))
        if decision.tier != tier:
            reason = StageTransition.REASON_RECOMPUTE if recompute else StageTransition.REASON_EVENT
            outcome.tier_changes.append(self._record_tier(plan, tier, decision, now, reason))

        for change in outcome.stage_changes:
            profile.stage, profile.stage_since = change.to_stage, change.occurred_at
        for tier_change in outcome.tier_changes:
            profile.tier, profile.tier_since = tier_change.to_tier, tier_change.occurred_at
        self._apply(profile, decision, facts, now)
        profile.version += 1
        outcome.stage, outcome.tier = profile.stage, profile.tier
        plan.project = bool(outcome.stage_changes or outcome.tier_changes or force_projection)
        return plan

    def _apply(self, profile: CustomerProfile, decision: Decision, facts: CustomerFacts, now: datetime) -> None:
        summary = decision.summary
        profile.extra_facts = dict(facts.extra)
        profile.stage_rule = decision.rule
        profile.orders_count = summary.orders_count
        profile.orders_by_currency = dict(summary.orders_by_currency)
        profile.lifetime_spend = money_json(summary.lifetime_spend)
        profile.window_spend = money_json(summary.window_spend)
        profile.first_order_at = summary.first_order_at
        profile.last_order_at = summary.last_order_at
        profile.decided_at = now
        profile.next_check_at = decision.next_change_at

    def _record_stage(self, plan: Plan, from_stage, decision: Decision, at: datetime, reason: str,
                      event: str) -> StageChange:
        to_stage = stage_code(decision.stage)
        plan.transitions.append(StageTransition(
            profile=plan.profile, from_stage=from_stage, to_stage=to_stage, occurred_at=at,
            reason=reason, event=event[:64], rule=decision.rule, facts=dict(decision.facts),
        ))
        return StageChange(from_stage, to_stage, at, reason, decision.rule, event)

    def _record_tier(self, plan: Plan, from_tier, decision: Decision, at: datetime, reason: str) -> TierChange:
        spend = money_json(decision.summary.window_spend)
        plan.tier_changes.append(TierChangeRow(
            profile=plan.profile, from_tier=from_tier, to_tier=decision.tier, occurred_at=at, reason=reason,
            window_spend=spend,
        ))
        upgrade = tier_rank(self.config, decision.tier) > tier_rank(self.config, from_tier)
        return TierChange(from_tier, decision.tier, at, upgrade, spend)

    # ------------------------------------------------------------------ writing, then the hooks

    def _carry_out(self, plans: Sequence[Plan], now: datetime) -> None:
        """Write the plans with one statement per table, then call each customer's hooks.

        Hooks run after every row is written, so an implementation that reads the
        profile, its history or the ledger from the database sees this decision.
        """
        if not plans:
            return
        write_plans(plans, self.host)
        first_times = mark_once_only(plans, self.config, self.clock())
        self._batch_profiles, self._batch_scheduled = {plan.profile.pk for plan in plans}, None
        try:
            for plan in plans:
                self._fire(plan, now, first_times)
        finally:
            self._batch_profiles = self._batch_scheduled = None

    def _may_have_scheduled(self, profile_id: int, action: str) -> bool:
        """False when the profile had no pending scheduled `action` at the batch's look, and
        none was scheduled through `ActionContext.schedule` since. Every writer of scheduled
        actions holds the customer's lock or profile row but the daily tick, which could
        add one meanwhile; a reminder it adds is still skipped when it runs if the customer
        is no longer silent (see `ActionContext.cancel_scheduled`)."""
        if self._batch_profiles is None or profile_id not in self._batch_profiles:
            return True
        if self._batch_scheduled is None:
            self._batch_scheduled = set(
                ScheduledAction.objects.filter(status=ActionStatus.PENDING, profile_id__in=self._batch_profiles)
                .values_list("profile_id", "action").distinct()
            )
        return (profile_id, action) in self._batch_scheduled

    def _note_scheduled(self, profile_id: int, action: str) -> None:
        if self._batch_scheduled is not None:
            self._batch_scheduled.add((profile_id, action))

    def _fire(self, plan: Plan, now: datetime, first_times: set[str]) -> None:
        profile, outcome = plan.profile, plan.outcome
        context = ActionContext(self, profile, now)
        won_back = any(c.reason == StageTransition.REASON_WIN_BACK for c in outcome.stage_changes)
        counted = plan.counted
        for order in counted:
            if once_only_key("order_counted", profile.pk, order.order_id) in first_times:
                is_latest = order is counted[-1]
                self._call("lifecycle_order_counted", context=context, order=order, win_back=won_back and is_latest)
        for order in counted:
            if once_only_key("order_fulfilled", profile.pk, order.order_id) in first_times:
                self._call("lifecycle_order_fulfilled", context=context, order=order)
        for change in outcome.stage_changes:
            self._call("lifecycle_stage_changed", context=context, change=change)
        for tier_change in outcome.tier_changes:
            self._call("lifecycle_tier_changed", context=context, change=tier_change)

    def _call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        # Every customer hook gets a context: a failure is recorded against that customer,
        # with what calling that implementation again needs.
        context = kwargs.get("context")
        profile_id = context.profile.id if context is not None else None

        def record(error: HookError) -> None:
            self._record_hook_error(error, profile_id, retry=retry_arguments(hook_name, kwargs))

        return call_isolated(self.pm, hook_name, on_error=record, guard=lazy_atomic, timeout=self.hook_timeout,
                             **kwargs)

    def _record_hook_error(self, error: HookError, profile_id: int | None = None,
                           retry: dict[str, Any] | None = None) -> None:
        retry_at = self.clock() + retry_delay(1) if retry is not None and profile_id else None
        try:
            with transaction.atomic():
                HookFailure.objects.create(
                    hook=error.hook, plugin=error.plugin[:255], profile_id=profile_id,
                    error=f"{type(error.error).__name__}: {error.error}", traceback=error.traceback,
                    arguments=retry or {}, retry_at=retry_at,
                )
        except Exception:  # recording must never turn an isolated failure into a crash
            logger.exception("could not record the failure of hook %s", error.hook)

    def retry_hook_failures(self, limit: int = 100) -> int:
        """Call failed customer-hook implementations again; how many succeeded this time.

        Only the implementation that raised is called, each in its own transaction under
        the customer's lock, with a context of the customer as they are now. One that
        keeps failing is tried `MAX_ACTION_ATTEMPTS` times in all, with growing delays.
        """
        now = self.clock()
        due = list(
            HookFailure.objects.filter(retry_at__lte=now, resolved_at__isnull=True, profile__isnull=False)
            .order_by("retry_at").values_list("pk", "profile__email")[:limit]
        )
        succeeded = 0
        for failure_id, email in due:
            self._after_commit_entries = []
            with transaction.atomic():
                self._lock([email])
                failure = (HookFailure.objects.select_for_update(skip_locked=True, of=("self",))
                           .select_related("profile").filter(pk=failure_id, retry_at__lte=now).first())
                if failure is None:
                    continue  # another worker has it, or it is done
                try:
                    with transaction.atomic():
                        succeeded += self._retry_hook(failure, now)
                except Exception:
                    # A row this version cannot call again (arguments of another version, a
                    # hook that no longer exists): give it up rather than stop every retry.
                    logger.exception("lifecycle: cannot retry hook failure %s; given up", failure.pk)
                    del self._after_commit_entries[:]
                    HookFailure.objects.filter(pk=failure.pk).update(retry_at=None)
                    continue
                self._register_after_commit()
        return succeeded

    def _retry_hook(self, failure: HookFailure, now: datetime) -> int:
        implementation = next(
            (impl for impl in getattr(self.pm.hook, failure.hook).get_hookimpls()
             if (self.pm.get_name(impl.plugin) or repr(impl.plugin))[:255] == failure.plugin),
            None,
        )
        arguments = None
        if implementation is not None:
            context = ActionContext(self, failure.profile, now)
            arguments = call_arguments(failure.hook, failure.arguments, context, self.read_facts)
        if arguments is None:
            # The plugin is gone, or what the call was about (an order) is.
            failure.retry_at = None
            failure.save(update_fields=["retry_at"])
            return 0
        queued = len(self._after_commit_entries)
        try:
            limit = None if failure.plugin in UNLIMITED_PLUGINS else self.hook_timeout
            with time_limit(limit, f"hook {failure.hook} of {failure.plugin}", transaction.atomic):
                implementation.function(**{name: arguments[name] for name in implementation.argnames
                                           if name in arguments})
        except Exception as error:  # isolated as in the first call
            del self._after_commit_entries[queued:]  # their ledger rows were rolled back
            logger.exception("lifecycle hook %s of %s raised again", failure.hook, failure.plugin)
            failure.attempts += 1
            failure.error = f"{type(error).__name__}: {error}"
            failure.traceback = traceback.format_exc()
            failure.retry_at = now + retry_delay(failure.attempts) if failure.attempts < MAX_ACTION_ATTEMPTS else None
            failure.save()
            return 0
        failure.resolved_at, failure.retry_at = now, None
        failure.save(update_fields=["resolved_at", "retry_at"])
        return 1

    def _register_after_commit(self) -> None:
        entries = list(self._after_commit_entries)
        self._after_commit_entries = []
        if entries:
            transaction.on_commit(lambda: self._dispatch(entries))

    # ------------------------------------------------------------------ actions

    def run_entries(self, entry_ids: Sequence[int]) -> int:
        """Carry out ledger entries; each at most once even with two workers at once.

        Call it outside any transaction (after the deciding commit, in a task): an
        entry whose action returns a `Delivery` is committed as *sending* before the
        message leaves, which only holds if that commit is a real one.
        """
        done = 0
        for entry_id in entry_ids:
            delivery = None
            with transaction.atomic():
                entry = (
                    # Lock the entry only (`of`): FOR UPDATE would also lock the joined
                    # profile, which a concurrent event for the same customer holds, and
                    # skip_locked would then leave the entry pending until the retry task.
                    ActionLedgerEntry.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("profile")
                    .filter(pk=entry_id, status__in=[ActionStatus.PENDING, ActionStatus.FAILED])
                    .first()
                )
                if entry is None:
                    continue  # done already, or another worker holds it
                ran = self._run_one(entry, "ledger")
                if isinstance(ran, Delivery):
                    delivery = ran
                else:
                    done += ran
            if delivery is not None:
                done += self._deliver(entry, delivery)
        return done

    def _deliver(self, entry: ActionLedgerEntry, delivery: Delivery) -> int:
        """Send what a committed *sending* entry holds, outside any transaction; record how it went.

        Nothing here holds a lock: the *sending* state keeps other workers away.
        """
        sending = ActionLedgerEntry.objects.filter(pk=entry.pk, status=ActionStatus.SENDING)
        timeout = None if delivery.own_time_limits else self.hook_timeout
        try:
            with time_limit(timeout, f"the delivery of ledger entry {entry.pk}"):
                gained = delivery.send()
        except (DeliveryUncertain, HookTimeout) as error:
            logger.error("lifecycle: ledger entry %s (%s) may or may not have been delivered: %s",
                         entry.pk, entry.dedupe_key, error)
            sending.update(status=ActionStatus.UNCERTAIN, last_error=f"{type(error).__name__}: {error}",
                           updated_at=timezone.now())
            return 0
        except Exception as error:  # nothing went out: failed, and retried like any failed entry
            logger.exception("lifecycle: delivering ledger entry %s failed", entry.pk)
            sending.update(status=ActionStatus.FAILED, last_error=f"{type(error).__name__}: {error}",
                           updated_at=timezone.now())
            return 0
        sending.update(status=ActionStatus.DONE, result={**dict(delivery.result), **dict(gained or {})},
                       completed_at=self.clock(), updated_at=timezone.now())
        return 1

    def unsure_deliveries(self, stale_after: timedelta = SENDING_STALE_AFTER):
        """Ledger entries that may or may not have gone out: for the owner to check, never retried.

        *uncertain* ones, and *sending* ones older than `stale_after` (their worker died
        between the commit before the delivery and the one after). Real time, not the
        engine's clock: it is about processes, not about customers.
        """
        return (ActionLedgerEntry.objects.select_related("profile")
                .filter(Q(status=ActionStatus.UNCERTAIN)
                        | Q(status=ActionStatus.SENDING, updated_at__lte=timezone.now() - stale_after))
                .order_by("updated_at", "pk"))

    def retry_failed_entries(self, older_than: timedelta = timedelta(minutes=5), limit: int = 500) -> int:
        """Pick up entries left pending or failed (a crash after commit, a failing action)."""
        cutoff = self.clock() - older_than
        ids = list(
            ActionLedgerEntry.objects.filter(
                status__in=[ActionStatus.PENDING, ActionStatus.FAILED], updated_at__lte=cutoff,
                attempts__lt=MAX_ACTION_ATTEMPTS,
            )
            # Oldest first: an action's later entries may wait for its earlier ones
            # (a message waits for the voucher it announces).
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        return self.run_entries(ids)

    def run_due_actions(self, limit: int = 500) -> int:
        """Run scheduled actions whose due time has come."""
        now = self.clock()
        done = 0
        while done < limit:
            self._after_commit_entries = []
            with transaction.atomic():
                batch = list(
                    ScheduledAction.objects.select_for_update(skip_locked=True)
                    .select_related("profile")
                    .filter(status=ActionStatus.PENDING, due_at__lte=now)
                    .order_by("due_at")[: min(100, limit - done)]
                )
                if not batch:
                    break
                for scheduled in batch:
                    self._run_one(scheduled, "scheduled")
                    done += 1
                # A due action usually decides to send something: the ledger entries
                # it enqueued run once this batch commits, as after an event.
                self._register_after_commit()
        return done

    def _run_one(self, row, kind: str) -> int | Delivery:
        """Run one entry's action in the caller's transaction; a `Delivery` is left for after its commit."""
        now = self.clock()
        errors: list[HookError] = []
        entry = ActionEntry(row.pk, kind, row.action, row.dedupe_key, dict(row.payload), row.attempts)
        context = ActionContext(self, row.profile, now)
        results = call_isolated(
            self.pm, "lifecycle_run_action", context=context, entry=entry,
            on_error=errors.append, guard=lazy_atomic, timeout=self.hook_timeout,
        )
        row.attempts += 1
        for error in errors:
            self._record_hook_error(error, row.profile_id)
        # An implementation that raised fails the entry only when none carried it out:
        # a broken plugin that does not own the action must not make the owner's
        # finished work (a voucher, a message) run a second time on retry.
        if errors and not results:
            row.last_error = f"{type(errors[0].error).__name__}: {errors[0].error}"
            if kind == "scheduled":
                if row.attempts >= MAX_ACTION_ATTEMPTS:
                    row.status = ActionStatus.FAILED
                else:  # try again later with a growing delay
                    row.due_at = now + retry_delay(row.attempts)
            else:
                row.status = ActionStatus.FAILED
            row.save()
            return 0
        if results and isinstance(results[0], Delivery):
            if kind == "ledger":
                row.status, row.result = ActionStatus.SENDING, dict(results[0].result)
                row.save()  # committed by the caller before anything leaves
                return results[0]
            # A scheduled action has no sending state to keep a message from going twice.
            row.status = ActionStatus.FAILED
            row.last_error = "a scheduled action cannot deliver; it enqueues a ledger entry that does"
            row.save()
            return 0
        if not results:
            row.status = ActionStatus.SKIPPED
            row.last_error = f"no installed plugin carries out action {row.action!r}"
        elif is_skip(results[0]):
            row.status = ActionStatus.SKIPPED
            if kind == "ledger":
                row.result = dict(results[0])  # keeps the reason, e.g. "no marketing consent"
        else:
            row.status = ActionStatus.DONE
            if kind == "ledger":
                row.result = results[0] if isinstance(results[0], dict) else {"result": str(results[0])}
        if kind == "ledger":
            row.completed_at = now
        row.save()
        return 1

    # ------------------------------------------------------------------ many customers

    def sweep(self, batch_size: int = 500, max_batches: int | None = None) -> SweepReport:
        """Advance every profile whose next-check time has passed (an indexed range scan)."""
        report = SweepReport()
        now = self.clock()
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            self._after_commit_entries = []
            with transaction.atomic():
                due = list(
                    CustomerProfile.objects.select_for_update(skip_locked=True)
                    .filter(next_check_at__lte=now)
                    .order_by("next_check_at")[:batch_size]
                )
                if not due:
                    break
                customers = [CustomerRef(p.email, p.user_id) for p in due]
                facts = self.read_facts(customers)
                plans = []
                for profile, customer in zip(due, customers):
                    try:
                        plans.append(self._plan_advance(profile, facts[customer], now, event="sweep"))
                    except Exception:
                        self._push_back(profile, now)
                report.profiles += len(due)
                for plan in self._carry_out_isolated(plans, now):
                    report.stage_changes += len(plan.outcome.stage_changes)
                    report.tier_changes += len(plan.outcome.tier_changes)
                self._register_after_commit()
        return report

    def _carry_out_isolated(self, plans: Sequence[Plan], now: datetime) -> list[Plan]:
        """A sweep batch's writes and hooks; if they fail, each profile on its own.

        One broken profile must not stop the sweep: it is pushed back an hour and
        retried then, and the rest of its batch is written without it.
        """
        queued = len(self._after_commit_entries)
        try:
            with transaction.atomic():
                self._carry_out(plans, now)
            return list(plans)
        except Exception:
            del self._after_commit_entries[queued:]  # their ledger rows were rolled back
            if len(plans) == 1:
                self._push_back(plans[0].profile, now)
                return []
        done = []
        for plan in plans:
            plan.forget_written()
            queued = len(self._after_commit_entries)
            try:
                with transaction.atomic():
                    self._carry_out([plan], now)
                done.append(plan)
            except Exception:
                del self._after_commit_entries[queued:]
                self._push_back(plan.profile, now)
        return done

    def _push_back(self, profile: CustomerProfile, now: datetime) -> None:
        logger.exception("lifecycle sweep failed for profile %s", profile.pk)
        CustomerProfile.objects.filter(pk=profile.pk).update(next_check_at=now + timedelta(hours=1))

    def daily_tick(self, today: date | None = None, batch_size: int = 1000) -> int:
        """Call `lifecycle_daily_tick` once per profile for `today` (only if a plugin implements it)."""
        if not has_implementations(self.pm, "lifecycle_daily_tick"):
            return 0
        today = today or self.clock().date()
        ticked, last_id = 0, 0
        while True:
            self._after_commit_entries = []
            with transaction.atomic():
                batch = list(CustomerProfile.objects.filter(pk__gt=last_id).order_by("pk")[:batch_size])
                if not batch:
                    break
                for profile in batch:
                    # Implementations act through context.enqueue(key=today), which makes
                    # a second tick on the same day a no-op.
                    context = ActionContext(self, profile, self.clock())
                    self._call("lifecycle_daily_tick", context=context, today=today)
                    ticked += 1
                last_id = batch[-1].pk
                self._register_after_commit()
        return ticked
