"""The pluggy plugin manager and the isolated way the engine calls hooks."""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pluggy
from django.db import DatabaseError, transaction

from . import hookspecs

logger = logging.getLogger(__name__)

#: Third-party packages register their hook modules under this entry-point group.
ENTRY_POINT_GROUP = "lifecycle_plugin"

#: Modules of the package itself that implement hooks, loaded before third parties.
#: Registered first, they are called last: a third-party implementation of a
#: first-result hook (an SMS `lifecycle_deliver_message`) gets its turn before them.
BUILTIN_PLUGINS: list[str] = [
    "lifecycle_plugin.actions.delivery",
    "lifecycle_plugin.actions.repeat_purchase",
    "lifecycle_plugin.actions.tier_upgrade",
    "lifecycle_plugin.actions.review_request",
    "lifecycle_plugin.actions.winback",
]

#: Built-in implementations that run without a time limit: the package's own code, which
#: only reads and writes the database, and runs on every event (a limit costs a round trip
#: or two for each call that queries). The delivery module talks to mail servers and to
#: Saleor's notify, so it keeps the limit.
UNLIMITED_PLUGINS = frozenset(BUILTIN_PLUGINS) - {"lifecycle_plugin.actions.delivery"}


def make_plugin_manager(
    *, builtins: Iterable[str] | None = None, load_entry_points: bool = True, extra: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins, the entry-point plugins and `extra` ones.

    Needs no Django: plugin authors build one in their unit tests with their plugin in
    `extra` (and `load_entry_points=False` to leave other installed plugins out).
    """
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for dotted in BUILTIN_PLUGINS if builtins is None else builtins:
        pm.register(importlib.import_module(dotted), name=dotted)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin, name=stable_name(pm, plugin))
    return pm


def stable_name(pm: pluggy.PluginManager, plugin: Any) -> str:
    """The name a plugin registered without one gets: the same in every process.

    pluggy's default is the object's id, which differs from one worker to the next, and
    a failed hook is called again by its plugin's name (`HookFailure.plugin`), maybe in
    another process. A module is named by its dotted path, an object by its class's;
    a second object of the same class gets `#2`, and so on, in registration order.
    """
    kind = plugin if isinstance(plugin, (type, types.ModuleType)) else type(plugin)
    name = kind.__name__ if isinstance(kind, types.ModuleType) else f"{kind.__module__}.{kind.__qualname__}"
    taken, candidate, number = {n for n, _ in pm.list_name_plugin()}, name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}#{number}"
    return candidate


_process_manager: pluggy.PluginManager | None = None
_process_manager_lock = threading.Lock()


def process_plugin_manager() -> pluggy.PluginManager:
    """This process's plugin manager (built-ins and entry points), built once.

    Scanning the installed packages' entry points costs milliseconds each time, and every
    engine and task asked for it; a plugin installed later needs the process restarted,
    as installing any Python package does.
    """
    global _process_manager
    if _process_manager is None:
        with _process_manager_lock:
            if _process_manager is None:
                _process_manager = make_plugin_manager()
    return _process_manager


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as `lifecycle_plugins` lists it."""

    name: str
    #: The distribution that provides it (``saleor-lifecycle`` for the built-in ones;
    #: None for a plugin registered by code, not through an entry point).
    distribution: str | None
    version: str | None
    builtin: bool
    #: The hooks it implements, alphabetically.
    hooks: tuple[str, ...]


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every plugin of `pm` with where it comes from and the hooks it implements."""
    from . import __version__

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    order = [name for name in dir(hookspecs) if name.startswith("lifecycle_")]
    described = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        implemented = {impl.name for impl in pm.get_hookcallers(plugin) or ()}
        dist = dists.get(id(plugin))
        builtin = name in BUILTIN_PLUGINS
        described.append(PluginInfo(
            name=name,
            distribution="saleor-lifecycle" if builtin else (dist.project_name if dist else None),
            version=__version__ if builtin else (dist.version if dist else None),
            builtin=builtin,
            hooks=tuple(hook for hook in order if hook in implemented),
        ))
    return described


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


def _on_sigalrm(signum, frame):
    """The SIGALRM handler: the innermost running limit's, else whatever was there before.

    Installed once and left in place (installing and restoring a handler on every hook
    call would cost more than the rest of the call); with no limit running it does what
    the previous handler did, so for everyone else SIGALRM behaves as before. A handler
    someone installs later is kept the same way by the next limit.
    """
    if _alarm_handlers:
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
    global _warned_off_main_thread, _handler_before
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
        if getattr(_cleaning, "depth", 0):
            # A limit is closing its savepoint: ring again once it is done.
            signal.setitimer(signal.ITIMER_REAL, 0.01)
        elif state["active"] and not state["in_query"]:
            raise timed_out()
        elif state["active"]:
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
                    signal.setitimer(signal.ITIMER_REAL, 0)
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


@dataclass(frozen=True)
class HookError:
    hook: str
    plugin: str
    error: BaseException
    traceback: str


def call_isolated(
    pm: pluggy.PluginManager,
    hook_name: str,
    *,
    on_error: Callable[[HookError], None] | None = None,
    guard: Callable[[], AbstractContextManager] = nullcontext,
    timeout: float | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Call every implementation of a hook, each on its own.

    Unlike pluggy's own call, an implementation that raises does not stop the
    others: the error is logged and handed to `on_error`, and `guard` (a database
    savepoint in the engine) undoes that implementation's own writes. With a
    `timeout` (seconds) each implementation (but the `UNLIMITED_PLUGINS`) runs under
    `time_limit`: one that runs longer fails with `HookTimeout`, and its savepoint is
    rolled back like any other failure's. Results that are not None are returned in call order; for a
    `firstresult` hook the list holds at most one.
    """
    caller = getattr(pm.hook, hook_name)
    firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
    results = []
    # pluggy calls the last registered implementation first; keep that order.
    for impl in reversed(caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            # A wrapper is a generator meant to run around the others; called on its
            # own it returns a generator, which would pass for a first-result answer
            # and silence the plugin that owns the work.
            logger.warning("lifecycle hook %s: wrapper of %s ignored (wrappers are not supported)",
                           hook_name, pm.get_name(impl.plugin) or repr(impl.plugin))
            continue
        arguments = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        try:
            limit = None if plugin_name in UNLIMITED_PLUGINS else timeout
            with time_limit(limit, f"hook {hook_name} of {plugin_name}", guard):
                result = impl.function(**arguments)
        except Exception as exc:  # a third-party bug must never reach the caller
            logger.exception("lifecycle hook %s of %s raised", hook_name, plugin_name)
            if on_error is not None:
                on_error(HookError(hook_name, plugin_name, exc, traceback.format_exc()))
            continue
        if result is not None:
            results.append(result)
            if firstresult:
                break
    return results


def has_implementations(pm: pluggy.PluginManager, hook_name: str) -> bool:
    return bool(getattr(pm.hook, hook_name).get_hookimpls())
