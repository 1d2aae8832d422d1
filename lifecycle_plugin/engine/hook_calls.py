"""The engine's calls of hook implementations, and calling failed ones again.

Every implementation is called on its own (`hooks.call_isolated`): in a savepoint
that is entered lazily, under the owner's time limit, its failure logged and kept as
a `HookFailure` row. A failed customer hook (a stage change, an order, a daily tick)
is called again later by `retry_hook_failures`, the failed implementation only.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from ..hooks import UNLIMITED_PLUGINS, HookError, call_isolated
from ..isolation import lazy_atomic, time_limit
from ..models import HookFailure
from .context import ActionContext, StageChange, TierChange
from .retries import MAX_ACTION_ATTEMPTS, retry_delay
from .transactions import lock_customers

if TYPE_CHECKING:
    from .service import LifecycleEngine

logger = logging.getLogger(__name__)


def call_each(engine: LifecycleEngine, hook_name: str, *,
              on_error: Callable[[HookError], None] | None = None, **kwargs: Any) -> list[Any]:
    """Every implementation of `hook_name`, each isolated; a failure goes to `on_error`,
    by default recorded (about no customer, not retried)."""
    if on_error is None:
        def on_error(error: HookError) -> None:
            record_hook_error(engine, error)
    return call_isolated(engine.pm, hook_name, on_error=on_error, guard=lazy_atomic, timeout=engine.hook_timeout,
                         **kwargs)


def call_customer_hook(engine: LifecycleEngine, hook_name: str, **kwargs: Any) -> list[Any]:
    """A hook about one customer (its `context`): a failure is recorded against that
    customer, with what calling that implementation again needs."""
    context = kwargs.get("context")
    profile_id = context.profile.id if context is not None else None

    def record(error: HookError) -> None:
        record_hook_error(engine, error, profile_id, retry=retry_arguments(hook_name, kwargs))

    return call_each(engine, hook_name, on_error=record, **kwargs)


def record_hook_error(engine: LifecycleEngine, error: HookError, profile_id: int | None = None,
                      retry: dict[str, Any] | None = None) -> None:
    """Keep a failure as a `HookFailure` row; with `retry` arguments and a customer, due for a retry."""
    retry_at = engine.clock() + retry_delay(1) if retry is not None and profile_id else None
    try:
        with transaction.atomic():
            HookFailure.objects.create(
                hook=error.hook, plugin=error.plugin[:255], profile_id=profile_id,
                error=f"{type(error.error).__name__}: {error.error}", traceback=error.traceback,
                arguments=retry or {}, retry_at=retry_at,
            )
    except Exception:  # recording must never turn an isolated failure into a crash
        logger.exception("could not record the failure of hook %s", error.hook)


def retry_hook_failures(engine: LifecycleEngine, limit: int = 100) -> int:
    """Call failed customer-hook implementations again; how many succeeded this time.

    Only the implementation that raised is called, each in its own transaction under
    the customer's lock, with a context of the customer as they are now. One that
    keeps failing is tried `MAX_ACTION_ATTEMPTS` times in all, with growing delays.
    """
    now = engine.clock()
    due = list(
        HookFailure.objects.filter(retry_at__lte=now, resolved_at__isnull=True, profile__isnull=False)
        .order_by("retry_at").values_list("pk", "profile__email")[:limit]
    )
    succeeded = 0
    for failure_id, email in due:
        with transaction.atomic(), engine.after_commit.collect():
            lock_customers([email])
            failure = (HookFailure.objects.select_for_update(skip_locked=True, of=("self",))
                       .select_related("profile").filter(pk=failure_id, retry_at__lte=now).first())
            if failure is None:
                continue  # another worker has it, or it is done
            try:
                with engine.after_commit.rolled_back(), transaction.atomic():
                    succeeded += _retry_hook(engine, failure, now)
            except Exception:
                # A row this version cannot call again (arguments of another version, a
                # hook that no longer exists): give it up rather than stop every retry.
                logger.exception("lifecycle: cannot retry hook failure %s; given up", failure.pk)
                HookFailure.objects.filter(pk=failure.pk).update(retry_at=None)
    return succeeded


def _retry_hook(engine: LifecycleEngine, failure: HookFailure, now: datetime) -> int:
    implementation = next(
        (impl for impl in getattr(engine.pm.hook, failure.hook).get_hookimpls()
         if (engine.pm.get_name(impl.plugin) or repr(impl.plugin))[:255] == failure.plugin),
        None,
    )
    arguments = None
    if implementation is not None:
        context = ActionContext(engine, failure.profile, now)
        arguments = call_arguments(failure.hook, failure.arguments, context, engine.read_facts)
    if arguments is None:
        # The plugin is gone, or what the call was about (an order) is.
        failure.retry_at = None
        failure.save(update_fields=["retry_at"])
        return 0
    try:
        limit = None if failure.plugin in UNLIMITED_PLUGINS else engine.hook_timeout
        # The entries it enqueued go with its savepoint's rollback.
        with engine.after_commit.rolled_back(), \
                time_limit(limit, f"hook {failure.hook} of {failure.plugin}", transaction.atomic):
            implementation.function(**{name: arguments[name] for name in implementation.argnames
                                       if name in arguments})
    except Exception as error:  # isolated as in the first call
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


# What a failed call is kept with (JSON), and the arguments to call it again with.

_CHANGE_HOOKS = {"lifecycle_stage_changed": StageChange, "lifecycle_tier_changed": TierChange}
_ORDER_HOOKS = ("lifecycle_order_counted", "lifecycle_order_fulfilled")


def retry_arguments(hook_name: str, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """What calling a failed customer hook again needs, as JSON; None for a hook that is not retried."""
    if hook_name in _CHANGE_HOOKS:
        change = dataclasses.asdict(kwargs["change"])
        change["occurred_at"] = change["occurred_at"].isoformat()
        return {"change": change}
    if hook_name in _ORDER_HOOKS:
        retry = {"order_id": kwargs["order"].order_id}
        if hook_name == "lifecycle_order_counted":
            retry["win_back"] = bool(kwargs.get("win_back"))
        return retry
    if hook_name == "lifecycle_daily_tick":
        return {"today": kwargs["today"].isoformat()}
    if hook_name == "lifecycle_event_processed":
        return {"event": kwargs["event"]}
    return None


def call_arguments(hook_name: str, arguments: Mapping[str, Any], context: ActionContext,
                   read_facts) -> dict[str, Any] | None:
    """The keyword arguments for calling a failed customer hook again; None when what it was about is gone.

    An order is read again from the host (`read_facts`), as it is now.
    """
    if hook_name in _CHANGE_HOOKS:
        change = dict(arguments["change"])
        change["occurred_at"] = datetime.fromisoformat(change["occurred_at"])
        return {"context": context, "change": _CHANGE_HOOKS[hook_name](**change)}
    if hook_name in _ORDER_HOOKS:
        customer = context.profile.customer
        orders = read_facts([customer])[customer].orders
        order = next((o for o in orders if o.order_id == arguments["order_id"]), None)
        if order is None:
            return None
        called = {"context": context, "order": order}
        if hook_name == "lifecycle_order_counted":
            called["win_back"] = bool(arguments.get("win_back"))
        return called
    if hook_name == "lifecycle_daily_tick":
        return {"context": context, "today": date.fromisoformat(arguments["today"])}
    if hook_name == "lifecycle_event_processed":  # the facts as they are now
        customer = context.profile.customer
        return {"context": context, "event": arguments["event"], "facts": read_facts([customer])[customer]}
    return None
