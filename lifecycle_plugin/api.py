"""The one module plugin authors import: ``from lifecycle_plugin.api import hookimpl, skip, ...``.

Everything a third-party action or rule needs is here, under names that stay put while
the package's inside moves; docs/plugin-authors.md describes each one.

Importing this module needs neither Django nor Saleor. The pure names (the hook marker,
the message and fact types, the stage codes, the test helpers) are plain imports. The
names that stand on the plugin's Django models (the engine's types, the action helpers,
the sandbox) load on first use. In a process without any Django settings (a plugin's
unit tests without pytest-django), first use, like `make_plugin_manager`, sets up a
minimal Django with no database, so the built-in plugins and your module import; hooks
that read or write the database need a real one (the sandbox, see the doc).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable
from typing import Any

import pluggy

from . import __version__, hookimpl
from .host import CustomerName, CustomerRef, DeliveryReceipt, Host, IssuedVoucher, Message, OrderProduct, VoucherRequest
from .rules import (
    ACTIVE_BUYER,
    DEFAULT_TIERS,
    DORMANT,
    PRE_PURCHASE,
    STAGE_LABELS,
    CustomerFacts,
    Decision,
    LifecycleConfig,
    OrderFact,
    OrderState,
    Stage,
    Tier,
    decide,
    is_win_back,
    parse_tiers,
    tier_for,
)
from .testing import Clock, MemoryHost

#: Name -> (module, attribute) of what needs Django's app registry, imported on first use.
_NEEDS_DJANGO: dict[str, tuple[str, str]] = {
    # what action hooks receive and return
    "ActionContext": ("lifecycle_plugin.engine", "ActionContext"),
    "ProfileView": ("lifecycle_plugin.engine", "ProfileView"),
    "StageChange": ("lifecycle_plugin.engine", "StageChange"),
    "TierChange": ("lifecycle_plugin.engine", "TierChange"),
    "ActionEntry": ("lifecycle_plugin.engine", "ActionEntry"),
    "SKIP": ("lifecycle_plugin.engine", "SKIP"),
    "skip": ("lifecycle_plugin.engine", "skip"),
    "is_skip": ("lifecycle_plugin.engine", "is_skip"),
    "Delivery": ("lifecycle_plugin.engine", "Delivery"),
    "DeliveryUncertain": ("lifecycle_plugin.engine", "DeliveryUncertain"),
    # calling hooks yourself
    "call_isolated": ("lifecycle_plugin.hooks", "call_isolated"),
    "HookError": ("lifecycle_plugin.hooks", "HookError"),
    "HookTimeout": ("lifecycle_plugin.hooks", "HookTimeout"),
    # the built-in helpers for messages and vouchers
    "deliver": ("lifecycle_plugin.actions.delivery", "deliver"),
    "DeliveryFailed": ("lifecycle_plugin.actions.delivery", "DeliveryFailed"),
    "VoucherOffer": ("lifecycle_plugin.actions.offers", "VoucherOffer"),
    "enqueue_message": ("lifecycle_plugin.actions.offers", "enqueue_message"),
    "send_message": ("lifecycle_plugin.actions.offers", "send_message"),
    "run_voucher": ("lifecycle_plugin.actions.offers", "run_voucher"),
    "voucher_action": ("lifecycle_plugin.actions.offers", "voucher_action"),
    "order_data": ("lifecycle_plugin.actions.offers", "order_data"),
    "products_data": ("lifecycle_plugin.actions.offers", "products_data"),
    "triggering_order": ("lifecycle_plugin.actions.base", "triggering_order"),
    "parse_discount": ("lifecycle_plugin.actions.options", "parse_discount"),
    "parse_days": ("lifecycle_plugin.actions.options", "parse_days"),
    # declaring your action's settings (the lifecycle_declare_settings hook)
    "Setting": ("lifecycle_plugin.conf", "Setting"),
    "BOOLEAN": ("lifecycle_plugin.conf", "BOOLEAN"),
    "INTEGER": ("lifecycle_plugin.conf", "INTEGER"),
    "DECIMAL": ("lifecycle_plugin.conf", "DECIMAL"),
    "STRING": ("lifecycle_plugin.conf", "STRING"),
    "MULTILINE": ("lifecycle_plugin.conf", "MULTILINE"),
    "TEMPLATE": ("lifecycle_plugin.conf", "TEMPLATE"),
    "CHOICE": ("lifecycle_plugin.conf", "CHOICE"),
    "SECRET": ("lifecycle_plugin.conf", "SECRET"),
    # the engine and the sandbox, for tests against a real store
    "LifecycleEngine": ("lifecycle_plugin.engine", "LifecycleEngine"),
    "get_engine": ("lifecycle_plugin.runtime", "get_engine"),
    "ActionLedgerEntry": ("lifecycle_plugin.models", "ActionLedgerEntry"),
    "HookFailure": ("lifecycle_plugin.models", "HookFailure"),
    "SandboxHost": ("lifecycle_plugin.sandbox.host", "SandboxHost"),
    "SandboxStore": ("lifecycle_plugin.sandbox.store", "SandboxStore"),
    "SandboxVoucher": ("lifecycle_plugin.sandbox.models", "Voucher"),
    "SandboxOutboxMessage": ("lifecycle_plugin.sandbox.models", "OutboxMessage"),
}

__all__ = [
    # the hook marker, and building a plugin manager
    "__version__",
    "hookimpl",
    "make_plugin_manager",
    # what hosts exchange with actions
    "CustomerName",
    "CustomerRef",
    "DeliveryReceipt",
    "Host",
    "IssuedVoucher",
    "Message",
    "OrderProduct",
    "VoucherRequest",
    # facts, decisions, stage codes and tiers (the pure rules)
    "ACTIVE_BUYER",
    "DEFAULT_TIERS",
    "DORMANT",
    "PRE_PURCHASE",
    "STAGE_LABELS",
    "CustomerFacts",
    "Decision",
    "LifecycleConfig",
    "OrderFact",
    "OrderState",
    "Stage",
    "Tier",
    "decide",
    "is_win_back",
    "parse_tiers",
    "tier_for",
    # test helpers
    "Clock",
    "MemoryHost",
    *_NEEDS_DJANGO,
]


def make_plugin_manager(
    *, builtins: Iterable[str] | None = None, load_entry_points: bool = True, extra: Iterable[Any] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins, every installed entry point and `extra`.

    For a unit test of your plugin: ``make_plugin_manager(load_entry_points=False,
    extra=[my_plugin.hooks])``, then call a hook, e.g. ``pm.hook.lifecycle_classify(...)``.
    Works in a process without Django settings (see the module's docstring).
    """
    _set_up_django_if_absent()
    from .hooks import make_plugin_manager as make

    return make(builtins=builtins, load_entry_points=load_entry_points, extra=extra)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _NEEDS_DJANGO[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    _set_up_django_if_absent()
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_django_lock = threading.Lock()


def _set_up_django_if_absent() -> None:
    """Give a process that has no Django settings at all a minimal Django, without a database.

    The built-in plugins and the engine's types are defined next to the plugin's models,
    which need Django's app registry. A process that configured Django itself (Saleor,
    the sandbox, pytest-django) is left as it is.
    """
    from django.conf import settings

    if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
        return
    with _django_lock:
        if settings.configured:
            return
        import django

        settings.configure(
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "lifecycle_plugin"],
            USE_TZ=True,
            # No DATABASES: a query fails at once with Django's ImproperlyConfigured.
        )
        django.setup()
