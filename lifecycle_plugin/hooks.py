"""The pluggy plugin manager and the isolated way the engine calls hooks."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pluggy
from django.db import transaction

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


def make_plugin_manager(
    *, builtins: Iterable[str] | None = None, load_entry_points: bool = True, extra: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins, the entry-point plugins and `extra` ones."""
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for dotted in BUILTIN_PLUGINS if builtins is None else builtins:
        pm.register(importlib.import_module(dotted), name=dotted)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    return pm


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
    **kwargs: Any,
) -> list[Any]:
    """Call every implementation of a hook, each on its own.

    Unlike pluggy's own call, an implementation that raises does not stop the
    others: the error is logged and handed to `on_error`, and `guard` (a database
    savepoint in the engine) undoes that implementation's own writes. Results that
    are not None are returned in call order; for a `firstresult` hook the list holds
    at most one.
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
        try:
            with guard():
                result = impl.function(**arguments)
        except Exception as exc:  # a third-party bug must never reach the caller
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
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
