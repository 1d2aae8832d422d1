"""The plugin's own tables: the source of truth for stages, history and actions.

Saleor metadata is only a projection of these rows for storefronts and the
Dashboard; nothing reads a stage back from it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .rules import Stage

STAGE_CHOICES = [(stage.value, stage.label) for stage in Stage]


class CustomerProfile(models.Model):
    """One shopper: an account (`user`) or, for guests, a normalised e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,  # deleting a customer deletes their lifecycle data (GDPR)
        related_name="lifecycle_profile",
    )
    # Unique and indexed in Meta: a field's own index brings a `varchar_pattern_ops` twin
    # for LIKE, which nothing here runs and every write pays for (migration 0016).
    email = models.CharField(max_length=254, help_text="Lower-cased, trimmed e-mail.")
    stage = models.CharField(max_length=32, choices=STAGE_CHOICES)
    stage_since = models.DateTimeField()
    stage_rule = models.CharField(max_length=64)
    tier = models.CharField(max_length=32, null=True, blank=True)
    tier_since = models.DateTimeField(null=True, blank=True)
    orders_count = models.PositiveIntegerField(default=0)
    orders_by_currency = models.JSONField(default=dict, blank=True)
    lifetime_spend = models.JSONField(default=dict, blank=True, help_text="Currency -> amount (string).")
    window_spend = models.JSONField(default=dict, blank=True, help_text="Spend in the tier window.")
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    extra_facts = models.JSONField(default=dict, blank=True, help_text="Facts contributed by hooks.")
    #: Orders placed before this are history: they count, but fire no order hooks,
    #: so installing the plugin does not send review requests for last year's orders.
    history_cutoff = models.DateTimeField()
    decided_at = models.DateTimeField(help_text="The clock time of the last decision.")
    #: When the decision changes if nothing else happens; the sweep's index.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    #: Bumped by every write; bulk writers use it to detect a concurrent update.
    version = models.PositiveIntegerField(default=1)
    #: Predicted value, written by the daily prediction run (`engine.predictions`); null
    #: with `prediction_reason` saying why when there is no prediction (docs/predictions.md).
    predicted_orders_365 = models.FloatField(null=True, blank=True, help_text="Expected orders in the next 365 days.")
    probability_active = models.FloatField(null=True, blank=True)
    predicted_spend = models.JSONField(null=True, blank=True, help_text="Currency -> predicted 365-day spend (string).")
    predicted_at = models.DateTimeField(null=True, blank=True)
    prediction_reason = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email"], name="lifecycle_plugin_customerprofile_email_key")]
        indexes = [
            models.Index(fields=["stage", "tier"], name="lifecycle_stage_tier_idx"),  # and `stage` alone
            models.Index(fields=["tier"], name="lifecycle_tier_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.stage})"


class StageTransition(models.Model):
    REASON_BACKFILL = "backfill"
    REASON_EVENT = "event"
    REASON_TIME = "time"
    REASON_WIN_BACK = "win_back"
    REASON_RECOMPUTE = "recompute"
    #: `rules.timeline.SETTINGS_CHANGE`: only the owner's new thresholds moved the customer.
    REASON_SETTINGS_CHANGE = "settings_change"
    REASON_CHOICES = [
        (REASON_BACKFILL, "Backfill from history"),
        (REASON_EVENT, "Account, checkout or order event"),
        (REASON_TIME, "Time passed"),
        (REASON_WIN_BACK, "Win-back order"),
        (REASON_RECOMPUTE, "Recompute (settings or manual)"),
        (REASON_SETTINGS_CHANGE, "Settings changed (quiet unless recompute_actions is on)"),
    ]

    # No index of its own: (profile, occurred_at) serves every lookup by profile.
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="transitions",
                                db_index=False)
    from_stage = models.CharField(max_length=32, null=True, blank=True)
    to_stage = models.CharField(max_length=32)
    occurred_at = models.DateTimeField(help_text="When the move took effect (exact, even if noticed later).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=16, choices=REASON_CHOICES)
    event = models.CharField(max_length=64, blank=True, help_text="The event that caused it, if any.")
    rule = models.CharField(max_length=64)
    facts = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["profile", "occurred_at"], name="lifecycle_transition_prof_idx"),
            models.Index(fields=["occurred_at", "from_stage", "to_stage"], name="lifecycle_transition_time_idx"),
        ]
        ordering = ["occurred_at", "id"]


class TierChange(models.Model):
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="tier_changes",
                                db_index=False)  # (profile, occurred_at) serves lookups by profile
    from_tier = models.CharField(max_length=32, null=True, blank=True)
    to_tier = models.CharField(max_length=32, null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=16, choices=StageTransition.REASON_CHOICES)
    window_spend = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["profile", "occurred_at"], name="lifecycle_tier_prof_idx")]
        ordering = ["occurred_at", "id"]


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (will be retried)"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    #: Ledger entries only: committed just before a message leaves; "done" once it has.
    SENDING = "sending", "Sending"
    #: Ledger entries only: delivery broke off where the message may have gone out.
    UNCERTAIN = "uncertain", "Uncertain (may have been sent; not retried)"


class ActionLedgerEntry(models.Model):
    """One intended delivery (message, voucher, hook notification): at most once per dedupe key.

    A message is committed as *sending* before it leaves and marked *done* after; an
    entry left *sending* (the worker died in between) or *uncertain* is never run
    again, and `LifecycleEngine.unsure_deliveries` shows it to the owner.
    """

    dedupe_key = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=64, db_index=True)
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="ledger")
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    payload = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    #: Held back (quiet hours): not run again before this time.
    not_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["status", "updated_at"],
                name="lifecycle_ledger_open_idx",
                condition=Q(status__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["updated_at"],
                name="lifecycle_ledger_unsure_idx",
                condition=Q(status__in=["sending", "uncertain"]),
            ),
        ]


class ScheduledAction(models.Model):
    """An action due at a stored time (review request, reminder); run by the due-action sweep."""

    dedupe_key = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=64)
    profile = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="scheduled_actions")
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="lifecycle_sched_due_idx", condition=Q(status="pending")),
            models.Index(fields=["profile", "action"], name="lifecycle_sched_prof_idx"),
        ]


class HookFailure(models.Model):
    """A third-party hook implementation raised; recorded so it can be seen and retried.

    A customer hook (stage, tier, order and daily hooks) is called again, that one
    implementation only, with growing delays (`LifecycleEngine.retry_hook_failures`).
    Decision hooks are not: the customer's next decision calls them anyway.
    """

    hook = models.CharField(max_length=64)
    plugin = models.CharField(max_length=255)
    profile = models.ForeignKey(
        CustomerProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="hook_failures"
    )
    error = models.TextField()
    traceback = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    #: What calling the hook again needs (the change, the order id, the day).
    arguments = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    #: When it is called again; None: not retried (a decision hook, or given up).
    retry_at = models.DateTimeField(null=True, blank=True)
    #: When a retry succeeded.
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["retry_at"], name="lifecycle_hookfail_retry_idx", condition=Q(retry_at__isnull=False))
        ]


class BackfillRun(models.Model):
    """Progress of a backfill, so an interrupted one resumes where it stopped."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_email = models.CharField(max_length=254, blank=True, help_text="The last customer done.")
    customers_done = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField()

    class Meta:
        ordering = ["-started_at"]


class PendingEvent(models.Model):
    """An account, checkout or order event waiting for a worker: the event inbox.

    Saleor's hooks add a row in the request's transaction when one is open; a
    `drain_events` task takes hundreds at once and processes their customers in
    one transaction (`lifecycle_plugin.engine.inbox`). No foreign key to the
    account, which may be deleted before the event is taken.
    """

    email = models.CharField(max_length=254, help_text="Lower-cased, trimmed e-mail.")
    user_id = models.BigIntegerField(null=True, blank=True)
    event = models.CharField(max_length=64, blank=True)
    #: Write the metadata projection even if nothing changed (a customer overwrote it).
    force_projection = models.BooleanField(default=False)
    queued_at = models.DateTimeField()
    #: Not taken before this: the events of a customer whose processing failed wait,
    #: with a growing delay, so one broken customer does not hold up the rest.
    available_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)


class InboxState(models.Model):
    """A single row: whether a drain of the event inbox is already queued, and how far
    the reconciliation (`lifecycle_plugin.engine.reconcile`) has looked.

    Only the event that raises the flag queues a `drain_events` task, so a burst of
    events costs one task, not one per event.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    drain_requested = models.BooleanField(default=False)
    #: Where the last reconciliation stopped: the next one looks at the store's changes
    #: from here (less an overlap). None until its first run.
    reconciled_until = models.DateTimeField(null=True, blank=True)


class DeletedCustomer(models.Model):
    """A deleted customer's tombstone: the engine never decides or profiles them again.

    One row per identity of the deleted customer (their normalised e-mail, their account
    id), each stored as a keyed hash (HMAC-SHA256 with the site's SECRET_KEY, see
    `lifecycle_plugin.engine.deletion`), so the table holds nothing readable: it can only
    answer "was this e-mail or account deleted, and when?" for someone who already knows it.
    """

    digest = models.CharField(max_length=64, unique=True)
    deleted_at = models.DateTimeField()


class MarketingOptOut(models.Model):
    """A customer who unsubscribed from marketing with the link in a message.

    Checked before every marketing message and voucher, whatever the consent metadata
    says (a consent app may write yes again later; the customer's own no stands until
    they opt in through the store, which deletes nothing here: staff remove the row).
    Deleted with the profile, so forgetting a customer forgets their opt-out too.
    """

    profile = models.OneToOneField(CustomerProfile, on_delete=models.CASCADE, related_name="opt_out")
    opted_out_at = models.DateTimeField()
    #: How: ``one_click`` (a mail client's RFC 8058 POST) or ``page`` (the button on the page).
    source = models.CharField(max_length=16)


class PredictionFit(models.Model):
    """One model fitted (or refused) by a prediction run: the purchase model over all
    counted orders, the spend model once per currency. `reason` says why there are no
    parameters when the data guard refused the fit."""

    MODEL_PURCHASES = "bgnbd"
    MODEL_SPEND = "gamma_gamma"

    fitted_at = models.DateTimeField(db_index=True)
    model = models.CharField(max_length=16)
    currency = models.CharField(max_length=3, blank=True, help_text="Spend model only.")
    parameters = models.JSONField(default=dict, blank=True)
    log_likelihood = models.FloatField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    repeat_buyers = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-fitted_at", "id"]


class ReferralCode(models.Model):
    """A customer's shareable referral code: a real voucher of the host's that a new
    customer enters at checkout for the referee's discount (`actions/referral.py`).

    The referrer is kept when the code's voucher is issued; deleting the referrer sets it
    to null (and the host expires the voucher), so a later use is refused with a reason."""

    code = models.CharField(max_length=64, unique=True)
    referrer = models.ForeignKey(CustomerProfile, null=True, on_delete=models.SET_NULL, related_name="referral_codes")
    voucher_id = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=128, blank=True)
    issued_at = models.DateTimeField()


class Referral(models.Model):
    """An order that used a referral code: accepted (pending until its reward), refused with
    the reason, rewarded or cancelled. One per order, so replayed events change nothing."""

    PENDING, REFUSED, REWARDED, CANCELLED = "pending", "refused", "rewarded", "cancelled"
    STATUSES = [(PENDING, "pending"), (REFUSED, "refused"), (REWARDED, "rewarded"), (CANCELLED, "cancelled")]

    order_id = models.CharField(max_length=64, unique=True)
    code = models.CharField(max_length=64, db_index=True)
    referrer = models.ForeignKey(CustomerProfile, null=True, on_delete=models.SET_NULL, related_name="referrals_made")
    referee = models.ForeignKey(CustomerProfile, on_delete=models.CASCADE, related_name="referrals_received")
    status = models.CharField(max_length=16, choices=STATUSES, db_index=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    #: When it was refused, rewarded or cancelled.
    decided_at = models.DateTimeField(null=True, blank=True)


# Tables in modules of their own (they refer to the models above).
from .ladder_digest_model import LadderDigest  # noqa: E402
from .message_test_send_model import MessageTestSend  # noqa: E402
from .recompute_model import RecomputeRun  # noqa: E402
from .stage_flow_model import StageCountChange, StageEntry  # noqa: E402
