"""The pluggy plugin manager, and calling every implementation of a hook on its own (`isolation`)."""

from __future__ import annotations

import logging
import threading
import traceback
import types
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs

# The isolation machinery lives in its own module; its names stay importable from here
# (the settings, the actions and plugin authors' tests import them from `hooks`).
from .isolation import (  # noqa: F401
    HOOK_TIMEOUT_DEFAULT,
    HOOK_TIMEOUT_MAX,
    HOOK_TIMEOUT_MIN,
    HookTimeout,
    lazy_atomic,
    parse_hook_timeout,
    time_limit,
)

logger = logging.getLogger(__name__)

#: Third-party packages register their hook modules under this entry-point group.
ENTRY_POINT_GROUP = "lifecycle_plugin"

#: Modules of the package itself that implement hooks, loaded before third parties.
#: Registered first, they are called last: a third-party implementation of a
#: first-result hook (an SMS `lifecycle_deliver_message`) gets its turn before them.
BUILTIN_PLUGINS: list[str] = [
    "lifecycle_plugin.actions.delivery",
    "lifecycle_plugin.actions.unsubscribe",
    "lifecycle_plugin.actions.pacing",
    "lifecycle_plugin.actions.holdout",
    "lifecycle_plugin.actions.repeat_purchase",
    "lifecycle_plugin.actions.tier_upgrade",
    "lifecycle_plugin.actions.review_request",
    "lifecycle_plugin.actions.winback",
    "lifecycle_plugin.actions.welcome",
    "lifecycle_plugin.actions.abandoned_checkout",
    "lifecycle_plugin.actions.referral",
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


def has_implementations(pm: pluggy.PluginManager, hook_name: str, *, new_customers: bool = False) -> bool:
    """Whether any plugin implements `hook_name`. With `new_customers`, leave out the
    implementations marked `profiles_only` (facts that only customers who already have a
    profile can have, such as the referral action's), for the SQL backfill, which decides
    only customers without one."""
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    return any(not (new_customers and getattr(impl.function, PROFILES_ONLY, False)) for impl in impls)


def has_third_party_implementations(pm: pluggy.PluginManager, hook_name: str) -> bool:
    """Whether a plugin other than the built-in ones (`BUILTIN_PLUGINS`) implements `hook_name`:
    the built-in fact collector (referrals) adds facts that no built-in rule reads."""
    return any(impl.plugin_name not in BUILTIN_PLUGINS for impl in getattr(pm.hook, hook_name).get_hookimpls())


#: Set to True on a `lifecycle_collect_facts` implementation that contributes nothing for
#: a customer without a profile yet (`has_implementations(..., new_customers=True)`).
PROFILES_ONLY = "profiles_only"
