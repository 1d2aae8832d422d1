"""A hook implementation that hangs fails after `hook_timeout_seconds`, like one that raised."""

import signal
import threading
import time

import pytest
from django.db import connection, transaction

from lifecycle_plugin import hookimpl
from lifecycle_plugin.conf import load_settings
from lifecycle_plugin.engine import LifecycleEngine
from lifecycle_plugin.hooks import HookTimeout, call_isolated, lazy_atomic, make_plugin_manager, time_limit
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, HookFailure
from lifecycle_plugin.rules import ConfigError, LifecycleConfig

from .test_engine import T0, host  # noqa: F401 - host: a fixture

pytestmark = pytest.mark.django_db

LIMIT = 0.2
ANN, BOB = "ann@example.com", "bob@example.com"


class Stuck:
    """A plugin whose stage hook hangs for one customer (in Python or in SQL) and acts for the others."""

    def __init__(self, email, how):
        self.email, self.how = email, how
        self.acted = []

    @hookimpl
    def lifecycle_stage_changed(self, context, change):
        if context.profile.customer.email == self.email:
            if self.how == "sleep":
                time.sleep(5)
            else:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_sleep(5)")
        context.enqueue("stuck_plugin_thanks", key=change.to_stage)
        self.acted.append(context.profile.customer.email)


def engine_with(host, clock, *plugins, timeout=LIMIT):
    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=plugins)
    return LifecycleEngine(host, LifecycleConfig(), plugin_manager=pm, clock=clock,
                           settings={"hook_timeout_seconds": timeout})


def statement_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("how", ["sleep", "pg_sleep"])
def test_a_hanging_hook_fails_in_time_and_the_batch_completes_for_the_others(host, clock, how):
    stuck = Stuck(ANN, how)
    for email in (ANN, BOB):
        host.order(email, T0)
    engine = engine_with(host, clock, stuck)
    before = statement_timeout()

    started = time.monotonic()
    outcomes = engine.process_many([(CustomerRef(ANN), "order_created"), (CustomerRef(BOB), "order_created")])
    elapsed = time.monotonic() - started

    assert elapsed < 2, f"the batch waited {elapsed:.1f} s for a hanging hook"
    assert [o.stage for o in outcomes] == ["new", "new"]  # both decided, in one batch
    assert stuck.acted == [BOB]
    [failure] = HookFailure.objects.all()
    assert failure.hook == "lifecycle_stage_changed" and failure.profile.email == ANN
    assert failure.error.startswith("HookTimeout: hook lifecycle_stage_changed of ")
    assert failure.error.endswith("took longer than 0.2 s")
    assert failure.retry_at is not None  # retried later, as a raising hook is
    # The hook's writes went with its savepoint; the other customer's are kept.
    assert list(ActionLedgerEntry.objects.filter(action="stuck_plugin_thanks").values_list("dedupe_key", flat=True)) == [
        f"stuck_plugin_thanks:{outcomes[1].profile_id}:new"]
    assert statement_timeout() == before  # the hook's limit did not outlive it


def test_a_slow_statement_late_in_a_hook_is_stopped_at_the_hooks_deadline():
    class LateSleeper:
        @hookimpl
        def lifecycle_collect_facts(self, customers, facts, host):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # the statement limit starts here...
                time.sleep(0.4)
                cursor.execute("SELECT pg_sleep(5)")  # ...and would let this one run to 0.9 s

    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[LateSleeper()])
    errors = []
    started = time.monotonic()
    with transaction.atomic():
        call_isolated(pm, "lifecycle_collect_facts", customers=[], facts={}, host=None, guard=lazy_atomic,
                      timeout=0.5, on_error=errors.append)
        assert statement_timeout() == "0"  # and the transaction goes on
    assert time.monotonic() - started < 0.75
    [error] = errors
    assert isinstance(error.error, HookTimeout)


def test_a_retried_hook_that_hangs_again_is_a_failed_retry(host, clock):
    stuck = Stuck(ANN, "pg_sleep")
    host.order(ANN, T0)
    engine = engine_with(host, clock, stuck)
    engine.process(CustomerRef(ANN), event="order_created")
    clock.advance(minutes=5)

    started = time.monotonic()
    assert engine.retry_hook_failures() == 0
    assert time.monotonic() - started < 2
    failure = HookFailure.objects.get()
    assert failure.attempts == 2 and failure.retry_at is not None and "HookTimeout" in failure.error


def test_a_hook_that_queries_in_time_leaves_no_limit_behind():
    class Quick:
        @hookimpl
        def lifecycle_collect_facts(self, customers, facts, host):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return {}

    pm = make_plugin_manager(builtins=[], load_entry_points=False, extra=[Quick()])
    with transaction.atomic():
        before = statement_timeout()
        call_isolated(pm, "lifecycle_collect_facts", customers=[], facts={}, host=None, guard=lazy_atomic,
                      timeout=30)
        assert statement_timeout() == before  # the engine's own statements are not limited
    # Outside a transaction the limit is the session's, and is put back as well.
    call_isolated(pm, "lifecycle_collect_facts", customers=[], facts={}, host=None, timeout=30)
    assert statement_timeout() == before


def test_the_previous_signal_handler_and_alarm_still_work_after_a_limit():
    fired = []

    def previous(signum, frame):
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, previous)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with pytest.raises(HookTimeout):
            with time_limit(LIMIT, "a sleeping hook"):
                time.sleep(5)
        assert fired == []  # the limit's alarm was the limit's
        remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0.05)
        assert 25 < remaining <= 30  # the outer alarm ran on, less the time spent
        time.sleep(0.5)
        assert fired == [signal.SIGALRM]  # and an alarm after the limit reaches the previous handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_limits_own_alarm_handled_late_neither_rings_again_nor_ends_the_process(monkeypatch):
    """The timer can run out just as the limit stops it, and Python runs the handler a
    little after the signal: while the limit closes its savepoint, or once it is gone.
    That alarm is nobody's: ringing again (for a limit no longer there) or passing it on
    to SIGALRM's default action would end the worker process."""
    from contextlib import contextmanager

    from lifecycle_plugin import isolation

    ended = []
    monkeypatch.setattr(isolation, "_handler_before", signal.SIG_DFL)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: ended.append(("handler", handler)))
    monkeypatch.setattr(signal, "raise_signal", lambda signum: ended.append(("raised", signum)))
    real_setitimer = signal.setitimer

    def run_out_at_the_stop(which, seconds, interval=0.0):
        left = real_setitimer(which, seconds, interval)
        return (0.0, 0.0) if seconds == 0 else left  # the stop finds the timer run out

    own = []

    @contextmanager
    def savepoint():
        yield
        own[0](signal.SIGALRM, None)  # the late handler, while the limit closes its savepoint

    try:
        with time_limit(30, "a quick hook", guard=savepoint):
            own.append(isolation._alarm_handlers[-1])
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # nothing rings again
        monkeypatch.setattr(signal, "setitimer", run_out_at_the_stop)
        with time_limit(30, "another quick hook"):
            pass
        monkeypatch.setattr(signal, "setitimer", real_setitimer)
        isolation._on_sigalrm(signal.SIGALRM, None)  # its late handler, once the limit is gone
        assert ended == []
        # The next alarm is not a limit's: it gets what it got before (here the default action).
        isolation._on_sigalrm(signal.SIGALRM, None)
        assert ended == [("handler", signal.SIG_DFL), ("raised", signal.SIGALRM)]
    finally:
        real_setitimer(signal.ITIMER_REAL, 0)


def test_an_outer_deadline_that_comes_first_is_kept():
    started = time.monotonic()
    with pytest.raises(HookTimeout, match="outer"):
        with time_limit(LIMIT, "outer"):
            # (what is left of the outer 0.2 s when the inner limit starts: less on a loaded machine)
            with pytest.raises(HookTimeout, match=r"inner took longer than the 0\.(2|1\d+) s left of an outer limit"):
                with time_limit(30, "inner"):
                    time.sleep(5)
            time.sleep(5)  # the inner limit ended at the outer deadline; the outer fires at once
    assert time.monotonic() - started < 1


@pytest.mark.django_db(transaction=True)
def test_off_the_main_thread_the_sql_limit_still_holds():
    errors = []

    def run():
        try:
            with pytest.raises(HookTimeout):
                with time_limit(LIMIT, "a hook in a thread", transaction.atomic):
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_sleep(5)")
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    started = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert not errors and time.monotonic() - started < 2


def test_the_setting_has_bounds_and_a_default():
    assert load_settings({}).values["hook_timeout_seconds"] == 5.0
    assert load_settings({"hook_timeout_seconds": "0.5"}).values["hook_timeout_seconds"] == 0.5
    for bad, message in [("0", "must be from 0.1 to 60 seconds, got 0"),
                         ("61", "must be from 0.1 to 60 seconds, got 61"),
                         ("nan", "must be from 0.1 to 60 seconds, got nan"),
                         ("soon", "must be a number of seconds, got 'soon'")]:
        with pytest.raises(ConfigError) as caught:
            load_settings({"hook_timeout_seconds": bad})
        assert caught.value.errors == {"hook_timeout_seconds": message}
