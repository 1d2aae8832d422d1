"""Running a hook implementation in isolation: a savepoint entered lazily, and a time limit.

`hooks.call_isolated` wraps every implementation in both, so a failing or hanging
third-party plugin leaves no writes behind and does not hold a batch's locks.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.db import DatabaseError, transaction

logger = logging.getLogger(__name__)

_lazy_state = threading.local()


@contextmanager
def lazy_atomic(using: str | None = None) -> Iterator[None]:
    """`transaction.atomic()` for the code inside, entered only before its first query.

    The engine guards every hook implementation with a savepoint so that a failing
    one leaves no writes behind. Most implementations write nothing on most calls
    (an action that is switched off, a stage it does not care about), and a
    savepoint costs two round trips to the database (SAVEPOINT, RELEASE) whether
    anything happens inside or not. Here the atomic block is opened by an
    execute wrapper just before the first statement the implementation sends
    through Django's connection, and closed (released, or rolled back to on an
    exception) at the end, exactly as the eager block would be; an implementation
    that sends nothing costs nothing. Guards nest: the outer one always opens first.
    Writes through a raw driver connection (not Django's cursors) are not seen and
    so not guarded.
    """
    conn = transaction.get_connection(using)
    block = None

    def open_block(execute, sql, params, many, context):
        nonlocal block
        if block is None and not getattr(_lazy_state, "opening", False):
            _lazy_state.opening = True  # the SAVEPOINT (or BEGIN) below passes straight through
            try:
                candidate = transaction.atomic(using=using)
                candidate.__enter__()
                block = candidate
            finally:
                _lazy_state.opening = False
        return execute(sql, params, many, context)

    with conn.execute_wrapper(open_block):
        try:
            yield
        except BaseException as exc:
            if block is not None:
                block.__exit__(type(exc), exc, exc.__traceback__)
            raise
    if block is not None:
        block.__exit__(None, None, None)


class HookTimeout(Exception):
    """A hook implementation ran longer than the owner's ``hook_timeout_seconds``."""


#: The ``hook_timeout_seconds`` setting: its default and the bounds the owner may choose from.
HOOK_TIMEOUT_DEFAULT = 5.0
HOOK_TIMEOUT_MIN, HOOK_TIMEOUT_MAX = 0.1, 60.0


def parse_hook_timeout(raw: Any) -> float:
    """Seconds one hook implementation (a delivery channel included) may run."""
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if not HOOK_TIMEOUT_MIN <= seconds <= HOOK_TIMEOUT_MAX:  # also refuses nan and inf
        raise ValueError(f"must be from {HOOK_TIMEOUT_MIN:g} to {HOOK_TIMEOUT_MAX:g} seconds, got {raw}")
    return seconds


#: SQLSTATE query_canceled: PostgreSQL stopped a statement at its statement_timeout.
_QUERY_CANCELED = "57014"
_warned_off_main_thread = False
#: The main thread's running limits' alarm handlers, innermost last.
_alarm_handlers: list[Callable] = []
#: What SIGALRM did before a limit installed `_on_sigalrm`; used whenever no limit runs.
_handler_before: Any = signal.SIG_DFL
#: How many limits of this thread are cleaning up (closing a savepoint, putting the
#: statement limit back): a signal then waits a little instead of raising into that.
_cleaning = threading.local()
#: Alarms of limits that have ended, still to be handled: a limit's timer ran out just as
#: the limit stopped it, and Python runs a signal's handler a little after the signal.
_late_alarms = 0


def _on_sigalrm(signum, frame):
    """The SIGALRM handler: the innermost running limit's, else whatever was there before.

    Installed once and left in place (installing and restoring a handler on every hook
    call would cost more than the rest of the call); with no limit running it does what
    the previous handler did, so for everyone else SIGALRM behaves as before. A handler
    someone installs later is kept the same way by the next limit.
    """
    global _late_alarms
    if _late_alarms:
        # An ended limit's: nobody else's to handle (the default action ends the process),
        # and not an outer limit's deadline (that limit's timer is put back and rings).
        _late_alarms -= 1
    elif _alarm_handlers:
        _alarm_handlers[-1](signum, frame)
    elif callable(_handler_before):
        _handler_before(signum, frame)
    elif _handler_before != signal.SIG_IGN:  # the default action (the process ends), as without us
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


@contextmanager
def time_limit(seconds: float | None, what: str, guard: Callable[[], AbstractContextManager] = nullcontext,
               using: str | None = None) -> Iterator[None]:
    """Run the code inside `guard` (a savepoint) and stop it after `seconds` with `HookTimeout`.

    Python cannot stop a thread, so two limits work together:

    - its SQL: the first statement sent through Django's connection sets
      ``statement_timeout`` to the time left (transaction-local inside a transaction,
      so the guard's savepoint rollback undoes it; put back at the end otherwise),
      and the server cancels a statement that runs past it (a ``pg_sleep``, a lock
      wait);
    - its Python and network waits: a ``SIGALRM`` timer raises `HookTimeout` where
      the code is. While a statement is running the signal does not raise (that would
      leave the driver in the middle of a result): it sends the server a cancel
      request, and the statement ends with an error that becomes `HookTimeout`.

    The statement limit is installed around `guard`, so it sees the savepoint open
    first; the timer is stopped inside it, so the savepoint's release or rollback is
    never interrupted. Signals reach the main thread only (a Celery prefork worker
    runs its tasks there); in any other thread (the threads or gevent pool, a web
    server's executor) only the SQL limit holds, which is logged once per process.
    A statement sent through a raw driver connection or another database alias is
    not limited. Nested limits keep the outer deadline; a timer that was running
    before is put back with the time it had left.
    """
    if not seconds or seconds <= 0:
        with guard():
            yield
        return
    global _warned_off_main_thread, _handler_before, _late_alarms
    started = time.monotonic()
    deadline = started + seconds
    conn = transaction.get_connection(using)
    state = {"active": False, "in_query": False, "expired": False, "restore": None, "limit": f"{seconds:g} s"}

    def timed_out() -> HookTimeout:
        state["active"] = False  # raised once; the unwinding (a savepoint rollback) runs freely
        return HookTimeout(f"{what} took longer than {state['limit']}")

    def limit_statements(execute, sql, params, many, context):
        if not state["active"] or state["in_query"]:  # outside the code, or a statement sent from one
            return execute(sql, params, many, context)
        state["in_query"] = True
        try:
            if state["restore"] is None:
                local = conn.in_atomic_block
                left = max(1, int((deadline - time.monotonic()) * 1000))
                with conn.cursor() as cursor:
                    cursor.execute("SELECT current_setting('statement_timeout'), "
                                   "set_config('statement_timeout', %s, %s)", [f"{left}ms", local])
                    state["restore"] = (cursor.fetchone()[0], local)
            result = execute(sql, params, many, context)
        except DatabaseError as exc:
            cause = exc.__cause__
            if state["active"] and (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) == _QUERY_CANCELED:
                raise timed_out() from exc
            raise
        finally:
            state["in_query"] = False
        if state["active"] and state["expired"]:
            raise timed_out()
        return result

    def on_alarm(signum, frame):
        state["expired"] = True
        if not state["active"]:
            # This limit has raised already, or is ending: its timer ran out as it was being
            # stopped. Ringing again (below) would reach no limit, and SIGALRM's default
            # action ends the process.
            return
        if getattr(_cleaning, "depth", 0):
            # An inner limit is closing its savepoint: ring again once it is done.
            signal.setitimer(signal.ITIMER_REAL, 0.01)
        elif not state["in_query"]:
            raise timed_out()
        else:
            # The statement's own limit counts from the hook's first statement, so a later
            # one could outlast the deadline: ask the server to stop it now (libpq's cancel
            # request is made for signal handlers); it ends with query_canceled, as above.
            try:
                conn.connection.cancel()
            except Exception:  # the statement still ends at its statement_timeout
                logger.warning("lifecycle: could not cancel the statement of %s", what, exc_info=True)

    timer = threading.current_thread() is threading.main_thread()
    if not timer and not _warned_off_main_thread:
        _warned_off_main_thread = True
        logger.warning("lifecycle: hooks run outside the main thread here; hook_timeout_seconds "
                       "limits their SQL only (no timer signal in this thread)")
    failed = cleaning = False
    outer_delay = outer_interval = 0.0
    # What `conn.execute_wrapper` does, without its generator: this runs for every hook call.
    conn.execute_wrappers.append(limit_statements)
    try:
        with guard():
            if timer:
                if not _alarm_handlers and signal.getsignal(signal.SIGALRM) is not _on_sigalrm:
                    _handler_before = signal.signal(signal.SIGALRM, _on_sigalrm)
                _alarm_handlers.append(on_alarm)
                outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
                if 0 < outer_delay < seconds:  # an outer limit ends sooner: keep it
                    signal.setitimer(signal.ITIMER_REAL, outer_delay)
                    state["limit"] = f"the {outer_delay:.3g} s left of an outer limit"
            state["active"] = True
            try:
                yield
            finally:
                state["active"] = False
                _cleaning.depth = getattr(_cleaning, "depth", 0) + 1
                cleaning = True
                if timer:
                    remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
                    if remaining == 0 and not state["expired"]:
                        _late_alarms += 1  # it ran out and its handler has not run yet
                    _alarm_handlers.remove(on_alarm)
                    if outer_delay:
                        left = outer_delay - (time.monotonic() - started)
                        signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), outer_interval)
    except BaseException:
        failed = True
        raise
    finally:
        try:
            restore, state["restore"] = state["restore"], None
            # Inside a transaction a failure's savepoint rollback has undone the SET
            # already (and an aborted transaction takes no statement); a session-wide
            # one (autocommit) is always put back.
            if restore is not None and not (failed and restore[1]):
                with conn.cursor() as cursor:
                    cursor.execute("SELECT set_config('statement_timeout', %s, %s)", list(restore))
        finally:
            conn.execute_wrappers.remove(limit_statements)
            if cleaning:
                _cleaning.depth -= 1
