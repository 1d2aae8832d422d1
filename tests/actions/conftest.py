"""A shop harness for the built-in actions: the in-memory host, a clock and an engine
with the built-in action plugins (and no entry points, so installed packages do not
take part)."""

from __future__ import annotations

from datetime import datetime, timedelta

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection

from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.hooks import BUILTIN_PLUGINS, make_plugin_manager
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, ScheduledAction

from lifecycle_plugin.testing import MemoryHost

from ..conftest import CLOCK_START

T0 = CLOCK_START  # where the `clock` fixture starts

#: Every action on, messages through the host (MemoryHost.messages), to everyone who has not
#: unsubscribed unless a test sets a consent key (the default requires consent: test_consent.py).
ALL_ON = {
    "delivery_channel": "notify",
    "marketing_consent_required": "false",
    "repeat_purchase_enabled": "true",
    "tier_upgrade_enabled": "true",
    "review_request_enabled": "true",
    "winback_reminder_enabled": "true",
}


def only(action: str, **settings: str) -> dict[str, str]:
    """Settings with one action on and the others off (so their messages do not mix in)."""
    switches = {name: "false" for name in ALL_ON if name.endswith("_enabled")}
    return {**switches, f"{action}_enabled": "true", **settings}


def customer_account(host, email: str, at: datetime = T0, **names: str) -> CustomerRef:
    """A customer account in the store (and the Django user its profile points to)."""
    user = User.objects.create(username=email, email=email)
    return host.register(email, user.pk, at, **names)


def buy(host, email: str, at: datetime, channel: str = "default-channel", **fields):
    """An order in the shop (MemoryHost orders have no channel unless given one)."""
    return host.order(email, at, channel=channel, **fields)


def build_engine(host, clock, settings=None, plugins=(), dispatch=None) -> LifecycleEngine:
    """An engine with the owner's raw (Dashboard) settings, parsed as in production."""
    loaded = load_settings({**ALL_ON, **(settings or {})})
    pm = make_plugin_manager(builtins=BUILTIN_PLUGINS, load_entry_points=False, extra=plugins)
    return LifecycleEngine(host, loaded.config, plugin_manager=pm, clock=clock, settings=loaded.values,
                           dispatch_entries=dispatch)


class Shop:
    """Drives the engine like the Celery tasks do, running after-commit work at once."""

    def __init__(self, host, clock, capture, settings=None, plugins=()):
        self.host, self.clock, self._capture = host, clock, capture
        self.plugins = plugins
        self.engine = build_engine(host, clock, settings, plugins)

    def configure(self, **settings) -> None:
        """The owner saves new settings: later work runs with them."""
        self.engine = build_engine(self.host, self.clock, {k: str(v) for k, v in settings.items()}, self.plugins)

    def process(self, email: str, event: str = "order_created"):
        with self._capture(execute=True):
            return self.engine.process(CustomerRef(email), event=event)

    def sweep(self):
        with self._capture(execute=True):
            return self.engine.sweep()

    def run_due(self) -> int:
        with self._capture(execute=True):
            return self.engine.run_due_actions()

    def run_entries(self, ids) -> int:
        with self._capture(execute=True):
            return self.engine.run_entries(ids)

    def retry(self) -> int:
        """Retry failed entries as the periodic task does (they must be 5 minutes old)."""
        ActionLedgerEntry.objects.update(updated_at=self.clock.now - timedelta(minutes=10))
        return self.engine.retry_failed_entries()

    # what happened
    def entries(self, action: str | None = None):
        rows = ActionLedgerEntry.objects.order_by("id")
        return list(rows.filter(action=action) if action else rows.exclude(action__startswith="event:"))

    def scheduled(self, action: str):
        return list(ScheduledAction.objects.filter(action=action).order_by("due_at", "id"))

    def messages(self, action: str | None = None):
        return [m for m in self.host.messages if action is None or m.action == action]


@pytest.fixture
def host():
    return MemoryHost()


@pytest.fixture
def shop(host, clock, django_capture_on_commit_callbacks):
    return Shop(host, clock, django_capture_on_commit_callbacks)


@pytest.fixture
def make_shop(host, clock, django_capture_on_commit_callbacks):
    def make(settings=None, plugins=()):
        return Shop(host, clock, django_capture_on_commit_callbacks, settings, plugins)

    return make


def at_once(*jobs):
    """Run the jobs in threads released together; re-raise the first error."""
    start = threading.Barrier(len(jobs))
    errors = []

    def worker(job):
        try:
            start.wait()
            job()
        except Exception as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
