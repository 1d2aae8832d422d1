"""Hook specifications: how other packages extend the lifecycle engine.

Implement any of these in your own package, mark the functions with
``lifecycle_plugin.hookimpl`` and register the module under the ``lifecycle_plugin``
entry-point group::

    # setup.cfg of your package
    [options.entry_points]
    lifecycle_plugin =
        birthday = birthday_reward.hooks

An implementation only declares the arguments it uses (pluggy passes those by
name). A hook implementation that raises is isolated: the error is logged and
recorded (``HookFailure``), its own database writes are rolled back, and the
other implementations still run. A customer hook (stage, tier, order and daily
hooks) that raised is called again later, that implementation only, up to five
calls in all. See ``docs/plugin-authors.md`` for examples.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "lifecycle"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def lifecycle_declare_settings():
    """Declare the settings your action reads; the store owner sets them in the Dashboard.

    Called once per process when the settings are first needed (and again only when
    the loaded plugins change), outside any customer's decision. Each setting becomes a
    field of the plugin's configuration in the Saleor Dashboard (and a key of the
    sandbox's ``LIFECYCLE_SETTINGS``) with its label, help text and default, and a value
    the owner saves is validated like a built-in one: a refused value is not saved and
    the message opens with your label. Your hooks read the parsed value from
    ``context.settings[name]`` (its default when the owner gave none).

    This hook takes no arguments. A declaration that raises, repeats a name taken by
    another setting, or has a default its own validation refuses is logged and left
    out whole, so prefix your names with your plugin's (``birthday_discount``).

    :return: a list of ``Setting(name, default, type, label, help_text, validate=None,
        minimum=None, maximum=None, choices=())`` (``Setting`` and the type constants are
        in ``lifecycle_plugin.conf``):

        - ``name``: the key, unique among all settings (``birthday_enabled``);
        - ``default``: the value when the owner gives none (``True``, ``30`` or text);
        - ``type``: ``BOOLEAN``, ``INTEGER`` or ``DECIMAL`` (from ``minimum`` to
          ``maximum`` when given), ``STRING``, ``MULTILINE``, ``TEMPLATE`` (a Django
          template that must compile), ``CHOICE`` (one of ``choices``) or ``SECRET``;
        - ``label`` and ``help_text``: what the Dashboard shows; put the bounds in the help;
        - ``validate``: optional, takes the value after the type's own check and returns
          the value your hooks get, or raises ``ValueError`` with a message in plain
          words. It must accept its own output too.

    Example::

        @hookimpl
        def lifecycle_declare_settings():
            return [
                Setting("birthday_enabled", False, BOOLEAN, "Birthday gift: on",
                        "Send a voucher in the customer's birthday month."),
                Setting("birthday_valid_days", 14, INTEGER, "Birthday gift: valid for (days)",
                        "The voucher expires this many days after it is issued (1 to 60).",
                        minimum=1, maximum=60),
            ]
    """


@hookspec
def lifecycle_collect_facts(customers, facts, host):
    """Contribute extra facts about a batch of customers.

    Called before every decision, with many customers at once during backfill and
    sweep, so read what you need in one query for the whole batch.

    :param list[CustomerRef] customers: who is being decided.
    :param dict[CustomerRef, CustomerFacts] facts: what the host knows about them.
    :param Host host: the running host (Saleor or sandbox).
    :return: ``{CustomerRef: {"fact_name": value}}`` for the customers you know
        something about, or None. Values must be JSON-serialisable; they are merged
        into ``CustomerFacts.extra`` (later plugins win on a clash) and stored on the profile.

    Example::

        @hookimpl
        def lifecycle_collect_facts(customers):
            counts = reviews_written_by(c.email for c in customers)
            return {c: {"reviews_written": counts.get(c.email, 0)} for c in customers}
    """


@hookspec(firstresult=True)
def lifecycle_classify(facts, decision, config, now):
    """Override or extend the built-in stage decision.

    The first implementation that returns a ``Decision`` wins, which is why this hook
    stops at the first result. Return None to keep the built-in decision.

    :param CustomerFacts facts: the customer's facts, ``extra`` included.
    :param Decision decision: what the built-in ladder decided.
    :param LifecycleConfig config: the thresholds in force.
    :param datetime now: the clock the decision is for (not necessarily the wall clock:
        the sweep replays decisions at the exact time they took effect).
    :return: a ``Decision`` (use ``dataclasses.replace(decision, stage=..., rule=...)``)
        or None. Keep ``next_change_at`` exact: if your stage depends on time, return the
        moment it would change.

    Example (an ``advocate`` stage for loyal customers who wrote five reviews)::

        @hookimpl
        def lifecycle_classify(facts, decision):
            if decision.stage == "loyal" and facts.extra.get("reviews_written", 0) >= 5:
                return dataclasses.replace(decision, stage="advocate", rule="advocate:reviews")
    """


@hookspec
def lifecycle_stage_changed(context, change):
    """A customer moved from one stage to another.

    Called inside the transaction that records the move, once per move; the
    backfill records history without calling it, so installing the plugin does
    not message every existing customer.

    :param ActionContext context: the customer, config, clock and host, plus
        ``context.enqueue(...)`` and ``context.schedule(...)`` to act idempotently.
    :param StageChange change: ``from_stage``, ``to_stage``, ``occurred_at``, ``reason``
        (``event``, ``time``, ``win_back``, ``recompute``) and ``rule``.

    Example::

        @hookimpl
        def lifecycle_stage_changed(context, change):
            if change.to_stage == "lapsed":
                context.enqueue("winback_mail", key=f"{change.occurred_at:%Y-%m-%d}")
    """


@hookspec
def lifecycle_tier_changed(context, change):
    """A customer's loyalty tier went up or down.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param TierChange change: ``from_tier``, ``to_tier`` (None means no tier),
        ``occurred_at``, ``upgrade`` (bool) and ``window_spend`` per currency.
    """


@hookspec
def lifecycle_order_counted(context, order, win_back):
    """An order started counting as a purchase (placed, or paid where only paid orders count).

    Called at most once per order, whatever the number of events that report it.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param OrderFact order: the order.
    :param bool win_back: the order brought back an at-risk or lapsed customer.
    """


@hookspec
def lifecycle_order_fulfilled(context, order):
    """A counted order was fulfilled. Called at most once per order.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param OrderFact order: the order, with ``fulfilled_at`` set.
    """


@hookspec
def lifecycle_daily_tick(context, today):
    """Once a day for every customer profile, for rules that need a calendar.

    Only runs when at least one plugin implements it.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param date today: the day being ticked (UTC).
    """


@hookspec(firstresult=True)
def lifecycle_run_action(context, entry):
    """Carry out one enqueued or scheduled action, after the deciding transaction commits.

    The implementation that owns ``entry.action`` does the work and returns a
    JSON-serialisable result; every other implementation returns None, so the first
    result ends the call.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param ActionEntry entry: ``action``, ``dedupe_key``, ``payload`` and ``attempts``.
    :return: a dict saved as the ledger entry's result, ``SKIP`` to mark it skipped, or
        (ledger entries) a ``Delivery`` for work that leaves the database, such as a
        message: it runs after the entry is committed as *sending*, so never twice.
    :raises Exception: the entry is marked failed and retried later.

    Every implementation runs under the owner's ``hook_timeout_seconds``; one that runs
    longer fails with ``HookTimeout``, as if it had raised. The same holds for every hook.
    """


@hookspec(firstresult=True)
def lifecycle_consent(customer, action, host, settings):
    """Say whether a customer agreed to a message; the first answer that is not None wins.

    For a consent-management platform (OneTrust, Didomi, your CRM) that knows more than
    Saleor's metadata. Asked just before each message or voucher that needs consent goes
    out (every marketing action; transactional ones when ``transactional_consent_required``
    is on), after the customer's own unsubscribe, which no answer overrules.

    :param CustomerRef customer: the recipient (``email``, and ``user_id`` for an account).
    :param str action: the action about to send (``repeat_purchase``, ``winback_reminder``...).
    :param Host host: the running host.
    :param Mapping settings: the plugin's settings.
    :return: True (agreed), False (did not, or withdrew), or None to leave it to the next
        implementation and then to the ``marketing_consent_key`` metadata.
    :raises Exception: the message is not sent now: its ledger entry fails with the error
        as its ``last_error`` and is retried later (never sent on a guess).

    Example::

        @hookimpl
        def lifecycle_consent(customer):
            return crm.has_opted_in(customer.email)  # None when the CRM does not know them
    """


@hookspec(firstresult=True)
def lifecycle_deliver_message(message, host, settings):
    """Deliver a message to a customer; the first implementation that returns a receipt wins.

    The built-in channels (e-mail, Saleor notify, sandbox outbox) are implementations
    of this hook, so a plugin can add SMS or push delivery by returning its own receipt.

    :param Message message: the rendered message.
    :param Host host: the running host.
    :param Mapping settings: the plugin's settings (for example ``delivery_channel``).
    :return: a ``DeliveryReceipt`` or None to let the next implementation try.
    :raises Exception: recorded as a ``HookFailure``; the next implementation tries, so
        never raise after delivering. ``DeliveryUncertain`` (or running out of time):
        the message may have gone out; no other implementation tries, and the ledger
        entry is left *uncertain* for the owner.
    """


@hookspec
def lifecycle_event_processed(context, event, facts):
    """An event from the store about a customer (an account, checkout or order changed) has
    been decided: called once per customer and batch of events, after the stage, tier and
    order hooks, whether or not anything changed.

    For actions that follow what the stage does not show, such as a cart that stops
    changing. Not called by the sweep (nothing happened in the store) nor by the backfill
    (installing the plugin must not act on every existing customer). Several events of one
    customer that arrive together are decided once, so the action reads the store again
    rather than relying on `event`.

    :param ActionContext context: as for ``lifecycle_stage_changed``.
    :param str event: the event's name (``checkout_updated``, ``order_created``,
        ``customer_updated``, ``reconciliation``...).
    :param CustomerFacts facts: what the decision read about the customer
        (``open_cart_lines`` tells whether any checkout of theirs has lines).

    Example (an abandoned-cart reminder for the customer's carts; see
    ``lifecycle_plugin/actions/abandoned_checkout.py`` for the built-in one)::

        @hookimpl
        def lifecycle_event_processed(context, facts):
            if facts.open_cart_lines == 0:
                context.cancel_scheduled("cart_nudge")
                return
            for cart in context.host.customer_checkouts([context.profile.customer]).get(
                    context.profile.customer, []):
                context.schedule("cart_nudge", key=f"{cart.token}:{cart.changed_at:%Y%m%dT%H%M%S}",
                                 due_at=cart.changed_at + timedelta(hours=4), payload={"token": cart.token})
    """
